"""Watching training: the live scrubber, the error view, the static HTML fallback, TensorBoard, the scrub page."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cae_tutorial.widgets import ERROR_COLOURS, EpochScrubber, error_map, evolution_html, iou_curve_svg, png_bytes

SHOWN = ["dance_00090", "dance_00120"]


def _pixels(png: bytes) -> np.ndarray:
    """RGB pixels of PNG bytes."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _live_feed(scrubber, result):
    """(epoch, predictions) of result's snapshots, restricted to the frames the live scrubber records."""
    rows = [result.snapshots.frame_ids.index(i) for i in scrubber.callback.frame_ids]
    return [(int(e), p[rows]) for e, p in zip(result.snapshots.epochs, result.snapshots.predictions)]


def test_live_scrubber_grows_while_training(tiny_record, tiny_preset, tiny_result):
    from cae_tutorial.data import seed_split
    from cae_tutorial.training import build_model, train

    split = seed_split(tiny_record)
    scrubber = EpochScrubber.live(tiny_record, split, frame_ids=SHOWN, height=32)
    assert scrubber.epochs == [] and "waiting" in scrubber.readout.value  # shown before training
    seen = []
    scrubber.callback.listeners.append(lambda epoch, _: seen.append((epoch, scrubber.slider.max,
                                                                     scrubber.slider.value)))
    result = train(build_model(tiny_preset, seed=0), tiny_record, split, tiny_preset, seed=0, progress=False,
                   callbacks=[scrubber.callback])
    assert seen == [(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)]  # the range grows, the newest epoch is shown
    assert scrubber.epochs == result.snapshots.epochs.tolist()
    # After training it is the same widget as one built from the result.
    finished = EpochScrubber(result, frame_ids=SHOWN, height=32)
    np.testing.assert_allclose(scrubber.iou, finished.iou, atol=0.02)
    assert scrubber.parts == finished.parts == ["train", "held out"]
    assert scrubber.callback.frame_ids == tuple(i for i in tiny_record.ids if i in set(SHOWN) | set(split.heldout_ids))


def test_live_scrubber_stops_following_once_the_learner_moves(tiny_record, tiny_result):
    scrubber = EpochScrubber.live(tiny_record, tiny_result.split, frame_ids=SHOWN, height=32)
    feed = _live_feed(scrubber, tiny_result)
    for epoch, predictions in feed[:2]:
        scrubber.add_epoch(epoch, predictions)
    assert (scrubber.slider.max, scrubber.slider.value) == (1, 1)
    scrubber.slider.value = 0  # the learner looks back
    scrubber.add_epoch(*feed[2])
    assert (scrubber.slider.max, scrubber.slider.value, scrubber.play.max) == (2, 0, 2)
    assert "<b>epoch 0</b>" in scrubber.readout.value
    scrubber.slider.value = 2  # back on the newest: follow again
    scrubber.add_epoch(*feed[3])
    assert scrubber.slider.value == 3
    scrubber.add_epoch(*feed[0])  # a second run fed to the same scrubber starts over
    assert scrubber.epochs == [0] and scrubber.slider.max == 0


def test_error_view_colours_labels_and_curve(tiny_result):
    scrubber = EpochScrubber(tiny_result, frame_ids=SHOWN, height=64)
    assert not scrubber.slider.readout  # the epoch is shown once, in the readout line
    assert scrubber.readout.value.count("epoch") == 1
    plain = [image.value for image in scrubber.predictions]
    scrubber.view.value = "errors"
    errors = [image.value for image in scrubber.predictions]
    assert errors != plain and scrubber.legend.layout.display is None
    assert all(name in scrubber.legend.value for name in ERROR_COLOURS)
    for png in errors:
        pixels = _pixels(png).reshape(-1, 3)
        coloured = ~np.all(pixels == pixels[:, :1], axis=1)  # not grey
        allowed = np.array(list(ERROR_COLOURS.values()))
        assert all((allowed == p).all(axis=1).any() for p in np.unique(pixels[coloured], axis=0))
        grey = pixels[~coloured & ~(pixels == 245).all(axis=1)]
        assert grey.max(initial=0) <= 102  # the dimmed frame never looks like the near-white "correct"
    # Labels: id and part above each frame, its IoU below; the curve marks the shown epoch.
    assert [s.value.startswith("IoU ") for s in scrubber.scores] == [True, True]
    marker = scrubber.curve.value
    scrubber.slider.value = 1
    assert scrubber.curve.value != marker and "<circle" in scrubber.curve.value
    s, row = tiny_result.snapshots, tiny_result.snapshots.frame_ids.index(SHOWN[0])
    expected = png_bytes(error_map(s.images[row], s.masks[row], s.at(1)[row]), 64, nearest=True)
    assert bytes(scrubber.predictions[0].value) == expected  # still the error view, now of epoch 1
    scrubber.view.value = "prediction"
    assert scrubber.legend.layout.display == "none"


def test_error_map_colours_each_case():
    image = np.full((1, 4, 3), 200, np.uint8)
    truth = np.array([[255, 255, 0, 0]], np.uint8)
    prediction = np.array([[250, 10, 250, 10]], np.uint8)
    picture = error_map(image, truth, prediction)
    assert tuple(picture[0, 0]) == ERROR_COLOURS["correct person"]
    assert tuple(picture[0, 1]) == ERROR_COLOURS["missed person"]
    assert tuple(picture[0, 2]) == ERROR_COLOURS["false person"]
    assert tuple(picture[0, 3]) == (80, 80, 80)
    assert len(set(ERROR_COLOURS.values())) == 3


def test_iou_curve_svg_marks_the_epoch():
    svg = iou_curve_svg([0, 1, 2], [0.1, 0.5, float("nan")], marker_epoch=1)
    assert svg.startswith("<svg") and svg.count("<circle") == 1 and "<polyline" in svg
    assert "<circle" not in iou_curve_svg([0, 1], [0.1, 0.5], marker_epoch=7)


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
        f"scrubber = EpochScrubber.live(record, split, frame_ids={SHOWN!r}, height=32)\nscrubber",
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
    shown = [o["data"]["text/plain"] for o in cells[1].outputs if "data" in o]
    assert len(shown) == 1 and "the animation below" in shown[0]  # the widget, replaced by a pointer
    subprocess.run([*jupyter, "--to", "html", str(path)], check=True, capture_output=True, timeout=120)
    page = (tmp_path / "show.html").read_text()
    assert re.search(r'<img [^>]*src="data:image/gif;base64,R0lGOD', page)  # a GIF's magic bytes, base64
    assert re.search(r'<img [^>]*src="data:image/png;base64,iVBORw0KGgo', page)
    assert "the animation below" in page and "IPython.core.display" not in page


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


def test_scrub_page_notebook_and_errors(tiny_result, tmp_path, capsys):
    import nbformat

    from cae_tutorial.app import check_run, voila_command, write_page_notebook
    from cae_tutorial.cli import main

    assert main(["scrub", str(tmp_path / "nothing"), "--no-browser"]) == 2
    assert "holds no saved training run (history.json is missing)" in capsys.readouterr().err
    tiny_result.save(tmp_path / "run")
    run = check_run(tmp_path / "run")
    page = nbformat.read(str(write_page_notebook(run, tmp_path)), as_version=4)
    assert page.cells[0].source.endswith(f"scrub_page({str(run)!r});")
    command = voila_command(tmp_path / "scrub.ipynb", 8999)
    assert "--Voila.ip=127.0.0.1" in command and "--port=8999" in command and "--no-browser" in command


def test_live_scrubber_takes_trains_snapshots_instead_of_predicting_again(tiny_record, tiny_preset):
    from cae_tutorial.data import seed_split
    from cae_tutorial.training import TrainOptions, build_model, train

    split = seed_split(tiny_record)
    model = build_model(tiny_preset, seed=0)
    calls = []
    original = model.predict_on_batch
    model.predict_on_batch = lambda x: calls.append(len(x)) or original(x)
    scrubber = EpochScrubber.live(tiny_record, split, frame_ids=SHOWN, height=32, every=2)
    result = train(model, tiny_record, split, tiny_preset.with_(epochs=4), seed=0, progress=False,
                   options=TrainOptions(snapshot_every=2), callbacks=[scrubber.callback])
    assert scrubber.callback.source is not None and scrubber.epochs == [0, 2, 4]
    assert sum(calls) == 3 * len(tiny_record)  # one prediction of each frame per snapshot epoch, not two
    assert [(e, p.tolist()) for e, p in _live_feed(scrubber, result)] == [
        (e, p.tolist()) for e, p in zip(scrubber.callback.epochs, scrubber.callback.predictions)]
    # A scrubber on another schedule cannot take them: it predicts for itself.
    other = EpochScrubber.live(tiny_record, split, frame_ids=SHOWN, height=32, every=1)
    train(build_model(tiny_preset, seed=0), tiny_record, split, tiny_preset.with_(epochs=2), seed=0,
          progress=False, options=TrainOptions(snapshot_every=2), callbacks=[other.callback])
    assert other.callback.source is None and other.epochs == [0, 1, 2]
