"""The course notebooks: paired files in sync, one parameters cell, and headless runs checked by their results."""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import json
import os
import pkgutil
import re
import shutil
import statistics
import subprocess
import sys

import jupytext
import nbformat
import pytest

import cae_tutorial
from cae_tutorial.course import (FAST, FINGERPRINT_KEY, course_notebooks, course_parameters, declared_parameters,
                                 notebooks_dir, run_course, run_notebook, source_fingerprint)

from conftest import real_record_or_skip

pytestmark = pytest.mark.notebooks
NOTEBOOKS = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]
REPO = notebooks_dir().parent


def test_eight_numbered_notebooks():
    assert NAMES == ["01_segmentation_masks", "02_autoencoders", "03_building_the_cae", "04_training",
                     "05_the_cpu_recipe", "06_predictions_vs_reality", "07_going_further", "08_full_dataset"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_pair_has_not_drifted(path):
    ipynb, script = jupytext.read(path), jupytext.read(path.with_suffix(".py"))
    assert [(c.cell_type, c.source) for c in ipynb.cells] == [(c.cell_type, c.source) for c in script.cells], \
        f"{path.name} and its .py differ: run `jupytext --sync {path}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_structure(path):
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ") and "What you will learn" in \
        cells[0].source
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged parameters"
    names = [t.id for node in ast.parse(tagged[0].source).body for t in getattr(node, "targets", [])]
    assert names and all(name.isupper() for name in names)
    exercises = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source]
    assert len(exercises) == 1 and "## Summary" in cells[exercises[0]].source
    after = cells[exercises[0] + 1:]  # then only the worked solutions, each under its heading
    assert [c.cell_type for c in after] == ["markdown", "code"] * (len(after) // 2)
    assert [c.source for c in after[::2]] == [f"#### Solution {k}" for k in range(1, len(after) // 2 + 1)]
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "sys.path" not in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_outputs_are_fit_to_publish(path):
    assert path.stat().st_size < 3_000_000
    text = path.read_text()
    assert not re.search(r"/work/|/home/|/root/|/tmp/|shared/data", text), "no local paths in outputs"
    notebook = nbformat.reads(text, as_version=4)
    assert "widgets" not in notebook.metadata
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "committed notebooks keep a full run: every cell executed"
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2, "and its outputs"
    assert not any(o.get("name") == "stderr" for c in code for o in c.outputs), "no warnings or logs committed"


def _library_definitions() -> dict[str, list[str]]:
    """Every function and class the package defines, by name: the sources of each module that defines it."""
    sources: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(cae_tutorial.__path__):
        module = importlib.import_module(f"cae_tutorial.{info.name}")
        for name, obj in vars(module).items():
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
                with contextlib.suppress(OSError, TypeError):  # a class made inside a function has no source
                    sources.setdefault(name, []).append(inspect.getsource(obj).strip())
    return sources


def test_taught_code_is_the_library_code():
    """A function or class a notebook defines under a library name has the library's exact source (any module),
    and a constant a notebook retypes "as in cae_tutorial.MODULE" has that module's value."""
    library = _library_definitions()
    checked = 0
    for path in NOTEBOOKS:
        source = path.with_suffix(".py").read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in library:
                assert ast.get_source_segment(source, node).strip() in library[node.name], \
                    f"{path.name}: {node.name} differs from the library's"
                checked += 1
        for line in source.splitlines():
            constant = re.match(r"([A-Z_]+) = (.+?)\s+# as in cae_tutorial\.(\w+)", line)
            if constant:
                name, value, module = constant.groups()
                library_value = getattr(importlib.import_module(f"cae_tutorial.{module}"), name)
                assert ast.literal_eval(value) == library_value, f"{path.name}: {name} differs from {module}'s"
                checked += 1
    assert checked >= 12  # notebooks 3, 5 and 6 retype 11 functions and a constant today


def results_of(out, name):
    return json.loads((out / "outputs" / f"{name}.json").read_text())


def test_course_runs_and_reports_a_table(fast_course):
    out, failures, printed = fast_course
    assert failures == []
    for name in NAMES:
        assert f"{name}: ok" in printed
        assert (out / f"{name}.ipynb").is_file()
    assert "held-out IoU" in printed and "seconds" in printed


def test_notebook_results(fast_course):
    out = fast_course[0]
    r1 = results_of(out, "01_segmentation_masks")
    assert (r1["frames"], r1["train_frames"], r1["heldout_frames"]) == (10, 3, 7)
    assert 0.05 < r1["foreground_share"] < 0.25 and r1["all_background_accuracy"] > 0.75
    r2 = results_of(out, "02_autoencoders")
    assert r2["compression"] > 10 and 0 < r2["heldout_mse"] < 1
    r3 = results_of(out, "03_building_the_cae")
    assert r3["parameters_seed_size"] == 1_939_233 and r3["latent_shape_seed_size"] == [128, 64, 256]
    r4 = results_of(out, "04_training")
    every = 4  # notebooks 4 and 5's SNAPSHOT_EVERY: epoch 0, every 4th epoch and the last
    snapshots = len({0, FAST["EPOCHS"], *range(every, FAST["EPOCHS"] + 1, every)})
    assert r4["epochs"] == FAST["EPOCHS"] and r4["size"] == [FAST["IMAGE_HEIGHT"], FAST["IMAGE_WIDTH"]]
    assert r4["snapshots"] == snapshots
    assert 0 <= r4["heldout_iou"] <= 1 and 0 <= r4["train_frames_iou"] <= 1
    assert 1 <= r4["best_heldout_loss_epoch"] <= FAST["EPOCHS"]
    assert (out / "outputs" / "plain_run" / "model.keras").is_file()  # notebook 4's plain run
    r5 = results_of(out, "05_the_cpu_recipe")
    assert r5["epochs"] == FAST["EPOCHS"] and r5["snapshots"] == snapshots
    assert (out / "outputs" / "run" / "model.keras").is_file()  # the cpu preset's run, read by notebooks 6 and 7
    ladder = r5["ladder"]
    tricks = ["augmentation", "cosine schedule", "coordinate channels", "progressive resizing", "boundary weight",
              "bfloat16"]
    assert list(ladder["gains"]) == tricks and list(ladder["iou"]) == ["plain", *tricks]
    assert ladder["seeds"] == [0, 1] and all(len(values) == 2 for values in ladder["iou"].values())
    assert ladder["resolution"].startswith("original")  # the embedded record has its mask files: full resolution
    for trick, gain in ladder["gains"].items():  # each verdict read from the spread of its paired differences
        assert gain["low"] <= gain["mean"] <= gain["high"]
        expected = "gain" if gain["low"] > 0 else "loss" if gain["high"] < 0 else "a draw"
        assert gain["outcome"] == expected, trick
    # Costs in steady seconds (each size's median epoch times its epochs) leave out the first epoch's tracing, so
    # they stay near or below model.fit's own (a margin: a median times the epochs can exceed their sum a little).
    for name, steady in ladder["seconds"].items():
        assert all(0 < s <= 1.25 * f for s, f in zip(steady, ladder["fit_seconds"][name])), name
    # Each trick's noise bar: the wider spread between the seeds of the two rungs it joins.
    spread = {name: max(v) - min(v) for name, v in ladder["seconds"].items()}
    assert ladder["rung_noise"] == pytest.approx(spread)
    rungs = list(ladder["seconds"])
    assert ladder["time_noise"] == pytest.approx({above: max(spread[below], spread[above])
                                                  for below, above in zip(rungs, rungs[1:])})
    # Progressive resizing against full size only, at equal steady seconds, paired by seed. (In these 3-epoch runs
    # the tracing of both sizes dominates, so full size gets more epochs, not fewer: the same rule either way.)
    equal = ladder["equal_cost"]
    share = statistics.median(ladder["seconds"]["progressive resizing"]) / statistics.median(ladder["seconds"]["coordinate channels"])
    assert equal["work_share"] == pytest.approx(share) and equal["epochs"] == max(1, round(ladder["epochs"] * share))
    assert len(equal["iou"]) == len(equal["seconds"]) == len(equal["differences"]) == 2
    assert equal["realised_share"] == pytest.approx(  # the seconds the equal-cost runs then took, reported beside
        statistics.median(equal["seconds"]) / statistics.median(ladder["seconds"]["progressive resizing"]))
    assert equal["differences"] == pytest.approx(
        [a - b for a, b in zip(ladder["iou"]["progressive resizing"], equal["iou"])])
    assert r3["wide_share"] == pytest.approx(3 * 590_080 / 1_939_233) and len(r3["wide_convolutions"]) == 3
    assert r2["latent_vs_input"]["seed CAE"] == pytest.approx(256 / 64 / 3)
    r6 = results_of(out, "06_predictions_vs_reality")
    assert len(r6["per_frame"]) == 7 + 1
    # Notebook 6 reloads notebook 5's model: same held-out IoU as Keras' metric within rounding of thresholds.
    assert r6["heldout_iou"] == pytest.approx(r6["per_frame"]["mean"]["iou"])
    # Both are the per-frame mean at the model's size of the same model on the same frames (the course's table).
    assert r5["heldout_iou"] == pytest.approx(r6["heldout_iou"], abs=1e-3)
    assert 0 <= r4["heldout_pooled_iou"] <= 1 and 0 <= r5["heldout_pooled_iou"] <= 1
    r7 = results_of(out, "07_going_further")
    assert set(r7["scores"]) == {"CAE + skips", "pixel classifier"}
    assert r7["pixel_classifier_heldout_iou"] > 0.5
    # The rankings are paired over seeds: one score per seed for each method, and verdicts computed from them.
    assert set(r7["seed_scores"]) == {"plain CAE", "CAE + skips", "pixel classifier"}
    assert all(len(scores) == len(r7["seeds"]) == FAST["SEEDS"] for scores in r7["seed_scores"].values())
    from cae_tutorial.verdicts import compare
    assert r7["verdicts"]["skips vs plain"] == str(compare(r7["seed_scores"]["CAE + skips"],
                                                           r7["seed_scores"]["plain CAE"], "CAE + skips", "plain CAE"))
    assert r7["provenance"]["CAE + skips"].startswith("reused"), "notebook 7 reuses notebook 5's saved run"
    r8 = results_of(out, "08_full_dataset")
    assert r8["heldout_iou"] == r8["unseen_heldout_iou"] == r8["unseen_heldout_iou_by_seed"][0]
    assert len(r8["seeds"]) == len(r8["unseen_heldout_iou_by_seed"]) == FAST["SEEDS"]
    differences = [s - u for s, u in zip(r8["seen_heldout_iou_by_seed"], r8["unseen_heldout_iou_by_seed"])]
    assert r8["gap_differences"] == pytest.approx(differences)  # paired: the same run's two scores
    assert r8["gap_verdict"] == ("draw" if min(differences) <= 0 <= max(differences) else
                                 "held-out frames of seen dancers" if min(differences) > 0 else "unseen dancers")
    assert r8["epochs"] == FAST["EPOCHS"] and r8["train_seconds"] > 0


LOG_NOISE = re.compile(r"absl::InitializeLog|oneDNN|cpu_feature_guard|^[EWI]0000 |TF_ENABLE_ONEDNN_OPTS|"
                       r"WARNING:tensorflow", re.M)


def test_no_tensorflow_log_lines(fast_course):
    out, _, printed = fast_course
    assert not LOG_NOISE.search(printed), "the course runner's own output is quiet"
    for name in NAMES:
        notebook = nbformat.read(out / f"{name}.ipynb", as_version=4)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                text = output.get("text", "") if output.get("output_type") == "stream" else ""
                assert not LOG_NOISE.search(text), f"{name}: TensorFlow log line in an output: {text[:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_figures_are_readable(path):
    source = path.with_suffix(".py").read_text()
    assert "figure.dpi" not in source, "leave matplotlib's dpi alone: small dpi makes labels unreadable"


def solution_cells(notebook) -> list:
    """The worked solutions: code cells tagged `solution`."""
    return [c for c in notebook.cells if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_every_exercise_has_a_worked_solution(path):
    notebook = nbformat.read(path, as_version=4)
    text = next(c.source for c in notebook.cells if c.cell_type == "markdown" and "## Exercises" in c.source)
    exercises = re.findall(r"^\d\. ", text.split("## Exercises")[1], re.M)
    solutions = solution_cells(notebook)
    assert len(solutions) == len(exercises) >= 3
    for cell in solutions:  # collapsed in JupyterLab (code and answer) and on the website
        assert cell.metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
        assert "hide-input" in cell.metadata["tags"]
    assert not re.search(r"<details><summary>Solution", text), "solutions are code cells, not markdown"


def _output_text(output) -> str:
    """What an output shows as text: a stream's text, or a display's markdown or plain text."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return data.get("text/markdown", data.get("text/plain", ""))


def test_worked_solutions_run(fast_course):
    """Every worked solution runs with its notebook (at --fast size, in the shared course run), without an error,
    ends in its answer in words, and its self-check, where it has one, says right."""
    out, failures, _ = fast_course
    assert failures == []
    for path in NOTEBOOKS:
        executed = solution_cells(nbformat.read(out / path.name, as_version=4))
        assert len(executed) >= 3 and all(c.execution_count for c in executed), f"{path.name}: solutions did not run"
        for k, cell in enumerate(executed, start=1):
            where = f"{path.name}, solution {k}"
            assert not [o for o in cell.outputs if o.get("output_type") == "error"], where
            assert any("text/markdown" in o.get("data", {}) for o in cell.outputs[-1:]), f"{where}: ends in words"
            shown = "".join(_output_text(o) for o in cell.outputs)
            if "exercises.ex" in cell.source:
                assert "right" in shown and "not yet" not in shown, f"{where}: its self-check: {shown[-300:]}"


@pytest.mark.published_outputs
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_outputs_come_from_the_current_sources(path):
    """Publish records a hash of cae_tutorial/*.py and the notebook's cells; stale outputs fail here."""
    notebook = nbformat.read(path, as_version=4)
    recorded = notebook.metadata.get(FINGERPRINT_KEY, {}).get("source_sha256")
    assert recorded == source_fingerprint(notebook), (
        f"{path.name}: its outputs were not produced by the current library and notebook sources; "
        "regenerate them with `cae-tutorial course --publish` and commit the notebooks")


def test_course_failure_names_notebook_and_cell_after_the_others(tmp_path, capsys):
    params = course_parameters(fast=True, data_dir=tmp_path / "no-such-record")
    failures = run_course(tmp_path / "out", params, only=["01", "03"])
    printed = capsys.readouterr().out
    assert len(failures) == 1 and failures[0].startswith("01_segmentation_masks: FAILED at cell")
    assert "no-such-record" in failures[0]  # the error names the missing folder
    assert "03_building_the_cae: ok" in printed  # the others still ran and reported


def test_course_cli_exit_status(tmp_path):
    from cae_tutorial.cli import main

    code = main(["course", "--fast", "--notebooks", "03", "--output", str(tmp_path / "o")])
    assert code == 0
    # A missing data folder is an option error, reported before any notebook runs.
    assert main(["course", "--fast", "--notebooks", "01", "--data", str(tmp_path / "none"),
                 "--output", str(tmp_path / "o")]) == 2


def test_course_parameters():
    assert course_parameters(size="small", epochs=5) == {"IMAGE_HEIGHT": 128, "IMAGE_WIDTH": 64, "EPOCHS": 5}
    with pytest.raises(KeyError, match="size preset"):
        course_parameters(size="huge")
    with pytest.raises(TypeError, match="epochs"):
        course_parameters(epochs=-1)
    assert [p.stem for p in course_notebooks(["4", "05"])] == ["04_training", "05_the_cpu_recipe"]
    assert course_parameters(data="record-136")["DATA"] == "record-136"
    assert course_parameters(data_dir=".")["DATA"] == str(REPO.cwd().resolve())
    assert course_parameters(data_dir=".")["DATA"] == course_parameters(data=".")["DATA"]  # --data-dir is an alias
    declared = set().union(*(declared_parameters(path) for path in NOTEBOOKS))
    assert set(FAST) <= declared, "every --fast parameter is one a notebook declares"


def test_nbval_deterministic_cells(tmp_path):
    """`pytest --nbval-lax` over the quick notebooks: cells tagged nbval-check-output must reproduce their output.

    A copy of notebook 1 whose tagged output was changed runs beside them and must fail, on that cell only: the
    tags are what nbval reads."""
    import nbformat

    quick = [p for p in NOTEBOOKS if p.stem in ("01_segmentation_masks", "03_building_the_cae")]
    for path in quick:
        shutil.copy(path, tmp_path / path.name)
    altered = nbformat.read(quick[0], as_version=4)
    tagged = [i for i, c in enumerate(altered.cells) if "nbval-check-output" in c.metadata.get("tags", [])]
    assert len(tagged) >= 2, "notebook 1 checks its record and split outputs"
    code_cells = [i for i, c in enumerate(altered.cells) if c.cell_type == "code"]
    stream = next(o for o in altered.cells[tagged[-1]].outputs if o.output_type == "stream")
    stream.text = stream.text.replace("train:", "trained:")
    nbformat.write(altered, tmp_path / "altered_01.ipynb")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "-rf",
                          *[p.name for p in quick], "altered_01.ipynb"], cwd=tmp_path, capture_output=True, text=True,
                         env=env)
    failed = re.findall(r"^FAILED (\S+ \d+)", run.stdout, re.M)
    assert failed == [f"altered_01.ipynb::Cell {code_cells.index(tagged[-1])}"], run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\b\d+ passed", run.stdout), run.stdout[-3000:]


@pytest.mark.real_data
def test_training_notebooks_on_the_real_record(tmp_path):
    real = real_record_or_skip()
    before = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    params = course_parameters(data=real, record="136", height=128, width=64, epochs=40)
    # Notebook 5's ladder kept short here: 2 seeds of 4 epochs at 32 x 16 (its code path on the real frames, scored
    # at their own size); its final run, at 128 x 64, is the one checked.
    ladder = {"TRICK_SEEDS": 2, "TRICK_EPOCHS": 4, "TRICK_HEIGHT": 32, "TRICK_WIDTH": 16}
    failures = run_course(tmp_path, {**params, **ladder}, only=["05", "06"])
    assert failures == []
    r5, r6 = results_of(tmp_path, "05_the_cpu_recipe"), results_of(tmp_path, "06_predictions_vs_reality")
    assert len(r6["per_frame"]) == 4 + 1  # 136_00120, 00150, 00300, 00360
    assert r6["heldout_iou"] > 0.3, "clearly better than the all-background guess (IoU 0)"
    assert r5["heldout_iou"] > 0.3
    after = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    assert after == before, "the real-record run wrote nothing into the repository"


def test_publish_records_a_fingerprint_that_tells_stale_outputs(tmp_path):
    from cae_tutorial.course import clean_for_commit, read

    source = NOTEBOOKS[2]
    published = tmp_path / source.name
    shutil.copy(source, published)
    clean_for_commit(published, fingerprint=source_fingerprint(read(source)))
    notebook = read(published)
    assert notebook.metadata[FINGERPRINT_KEY]["source_sha256"] == source_fingerprint(notebook)
    notebook.cells[1].source += "\n# edited after publishing"
    assert notebook.metadata[FINGERPRINT_KEY]["source_sha256"] != source_fingerprint(notebook)
