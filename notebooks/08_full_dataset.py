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
# # 8. The full dataset: streaming, dancers never seen, several GPUs
#
# **What you will learn**
# - why loading every frame into memory stops working on the full Kaggle dataset, and how a `tf.data` pipeline
#   reads, decodes and resizes frames from their files as training goes;
# - the honest question of segmentation on many videos: does the model work on a **dancer it has never seen**?
#   A split by record (one record = one dancer's video) answers it; a split by frame does not;
# - how to train on one GPU or several (`MirroredStrategy`), and how to resume a long run after an interruption.
#
# This notebook runs on generated dancers (several records, each with its own dancer, room and colours), so it
# needs no download; set `DATA` to the unzipped Kaggle dataset's folder (or `"kaggle"`) to run it on the real thing.

# %% tags=["parameters"]
PRESET = "cpu"
DATA = None  # None: generate dancers; "kaggle" (downloaded once) or a folder: the Kaggle dataset, several records
N_RECORDS = 48  # generated dancers (one record each); Solution 1 measures what half as many give
FRAMES_PER_RECORD = 2  # the last frame of each training dancer is held out ("seen dancers' held-out frames")
GENERATED_HEIGHT = 256  # size the generated frames are drawn at (16:9, the Kaggle frames' shape)
GENERATED_WIDTH = 144
IMAGE_HEIGHT = 128  # training size: the frames' 16:9 shape
IMAGE_WIDTH = 72
EPOCHS = 200
BATCH_SIZE = 8  # frames per batch (the cpu preset's 3 suits its 3 training frames; here dozens train)
HOLDOUT = 0.34  # share of dancers held out
SEEDS = 3  # runs, each with its own held-out dancers, weights and data order: the spread of the gap
SOLUTION_EPOCHS = 20  # epochs of Solution 2's two short runs (at most EPOCHS)
SEED = 0  # the first run's seed; the others are SEED + 1, SEED + 2, ...
OUTPUT_DIR = "outputs"

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial import exercises
from cae_tutorial.data import Split
from cae_tutorial.datasets import resolve_data
from cae_tutorial.distribute import choose_strategy, global_batch_size
from cae_tutorial.folders import write_json
from cae_tutorial.pipeline import (
    decoded_dataset,
    list_record_files,
    record_of,
    split_by_records,
    split_records,
    streaming_dataset,
)
from cae_tutorial.presets import get_preset
from cae_tutorial.synthetic import write_dataset
from cae_tutorial.training import TrainOptions, build_model, train
from cae_tutorial.verdicts import compare

Path(OUTPUT_DIR).mkdir(exist_ok=True)
# Every epoch at one size: frames streamed from files train at full size only (no progressive start).
preset = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS, batch_size=BATCH_SIZE,
                    progressive_scale=1, progressive_fraction=0.0)

# %% [markdown]
# ## Why not load everything?
# Notebooks 1 to 7 load every frame as float32 before training: 4 bytes per channel per pixel. That is nothing
# for 10 frames; for the full dataset it grows with the frame size, to a wall at the seed project's 1024 x 512:

# %%
KAGGLE_FRAMES = 2615  # the count the Kaggle download's folder name gives (..._tik_tok_2615_img)
for height, width in ((128, 72), (256, 144), (1024, 512)):  # this notebook's size, the cpu preset's, the seed's
    gib = KAGGLE_FRAMES * height * width * (3 + 1) * 4 / 1024**3
    print(f"{KAGGLE_FRAMES} frames at {height} x {width}: {gib:6.2f} GiB as float32 frames + masks")

# %% [markdown]
# ## Listing the files once
# `list_record_files` pairs `images/` and `masks/` by name, as `load_record` does, and decodes **no frame**: it
# checks each frame from its file's header (readable, its size as shown) and reads the masks, small files, for what
# `load_record` would say of them (their notes, a mask of another size than its frame, a mask with no person). A
# `RecordFiles` is a list of ids and paths, with those notes. Every record prefix (the part before `_`) is one
# dancer's video.

# %%
# DATA as in the other notebooks (resolve_data: a name or a folder), except None, which here generates dancers.
data_dir = resolve_data(DATA) if DATA is not None else None
if data_dir is not None and len(list_record_files(data_dir, size=preset.size).records) < 2:
    print(f"{data_dir} holds a single record: a split by dancer needs several, so this run uses generated dancers")
    data_dir = None
if data_dir is None:
    data_dir = write_dataset(Path(OUTPUT_DIR) / "dancers", n_records=N_RECORDS, frames_per_record=FRAMES_PER_RECORD,
                             size=(GENERATED_HEIGHT, GENERATED_WIDTH), seed=SEED)
files = list_record_files(data_dir, size=preset.size)
print(files)
print("records:", files.records)
print("first frames:", files.ids[:3])

# %% [markdown]
# ## The streaming pipeline
# `streaming_dataset(files, preset)` is a `tf.data` pipeline: each pair of files is read by the package's one
# reader (`cae_tutorial.reading`, the one `load_record` uses, called through `tf.numpy_function`) on several cores
# at once (`num_parallel_calls`), then **the same augmentation** as the in-memory path (`augment_pair`), batching
# and prefetching, so the next batch is ready while the model trains on this one. Decoded frames are cached in
# memory (as uint8, a quarter of float32) only when they fit a budget, else not at all or in a cache file you name.
#
# Does it read the same pixels as `load_record`? Compare one frame both ways:

# %%
streamed_image, streamed_mask = next(iter(decoded_dataset(files.subset(files.ids[:1]), cache=None)))
loaded = files.load(files.ids[:1])  # exactly load_record's reading
pixel_difference = float(np.abs(streamed_image.numpy() - loaded.images[0]).max() * 255)
mask_difference = float(np.mean(streamed_mask.numpy() != loaded.masks[0]))
print(f"largest difference: {pixel_difference:.1f} grey level(s); masks differ on {mask_difference:.4%} of pixels")

# %%
images, masks = next(iter(streaming_dataset(files, preset, seed=SEED)))
fig, axes = plt.subplots(2, len(images), figsize=(1.6 * len(images), 5))
for i in range(len(images)):
    axes[0, i].imshow(images[i])
    axes[1, i].imshow(masks[i, ..., 0], cmap="gray")
for ax in axes.flat:
    ax.axis("off")
fig.suptitle("one augmented training batch, read from files")
plt.show()

# %% [markdown]
# ## Split by dancer
# Frames of one video are near-copies of each other: the same dancer, clothes, room and light. Hold out frames
# of a video the model trained on, and the test can reward recognising this dancer again (whether it does here is
# measured below). Hold out
# **whole records**, and it asks what we care about: "can you find a person you have never seen?".
#
# `split_by_records(files, holdout, seed)` holds out whole records, seeded. To see the difference, we also keep
# the last frame of every training dancer out of training: the *seen dancers' held-out frames*, what a split by
# frame would score. One model then answers both questions, on the same training frames.

# %%
def dancer_split(listing, seed):
    """Hold out whole dancers (seeded) and the last frame of every training dancer: (split, unseen, seen)."""
    by_dancer = split_by_records(listing, holdout=HOLDOUT, seed=seed)
    frames_of = {}
    for frame_id in by_dancer.train_ids:
        frames_of.setdefault(record_of(frame_id), []).append(frame_id)
    seen = tuple(ids[-1] for ids in frames_of.values() if len(ids) > 1)  # a dancer's only frame stays in training
    both = Split(tuple(i for i in by_dancer.train_ids if i not in seen), by_dancer.heldout_ids + seen)
    return both, by_dancer.heldout_ids, seen


by_dancer = split_by_records(files, holdout=HOLDOUT, seed=SEED)
split, unseen_heldout, seen_heldout = dancer_split(files, SEED)
records = split_records(by_dancer)
# A batch holds at most the training frames (a small run of few dancers); every seed trains as many frames.
preset = preset.with_(batch_size=min(preset.batch_size, len(split.train_ids)))
print(f"training dancers {records['train']}: {len(split.train_ids)} frames")
print(f"held-out dancers {records['heldout']}: {len(unseen_heldout)} frames")
print(f"held-out frames of training dancers: {len(seen_heldout)} frames")

# %% [markdown]
# ## Training from files
# `train` takes the `RecordFiles` where earlier notebooks passed a `Record`: the training frames stream from
# disk, the held-out ones are scored at the end, and only the few frames shown in the snapshots sit in memory.
# `choose_strategy()` picks the devices: here one CPU (TensorFlow's default strategy); on a machine with several
# GPUs, a `MirroredStrategy` over all of them. The recipe is the `cpu` preset at one size, with batches of
# `BATCH_SIZE` frames: with dozens of training frames, a larger batch shows the model more dancers per step.

# %%
print(preset)
strategy = choose_strategy("all")
with strategy.scope():
    model = build_model(preset, SEED)
load = os.getloadavg()[0]  # seconds measured on a busy machine are not the machine's speed: say how busy it was
result = train(model, files, split, preset, seed=SEED,
               options=TrainOptions(strategy=strategy, snapshot_epochs=(), validate_every=preset.epochs))
print(f"{strategy.num_replicas_in_sync} device(s), global batch {global_batch_size(preset, strategy)}, "
      f"{result.config['train_seconds']:.0f} s of training (load average {load:.1f} on {os.cpu_count()} cores "
      "when it started)")

# %% [markdown]
# ## What changes in the numbers
# Each part scored the same way (`result.evaluate`, at the frames' own size), the training frames too. The
# training frames' score minus the unseen dancers' is the **generalisation gap**: how much better the model does on
# the dancers it learnt than on people it has never seen. A gap alone is not overfitting, which is the held-out loss
# rising while the training loss keeps falling (notebook 4); these runs score the held-out frames once, after the
# last epoch, so they measure the gap and cannot show overfitting.

# %%
def scores_of(run, parts):
    """Per-frame mean IoU of a run on each named part (frame ids)."""
    return {name: run.evaluate(files.load(ids), ids).mean("iou") for name, ids in parts.items()}


parts = {"training frames": split.train_ids, "held-out frames of training dancers": seen_heldout,
         "held-out dancers": unseen_heldout}
scores = scores_of(result, parts)
for name, ids in parts.items():
    print(f"{name:<38} IoU {scores[name]:.3f}  ({len(ids)} frames)")

# %%
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.bar(range(len(scores)), list(scores.values()), color=["C2", "C0", "C1"])
ax.set_xticks(range(len(scores)), ["training\nframes", "seen dancers'\nheld-out frames", "unseen\ndancers"])
ax.set(ylabel="IoU", ylim=(0, 1), title="Same model, three questions")
plt.show()

# %% [markdown]
# ## The gap, over several seeds
# One run is one draw of the held-out dancers, of the weights and of the batches. Each further seed draws them
# again and trains once more; each run gives one **paired** difference, its seen dancers' held-out frames minus
# its unseen dancers (the same model, the same training frames). `compare` (`cae_tutorial.verdicts`) reads them:
# a gap only when every seed agrees, else a draw.

# %%
seen_scores = [scores["held-out frames of training dancers"]]  # the first run is seed SEED's
unseen_scores, train_scores = [scores["held-out dancers"]], [scores["training frames"]]
run_seconds = [result.config["train_seconds"]]
for seed in range(SEED + 1, SEED + SEEDS):
    seed_split, unseen_ids, seen_ids = dancer_split(files, seed)
    run = train(build_model(preset, seed), files, seed_split, preset, seed=seed, progress=False,
                options=TrainOptions(snapshot_epochs=(), validate_every=preset.epochs))
    got = scores_of(run, {"seen": seen_ids, "unseen": unseen_ids, "train": seed_split.train_ids})
    seen_scores.append(got["seen"]), unseen_scores.append(got["unseen"]), train_scores.append(got["train"])
    run_seconds.append(run.config["train_seconds"])
for seed, seen_iou, unseen_iou, seconds in zip(range(SEED, SEED + SEEDS), seen_scores, unseen_scores, run_seconds):
    print(f"seed {seed}: seen dancers' held-out frames {seen_iou:.3f}, unseen dancers {unseen_iou:.3f}, "
          f"difference {seen_iou - unseen_iou:+.3f} ({seconds:.0f} s)")
gap = compare(seen_scores, unseen_scores, "held-out frames of seen dancers", "unseen dancers", over="seeds")
print(gap)

# %% [markdown]
# **Reading the results.** The held-out frames of dancers the model trained on are near-copies of its training
# frames, so their score *can* reward remembering a dancer, a room and a palette; the score on unseen dancers is
# the one to report for "segments people". Whether a split by frame flatters the model on this data is what the
# paired runs above measure. These runs:

# %%
seen, unseen = scores["held-out frames of training dancers"], scores["held-out dancers"]
generalisation = compare(train_scores, unseen_scores, "training frames", "unseen dancers", over="seeds")
# Every seed on one side is the rule for a verdict; with few seeds, a difference with nothing behind it still
# lands all on one side 2 x (1/2)^seeds of the time (25 % with 3 seeds): said beside the verdict.
by_chance = f"a difference with no effect behind it would fall on one side on every seed {2 * 0.5 ** SEEDS:.0%} of the time"
if gap.winner == gap.name_a:
    reading = (f"on every seed the held-out frames of seen dancers score higher, by {gap.mean:.3f} on average "
               f"({gap.spread_text()}): a split by frame would have flattered the model, on these {SEEDS} seeds "
               f"({by_chance}: a hint more than a proof)")
elif gap.winner == gap.name_b:
    reading = (f"on every seed the unseen dancers score higher, by {-gap.mean:.3f} on average "
               f"({gap.spread_text(-1)}): here a split by frame would have undersold the model, on these {SEEDS} "
               f"seeds ({by_chance}: a hint more than a proof)")
else:
    reading = (f"the two held-out sets are **a draw**: the difference is {gap.mean:+.3f} on average, but its spread covers "
               f"zero ({gap.spread_text()}), so these runs cannot say that a split by frame flatters the model")
display(Markdown(
    f"The first run (seed {SEED}) scores IoU {unseen:.3f} on dancers it never saw, {seen:.3f} on the held-out "
    f"frames of its training dancers and {scores['training frames']:.3f} on its training frames, after "
    f"{run_seconds[0]:.0f} s of training (load {load:.1f}). Over {SEEDS} seeds the unseen dancers score "
    f"{np.mean(unseen_scores):.3f} on average ({min(unseen_scores):.3f} to {max(unseen_scores):.3f}) and "
    f"the training frames {np.mean(train_scores):.3f}: "
    + (f"a generalisation gap of {generalisation.mean:.3f} IoU on average ({generalisation.spread_text()})"
       if generalisation.winner == generalisation.name_a else
       f"no generalisation gap that every seed agrees on ({generalisation})" if generalisation.is_draw else
       f"the unseen dancers score higher than the training frames on every seed ({generalisation})")
    + f". Seen against unseen dancers, {reading}."))

# %% [markdown]
# ## On a GPU, or several
# The same commands run on a GPU machine; TensorFlow uses the GPU it sees without any change. From the shell,
# on the unzipped Kaggle dataset:
#
# ```bash
# cae-tutorial train --data path/to/segmentation-full-body-tiktok-dancing --stream \
#     --split records --holdout 0.2 --height 256 --width 128 --output runs/full
# cae-tutorial train ... --devices 2          # two of the visible GPUs; the default is all of them
# cae-tutorial train --resume runs/full       # after an interruption: continue from the last finished epoch
# ```
#
# - **Several GPUs** (one machine): `--devices all` trains with `tf.distribute.MirroredStrategy`: each step splits
#   the global batch (the preset's batch x GPUs) across the GPUs and averages their gradients. The loss is a
#   mean over the batch, so a larger batch gives a less noisy gradient, not a larger one, and neither Adam's step
#   nor SGD's grows with it; what changes is how far an epoch goes: a preset with a fixed `steps_per_epoch` (the
#   `cpu` preset's 4) keeps its steps, each of N times the frames, and one without it takes N times fewer steps
#   to see every frame. The linear scaling rule (learning rate x N, with a warm-up; Goyal et al., 2017, "Accurate,
#   Large Minibatch SGD") makes up, with plain SGD, for taking N times fewer steps per pass over the frames; for
#   Adam there is no rule as well established. We keep the preset's per-step learning rate, so a run on N GPUs trains like a one-device run
#   of the same global batch (`cae_tutorial.distribute`; `strategy_preset(..., scale_learning_rate=True)` scales
#   it linearly anyway).
# - **Several machines** (`MultiWorkerMirroredStrategy`): not supported; `choose_strategy` picks devices of one
#   machine only.
# - **Resuming**: every epoch, `TrainOptions(backup_dir=...)` writes one whole backup (`cae_tutorial.resume.RunBackup`:
#   weights, optimiser state, random states, epoch logs and snapshots of the same epoch), so a resumed run
#   continues from the last finished epoch as the uninterrupted run would have; on a CPU it is meant to give the
#   same weights and history exactly. Try it: stop `cae-tutorial train --output runs/a` with Ctrl-C, resume it with
#   `--resume runs/a`, train `runs/b` without a stop, and compare the two `history.json` files.

# %%
results = {"records": len(files.records), "frames": len(files), "train_records": records["train"],
           "heldout_records": records["heldout"], "train_frames": len(split.train_ids),
           "seen_heldout_frames": len(seen_heldout), "unseen_heldout_frames": len(unseen_heldout),
           "train_frames_iou": scores["training frames"], "seen_heldout_iou": seen, "unseen_heldout_iou": unseen,
           "heldout_iou": unseen, "epochs": len(result.history["loss"]), "batch_size": preset.batch_size,
           "size": list(preset.size), "replicas": strategy.num_replicas_in_sync,
           "train_seconds": run_seconds[0], "load_average": load, "cpus": os.cpu_count(),
           "seeds": list(range(SEED, SEED + SEEDS)), "seen_heldout_iou_by_seed": seen_scores,
           "unseen_heldout_iou_by_seed": unseen_scores, "train_frames_iou_by_seed": train_scores,
           "train_seconds_by_seed": run_seconds, "gap_differences": list(gap.differences), "gap_mean": gap.mean,
           "gap_verdict": "draw" if gap.is_draw else gap.winner,
           "generalisation_gap_differences": list(generalisation.differences),
           "pixel_difference": pixel_difference, "mask_difference": mask_difference}
write_json(Path(OUTPUT_DIR, "08_full_dataset.json"), results)  # whole or not at all
{k: round(v, 3) if isinstance(v, float) else v for k, v in results.items() if not k.endswith("_records")}

# %% [markdown]
# ## Summary
# - On the full dataset, stream frames from their files (`list_record_files` + `streaming_dataset`, or
#   `train(model, files, ...)`): memory holds the batches being prepared, and the decoded frames only when they
#   fit the cache's budget (`cache="auto"`, the default).
# - Split by record to measure what matters: a dancer the model has never seen. Whether held-out frames of seen
#   dancers flatter the model is a measurement, not a given: pair the two scores over several seeds
#   (`cae_tutorial.verdicts.compare`) and call it a draw when the spread covers zero.
# - Whether more dancers help on people the model has never seen is a measurement too: Solution 1 trains on half
#   as many dancers (one seed, as long as the notebook's run: a hint, not a verdict).
# - One GPU needs nothing; several on one machine use `MirroredStrategy` (`--devices`); long runs back up every
#   epoch and resume with `--resume`.
#
# ## Exercises
# 1. Train on half of the training dancers (all their frames), scored on the same unseen dancers, and compare
#    with all of them, trained as long. How does the unseen-dancer IoU move with the number of dancers?
# 2. Which split would you publish, by frame or by dancer? Try both: split the same data by frame (a random half of
#    every record's frames in training, the rest held out) and train it as long as a split by dancer (the solution:
#    `SOLUTION_EPOCHS` epochs each). Can two such runs rank the splits, and which measurement in this notebook does?
#    Check: `exercises.ex08_2("by frame" or "by dancer")`.
# 3. Time `train` with `cache="memory"` and with `cache=None` (`TrainOptions(cache=...)`), for enough epochs that
#    the training frames are read more than once; compare a steady epoch's seconds (`EpochLogs`, notebook 5), not
#    the first, which traces the model and fills the cache. How much memory does the cache take? Check:
#    `exercises.ex08_3(cache_bytes, files.subset(split.train_ids))`. When is it worth its memory?
#
# Checks answer `right` or `not yet` with a hint, never the answer; exercise 1 is a measurement of your own runs.
# The worked solutions follow, collapsed: open one after trying. Solution 1 trains one run as long as the
# notebook's (`EPOCHS`); Solutions 2 and 3 train short runs (`SOLUTION_EPOCHS` epochs, and a few epochs).

# %% [markdown]
# #### Solution 1

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
dancers = records["train"]
half = set(dancers[: max(1, len(dancers) // 2)])
halved = Split(tuple(i for i in by_dancer.train_ids if record_of(i) in half), by_dancer.heldout_ids)
# The notebook's seed-SEED run trained on every training dancer: train the same recipe, seed and epochs on half.
half_run = train(build_model(preset, SEED), files, halved, preset, seed=SEED, progress=False,
                 options=TrainOptions(snapshot_epochs=(), validate_every=preset.epochs))
unseen = {len(dancers): scores["held-out dancers"], len(half): scores_of(half_run, {"u": unseen_heldout})["u"]}
frames_trained = {len(dancers): len(split.train_ids), len(half): len(halved.train_ids)}
for n_dancers, iou in unseen.items():
    print(f"{n_dancers} training dancers ({frames_trained[n_dancers]} frames): unseen-dancer IoU {iou:.3f} "
          f"after {preset.epochs} epochs")
change = unseen[len(dancers)] - unseen[len(half)]
display(Markdown(
    f"Trained {preset.epochs} epochs each, seed {SEED}, scored on the same {len(unseen_heldout)} unseen dancers: "
    f"{len(dancers)} training dancers score {unseen[len(dancers)]:.3f} and {len(half)} score "
    f"{unseen[len(half)]:.3f} ({change:+.3f} for all of them): "
    + (f"within the {np.ptp(unseen_scores):.3f} by which the seeds' unseen-dancer scores differ above, so no change "
       "that one run can show." if abs(change) <= np.ptp(unseen_scores) else
       "more dancers help the model find people it has never seen, by more than the seeds differ above."
       if change > 0 else "half the dancers do better here, by more than the seeds differ above.")
    + f" Both runs take as many steps of {preset.batch_size} frames"
    + (f" from as many frames ({frames_trained[len(half)]}: one frame of each of {len(dancers)} dancers, or every "
       f"frame of {len(half)})" if frames_trained[len(half)] == frames_trained[len(dancers)] else "")
    + ", so the dancers are the one thing changed. One seed: a hint, not a verdict; the gap between "
    "seeds above shows how far one run can move."))

# %% [markdown]
# #### Solution 2

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
rng = np.random.default_rng(SEED)
by_frame_train = []
for record_name in files.records:
    ids = [i for i in files.ids if record_of(i) == record_name]
    by_frame_train += list(rng.choice(ids, size=max(1, len(ids) // 2), replace=False))
by_frame = Split(tuple(sorted(by_frame_train)), tuple(i for i in files.ids if i not in by_frame_train))
solution_epochs = min(EPOCHS, SOLUTION_EPOCHS)
short = preset.with_(epochs=solution_epochs)
quiet = TrainOptions(snapshot_epochs=(), validate_every=solution_epochs)  # held-out scores at the end only
frame_run = train(build_model(short, SEED), files, by_frame, short, seed=SEED, progress=False, options=quiet)
by_frame_iou = frame_run.evaluate(files.load(by_frame.heldout_ids)).mean("iou")
print(f"split by frame:  held-out IoU {by_frame_iou:.3f} after {solution_epochs} epochs")
dancer_run = train(build_model(short, SEED), files, by_dancer, short, seed=SEED, progress=False, options=quiet)
by_dancer_iou = dancer_run.evaluate(files.load(by_dancer.heldout_ids)).mean("iou")
print(f"split by dancer: held-out IoU {by_dancer_iou:.3f} after {solution_epochs} epochs")
publish = "by dancer"  # chosen by the claim, not by the two numbers above: the model segments people it never saw
print("self-check:", exercises.ex08_2(publish))
display(Markdown(
    f"Trained as long, the split by frame scores {by_frame_iou:.3f} on its held-out frames and the split by dancer "
    f"{by_dancer_iou:.3f} on its held-out dancers ({by_frame_iou - by_dancer_iou:+.3f} for the split by "
    f"frame). These two numbers rank nothing: one seed each, runs of {solution_epochs} epochs far too short to "
    f"learn any dancer (the notebook's {EPOCHS}-epoch run scores {unseen_scores[0]:.3f} on unseen dancers), and "
    f"different training frames ({len(by_frame.train_ids)} "
    f"frames, half of every dancer's, against {len(by_dancer.train_ids)}, every frame of the training dancers). The fair comparison is "
    f"the notebook's paired one, one model scored both ways on each seed: {gap}. Publish the split **by dancer** "
    "whatever the numbers: its held-out frames are people the model has never seen, which is the claim; a split by "
    "frame answers another question, whether it recognises dancers it trained on."))

# %% [markdown]
# #### Solution 3

# %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution", "hide-input"]
from cae_tutorial.callbacks import EpochLogs

train_files = files.subset(split.train_ids)
frames_per_epoch = (preset.steps_per_epoch or 1) * preset.batch_size
timing_epochs = max(8, -(-5 * len(train_files) // frames_per_epoch))  # every frame read about 5 times, or more
timed = preset.with_(epochs=timing_epochs)
times = {"memory": [], None: []}
for cache in ("memory", None, "memory", None):  # each twice, alternating, so that a busy spell hits both alike
    logs = EpochLogs()  # a callback of our own beside train's: each epoch's seconds
    train(build_model(timed, SEED), files, split, timed, seed=SEED, progress=False, callbacks=[logs],
          options=TrainOptions(snapshot_epochs=(), validate_every=timing_epochs, cache=cache))
    # The first epoch traces the training step and, with the cache, fills it; the median of the others is the
    # steady cost of an epoch, the one a long run pays again and again (the last one also scores the held-out frames).
    times[cache].append(float(np.median(logs.epoch_seconds[1:-1])))
    print(f"cache={cache!r}: first epoch {logs.epoch_seconds[0]:.2f} s, then {times[cache][-1]:.3f} s an epoch "
          f"(median of epochs 2 to {timing_epochs - 1})")
seconds = {cache: min(runs) for cache, runs in times.items()}  # the faster of each setting's two runs
timing_noise = max(np.ptp(runs) for runs in times.values())  # how far two runs of one setting differ
saved = seconds[None] - seconds["memory"]
cache_bytes = train_files.decoded_bytes()
print("self-check:", exercises.ex08_3(cache_bytes, train_files))
display(Markdown(
    f"Over {timing_epochs} epochs ({timing_epochs * frames_per_epoch} frames drawn from {len(train_files)}, so each "
    f"frame is drawn about {timing_epochs * frames_per_epoch / len(train_files):.0f} times: read from its file each "
    "time without the cache, once with it), a steady epoch took (the faster of two runs each) "
    f"{seconds['memory']:.3f} s with the memory cache and {seconds[None]:.3f} s without: "
    + (f"the cache saved {saved:.3f} s an epoch ({saved / seconds[None]:.0%}), more than the {timing_noise:.3f} s by "
       "which two runs of one setting differ." if saved > timing_noise else
       f"the cache cost {-saved:.3f} s an epoch, more than the {timing_noise:.3f} s by which two runs of one setting "
       "differ." if -saved > timing_noise else
       f"a draw: the cache {'saved' if saved >= 0 else 'cost'} {abs(saved):.3f} s an epoch, within the "
       f"{timing_noise:.3f} s by which two runs of one setting differ, so these runs cannot tell whether the cache "
       "pays here.")
    + f" The cache holds the decoded frames: {cache_bytes / 2**10:,.0f} KiB here."
    " It is worth its memory when they fit with room to spare and training reads them many times, and when "
    "decoding is a real part of a step (large files, a small model); `cache=\"auto\"` caches only when they fit."))
