"""`cae-tutorial course --jobs N`: notebooks side by side in worker processes, each after the notebooks it reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from cae_tutorial import course
from cae_tutorial.course import NEEDS, default_jobs, run_course, usable_cpus


def test_default_jobs_follow_the_cpus_given():
    assert [default_jobs(cpus) for cpus in (1, 2, 3, 16, 128)] == [1, 2, 2, 2, 2]
    assert default_jobs() == default_jobs(usable_cpus()) and usable_cpus() >= 1


def test_the_notebooks_that_read_a_saved_run_wait_for_it():
    names = [p.stem for p in sorted(course.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))]
    numbers = {name[:2] for name in names}
    assert all(n in numbers and all(m in numbers and m < n for m in needed) for n, needed in NEEDS.items())
    # What they read: notebook 5 notebook 4's plain run, notebooks 6 and 7 notebook 5's final run.
    sources = {name[:2]: (course.notebooks_dir() / f"{name}.py").read_text() for name in names}
    assert 'PLAIN_RUN_DIR = "outputs/plain_run"' in sources["05"] and 'RUN_DIR = "outputs/plain_run"' in sources["04"]
    assert all('RUN_DIR = "outputs/run"' in sources[n] for n in ("05", "06", "07"))


def _fake_notebook(folder: Path, name: str, seconds: float, fails: bool = False) -> None:
    """A course notebook whose one cell sleeps, records when it started and ended (and its kernel's parent), and
    then, if it fails, raises."""
    parameters = nbformat.v4.new_code_cell('OUTPUT_DIR = "outputs"', metadata={"tags": ["parameters"]})
    cell = nbformat.v4.new_code_cell(
        f"import json, os, time\nfrom pathlib import Path\nstart = time.time()\ntime.sleep({seconds})\n"
        f"Path(OUTPUT_DIR).mkdir(exist_ok=True)\nPath(OUTPUT_DIR, '{name}.json').write_text(json.dumps("
        "{'start': start, 'end': time.time(), 'pid': os.getppid()}))"
        + ("\nraise ValueError('no such frame')" if fails else ""))
    nbformat.write(nbformat.v4.new_notebook(cells=[parameters, cell]), str(folder / f"{name}.ipynb"))


@pytest.mark.slow  # 3 kernels, each importing TensorFlow
def test_two_jobs_run_side_by_side_after_what_they_read_and_report_a_failure(tmp_path, monkeypatch, capsys):
    books = tmp_path / "books"
    books.mkdir()
    _fake_notebook(books, "01_fails", 4, fails=True)
    _fake_notebook(books, "04_plain", 4)
    _fake_notebook(books, "05_recipe", 0)
    monkeypatch.setattr(course, "notebooks_dir", lambda: books)
    failures = run_course(tmp_path / "out", jobs=2)
    printed = capsys.readouterr().out
    assert failures == ["01_fails: FAILED at cell [2]: ValueError: no such frame"]  # named, and the others ran
    times = {name: json.loads((tmp_path / "out" / "outputs" / f"{name}.json").read_text())
             for name in ("01_fails", "04_plain", "05_recipe")}
    assert times["05_recipe"]["start"] >= times["04_plain"]["end"], "notebook 5 reads notebook 4's run"
    first, plain = times["01_fails"], times["04_plain"]
    assert first["start"] < plain["end"] and plain["start"] < first["end"], "two notebooks ran at once"
    assert len({t["pid"] for t in times.values()} - {os.getpid()}) >= 2, "in worker processes, not this one"
    table = printed[printed.index("\nnotebook"):]
    assert [line.split()[0] for line in table.strip().splitlines()[1:5]] == [
        "01_fails", "04_plain", "05_recipe", "all"]  # the table in course order, whatever order they ended in
    assert "2 notebooks at a time" in table and "error: 01_fails: FAILED at cell [2]" in printed


def _die(book):
    """Stands in for a notebook run whose worker process is killed (out of memory, say)."""
    if book.stem.startswith("02"):
        os._exit(9)
    return {"heldout_iou": 0.5}, "ok", 0.1


def test_a_worker_that_dies_fails_its_notebook_and_the_others_still_run(tmp_path):
    books = [tmp_path / f"{name}.ipynb" for name in ("01_a", "02_dies", "03_c", "04_d")]
    outcomes = {}
    course._run_in_parallel(books, _die, 2, lambda book, outcome: outcomes.setdefault(book.stem, outcome))
    assert set(outcomes) == {"01_a", "02_dies", "03_c", "04_d"}
    assert outcomes["02_dies"][1].startswith("FAILED: its worker process died")
    assert outcomes["04_d"][1] == "ok"  # started after the death, in a new pool
