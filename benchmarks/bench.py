"""Benchmark of CPU training: speed per epoch, peak memory, held-out IoU at full resolution, inference.

    python benchmarks/bench.py final --name final  # default preset vs pixel classifier + cross-validation (~12 min)
    python benchmarks/bench.py speed --sizes 256x128 512x256 --runs 3
    python benchmarks/bench.py quality --budgets 30 60 120 --runs 3
    python benchmarks/bench.py cv --folds A B C D
    python benchmarks/bench.py fitpath            # fit vs a tf.function loop: metrics, steps_per_execution

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
BASELINE_SIZE = (256, 128)  # the pixel classifier fits and predicts at this size
#: Cross-validation folds over the 7 frames (indices in frame order): 3 train, the other 4 are scored.
#: The seed's split (0, 3, 6) is not among them, so choosing a recipe by them does not tune to its held-out frames.
CV_FOLDS = {"A": (0, 2, 4), "B": (1, 3, 5), "C": (2, 5, 6), "D": (1, 4, 6)}

SPEED_VARIANTS = {
    "tape-eager": {"loop": "eager"},
    "tape-function": {"loop": "function"},
    "fit": {"loop": "fit"},
    "fit+xla": {"loop": "fit", "jit_compile": True},
    "fit+bf16": {"loop": "fit", "dtype": "mixed_bfloat16"},
    "fit+xla+bf16": {"loop": "fit", "jit_compile": True, "dtype": "mixed_bfloat16"},
    "tape-function+bf16": {"loop": "function", "dtype": "mixed_bfloat16"},
}
#: The cpu preset of the second round (200 epochs, 160 + 40, plain Dice + focal): the base of the third round's
#: candidates, and of the older rows below.
ROUND2 = {"epochs": 200, "progressive_fraction": 0.8, "boundary_weight": 0.0}
#: The cpu preset of the first round (256 x 128, no coordinate channels), for the history rows.
PREVIOUS_CPU = {**ROUND2, "height": 256, "width": 128, "coordinates": False}
QUALITY_MODELS = {
    "cpu preset": ("cpu", {}),
    "cpu preset, float32": ("cpu", {"dtype": "float32"}),
    "cpu preset, 256x128 throughout": ("cpu", {**PREVIOUS_CPU, "progressive_scale": 1, "epochs": 150}),
    "cpu preset, 300 epochs": ("cpu", {**PREVIOUS_CPU, "epochs": 300}),
    "old cpu preset @128x64": ("cpu", {**ROUND2, "height": 128, "width": 64, "coordinates": False,
                                       "progressive_scale": 1, "epochs": 150}),
    # Candidates screened by cross-validation (benchmarks/README.md records what each gave).
    # Second round: from the first round's preset.
    "previous cpu preset (256x128)": ("cpu", PREVIOUS_CPU),
    "cpu preset @256x144": ("cpu", {**ROUND2, "height": 256, "width": 144, "coordinates": False}),
    "cpu preset + coordinates": ("cpu", {**PREVIOUS_CPU, "coordinates": True}),
    "cpu preset @256x144 + coordinates": ("cpu", {**ROUND2, "height": 256, "width": 144, "coordinates": True}),
    "cpu preset @256x144 + coordinates, 140+60 epochs": ("cpu", {**ROUND2, "progressive_fraction": 0.7}),
    # Third round: from the second round's preset (256 x 144 + coordinates, 160 + 40 epochs).
    "cpu preset + boundary loss 2": ("cpu", {**ROUND2, "boundary_weight": 2.0}),
    "cpu preset + boundary loss 5": ("cpu", {**ROUND2, "boundary_weight": 5.0}),
    "cpu preset + boundary loss 10": ("cpu", {**ROUND2, "boundary_weight": 10.0}),
    "cpu preset, 180+60 epochs": ("cpu", {**ROUND2, "epochs": 240, "progressive_fraction": 0.75}),
    "cpu preset, 180+60 epochs + boundary loss 5": ("cpu", {"epochs": 240, "progressive_fraction": 0.75,
                                                           "boundary_weight": 5.0}),
    "cpu preset, 180+60 epochs + boundary loss 10": ("cpu", {"epochs": 240, "progressive_fraction": 0.75,
                                                            "boundary_weight": 10.0}),
    "seed recipe @256x128": ("seed", {"height": 256, "width": 128}),
    "seed recipe + skips @256x128": ("seed", {"height": 256, "width": 128, "skip_connections": True}),
}


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _record(size, fold: str | None = None):
    """The real record (or the embedded one when it is absent) at size, and the seed split (or a CV fold's)."""
    from cae_tutorial.data import load_record, seed_split, split_by_ids

    record = load_record(REAL_RECORD, "136", size=size) if REAL_RECORD.is_dir() else load_record(size=size)
    if fold is None:
        return record, seed_split(record)
    return record, split_by_ids(record, [record.ids[i] for i in CV_FOLDS[fold]])


def full_resolution_scores(record, probabilities) -> tuple[float, float]:
    """Mean IoU and Dice of probabilities (at model size) resized bilinearly to the frames' original size."""
    from cae_tutorial.data import read_originals
    from cae_tutorial.evaluation import score_at_original_size

    table = score_at_original_size(record.ids, read_originals(record, "masks"), probabilities)
    return float(table.mean("iou")), float(table.mean("dice"))


def tape_step(model, preset, compiled: bool, optimizer=None):
    """The seed's loop: one GradientTape step with Dice + focal loss and Adam (or `optimizer`), eager or compiled."""
    import keras
    import tensorflow as tf

    from cae_tutorial.losses import dice_focal_loss

    loss_fn, optimizer = dice_focal_loss(), optimizer or keras.optimizers.Adam(preset.learning_rate)

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
    from cae_tutorial.pipeline import frames_dataset
    from cae_tutorial.training import build_model, compile_settings

    preset = get_preset("seed", height=size[0], width=size[1], epochs=epochs,
                        jit_compile=variant.get("jit_compile", False), dtype=variant.get("dtype", "float32"))
    record, split = _record(size)
    part = record.subset(split.train_ids)
    model = build_model(preset, seed=0)
    times = []
    if variant["loop"] == "fit":
        model.compile(**compile_settings(preset.with_(epochs=epochs + 1), 1))

        class Clock(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.start)

        model.fit(frames_dataset(part.images, part.masks, preset), epochs=epochs + 1, verbose=0,
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
    from cae_tutorial.evaluation import predict
    from cae_tutorial.training import TrainOptions, build_model, train

    preset = get_preset("seed", height=size[0], width=size[1], epochs=epochs,
                        jit_compile=variant.get("jit_compile", False), dtype=variant.get("dtype", "float32"))
    record, split = _record(size)
    part, heldout = record.subset(split.train_ids), record.subset(split.heldout_ids)
    model = build_model(preset, seed=seed)
    start = time.perf_counter()
    if variant["loop"] == "fit":
        train(model, record, type(split)(split.train_ids, ()), preset, seed=seed, progress=False,
              options=TrainOptions(snapshot_epochs=()))
    else:
        step = tape_step(model, preset, compiled=True)
        x, y = tf.constant(part.images), tf.constant(part.masks)
        for _ in range(epochs):
            step(x, y)
    seconds = time.perf_counter() - start
    return {"iou": float(iou_score(heldout.masks, predict(model, heldout.images)).mean()), "seconds": seconds}


def measure_quality(preset_name: str, changes: dict, budget: float, seed: int, fold: str | None = None) -> dict:
    """Train under a wall-clock budget; held-out IoU/Dice at full resolution when each budget mark was passed."""
    import keras

    from cae_tutorial.callbacks import TimeBudget
    from cae_tutorial.losses import iou_score
    from cae_tutorial.presets import get_preset
    from cae_tutorial.evaluation import predict
    from cae_tutorial.training import TrainOptions, build_model, train

    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
    preset = get_preset(preset_name, **changes).resolved()
    record, split = _record(preset.size, fold)
    heldout = record.subset(split.heldout_ids)
    marks = sorted({*(m for m in (30, 60, 120) if m <= budget), budget})
    scores, start = {}, [0.0]

    def score(flip_average=False):
        probabilities = predict(model, heldout.images, flip_average=flip_average)
        iou_model = float(iou_score(heldout.masks, probabilities).mean())
        return (*full_resolution_scores(heldout, probabilities), iou_model)

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
                    iou, dice, iou_model = score()
                    scores[mark] = {"iou": iou, "dice": dice, "iou_model": iou_model, "epoch": epoch + 1,
                                    "elapsed": elapsed}
                    self.paused += time.perf_counter() - t
            if len(scores) == len(marks):
                self.model.stop_training = True

    model = build_model(preset, seed=seed)
    marker = Marks()
    # No held-out validation or snapshots inside the budget: the clock measures training alone.
    # The preset's own epochs (its schedule depends on them); a run that finishes early keeps its final score.
    train(model, record, type(split)(split.train_ids, ()), preset, seed=seed, progress=False,
          callbacks=[marker, TimeBudget(budget + 60)], options=TrainOptions(snapshot_epochs=()))
    seconds = time.perf_counter() - start[0] - marker.paused
    final = dict(zip(("iou", "dice", "iou_model"), score()))
    final["iou_flip_average"] = score(flip_average=True)[0]
    for mark in marks:  # a run that ended (its epochs done) before a mark keeps its final score
        scores.setdefault(mark, {**final, "epoch": None, "elapsed": None})
    start_fps = time.perf_counter()
    for _ in range(3):
        predict(model, heldout.images)
    fps = 3 * len(heldout) / (time.perf_counter() - start_fps)
    return {"marks": {str(k): v for k, v in scores.items()}, "final": final, "train_seconds": seconds,
            "dtype": preset.dtype, "inference_fps": fps, "size": list(preset.size), "fold": fold,
            "peak_memory_mb": peak_memory_mb()}


def measure_baseline(seed: int, fold: str | None = None) -> dict:
    """The non-deep pixel classifier fitted on the 3 training frames at BASELINE_SIZE, scored at full resolution."""
    from cae_tutorial.baseline import fit_pixel_classifier, predict_pixel_classifier
    from cae_tutorial.losses import iou_score

    record, split = _record(BASELINE_SIZE, fold)
    train_part, heldout = record.subset(split.train_ids), record.subset(split.heldout_ids)
    start = time.perf_counter()
    classifier = fit_pixel_classifier(train_part.images, train_part.masks, seed=seed)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    probabilities = predict_pixel_classifier(classifier, heldout.images)
    fps = len(heldout) / (time.perf_counter() - start)
    iou, dice = full_resolution_scores(heldout, probabilities)
    return {"fit_seconds": fit_seconds, "iou": iou, "dice": dice, "inference_fps": fps, "fold": fold,
            "iou_model": float(iou_score(heldout.masks, probabilities).mean())}


def measure_fit_path(dtype: str = "float32", rounds: int = 4, epochs: int = 10) -> dict:
    """Seconds per epoch of the cpu preset's model at 128x64: fit with/without metrics and steps_per_execution,
    against a tf.function tape loop, in interleaved rounds so that load changes hit every path alike."""
    import keras

    from cae_tutorial.losses import dice_focal_loss, training_metrics
    from cae_tutorial.pipeline import frames_dataset
    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import build_model, make_optimizer

    preset = get_preset("cpu", height=128, width=64, dtype=dtype, progressive_scale=1)
    record, split = _record(preset.size)
    part = record.subset(split.train_ids)
    steps = preset.steps_per_epoch

    class Clock(keras.callbacks.Callback):
        def __init__(self, times):
            super().__init__()
            self.times = times

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    def fitted(steps_per_execution, metrics):
        model = build_model(preset)
        model.compile(optimizer=make_optimizer(preset, steps, 100), loss=dice_focal_loss(),
                      metrics=training_metrics() if metrics else None, steps_per_execution=steps_per_execution)
        return model, frames_dataset(part.images, part.masks, preset)

    paths = {"fit": fitted(1, True), "fit spe=4": fitted(steps, True), "fit spe=4 no metrics": fitted(steps, False)}
    step = tape_step(build_model(preset), preset, compiled=True, optimizer=make_optimizer(preset, steps, 100))
    batches = iter(frames_dataset(part.images, part.masks, preset))

    times = {name: [] for name in [*paths, "tape-function"]}
    for round_ in range(rounds):  # round 0 traces and warms up: not counted
        for name, (model, data) in paths.items():
            epoch_times = []
            model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=[Clock(epoch_times)])
            times[name] += epoch_times[1:] if round_ else []
        for _ in range(epochs):
            start = time.perf_counter()
            for _ in range(steps):
                loss = step(*next(batches))
            float(loss)
            times["tape-function"] += [time.perf_counter() - start] if round_ else []
    return {name: statistics.median(values) for name, values in times.items()}


def fit_path(dtypes) -> dict:
    """Table: the package's fit against a bare tf.function loop, with and without metrics / steps_per_execution."""
    results = {dtype: in_subprocess("measure_fit_path", dtype=dtype) for dtype in dtypes}
    print(f"\n{'dtype':<16}{'path':<24}{'s/epoch':>9}{'vs loop':>9}   (cpu preset model, 128x64, 4 steps an epoch)")
    for dtype, row in results.items():
        for name, seconds in row.items():
            print(f"{dtype:<16}{name:<24}{seconds:>9.3f}{row['tape-function'] / seconds:>8.2f}x")
    return results


def in_subprocess(kind: str, module: str = "bench", **kwargs) -> dict:
    """Run one function of a script in benchmarks/ (module) in a fresh interpreter and return its JSON result."""
    code = (f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import {module} as m; "
            f"print('RESULT' + json.dumps(m.{kind}(**json.loads(sys.argv[1]))))")
    run = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True, text=True)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT")]
    if run.returncode or not lines:
        raise RuntimeError(f"{kind}({kwargs}) failed:\n{run.stderr[-3000:]}")
    return json.loads(lines[-1][6:])


def train_cpu_preset(fold: str | None, seed: int):
    """The cpu preset trained on a fold's (or the seed split's) 3 frames: (model, record, split, seconds)."""
    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import TrainOptions, build_model, train

    preset = get_preset("cpu").resolved()
    record, split = _record(preset.size, fold)
    model = build_model(preset, seed=seed)
    start = time.perf_counter()
    train(model, record, type(split)(split.train_ids, ()), preset, seed=seed, progress=False,
          options=TrainOptions(snapshot_epochs=()))
    return model, record, split, time.perf_counter() - start


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
    """Table: held-out IoU / Dice at full resolution (median of seeds) after each budget, and the pixel classifier."""
    budget = max(budgets)
    results = {}
    for name in models:
        preset_name, changes = QUALITY_MODELS[name]
        samples = [in_subprocess("measure_quality", preset_name=preset_name, changes=changes, budget=budget,
                                 seed=seed) for seed in range(runs)]
        row = {"runs": runs, "size": samples[0]["size"], "dtype": samples[0]["dtype"],
               "iou": statistics.median(s["final"]["iou"] for s in samples),
               "dice": statistics.median(s["final"]["dice"] for s in samples),
               "iou_model_size": statistics.median(s["final"]["iou_model"] for s in samples),
               "iou_flip_average": statistics.median(s["final"]["iou_flip_average"] for s in samples),
               "train_seconds": statistics.median(s["train_seconds"] for s in samples),
               "inference_fps": statistics.median(s["inference_fps"] for s in samples),
               "peak_memory_mb": statistics.median(s["peak_memory_mb"] for s in samples)}
        for mark in budgets:
            row[f"iou@{mark}s"] = statistics.median(s["marks"][str(mark)]["iou"] for s in samples)
        row["samples"] = samples
        results[name] = row
        per_seed = ", ".join(f"{s['final']['iou']:.3f}" for s in samples)
        print(f"  {name}: IoU {row['iou']:.3f} (seeds: {per_seed}; with flip averaging {row['iou_flip_average']:.3f})"
              f" after {row['train_seconds']:.0f} s of training", flush=True)
    samples = [in_subprocess("measure_baseline", seed=seed) for seed in range(runs)]
    results["pixel classifier (non-deep)"] = {
        "runs": runs, "size": list(BASELINE_SIZE), "fit_seconds": statistics.median(s["fit_seconds"] for s in samples),
        "iou": statistics.median(s["iou"] for s in samples), "dice": statistics.median(s["dice"] for s in samples),
        "iou_model_size": statistics.median(s["iou_model"] for s in samples),
        "inference_fps": statistics.median(s["inference_fps"] for s in samples), "samples": samples}
    marks = "".join(f"{f'IoU@{m}s':>9}" for m in budgets)
    print(f"\n{'model':<32}{'size':>9}{'dtype':>16}{'train s':>9}{marks}{'IoU':>7}{'Dice':>7}{'IoU@model':>10}"
          f"{'fps':>7}   (IoU, Dice at full resolution, median of {runs} seeds)")
    for name, row in results.items():
        size = f"{row['size'][0]}x{row['size'][1]}"
        if "fit_seconds" in row:
            cells = "".join(f"{'':>9}" for _ in budgets)
            print(f"{name:<32}{size:>9}{'':>16}{row['fit_seconds']:>9.1f}{cells}{row['iou']:>7.3f}{row['dice']:>7.3f}"
                  f"{row['iou_model_size']:>10.3f}{row['inference_fps']:>7.1f}")
        else:
            cells = "".join(f"{row[f'iou@{m}s']:>9.3f}" for m in budgets)
            print(f"{name:<32}{size:>9}{row['dtype']:>16}{row['train_seconds']:>9.1f}{cells}{row['iou']:>7.3f}"
                  f"{row['dice']:>7.3f}{row['iou_model_size']:>10.3f}{row['inference_fps']:>7.1f}"
                  f"   (flip-averaged IoU {row['iou_flip_average']:.3f})")
    baseline, preset = results["pixel classifier (non-deep)"], results.get("cpu preset")
    if preset:
        beats, fast = preset["iou"] > baseline["iou"], preset["train_seconds"] <= 120
        print(f"target: default preset {preset['iou']:.3f} vs pixel classifier {baseline['iou']:.3f} at full "
              f"resolution ({'ahead' if beats else 'behind'}), {preset['train_seconds']:.0f} s of training "
              f"({'within' if fast else 'over'} 120 s): {'met' if beats and fast else 'NOT met'}")
    return results


def cross_validation(folds, models, seed: int = 0, budget: float = 600) -> dict:
    """Table: held-out IoU at full resolution per fold (train on 3 frames, score the other 4), and the mean."""
    results = {}
    for name in [*models, "pixel classifier (non-deep)"]:
        per_fold = {}
        for fold in folds:
            if name in QUALITY_MODELS:
                preset_name, changes = QUALITY_MODELS[name]
                run = in_subprocess("measure_quality", preset_name=preset_name, changes=changes, budget=budget,
                                    seed=seed, fold=fold)
                per_fold[fold] = {"iou": run["final"]["iou"], "iou_flip_average": run["final"]["iou_flip_average"],
                                  "seconds": run["train_seconds"]}
            else:
                per_fold[fold] = {"iou": in_subprocess("measure_baseline", seed=seed, fold=fold)["iou"]}
            print(f"  {name} fold {fold}: IoU {per_fold[fold]['iou']:.3f}", flush=True)
        results[name] = {"folds": per_fold, "mean": statistics.mean(f["iou"] for f in per_fold.values())}
    print(f"\n{'model':<32}" + "".join(f"{'fold ' + f:>9}" for f in folds) + f"{'mean':>8}"
          f"   (held-out IoU at full resolution, seed {seed})")
    for name, row in results.items():
        print(f"{name:<32}" + "".join(f"{row['folds'][f]['iou']:>9.3f}" for f in folds) + f"{row['mean']:>8.3f}")
        if all("iou_flip_average" in f for f in row["folds"].values()):
            row["mean_flip_average"] = statistics.mean(f["iou_flip_average"] for f in row["folds"].values())
            print(f"{'  + flip averaging':<32}" + "".join(f"{row['folds'][f]['iou_flip_average']:>9.3f}" for f in folds)
                  + f"{row['mean_flip_average']:>8.3f}")
    return results


def main(argv=None) -> int:
    """Parse arguments, run the chosen parts, print tables, write JSON."""
    from cae_tutorial.hardware import describe

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["all", "final", "speed", "equal", "quality", "cv", "fitpath"], default="final",
                        help="final (default): quality of the default preset vs the pixel classifier, and cv")
    parser.add_argument("--equal-epochs", type=int, default=60, help="epochs of the equal-epochs IoU check")
    parser.add_argument("--equal-variants", nargs="+", default=["tape-function", "fit", "fit+xla"],
                        choices=list(SPEED_VARIANTS))
    parser.add_argument("--sizes", nargs="+", default=["256x128", "512x256", "1024x512"])
    parser.add_argument("--variants", nargs="+", default=list(SPEED_VARIANTS), choices=list(SPEED_VARIANTS))
    parser.add_argument("--models", nargs="+", default=["cpu preset"], choices=list(QUALITY_MODELS))
    parser.add_argument("--cv-models", nargs="+", default=["cpu preset"], choices=list(QUALITY_MODELS))
    parser.add_argument("--folds", nargs="+", default=list(CV_FOLDS), choices=list(CV_FOLDS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8, help="timed epochs per speed run at 256x128")
    parser.add_argument("--budgets", type=int, nargs="+", default=[30, 60, 120])
    parser.add_argument("--name", default="latest", help="results/<name>.json")
    args = parser.parse_args(argv)
    if not REAL_RECORD.is_dir():
        print(f"note: {REAL_RECORD} is absent; measuring on the embedded synthetic record instead")
    machine = {**describe(), "python": sys.version.split()[0], "load_average": os.getloadavg()}
    print(f"machine: {machine['cpu_model']}, {machine['cpus']} CPUs, flags {' '.join(machine['cpu_flags'])}; "
          f"dtype auto -> {machine['auto_dtype']}; load average {machine['load_average'][0]:.1f}")
    report = {"machine": machine, "real_record": REAL_RECORD.is_dir(), "scored_at": "original resolution"}
    if args.part in ("all", "speed"):
        print("== speed: seed CAE, 3 frames, batch 3 ==")
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes]
        report["speed"] = speed(sizes, args.runs, args.epochs, args.variants)
    if args.part in ("all", "equal"):
        print(f"\n== equal epochs: held-out IoU of the seed CAE at 256x128 after {args.equal_epochs} epochs ==")
        report["equal_epochs"] = equal_epochs((256, 128), args.equal_epochs, max(1, args.runs - 1),
                                              args.equal_variants)
    if args.part in ("all", "fitpath"):
        print("\n== fit path: where the package's fit loses time against a tf.function loop ==")
        report["fit_path"] = fit_path(["float32", "mixed_bfloat16"])
    if args.part in ("all", "final", "quality"):
        print("\n== quality: seed split, held-out IoU at full resolution after wall-clock budgets ==")
        report["quality"] = quality(args.budgets, args.runs, args.models)
    if args.part in ("all", "final", "cv"):
        print(f"\n== cross-validation: folds {' '.join(args.folds)}, held-out IoU at full resolution ==")
        report["cross_validation"] = cross_validation(args.folds, args.cv_models)
    report["machine"]["load_average_end"] = os.getloadavg()
    out = HERE / "results" / f"{args.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
