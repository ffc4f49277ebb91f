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
# # 4. Training
#
# **What you will learn**
# - the Dice + focal loss, as equations and with small numbers you can check by hand;
# - what the training recipe adds to the seed's: **augmentation** (one augmented batch, shown) and a **cosine
#   learning-rate schedule** (plotted), before they are used;
# - how to train the CAE with plain Keras `model.compile` and `model.fit`, the package adding only callbacks and
#   datasets, scoring the held-out frames every few epochs while a live scrubber shows the predictions forming;
# - how to read loss and metric curves, and why the training curve can sit *below* the held-out one.

# %% [markdown]
# [Open in Colab](https://colab.research.google.com/github/OWNER/cae-tutorial/blob/main/notebooks/04_training.ipynb) · [Launch Binder](https://mybinder.org/v2/gh/OWNER/cae-tutorial/main?urlpath=lab/tree/notebooks/04_training.ipynb): run this notebook in the browser with nothing installed (on Colab, the first code cell installs the package).

# %%
# On Google Colab, install the course's package first; anywhere else it is installed already (`pip install -e .`).
# --no-deps: Colab has TensorFlow, Keras and the rest; the package's `tensorflow-cpu` would replace its GPU build.
try:
    import google.colab  # noqa: F401  (importable on Colab only)
except ImportError:
    pass
else:
    get_ipython().run_line_magic("pip", 'install --quiet --no-deps "cae-tutorial @ git+https://github.com/OWNER/cae-tutorial@main"')

# %% tags=["parameters"]
PRESET = "cpu"  # "cpu": the course's fast recipe; "seed": the seed project's exact recipe (1024 x 512, 500 epochs)
DATA = None  # None: the embedded record; "record-136": the real frames (downloaded once); or a folder
RECORD = None
IMAGE_HEIGHT = None  # None: the preset's frame size
IMAGE_WIDTH = None
EPOCHS = None  # None: the preset's number of epochs
SEED = 0
SNAPSHOT_EVERY = 4  # record predictions and score the held-out frames every N epochs (1: every epoch, slower)
SOLUTION_EPOCHS = 24  # epochs of each short run the worked solutions train (at most the preset's)
OUTPUT_DIR = "outputs"

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

import inspect
import json
from dataclasses import fields
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial import exercises
from cae_tutorial.callbacks import EpochLogs, EpochProgress, PredictionSnapshots, ScoreLastEpoch
from cae_tutorial.data import load_record, seed_split
from cae_tutorial.datasets import resolve_data
from cae_tutorial.pipeline import frames_dataset
from cae_tutorial.plots import augmentation_grid, evolution_grid, loss_curves, metric_curves, scored_epochs
from cae_tutorial.presets import get_preset
from cae_tutorial.results import TrainingResult
from cae_tutorial.training import (
    TrainOptions,
    build_model,
    compile_settings,
    make_optimizer,
    steps_per_epoch,
    train,
    training_dataset,
    validation_dataset,
)
from cae_tutorial.widgets import EpochScrubber
import keras

Path(OUTPUT_DIR).mkdir(exist_ok=True)

# %% [markdown]
# ## The recipe
# A preset is frozen data: every setting of a training run besides the data and the random seed. The `seed`
# preset is the seed project's recipe; `cpu` is tuned to learn in minutes on a laptop CPU (see
# `benchmarks/README.md` for the measurements behind it).

# %%
preset = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS)
print(preset)

# %%
seed_recipe = get_preset("seed")
changed = [f.name for f in fields(preset) if f.name not in ("name", "height", "width", "epochs")
           and getattr(preset, f.name) != getattr(seed_recipe, f.name)]
display(Markdown(
    f"Besides the frame size and the number of epochs (set by this notebook's parameters), the `{preset.name}` "
    "preset differs from the seed's recipe in: " + (", ".join(
        f"`{name}` {getattr(seed_recipe, name)!r} -> {getattr(preset, name)!r}" for name in changed) or "nothing")
    + ". Notebook 3 showed the lighter filters and the skip connections; the next sections show the coordinate "
      "channels, the loss and its outline weight, the augmentation, the learning-rate schedule, progressive resizing and the number format."))

# %% [markdown]
# ## Coordinate channels
# A convolution sees a small window and not where that window is in the frame. With `coordinates=True` the model's
# first layer, `CoordinateChannels`, appends two channels to the frame: each pixel's row and column, scaled to
# [-1, 1]. The network can then learn *where* a person tends to be (the dancer stays near the middle of the video),
# as notebook 6's per-pixel classifier does with its (y, x) features. The input is still the (H, W, 3) frame:

# %%
from cae_tutorial.model import CoordinateChannels

with_positions = CoordinateChannels()(np.zeros((1, *preset.size, 3), np.float32))  # a blank frame, to see the channels
print(f"frame {tuple(preset.size) + (3,)} -> {tuple(with_positions.shape[1:])}: row channel from "
      f"{float(with_positions[0, 0, 0, 3]):+.1f} (top) to {float(with_positions[0, -1, 0, 3]):+.1f} (bottom), column "
      f"from {float(with_positions[0, 0, 0, 4]):+.1f} (left) to {float(with_positions[0, 0, -1, 4]):+.1f} (right)")
print(f"coordinates={preset.coordinates} in this preset")

# %%
record = load_record(resolve_data(DATA), RECORD, size=preset.size)
split = seed_split(record)
train_part = record.subset(split.train_ids)
print(record, "| training on", list(split.train_ids))

# %% [markdown]
# ## The loss: Dice + focal
# Write $y \in \{0, 1\}$ for a pixel's truth and $p$ for the predicted probability that it is person.
#
# **Dice loss** is one minus the Dice score computed on probabilities, per frame (Keras adds a tiny $\epsilon$):
# $$\mathcal{L}_\text{Dice} = 1 - \frac{2 \sum_i y_i p_i}{\sum_i y_i + \sum_i p_i}$$
# It measures the overlap of the whole predicted person with the true one, so the many background pixels cannot
# dominate it.
#
# **Binary focal loss** (Lin et al., 2017) is a cross-entropy weighted per pixel. With $p_t$ the probability the
# model gives to the pixel's *true* class ($p_t = p$ where $y = 1$, $p_t = 1 - p$ where $y = 0$):
# $$\mathcal{L}_\text{focal} = \frac{1}{N} \sum_i -(1 - p_{t,i})^{\gamma} \log p_{t,i}, \qquad \gamma = 2$$
# A pixel the model already gets right ($p_t$ near 1) is down-weighted by $(1 - p_t)^\gamma$, so the many easy
# background pixels stop drowning out the hard ones; a confidently wrong pixel ($p_t$ near 0) keeps almost its
# whole cross-entropy. The seed adds the two with equal weights. Both are Keras' own losses:

# %%
def dice_plus_focal(dice_weight=1.0, focal_weight=1.0):
    """The seed's loss: Dice + binary focal cross-entropy, equally weighted."""
    dice = keras.losses.Dice(axis=(1, 2, 3))
    focal = keras.losses.BinaryFocalCrossentropy(gamma=2.0)
    return lambda y_true, y_pred: dice_weight * dice(y_true, y_pred) + focal_weight * focal(y_true, y_pred)


def focal_by_hand(y, p, gamma=2.0):
    """The focal loss formula above, in NumPy (clipped like Keras, so log(0) never happens)."""
    p = np.clip(p, keras.config.epsilon(), 1 - keras.config.epsilon())
    p_t = np.where(y == 1, p, 1 - p)
    return float(np.mean(-((1 - p_t) ** gamma) * np.log(p_t)))


loss = dice_plus_focal()
truth = np.zeros((1, 10, 10, 1), np.float32)
truth[0, :1] = 1  # a "person" on 10 % of the pixels
guesses = {
    "perfect": truth * 0.98 + 0.01,
    "all background (p=0.01)": np.full_like(truth, 0.01),
    "unsure everywhere (p=0.5)": np.full_like(truth, 0.5),
    "right place, timid (p=0.6 on person)": truth * 0.59 + 0.01,
}
table = {}
for name, guess in guesses.items():
    dice = float(keras.losses.Dice(axis=(1, 2, 3))(truth, guess))
    focal = float(keras.losses.BinaryFocalCrossentropy(gamma=2.0)(truth, guess))
    table[name] = {"dice": dice, "focal": focal, "total": float(loss(truth, guess))}
    print(f"{name:<40} Dice loss {dice:.3f}  focal {focal:.3f} (by hand {focal_by_hand(truth, guess):.3f})  "
          f"total {table[name]['total']:.3f}")

# %%
background = table["all background (p=0.01)"]
by_focal = sorted(table, key=lambda name: -table[name]["focal"])
rank = by_focal.index("all background (p=0.01)") + 1
person_term = -(1 - 0.01) ** 2 * np.log(0.01)
background_term = -(0.01) ** 2 * np.log(0.99)
display(Markdown(
    f"\"All background\" is **not** an easy case for the focal loss: its focal loss is {background['focal']:.3f}, "
    f"number {rank} of {len(table)} (largest first). Its background pixels are right and nearly free "
    f"(p_t = 0.99, each costs {background_term:.1e}), but on each person pixel p_t = 0.01, so the modulating factor "
    f"(1 - 0.01)² ≈ 0.98 keeps almost the whole cross-entropy: {person_term:.2f} per pixel, and with "
    f"{truth.mean():.0%} of the pixels person that averages to ≈ {truth.mean() * person_term:.2f}. Its Dice loss, "
    f"{background['dice']:.3f}, says the same. The largest focal loss of the four is "
    f"\"{by_focal[0]}\" ({table[by_focal[0]]['focal']:.3f}); the smallest total is \"{min(table, key=lambda n: table[n]['total'])}\"."))

# %% [markdown]
# The library's `cae_tutorial.losses.dice_focal_loss` is this loss as a serialisable Keras `Loss` (so a saved
# model reloads with it), with one more option, the outline weight below; `dice_plus_focal` here is the idea only.
#
# ## The outline counts more
# Most pixels of a mask are easy: the middle of the body, the far background. The pixels that decide the scores at
# full resolution lie along the outline (a mask drawn at the model's size is scaled up several times to the frame's),
# and there are few of them. With `boundary_weight` > 0 the focal term counts every pixel on a thin band along the
# true outline, where a 3 x 3 window holds both person and background, (1 + `boundary_weight`) times; the sum is
# divided by the total weight, so the term keeps its scale. Dice is unchanged. `cae_tutorial.losses.outline_band`
# finds the band with two max-pools (the mask grown by a pixel, minus the mask shrunk by a pixel):

# %%
from cae_tutorial.losses import outline_band

band = np.asarray(outline_band(train_part.masks[:1]))[0, ..., 0]
shown_band = train_part.images[0] * 0.35
shown_band[band > 0] = (1.0, 0.85, 0.0)
fig, axes = plt.subplots(1, 2, figsize=(6, 5))
for ax, picture, title in zip(axes, (train_part.masks[0, ..., 0], shown_band), ("true mask", "outline band")):
    ax.imshow(picture, cmap="gray")
    ax.set(title=f"{train_part.ids[0]}: {title}", xticks=[], yticks=[])
fig.tight_layout()
plt.show()
weight, scale = preset.boundary_weight, preset.progressive_scale if preset.small_epochs else 1


def weight_share(band_share):
    """The band's share of the focal term's weight when its pixels count (1 + weight) times."""
    return (1 + weight) * band_share / ((1 + weight) * band_share + 1 - band_share)


small_band = np.asarray(outline_band(train_part.masks[:1, ::scale, ::scale]))[0, ..., 0]
display(Markdown(
    f"The band is {band.mean():.1%} of this frame's pixels at {preset.height} x {preset.width}. With "
    f"`boundary_weight={weight:g}` "
    + ((f"(this preset) it carries {weight_share(band.mean()):.0%} of the focal term's weight there"
        + (f"; in the first {preset.small_epochs} epochs, at {preset.small_size[0]} x {preset.small_size[1]}, the "
           f"same outline is {small_band.mean():.1%} of the pixels and {weight_share(small_band.mean()):.0%} of the "
           "weight." if scale > 1 else "."))
       if weight else "(this preset) the term is the seed's plain focal loss; try 5.")))

# %% [markdown]
# ## Augmentation: one batch, shown
# Three training frames are very little data. When the preset says `augment=True`, every batch is drawn afresh
# from them: flipped left-right, shifted, zoomed, and colour-jittered (brightness, contrast, saturation, hue), the
# mask moved with its frame so the pair stays true. The network never sees the same picture twice, which fights
# overfitting. This is `cae_tutorial.pipeline.frames_dataset`, the pipeline `training_dataset` builds on; here is one batch.

# %%
# At full size: with progressive resizing the first batches come smaller (next section).
full_size = preset.with_(progressive_scale=1)
batch_images, batch_masks = next(iter(frames_dataset(train_part.images, train_part.masks, full_size, SEED)))
print(f"augment={preset.augment}: one batch of {len(batch_images)} from {len(train_part)} training frames")
fig = augmentation_grid(train_part.images, train_part.masks, np.asarray(batch_images), np.asarray(batch_masks),
                        train_part.ids)

# %% [markdown]
# ## The learning-rate schedule
# Adam takes steps scaled by the learning rate. With `schedule="cosine"` the rate starts high, to learn fast, and
# follows half a cosine down to a small fraction of its start by the last step, so the last epochs settle instead
# of bouncing around. With `schedule="constant"` (the seed's) it stays put. This is the optimiser that
# `compile_settings(preset)` gives `model.compile`:

# %%
steps = steps_per_epoch(split, preset)
optimizer = make_optimizer(preset, steps, preset.epochs)
step_numbers = np.arange(0, steps * preset.epochs + 1, max(1, steps * preset.epochs // 200))
rates = []
for step in step_numbers:
    optimizer.iterations.assign(step)
    rates.append(float(optimizer.learning_rate))
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(step_numbers / steps, rates)
ax.set(xlabel="epoch", ylabel="learning rate", title=f"schedule={preset.schedule!r}: {steps} steps per epoch")
ax.grid(alpha=0.3)
plt.show()
print(f"learning rate: {rates[0]:.2e} at the start, {rates[len(rates) // 2]:.2e} half way, {rates[-1]:.2e} at the end "
      f"({rates[-1] / rates[0]:.0%} of the start)")

# %% [markdown]
# ## Progressive resizing and the number format
# Two settings make training faster (`benchmarks/README.md` measures both). The CAE is fully convolutional: the same weights run on
# frames of any size divisible by 8. So when `progressive_scale` is above 1, the first `progressive_fraction` of the
# epochs train on frames shrunk by that factor (each epoch costs a fraction of a full-size one), and the last epochs
# at full size, in the same `fit`: the small epochs learn the coarse shape, the last ones the outline.
# `dtype="auto"` picks the number format for this machine (`cae_tutorial.hardware`): bfloat16 on CPUs with bfloat16
# instructions (AVX512-BF16 or AMX), float16 on recent GPUs, float32 elsewhere; the output layer and the loss stay
# float32.

# %%
from cae_tutorial.hardware import describe

shapes = [tuple(batch[0].shape[1:3]) for batch in
          frames_dataset(train_part.images, train_part.masks, preset, SEED).take(max(1, preset.small_epochs) * steps + 1)]
machine = describe()
display(Markdown(
    (f"This run trains its first **{preset.small_epochs}** of {preset.epochs} epochs on frames of "
     f"{shapes[0][0]} x {shapes[0][1]}, then the last {preset.epochs - preset.small_epochs} at "
     f"{shapes[-1][0]} x {shapes[-1][1]}." if preset.small_epochs else
     f"This run trains all {preset.epochs} epochs at {shapes[0][0]} x {shapes[0][1]} (no progressive resizing).")
    + f" Number format: `{preset.dtype}` -> **{preset.resolved_dtype}** on this machine ({machine['cpu_model']}, "
      f"{'with' if any('bf16' in f for f in machine['cpu_flags']) else 'without'} bfloat16 instructions)."))

# %% [markdown]
# ## Recording predictions while training
# A Keras callback runs code at fixed points of `fit`. This one predicts the chosen frames before training (epoch 0)
# and at the end of chosen epochs, and stores the probabilities as uint8 (0..255): a quarter of the memory of
# float32, plenty for a picture.

# %%
print(inspect.getsource(PredictionSnapshots))

# %% [markdown]
# ## Watch it train
# The scrubber below appears before training starts, its slider already spanning every epoch to be recorded, and
# fills as epochs arrive: each frame (marked train or held out) with its true mask, the prediction at the shown epoch
# and its IoU at the model's size. It follows the newest epoch until you move the slider (drag it, or Home, End and
# the arrows), and again after "Follow newest"; moving happens in the browser, so it answers while training runs.
# Widgets need a live Jupyter kernel. For every view without one (GitHub, nbconvert, a notebook opened without a
# kernel) the same output carries, once training has ended, a static picture of the evolution: each frame and its
# truth, then the prediction, its errors and its IoU at the first and last epochs, on both sides of the switch of
# frame size, and where the held-out mean IoU changed most.

# %%
# key_epochs: the scrubber's static picture shows both sides of the switch to full-size frames.
scrubber = EpochScrubber.live(record, split, every=SNAPSHOT_EVERY, total_epochs=preset.epochs,
                              key_epochs=[preset.small_epochs])
scrubber

# %% [markdown]
# Now plain Keras: `compile` with the package's settings (the loss, Adam on the schedule above, and three metrics:
# pixel accuracy at 0.5, IoU and Dice of the person), then `fit` on the augmented batches with the held-out frames
# as validation data. Everything else is a callback: the snapshots (above), the epoch log, the progress lines, the
# scrubber. The held-out frames are scored every `SNAPSHOT_EVERY` epochs (Keras' `validation_freq`, with the
# snapshots) and after the last one (`ScoreLastEpoch`): each scoring is one more pass over those frames, so
# scoring less often leaves more of `fit`'s time to training.
#
# The IoU that `fit` logs is Keras' metric, **pooled**: the person pixels of all the frames scored are counted
# together, then divided once. The tables further down give the **per-frame mean**: each frame's IoU, then their
# mean. The two differ when the frames' persons differ in size; each number below says which it is.

# %%
model = build_model(preset, seed=SEED)
print(f"{model.name}: {model.count_params():,} parameters")
model.compile(**compile_settings(preset, steps))
heldout_data = validation_dataset(record, split)
logs, snapshots = EpochLogs(), PredictionSnapshots(record, every=SNAPSHOT_EVERY)
scrubber.callback.follow(snapshots)  # the scrubber shows the snapshots' predictions: each frame predicted once
model.fit(training_dataset(record, split, preset, seed=SEED, model=model), epochs=preset.epochs, steps_per_epoch=steps,
          validation_data=heldout_data, validation_freq=SNAPSHOT_EVERY, shuffle=False, verbose=0,
          callbacks=[ScoreLastEpoch(heldout_data), snapshots, logs, EpochProgress(), scrubber.callback])
result = TrainingResult.from_fit(model, logs, split, snapshots, preset=preset.resolved(), record=record, seed=SEED)
result.save(Path(OUTPUT_DIR) / "run", overwrite=True)
print(f"trained {result.config['epochs']} epochs in {result.config['train_seconds']:.0f} s (the whole model.fit: "
      f"tracing, held-out scores and a snapshot every {SNAPSHOT_EVERY} epoch(s), the live scrubber); saved to "
      f"{OUTPUT_DIR}/run")

# %% [markdown]
# `train(model, record, split, preset, seed=SEED, options=TrainOptions(snapshot_every=SNAPSHOT_EVERY,
# validate_every=SNAPSHOT_EVERY))` is the same run in one call: the sum of these pieces, with the same numbers.
#
# ## Loss and metric curves
# Held-out loss rising while training loss falls is the classic sign of overfitting, when both are measured on
# frames of the same size (with progressive resizing they are not, until the switch: see below). Pixel accuracy
# counts the background too, so it sits above IoU and Dice all along (notebook 1).

# %%
fig = loss_curves(result.history)

# %%
fig = metric_curves(result.history)
loss, heldout_loss = np.array(result.history["loss"]), np.array(result.history["val_loss"])
switch = min(preset.small_epochs, len(loss) - 1)  # index of the first full-size epoch
small_scored = [e for e in range(switch) if not np.isnan(heldout_loss[e])]
full_scored = [e for e in range(switch, len(loss)) if not np.isnan(heldout_loss[e])]
if preset.small_epochs and small_scored and full_scored:
    best_small = min(small_scored, key=lambda e: heldout_loss[e])
    last_small, first_full = small_scored[-1], full_scored[0]
    rose = heldout_loss[last_small] > heldout_loss[best_small] + 0.02
    display(Markdown(
        f"The step in every curve at epoch {switch} is progressive resizing: the training frames switch from "
        f"{preset.small_size[0]} x {preset.small_size[1]} to {preset.height} x {preset.width} there. The held-out "
        f"frames are always scored at {preset.height} x {preset.width}, so before the switch they measure the model "
        f"at twice the scale it is learning at: their loss was lowest at epoch {best_small + 1} "
        f"({heldout_loss[best_small]:.3f}) and {heldout_loss[last_small]:.3f} at epoch {last_small + 1}, while the "
        f"training loss, on small frames, went from {loss[best_small]:.3f} to {loss[last_small]:.3f}. After the "
        "switch the training loss "
        f"{'jumps' if loss[switch] > 1.5 * loss[switch - 1] else 'rises' if loss[switch] > loss[switch - 1] else 'moves'}"
        f" (from {loss[switch - 1]:.3f} in epoch {switch} "
        f"to {loss[switch]:.3f} in epoch {switch + 1}: the small-frame model meets full-size frames), and the "
        f"held-out loss is {heldout_loss[first_full]:.3f} by epoch {first_full + 1}, {heldout_loss[-1]:.3f} at the end."
        + (f" {first_full - switch + 1} epoch(s) at full size bring the held-out loss below its best before the "
           "switch, so its rise before the switch is mostly the change of scale, not lost generalisation (to be "
           "sure, one would also score the held-out frames at the small size)." if rose and
           heldout_loss[first_full] < heldout_loss[best_small] else "")))
scored = [epoch for epoch, value in enumerate(result.history["val_iou"]) if not np.isnan(value)]
first, last = scored[0], scored[-1]
print(f"held-out after epoch {first + 1}: accuracy {result.history['val_accuracy'][first]:.3f}, "
      f"pooled IoU {result.history['val_iou'][first]:.3f}; after epoch {last + 1}: accuracy "
      f"{result.history['val_accuracy'][last]:.3f}, pooled IoU {result.history['val_iou'][last]:.3f}")

# %% [markdown]
# ## Training vs held-out, measured the same way
# The two curves are not measured alike. Each epoch's **training** numbers are averages over its batches, taken
# *while* the weights change, on **augmented** frames, with **dropout active** (it silences features at random).
# The **held-out** numbers are computed at the end of an epoch (every `SNAPSHOT_EVERY`-th here), on plain frames, with
# dropout off. So a
# training curve below the held-out one does not mean the model knows unseen frames better. To compare like with
# like, score the training frames exactly as the held-out ones: the final model, plain frames, no dropout.

# %%
train_scores = result.evaluate(record, split.train_ids)
heldout_scores = result.evaluate(record)
print("training frames\n", train_scores, "\n\nheld-out frames\n", heldout_scores, sep="")
last_train_curve, last_heldout_curve = result.history["iou"][-1], result.history["val_iou"][-1]
gap = train_scores.mean("iou") - heldout_scores.mean("iou")
train_ious, heldout_ious = [row.iou for row in train_scores], [row.iou for row in heldout_scores]
display(Markdown(
    f"On the last epoch the curves read pooled IoU {last_train_curve:.3f} (training, augmented, dropout on) and "
    f"{last_heldout_curve:.3f} (held out), at the model's size. Measured the same way, both tables above score the "
    f"final model on plain frames at {heldout_scores.resolution} (what a user sees), per-frame mean IoU: the "
    f"training frames {train_scores.mean('iou'):.3f}, the held-out frames {heldout_scores.mean('iou'):.3f}. "
    + (f"The model is better on the frames it learned from by {gap:.3f} IoU, the generalisation gap"
       if gap > 0 else f"The held-out frames score as well as the training ones ({gap:+.3f} IoU)")
    + (f". Every training frame ({min(train_ious):.3f} or more) scores above every held-out frame "
       f"({max(heldout_ious):.3f} or less), so the gap is small but consistent." if gap > 0 and min(train_ious) >
       max(heldout_ious) else f", smaller than the differences between single frames (training {min(train_ious):.3f}"
       f" to {max(train_ious):.3f}, held out {min(heldout_ious):.3f} to {max(heldout_ious):.3f})." if gap > 0
       else ".")))

# %% [markdown]
# ## The evolution of the predictions
# The seed plotted the predictions every 50 epochs. Here the columns are 8 of the epochs the callback recorded,
# spread evenly from before training to the end; each row is marked train or held out.

# %%
fig = evolution_grid(result.snapshots, frame_ids=[*split.train_ids, *split.heldout_ids[:2]], split=split)

# %%
results = {"epochs": result.config["epochs"], "train_seconds": result.config["train_seconds"],
           # The course's table: the per-frame mean at the model's size, as notebooks 5 and 6 report it.
           "heldout_iou": result.evaluate(record, resolution="model").mean("iou"),
           "heldout_pooled_iou": result.final("val_iou"), "heldout_dice": result.final("val_dice"),
           "train_iou": result.final("iou", part="training"), "snapshots": int(len(result.snapshots.epochs)),
           "train_frames_iou": train_scores.mean("iou"), "heldout_frames_iou": heldout_scores.mean("iou"),
           "focal_table": table}
Path(OUTPUT_DIR, "04_training.json").write_text(json.dumps(results, indent=1))
results

# %% [markdown]
# ## Summary
# - Dice + focal: Dice judges the overlap regardless of imbalance; focal, $-(1 - p_t)^\gamma \log p_t$, keeps the
#   cross-entropy of the pixels the model gets wrong and discounts the ones it already gets right.
# - Augmentation draws new batches from 3 frames; a cosine schedule takes big steps first and small ones last.
# - `model.fit` with the held-out frames as validation data gives both curves (the held-out one every
#   `validate_every` epochs); to compare training and held-out frames, score both the same way
#   (`result.evaluate(record, frame_ids)`).
# - A callback can record anything during training; uint8 snapshots make the training replayable.
#
# ## Exercises
# 1. Train with `PRESET = "seed"` at the same size for the same number of epochs as the `cpu` preset. Compare the
#    held-out IoU curves. Which ends higher? Check: `exercises.ex04_1(name, runs)`, with `runs` a dict
#    name -> result of both runs.
# 2. Set the focal weight to 0: compile the model yourself with `loss=dice_focal_loss(1, 0)` from
#    `cae_tutorial.losses` (a model you compiled trains as compiled), and train. What happens in the first epochs:
#    does Dice alone learn faster or slower? Check: `exercises.ex04_2("faster" or "slower", result, dice_run,
#    epochs)`.
# 3. Find the first epoch where the held-out IoU passes 0.5 (or scrub to it). Check: `exercises.ex04_3(epoch,
#    result)`. Which parts of the dancer appear first?
#
# Each check answers `right` or `not yet` with a hint, never the answer. The worked solutions follow, collapsed:
# open one after trying. Solutions 1 and 2 train short runs of `SOLUTION_EPOCHS` epochs (at most the preset's).

# %% [markdown]
# #### Solution 1

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
solution_epochs = min(preset.epochs, SOLUTION_EPOCHS)  # both presets for as many epochs, at the same size
other = "seed" if preset.name != "seed" else "cpu"
runs = {}
for name in (preset.name, other):
    recipe = get_preset(name, height=preset.height, width=preset.width, epochs=solution_epochs)
    runs[f"{name} preset"] = train(build_model(recipe, seed=SEED), record, split, recipe, seed=SEED, progress=False,
                                   options=TrainOptions(snapshot_epochs=(), validate_every=SNAPSHOT_EVERY))
fig, ax = plt.subplots(figsize=(7, 4))
for name, run in runs.items():
    ax.plot(*scored_epochs(run.history["val_iou"]), "o-", label=name)  # NaN between scored epochs
ax.set(xlabel="epoch", ylabel="held-out IoU (pooled)", ylim=(0, 1), title=f"{solution_epochs} epochs each")
ax.legend()
plt.show()
final = {name: scored_epochs(run.history["val_iou"])[1][-1] for name, run in runs.items()}
better = max(final, key=final.get)
print("self-check:", exercises.ex04_1(better, runs))
display(Markdown(
    f"After {solution_epochs} epochs at {preset.height} x {preset.width}, the held-out IoU (pooled) is "
    + " and ".join(f"{final[name]:.3f} for the {name}" for name in runs) + f": the **{better}** ends higher, by "
    f"{abs(final[preset.name + ' preset'] - final[other + ' preset']):.3f}. One seed and one short run each: a hint "
    "of the difference, not its size."))

# %% [markdown]
# #### Solution 2

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
from cae_tutorial.losses import dice_focal_loss

first_epochs = min(preset.epochs, SOLUTION_EPOCHS)
dice_only = build_model(preset, seed=SEED)
# One change only, the loss: the same schedule (over the preset's epochs), data, seed and scoring as the run above,
# whose first epochs it is compared with.
dice_only.compile(**compile_settings(preset, steps, loss=dice_focal_loss(1, 0, boundary_weight=preset.boundary_weight)))
dice_run = EpochLogs()
dice_only.fit(training_dataset(record, split, preset, seed=SEED, model=dice_only), epochs=first_epochs,
              steps_per_epoch=steps, validation_data=heldout_data, validation_freq=SNAPSHOT_EVERY, shuffle=False,
              verbose=0, callbacks=[ScoreLastEpoch(heldout_data), dice_run])
print("loss used:", type(dice_only.loss).__name__, "focal weight", dice_only.loss.focal_weight)
both = {"Dice + focal": result.history["val_iou"][:first_epochs], "Dice only": dice_run.history["val_iou"]}
for name, values in both.items():
    epochs_scored, ious = scored_epochs(values)
    print(f"{name:<13} held-out IoU (pooled) at epochs {epochs_scored.tolist()}: {np.round(ious, 3).tolist()}")
common = sorted(set(scored_epochs(both["Dice + focal"])[0]) & set(scored_epochs(both["Dice only"])[0]))
at = int(common[-1])
focal_iou, alone_iou = both["Dice + focal"][at - 1], both["Dice only"][at - 1]
answer = "faster" if alone_iou > focal_iou else "slower"
print("self-check:", exercises.ex04_2(answer, result, dice_run, first_epochs))
display(Markdown(
    f"By epoch {at}, Dice alone reaches a held-out IoU (pooled) of {alone_iou:.3f} against {focal_iou:.3f} with the "
    f"focal term: in these first epochs Dice alone learns **{answer}**"
    + (". Without the focal term, the loss gives weak, noisy gradients while the overlap is still near zero."
       if answer == "slower" else ". Here the overlap term alone started faster; train both for the preset's "
       "epochs before concluding about the whole run.")))

# %% [markdown]
# #### Solution 3

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
from scipy.ndimage import binary_erosion

epochs_scored, ious = scored_epochs(result.history["val_iou"])  # scored every SNAPSHOT_EVERY epochs
passed = [int(epoch) for epoch, iou in zip(epochs_scored, ious) if iou > 0.5]
first_pass = passed[0] if passed else None
print("self-check:", exercises.ex04_3(first_pass, result))
if first_pass is None:
    display(Markdown(f"In this run the held-out IoU never passes 0.5 (its best: {max(ious):.3f}): train longer."))
else:
    early = [int(e) for e in result.snapshots.epochs if e <= 2 * first_pass]
    fig = evolution_grid(result.snapshots, frame_ids=split.heldout_ids[:2], split=split,
                         epochs=early[:: max(1, len(early) // 8)][:8])
    plt.show()
    shown = min(result.snapshots.epochs, key=lambda e: abs(e - first_pass))  # the snapshot at (or next to) it
    rows = [result.snapshots.frame_ids.index(i) for i in split.heldout_ids]
    truth = result.snapshots.masks[rows] > 127
    found = result.snapshots.at(shown)[rows] >= 128  # probability 0.5 and above
    # Thick parts (torso, head, thighs) survive shrinking the mask by 2 pixels; thin ones (arms, hands, feet) do not.
    thick = np.stack([binary_erosion(t, np.ones((5, 5), bool)) for t in truth])
    thin = truth & ~thick
    thick_found, thin_found = found[thick].mean(), found[thin].mean()
    display(Markdown(
        f"The held-out IoU (pooled) first passes 0.5 at epoch **{first_pass}** (scored every {SNAPSHOT_EVERY}). At "
        f"epoch {shown} the model finds {thick_found:.0%} of the held-out dancers' thick parts (what is left of the "
        f"mask shrunk by 2 pixels: torso, head, thighs) and {thin_found:.0%} of the thin ones (arms, hands, feet and "
        "the outline): the " + ("thick parts appear first, the limbs later." if thick_found > thin_found else
                                "thin parts are found as early as the thick ones here.")))
