"""Seconds per epoch of `train` on the cpu preset, in each phase of its progressive resizing.

    PYTHONPATH=CHECKOUT python benchmarks/epoch_times.py 240     # one run; alternate two checkouts to compare them

Prints one JSON line: the run's total seconds, the sum of its epochs (the rest is set-up and stalls), the first
epoch (tracing), the median epoch at the small size and at the full size, and the machine's load average.
Trains on the real frames of record 136 when ../shared has them, else on the embedded record.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import keras

from cae_tutorial.data import load_record, seed_split
from cae_tutorial.presets import get_preset
from cae_tutorial.training import build_model, train

try:  # the code after the restructure takes its options in TrainOptions
    from cae_tutorial.training import TrainOptions

    OPTIONS = {"options": TrainOptions(snapshot_epochs=())}
except ImportError:  # the code before it
    OPTIONS = {"snapshot_epochs": []}

REAL_RECORD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "tiktok-record-136"


class EpochTimes(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main(epochs: int) -> dict:
    """Train once and return the timings."""
    preset = get_preset("cpu", epochs=epochs).resolved()
    record = (load_record(REAL_RECORD, "136", size=preset.size) if REAL_RECORD.is_dir()
              else load_record(size=preset.size))
    split = seed_split(record)
    times, load = EpochTimes(), os.getloadavg()
    start = time.perf_counter()
    train(build_model(preset, seed=0), record, type(split)(split.train_ids, ()), preset, seed=0, progress=False,
          callbacks=[times], **OPTIONS)
    total, small, seconds = time.perf_counter() - start, int(epochs * preset.progressive_fraction), times.seconds
    return {"total": round(total, 1), "sum_epochs": round(sum(seconds), 1), "first": round(seconds[0], 2),
            "small_median_ms": round(1000 * statistics.median(seconds[1:small]), 1),
            "large_median_ms": round(1000 * statistics.median(seconds[small + 1:]), 1),
            "load_average": [round(x, 2) for x in load], "real_record": REAL_RECORD.is_dir()}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 240)))
