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
        return f"paired over {len(self.differences)} {self.over}: {low:+.4f} to {high:+.4f}"

    def __str__(self) -> str:
        if self.winner == self.name_a:
            return f"{self.name_a} beats {self.name_b} by {self.mean:.4f} {self.unit} ({self.spread_text()})"
        if self.winner == self.name_b:
            return f"{self.name_b} beats {self.name_a} by {-self.mean:.4f} {self.unit} ({self.spread_text(-1)})"
        return (f"{self.name_a} and {self.name_b} are a draw: the difference is {self.mean:+.4f} {self.unit} on "
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
