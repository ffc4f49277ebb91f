"""Seconds per training step: one cpu-preset CAE against 2 and 3 of them side by side in one Keras model.

Several seeds in one graph would pay if a step were overhead-bound (a fixed cost per step): then 3 models would
cost little more than 1. Prints a table and the machine; `python benchmarks/stacked_seeds_bench.py [DTYPE]`.
"""

import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from cae_tutorial.losses import dice_focal_loss  # noqa: E402
from cae_tutorial.presets import get_preset  # noqa: E402
from cae_tutorial.training import build_model  # noqa: E402

STEPS = 30


def seconds_per_step(model, xs, ys) -> float:
    """The mean over STEPS train_on_batch calls, after one warm-up step (the trace)."""
    model.optimizer.build(model.trainable_variables)
    model.train_on_batch(xs, ys)
    start = time.perf_counter()
    for _ in range(STEPS):
        model.train_on_batch(xs, ys)
    return (time.perf_counter() - start) / STEPS


def main() -> None:
    """One, two and three CAEs at 128 x 72, batch 8."""
    dtype = sys.argv[1] if len(sys.argv) > 1 else "auto"
    preset = get_preset("cpu", height=128, width=72, epochs=100, batch_size=8, dtype=dtype)
    rng = np.random.default_rng(0)
    x = rng.random((8, 128, 72, 3), dtype=np.float32)
    y = (rng.random((8, 128, 72, 1)) > 0.8).astype(np.float32)
    one = build_model(preset, seed=0)
    one.compile(optimizer=keras.optimizers.Adam(1e-3), loss=dice_focal_loss())
    base = seconds_per_step(one, x, y)
    rows = [(1, base)]
    for count in (2, 3):
        models = [build_model(preset, seed=seed) for seed in range(count)]
        for index, model in enumerate(models):
            model.name = f"cae_{index}"  # one graph needs unique names
        inputs = [keras.Input((None, None, 3)) for _ in models]
        stacked = keras.Model(inputs, [model(i) for model, i in zip(models, inputs)])
        stacked.compile(optimizer=keras.optimizers.Adam(1e-3), loss=[dice_focal_loss() for _ in models])
        rows.append((count, seconds_per_step(stacked, [x] * count, [y] * count)))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}, dtype {preset.resolved_dtype}")
    print("| models in one graph | ms per step | x one model |\n|---|---|---|")
    for count, seconds in rows:
        print(f"| {count} | {seconds * 1000:.1f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
