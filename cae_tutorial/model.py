"""The seed's convolutional autoencoder (CAE), built block by block with the Keras functional API.

Encoder block: Conv (stride 2) -> activation -> Dropout -> Conv -> activation -> Dropout.
Decoder block: UpSampling x2 -> Conv -> activation -> Dropout -> Conv -> activation -> Dropout.
Output layer: a 1x1 Conv with a sigmoid, one probability of "person" per pixel.
Optionally (coordinates=True, not in the seed) the model first appends each pixel's row and column position as two
more input channels (CoordinateChannels), so the convolutions can learn where in the frame the person tends to be.
With the defaults and a 1024 x 512 x 3 input the model has 1,939,233 parameters.
"""

from __future__ import annotations

import keras
from keras import layers, ops


SEED_FILTERS = (4, 32, 256)


@keras.saving.register_keras_serializable(package="cae_tutorial")
class CoordinateChannels(layers.Layer):
    """Appends two channels to a batch of images: the row and the column position, scaled to [-1, 1].

    The scale is relative to the frame, so the same pixel of a frame gets the same value at any resolution (the
    weights learnt at a progressive run's small size still mean the same place at full size).
    """

    def call(self, images):
        shape = ops.shape(images)
        rows = _positions(shape[1], images.dtype)[None, :, None, None]
        cols = _positions(shape[2], images.dtype)[None, None, :, None]
        grid = (shape[0], shape[1], shape[2], 1)
        return ops.concatenate([images, ops.broadcast_to(rows, grid), ops.broadcast_to(cols, grid)], axis=-1)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + 2)


def _positions(count, dtype):
    """count evenly spaced values from -1 to 1 (one value, 0, when count is 1)."""
    steps = ops.cast(ops.arange(count), "float32")
    return ops.cast(steps / ops.maximum(ops.cast(count, "float32") - 1.0, 1.0) * 2.0 - 1.0, dtype)


def encoder_block(x, filters: int, kernel_size: int = 3, activation: str = "swish",
                  dropout: tuple[float, float] = (0.1, 0.25), name: str = "encoder", dtype=None,
                  batch_norm: bool = False):
    """Halve the height and width (stride-2 conv) and extract `filters` feature maps."""
    x = layers.Conv2D(filters, kernel_size, strides=2, padding="same", name=f"{name}_down_conv", dtype=dtype)(x)
    x = _normalize(x, batch_norm, f"{name}_norm1", dtype)
    x = layers.Activation(activation, name=f"{name}_act1", dtype=dtype)(x)
    x = layers.Dropout(dropout[0], name=f"{name}_drop1", dtype=dtype)(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_conv", dtype=dtype)(x)
    x = _normalize(x, batch_norm, f"{name}_norm2", dtype)
    x = layers.Activation(activation, name=f"{name}_act2", dtype=dtype)(x)
    return layers.Dropout(dropout[1], name=f"{name}_drop2", dtype=dtype)(x)


def decoder_block(x, filters: int, kernel_size: int = 3, activation: str = "swish",
                  dropout: tuple[float, float] = (0.1, 0.25), name: str = "decoder", skip=None, dtype=None,
                  batch_norm: bool = False):
    """Double the height and width (upsampling) and refine with two convs; `skip` is concatenated first."""
    x = layers.UpSampling2D(2, name=f"{name}_up", dtype=dtype)(x)
    if skip is not None:
        x = layers.Concatenate(name=f"{name}_skip", dtype=dtype)([x, skip])
    x = layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_conv1", dtype=dtype)(x)
    x = _normalize(x, batch_norm, f"{name}_norm1", dtype)
    x = layers.Activation(activation, name=f"{name}_act1", dtype=dtype)(x)
    x = layers.Dropout(dropout[0], name=f"{name}_drop1", dtype=dtype)(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_conv2", dtype=dtype)(x)
    x = _normalize(x, batch_norm, f"{name}_norm2", dtype)
    x = layers.Activation(activation, name=f"{name}_act2", dtype=dtype)(x)
    return layers.Dropout(dropout[1], name=f"{name}_drop2", dtype=dtype)(x)


def _normalize(x, batch_norm: bool, name: str, dtype):
    """BatchNormalization when asked (off in the seed and in both presets), else x unchanged."""
    return layers.BatchNormalization(name=name, dtype=dtype)(x) if batch_norm else x


def output_layer(x, name: str = "mask"):
    """A 1x1 conv + sigmoid: mixes each pixel's channels into one person probability (always float32)."""
    return layers.Conv2D(1, 1, activation="sigmoid", name=name, dtype="float32")(x)


def build_cae(input_shape: tuple[int, int, int] = (1024, 512, 3), filters: tuple[int, ...] = SEED_FILTERS,
              kernel_size: int = 3, activation: str = "swish", dropout: tuple[float, float] = (0.1, 0.25),
              skip_connections: bool = False, dtype: str | None = None, name: str | None = None,
              batch_norm: bool = False, coordinates: bool = False) -> keras.Model:
    """The seed's CAE (or, with skip_connections=True, its U-Net-style variant) as a functional Keras model.

    ``dtype`` is a Keras dtype policy for every layer but the output, e.g. "mixed_bfloat16". ``coordinates``
    appends the pixel's row and column position to the 3 colour channels inside the model (the input stays
    (height, width, 3)). A height and width of None give a model that takes frames of any size divisible by 8.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    if not filters or not all(isinstance(f, int) and f > 0 for f in filters):
        raise ValueError(f"filters must be positive ints, one per encoder block, got {filters!r}")
    factor = 2 ** len(filters)
    if any(v is not None and (not isinstance(v, int) or v <= 0 or v % factor) for v in input_shape[:2]):
        # Each side to its nearest multiple of factor, at least factor; a tie goes down, inside the frame.
        nearest = tuple(max(factor, (v + factor // 2 - 1) // factor * factor) if isinstance(v, int) else v
                        for v in input_shape[:2])
        raise ValueError(f"input_shape={tuple(input_shape)!r}: height and width must divide by {factor} "
                         f"({len(filters)} stride-2 encoder blocks halve them); resize the frames to the nearest "
                         f"size that does, {nearest}")
    inputs = keras.Input(shape=tuple(input_shape), name="frame")
    x = CoordinateChannels(name="coordinates", dtype=dtype)(inputs) if coordinates else inputs
    skips = [x]
    for i, f in enumerate(filters, start=1):
        x = encoder_block(x, f, kernel_size, activation, dropout, name=f"encoder{i}", dtype=dtype,
                          batch_norm=batch_norm)
        skips.append(x)
    # x is now the latent space: 1/8 of the height and width, filters[-1] channels.
    for i, f in enumerate(reversed(filters), start=1):
        skip = skips[-i - 1] if skip_connections else None
        x = decoder_block(x, f, kernel_size, activation, dropout, name=f"decoder{i}", skip=skip, dtype=dtype,
                          batch_norm=batch_norm)
    default_name = "cae_skip" if skip_connections else "cae"
    return keras.Model(inputs, output_layer(x), name=name or default_name)


def latent_shape(model: keras.Model) -> tuple:
    """Shape of the latent space (the last encoder block's output), without the batch axis."""
    encoders = [layer for layer in model.layers if layer.name.startswith("encoder") and layer.name.endswith("drop2")]
    return tuple(encoders[-1].output.shape[1:])
