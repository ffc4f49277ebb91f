"""Hostile but realistic input (issue 9): no silent wrong answer, no lost file, no traceback.

Each test is one case of the issue or of its principles; records are a few frames of 16 x 8, training at most
1 epoch of the seed's recipe at that size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import conftest
from cae_tutorial import cli
from cae_tutorial.cli import main
from cae_tutorial.data import (DataError, Split, find_frames, load_record, read_frames, read_image,
                               resize_probabilities, split_by_ids)
from cae_tutorial.losses import BinaryDice, PersonIoU, dice_score, iou_score, per_frame_metrics

SIZE = (16, 8)
IDS = ("7_00001", "7_00002", "7_00003")


def write_record(root: Path, ids=IDS, size=SIZE, empty=()) -> Path:
    """A record of random frames whose masks hold a block of person, except the frames in `empty`."""
    return conftest.write_record(root, ids, size, empty=empty)


def tiny_preset():
    """The seed's recipe at 16 x 8 for one epoch."""
    from cae_tutorial.presets import get_preset

    return get_preset("seed", height=SIZE[0], width=SIZE[1], epochs=1)


def train_tiny(record, split):
    """One epoch on the record, no progress lines."""
    from cae_tutorial.training import build_model, train

    from cae_tutorial.training import TrainOptions

    return train(build_model(tiny_preset()), record, split, tiny_preset(), progress=False,
                 options=TrainOptions(snapshot_epochs=(1,)))


def one_line_error(capsys, *words) -> str:
    """The CLI's stderr: exactly one line, naming every given word."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    return err


# ---------------------------------------------------------------- silent wrong results


def test_empty_truth_has_no_iou_or_dice_and_is_shown_as_such():
    truth = np.zeros((3, 4, 4, 1), np.float32)
    truth[1, :2] = 1
    pred = np.zeros_like(truth)
    pred[2, 0, 0] = 0.9  # a false alarm on a frame without a person
    with pytest.warns(UserWarning, match=r"\['a', 'c'\].*all-background truth"):
        table = per_frame_metrics(["a", "b", "c"], truth, pred)
    # Never 1.000 for an empty truth; an empty prediction against a person is 0.
    assert np.isnan(table[0].iou) and np.isnan(table[0].dice) and np.isnan(table[2].iou)
    assert table[1].iou == 0.0 and table[1].dice == 0.0
    # The false alarm still shows in pixel accuracy.
    assert table[0].accuracy == 1.0 and table[2].accuracy == pytest.approx(15 / 16)
    assert table.empty_truth() == ["a", "c"]
    text = str(table)
    assert text.count("empty truth") >= 4 and "left out of the means" in text
    assert "empty truth" in table._repr_html_()
    with pytest.warns(UserWarning, match=r"leaves out frames \['a', 'c'\]"):
        assert table.mean("iou") == 0.0
    assert table.to_dict()["mean"]["iou"] == 0.0 and np.isnan(table.to_dict()["a"]["iou"])
    with pytest.warns(UserWarning, match="all-background truth"):
        assert np.isnan(iou_score(truth, pred)[0]) and np.isnan(dice_score(truth, pred)[2])


def test_all_empty_table_mean_is_nan_not_one():
    truth = np.zeros((2, 4, 4, 1), np.float32)
    with pytest.warns(UserWarning):
        table = per_frame_metrics(["a", "b"], truth, truth)
    with pytest.warns(UserWarning):
        assert np.isnan(table.mean("iou")) and np.isnan(table.mean("dice"))
    lines = str(table).split("\n")
    assert lines[1].count("empty truth") == 2 and lines[3].split()[1:3] == ["nan", "nan"]


def test_epoch_metrics_are_nan_without_any_true_person_and_zero_for_an_empty_prediction():
    empty = np.zeros((2, 4, 4, 1), np.float32)
    person = empty.copy()
    person[:, :2] = 1
    for metric_class in (PersonIoU, BinaryDice):
        nothing = metric_class()
        nothing.update_state(empty, empty)
        assert np.isnan(float(nothing.result())), metric_class
        missed = metric_class()
        missed.update_state(person, empty)
        assert float(missed.result()) == 0.0
        pooled = metric_class()  # one frame with a person makes the pooled score defined
        pooled.update_state(np.concatenate([empty, person]), np.concatenate([empty, person]))
        assert float(pooled.result()) == pytest.approx(1.0)


def test_all_background_training_masks_are_refused_and_some_are_warned(tmp_path):
    record = load_record(write_record(tmp_path / "a", empty=IDS), "7")
    with pytest.raises(DataError, match="every training mask is all background"):
        train_tiny(record, split_by_ids(record, IDS[:2]))
    record = load_record(write_record(tmp_path / "b", empty=IDS[:1] + IDS[2:]), "7")
    assert any("no person" in note for note in record.notes)
    with pytest.warns(UserWarning) as caught:
        result = train_tiny(record, split_by_ids(record, IDS[:2]))
    messages = " ".join(str(w.message) for w in caught)
    assert "training frames ['7_00001'] have an all-background mask" in messages
    assert "held-out frames ['7_00003'] have an all-background mask" in messages
    # The held-out frame's table row says so instead of scoring it.
    with pytest.warns(UserWarning, match="7_00003"):
        table = result.evaluate(record)
    assert "empty truth" in str(table) and np.isnan(table[0].iou)
    assert np.isnan(result.final("val_iou"))


def test_alpha_only_mask_is_read_from_alpha_and_said(tmp_path):
    root = write_record(tmp_path)
    rgba = np.zeros((*SIZE, 4), np.uint8)
    rgba[4:12, 2:6, 3] = 255  # black person on a transparent background: colour channels all zero
    Image.fromarray(rgba).save(root / "masks" / "7_00002.png")
    record = load_record(root, "7")
    assert record.masks[1].sum() == 32
    assert any("alpha channel" in note and "7_00002" in note for note in record.notes)
    assert "alpha channel" in repr(record)


def test_transparent_coloured_pixels_are_background_and_said(tmp_path):
    root = write_record(tmp_path)
    rgba = np.full((*SIZE, 4), 255, np.uint8)
    rgba[..., 3] = 0
    rgba[4:12, 2:6, 3] = 255  # white everywhere, but only the person is opaque
    Image.fromarray(rgba).save(root / "masks" / "7_00001.png")
    record = load_record(root, "7")
    assert record.masks[0].sum() == 32
    assert any("transparent" in note for note in record.notes)


def test_palette_mask_with_a_transparent_index_is_read_as_shown(tmp_path):
    root = write_record(tmp_path)
    indices = np.zeros(SIZE, np.uint8)
    indices[4:12, 2:6] = 1
    mask = Image.fromarray(indices).convert("P")
    mask.putpalette([255, 255, 255, 255, 255, 255] + [0] * 762)  # both entries white ...
    mask.info["transparency"] = 0  # ... but entry 0 is transparent
    mask.save(root / "masks" / "7_00003.png", transparency=0)
    record = load_record(root, "7")
    assert record.masks[2].sum() == 32
    assert any("transparent" in note and "7_00003" in note for note in record.notes)


def test_training_on_every_frame_works_says_so_and_explains_missing_heldout_scores(tmp_path):
    record = load_record(write_record(tmp_path), "7")
    with pytest.warns(UserWarning, match="holds out no frames"):
        result = train_tiny(record, split_by_ids(record, IDS))
    assert np.isfinite(result.final("iou", part="training"))
    with pytest.raises(KeyError, match=r"held out no frames.*part='training'"):
        result.final("val_iou")
    with pytest.raises(KeyError, match="unknown metric"):
        result.final("IoU-typo")
    with pytest.raises(DataError, match="held out none.*frame_ids"):
        result.evaluate(record)
    assert len(result.evaluate(record, frame_ids=IDS[:1])) == 1
    result.save(tmp_path / "run")
    from cae_tutorial.results import TrainingResult

    with pytest.raises(KeyError, match="held out no frames"):
        TrainingResult.load(tmp_path / "run", load_model=False).final()


def test_duplicated_training_ids_are_rejected(tmp_path, capsys):
    record = load_record(write_record(tmp_path), "7")
    with pytest.raises(DataError, match=r"\['7_00001'\] are named more than once"):
        split_by_ids(record, ["7_00001", "7_00001"])
    with pytest.raises(DataError, match="more than once"):
        Split(("a", "a"), ("b",))
    # A single id as a string is one id, not its characters.
    assert split_by_ids(record, "7_00002").train_ids == ("7_00002",)
    assert main(["train", "--train-ids", "7_00001", "7_00001", "--output", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "--train-ids", "7_00001", "more than once")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- files lost


def test_predict_into_its_input_folder_is_refused_and_keeps_user_files(tmp_path, capsys, tiny_run):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray(np.full((*SIZE, 3), 90, np.uint8)).save(frames / "a.png")
    Image.fromarray(np.full(SIZE, 7, np.uint8)).save(frames / "a_mask.png")  # the user's own mask
    before = (frames / "a_mask.png").read_bytes()
    for output in (frames, frames / "."):
        assert main(["predict", "--model", str(tiny_run), "--input", str(frames), "--output", str(output)]) == 2
        one_line_error(capsys, "--output", "--overwrite")
    assert main(["predict", "--model", str(tiny_run), "--input", str(frames / "a.png"),
                 "--output", str(frames)]) == 2
    one_line_error(capsys, "--output")
    assert (frames / "a_mask.png").read_bytes() == before and sorted(p.name for p in frames.iterdir()) == [
        "a.png", "a_mask.png"]
    # With --overwrite it writes there, and never reads its own earlier predictions as frames.
    for _ in range(2):
        assert main(["predict", "--model", str(tiny_run), "--input", str(frames), "--output", str(frames),
                     "--overwrite"]) == 0
    printed = capsys.readouterr().out
    assert "skipped earlier predictions" in printed
    assert sorted(p.name for p in frames.iterdir()) == ["a.png", "a_mask.png", "a_overlay.png"]


def test_predict_output_inside_input_folder_and_existing_outputs(tmp_path, capsys, tiny_run):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray(np.full((*SIZE, 3), 90, np.uint8)).save(frames / "a.png")
    out = frames / "predictions"
    args = ["predict", "--model", str(tiny_run), "--input", str(frames), "--output", str(out)]
    assert main(args) == 0 and main(args) == 2  # the second run would replace the first run's files
    one_line_error(capsys, "a_mask.png", "--overwrite")
    assert main(args + ["--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_mask.png", "a_overlay.png"]
    assert "predictions" not in " ".join(p.name for p in frames.iterdir() if p.is_file())


def test_predict_refuses_two_frames_with_one_id(tmp_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((*SIZE, 3), np.uint8)).save(tmp_path / folder / "a.png")
    with pytest.raises(DataError, match="share the id 'a'"):
        find_frames([tmp_path / "x", tmp_path / "y"])


def test_train_output_holding_a_run_needs_overwrite_and_is_checked_before_training(tmp_path, capsys,
                                                                                  monkeypatch, tiny_run):
    run = tiny_run.parent
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    monkeypatch.setattr("cae_tutorial.data.load_record", lambda *a, **k: pytest.fail("loaded data first"))
    assert main(["train", "--output", str(run)]) == 2
    one_line_error(capsys, str(run), "already holds a run", "--overwrite")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    assert main(["train", "--output", str(user), "--overwrite"]) == 2
    one_line_error(capsys, "notes.txt")
    assert (user / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    assert main(["train", "--output", str(tmp_path / "file")]) == 2
    one_line_error(capsys, "is a file")


def test_save_is_whole_or_nothing_and_replacing_is_explicit(tmp_path, tiny_result_small):
    from cae_tutorial.results import TrainingResult

    result = tiny_result_small
    folder = result.save(tmp_path / "run")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        result.save(folder)
    earlier = (folder / "history.json").read_text()

    class Interrupted(KeyboardInterrupt):
        pass

    def interrupted_write(target):
        (target / "history.json").write_text("{}")
        raise Interrupted()

    original = result._write
    result._write = interrupted_write
    try:
        with pytest.raises(Interrupted):
            result.save(folder, overwrite=True)
    finally:
        result._write = original
    # The earlier run is whole and untouched, and no partial folder is left beside it.
    assert (folder / "history.json").read_text() == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    changed = TrainingResult(dict(result.history, extra=[1.0]), result.snapshots, result.split, result.config)
    changed.save(folder, overwrite=True)
    back = TrainingResult.load(folder, load_model=False)
    assert "extra" in back.history and not (folder / "model.keras").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # A run folder missing a file is not read as a run.
    (folder / "split.json").unlink()
    with pytest.raises(FileNotFoundError, match="not a complete saved run"):
        TrainingResult.load(folder)


def test_unwritable_output_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cae_tutorial.data.load_record", lambda *a, **k: pytest.fail("loaded data first"))
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert main(["train", "--output", str(locked / "run")]) == 2
            one_line_error(capsys, "cannot write", "permission denied")
        finally:
            locked.chmod(0o700)
    # As root every folder is writable: simulate the refusal the file system gives a user.
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if "locked2" in str(self):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["train", "--output", str(tmp_path / "locked2" / "run")]) == 2
    one_line_error(capsys, "cannot write", "permission denied", "choose a folder")


# ---------------------------------------------------------------- tracebacks and wrong words


def test_predict_model_that_is_not_a_keras_model(tmp_path, capsys):
    text = tmp_path / "model.keras"
    text.write_text("not a model")
    frames = write_record(tmp_path / "rec") / "images"
    assert main(["predict", "--model", str(text), "--input", str(frames), "--output", str(tmp_path / "o")]) == 2
    err = one_line_error(capsys, "is not a Keras model", str(text))
    assert "not found" not in err.lower()
    assert main(["predict", "--model", str(tmp_path / "none.keras"), "--input", str(frames),
                 "--output", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "does not exist", "model.keras")


def test_oserror_at_output_is_one_line(tmp_path, capsys, monkeypatch, tiny_run):
    frames = write_record(tmp_path / "rec") / "images"

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "o" / "7_00001_mask.png"))

    monkeypatch.setattr(Image.Image, "save", denied)
    assert main(["predict", "--model", str(tiny_run), "--input", str(frames), "--output", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "7_00001_mask.png", "permission denied")


def test_ctrl_c_is_one_line_and_status_130(tmp_path, capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_train", interrupted)
    assert main(["train", "--output", str(tmp_path / "o")]) == 130
    one_line_error(capsys, "interrupted")


@pytest.mark.parametrize("argv, words", [
    (["train", "--epochs", "0"], ["--epochs", "positive"]),
    (["train", "--validate-every", "0"], ["--validate-every", "positive"]),
    (["train", "--epochs", "two"], ["--epochs", "int"]),
    (["train", "--height", "0"], ["--height", "positive multiple of 8"]),
    (["train", "--height", "-8"], ["--height", "positive multiple of 8"]),
    (["train", "--width", "30"], ["--width", "positive multiple of 8", "32"]),
    (["train", "--preset", "gpu"], ["--preset", "gpu"]),
    (["train", "--seed", "-1"], ["--seed"]),
    (["train", "--bogus"], ["--bogus"]),
    (["predict", "--threshold", "1.5", "--model", "m", "--input", "i"], ["--threshold", "between 0 and 1"]),
])
def test_bad_options_are_one_line_before_any_work(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cae_tutorial.data.load_record", lambda *a, **k: pytest.fail("loaded data first"))
    assert main([*argv, "--output", str(tmp_path / "o")]) == 2
    one_line_error(capsys, *words)
    assert not (tmp_path / "o").exists()


def test_data_dir_that_is_a_file_or_missing(tmp_path, capsys):
    (tmp_path / "a.zip").write_bytes(b"PK")
    assert main(["train", "--data", str(tmp_path / "a.zip"), "--output", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "--data", "is a file, not a folder")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_record(tmp_path / "a.zip")
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "--data", "does not exist")


def test_empty_images_folder_says_so(tmp_path, capsys):
    root = write_record(tmp_path / "rec")
    for path in (root / "images").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"images is empty"):
        load_record(root)
    assert main(["train", "--data", str(root), "--output", str(tmp_path / "o"), "--height", "16",
                 "--width", "8"]) == 2
    err = one_line_error(capsys, "images is empty")
    assert "unpaired" not in err
    (root / "images" / "readme.txt").write_text("frames go here")
    with pytest.raises(DataError, match=r"holds no \.png/\.jpg/\.jpeg files \(found readme\.txt\)"):
        load_record(root)


# ---------------------------------------------------------------- principles: read as a viewer shows it


def test_exif_orientation_of_a_jpeg_frame_is_applied(tmp_path):
    root = write_record(tmp_path, ids=IDS[:1])
    picture = np.zeros((8, 16, 3), np.uint8)  # stored landscape, shown portrait (rotated 90 degrees)
    picture[:, :8] = 255  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    (root / "images" / "7_00001.png").unlink()
    Image.fromarray(picture).save(root / "images" / "7_00001.jpg", exif=exif, quality=100)
    record = load_record(root, "7")  # the mask is 16 x 8 (portrait), as the viewer shows the frame
    shown = np.asarray(Image.open(root / "images" / "7_00001.jpg").transpose(Image.Transpose.ROTATE_270))
    assert record.images.shape == (1, 16, 8, 3)
    assert np.abs(record.images[0] * 255 - shown).max() <= 1
    assert record.images[0, :8].mean() > 0.9 and record.images[0, 8:].mean() < 0.1  # white on top


def test_sixteen_bit_frame_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full(SIZE, 32768, np.uint16)).save(path)
    image = read_image(path)
    assert image.shape == (*SIZE, 3) and image.mean() == pytest.approx(128 / 255, abs=0.01)


def test_palette_frame_with_transparency_and_note(tmp_path):
    root = write_record(tmp_path, ids=IDS[:1])
    rgba = np.zeros((*SIZE, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:8, :, 3] = 255  # lower half transparent
    Image.fromarray(rgba).save(root / "images" / "7_00001.png")
    record = load_record(root, "7")
    assert record.images[0, :8].mean() == pytest.approx(200 / 255, abs=0.01)
    assert record.images[0, 8:].max() == 0.0
    assert any("transparency" in note for note in record.notes)
    palette = Image.fromarray(np.full((*SIZE, 3), 120, np.uint8)).convert("P")
    palette.save(root / "images" / "7_00001.png")
    assert load_record(root, "7").images.mean() == pytest.approx(120 / 255, abs=0.01)


def test_jpeg_mask_noise_is_not_person(tmp_path):
    root = write_record(tmp_path, ids=IDS[:1])
    mask = np.zeros(SIZE, np.uint8)
    mask[4:12, 2:6] = 255
    (root / "masks" / "7_00001.png").unlink()
    Image.fromarray(mask).save(root / "masks" / "7_00001.jpg", quality=60)
    record = load_record(root, "7")
    assert abs(record.masks.sum() - 32) <= 4  # lossy edges, not a frame full of "person"
    assert any("JPEG masks" in note for note in record.notes)


def test_what_the_loader_skips_is_reported(tmp_path):
    root = write_record(tmp_path)
    (root / "images" / ".DS_Store").write_bytes(b"\0\0")
    (root / "images" / "._7_00001.png").write_bytes(b"\0\5\x16\7")  # macOS resource fork from a zip
    (root / "images" / "df.csv").write_text("id\n")
    (root / "images" / "old").mkdir()
    (root / "masks" / "Thumbs.db").write_bytes(b"x")
    (root / "images" / "7_00004.bmp").write_bytes(b"BM")
    write_record(tmp_path, ids=("8_00001",))
    record = load_record(root, "7")
    assert record.ids == IDS
    notes = " | ".join(record.notes)
    for words in ("hidden files: 2 file(s)", "images/._7_00001.png", "images/.DS_Store", "df.csv", "Thumbs.db", "7_00004.bmp",
                  "subfolders", "other records: 2 file(s)"):
        assert words in notes, (words, notes)
    assert ".DS_Store" in notes or "hidden" in notes
    assert "note: skipped" in repr(record)


def test_upper_case_extensions_pair_with_lower_case(tmp_path):
    root = write_record(tmp_path)
    (root / "images" / "7_00002.png").rename(root / "images" / "7_00002.PNG")
    assert load_record(root, "7").ids == IDS


def test_a_frame_in_two_formats_is_an_error(tmp_path):
    root = write_record(tmp_path)
    Image.open(root / "images" / "7_00002.png").save(root / "images" / "7_00002.jpg")
    with pytest.raises(DataError, match=r"7_00002\.jpg.*same frame in two formats|7_00002\.png.*two formats"):
        load_record(root, "7")


def test_an_extra_mask_is_unpaired_and_named(tmp_path):
    root = write_record(tmp_path)
    Image.open(root / "masks" / "7_00002.png").save(root / "masks" / "7_00009.png")
    with pytest.raises(DataError, match=r"unpaired.*7_00009\.png"):
        load_record(root, "7")


def test_resize_probabilities_shapes_and_values():
    plane = np.zeros((4, 2), np.float32)
    plane[:2] = 1.0
    big = resize_probabilities(plane, (8, 4))
    assert big.shape == (8, 4) and big.dtype == np.float32
    assert big[0].min() == 1.0 and big[-1].max() == 0.0 and 0 < big[3:5].mean() < 1
    assert resize_probabilities(plane[..., None], (8, 4)).shape == (8, 4, 1)
    assert resize_probabilities(np.stack([plane[..., None]] * 2), (6, 3)).shape == (2, 6, 3, 1)
    with pytest.raises(DataError, match="shape"):
        resize_probabilities(np.zeros((2, 2, 3)), (4, 4))


def test_predict_writes_masks_at_each_frames_own_size(tmp_path, capsys, tiny_run):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray(np.full((40, 24, 3), 90, np.uint8)).save(frames / "big.png")
    Image.fromarray(np.full((10, 6, 3), 90, np.uint8)).save(frames / "small.jpg")
    assert main(["predict", "--model", str(tiny_run), "--input", str(frames), "--output", str(tmp_path / "o")]) == 0
    for frame_id, size in (("big", (24, 40)), ("small", (6, 10))):
        mask = Image.open(tmp_path / "o" / f"{frame_id}_mask.png")
        assert mask.size == size and set(mask.getdata()) <= {0, 255}
        assert Image.open(tmp_path / "o" / f"{frame_id}_overlay.png").size == size
    assert read_frames(frames, SIZE).sizes == ((40, 24), (10, 6))


def test_unreadable_frame_is_named(tmp_path):
    root = write_record(tmp_path)
    (root / "images" / "7_00002.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"7_00002\.png is not a readable image"):
        load_record(root, "7")


def test_cli_train_prints_notes_and_no_heldout_line(tmp_path, capsys):
    root = write_record(tmp_path / "rec")
    (root / "images" / ".DS_Store").write_bytes(b"\0")
    code = main(["train", "--data", str(root), "--record", "7", "--preset", "seed", "--epochs", "1",
                 "--height", "16", "--width", "8", "--train-ids", *IDS, "--output", str(tmp_path / "run")])
    assert code == 0
    captured = capsys.readouterr()
    assert "note: skipped hidden files" in captured.out
    assert "none is held out" in captured.out and "held-out metrics" not in captured.out
    warned = [line for line in captured.err.splitlines() if "warning:" in line]
    assert warned == ["cae-tutorial train: warning: the split holds out no frames (all 3 train): there will be no "
                      "held-out scores (val_*); hold some frames out to measure the model on frames it has not seen"]
    assert json.loads((tmp_path / "run" / "split.json").read_text())["heldout_ids"] == []


@pytest.fixture(scope="module")
def tiny_result_small(tmp_path_factory):
    """One epoch on a 3-frame 16 x 8 record, two frames trained and one held out."""
    record = load_record(write_record(tmp_path_factory.mktemp("rec")), "7")
    return train_tiny(record, split_by_ids(record, IDS[:2]))


@pytest.fixture(scope="module")
def tiny_run(tiny_result_small, tmp_path_factory):
    """The saved model.keras of tiny_result_small (16 x 8 input)."""
    return tiny_result_small.save(tmp_path_factory.mktemp("runs") / "run") / "model.keras"
