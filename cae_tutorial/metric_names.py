"""One vocabulary of metric names for the tables, the results, the history and the plots (no TensorFlow needed).

"iou", "IoU", "Dice", "pixel accuracy", "accuracy" ... any case: `metric_key` turns a spelling into the key the
tables use; `history_key` finds a metric of the held-out or training frames in a Keras history.

One spelling of the two parts of a split, HELD_OUT = "held-out" and TRAINING = "training": every label, table,
legend and result says them so ("held-out IoU"; "held out" only as a verb in a sentence: "3 frames held out").
Keys stay as they were, for saved runs and user code: Keras' `val_` prefix in a history, `heldout_ids` in a saved
split, `heldout_iou` in a notebook's results; `part=` and metric names accept any spelling ("held-out",
"held out", "heldout", "val", "validation"; "training", "train").
"""

from __future__ import annotations

from cae_tutorial.errors import CaeTutorialError, UsageError

#: The metric names every table, result and plot accepts, in any case, and the heading each prints under.
METRIC_HEADINGS = {"iou": "IoU", "dice": "Dice", "accuracy": "pixel accuracy"}
_ALIASES = {"pixel_accuracy": "accuracy", "acc": "accuracy", "binary_accuracy": "accuracy"}
HELD_OUT, TRAINING = "held-out", "training"
_PARTS = {"held_out": HELD_OUT, "heldout": HELD_OUT, "val": HELD_OUT, "validation": HELD_OUT,
          "training": TRAINING, "train": TRAINING}


class MetricNameError(CaeTutorialError, KeyError):
    """A metric name that is not known; the message lists the known ones (still a KeyError, as it always was)."""


def _spelling(name) -> str:
    """Lower case, with spaces and hyphens as underscores: 'Pixel accuracy' -> 'pixel_accuracy'."""
    if not isinstance(name, str):
        raise MetricNameError(f"a metric name must be a str such as 'iou', got {name!r}")
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def metric_key(name: str, known=tuple(METRIC_HEADINGS)) -> str:
    """The canonical key of a metric from any spelling ('IoU', 'Dice', 'pixel accuracy'), or a MetricNameError."""
    key = _spelling(name)
    key = key if key in known else _ALIASES.get(key, key)
    if key not in known:
        raise MetricNameError(f"unknown metric {name!r}; known names (any case): {', '.join(known)}")
    return key


def history_key(history: dict, metric: str = "iou", part: str = HELD_OUT) -> str:
    """The key of a Keras history holding `metric` of `part` ("held-out" or "training"), from any spelling.

    Keras names the training value "iou" and the held-out one "val_iou"; a name may also carry the part itself
    ("val_iou", "train_iou", "held-out IoU").
    """
    key = _spelling(metric)
    for prefix, named_part in (("val_", HELD_OUT), ("held_out_", HELD_OUT), ("heldout_", HELD_OUT),
                               ("training_", TRAINING), ("train_", TRAINING)):
        if key.startswith(prefix):
            key, part = key[len(prefix):], named_part
            break
    if _spelling(part) not in _PARTS:
        raise UsageError(f"part must be 'held-out' or 'training', got {part!r}")
    part = _PARTS[_spelling(part)]
    known = tuple(sorted(k for k in history if not k.startswith("val_")))
    base = metric_key(key, known)
    full = f"val_{base}" if part == HELD_OUT else base
    if full not in history:
        raise MetricNameError(f"this run has no held-out {base!r}: it held out no frames; "
                              f"ask for part='training' (the training frames' {base!r})")
    return full
