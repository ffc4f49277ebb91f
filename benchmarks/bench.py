"""Benchmark of CPU training: speed per epoch, peak memory, held-out IoU after wall-clock budgets, inference.

    python benchmarks/bench.py                 # everything (about 25 minutes on 2 cores)
    python benchmarks/bench.py speed --sizes 256x128 512x256 --runs 3
    python benchmarks/bench.py quality --budgets 30 60 120 --runs 3

Each measurement runs in a fresh subprocess, so that peak memory (ru_maxrss) and global Keras settings
(mixed precision, XLA) belong to that measurement alone. Results print as tables and go to
benchmarks/results/<name>.json. The machine is shared and noisy: compare options by the ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
REAL_RECORD = HERE.parent.parent / "shared" / "data" / "tiktok-record-136"
EVAL_SIZE = (256, 128)  # every model is scored at this size: predictions are resized to it

SPEED_VARIANTS = {
    "tape-eager": {"loop": "eager"},
    "tape-function": {"loop": "function"},
    "fit": {"loop": "fit"},
    "fit+xla": {"loop": "fit", "jit_compile": True},
    "fit+bf16": {"loop": "fit", "dtype": "mixed_bfloat16"},
    "fit+xla+bf16": {"loop": "fit", "jit_compile": True, "dtype": "mixed_bfloat16"},
}
QUALITY_MODELS = {
    "seed recipe @256x128": ("seed", {"height": 256, "width": 128}),
    "seed recipe + skips @256x128": ("seed", {"height": 256, "width": 128, "skip_connections": True}),
    "cpu preset": ("cpu", {}),
}


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _record(size, seed_frames=True):
    """The real record (or the embedded one when it is absent) at size, and the seed split."""
    from cae_tutorial.data import load_record, seed_split

    record = load_record(REAL_RECORD, "136", size=size) if REAL_RECORD.is_dir() else load_record(size=size)
    return record, seed_split(record)


def tape_step(model, preset, compiled: bool):
    """The seed's loop: one GradientTape step with Dice + focal loss and Adam, eager or in a tf.function."""
    import keras
    import tensorflow as tf

    from cae_tutorial.losses import dice_focal_loss

    loss_fn, optimizer = dice_focal_loss(), keras.optimizers.Adam(preset.learning_rate)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return tf.function(step) if compiled else step


def measure_speed(size, variant: dict, epochs: int) -> dict:
    """Seconds per epoch (3 frames, one batch of 3) after one warm-up epoch, and peak memory."""
    import keras
    import tensorflow as tf

    from cae_tutorial.presets import get_preset
    from cae_tutorial.pipeline import training_dataset
    from cae_tutorial.training import build_model, compile_model

    preset = get_preset("seed", height=size[0], width=size[1], epochs=epochs,
                        jit_compile=variant.get("jit_compile", False), dtype=variant.get("dtype", "float32"))
    record, split = _record(size)
    part = record.subset(split.train_ids)
    model = build_model(preset, seed=0)
    times = []
    if variant["loop"] == "fit":
        compile_model(model, preset, 1, epochs + 1)

        class Clock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.start)

        model.fit(training_dataset(part.images, part.masks, preset), epochs=epochs + 1, verbose=0,
                  callbacks=[Clock()])
    else:
        step = tape_step(model, preset, compiled=variant["loop"] == "function")
        x, y = tf.constant(part.images), tf.constant(part.masks)
        for _ in range(epochs + 1):
            start = time.perf_counter()
            float(step(x, y))
            times.append(time.perf_counter() - start)
    return {"seconds_per_epoch": statistics.median(times[1:]), "first_epoch": times[0],
            "peak_memory_mb": peak_memory_mb()}


def measure_equal_epochs(size, variant: dict, epochs: int, seed: int) -> dict:
    """Held-out IoU of the seed CAE after the same number of epochs, trained by a tape loop or by fit."""
    import tensorflow as tf

    from cae_tutorial.losses import iou_score
    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import build_model, predict, train

    preset = get_preset("seed", height=size[0], width=size[1], epochs=epochs,
                        jit_compile=variant.get("jit_compile", False), dtype=variant.get("dtype", "float32"))
    record, split = _record(size)
    part, heldout = record.subset(split.train_ids), record.subset(split.heldout_ids)
    model = build_model(preset, seed=seed)
    start = time.perf_counter()
    if variant["loop"] == "fit":
        train(model, record, type(split)(split.train_ids, ()), preset, seed=seed, snapshot_epochs=[],
              progress=False)
    else:
        step = tape_step(model, preset, compiled=True)
        x, y = tf.constant(part.images), tf.constant(part.masks)
        for _ in range(epochs):
            step(x, y)
    seconds = time.perf_counter() - start
    return {"iou": float(iou_score(heldout.masks, predict(model, heldout.images)).mean()), "seconds": seconds}


def measure_quality(preset_name: str, changes: dict, budget: float, seed: int) -> dict:
    """Train under a wall-clock budget; held-out IoU/Dice (at EVAL_SIZE) when each budget mark was passed."""
    import keras
    import tensorflow as tf

    from cae_tutorial.losses import dice_score, iou_score
    from cae_tutorial.presets import get_preset
    from cae_tutorial.callbacks import TimeBudget
    from cae_tutorial.training import build_model, predict, train

    preset = get_preset(preset_name, **changes)
    record, split = _record(preset.size)
    eval_record, _ = _record(EVAL_SIZE)
    heldout = eval_record.subset(split.heldout_ids)
    model_frames = record.subset(split.heldout_ids).images
    marks = sorted({*(m for m in (30, 60, 120) if m <= budget), budget})
    scores, start = {}, [0.0]

    def score():
        probs = predict(model, model_frames)
        probs = tf.image.resize(probs, EVAL_SIZE, method="bilinear").numpy()
        return float(iou_score(heldout.masks, probs).mean()), float(dice_score(heldout.masks, probs).mean())

    class Marks(keras.callbacks.Callback):
        """Scores the model at the end of the first epoch past each budget mark (the clock paused meanwhile)."""

        def on_train_begin(self, logs=None):
            start[0] = time.perf_counter()
            self.paused = 0.0

        def on_epoch_end(self, epoch, logs=None):
            elapsed = time.perf_counter() - start[0] - self.paused
            for mark in marks:
                if mark not in scores and elapsed >= mark:
                    t = time.perf_counter()
                    iou, dice = score()
                    scores[mark] = {"iou": iou, "dice": dice, "epoch": epoch + 1, "elapsed": elapsed}
                    self.paused += time.perf_counter() - t
            if len(scores) == len(marks):
                self.model.stop_training = True

    model = build_model(preset, seed=seed)
    keras.utils.set_random_seed(seed)
    # No held-out validation or snapshots inside the budget: the clock measures training alone.
    # The preset's own epochs (its schedule depends on them); a run that finishes early keeps its final score.
    train(model, record, type(split)(split.train_ids, ()), preset, seed=seed, snapshot_epochs=[], progress=False,
          callbacks=[Marks(), TimeBudget(budget + 60)])
    for mark in marks:  # a run that ended (its epochs done) before a mark keeps its final score
        scores.setdefault(mark, {**dict(zip(("iou", "dice"), score())), "epoch": None, "elapsed": None})
    start_fps = time.perf_counter()
    for _ in range(3):
        predict(model, model_frames)
    fps = 3 * len(model_frames) / (time.perf_counter() - start_fps)
    return {"marks": {str(k): v for k, v in scores.items()}, "inference_fps": fps,
            "size": list(preset.size), "peak_memory_mb": peak_memory_mb()}


def measure_baseline(seed: int) -> dict:
    """The non-deep pixel classifier fitted on the 3 training frames, scored at EVAL_SIZE."""
    from cae_tutorial.baseline import fit_pixel_classifier, predict_pixel_classifier
    from cae_tutorial.losses import dice_score, iou_score

    record, split = _record(EVAL_SIZE)
    train_part, heldout = record.subset(split.train_ids), record.subset(split.heldout_ids)
    start = time.perf_counter()
    classifier = fit_pixel_classifier(train_part.images, train_part.masks, seed=seed)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    probs = predict_pixel_classifier(classifier, heldout.images)
    fps = len(heldout) / (time.perf_counter() - start)
    return {"fit_seconds": fit_seconds, "iou": float(iou_score(heldout.masks, probs).mean()),
            "dice": float(dice_score(heldout.masks, probs).mean()), "inference_fps": fps}


def in_subprocess(kind: str, **kwargs) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    code = (f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import bench; "
            f"print('RESULT' + json.dumps(bench.{kind}(**json.loads(sys.argv[1]))))")
    run = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True, text=True)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT")]
    if run.returncode or not lines:
        raise RuntimeError(f"{kind}({kwargs}) failed:\n{run.stderr[-3000:]}")
    return json.loads(lines[-1][6:])


def speed(sizes, runs: int, epochs: int, variants) -> dict:
    """Table: seconds per epoch (median of runs) and peak memory per size and variant."""
    results = {}
    for size in sizes:
        label = f"{size[0]}x{size[1]}"
        n_epochs = max(2, epochs // (4 if size[0] >= 1024 else 2 if size[0] >= 512 else 1))
        n_runs = 1 if size[0] >= 1024 else max(1, runs - 1) if size[0] >= 512 else runs
        for name in variants:
            samples = [in_subprocess("measure_speed", size=size, variant=SPEED_VARIANTS[name], epochs=n_epochs)
                       for _ in range(n_runs)]
            results[f"{label} {name}"] = {
                "size": label, "variant": name, "runs": n_runs, "epochs": n_epochs,
                "seconds_per_epoch": statistics.median(s["seconds_per_epoch"] for s in samples),
                "peak_memory_mb": statistics.median(s["peak_memory_mb"] for s in samples)}
            print(f"  {label:>9} {name:<14} {results[f'{label} {name}']['seconds_per_epoch']:.3f} s/epoch", flush=True)
    print(f"\n{'size':>9} {'variant':<14}{'s/epoch':>9}{'vs tape-function':>18}{'peak MiB':>10}")
    for row in results.values():
        reference = results.get(f"{row['size']} tape-function")
        ratio = reference["seconds_per_epoch"] / row["seconds_per_epoch"] if reference else float("nan")
        row["speedup_vs_tape_function"] = ratio
        print(f"{row['size']:>9} {row['variant']:<14}{row['seconds_per_epoch']:>9.3f}{ratio:>17.2f}x"
              f"{row['peak_memory_mb']:>10.0f}")
    return results


def equal_epochs(size, epochs: int, runs: int, variants) -> dict:
    """Table: held-out IoU after the same epochs for the tape loop and the package's fit variants."""
    results = {}
    for name in variants:
        samples = [in_subprocess("measure_equal_epochs", size=size, variant=SPEED_VARIANTS[name], epochs=epochs,
                                 seed=seed) for seed in range(runs)]
        results[name] = {"epochs": epochs, "runs": runs, "iou": statistics.median(s["iou"] for s in samples),
                         "seconds": statistics.median(s["seconds"] for s in samples), "samples": samples}
    print(f"\n{'variant':<16}{'epochs':>7}{'held-out IoU':>14}{'seconds':>9}   (seed CAE, {size[0]}x{size[1]})")
    for name, row in results.items():
        print(f"{name:<16}{row['epochs']:>7}{row['iou']:>14.3f}{row['seconds']:>9.1f}")
    return results


def quality(budgets, runs: int, models) -> dict:
    """Table: held-out IoU / Dice (median of runs) after each wall-clock budget, plus the non-deep baseline."""
    budget = max(budgets)
    results = {}
    for name in models:
        preset_name, changes = QUALITY_MODELS[name]
        samples = [in_subprocess("measure_quality", preset_name=preset_name, changes=changes, budget=budget,
                                 seed=seed) for seed in range(runs)]
        row = {"runs": runs, "size": samples[0]["size"],
               "inference_fps": statistics.median(s["inference_fps"] for s in samples),
               "peak_memory_mb": statistics.median(s["peak_memory_mb"] for s in samples)}
        for mark in budgets:
            row[f"iou@{mark}s"] = statistics.median(s["marks"][str(mark)]["iou"] for s in samples)
            row[f"dice@{mark}s"] = statistics.median(s["marks"][str(mark)]["dice"] for s in samples)
            row[f"epochs@{mark}s"] = statistics.median(s["marks"][str(mark)]["epoch"] or 0 for s in samples)
        row["samples"] = samples
        results[name] = row
        print(f"  {name}: " + ", ".join(f"IoU@{m}s {row[f'iou@{m}s']:.3f}" for m in budgets), flush=True)
    samples = [in_subprocess("measure_baseline", seed=seed) for seed in range(runs)]
    results["pixel classifier (non-deep)"] = {
        "runs": runs, "fit_seconds": statistics.median(s["fit_seconds"] for s in samples),
        "iou": statistics.median(s["iou"] for s in samples), "dice": statistics.median(s["dice"] for s in samples),
        "inference_fps": statistics.median(s["inference_fps"] for s in samples)}
    header = "".join(f"{f'IoU@{m}s':>10}{f'Dice@{m}s':>10}" for m in budgets)
    print(f"\n{'model':<30}{'size':>9}{header}{'infer fps':>11}")
    for name, row in results.items():
        if "iou" in row:
            cells = "".join(f"{row['iou']:>10.3f}{row['dice']:>10.3f}" for _ in budgets)
            print(f"{name:<30}{EVAL_SIZE[0]}x{EVAL_SIZE[1]:<5}{cells}{row['inference_fps']:>11.1f}"
                  f"   (fit in {row['fit_seconds']:.1f} s)")
        else:
            cells = "".join(f"{row[f'iou@{m}s']:>10.3f}{row[f'dice@{m}s']:>10.3f}" for m in budgets)
            print(f"{name:<30}{row['size'][0]}x{row['size'][1]:<5}{cells}{row['inference_fps']:>11.1f}")
    return results


def main(argv=None) -> int:
    """Parse arguments, run the chosen parts, print tables, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["all", "speed", "equal", "quality"], default="all")
    parser.add_argument("--equal-epochs", type=int, default=60, help="epochs of the equal-epochs IoU check")
    parser.add_argument("--equal-variants", nargs="+", default=["tape-function", "fit", "fit+xla"],
                        choices=list(SPEED_VARIANTS))
    parser.add_argument("--sizes", nargs="+", default=["256x128", "512x256", "1024x512"])
    parser.add_argument("--variants", nargs="+", default=list(SPEED_VARIANTS), choices=list(SPEED_VARIANTS))
    parser.add_argument("--models", nargs="+", default=list(QUALITY_MODELS), choices=list(QUALITY_MODELS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8, help="timed epochs per speed run at 256x128")
    parser.add_argument("--budgets", type=int, nargs="+", default=[30, 60, 120])
    parser.add_argument("--name", default="latest", help="results/<name>.json")
    args = parser.parse_args(argv)
    if not REAL_RECORD.is_dir():
        print(f"note: {REAL_RECORD} is absent; measuring on the embedded synthetic record instead")
    report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "eval_size": EVAL_SIZE,
              "real_record": REAL_RECORD.is_dir()}
    if args.part in ("all", "speed"):
        print("== speed: seed CAE, 3 frames, batch 3 ==")
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes]
        report["speed"] = speed(sizes, args.runs, args.epochs, args.variants)
    if args.part in ("all", "equal"):
        print(f"\n== equal epochs: held-out IoU of the seed CAE at 256x128 after {args.equal_epochs} epochs ==")
        report["equal_epochs"] = equal_epochs((256, 128), args.equal_epochs, max(1, args.runs - 1),
                                              args.equal_variants)
    if args.part in ("all", "quality"):
        print(f"\n== quality: held-out IoU after wall-clock budgets (scored at {EVAL_SIZE[0]}x{EVAL_SIZE[1]}) ==")
        report["quality"] = quality(args.budgets, args.runs, args.models)
    out = HERE / "results" / f"{args.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
