"""Benchmark of edge-aware upsampling (cae_tutorial.upsampling): which method and parameters, chosen by CV.

    python benchmarks/upsampling_bench.py cache           # train the cpu preset once per fold / seed (~2 min each)
    python benchmarks/upsampling_bench.py cv              # tune method, radius, eps, guide, threshold on folds A-D
    python benchmarks/upsampling_bench.py seed            # the seed split, once, with the chosen parameters
    python benchmarks/upsampling_bench.py speed           # ms added per 960 x 540 frame
    python benchmarks/upsampling_bench.py all --name upsampling

Training is the expensive part, so each fold's model (seed 0) and each seed's model on the seed split (seeds 0,
1, 2) is trained once, in a fresh process, and its held-out probabilities are cached (--cache, outside the
repository: they are derived from the real frames); every filter is then scored on the cached probabilities at
the frames' original size (960 x 540) against the original masks. Also cached: the probabilities of the same
model on frames fed at 384 x 216 and 512 x 288 (the "predict at a larger size" lever) and flip-averaged ones.
The pixel classifier (cae_tutorial.baseline) is fitted on the same 3 frames and gets the same upsampling.
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
import bench  # noqa: E402  (the folds, the record and the pixel classifier's size live there)

DEFAULT_CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "cae-upsampling-cache"
#: The sizes (height, width) the cached models are also fed at: predicting at a larger size than trained.
LARGER_SIZES = ((384, 216), (512, 288))
SEEDS = (0, 1, 2)
THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)
#: The grid of the guided filter: guide, subsample, radius (full-resolution pixels), eps.
GRID = {"gray": (True, False), "subsample": (4, 8), "radius": (4, 6, 8, 12, 16),
        "eps": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)}


def cache_name(folder: Path, fold: str | None, seed: int) -> Path:
    """Where the probabilities of one fold's model (or of one seed's on the seed split) are cached."""
    return folder / (f"fold_{fold}.npz" if fold else f"seed_{seed}.npz")


def train_and_cache(fold: str | None, seed: int, folder: str) -> dict:
    """Train the cpu preset on a fold's (or the seed split's) 3 frames; save its held-out probabilities."""
    import numpy as np

    from cae_tutorial.data import load_record
    from cae_tutorial.evaluation import predict

    model, record, split, seconds = bench.train_cpu_preset(fold, seed)
    heldout = record.subset(split.heldout_ids)
    out = {"ids": np.array(heldout.ids), "seconds": seconds, "model": predict(model, heldout.images),
           "model_flip": predict(model, heldout.images, flip_average=True)}
    for size in LARGER_SIZES:
        big = load_record(bench.REAL_RECORD, "136", size=size).subset(split.heldout_ids)
        out[f"{size[0]}x{size[1]}"] = predict(model, big.images, batch_size=1)
        out[f"{size[0]}x{size[1]}_flip"] = predict(model, big.images, batch_size=1, flip_average=True)
    path = cache_name(Path(folder), fold, seed)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, **out)
    os.replace(partial, path)
    return {"path": str(path), "train_seconds": seconds, "load_average": os.getloadavg()}


def cache(folder: Path, folds, seeds) -> None:
    """Train and cache every fold (seed 0) and seed-split seed that is not cached yet, one process each."""
    folder.mkdir(parents=True, exist_ok=True)
    for fold, seed in [*((f, 0) for f in folds), *((None, s) for s in seeds)]:
        if cache_name(folder, fold, seed).is_file():
            continue
        run = in_subprocess("train_and_cache", fold=fold, seed=seed, folder=str(folder))
        print(f"  cached {run['path']}: {run['train_seconds']:.0f} s of training, load {run['load_average'][0]:.1f}",
              flush=True)


def in_subprocess(kind: str, **kwargs) -> dict:
    """Run one function of this script in a fresh interpreter and return its JSON result."""
    return bench.in_subprocess(kind, module="upsampling_bench", **kwargs)


def originals(ids):
    """The full-resolution frames and masks of the given ids (float RGB in [0, 1], boolean masks)."""
    from cae_tutorial.data import read_image, read_mask

    frames = [read_image(bench.REAL_RECORD / "images" / f"{i}.png") for i in ids]
    masks = [read_mask(bench.REAL_RECORD / "masks" / f"{i}.png")[..., 0] > 0.5 for i in ids]
    return frames, masks


def ious(probability, mask, thresholds=THRESHOLDS):
    """IoU of a full-resolution probability map against a boolean mask at each threshold."""
    out = []
    for threshold in thresholds:
        predicted = probability >= threshold
        union = (predicted | mask).sum()
        out.append(float((predicted & mask).sum() / union) if union else float("nan"))
    return out


def upsampled(probability, frame, config: dict):
    """One frame's probabilities (h, w, 1) at full size: bilinear, or guided with the config's parameters."""
    from cae_tutorial.upsampling import upsample

    if config["method"] == "bilinear":
        return upsample(probability[..., 0], frame.shape[:2], method="bilinear")
    parameters = {k: config[k] for k in ("radius", "eps", "subsample", "gray")}
    return upsample(probability[..., 0], frame.shape[:2], frame, method="guided", **parameters)


def configs():
    """The bilinear resize, then every point of the guided filter's grid."""
    yield {"method": "bilinear"}
    for gray, subsample, radius, eps in itertools.product(*GRID.values()):
        if radius >= subsample:
            yield {"method": "guided", "gray": gray, "subsample": subsample, "radius": radius, "eps": eps}


def label(config: dict) -> str:
    """A short name of a configuration."""
    if config["method"] == "bilinear":
        return "bilinear"
    return (f"guided {'gray' if config['gray'] else 'colour'} r={config['radius']} eps={config['eps']:g} "
            f"s={config['subsample']}")


def pixel_classifier_probabilities(fold: str | None, seed: int):
    """Held-out ids and probabilities (at 256 x 128) of the pixel classifier fitted on the fold's 3 frames."""
    from cae_tutorial.baseline import fit_pixel_classifier, predict_pixel_classifier

    record, split = bench._record(bench.BASELINE_SIZE, fold)
    train_part, heldout = record.subset(split.train_ids), record.subset(split.heldout_ids)
    classifier = fit_pixel_classifier(train_part.images, train_part.masks, seed=seed)
    return list(heldout.ids), predict_pixel_classifier(classifier, heldout.images)


def score_sources(sources: dict, candidates) -> dict:
    """{source: {config label: {fold: [IoU per threshold]}}} for each source's per-fold cached probabilities.

    sources: {name: {fold: (ids, probabilities)}}. The fold's score is the mean IoU over its held-out frames.
    """
    import numpy as np

    all_ids = sorted({i for per_fold in sources.values() for ids, _ in per_fold.values() for i in ids})
    frames, masks = originals(all_ids)
    frames, masks = dict(zip(all_ids, frames)), dict(zip(all_ids, masks))
    scores = {}
    for name, per_fold in sources.items():
        scores[name] = {}
        for config in candidates(name):
            scores[name][label(config)] = row = {"config": config, "folds": {}}
            for fold, (ids, probabilities) in per_fold.items():
                per_frame = [ious(upsampled(p, frames[i], config), masks[i]) for i, p in zip(ids, probabilities)]
                row["folds"][fold] = [float(v) for v in np.mean(per_frame, axis=0)]
            row["mean"] = [float(v) for v in np.mean(list(row["folds"].values()), axis=0)]
    return scores


def load_cached(folder: Path, fold: str | None, seed: int):
    """The cached arrays of one fold (or seed), with a clear error when `cache` has not made them yet."""
    import numpy as np

    path = cache_name(folder, fold, seed)
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `python benchmarks/upsampling_bench.py cache --cache {folder}`")
    return dict(np.load(path))


def cv(folder: Path, folds) -> dict:
    """The CV grid: every guided configuration on the model-size probabilities, the best on the other sources."""
    cached = {fold: load_cached(folder, fold, 0) for fold in folds}
    at = THRESHOLDS.index(0.5)
    cae = {"model": {f: (list(c["ids"]), c["model"]) for f, c in cached.items()}}
    scores = score_sources(cae, lambda name: configs())
    best = best_of(scores["model"])
    print_cv("CAE (cpu preset), model-size probabilities", scores["model"], folds, at)
    # The other levers: flips and larger input sizes, bilinear and with the best guided configuration.
    others = {source: {f: (list(c["ids"]), c[source]) for f, c in cached.items()}
              for source in ["model_flip", *(f"{h}x{w}{flip}" for h, w in LARGER_SIZES for flip in ("", "_flip"))]}
    # Two sizes averaged (at the larger one): the model-size and the 384 x 216 probabilities.
    others["model + 384x216 averaged"] = {f: (list(c["ids"]), averaged(c["model"], c["384x216"]))
                                          for f, c in cached.items()}
    chosen = scores["model"][best]["config"]
    scores.update(score_sources(others, lambda name: [{"method": "bilinear"}, chosen]))
    pixel = {"pixel classifier": {f: pixel_classifier_probabilities(f, 0) for f in folds}}
    scores.update(score_sources(pixel, lambda name: [{"method": "bilinear"}, chosen]))
    print(f"\nother levers, bilinear and with the chosen guided filter ({best}), threshold 0.5:")
    print(f"{'source':<28}{'method':<10}" + "".join(f"{'fold ' + f:>9}" for f in folds) + f"{'mean':>8}")
    for source in ["model", *others, "pixel classifier"]:
        for name in ("bilinear", best):
            row = scores[source][name]
            print(f"{source:<28}{'bilinear' if name == 'bilinear' else 'guided':<10}"
                  + "".join(f"{row['folds'][f][at]:>9.4f}" for f in folds) + f"{row['mean'][at]:>8.4f}")
    return {"scores": scores, "best": best, "chosen": chosen, "thresholds": THRESHOLDS}


def averaged(small, large):
    """The mean of two probability maps (N, h, w, 1) and (N, H, W, 1), at the larger size."""
    import numpy as np

    from cae_tutorial.data import resize_probabilities

    return (resize_probabilities(small, large.shape[1:3]) + large) / 2 if len(small) else np.zeros_like(large)


def best_of(rows: dict, threshold: float = 0.5) -> str:
    """The label of the configuration with the highest CV mean at the threshold."""
    at = THRESHOLDS.index(threshold)
    return max(rows, key=lambda name: rows[name]["mean"][at])


def print_cv(title: str, rows: dict, folds, at: int, top: int = 12) -> None:
    """The bilinear row and the top configurations by CV mean at threshold 0.5, and their best threshold."""
    print(f"\n{title}: held-out IoU at 960 x 540, threshold 0.5 (best threshold of each row beside it)")
    print(f"{'configuration':<44}" + "".join(f"{'fold ' + f:>9}" for f in folds) + f"{'mean':>8}{'best t':>8}"
          f"{'mean@t':>8}")
    ranked = sorted(rows, key=lambda name: -rows[name]["mean"][at])
    for name in ["bilinear", *[n for n in ranked if n != "bilinear"][:top]]:
        row = rows[name]
        t = max(range(len(THRESHOLDS)), key=lambda k: row["mean"][k])
        print(f"{name:<44}" + "".join(f"{row['folds'][f][at]:>9.4f}" for f in folds) + f"{row['mean'][at]:>8.4f}"
              f"{THRESHOLDS[t]:>8.2f}{row['mean'][t]:>8.4f}")


def chosen_config() -> dict:
    """The package's chosen parameters (cae_tutorial.upsampling's defaults) as a configuration."""
    from cae_tutorial import upsampling

    return {"method": "guided", "gray": upsampling.GRAY, "subsample": upsampling.SUBSAMPLE,
            "radius": upsampling.RADIUS, "eps": upsampling.EPS}


def seed_split(folder: Path) -> dict:
    """The seed split, once: median over 3 seeds of the held-out IoU, bilinear and guided, CAE and classifier."""
    from cae_tutorial.losses import per_frame_metrics

    chosen = chosen_config()
    sources = {"CAE (cpu preset)": {}, "pixel classifier": {}}
    for seed in SEEDS:
        cached = load_cached(folder, None, seed)
        sources["CAE (cpu preset)"][seed] = (list(cached["ids"]), cached["model"])
        sources["pixel classifier"][seed] = pixel_classifier_probabilities(None, seed)
    ids = sources["CAE (cpu preset)"][0][0]
    frames, masks = originals(ids)
    result = {"config": chosen, "rows": {}}
    print(f"\nseed split (frames 1, 4, 7 train; {', '.join(ids)} held out), IoU at 960 x 540, threshold 0.5")
    print(f"{'model':<20}{'upsampling':<12}" + "".join(f"{'seed ' + str(s):>9}" for s in SEEDS) + f"{'median':>9}")
    for name, per_seed in sources.items():
        for config in ({"method": "bilinear"}, chosen):
            values = []
            for seed, (seed_ids, probabilities) in per_seed.items():
                assert list(seed_ids) == list(ids)
                full = [upsampled(p, f, config)[..., None] for p, f in zip(probabilities, frames)]
                table = [per_frame_metrics([i], m[None, ..., None].astype("float32"), q[None])
                         for i, m, q in zip(ids, masks, full)]
                values.append(statistics.mean(t[0].iou for t in table))
            row = {"seeds": values, "median": statistics.median(values)}
            result["rows"][f"{name}, {config['method']}"] = row
            print(f"{name:<20}{config['method']:<12}" + "".join(f"{v:>9.4f}" for v in values)
                  + f"{row['median']:>9.4f}")
    return result


def speed(repeats: int = 20) -> dict:
    """Milliseconds per 960 x 540 frame (wall and CPU time) of the plain resize and of guided upsampling."""
    import numpy as np

    from cae_tutorial.data import read_image, resize_probabilities

    frame = read_image(sorted((bench.REAL_RECORD / "images").glob("*.png"))[0]) if bench.REAL_RECORD.is_dir() \
        else np.random.default_rng(0).random((960, 540, 3), dtype=np.float32)
    coarse = resize_probabilities(np.random.default_rng(1).random((64, 36), dtype=np.float32), (256, 144))
    chosen = chosen_config()
    variants = {"bilinear": {"method": "bilinear"}, f"chosen ({label(chosen)})": chosen}
    for gray, subsample in itertools.product((True, False), (1, 2, 4)):
        if (gray, subsample) != (chosen["gray"], chosen["subsample"]):
            variants[label({**chosen, "gray": gray, "subsample": subsample})] = {**chosen, "gray": gray,
                                                                                 "subsample": subsample}
    result = {"frame": list(frame.shape), "load_average_start": os.getloadavg(), "ms": {}}
    for name, config in variants.items():
        upsampled(coarse[..., None], frame, config)  # warm-up
        times, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            upsampled(coarse[..., None], frame, config)
            times.append(1000 * (time.perf_counter() - start))
            cpu.append(1000 * (time.process_time() - start_cpu))
        result["ms"][name] = {"median": statistics.median(times), "min": min(times), "cpu": statistics.median(cpu)}
    result["load_average_end"] = os.getloadavg()
    bilinear = result["ms"]["bilinear"]["median"]
    print(f"\nms per {frame.shape[0]} x {frame.shape[1]} frame (median of {repeats}; load average "
          f"{result['load_average_start'][0]:.1f} -> {result['load_average_end'][0]:.1f})")
    print(f"{'upsampling':<48}{'median':>9}{'min':>9}{'added':>9}{'CPU ms':>9}")
    for name, row in result["ms"].items():
        print(f"{name:<48}{row['median']:>9.1f}{row['min']:>9.1f}{row['median'] - bilinear:>9.1f}{row['cpu']:>9.1f}")
    return result


def training_seconds(folder: Path) -> dict:
    """Seconds each cached model took to train (on this machine, under its load at the time)."""
    import numpy as np

    return {path.stem: float(np.load(path)["seconds"]) for path in sorted(folder.glob("*.npz"))
            if not path.name.endswith(".partial.npz")}


def main(argv=None) -> int:
    """Parse arguments, run the chosen parts, print tables, write JSON."""
    from cae_tutorial.hardware import describe

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["all", "cache", "cv", "seed", "speed"])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="folder of the cached probabilities")
    parser.add_argument("--folds", nargs="+", default=list(bench.CV_FOLDS), choices=list(bench.CV_FOLDS))
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per variant in `speed`")
    parser.add_argument("--name", default="upsampling", help="results/<name>.json")
    args = parser.parse_args(argv)
    if not bench.REAL_RECORD.is_dir() and args.part != "speed":
        raise SystemExit(f"{bench.REAL_RECORD} is absent: the upsampling benchmark scores the real frames")
    machine = {**describe(), "python": sys.version.split()[0], "load_average": os.getloadavg()}
    print(f"machine: {machine['cpu_model']}, {machine['cpus']} CPUs; load average {machine['load_average'][0]:.1f}")
    out = HERE / "results" / f"{args.name}.json"
    report = json.loads(out.read_text()) if out.is_file() else {}
    report["machine"] = machine
    if args.part in ("all", "cache"):
        cache(args.cache, args.folds, SEEDS)
    if args.part in ("all", "cv"):
        report["cross_validation"] = cv(args.cache, args.folds)
    if args.part in ("all", "seed"):
        report["seed_split"] = seed_split(args.cache)
    if args.part in ("all", "speed"):
        report["speed"] = speed(args.repeats)
    report["training_seconds"] = training_seconds(args.cache)
    report["machine"]["load_average_end"] = os.getloadavg()
    out.parent.mkdir(exist_ok=True)
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(report, indent=1))
    os.replace(partial, out)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
