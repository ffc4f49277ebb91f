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
# needs no download; point `DATA_DIR` at the unzipped Kaggle dataset to run it on the real thing.

# %% [markdown]
# [Open in Colab](https://colab.research.google.com/github/OWNER/cae-tutorial/blob/main/notebooks/08_full_dataset.ipynb) · [Launch Binder](https://mybinder.org/v2/gh/OWNER/cae-tutorial/main?urlpath=lab/tree/notebooks/08_full_dataset.ipynb): run this notebook in the browser with nothing installed (on Colab, the first code cell installs the package).

# %%
# On Google Colab, install the course's package first; anywhere else it is installed already (`pip install -e .`).
# --no-deps: Colab has TensorFlow, Keras and the rest; the package's `tensorflow-cpu` would replace its GPU build.
try:
    import google.colab  # noqa: F401  (importable on Colab only)
except ImportError:
    pass
else:
    get_ipython().run_line_magic("pip", 'install --quiet --no-deps "cae-tutorial @ git+https://github.com/OWNER/cae-tutorial@main"')

# %% tags=["parameters"]
PRESET = "cpu"
DATA_DIR = None  # None: generate dancers; else a Kaggle-layout folder with several records
N_RECORDS = 6  # generated dancers
FRAMES_PER_RECORD = 6
GENERATED_HEIGHT = 256  # size the generated frames are drawn at (the real ones are 960 x 540)
GENERATED_WIDTH = 144
IMAGE_HEIGHT = 128
IMAGE_WIDTH = 64
EPOCHS = 60
HOLDOUT = 0.34  # share of dancers held out
SOLUTION_EPOCHS = 20  # epochs of each short run the worked solutions train (at most EPOCHS)
SEED = 0
OUTPUT_DIR = "outputs"

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial import exercises
from cae_tutorial.data import Split
from cae_tutorial.distribute import choose_strategy, global_batch_size
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

Path(OUTPUT_DIR).mkdir(exist_ok=True)
# Every epoch at the final size: with this few epochs, a progressive start at half size would leave too few.
preset = get_preset(PRESET, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, epochs=EPOCHS, progressive_scale=1)

# %% [markdown]
# ## Why not load everything?
# Notebooks 1 to 6 load every frame as float32 before training: 4 bytes per channel per pixel. That is nothing
# for 10 frames, and a wall for the full dataset:

# %%
KAGGLE_FRAMES = 2615
for height, width in ((128, 64), (256, 128), (1024, 512)):
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
data_dir = Path(DATA_DIR) if DATA_DIR else None
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
# of a video the model trained on, and the test mostly asks "can you recognise this dancer again?". Hold out
# **whole records**, and it asks what we care about: "can you find a person you have never seen?".
#
# `split_by_records(files, holdout, seed)` holds out whole records, seeded. To see the difference, we also keep
# the last frame of every training dancer out of training: the *seen dancers' held-out frames*.

# %%
by_dancer = split_by_records(files, holdout=HOLDOUT, seed=SEED)
frames_of = {}
for frame_id in by_dancer.train_ids:
    frames_of.setdefault(record_of(frame_id), []).append(frame_id)
seen_heldout = tuple(ids[-1] for ids in frames_of.values())
unseen_heldout = by_dancer.heldout_ids
split = Split(tuple(i for i in by_dancer.train_ids if i not in seen_heldout), unseen_heldout + seen_heldout)
records = split_records(by_dancer)
print(f"training dancers {records['train']}: {len(split.train_ids)} frames")
print(f"held-out dancers {records['heldout']}: {len(unseen_heldout)} frames")
print(f"held-out frames of training dancers: {len(seen_heldout)} frames {list(seen_heldout)}")

# %% [markdown]
# ## Training from files
# `train` takes the `RecordFiles` where earlier notebooks passed a `Record`: the training frames stream from
# disk, the held-out ones are scored every epoch, and only the few frames shown in the snapshots sit in memory.
# `choose_strategy()` picks the devices: here one CPU (TensorFlow's default strategy); on a machine with several
# GPUs, a `MirroredStrategy` over all of them.

# %%
strategy = choose_strategy("all")
with strategy.scope():
    model = build_model(preset, SEED)
result = train(model, files, split, preset, seed=SEED, options=TrainOptions(strategy=strategy, snapshot_epochs=()))
print(f"{strategy.num_replicas_in_sync} device(s), global batch {global_batch_size(preset, strategy)}, "
      f"{result.config['train_seconds']:.0f} s")

# %% [markdown]
# ## What changes in the numbers

# %%
scores = {}
for name, ids in (("held-out frames of training dancers", seen_heldout), ("held-out dancers", unseen_heldout)):
    table = result.evaluate(files.load(ids), ids)
    scores[name] = float(np.mean([row.iou for row in table]))
    print(f"{name:<38} IoU {scores[name]:.3f}  ({len(ids)} frames)")

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(range(len(scores)), list(scores.values()), color=["C0", "C1"])
ax.set_xticks(range(len(scores)), ["seen dancers'\nheld-out frames", "unseen dancers"])
ax.set(ylabel="IoU", ylim=(0, 1), title="Same model, two questions")
plt.show()

# %% [markdown]
# **Reading the results.** The score on frames of dancers the model trained on is the optimistic one: it rewards
# remembering a dancer, a room and a palette. The score on unseen dancers is the one to report for "segments
# people". This run:

# %%
seen, unseen = scores["held-out frames of training dancers"], scores["held-out dancers"]
gap = seen - unseen
verdict = (f"unseen dancers score **{abs(gap):.3f} lower** than held-out frames of seen dancers: a split by frame "
           "would have flattered the model" if gap > 0.01 else
           f"unseen dancers score **{abs(gap):.3f} higher** than held-out frames of seen dancers: with this few "
           "frames, the difference is noise, not a skill" if gap < -0.01 else
           "the two scores are within 0.01 of each other: at this size and number of epochs the split does not "
           "change the answer")
display(Markdown(f"Held-out frames of seen dancers: IoU {seen:.3f}; unseen dancers: IoU {unseen:.3f}. So {verdict}."
                 + (" Both are low: this run is too small or too short to segment anyone well, so it checks the "
                    "plumbing, not the model." if max(seen, unseen) < 0.5 else "")))

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
#   nor SGD's grows with it; what changes is that an epoch takes N times fewer steps. The linear scaling rule
#   (learning rate x N, with a warm-up) makes up for the fewer steps with plain SGD; for Adam there is no rule as
#   well established. We keep the preset's per-step learning rate, so a run on N GPUs trains like a one-device run
#   of the same global batch (`cae_tutorial.distribute`; `strategy_preset(..., scale_learning_rate=True)` scales
#   it linearly anyway).
# - **Several machines** (`MultiWorkerMirroredStrategy`) with Keras 3 `fit` has known breakage: not supported.
# - **Resuming**: every epoch, `TrainOptions(backup_dir=...)` writes one whole backup (`cae_tutorial.resume.RunBackup`:
#   weights, optimiser state, random states, epoch logs and snapshots of the same epoch); a resumed run on a CPU
#   gives exactly the weights and history of an uninterrupted one (`tests/test_scale.py`, `tests/test_safety.py`).

# %%
results = {"records": len(files.records), "frames": len(files), "train_records": records["train"],
           "heldout_records": records["heldout"], "train_frames": len(split.train_ids),
           "seen_heldout_frames": len(seen_heldout), "unseen_heldout_frames": len(unseen_heldout),
           "seen_heldout_iou": scores["held-out frames of training dancers"],
           "unseen_heldout_iou": scores["held-out dancers"], "heldout_iou": scores["held-out dancers"],
           "epochs": len(result.history["loss"]), "replicas": strategy.num_replicas_in_sync,
           "pixel_difference": pixel_difference, "mask_difference": mask_difference}
Path(OUTPUT_DIR, "08_full_dataset.json").write_text(json.dumps(results, indent=1))
{k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}

# %% [markdown]
# ## Summary
# - On the full dataset, stream frames from their files (`list_record_files` + `streaming_dataset`, or
#   `train(model, files, ...)`): memory stays flat as frames are added, and the pipeline keeps up with training
#   (`benchmarks/pipeline_bench.py`).
# - Split by record to measure what matters: a dancer the model has never seen. Held-out frames of seen dancers
#   can flatter the model (compare the two scores above).
# - One GPU needs nothing; several on one machine use `MirroredStrategy` (`--devices`); long runs back up every
#   epoch and resume with `--resume`.
#
# ## Exercises
# 1. Double `N_RECORDS` with the same number of frames in total (more dancers, fewer frames of each). How does the
#    unseen-dancer IoU move? Compare runs of the same length.
# 2. Split the same data by frame (a random half of every record's frames in training, the rest held out) and
#    compare its held-out IoU with the split by dancer, trained as long. Which would you publish? Check:
#    `exercises.ex08_2("by frame" or "by dancer")`.
# 3. Time `train` with `cache="memory"` and with `cache=None` (`TrainOptions(cache=...)`), for enough epochs that
#    the training frames are read more than once. How much memory does the cache take? Check:
#    `exercises.ex08_3(cache_bytes, files.subset(split.train_ids))`. When is it worth its memory?
#
# Checks answer `right` or `not yet` with a hint, never the answer; exercise 1 is a measurement of your own runs.
# The worked solutions follow, collapsed: open one after trying. They train short runs of `SOLUTION_EPOCHS` epochs
# (at most `EPOCHS`).

# %% [markdown]
# #### Solution 1

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
solution_epochs = min(EPOCHS, SOLUTION_EPOCHS)
short = preset.with_(epochs=solution_epochs)
quiet = TrainOptions(snapshot_epochs=(), validate_every=solution_epochs)  # held-out scores at the end only


def unseen_dancer_iou(listing, held):
    """Train `short` on a split by dancer and return the per-frame mean IoU of the held-out dancers."""
    run = train(build_model(short, SEED), listing, held, short, seed=SEED, progress=False, options=quiet)
    return run.evaluate(listing.load(held.heldout_ids)).mean("iou")


total = N_RECORDS * FRAMES_PER_RECORD  # the same number of frames in all
unseen = {N_RECORDS: unseen_dancer_iou(files, by_dancer)}  # this notebook's dancers, as long as the other run
folder = write_dataset(Path(OUTPUT_DIR) / f"dancers-{2 * N_RECORDS}", n_records=2 * N_RECORDS,
                       frames_per_record=max(2, total // (2 * N_RECORDS)), size=(GENERATED_HEIGHT, GENERATED_WIDTH),
                       seed=SEED)
more = list_record_files(folder, size=preset.size)
unseen[2 * N_RECORDS] = unseen_dancer_iou(more, split_by_records(more, holdout=HOLDOUT, seed=SEED))
for n_records, iou in unseen.items():
    print(f"{n_records} dancers: unseen-dancer IoU {iou:.3f} after {solution_epochs} epochs")
change = unseen[2 * N_RECORDS] - unseen[N_RECORDS]
display(Markdown(
    f"With {2 * N_RECORDS} dancers instead of {N_RECORDS}, about as many frames in all and {solution_epochs} "
    f"epochs each, the held-out dancers score {unseen[2 * N_RECORDS]:.3f} against {unseen[N_RECORDS]:.3f} "
    f"({change:+.3f}): " + ("more dancers help the model find people it has never seen." if change > 0.01 else
                            "fewer dancers do better here." if change < -0.01 else
                            "a difference within 0.01, no change at this size.")
    + " One seed and a handful of held-out dancers: a hint, not a verdict."))

# %% [markdown]
# #### Solution 2

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
rng = np.random.default_rng(SEED)
by_frame_train = []
for record_name in files.records:
    ids = [i for i in files.ids if record_of(i) == record_name]
    by_frame_train += list(rng.choice(ids, size=max(1, len(ids) // 2), replace=False))
by_frame = Split(tuple(sorted(by_frame_train)), tuple(i for i in files.ids if i not in by_frame_train))
frame_run = train(build_model(short, SEED), files, by_frame, short, seed=SEED, progress=False, options=quiet)
by_frame_iou = frame_run.evaluate(files.load(by_frame.heldout_ids)).mean("iou")
print(f"split by frame:  held-out IoU {by_frame_iou:.3f} after {solution_epochs} epochs")
print(f"split by dancer: held-out IoU {unseen[N_RECORDS]:.3f} after {solution_epochs} epochs (Solution 1's run)")
print("self-check:", exercises.ex08_2("by dancer"))
display(Markdown(
    f"Trained as long, the split by frame scores {by_frame_iou:.3f} on its held-out frames and the split by dancer "
    f"{unseen[N_RECORDS]:.3f} on its held-out dancers ({by_frame_iou - unseen[N_RECORDS]:+.3f} for the split by "
    "frame). Publish the split **by dancer**: its held-out frames are people the model has never seen, which is "
    "the claim; a split by frame asks whether it recognises dancers it trained on"
    + (", and flatters it here." if by_frame_iou > unseen[N_RECORDS] else
       " (here it did not flatter the model, but it answers the wrong question).")))

# %% [markdown]
# #### Solution 3

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
train_files = files.subset(split.train_ids)
frames_per_epoch = (preset.steps_per_epoch or 1) * preset.batch_size
timing_epochs = max(2, -(-3 * len(train_files) // frames_per_epoch))  # enough epochs to read every frame 3 times
timed = preset.with_(epochs=timing_epochs)
seconds = {}
for cache in ("memory", None):
    run = train(build_model(timed, SEED), files, split, timed, seed=SEED, progress=False,
                options=TrainOptions(snapshot_epochs=(), validate_every=timing_epochs, cache=cache))
    seconds[cache] = run.config["train_seconds"]  # model.fit's own time: training, not only its input
    print(f"cache={cache!r}: train took {seconds[cache]:.2f} s for {timing_epochs} epochs")
cache_bytes = train_files.decoded_bytes()
print("self-check:", exercises.ex08_3(cache_bytes, train_files))
display(Markdown(
    f"Over {timing_epochs} epochs ({timing_epochs * frames_per_epoch} frames drawn from {len(train_files)}, so each "
    f"file is read about {timing_epochs * frames_per_epoch / len(train_files):.0f} times), `train` took "
    f"{seconds['memory']:.2f} s with the memory cache and {seconds[None]:.2f} s without: "
    + (f"the cache saved {seconds[None] - seconds['memory']:.2f} s." if seconds["memory"] < seconds[None] else
       f"the cache did not pay here ({seconds['memory'] - seconds[None]:.2f} s more; time both again: the "
       "seconds of a busy machine vary).")
    + f" The cache holds the decoded frames: {cache_bytes / 2**10:,.0f} KiB here."
    " It is worth its memory when they fit with room to spare and training reads them many times, and when "
    "decoding is a real part of a step (large files, a small model); `cache=\"auto\"` caches only when they fit."))
