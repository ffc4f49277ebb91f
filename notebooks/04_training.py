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
# # 4. Training with Keras
#
# **What you will learn**
# - the Dice + focal loss, as equations and with small numbers you can check by hand;
# - how to train the CAE yourself with Keras: `model.compile` with the package's settings, `model.fit` on its
#   datasets, and callbacks that record the predictions, log every epoch and draw a live scrubber;
# - how to read loss and metric curves: **overfitting** is the held-out loss rising while the training loss keeps
#   falling; the training frames' score minus the held-out frames', both scored the same way, is the
#   **generalisation gap**, and a gap alone is not overfitting.
#
# This notebook trains the **plain** recipe: the `cpu` preset's model (lighter filters, skip connections, notebook 3)
# with its six tricks switched off, at one frame size. Notebook 5 adds the tricks one at a time and measures what
# each brings: whether it pays is a measurement, not a promise.

# %% tags=["parameters"]
PRESET = "cpu"  # the recipe whose model this notebook trains, with its six tricks switched off (see notebook 5)
DATA = None  # None: the embedded record; "record-136": the real frames (downloaded once); or a folder
RECORD = None
IMAGE_HEIGHT = 112  # one frame size for the whole run, that of notebook 5's trick-by-trick runs (None: 256 x 144)
IMAGE_WIDTH = 64
EPOCHS = 60  # None: the preset's number of epochs
SEED = 0
SNAPSHOT_EVERY = 4  # record predictions and score the held-out frames every N epochs (1: every epoch, slower)
SOLUTION_EPOCHS = 24  # epochs of the short run a worked solution trains (at most EPOCHS)
OUTPUT_DIR = "outputs"
RUN_DIR = "outputs/plain_run"  # where this run is saved; notebook 5 starts from it

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial import exercises
from cae_tutorial.callbacks import EpochLogs, EpochProgress, PredictionSnapshots, ScoreLastEpoch
from cae_tutorial.data import load_record, seed_split
from cae_tutorial.datasets import resolve_data
from cae_tutorial.folders import write_json
from cae_tutorial.plots import evolution_grid, loss_curves, metric_curves, scored_epochs
from cae_tutorial.presets import get_preset
from cae_tutorial.results import TrainingResult
from cae_tutorial.training import (
    build_model,
    compile_settings,
    steps_per_epoch,
    training_dataset,
    validation_dataset,
)
from cae_tutorial.verdicts import read_overfitting
from cae_tutorial.widgets import EpochScrubber
import keras

Path(OUTPUT_DIR).mkdir(exist_ok=True)

# %% [markdown]
# ## The recipe
# A preset is frozen data: every setting of a training run besides the data and the random seed (`print` shows
# them all). `preset.with_(...)` gives a copy with some fields changed. The plain recipe is the `cpu` preset with
# its six tricks set back to the seed project's values: no augmentation, a constant learning rate, no coordinate
# channels, one frame size throughout (no progressive resizing), no extra weight on the outline, and float32
# numbers.

# %%
cpu = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS)
plain = cpu.with_(name="plain", augment=False, schedule="constant", coordinates=False, progressive_scale=1,
                  progressive_fraction=0.0, boundary_weight=0.0, dtype="float32")
print(plain)

# %%
record = load_record(resolve_data(DATA), RECORD, size=plain.size)
split = seed_split(record)
print(record, "| training on", list(split.train_ids), "| held out:", len(split.heldout_ids), "frames")

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
# whole cross-entropy. The seed project adds the two with equal weights. Both are Keras' own losses:

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
# model reloads with it), with one more option, an extra weight on the outline, that notebook 5 measures;
# `dice_plus_focal` here is the idea only.
#
# ## Build and compile
# `build_model(preset, seed=...)` builds the CAE the preset describes (notebook 3), seeded so the same seed gives
# the same weights. `compile_settings(preset)` is a dict of keyword arguments for Keras' own `model.compile`: the
# package's Dice + focal loss, Adam at the preset's learning rate, and three metrics thresholded at probability
# 0.5 (pixel accuracy, IoU and Dice of the person). Any of them can be replaced by yours
# (`compile_settings(preset, loss=..., optimizer=...)`); the metrics are what the epoch log and the curves read.

# %%
model = build_model(plain, seed=SEED)
steps = steps_per_epoch(split, plain)
settings = compile_settings(plain, steps)
model.compile(**settings)
# Make Adam's variables (two moments per weight) before fit, so that fit traces its training step into a graph
# once rather than twice.
model.optimizer.build(model.trainable_variables)
print(f"{model.name}: {model.count_params():,} parameters, input {model.input_shape[1:]}")
print(f"loss {type(settings['loss']).__name__}, optimizer {type(settings['optimizer']).__name__} "
      f"(learning rate {float(settings['optimizer'].learning_rate):g}), metrics "
      f"{[metric.name for metric in settings['metrics']]}")

# %% [markdown]
# ## The data, as Keras datasets
# `training_dataset` gives endless batches of the training frames, shuffled by `SEED` (and augmented when the
# preset says so: not here); `fit` takes `steps_per_epoch` batches from it per epoch. `validation_dataset` gives
# the held-out frames in order, unchanged, for `fit(validation_data=...)`.

# %%
training_data = training_dataset(record, split, plain, seed=SEED, model=model)
heldout_data = validation_dataset(record, split)
images, masks = next(iter(training_data))
print(f"one training batch: frames {tuple(images.shape)} {images.dtype.name}, masks {tuple(masks.shape)}; "
      f"{steps} batches per epoch of {plain.batch_size} frames, from {len(split.train_ids)} training frames")

# %% [markdown]
# ## Callbacks
# A Keras callback runs code at fixed points of `fit`. The package's, all ordinary `keras.callbacks.Callback`s:
# - `PredictionSnapshots(record, every=N)` predicts the frames before training (epoch 0) and every N epochs, and
#   stores the probabilities as uint8 (0..255: a quarter of float32's memory, plenty for a picture);
# - `EpochLogs()` keeps one value per epoch of every loss and metric (NaN where the held-out frames were not
#   scored) and the time `fit` took;
# - `ScoreLastEpoch(heldout_data)` scores the held-out frames after the last epoch too, when `validation_freq`
#   skips it; `EpochProgress()` prints a line every tenth of the run.
#
# ## Watch it train
# The scrubber below appears before training starts, its slider already spanning every epoch to be recorded, and
# fills as epochs arrive: each frame (marked train or held out) with its true mask, the prediction at the shown epoch
# and its IoU at the model's size. It follows the newest epoch until you move the slider (drag it, or Home, End and
# the arrows), and again after "Follow newest"; moving happens in the browser, so it answers while training runs.
# Widgets need a live Jupyter kernel. For every view without one (GitHub, nbconvert, a notebook opened without a
# kernel) the same output carries, once training has ended, a static picture of the evolution: each frame and its
# truth, then the prediction, its errors and its IoU at the first and last epochs and where the held-out mean IoU
# changed most.

# %%
scrubber = EpochScrubber.live(record, split, every=SNAPSHOT_EVERY, total_epochs=plain.epochs)
scrubber

# %% [markdown]
# Now `fit`, plain Keras. The held-out frames are scored every `SNAPSHOT_EVERY` epochs (Keras' `validation_freq`,
# with the snapshots) and after the last one: each scoring is one more pass over those frames, so scoring less often
# leaves more of `fit`'s time to training.
#
# The IoU that `fit` logs is Keras' metric, **pooled**: the person pixels of all the frames scored are counted
# together, then divided once. The tables further down give the **per-frame mean**: each frame's IoU, then their
# mean. The two differ when the frames' persons differ in size; each number below says which it is.

# %%
logs, snapshots = EpochLogs(), PredictionSnapshots(record, every=SNAPSHOT_EVERY)
scrubber.callback.follow(snapshots)  # the scrubber shows the snapshots' predictions: each frame predicted once
model.fit(training_data, epochs=plain.epochs, steps_per_epoch=steps, validation_data=heldout_data,
          validation_freq=SNAPSHOT_EVERY, shuffle=False, verbose=0,
          callbacks=[ScoreLastEpoch(heldout_data), snapshots, logs, EpochProgress(), scrubber.callback])
result = TrainingResult.from_fit(model, logs, split, snapshots, preset=plain, record=record, seed=SEED)
result.save(RUN_DIR, overwrite=True)
print(f"trained {result.config['epochs']} epochs at {plain.height} x {plain.width} in "
      f"{result.config['train_seconds']:.0f} s (the whole model.fit: tracing, held-out scores and a snapshot every "
      f"{SNAPSHOT_EVERY} epoch(s), the live scrubber); saved to {RUN_DIR}")

# %% [markdown]
# `TrainingResult.from_fit` gathers what `fit` left (the model, the epoch log, the snapshots, the split and the
# recipe) into one object that the plots, the scrubber, `evaluate` and `save` take. The package's
# `train(model, record, split, preset, seed=SEED, options=TrainOptions(...))` is the same run in one call, the sum
# of these pieces.
#
# ## Loss and metric curves
# Both curves are measured on frames of the same size here, so they can be read directly. **Overfitting** is the
# held-out loss rising while the training loss keeps falling: the model fits its three training frames better at
# the expense of frames it has not seen. The held-out curve above the training one hints at a **generalisation
# gap**, but the training curve is taken with dropout on, so the gap itself is measured in the next section, both
# kinds of frame scored the same way; a gap alone is not overfitting (a model can keep one while both losses fall).
# Below, "rising" means ending more than 5 % above its lowest scored value, and by more than twice the curve's own
# jitter (the median change from one scored epoch to the next): one run's held-out loss on a few frames jumps about.
# That is the course's one rule, `cae_tutorial.verdicts.read_overfitting`. Pixel accuracy counts the background
# too, so it sits above IoU and Dice all along (notebook 1).

# %%
fig = loss_curves(result.history)

# %%
fig = metric_curves(result.history)
loss, heldout_loss = np.array(result.history["loss"]), np.array(result.history["val_loss"])
scored_at, scored_loss = scored_epochs(heldout_loss)
best = int(scored_at[np.argmin(scored_loss)])  # the lowest scored held-out loss, counting from 1
if len(scored_at) < 2:  # one scored epoch (a very short run): no curve to read
    display(Markdown(f"The held-out loss is scored at epoch {int(scored_at[0])} only: a curve needs two scored "
                     "epochs or more to show overfitting (raise `EPOCHS` or lower `SNAPSHOT_EVERY`)."))
    reading = None
else:
    reading = read_overfitting(loss[np.asarray(scored_at) - 1], scored_loss)  # the scored epochs only
    rise = heldout_loss[-1] - heldout_loss[best - 1]
if reading is not None:
    display(Markdown(
        f"The held-out loss was lowest at epoch {best} ({heldout_loss[best - 1]:.3f}) and is {heldout_loss[-1]:.3f} "
        f"after the last epoch ({plain.epochs}); the training loss went from {loss[best - 1]:.3f} to {loss[-1]:.3f} "
        "over the same epochs. "
        + (f"So after epoch {best} the model kept fitting its training frames better while it got worse on the held-out "
           f"ones (+{rise:.3f} loss, {reading.rise:+.0%}, more than twice the {reading.jitter:.3f} the curve moves "
           "between scored epochs): the held-out loss rises from its lowest while the training loss falls over the same "
           "epochs, so it **overfits**. "
           "Keras' `EarlyStopping(monitor=\"val_loss\", restore_best_weights=True)`, given a `patience` as long as the "
           "run, would have restored the weights of the best scored epoch (exercise 3)."
           if reading.verdict == "overfits" else
           f"The held-out loss ends {rise:+.3f} ({reading.rise:+.0%}) from its lowest, more than 5 %, but the curve moves "
           f"by {reading.jitter:.3f} (median) from one scored epoch to the next and the rise is within twice that: one "
           "run cannot tell overfitting from its own jitter here. Exercise 3's early stopping is the safe side all the "
           "same."
           if reading.verdict == "within its jitter" else
           f"The held-out loss ends {rise:+.3f} ({reading.rise:+.0%}) from its lowest, within 5 %, "
           "so by the rule it does not overfit yet (the rule compares the end with "
           "the lowest point, not the bumps between). "
           + (f"The held-out loss ends {heldout_loss[-1] / loss[-1]:.1f} times the training loss, which is taken with "
              "dropout on: a hint of a generalisation gap, which the next section measures with both kinds of frame "
              "scored the same way, and which alone is not overfitting." if heldout_loss[-1] > loss[-1] else
              "The held-out loss even ends below the training loss, which is taken with dropout on (the next section "
              "scores both kinds of frame the same way).")
           if reading.verdict == "does not overfit" else
           "The training loss did not fall further either, so this is not overfitting: the run ends where both stopped "
           "improving.")))
scored = [epoch for epoch, value in enumerate(result.history["val_iou"]) if not np.isnan(value)]
first, last = scored[0], scored[-1]
print(f"held-out after epoch {first + 1}: accuracy {result.history['val_accuracy'][first]:.3f}, "
      f"pooled IoU {result.history['val_iou'][first]:.3f}; after epoch {last + 1}: accuracy "
      f"{result.history['val_accuracy'][last]:.3f}, pooled IoU {result.history['val_iou'][last]:.3f}")

# %% [markdown]
# ## Training vs held-out, measured the same way
# Each epoch's **training** numbers are averages over its batches, taken *while* the weights change, with
# **dropout active** (it silences features at random). The **held-out** numbers are computed at the end of an
# epoch, with dropout off. To compare like with like, score the training frames exactly as the held-out ones: the
# final model, no dropout, at the frames' own size.

# %%
train_scores = result.evaluate(record, split.train_ids)
heldout_scores = result.evaluate(record)
print("training frames\n", train_scores, "\n\nheld-out frames\n", heldout_scores, sep="")
last_train_curve, last_heldout_curve = result.history["iou"][-1], result.history["val_iou"][-1]
gap = train_scores.mean("iou") - heldout_scores.mean("iou")
train_ious, heldout_ious = [row.iou for row in train_scores], [row.iou for row in heldout_scores]
display(Markdown(
    f"On the last epoch the curves read pooled IoU {last_train_curve:.3f} (training, dropout on) and "
    f"{last_heldout_curve:.3f} (held out), at the model's size. Both tables score the final model at "
    f"{heldout_scores.resolution} (what a user sees: upsampled to the frame's size, guided by the frame, as "
    f"notebook 6 explains), per-frame mean IoU: the training frames "
    f"{train_scores.mean('iou'):.3f} ({min(train_ious):.3f} to {max(train_ious):.3f}), the held-out frames "
    f"{heldout_scores.mean('iou'):.3f} ({min(heldout_ious):.3f} to {max(heldout_ious):.3f}). "
    + (f"The model is better on the frames it learned from by {gap:.3f} IoU: that is the generalisation gap of "
       "this run, with three training frames and no augmentation (whether it overfits is read from the loss "
       "curves above, not from the gap). "
       + (f"Even the worst training frame ({min(train_ious):.3f}) scores above the best held-out one "
          f"({max(heldout_ious):.3f})." if min(train_ious) > max(heldout_ious) else
          "The two ranges overlap: single frames differ by more than the gap.")
       if gap > 0 else f"The held-out frames score as well as the training ones ({gap:+.3f} IoU).")))

# %% [markdown]
# ## The evolution of the predictions
# The seed project plotted the predictions every 50 epochs. Here the columns are 8 of the epochs the callback recorded,
# spread evenly from before training to the end; each row is marked train or held out.

# %%
fig = evolution_grid(result.snapshots, frame_ids=[*split.train_ids, *split.heldout_ids[:2]], split=split)

# %%
results = {"epochs": result.config["epochs"], "train_seconds": result.config["train_seconds"],
           "size": list(plain.size),
           # The course's results table: the per-frame mean at the model's size, in every notebook alike (the text
           # above quotes the frames' own size, heldout_frames_iou).
           "heldout_iou": result.evaluate(record, resolution="model").mean("iou"),
           "heldout_pooled_iou": result.final("val_iou"), "heldout_dice": result.final("val_dice"),
           "train_iou": result.final("iou", part="training"), "snapshots": int(len(result.snapshots.epochs)),
           "train_frames_iou": train_scores.mean("iou"), "heldout_frames_iou": heldout_scores.mean("iou"),
           "best_heldout_loss_epoch": best, "focal_table": table}
write_json(Path(OUTPUT_DIR, "04_training.json"), results)  # whole or not at all
results

# %% [markdown]
# ## Summary
# - Dice + focal: Dice judges the overlap regardless of imbalance; focal, $-(1 - p_t)^\gamma \log p_t$, keeps the
#   cross-entropy of the pixels the model gets wrong and discounts the ones it already gets right.
# - Training is plain Keras: `model.compile(**compile_settings(preset))`, then `model.fit` on `training_dataset`
#   with `validation_data=validation_dataset(...)`; the package adds callbacks (`PredictionSnapshots`,
#   `EpochLogs`, the live `EpochScrubber`), and `TrainingResult.from_fit` keeps the run.
# - At one frame size the curves mean what they say: overfitting is the held-out loss rising while the training
#   loss keeps falling. The generalisation gap, training score minus held-out score with both scored the same way
#   (`result.evaluate(record, frame_ids)`), is not overfitting by itself.
# - Notebook 5 starts from this run and adds the `cpu` preset's tricks one by one.
#
# ## Exercises
# 1. Set the focal weight to 0: compile the model yourself with `loss=dice_focal_loss(1, 0)` from
#    `cae_tutorial.losses` (a model you compiled trains as compiled), and train. What happens in the first epochs:
#    does Dice alone learn faster or slower? Check: `exercises.ex04_1("faster" or "slower", result, dice_run,
#    epochs)`.
# 2. Find the first epoch where the held-out IoU passes 0.5 (or scrub to it). Check: `exercises.ex04_2(epoch,
#    result)`. Which parts of the dancer appear first?
# 3. Which scored epoch has the lowest held-out loss, the epoch whose weights
#    `keras.callbacks.EarlyStopping(monitor="val_loss", patience=N, restore_best_weights=True)` restores at the end
#    when its patience `N` is as long as the run? Check: `exercises.ex04_3(epoch, result)`. How much held-out IoU
#    would stopping there have kept or lost? And where would the default `patience=0` have stopped?
#
# Each check answers `right` or `not yet` with a hint, never the answer. The worked solutions follow, collapsed:
# open one after trying. Solution 1 trains a short run of `SOLUTION_EPOCHS` epochs (at most `EPOCHS`).

# %% [markdown]
# #### Solution 1

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
from cae_tutorial.losses import dice_focal_loss, iou_score
from cae_tutorial.results import Snapshots
from cae_tutorial.verdicts import compare

first_epochs = min(plain.epochs, SOLUTION_EPOCHS)
dice_only = build_model(plain, seed=SEED)
# One change only, the loss: the same recipe, data, seed and scoring as the run above,
# whose first epochs it is compared with.
dice_only.compile(**compile_settings(plain, steps, loss=dice_focal_loss(1, 0)))
dice_only.optimizer.build(dice_only.trainable_variables)
dice_run = EpochLogs()
# Snapshots on the same schedule as the run above: both runs' predictions at the same epochs, frame by frame.
dice_snapshots = PredictionSnapshots(record, every=SNAPSHOT_EVERY)
dice_only.fit(training_dataset(record, split, plain, seed=SEED, model=dice_only), epochs=first_epochs,
              steps_per_epoch=steps, validation_data=heldout_data, validation_freq=SNAPSHOT_EVERY, shuffle=False,
              verbose=0, callbacks=[ScoreLastEpoch(heldout_data), dice_snapshots, dice_run])
print("loss used:", type(dice_only.loss).__name__, "focal weight", dice_only.loss.focal_weight)
both = {"Dice + focal": result.history["val_iou"][:first_epochs], "Dice only": dice_run.history["val_iou"]}
for name, values in both.items():
    epochs_scored, ious = scored_epochs(values)
    print(f"{name:<13} held-out IoU (pooled) at epochs {epochs_scored.tolist()}: {np.round(ious, 3).tolist()}")
common = sorted(set(scored_epochs(both["Dice + focal"])[0]) & set(scored_epochs(both["Dice only"])[0]))
at = int(common[-1])
focal_iou, alone_iou = both["Dice + focal"][at - 1], both["Dice only"][at - 1]
answer = "faster" if alone_iou > focal_iou else "slower"
print("self-check:", exercises.ex04_1(answer, result, dice_run, first_epochs))


def heldout_ious_at(snapshots, epoch):
    """Per-frame IoU of the held-out frames in a run's snapshot at `epoch`, at the model's size."""
    rows = [snapshots.frame_ids.index(i) for i in split.heldout_ids]
    return iou_score(snapshots.masks[rows] > 127, snapshots.at(epoch)[rows] >= 128)


# Paired over the held-out frames: each frame scored by both runs at the same epoch, one difference per frame.
focal_frames = heldout_ious_at(result.snapshots, at)
alone_frames = heldout_ious_at(Snapshots.of(dice_snapshots), at)
for frame_id, with_focal, alone in zip(split.heldout_ids, focal_frames, alone_frames):
    print(f"{frame_id:<14} IoU at epoch {at}: Dice + focal {with_focal:.3f}, Dice only {alone:.3f}")
frame_verdict = compare(alone_frames, focal_frames, "Dice alone", "Dice + focal", over="held-out frames")
if frame_verdict.is_draw:
    reading = ("the two losses are **a draw**: some held-out frames score higher with one, some with the other, "
               "so these epochs do not rank them")
else:
    reading = (f"Dice alone learns **{'faster' if frame_verdict.winner == 'Dice alone' else 'slower'}**, on every "
               "held-out frame, in this one pair of runs (one seed: pairing over frames does not remove the seed's "
               "luck, so take it as a hint)")
display(Markdown(
    f"Compared: the same model, data and seed trained {first_epochs} epochs with Dice alone and with Dice + focal. "
    f"By epoch {at}, Dice alone reaches a held-out IoU (pooled) of {alone_iou:.3f} against {focal_iou:.3f} with the "
    f"focal term: by that one number it learns {answer} (the self-check's answer). Frame by frame, at the model's "
    f"size: {frame_verdict}. So in these first epochs {reading}."))

# %% [markdown]
# #### Solution 2

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
from scipy.ndimage import binary_erosion

epochs_scored, ious = scored_epochs(result.history["val_iou"])  # scored every SNAPSHOT_EVERY epochs
passed = [int(epoch) for epoch, iou in zip(epochs_scored, ious) if iou > 0.5]
first_pass = passed[0] if passed else None
print("self-check:", exercises.ex04_2(first_pass, result))
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
        f"The held-out IoU (pooled) first passes 0.5 by epoch **{first_pass}**, the first scored epoch above it "
        f"(scored every {SNAPSHOT_EVERY}, so the crossing itself lies in the {SNAPSHOT_EVERY} epochs up to it). At "
        f"epoch {shown} the model finds {thick_found:.0%} of the held-out dancers' thick parts (what is left of the "
        f"mask shrunk by 2 pixels: torso, head, thighs) and {thin_found:.0%} of the thin ones (arms, hands, feet and "
        "the outline, most of it outline): the " + ("thick parts appear first, the outline and thin limbs later (at "
                                                     "this one snapshot)." if thick_found > thin_found else
                                "thin parts are found as early as the thick ones here.")))

# %% [markdown]
# #### Solution 3

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
epochs_scored, heldout_losses = scored_epochs(result.history["val_loss"])  # NaN between scored epochs
lowest = int(epochs_scored[np.argmin(heldout_losses)])  # counting from 1
print("self-check:", exercises.ex04_3(lowest, result))
iou_there, iou_end = result.history["val_iou"][lowest - 1], result.history["val_iou"][-1]
# The default patience=0: training stops at the first scored epoch that does not beat the best so far, and
# restore_best_weights keeps that best.
stop_index = next((k for k in range(1, len(heldout_losses)) if heldout_losses[k] >= min(heldout_losses[:k])), None)
stop_at = None if stop_index is None else int(epochs_scored[stop_index])
kept_at = None if stop_index is None else int(epochs_scored[np.argmin(heldout_losses[:stop_index])])
display(Markdown(
    f"The held-out loss is lowest at epoch **{lowest}** ({result.history['val_loss'][lowest - 1]:.3f}, against "
    f"{result.history['val_loss'][-1]:.3f} at the end). Stopping there would have kept a held-out IoU (pooled) of "
    f"{iou_there:.3f} instead of {iou_end:.3f}: "
    + (f"{iou_there - iou_end:.3f} more" if iou_there > iou_end else f"{iou_end - iou_there:.3f} less"
       if iou_there < iou_end else "the same")
    + ". The loss and the IoU need not agree: the loss also counts how confident each pixel is, the IoU only which "
      "side of 0.5 it falls. EarlyStopping compares the epochs that have a held-out score: with validation_freq > 1 "
      "it skips the others (with a warning) and counts its `patience` in scored epochs, so score every epoch "
      "(validation_freq=1) for a patience in epochs. Its default `patience=0` stops at the first scored epoch that "
      "does not improve: "
    + (f"here epoch {stop_at}, keeping epoch {kept_at}'s weights (held-out IoU "
       f"{result.history['val_iou'][kept_at - 1]:.3f})" + (", the same as the lowest." if kept_at == lowest else
                                                           f", not the lowest at epoch {lowest}.")
       if stop_at is not None else "here every scored epoch improved, so it would not have stopped.")
    + " Give it a patience to ride out a bump."))
