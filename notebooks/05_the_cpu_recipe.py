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
# # 5. The CPU recipe
#
# **What you will learn**
# - the six tricks that turn notebook 4's plain run into the `cpu` preset: augmentation, a cosine learning-rate
#   schedule, coordinate channels, progressive resizing, an extra weight on the outline, and the bfloat16 number
#   format, each with what it changes (binary cross-entropy, the boundary-weighted focal term and the cosine
#   schedule as equations);
# - how to measure a trick honestly: added one at a time, each run repeated over several seeds, its gain in
#   held-out IoU as a **paired difference** with its spread (a draw when the spread covers zero), and its cost in
#   seconds;
# - the `cpu` preset trained once at full size: the run that notebooks 6 and 7 read.

# %% tags=["parameters"]
PRESET = "cpu"  # the recipe the ladder of tricks ends at
DATA = None  # None: the embedded record; "record-136": the real frames (downloaded once); or a folder
RECORD = None
IMAGE_HEIGHT = None  # the final run's frame size (None: the preset's, 256 x 144)
IMAGE_WIDTH = None
EPOCHS = None  # the final run's epochs (None: the preset's)
SEED = 0  # the final run's seed
TRICK_HEIGHT = 112  # the ladder's frame size (at most the final run's); halved for progressive resizing, so both
TRICK_WIDTH = 64  # should divide by 16
TRICK_EPOCHS = 40  # the ladder's epochs per run (at most the final run's)
TRICK_SEEDS = 3  # runs per rung of the ladder, seeds 0, 1, ...: the paired differences' spread
SNAPSHOT_EVERY = 4  # the final run: record predictions and score the held-out frames every N epochs
OUTPUT_DIR = "outputs"
PLAIN_RUN_DIR = "outputs/plain_run"  # notebook 4's run, read for comparison when it is there
RUN_DIR = "outputs/run"  # where the final run is saved: notebooks 6 and 7 read it

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial import exercises
from cae_tutorial.callbacks import EpochLogs, EpochProgress, PredictionSnapshots, ScoreLastEpoch
from cae_tutorial.data import load_record, seed_split
from cae_tutorial.datasets import resolve_data
from cae_tutorial.evaluation import evaluate
from cae_tutorial.folders import write_json
from cae_tutorial.hardware import describe
from cae_tutorial.losses import outline_band
from cae_tutorial.model import CoordinateChannels
from cae_tutorial.pipeline import frames_dataset
from cae_tutorial.plots import augmentation_grid, loss_curves, scored_epochs
from cae_tutorial.presets import get_preset
from cae_tutorial.results import TrainingResult
from cae_tutorial.training import (
    build_model,
    compile_settings,
    make_optimizer,
    steps_per_epoch,
    training_dataset,
    validation_dataset,
)
from cae_tutorial.verdicts import compare, describe_overfitting, signed

Path(OUTPUT_DIR).mkdir(exist_ok=True)

# %% [markdown]
# ## From the plain run to the recipe
# Each trick is one or two fields of the preset. The **ladder** starts from notebook 4's plain recipe and switches
# the tricks on one at a time, in the order below, each rung keeping the ones before it; the last rung is the `cpu`
# preset itself.

# %%
cpu = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS)
TRICKS = {  # each trick: the preset fields it sets to the cpu preset's values
    "augmentation": ("augment",),
    "cosine schedule": ("schedule",),
    "coordinate channels": ("coordinates",),
    "progressive resizing": ("progressive_scale", "progressive_fraction"),
    "boundary weight": ("boundary_weight",),
    "bfloat16": ("dtype",),
}
small_cpu = cpu.with_(height=min(TRICK_HEIGHT, cpu.height), width=min(TRICK_WIDTH, cpu.width),
                      epochs=min(TRICK_EPOCHS, cpu.epochs))
plain = small_cpu.with_(name="plain", augment=False, schedule="constant", coordinates=False, progressive_scale=1,
                        progressive_fraction=0.0, boundary_weight=0.0, dtype="float32")
rungs, recipe = {"plain": plain}, plain
for trick, names in TRICKS.items():
    recipe = recipe.with_(**{name: getattr(small_cpu, name) for name in names})
    rungs[trick] = recipe
assert recipe.with_(name=small_cpu.name) == small_cpu, "the last rung is the cpu preset"
for trick, names in TRICKS.items():
    print(f"+ {trick:<21}" + ", ".join(f"{name} {getattr(plain, name)!r} -> {getattr(cpu, name)!r}" for name in names))
print(f"ladder: {len(rungs)} rungs x {TRICK_SEEDS} seeds at {small_cpu.height} x {small_cpu.width}, "
      f"{small_cpu.epochs} epochs each; final run: {cpu.height} x {cpu.width}, {cpu.epochs} epochs")

# %%
record = load_record(resolve_data(DATA), RECORD, size=cpu.size)  # the final run's frames
split = seed_split(record)
train_part = record.subset(split.train_ids)
small_record = load_record(resolve_data(DATA), RECORD, size=small_cpu.size)  # the ladder's
plain_run = TrainingResult.load(PLAIN_RUN_DIR) if (Path(PLAIN_RUN_DIR) / "model.keras").is_file() else None
if plain_run is None:
    print(f"{PLAIN_RUN_DIR} is missing (run notebook 4 first to see its plain run here); the ladder's first rung "
          "trains the same recipe, for fewer epochs")
else:
    plain_scores = plain_run.evaluate(load_record(resolve_data(DATA), RECORD, size=tuple(plain_run.config["size"])))
    print(f"notebook 4's plain run: {plain_run.config['epochs']} epochs at {plain_run.config['size'][0]} x "
          f"{plain_run.config['size'][1]} in {plain_run.config['train_seconds']:.0f} s, held-out IoU (per-frame "
          f"mean) {plain_scores.mean('iou'):.3f} at {plain_scores.resolution}")

# %% [markdown]
# ## The six tricks
# ### Augmentation
# Three training frames are very little data. With `augment=True`, every batch is drawn afresh from them: flipped
# left-right, shifted, zoomed, and colour-jittered (brightness, contrast, saturation, hue), the mask moved with its
# frame so the pair stays true. The network never sees the same picture twice, which is meant to fight overfitting
# (the ladder below measures whether it does here). This is
# `cae_tutorial.pipeline.frames_dataset`, the pipeline `training_dataset` builds on; here is one batch.

# %%
full_size = cpu.with_(progressive_scale=1)  # at full size: with progressive resizing the first batches are smaller
batch_images, batch_masks = next(iter(frames_dataset(train_part.images, train_part.masks, full_size, SEED)))
print(f"augment={cpu.augment}: one batch of {len(batch_images)} from {len(train_part)} training frames")
fig = augmentation_grid(train_part.images, train_part.masks, np.asarray(batch_images), np.asarray(batch_masks),
                        train_part.ids)

# %% [markdown]
# ### The cosine learning-rate schedule
# Adam takes steps scaled by the learning rate $\eta$. The plain recipe keeps it constant. With
# `schedule="cosine"` (Keras' `CosineDecay`) it starts at $\eta_0$ and follows half a cosine down to a fraction
# $\alpha = 0.05$ of it by the last of the run's $T$ steps ($T$ = steps per epoch $\times$ epochs):
# $$\eta(t) = \eta_0 \left[\alpha + (1 - \alpha)\, \frac{1}{2}\left(1 + \cos \frac{\pi t}{T}\right)\right],
# \qquad 0 \le t \le T$$
# Big steps first, to learn fast; small ones last, so the last epochs settle instead of bouncing around: that is
# the intent, and the ladder below measures what it gives in short runs. This is
# the optimiser `compile_settings(preset, steps)` gives `model.compile`:

# %%
steps = steps_per_epoch(split, cpu)
optimizer = make_optimizer(cpu, steps, cpu.epochs)
step_numbers = np.arange(0, steps * cpu.epochs + 1, max(1, steps * cpu.epochs // 200))
rates = []
for step in step_numbers:
    optimizer.iterations.assign(step)
    rates.append(float(optimizer.learning_rate))
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(step_numbers / steps, rates)
ax.set(xlabel="epoch", ylabel="learning rate", title=f"schedule={cpu.schedule!r}: {steps} steps per epoch")
ax.grid(alpha=0.3)
plt.show()
print(f"learning rate: {rates[0]:.2e} at the start, {rates[len(rates) // 2]:.2e} half way, {rates[-1]:.2e} at the end "
      f"({rates[-1] / rates[0]:.0%} of the start)")

# %% [markdown]
# ### Coordinate channels
# A convolution sees a small window and not where that window is in the frame. With `coordinates=True` the model's
# first layer, `CoordinateChannels`, appends two channels to the frame: each pixel's row and column, scaled to
# [-1, 1]. The network can then learn *where* a person tends to be (if the dancer tends to stay in one part of the frame),
# as notebook 7's per-pixel classifier does with its (y, x) features. The input is still the (H, W, 3) frame:

# %%
with_positions = CoordinateChannels()(np.zeros((1, *cpu.size, 3), np.float32))  # a blank frame, to see the channels
print(f"frame {tuple(cpu.size) + (3,)} -> {tuple(with_positions.shape[1:])}: row channel from "
      f"{float(with_positions[0, 0, 0, 3]):+.1f} (top) to {float(with_positions[0, -1, 0, 3]):+.1f} (bottom), column "
      f"from {float(with_positions[0, 0, 0, 4]):+.1f} (left) to {float(with_positions[0, 0, -1, 4]):+.1f} (right)")

# %% [markdown]
# ### Progressive resizing
# The CAE is fully convolutional: the same weights run on frames of any size divisible by 8. With
# `progressive_scale` above 1, the first `progressive_fraction` of the epochs train on frames shrunk by that
# factor (each such epoch costs a fraction of a full-size one), the last ones at full size, in the same `fit`: the
# small epochs can only learn the coarse shape (the outline is a pixel or two wide at half size), the last ones
# refine it. The model is then built on
# `keras.Input(shape=(None, None, 3))`, and `training_dataset(..., model=model)` switches the size.

# %%
for name, preset in (("the ladder", small_cpu), ("the final run", cpu)):
    print(f"{name}: " + (f"the first {preset.small_epochs} of {preset.epochs} epochs at {preset.small_size[0]} x "
                         f"{preset.small_size[1]}, the last {preset.epochs - preset.small_epochs} at {preset.height} x "
                         f"{preset.width}" if preset.small_epochs else
                         f"no small epochs at {preset.height} x {preset.width} (half of it does not divide by 8, or "
                         "too few epochs): every epoch at full size"))

# %% [markdown]
# ### The outline counts more: binary cross-entropy, focal, boundary weight
# Write $y_i \in \{0, 1\}$ for pixel $i$'s truth and $p_i$ for the predicted probability that it is person.
# **Binary cross-entropy** is the mean of the log-loss of each pixel:
# $$\mathcal{L}_\text{BCE} = -\frac{1}{N} \sum_i \big[\, y_i \log p_i + (1 - y_i) \log (1 - p_i) \,\big]
# = \frac{1}{N} \sum_i -\log p_{t,i}$$
# with $p_{t,i}$ the probability given to the pixel's true class ($p_i$ where $y_i = 1$, $1 - p_i$ where
# $y_i = 0$). The **focal** term of notebook 4 multiplies each pixel's log-loss by $(1 - p_{t,i})^\gamma$,
# $\gamma = 2$, to discount the pixels already right. The **boundary weight** $\beta$ (`boundary_weight`) counts
# the pixels on a thin band $B$ along the true outline, where a 3 x 3 window holds both person and background,
# $1 + \beta$ times, and divides by the total weight so that the term keeps its scale:
# $$\mathcal{L}_\text{focal}^{\beta} = \frac{\sum_i w_i\, (1 - p_{t,i})^{\gamma} \left(-\log p_{t,i}\right)}
# {\sum_i w_i}, \qquad w_i = 1 + \beta\, [\, i \in B \,]$$
# ($\beta = 0$ gives the plain focal loss; the Dice term is unchanged.) The idea: most wrong pixels lie along the
# outline (notebook 6 counts them), a mask drawn at the model's size is scaled up several times to the frame's, and few
# pixels lie on the outline to learn it from. `cae_tutorial.losses.outline_band` finds the band with two
# max-pools (the mask grown by a pixel, minus the mask shrunk by a pixel):

# %%
band = np.asarray(outline_band(train_part.masks[:1]))[0, ..., 0]
shown_band = train_part.images[0] * 0.35
shown_band[band > 0] = (1.0, 0.85, 0.0)
fig, axes = plt.subplots(1, 2, figsize=(6, 5))
for ax, picture, title in zip(axes, (train_part.masks[0, ..., 0], shown_band), ("true mask", "outline band")):
    ax.imshow(picture, cmap="gray")
    ax.set(title=f"{train_part.ids[0]}: {title}", xticks=[], yticks=[])
fig.tight_layout()
plt.show()
weight = cpu.boundary_weight
share = band.mean()
display(Markdown(
    f"The band is {share:.1%} of this frame's pixels at {cpu.height} x {cpu.width}. With "
    f"`boundary_weight={weight:g}` its pixels carry {(1 + weight) * share / ((1 + weight) * share + 1 - share):.0%} "
    "of the focal term's weight (the sum of $w_i$ over the band, over the sum of all $w_i$)."))

# %% [markdown]
# ### The number format
# `dtype="auto"` picks the number format for this machine (`cae_tutorial.hardware`): bfloat16 on CPUs with
# bfloat16 instructions (AVX512-BF16 or AMX), float16 on recent GPUs, float32 elsewhere. bfloat16 keeps float32's
# range with 8 bits of precision instead of 24: half the bytes to move, and arithmetic that can be faster where
# those instructions are used (the ladder below measures whether it is, here). The output layer and the loss stay
# float32.

# %%
machine = describe()
print(f"dtype {cpu.dtype!r} -> {cpu.resolved_dtype} on this machine ({machine['cpu_model']}, "
      f"{'with' if any('bf16' in f for f in machine['cpu_flags']) else 'without'} bfloat16 instructions)")

# %% [markdown]
# ## The ladder, measured
# Each rung trains `TRICK_SEEDS` times, seeds 0, 1, ...: the seed sets the initial weights, the order of the batches,
# the augmentation and the dropout. Runs of the same seed on two neighbouring rungs differ by one trick only, so their
# difference is that trick's effect on that seed: a **paired difference**. The two runs share the seed's luck fully
# only where the trick leaves the random draws as they were: augmentation transforms each batch with draws of its own,
# and coordinate channels change the first layer's shape and so its initial weights, so across those rungs a paired
# difference still carries some of the seed's noise. Every run is scored the same way, by the per-frame mean IoU of
# the held-out frames, at each frame's original size where the record has its mask files (the model predicting at its
# own size, `input_scale=1`, for every rung alike).
#
# The cost is measured in seconds, and seconds are noisy: the first run of a model also traces its training step into
# a graph, the first epoch of every `fit` starts the dataset's iterator, and anything else the machine does lengthens
# whatever epoch it falls in. So besides the seconds the whole `model.fit` took, each run's **steady seconds** are,
# for each frame size, the median of its epochs' seconds times the number of epochs at that size, summed over the
# sizes (progressive resizing's small epochs are cheaper than its full-size ones): the run's work, without the
# tracing, the start-up and short pauses (a slowdown that lasts a whole run stays in). `EpochLogs` keeps each epoch's
# seconds for this. A slow change of the machine over the minutes the ladder takes (its clocks, its caches, other
# work) would move every rung after it, so the seeds take turns: seed 0 climbs the ladder from plain to bfloat16, seed
# 1 climbs down it, seed 2 climbs up again. A drift then pushes even and odd seeds' paired differences opposite ways,
# so it cannot put every seed on one side of zero, the condition for a cost; with 3 seeds, two climb up and one down,
# so their mean can still carry part of it. Short runs at a small size keep the ladder short; what they measure is
# each trick's effect *in such runs*, not in the `cpu` preset's own (240 epochs at 256 x 144).

# %%
def steady_seconds(epoch_seconds, small_epochs):
    """A run's seconds without tracing or pauses: each frame size's median epoch times its number of epochs."""
    phases = [epoch_seconds[:small_epochs], epoch_seconds[small_epochs:]]
    return float(sum(np.median(phase) * len(phase) for phase in phases if phase))


def ladder_model(recipe):
    """A rung's model, compiled once so Keras traces its training step once, with its optimiser's untrained state."""
    model = build_model(recipe, seed=0)
    model.compile(**compile_settings(recipe, steps_per_epoch(split, recipe)))
    model.optimizer.build(model.trainable_variables)
    return model, [variable.numpy() for variable in model.optimizer.variables]


def ladder_run(rung, recipe, seed):
    """One run of a rung's recipe: (held-out IoU, its resolution, fit's seconds, steady seconds).

    The rung's model is reset to build_model(recipe, seed)'s weights and a fresh optimiser state before the run.
    """
    model, before_training = rung
    model.set_weights(build_model(recipe, seed=seed).get_weights())
    for variable, value in zip(model.optimizer.variables, before_training):
        variable.assign(value)  # step 0, Adam's moments at zero: the learning-rate schedule starts again
    logs = EpochLogs()
    model.fit(training_dataset(small_record, split, recipe, seed=seed, model=model), epochs=recipe.epochs,
              steps_per_epoch=steps_per_epoch(split, recipe), shuffle=False, verbose=0, callbacks=[logs])
    table = evaluate(model, small_record, split=split, input_scale=1)
    return table.mean("iou"), table.resolution, logs.seconds, steady_seconds(logs.epoch_seconds, recipe.small_epochs)


def ladder_runs(recipe, seeds):
    """One recipe's runs, a seed after another, on one compiled model: [ladder_run(...) per seed]."""
    rung = ladder_model(recipe)
    return [ladder_run(rung, recipe, seed) for seed in seeds]


seeds = list(range(TRICK_SEEDS))
compiled = {name: ladder_model(recipe) for name, recipe in rungs.items()}
runs = {name: [None] * len(seeds) for name in rungs}
for index, seed in enumerate(seeds):
    # Even seeds climb the ladder, odd ones climb down it. A slow drift of the machine over the minutes the ladder
    # takes (clocks, caches, other work) then moves the paired differences of even and odd seeds opposite ways:
    # it shows as spread, and cannot pass for a trick's cost on every seed.
    for name in (list(rungs) if seed % 2 == 0 else list(rungs)[::-1]):
        runs[name][index] = ladder_run(compiled[name], rungs[name], seed)
iou, fit_seconds, seconds = {}, {}, {}
for name in rungs:
    iou[name], fit_seconds[name], seconds[name] = [[run[i] for run in runs[name]] for i in (0, 2, 3)]
    print(f"{'' if name == 'plain' else '+ '}{name:<22} held-out IoU " + " ".join(f"{v:.3f}" for v in iou[name])
          + "  | model.fit " + " ".join(f"{s:.1f}" for s in fit_seconds[name]) + " s, steady "
          + " ".join(f"{s:.2f}" for s in seconds[name]) + " s")
resolution = runs["plain"][0][1]
print(f"held-out IoU: per-frame mean, scored at {resolution}")
if plain_run is not None:  # notebook 4's run: the plain rung's recipe, trained longer
    same_recipe = plain_run.preset == plain.with_(epochs=plain_run.preset.epochs).resolved()
    if same_recipe and plain_run.config["seed"] in seeds:
        seed_iou = iou["plain"][seeds.index(plain_run.config["seed"])]
        print(f"notebook 4's plain run is this rung's recipe and seed {plain_run.config['seed']}, trained "
              f"{plain_run.preset.epochs} epochs instead of {plain.epochs}: {plain_scores.mean('iou'):.3f} against "
              f"{seed_iou:.3f} here ({plain_scores.mean('iou') - seed_iou:+.3f}); the ladder compares runs of "
              f"{plain.epochs} epochs only")
    else:
        print("notebook 4's plain run is not this rung's recipe and seed: the ladder does not compare with it")

# %%
names = list(rungs)
gains = {above: compare(iou[above], iou[below], f"+ {above}", below) for below, above in zip(names, names[1:])}
costs = {above: compare(seconds[above], seconds[below], f"+ {above}", below, unit="s")
         for below, above in zip(names, names[1:])}
whole = compare(iou[names[-1]], iou["plain"], f"the {cpu.name} recipe", "the plain one")
# In time as in IoU, a trick "costs" or "saves" seconds only when every seed's paired difference says so, and by
# more than the machine's noise there: the wider spread of steady seconds between the seeds of the two rungs it
# joins (runs of one recipe that do the same work). Each trick has its own bar, so one slow run elsewhere on the
# ladder does not hide another trick's cost.
rung_noise = {name: float(np.ptp(rung_seconds)) for name, rung_seconds in seconds.items()}
time_noise = {above: max(rung_noise[below], rung_noise[above]) for below, above in zip(names, names[1:])}


def outcome(verdict):
    """'gain', 'loss' or 'a draw', read from the paired differences' spread."""
    return "a draw" if verdict.is_draw else "gain" if verdict.winner == verdict.name_a else "loss"


rows = ["| trick added | held-out IoU (mean, range over seeds) | IoU gain (mean; paired range) | verdict | "
        "steady s (mean) | extra steady s (mean; paired range) | noise s |", "|---|---|---|---|---|---|---|",
        f"| plain (notebook 4's recipe) | {np.mean(iou['plain']):.3f} ({min(iou['plain']):.3f} to "
        f"{max(iou['plain']):.3f}) | | | {np.mean(seconds['plain']):.2f} | | |"]
for trick in gains:
    gain, cost = gains[trick], costs[trick]
    rows.append(f"| + {trick} | {np.mean(iou[trick]):.3f} ({min(iou[trick]):.3f} to {max(iou[trick]):.3f}) | "
                f"{signed(gain.mean, 3)}; {signed(gain.low, 3)} to {signed(gain.high, 3)} | {outcome(gain)} | "
                f"{np.mean(seconds[trick]):.2f} | {signed(cost.mean, 2)}; {signed(cost.low, 2)} to {signed(cost.high, 2)} | "
                f"{time_noise[trick]:.2f} |")
display(Markdown("\n".join(rows)))

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
positions = np.arange(len(gains))[::-1]
for y, trick in zip(positions, gains):
    # each trick's noise, shaded: time changes this small are not called costs
    right.fill_betweenx([y - 0.4, y + 0.4], -time_noise[trick], time_noise[trick], color="0.9", zorder=0)
    for ax, verdict in ((left, gains[trick]), (right, costs[trick])):
        ax.plot([verdict.low, verdict.high], [y, y], color="0.6", lw=3, solid_capstyle="round")
        ax.plot(verdict.differences, [y] * len(verdict.differences), "o", color="C0", ms=5)
        ax.plot(verdict.mean, y, "|", color="k", ms=14, mew=2)
for ax, title in ((left, "held-out IoU gain over the rung below"), (right, "extra steady seconds")):
    ax.axvline(0, color="k", lw=0.8)
    ax.set(title=title, yticks=positions, yticklabels=[f"+ {trick}" for trick in gains])
    ax.grid(axis="x", alpha=0.3)
left.set_xlabel("IoU: a dot per seed (paired), bar: their range, tick: mean")
right.set_xlabel("seconds, as on the left; shaded: each trick's noise")
fig.suptitle(f"The ladder at {small_cpu.height} x {small_cpu.width}, {small_cpu.epochs} epochs, "
             f"{TRICK_SEEDS} seeds", fontsize=11)
fig.tight_layout()
plt.show()

# %%
by_outcome = {kind: [trick for trick in gains if outcome(gains[trick]) == kind] for kind in ("gain", "a draw", "loss")}
largest = max(gains, key=lambda trick: gains[trick].mean)
clear = {trick: abs(costs[trick].mean) > time_noise[trick] for trick in costs}
slower = [trick for trick in costs if clear[trick] and costs[trick].winner == costs[trick].name_a]
faster = [trick for trick in costs if clear[trick] and costs[trick].winner == costs[trick].name_b]
level = [trick for trick in costs if trick not in slower + faster]
agreeing = [trick for trick in level if not costs[trick].is_draw]  # one side on every seed, yet within the noise


def seconds_text(tricks):
    """'bfloat16 (+0.33 s; +0.10 to +0.51; noise 0.40)': mean extra steady seconds, paired range, noise bar."""
    return ", ".join(f"{t} ({signed(costs[t].mean, 2)} s; {signed(costs[t].low, 2)} to {signed(costs[t].high, 2)}; "
                     f"noise {time_noise[t]:.2f})" for t in tricks)


display(Markdown(
    f"In runs of {small_cpu.epochs} epochs at {small_cpu.height} x {small_cpu.width}, over {TRICK_SEEDS} seeds: "
    + (f"a gain on every seed for {', '.join(by_outcome['gain'])}; " if by_outcome["gain"] else
       "no trick gains on every seed; ")
    + (f"a draw (the paired differences on both sides of zero) for {', '.join(by_outcome['a draw'])}; "
       if by_outcome["a draw"] else "")
    + (f"a loss on every seed for {', '.join(by_outcome['loss'])}. " if by_outcome["loss"] else "no trick loses "
       "on every seed. ")
    + f"The largest mean gain is that of {largest} ({signed(gains[largest].mean, 3)}: {outcome(gains[largest])}). "
    + f"In steady seconds (a run's range from {min(min(v) for v in seconds.values()):.1f} to "
    f"{max(max(v) for v in seconds.values()):.1f} s; model.fit's whole runs took "
    f"{min(min(v) for v in fit_seconds.values()):.1f} to {max(max(v) for v in fit_seconds.values()):.1f} s), paired "
    "the same way: "
    + "; ".join(part for part in (
        f"slower on every seed: {seconds_text(slower)}" if slower else "",
        f"faster on every seed: {seconds_text(faster)}" if faster else "",
        "level in seconds (the seeds on both sides of zero, or a mean change within the trick's noise, the "
        "wider of its two rungs' spreads between their own seeds): "
        f"{seconds_text(level)}" if level else "") if part)
    + (". Of the level ones, " + ", ".join(agreeing) + (" has" if len(agreeing) == 1 else " have")
       + " every seed on one side but a mean change within its noise, what runs doing the same work differ by: "
       "too small to call a cost or a saving" if agreeing else "")
    + f". All six together: {whole}."
    + ("" if whole.winner == whole.name_a else " So in runs this short the recipe as a whole does not beat the plain "
       f"one. Its settings were chosen for its own run, {cpu.epochs} epochs at {cpu.height} x {cpu.width}; the "
       "full-size run below shows what that run reaches, not what each trick adds to it.")
    + (" A draw is not a proof that a trick does nothing: with this many seeds and epochs the runs differ from "
       "seed to seed by more than the trick changes them." if by_outcome["a draw"] else "")
    + f" And a verdict is not a proof either: a trick with no effect at all still puts all {TRICK_SEEDS} seeds on "
    f"one side of zero {2 * 0.5 ** TRICK_SEEDS:.0%} of the time (each seed a coin toss), so among {len(gains)} tricks "
    f"about {len(gains) * 2 * 0.5 ** TRICK_SEEDS:.1f} such verdicts could come by chance alone. More seeds make the "
    "rule stricter; read these as hints to test."))

# %% [markdown]
# ### Progressive resizing at equal cost
# The ladder adds progressive resizing at equal *epochs*: its small epochs are cheaper, so its runs do less work
# than the rung below, and an IoU lost there may be only work not done. The fair question is what the same
# seconds buy: the rung below (every epoch at full size) trained for as many epochs as fit in progressive
# resizing's steady seconds, against coarse-then-fine, seed by seed.

# %%
fine_only, progressive = rungs["coordinate channels"], rungs["progressive resizing"]
if progressive.small_epochs:
    # Medians over the seeds: one run slowed down by the machine does not set the budget.
    work_share = np.median(seconds["progressive resizing"]) / np.median(seconds["coordinate channels"])
    fit_share = np.median(fit_seconds["progressive resizing"]) / np.median(fit_seconds["coordinate channels"])
    equal_cost = fine_only.with_(epochs=max(1, round(fine_only.epochs * work_share)))
    equal_runs = ladder_runs(equal_cost, seeds)
    equal_iou, equal_seconds = [run[0] for run in equal_runs], [run[3] for run in equal_runs]
    full_name = f"full size for {equal_cost.epochs} epochs"
    replaced = equal_cost.epochs - (progressive.epochs - progressive.small_epochs)  # full-size epochs given up
    at_equal_cost = compare(iou["progressive resizing"], equal_iou, "coarse-then-fine", full_name)
    realised = np.median(equal_seconds) / np.median(seconds["progressive resizing"])  # what the budget bought
    print(f"coarse-then-fine ({progressive.small_epochs} epochs at {progressive.small_size[0]} x "
          f"{progressive.small_size[1]}, {progressive.epochs - progressive.small_epochs} at {progressive.height} x "
          f"{progressive.width}): held-out IoU " + " ".join(f"{v:.3f}" for v in iou["progressive resizing"])
          + ", steady " + " ".join(f"{v:.2f}" for v in seconds["progressive resizing"]) + " s")
    print(f"{full_name} at {fine_only.height} x {fine_only.width}: held-out IoU "
          + " ".join(f"{v:.3f}" for v in equal_iou) + ", steady " + " ".join(f"{v:.2f}" for v in equal_seconds) + " s")
    display(Markdown(
        f"Progressive resizing's runs took {work_share:.0%} of the full-size rung's steady seconds (medians over the "
        f"seeds), so the same budget trains {equal_cost.epochs} epochs at full size where the ladder trains "
        f"{fine_only.epochs}. The runs then took {np.median(equal_seconds):.2f} s (median) against "
        f"{np.median(seconds['progressive resizing']):.2f} s for coarse-then-fine: {realised:.0%} of its seconds"
        + (", close to equal. " if abs(realised - 1) <= 0.1 else
           f", not equal: their epochs went {'faster' if realised < 1 else 'slower'} than the full-size rung's in "
           f"the ladder, so they had {abs(1 - realised):.0%} {'fewer' if realised < 1 else 'more'} seconds, and the "
           f"comparison favours {'coarse-then-fine' if realised < 1 else 'full size'} by that much. ")
        + f"At the planned equal cost: {at_equal_cost}. "
        + ((f"So here {progressive.small_epochs} small epochs buy more than the {replaced} full-size epochs they "
            "replace" if replaced > 0 else "So here the small epochs buy more than full-size ones")
           + (", though part of the margin may be the seconds the full-size runs did not get." if realised < 0.9
              else ".")
           if at_equal_cost.winner == "coarse-then-fine" else
           "So here the seconds are better spent at full size." if at_equal_cost.winner == full_name else
           "So at equal cost these runs cannot tell the two apart: what progressive resizing offers here is the "
           "time, not the masks.")
        + f" Steady seconds leave out what a whole fit adds around that work: the tracing, which progressive "
        f"resizing does for two frame sizes, and the starts. Counted in model.fit's whole seconds, its runs took "
        f"{fit_share:.0%} of the full-size rung's, which would buy {max(1, round(fine_only.epochs * fit_share))} "
        "full-size epochs."))
else:
    at_equal_cost = None
    print("the ladder has no small epochs (its size halved does not divide by 8): nothing to compare at equal cost")

# %% [markdown]
# ## The `cpu` preset at full size
# The last rung is the `cpu` preset. Trained once more at its own size and number of epochs, it is the run the
# next notebooks read (`RUN_DIR`): notebook 6 reloads its model, notebook 7 sets it against a per-pixel
# classifier. The same Keras pieces as notebook 4, the held-out frames scored every `SNAPSHOT_EVERY` epochs with
# the snapshots.

# %%
model = build_model(cpu, seed=SEED)
model.compile(**compile_settings(cpu, steps))
model.optimizer.build(model.trainable_variables)  # as in notebook 4: the training step is traced once
heldout_data = validation_dataset(record, split)
logs, snapshots = EpochLogs(), PredictionSnapshots(record, every=SNAPSHOT_EVERY)
model.fit(training_dataset(record, split, cpu, seed=SEED, model=model), epochs=cpu.epochs, steps_per_epoch=steps,
          validation_data=heldout_data, validation_freq=SNAPSHOT_EVERY, shuffle=False, verbose=0,
          callbacks=[ScoreLastEpoch(heldout_data), snapshots, logs, EpochProgress()])
result = TrainingResult.from_fit(model, logs, split, snapshots, preset=cpu.resolved(), record=record, seed=SEED)
result.save(RUN_DIR, overwrite=True)
print(f"trained {result.config['epochs']} epochs in {result.config['train_seconds']:.0f} s (the whole model.fit, "
      f"held-out scores and snapshots every {SNAPSHOT_EVERY} epochs included); saved to {RUN_DIR}")

# %% [markdown]
# With progressive resizing the training frames change size at the switch, and the held-out frames are always
# scored at full size: before the switch the two curves measure the model at different scales, so only the
# epochs after it compare like with like.

# %%
fig = loss_curves(result)  # the run, not only its history: the curves name the loss it trained on
loss, heldout_loss = np.array(result.history["loss"]), np.array(result.history["val_loss"])
switch = cpu.small_epochs
heldout_iou = np.array(result.history["val_iou"])
after = [int(e) for e in scored_epochs(heldout_loss)[0] if e > switch]  # scored epochs at full size, from 1
train_scores, heldout_scores = result.evaluate(record, split.train_ids), result.evaluate(record)
gap = train_scores.mean("iou") - heldout_scores.mean("iou")
display(Markdown(
    (f"The training frames are {cpu.small_size[0]} x {cpu.small_size[1]} until epoch {switch}, then "
     f"{cpu.height} x {cpu.width}: the training loss goes from {loss[switch - 1]:.3f} (epoch {switch}) to "
     f"{loss[switch]:.3f} (epoch {switch + 1}) as the model meets full-size frames. " if switch else "")
    + (f"Over its scored epochs at full size, read by the course's one rule (notebook 4), "
       + describe_overfitting(after, loss[np.asarray(after) - 1], heldout_loss[np.asarray(after) - 1],
                              heldout_ious=heldout_iou[np.asarray(after) - 1])  # pooled, at the model's size
       + ". " if after else "")
    + f"Scored the same way, at {heldout_scores.resolution}, the per-frame mean IoU is {train_scores.mean('iou'):.3f} on "
    f"the training frames and {heldout_scores.mean('iou'):.3f} on the held-out ones: "
    + (f"a generalisation gap of {gap:.3f}." if gap > 0 else f"no gap ({gap:+.3f}).")
    + (f" Notebook 4's plain run scored {plain_scores.mean('iou'):.3f} on the held-out frames, at "
       f"{plain_run.config['size'][0]} x {plain_run.config['size'][1]} for {plain_run.config['epochs']} epochs"
       + (": the same size and number of epochs as this run, one seed each." if
          plain_run.config["size"] == list(cpu.size) and plain_run.config["epochs"] == cpu.epochs else
          ", not this run's size and number of epochs: the ladder above, not this pair, is the like-for-like "
          "comparison.")
       if plain_run is not None else "")))

# %%
results = {"epochs": result.config["epochs"], "train_seconds": result.config["train_seconds"],
           # The course's table: the per-frame mean at the model's size, as notebook 6 reports it.
           "heldout_iou": result.evaluate(record, resolution="model").mean("iou"),
           "heldout_pooled_iou": result.final("val_iou"), "snapshots": int(len(result.snapshots.epochs)),
           "train_frames_iou": train_scores.mean("iou"), "heldout_frames_iou": heldout_scores.mean("iou"),
           "ladder": {"size": list(small_cpu.size), "epochs": small_cpu.epochs, "seeds": seeds,
                      "resolution": resolution, "iou": iou, "fit_seconds": fit_seconds, "seconds": seconds,
                      "rung_noise": rung_noise, "time_noise": time_noise,
                      "equal_cost": None if at_equal_cost is None else {
                          "work_share": work_share, "realised_share": realised, "epochs": equal_cost.epochs,
                          "iou": equal_iou, "seconds": equal_seconds,
                          "differences": list(at_equal_cost.differences)},
                      "gains": {trick: {"mean": v.mean, "low": v.low, "high": v.high, "outcome": outcome(v)}
                                for trick, v in gains.items()},
                      "costs": {trick: {"mean": v.mean, "low": v.low, "high": v.high} for trick, v in costs.items()}}}
write_json(Path(OUTPUT_DIR, "05_the_cpu_recipe.json"), results)  # whole or not at all
{key: value for key, value in results.items() if key != "ladder"}

# %%
def listed(tricks):
    """'a, b and c', or 'none'."""
    return "none" if not tricks else tricks[0] if len(tricks) == 1 else ", ".join(tricks[:-1]) + " and " + tricks[-1]


display(Markdown(  # this run's findings, computed from the numbers above
    "**What this run found**\n\n"
    f"- In this run, over {TRICK_SEEDS} seeds of {small_cpu.epochs} epochs at {small_cpu.height} x "
    f"{small_cpu.width}, held-out IoU: gains on every seed, {listed(by_outcome['gain'])}; losses on every seed, "
    f"{listed(by_outcome['loss'])}; draws, {listed(by_outcome['a draw'])}. Faster on every seed, by "
    "more than its noise (the wider spread of its two rungs' seeds): "
    f"{listed(faster)}; slower: {listed(slower)}.\n"
    + (f"- At the planned equal cost ({realised:.0%} of coarse-then-fine's seconds in the event), {at_equal_cost}.\n"
       if at_equal_cost is not None else "")
    + f"- The `{cpu.name}` preset at full size: held-out IoU {heldout_scores.mean('iou'):.3f} at "
    f"{heldout_scores.resolution} (per-frame mean) after {result.config['epochs']} epochs in "
    f"{result.config['train_seconds']:.0f} s; one seed, so a number to compare with, not a ranking."))


# %% [markdown]
# ## Summary
# - The `cpu` preset is notebook 4's plain recipe plus six tricks, each one or two preset fields
#   (`preset.with_(...)`): augmentation, the cosine schedule
#   $\eta_0 [\alpha + (1 - \alpha) \frac{1}{2}(1 + \cos \frac{\pi t}{T})]$, coordinate channels, progressive
#   resizing, the boundary weight $w_i = 1 + \beta [i \in B]$ on the focal term, and bfloat16 numbers.
# - A trick is measured by adding it to the rungs below it (each rung keeps the tricks before it), over several
#   seeds, as paired differences: it wins when every seed
#   agrees, and is a draw when the spread covers zero (`cae_tutorial.verdicts.compare`). Its cost is measured the
#   same way in steady seconds (for each frame size, the median epoch's seconds times its epochs, summed: no
#   tracing, no pauses), with one more condition: a mean change larger than the trick's noise, the wider spread
#   between the seeds of the two rungs it joins.
# - Progressive resizing is also compared at equal cost, against full size only for the steady seconds it took
#   (planned from the ladder's medians; the seconds the runs then took are printed beside the verdict).
# - What a trick brings depends on the run: short runs at a small size, as here, are not the preset's 240 epochs;
#   the full-size run is measured once, at the end, and saved for notebooks 6 and 7.
#
# ## Exercises
# 1. Train the seed project's recipe, the `seed` preset, as one more rung of the ladder (its size and seeds:
#    `ladder_runs`), and compare it with the last rung, the `cpu` preset, at equal optimizer steps: the seed preset
#    takes one step per epoch, the `cpu` preset `steps_per_epoch(split, small_cpu)`, so give the seed preset as
#    many more epochs. Which has the higher held-out IoU, and is it a win on every seed? Check:
#    `exercises.ex05_1(name, scores)`, with `scores` a dict name -> the held-out IoU of each seed.
# 2. Which trick has the largest mean gain in held-out IoU in the ladder, and is it a win on every seed or a
#    draw? Check: `exercises.ex05_2(trick, gains)`.
# 3. Compute, with the equation of the cosine schedule, the learning rate of the final run at the step where its
#    frames switch to full size (epoch `cpu.small_epochs`; steps from 0). Check:
#    `exercises.ex05_3(rate, cpu, steps, step)`, then compare with the optimiser's own.
#
# Each check answers `right` or `not yet` with a hint, never the answer. The worked solutions follow, collapsed:
# open one after trying. Solution 1 trains `TRICK_SEEDS` short runs of the `seed` preset.

# %% [markdown]
# #### Solution 1

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
# Equal optimizer steps, so that neither recipe wins by training longer: the seed preset takes one batch of its
# three frames per epoch, the cpu preset steps_per_epoch of them, so the seed preset gets as many more epochs.
seed_base = get_preset("seed", height=small_cpu.height, width=small_cpu.width)
cpu_steps = small_cpu.epochs * steps_per_epoch(split, small_cpu)  # the last rung's steps per run
seed_recipe = seed_base.with_(epochs=-(-cpu_steps // steps_per_epoch(split, seed_base)))  # rounded up to an epoch
seed_steps = seed_recipe.epochs * steps_per_epoch(split, seed_recipe)
print(f"optimizer steps per run: seed preset {seed_recipe.epochs} epochs x {steps_per_epoch(split, seed_recipe)} = "
      f"{seed_steps}, {cpu.name} preset {small_cpu.epochs} epochs x {steps_per_epoch(split, small_cpu)} = {cpu_steps}")
scores = {"seed preset": [run[0] for run in ladder_runs(seed_recipe, seeds)], f"{cpu.name} preset": iou["bfloat16"]}
verdict = compare(scores[f"{cpu.name} preset"], scores["seed preset"], f"the {cpu.name} preset", "the seed preset")
better = max(scores, key=lambda name: np.mean(scores[name]))
print("self-check:", exercises.ex05_1(better, scores))
display(Markdown(
    f"Compared at equal optimizer steps, so that neither wins by training longer: the seed preset for "
    f"{seed_recipe.epochs} epochs of {steps_per_epoch(split, seed_recipe)} ({seed_steps} steps) and the "
    f"{cpu.name} preset (the ladder's last rung) for {small_cpu.epochs} epochs of {steps_per_epoch(split, small_cpu)} "
    f"({cpu_steps} steps), both at {small_cpu.height} x {small_cpu.width}, seeds {seeds}. The held-out IoU "
    f"(per-frame mean, at {resolution}) is "
    + " and ".join(f"{', '.join(f'{v:.3f}' for v in scores[name])} for the {name}" for name in scores)
    + f": the **{better}** is higher on average ({np.mean(scores[better]):.3f} against "
    f"{min(np.mean(v) for v in scores.values()):.3f}). "
    + (f"Paired by seed, the difference's spread covers zero: **a draw** ({verdict.spread_text()}), so these runs "
       "do not rank the two recipes." if verdict.is_draw else
       f"Paired by seed, {verdict}: a win on every seed.")))

# %% [markdown]
# #### Solution 2

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
best_trick = max(gains, key=lambda trick: gains[trick].mean)
print("self-check:", exercises.ex05_2(best_trick, gains))
display(Markdown(
    f"**{best_trick}** has the largest mean gain, {gains[best_trick].mean:+.3f} IoU, with paired differences from "
    f"{gains[best_trick].low:+.3f} to {gains[best_trick].high:+.3f} over {TRICK_SEEDS} seeds: "
    + ("a win on every seed." if outcome(gains[best_trick]) == "gain" else
       "a draw: the spread covers zero, so the largest mean is not yet a reliable ranking." if
       outcome(gains[best_trick]) == "a draw" else "a loss on every seed: every trick lost here.")))

# %% [markdown]
# #### Solution 3

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
step = steps * cpu.small_epochs  # the first step at full size
total = steps * cpu.epochs
by_hand = cpu.learning_rate * (0.05 + (1 - 0.05) * 0.5 * (1 + np.cos(np.pi * step / total)))
if cpu.schedule != "cosine":
    by_hand = cpu.learning_rate
print("self-check:", exercises.ex05_3(by_hand, cpu, steps, step))
schedule = make_optimizer(cpu, steps, cpu.epochs)
schedule.iterations.assign(step)
display(Markdown(
    f"At step {step} of {total} (epoch {cpu.small_epochs} of {cpu.epochs}: {step / total:.0%} of the run) the "
    f"equation gives {by_hand:.3e}, {by_hand / cpu.learning_rate:.0%} of the first rate; Keras' optimiser says "
    f"{float(schedule.learning_rate):.3e}."
    + (" So the epochs at full size start with a rate well below the first: the small-size epochs take the big "
       "steps, the full-size ones the small steps." if step and by_hand < 0.5 * cpu.learning_rate else "")))
