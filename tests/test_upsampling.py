"""Edge-aware upsampling: the guided filter keeps what is flat, puts a blurred outline on the frame's edge."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from cae_tutorial import upsampling
from cae_tutorial.data import DataError, resize_probabilities
from cae_tutorial.upsampling import box_mean, gray_guided_filter, guided_filter, guided_upsample, upsample

FULL = (96, 60)  # (height, width) of the "original" frame
COARSE = (24, 15)  # the model's size: 4 times smaller
EDGE = 37  # the frame's edge: columns < EDGE are dark, the rest bright


def step_frame(edge: int = EDGE) -> np.ndarray:
    """A frame (FULL, 3): dark left of column edge, bright right of it, a little texture on both sides."""
    rng = np.random.default_rng(0)
    frame = np.full((*FULL, 3), 0.2, np.float32)
    frame[:, edge:] = (0.9, 0.7, 0.6)
    return np.clip(frame + rng.normal(0, 0.01, frame.shape).astype(np.float32), 0, 1)


def blurred_step() -> np.ndarray:
    """Coarse probabilities of 'the right part is the person', blurred, their 0.5 a few pixels off the edge."""
    x = (np.arange(COARSE[1]) + 0.5) * FULL[1] / COARSE[1]
    ramp = 1 / (1 + np.exp(-(x - EDGE - 3) / 3.0))
    return np.tile(ramp, (COARSE[0], 1)).astype(np.float32)


def steepest_step(probability: np.ndarray) -> tuple[int, float]:
    """Where (the column right of it) and how much the probability rises most between neighbouring columns."""
    rise = np.diff(probability.mean(axis=0))
    return int(np.argmax(rise)) + 1, float(rise.max())


def test_box_mean_is_the_window_mean():
    values = np.random.default_rng(1).random((9, 11)).astype(np.float32)
    assert box_mean(values, 1)[4, 5] == pytest.approx(values[3:6, 4:7].mean(), rel=1e-5)
    assert box_mean(np.ones((5, 4, 3), np.float32), 2).shape == (5, 4, 3)


@pytest.mark.parametrize("gray", [True, False])
@pytest.mark.parametrize("subsample", [1, 2, 4])
def test_a_constant_probability_stays_constant(gray, subsample):
    frame = np.random.default_rng(2).random((*FULL, 3)).astype(np.float32)
    out = guided_upsample(np.full(COARSE, 0.7, np.float32), frame, radius=4, eps=1e-3, subsample=subsample, gray=gray)
    np.testing.assert_allclose(out, 0.7, atol=1e-4)


def test_guided_filter_of_the_guide_itself_with_tiny_eps_is_the_guide():
    frame = step_frame()
    gray = frame @ upsampling.LUMA
    np.testing.assert_allclose(guided_filter(gray, gray, 3, 1e-8), gray, atol=1e-3)


def test_the_taught_gray_filter_equals_the_general_one():
    frame, source = step_frame(), resize_probabilities(blurred_step(), FULL)
    gray = frame @ upsampling.LUMA
    np.testing.assert_allclose(gray_guided_filter(gray, source, 4, 1e-3), guided_filter(gray, source, 4, 1e-3),
                               atol=1e-5)


@pytest.mark.parametrize("gray", [True, False])
def test_a_blurred_step_is_sharpened_along_the_guide_edge(gray):
    frame, coarse = step_frame(), blurred_step()
    plain = resize_probabilities(coarse, FULL)
    guided = guided_upsample(coarse, frame, radius=8, eps=1e-3, subsample=2, gray=gray)
    column, rise = steepest_step(guided)
    assert column == EDGE, "the outline sits on the frame's edge"
    assert rise > 4 * steepest_step(plain)[1], "and is much steeper than the bilinear ramp"
    # The 0.5 outline moves onto the frame's edge.
    truth = np.zeros(FULL, bool)
    truth[:, EDGE:] = True

    def iou(p):
        """IoU of p >= 0.5 against the truth."""
        return ((p >= 0.5) & truth).sum() / ((p >= 0.5) | truth).sum()

    assert iou(guided) > iou(plain)
    assert iou(guided) > 0.98
    assert np.all((guided >= 0.5)[:, EDGE + 1:]) and not np.any((guided >= 0.5)[:, :EDGE - 1])


def test_output_is_a_probability_of_the_frames_shape_and_keeps_the_layout():
    rng = np.random.default_rng(3)
    frame = rng.random((*FULL, 3)).astype(np.float32)
    noisy = rng.random(COARSE).astype(np.float32)  # guided filters overshoot: the output is clipped
    out = guided_upsample(noisy, frame, radius=2, eps=1e-4, subsample=1)
    assert out.shape == FULL and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert guided_upsample(noisy[..., None], frame).shape == (*FULL, 1)
    uint8_frame = (frame * 255).astype(np.uint8)
    np.testing.assert_allclose(guided_upsample(noisy, uint8_frame), guided_upsample(noisy, frame), atol=1e-2)


def test_upsample_chooses_the_method():
    frame, coarse = step_frame(), blurred_step()
    np.testing.assert_array_equal(upsample(coarse, FULL, method="bilinear"), resize_probabilities(coarse, FULL))
    np.testing.assert_array_equal(upsample(coarse, FULL, frame), guided_upsample(coarse, frame))
    with pytest.raises(ValueError, match="bilinear"):
        upsample(coarse, FULL, frame, method="bicubic")
    with pytest.raises(DataError, match="frame"):
        upsample(coarse, FULL)
    with pytest.raises(DataError, match="at its own size"):
        upsample(coarse, (FULL[0] // 2, FULL[1]), frame)


def test_bad_guides_and_parameters_get_a_clear_error():
    coarse = blurred_step()
    with pytest.raises(DataError, match=r"\(H, W, 3\)"):
        guided_upsample(coarse, np.zeros(FULL))
    with pytest.raises(DataError, match="one frame"):
        guided_upsample(np.zeros((2, *COARSE, 1)), step_frame())
    with pytest.raises(ValueError, match="eps"):
        guided_upsample(coarse, step_frame(), eps=0)


def test_notebook_six_shows_the_library_code():
    """The guided filter a notebook shows in full is the library's own (d2l style)."""
    source = (Path(__file__).resolve().parent.parent / "notebooks" / "06_predictions_vs_reality.py").read_text()
    shown = {node.name: ast.get_source_segment(source, node) for node in ast.parse(source).body
             if isinstance(node, ast.FunctionDef)}
    for name in ("box_mean", "gray_guided_filter"):
        assert name in shown, f"notebook 6 does not show {name}"
        assert shown[name].strip() == inspect.getsource(getattr(upsampling, name)).strip()


ORIGINAL = (100, 60)  # the frames' own size, not a multiple of 8
MODEL = (64, 32)


@pytest.fixture
def ellipse_record(tmp_path):
    """Three frames at 100 x 60 whose person (a red ellipse on blue) is the mask, loaded at the model's 64 x 32."""
    from PIL import Image

    from cae_tutorial.data import load_record

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


def blurry_red_model(size):
    """A stand-in model: the red channel, blurred over 5 x 5 pixels, is the person probability."""
    import keras

    inputs = keras.Input((*size, 3))
    red = keras.layers.Conv2D(1, 5, padding="same", use_bias=False, kernel_initializer="ones")(inputs[..., :1])
    return keras.Model(inputs, red / 25.0)


def test_evaluate_guided_by_default_and_bilinear_on_request(ellipse_record):
    from cae_tutorial.evaluation import evaluate

    model = blurry_red_model(MODEL)
    guided = evaluate(model, ellipse_record)
    plain = evaluate(model, ellipse_record, upsampling="bilinear")
    assert guided.upsampling == "guided" and plain.upsampling == "bilinear"
    assert guided.resolution == plain.resolution == "original 100 x 60"
    assert guided.mean("iou") > plain.mean("iou")  # the frame's sharp red edge puts the outline back
    assert guided.mean("iou") > 0.97
    with pytest.raises(ValueError, match="upsampling must be one of"):
        evaluate(model, ellipse_record, upsampling="nearest")


def test_evaluate_says_how_to_score_without_the_original_frames(ellipse_record):
    import shutil

    from cae_tutorial.evaluation import evaluate

    shutil.rmtree(ellipse_record.root / "images")
    with pytest.raises(DataError, match="upsampling='bilinear'"):
        evaluate(blurry_red_model(MODEL), ellipse_record)
    assert evaluate(blurry_red_model(MODEL), ellipse_record, upsampling="bilinear").upsampling == "bilinear"


def test_score_at_original_size_is_guided_only_when_given_the_frames(ellipse_record):
    from cae_tutorial.data import read_originals
    from cae_tutorial.evaluation import predict, score_at_original_size

    probabilities = predict(blurry_red_model(MODEL), ellipse_record.images)
    masks, frames = read_originals(ellipse_record, "masks"), read_originals(ellipse_record, "images")
    assert [f.shape for f in frames] == [(*ORIGINAL, 3)] * 3
    plain = score_at_original_size(ellipse_record.ids, masks, probabilities)
    guided = score_at_original_size(ellipse_record.ids, masks, probabilities, frames=frames)
    assert plain.upsampling == "bilinear" and guided.upsampling == "guided"
    assert [r.iou for r in guided] != [r.iou for r in plain]
    # The filter's own parameters pass through: the same as guided_upsample with them, frame by frame.
    from cae_tutorial.losses import per_frame_metrics

    narrow = score_at_original_size(ellipse_record.ids, masks, probabilities, frames=frames, radius=2, eps=1e-2)
    by_hand = [per_frame_metrics([i], m[None], guided_upsample(p, f, radius=2, eps=1e-2)[None])[0].iou
               for i, m, p, f in zip(ellipse_record.ids, masks, probabilities, frames)]
    assert [r.iou for r in narrow] == by_hand
    with pytest.raises(ValueError, match="radius set the guided filter: pass frames="):
        score_at_original_size(ellipse_record.ids, masks, probabilities, radius=2)


def test_a_frame_saved_at_another_size_than_its_mask_still_guides(ellipse_record):
    from PIL import Image

    from cae_tutorial.evaluation import evaluate

    path = ellipse_record.root / "images" / "r_00001.png"
    Image.open(path).resize((ORIGINAL[1] * 2, ORIGINAL[0] * 2)).save(path)
    table = evaluate(blurry_red_model(MODEL), ellipse_record)
    assert table.resolution == "original 100 x 60" and table.mean("iou") > 0.97


@pytest.mark.parametrize("method", ["guided", "bilinear"])
def test_cli_predict_upsampling_option(ellipse_record, tmp_path, method):
    from PIL import Image

    from cae_tutorial.cli import main
    from cae_tutorial.data import read_image
    from cae_tutorial.model import build_cae
    from cae_tutorial.evaluation import predict

    model = build_cae((*MODEL, 3), filters=(4,), dropout=(0.0, 0.0))
    model.save(tmp_path / "model.keras")
    frame_path = ellipse_record.root / "images" / "r_00000.png"
    assert main(["predict", "--model", str(tmp_path / "model.keras"), "--input", str(frame_path),
                 "--output", str(tmp_path / "pred"), "--upsampling", method]) == 0
    written = np.asarray(Image.open(tmp_path / "pred" / "r_00000_mask.png")) > 127
    probability = predict(model, ellipse_record.images[:1])[0]
    expected = upsample(probability, ORIGINAL, read_image(frame_path), method=method)[..., 0] >= 0.5
    assert written.shape == ORIGINAL
    np.testing.assert_array_equal(written, expected)


def any_size_cae(seed: int = 0):
    """A tiny untrained CAE that takes frames of any size divisible by 8 (as the cpu preset's does)."""
    import keras

    from cae_tutorial.model import build_cae

    keras.utils.set_random_seed(seed)
    return build_cae((None, None, 3), filters=(4, 4, 4), dropout=(0.0, 0.0), skip_connections=True,
                     coordinates=True)


def test_scaled_size_rounds_each_side_to_a_multiple_of_8():
    from cae_tutorial.evaluation import check_input_scale, scaled_size

    assert scaled_size((256, 144), 1.5) == (384, 216)
    assert scaled_size((256, 144), 1.25) == (320, 184)  # 180 -> the nearest multiple of 8 (22.5 eighths: up)
    assert scaled_size((256, 144), 1) == (256, 144)
    assert scaled_size((16, 8), 0.25) == (8, 8)  # never below 8
    for bad in (0, 5, True, "1.5"):
        with pytest.raises(ValueError, match="input_scale must be a number from 0.25 to 4"):
            check_input_scale(bad)


def test_input_scale_feeds_the_full_frame_at_the_scaled_size(ellipse_record):
    from cae_tutorial.data import read_image
    from cae_tutorial.evaluation import predict

    model = any_size_cae()
    frames = [read_image(ellipse_record.root / "images" / f"{i}.png") for i in ellipse_record.ids]
    targets = [ORIGINAL] * 3
    scaled = predict(model, frames, size=targets, model_input_size=MODEL, input_scale=1.5, upsampling="bilinear")
    by_hand = predict(model, frames, size="model", model_input_size=(96, 48))  # 64 x 32 times 1.5
    assert by_hand.shape == (3, 96, 48, 1)
    np.testing.assert_allclose(scaled, resize_probabilities(by_hand, ORIGINAL), atol=1e-6)
    plain = predict(model, frames, size=targets, model_input_size=MODEL, input_scale=1, upsampling="bilinear")
    assert not np.allclose(scaled, plain, atol=1e-3)
    # size="model" is the model's own size whatever the scale.
    assert predict(model, frames, model_input_size=MODEL, input_scale=1.5).shape == (3, *MODEL, 1)


def test_input_scale_leaves_a_fixed_size_model_at_its_size(ellipse_record):
    from cae_tutorial.data import read_image
    from cae_tutorial.evaluation import predict

    model = blurry_red_model(MODEL)
    frame = read_image(ellipse_record.root / "images" / "r_00000.png")
    np.testing.assert_array_equal(predict(model, frame, size=[ORIGINAL], input_scale=2),
                                  predict(model, frame, size=[ORIGINAL], input_scale=1))


def test_evaluate_says_where_the_model_predicted(ellipse_record):
    from cae_tutorial.evaluation import evaluate

    model = any_size_cae()
    scaled = evaluate(model, ellipse_record, input_scale=1.5)
    plain = evaluate(model, ellipse_record, input_scale=1)
    assert scaled.input_size == (96, 48) and plain.input_size == MODEL
    assert "input_scale=1.5" in " ".join(scaled.about) and "input_scale" not in " ".join(plain.about)
    assert [r.iou for r in scaled] != [r.iou for r in plain]
    assert evaluate(model, ellipse_record, resolution="model", input_scale=1.5).input_size == MODEL


def test_cli_predict_input_scale_option(ellipse_record, tmp_path, capsys):
    import json

    from PIL import Image

    from cae_tutorial.cli import main
    from cae_tutorial.data import read_image
    from cae_tutorial.evaluation import predict

    model = any_size_cae()
    model.save(tmp_path / "model.keras")
    (tmp_path / "config.json").write_text(json.dumps({"size": list(MODEL)}))
    frame_path = ellipse_record.root / "images" / "r_00000.png"
    assert main(["predict", "--model", str(tmp_path / "model.keras"), "--input", str(frame_path), "--output",
                 str(tmp_path / "pred"), "--input-scale", "1.5", "--no-flip-average"]) == 0
    written = np.asarray(Image.open(tmp_path / "pred" / "r_00000_mask.png")) > 127
    expected = predict(model, read_image(frame_path), size=[ORIGINAL], model_input_size=MODEL, input_scale=1.5,
                       flip_average=False)[0, ..., 0] >= 0.5
    np.testing.assert_array_equal(written, expected)
    assert main(["predict", "--model", str(tmp_path / "model.keras"), "--input", str(frame_path), "--output",
                 str(tmp_path / "other"), "--input-scale", "9"]) == 2
    assert "--input-scale: must be from 0.25 to 4" in capsys.readouterr().err
