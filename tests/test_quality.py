"""Scoring what users see: masks at the frames' original size; progressive resizing in the training data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image

from cae_tutorial.data import (
    DataError,
    Record,
    Split,
    load_record,
    resize_probabilities,
)
from cae_tutorial.data import read_originals
from cae_tutorial.results import Snapshots, TrainingResult

ORIGINAL = (100, 60)  # not a multiple of 8, like most real frames
MODEL = (64, 32)


def red_is_person_model(size) -> keras.Model:
    """A stand-in model: the red channel is the person probability (no training needed)."""
    inputs = keras.Input((*size, 3))
    return keras.Model(inputs, keras.layers.Lambda(lambda x: x[..., :1])(inputs))


@pytest.fixture
def red_record(tmp_path):
    """Three frames at 100 x 60 whose person (a red ellipse) is the mask, loaded at the model's 64 x 32."""
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    y, x = np.mgrid[:ORIGINAL[0], :ORIGINAL[1]]
    for i in range(3):
        person = ((y - 50 - 5 * i) / 35.0) ** 2 + ((x - 30) / 15.0) ** 2 <= 1
        image = np.zeros((*ORIGINAL, 3), np.uint8)
        image[..., 0] = person * 255
        image[..., 2] = 90
        Image.fromarray(image).save(tmp_path / "images" / f"r_{i:05d}.png")
        Image.fromarray(person.astype(np.uint8) * 255).save(tmp_path / "masks" / f"r_{i:05d}.png")
    return load_record(tmp_path, size=MODEL)


def result_for(record: Record) -> TrainingResult:
    """A TrainingResult around the stand-in model, holding out every frame but the first."""
    empty = Snapshots(np.zeros(0, int), (), np.zeros((0, 1, 1, 3)), np.zeros((0, 1, 1)), np.zeros((0, 0, 1, 1)))
    return TrainingResult({}, empty, Split(record.ids[:1], record.ids[1:]), {}, red_is_person_model(record.size))


def test_resize_probabilities_keeps_layout_and_range():
    probabilities = np.zeros((8, 4, 1), np.float32)
    probabilities[:, 2:] = 1.0
    resized = resize_probabilities(probabilities, (100, 60))
    assert resized.shape == (100, 60, 1) and resized.dtype == np.float32
    assert resized.min() >= 0.0 and resized.max() <= 1.0
    assert resized[:, :20].max() < 0.5 < resized[:, 40:].min()  # the edge stays in the middle
    assert resize_probabilities(probabilities[..., 0], (16, 8)).shape == (16, 8)
    with pytest.raises(DataError, match="probabilities"):
        resize_probabilities(np.zeros((8, 4, 2)), (16, 8))
    assert resize_probabilities(np.zeros((2, 8, 4, 1)), (16, 8)).shape == (2, 16, 8, 1)  # a batch of frames


def test_original_masks_are_read_at_their_own_size(red_record):
    masks = read_originals(red_record, "masks")
    assert [m.shape for m in masks] == [(*ORIGINAL, 1)] * 3
    assert read_originals(Record(red_record.ids, red_record.images, red_record.masks, None), "masks") is None
    assert read_originals(Record(red_record.ids, red_record.images, red_record.masks, None), "images") is None
    with pytest.raises(ValueError, match="kind must be 'images' or 'masks'"):
        read_originals(red_record, "frames")


def test_evaluate_scores_at_original_resolution_by_default(red_record):
    result = result_for(red_record)
    original = result.evaluate(red_record)
    assert original.resolution == "original 100 x 60"
    assert [row.frame_id for row in original] == list(red_record.ids[1:])
    model = result.evaluate(red_record, resolution="model")
    assert model.resolution == "model 64 x 32"
    # The stand-in predicts the person exactly; at original size only the upscaled outline can be off: resized
    # bilinearly it is, guided by the frame's sharp red edge (the default) it is back on the outline.
    assert model.mean("iou") == pytest.approx(1.0)
    assert 0.85 < result.evaluate(red_record, upsampling="bilinear").mean("iou") < 1.0
    assert original.upsampling == "guided" and original.mean("iou") > 0.99


def test_evaluate_without_originals_falls_back_or_explains(red_record):
    detached = Record(red_record.ids, red_record.images, red_record.masks, None)
    result = result_for(detached)
    assert result.evaluate(detached).resolution == "model 64 x 32"
    with pytest.raises(DataError, match="resolution='model'"):
        result.evaluate(detached, resolution="original")
    with pytest.raises(ValueError, match="'original' or 'model'"):
        result.evaluate(detached, resolution="full")


def test_evaluate_reads_the_real_frames_at_960_by_540():
    from conftest import real_record_or_skip

    record = load_record(real_record_or_skip(), size=MODEL)
    table = result_for(record).evaluate(record, frame_ids=record.ids[:2])
    assert table.resolution == "original 960 x 540" and len(table) == 2


def test_progressive_dataset_starts_small_then_full_size(tiny_record):
    from cae_tutorial.pipeline import frames_dataset
    from cae_tutorial.presets import get_preset

    preset = get_preset("cpu", height=64, width=32, epochs=5, steps_per_epoch=2)  # scale 2, 80 %: 4 small epochs
    assert (preset.small_size, preset.small_epochs) == ((32, 16), 4)
    part = tiny_record.subset(tiny_record.ids[:3])
    shapes = [tuple(x.shape[1:3]) for x, _ in frames_dataset(part.images, part.masks, preset).take(10)]
    assert shapes == [(32, 16)] * 8 + [(64, 32)] * 2
    with pytest.raises(ValueError, match="steps_per_epoch"):
        frames_dataset(part.images, part.masks, preset.with_(steps_per_epoch=None))


def test_progressive_sizes_follow_overrides():
    from cae_tutorial.presets import get_preset

    assert get_preset("cpu").small_size == (128, 72) and get_preset("cpu").small_epochs == 180
    assert get_preset("cpu", epochs=40).small_epochs == 30
    assert get_preset("cpu", height=512, width=256).small_size == (256, 128)
    tiny = get_preset("cpu", height=48, width=24)  # half of it (24 x 12) does not divide by 8
    assert tiny.small_size is None and tiny.small_epochs == 0
    assert get_preset("seed").small_epochs == 0


@pytest.mark.slow
def test_progressive_training_runs_and_predicts_at_full_size(tiny_record):
    from cae_tutorial.data import seed_split
    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import TrainOptions, build_model, train

    preset = get_preset("cpu", height=64, width=32, epochs=30, steps_per_epoch=1, filters=(4, 8, 8))
    result = train(build_model(preset), tiny_record, seed_split(tiny_record), preset.with_(epochs=3), progress=False,
                   options=TrainOptions(snapshot_epochs=(3,)))
    assert len(result.history["loss"]) == 3  # 2 epochs at 32 x 16 (80 % of the 3 run), then 1 at 64 x 32
    assert result.snapshots.predictions.shape[-2:] == (64, 32)
    assert result.preset.epochs == 3 and result.preset.small_epochs == 2


def test_flip_average_predicts_the_mirror_and_mirrors_back(red_record):
    from cae_tutorial.evaluation import predict

    width = red_record.size[1]
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, None, :, None]
    inputs = keras.Input((*red_record.size, 3))
    # A model that favours the right side: the mirrored pass favours the left, so the average is even.
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x[..., :1] * ramp)(inputs))
    plain = predict(model, red_record.images)
    averaged = predict(model, red_record.images, flip_average=True)
    red = red_record.images[..., :1]
    np.testing.assert_allclose(plain, red * ramp, atol=1e-6)
    np.testing.assert_allclose(averaged, red * (ramp + ramp[:, :, ::-1]) / 2, atol=1e-6)
