"""Shared fixtures: a tiny copy of the embedded record and one tiny training run, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

REAL_RECORD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tiktok-record-136"
TINY = (64, 32)


def real_record_or_skip() -> Path:
    """The real frames of record 136, or skip the test with the reason."""
    if not (REAL_RECORD / "images").is_dir():
        pytest.skip(f"real record 136 not found at {REAL_RECORD} (it lives in ../shared, beside the project)")
    return REAL_RECORD


def write_record(root, ids=("7_00001", "7_00002"), size=(16, 8), mask_mode="L", empty=()):
    """A small Kaggle-layout record of random frames whose masks hold a block of person (none in `empty`)."""
    import numpy as np
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for frame_id in ids:
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / "images" / f"{frame_id}.png")
        mask = np.zeros(size, np.uint8)
        if frame_id not in empty:
            mask[4:12, 2:6] = 255
        Image.fromarray(mask).convert(mask_mode).save(root / "masks" / f"{frame_id}.png")
    return root


@pytest.fixture(scope="session")
def tiny_record():
    """The embedded record at 64 x 32."""
    from cae_tutorial.data import load_record

    return load_record(size=TINY)


@pytest.fixture(scope="session")
def tiny_preset():
    """The seed recipe at 64 x 32 for 3 epochs."""
    from cae_tutorial.presets import get_preset

    return get_preset("seed", height=TINY[0], width=TINY[1], epochs=3)


@pytest.fixture(scope="session")
def tiny_result(tiny_record, tiny_preset):
    """One 3-epoch training run on the tiny record, shared by the tests that only read it."""
    from cae_tutorial.data import seed_split
    from cae_tutorial.training import build_model, train

    return train(build_model(tiny_preset, seed=0), tiny_record, seed_split(tiny_record), tiny_preset,
                 seed=0, progress=False)
