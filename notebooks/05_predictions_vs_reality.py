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
# # 5. Predictions vs reality
#
# **What you will learn**
# - how to reload a saved model and predict frames it never saw, as the seed's `model_test` notebook does;
# - how to compare predictions with the truth: overlays side by side, and a per-frame IoU / Dice table;
# - what the 0.5 threshold does, and what moving it costs;
# - where the model fails, and why.
#
# It reads the run saved by notebook 4 (`outputs/run`); when that is missing it trains one first.

# %% tags=["parameters"]
PRESET = "cpu"
DATA_DIR = None  # None: the embedded record; else a folder with images/ and masks/
RECORD = None
IMAGE_HEIGHT = 128
IMAGE_WIDTH = 64
EPOCHS = 150  # only used when notebook 4's run is missing
SEED = 0
RUN_DIR = "outputs/run"  # where notebook 4 saved its run
OUTPUT_DIR = "outputs"

# %%
import json
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from cae_tutorial.data import load_record, seed_split
from cae_tutorial.losses import dice_score, iou_score, per_frame_metrics
from cae_tutorial.plots import iou_bars, overlays
from cae_tutorial.presets import get_preset
from cae_tutorial.training import build_model, predict, train

Path(OUTPUT_DIR).mkdir(exist_ok=True)
plt.rcParams["figure.dpi"] = 60

# %%
model_path = Path(RUN_DIR) / "model.keras"
if not model_path.is_file():
    print(f"{model_path} is missing (run notebook 4 first to reuse its model); training one now")
    preset = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS)
    record = load_record(DATA_DIR, RECORD, size=preset.size)
    train(build_model(preset, SEED), record, seed_split(record), preset, seed=SEED, snapshot_epochs=[]).save(RUN_DIR, overwrite=True)

# %% [markdown]
# ## Reload the model
# A `.keras` file holds the architecture, the weights and the compile settings (the custom loss and metric are
# registered with Keras, so they reload too). The model tells us the frame size it expects.

# %%
model = keras.saving.load_model(model_path)
height, width = model.input_shape[1:3]
record = load_record(DATA_DIR, RECORD, size=(height, width))
split = seed_split(record)
heldout = record.subset(split.heldout_ids)
print(f"{model.name} expects {height} x {width}; predicting {len(heldout)} held-out frames")

# %%
probabilities = predict(model, heldout.images)
print("probabilities", probabilities.shape, f"min {probabilities.min():.3f} max {probabilities.max():.3f}")

# %% [markdown]
# ## Predictions beside the truth
# Top: the true mask over the frame (green). Bottom: the prediction thresholded at 0.5 (pink), with its IoU.

# %%
table = per_frame_metrics(heldout.ids, heldout.masks, probabilities)
fig = overlays(heldout.images, heldout.masks, probabilities, heldout.ids, scores=[row.iou for row in table])

# %%
table

# %%
fig = iou_bars(table)

# %% [markdown]
# ## The threshold
# The model outputs a probability per pixel; 0.5 turns it into person / background. A lower threshold finds more
# of the person (fewer misses) and more false alarms; a higher one the opposite. IoU tells us which balance is best
# on these frames; choosing it on the held-out frames themselves would be cheating, so treat this as a diagnosis.

# %%
thresholds = np.round(np.arange(0.1, 0.91, 0.1), 2)
mean_iou = [iou_score(heldout.masks, probabilities, t).mean() for t in thresholds]
mean_dice = [dice_score(heldout.masks, probabilities, t).mean() for t in thresholds]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(thresholds, mean_iou, "o-", label="IoU")
ax.plot(thresholds, mean_dice, "s--", label="Dice")
ax.set(xlabel="threshold", ylabel="mean over held-out frames", title="Effect of the threshold")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
best = float(thresholds[int(np.argmax(mean_iou))])
print(f"IoU at 0.5: {mean_iou[4]:.3f}; best {max(mean_iou):.3f} at {best}")

# %% [markdown]
# ## Where does it fail?
# Colour each pixel by what went wrong: **missed** person pixels (false negatives, blue) and **false alarms**
# (false positives, red), on the worst frame.

# %%
worst = int(np.argmin([row.iou for row in table]))
truth = heldout.masks[worst, ..., 0] > 0.5
predicted = probabilities[worst, ..., 0] >= 0.5
errors = heldout.images[worst] * 0.5
errors[truth & ~predicted] = (0.1, 0.3, 1.0)
errors[~truth & predicted] = (1.0, 0.1, 0.1)
fig, axes = plt.subplots(1, 2, figsize=(5, 5))
axes[0].imshow(heldout.images[worst])
axes[1].imshow(errors)
for ax, title in zip(axes, (heldout.ids[worst], "missed (blue) / false alarm (red)")):
    ax.set_title(title, fontsize=8)
    ax.axis("off")
plt.show()
missed, false_alarm = int((truth & ~predicted).sum()), int((~truth & predicted).sum())
print(f"{heldout.ids[worst]}: {missed} missed pixels, {false_alarm} false alarms, IoU {table[worst].iou:.3f}")

# %% [markdown]
# Typical failures: **thin limbs and hands** (a few pixels wide at this size, easy to lose through three
# halvings), **poses the 3 training frames never showed** (an arm raised where no training arm was), and
# **edges** (the decoder rebuilds them from 1/8 of the resolution). Background that looks like skin or clothes
# draws false alarms. The `cpu` preset's skip connections help with edges; notebook 6 measures how much.

# %%
results = {"heldout_iou": table.mean("iou"), "heldout_dice": table.mean("dice"),
           "heldout_accuracy": table.mean("accuracy"), "best_threshold": best,
           "per_frame": table.to_dict(), "worst_frame": heldout.ids[worst]}
Path(OUTPUT_DIR, "05_predictions_vs_reality.json").write_text(json.dumps(results, indent=1))
results["heldout_iou"]

# %% [markdown]
# ## Summary
# - `keras.saving.load_model` restores the trained model; `predict` gives per-pixel probabilities.
# - Overlays and a per-frame table show *where* and *how much*; the mean hides the worst frame.
# - The threshold trades misses for false alarms; thin limbs, unseen poses and edges are the hard parts.
#
# ## Exercises
# 1. Which held-out frame is hardest? Find the training frame whose pose is closest to it.
# 2. Use `cae-tutorial predict --model outputs/run/model.keras --input <frames> --output preds` on frames of your
#    own and look at the overlay PNGs.
# 3. Compute IoU only on a band of pixels near the true edge (hint: dilate and erode the mask). How much lower is it?
