"""Registers the package's Keras objects, so that keras.models.load_model reads models that use them.

Importing this module imports Keras (and TensorFlow). ``import cae_tutorial`` imports it by itself whenever Keras
is already loaded, and after any package name that loads Keras; import it yourself only where the package came
first and nothing else of it was used before loading a model::

    import cae_tutorial.keras_objects  # noqa: F401
    model = keras.models.load_model("run/model.keras")
"""

from cae_tutorial.losses import BinaryDice, DiceFocalLoss, PersonIoU
from cae_tutorial.model import CoordinateChannels

#: Every class the package registers with @keras.saving.register_keras_serializable(package="cae_tutorial").
KERAS_OBJECTS = (CoordinateChannels, DiceFocalLoss, PersonIoU, BinaryDice)
