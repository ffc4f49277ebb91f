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
# # 6. Going further
#
# **What you will learn**
# - what **skip connections** (U-Net style) change: the same training with and without them, side by side;
# - an honest question: *do we need a network at all?* A per-pixel classifier without deep learning, fitted on the
#   same 3 frames, and where each approach fails;
# - how to run the course on the full Kaggle dataset or on your own frames.

# %% tags=["parameters"]
PRESET = "cpu"
DATA_DIR = None  # None: the embedded record; else a folder with images/ and masks/
RECORD = None
IMAGE_HEIGHT = 128
IMAGE_WIDTH = 64
EPOCHS = 150
SEED = 0
OUTPUT_DIR = "outputs"

# %%
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageFilter
from sklearn.ensemble import HistGradientBoostingClassifier

from cae_tutorial.data import load_record, seed_split
from cae_tutorial.losses import iou_score, per_frame_metrics
from cae_tutorial.plots import overlay
from cae_tutorial.presets import get_preset
from cae_tutorial.training import build_model, predict, train

BLUR_RADII = (2, 8)  # as in cae_tutorial.baseline

Path(OUTPUT_DIR).mkdir(exist_ok=True)
plt.rcParams["figure.dpi"] = 60

# %%
preset = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS)
record = load_record(DATA_DIR, RECORD, size=preset.size)
split = seed_split(record)
train_part, heldout = record.subset(split.train_ids), record.subset(split.heldout_ids)

# %% [markdown]
# ## Skip connections
# The plain CAE must rebuild every edge from the latent space, at 1/8 of the resolution. A **skip connection**
# hands the decoder the encoder's features of the same size (and, for the last block, the frame itself), by
# concatenation: the latent space says *what and roughly where*, the skips say *exactly where*. This is the idea
# of U-Net. Same data, same recipe, same seed; only the connections differ.

# %%
runs = {}
for name, skip in (("plain CAE", False), ("CAE + skips", True)):
    variant = preset.with_(skip_connections=skip)
    print(f"--- {name} ---")
    runs[name] = train(build_model(variant, SEED), record, split, variant, seed=SEED, snapshot_epochs=[])

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for i, (name, result) in enumerate(runs.items()):
    axes[0].plot(result.history["val_loss"], color=f"C{i}", label=name)
    axes[1].plot(result.history["val_iou"], color=f"C{i}", label=name)
axes[0].set(xlabel="epoch", ylabel="held-out loss", title="Held-out loss")
axes[1].set(xlabel="epoch", ylabel="held-out IoU", title="Held-out IoU", ylim=(0, 1))
for ax in axes:
    ax.legend()
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ### Edge quality
# IoU over the whole person hides the edges. Score only a band of pixels around the true outline (where the truth
# changes within 2 pixels): that is where skip connections should help most.

# %%
def edge_band(masks, width=2):
    """Pixels within `width` of a person/background boundary, per frame (N, H, W) bool."""
    bands = []
    for mask in masks[..., 0]:
        picture = Image.fromarray((mask * 255).astype(np.uint8))
        grown = np.asarray(picture.filter(ImageFilter.MaxFilter(2 * width + 1))) > 0
        shrunk = np.asarray(picture.filter(ImageFilter.MinFilter(2 * width + 1))) > 0
        bands.append(grown & ~shrunk)
    return np.stack(bands)


band = edge_band(heldout.masks)
probabilities = {name: predict(result.model, heldout.images) for name, result in runs.items()}
scores = {}
for name, probs in probabilities.items():
    correct = ((probs[..., 0] >= 0.5) == (heldout.masks[..., 0] > 0.5))
    scores[name] = {"heldout_iou": float(iou_score(heldout.masks, probs).mean()),
                    "edge_accuracy": float(correct[band].mean()), "seconds": runs[name].config["train_seconds"]}
    print(f"{name:<14} held-out IoU {scores[name]['heldout_iou']:.3f}   "
          f"pixel accuracy on the edge band {scores[name]['edge_accuracy']:.3f}   "
          f"({scores[name]['seconds']:.0f} s)")

# %% [markdown]
# ## Do we need a network at all?
# A fair question before reaching for deep learning. Each pixel has a colour and a position; its neighbourhood has
# an average colour. A gradient-boosting classifier can learn "skin-coloured, pink or black pixels near the middle
# of the frame are person" from the 3 training frames, pixel by pixel. These helpers are `cae_tutorial.baseline`.

# %%
def blurred(image: np.ndarray, radius: float) -> np.ndarray:
    """A float image (H, W, 3) in [0, 1] after a Gaussian blur of `radius` pixels."""
    picture = Image.fromarray(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))
    return np.asarray(picture.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255.0


def pixel_features(images: np.ndarray, blur_radii=BLUR_RADII) -> np.ndarray:
    """Per pixel: RGB, (y, x) position in [0, 1], and RGB blurred at each radius: (N*H*W, 5 + 3*len(radii))."""
    n, height, width, _ = images.shape
    y, x = np.meshgrid(np.linspace(0, 1, height, dtype=np.float32), np.linspace(0, 1, width, dtype=np.float32),
                       indexing="ij")
    per_frame = []
    for image in images:
        parts = [image, y[..., None], x[..., None]] + [blurred(image, r) for r in blur_radii]
        per_frame.append(np.concatenate(parts, axis=-1).reshape(height * width, -1))
    return np.concatenate(per_frame)


def fit_pixel_classifier(images: np.ndarray, masks: np.ndarray, max_pixels: int = 60_000,
                         seed: int = 0) -> HistGradientBoostingClassifier:
    """Fit gradient boosting on (a random sample of) the training frames' pixels."""
    features, labels = pixel_features(images), masks.reshape(-1).astype(np.int64)
    rng = np.random.default_rng(seed)
    if len(labels) > max_pixels:
        keep = rng.choice(len(labels), max_pixels, replace=False)
        features, labels = features[keep], labels[keep]
    classifier = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    return classifier.fit(features, labels)


def predict_pixel_classifier(classifier, images: np.ndarray) -> np.ndarray:
    """Person probabilities (N, H, W, 1) from a fitted pixel classifier."""
    n, height, width, _ = images.shape
    return classifier.predict_proba(pixel_features(images))[:, 1].reshape(n, height, width, 1).astype(np.float32)


start = time.perf_counter()
classifier = fit_pixel_classifier(train_part.images, train_part.masks, seed=SEED)
fit_seconds = time.perf_counter() - start
probabilities["pixel classifier"] = predict_pixel_classifier(classifier, heldout.images)
correct = (probabilities["pixel classifier"][..., 0] >= 0.5) == (heldout.masks[..., 0] > 0.5)
scores["pixel classifier"] = {"heldout_iou": float(iou_score(heldout.masks, probabilities["pixel classifier"]).mean()),
                              "edge_accuracy": float(correct[band].mean()), "seconds": fit_seconds}
print(f"pixel classifier: fitted in {fit_seconds:.1f} s, held-out IoU {scores['pixel classifier']['heldout_iou']:.3f}")

# %%
print(f"{'approach':<18}{'held-out IoU':>13}{'edge accuracy':>15}{'seconds':>9}")
for name, score in scores.items():
    print(f"{name:<18}{score['heldout_iou']:>13.3f}{score['edge_accuracy']:>15.3f}{score['seconds']:>9.1f}")

# %% [markdown]
# ### Where each one fails
# Per frame IoU, then the overlays of the frame where the approaches disagree most.

# %%
tables = {name: per_frame_metrics(heldout.ids, heldout.masks, probs) for name, probs in probabilities.items()}
for i, frame_id in enumerate(heldout.ids):
    print(f"{frame_id:<14}" + "".join(f"{name}: {tables[name][i].iou:.3f}   " for name in tables))
spread = np.ptp([[row.iou for row in table] for table in tables.values()], axis=0)
frame = int(np.argmax(spread))
fig, axes = plt.subplots(1, len(probabilities) + 1, figsize=(2.2 * (len(probabilities) + 1), 4.5))
axes[0].imshow(overlay(heldout.images[frame], heldout.masks[frame], (0.1, 0.9, 0.3)))
axes[0].set_title(f"truth {heldout.ids[frame]}", fontsize=8)
for ax, (name, probs) in zip(axes[1:], probabilities.items()):
    ax.imshow(overlay(heldout.images[frame], (probs[frame] >= 0.5).astype(np.float32)))
    ax.set_title(f"{name}\nIoU {iou_score(heldout.masks[frame:frame + 1], probs[frame:frame + 1])[0]:.2f}",
                 fontsize=8)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# **Reading the results.** The pixel classifier knows colours, not shapes: it fails where the background has the
# person's colours (a door the colour of skin, a dark floor line like the leggings) and it leaves speckles, because
# each pixel is decided alone. The networks see shapes and context, so their masks are whole, but with 3 training
# frames they struggle with unseen poses and, without skips, with edges. On a single fixed-camera clip, a simple
# classifier is a strong baseline: a network has to earn its keep by beating it, which is why the course reports it.

# %% [markdown]
# ## Running on the full Kaggle dataset or your own frames
# - Download "Segmentation Full Body TikTok Dancing" from Kaggle and unzip it; it has `images/` and `masks/`
#   folders with names like `136_00090.png`. Pass the folder and a record prefix:
#   `load_record("path/to/dataset", record="136", size=(256, 128))`, or from the shell
#   `cae-tutorial course --data-dir path/to/dataset --record 136`.
# - Your own frames: put them in `images/`, and their masks (any nonzero pixel = person) under the same names in
#   `masks/`. Choose the training frames with `split_by_ids(record, [...])`.
# - To train across many records, load several with `load_record` and concatenate their arrays; hold out whole
#   records (videos), not frames of the same video, for an honest score.

# %%
results = {"scores": scores, "heldout_iou": scores["CAE + skips"]["heldout_iou"],
           "plain_heldout_iou": scores["plain CAE"]["heldout_iou"],
           "pixel_classifier_heldout_iou": scores["pixel classifier"]["heldout_iou"]}
Path(OUTPUT_DIR, "06_going_further.json").write_text(json.dumps(results, indent=1))
{name: round(score["heldout_iou"], 3) for name, score in scores.items()}

# %% [markdown]
# ## Summary
# - Skip connections give the decoder the fine detail the bottleneck throws away: sharper edges, higher IoU.
# - A per-pixel gradient-boosting classifier is a fast, strong baseline on one clip; always measure one.
# - The library reads any Kaggle-layout folder, so the same notebooks run on the full dataset.
#
# ## Exercises
# 1. Add the pixel classifier's probability as a fourth input channel of the CAE. Does the combination beat both?
# 2. Train on frames of one record and test on another record. Which approach generalises better, and why?
# 3. Remove the position features from `pixel_features`. How much does the baseline rely on where the dancer stands?
