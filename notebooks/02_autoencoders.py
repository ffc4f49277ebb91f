# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Autoencoders
#
# **What you will learn**
# - the three parts of an autoencoder: the **encoder**, the **bottleneck** (latent space) and the **decoder**;
# - why squeezing data through a bottleneck forces a network to keep what matters;
# - what a small convolutional autoencoder keeps and loses when it reconstructs the dancer's frames;
# - how the same shape of network becomes a segmentation model once its target is the mask instead of the frame;
# - what the "latent space" of this course's segmentation CAE is, and what it is not.

# %% tags=["parameters"]
DATA = None  # None: the embedded record; "record-136": the real frames (downloaded once); or a folder
RECORD = None
IMAGE_HEIGHT = 128
IMAGE_WIDTH = 64
LATENT_CHANNELS = 8  # channels of the bottleneck, at 1/8 of the height and width
EPOCHS = 300
SOLUTION_EPOCHS = 60  # epochs of each short run the worked solutions train (at most EPOCHS)
SEED = 0
OUTPUT_DIR = "outputs"

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial import exercises
from cae_tutorial.data import load_record, seed_split
from cae_tutorial.datasets import resolve_data
from cae_tutorial.folders import write_json
from cae_tutorial.model import build_cae, latent_shape
from cae_tutorial.plots import frame_title
from cae_tutorial.presets import get_preset
import keras

Path(OUTPUT_DIR).mkdir(exist_ok=True)

# %% [markdown]
# ## Encoder, bottleneck, decoder
# An autoencoder is trained to output its own input. That sounds useless until you notice the **bottleneck** in
# the middle: the encoder must compress the input into far fewer numbers (the latent space), and the decoder must
# rebuild the input from those numbers alone. Whatever the decoder needs has to survive the squeeze, so the
# latent space learns the input's important features; detail that does not fit is lost.
#
# Autoencoders are used to remove noise, detect anomalies (what reconstructs badly is unusual), extract features,
# and, as in this course, as the shape of a segmentation network: encode the frame, decode a **mask**.

# %%
record = load_record(resolve_data(DATA), RECORD, size=(IMAGE_HEIGHT, IMAGE_WIDTH))
split = seed_split(record)
train, heldout = record.subset(split.train_ids), record.subset(split.heldout_ids)
print(record, "| training on", split.train_ids)

# %% [markdown]
# ## A small convolutional autoencoder
# Three stride-2 convolutions halve the height and width three times (the encoder); a 1x1 convolution squeezes the
# channels into the bottleneck; three upsampling stages with convolutions grow it back (the decoder); a sigmoid
# keeps the output colours in [0, 1].

# %%
def reconstruction_autoencoder(input_shape, latent_channels):
    """A tiny image-to-image CAE: 3 stride-2 conv stages, a 1x1 bottleneck, 3 upsampling stages."""
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="swish")(x)
    latent = keras.layers.Conv2D(latent_channels, 1, activation="swish", name="bottleneck")(x)
    x = latent
    for filters in (64, 32, 16):
        x = keras.layers.UpSampling2D(2)(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="swish")(x)
    outputs = keras.layers.Conv2D(3, 1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="reconstruction_cae")


keras.utils.set_random_seed(SEED)
autoencoder = reconstruction_autoencoder(record.images.shape[1:], LATENT_CHANNELS)
latent_size = int(np.prod(autoencoder.get_layer("bottleneck").output.shape[1:]))
input_size = int(np.prod(record.images.shape[1:]))
print(f"input: {input_size} numbers per frame -> latent space: {latent_size} numbers "
      f"({input_size / latent_size:.0f}x smaller)")

# %% [markdown]
# The target is the input itself, and the loss the mean squared error between them.

# %%
autoencoder.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
history = autoencoder.fit(train.images, train.images, epochs=EPOCHS, batch_size=3, verbose=0)
# The held-out frames are scored once, after training (scoring them every epoch would double the cost).
heldout_mse = autoencoder.evaluate(heldout.images, heldout.images, verbose=0)
print(f"after {EPOCHS} epochs: training MSE {history.history['loss'][-1]:.4f}, held-out MSE {heldout_mse:.4f}")

# %%
reconstructed = autoencoder.predict(heldout.images[:4], verbose=0)
fig, axes = plt.subplots(2, 4, figsize=(9.6, 8.4))
for col in range(4):
    axes[0, col].imshow(heldout.images[col])
    axes[0, col].set_title(frame_title(heldout.ids[col], split), fontsize=10)
    axes[1, col].imshow(reconstructed[col])
for ax in axes.flat:
    ax.axis("off")
axes[0, 0].text(-5, IMAGE_HEIGHT / 2, "frame", rotation=90, ha="right", va="center")
axes[1, 0].text(-5, IMAGE_HEIGHT / 2, "rebuilt", rotation=90, ha="right", va="center")
plt.show()

# %% [markdown]
# Compare the two rows: large, smooth structures (the room's layout, where the person stands) are what a few numbers
# per 8x8 patch can describe; sharp edges, thin limbs and fine texture are what it blurs. The numbers below say
# which part of these held-out frames the network rebuilds better. They mix two causes: what the bottleneck drops,
# and what three training frames cannot teach about a new pose (the dancer is what moves between frames);
# Solution 1 varies the bottleneck alone.

# %%
error = np.abs(reconstructed - heldout.images[:4]).mean(axis=-1)
person = heldout.masks[:4, ..., 0] > 0.5
print(f"mean absolute error on person pixels {error[person].mean():.3f}, on background {error[~person].mean():.3f}")
harder, easier = ("person", "background") if error[person].mean() > error[~person].mean() else ("background", "person")
display(Markdown(f"On these held-out frames the {harder} pixels are rebuilt worse than the {easier} pixels "
                 f"({max(error[person].mean(), error[~person].mean()):.3f} vs "
                 f"{min(error[person].mean(), error[~person].mean()):.3f} mean absolute error)."))

# %% [markdown]
# ## From reconstruction to segmentation
# Keep the encoder-decoder shape, but ask for **one** output channel and train it against the **mask**: the network
# must now encode "where is the person?" instead of "what does the frame look like?". That is the seed's model,
# built block by block in the next notebook.
#
# ## What the segmentation CAE's "latent space" is, and is not
# In this course's CAE, the *latent space* is simply the output of the last encoder block: a feature map at 1/8 of
# the frame's height and width, with as many channels as the last encoder block has filters. Is it a bottleneck
# like the one above? Count the numbers, for the seed's model and for the `cpu` preset that notebook 5 trains, at
# the size this notebook uses:

# %%
size = (IMAGE_HEIGHT, IMAGE_WIDTH, 3)
cpu = get_preset("cpu")
models = {"reconstruction CAE above": (autoencoder, "bottleneck"),
          "seed CAE": (build_cae(size), None),
          f"cpu preset CAE (skips {'on' if cpu.skip_connections else 'off'})":
              (build_cae(size, cpu.filters, skip_connections=cpu.skip_connections), None)}
latent = {}
for name, (net, layer) in models.items():
    shape = tuple(net.get_layer(layer).output.shape[1:]) if layer else latent_shape(net)
    latent[name] = int(np.prod(shape))
    print(f"{name:<32} latent {str(shape):<16} {latent[name]:>8,} numbers = "
          f"{latent[name] / input_size:5.2f} x the input's {input_size:,}")
seed_ratio = latent["seed CAE"] / input_size
cpu_name = [n for n in models if n.startswith("cpu")][0]
display(Markdown(
    f"The reconstruction CAE squeezes each frame into {latent['reconstruction CAE above']:,} numbers, "
    f"{input_size / latent['reconstruction CAE above']:.0f} times fewer than its {input_size:,}: a real bottleneck. "
    f"The seed's segmentation CAE does not: its latent tensor holds {latent['seed CAE']:,} numbers, "
    f"{seed_ratio:.2f} times the input, " + ("so nothing forces it to compress. " if seed_ratio >= 1 else
                                            "only a mild squeeze. ") +
    f"The `cpu` preset's holds {latent[cpu_name]:,} ({latent[cpu_name] / input_size:.2f} x the input)"
    + (", and its skip connections (notebook 3) hand the decoder the encoder's finer feature maps (1/2 and 1/4 of "
       "the frame) and the frame itself anyway, around the latent space." if cpu.skip_connections else ".")))

# %% [markdown]
# So in this course "latent space" names a **place** in the network (the coarsest, 1/8-resolution feature map),
# not a compressed code. What it still does: each of its positions sees a large patch of the frame (after three
# stride-2 stages), so it can describe *what* is there and *roughly where*; and a segmentation target needs far
# less than a reconstruction (one bit per pixel, not three colours). What it is **not**: a small vector that
# summarises the frame, or a space where you could interpolate between dancers. Nothing here shows that compression
# makes a network segment: the CAEs of notebooks 4 and 5 learn their masks from being trained against masks.

# %%
results = {"latent_numbers": latent_size, "compression": input_size / latent_size,
           "latent_vs_input": {name: n / input_size for name, n in latent.items()},
           "train_mse": history.history["loss"][-1], "heldout_mse": heldout_mse,
           "person_error": float(error[person].mean()), "background_error": float(error[~person].mean())}
write_json(Path(OUTPUT_DIR, "02_autoencoders.json"), results)  # whole or not at all
results

# %% [markdown]
# ## Summary
# - An autoencoder = encoder + bottleneck (latent space) + decoder, trained to rebuild its input.
# - A real bottleneck keeps large structure and blurs detail (the pictures show it; the held-out error also
#   carries what three training frames cannot teach about a new pose).
# - Swap the target for a mask and the same shape of network segments images. In the course's segmentation CAE the
#   "latent space" is the coarsest feature map, not a compressed code: count its numbers before calling it one.
#
# ## Exercises
# 1. Set `LATENT_CHANNELS = 2` and then `32`, and train each for as many epochs as an 8-channel run beside them
#    (the solution: `SOLUTION_EPOCHS`). How do the reconstructions and the held-out error change? Check how
#    many numbers each bottleneck holds: `exercises.ex02_1(channels, numbers, record.images.shape[1:])`.
# 2. Remove the bottleneck layer. Is the network still forced to compress? Count the numbers at the narrowest
#    point and check: `exercises.ex02_2(numbers, record.images.shape[1:])`.
# 3. Which frames reconstruct worst? Rank the held-out frames by their mean absolute error, worst first, and check:
#    `exercises.ex02_3(ranking, autoencoder, heldout)`.
#
# Each check answers `right` or `not yet` with a hint, never the answer. The worked solutions follow, collapsed:
# open one after trying. Solution 1 trains three short runs of `SOLUTION_EPOCHS` epochs (at most `EPOCHS`).

# %% [markdown]
# #### Solution 1

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
solution_epochs = min(EPOCHS, SOLUTION_EPOCHS)  # every run equally long: only the bottleneck differs
heldout_error, rebuilt = {}, {}
for channels in sorted({2, LATENT_CHANNELS, 32}):
    keras.utils.set_random_seed(SEED)
    ae = reconstruction_autoencoder(record.images.shape[1:], channels)
    ae.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
    ae.fit(train.images, train.images, epochs=solution_epochs, batch_size=3, verbose=0)
    heldout_error[channels] = ae.evaluate(heldout.images, heldout.images, verbose=0)
    rebuilt[channels] = ae.predict(heldout.images[:1], verbose=0)[0]
    numbers = int(np.prod(ae.get_layer("bottleneck").output.shape[1:]))
    print(f"{channels:>3} channels: {numbers:,} numbers in the bottleneck "
          f"({exercises.ex02_1(channels, numbers, record.images.shape[1:])}), held-out MSE "
          f"{heldout_error[channels]:.4f} after {solution_epochs} epochs")
fig, axes = plt.subplots(1, len(rebuilt) + 1, figsize=(2.4 * (len(rebuilt) + 1), 4.4))
axes[0].imshow(heldout.images[0])
axes[0].set_title(frame_title(heldout.ids[0], split), fontsize=10)
for ax, (channels, picture) in zip(axes[1:], rebuilt.items()):
    ax.imshow(np.clip(picture, 0, 1))
    ax.set_title(f"{channels} channels\nheld-out MSE\n({len(heldout.ids)} frames) {heldout_error[channels]:.4f}",
                 fontsize=10)
for ax in axes:
    ax.axis("off")
plt.show()
order = sorted(heldout_error)
# A wider bottleneck is "clearly better" only when it cuts the error by at least 5 %: one run per width measures no
# noise, so this solution asks a step for more than a small difference.
cuts = {(a, b): 1 - heldout_error[b] / heldout_error[a] for a, b in zip(order, order[1:])}
clear = [pair for pair, cut in cuts.items() if cut >= 0.05]
steps_text = "; ".join(f"{a} to {b} channels {-cut:+.1%}" for (a, b), cut in cuts.items())
display(Markdown(
    f"After {solution_epochs} epochs each, the held-out error is "
    + ", ".join(f"{heldout_error[c]:.4f} with {c} channels" for c in order) + f" (each step: {steps_text}): "
    + ("it falls by at least 5 % at every step as the bottleneck widens, since more numbers let more detail through "
       "(compare the pictures)." if len(clear) == len(cuts) else
       ("only " + " and ".join(f"{a} to {b} channels" for a, b in clear)
        + (" cuts" if len(clear) == 1 else " cut") + " the error by 5 % or more; the "
        + ("other step is" if len(cuts) - len(clear) == 1 else "other steps are")
        + " smaller than the 5 % this solution asks of a step (one run per width, so no step's "
        "noise is measured)." if clear else
        "no step cuts the error by 5 % or more, so no wider bottleneck is clearly better here.")
       + f" These runs are short ({solution_epochs} epochs against the notebook's {EPOCHS}): if the widths' errors "
       "sit close together, the training may limit the detail as much as the bottleneck does; raise "
       "`SOLUTION_EPOCHS` to see whether they move apart.")))

# %% [markdown]
# #### Solution 2

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
narrowest = 64 * (IMAGE_HEIGHT // 8) * (IMAGE_WIDTH // 8)  # the last 64-filter stage, 1/8 of height and width
print("self-check:", exercises.ex02_2(narrowest, record.images.shape[1:]))
display(Markdown(
    f"Without the 1x1 bottleneck the narrowest tensor is the last encoder stage: {narrowest:,} numbers for an "
    f"input of {input_size:,}, {narrowest / input_size:.2f} x the input. Still a squeeze ({input_size / narrowest:.0f}"
    f" times fewer numbers), but far looser than the bottleneck's {input_size / latent_size:.0f} times."))

# %% [markdown]
# #### Solution 3

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
everything = autoencoder.predict(heldout.images, verbose=0)
per_frame = np.abs(everything - heldout.images).mean(axis=(1, 2, 3))
ranking = [heldout.ids[i] for i in np.argsort(-per_frame, kind="stable")]
for frame_id in ranking:
    print(f"{frame_id}: {per_frame[heldout.ids.index(frame_id)]:.4f}")
print("self-check:", exercises.ex02_3(ranking, autoencoder, heldout))
display(Markdown(
    f"Worst reconstructed: {ranking[0]} (mean absolute error {per_frame.max():.4f}); best: {ranking[-1]} "
    f"({per_frame.min():.4f}), {per_frame.max() / per_frame.min():.1f} times less."))
