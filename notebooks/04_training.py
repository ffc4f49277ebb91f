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
# - the Dice + focal loss, with small numbers you can check by hand;
# - how to train the CAE with Keras `model.fit`, scoring the held-out frames after every epoch;
# - how a callback records the model's predictions at every epoch, so you can replay the training afterwards;
# - how to read loss and metric curves, and how to scrub through the epochs with a slider.

# %% tags=["parameters"]
PRESET = "cpu"  # "cpu": the course's fast recipe; "seed": the seed project's exact recipe (1024 x 512, 500 epochs)
DATA_DIR = None  # None: the embedded record; else a folder with images/ and masks/
RECORD = None
IMAGE_HEIGHT = 128
IMAGE_WIDTH = 64
EPOCHS = 150
SEED = 0
SNAPSHOT_EVERY = 1  # record predictions every N epochs
OUTPUT_DIR = "outputs"

# %%
import inspect
import json
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image as ShowImage, display

from cae_tutorial.data import load_record, seed_split
from cae_tutorial.plots import evolution_grid, loss_curves, metric_curves
from cae_tutorial.presets import get_preset
from cae_tutorial.callbacks import PredictionSnapshots
from cae_tutorial.training import build_model, train
from cae_tutorial.widgets import EpochScrubber, save_evolution_gif

Path(OUTPUT_DIR).mkdir(exist_ok=True)
plt.rcParams["figure.dpi"] = 60

# %% [markdown]
# ## The recipe
# A preset is frozen data: every setting of a training run besides the data and the random seed. The `seed`
# preset is the seed project's recipe; `cpu` is tuned to learn in minutes on a laptop CPU (see
# `benchmarks/README.md` for the measurements behind it).

# %%
preset = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS)
print(preset)

# %% [markdown]
# The `cpu` preset keeps the seed's blocks, loss and optimiser but changes what the benchmark showed pays on a CPU:
# lighter filters (16, 32, 64 instead of 4, 32, 256: the 256-channel convolutions next to the latent space cost most
# of the time), skip connections (notebook 6 shows what they do), random flips, shifts, zoom and colour jitter so an
# epoch holds 4 different batches of the 3 frames, and a higher learning rate that decays along a cosine. Set
# `PRESET = "seed"` to train the seed's exact model and recipe.

# %% [markdown]
# ## The loss: Dice + focal
# **Dice loss** is 1 - Dice score, computed on probabilities: it measures the overlap of the whole predicted person
# with the true one, so the 90 % of background pixels cannot dominate it. **Focal loss** is a cross-entropy that
# down-weights pixels the model already gets right (by (1 - p)^gamma, gamma = 2), so the many easy background pixels
# stop drowning out the hard edge pixels; it gives every pixel a gradient from the very first step, when Dice's is
# still weak. The seed adds the two with equal weights. Both are Keras' own losses:

# %%
def dice_focal_loss(dice_weight=1.0, focal_weight=1.0):
    """The seed's loss: Dice + binary focal cross-entropy, equally weighted."""
    dice = keras.losses.Dice(axis=(1, 2, 3))
    focal = keras.losses.BinaryFocalCrossentropy(gamma=2.0)
    return lambda y_true, y_pred: dice_weight * dice(y_true, y_pred) + focal_weight * focal(y_true, y_pred)


loss = dice_focal_loss()
truth = np.zeros((1, 10, 10, 1), np.float32)
truth[0, :1] = 1  # a "person" on 10 % of the pixels
guesses = {
    "perfect": truth * 0.98 + 0.01,
    "all background (p=0.01)": np.full_like(truth, 0.01),
    "unsure everywhere (p=0.5)": np.full_like(truth, 0.5),
    "right place, timid (p=0.6 on person)": truth * 0.59 + 0.01,
}
for name, guess in guesses.items():
    dice = float(keras.losses.Dice(axis=(1, 2, 3))(truth, guess))
    focal = float(keras.losses.BinaryFocalCrossentropy(gamma=2.0)(truth, guess))
    print(f"{name:<40} Dice loss {dice:.3f}  focal {focal:.3f}  total {float(loss(truth, guess)):.3f}")

# %% [markdown]
# "All background" has a tiny focal loss (it is right on 90 % of the pixels) but a Dice loss of ~1: the sum still
# calls it a failure. The library's `cae_tutorial.losses.dice_focal_loss` is the same loss as a serialisable Keras
# `Loss`, so a saved model reloads with it.

# %% [markdown]
# ## Recording predictions while training
# A Keras callback runs code at fixed points of `fit`. This one predicts the chosen frames before training (epoch 0)
# and at the end of chosen epochs, and stores the probabilities as uint8 (0..255): a quarter of the memory of
# float32, plenty for a picture.

# %%
print(inspect.getsource(PredictionSnapshots))

# %% [markdown]
# ## Training
# `train` compiles the model with the loss, Adam and three metrics (pixel accuracy at 0.5, IoU and Dice of the
# person), builds the input pipeline, and calls `model.fit` with the held-out frames as validation data, so every
# epoch logs training and held-out scores.

# %%
record = load_record(DATA_DIR, RECORD, size=preset.size)
split = seed_split(record)
model = build_model(preset, seed=SEED)
print(f"{model.name}: {model.count_params():,} parameters; training on {list(split.train_ids)}")
result = train(model, record, split, preset, seed=SEED, snapshot_every=SNAPSHOT_EVERY)
result.save(Path(OUTPUT_DIR) / "run", overwrite=True)
print(f"trained {result.config['epochs']} epochs in {result.config['train_seconds']:.0f} s; "
      f"saved to {OUTPUT_DIR}/run")

# %% [markdown]
# ## Loss and metric curves
# Watch the gap between the training and held-out curves: held-out loss rising while training loss falls is
# overfitting. Pixel accuracy starts near 0.9 (the all-background guess); IoU and Dice start near 0.

# %%
fig = loss_curves(result.history)

# %%
fig = metric_curves(result.history)

# %% [markdown]
# ## The evolution of the predictions
# The seed plotted the predictions every 50 epochs. Here every column is an epoch recorded by the callback.

# %%
fig = evolution_grid(result.snapshots, frame_ids=[*split.train_ids, *split.heldout_ids[:2]])

# %% [markdown]
# ## Scrub through the epochs
# Drag the slider, or press play. Each row is a frame: the image, the true mask and the prediction at that epoch,
# with its IoU. All pictures were encoded once, so scrubbing is instant.
#
# Widgets need a live Jupyter kernel; on GitHub or in a headless run you see the animated GIF below instead.

# %%
scrubber = EpochScrubber(result, frame_ids=[split.train_ids[0], *split.heldout_ids[:2]])
scrubber

# %%
gif = save_evolution_gif(result, Path(OUTPUT_DIR) / "evolution.gif",
                         frame_ids=[split.train_ids[0], *split.heldout_ids[:2]], height=128, max_epochs=40)
display(ShowImage(filename=str(gif)))

# %%
results = {"epochs": result.config["epochs"], "train_seconds": result.config["train_seconds"],
           "heldout_iou": result.final("val_iou"), "heldout_dice": result.final("val_dice"),
           "train_iou": result.final("iou", part="training"), "snapshots": int(len(result.snapshots.epochs)),
           "scrubber_epochs": [scrubber.epochs[0], scrubber.epochs[-1]]}
Path(OUTPUT_DIR, "04_training.json").write_text(json.dumps(results, indent=1))
results

# %% [markdown]
# ## Summary
# - Dice + focal: Dice judges the overlap regardless of imbalance; focal gives every pixel a useful gradient.
# - `model.fit` with the held-out frames as validation data gives both curves for every epoch.
# - A callback can record anything during training; uint8 snapshots make the training replayable.
#
# ## Exercises
# 1. Train with `PRESET = "seed"` at 128 x 64 for the same number of epochs. Compare the held-out IoU curves.
# 2. Set the focal weight to 0: `compile_model(model, preset, loss=dice_focal_loss(1, 0))`, then `model.fit` on
#    the training frames. What happens in the first epochs?
# 3. Scrub to the epoch where the held-out IoU first passes 0.5. Which parts of the dancer appear first?
