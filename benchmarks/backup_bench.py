"""Benchmark of the per-epoch backup (resume.RunBackup): its cost against the epoch it backs up, `cpu` preset.

    python benchmarks/backup_bench.py                   # 16 epochs of the cpu preset at 256 x 144, backed up
    python benchmarks/backup_bench.py --epochs 8 --name quick

Trains the cpu preset (progressive resizing: the first 75 % of the epochs at 128 x 72, the rest at 256 x 144) on
the real frames of record 136 where ../shared/data/tiktok-record-136 exists (else the embedded record), with
train(..., backup_dir=...) as `cae-tutorial train` does. Per epoch it records the epoch's wall time (from
on_epoch_begin to the end of the last callback: training steps, held-out scoring, snapshots, the backup) and the
time of the backup alone (writing its snapshot file and epoch file, each fsynced and renamed, and removing the
previous one), plus the backup's bytes. Prints a table per phase (small / full size) with the CPU model and the
load average; writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "data" / "tiktok-record-136"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--name", default="backup")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))

    import keras

    from cae_tutorial.data import load_record, seed_split
    from cae_tutorial.folders import write_json
    from cae_tutorial.hardware import cpu_model
    from cae_tutorial.presets import get_preset
    from cae_tutorial.resume import RunBackup
    from cae_tutorial.training import TrainOptions, build_model, train

    load_before = os.getloadavg()
    preset = get_preset("cpu", epochs=args.epochs)
    folder = REAL if (REAL / "images").is_dir() else None
    record = load_record(folder, size=preset.size) if folder else load_record(size=preset.size)
    split = seed_split(record)

    class EpochClock(keras.callbacks.Callback):
        """Wall time of each epoch, up to the end of the callbacks before it (the backup included)."""

        def __init__(self):
            super().__init__()
            self.started, self.seconds = 0.0, []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    class TimedBackup(RunBackup):
        """RunBackup that keeps each epoch's backup time and size."""

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.times, self.sizes = [], []

        def on_epoch_end(self, epoch, logs=None):
            start = time.perf_counter()
            super().on_epoch_end(epoch, logs)
            self.times.append(time.perf_counter() - start)
            self.sizes.append(sum(p.stat().st_size for p in self.folder.iterdir()))

    clock = EpochClock()
    with tempfile.TemporaryDirectory(dir=HERE.parent) as scratch:  # on the disk runs are written to
        backup = TimedBackup(Path(scratch) / "backup")
        train(build_model(preset, 0), record, split, preset, seed=0, progress=False, options=TrainOptions(backup_dir=backup),
              callbacks=[clock])
    # The backup runs before the clock's on_epoch_end (it comes first in the callbacks), so each epoch's time
    # includes its backup.
    rows = []
    small = preset.small_epochs
    for phase, part in (("128 x 72 (progressive)", slice(1, small)), ("256 x 144", slice(max(small, 1) + 1, None))):
        epochs, backups = clock.seconds[part], backup.times[part]  # epoch 1 and the first full one trace: left out
        if not epochs:
            continue
        share = 100 * statistics.median(b / e for b, e in zip(backups, epochs))
        rows.append({"phase": phase, "epochs": len(epochs), "epoch_s": statistics.median(epochs),
                     "backup_s": statistics.median(backups), "share_percent": share,
                     "max_share_percent": 100 * max(b / e for b, e in zip(backups, epochs))})
    load_after = os.getloadavg()
    report = {"machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "load_before": load_before,
                          "load_after": load_after, "disk": str(HERE.parent)},
              "data": "record 136" if folder else "embedded record", "epochs": args.epochs,
              "backup_bytes_last": backup.sizes[-1], "rows": rows,
              "epoch_seconds": clock.seconds, "backup_seconds": backup.times}
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, load {load_before[0]:.1f} -> {load_after[0]:.1f}; "
          f"{report['data']}, cpu preset, {args.epochs} epochs; backup {backup.sizes[-1] / 1e6:.1f} MB at the end")
    print(f"{'phase':<24}{'epochs':>7}{'epoch s':>10}{'backup s':>10}{'backup %':>10}{'max %':>8}")
    for row in rows:
        print(f"{row['phase']:<24}{row['epochs']:>7}{row['epoch_s']:>10.3f}{row['backup_s']:>10.4f}"
              f"{row['share_percent']:>10.2f}{row['max_share_percent']:>8.2f}")
    write_json(HERE / "results" / f"{args.name}.json", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
