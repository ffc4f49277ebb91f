"""Watching training: the live scrubber, the error view, the static HTML fallback, TensorBoard, the scrub page."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cae_tutorial.widgets import (ERROR_COLOURS, EpochScrubber, error_map, evolution_html, evolution_png,
                                  key_epoch_indices, png_bytes)

SHOWN = ["dance_00090", "dance_00120"]


def _pixels(png: bytes) -> np.ndarray:
    """RGB pixels of PNG bytes."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _live_feed(scrubber, result):
    """(epoch, predictions) of result's snapshots, restricted to the frames the live scrubber records."""
    rows = [result.snapshots.frame_ids.index(i) for i in scrubber.callback.frame_ids]
    return [(int(e), p[rows]) for e, p in zip(result.snapshots.epochs, result.snapshots.predictions)]


def _cell_png(cell, kind: str = "prediction") -> bytes:
    """The PNG bytes of one Stack child's prediction (or errors) <img>."""
    import base64

    source = re.search(rf'class="cae-tile cae-{kind}"[^>]*src="data:image/png;base64,([^"]+)"', cell.value).group(1)
    return base64.b64decode(source)


def test_live_scrubber_has_its_range_first_and_never_moves_the_learner(tiny_record, tiny_preset, tiny_result):
    from cae_tutorial.data import seed_split
    from cae_tutorial.training import TrainOptions, build_model, train

    split = seed_split(tiny_record)
    scrubber = EpochScrubber.live(tiny_record, split, frame_ids=SHOWN, height=32, total_epochs=3)
    controls = scrubber.controls
    assert controls.epochs == [0, 1, 2, 3] and controls.arrived == 0  # the full range before training
    assert all(len(stack.children) == 4 and set(stack.children) == {scrubber._pending} for stack in scrubber.stacks)
    moved = []
    controls.observe(lambda change: moved.append(change["name"]), names=["index", "following", "playing"])
    seen = []
    scrubber.callback.listeners.append(lambda epoch, _: seen.append((epoch, controls.arrived, len(controls.epochs))))
    # train snapshots every second epoch, the scrubber every epoch: on another schedule than train's, the
    # scrubber cannot take train's snapshots and predicts for itself. The run is tiny_result's (same seed, preset
    # and data; snapshots change nothing of the training), so the finished scrubber is read from tiny_result.
    result = train(build_model(tiny_preset, seed=0), tiny_record, split, tiny_preset, seed=0, progress=False,
                   options=TrainOptions(snapshot_every=2), callbacks=[scrubber.callback])
    assert scrubber.callback.source is None and result.snapshots.epochs.tolist() == [0, 2, 3]
    assert result.history == tiny_result.history
    assert seen == [(0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 4, 4)]
    assert moved == []  # the browser alone moves the slider, plays and follows: a busy kernel cannot override it
    assert scrubber.epochs == tiny_result.snapshots.epochs.tolist()
    assert all(scrubber._pending not in stack.children and scrubber._drawing not in stack.children
               for stack in scrubber.stacks)  # every epoch drawn as it arrived
    finished = EpochScrubber(tiny_result, frame_ids=SHOWN, height=32)
    np.testing.assert_allclose(scrubber.iou, finished.iou, atol=0.02)
    assert scrubber.parts == finished.parts == ["training", "held-out"]
    assert scrubber.callback.frame_ids == tuple(i for i in tiny_record.ids if i in set(SHOWN) | set(split.heldout_ids))


@pytest.fixture(scope="module")
def every_second_epoch(tiny_record, tiny_preset, tiny_result):
    """One 5-epoch training that snapshots every second epoch, under a live scrubber on the same schedule, counting
    the frames the model predicts, shared by the two tests of that schedule: what each reads, taken as it was.

    Only the starts-over test goes on to feed the scrubber itself; the other reads the copies made here."""
    from types import SimpleNamespace

    from cae_tutorial.training import TrainOptions, build_model, train

    model = build_model(tiny_preset, seed=0)
    calls = []
    original = model.predict_on_batch
    model.predict_on_batch = lambda x: calls.append(len(x)) or original(x)
    scrubber = EpochScrubber.live(tiny_record, tiny_result.split, frame_ids=SHOWN, height=32, every=2)
    range_before = list(scrubber.controls.epochs)
    result = train(model, tiny_record, tiny_result.split, tiny_preset.with_(epochs=5), seed=0, progress=False,
                   options=TrainOptions(snapshot_every=2), callbacks=[scrubber.callback])
    return SimpleNamespace(scrubber=scrubber, range_before=range_before, result=result, calls=list(calls),
                           range_after=list(scrubber.controls.epochs), epochs=list(scrubber.epochs),
                           source=scrubber.callback.source, frame_ids=scrubber.callback.frame_ids,
                           fed=[(int(e), p.tolist()) for e, p in zip(scrubber.callback.epochs,
                                                                      scrubber.callback.predictions)])


def test_live_scrubber_learns_its_range_from_keras_and_starts_over(every_second_epoch, tiny_result):
    run = every_second_epoch
    scrubber = run.scrubber
    assert run.range_before == []
    assert run.range_after == run.epochs == [0, 2, 4, 5]
    feed = _live_feed(scrubber, tiny_result)
    scrubber.add_epoch(*feed[0])  # a second run fed to the same scrubber starts over
    assert scrubber.epochs == [0] and scrubber.controls.arrived == 1 and scrubber.controls.following


def test_error_view_colours_labels_and_alt_text(tiny_result):
    scrubber = EpochScrubber(tiny_result, frame_ids=SHOWN, height=64)
    scrubber.draw_all()
    assert all(name in scrubber.controls.legend for name in ERROR_COLOURS)
    s = tiny_result.snapshots
    for f, frame_id in enumerate(SHOWN):
        row = s.frame_ids.index(frame_id)
        for e, epoch in enumerate(s.epochs):
            cell = scrubber.stacks[f].children[e]
            errors = _cell_png(cell, "errors")
            assert errors == png_bytes(error_map(s.images[row], s.masks[row], s.predictions[e][row]), 64, nearest=True)
            part = scrubber.parts[f]
            assert f'alt="errors (correct, false and missed person pixels) for {frame_id} ({part}) at epoch {epoch}: ' \
                   f'IoU {scrubber.iou[e][f]:.3f} at model size 64 x 32"' in cell.value
            assert f"IoU {scrubber.iou[e][f]:.3f}" in cell.value
        pixels = _pixels(errors).reshape(-1, 3)
        coloured = ~np.all(pixels == pixels[:, :1], axis=1)  # not grey
        allowed = np.array(list(ERROR_COLOURS.values()))
        assert all((allowed == p).all(axis=1).any() for p in np.unique(pixels[coloured], axis=0))
        grey = pixels[~coloured & ~(pixels == 245).all(axis=1)]
        assert grey.max(initial=0) <= 77  # the dimmed frame stays dark: every error colour keeps 3:1 against it
    assert len(scrubber.controls.curve) == 4 and "held-out mean IoU" in scrubber.controls.summaries[0]


def test_error_colours_reach_three_to_one_against_the_dimmed_frame():
    from cae_tutorial.palette import ERROR_BACKGROUND, ERROR_COLOURS as UNIT, contrast_ratio

    brightest_backdrop = (ERROR_BACKGROUND,) * 3
    assert all(contrast_ratio(colour, brightest_backdrop) >= 3 for colour in UNIT.values())
    assert all(contrast_ratio(colour, (0, 0, 0)) >= 3 for colour in UNIT.values())
    assert round(contrast_ratio((1, 1, 1), (0, 0, 0)), 1) == 21.0


def test_snapshot_iou_is_the_metric_of_the_tables(tiny_result):
    from cae_tutorial.losses import iou_score
    from cae_tutorial.widgets import snapshot_iou

    s = tiny_result.snapshots
    for predictions in s.predictions:
        np.testing.assert_allclose(snapshot_iou(s.masks, predictions), iou_score(s.masks / 255.0, predictions / 255.0))


def test_error_map_colours_each_case():
    image = np.full((1, 4, 3), 200, np.uint8)
    truth = np.array([[255, 255, 0, 0]], np.uint8)
    prediction = np.array([[250, 10, 250, 10]], np.uint8)
    picture = error_map(image, truth, prediction)
    assert tuple(picture[0, 0]) == ERROR_COLOURS["correct person"]
    assert tuple(picture[0, 1]) == ERROR_COLOURS["missed person"]
    assert tuple(picture[0, 2]) == ERROR_COLOURS["false person"]
    assert tuple(picture[0, 3]) == (60, 60, 60)  # 200 dimmed by palette.ERROR_BACKGROUND
    assert len(set(ERROR_COLOURS.values())) == 3


@pytest.mark.slow
def test_live_scrubber_and_fallback_in_a_headless_kernel_then_nbconvert_html(tiny_result, tmp_path):
    """Execute a notebook (no browser) that trains under a live scrubber and shows the static fallback; clean it for
    commit as `cae-tutorial course --publish` does; convert it to HTML as nbviewer and documentation builders do."""
    import nbformat

    from cae_tutorial.course import clean_for_commit

    fallback = evolution_html(tiny_result, frame_ids=SHOWN, height=48, strip_epochs=2)
    assert fallback.epochs == [0, 1, 2, 3] and fallback.strip_epochs == [0, 3]
    assert Image.open(io.BytesIO(fallback.gif)).n_frames == 4
    strip = Image.open(io.BytesIO(fallback.strip))
    assert strip.format == "PNG" and strip.height > 2 * 48
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in (
        ("from cae_tutorial.data import load_record, seed_split\n"
         "from cae_tutorial.presets import get_preset\n"
         "from cae_tutorial.training import build_model, train\n"
         "from cae_tutorial.widgets import EpochScrubber, evolution_html\n"
         "record = load_record(size=(64, 32)); split = seed_split(record)\n"
         "preset = get_preset('seed', height=64, width=32, epochs=2)"),
        f"scrubber = EpochScrubber.live(record, split, frame_ids={SHOWN!r}, height=32, total_epochs=2)\nscrubber",
        ("result = train(build_model(preset), record, split, preset, callbacks=[scrubber.callback], progress=False)\n"
         "assert scrubber.epochs == [0, 1, 2] == result.snapshots.epochs.tolist()"),
        f"evolution_html(result, frame_ids={SHOWN!r}, height=48, strip_epochs=2)")]
    path = tmp_path / "show.ipynb"
    nbformat.write(notebook, str(path))
    jupyter = [sys.executable, "-m", "jupyter", "nbconvert"]
    subprocess.run([*jupyter, "--to", "notebook", "--execute", "--inplace", "--ExecutePreprocessor.timeout=600",
                    str(path)], check=True, capture_output=True, timeout=900)
    clean_for_commit(path)
    cells = nbformat.read(str(path), as_version=4).cells
    shown = [o["data"] for o in cells[1].outputs if "data" in o]
    # The scrubber's own output: the widget gave way to a pointer, and the static picture that training's end put
    # there (an update of the same display) stays.
    assert len(shown) == 1 and set(shown[0]) == {"image/png", "text/plain"}
    assert "the picture shows the same evolution" in shown[0]["text/plain"]
    assert Image.open(io.BytesIO(base64.b64decode(shown[0]["image/png"]))).format == "PNG"
    subprocess.run([*jupyter, "--to", "html", str(path)], check=True, capture_output=True, timeout=120)
    page = (tmp_path / "show.html").read_text()
    assert re.search(r'<img [^>]*src="data:image/gif;base64,R0lGOD', page)  # a GIF's magic bytes, base64
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,iVBORw0KGgo', page)) >= 2  # scrubber's, strip
    assert "IPython.core.display" not in page


def test_evolution_frames_are_labelled(tiny_result):
    from cae_tutorial.widgets import evolution_frames

    plain = evolution_frames(tiny_result, frame_ids=SHOWN, height=48, epoch_indices=[3])[0]
    assert plain.height > 48 + 2 * 11  # room for the labels above and below the tiles
    # The label rows hold dark text pixels (a TrueType font, not blank space).
    labels = np.asarray(plain.convert("L"))[:12]
    assert (labels < 100).sum() > 30


def test_train_tensorboard_writes_scalars_and_snapshot_images(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from cae_tutorial.cli import main

    logs = tmp_path / "tb"
    assert main(["train", "--preset", "seed", "--height", "64", "--width", "32", "--epochs", "2",
                 "--output", str(tmp_path / "run"), "--tensorboard", str(logs)]) == 0
    assert f"tensorboard --logdir {logs}" in capsys.readouterr().out
    runs = {}
    for run in ("train", "validation", "predictions"):
        accumulator = EventAccumulator(str(logs / run), size_guidance={"images": 0, "tensors": 0})
        accumulator.Reload()
        runs[run] = accumulator
    for run in ("train", "validation"):
        tags = set(runs[run].Tags()["tensors"]) | set(runs[run].Tags()["scalars"])
        assert {"epoch_loss", "epoch_iou", "epoch_dice", "epoch_accuracy"} <= tags, (run, tags)
        assert [e.step for e in runs[run].Tensors("epoch_loss")] == [0, 1]
    snapshots = runs["predictions"]
    images = [t for t in snapshots.Tags()["tensors"] if snapshots.SummaryMetadata(t).plugin_data.plugin_name == "images"]
    assert "train/dance_00090" in images and "held_out/dance_00120" in images and len(images) == 10
    steps = [e.step for e in snapshots.Tensors("held_out/dance_00120")]
    assert steps == [0, 1, 2]  # epoch 0 (before training) and after each epoch, as the snapshots
    width, height, png = snapshots.Tensors("train/dance_00090")[-1].tensor_proto.string_val
    assert (int(height), int(width)) == (64, 3 * 32)  # frame | true mask | prediction
    assert Image.open(io.BytesIO(png)).size == (3 * 32, 64)
    saved = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(saved["val_loss"]) == 2


def test_scrub_page_notebook_template_and_errors(tiny_result, tmp_path, capsys):
    import shutil

    import nbformat

    from cae_tutorial.app import check_run, keepalive_seconds, voila_command, write_page_notebook, write_template
    from cae_tutorial.cli import main

    assert main(["scrub", str(tmp_path / "nothing"), "--no-browser"]) == 2
    assert "holds no saved training run (history.json is missing)" in capsys.readouterr().err
    tiny_result.save(tmp_path / "run")
    run = check_run(tmp_path / "run")
    notebook = write_page_notebook(run, tmp_path)
    assert notebook.stem == "Epoch scrubber of run"  # Voila's page title
    page = nbformat.read(str(notebook), as_version=4)
    assert page.cells[0].source.endswith(f"scrub_page({str(run)!r}, keepalive={keepalive_seconds()});")
    command = voila_command(notebook, 8999)
    assert "--Voila.ip=127.0.0.1" in command and "--port=8999" in command and "--no-browser" in command
    template = write_template(tmp_path / "jupyter")
    assert (template / "index.html.j2").is_file() and "--template=cae-scrub" in command
    assert not [f for f in template.rglob("*") if f.is_file() and "https://" in f.read_text(errors="ignore")
                .replace("https://github.com", "")]  # no CDN: the page works offline
    # Damaged files: one line naming the file, before any server starts; the run is left as it was.
    for name, damage in (("snapshots.npz", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
                         ("history.json", lambda p: p.write_text(p.read_text()[:40]))):
        broken = tmp_path / f"broken-{name}"
        shutil.copytree(run, broken)
        damage(broken / name)
        before = (broken / name).read_bytes()
        assert main(["scrub", str(broken), "--no-browser"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(broken / name) in err[0] and "is damaged" in err[0], err
        assert (broken / name).read_bytes() == before


def test_scrub_page_reads_a_run_without_tensorflow(tiny_result, tmp_path):
    """The page's kernel: read the saved run and build its scrubber; TensorFlow, Keras and matplotlib stay out."""
    tiny_result.save(tmp_path / "run")
    code = ("import sys\nfrom cae_tutorial.app import scrub_page\n"
            f"scrubber = scrub_page({str(tmp_path / 'run')!r}, height=32)\n"
            "assert scrubber.controls.arrived == 4 and scrubber.controls.page_title == 'Epoch scrubber of run'\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_live_scrubber_takes_trains_snapshots_instead_of_predicting_again(every_second_epoch, tiny_record):
    run = every_second_epoch  # 5 epochs, train's snapshots and the scrubber both every second epoch (and the last)
    assert run.source is not None and run.epochs == [0, 2, 4, 5]
    assert sum(run.calls) == 4 * len(tiny_record)  # one prediction of each frame per snapshot epoch, not two
    rows = [run.result.snapshots.frame_ids.index(i) for i in run.frame_ids]
    assert [(int(e), p[rows].tolist()) for e, p in zip(run.result.snapshots.epochs,
                                                       run.result.snapshots.predictions)] == run.fed
    # A scrubber on another schedule cannot take them: test_live_scrubber_has_its_range_first_... shows it
    # predicting for itself.


def test_key_epochs_are_the_ends_both_sides_of_a_switch_and_the_biggest_changes():
    epochs = list(range(0, 44, 4))  # 0, 4, ..., 40: 11 recorded epochs
    curve = [0.0, 0.3, 0.4, 0.45, 0.5, 0.5, 0.9, 0.91, 0.92, 0.92, 0.93]  # the biggest jump: epoch 20 -> 24
    picked = key_epoch_indices(epochs, curve, max_rows=6, key_epochs=[30])
    assert picked == sorted(picked) and len(picked) == 6
    assert {0, 10} <= set(picked), "the first and the last epoch"
    assert {7, 8} <= set(picked), "both sides of key epoch 30: epochs 28 and 32"
    assert {5, 6} <= set(picked), "both sides of the biggest change, 0.5 -> 0.9"
    assert key_epoch_indices(epochs[:3], curve[:3], max_rows=8, key_epochs=[0]) == [0, 1, 2]  # 0: no switch


def test_scrubber_output_carries_its_static_picture(tiny_result):
    bundle = EpochScrubber(tiny_result, height=32)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    picture = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    assert picture.format == "PNG" and picture.width > 10 * 2 * 48  # every frame: prediction and errors
    assert "the picture shows the same evolution" in bundle["text/plain"]
    assert "image/png" not in EpochScrubber(tiny_result, height=32, static_image=False)._repr_mimebundle_()
    fewer = Image.open(io.BytesIO(evolution_png(tiny_result, frame_ids=SHOWN, max_rows=2)))
    more = Image.open(io.BytesIO(evolution_png(tiny_result, frame_ids=SHOWN, max_rows=4)))
    assert more.height > fewer.height and more.width == fewer.width < picture.width  # a row per epoch, a block per frame
    errors = _pixels(evolution_png(tiny_result, frame_ids=SHOWN))
    colours = {tuple(c) for c in errors.reshape(-1, 3)}
    assert set(ERROR_COLOURS.values()) <= colours, "the errors' colours, and their key"


def test_live_scrubber_puts_its_static_picture_in_its_own_output_when_training_ends(tiny_record, tiny_result):
    from cae_tutorial.data import seed_split

    scrubber = EpochScrubber.live(tiny_record, seed_split(tiny_record), height=32, total_epochs=3)
    assert "image/png" not in scrubber._repr_mimebundle_(), "nothing to show before the first epoch"
    updates = []

    class Handle:  # what IPython's display(..., display_id=True) returns
        def update(self, data, raw=False):
            updates.append(data)

    scrubber._display = Handle()
    for epoch, predictions in _live_feed(scrubber, tiny_result):
        scrubber.add_epoch(epoch, predictions)
    assert updates == []
    scrubber.callback.on_train_end()
    assert len(updates) == 1 and {"image/png", "application/vnd.jupyter.widget-view+json"} <= set(updates[0])


def _without(path, name: str) -> None:
    """Rewrite snapshots.npz without one of its arrays."""
    with np.load(path) as npz:
        kept = {key: npz[key] for key in npz.files if key != name}
    np.savez_compressed(path, **kept)


def _one_epoch_short(path) -> None:
    """Rewrite snapshots.npz with one prediction fewer than its epochs."""
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["predictions"] = arrays["predictions"][:-1]
    np.savez_compressed(path, **arrays)


DAMAGES = {
    "snapshots.npz cut in half": ("snapshots.npz", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
    "snapshots.npz without predictions": ("snapshots.npz", lambda p: _without(p, "predictions")),
    "snapshots.npz one prediction short": ("snapshots.npz", _one_epoch_short),
    "history.json cut short": ("history.json", lambda p: p.write_text(p.read_text()[:40])),
    "config.json a list": ("config.json", lambda p: p.write_text("[1, 2]")),
    "split.json not a split": ("split.json", lambda p: p.write_text('{"train": 3}')),
}


def test_one_reader_of_a_saved_run_for_the_scrub_page_and_trainingresult_load(tiny_result, tmp_path):
    """run_files.read_saved_run (the scrub page's, no TensorFlow) and TrainingResult.load read a run the same way:
    the same Snapshots class and arrays, and the same one-line RunFileError naming a damaged file."""
    import shutil

    from cae_tutorial.results import Snapshots, TrainingResult
    from cae_tutorial.run_files import RunFileError, SavedRun, read_saved_run

    run = tiny_result.save(tmp_path / "run")
    saved, loaded = read_saved_run(run), TrainingResult.load(run, load_model=False)
    assert isinstance(saved, SavedRun) and isinstance(loaded, TrainingResult) and loaded.model is None
    for back in (saved, loaded):
        assert type(back.snapshots) is Snapshots
        assert back.snapshots.frame_ids == tiny_result.snapshots.frame_ids
        for name in ("epochs", "images", "masks", "predictions"):
            got, want = getattr(back.snapshots, name), getattr(tiny_result.snapshots, name)
            assert got.dtype == want.dtype and np.array_equal(got, want), name
        assert back.history == tiny_result.history and back.config == tiny_result.config
        assert back.split == tiny_result.split
    assert EpochScrubber(saved, height=32).iou.tolist() == EpochScrubber(loaded, height=32).iou.tolist()

    for what, (name, damage) in DAMAGES.items():
        broken = tmp_path / what.replace(" ", "-")
        shutil.copytree(run, broken)
        damage(broken / name)
        messages = []
        for read in (read_saved_run, lambda folder: TrainingResult.load(folder, load_model=False)):
            with pytest.raises(RunFileError) as caught:
                read(broken)
            messages.append(str(caught.value))
        assert messages[0] == messages[1], what  # one reader: one message
        assert messages[0].startswith(f"{broken / name} is damaged (") and "\n" not in messages[0], messages[0]
        assert messages[0].endswith("train again into a new folder or restore the file from a backup"), messages[0]
