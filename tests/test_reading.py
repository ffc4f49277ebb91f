"""The same files read two ways (issue 22): load_record (in memory) and the stream (list_record_files ->
decoded_dataset) go through one reader, so every case of README's Data section gives the same pixels, the same
notes and the same named errors in both. Tiny generated files; no training except one CLI run at 16 x 8."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cae_tutorial import reading
from cae_tutorial.data import DataError, Split, load_record
from cae_tutorial.pipeline import decoded_dataset, list_record_files, named_file_errors, streaming_dataset
from cae_tutorial.training import check_split

H, W = 40, 24  # every file's shown size (height, width): a multiple of 8, so it is also read at its own size
PERSON = np.zeros((H, W), bool)
PERSON[8:30, 6:18] = True


def rgb(seed: int) -> np.ndarray:
    """A random RGB picture of the shown size."""
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def exif_rotated_jpeg(path: Path) -> None:
    """A JPEG stored landscape (W x H swapped) whose EXIF says: turn 90 degrees clockwise to show it (portrait)."""
    stored = np.zeros((W, H, 3), np.uint8)
    stored[:, : H // 2] = 255  # left half white as stored: the top half once shown
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, exif=exif, quality=95)


def rgba_cutout() -> Image.Image:
    """A cut-out frame: the person opaque, the rest transparent white (as background-removal tools export)."""
    rgba = np.full((H, W, 4), 255, np.uint8)
    rgba[..., :3] = rgb(3)
    rgba[~PERSON] = (255, 255, 255, 0)
    rgba[PERSON.nonzero()[0][:5], PERSON.nonzero()[1][:5], 3] = 128  # a few half-transparent pixels
    return Image.fromarray(rgba, "RGBA")


def mask_l() -> Image.Image:
    return Image.fromarray(PERSON.astype(np.uint8) * 255)


def mask_alpha_only() -> Image.Image:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = PERSON * 255  # black person on a transparent background: the colour channels are all zero
    return Image.fromarray(rgba, "RGBA")


def mask_transparent_white() -> Image.Image:
    rgba = np.full((H, W, 4), 255, np.uint8)
    rgba[..., 3] = PERSON * 255  # white everywhere, only the person opaque
    return Image.fromarray(rgba, "RGBA")


def mask_dark_rgb() -> Image.Image:
    values = np.zeros((H, W, 3), np.uint8)
    values[..., 2] = PERSON * 7  # a barely visible blue is still person
    return Image.fromarray(values)


def mask_opaque_rgba() -> Image.Image:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = 255  # opaque black background stays background
    rgba[..., 0] = PERSON * 200
    return Image.fromarray(rgba, "RGBA")


def mask_palette() -> Image.Image:
    palette = Image.fromarray(PERSON.astype(np.uint8), "P")
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    return palette


def save_palette_with_transparent_index(path: Path) -> None:
    mask = Image.fromarray(PERSON.astype(np.uint8), "P")
    mask.putpalette([255, 255, 255, 255, 255, 255] + [0] * 762)  # both entries white, entry 0 transparent
    mask.save(path, transparency=0)


def save_palette_frame_with_transparency(path: Path) -> None:
    frame = Image.fromarray(rgb(5)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    frame.save(path, transparency=0)


def save_animated(path: Path) -> None:
    first, second = Image.fromarray(rgb(6)), Image.fromarray(rgb(7))
    first.save(path, save_all=True, append_images=[second], duration=100)


#: One frame per case of README's Data section: id -> (frame file name, writer, mask file name, writer, notes).
CASES = {
    "7_00001": ("7_00001.png", lambda p: Image.fromarray(rgb(1)).save(p), "7_00001.png", lambda p: mask_l().save(p),
                ()),
    "7_00002": ("7_00002.PNG", lambda p: rgba_cutout().save(p), "7_00002.png",
                lambda p: mask_transparent_white().save(p), ("transparency", "transparent")),
    "7_00003": ("7_00003.png", lambda p: Image.fromarray(rgb(2)).convert("L").save(p), "7_00003.png",
                lambda p: mask_alpha_only().save(p), ("alpha",)),
    "7_00004": ("7_00004.png", lambda p: Image.fromarray(rgb(4)).convert("P").save(p), "7_00004.png",
                lambda p: mask_palette().save(p), ()),
    "7_00005": ("7_00005.png", save_palette_frame_with_transparency, "7_00005.png",
                save_palette_with_transparent_index, ("transparency", "transparent")),
    "7_00006": ("7_00006.png", lambda p: Image.fromarray(np.full((H, W), 32768, np.uint16)).save(p), "7_00006.png",
                lambda p: Image.fromarray(PERSON.astype(np.uint16) * 65535).save(p), ("sixteen",)),
    "7_00007": ("7_00007.JPG", exif_rotated_jpeg, "7_00007.png", lambda p: mask_l().save(p), ()),
    "7_00008": ("7_00008.png", lambda p: Image.fromarray(rgb(8)).convert("LA").save(p), "7_00008.jpeg",
                lambda p: mask_l().save(p, quality=60), ("transparency", "jpeg")),
    "7_00009": ("7_00009.jpg", lambda p: Image.fromarray(rgb(9)).save(p, quality=90), "7_00009.png",
                lambda p: mask_dark_rgb().save(p), ()),
    "7_00010": ("7_00010.png", lambda p: Image.fromarray(rgb(10)).save(p), "7_00010.png",
                lambda p: mask_opaque_rgba().save(p), ()),
    "7_00011": ("7_00011.png", lambda p: Image.fromarray(rgb(11)).save(p), "7_00011.png",
                lambda p: mask_l().convert("1").save(p), ()),
    "7_00012": ("7_00012.png", lambda p: Image.fromarray(rgb(12)).save(p), "7_00012.png",
                lambda p: Image.fromarray(np.zeros((H, W), np.uint8)).save(p), ("empty",)),
    "7_00013": ("7_00013.png", save_animated, "7_00013.png", lambda p: mask_l().save(p), ("frames",)),
}


def write_cases(root: Path, cases=CASES) -> Path:
    """A record folder holding the cases, plus files the loader skips (and says so)."""
    for kind in ("images", "masks"):
        (root / kind).mkdir(parents=True, exist_ok=True)
    for frame_name, write_frame, mask_name, write_mask, _ in cases.values():
        write_frame(root / "images" / frame_name)
        write_mask(root / "masks" / mask_name)
    (root / "images" / ".DS_Store").write_bytes(b"\0\0")
    (root / "masks" / "df.csv").write_text("id\n")
    (root / "images" / "old").mkdir()
    Image.fromarray(rgb(0)).save(root / "images" / "8_00001.png")  # another record
    mask_l().save(root / "masks" / "8_00001.png")
    return root


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    return write_cases(tmp_path_factory.mktemp("cases"))


def streamed(files, cache=None):
    """Every frame of the decoded stream, in order, as two float32 arrays."""
    with named_file_errors():
        pairs = list(decoded_dataset(files, cache=cache).as_numpy_iterator())
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


@pytest.mark.parametrize("size", [(H, W), (16, 8)], ids=["own size", "resized"])
def test_every_case_gives_the_same_pixels_and_notes_both_ways(cases, size):
    record, files = load_record(cases, "7", size=size), list_record_files(cases, "7", size=size)
    assert files.ids == record.ids == tuple(CASES)
    images, masks = streamed(files)
    for i, frame_id in enumerate(record.ids):  # pixel by pixel, frame by frame, so a failure names the case
        assert np.array_equal(images[i], record.images[i]), frame_id
        assert np.array_equal(masks[i], record.masks[i]), frame_id
    cached_images, cached_masks = streamed(files, cache="memory")
    assert np.array_equal(cached_images, record.images) and np.array_equal(cached_masks, record.masks)
    batch = next(iter(streaming_dataset(files, _preset(size), training=False, batch_size=len(files))))
    assert np.array_equal(batch[0].numpy(), record.images) and np.array_equal(batch[1].numpy(), record.masks)
    assert files.load().images.tolist() == record.images.tolist()
    # The same notes, printed the same way, and every kind of reinterpretation is among them.
    assert files.notes == record.notes
    assert "\n".join(repr(record).splitlines()[1:]) == "\n".join(repr(files).splitlines()[1:])
    for kind in reading.READ_NOTES:
        assert any(note.startswith(reading.READ_NOTES[kind]) for note in record.notes), kind
    for kind, line in reading.READ_NOTES.items():  # each note names exactly the cases that expect it
        expected = [i for i, case in CASES.items() if kind in case[4]]
        note = next(n for n in record.notes if n.startswith(line))
        assert f": {len(expected)} file(s): " in note and all(i in note for i in expected[:3]), (kind, note)
    for words in ("skipped hidden files", "df.csv", "subfolders", "other records"):
        assert any(words in note for note in files.notes), words
    assert files.empty_masks() == record.empty_masks() == ["7_00012"]


def test_every_case_reads_as_the_readme_says(cases):
    """Both paths agree (above); here, what they agree on is what README's Data section promises."""
    record = load_record(cases, "7", size=(H, W))
    mask = {frame_id: record.masks[i, ..., 0].astype(bool) for i, frame_id in enumerate(record.ids)}
    image = {frame_id: record.images[i] for i, frame_id in enumerate(record.ids)}
    for frame_id in ("7_00001", "7_00002", "7_00003", "7_00004", "7_00005", "7_00006", "7_00009", "7_00010",
                     "7_00011", "7_00013"):
        assert np.array_equal(mask[frame_id], PERSON), frame_id  # colour, alpha, palette, 16-bit, 1-bit masks
    assert np.mean(mask["7_00008"] != PERSON) < 0.02  # a JPEG mask: a few lossy edge pixels at most
    assert not mask["7_00012"].any()
    assert image["7_00002"][~PERSON].max() == 0.0  # transparent white background shown over black
    assert np.allclose(image["7_00002"][10, 10], rgb(3)[10, 10] / 255)  # the opaque person keeps its colour
    assert image["7_00006"].mean() == pytest.approx(128 / 255, abs=0.01)  # 16-bit scaled, not clipped
    assert image["7_00007"][: H // 2].mean() > 0.9 and image["7_00007"][H // 2:].mean() < 0.1  # EXIF applied
    assert np.allclose(image["7_00013"], rgb(6) / 255)  # the first frame of an animation


def _preset(size):
    from cae_tutorial.presets import get_preset

    return get_preset("seed", height=size[0], width=size[1], epochs=1)


def _one_case(root: Path, frame_id: str = "7_00001") -> Path:
    """A record of the plain case and one more plain frame, to be spoiled by a test."""
    plain = CASES["7_00001"]
    return write_cases(root, {frame_id: plain, "7_00002": ("7_00002.png", plain[1], "7_00002.png", plain[3], ())})


def _spoil(root: Path, how: str) -> None:
    """Spoil frame 7_00001 (or its mask) of a _one_case record the way `how` says."""
    frame, mask = root / "images" / "7_00001.png", root / "masks" / "7_00001.png"
    if how == "half-size mask":
        mask_l().resize((W // 2, H // 2)).save(mask)
    elif how == "rotated frame, unrotated mask":
        frame.unlink()
        exif_rotated_jpeg(root / "images" / "7_00001.jpg")
        mask_l().resize((H, W)).save(mask)  # the stored (landscape) size, not the shown one
    elif how == "empty frame file":
        frame.write_bytes(b"")
    elif how == "not an image":
        frame.write_text("this is text")
    elif how == "truncated mask":
        data = mask.read_bytes()
        mask.write_bytes(data[: len(data) // 2])


def _error(call) -> str:
    """The message of the DataError a call raises."""
    with pytest.raises(DataError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("how", ["half-size mask", "rotated frame, unrotated mask", "empty frame file",
                                 "not an image", "truncated mask"])
def test_bad_files_are_the_same_named_error_when_listed_as_when_loaded(tmp_path, how):
    root = _one_case(tmp_path)
    _spoil(root, how)
    loaded = _error(lambda: load_record(root, "7", size=(16, 8)))
    listed = _error(lambda: list_record_files(root, "7", size=(16, 8)))  # streaming checks it before any step
    assert loaded == listed
    assert "7_00001" in loaded and ("replace or remove it" in loaded or "masks must match their image" in loaded)


def test_a_truncated_frame_fails_mid_stream_with_the_error_load_record_gives(tmp_path):
    root = _one_case(tmp_path)
    frame = root / "images" / "7_00001.png"
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) // 2])  # the header is whole: the listing cannot tell, the decoding can
    loaded = _error(lambda: load_record(root, "7", size=(16, 8)))
    files = list_record_files(root, "7", size=(16, 8))
    streamed_error = _error(lambda: streamed(files))
    assert streamed_error == loaded and "7_00001.png is not a readable image" in loaded and "truncated" in loaded
    # Outside named_file_errors it is TensorFlow's error, which still carries the line.
    import tensorflow as tf

    with pytest.raises(tf.errors.OpError, match=re.escape(loaded)):
        list(decoded_dataset(files, cache=None).as_numpy_iterator())


def test_empty_training_masks_are_refused_or_warned_the_same_both_ways(tmp_path):
    root = write_cases(tmp_path, {i: ("{}.png".format(i), CASES["7_00001"][1], "{}.png".format(i), w, ())
                                  for i, w in (("7_00001", CASES["7_00012"][3]), ("7_00002", CASES["7_00012"][3]),
                                               ("7_00003", CASES["7_00001"][3]), ("7_00004", CASES["7_00012"][3]))})
    record, files = load_record(root, "7", size=(16, 8)), list_record_files(root, "7", size=(16, 8))
    every_empty = Split(("7_00001", "7_00002"), ("7_00003",))
    messages = [_error(lambda: check_split(data, every_empty)) for data in (record, files)]
    assert messages[0] == messages[1] and "every training mask is all background" in messages[0]
    some_empty = Split(("7_00001", "7_00003"), ("7_00004",))
    caught = []
    for data in (record, files):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            check_split(data, some_empty)
        caught.append([str(w.message) for w in seen])
    assert caught[0] == caught[1] and len(caught[0]) == 2
    assert "training frames ['7_00001']" in caught[0][0] and "held-out frames ['7_00004']" in caught[0][1]


def test_cli_train_stream_prints_notes_and_a_truncated_frame_is_one_line(tmp_path, capsys):
    from cae_tutorial.cli import main

    plain = CASES["7_00001"]
    cases = {i: CASES[i] for i in ("7_00001", "7_00002", "7_00003")}
    cases.update({i: (f"{i}.png", plain[1], f"{i}.png", plain[3], ()) for i in ("7_00004", "7_00005", "7_00006")})
    root = write_cases(tmp_path / "rec", cases)
    frame = root / "images" / "7_00005.png"  # a training frame that is not among the 4 shown in the snapshots
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) // 2])
    code = main(["train", "--data", str(root), "--record", "7", "--stream", "--preset", "seed", "--epochs", "2",
                 "--height", "16", "--width", "8", "--train-ids", "7_00001", "7_00002", "7_00003", "7_00004", "7_00005",
                 "--output",
                 str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code == 2, captured
    for words in ("note: skipped hidden files", "note: masks whose colour channels are empty", "note: frames with "
                  "transparency"):
        assert captured.out.count(words) == 1, (words, captured.out)  # printed once, when the files are listed
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in captured.err, captured.err
    assert "7_00005.png is not a readable image" in err[0] and "replace or remove it" in err[0]
    assert not (tmp_path / "run").exists()
