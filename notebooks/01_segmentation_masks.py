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
# # 1. Segmentation masks
#
# **What you will learn**
# - what a segmentation mask is, binary and categorical;
# - how a record of the Kaggle *Segmentation Full Body TikTok Dancing* dataset is laid out, and how to load it;
# - how to look at frames, masks and overlays;
# - why pixel accuracy flatters a model when the person covers a tenth of the picture, and why IoU and Dice are
#   the honest measures.
#
# The course grows out of **the seed project**
# ([tot-alin/Convolutional_autoencoder_CAE_Segmentation_masks](https://github.com/tot-alin/Convolutional_autoencoder_CAE_Segmentation_masks)
# on GitHub), which trained a convolutional autoencoder on 3 frames of one dancer's video (record 136 of the
# dataset) and predicted the masks of the others. "The seed" in these notebooks means that project: its split of
# the frames (below), its model (notebook 3) and its training recipe (notebooks 4 and 5), which the course rebuilds,
# measures and improves.
#
# The course runs on an embedded record that ships with the package: a synthetic "dance clip" of 10 frames,
# drawn so that its mask is exact. Set `DATA = "record-136"` to download the real frames of record 136, or give a
# folder holding a Kaggle-layout record.
#
# Every number in the text of this course is computed by the cell beside it, so it holds on whatever data you run;
# the few facts it cannot compute (about the Kaggle dataset, or the library's defaults) say where they come from.

# %% tags=["parameters"]
DATA = None  # None: the embedded record; "record-136": the real frames (downloaded once); or a folder
RECORD = None  # record prefix such as "136"; None: every frame in the folder
IMAGE_HEIGHT = 256
IMAGE_WIDTH = 128
OUTPUT_DIR = "outputs"

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial import exercises
from cae_tutorial.data import embedded_record_path, load_record, seed_split
from cae_tutorial.datasets import resolve_data
from cae_tutorial.folders import write_json
from cae_tutorial.losses import dice_score, iou_score, pixel_accuracy
from cae_tutorial.plots import TRUTH_COLOUR, frame_title, overlay, training_grid

Path(OUTPUT_DIR).mkdir(exist_ok=True)

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
root = Path(resolve_data(DATA) or embedded_record_path())  # the downloaded record, your folder, or the embedded one
for folder in ("images", "masks"):
    names = sorted(p.name for p in (root / folder).iterdir())
    print(f"{folder}/: {len(names)} files, e.g. {names[:3]}")

# %% [markdown]
# `load_record` pairs images and masks by name, sorts them by frame, resizes them (frames smoothly, masks so they
# stay 0/1) and returns float32 arrays: frames in [0, 1] with shape (N, H, W, 3), masks in {0, 1} with shape
# (N, H, W, 1). Sizes are written (height, width).

# %% tags=["nbval-check-output"]
record = load_record(resolve_data(DATA), RECORD, size=(IMAGE_HEIGHT, IMAGE_WIDTH))
print(record)
print("images", record.images.shape, record.images.dtype, "masks", record.masks.shape, record.masks.dtype)

# %% [markdown]
# The seed project trained on 3 frames and predicted the others. Its split is by frame id (the seed split):

# %% tags=["nbval-check-output"]
split = seed_split(record)
print("train:   ", split.train_ids)
print("held out:", split.heldout_ids)

# %%
train = record.subset(split.train_ids)
fig = training_grid(train.images, train.masks, train.ids, split=split)

# %% [markdown]
# ## Overlays
# Laying the mask over the frame shows at a glance whether it fits: the seed blends 0.4 of the frame with 0.6 of
# the (coloured) mask where the mask is on. True masks are green in this course, predictions azure.

# %%
fig, axes = plt.subplots(1, 3, figsize=(7.5, 5))
for ax, i in zip(axes, range(3)):
    ax.imshow(overlay(train.images[i], train.masks[i], TRUTH_COLOUR))
    ax.set_title(frame_title(train.ids[i], split), fontsize=10)
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
# Write $T$ for the set of true person pixels, $P$ for the predicted ones, and $N$ for the number of pixels:
#
# $$\text{pixel accuracy} = 1 - \frac{|P \setminus T| + |T \setminus P|}{N}, \qquad
# \text{IoU} = \frac{|P \cap T|}{|P \cup T|}, \qquad \text{Dice} = \frac{2\,|P \cap T|}{|P| + |T|}.$$
#
# A "model" that answers *background* everywhere ($P = \emptyset$) is right on every background pixel.

# %%
all_background = np.zeros_like(record.masks)
accuracy = pixel_accuracy(record.masks, all_background).mean()
background_iou = iou_score(record.masks, all_background).mean()
background_dice = dice_score(record.masks, all_background).mean()
print(f"all background: pixel accuracy {accuracy:.3f}, IoU {background_iou:.3f}, Dice {background_dice:.3f}")
display(Markdown(
    f"The person covers {foreground.mean():.1%} of the pixels, so the empty guess is right on the other "
    f"{1 - foreground.mean():.1%}: its pixel accuracy is {accuracy:.3f} while it finds no person at all. "
    f"IoU and Dice only count person pixels, so it scores {background_iou:.3f} and {background_dice:.3f}."))

# %% [markdown]
# IoU and Dice are tied by $\text{Dice} = \dfrac{2\,\text{IoU}}{1 + \text{IoU}}$, so Dice is never below IoU: the
# two are equal at 0 (no overlap, as above) and at 1 (a perfect mask), and Dice is strictly larger in between.
# When truth and prediction are both empty, both ratios are 0/0. The library does not call that a success: it
# returns NaN ("empty truth" in tables), leaves such frames out of means and warns, naming them.

# %%
empty = np.zeros((1, 8, 8, 1), np.float32)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the warning says what this line prints: the truth holds no person
    print(f"both empty: IoU {iou_score(empty, empty)[0]:.3f}, Dice {dice_score(empty, empty)[0]:.3f}")
iou_grid = np.linspace(0, 1, 6)
print("IoU :", np.round(iou_grid, 3))
print("Dice:", np.round(2 * iou_grid / (1 + iou_grid), 3))

# %% [markdown]
# ## A near miss, scored three ways
# Now a guess of the right shape in slightly the wrong place: the true mask moved sideways by a few pixels.

# %%
shift = IMAGE_WIDTH // 16
shifted = np.roll(record.masks, shift=shift, axis=2)
shifted_accuracy = pixel_accuracy(record.masks, shifted).mean()
shifted_iou, shifted_dice = iou_score(record.masks, shifted).mean(), dice_score(record.masks, shifted).mean()
print(f"mask shifted by {shift} pixels: accuracy {shifted_accuracy:.3f}, IoU {shifted_iou:.3f}, Dice {shifted_dice:.3f}")
print(f"all background:            accuracy {accuracy:.3f}, IoU {background_iou:.3f}, Dice {background_dice:.3f}")
verdict = ("**lower** than the empty guess's: by pixel accuracy, finding nothing beats finding the dancer a few "
           "pixels off" if shifted_accuracy < accuracy else
           "higher than the empty guess's, but only by " f"{shifted_accuracy - accuracy:.3f}")
display(Markdown(
    f"Shifted by {shift} pixels ({shift / IMAGE_WIDTH:.0%} of the width), the mask is the right shape in a slightly wrong place "
    f"(IoU {shifted_iou:.3f}, Dice {shifted_dice:.3f}). Its pixel accuracy, {shifted_accuracy:.3f}, is "
    f"{verdict}. Each misplaced pixel counts twice (once missed, once a false alarm), while the empty guess pays "
    f"only once per person pixel, so pixel accuracy hardly tells a near miss from finding nothing; IoU and Dice "
    f"put {shifted_iou:.3f} against {background_iou:.3f}."))

# %%
results = {"frames": len(record), "train_frames": len(split.train_ids), "heldout_frames": len(split.heldout_ids),
           "foreground_share": float(foreground.mean()), "all_background_accuracy": float(accuracy),
           "shift": shift, "shifted_accuracy": float(shifted_accuracy), "shifted_iou": float(shifted_iou)}
write_json(Path(OUTPUT_DIR, "01_segmentation_masks.json"), results)  # whole or not at all
results

# %% [markdown]
# ## Summary
# - A binary mask marks the object's pixels with 1; categorical masks hold a class per pixel.
# - A Kaggle-layout record pairs `images/` and `masks/` by file name; `load_record` returns float32 arrays.
# - The person is a small share of the pixels, so "all background" already scores a high pixel accuracy, and a
#   near miss scores about the same (lower or higher depending on the shift and the frames): judge segmentation
#   by IoU and Dice, and Dice is never below IoU.
#
# ## Exercises
# 1. Load the record at twice `IMAGE_HEIGHT` and `IMAGE_WIDTH`. Does the foreground share change? Why only slightly?
#    Check the share you found: `exercises.ex01_1(share, record, bigger.size)` (`bigger`: the record at that size).
# 2. Shift the mask by 1, 2, 4, 8 and 16 pixels and plot IoU and pixel accuracy against the shift. Check your
#    numbers: `exercises.ex01_2(shifts, ious, accuracies, record.masks)`.
# 3. Write the categorical mask above as one-hot channels and back again with `argmax`. Check:
#    `exercises.ex01_3(one_hot, categorical)`.
#
# Each check answers `right` or `not yet` with a hint, never the answer. The worked solutions follow, collapsed:
# open one after trying.

# %% [markdown]
# #### Solution 1

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
bigger = load_record(resolve_data(DATA), RECORD, size=(2 * IMAGE_HEIGHT, 2 * IMAGE_WIDTH))
share_before, share = float(record.masks.mean()), float(bigger.masks.mean())
print(f"{record.size}: {share_before:.4f} person; {bigger.size}: {share:.4f} person")
print("self-check:", exercises.ex01_1(share, record, bigger.size))
# Pixel by pixel: each pixel of the small mask stands for its 2 x 2 block of the large one.
blocks = np.repeat(np.repeat(record.masks > 0.5, 2, axis=1), 2, axis=2)
large = bigger.masks > 0.5
turned_person, turned_background = float((large & ~blocks).mean()), float((~large & blocks).mean())
display(Markdown(
    f"At {record.size[0]} x {record.size[1]} the person covers {share_before:.2%} of the pixels, at {bigger.size[0]} x "
    f"{bigger.size[1]} {share:.2%}: a change of {abs(share - share_before):.2%} of the pixels. Resizing keeps each "
    "region's share of the picture, even where it stretches the frame's shape; only pixels along the outline, where "
    "the resized mask is thresholded at one half, can change side. Pixel by pixel (each small pixel as its 2 x 2 "
    f"block), {turned_person:.2%} of the large mask's pixels turn person and {turned_background:.2%} turn background"
    + (": the two nearly cancel, so the share moves by much less than either."
       if abs(turned_person - turned_background) < 0.25 * max(turned_person, turned_background) else
       ": most of them go one way, and the share moves by their difference.")))

# %% [markdown]
# #### Solution 2

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
shifts = [1, 2, 4, 8, 16]
ious = [float(iou_score(record.masks, np.roll(record.masks, s, axis=2)).mean()) for s in shifts]
accuracies = [float(pixel_accuracy(record.masks, np.roll(record.masks, s, axis=2)).mean()) for s in shifts]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(shifts, ious, "o-", label="IoU")
ax.plot(shifts, accuracies, "s--", label="pixel accuracy")
ax.axhline(accuracy, color="grey", linestyle=":", label="pixel accuracy of all background")
ax.set(xlabel="shift (pixels)", ylabel="mean score", xscale="log")
ax.set_xticks(shifts, [str(s) for s in shifts])  # the shifts themselves, not powers of ten
ax.legend()
plt.show()
print("self-check:", exercises.ex01_2(shifts, ious, accuracies, record.masks))
below = [s for s, a in zip(shifts, accuracies) if a < accuracy]
display(Markdown(
    f"From a shift of {shifts[0]} pixel to {shifts[-1]}, IoU falls from {ious[0]:.3f} to {ious[-1]:.3f} and pixel "
    f"accuracy only from {accuracies[0]:.3f} to {accuracies[-1]:.3f}"
    + (f"; from a shift of {below[0]} pixels on, pixel accuracy is below the empty guess's {accuracy:.3f}."
       if below else f"; it stays above the empty guess's {accuracy:.3f} at every shift here.")))

# %% [markdown]
# #### Solution 3

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
one_hot = np.eye(3, dtype=int)[categorical]  # (height, width, classes)
back = one_hot.argmax(axis=-1)
print("self-check:", exercises.ex01_3(one_hot, categorical))
display(Markdown(
    f"`np.eye(3, dtype=int)[categorical]` picks row k of the 3 x 3 identity for a pixel of class k: shape "
    f"{one_hot.shape}, one channel per class. `argmax` over the last axis gives the mask back: the round trip is "
    + ("exact." if np.array_equal(back, categorical) else "**not** exact.")))
