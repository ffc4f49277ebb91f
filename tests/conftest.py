"""Shared fixtures, built once per test process, and the two lanes of the suite (tests/README.md says more).

- `python -m pytest -q` (README's command) runs everything in 2 pytest-xdist worker processes (addopts in
  pyproject.toml; `-n 0` runs in this process, for pdb). Each worker imports TensorFlow once and builds the
  session fixtures below once.
- `python -m pytest -q --fast` is the fast lane: it leaves out the tests marked notebooks, browser, real_data and
  slow (the same as `-m "not notebooks and not browser and not real_data and not slow"`).
- `fast_course` is the one run of the course per test run: every notebook through run_course at --fast sizes,
  its worked solutions appended. A test that reads a notebook's results asks for it instead of running the
  notebook again; such tests are marked `notebooks` and sent to one xdist worker, first, by the scheduler below.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
# Two workers on two cores: one OpenMP thread each, also in the kernels and subprocesses the tests start (they
# inherit it). With more, OpenMP's threads wait for each other on a busy machine: scikit-learn's gradient boosting
# (the pixel classifier: notebook 6, baseline tests) fitted 3 frames at 64 x 32 in 114 s instead of 2.6 s (load 13).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

REAL_RECORD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tiktok-record-136"
TINY = (64, 32)
#: --fast leaves these markers out.
SLOW_MARKERS = ("notebooks", "browser", "real_data", "slow")
FAST_LANE = " and ".join(f"not {marker}" for marker in SLOW_MARKERS)
#: Notebook 8's parameters in the shared course run: 4 generated dancers of 3 frames, drawn small.
COURSE_TINY = {"N_RECORDS": 4, "FRAMES_PER_RECORD": 3, "GENERATED_HEIGHT": 128, "GENERATED_WIDTH": 72,
               "HOLDOUT": 0.25}
#: Notebook 5's in the shared course run: its ladder of tricks over 2 seeds (the fewest that show a spread).
CPU_RECIPE_TINY = {"TRICK_SEEDS": 2}


def pytest_addoption(parser):
    parser.addoption("--fast", action="store_true",
                     help=f"the fast lane: only the library tests, as -m '{FAST_LANE}'")


def pytest_configure(config):
    if config.getoption("--fast"):
        given = config.option.markexpr
        config.option.markexpr = f"({given}) and {FAST_LANE}" if given else FAST_LANE


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "fast_course" in item.fixturenames:
            item.add_marker(pytest.mark.notebooks)


#: fast_course's one parameter: every test that reads the course run has "[fast_course]" in its node id (alone or
#: among its other parameters), which is all the xdist scheduler below sees of a test.
COURSE_ID = "fast_course"
COURSE_NODE = re.compile(rf"\[(?:[^\]]*-)?{COURSE_ID}(?:-[^\]]*)?\]$")
#: Files whose tests share an expensive module- or session-scoped fixture (progressive_runs' three trainings, the
#: built site, the scrub server): each file is one work unit, so the fixture is built on one worker, not on both.
SHARED_FIXTURE_FILES = ("tests/test_pieces.py", "tests/test_site.py", "tests/test_browser.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadgroup, with every test that reads the course run in one work unit, handed out first.

    xdist_group marks do not reach the scheduler under pytest 9 (pytest-xdist 3.8 renames item._nodeid, which
    pytest 9 no longer reads), so the scheduler groups by the "[fast_course]" node ids instead: one worker runs the
    course (about half of the suite's time) while the other runs everything else, and no worker waits for it.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class CourseFirst(LoadGroupScheduling):
        """Tests with COURSE_ID in their id are one work unit, each of SHARED_FIXTURE_FILES another; the largest
        unit goes first (--loadscope-reorder)."""

        def _split_scope(self, nodeid):  # xdist's documented way to define work units (as loadgroup, loadfile)
            if COURSE_NODE.search(nodeid):
                return COURSE_ID
            if nodeid.startswith(SHARED_FIXTURE_FILES):
                return nodeid.split("::", 1)[0]
            return super()._split_scope(nodeid)

    return CourseFirst(config, log)


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


def _run_fast_course(folder: Path) -> tuple[list[str], str]:
    """Run the course into folder at --fast parameters, solutions appended: (failures, printed)."""
    import nbformat

    from cae_tutorial import course

    books = folder / "books"
    books.mkdir(parents=True)
    for path in course.course_notebooks():
        notebook = nbformat.read(path, as_version=4)
        notebook.cells += [nbformat.v4.new_code_cell(code) for code in worked_solutions(notebook)]
        nbformat.write(notebook, books / path.name)
    lines = []

    class Stream:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    with pytest.MonkeyPatch.context() as patch:  # run_course finds the notebooks in notebooks_dir()
        patch.setattr(course, "notebooks_dir", lambda: books)
        failures = course.run_course(folder / "out", {**course.course_parameters(fast=True), **COURSE_TINY,
                                                      **CPU_RECIPE_TINY},
                                     stream=Stream())  # one at a time: the other xdist worker has the other core
    return failures, "".join(lines)


def _once_per_test_run(folder: Path, build) -> tuple[list[str], str]:
    """build(folder) in the first worker that asks, its (failures, printed) read from folder by the others.

    The pattern pytest-xdist documents for session fixtures: the workers' base temporary folders share a parent,
    one per test run. Claiming is an atomic mkdir (no lock package needed); a waiting worker polls for the result
    and stops waiting, saying why, when the worker that builds it has died."""
    from cae_tutorial.folders import _pid_alive, write_json  # one liveness check: the stale-partials one

    claim, done, failed = folder / "claimed-by", folder / "result.json", folder / "error.txt"
    try:
        claim.mkdir(parents=True)
    except FileExistsError:
        while not done.is_file():
            if failed.is_file():
                pytest.fail(f"{folder.name}, built in another worker, failed: {failed.read_text()}")
            owner = next(iter(claim.iterdir()), None)
            if owner is not None and not _pid_alive(int(owner.name)):
                pytest.fail(f"the worker building {folder.name} (pid {owner.name}) died before it finished")
            time.sleep(0.5)
        result = json.loads(done.read_text())
        return result["failures"], result["printed"]
    (claim / str(os.getpid())).touch()
    try:
        failures, printed = build(folder)
    except BaseException as error:
        failed.write_text(f"{type(error).__name__}: {error}")
        raise
    write_json(done, {"failures": failures, "printed": printed})
    return failures, printed


def _built_once(tmp_path_factory, worker_id, name: str, build) -> tuple[Path, tuple[list[str], str]]:
    """(folder, build(folder)): built here with -n 0, else once per test run by _once_per_test_run."""
    if worker_id == "master":
        folder = tmp_path_factory.mktemp(name)
        return folder, build(folder)
    folder = tmp_path_factory.getbasetemp().parent / name
    return folder, _once_per_test_run(folder, build)


@pytest.fixture(scope="session", params=[COURSE_ID])  # the parameter only marks its readers' ids (see COURSE_ID)
def fast_course(tmp_path_factory, worker_id):
    """The whole course run once per test run, headless, through run_course (what `cae-tutorial course --fast`
    runs) at --fast parameters (notebook 8 at COURSE_TINY, 5 at CPU_RECIPE_TINY), each notebook with its worked solutions appended
    as code cells after its own: (output folder, failures, printed lines). Results: out/outputs/NAME.json.

    With pytest-xdist the first worker that asks runs it and the others read its results (the scheduler sends
    all the course's readers to one worker anyway); with -n 0 it runs here."""
    folder, (failures, printed) = _built_once(tmp_path_factory, worker_id, "fast-course", _run_fast_course)
    return folder / "out", failures, printed


#: The CLI run that tiny_cli_run holds: `cae-tutorial train` with these options, then `--output FOLDER`.
TINY_CLI_RUN = ["train", "--epochs", "3", "--height", "64", "--width", "32", "--validate-every", "2"]


def _train_tiny_cli_run(folder: Path) -> tuple[list[str], str]:
    """`cae-tutorial train TINY_CLI_RUN --output folder/run` in this process: ([], what it printed)."""
    import contextlib
    import io

    from cae_tutorial.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main([*TINY_CLI_RUN, "--output", str(folder / "run")])
    if code != 0:
        raise RuntimeError(f"{' '.join(TINY_CLI_RUN)} exited {code}: {printed.getvalue()[-2000:]}")
    return [], printed.getvalue()


@pytest.fixture(scope="session")
def tiny_cli_run(tmp_path_factory, worker_id):
    """One `cae-tutorial train` of TINY_CLI_RUN per test run, saved: (run folder, what it printed). Read it, never
    write into it: the CLI test predicts from it and the full-disk test compares a resumed run with it.

    With pytest-xdist the first worker that asks trains it and the other reads it (as fast_course)."""
    folder, (_, printed) = _built_once(tmp_path_factory, worker_id, "tiny-cli-run", _train_tiny_cli_run)
    return folder / "run", printed
