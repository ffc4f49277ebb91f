"""Training with plain Keras ``model.fit``, from pieces you compose, and ``train``, which is only their sum.

    model = build_model(preset)                                   # or your own model (see contract.py)
    model.compile(**compile_settings(preset))                     # or yours: compile_settings(preset, loss=...)
    model.optimizer.build(model.trainable_variables)              # Adam's variables now: fit traces its step once
    logs, snapshots = EpochLogs(), PredictionSnapshots(record)    # cae_tutorial.callbacks
    model.fit(training_dataset(record, split, preset, model=model, seed=0), epochs=preset.epochs,
              steps_per_epoch=steps_per_epoch(split, preset), validation_data=validation_dataset(record, split),
              callbacks=[snapshots, logs], verbose=0)
    result = TrainingResult.from_fit(model, logs, split, snapshots, preset=preset, record=record, seed=0)

The same seed gives the same run: build_model(seed=) and training_dataset(seed=) seed Keras, TensorFlow, NumPy
and Python. ``train(model, record, split, preset)`` does exactly the above, plus the options of TrainOptions.
A model you compiled trains as you compiled it; an uncompiled one gets compile_settings(preset).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cae_tutorial.callbacks import (
    EpochLogs,
    EpochProgress,
    PredictionSnapshots,
    ScoreLastEpoch,
    tensorboard_callbacks,
)
from cae_tutorial.contract import check_input, check_output, output_shape, resolve_from_logits
from cae_tutorial.data import DataError, Record, Split
from cae_tutorial.distribute import global_batch_size, replicas
from cae_tutorial.losses import dice_focal_loss, training_metrics
from cae_tutorial.model import build_cae
from cae_tutorial.pipeline import (
    RecordFiles,
    frames_dataset,
    named_file_errors,
    progressive_dataset,
    split_records,
    streaming_dataset,
)
from cae_tutorial.presets import Preset, get_preset
from cae_tutorial import resume
from cae_tutorial.results import TrainingResult


def build_model(preset: Preset | str = "cpu", seed: int | None = 0) -> keras.Model:
    """The CAE a preset describes; seeds Keras first (when seed is not None) so weights are reproducible.

    dtype "auto" becomes the fastest policy for this machine (cae_tutorial.hardware.choose_dtype). A preset with
    progressive resizing gets a CAE that takes frames of any size divisible by 8 (input (None, None, 3)): it
    trains on its smaller frames first, and a reloaded model takes the same sizes.
    """
    preset = get_preset(preset)
    dtype = preset.resolved_dtype
    if seed is not None:
        keras.utils.set_random_seed(seed)
    # Every layer is convolutional, so any size divisible by 8 flows through the same weights.
    shape = (None, None, 3) if preset.small_epochs else preset.input_shape
    return build_cae(shape, preset.filters, preset.kernel_size, preset.activation, preset.dropout,
                     skip_connections=preset.skip_connections, batch_norm=preset.batch_norm,
                     coordinates=preset.coordinates, dtype=None if dtype == "float32" else dtype)


def make_optimizer(preset: Preset, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """Adam with the preset's learning rate, constant or cosine-decayed over the whole run."""
    rate = preset.learning_rate
    if preset.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, steps_per_epoch * epochs), alpha=0.05)
    elif preset.schedule != "constant":
        raise ValueError(f"preset.schedule must be 'constant' or 'cosine', got {preset.schedule!r}")
    return keras.optimizers.Adam(rate)


def package_loss(preset: Preset | str = "cpu", from_logits: bool = False) -> keras.losses.Loss:
    """The package's loss for a preset: Dice + focal, with the preset's boundary weight."""
    return dice_focal_loss(from_logits=from_logits, boundary_weight=get_preset(preset).boundary_weight)


def package_metrics(from_logits: bool = False) -> list:
    """The package's metrics (pixel accuracy, IoU, Dice), thresholded at probability 0.5 (logit 0 for logits).

    The epoch log, result.final("iou"), the curves and the scrubber's scores read them.
    """
    return training_metrics(0.0 if from_logits else 0.5)


def _metric_name(metric) -> str:
    """The name a metric logs under (a string metric logs under the string itself)."""
    return metric if isinstance(metric, str) else getattr(metric, "name", None) or getattr(metric, "__name__", "")


def compile_settings(preset: Preset | str = "cpu", steps: int | None = None, *, loss=None, optimizer=None,
                     metrics=(), from_logits: bool = False) -> dict:
    """Keyword arguments for model.compile: the package's loss, Adam on the preset's schedule and its metrics.

    loss / optimizer: yours instead of the package's (the package's metrics are still added); metrics: yours,
    before the package's (one of yours with the same name wins). steps: batches per epoch, for the cosine
    schedule (default: the preset's steps_per_epoch; see steps_per_epoch()). from_logits: the model outputs
    logits (no final sigmoid): the package's loss and metrics then take logits.
    ``model.compile(**compile_settings(preset))``.
    """
    preset = get_preset(preset)
    if optimizer is None:
        steps = steps or preset.steps_per_epoch
        if steps is None and preset.schedule != "constant":
            raise ValueError(f"preset {preset.name!r} decays its learning rate over the run and sets no "
                             "steps_per_epoch: pass compile_settings(preset, steps=steps_per_epoch(split, preset))")
        optimizer = make_optimizer(preset, steps or 1, preset.epochs)
    else:
        optimizer = keras.optimizers.get(optimizer)
    mine = [metrics] if isinstance(metrics, (str, keras.metrics.Metric)) or callable(metrics) else list(metrics)
    names = {_metric_name(m) for m in mine}
    added = [m for m in package_metrics(from_logits) if m.name not in names]
    return {"optimizer": optimizer, "loss": loss if loss is not None else package_loss(preset, from_logits),
            "metrics": [*mine, *added], "jit_compile": preset.jit_compile}


def steps_per_epoch(split: Split, preset: Preset | str = "cpu", batch_size: int | None = None) -> int:
    """Batches per epoch: the preset's steps_per_epoch, else one pass over the training frames."""
    preset = get_preset(preset)
    return preset.steps_per_epoch or math.ceil(len(split.train_ids) / (batch_size or preset.batch_size))


def takes_any_size(model: keras.Model | None) -> bool:
    """Whether a model declares inputs of any height and width (keras.Input(shape=(None, None, 3)))."""
    try:
        inputs = model.inputs if model is not None else None
    except (AttributeError, ValueError):
        return False
    return bool(inputs) and len(inputs) == 1 and tuple(inputs[0].shape[1:3]) == (None, None)


def _progressive_allowed(model, preset: Preset, streamed: bool) -> bool:
    """Whether progressive resizing applies; one warning saying why not, when the preset asks for it."""
    if not preset.small_epochs:
        return False
    small = "{} x {}".format(*preset.small_size)
    why = None
    if streamed:
        why = "frames streamed from files train at full size only"
    elif model is None:
        why = "pass model=... so the dataset can check that the model takes frames of any size"
    elif not takes_any_size(model):
        why = (f"{model.name} takes frames of {tuple(model.inputs[0].shape[1:3])} only (build it on "
               "keras.Input(shape=(None, None, 3)) to train it on smaller frames first)")
    else:
        probe = np.zeros((1, *preset.small_size, 3), np.float32)
        try:
            shape = output_shape(model, probe)
        except Exception:  # noqa: BLE001 - a model that cannot run at the small size does not get it
            shape = None
        if shape is None or tuple(shape[1:3]) != tuple(preset.small_size):
            why = f"{model.name} does not give {small} masks for {small} frames"
    if why:
        warnings.warn(f"progressive resizing skipped (preset {preset.name!r} asks for {preset.small_epochs} epochs "
                      f"at {small}): {why}; every epoch trains at {preset.height} x {preset.width}",
                      UserWarning, stacklevel=3)
        return False
    return True


def training_dataset(record: Record | RecordFiles, split: Split, preset: Preset | str = "cpu", seed: int | None = 0,
                     *, model: keras.Model | None = None, batch_size: int | None = None,
                     cache="auto") -> tf.data.Dataset:
    """Endless batches of the split's training frames, shuffled and augmented as the preset says: fit it with
    ``epochs=preset.epochs, steps_per_epoch=steps_per_epoch(split, preset)``.

    record: a Record in memory, or a RecordFiles listing, decoded as training goes (pipeline.streaming_dataset;
    cache: where decoded frames are kept, "auto", "memory", None or a file path). seed: seeds Keras,
    TensorFlow, NumPy and Python first (None: leave them), so the same seed gives the same batches.
    Progressive resizing (the preset's first epochs on smaller frames) applies only when `model` takes frames
    of any size; otherwise one warning says it is skipped and every batch has the record's size.
    batch_size: the global batch (default: the preset's; several devices split it, see distribute.py).
    """
    preset = get_preset(preset)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    seed = 0 if seed is None else seed
    batch = batch_size or preset.batch_size
    streamed = isinstance(record, RecordFiles)
    progressive = _progressive_allowed(model, preset, streamed)
    if streamed:
        data = streaming_dataset(record.subset(split.train_ids), preset, seed, cache, batch_size=batch)
    else:
        part = record.subset(split.train_ids)
        if progressive:
            data = progressive_dataset(part.images, part.masks, preset, seed, batch)
        else:
            data = frames_dataset(part.images, part.masks, preset.with_(progressive_scale=1), seed, batch)
    # Repeated, one pass after another: the same batches Keras would draw pass by pass, and skippable on resume.
    return data.repeat()


def validation_dataset(record: Record | RecordFiles, split: Split, batch_size: int = 4,
                       cache="auto") -> tf.data.Dataset | None:
    """The split's held-out frames in order, unaugmented, for fit(validation_data=...); None when none is held out."""
    if not split.heldout_ids:
        return None
    if isinstance(record, RecordFiles):
        return streaming_dataset(record.subset(split.heldout_ids), get_preset("cpu"), cache=cache,
                                 batch_size=batch_size, training=False)
    part = record.subset(split.heldout_ids)
    # Our own small dataset: Keras' adapter for arrays adds an AUTOTUNE prefetch, slow to tear down on 2 cores.
    return tf.data.Dataset.from_tensor_slices((part.images, part.masks)).batch(batch_size)


def check_split(record: Record | RecordFiles, split: Split) -> None:
    """Errors and warnings about a split before training: unknown ids, no held-out frames, empty masks."""
    if not split.train_ids:
        raise DataError("the training split is empty; name at least one frame id to train on")
    train_part, heldout_part = record.subset(split.train_ids), record.subset(split.heldout_ids)
    empty = train_part.empty_masks()
    if len(empty) == len(train_part):
        raise DataError(f"every training mask is all background ({list(empty)}): the model could only learn that "
                        "no frame has a person; train on frames whose masks mark the person")
    if empty:
        warnings.warn(f"training frames {empty} have an all-background mask: the model learns that they hold no "
                      "person; check those masks", stacklevel=3)
    if not split.heldout_ids:
        warnings.warn(f"the split holds out no frames (all {len(split.train_ids)} train): there will be no held-out "
                      "scores (val_*); hold some frames out to measure the model on frames it has not seen",
                      stacklevel=3)
    elif heldout_part.empty_masks():
        warnings.warn(f"held-out frames {heldout_part.empty_masks()} have an all-background mask: their IoU and "
                      "Dice are undefined (NaN, 'empty truth') and left out of means", stacklevel=3)


@dataclass(frozen=True)
class TrainOptions:
    """What train does besides the preset's recipe; each is also a piece for your own fit (named below).

    snapshot_frames: ids to record predictions of (default: every frame of a Record; for RecordFiles the first 4
    training and 4 held-out frames); snapshot_every / snapshot_epochs: when (PredictionSnapshots' every / epochs).
    validate_every: score the held-out frames every N epochs and after the last (validation_freq + ScoreLastEpoch).
    tensorboard: a folder for TensorBoard (callbacks.tensorboard_callbacks). strategy: the tf.distribute strategy
    the model was built in (distribute.choose_strategy). backup_dir: back up each epoch whole and resume from
    it (a folder, or a resume.RunBackup; removed at the end unless keep=True).
    cache: for RecordFiles, where decoded frames are kept. from_logits: the model outputs logits (None: told
    from the model).
    """

    snapshot_frames: tuple | None = None
    snapshot_every: int = 1
    snapshot_epochs: tuple | None = None
    validate_every: int = 1
    tensorboard: str | Path | None = None
    strategy: object = None
    backup_dir: "str | Path | resume.RunBackup | None" = None
    cache: object = "auto"
    from_logits: bool | None = None

    def __post_init__(self):
        for name in ("snapshot_every", "validate_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TypeError(f"TrainOptions {name} must be a positive int (1: after every epoch), got {value!r}")


def _shown_frames(record: Record | RecordFiles, split: Split, frame_ids) -> Record:
    """The frames the snapshots record, in memory (for RecordFiles only a few, by default)."""
    if isinstance(record, RecordFiles):
        return record.load(tuple(frame_ids) if frame_ids is not None else split.train_ids[:4] + split.heldout_ids[:4])
    return record.subset(tuple(frame_ids)) if frame_ids is not None else record


def train(model: keras.Model, record: Record | RecordFiles, split: Split, preset: Preset | str = "cpu", *,
          seed: int = 0, callbacks=(), progress: bool = True, options: TrainOptions | None = None) -> TrainingResult:
    """model.fit on the split's training frames, scoring the held-out ones, composed of this module's pieces.

    A model you compiled trains as you compiled it (compile it with **compile_settings(preset, loss=...,
    optimizer=...) to keep the package's IoU, Dice and accuracy, which the epoch log and the curves read); an
    uncompiled one gets compile_settings(preset). The epochs, batch size and the rest of the recipe are the
    preset's (preset.with_(epochs=...) to change them); everything else is in `options` (TrainOptions).
    seed: the data order, augmentation and dropout. callbacks: yours, after the package's; a PredictionSnapshots
    of yours with the same schedule takes the package's predictions instead of predicting again.
    Your own model: see cae_tutorial.contract (one-line errors name the fix).
    """
    options = options or TrainOptions()
    preset = get_preset(preset).resolved()  # the run saves the dtype it really used, not "auto"
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    check_split(record, split)
    check_input(model, record.size)
    batch = global_batch_size(preset, options.strategy)
    if batch > len(split.train_ids):
        warnings.warn(f"batch_size={batch} but the split has {len(split.train_ids)} training frames: every "
                      f"batch holds those {len(split.train_ids)}; set batch_size <= {len(split.train_ids)} to say so",
                      UserWarning, stacklevel=2)
    data = training_dataset(record, split, preset, seed, model=model, batch_size=batch, cache=options.cache)
    validation = validation_dataset(record, split, cache=options.cache)
    shown = _shown_frames(record, split, options.snapshot_frames)
    probe = shown.images[:1]
    check_output(model, probe)
    steps = steps_per_epoch(split, preset, batch)
    compiled_by = "model.compile" if getattr(model, "compiled", False) else "package"
    from_logits = resolve_from_logits(model, probe, model.loss if compiled_by == "model.compile" else None,
                                      options.from_logits)
    # The strategy the model was built under (tf.distribute's default one when none is given): compile, the
    # optimizer's variables and a restored backup all belong in its scope.
    strategy = options.strategy or tf.distribute.get_strategy()
    with strategy.scope():
        if compiled_by == "package":
            model.compile(**compile_settings(preset, steps, from_logits=from_logits))
        if model.optimizer is not None and not model.optimizer.built:
            # Built here, Adam's variables exist before fit traces its step; built inside the first step (Keras's
            # default without a strategy), TensorFlow traces that step twice, which doubles a short run's start.
            model.optimizer.build(model.trainable_variables)
    snapshot_options = {"every": options.snapshot_every, "epochs": options.snapshot_epochs,
                        "from_logits": from_logits}
    first = [ScoreLastEpoch(validation)] if validation is not None and options.validate_every > 1 else []
    snapshots, logs = PredictionSnapshots(shown, **snapshot_options), EpochLogs()
    pieces, done, backup = [*first, snapshots, logs], 0, None
    if options.backup_dir is not None:
        # A whole backup of each epoch, after the snapshots and logs it holds (resume.RunBackup). Resumed: the
        # backup is restored, then the batches already trained on are skipped, so the data order (and the
        # augmentation) continues as if the run had never stopped.
        backup = (options.backup_dir if isinstance(options.backup_dir, resume.RunBackup)
                  else resume.RunBackup(options.backup_dir))
        backup.snapshots, backup.logs = snapshots, logs
        backup.run = backup.run or json.loads(json.dumps(
            {"preset": preset.to_dict(), "seed": seed, "split": split.to_dict(), "steps_per_epoch": steps,
             "global_batch_size": batch, "size": list(record.size), "snapshot_frames": list(shown.ids),
             "validate_every": options.validate_every}))
        with strategy.scope():
            done = backup.restore(model)
        data = data.skip(done * steps)
        pieces.append(backup)
    pieces += [EpochProgress()] if progress else []
    for callback in callbacks:
        if isinstance(callback, PredictionSnapshots):  # e.g. a live scrubber's: same epochs, predicted once
            callback.follow(snapshots)
    if options.tensorboard is not None:
        pieces += tensorboard_callbacks(options.tensorboard, snapshots, heldout_ids=split.heldout_ids)
    start = time.perf_counter()
    with named_file_errors():  # a streamed file that fails to decode: the DataError naming it, not TF's trace
        model.fit(data, epochs=preset.epochs, initial_epoch=done, steps_per_epoch=steps, validation_data=validation,
                  validation_freq=options.validate_every, callbacks=[*pieces, *callbacks], shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    if backup is not None and not backup.keep:
        backup.remove()
    config = {"steps_per_epoch": steps, "validate_every": options.validate_every,
              "replicas": replicas(options.strategy), "global_batch_size": batch, "records": split_records(split),
              "compile": {"compiled_by": compiled_by, "from_logits": from_logits}}
    return TrainingResult.from_fit(model, logs.history, split, snapshots, preset=preset, record=shown, seed=seed,
                                   seconds=seconds, config=config)
