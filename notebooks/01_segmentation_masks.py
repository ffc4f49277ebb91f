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
# # 1. Segmentation masks
#
# **What you will learn**
# - what a segmentation mask is, binary and categorical;
# - how a record of the Kaggle *Segmentation Full Body TikTok Dancing* dataset is laid out, and how to load it;
# - how to look at frames, masks and overlays;
# - why pixel accuracy flatters a model when the person covers a tenth of the picture, and why IoU and Dice are
#   the honest measures.
#
# The course runs on an embedded record that ships with the package: a synthetic "dance clip" of 10 frames,
# drawn so that its mask is exact. Point `DATA_DIR` at a real Kaggle-layout record to use real frames.

# %% tags=["parameters"]
DATA_DIR = None  # None: the embedded record; else a folder with images/ and masks/
RECORD = None  # record prefix such as "136"; None: every frame in the folder
IMAGE_HEIGHT = 256
IMAGE_WIDTH = 128
OUTPUT_DIR = "outputs"

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from cae_tutorial.data import embedded_record_path, load_record, seed_split
from cae_tutorial.losses import dice_score, iou_score, pixel_accuracy
from cae_tutorial.plots import overlay, training_grid

Path(OUTPUT_DIR).mkdir(exist_ok=True)
plt.rcParams["figure.dpi"] = 60  # small figures: the committed notebook stays light

# %% [markdown]
# ## What a mask is
# A **binary mask** answers, for every pixel, one question: *is this pixel part of the object?* It is an image of
# the same height and width as the frame with one channel, 1 for the object and 0 for the background.
# A **categorical mask** answers *which class is this pixel?* with one integer per pixel (0 background,
# 1 person, 2 dog, ...), or equivalently one binary channel per class ("one-hot").

# %%
binary = np.zeros((6, 8), int)
binary[1:5, 2:5] = 1
categorical = binary.copy()
categorical[3:6, 5:8] = 2
print("binary mask (1 = person):\n", binary)
print("categorical mask (0 = background, 1 = person, 2 = dog):\n", categorical)
print("one-hot shape:", np.eye(3, dtype=int)[categorical].shape, "= (height, width, classes)")

# %% [markdown]
# ## A record on disk
# The Kaggle dataset stores each frame twice under the same name: the picture in `images/` and its mask in
# `masks/`. The name starts with the record (video) number, then the frame number: `136_00090.png`.

# %%
root = Path(DATA_DIR) if DATA_DIR else embedded_record_path()
for folder in ("images", "masks"):
    names = sorted(p.name for p in (root / folder).iterdir())
    print(f"{folder}/: {len(names)} files, e.g. {names[:3]}")

# %% [markdown]
# `load_record` pairs images and masks by name, sorts them by frame, resizes them (frames smoothly, masks so they
# stay 0/1) and returns float32 arrays: frames in [0, 1] with shape (N, H, W, 3), masks in {0, 1} with shape
# (N, H, W, 1). Sizes are written (height, width).

# %%
# NBVAL_CHECK_OUTPUT
record = load_record(DATA_DIR, RECORD, size=(IMAGE_HEIGHT, IMAGE_WIDTH))
print(record)
print("images", record.images.shape, record.images.dtype, "masks", record.masks.shape, record.masks.dtype)

# %% [markdown]
# The seed project trained on 3 frames and predicted the others. Its split is by frame id:

# %%
# NBVAL_CHECK_OUTPUT
split = seed_split(record)
print("train:   ", split.train_ids)
print("held out:", split.heldout_ids)

# %%
train = record.subset(split.train_ids)
fig = training_grid(train.images, train.masks, train.ids)

# %% [markdown]
# ## Overlays
# Laying the mask over the frame shows at a glance whether it fits: the seed blends 0.4 of the frame with 0.6 of
# the (coloured) mask where the mask is on.

# %%
fig, axes = plt.subplots(1, 3, figsize=(7, 4.5))
for ax, i in zip(axes, range(3)):
    ax.imshow(overlay(train.images[i], train.masks[i]))
    ax.set_title(train.ids[i], fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## How much of the picture is the person?

# %%
foreground = record.masks.mean(axis=(1, 2, 3))
for frame_id, share in zip(record.ids, foreground):
    print(f"{frame_id}: {share:6.1%} person")
print(f"mean: {foreground.mean():.1%} of the pixels are person")

# %% [markdown]
# ## Why pixel accuracy is not enough
# A "model" that answers *background* everywhere is right on every background pixel. With a person on roughly a
# tenth of the pixels, it scores about 0.9 pixel accuracy while finding nothing. IoU (intersection over union of
# predicted and true person pixels) and Dice (twice the intersection over the sum of their sizes) only count the
# person, so this empty guess scores 0 on both.

# %%
all_background = np.zeros_like(record.masks)
accuracy = pixel_accuracy(record.masks, all_background).mean()
print(f"all background: pixel accuracy {accuracy:.3f}, "
      f"IoU {iou_score(record.masks, all_background).mean():.3f}, "
      f"Dice {dice_score(record.masks, all_background).mean():.3f}")

# %% [markdown]
# A rough guess that is off by a few pixels everywhere shows the difference between IoU and Dice: Dice is always
# the larger of the two (Dice = 2 IoU / (1 + IoU)).

# %%
shifted = np.roll(record.masks, shift=IMAGE_WIDTH // 16, axis=2)
print(f"mask shifted by {IMAGE_WIDTH // 16} pixels: accuracy {pixel_accuracy(record.masks, shifted).mean():.3f}, "
      f"IoU {iou_score(record.masks, shifted).mean():.3f}, Dice {dice_score(record.masks, shifted).mean():.3f}")

# %%
results = {"frames": len(record), "train_frames": len(split.train_ids), "heldout_frames": len(split.heldout_ids),
           "foreground_share": float(foreground.mean()), "all_background_accuracy": float(accuracy)}
Path(OUTPUT_DIR, "01_segmentation_masks.json").write_text(json.dumps(results, indent=1))
results

# %% [markdown]
# ## Summary
# - A binary mask marks the object's pixels with 1; categorical masks hold a class per pixel.
# - A Kaggle-layout record pairs `images/` and `masks/` by file name; `load_record` returns float32 arrays.
# - The person is a small share of the pixels, so "all background" already scores about 0.9 pixel accuracy:
#   judge segmentation by IoU and Dice.
#
# ## Exercises
# 1. Load the record at `IMAGE_HEIGHT=512, IMAGE_WIDTH=256`. Does the foreground share change? Why only slightly?
# 2. Shift the mask by 1, 4 and 16 pixels and plot IoU against the shift. How tolerant is IoU of small errors?
# 3. Write the categorical mask above as one-hot channels and back again with `argmax`.
