"""Dice + focal loss, the metrics watched during training, and per-frame scores after it.

Why two losses: about 90 % of the pixels are background. Dice looks at the
overlap of the whole predicted person with the true one, so that imbalance
cannot fool it, but its gradient is weak and noisy while the overlap is still
near zero. Binary focal cross-entropy gives every pixel a well-behaved gradient
from the first step and down-weights the easy background pixels (gamma = 2).
Both terms are in [0, 1]-ish ranges, so the seed simply adds them (weights 1, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from cae_tutorial.metric_names import METRIC_HEADINGS, MetricNameError, history_key, metric_key  # noqa: F401

DICE_WEIGHT = 1.0
FOCAL_WEIGHT = 1.0
THRESHOLD = 0.5


@keras.saving.register_keras_serializable(package="cae_tutorial")
class DiceFocalLoss(keras.losses.Loss):
    """dice_weight * keras.losses.Dice + focal_weight * keras.losses.BinaryFocalCrossentropy."""

    def __init__(self, dice_weight: float = DICE_WEIGHT, focal_weight: float = FOCAL_WEIGHT,
                 gamma: float = 2.0, name: str = "dice_focal", from_logits: bool = False, **kwargs):
        super().__init__(name=name, **kwargs)
        self.dice_weight, self.focal_weight, self.gamma = dice_weight, focal_weight, gamma
        self.from_logits = from_logits
        # Dice per image (over H, W, C) so that a frame with a small dancer counts as much as one with a big one.
        self.dice = keras.losses.Dice(axis=(1, 2, 3))
        self.focal = keras.losses.BinaryFocalCrossentropy(gamma=gamma, from_logits=from_logits)

    def call(self, y_true, y_pred):
        """Weighted sum of the two Keras losses, computed in float32 (Dice on probabilities)."""
        y_pred = keras.ops.cast(y_pred, "float32")
        probabilities = keras.ops.sigmoid(y_pred) if self.from_logits else y_pred
        return (self.dice_weight * self.dice(y_true, probabilities)
                + self.focal_weight * self.focal(y_true, y_pred))

    def get_config(self):
        """Constructor arguments, for saving and reloading with the model."""
        return {**super().get_config(), "dice_weight": self.dice_weight,
                "focal_weight": self.focal_weight, "gamma": self.gamma, "from_logits": self.from_logits}


def dice_focal_loss(dice_weight: float = DICE_WEIGHT, focal_weight: float = FOCAL_WEIGHT,
                    from_logits: bool = False) -> DiceFocalLoss:
    """The seed's loss: Dice + binary focal cross-entropy, equally weighted (from_logits: outputs before sigmoid)."""
    return DiceFocalLoss(dice_weight, focal_weight, from_logits=from_logits)


@keras.saving.register_keras_serializable(package="cae_tutorial")
class PersonIoU(keras.metrics.BinaryIoU):
    """keras.metrics.BinaryIoU of the person class, with a faster update of the same 2x2 confusion matrix.

    BinaryIoU counts pixels with tf.math.confusion_matrix (a scatter); four sums give the same counts with plain
    reductions. On 2 cores this moved `fit` from 0.66x to 0.73x of a bare tape loop's speed at 512 x 256
    (benchmarks/README.md): a small gain, kept because the numbers are identical.
    """

    def __init__(self, threshold: float = THRESHOLD, name: str = "iou", dtype=None):
        super().__init__(target_class_ids=[1], threshold=threshold, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add this batch's true/false positives and negatives to the confusion matrix."""
        ops = keras.ops
        truth = ops.cast(ops.reshape(y_true, [-1]) > 0.5, self.dtype)
        pred = ops.cast(ops.reshape(ops.cast(y_pred, "float32"), [-1]) > self.threshold, self.dtype)
        weight = (ops.ones_like(truth) if sample_weight is None
                  else ops.reshape(ops.broadcast_to(ops.cast(sample_weight, self.dtype),
                                                    ops.shape(y_true)), [-1]))
        tp = ops.sum(weight * truth * pred)
        fp = ops.sum(weight * pred) - tp
        fn = ops.sum(weight * truth) - tp
        tn = ops.sum(weight) - tp - fp - fn
        # Rows are the true class, columns the predicted class, as in BinaryIoU.
        self.total_cm.assign_add(ops.cast(ops.stack([ops.stack([tn, fp]), ops.stack([fn, tp])]),
                                          self.total_cm.dtype))

    def get_config(self):
        """Constructor arguments, for saving and reloading with the model."""
        return {"threshold": self.threshold, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="cae_tutorial")
class BinaryDice(PersonIoU):
    """Dice score of the person class from the same confusion matrix as BinaryIoU: Dice = 2 IoU / (1 + IoU)."""

    def __init__(self, threshold: float = THRESHOLD, name: str = "dice", dtype=None):
        super().__init__(threshold=threshold, name=name, dtype=dtype)

    def result(self):
        """Dice from the accumulated IoU."""
        iou = super().result()
        return 2.0 * iou / (1.0 + iou)


def training_metrics(threshold: float = THRESHOLD) -> list[keras.metrics.Metric]:
    """Metrics logged every epoch: thresholded pixel accuracy (the seed's), IoU and Dice of the person."""
    return [
        keras.metrics.BinaryAccuracy(threshold=threshold, name="accuracy"),
        PersonIoU(threshold=threshold, name="iou"),
        BinaryDice(threshold=threshold, name="dice"),
    ]


def _confusion(y_true, y_prob, threshold):
    """Per-frame true positives, false positives, false negatives and pixel count."""
    truth = np.asarray(y_true).reshape(len(y_true), -1) > 0.5
    pred = np.asarray(y_prob).reshape(len(y_prob), -1) >= threshold
    tp = np.sum(truth & pred, axis=1)
    fp = np.sum(~truth & pred, axis=1)
    fn = np.sum(truth & ~pred, axis=1)
    return tp, fp, fn, truth.shape[1]


def iou_score(y_true, y_prob, threshold: float = THRESHOLD) -> np.ndarray:
    """IoU of the person class per frame, |pred ∩ true| / |pred ∪ true| (1.0 when both are empty)."""
    tp, fp, fn, _ = _confusion(y_true, y_prob, threshold)
    union = tp + fp + fn
    return np.where(union > 0, tp / np.maximum(union, 1), 1.0)


def dice_score(y_true, y_prob, threshold: float = THRESHOLD) -> np.ndarray:
    """Dice score of the person class per frame, 2 |pred ∩ true| / (|pred| + |true|) (1.0 when both are empty)."""
    tp, fp, fn, _ = _confusion(y_true, y_prob, threshold)
    total = 2 * tp + fp + fn
    return np.where(total > 0, 2 * tp / np.maximum(total, 1), 1.0)


def pixel_accuracy(y_true, y_prob, threshold: float = THRESHOLD) -> np.ndarray:
    """Share of pixels classified right, per frame (all-background already scores ~0.9)."""
    tp, fp, fn, pixels = _confusion(y_true, y_prob, threshold)
    return 1.0 - (fp + fn) / pixels


@dataclass(frozen=True)
class FrameScores:
    """IoU, Dice and pixel accuracy of one frame."""

    frame_id: str
    iou: float
    dice: float
    accuracy: float


class MetricsTable(list):
    """Per-frame scores (a list of FrameScores) that prints as a table and knows its means."""

    def column(self, metric: str = "iou") -> list[float]:
        """One metric's value per frame ('iou', 'IoU', 'Dice', 'pixel accuracy', ... in any case)."""
        return [getattr(row, metric_key(metric)) for row in self]

    def mean(self, metric: str = "iou") -> float:
        """Mean of one metric over the frames ('iou', 'IoU', 'Dice', 'pixel accuracy', ... in any case)."""
        values = self.column(metric)
        return float(np.mean(values)) if values else float("nan")

    def to_dict(self) -> dict:
        """{frame id: {metric: value}} plus a "mean" entry, ready for JSON."""
        rows = {r.frame_id: {"iou": r.iou, "dice": r.dice, "accuracy": r.accuracy} for r in self}
        rows["mean"] = {m: self.mean(m) for m in ("iou", "dice", "accuracy")}
        return rows

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        lines = [f"{'frame':<16}{'IoU':>8}{'Dice':>8}{'accuracy':>10}"]
        lines += [f"{r.frame_id:<16}{r.iou:>8.3f}{r.dice:>8.3f}{r.accuracy:>10.3f}" for r in self]
        lines.append(f"{'mean':<16}{self.mean('iou'):>8.3f}{self.mean('dice'):>8.3f}{self.mean('accuracy'):>10.3f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "<tr><th>frame</th><th>IoU</th><th>Dice</th><th>pixel accuracy</th></tr>"
        body = "".join(f"<tr><td>{r.frame_id}</td><td>{r.iou:.3f}</td><td>{r.dice:.3f}</td><td>{r.accuracy:.3f}</td></tr>"
                       for r in self)
        mean = (f"<tr><th>mean</th><th>{self.mean('iou'):.3f}</th><th>{self.mean('dice'):.3f}</th>"
                f"<th>{self.mean('accuracy'):.3f}</th></tr>")
        return f"<table>{head}{body}{mean}</table>"


def per_frame_metrics(frame_ids, y_true, y_prob, threshold: float = THRESHOLD) -> MetricsTable:
    """IoU, Dice and pixel accuracy for each frame, as a MetricsTable."""
    frame_ids = [frame_ids] if isinstance(frame_ids, str) else list(frame_ids)
    if not len(frame_ids) == len(y_true) == len(y_prob):
        raise ValueError(f"per_frame_metrics got {len(frame_ids)} frame ids, {len(y_true)} true masks and "
                         f"{len(y_prob)} predictions; pass one of each per frame, in the same order")
    if np.shape(y_true)[1:3] != np.shape(y_prob)[1:3]:
        raise ValueError(f"true masks are {np.shape(y_true)[1:3]} but predictions are {np.shape(y_prob)[1:3]} "
                         "(height, width); predict at the masks' size")
    ious, dices, accs = (f(y_true, y_prob, threshold) for f in (iou_score, dice_score, pixel_accuracy))
    return MetricsTable(FrameScores(str(i), float(a), float(b), float(c))
                        for i, a, b, c in zip(frame_ids, ious, dices, accs))
