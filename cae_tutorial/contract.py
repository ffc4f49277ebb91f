"""What ``train`` needs of a model you bring, checked before training with one-line errors that name the fix.

The contract:

- **input**: one input of frames (N, height, width, 3), float32 in [0, 1]; height and width equal to the
  record's, or None (a fully convolutional model, ``keras.Input(shape=(None, None, 3))``, takes any size);
- **output**: (N, height, width, 1), one value per pixel at the frame's size: a person probability (the last
  layer has ``activation="sigmoid"``) or a logit (no activation; ``train`` then uses ``from_logits`` in the
  loss, the metrics and the predictions, which stay probabilities). A 2-channel softmax, or any other shape or
  activation, is refused: end the model with ``keras.layers.Conv2D(1, 1, activation="sigmoid")``.
"""

from __future__ import annotations

import keras
import numpy as np

from cae_tutorial.data import DataError
from cae_tutorial.errors import CaeTutorialError

FIX_OUTPUT = "end the model with keras.layers.Conv2D(1, 1, activation='sigmoid') (or no activation, for logits)"


class ModelContractError(CaeTutorialError, ValueError):
    """A model that train() cannot use as it is; the message names the fix."""


def check_input(model: keras.Model, size: tuple[int, int]) -> None:
    """One input of (height, width, 3) frames, its sizes equal to `size` or None."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):  # a subclassed model not built yet: its first call will tell
        return
    height, width = size
    if inputs is None:
        return
    if len(inputs) != 1:
        raise ModelContractError(f"{model.name} takes {len(inputs)} inputs; train feeds one batch of frames: "
                                 f"build it on one keras.Input(shape=({height}, {width}, 3))")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[3] not in (3, None):
        raise ModelContractError(f"{model.name} takes inputs of shape {shape[1:]}, but frames are (height, width, 3) "
                                 f"RGB: build it on keras.Input(shape=({height}, {width}, 3)) or (None, None, 3)")
    if any(side is not None and side != want for side, want in zip(shape[1:3], size)):
        raise DataError(f"{model.name} takes frames of {shape[1]} x {shape[2]} but the record's are "
                        f"{height} x {width}; "
                        f"load the record with size=({shape[1]}, {shape[2]}), or build the model on "
                        f"keras.Input(shape=({height}, {width}, 3)) or (None, None, 3) for any size")


def output_shape(model: keras.Model, probe: np.ndarray) -> tuple:
    """The model's output shape for a batch like `probe` (computed symbolically, else by running it)."""
    try:
        shape = model.compute_output_shape(probe.shape)
    except Exception:  # noqa: BLE001 - subclassed models may not compute shapes; running one frame always works
        shape = keras.tree.map_structure(np.shape, model(probe, training=False))
    if isinstance(shape, dict) or (isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple))):
        raise ModelContractError(f"{model.name} has several outputs; train needs one mask per frame: {FIX_OUTPUT}")
    return tuple(shape)


def output_activation(model: keras.Model) -> str | None:
    """Name of the activation the model's last layer applies ('sigmoid', 'linear', ...), None when unknown."""
    layer = None
    try:
        layer = model.outputs[0]._keras_history[0]
    except (AttributeError, IndexError, TypeError, ValueError):
        layer = model.layers[-1] if getattr(model, "layers", None) else None
    if isinstance(layer, keras.Model):
        return output_activation(layer)
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) if activation is not None else None


def check_output(model: keras.Model, probe: np.ndarray) -> None:
    """One channel per pixel at the frame's size."""
    shape, size = output_shape(model, probe), probe.shape[1:3]
    if len(shape) != 4:
        raise ModelContractError(f"{model.name} outputs shape {shape[1:]} per frame, not a (height, width, 1) mask: "
                                 f"{FIX_OUTPUT}")
    if shape[3] != 1:
        kind = " with softmax (one score per class)" if output_activation(model) == "softmax" else ""
        raise ModelContractError(f"{model.name} outputs {shape[3]} channels per pixel{kind}; train needs one person "
                                 f"probability per pixel: {FIX_OUTPUT}")
    if tuple(shape[1:3]) != tuple(size):
        raise ModelContractError(f"{model.name} outputs {shape[1]} x {shape[2]} masks for {size[0]} x {size[1]} "
                                 "frames; its decoder must bring the size back (e.g. UpSampling2D) to the frame's")


def loss_name(loss) -> str:
    """A readable name of a loss given as a string, a Loss object or a function."""
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__


def resolve_from_logits(model: keras.Model, probe: np.ndarray, loss=None, from_logits: bool | None = None) -> bool:
    """Whether the model outputs logits: from `from_logits`, else its last activation, else the user's loss.

    `loss` is the user's own loss (None when the package's Dice + focal is used); a loss that says
    `from_logits` and a model that says otherwise are refused rather than trained to IoU 0.
    """
    activation = output_activation(model)
    declared = getattr(loss, "from_logits", None)
    if from_logits is not None:
        if from_logits and activation == "sigmoid":
            raise ModelContractError(f"from_logits=True but {model.name} ends with a sigmoid (it outputs "
                                     "probabilities); drop from_logits=True, or the sigmoid")
        if declared is not None and declared != from_logits:
            raise ModelContractError(f"from_logits={from_logits} but the loss {loss_name(loss)} has "
                                     f"from_logits={declared}; give them the same value")
        return bool(from_logits)
    if activation == "sigmoid":
        if declared:
            raise ModelContractError(f"the loss {loss_name(loss)} has from_logits=True but {model.name} ends with a "
                                     "sigmoid (probabilities); use from_logits=False, or drop the sigmoid")
        return False
    if activation == "linear":
        if loss is None or declared:
            return True
        said = ("expects probabilities (from_logits=False)" if declared is False
                else "does not say whether it takes logits")
        raise ModelContractError(f"{model.name} ends with no activation (logits?) but the loss {loss_name(loss)} "
                                 f"{said}; "
                                 "end the model with activation='sigmoid', give the loss from_logits=True, or pass "
                                 "train(..., options=TrainOptions(from_logits=True/False)) to say what the outputs "
                                 "are")
    if activation is not None:
        hint = " (softmax over one channel is always 1)" if activation == "softmax" else ""
        raise ModelContractError(f"{model.name}'s last layer applies {activation!r}{hint}; train needs probabilities "
                                 f"or logits: {FIX_OUTPUT}")
    if declared is not None:
        return bool(declared)
    values = np.asarray(model(probe, training=False))
    if values.min() < 0.0 or values.max() > 1.0:
        raise ModelContractError(f"{model.name}'s outputs reach {values.min():.2f} .. {values.max():.2f}, outside "
                                 "[0, 1]: pass train(..., options=TrainOptions(from_logits=True)) if they are logits, "
                                 "or end the model with a sigmoid")
    return False


def outputs_logits(model: keras.Model) -> bool:
    """Whether a (trained or loaded) model outputs logits: its compiled loss says so, or its last layer is linear."""
    declared = getattr(getattr(model, "loss", None), "from_logits", None)
    if declared is not None:
        return bool(declared)
    return output_activation(model) == "linear"
