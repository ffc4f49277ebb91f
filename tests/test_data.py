"""Loading records, resizing, pairing, splitting, and the errors bad input gets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import write_record

from cae_tutorial.data import (DataError, Split, check_size, embedded_record_path, load_record, read_frames,
                               read_mask, seed_split, split_by_ids)


def test_embedded_record_loads_like_any_record():
    record = load_record(embedded_record_path(), "dance", size=(96, 48))
    assert len(record) == 10
    assert record.images.shape == (10, 96, 48, 3) and record.images.dtype == np.float32
    assert record.masks.shape == (10, 96, 48, 1) and record.masks.dtype == np.float32
    assert set(np.unique(record.masks)) == {0.0, 1.0}
    assert 0.0 <= record.images.min() and record.images.max() <= 1.0
    assert list(record.ids) == sorted(record.ids)
    # Like record 136, the person covers a minority of the pixels.
    assert 0.05 < record.masks.mean() < 0.25


def test_native_size_and_mask_formats(tmp_path):
    for mode in ("L", "RGB", "RGBA", "P", "1"):
        record = load_record(write_record(tmp_path / mode, mask_mode=mode), "7")
        assert record.masks.shape == (2, 16, 8, 1)
        assert record.masks.sum() == 2 * 8 * 4, mode


def test_jpeg_frames_and_nonzero_rgb_mask(tmp_path):
    root = tmp_path / "jpg"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.full((16, 8, 3), 200, np.uint8)).save(root / "images" / "9_00001.jpg")
    mask = np.zeros((16, 8, 3), np.uint8)
    mask[0, 0] = (0, 0, 1)  # any nonzero channel is person
    Image.fromarray(mask).save(root / "masks" / "9_00001.png")
    # Image and mask pair by stem, whatever the extension.
    record = load_record(root, "9")
    assert record.ids == ("9_00001",) and record.masks.sum() == 1


def test_resize_keeps_masks_binary_and_edges_in_place(tmp_path):
    record = load_record(write_record(tmp_path), "7", size=(32, 16))
    assert set(np.unique(record.masks)) == {0.0, 1.0}
    assert record.masks[0, 8:24, 4:12].all() and record.masks.sum() == 2 * 16 * 8


def test_record_prefix_selects_frames(tmp_path):
    root = write_record(tmp_path, ids=("7_00001", "7_00002", "8_00001"))
    assert load_record(root, "7").ids == ("7_00001", "7_00002")
    assert load_record(root, "8").ids == ("8_00001",)


def test_seed_split_on_real_ids_and_named_split():
    record = load_record(size=(64, 32))
    split = seed_split(record)
    assert split.train_ids == ("dance_00090", "dance_00210", "dance_00420")
    assert len(split.heldout_ids) == 7 and not set(split.train_ids) & set(split.heldout_ids)
    assert Split.from_dict(split.to_dict()) == split
    assert record.subset(split.train_ids).images.shape[0] == 3


def test_missing_folder_names_it(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_record(tmp_path / "nowhere")
    with pytest.raises(DataError, match="masks"):
        (tmp_path / "only_images" / "images").mkdir(parents=True)
        load_record(tmp_path / "only_images")


def test_unknown_prefix_lists_the_prefixes_found(tmp_path):
    with pytest.raises(DataError, match=r"no frames for record '136'.*'7'"):
        load_record(write_record(tmp_path), "136")


def test_unpaired_files_are_named(tmp_path):
    root = write_record(tmp_path)
    (root / "masks" / "7_00002.png").unlink()
    with pytest.raises(DataError, match=r"unpaired.*7_00002\.png"):
        load_record(root, "7")
    write_record(tmp_path)
    (root / "images" / "7_00001.png").unlink()
    with pytest.raises(DataError, match=r"unpaired.*masks/7_00001\.png"):
        load_record(root, "7")


def test_corrupt_image_is_named(tmp_path):
    root = write_record(tmp_path)
    (root / "images" / "7_00002.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"7_00002\.png is not a readable image"):
        load_record(root, "7")
    with pytest.raises(DataError, match=r"7_00002\.png is not a readable image"):
        load_record(root, "7", size=(16, 8))


def test_mask_of_another_size_is_named(tmp_path):
    root = write_record(tmp_path)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "masks" / "7_00001.png")
    for size in (None, (16, 8)):
        with pytest.raises(DataError, match=r"masks/7_00001\.png is 10 x 10.*must match"):
            load_record(root, "7", size=size)


def test_frames_of_different_sizes_are_named_height_by_width(tmp_path):
    root = write_record(tmp_path, ids=("7_00001",), size=(16, 8))
    write_record(tmp_path, ids=("7_00002",), size=(24, 8))  # taller, as wide
    with pytest.raises(DataError, match=r"7_00002\.png is 24 x 8 \(height x width\) but .*7_00001\.png is "
                                        r"16 x 8; pass size=\(height, width\)"):
        load_record(root, "7")
    assert load_record(root, "7", size=(16, 8)).images.shape == (2, 16, 8, 3)  # the fix the line names works


@pytest.mark.parametrize("size", [(100, 50), (64, 30), (0, 8), (-8, 8)])
def test_size_not_divisible_by_8(size):
    with pytest.raises(DataError, match="positive multiple of 8"):
        load_record(size=size)


@pytest.mark.parametrize("size", [64, (64.0, 32), ("64", 32), (64, 32, 3)])
def test_size_of_wrong_type(size):
    with pytest.raises(DataError, match="size"):
        check_size(size)


def test_empty_training_split(tiny_record):
    with pytest.raises(DataError, match="training split is empty"):
        split_by_ids(tiny_record, [])
    with pytest.raises(DataError, match="training split is empty"):
        seed_split(tiny_record.subset(["dance_00060", "dance_00120"]))
    with pytest.raises(DataError, match="not in this record"):
        split_by_ids(tiny_record, ["136_00090"])


def test_read_mask_threshold_on_resize(tmp_path):
    path = tmp_path / "m.png"
    Image.fromarray(np.eye(8, dtype=np.uint8) * 255).save(path)
    mask = read_mask(path, (16, 16))
    assert mask.shape == (16, 16, 1) and set(np.unique(mask)) <= {0.0, 1.0}


def test_read_frames_for_prediction(tmp_path):
    root = write_record(tmp_path)
    frames = read_frames(root / "images", (16, 8))
    assert frames.ids == ("7_00001", "7_00002") and frames.images.shape == (2, 16, 8, 3)
    assert frames.sizes == ((16, 8), (16, 8)) and frames.paths[0] == root / "images" / "7_00001.png"
    with pytest.raises(DataError, match="does not exist"):
        read_frames(tmp_path / "missing.png", (16, 8))


def test_readme_states_the_person_share_of_the_embedded_frames():
    """README's Loss section quotes the range of the person's share of the pixels; it is the embedded record's."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = re.search(r"only ([\d.]+) to ([\d.]+) % of the pixels of the embedded record's frames\s+are person, "
                      r"at (\d+) x (\d+)", readme)
    assert found, "README no longer states the person share as the test expects"
    low, high, height, width = float(found[1]), float(found[2]), int(found[3]), int(found[4])
    share = load_record(size=(height, width)).masks.mean(axis=(1, 2, 3)) * 100
    assert (low, high) == (round(float(share.min()), 1), round(float(share.max()), 1))
