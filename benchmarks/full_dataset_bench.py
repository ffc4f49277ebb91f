"""Benchmark of notebook 7's recipe on generated dancers: unseen-dancer IoU, training IoU and seconds (issue 20).

    python benchmarks/full_dataset_bench.py --preset cpu --size 128x72 --epochs 200 --batch 8
    python benchmarks/full_dataset_bench.py --preset full --seeds 0 1 2 --name full_seeds

Each run writes the generated dancers once (cached under --cache, keyed by their numbers), splits them by dancer
as notebook 7 does (round(holdout x dancers) dancers held out, seeded; the last frame of every training dancer
held out too, as "seen dancers' held-out frames"), trains from the files and scores with the package's default
evaluation (the frames' own size): unseen dancers, seen dancers' held-out frames, and the training frames.
One line per run; the table and the machine (with its load before and after each run, and the CPU seconds the training
used, which a busy machine inflates less than the wall-clock seconds) go to
benchmarks/results/<name>.json. Timings under load are not measurements: read the load beside each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

DEFAULT_CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "cae-dancers-cache"


def dancers(cache: Path, n_records: int, frames: int, size: tuple[int, int], seed: int) -> Path:
    """The generated dancers' folder, written once per (records, frames, size, seed)."""
    from cae_tutorial.synthetic import write_dataset

    folder = cache / f"d{n_records}x{frames}_{size[0]}x{size[1]}_s{seed}"
    if not (folder / "done").is_file():
        write_dataset(folder, n_records=n_records, frames_per_record=frames, size=size, seed=seed)
        (folder / "done").write_text("")
    return folder


def split_like_notebook(files, holdout: float, seed: int):
    """Notebook 7's split: whole dancers held out, plus the last frame of every training dancer."""
    from cae_tutorial.data import Split
    from cae_tutorial.pipeline import record_of, split_by_records

    by_dancer = split_by_records(files, holdout=holdout, seed=seed)
    frames_of: dict[str, list[str]] = {}
    for frame_id in by_dancer.train_ids:
        frames_of.setdefault(record_of(frame_id), []).append(frame_id)
    seen = tuple(ids[-1] for ids in frames_of.values())
    train_ids = tuple(i for i in by_dancer.train_ids if i not in seen)
    return Split(train_ids, by_dancer.heldout_ids + seen), by_dancer.heldout_ids, seen


def one_run(args, seed: int) -> dict:
    """Train once and score the three parts."""
    from cae_tutorial.pipeline import list_record_files
    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import TrainOptions, build_model, train

    height, width = (int(v) for v in args.size.split("x"))
    changes = {"height": height, "width": width, "epochs": args.epochs, "batch_size": args.batch,
               "learning_rate": args.lr, "boundary_weight": args.boundary,
               "schedule": args.schedule, "progressive_scale": 1}
    if args.steps is not None:  # 0: one pass over the training frames per epoch
        changes["steps_per_epoch"] = args.steps or None
    if args.batch_norm:
        changes["batch_norm"] = True
    if args.dropout is not None:
        changes["dropout"] = tuple(args.dropout)
    if args.filters is not None:
        changes["filters"] = tuple(args.filters)
    preset = get_preset(args.preset, **changes)
    gen = tuple(int(v) for v in args.generated.split("x"))
    files = list_record_files(dancers(args.cache, args.records, args.frames, gen, args.data_seed), size=preset.size)
    split, unseen, seen = split_like_notebook(files, args.holdout, seed)
    load_before, cpu_before = os.getloadavg()[0], time.process_time()
    result = train(build_model(preset, seed), files, split, preset, seed=seed, progress=False,
                   options=TrainOptions(snapshot_epochs=(), validate_every=preset.epochs))
    load_after, cpu_seconds = os.getloadavg()[0], time.process_time() - cpu_before
    scores = {name: result.evaluate(files, ids).mean("iou")
              for name, ids in (("unseen", unseen), ("seen", seen), ("train", split.train_ids))}
    row = {"seed": seed, "preset": preset.to_dict(), "records": args.records, "frames": args.frames,
           "train_frames": len(split.train_ids), "unseen_iou": scores["unseen"], "seen_iou": scores["seen"],
           "train_iou": scores["train"], "train_seconds": result.config["train_seconds"],
           "train_cpu_seconds": cpu_seconds,
           "load_before": load_before, "load_after": load_after}
    print(f"{args.preset} {height}x{width} e{args.epochs} b{args.batch} lr{args.lr} steps{preset.steps_per_epoch} "
          f"drop{preset.dropout} f{preset.filters} bw{preset.boundary_weight} bn{int(preset.batch_norm)} "
          f"{preset.schedule} {args.records}x{args.frames} seed {seed}: unseen {scores['unseen']:.3f} "
          f"seen {scores['seen']:.3f} train {scores['train']:.3f} {row['train_seconds']:.1f} s "
          f"({cpu_seconds:.0f} cpu s) load {load_before:.1f}->{load_after:.1f}", flush=True)
    return row


def main(argv=None) -> int:
    """Parse the options, run each seed, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--size", default="128x72", help="training size HxW (each divisible by 8)")
    parser.add_argument("--generated", default="256x144", help="size the dancers are drawn at, HxW")
    parser.add_argument("--records", type=int, default=24)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--holdout", type=float, default=0.34)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--steps", type=int, default=None, help="batches per epoch (0: one pass)")
    parser.add_argument("--boundary", type=float, default=None)
    parser.add_argument("--schedule", default=None)
    parser.add_argument("--dropout", type=float, nargs=2, default=None)
    parser.add_argument("--filters", type=int, nargs="+", default=None)
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--name", default=None, help="also write benchmarks/results/NAME.json")
    args = parser.parse_args(argv)
    from cae_tutorial.quiet import import_tensorflow

    import_tensorflow()
    rows = [one_run(args, seed) for seed in args.seeds]
    if args.name:
        from cae_tutorial.folders import write_file

        machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                   "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        out = HERE / "results" / f"{args.name}.json"
        write_file(out, json.dumps({"machine": machine, "argv": sys.argv[1:], "runs": rows}, indent=1).encode())
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
