"""Shared fixtures, built once per test process, and the two lanes of the suite (tests/README.md says more).

- `python -m pytest -q` (README's command) runs everything in 2 pytest-xdist worker processes (addopts in
  pyproject.toml; `-n 0` runs in this process, for pdb). Each worker imports TensorFlow once and builds the
  session fixtures below once.
- `python -m pytest -q --fast` is the fast lane: it leaves out the tests marked notebooks, browser, real_data and
  slow (the same as `-m "not notebooks and not browser and not real_data and not slow"`).
- `fast_course` is the one run of the course per test run: every notebook through run_course at --fast sizes,
  its worked solutions appended. A test that reads a notebook's results asks for it instead of running the
  notebook again; such tests are marked `notebooks` and grouped on one xdist worker by the hook below.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

REAL_RECORD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tiktok-record-136"
TINY = (64, 32)
#: --fast leaves these markers out.
SLOW_MARKERS = ("notebooks", "browser", "real_data", "slow")
FAST_LANE = " and ".join(f"not {marker}" for marker in SLOW_MARKERS)
#: Notebook 7's parameters in the shared course run: 4 generated dancers of 3 frames, drawn small.
FULL_DATASET_TINY = {"N_RECORDS": 4, "FRAMES_PER_RECORD": 3, "GENERATED_HEIGHT": 128, "GENERATED_WIDTH": 72,
                     "HOLDOUT": 0.25}


def pytest_addoption(parser):
    parser.addoption("--fast", action="store_true",
                     help=f"the fast lane: only the library tests, as -m '{FAST_LANE}'")


def pytest_configure(config):
    if config.getoption("--fast"):
        given = config.option.markexpr
        config.option.markexpr = f"({given}) and {FAST_LANE}" if given else FAST_LANE


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker and before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    grouping = config.pluginmanager.hasplugin("xdist")
    for item in items:
        if "fast_course" in item.fixturenames:
            item.add_marker(pytest.mark.notebooks)
            # One worker should run the course and every test that reads it. Known gap: pytest-xdist 3.8 applies
            # groups by rewriting item._nodeid, which pytest 9 no longer reads, so there each worker that gets one
            # of these tests runs the course once (measured: twice per run on 2 workers).
            if grouping:
                item.add_marker(pytest.mark.xdist_group("course"))


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


def worked_solutions(notebook) -> list[str]:
    """The code of every worked solution (collapsed <details> blocks) in a notebook's markdown cells."""
    import re

    solution = re.compile(r"<details><summary>Solution[^<]*</summary>\s*```python\n(.*?)```", re.S)
    return [code for cell in notebook.cells if cell.cell_type == "markdown" for code in solution.findall(cell.source)]


@pytest.fixture(scope="session")
def fast_course(tmp_path_factory):
    """The whole course run once, headless, through run_course (what `cae-tutorial course --fast` runs) at --fast
    parameters (notebook 7 at FULL_DATASET_TINY), each notebook with its worked solutions appended as code cells
    after its own: (output folder, failures, printed lines). Results: out/outputs/NAME.json."""
    import nbformat

    from cae_tutorial import course

    books = tmp_path_factory.mktemp("course-books")
    for path in course.course_notebooks():
        notebook = nbformat.read(path, as_version=4)
        notebook.cells += [nbformat.v4.new_code_cell(code) for code in worked_solutions(notebook)]
        nbformat.write(notebook, books / path.name)
    out = tmp_path_factory.mktemp("course")
    lines = []

    class Stream:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    with pytest.MonkeyPatch.context() as patch:  # run_course finds the notebooks in notebooks_dir()
        patch.setattr(course, "notebooks_dir", lambda: books)
        failures = course.run_course(out, {**course.course_parameters(fast=True), **FULL_DATASET_TINY},
                                     stream=Stream())
    return out, failures, "".join(lines)
