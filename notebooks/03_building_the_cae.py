# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Building the CAE
#
# **What you will learn**
# - the seed's convolutional autoencoder, block by block: encoder blocks, latent space, decoder blocks, output layer;
# - the shape of the tensor after each block;
# - why stride-2 convolutions shrink and upsampling grows, and what the final 1x1 convolution does;
# - how to read `model.summary()` and where the 1,939,233 parameters of the seed's model sit;
# - **skip connections** (U-Net style), which the `cpu` preset of notebook 5 trains with, drawn beside the plain
#   model.
#
# Everything defined here lives in `cae_tutorial/model.py` under the same names; later notebooks import it.

# %% tags=["parameters"]
IMAGE_HEIGHT = 256
IMAGE_WIDTH = 128
OUTPUT_DIR = "outputs"

# %%
# TensorFlow's C++ core prints start-up log lines (in red, here) while it loads: import it once with them discarded.
from cae_tutorial.quiet import import_tensorflow

import_tensorflow()

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from cae_tutorial import exercises
from cae_tutorial.folders import write_json
from cae_tutorial.model import CoordinateChannels  # the `coordinates` option, taught in notebook 5
from cae_tutorial.plots import architecture_diagram
from cae_tutorial.presets import get_preset
import keras
from keras import layers

SEED_FILTERS = (4, 32, 256)  # the seed's encoder filters; the decoder mirrors them
Path(OUTPUT_DIR).mkdir(exist_ok=True)

# %% [markdown]
# ## The encoder block
# A convolution with **stride 2** moves its 3x3 window two pixels at a time, so its output has half the height
# and half the width: it learns features *and* compresses, with no separate pooling layer. A swish activation
# (x * sigmoid(x)) adds non-linearity; dropout randomly silences features during training so that, with only three
# training frames, the network cannot lean on any single feature. A second, stride-1 convolution refines the features
# at the new scale. (`batch_norm=True` would normalise after every convolution: off in the seed and in both
# presets.)

# %%
def _normalize(x, batch_norm: bool, name: str, dtype):
    """BatchNormalization when asked (off in the seed and in both presets), else x unchanged."""
    return layers.BatchNormalization(name=name, dtype=dtype)(x) if batch_norm else x


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

# %% [markdown]
# ## The decoder block
# **UpSampling x2** repeats every pixel into a 2x2 square: the size doubles, nothing is learned. The two
# convolutions that follow learn to turn that blocky picture into sharper features. (A `skip` input, used in
# the end of this notebook, concatenates encoder features of the same size first.)

# %%
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

# %% [markdown]
# ## The output layer
# A **1x1 convolution** looks at one pixel at a time: it mixes that pixel's channels (4 after the last decoder
# block) into a single number, and the sigmoid turns it into the probability that the pixel is person. It makes
# the decoder's output the shape of the mask, (H, W, 1).

# %%
def output_layer(x, name: str = "mask"):
    """A 1x1 conv + sigmoid: mixes each pixel's channels into one person probability (always float32)."""
    return layers.Conv2D(1, 1, activation="sigmoid", name=name, dtype="float32")(x)

# %% [markdown]
# ## Shapes, block by block
# Follow one input through the blocks and print the shape after each.

# %%
inputs = keras.Input((IMAGE_HEIGHT, IMAGE_WIDTH, 3), name="frame")
x = inputs
print(f"{'input':<16}{tuple(x.shape[1:])}")
for i, filters in enumerate((4, 32, 256), start=1):
    x = encoder_block(x, filters, name=f"encoder{i}")
    print(f"{f'encoder block {i}':<16}{tuple(x.shape[1:])}")
latent_numbers, input_numbers = int(np.prod(x.shape[1:])), IMAGE_HEIGHT * IMAGE_WIDTH * 3
print(f"{'latent space':<16}{tuple(x.shape[1:])}  <- 1/8 of the height and width, {x.shape[-1]} channels: "
      f"{latent_numbers:,} numbers for an input of {input_numbers:,} ({latent_numbers / input_numbers:.2f} x)")
for i, filters in enumerate((256, 32, 4), start=1):
    x = decoder_block(x, filters, name=f"decoder{i}")
    print(f"{f'decoder block {i}':<16}{tuple(x.shape[1:])}")
x = output_layer(x)
print(f"{'output (mask)':<16}{tuple(x.shape[1:])}")

# %% [markdown]
# ## The whole model
# `build_cae` puts the blocks together with the functional API. The latent space has no layer of its own in the
# seed: it is the connection between the last encoder block and the first decoder block. Two options are off in
# the seed: `skip_connections` (below) and `coordinates` (notebook 5: two position channels added to the frame).

# %%
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


model = build_cae((IMAGE_HEIGHT, IMAGE_WIDTH, 3))
fig = architecture_diagram(model)

# %%
model.summary(line_length=90)

# %% [markdown]
# ## The seed's parameter count
# Convolution weights do not depend on the image size (the same 3x3 kernels slide everywhere), so the model has the
# same number of parameters at 256 x 128 as at the seed's 1024 x 512.

# %% tags=["nbval-check-output"]
seed_model = build_cae((1024, 512, 3))
print(f"parameters at 1024 x 512: {seed_model.count_params():,}")
print(f"parameters at {IMAGE_HEIGHT} x {IMAGE_WIDTH}: {model.count_params():,}")

# %% [markdown]
# Where they sit: a $k \times k$ convolution from $c_{in}$ to $c_{out}$ channels has
# $k^2 \, c_{in} \, c_{out}$ weights and $c_{out}$ biases, so the cost grows with the *product* of the channels.

# %% tags=["nbval-check-output"]
per_block = {}
for layer in seed_model.layers:
    block = layer.name.split("_")[0]
    per_block[block] = per_block.get(block, 0) + layer.count_params()
for block, count in per_block.items():
    print(f"{block:<10}{count:>10,}  {count / seed_model.count_params():6.1%}")

convolutions = [l for l in seed_model.layers if isinstance(l, layers.Conv2D)]
widest = max(l.filters for l in convolutions)
wide = [l for l in convolutions if l.filters == widest and l.kernel.shape[2] == widest]
wide_params = sum(l.count_params() for l in wide)
for l in wide:
    print(f"{l.name:<18} {l.kernel.shape[2]} -> {l.filters} channels: {l.count_params():,} parameters")

# %%
display(Markdown(
    f"{len(wide)} convolutions map {widest} channels to {widest}, each with "
    f"{wide[0].count_params():,} parameters ({widest}·{widest}·9 weights + {widest} biases): together "
    f"{wide_params:,} of the model's {seed_model.count_params():,} parameters, "
    f"**{wide_params / seed_model.count_params():.0%}**. The rest of the network, all the other "
    f"{len(convolutions) - len(wide)} convolutions, holds the remaining "
    f"{1 - wide_params / seed_model.count_params():.0%}."))

# %% [markdown]
# The library's `cae_tutorial.model.build_cae` is the same function; from now on the course imports it.

# %% tags=["nbval-check-output"]
from cae_tutorial.model import build_cae as library_build_cae

library_model = library_build_cae((1024, 512, 3))
print("same layers:", [l.name for l in library_model.layers] == [l.name for l in seed_model.layers])
print("same parameter count:", library_model.count_params() == seed_model.count_params())

# %% [markdown]
# ## Skip connections
# The plain CAE must rebuild every edge of the mask from the latent space, at 1/8 of the resolution. A **skip
# connection** hands each decoder block the encoder's features of the same size (and the last block the frame
# itself), concatenated to its upsampled input: the latent space says *what and roughly where*, the skips say
# *exactly where*. This is the idea of U-Net (Ronneberger et al., 2015). In `build_cae` it is the
# `skip_connections=True` branch: `skips` collects the input and each encoder block's output, and decoder block
# `i` concatenates `skips[-i - 1]`.
#
# Skips also change what the latent space means: the decoder no longer *has* to pass everything through it, so it
# is not a bottleneck in any sense. The `cpu` preset that notebook 5 trains uses them, with lighter filters and
# the coordinate channels of notebook 5 (two position channels appended to the frame, so two more input channels
# for the first convolution and for the last skip):

# %%
cpu = get_preset("cpu")
skip_model = build_cae((IMAGE_HEIGHT, IMAGE_WIDTH, 3), cpu.filters, skip_connections=cpu.skip_connections,
                       coordinates=cpu.coordinates)
fig = architecture_diagram(skip_model)
for layer in skip_model.layers:
    if layer.name.endswith("_skip"):
        print(f"{layer.name}: concatenates {[tuple(t.shape[1:]) for t in layer.input]}")

# %%
from cae_tutorial.training import build_model

trained = build_model(cpu, seed=None)  # the model notebook 5 trains (frames of any size: see notebook 5)
without_positions = build_cae((IMAGE_HEIGHT, IMAGE_WIDTH, 3), cpu.filters, skip_connections=cpu.skip_connections)
display(Markdown(
    f"The `cpu` preset's CAE (filters {cpu.filters}, skip connections {'on' if cpu.skip_connections else 'off'}, "
    f"coordinate channels {'on' if cpu.coordinates else 'off'}) has **{skip_model.count_params():,}** parameters "
    f"here, and `build_model(get_preset('cpu'))`, the model notebook 5 trains, has {trained.count_params():,}: "
    + ("the same, since its input takes frames of any size and parameters do not depend on the size. "
       if trained.count_params() == skip_model.count_params() else "not the same: the two differ in more than "
       "the input size. ")
    + f"Without the coordinate channels it would have {without_positions.count_params():,} "
      f"({skip_model.count_params() - without_positions.count_params():,} fewer). Either way it is about "
      f"{skip_model.count_params() / seed_model.count_params():.0%} of the seed's {seed_model.count_params():,}."))

# %%
results = {"parameters_seed_size": seed_model.count_params(), "parameters": model.count_params(),
           "wide_convolutions": [l.name for l in wide], "wide_share": wide_params / seed_model.count_params(),
           "latent_vs_input": latent_numbers / input_numbers,
           "latent_shape_seed_size": list(seed_model.get_layer("encoder3_drop2").output.shape[1:]),
           "parameters_per_block": per_block, "skip_parameters": skip_model.count_params(),
           "cpu_preset_parameters": trained.count_params()}
write_json(Path(OUTPUT_DIR, "03_building_the_cae.json"), results)  # whole or not at all
results

# %% [markdown]
# ## Summary
# - Encoder block: stride-2 conv (shrink) -> swish -> dropout -> conv -> swish -> dropout.
# - Decoder block: upsampling x2 (grow) -> conv -> swish -> dropout -> conv -> swish -> dropout.
# - The 1x1 sigmoid convolution turns each pixel's features into a person probability.
# - Parameters grow with the product of channels, so the widest convolutions hold most of them (printed above).
# - Skip connections concatenate same-size encoder features into the decoder, so it no longer rebuilds every
#   edge from the 1/8-size latent space (and there is no bottleneck); notebook 7 measures what they bring.
#
# ## Exercises
# 1. Compute by hand the parameters of `encoder2_down_conv` (4 -> 32 channels, 3x3) and check with `summary()`,
#    then with `exercises.ex03_1(count)`.
# 2. Build the model with `filters=(8, 32, 64)`. How many parameters remain, and which block lost the most? Check:
#    `exercises.ex03_2(count, block, (IMAGE_HEIGHT, IMAGE_WIDTH))`.
# 3. Why must the height and width divide by 8? Try `build_cae((100, 50, 3))`, read the error, then build the
#    nearest size that works and check it: `exercises.ex03_3(height, width)`.
#
# Each check answers `right` or `not yet` with a hint, never the answer. The worked solutions follow, collapsed:
# open one after trying.

# %% [markdown]
# #### Solution 1

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
by_hand = 3 * 3 * 4 * 32 + 32  # 9 weights per input-output channel pair, plus one bias per filter
counted = seed_model.get_layer("encoder2_down_conv").count_params()
print("self-check:", exercises.ex03_1(by_hand))
display(Markdown(f"By hand, 3·3·4·32 weights + 32 biases = {by_hand:,}; Keras counts {counted:,}: "
                 + ("the same." if by_hand == counted else "not the same.")))

# %% [markdown]
# #### Solution 2

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
light = build_cae((IMAGE_HEIGHT, IMAGE_WIDTH, 3), filters=(8, 32, 64))
light_blocks = {}
for layer in light.layers:
    light_blocks[layer.name.split("_")[0]] = light_blocks.get(layer.name.split("_")[0], 0) + layer.count_params()
lost = {block: per_block[block] - light_blocks.get(block, 0) for block in per_block}
print(f"{light.count_params():,} parameters")
for block in per_block:
    print(f"{block:<10}{per_block[block]:>10,} -> {light_blocks.get(block, 0):>8,}  (lost {lost[block]:,})")
most, second = sorted(lost, key=lost.get, reverse=True)[:2]


def widest_in(net, block):
    """The most filters of any convolution in one block of a model."""
    return max(l.filters for l in net.layers if isinstance(l, layers.Conv2D) and l.name.startswith(block + "_"))


print("self-check:", exercises.ex03_2(light.count_params(), most, (IMAGE_HEIGHT, IMAGE_WIDTH)))
display(Markdown(
    f"{light.count_params():,} parameters remain of {seed_model.count_params():,} "
    f"({light.count_params() / seed_model.count_params():.1%}). **{most}** lost the most ({lost[most]:,}), then "
    f"{second} ({lost[second]:,}). {most}'s convolutions went from {widest_in(seed_model, most)} to "
    f"{widest_in(light, most)} channels, and a convolution's cost grows with the product of its input and output "
    "channels."))

# %% [markdown]
# #### Solution 3

# %% tags=["solution", "hide-input"] jupyter={"source_hidden": true, "outputs_hidden": true}
try:
    build_cae((100, 50, 3))
except ValueError as error:
    print(error)
below, above = (8 * (100 // 8), 8 * (50 // 8)), (8 * (100 // 8 + 1), 8 * (50 // 8 + 1))
gaps = [(100 - below[0], above[0] - 100), (50 - below[1], above[1] - 50)]  # pixels to the size below, above
nearest = tuple(b if down <= up else a for b, a, (down, up) in zip(below, above, gaps))  # ties: below, inside
fits = build_cae((*nearest, 3))
print("self-check:", exercises.ex03_3(*nearest))
display(Markdown(
    f"Three stride-2 blocks halve the size three times and the decoder doubles it three times: only sizes that "
    f"divide by 2 x 2 x 2 = 8 come back to the same size, so that the mask lines up with the frame. The height "
    f"100 lies {gaps[0][0]} above {below[0]} and {gaps[0][1]} below {above[0]}"
    + (" (a tie: take the size below, which fits inside the frame)" if gaps[0][0] == gaps[0][1] else "")
    + f"; the width 50 lies {gaps[1][0]} above {below[1]} and {gaps[1][1]} below {above[1]}, so {nearest[1]} is the "
    f"nearer. {nearest[0]} x {nearest[1]} builds: frames {fits.input_shape[1:3]} give masks "
    f"{fits.output_shape[1:3]} (any size that divides by 8 would too). The error above names the same size: "
    "`build_cae` makes this choice for each side when it refuses one."))
