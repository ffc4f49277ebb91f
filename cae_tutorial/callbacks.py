"""Keras callbacks to add to your own ``model.fit``: per-epoch prediction snapshots, the epoch log (with the fit's
time), scoring the last epoch under ``validation_freq``, progress lines, a time budget, and TensorBoard (scalars plus
the prediction snapshots as images). ``cae_tutorial.training.train`` uses the same ones."""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np


def to_uint8(probabilities) -> np.ndarray:
    """Probabilities in [0, 1] as uint8 0..255: a quarter of the memory of float32, plenty for display."""
    return np.clip(np.rint(np.asarray(probabilities, np.float32) * 255.0), 0, 255).astype(np.uint8)


def sigmoid(logits) -> np.ndarray:
    """Probabilities from logits, float32, without overflow for large |logits|."""
    logits = np.asarray(logits, np.float32)
    return np.exp(-np.logaddexp(0.0, -logits)).astype(np.float32)


def _float_frames(frames, name: str = "frames") -> np.ndarray:
    """Frames (N, H, W, 3) as float32 in [0, 1], from float in [0, 1] or uint8 0..255 (one frame (H, W, 3) too)."""
    array = np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"{name} have shape {array.shape}; give (N, height, width, 3) RGB frames, float in [0, 1] "
                         "or uint8 0..255")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} are {array.dtype}; give float32 in [0, 1] or uint8 0..255")
    return array.astype(np.float32, copy=False)


def _float_masks(masks, count: int, size) -> np.ndarray:
    """True masks (N, H, W, 1) float32 in {0, 1}, from bool, float in [0, 1], or uint8 (0/255, or 0/1)."""
    array = np.asarray(masks)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] != 1 or array.shape[0] != count or tuple(array.shape[1:3]) != tuple(size):
        raise ValueError(f"masks have shape {array.shape}; give one mask per frame, ({count}, {size[0]}, {size[1]}) "
                         "or with a last axis of 1")
    if array.dtype == np.uint8:
        return (array > (127 if array.max(initial=0) > 1 else 0)).astype(np.float32)
    return (array.astype(np.float32) >= 0.5).astype(np.float32)


def _frames_of(frames, frame_ids=None, masks=None):
    """(frame ids, float frames, float masks or None) from a Record or from arrays."""
    if hasattr(frames, "load") and not hasattr(frames, "images"):  # RecordFiles: read the chosen frames only
        frames, frame_ids = frames.load(frame_ids), None
    if hasattr(frames, "ids") and hasattr(frames, "images"):  # a Record (or anything shaped like one)
        part = frames if frame_ids is None else frames.subset(
            (frame_ids,) if isinstance(frame_ids, str) else tuple(frame_ids))
        return tuple(part.ids), _float_frames(part.images), np.asarray(part.masks, np.float32)
    images = _float_frames(frames)
    ids = tuple(f"frame_{i}" for i in range(len(images))) if frame_ids is None else (
        (frame_ids,) if isinstance(frame_ids, str) else tuple(frame_ids))
    if len(ids) != len(images):
        raise ValueError(f"{len(ids)} frame ids for {len(images)} frames; give one id per frame")
    return ids, images, None if masks is None else _float_masks(masks, len(images), images.shape[1:3])


class PredictionSnapshots(keras.callbacks.Callback):
    """Records the model's predictions on chosen frames (uint8) before training and at chosen epochs.

    frames: a Record (its frames and true masks; frame_ids picks some of them), or frames as an array
    (N, H, W, 3), float in [0, 1] or uint8 0..255 (then masks=, optional: (N, H, W) or (N, H, W, 1), bool, float
    in [0, 1] or uint8 0/255). every / epochs: record every N epochs (and the last), or at the listed epochs
    (0 is before training). from_logits: whether the model outputs logits (None: told from the model when
    training starts); the snapshots store probabilities either way.
    Each function in `listeners` is called as listener(epoch, predictions) right after a snapshot is recorded:
    the live epoch scrubber and the TensorBoard image writer feed on it.
    """

    def __init__(self, frames, frame_ids=None, *, masks=None, every: int = 1, epochs=None, batch_size: int = 8,
                 from_logits: bool | None = None):
        super().__init__()
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"snapshot every={every!r}: give a positive int (1 = every epoch)")
        self.frame_ids, self.images, self.masks = _frames_of(frames, frame_ids, masks)
        self.from_logits = from_logits
        self.every, self.wanted, self.batch_size = every, None if epochs is None else set(epochs), batch_size
        self.epochs: list[int] = []
        self.predictions: list[np.ndarray] = []
        self.listeners: list = []
        self.source: PredictionSnapshots | None = None

    def same_schedule(self, other: PredictionSnapshots) -> bool:
        """True when both record at the same epochs (so one can take the other's predictions)."""
        return (self.every, self.wanted) == (other.every, other.wanted)

    def follow(self, source: PredictionSnapshots) -> bool:
        """Take predictions from `source` (same schedule, frames a subset of its own) instead of predicting again.

        train() does this for a live scrubber's callback, so each snapshot epoch predicts the frames once.
        Returns False, changing nothing, when the schedules or frames do not match.
        """
        if not self.same_schedule(source) or not set(self.frame_ids) <= set(source.frame_ids):
            return False
        rows = [source.frame_ids.index(frame_id) for frame_id in self.frame_ids]
        self.source = source
        for epoch, predictions in zip(source.epochs, source.predictions):  # a resumed run's earlier epochs
            self._add(epoch, predictions[rows])
        source.listeners.append(lambda epoch, predictions: self._add(epoch, predictions[rows]))
        return True

    def _record(self, epoch: int) -> None:
        if self.source is not None:  # the source records this epoch and hands it over
            return
        batches = [self.model.predict_on_batch(self.images[i:i + self.batch_size])
                   for i in range(0, len(self.images), self.batch_size)]
        outputs = np.concatenate(batches)
        self._add(epoch, to_uint8(sigmoid(outputs) if self.from_logits else outputs)[..., 0])

    def _add(self, epoch: int, predictions: np.ndarray) -> None:
        self.epochs.append(epoch)
        self.predictions.append(predictions)
        for listener in self.listeners:
            listener(epoch, predictions)

    def stacked(self) -> np.ndarray:
        """All recorded predictions as one uint8 array (n_epochs, n_frames, H, W)."""
        if not self.predictions:
            return np.zeros((0, *self.images.shape[:3]), np.uint8)
        return np.stack(self.predictions)

    def on_train_begin(self, logs=None):
        """Keras hook: training starts."""
        if self.from_logits is None:
            from cae_tutorial.contract import outputs_logits

            self.from_logits = outputs_logits(self.model)
        if (self.wanted is None or 0 in self.wanted) and 0 not in self.epochs:  # a resumed run has epoch 0
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        """Keras hook: an epoch (and its validation) has ended."""
        done = epoch + 1
        last = done == self.params.get("epochs")
        if (done in self.wanted) if self.wanted is not None else (done % self.every == 0 or last):
            self._record(done)


def append_logs(history: dict, logs: dict) -> None:
    """Add one epoch's logs to history (key -> list per epoch); a key missing this epoch gets NaN there.

    With fit(validation_freq=N) (train: TrainOptions(validate_every=N)) the held-out scores (val_*) arrive every
    N epochs only; NaN keeps every list one value per epoch, so epoch e is always index e - 1.
    """
    done = max((len(values) for values in history.values()), default=0)
    for key in {*history, *(logs or {})}:
        history.setdefault(key, [math.nan] * done).append(float((logs or {}).get(key, math.nan)))


class EpochLogs(keras.callbacks.Callback):
    """Keras' History with one value per epoch for every key (NaN where a key was not logged that epoch), the
    seconds `fit` took (`seconds`, None before training ends) and each epoch's own seconds (`epoch_seconds`).

    An epoch's seconds run from Keras' epoch start to its end, so they include any held-out scoring of that epoch.
    The first epoch of a model also traces its training step, and the first of each fit starts the dataset's
    iterator: the median epoch of a run is the steadier measure of its work.

    With validation_freq=N, Keras logs the held-out scores (val_*) every N epochs only; NaN keeps every list one
    value per epoch. A model compiled without the package's IoU gets one warning (the epoch log, the curves and
    result.final("iou") need it).
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.seconds: float | None = None
        self.epoch_seconds: list[float] = []
        self._start = None
        self._epoch_start = None

    def on_train_begin(self, logs=None):
        """Keras hook: start the clock."""
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        """Keras hook: start this epoch's clock."""
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Keras hook: keep this epoch's logs and seconds."""
        if self._epoch_start is not None:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_start)
            self._epoch_start = None
        if not self.history and logs and "iou" not in logs:
            warnings.warn(f"the model's metrics log no 'iou' (it logs {sorted(logs)}): compile it with "
                          "**cae_tutorial.compile_settings(preset, loss=..., optimizer=...) to add the package's "
                          "accuracy, IoU and Dice to your own loss and optimiser", UserWarning, stacklevel=2)
        append_logs(self.history, logs)

    def on_train_end(self, logs=None):
        """Keras hook: stop the clock (several fits add up)."""
        if self._start is not None:
            self.seconds = (self.seconds or 0.0) + time.perf_counter() - self._start
            self._start = None


class ScoreLastEpoch(keras.callbacks.Callback):
    """Scores the held-out data after the last epoch when fit(validation_freq=N) skipped it.

    Put it before the callbacks that read the held-out scores (EpochLogs, EpochProgress): it adds val_* to the
    last epoch's logs. Use it with Keras' own validation_freq:
    ``model.fit(..., validation_data=heldout, validation_freq=5, callbacks=[ScoreLastEpoch(heldout), logs])``.
    """

    def __init__(self, validation_data):
        super().__init__()
        self.validation_data = validation_data

    def on_epoch_end(self, epoch, logs=None):
        """Keras hook: on the last epoch, score the held-out data if Keras did not."""
        if self.validation_data is None or logs is None or epoch + 1 != self.params.get("epochs"):
            return
        if "val_loss" not in logs:
            scores = self.model.evaluate(self.validation_data, verbose=0, return_dict=True)
            logs.update({f"val_{key}": float(value) for key, value in scores.items()})


class EpochProgress(keras.callbacks.Callback):
    """One short line every few epochs: readable in a terminal, a notebook, and a CI log."""

    def __init__(self, lines: int = 10, stream=None):
        super().__init__()
        self.lines, self.stream, self.start = lines, stream, 0.0

    def on_train_begin(self, logs=None):
        """Keras hook: training starts."""
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Keras hook: an epoch (and its validation) has ended."""
        total = self.params.get("epochs") or 1
        done = epoch + 1
        if done == 1 or done == total or done % max(1, math.ceil(total / self.lines)) == 0:
            logs = logs or {}
            heldout = (f" | held-out loss {logs['val_loss']:.3f} IoU {logs.get('val_iou', math.nan):.3f}"
                       if "val_loss" in logs else "")
            print(f"epoch {done:>4}/{total}  loss {logs.get('loss', float('nan')):.3f} "
                  f"IoU {logs.get('iou', float('nan')):.3f}{heldout}  ({time.perf_counter() - self.start:.1f} s)",
                  file=self.stream or sys.stdout, flush=True)


class TimeBudget(keras.callbacks.Callback):
    """Stops training at the end of the first epoch that finishes past `seconds` of wall-clock time."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.start, self.stopped_epoch = seconds, 0.0, None

    def on_train_begin(self, logs=None):
        """Keras hook: training starts."""
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Keras hook: an epoch (and its validation) has ended."""
        if time.perf_counter() - self.start >= self.seconds:
            self.model.stop_training, self.stopped_epoch = True, epoch + 1


def _require_tensorboard() -> None:
    """Fail early, with the fix, when the tensorboard extra is not installed."""
    try:
        import tensorboard  # noqa: F401
    except ImportError as error:
        raise ImportError("TensorBoard logging (tensorboard_callbacks, or TrainOptions(tensorboard=DIR)) needs the "
                          "tensorboard package: "
                          "pip install 'cae-tutorial[tensorboard]'") from error


class SnapshotImages(keras.callbacks.Callback):
    """Writes every prediction snapshot to TensorBoard as images (step = epoch): frame | true mask | prediction.

    Tags are `train/<frame id>` and `held_out/<frame id>`, so TensorBoard's step slider scrubs the epochs.
    """

    def __init__(self, log_dir, snapshots: PredictionSnapshots, masks: np.ndarray | None = None, heldout_ids=()):
        super().__init__()
        self.log_dir = Path(log_dir) / "predictions"
        heldout = set(heldout_ids)
        self.tags = [f"{'held_out' if i in heldout else 'train'}/{i}" for i in snapshots.frame_ids]
        masks = snapshots.masks if masks is None else np.asarray(masks, np.float32)
        if masks is None:
            masks = np.zeros((*snapshots.images.shape[:3], 1), np.float32)
        truths = np.repeat(to_uint8(masks.reshape(*masks.shape[:3], 1)), 3, axis=-1)
        self.fixed = np.concatenate([to_uint8(snapshots.images), truths], axis=2)  # (N, H, 2W, 3)
        self.writer = None
        snapshots.listeners.append(self.write)

    def write(self, epoch: int, predictions: np.ndarray) -> None:
        """One image per frame at step `epoch`."""
        import tensorflow as tf

        if self.writer is None:
            self.writer = tf.summary.create_file_writer(str(self.log_dir))
        pictures = np.concatenate([self.fixed, np.repeat(predictions[..., None], 3, axis=-1)], axis=2)
        with self.writer.as_default():
            for tag, picture in zip(self.tags, pictures):
                tf.summary.image(tag, picture[None], step=epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        """Keras hook: training has ended."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def tensorboard_callbacks(log_dir, snapshots: PredictionSnapshots, masks: np.ndarray | None = None,
                          heldout_ids=()) -> list[keras.callbacks.Callback]:
    """Keras' TensorBoard callback (loss and metrics, training and held-out, per epoch) plus SnapshotImages."""
    _require_tensorboard()
    return [keras.callbacks.TensorBoard(str(log_dir), write_graph=False, profile_batch=0),
            SnapshotImages(log_dir, snapshots, masks, heldout_ids)]
