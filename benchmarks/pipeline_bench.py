"""Benchmark of the training input: peak memory and frames per second as the number of frames grows.

    python benchmarks/pipeline_bench.py                          # 50, 200, 800 frames at 256 x 128
    python benchmarks/pipeline_bench.py --frames 50 200 --size 256x128 --name quick

Frames are generated (cae_tutorial.synthetic.write_dataset: 4 dancers x 6 frames at 480 x 272, copied under
further record prefixes up to the largest count, so decoding costs what distinct files cost). Each measurement
runs in a fresh Python process, so its peak resident memory (ru_maxrss) is its own:

- `stream`: pipeline.streaming_dataset from the files, no cache (what the full dataset uses);
- `stream+cache`: the same, decoded frames cached in memory (cache="auto": they fit the default budget);
- `in-memory`: every frame loaded as float32 first (load_record's path) and pipeline.frames_dataset.

All three apply the cpu preset's augmentation and batch of 3. For comparison, `train step` is the time of one
training step of the cpu preset's CAE at the same size (model.fit, batch of 3), as frames per second.
Beside frames per second (wall clock, diluted when other jobs share the cores), each row records the CPU time
its process spent per frame drawn (all threads), and each stream row the seconds list_record_files took to list
and check the whole folder (frame headers read, masks decoded at the size).
Prints a table with the CPU model, its flags and the load average; writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
MODES = ("stream", "stream+cache", "in-memory")
POOL = {"n_records": 4, "frames_per_record": 6, "size": (480, 272)}


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time (user + system, every thread) this process has used: unlike frames per second, not diluted by
    other jobs sharing the cores."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_description() -> dict:
    """CPU model, core count and the vector-instruction flags that matter to TensorFlow."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in wanted if f in flags]}


def make_frames(folder: Path, count: int) -> Path:
    """A Kaggle-layout folder of `count` frames: a generated pool of dancers, copied under further prefixes."""
    from cae_tutorial.synthetic import write_dataset

    pool = write_dataset(folder / "pool", **POOL)
    names = sorted(p.name for p in (pool / "images").iterdir())
    out = folder / "frames"
    for kind in ("images", "masks"):
        (out / kind).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = names[i % len(names)]
        copy = f"{1000 + i // len(names)}_{i % len(names):05d}.png"  # a distinct file name for every frame
        for kind in ("images", "masks"):
            shutil.copyfile(pool / kind / name, out / kind / copy)
    if len(list((out / "images").iterdir())) != count:
        raise RuntimeError(f"wrote {len(list((out / 'images').iterdir()))} frames instead of {count}")
    return out


def measure_input(folder: str, count: int, mode: str, size: tuple[int, int]) -> dict:
    """Frames per second of training input over max(count, 300) frames (after one batch), and peak memory."""
    from cae_tutorial.pipeline import (
        list_record_files,
        streaming_dataset,
        frames_dataset,
    )
    from cae_tutorial.presets import get_preset

    preset = get_preset("cpu", height=size[0], width=size[1])
    start = time.perf_counter()
    files = list_record_files(folder, size=size)  # every frame of the folder: the listing's checks, timed
    list_seconds, listed_frames = time.perf_counter() - start, len(files)
    files = files.subset(files.ids[:count])
    assert len(files) == count, f"{len(files)} frames listed, {count} wanted"
    start = time.perf_counter()
    if mode == "in-memory":
        record = files.load()
        data = frames_dataset(record.images, record.masks, preset, seed=0)
    else:
        data = streaming_dataset(files, preset, seed=0, cache="auto" if mode == "stream+cache" else None)
    batches = iter(data.repeat())
    next(batches)
    ready = time.perf_counter() - start
    frames = max(count, 300)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    for _ in range(frames // preset.batch_size):
        next(batches)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    drawn = frames // preset.batch_size * preset.batch_size
    return {"frames_per_second": drawn / seconds, "cpu_ms_per_frame": cpu / drawn * 1000,
            "first_batch_seconds": ready, "peak_mb": peak_memory_mb(), "list_seconds": list_seconds,
            "listed_frames": listed_frames}


def measure_step(size: tuple[int, int], steps: int = 12) -> dict:
    """Seconds of one training step of the cpu preset's CAE (model.fit, batch of 3), after a warm-up epoch."""
    import keras
    import numpy as np

    from cae_tutorial.pipeline import frames_dataset
    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import build_model, compile_settings

    preset = get_preset("cpu", height=size[0], width=size[1])
    rng = np.random.default_rng(0)
    images = rng.random((24, *size, 3), dtype=np.float32)
    masks = (rng.random((24, *size, 1)) > 0.8).astype(np.float32)
    model = build_model(preset, seed=0)
    model.compile(**compile_settings(preset.with_(epochs=2), steps))
    times = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            times.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            times[-1] = time.perf_counter() - times[-1]

    model.fit(frames_dataset(images, masks, preset, 0), epochs=2, steps_per_epoch=steps, callbacks=[Clock()],
              verbose=0)
    step = times[1] / steps
    return {"step_seconds": step, "frames_per_second": preset.batch_size / step, "peak_mb": peak_memory_mb()}


def in_fresh_process(*arguments) -> dict:
    """Run this script's `--worker` in a new Python process and return its JSON line."""
    done = subprocess.run([sys.executable, __file__, "--worker", *map(str, arguments)], check=False,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    if done.returncode:
        raise RuntimeError(f"worker {arguments} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    """Generate the frames, measure every mode and count in fresh processes, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--size", default="256x128", help="H x W the frames are read at")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--name", default="pipeline", help="results go to benchmarks/results/<name>.json")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        size = tuple(int(v) for v in rest[-1].split("x"))
        result = measure_step(size) if kind == "step" else measure_input(rest[0], int(rest[1]), kind, size)
        print(json.dumps(result))
        return 0

    size = tuple(int(v) for v in args.size.split("x"))
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = make_frames(Path(tmp), max(args.frames))
        print(f"generated {max(args.frames)} frame files in {time.perf_counter() - start:.0f} s", flush=True)
        for count in args.frames:
            for mode in args.modes:
                result = in_fresh_process(mode, folder, count, args.size)
                rows.append({"frames": count, "mode": mode, **result})
                print(f"{count:>6} frames  {mode:<13} {result['frames_per_second']:8.1f} frames/s  "
                      f"peak {result['peak_mb']:7.0f} MiB", flush=True)
    step = in_fresh_process("step", args.size)
    load_after = os.getloadavg()
    cpu = cpu_description()
    print(f"\nCPU: {cpu['model']}, {cpu['cores']} cores, flags {' '.join(cpu['flags'])}; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; frames read at {size[0]} x {size[1]}")
    print(f"\n| frames | {' | '.join(f'{m} frames/s' for m in args.modes)} | "
          f"{' | '.join(f'{m} peak MiB' for m in args.modes)} |")
    print("|---" * (1 + 2 * len(args.modes)) + "|")
    for count in args.frames:
        mine = {r["mode"]: r for r in rows if r["frames"] == count}
        print(f"| {count} | " + " | ".join(f"{mine[m]['frames_per_second']:.0f}" for m in args.modes) + " | "
              + " | ".join(f"{mine[m]['peak_mb']:.0f}" for m in args.modes) + " |")
    print("\nCPU time per frame drawn (ms, all threads; not diluted by other jobs): " + "; ".join(
        f"{m} " + ", ".join(f"{r['cpu_ms_per_frame']:.1f}" for r in rows if r["mode"] == m) for m in args.modes))
    listed = [r for r in rows if r["mode"] == "stream"]
    if listed:
        print(f"\nlisting and checking the folder's {listed[0]['listed_frames']} frames (list_record_files): "
              + ", ".join(f"{r['list_seconds']:.2f} s" for r in listed) + " (once per stream row)")
    print(f"\ntraining step of the cpu preset at {size[0]} x {size[1]}: {step['step_seconds'] * 1000:.0f} ms "
          f"(batch of 3: {step['frames_per_second']:.1f} frames/s)")
    for mode in args.modes:
        peaks = [r["peak_mb"] for r in rows if r["mode"] == mode]
        print(f"{mode:<13} peak memory from {min(args.frames)} to {max(args.frames)} frames: "
              f"{(peaks[-1] / peaks[0] - 1) * 100:+.1f} %")
    results = {"cpu": cpu, "load_average": [load_before, load_after], "size": list(size), "rows": rows,
               "train_step": step, "pool": {**POOL, "size": list(POOL["size"])}}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{args.name}.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
