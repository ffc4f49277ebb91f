"""Several devices: which tf.distribute strategy to train with, from the devices this machine shows.

One device (a CPU, or one GPU) trains with TensorFlow's default strategy, exactly as before. Several visible
GPUs train with ``tf.distribute.MirroredStrategy``: the model is built and compiled inside ``strategy.scope()``,
``model.fit`` runs as usual, each step splits the **global batch** (per-device batch x devices) across the
devices and averages their gradients.

Learning rate: we keep the preset's per-step learning rate when the global batch grows. The loss is a mean over
the batch, so a larger batch gives a less noisy gradient, not a larger one: neither Adam's step nor SGD's grows
with it, and an epoch takes fewer steps. The linear scaling rule (learning rate x devices, with a warm-up that our
schedule does not have) makes up for the fewer steps with SGD; for Adam no rule is as well established. Keeping the
rate keeps a run on N devices equal to the one-device run of the same global batch (tests/test_scale.py). Pass
``scale_learning_rate=True`` to ``strategy_preset`` to scale linearly anyway.

Not supported: ``MultiWorkerMirroredStrategy`` (several machines) with Keras 3 ``fit`` has known breakage, and
this package does not build a distributed engine of its own; train across the GPUs of one machine.
"""

from __future__ import annotations

import tensorflow as tf

from cae_tutorial.errors import UsageError
from cae_tutorial.presets import Preset


def visible_gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees ('/gpu:0', ...)."""
    return [f"/gpu:{i}" for i in range(len(tf.config.list_logical_devices("GPU")))]


def resolve_devices(devices="all") -> list[str]:
    """Device names to train on: 'all' (every visible GPU, or the CPU), a count N, or a list of names."""
    gpus = visible_gpus()
    if devices in (None, "all"):
        return gpus or ["/cpu:0"]
    if isinstance(devices, (list, tuple)):
        return list(devices)
    try:
        count = int(devices)
    except (TypeError, ValueError):
        raise UsageError(f"devices={devices!r}: give 'all', a number of GPUs, or a list of device names") from None
    available = gpus or ["/cpu:0"]
    if not 1 <= count <= len(available):
        raise UsageError(f"devices={count} but this machine shows {len(gpus)} GPU(s) ({gpus or 'none'}); "
                         f"give a number from 1 to {len(available)}, or 'all'")
    return available[:count]


def choose_strategy(devices="all") -> tf.distribute.Strategy:
    """MirroredStrategy over the devices when there are several, else TensorFlow's default strategy."""
    names = resolve_devices(devices)
    if len(names) == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(names)


def replicas(strategy: tf.distribute.Strategy | None) -> int:
    """Number of devices a step is split across (1 without a strategy)."""
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


def global_batch_size(preset: Preset, strategy: tf.distribute.Strategy | None) -> int:
    """The batch of one step across all devices: the preset's per-device batch x replicas."""
    return preset.batch_size * replicas(strategy)


def strategy_preset(preset: Preset, strategy: tf.distribute.Strategy | None,
                    scale_learning_rate: bool = False) -> Preset:
    """The preset for training under a strategy: the same, or with the learning rate scaled by the replicas."""
    if not scale_learning_rate:
        return preset
    return preset.with_(learning_rate=preset.learning_rate * replicas(strategy))
