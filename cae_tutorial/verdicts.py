"""Verdicts with their spread: is method A better than method B, paired over seeds or cross-validation folds?

    verdict = compare([0.951, 0.948, 0.953], [0.944, 0.946, 0.949], "augmentation", "no augmentation")
    print(verdict)   # augmentation beats no augmentation by 0.0043 IoU (paired over 3 seeds: +0.0020 to +0.0070)

One rule, stated where it is used: each seed (or fold) gives one paired difference, A's score minus B's, measured
on the same frames with the same seed; the spread is the range of those differences, smallest to largest. A wins
only when it wins on every pair (the whole range above zero); when the range covers zero the two are a draw. With
three pairs this is deliberately strict: one seed where B wins is enough to say "a draw", and that is the honest
reading of three runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cae_tutorial.errors import CaeTutorialError


def signed(value: float, digits: int = 4) -> str:
    """'+0.0123' or '-0.0123'; zero prints '0.0000', and a smaller value keeps its sign with one more digit each
    time it would round to zero ('-0.00004'), so that a range straddling zero never reads '0.0000 to +0.0123'."""
    if value == 0:
        return f"{0:.{digits}f}"
    while float(f"{value:.{digits}f}") == 0 and digits < 12:  # at 12 digits: a float's noise, shown as zero
        digits += 1
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


class VerdictError(CaeTutorialError, ValueError):
    """Scores that cannot be paired (different lengths, fewer than two pairs, or not finite)."""


@dataclass(frozen=True)
class Verdict:
    """The paired comparison of two methods: differences (A - B) over seeds or folds, and what they say."""

    name_a: str
    name_b: str
    differences: tuple[float, ...]
    over: str = "seeds"
    unit: str = "IoU"

    @property
    def mean(self) -> float:
        """The mean paired difference, A - B."""
        return float(np.mean(self.differences))

    @property
    def low(self) -> float:
        """The smallest paired difference."""
        return float(min(self.differences))

    @property
    def high(self) -> float:
        """The largest paired difference."""
        return float(max(self.differences))

    @property
    def winner(self) -> str | None:
        """A's or B's name when it wins on every pair, else None (a draw)."""
        if self.low > 0:
            return self.name_a
        if self.high < 0:
            return self.name_b
        return None

    @property
    def is_draw(self) -> bool:
        """True when the spread of the paired differences covers zero."""
        return self.winner is None

    def spread_text(self, sign: int = 1) -> str:
        """'paired over 3 seeds: -0.0012 to +0.0031' (sign=-1: the differences B - A)."""
        low, high = sorted((sign * self.low, sign * self.high))
        return f"paired over {len(self.differences)} {self.over}: {signed(low)} to {signed(high)}"

    def __str__(self) -> str:
        if self.winner == self.name_a:
            return f"{self.name_a} beats {self.name_b} by {self.mean:.4f} {self.unit} ({self.spread_text()})"
        if self.winner == self.name_b:
            return f"{self.name_b} beats {self.name_a} by {-self.mean:.4f} {self.unit} ({self.spread_text(-1)})"
        return (f"{self.name_a} and {self.name_b} are a draw: the difference is {signed(self.mean)} {self.unit} on "
                f"average, but its spread covers zero ({self.spread_text()})")


def compare(scores_a, scores_b, name_a: str = "A", name_b: str = "B", *, over: str = "seeds",
            unit: str = "IoU") -> Verdict:
    """Pair two lists of scores (one per seed or fold, same order) into a Verdict."""
    a = np.asarray(scores_a, dtype=float).ravel()
    b = np.asarray(scores_b, dtype=float).ravel()
    if a.shape != b.shape:
        raise VerdictError(f"compare: {name_a} has {a.size} scores and {name_b} has {b.size}; give one score per "
                           f"{over.rstrip('s')} to each, in the same order")
    if a.size < 2:
        raise VerdictError(f"compare: {a.size} pair of scores cannot show a spread; run at least 2 {over}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise VerdictError(f"compare: a score of {name_a} or {name_b} is not finite (NaN: a frame with no person "
                           "in truth and prediction?); score each run on frames that have a person")
    return Verdict(name_a, name_b, tuple(float(d) for d in a - b), over=over, unit=unit)


#: The course's one overfitting rule: the held-out loss ends more than this share above its lowest scored value ...
RISE = 0.05
#: ... by more than this many times its own jitter (the median change between consecutive scored values) ...
JITTER_TIMES = 2
# ... while the training loss ends lower than it was at the held-out loss's lowest.


@dataclass(frozen=True)
class Overfitting:
    """What one run's loss curves say about overfitting, read by the course's one rule (RISE, JITTER_TIMES)."""

    lowest: int  # index (into the scored values) of the lowest held-out loss
    lowest_loss: float
    last_loss: float
    jitter: float  # median absolute change between consecutive scored held-out losses (0 with two values)
    training_fell: bool  # the training loss ends below its value at the held-out loss's lowest

    @property
    def rise(self) -> float:
        """How far the last held-out loss ends above its lowest, as a share of the lowest (0.09: 9 %)."""
        return self.last_loss / self.lowest_loss - 1

    @property
    def verdict(self) -> str:
        """'overfits', 'within its jitter', 'both got worse' or 'does not overfit'."""
        if self.rise <= RISE:
            return "does not overfit"
        if not self.training_fell:
            return "both got worse"
        if self.last_loss - self.lowest_loss <= JITTER_TIMES * self.jitter:
            return "within its jitter"
        return "overfits"


def read_overfitting(training_losses, heldout_losses) -> Overfitting:
    """Read overfitting from the losses at the scored epochs (same length, in order; NaN epochs left out)."""
    train = np.asarray(training_losses, dtype=float).ravel()
    held = np.asarray(heldout_losses, dtype=float).ravel()
    if train.shape != held.shape or held.size < 2 or not (np.isfinite(train).all() and np.isfinite(held).all()):
        raise VerdictError(f"read_overfitting: give the training and held-out losses of the same {held.size} scored "
                           "epochs (at least 2, finite: leave out the epochs whose held-out loss is NaN)")
    lowest = int(np.argmin(held))
    jitter = float(np.median(np.abs(np.diff(held)))) if held.size > 2 else 0.0
    return Overfitting(lowest, float(held[lowest]), float(held[-1]), jitter, bool(train[-1] < train[lowest]))


def describe_overfitting(steps, training_losses, heldout_losses, unit: str = "epoch", heldout_ious=None) -> str:
    """The course's overfitting rule read on these scored steps, as a clause: "its held-out loss is lowest at ...".

    heldout_ious (the same steps' held-out IoU), given, adds how the masks moved: a loss can rise from
    over-confidence on a few pixels while the thresholded masks stay as good.
    """
    if len(steps) < 2:
        return f"its held-out loss is scored at one {unit} only, so its curves cannot show it"
    reading = read_overfitting(training_losses, heldout_losses)
    best = reading.lowest
    masks = ""
    if heldout_ious is not None:
        # From the lowest held-out loss to the end, as the training loss is quoted; a change of the IoU within
        # JITTER_TIMES its own median step-to-step move (at least 0.005) is "as good", not better or worse.
        ious = np.asarray(heldout_ious, dtype=float)
        first, last = float(ious[best]), float(ious[-1])
        tolerance = max(0.005, JITTER_TIMES * float(np.median(np.abs(np.diff(ious)))))
        masks = f"; its held-out IoU goes from {first:.3f} to {last:.3f} over the same {unit}s"
        if reading.verdict == "overfits" and last >= first - tolerance:
            masks += (". The loss also grades how sure the model is of each pixel, the IoU only which side of 0.5 it "
                      "falls: here the masks " + ("even improve" if last > first + tolerance else "stay as good")
                      + " while the loss rises, so the overfitting is in the model's confidence, not yet in its masks")
    text = (f"its held-out loss is lowest at {unit} {steps[best]} ({reading.lowest_loss:.4f}) and ends at "
            f"{reading.last_loss:.4f} ({reading.rise:+.1%}), while its training loss goes from "
            f"{float(training_losses[best]):.4f} to {float(training_losses[-1]):.4f}")
    return text + {
        "overfits": (": the held-out loss rises from its lowest while the training loss falls over the same "
                     f"{unit}s, so it **overfits**"),
        "within its jitter": (f": the rise passes {RISE:.0%}, but from one scored {unit} to the next this held-out "
                              f"loss moves by {reading.jitter:.4f} (median), and the rise "
                              f"({reading.last_loss - reading.lowest_loss:.4f}) is within {JITTER_TIMES} times that: "
                              "one run cannot tell overfitting from its own jitter here"),
        "both got worse": ": both got worse, which is not overfitting",
        "does not overfit": (f": the held-out loss has not risen by more than {RISE:.0%} of its lowest, so it **does "
                             "not overfit**")}[reading.verdict] + masks
