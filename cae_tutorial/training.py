"""Training with Keras ``model.fit``, prediction snapshots per epoch, and a result that saves and loads.

    model = build_model(preset)                     # or build_cae(...), or your own model (see contract.py)
    result = train(model, record, split, preset)    # -> TrainingResult
    result.save("runs/cpu"); TrainingResult.load("runs/cpu")

You own compile, as in Keras: a model you compiled trains with your loss and optimiser, and
``train(..., loss=, optimizer=, metrics=)`` override it; the package's Dice + focal loss and Adam (with the
preset's learning rate and schedule) apply only where you chose nothing.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cae_tutorial.callbacks import (  # noqa: F401
    EpochLogs,
    EpochProgress,
    PredictionSnapshots,
    TimeBudget,
    sigmoid,
    tensorboard_callbacks,
    to_uint8,
)
from cae_tutorial.contract import (
    check_input,
    check_output,
    loss_name,
    outputs_logits,
    resolve_from_logits,
)
from cae_tutorial.data import IMAGE_SUFFIXES, DataError, Record, Split, read_mask, resize_probabilities
from cae_tutorial.distribute import global_batch_size, replicas
from cae_tutorial.folders import check_saved_run, encoded, save_model_file, write_file, write_json, write_whole
from cae_tutorial.losses import (
    MetricsTable,
    dice_focal_loss,
    history_key,
    per_frame_metrics,
    training_metrics,
)
from cae_tutorial.model import build_cae
from cae_tutorial.pipeline import (  # noqa: F401
    RecordFiles,
    augment_pair,
    split_records,
    streaming_dataset,
    training_dataset,
)
from cae_tutorial.presets import Preset, get_preset
from cae_tutorial import resume


def build_model(preset: Preset | str = "cpu", seed: int | None = 0) -> keras.Model:
    """The CAE a preset describes; seeds Keras first (when seed is not None) so weights are reproducible.

    dtype "auto" becomes the fastest policy for this machine (cae_tutorial.hardware.choose_dtype). A preset with
    progressive resizing gets a model that also takes its smaller training frames.
    """
    preset = get_preset(preset)
    dtype = preset.resolved_dtype
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = build_cae(preset.input_shape, preset.filters, preset.kernel_size, preset.activation, preset.dropout,
                      skip_connections=preset.skip_connections, batch_norm=preset.batch_norm,
                      coordinates=preset.coordinates, dtype=None if dtype == "float32" else dtype)
    if preset.small_epochs:
        # Every layer is convolutional, so any size divisible by 8 flows through the same weights.
        model.input_spec = keras.layers.InputSpec(shape=(None, None, None, preset.input_shape[-1]))
    return model


def make_optimizer(preset: Preset, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """Adam with the preset's learning rate, constant or cosine-decayed over the whole run."""
    rate = preset.learning_rate
    if preset.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, steps_per_epoch * epochs), alpha=0.05)
    elif preset.schedule != "constant":
        raise ValueError(f"preset.schedule must be 'constant' or 'cosine', got {preset.schedule!r}")
    return keras.optimizers.Adam(rate)


def package_loss(preset: Preset, from_logits: bool = False) -> keras.losses.Loss:
    """The package's loss for a preset: Dice + focal, with the preset's boundary weight."""
    return dice_focal_loss(from_logits=from_logits, boundary_weight=preset.boundary_weight)


def package_metrics(from_logits: bool = False) -> list:
    """The package's training metrics, thresholded at probability 0.5 (logit 0 for a logits model)."""
    return training_metrics(0.0 if from_logits else 0.5)


def compile_model(model: keras.Model, preset: Preset, steps_per_epoch: int = 1, epochs: int | None = None,
                  loss=None, from_logits: bool = False) -> None:
    """Compile with Dice + focal loss (or `loss`), the training metrics and the preset's optimiser."""
    model.compile(optimizer=make_optimizer(preset, steps_per_epoch, epochs or preset.epochs),
                  loss=loss or package_loss(preset, from_logits), metrics=package_metrics(from_logits),
                  jit_compile=preset.jit_compile)
    if loss is None:  # a loss of the caller's is theirs: train() keeps it
        model._cae_tutorial_compile = model._compile_config


def _user_compile(model: keras.Model) -> dict:
    """What the user passed to model.compile ({} when the model is uncompiled or was compiled by this package)."""
    config = getattr(model, "_compile_config", None)
    ours = getattr(model, "_cae_tutorial_compile", None)
    if not getattr(model, "compiled", False) or config is None or ours is config:
        return {}
    return dict(config.config)


def _metric_name(metric) -> str:
    """The name a metric logs under (a string metric logs under the string itself)."""
    return metric if isinstance(metric, str) else getattr(metric, "name", None) or getattr(metric, "__name__", "")


def _json_or_name(obj):
    """The Keras serialisation of a loss or optimiser when it is JSON-ready, else its name."""
    try:
        serialized = keras.saving.serialize_keras_object(obj)
        json.dumps(serialized)
        return serialized
    except (TypeError, ValueError):
        return loss_name(obj)


def compile_for_training(model: keras.Model, preset: Preset, steps_per_epoch: int, epochs: int, probe: np.ndarray, *,
                         loss=None, optimizer=None, metrics=None, from_logits: bool | None = None) -> dict:
    """Compile as the user chose (train's arguments, else their own compile), the package's choice elsewhere.

    The package's pixel accuracy, IoU and Dice are always added to the user's metrics (unless one of theirs has
    the same name): the epoch log, result.final("iou"), the curves and the snapshots' scores rely on them.
    Returns what was used, for the run's config.
    """
    own = _user_compile(model)
    user_loss, loss_from = ((loss, "train(loss=...)") if loss is not None else
                            (own.get("loss"), "model.compile") if own.get("loss") is not None else (None, "package"))
    logits = resolve_from_logits(model, probe, user_loss, from_logits)
    chosen_loss = user_loss if user_loss is not None else package_loss(preset, logits)
    if optimizer is not None:
        chosen_optimizer, optimizer_from = keras.optimizers.get(optimizer), "train(optimizer=...)"
    elif own:
        chosen_optimizer, optimizer_from = model.optimizer, "model.compile"
    else:
        chosen_optimizer, optimizer_from = make_optimizer(preset, steps_per_epoch, epochs), "package"
    given = metrics if metrics is not None else own.get("metrics")
    user_metrics = [given] if isinstance(given, (str, keras.metrics.Metric)) or callable(given) else list(given or [])
    names = {_metric_name(m) for m in user_metrics}
    added = [m for m in package_metrics(logits) if m.name not in names]
    model.compile(optimizer=chosen_optimizer, loss=chosen_loss, metrics=[*user_metrics, *added],
                  loss_weights=own.get("loss_weights"), weighted_metrics=own.get("weighted_metrics"),
                  run_eagerly=own.get("run_eagerly", False), steps_per_execution=own.get("steps_per_execution", 1),
                  jit_compile=own.get("jit_compile", preset.jit_compile))
    if loss_from == "package" and optimizer_from == "package" and not user_metrics:
        model._cae_tutorial_compile = model._compile_config
    return {"loss": loss_name(chosen_loss), "loss_from": loss_from, "optimizer": type(chosen_optimizer).__name__,
            "optimizer_from": optimizer_from,
            "metrics": [*map(_metric_name, user_metrics), *(m.name for m in added)],
            "from_logits": logits, "loss_config": _json_or_name(chosen_loss),
            "optimizer_config": _json_or_name(chosen_optimizer)}


@dataclass(repr=False)
class Snapshots:
    """Predictions (uint8, (n_epochs, n_frames, H, W)) with their frames, true masks and epochs."""

    epochs: np.ndarray
    frame_ids: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    predictions: np.ndarray

    def at(self, epoch: int) -> np.ndarray:
        """Predictions (uint8) recorded at the given epoch."""
        where = np.flatnonzero(self.epochs == epoch)
        if not len(where):
            raise KeyError(f"no snapshot at epoch {epoch}; recorded epochs are {self.epochs.tolist()}")
        return self.predictions[where[0]]

    def __repr__(self) -> str:
        epochs = self.epochs.tolist()
        at = f"epochs {epochs[0]} .. {epochs[-1]}" if epochs else "no epoch"
        height, width = self.images.shape[1:3]
        size = sum(a.nbytes for a in (self.images, self.masks, self.predictions)) / 1e6
        return (f"Snapshots({len(self.frame_ids)} frames of {height} x {width} at {len(epochs)} recorded {at}; "
                f"uint8, {size:.1f} MB)")


@dataclass(repr=False)
class TrainingResult:
    """What a training run leaves: history per epoch, snapshots, split, configuration and the model."""

    history: dict[str, list[float]]
    snapshots: Snapshots
    split: Split
    config: dict
    model: keras.Model | None = field(default=None, repr=False)

    @property
    def preset(self) -> Preset:
        """The preset the run used."""
        return Preset.from_dict(self.config["preset"])

    def final(self, metric: str = "iou", part: str = "held-out") -> float:
        """A metric's value after the last epoch: held-out by default, part="training" for the training frames.

        Names as in the tables, any case: "iou", "IoU", "dice", "accuracy", "loss"; Keras' "val_iou" works too.
        """
        return float(self.history[history_key(self.history, metric, part)][-1])

    def __repr__(self) -> str:
        epochs = len(next(iter(self.history.values()), []))
        scores = ", ".join(f"{name} {self.history[f'val_{key}'][-1]:.3f}"
                           for key, name in (("iou", "IoU"), ("dice", "Dice"), ("accuracy", "accuracy"))
                           if f"val_{key}" in self.history)
        model = self.model.name if self.model is not None else "no model loaded"
        loss = self.config.get("compile", {}).get("loss", "dice_focal")
        return (f"TrainingResult({model}, {epochs} epochs of {loss} in {self.config.get('train_seconds', 0):.1f} s; "
                f"{len(self.split.train_ids)} training and {len(self.split.heldout_ids)} held-out frames; "
                f"final held-out {scores or 'scores: none (no frame held out)'}; "
                f"snapshots of {len(self.snapshots.frame_ids)} frames at {len(self.snapshots.epochs)} epochs)")

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write model.keras, history.json, config.json, split.json and snapshots.npz as one new folder.

        The files go into a hidden sibling folder that is moved into place at the end, so folder always holds
        one complete run. A folder holding an earlier run raises FileExistsError unless overwrite=True.
        """
        return write_whole(folder, self._write, overwrite)

    def _write(self, folder: Path) -> None:
        """Write the run's files into an existing folder."""
        if self.model is not None:
            save_model_file(self.model, folder / "model.keras")
        write_json(folder / "history.json", self.history)
        write_json(folder / "config.json", self.config)
        write_json(folder / "split.json", self.split.to_dict())
        s = self.snapshots
        write_file(folder / "snapshots.npz", encoded(np.savez_compressed, epochs=s.epochs,
                                                     frame_ids=np.array(s.frame_ids), images=s.images,
                                                     masks=s.masks, predictions=s.predictions))

    @classmethod
    def load(cls, folder: str | Path, load_model: bool = True) -> "TrainingResult":
        """Read back a folder written by save()."""
        folder = check_saved_run(folder)
        with np.load(folder / "snapshots.npz") as npz:
            snapshots = Snapshots(npz["epochs"], tuple(str(i) for i in npz["frame_ids"]), npz["images"],
                                  npz["masks"], npz["predictions"])
        model = None
        if load_model and (folder / "model.keras").is_file():
            model = keras.saving.load_model(folder / "model.keras")
        return cls(json.loads((folder / "history.json").read_text()), snapshots,
                   Split.from_dict(json.loads((folder / "split.json").read_text())),
                   json.loads((folder / "config.json").read_text()), model)

    def evaluate(self, record: Record, frame_ids=None, threshold: float = 0.5, resolution: str | None = None,
                 flip_average: bool = False):
        """Per-frame IoU / Dice / accuracy of the model on frames of record (default: the held-out ones).

        Scored at the frames' original resolution whenever their mask files are found (see evaluate()).
        """
        if self.model is None:
            raise ValueError("this TrainingResult holds no model (loaded with load_model=False, or model.keras is "
                             "missing); load it with TrainingResult.load(folder, load_model=True) to evaluate")
        frame_ids = self.split.heldout_ids if frame_ids is None else frame_ids
        frame_ids = (frame_ids,) if isinstance(frame_ids, str) else tuple(frame_ids)
        if not frame_ids:
            raise DataError(f"no frames to evaluate: this run held out none (all {len(self.split.train_ids)} "
                            "trained); pass frame_ids=[...] to score chosen frames (training frames measure the "
                            "fit, not how the model does on frames it has not seen)")
        return evaluate(self.model, record, frame_ids, threshold,
                        from_logits=self.config.get("compile", {}).get("from_logits"), resolution=resolution,
                        flip_average=flip_average)


def original_masks(record: Record) -> list[np.ndarray] | None:
    """The record's masks at their files' own size, read from record.root/masks (None where not found)."""
    folder = None if record.root is None else Path(record.root) / "masks"
    if folder is None or not folder.is_dir():
        return None
    files = {path.stem: path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES}
    if not all(frame_id in files for frame_id in record.ids):
        return None
    return [read_mask(files[frame_id]) for frame_id in record.ids]


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 4, from_logits: bool | None = None,
            flip_average: bool = False) -> np.ndarray:
    """Person probabilities (N, H, W, 1) float32 for frames (N, H, W, 3), also from a model that outputs logits.

    from_logits: None tells from the model (its compiled loss, else a last layer with no activation).
    flip_average: also predict the mirrored frames and average (test-time augmentation, twice the inference cost).
    """
    logits = outputs_logits(model) if from_logits is None else from_logits

    def probabilities_of(frames):
        """The model's outputs on frames, as probabilities."""
        outputs = np.asarray(model.predict(frames, batch_size=batch_size, verbose=0), np.float32)
        return sigmoid(outputs) if logits else outputs

    probabilities = probabilities_of(images)
    if flip_average:
        probabilities = (probabilities + probabilities_of(images[:, :, ::-1])[:, :, ::-1]) / 2
    return probabilities


def evaluate(model: keras.Model, record: Record, frame_ids=None, threshold: float = 0.5,
             from_logits: bool | None = None, resolution: str | None = None, flip_average: bool = False):
    """Per-frame IoU / Dice / pixel accuracy (a MetricsTable) of a model on frames of a record (default: all).

    resolution "original" scores what users see: probabilities predicted at the model's size, resized
    bilinearly to each frame's original size, against the original masks read from record.root/masks.
    "model" scores at the model's size. Default: "original" whenever the original masks can be found.
    The table's `resolution` attribute says which was used. flip_average: see predict().
    A TrainingResult in place of the model evaluates its model (default: its held-out frames).
    """
    if isinstance(model, TrainingResult):
        return model.evaluate(record, frame_ids, threshold, resolution, flip_average)
    if resolution not in (None, "original", "model"):
        raise ValueError(f"resolution must be 'original' or 'model', got {resolution!r}")
    frame_ids = (frame_ids,) if isinstance(frame_ids, str) else tuple(record.ids if frame_ids is None else frame_ids)
    part = record.subset(frame_ids)
    originals = original_masks(part) if resolution in (None, "original") else None
    if resolution == "original" and originals is None:
        raise DataError(f"the original masks of {list(part.ids)} are not found under {part.root}/masks; "
                        "pass resolution='model' or load the record from its folder")
    probabilities = predict(model, part.images, from_logits=from_logits, flip_average=flip_average)
    if originals is None:
        table = per_frame_metrics(part.ids, part.masks, probabilities, threshold)
        table.resolution = "model {} x {}".format(*part.size)
        return table
    return score_at_original_size(part.ids, originals, probabilities, threshold)


def score_at_original_size(frame_ids, originals, probabilities: np.ndarray, threshold: float = 0.5) -> MetricsTable:
    """Per-frame metrics of probabilities (at model size) resized bilinearly to each original mask's size."""
    table = MetricsTable()
    for frame_id, mask, probability in zip(frame_ids, originals, probabilities):
        full = resize_probabilities(probability, mask.shape[:2])
        table.extend(per_frame_metrics([frame_id], mask[None], full[None], threshold))
    table.resolution = "original" + "".join(sorted({" {} x {}".format(*m.shape[:2]) for m in originals}))
    return table


def check_split(record: Record, split: Split) -> None:
    """Errors and warnings about a split before training: unknown ids, no held-out frames, empty masks."""
    if not split.train_ids:
        raise DataError("the training split is empty; name at least one frame id to train on")
    train_part, heldout_part = record.subset(split.train_ids), record.subset(split.heldout_ids)
    if not isinstance(record, Record):  # frames streamed from files: their masks are read as training goes
        return
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


def _input_data(record, split: Split, preset: Preset, seed: int, batch: int, snapshot_frames, cache):
    """Training batches (repeated), held-out batches and the shown frames (in memory), from a Record or files."""
    if isinstance(record, RecordFiles):
        data = streaming_dataset(record.subset(split.train_ids), preset, seed, cache, batch_size=batch)
        validation = (streaming_dataset(record.subset(split.heldout_ids), preset, cache=cache, batch_size=4,
                                        training=False) if split.heldout_ids else None)
        wanted = snapshot_frames if snapshot_frames is not None else split.train_ids[:4] + split.heldout_ids[:4]
        return data.repeat(), validation, record.load(tuple(wanted))
    train_part, heldout_part = record.subset(split.train_ids), record.subset(split.heldout_ids)
    data = training_dataset(train_part.images, train_part.masks, preset, seed, batch_size=batch)
    # Our own small dataset: Keras' adapter for arrays adds an AUTOTUNE prefetch, slow to tear down on 2 cores.
    validation = (tf.data.Dataset.from_tensor_slices((heldout_part.images, heldout_part.masks)).batch(4)
                  if len(heldout_part) else None)
    # Repeated, one pass after another: the same batches Keras would draw pass by pass, and skippable on resume.
    return data.repeat(), validation, record.subset(tuple(snapshot_frames) if snapshot_frames is not None
                                                    else record.ids)


def _validated_last(history: dict) -> bool:
    """True when the last epoch of a history has held-out scores."""
    return bool(history.get("val_loss")) and not math.isnan(history["val_loss"][-1])


def train(model: keras.Model, record: Record | RecordFiles, split: Split, preset: Preset | str = "cpu", *,
          epochs: int | None = None, seed: int = 0, loss=None, optimizer=None, metrics=None,
          from_logits: bool | None = None, snapshot_frames=None, snapshot_every: int = 1, snapshot_epochs=None,
          progress: bool = True, callbacks=(), tensorboard=None, strategy=None, backup_dir=None,
          cache="auto", validate_every: int = 1) -> TrainingResult:
    """Train the model with model.fit on the split's training frames, scoring the held-out frames every epoch.

    Compile is yours, as in Keras: `loss`, `optimizer` and `metrics` given here win; else what you passed to
    model.compile; else the package's Dice + focal loss and Adam with the preset's learning rate and schedule.
    The package's pixel accuracy, IoU and Dice are added to your metrics (the epoch log, final("iou") and the
    curves need them). result.config["compile"] records what was used and who chose it.

    Your own model: one input (N, H, W, 3) with H, W the record's size or None; one output (N, H, W, 1) with a
    sigmoid (probabilities) or no activation (logits, detected, or say from_logits=True). Anything else is
    refused with a one-line error naming the fix (cae_tutorial.contract).
    The preset's batch_size is capped at the number of training frames (a warning says so); each pass over the
    training frames ends with a smaller batch when batch_size does not divide them.

    record: a Record in memory, or a RecordFiles listing streamed from its files (pipeline.streaming_dataset);
    snapshot_frames: ids to record predictions of (default: every frame of a Record; for RecordFiles the first
    4 training and 4 held-out frames, the only frames then held in memory);
    snapshot_every / snapshot_epochs: when to record them (default: every epoch, plus epoch 0 before training).
    Snapshots are probabilities, also for a model that outputs logits.
    tensorboard: a folder to log loss, metrics and the snapshots as images to (`tensorboard --logdir DIR`).
    strategy: a tf.distribute strategy the model was built in (distribute.choose_strategy); the global batch is
    the preset's batch x replicas; backup_dir: resume from / back up to this folder each epoch (a folder, or
    a resume.RunBackup; see resume.py), removed at the end unless the RunBackup has keep=True;
    cache: for RecordFiles, where decoded frames are cached ("auto", "memory", None or a file path);
    validate_every: score the held-out frames every N epochs (Keras' validation_freq) and after the last one;
    the history holds NaN at the epochs between (scoring after every epoch took 18 % of notebook 4's fit).
    """
    preset = get_preset(preset).resolved()  # the run saves the dtype it really used, not "auto"
    epochs = preset.epochs if epochs is None else epochs
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise TypeError(f"epochs must be a positive int, got {epochs!r}")
    preset = preset.with_(epochs=epochs)  # progressive resizing and the saved config follow the epochs run
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if not isinstance(validate_every, int) or isinstance(validate_every, bool) or validate_every < 1:
        raise TypeError(f"validate_every must be a positive int (1: after every epoch), got {validate_every!r}")
    check_split(record, split)
    check_input(model, record.size)
    keras.utils.set_random_seed(seed)
    batch = global_batch_size(preset, strategy)
    if batch > len(split.train_ids):
        warnings.warn(f"batch_size={batch} but the split has {len(split.train_ids)} training frames: every "
                      f"batch holds those {len(split.train_ids)}; set batch_size <= {len(split.train_ids)} to say so",
                      UserWarning, stacklevel=2)
    data, validation, shown = _input_data(record, split, preset, seed, batch, snapshot_frames, cache)
    probe = shown.images[:1]
    check_output(model, probe)
    steps = preset.steps_per_epoch or math.ceil(len(split.train_ids) / batch)
    with (strategy or tf.distribute.get_strategy()).scope():
        compiled = compile_for_training(model, preset, steps, epochs, probe, loss=loss, optimizer=optimizer,
                                        metrics=metrics, from_logits=from_logits)
    extra = [EpochProgress()] if progress else []
    snapshots = PredictionSnapshots(shown.ids, shown.images, snapshot_every, snapshot_epochs,
                                    from_logits=compiled["from_logits"])
    logs = EpochLogs()
    first, done, backup = [snapshots, logs], 0, None
    if backup_dir is not None:
        # A whole backup of each epoch, after the snapshots and logs it holds (resume.RunBackup). Resumed: the
        # backup is restored, then the batches already trained on are skipped, so the data order (and the
        # augmentation) continues as if the run had never stopped.
        backup = backup_dir if isinstance(backup_dir, resume.RunBackup) else resume.RunBackup(backup_dir)
        backup.snapshots, backup.logs = snapshots, logs
        backup.run = backup.run or json.loads(json.dumps(
            {"preset": preset.to_dict(), "seed": seed, "split": split.to_dict(), "steps_per_epoch": steps,
             "global_batch_size": batch, "size": list(record.size), "snapshot_frames": list(shown.ids),
             "validate_every": validate_every}))
        with (strategy or tf.distribute.get_strategy()).scope():
            done = backup.restore(model)
        data = data.skip(done * steps)
        first.append(backup)
    for callback in callbacks:
        if isinstance(callback, PredictionSnapshots):  # e.g. a live scrubber's: it must show probabilities too
            callback.from_logits = compiled["from_logits"]
            callback.follow(snapshots)  # same epochs and frames: predict them once, not twice
    if tensorboard is not None:
        extra += tensorboard_callbacks(tensorboard, snapshots, shown.masks, split.heldout_ids)
    start = time.perf_counter()
    model.fit(data, epochs=epochs, initial_epoch=done, steps_per_epoch=steps, validation_data=validation,
              validation_freq=validate_every, callbacks=[*first, *extra, *callbacks], shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    history = logs.history
    if validation is not None and history.get("loss") and not _validated_last(history):
        scores = model.evaluate(validation, verbose=0, return_dict=True)  # the last epoch is always scored
        for key, value in scores.items():
            history.setdefault(f"val_{key}", [math.nan] * len(history["loss"]))[-1] = float(value)
    if backup is not None and not backup.keep:
        backup.remove()
    config = {"preset": preset.to_dict(), "epochs": epochs, "seed": seed, "steps_per_epoch": steps,
              "record_root": None if record.root is None else record.root.name, "size": list(record.size),
              "train_seconds": round(seconds, 3), "validate_every": validate_every,
              "parameters": model.count_params(), "compile": compiled,
              "replicas": replicas(strategy), "global_batch_size": batch, "records": split_records(split)}
    config = json.loads(json.dumps(config))  # JSON types now, so a saved and reloaded config compares equal
    return TrainingResult(
        {k: [float(v) for v in values] for k, values in history.items()},
        Snapshots(np.array(snapshots.epochs, dtype=int), shown.ids, to_uint8(shown.images),
                  to_uint8(shown.masks[..., 0]), snapshots.stacked()),
        split, config, model)
