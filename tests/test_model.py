"""The seed's CAE: block structure, shapes and the parameter count."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from cae_tutorial.model import (
    CoordinateChannels,
    build_cae,
    decoder_block,
    encoder_block,
    latent_shape,
    output_layer,
)


def test_seed_architecture_has_1939233_parameters():
    model = build_cae((1024, 512, 3))
    assert model.count_params() == 1_939_233
    assert model.output_shape == (None, 1024, 512, 1)
    assert latent_shape(model) == (128, 64, 256)


def test_blocks_change_shapes_as_taught():
    inputs = keras.Input((64, 32, 3))
    down = encoder_block(inputs, 4)
    assert tuple(down.shape[1:]) == (32, 16, 4)
    up = decoder_block(down, 8)
    assert tuple(up.shape[1:]) == (64, 32, 8)
    out = output_layer(up)
    assert tuple(out.shape[1:]) == (64, 32, 1)
    kinds = [type(layer).__name__ for layer in keras.Model(inputs, out).layers[1:]]
    assert kinds[:6] == ["Conv2D", "Activation", "Dropout", "Conv2D", "Activation", "Dropout"]
    assert kinds[6:13] == ["UpSampling2D", "Conv2D", "Activation", "Dropout", "Conv2D", "Activation", "Dropout"]


def test_layer_order_and_hyperparameters_of_the_seed():
    model = build_cae((64, 32, 3))
    enc = model.get_layer("encoder1_down_conv")
    assert enc.strides == (2, 2) and enc.kernel_size == (3, 3) and enc.filters == 4
    assert model.get_layer("encoder1_act1").get_config()["activation"] in ("swish", "silu")  # Keras names swish silu
    assert model.get_layer("encoder1_drop1").rate == 0.1 and model.get_layer("encoder1_drop2").rate == 0.25
    assert [model.get_layer(f"encoder{i}_conv").filters for i in (1, 2, 3)] == [4, 32, 256]
    assert [model.get_layer(f"decoder{i}_conv2").filters for i in (1, 2, 3)] == [256, 32, 4]
    mask = model.get_layer("mask")
    assert mask.kernel_size == (1, 1) and mask.get_config()["activation"] == "sigmoid"


def test_parameters_are_parameters():
    model = build_cae((32, 32, 3), filters=(2, 4, 8), kernel_size=5, activation="relu", dropout=(0.0, 0.5))
    assert model.get_layer("encoder3_conv").filters == 8
    assert model.get_layer("encoder2_conv").kernel_size == (5, 5)
    assert model.get_layer("decoder1_drop2").rate == 0.5


def test_skip_connections_concatenate_encoder_features():
    plain, skip = build_cae((64, 32, 3)), build_cae((64, 32, 3), skip_connections=True)
    assert skip.name == "cae_skip" and skip.count_params() > plain.count_params()
    assert tuple(skip.get_layer("decoder1_skip").output.shape[1:]) == (16, 8, 256 + 32)
    assert tuple(skip.get_layer("decoder3_skip").output.shape[1:]) == (64, 32, 32 + 3)
    assert skip.output_shape == plain.output_shape


def test_mixed_precision_keeps_output_float32():
    model = build_cae((32, 16, 3), dtype="mixed_bfloat16")
    assert model.get_layer("encoder1_conv").compute_dtype == "bfloat16"
    assert model.get_layer("mask").compute_dtype == "float32"


def test_coordinate_channels_append_row_and_column_positions():
    images = np.random.default_rng(0).random((2, 8, 4, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(CoordinateChannels()(images))
    assert out.shape == (2, 8, 4, 5)
    np.testing.assert_array_equal(out[..., :3], images)
    np.testing.assert_allclose(out[0, :, 0, 3], np.linspace(-1, 1, 8), atol=1e-6)  # rows, top to bottom
    np.testing.assert_allclose(out[1, 0, :, 4], np.linspace(-1, 1, 4), atol=1e-6)  # columns, left to right
    assert (out[:, :, :, 3] == out[:, :, :1, 3]).all()  # a row's value is the same in every column


def test_coordinates_keep_the_input_three_channels_and_survive_saving(tmp_path):
    model = build_cae((64, 32, 3), (2, 4, 4), skip_connections=True, coordinates=True, dtype="mixed_bfloat16")
    assert model.input_shape == (None, 64, 32, 3)
    assert tuple(model.get_layer("coordinates").output.shape[1:]) == (64, 32, 5)
    assert tuple(model.get_layer("decoder3_skip").output.shape[1:]) == (64, 32, 4 + 5)
    frames = np.random.default_rng(1).random((1, 64, 32, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(frames, verbose=0), model.predict(frames, verbose=0))


def test_preset_coordinates_reach_the_model_at_both_progressive_sizes():
    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import build_model

    preset = get_preset("cpu", height=64, width=32, filters=(2, 4, 4), coordinates=True)
    model = build_model(preset)
    assert "coordinates" in [layer.name for layer in model.layers]
    assert model(np.zeros((1, 32, 16, 3), "float32")).shape == (1, 32, 16, 1)  # the small size
    assert "coordinates" not in [layer.name for layer in build_model(preset.with_(coordinates=False)).layers]


@pytest.mark.parametrize("shape", [(100, 50, 3), (64, 32)])
def test_bad_input_shape_is_explained(shape):
    with pytest.raises(ValueError, match="input_shape"):
        build_cae(shape)


def test_a_size_that_does_not_divide_is_told_the_nearest_that_does_and_it_builds():
    with pytest.raises(ValueError, match=r"must divide by 8.*nearest size that does, \(96, 48\)") as caught:
        build_cae((100, 50, 3))  # 100 ties between 96 and 104: the size below fits inside the frame
    assert "\n" not in str(caught.value)
    assert build_cae((96, 48, 3)).output_shape == (None, 96, 48, 1)
    for given, nearest in ((3, 8), (12, 8), (13, 16), (50, 48), (101, 104)):  # each side alone, at least 8
        with pytest.raises(ValueError, match=re.escape(f"nearest size that does, ({nearest}, 16)")):
            build_cae((given, 16, 3))
