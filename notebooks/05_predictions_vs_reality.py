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
# - what the 0.5 threshold does, shown as masks at a few thresholds, and what moving it costs;
# - where the model fails, and why.
#
# It reads the run saved by notebook 4 (`outputs/run`); when that is missing it trains one first.

# %% tags=["parameters"]
PRESET = "cpu"
DATA = None  # None: the embedded record; "record-136": the real frames (downloaded once); or a folder
RECORD = None
IMAGE_HEIGHT = None  # None: the preset's frame size
IMAGE_WIDTH = None
EPOCHS = None  # only used when notebook 4's run is missing
SEED = 0
RUN_DIR = "outputs/run"  # where notebook 4 saved its run
OUTPUT_DIR = "outputs"

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial.data import embedded_record_path, load_record, seed_split
from cae_tutorial.datasets import resolve_data
from cae_tutorial.losses import dice_score, iou_score, outline_band, per_frame_metrics
from cae_tutorial.plots import frame_title, iou_bars, overlays, threshold_grid
from cae_tutorial.presets import get_preset
from cae_tutorial.evaluation import model_size, predict
from cae_tutorial.training import TrainOptions, build_model, train
import keras

Path(OUTPUT_DIR).mkdir(exist_ok=True)

# %%
model_path = Path(RUN_DIR) / "model.keras"
if not model_path.is_file():
    print(f"{model_path} is missing (run notebook 4 first to reuse its model); training one now")
    preset = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS)
    record = load_record(resolve_data(DATA), RECORD, size=preset.size)
    train(build_model(preset, SEED), record, seed_split(record), preset, seed=SEED, options=TrainOptions(snapshot_epochs=())).save(RUN_DIR, overwrite=True)

# %% [markdown]
# ## Reload the model
# A `.keras` file holds the architecture, the weights and the compile settings (the custom loss and metric are
# registered with Keras, so they reload too). A model of fixed input tells us the frame size it expects; the CAE of
# a progressive preset takes frames of any size divisible by 8, and the run's `config.json` says the size it
# trained at (`model_size` reads whichever applies).

# %%
model = keras.saving.load_model(model_path)
trained_at = json.loads((Path(RUN_DIR) / "config.json").read_text())["size"]
height, width = model_size(model, size=trained_at)
record = load_record(resolve_data(DATA), RECORD, size=(height, width))
split = seed_split(record)
heldout = record.subset(split.heldout_ids)
print(f"{model.name} takes input {model.input_shape[1:3]}, trained at {height} x {width}; predicting "
      f"{len(heldout)} held-out frames")

# %%
probabilities = predict(model, heldout.images)
print("probabilities", probabilities.shape, f"min {probabilities.min():.3f} max {probabilities.max():.3f}")

# %% [markdown]
# ## Predictions beside the truth
# Top: the true mask over the frame (green). Bottom: the prediction thresholded at 0.5 (azure), with its IoU.
# These scores are at the model's size; `TrainingResult.evaluate` reports them at the frames' own size.

# %%
table = per_frame_metrics(heldout.ids, heldout.masks, probabilities)
fig = overlays(heldout.images, heldout.masks, probabilities, heldout.ids, scores=[row.iou for row in table],
               split=split)

# %%
table

# %%
fig = iou_bars(table)
fig.axes[0].set_title("IoU per held-out frame")

# %% [markdown]
# ## The threshold
# The model outputs a probability per pixel; 0.5 turns it into person / background. A lower threshold finds more
# of the person (fewer misses) and more false alarms; a higher one the opposite. IoU tells us which balance is best
# on these frames; choosing it on the held-out frames themselves would be cheating, so treat this as a diagnosis.
# First the masks themselves, at three thresholds, on the best and the worst held-out frame:

# %%
order = np.argsort([row.iou for row in table])
shown = [int(order[-1]), int(order[0])] if len(order) > 1 else [0]
fig = threshold_grid(heldout.images[shown], heldout.masks[shown], probabilities[shown],
                     [heldout.ids[i] for i in shown], thresholds=(0.2, 0.5, 0.8), split=split)

# %%
thresholds = np.round(np.arange(0.1, 0.91, 0.1), 2)
mean_iou = [iou_score(heldout.masks, probabilities, t).mean() for t in thresholds]
mean_dice = [dice_score(heldout.masks, probabilities, t).mean() for t in thresholds]
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(thresholds, mean_iou, "o-", label="IoU")
ax.plot(thresholds, mean_dice, "s--", label="Dice")
low = min(min(mean_iou), min(mean_dice))
ax.set(xlabel="threshold", ylabel="mean over held-out frames", title="Effect of the threshold",
       ylim=(max(0, low - 0.05), min(1, max(mean_dice) + 0.02)))
ax.legend()
ax.grid(alpha=0.3)
plt.show()
best = float(thresholds[int(np.argmax(mean_iou))])
at_half = mean_iou[int(np.argmin(np.abs(thresholds - 0.5)))]
print(f"IoU at 0.5: {at_half:.3f}; best {max(mean_iou):.3f} at {best}")

# %% [markdown]
# ## Where does it fail?
# Colour each pixel by what went wrong: **missed** person pixels (false negatives, yellow) and **false alarms**
# (false positives, red), on the worst frame.

# %%
worst = int(np.argmin([row.iou for row in table]))
truth = heldout.masks[worst, ..., 0] > 0.5
predicted = probabilities[worst, ..., 0] >= 0.5
errors = heldout.images[worst] * 0.5
errors[truth & ~predicted] = (1.0, 0.9, 0.0)
errors[~truth & predicted] = (1.0, 0.1, 0.1)
fig, axes = plt.subplots(1, 2, figsize=(5.6, 5.6))
axes[0].imshow(heldout.images[worst])
axes[1].imshow(errors)
for ax, title in zip(axes, (frame_title(heldout.ids[worst], split), "missed (yellow)\nfalse alarm (red)")):
    ax.set_title(title, fontsize=10)
    ax.axis("off")
plt.show()
missed, false_alarm = int((truth & ~predicted).sum()), int((~truth & predicted).sum())
print(f"{heldout.ids[worst]}: {missed} missed pixels, {false_alarm} false alarms, IoU {table[worst].iou:.3f}")

# %% [markdown]
# Where do the wrong pixels lie? Count those within 2 pixels of the true outline, on every held-out frame: the
# outline band of notebook 4 (`outline_band`, the mask grown minus the mask shrunk), with a 5 x 5 window.

# %%
wrong = (probabilities[..., 0] >= 0.5) != (heldout.masks[..., 0] > 0.5)
edge = np.asarray(outline_band(heldout.masks, width=5))[..., 0] > 0.5
edge_share = wrong[edge].sum() / max(1, wrong.sum())
missed_all = int(((heldout.masks[..., 0] > 0.5) & ~(probabilities[..., 0] >= 0.5)).sum())
ious = [row.iou for row in table]
display(Markdown(
    f"The mean held-out IoU is {table.mean('iou'):.3f}; frames range from {min(ious):.3f} ({heldout.ids[worst]}) "
    f"to {max(ious):.3f}, a spread of {max(ious) - min(ious):.3f}, so the mean "
    + ("hides a clearly worse frame. " if max(ious) - min(ious) > 0.05 else "is a fair summary of every frame here. ")
    + f"On the worst frame, {missed} pixels are missed and {false_alarm} are false alarms: "
    + ("its errors are mostly **misses** (person the model did not find). " if missed > 1.5 * false_alarm else
       "its errors are mostly **false alarms** (background taken for person). " if false_alarm > 1.5 * missed else
       "misses and false alarms come in about equal numbers. ")
    + f"Over all held-out frames, {edge_share:.0%} of the wrong pixels lie within 2 pixels of the true outline"
    + (": most of the error lies along the outline, the hardest place for any model. At "
       f"{heldout.images.shape[1]} x {heldout.images.shape[2]} a forearm or a hand is only a few pixels wide, so "
       "a thin part missed whole would count here too (look for one in yellow above); on the real frames "
       "the truth itself is least certain there too (the masks were drawn at another resolution and resized)."
       if edge_share > 0.5 else ": most of the error is away from the edges, whole regions missed or invented.")
    + f" Missed person pixels make up {missed_all / max(1, wrong.sum()):.0%} of all the wrong ones."))

# %%
results = {"heldout_iou": table.mean("iou"), "heldout_dice": table.mean("dice"),
           "heldout_accuracy": table.mean("accuracy"), "best_threshold": best,
           "per_frame": table.to_dict(), "worst_frame": heldout.ids[worst], "edge_error_share": float(edge_share)}
Path(OUTPUT_DIR, "05_predictions_vs_reality.json").write_text(json.dumps(results, indent=1))
results["heldout_iou"]

# %% [markdown]
# ## Summary
# - `keras.saving.load_model` restores the trained model; `predict` gives per-pixel probabilities.
# - Overlays and a per-frame table show *where* and *how much*; the spread between frames says whether the mean is
#   a fair summary (the cell above measures it).
# - The threshold trades misses for false alarms; the error map and the outline count say which kind dominates.
#
# ## Exercises
# 1. Which held-out frame is hardest? Find the training frame closest to it (mean absolute pixel difference).
# 2. Use `cae-tutorial predict --model outputs/run/model.keras --input <frames> --output preds` on frames of your
#    own and look at the overlay PNGs.
# 3. Compute IoU only on the band of pixels near the true edge (`edge` above). How much lower is it?
#
# <details><summary>Solution 1</summary>
#
# ```python
# training = record.subset(split.train_ids)
# distance = np.abs(training.images - heldout.images[worst]).mean(axis=(1, 2, 3))
# closest = int(np.argmin(distance))
# print(f"hardest: {heldout.ids[worst]} (IoU {table[worst].iou:.3f}); closest training frame: "
#       f"{training.ids[closest]} (mean difference {distance[closest]:.3f})")
# ```
# </details>
#
# <details><summary>Solution 2</summary>
#
# ```python
# import subprocess, sys
# frames = sorted(Path(resolve_data(DATA) or embedded_record_path(), "images").glob("*"))[:2]
# subprocess.run([sys.executable, "-m", "cae_tutorial.cli", "predict", "--model", str(model_path),
#                 "--input", *map(str, frames), "--output", str(Path(OUTPUT_DIR) / "preds")], check=True)
# print(sorted(p.name for p in (Path(OUTPUT_DIR) / "preds").iterdir()))
# ```
# </details>
#
# <details><summary>Solution 3</summary>
#
# ```python
# predicted_all = probabilities[..., 0] >= 0.5
# true_all = heldout.masks[..., 0] > 0.5
# band_iou = (predicted_all & true_all & edge).sum() / max(1, ((predicted_all | true_all) & edge).sum())
# print(f"IoU on the edge band {band_iou:.3f} vs {table.mean('iou'):.3f} on whole frames")
# ```
# </details>
