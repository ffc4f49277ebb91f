"""The input pipeline: training pairs as a tf.data dataset, augmented on the fly.

The course's small records live in memory (``training_dataset``); frames are
shuffled each pass and, when the preset says so, flipped, shifted, zoomed and
colour-jittered, frame and mask together.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from cae_tutorial.presets import Preset


def augment_pair(image, mask, seed_layers):
    """Random flip, shift and zoom applied to frame and mask together, then colour jitter on the frame."""
    both = tf.concat([image, mask], axis=-1)
    for layer in seed_layers:
        both = layer(both, training=True)
    image, mask = both[..., :3], tf.cast(both[..., 3:] >= 0.5, tf.float32)
    image = tf.image.random_brightness(image, 0.08)
    image = tf.image.random_contrast(image, 0.85, 1.15)
    image = tf.image.random_saturation(image, 0.8, 1.2)
    image = tf.image.random_hue(image, 0.03)
    return tf.clip_by_value(image, 0.0, 1.0), mask


def training_dataset(images: np.ndarray, masks: np.ndarray, preset: Preset, seed: int = 0) -> tf.data.Dataset:
    """Batches of training pairs: the frames stay in memory, shuffled each pass, augmented if the preset says so.

    With progressive resizing, the first preset.small_epochs epochs' batches are at preset.small_size.
    """
    if preset.small_epochs:
        return progressive_dataset(images, masks, preset, seed)
    data = tf.data.Dataset.from_tensor_slices((images, masks))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if preset.augment:
        geometry = [keras.layers.RandomFlip("horizontal", seed=seed),
                    keras.layers.RandomTranslation(0.06, 0.06, fill_mode="reflect", seed=seed + 1),
                    keras.layers.RandomZoom((-0.12, 0.12), fill_mode="reflect", seed=seed + 2)]
        data = data.map(functools.partial(augment_pair, seed_layers=geometry), num_parallel_calls=1,
                        deterministic=True)
    data = data.batch(preset.batch_size)
    if preset.steps_per_epoch:
        data = data.repeat()
    return data.prefetch(2)


def shrink_pairs(images: np.ndarray, masks: np.ndarray, size: tuple[int, int]):
    """Frames resized smoothly (antialiased bilinear) and masks resized then thresholded at half, to size."""
    small_images = tf.image.resize(images, size, method="bilinear", antialias=True).numpy()
    small_masks = (tf.image.resize(masks, size, method="bilinear", antialias=True).numpy() >= 0.5)
    return np.clip(small_images, 0.0, 1.0), small_masks.astype(np.float32)


def progressive_dataset(images: np.ndarray, masks: np.ndarray, preset: Preset, seed: int = 0) -> tf.data.Dataset:
    """small_epochs epochs of batches at preset.small_size, then batches at full size, as one endless dataset."""
    if not preset.steps_per_epoch:
        raise ValueError(f"preset {preset.name!r}: progressive resizing needs steps_per_epoch set (the batches of "
                         "both sizes come from one endless dataset)")
    flat = preset.with_(progressive_scale=1)
    full = training_dataset(images, masks, flat, seed)
    small = training_dataset(*shrink_pairs(images, masks, preset.small_size), flat, seed)
    return small.take(preset.small_epochs * preset.steps_per_epoch).concatenate(full)
