"""Keras callbacks the training loop uses: per-epoch prediction snapshots, progress lines, a time budget,
and TensorBoard (scalars plus the prediction snapshots as images)."""

from __future__ import annotations

import math
import sys
import time
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


class PredictionSnapshots(keras.callbacks.Callback):
    """Records the model's predictions on chosen frames (uint8) before training and at chosen epochs.

    from_logits: the model outputs logits; the snapshots store their sigmoid (probabilities) all the same.
    Each function in `listeners` is called as listener(epoch, predictions) right after a snapshot is recorded:
    the live epoch scrubber and the TensorBoard image writer feed on it.
    """

    def __init__(self, frame_ids, images: np.ndarray, every: int = 1, epochs=None, batch_size: int = 8,
                 from_logits: bool = False):
        super().__init__()
        self.from_logits = from_logits
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"snapshot every={every!r}: give a positive int (1 = every epoch)")
        self.frame_ids, self.images = tuple(frame_ids), images
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

    With train(validate_every=N) the held-out scores (val_*) arrive every N epochs only; NaN keeps every list
    one value per epoch, so epoch e is always index e - 1.
    """
    done = max((len(values) for values in history.values()), default=0)
    for key in {*history, *(logs or {})}:
        history.setdefault(key, [math.nan] * done).append(float((logs or {}).get(key, math.nan)))


class EpochLogs(keras.callbacks.Callback):
    """Keras' History with one value per epoch for every key (NaN where a key was not logged that epoch)."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch, logs=None):
        """Keras hook: keep this epoch's logs."""
        append_logs(self.history, logs)


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
            heldout = (f" | held-out loss {logs['val_loss']:.3f} IoU {logs['val_iou']:.3f}"
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
        raise ImportError("train(..., tensorboard=DIR) needs the tensorboard package: "
                          "pip install 'cae-tutorial[tensorboard]'") from error


class SnapshotImages(keras.callbacks.Callback):
    """Writes every prediction snapshot to TensorBoard as images (step = epoch): frame | true mask | prediction.

    Tags are `train/<frame id>` and `held_out/<frame id>`, so TensorBoard's step slider scrubs the epochs.
    """

    def __init__(self, log_dir, snapshots: PredictionSnapshots, masks: np.ndarray, heldout_ids=()):
        super().__init__()
        self.log_dir = Path(log_dir) / "predictions"
        heldout = set(heldout_ids)
        self.tags = [f"{'held_out' if i in heldout else 'train'}/{i}" for i in snapshots.frame_ids]
        truths = np.repeat(to_uint8(np.asarray(masks, np.float32).reshape(*masks.shape[:3], 1)), 3, axis=-1)
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


def tensorboard_callbacks(log_dir, snapshots: PredictionSnapshots, masks: np.ndarray,
                          heldout_ids=()) -> list[keras.callbacks.Callback]:
    """Keras' TensorBoard callback (loss and metrics, training and held-out, per epoch) plus SnapshotImages."""
    _require_tensorboard()
    return [keras.callbacks.TensorBoard(str(log_dir), write_graph=False, profile_batch=0),
            SnapshotImages(log_dir, snapshots, masks, heldout_ids)]
