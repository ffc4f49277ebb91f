# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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
# - how the same shape of network becomes a segmentation model once its target is the mask instead of the frame.

# %% tags=["parameters"]
DATA_DIR = None  # None: the embedded record; else a folder with images/ and masks/
RECORD = None
IMAGE_HEIGHT = 128
IMAGE_WIDTH = 64
LATENT_CHANNELS = 8  # channels of the bottleneck, at 1/8 of the height and width
EPOCHS = 300
SEED = 0
OUTPUT_DIR = "outputs"

# %%
import json
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from cae_tutorial.data import load_record, seed_split

Path(OUTPUT_DIR).mkdir(exist_ok=True)
plt.rcParams["figure.dpi"] = 60

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
record = load_record(DATA_DIR, RECORD, size=(IMAGE_HEIGHT, IMAGE_WIDTH))
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
history = autoencoder.fit(train.images, train.images, epochs=EPOCHS, batch_size=3, verbose=0,
                          validation_data=(heldout.images, heldout.images))
print(f"after {EPOCHS} epochs: training MSE {history.history['loss'][-1]:.4f}, "
      f"held-out MSE {history.history['val_loss'][-1]:.4f}")

# %%
reconstructed = autoencoder.predict(heldout.images[:4], verbose=0)
fig, axes = plt.subplots(2, 4, figsize=(7, 6))
for col in range(4):
    axes[0, col].imshow(heldout.images[col])
    axes[0, col].set_title(heldout.ids[col], fontsize=8)
    axes[1, col].imshow(reconstructed[col])
for ax in axes.flat:
    ax.axis("off")
axes[0, 0].text(-5, IMAGE_HEIGHT / 2, "frame", rotation=90, ha="right", va="center")
axes[1, 0].text(-5, IMAGE_HEIGHT / 2, "rebuilt", rotation=90, ha="right", va="center")
plt.show()

# %% [markdown]
# **What survives the bottleneck:** the room's layout and colours, and where the person is; these are large,
# smooth structures that a few numbers per 8x8 patch can describe. **What is lost:** sharp edges, thin limbs and
# fine texture, which blur or vanish, and a pose the three training frames never showed is rebuilt only roughly.

# %%
error = np.abs(reconstructed - heldout.images[:4]).mean(axis=-1)
person = heldout.masks[:4, ..., 0] > 0.5
print(f"mean absolute error on person pixels {error[person].mean():.3f}, on background {error[~person].mean():.3f}")

# %% [markdown]
# ## From reconstruction to segmentation
# Keep the encoder-bottleneck-decoder shape, but ask for **one** output channel and train it against the **mask**:
# the network must now encode "where is the person?" instead of "what does the frame look like?". That is the
# seed's model, built block by block in the next notebook.

# %%
results = {"latent_numbers": latent_size, "compression": input_size / latent_size,
           "train_mse": history.history["loss"][-1], "heldout_mse": history.history["val_loss"][-1],
           "person_error": float(error[person].mean()), "background_error": float(error[~person].mean())}
Path(OUTPUT_DIR, "02_autoencoders.json").write_text(json.dumps(results, indent=1))
results

# %% [markdown]
# ## Summary
# - An autoencoder = encoder + bottleneck (latent space) + decoder, trained to rebuild its input.
# - The bottleneck keeps large structure and drops detail; what it keeps is what the data is "about".
# - Swap the target for a mask and the same shape of network segments images.
#
# ## Exercises
# 1. Set `LATENT_CHANNELS = 2` and then `32`. How do the reconstructions and the held-out error change?
# 2. Remove the bottleneck layer. Is the network still forced to compress? (Count the numbers at the narrowest point.)
# 3. Which frames reconstruct worst, and what do their poses have in common?
