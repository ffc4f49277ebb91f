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
# # 7. Going further
#
# **What you will learn**
# - what **skip connections** (notebook 3) change: the same training with and without them, paired over several
#   seeds, and how to read a difference against its spread ("a draw" when the spread covers zero);
# - an honest question: *do we need a network at all?* A per-pixel classifier without deep learning, fitted on the
#   same 3 frames, compared the same way, and where each approach fails on notebook 5's run;
# - how to run the course on the full Kaggle dataset or on your own frames.

# %% tags=["parameters"]
PRESET = "cpu"
DATA = None  # None: the embedded record; "record-136": the real frames (downloaded once); or a folder
RECORD = None
IMAGE_HEIGHT = None  # None: the preset's frame size
IMAGE_WIDTH = None
EPOCHS = None  # None: the preset's number of epochs
SEED = 0
RUN_DIR = "outputs/run"  # notebook 5's saved run, reused when it matches this notebook's recipe
VALIDATE_EVERY = 4  # score the held-out frames every N epochs, as notebook 5 does (its SNAPSHOT_EVERY)
SEEDS = 3  # the paired comparisons: one run of each method per seed, seeds SEED, SEED + 1, ...
COMPARE_SCALE = 2  # the comparisons train at the preset's frame size divided by this (2: 128 x 72 for "cpu")
COMPARE_EPOCHS = 120  # epochs of each comparison run (at most the preset's)
SOLUTION_EPOCHS = 60  # epochs of each short run the worked solutions train (at most the preset's)
OUTPUT_DIR = "outputs"

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from matplotlib.patches import Patch
from PIL import Image, ImageFilter
from sklearn.ensemble import HistGradientBoostingClassifier

from cae_tutorial import exercises
from cae_tutorial.data import load_record, seed_split
from cae_tutorial.datasets import resolve_data
from cae_tutorial.folders import write_json
from cae_tutorial.losses import iou_score, outline_band, per_frame_metrics
from cae_tutorial.plots import ERROR_COLOURS, error_map, frame_title, scored_epochs
from cae_tutorial.presets import get_preset
from cae_tutorial.evaluation import predict
from cae_tutorial.results import TrainingResult
from cae_tutorial.training import TrainOptions, build_model, train
from cae_tutorial.verdicts import compare, describe_overfitting

BLUR_RADII = (2, 8)  # as in cae_tutorial.baseline

Path(OUTPUT_DIR).mkdir(exist_ok=True)

# %%
preset = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS)
record = load_record(resolve_data(DATA), RECORD, size=preset.size)
split = seed_split(record)
train_part, heldout = record.subset(split.train_ids), record.subset(split.heldout_ids)

# %% [markdown]
# ## Skip connections, measured over seeds
# Notebook 3 drew the two models: the plain CAE rebuilds every edge from the 1/8-resolution latent space; with skip
# connections the decoder also receives the encoder's same-size features. One run of each would rank them on one
# seed's luck, so each is trained with each of `SEEDS` seeds, **paired**: the same seed, frames and recipe, only
# the connections differ. Each seed gives one difference, skips minus plain; the spread of those differences says
# whether the ranking holds (`cae_tutorial.verdicts.compare`: a win only when every seed agrees, else a draw).
#
# Two trainings per seed cost time, so these run at `1 / COMPARE_SCALE` of the preset's frame size, without progressive
# resizing, for `COMPARE_EPOCHS` epochs: a smaller version of the same recipe. Raise them on a fast machine.

# %%
compare_size = tuple(max(8, side // COMPARE_SCALE // 8 * 8) for side in preset.size)  # multiples of 8
compare_preset = preset.with_(height=compare_size[0], width=compare_size[1], progressive_fraction=0.0,
                              epochs=min(preset.epochs, COMPARE_EPOCHS))
small = load_record(resolve_data(DATA), RECORD, size=compare_size)
small_split = seed_split(small)
small_train, small_heldout = small.subset(small_split.train_ids), small.subset(small_split.heldout_ids)
NETWORKS = {"plain CAE": False, "CAE + skips": True}
seed_scores = {name: [] for name in (*NETWORKS, "pixel classifier")}
seed_seconds = {name: [] for name in seed_scores}
seeds = list(range(SEED, SEED + SEEDS))
for seed in seeds:
    for name, skip in NETWORKS.items():
        variant = compare_preset.with_(skip_connections=skip)
        run = train(build_model(variant, seed), small, small_split, variant, seed=seed, progress=False,
                    options=TrainOptions(snapshot_epochs=(), validate_every=variant.epochs))
        seed_scores[name].append(float(iou_score(small_heldout.masks, predict(run.model, small_heldout.images)).mean()))
        seed_seconds[name].append(run.config["train_seconds"])
    print(f"seed {seed}: " + ", ".join(f"{name} {seed_scores[name][-1]:.3f} ({seed_seconds[name][-1]:.1f} s)"
                                       for name in NETWORKS))
skip_verdict = compare(seed_scores["CAE + skips"], seed_scores["plain CAE"], "CAE + skips", "plain CAE")
display(Markdown(f"Per-frame mean held-out IoU at {compare_size[0]} x {compare_size[1]} after "
                 f"{compare_preset.epochs} epochs: **{skip_verdict}**."))

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


# The same seeds and frames as the networks: the seed is the classifier's random_state (its sample of training
# pixels when there are more than max_pixels, and the share it holds out to decide when to stop).
for seed in seeds:
    start = time.perf_counter()
    fitted = fit_pixel_classifier(small_train.images, small_train.masks, seed=seed)
    seed_seconds["pixel classifier"].append(time.perf_counter() - start)
    seed_scores["pixel classifier"].append(
        float(iou_score(small_heldout.masks, predict_pixel_classifier(fitted, small_heldout.images)).mean()))
network = max(NETWORKS, key=lambda name: np.mean(seed_scores[name]))
network_verdict = compare(seed_scores[network], seed_scores["pixel classifier"], network, "pixel classifier")
print(f"{'seed':<6}" + "".join(f"{name:>18}" for name in seed_scores))
for i, seed in enumerate(seeds):
    print(f"{seed:<6}" + "".join(f"{seed_scores[name][i]:>18.3f}" for name in seed_scores))
print(f"{'s/run':<6}" + "".join(f"{np.median(seed_seconds[name]):>18.1f}" for name in seed_scores))

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.2))
names = list(seed_scores)
for i, seed in enumerate(seeds):  # one line per seed: a paired comparison reads along the lines
    ax.plot(range(len(names)), [seed_scores[name][i] for name in names], marker="os^dv"[i % 5],
            linestyle=("-", "--", ":")[i % 3], color=f"C{i}", label=f"seed {seed}")  # told apart without colour
ax.set_xticks(range(len(names)), names)
every_score = [score for name in names for score in seed_scores[name]]
# The axis spans the scores (not 0 to 1), so that the seeds' lines can be told apart
ax.set(ylabel="held-out IoU (per-frame mean)", ylim=(max(0, min(every_score) - 0.05), min(1, max(every_score) + 0.03)),
       title=f"Paired over {SEEDS} seeds, at {compare_size[0]} x {compare_size[1]}")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
same_classifier = np.ptp(seed_scores["pixel classifier"]) == 0
display(Markdown(f"The better network here is the **{network}**; against the classifier: **{network_verdict}**. "
                 f"The classifier fits in {np.median(seed_seconds['pixel classifier']):.1f} s (median), the "
                 f"{network} trains in {np.median(seed_seconds[network]):.1f} s."
                 + (" The classifier scored the same with every seed, so the spread is the network's alone."
                    if same_classifier else "")))

# %% [markdown]
# ## At the preset's size: notebook 5's run against the classifier
# The comparisons above are small runs. Notebook 5 trained the full recipe and saved it in `RUN_DIR`: it is reused
# when its recipe, data and seed are the ones asked for here, and trained afresh otherwise (the cell says which).
# The classifier is fitted at the same size, with `SEED`.

# %%
def saved_run_matching(folder, variant, record, seed):
    """Notebook 5's saved run if it used this preset, frame size, frames and seed; else None."""
    if not (Path(folder) / "model.keras").is_file():
        return None
    saved = TrainingResult.load(folder)
    # A saved run records the number format "auto" resolved to on the machine that trained it.
    same = (saved.preset == variant.resolved() and saved.config["seed"] == seed and tuple(saved.config["size"]) == record.size
            and saved.config["record_root"] == (None if record.root is None else record.root.name)
            and tuple(saved.snapshots.frame_ids) == tuple(record.ids) and saved.split == split)
    return saved if same else None


full_name = "CAE + skips" if preset.skip_connections else "plain CAE"  # the preset's own network
runs, provenance = {}, {}
saved = saved_run_matching(RUN_DIR, preset, record, SEED)
if saved is not None:
    runs[full_name], provenance[full_name] = saved, f"reused from {RUN_DIR} (trained by notebook 5)"
else:
    print(f"--- {full_name}: training ---")
    options = TrainOptions(snapshot_epochs=(), validate_every=VALIDATE_EVERY)
    runs[full_name] = train(build_model(preset, SEED), record, split, preset, seed=SEED, options=options)
    provenance[full_name] = "trained here"
print(f"{full_name}: {provenance[full_name]}; model.fit took {runs[full_name].config['train_seconds']:.1f} s")
start = time.perf_counter()
classifier = fit_pixel_classifier(train_part.images, train_part.masks, seed=SEED)
fit_seconds = time.perf_counter() - start
provenance["pixel classifier"] = "fitted here"

# %% [markdown]
# ### Edge quality
# IoU over the whole person hides the edges. Score only a band of pixels around the true outline: `outline_band`
# with a 5 x 5 window, the pixels within 2 of the outline (wider than the 3 x 3 band that notebook 5's loss
# weights). That is where the classifier's blurred colours should matter most. The table has two kinds of score.
# The held-out IoU is the **per-frame mean**: each frame's IoU, then their mean, so every frame counts the same
# whatever the size of its person (Keras' metric in notebook 4's curves is **pooled**: one IoU of all held-out
# pixels together). The **edge accuracy** is pooled: the share of all the frames' band pixels that are classified
# right. The band straddles the outline and holds person and background alike, so accuracy there does not reward
# the all-background guess of notebook 1 as it does over the whole frame (its edge accuracy is printed below the
# table).

# %%
band = np.asarray(outline_band(heldout.masks, width=5))[..., 0] > 0.5  # 5 x 5 window: within 2 pixels of the outline
probabilities = {full_name: predict(runs[full_name].model, heldout.images),
                 "pixel classifier": predict_pixel_classifier(classifier, heldout.images)}
seconds = {full_name: runs[full_name].config["train_seconds"], "pixel classifier": fit_seconds}
scores = {}
for name, probs in probabilities.items():
    correct = ((probs[..., 0] >= 0.5) == (heldout.masks[..., 0] > 0.5))
    scores[name] = {"heldout_iou": float(iou_score(heldout.masks, probs).mean()),
                    "edge_accuracy": float(correct[band].mean()), "seconds": seconds[name]}
print(f"{'approach':<18}{'held-out IoU (per-frame mean)':>30}{'edge accuracy':>15}{'seconds':>9}  source")
for name, score in scores.items():
    print(f"{name:<18}{score['heldout_iou']:>30.3f}{score['edge_accuracy']:>15.3f}{score['seconds']:>9.1f}  "
          f"{provenance[name]}")
background = heldout.masks[..., 0] <= 0.5
print(f"the all-background guess: edge accuracy {background[band].mean():.3f} (pixel accuracy "
      f"{background.mean():.3f} over the whole frames)")

# %% [markdown]
# The seconds are each one's own measurement: for the network, the duration of `model.fit` recorded in the run
# (`config["train_seconds"]`, saved with it, so a reused run shows the time it took when notebook 5 trained it,
# while also recording snapshots of every frame); for the classifier, the fit timed above.
#
# ### Where each one fails
# Per frame IoU, then the frame where the two disagree most: each one's errors over the frame (the error map of
# notebook 6, in the course's colour-blind-safe colours), and where they disagree.

# %%
tables = {name: per_frame_metrics(heldout.ids, heldout.masks, probs) for name, probs in probabilities.items()}
for i, frame_id in enumerate(heldout.ids):
    print(f"{frame_id:<14}" + "".join(f"{name}: {tables[name][i].iou:.3f}   " for name in tables))
spread = np.ptp([[row.iou for row in table] for table in tables.values()], axis=0)
frame = int(np.argmax(spread))
person = {name: probs[frame, ..., 0] >= 0.5 for name, probs in probabilities.items()}
fig, axes = plt.subplots(1, len(probabilities) + 2, figsize=(2.6 * (len(probabilities) + 2), 6.0))
axes[0].imshow(heldout.images[frame])
axes[0].set_title(f"frame\n{frame_title(heldout.ids[frame], split)}", fontsize=10)
for ax, name in zip(axes[1:], probabilities):
    ax.imshow(error_map(heldout.images[frame], heldout.masks[frame], person[name]))
    ax.set_title(f"{name}: errors\nIoU {tables[name][frame].iou:.3f}", fontsize=10)
# The same three colours: person for both (near-white), for the classifier only, for the network only.
axes[-1].imshow(error_map(heldout.images[frame], person[full_name], person["pixel classifier"]))
axes[-1].set_title(f"{full_name} vs\npixel classifier", fontsize=10)
for ax in axes:
    ax.axis("off")
colours = list(ERROR_COLOURS.values())
fig.legend(handles=[Patch(facecolor=c, edgecolor="0.4", label=name) for name, c in ERROR_COLOURS.items()],
           loc="lower left", ncol=3, fontsize=8, frameon=False, title="errors", title_fontsize=8)
fig.legend(handles=[Patch(facecolor=c, edgecolor="0.4", label=name) for name, c in zip(
    ("both say person", "only the classifier", f"only the {full_name}"), colours)], loc="lower right", ncol=1,
    fontsize=8, frameon=False, title="disagreement", title_fontsize=8)
fig.tight_layout(rect=(0, 0.1, 1, 1))
plt.show()
truth_here = heldout.masks[frame, ..., 0] > 0.5
differ = person[full_name] != person["pixel classifier"]
classifier_right = int((differ & (person["pixel classifier"] == truth_here)).sum())
display(Markdown(
    f"On {heldout.ids[frame]} the two IoUs differ by {spread[frame]:.3f} ("
    + ", ".join(f"{name} {tables[name][frame].iou:.3f}" for name in tables) + "). They disagree on "
    f"{int(differ.sum()):,} pixels ({differ.mean():.1%} of the frame); the classifier is right on "
    f"{classifier_right:,} of them and the network on the other {int(differ.sum()) - classifier_right:,}."))

# %% [markdown]
# **Reading the results.** The verdicts below are computed from the paired runs above, so they hold on whatever
# data and settings this notebook ran with.

# %%
ranked = sorted(scores, key=lambda name: -scores[name]["heldout_iou"])
wins = {name: sum(int(np.argmax([tables[n][i].iou for n in tables])) == k for i in range(len(heldout)))
        for k, name in enumerate(tables)}
# At the preset's size there is one run of each, so the spread comes from the frames: paired frame by frame.
frames_verdict = compare([row.iou for row in tables[full_name]], [row.iou for row in tables["pixel classifier"]],
                         full_name, "pixel classifier", over="held-out frames")
display(Markdown(
    f"Over {SEEDS} seeds at {compare_size[0]} x {compare_size[1]}: {skip_verdict}; and {network_verdict}. "
    + f"At the preset's size, one run each: " + ", ".join(f"**{n}** {scores[n]['heldout_iou']:.3f}" for n in ranked)
    + f" per-frame mean held-out IoU ({heldout.images.shape[1]} x {heldout.images.shape[2]}); frame by frame, "
    + ", ".join(f"{n} is best on {wins[n]} of {len(heldout)}" for n in tables)
    + "; edge-band accuracy " + ", ".join(f"{n} {scores[n]['edge_accuracy']:.3f}" for n in ranked)
    + f" (one run each: a description, not a ranking). Paired frame by frame at the preset's size: {frames_verdict}. "
    + ("A network earns its training time only by beating this baseline on frames it has never seen, on every seed. "
       f"So the {network} has earned its training time: it beats the classifier on every seed at "
       f"{compare_size[0]} x {compare_size[1]} and on every frame at the preset's size."
       if network_verdict.winner == network and frames_verdict.winner == full_name else
       "A network earns its training time only by beating this baseline on frames it has never seen, on every seed. "
       f"So the {network} has not earned its training time on these frames: at "
       f"{compare_size[0]} x {compare_size[1]} the classifier, fitted in "
       f"{np.median(seed_seconds['pixel classifier']):.1f} s, "
       + ("scores higher on every seed" if network_verdict.winner == "pixel classifier" else
          "draws with it over the seeds" if network_verdict.is_draw else "loses on every seed")
       + ", and at the preset's size "
       + ("the network beats it on every frame, from one run of each: a lead the seeds have not confirmed."
          if frames_verdict.winner == full_name else
          "the frames give no winner (the spread covers zero)." if frames_verdict.is_draw else
          "the classifier is better on every frame."))))

# %% [markdown]
# Whoever wins here, keep the baseline: a classifier that decides each pixel from its colour, position and
# neighbourhood is fast to fit and tells you how much of the task is colour: it is the bar a network has to clear.

# %% [markdown]
# ## Running on the full Kaggle dataset or your own frames
# - Download "Segmentation Full Body TikTok Dancing" from Kaggle and unzip it; it has `images/` and `masks/`
#   folders with names like `136_00090.png`. Pass the folder and a record prefix:
#   `load_record("path/to/dataset", record="136", size=(256, 128))`, or from the shell
#   `cae-tutorial course --data path/to/dataset --record 136`. `DATA = "record-136"` in a notebook's
#   parameters (or `cae-tutorial course --data record-136`) downloads the public frames of record 136 (10 on GitHub) once.
# - Your own frames: put them in `images/`, and their masks (any nonzero pixel = person) under the same names in
#   `masks/`. Choose the training frames with `split_by_ids(record, [...])`.
# - To train across many records, load several with `load_record` and concatenate their arrays; hold out whole
#   records (videos), not frames of the same video, for an honest score.

# %%
results = {"scores": scores, "heldout_iou": scores[full_name]["heldout_iou"], "provenance": provenance,
           "ranking": ranked, "frame_wins": wins, "seeds": seeds, "compare_size": list(compare_size),
           "seed_scores": seed_scores, "seed_seconds": seed_seconds,
           "verdicts": {"skips vs plain": str(skip_verdict), "network vs classifier": str(network_verdict),
                        "network vs classifier, frames at the preset's size": str(frames_verdict)},
           "pixel_classifier_heldout_iou": scores["pixel classifier"]["heldout_iou"]}
write_json(Path(OUTPUT_DIR, "07_going_further.json"), results)  # whole or not at all
{name: round(score["heldout_iou"], 3) for name, score in scores.items()}

# %% [markdown]
# ## Summary
# - Skip connections hand the decoder the encoder's features at each size, down to the frame's own (notebook 3),
#   the detail a coarse latent space cannot place exactly; what they change is measured here on the whole frame's
#   IoU only. Measure it on your data,
#   paired over seeds, and call it a draw when the spread of the differences covers zero.
# - A per-pixel gradient-boosting classifier is a fast, strong baseline; always measure one, the same way, and let
#   the numbers say which approach wins.
# - A saved run is reused, not retrained; its recorded time is the time it took.
# - The library reads any Kaggle-layout folder, so the same notebooks run on the full dataset.
#
# ## Exercises
# 1. Add the pixel classifier's probability as a fourth input channel of the CAE. Does the combination beat both?
#    Train it on probabilities the classifier gives frames it was **not** fitted on, and compare it with the same
#    recipe on RGB alone. Check: `exercises.ex07_1(True or False, stacked_iou, rgb_iou, classifier_iou)`.
# 2. Score both approaches on the training frames too. Which one has the larger **generalisation gap**, its
#    training IoU minus its held-out IoU? Check: `exercises.ex07_2(name, training_scores, heldout_scores)` (dicts:
#    name -> IoU). A gap alone is not overfitting: does either one overfit, its held-out loss rising while its
#    training loss keeps falling? (The network's run has its loss curves; the classifier's `staged_predict_proba`
#    gives its probabilities after each boosting iteration.)
# 3. Remove the position features from `pixel_features`. How much does the baseline rely on where the dancer stands?
#
# Checks answer `right` or `not yet` with a hint, never the answer; exercise 3 is a measurement of your own run. The
# worked solutions follow, collapsed: open one after trying. Solution 1 trains two short runs of `SOLUTION_EPOCHS`
# epochs (at most the preset's).

# %% [markdown]
# #### Solution 1

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
import keras

from cae_tutorial.model import build_cae
from cae_tutorial.training import compile_settings

solution_epochs = min(preset.epochs, SOLUTION_EPOCHS)
# Out of fold: each training frame's probability comes from a classifier fitted on the *other* training frames.
# Fitted on the frame itself, the classifier has seen its mask, so its probability would hand the CAE the target.
out_of_fold = np.zeros_like(train_part.masks)
for i in range(len(train_part)):
    others = [j for j in range(len(train_part)) if j != i]
    fold = fit_pixel_classifier(train_part.images[others], train_part.masks[others], seed=SEED)
    out_of_fold[i:i + 1] = predict_pixel_classifier(fold, train_part.images[i:i + 1])
# The held-out frames get what a user would have: the classifier fitted on all the training frames (above).
inputs = {"RGB": (train_part.images, heldout.images),
          "RGB + classifier probability": (np.concatenate([train_part.images, out_of_fold], axis=-1),
                                           np.concatenate([heldout.images, probabilities["pixel classifier"]],
                                                          axis=-1))}


def same_recipe(train_x, heldout_x):
    """The preset's CAE on these inputs, one plain fit on the arrays, seeded: the held-out frames' IoUs, per frame.

    (A plain fit: the augmentation of `train` jitters colours, which would corrupt a probability channel.)"""
    keras.utils.set_random_seed(SEED)
    net = build_cae((*preset.size, train_x.shape[-1]), preset.filters, skip_connections=preset.skip_connections,
                    coordinates=preset.coordinates)
    net.compile(**compile_settings(preset.with_(epochs=solution_epochs), steps=1))
    net.optimizer.build(net.trainable_variables)
    net.fit(train_x, train_part.masks, epochs=solution_epochs, batch_size=len(train_x), verbose=0)
    return iou_score(heldout.masks, predict(net, heldout_x))


per_frame = {name: same_recipe(*pair) for name, pair in inputs.items()}
per_frame["pixel classifier"] = iou_score(heldout.masks, probabilities["pixel classifier"])
stacking = {name: float(ious.mean()) for name, ious in per_frame.items()}
for name, iou in stacking.items():
    print(f"{name:<30} per-frame mean held-out IoU {iou:.3f}")
stacked, rgb, alone = stacking["RGB + classifier probability"], stacking["RGB"], stacking["pixel classifier"]
beats_both = stacked > max(rgb, alone)
print("self-check:", exercises.ex07_1(beats_both, stacked, rgb, alone))
# The ranking that matters: the stacked CAE against the better of the other two, paired over the held-out frames.
rival = "RGB" if rgb >= alone else "pixel classifier"
rival_name = {"RGB": "the CAE on RGB", "pixel classifier": "the pixel classifier"}[rival]
stack_verdict = compare(per_frame["RGB + classifier probability"], per_frame[rival], "the stacked CAE", rival_name,
                        over="held-out frames")
display(Markdown(
    f"Compared on the {len(heldout)} held-out frames at {preset.height} x {preset.width}: the preset's CAE on RGB "
    f"alone, the same CAE with the classifier's probability as a fourth channel (out of fold on the training "
    f"frames), both trained the same way ({solution_epochs} epochs of a plain fit, seed {SEED}), and the pixel "
    f"classifier alone. Per-frame mean IoU: {rgb:.3f} on RGB, {stacked:.3f} stacked, {alone:.3f} for the "
    f"classifier, so on average the combination **" + ("beats both" if beats_both else "does not beat both")
    + f"**. Against the better of the other two, {rival_name}, frame by frame: "
    + (f"the difference's spread covers zero, **a draw** ({stack_verdict.spread_text()})."
       if stack_verdict.is_draw else f"{stack_verdict}.")
    + f" These CAEs train {solution_epochs} optimizer steps (one batch of the training frames an epoch, no "
    f"augmentation), against the {runs[full_name].preset.epochs * (runs[full_name].preset.steps_per_epoch or 1)}"
    f" of notebook 5's run (held-out IoU {float(iou_score(heldout.masks, probabilities[full_name]).mean()):.3f} at "
    "this size): against the classifier they mostly measure a short training. What they can show is whether the "
    "probability channel helps a CAE trained as briefly: "
    + f"{compare(per_frame['RGB + classifier probability'], per_frame['RGB'], 'the stacked CAE', 'the CAE on RGB', over='held-out frames')}."
    + " One seed, few frames: a hint, not a verdict."))

# %% [markdown]
# #### Solution 2

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
training_scores, heldout_scores = {}, {}
for name, run in runs.items():
    training_scores[name] = run.evaluate(record, split.train_ids, resolution="model").mean("iou")
    heldout_scores[name] = run.evaluate(record, resolution="model").mean("iou")
own = predict_pixel_classifier(classifier, train_part.images)
training_scores["pixel classifier"] = float(iou_score(train_part.masks, own).mean())
heldout_scores["pixel classifier"] = scores["pixel classifier"]["heldout_iou"]
for name in training_scores:
    print(f"{name:<18} training frames {training_scores[name]:.3f}   held out {heldout_scores[name]:.3f}   "
          f"gap {training_scores[name] - heldout_scores[name]:+.3f}")
gaps = {name: training_scores[name] - heldout_scores[name] for name in training_scores}
larger = max(gaps, key=gaps.get)
print("self-check:", exercises.ex07_2(larger, training_scores, heldout_scores))


def classifier_log_losses(fitted, images, masks):
    """The classifier's mean per-pixel log-loss on these frames after each of its boosting iterations."""
    truth = masks.reshape(-1) > 0.5
    losses = []
    for proba in fitted.staged_predict_proba(pixel_features(images)):
        p = np.clip(proba[:, 1], 1e-7, 1 - 1e-7)
        losses.append(float(-np.mean(np.where(truth, np.log(p), np.log(1 - p)))))
    return np.array(losses)


# The network: its loss curves at full size only (with progressive resizing, the epochs after the switch).
history = runs[full_name].history
switch = runs[full_name].preset.small_epochs
epochs_at = [int(e) for e in scored_epochs(history["val_loss"])[0] if e > switch]
network_reading = describe_overfitting(epochs_at, [history["loss"][e - 1] for e in epochs_at],
                                      [history["val_loss"][e - 1] for e in epochs_at], "epoch",
                                      heldout_ious=[history["val_iou"][e - 1] for e in epochs_at])
# The classifier: its log-loss on all the training pixels (it fitted a sample of them) and on the held-out ones.
train_curve = classifier_log_losses(classifier, train_part.images, train_part.masks)
heldout_curve = classifier_log_losses(classifier, heldout.images, heldout.masks)
classifier_reading = describe_overfitting(list(range(1, len(heldout_curve) + 1)), train_curve, heldout_curve,
                                         "iteration")
display(Markdown(
    f"Per-frame mean IoU at the model's size, training frames minus held-out ones (the generalisation gap): "
    + ", ".join(f"{name} {gap:+.3f}" for name, gap in gaps.items()) + f". The **{larger}** has the larger gap: it "
    f"scores {training_scores[larger]:.3f} on the frames it learned from and {heldout_scores[larger]:.3f} on the "
    "others. A gap alone is not overfitting; overfitting is the held-out loss rising while the training loss keeps "
    f"falling. The {full_name}" + (f", over its scored epochs at full size (after epoch {switch})" if switch else "")
    + f": {network_reading}. The pixel classifier, over its {classifier.n_iter_} boosting iterations"
    + (" (scikit-learn stopped it early, when its own validation pixels stopped improving)"
       if classifier.n_iter_ < classifier.max_iter else "") + f": {classifier_reading}."))

# %% [markdown]
# #### Solution 3

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
def colour_features(images):
    """pixel_features without the (y, x) position, columns 3 and 4."""
    return np.delete(pixel_features(images), [3, 4], axis=1)


sample = np.random.default_rng(SEED).choice(train_part.masks.size, min(60_000, train_part.masks.size), replace=False)
colour_only = HistGradientBoostingClassifier(max_iter=200, random_state=SEED).fit(
    colour_features(train_part.images)[sample], train_part.masks.reshape(-1)[sample].astype(int))
guess = colour_only.predict_proba(colour_features(heldout.images))[:, 1].reshape(heldout.masks.shape)
without, with_position = float(iou_score(heldout.masks, guess).mean()), scores["pixel classifier"]["heldout_iou"]
display(Markdown(
    f"Without its position features the classifier scores a per-frame mean held-out IoU of {without:.3f}; with "
    f"them, {with_position:.3f}. Where the dancer stands is worth {with_position - without:+.3f} IoU to it"
    + (": it leans on where the dancer tends to be in these frames." if with_position - without > 0.01 else
       ": colour and neighbourhood carry it almost alone.")))
