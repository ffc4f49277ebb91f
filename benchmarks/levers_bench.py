"""Benchmark of inference levers on top of guided upsampling, chosen by the 4-fold CV alone (issue 21).

    python benchmarks/levers_bench.py models --only folds   # train the cpu preset once per fold, save each model
    python benchmarks/levers_bench.py cv                    # screen the levers on folds A-D (no training)
    python benchmarks/levers_bench.py finetune              # a training lever: 15 more epochs at 384 x 216
    python benchmarks/levers_bench.py models --only seeds   # the seed split's models, seeds 0, 1, 2
    python benchmarks/levers_bench.py seed                  # the seed split, once, with the package's defaults
    python benchmarks/levers_bench.py speed                 # ms added per 960 x 540 frame, each lever
    python benchmarks/levers_bench.py components --repeats 50   # ms of each step (resize, model, upsampling)

Each fold's `cpu`-preset model (seed 0), and each seed's on the seed split, is trained once in a fresh process and
saved whole (.keras) under --cache, outside the repository (it is derived from the real frames). The levers need
no retraining: the saved model predicts the held-out frames, read at 960 x 540 and resized (as `predict` does) to
each input size, with and without test-time flips, alone or averaged over two or three sizes; the probabilities
are upsampled to 960 x 540 by the guided filter at each point of its grid, and thresholded at each threshold.
Results print as tables and go to benchmarks/results/<name>.json with the machine and its load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (the folds and the record)
import upsampling_bench as ub  # noqa: E402  (IoUs at full size, the originals, subprocesses)

DEFAULT_CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "cae-levers-cache"
#: Input sizes (height, width, both divisible by 8) the fold models are fed at: 1, 1.25, 1.375, 1.5, 1.625, 1.75
#: times the training size 256 x 144 (the nearest multiple of 8 in each direction).
SIZES = ((256, 144), (320, 184), (352, 200), (384, 216), (416, 232))
#: Averages of the probabilities at several input sizes (at the largest one's size).
MULTI_SCALE = (((256, 144), (384, 216)), ((320, 184), (384, 216)), ((256, 144), (320, 184), (384, 216)))
#: The guided filter's grid (colour guide; gray lost to colour by 0.0005 in results/upsampling.json): the inner
#: grid on every source, the whole grid on the best sources only (the machine is shared).
RADII = (6, 8, 12, 16, 24)
EPSILONS = (3e-4, 1e-3, 3e-3, 1e-2)
INNER = {"radius": (8, 12, 16), "eps": (1e-3, 3e-3)}
SUBSAMPLES = (4, 2)
THRESHOLDS = ub.THRESHOLDS


def model_path(folder: Path, fold: str | None, seed: int) -> Path:
    """Where one fold's model (or one seed's on the seed split) is saved."""
    return folder / (f"fold_{fold}.keras" if fold else f"seed_{seed}.keras")


def train_and_save(fold: str | None, seed: int, folder: str) -> dict:
    """Train the cpu preset on a fold's (or the seed split's) 3 frames and save the model whole."""
    model, record, split, seconds = bench.train_cpu_preset(fold, seed)
    path = model_path(Path(folder), fold, seed)
    partial = path.with_name(path.stem + ".partial.keras")
    model.save(partial)
    os.replace(partial, path)
    (path.with_suffix(".json")).write_text(json.dumps({"train_seconds": seconds, "load_average": os.getloadavg(),
                                                        "heldout": list(split.heldout_ids)}))
    return {"path": str(path), "train_seconds": seconds, "load_average": os.getloadavg()}


def models(folder: Path, folds, seeds) -> dict:
    """Train and save every model not saved yet, one fresh process each; their training seconds and load."""
    folder.mkdir(parents=True, exist_ok=True)
    for fold, seed in [*((f, 0) for f in folds), *((None, s) for s in seeds)]:
        if model_path(folder, fold, seed).is_file():
            continue
        run = in_subprocess("train_and_save", fold=fold, seed=seed, folder=str(folder))
        print(f"  saved {run['path']}: {run['train_seconds']:.0f} s of training, load {run['load_average'][0]:.1f}",
              flush=True)
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def in_subprocess(kind: str, **kwargs) -> dict:
    """Run one function of this script in a fresh interpreter and return its JSON result."""
    return bench.in_subprocess(kind, module="levers_bench", **kwargs)


def load_model(folder: Path, fold: str | None, seed: int):
    """A saved model, with a clear error when `models` has not trained it yet."""
    import keras

    import cae_tutorial.model  # noqa: F401  (registers CoordinateChannels)

    path = model_path(folder, fold, seed)
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `python benchmarks/levers_bench.py models --cache {folder}`")
    return keras.models.load_model(path, compile=False)


def heldout_ids(fold: str | None):
    """The held-out ids of a fold (or of the seed split)."""
    record, split = bench._record((256, 144), fold)
    return list(split.heldout_ids)


def probabilities_at(model, frames, size, flip: bool):
    """The model's probabilities (N, h, w, 1) for full-size frames fed at size, as `predict` feeds them."""
    from cae_tutorial.evaluation import predict

    return predict(model, frames, size="model", model_input_size=size, batch_size=1, flip_average=flip)


def name_of(sizes, flip: bool) -> str:
    """A short name of a source: its input size(s) and whether flips are averaged."""
    return " + ".join(f"{h}x{w}" for h, w in sizes) + (" flip" if flip else "")


def sources_of(model, frames) -> dict:
    """{source name: probabilities (N, h, w, 1)}: each size with and without flips, and the multi-scale means."""
    from cae_tutorial.data import resize_probabilities

    out, single = {}, {}
    for size, flip in itertools.product(SIZES, (False, True)):
        single[(size, flip)] = out[name_of([size], flip)] = probabilities_at(model, frames, size, flip)
    for sizes in MULTI_SCALE:
        for flip in (False, True):
            largest = max(sizes)
            mean = sum(resize_probabilities(single[(s, flip)], largest) for s in sizes) / len(sizes)
            out[name_of(sizes, flip)] = mean
    return out


def guided_configs(subsamples=(4,), radii=RADII, epsilons=EPSILONS, bilinear=True):
    """The bilinear resize, then the guided grid (colour guide)."""
    if bilinear:
        yield {"method": "bilinear"}
    for subsample, radius, eps in itertools.product(subsamples, radii, epsilons):
        yield {"method": "guided", "gray": False, "subsample": subsample, "radius": radius, "eps": eps}


def label(config: dict) -> str:
    """A short name of an upsampling configuration (with its domain and second pass, if any)."""
    name = ub.label(config)
    if config.get("logit"):
        name += f" logit+-{config['logit']:g}"
    if config.get("then"):
        name += " then " + ub.label(config["then"]).replace("guided ", "")
    return name


def upsampled(probability, frame, config: dict):
    """One frame's probabilities (h, w, 1) at full size, as ub.upsampled, with two variants screened here.

    logit=L: filter the logits clipped to [-L, L] and mapped linearly to [0, 1] (the filter is linear, so this is
    filtering the logits; 0.5 still means even odds). then=config: a second guided pass on the full-size output.
    """
    import numpy as np

    plain = {k: v for k, v in config.items() if k not in ("logit", "then")}
    if config.get("logit"):
        bound = float(config["logit"])
        p = np.clip(probability.astype(np.float64), 1e-7, 1 - 1e-7)
        probability = ((np.clip(np.log(p / (1 - p)), -bound, bound) + bound) / (2 * bound)).astype(np.float32)
    out = ub.upsampled(probability, frame, plain)
    if config.get("then"):
        out = ub.upsampled(out[..., None], frame, config["then"])
    return out


def score_sources(sources: dict, candidates) -> dict:
    """{source: {config label: {"config", "folds": {fold: [IoU per threshold]}, "mean"}}} (as ub.score_sources)."""
    import numpy as np

    all_ids = sorted({i for per_fold in sources.values() for ids, _ in per_fold.values() for i in ids})
    frames, masks = ub.originals(all_ids)
    frames, masks = dict(zip(all_ids, frames)), dict(zip(all_ids, masks))
    scores = {}
    for name, per_fold in sources.items():
        scores[name] = {}
        for config in candidates(name):
            scores[name][label(config)] = row = {"config": config, "folds": {}}
            for fold, (ids, probabilities) in per_fold.items():
                per_frame = [ub.ious(upsampled(p, frames[i], config), masks[i], THRESHOLDS)
                             for i, p in zip(ids, probabilities)]
                row["folds"][fold] = [float(v) for v in np.mean(per_frame, axis=0)]
            row["mean"] = [float(v) for v in np.mean(list(row["folds"].values()), axis=0)]
    return scores


def fold_sources(folder: Path, folds, cached: Path) -> dict:
    """{source: {fold: (ids, probabilities)}}, computed once from the saved models and cached in cached (.npz)."""
    import numpy as np

    if cached.is_file():
        data = np.load(cached, allow_pickle=False)
        out = {}
        for key in data.files:
            if key.startswith("ids|"):
                continue
            fold, source = key.split("|", 1)
            out.setdefault(source, {})[fold] = (list(data[f"ids|{fold}"]), data[key])
        if set(next(iter(out.values()))) == set(folds):
            return out
    arrays, out = {}, {}
    for fold in folds:
        ids = heldout_ids(fold)
        frames, _ = ub.originals(ids)
        model = load_model(folder, fold, 0)
        arrays[f"ids|{fold}"] = np.array(ids)
        for source, probabilities in sources_of(model, frames).items():
            arrays[f"{fold}|{source}"] = probabilities
            out.setdefault(source, {})[fold] = (ids, probabilities)
        print(f"  fold {fold}: {len(arrays) - 1} arrays", flush=True)
    partial = cached.with_name(cached.stem + ".partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, cached)
    return out


def row_of(rows: dict, at: int) -> tuple:
    """(source, config label) of the best row by CV mean at threshold index at."""
    return max(((s, c) for s in rows for c in rows[s]), key=lambda k: rows[k[0]][k[1]]["mean"][at])


def cv(folder: Path, folds) -> dict:
    """Every source with bilinear and every guided configuration; then subsample 2 on the best sources."""
    at = THRESHOLDS.index(0.5)
    sources = fold_sources(folder, folds, folder / "fold_sources.npz")
    start = time.perf_counter()
    scores = score_sources(sources, lambda name: guided_configs(radii=INNER["radius"], epsilons=INNER["eps"]))
    print(f"  scored {sum(len(v) for v in scores.values())} rows in {time.perf_counter() - start:.0f} s", flush=True)
    # The rest of the grid, and subsample 2 (1.6 times the filter's cost), only on the 3 best sources.
    best_sources = sorted(scores, key=lambda s: -max(r["mean"][at] for r in scores[s].values()))[:3]
    rest = lambda name: [c for c in guided_configs(bilinear=False)  # noqa: E731
                         if label(c) not in scores[name]]
    extra = score_sources({s: sources[s] for s in best_sources}, rest)
    for source, rows in extra.items():
        scores[source].update(rows)
    extra = score_sources({s: sources[s] for s in best_sources},
                          lambda name: guided_configs((2,), INNER["radius"], INNER["eps"], bilinear=False))
    for source, rows in extra.items():
        scores[source].update(rows)
    print(f"  and the best sources' grid by {time.perf_counter() - start:.0f} s", flush=True)
    # Two variants of the filter, on the same 4 sources with each one's best configuration at subsample 4.
    def variants(source):
        best = scores[source][max((n for n, r in scores[source].items() if r["config"].get("subsample") == 4),
                                  key=lambda n: scores[source][n]["mean"][at])]["config"]
        second = {"method": "guided", "radius": 4, "eps": 1e-3, "subsample": 2}
        return [{**best, "logit": 4.0}, {**best, "logit": 8.0}, {**best, "then": {**second, "gray": False}},
                {**best, "then": {**second, "gray": True}}]
    extra = score_sources({s: sources[s] for s in best_sources}, variants)
    for source, rows in extra.items():
        scores[source].update(rows)
    print_tables(scores, folds, at)
    best_source, best_config = row_of(scores, at)
    return {"scores": scores, "best": {"source": best_source, "config": best_config}, "thresholds": THRESHOLDS}


def print_tables(scores: dict, folds, at: int) -> None:
    """Per source: bilinear, the current default and its best guided row; then the overall top rows."""
    default = label(ub.chosen_config())
    head = "".join(f"{'fold ' + f:>9}" for f in folds) + f"{'mean':>8}{'best t':>8}{'mean@t':>8}"

    def line(source, name, width=66):
        row = scores[source][name]
        t = max(range(len(THRESHOLDS)), key=lambda k: row["mean"][k])
        return (f"{source:<34}{name:<{width}}" + "".join(f"{row['folds'][f][at]:>9.4f}" for f in folds)
                + f"{row['mean'][at]:>8.4f}{THRESHOLDS[t]:>8.2f}{row['mean'][t]:>8.4f}")

    print(f"\nheld-out IoU at 960 x 540, threshold 0.5 (each row's best threshold beside it)")
    print(f"{'source':<34}{'upsampling':<66}" + head)
    for source in scores:
        guided = [n for n in scores[source] if n != "bilinear"]
        best = max(guided, key=lambda n: scores[source][n]["mean"][at])
        for name in dict.fromkeys(["bilinear", default, best]):
            if name in scores[source]:
                print(line(source, name))
    ranked = sorted(((s, n) for s in scores for n in scores[s]), key=lambda k: -scores[k[0]][k[1]]["mean"][at])
    print("\ntop 25 rows overall:")
    for source, name in ranked[:25]:
        print(line(source, name))


#: The training lever screened (not adopted): after the cpu preset's 240 epochs, FINETUNE_EPOCHS more at a larger
#: size, at the learning rate the cosine schedule ends on (5 % of 3e-3); its models predict at these sizes.
FINETUNE_EPOCHS = 15
FINETUNE_SIZE = (384, 216)
FINETUNE_PREDICT = ((384, 216), (480, 272))


def finetune_and_cache(fold: str, folder: str) -> dict:
    """A saved fold model trained FINETUNE_EPOCHS more at FINETUNE_SIZE; its held-out probabilities cached."""
    import numpy as np

    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import TrainOptions, train

    preset = get_preset("cpu").resolved()
    stage = preset.with_(height=FINETUNE_SIZE[0], width=FINETUNE_SIZE[1], epochs=FINETUNE_EPOCHS,
                         progressive_fraction=0.0, schedule="constant", learning_rate=0.05 * preset.learning_rate)
    record, split = bench._record(stage.size, fold)
    model = load_model(Path(folder), fold, 0)
    start = time.perf_counter()
    train(model, record, type(split)(split.train_ids, ()), stage, seed=0, progress=False,
          options=TrainOptions(snapshot_epochs=()))
    seconds = time.perf_counter() - start
    ids = list(split.heldout_ids)
    frames, _ = ub.originals(ids)
    out = {"ids": np.array(ids), "seconds": seconds}
    for size in FINETUNE_PREDICT:
        out[name_of([size], False)] = probabilities_at(model, frames, size, False)
    path = Path(folder) / f"finetuned_{fold}.npz"
    np.savez(path.with_name(path.stem + ".partial.npz"), **out)
    os.replace(path.with_name(path.stem + ".partial.npz"), path)
    return {"seconds": seconds, "load_average": os.getloadavg()}


def finetune(folder: Path, folds) -> dict:
    """The training lever on the CV folds: fine-tune each fold's model (fresh process), score as `cv` does."""
    import numpy as np

    runs = {}
    for fold in folds:
        if not (folder / f"finetuned_{fold}.npz").is_file():
            runs[fold] = in_subprocess("finetune_and_cache", fold=fold, folder=str(folder))
            print(f"  fold {fold}: {runs[fold]['seconds']:.0f} s more training, load "
                  f"{runs[fold]['load_average'][0]:.1f}", flush=True)
    cached = {fold: dict(np.load(folder / f"finetuned_{fold}.npz")) for fold in folds}
    sources = {f"fine-tuned, {name_of([size], False)}": {f: (list(c["ids"]), c[name_of([size], False)])
                                                         for f, c in cached.items()} for size in FINETUNE_PREDICT}
    scores = score_sources(sources, lambda name: [{"method": "bilinear"}, ub.chosen_config()])
    print_tables(scores, folds, THRESHOLDS.index(0.5))
    return {"epochs": FINETUNE_EPOCHS, "size": FINETUNE_SIZE, "scores": scores,
            "seconds": {f: float(c["seconds"]) for f, c in cached.items()}}


def adopted_config() -> dict:
    """The package's defaults: input scale, flips, and the guided filter's parameters."""
    from cae_tutorial import evaluation

    return {"input_scale": evaluation.INPUT_SCALE, "flip_average": evaluation.FLIP_AVERAGE,
            **ub.chosen_config()}


def seed_split(folder: Path) -> dict:
    """The seed split, once: each seed's model through `evaluate` with the package's defaults, and bilinear."""
    from cae_tutorial.data import load_record
    from cae_tutorial.evaluation import evaluate

    record = load_record(bench.REAL_RECORD, "136", size=(256, 144))
    _, split = bench._record((256, 144), None)
    ids = list(split.heldout_ids)
    rows = {"defaults (adopted levers)": {}, "guided alone (input scale 1, no flips)": {},
            "bilinear, input scale 1": {}}
    for seed in ub.SEEDS:
        model = load_model(folder, None, seed)
        rows["defaults (adopted levers)"][seed] = evaluate(model, record, ids).mean("iou")
        rows["guided alone (input scale 1, no flips)"][seed] = evaluate(model, record, ids, input_scale=1.0,
                                                                        flip_average=False).mean("iou")
        rows["bilinear, input scale 1"][seed] = evaluate(model, record, ids, input_scale=1.0, flip_average=False,
                                                         upsampling="bilinear").mean("iou")
    print(f"\nseed split (frames 1, 4, 7 train; {', '.join(ids)} held out), IoU at 960 x 540, threshold 0.5")
    print(f"{'evaluate(...)':<42}" + "".join(f"{'seed ' + str(s):>9}" for s in ub.SEEDS) + f"{'median':>9}")
    out = {"config": adopted_config(), "rows": {}}
    for name, per_seed in rows.items():
        values = [float(per_seed[s]) for s in ub.SEEDS]
        out["rows"][name] = {"seeds": values, "median": statistics.median(values)}
        print(f"{name:<42}" + "".join(f"{v:>9.4f}" for v in values) + f"{statistics.median(values):>9.4f}")
    return out


def speed(folder: Path, repeats: int) -> dict:
    """Wall ms per 960 x 540 frame of `predict(..., size='original')`, one frame a call, for each lever."""
    from cae_tutorial.evaluation import predict

    model = load_model(folder, "A", 0) if model_path(folder, "A", 0).is_file() else None
    if model is None:
        from cae_tutorial.training import build_model

        model = build_model("cpu")
    frame = ub.originals(heldout_ids("A"))[0][0]
    variants = {"bilinear, input scale 1": {"upsampling": "bilinear", "input_scale": 1.0, "flip_average": False},
                "guided, input scale 1": {"input_scale": 1.0, "flip_average": False},
                "guided, input scale 1, flips": {"input_scale": 1.0, "flip_average": True},
                "guided, input scale 1.25": {"input_scale": 1.25, "flip_average": False},
                "guided, input scale 1.375": {"input_scale": 1.375, "flip_average": False},
                "guided, input scale 1.5": {"input_scale": 1.5, "flip_average": False},
                "guided, input scale 1.5, flips": {"input_scale": 1.5, "flip_average": True},
                "defaults": {}}
    result = {"frame": list(frame.shape), "load_average_start": os.getloadavg(), "ms": {}}
    for name, options in variants.items():
        run = lambda: predict(model, frame[None], size="original", batch_size=1,  # noqa: E731
                              model_input_size=(256, 144), **options)
        run()  # warm-up (traces the model at this size)
        times, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            times.append(1000 * (time.perf_counter() - start))
            cpu.append(1000 * (time.process_time() - start_cpu))
        result["ms"][name] = {"median": statistics.median(times), "min": min(times), "cpu": statistics.median(cpu)}
    result["load_average_end"] = os.getloadavg()
    base = result["ms"]["bilinear, input scale 1"]
    print(f"\nms per {frame.shape[0]} x {frame.shape[1]} frame, predict(size='original'), one frame a call (median "
          f"of {repeats}; load average {result['load_average_start'][0]:.1f} -> {result['load_average_end'][0]:.1f})")
    print(f"{'predict(...)':<34}{'median':>9}{'min':>9}{'added':>9}{'added min':>10}{'CPU ms':>9}")
    for name, row in result["ms"].items():
        print(f"{name:<34}{row['median']:>9.1f}{row['min']:>9.1f}{row['median'] - base['median']:>9.1f}"
              f"{row['min'] - base['min']:>10.1f}{row['cpu']:>9.1f}")
    return result


def components(folder: Path, repeats: int) -> dict:
    """ms of each step of the full-resolution path, one 960 x 540 frame, at the training size and at 1.25 times it:
    the frame's resize, the model's prediction (Keras predict, batch 1) and the upsampling (bilinear or guided).

    Wall time on a shared machine is inflated by the other processes; the minimum of many calls is the closest to
    what the step costs alone, and the table gives it beside the median."""
    from cae_tutorial.evaluation import _probabilities, _resize_frames, scaled_size
    from cae_tutorial.upsampling import upsample

    model = load_model(folder, "A", 0)
    frame = ub.originals(heldout_ids("A"))[0][0]
    base = (256, 144)
    steps = {}
    for scale in (1.0, 1.25):
        size = scaled_size(base, scale)
        images = _resize_frames([frame], size)
        probability = _probabilities(model, images, 1, False)[0]
        steps[f"resize the frame to {size[0]} x {size[1]}"] = lambda s=size: _resize_frames([frame], s)
        steps[f"model at {size[0]} x {size[1]}"] = lambda x=images: _probabilities(model, x, 1, False)
        steps[f"bilinear from {size[0]} x {size[1]}"] = lambda p=probability: upsample(p, frame.shape[:2],
                                                                                      method="bilinear")
        steps[f"guided from {size[0]} x {size[1]}"] = lambda p=probability: upsample(p, frame.shape[:2], frame)
    result = {"frame": list(frame.shape), "load_average_start": os.getloadavg(), "ms": {}}
    for name, step in steps.items():
        step()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(1000 * (time.perf_counter() - start))
        result["ms"][name] = {"median": statistics.median(times), "min": min(times)}
    result["load_average_end"] = os.getloadavg()
    print(f"\nms per step, one {frame.shape[0]} x {frame.shape[1]} frame ({repeats} calls; load average "
          f"{result['load_average_start'][0]:.1f} -> {result['load_average_end'][0]:.1f})")
    print(f"{'step':<36}{'min':>9}{'median':>9}")
    for name, row in result["ms"].items():
        print(f"{name:<36}{row['min']:>9.1f}{row['median']:>9.1f}")
    ms = {k: v["min"] for k, v in result["ms"].items()}
    small, large = "256 x 144", "{} x {}".format(*scaled_size(base, 1.25))
    result["added_min"] = {
        "guided (at 256 x 144)": ms[f"guided from {small}"] - ms[f"bilinear from {small}"],
        "input scale 1.25 (resize + model)": ms[f"resize the frame to {large}"] + ms[f"model at {large}"]
        - ms[f"resize the frame to {small}"] - ms[f"model at {small}"],
        "defaults (input scale 1.25 + guided)": ms[f"resize the frame to {large}"] + ms[f"model at {large}"]
        + ms[f"guided from {large}"] - ms[f"resize the frame to {small}"] - ms[f"model at {small}"]
        - ms[f"bilinear from {small}"]}
    for name, value in result["added_min"].items():
        print(f"added by {name:<44}{value:>7.1f} ms (minimum times)")
    return result


def main(argv=None) -> int:
    """Parse arguments, run the chosen part, print tables, write JSON."""
    from cae_tutorial.hardware import describe

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["models", "cv", "finetune", "seed", "speed",
                                                             "components"])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="folder of the saved models")
    parser.add_argument("--only", choices=["folds", "seeds", "all"], default="all", help="which models to train")
    parser.add_argument("--folds", nargs="+", default=list(bench.CV_FOLDS), choices=list(bench.CV_FOLDS))
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per variant in `speed`")
    parser.add_argument("--name", default="levers", help="results/<name>.json")
    args = parser.parse_args(argv)
    if not bench.REAL_RECORD.is_dir():
        raise SystemExit(f"{bench.REAL_RECORD} is absent: this benchmark scores the real frames")
    machine = {**describe(), "python": sys.version.split()[0], "load_average": os.getloadavg()}
    print(f"machine: {machine['cpu_model']}, {machine['cpus']} CPUs; load average {machine['load_average'][0]:.1f}")
    out = HERE / "results" / f"{args.name}.json"
    report = json.loads(out.read_text()) if out.is_file() else {}
    report.setdefault("machine", {})[args.part] = machine
    if args.part == "models":
        folds = args.folds if args.only in ("folds", "all") else []
        seeds = ub.SEEDS if args.only in ("seeds", "all") else []
        report["models"] = models(args.cache, folds, seeds)
    elif args.part == "cv":
        report["cross_validation"] = cv(args.cache, args.folds)
    elif args.part == "finetune":
        report["finetune"] = finetune(args.cache, args.folds)
    elif args.part == "seed":
        report["seed_split"] = seed_split(args.cache)
    elif args.part == "components":
        report["components"] = components(args.cache, args.repeats)
    else:
        report["speed"] = speed(args.cache, args.repeats)
    report["machine"][args.part]["load_average_end"] = os.getloadavg()
    out.parent.mkdir(exist_ok=True)
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(report, indent=1))
    os.replace(partial, out)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
