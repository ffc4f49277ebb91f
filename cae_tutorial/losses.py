"""Dice + focal loss, the metrics watched during training, and per-frame scores after it.

Why two losses: about 90 % of the pixels are background. Dice looks at the
overlap of the whole predicted person with the true one, so that imbalance
cannot fool it, but its gradient is weak and noisy while the overlap is still
near zero. Binary focal cross-entropy gives every pixel a well-behaved gradient
from the first step and down-weights the easy background pixels (gamma = 2).
Both terms are in [0, 1]-ish ranges, so the seed simply adds them (weights 1, 1).

Empty truth: IoU and Dice measure how well the person is outlined, so they are undefined (NaN) where the
truth has no person: per frame for a frame whose mask is all background, and pooled (the epoch log) when
no frame scored so far has a person. Such frames show as "empty truth" in a MetricsTable and are left out of
its means, with a warning. An empty prediction against a person in the truth scores 0. Pixel accuracy is
defined everywhere, so a false alarm on an empty-truth frame still shows there.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import keras
import numpy as np

from cae_tutorial.metric_names import METRIC_HEADINGS, MetricNameError, history_key, metric_key  # noqa: F401

DICE_WEIGHT = 1.0
FOCAL_WEIGHT = 1.0
THRESHOLD = 0.5


@keras.saving.register_keras_serializable(package="cae_tutorial")
class DiceFocalLoss(keras.losses.Loss):
    """dice_weight * keras.losses.Dice + focal_weight * keras.losses.BinaryFocalCrossentropy.

    boundary_weight > 0 makes the focal term boundary-aware: pixels within boundary_width // 2 pixels of the
    true outline count (1 + boundary_weight) times. The outline is where full-resolution scores are won or lost
    (a mask drawn at 256 x 144 is scaled up 3.75 times), and few pixels lie on it to learn it from.
    """

    def __init__(self, dice_weight: float = DICE_WEIGHT, focal_weight: float = FOCAL_WEIGHT,
                 gamma: float = 2.0, name: str = "dice_focal", from_logits: bool = False,
                 boundary_weight: float = 0.0, boundary_width: int = 3, **kwargs):
        super().__init__(name=name, **kwargs)
        self.dice_weight, self.focal_weight, self.gamma = dice_weight, focal_weight, gamma
        self.from_logits = from_logits
        self.boundary_weight, self.boundary_width = float(boundary_weight), int(boundary_width)
        # Dice per image (over H, W, C) so that a frame with a small dancer counts as much as one with a big one.
        self.dice = keras.losses.Dice(axis=(1, 2, 3))
        self.focal = keras.losses.BinaryFocalCrossentropy(gamma=gamma, from_logits=from_logits)

    def call(self, y_true, y_pred):
        """Weighted sum of the two Keras losses, computed in float32 (Dice on probabilities)."""
        y_pred = keras.ops.cast(y_pred, "float32")
        y_true = keras.ops.cast(y_true, "float32")
        probabilities = keras.ops.sigmoid(y_pred) if self.from_logits else y_pred
        if self.boundary_weight:
            per_pixel = keras.losses.binary_focal_crossentropy(y_true, y_pred, gamma=self.gamma,
                                                               from_logits=self.from_logits)
            weights = 1.0 + self.boundary_weight * outline_band(y_true, self.boundary_width)[..., 0]
            # Normalised by the weights, so the term stays on the plain focal loss's scale.
            focal = keras.ops.sum(per_pixel * weights, axis=(1, 2)) / keras.ops.sum(weights, axis=(1, 2))
        else:
            focal = self.focal(y_true, y_pred)
        return self.dice_weight * self.dice(y_true, probabilities) + self.focal_weight * focal

    def get_config(self):
        """Constructor arguments, for saving and reloading with the model."""
        return {**super().get_config(), "dice_weight": self.dice_weight, "focal_weight": self.focal_weight,
                "gamma": self.gamma, "from_logits": self.from_logits, "boundary_weight": self.boundary_weight,
                "boundary_width": self.boundary_width}


def outline_band(masks, width: int = 3):
    """1 where a (N, H, W, 1) mask changes within a width x width window (a band along the outline), else 0."""
    grown = keras.ops.max_pool(masks, pool_size=width, strides=1, padding="same")
    shrunk = -keras.ops.max_pool(-masks, pool_size=width, strides=1, padding="same")
    return grown - shrunk


def dice_focal_loss(dice_weight: float = DICE_WEIGHT, focal_weight: float = FOCAL_WEIGHT,
                    from_logits: bool = False, boundary_weight: float = 0.0) -> DiceFocalLoss:
    """The seed's loss: Dice + binary focal cross-entropy, equally weighted (from_logits: outputs before sigmoid;
    boundary_weight: extra weight of the focal term along the true outline, see DiceFocalLoss)."""
    return DiceFocalLoss(dice_weight, focal_weight, from_logits=from_logits, boundary_weight=boundary_weight)


@keras.saving.register_keras_serializable(package="cae_tutorial")
class PersonIoU(keras.metrics.BinaryIoU):
    """keras.metrics.BinaryIoU of the person class, with a faster update of the same 2x2 confusion matrix.

    BinaryIoU counts pixels with tf.math.confusion_matrix (a scatter); four sums give the same counts with plain
    reductions.
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

    def result(self):
        """IoU of the person class, NaN while no true person pixel has been seen (nothing to outline)."""
        truth = self.total_cm[1, 0] + self.total_cm[1, 1]
        iou = super().result()
        return keras.ops.where(truth > 0, iou, keras.ops.full_like(iou, math.nan))

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


def _warn_empty_truth(tp, fn, frame_ids=None, stacklevel: int = 3) -> None:
    """Warn, naming the frames, when some truth masks have no person (their IoU and Dice are NaN)."""
    empty = np.flatnonzero(tp + fn == 0)
    if len(empty):
        names = [str(frame_ids[i]) for i in empty] if frame_ids is not None else [f"#{i}" for i in empty]
        warnings.warn(f"frames {names} have an all-background truth mask: their IoU and Dice are undefined "
                      "(NaN, 'empty truth') and left out of means; check those masks", stacklevel=stacklevel)


def _iou(tp, fp, fn) -> np.ndarray:
    """tp / (tp + fp + fn), NaN where the truth is empty."""
    return np.where(tp + fn > 0, tp / np.maximum(tp + fp + fn, 1), np.nan)


def _dice(tp, fp, fn) -> np.ndarray:
    """2 tp / (2 tp + fp + fn), NaN where the truth is empty."""
    return np.where(tp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), np.nan)


def _accuracy(fp, fn, pixels) -> np.ndarray:
    """1 - (fp + fn) / pixels: the share of pixels classified right."""
    return 1.0 - (fp + fn) / pixels


def iou_score(y_true, y_prob, threshold: float = THRESHOLD) -> np.ndarray:
    """IoU of the person class per frame, |pred ∩ true| / |pred ∪ true|; NaN (with a warning) for empty truth."""
    tp, fp, fn, _ = _confusion(y_true, y_prob, threshold)
    _warn_empty_truth(tp, fn)
    return _iou(tp, fp, fn)


def dice_score(y_true, y_prob, threshold: float = THRESHOLD) -> np.ndarray:
    """Dice of the person class per frame, 2 |pred ∩ true| / (|pred| + |true|); NaN (warned) for empty truth."""
    tp, fp, fn, _ = _confusion(y_true, y_prob, threshold)
    _warn_empty_truth(tp, fn)
    return _dice(tp, fp, fn)


def pixel_accuracy(y_true, y_prob, threshold: float = THRESHOLD) -> np.ndarray:
    """Share of pixels classified right, per frame (all-background already scores ~0.9)."""
    tp, fp, fn, pixels = _confusion(y_true, y_prob, threshold)
    return _accuracy(fp, fn, pixels)


@dataclass(frozen=True)
class FrameScores:
    """IoU, Dice and pixel accuracy of one frame."""

    frame_id: str
    iou: float
    dice: float
    accuracy: float


class MetricsTable(list):
    """Per-frame scores (a list of FrameScores) that prints as a table and knows its means.

    A frame with an empty truth mask has NaN IoU and Dice: it prints as "empty truth" and means leave it out.
    `parts` (frame id -> "training" / "held-out", set by evaluate when a split is known) gives one mean per part
    instead of one mixed mean; `about` holds the lines printed under the table (which frames, which resolution).
    """

    parts: dict = {}
    about: tuple = ()

    def empty_truth(self) -> list[str]:
        """Ids of the frames whose truth mask is all background (IoU and Dice undefined)."""
        return [row.frame_id for row in self if math.isnan(row.iou)]

    def part_names(self) -> list[str]:
        """The parts present, in order of first appearance ([] when no split is known)."""
        present = {self.parts[row.frame_id] for row in self if row.frame_id in self.parts}
        return [part for part in ("training", "held-out", "not in the split") if part in present]

    def _rows(self, part: str | None):
        return [row for row in self if part is None or self.parts.get(row.frame_id) == part]

    def _mean(self, metric: str, part: str | None = None) -> float:
        """Mean of one metric over the frames (of one part) where it is defined (NaN if none)."""
        values = [getattr(row, metric) for row in self._rows(part) if not math.isnan(getattr(row, metric))]
        return float(np.mean(values)) if values else float("nan")

    def column(self, metric: str = "iou") -> list[float]:
        """One metric's value per frame ('iou', 'IoU', 'Dice', 'pixel accuracy', ... in any case)."""
        return [getattr(row, metric_key(metric)) for row in self]

    def mean(self, metric: str = "iou", part: str | None = None) -> float:
        """Mean of one metric over the frames where it is defined ('iou', 'IoU', 'Dice', ... in any case).

        part: "training" or "held-out" for a table that marks its frames' parts; a mean over several parts warns.
        Frames where it is undefined (empty truth) are left out, with a warning naming them.
        """
        metric = metric_key(metric)
        if part is not None and part not in self.part_names():
            raise ValueError(f"part={part!r}: this table's parts are {self.part_names() or 'not known'}")
        if part is None and len(self.part_names()) > 1:
            warnings.warn(f"mean {metric} mixes {' and '.join(self.part_names())} frames; pass part=... for one",
                          stacklevel=2)
        left_out = [row.frame_id for row in self._rows(part) if math.isnan(getattr(row, metric))]
        if left_out:
            warnings.warn(f"mean {metric} leaves out frames {left_out}: their truth mask is empty, so "
                          f"{metric} is undefined there", stacklevel=2)
        return self._mean(metric, part)

    def to_dict(self) -> dict:
        """{frame id: {metric: value}} plus a "mean" entry (and "mean <part>" ones), ready for JSON."""
        rows = {r.frame_id: {"iou": r.iou, "dice": r.dice, "accuracy": r.accuracy} for r in self}
        rows["mean"] = {m: self._mean(m) for m in ("iou", "dice", "accuracy")}
        for part in self.part_names() if len(self.part_names()) > 1 else ():
            rows[f"mean {part}"] = {m: self._mean(m, part) for m in ("iou", "dice", "accuracy")}
        return rows

    def __repr__(self) -> str:
        return str(self)

    def _note(self) -> str:
        """A footnote when frames were left out of the means, else ''."""
        empty = self.empty_truth()
        return (f"empty truth: {len(empty)} frame(s) with no person in the mask; IoU and Dice are undefined "
                "there and left out of the means" if empty else "")

    @staticmethod
    def _cell(value: float, width: int) -> str:
        """A score right-aligned in width, or "empty truth" where it is undefined."""
        return f"{'empty truth':>{width}}" if math.isnan(value) else f"{value:>{width}.3f}"

    def _mean_rows(self) -> list[tuple[str, str | None]]:
        """(label, part) of the mean lines: one per part when the table holds several, else one."""
        parts = self.part_names()
        return [(f"mean {part}", part) for part in parts] if len(parts) > 1 else [("mean", None)]

    def __str__(self) -> str:
        several = len(self.part_names()) > 1
        lines = [f"{'frame':<16}{'IoU':>12}{'Dice':>12}{'accuracy':>10}" + ("  part" if several else "")]
        lines += [f"{r.frame_id:<16}{self._cell(r.iou, 12)}{self._cell(r.dice, 12)}{r.accuracy:>10.3f}"
                  + (f"  {self.parts.get(r.frame_id, '')}" if several else "") for r in self]
        lines += [f"{label:<16}{self._mean('iou', part):>12.3f}{self._mean('dice', part):>12.3f}"
                  f"{self._mean('accuracy', part):>10.3f}" for label, part in self._mean_rows()]
        note = self._note()
        return "\n".join(lines + ([note] if note else []) + list(self.about))

    def _repr_html_(self) -> str:
        cell = functools.partial(self._cell, width=0)
        several = len(self.part_names()) > 1
        head = ("<tr><th>frame</th><th>IoU</th><th>Dice</th><th>pixel accuracy</th>"
                + ("<th>part</th>" if several else "") + "</tr>")
        body = "".join(f"<tr><td>{r.frame_id}</td><td>{cell(r.iou)}</td><td>{cell(r.dice)}</td>"
                       f"<td>{r.accuracy:.3f}</td>" + (f"<td>{self.parts.get(r.frame_id, '')}</td>" if several else "")
                       + "</tr>" for r in self)
        mean = "".join(f"<tr><th>{label}</th><th>{self._mean('iou', part):.3f}</th>"
                       f"<th>{self._mean('dice', part):.3f}</th><th>{self._mean('accuracy', part):.3f}</th>"
                       + ("<th></th>" if several else "") + "</tr>" for label, part in self._mean_rows())
        notes = [note for note in (self._note(), *self.about) if note]
        caption = f"<caption style='caption-side: bottom'>{'<br>'.join(notes)}</caption>" if notes else ""
        return f"<table>{head}{body}{mean}{caption}</table>"


def per_frame_metrics(frame_ids, y_true, y_prob, threshold: float = THRESHOLD) -> MetricsTable:
    """IoU, Dice and pixel accuracy for each frame, as a MetricsTable (warns naming empty-truth frames)."""
    frame_ids = [frame_ids] if isinstance(frame_ids, str) else list(frame_ids)
    if not len(frame_ids) == len(y_true) == len(y_prob):
        raise ValueError(f"per_frame_metrics got {len(frame_ids)} frame ids, {len(y_true)} true masks and "
                         f"{len(y_prob)} predictions; pass one of each per frame, in the same order")
    if np.shape(y_true)[1:3] != np.shape(y_prob)[1:3]:
        raise ValueError(f"true masks are {np.shape(y_true)[1:3]} but predictions are {np.shape(y_prob)[1:3]} "
                         "(height, width); predict at the masks' size")
    tp, fp, fn, pixels = _confusion(y_true, y_prob, threshold)
    _warn_empty_truth(tp, fn, frame_ids)
    ious, dices, accs = _iou(tp, fp, fn), _dice(tp, fp, fn), _accuracy(fp, fn, pixels)
    return MetricsTable(FrameScores(str(i), float(a), float(b), float(c))
                        for i, a, b, c in zip(frame_ids, ious, dices, accs))
