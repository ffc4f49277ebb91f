"""The input pipeline: training pairs as a tf.data dataset, augmented on the fly.

The course's small records live in memory (``frames_dataset``); frames are
shuffled each pass and, when the preset says so, flipped, shifted, zoomed and
colour-jittered, frame and mask together.

The full dataset streams from its files (``list_record_files`` -> ``RecordFiles`` ->
``streaming_dataset``): the files are listed and checked once (frame headers, masks decoded
for their notes, sizes and person), then decoded and resized in parallel by the same reader
as ``load_record`` (``cae_tutorial.reading``, through ``tf.numpy_function``), cached in memory
only when the decoded frames fit a budget, then augmented the same way. A file that fails to
decode mid-training raises the DataError naming it inside ``named_file_errors()`` (``train``
uses it). ``split_by_records`` holds out whole records (one dancer's video each).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cae_tutorial import reading
from cae_tutorial.data import (
    DataError,
    Record,
    Split,
    check_size,
    embedded_record_path,
    paired_files,
    read_pair,
)
from cae_tutorial.presets import Preset
from cae_tutorial.reading import READ_NOTES, summarise


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


def frames_dataset(images: np.ndarray, masks: np.ndarray, preset: Preset, seed: int = 0,
                   batch_size: int | None = None) -> tf.data.Dataset:
    """Batches of training pairs: the frames stay in memory, shuffled each pass, augmented if the preset says so.

    batch_size: the global batch (default: the preset's; several devices split it, see distribute.py).
    """
    if preset.small_epochs:
        return progressive_dataset(images, masks, preset, seed, batch_size)
    data = tf.data.Dataset.from_tensor_slices((images, masks))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if preset.augment:
        data = data.map(functools.partial(augment_pair, seed_layers=_geometry_layers(seed)), num_parallel_calls=1,
                        deterministic=True)
    data = data.batch(batch_size or preset.batch_size)
    if preset.steps_per_epoch:
        data = data.repeat()
    return data.prefetch(2)


# ---------------------------------------------------------------------------------------------------------------
# Streaming from files: the full dataset never sits in memory as float32.
# ---------------------------------------------------------------------------------------------------------------

#: Decoded frames (uint8 image + mask, 4 bytes a pixel) are cached in memory up to this many bytes by default.
CACHE_BUDGET_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class RecordFiles:
    """Frames of one or several records listed by file (ids, image and mask paths), with no frame loaded.

    notes: what the listing skipped or the reader reinterprets, one line each (printed by repr, as a Record's);
    empty_ids: the frames whose mask (read at `size`) is all background.
    """

    ids: tuple[str, ...]
    image_paths: tuple[str, ...]
    mask_paths: tuple[str, ...]
    size: tuple[int, int]
    root: Path | None = None
    notes: tuple[str, ...] = ()
    empty_ids: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def records(self) -> tuple[str, ...]:
        """The record prefixes present, sorted (one record = one dancer's video)."""
        return tuple(sorted({record_of(i) for i in self.ids}))

    def index(self, frame_ids) -> list[int]:
        """Positions of the given frame ids, with an error naming any unknown id."""
        positions = {frame_id: i for i, frame_id in enumerate(self.ids)}
        missing = [frame_id for frame_id in frame_ids if frame_id not in positions]
        if missing:
            raise DataError(f"frame ids {missing[:10]} are not in these files; ids look like {list(self.ids[:3])}")
        return [positions[frame_id] for frame_id in frame_ids]

    def subset(self, frame_ids) -> RecordFiles:
        """The listing of the given frames only, in the given order."""
        take = self.index(frame_ids)
        return RecordFiles(tuple(frame_ids), tuple(self.image_paths[i] for i in take),
                           tuple(self.mask_paths[i] for i in take), self.size, self.root, self.notes,
                           frozenset(self.empty_ids & set(frame_ids)))

    def empty_masks(self) -> list[str]:
        """Ids of the frames whose mask is all background (as Record.empty_masks)."""
        return [frame_id for frame_id in self.ids if frame_id in self.empty_ids]

    def load(self, frame_ids=None) -> Record:
        """The given frames (default: all) read into memory as a Record, exactly as load_record reads them."""
        part = self if frame_ids is None else self.subset(frame_ids)
        pairs = [read_pair(Path(i), Path(m), part.size) for i, m in zip(part.image_paths, part.mask_paths)]
        if not pairs:
            return Record((), np.zeros((0, *part.size, 3), np.float32), np.zeros((0, *part.size, 1), np.float32),
                          part.root, part.notes)
        return Record(part.ids, np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), part.root,
                      part.notes)

    def decoded_bytes(self) -> int:
        """Bytes the decoded, resized frames take as uint8 (3 image channels + 1 mask channel)."""
        return len(self) * self.size[0] * self.size[1] * 4

    def __repr__(self) -> str:
        line = (f"RecordFiles({len(self)} frames of {len(self.records)} records, read at "
                f"{self.size[0]} x {self.size[1]})")
        return "\n".join([line, *(f"  note: {note}" for note in self.notes)])


def record_of(frame_id: str) -> str:
    """The record prefix of a frame id: '136_00090' -> '136'."""
    return frame_id.split("_", 1)[0]


def list_record_files(root: str | Path | None = None, record: str | None = None,
                      size: tuple[int, int] = (256, 128)) -> RecordFiles:
    """List a Kaggle-layout folder's paired frames (every record, or one prefix) once, and check them.

    No frame is decoded: frames are checked from their headers (readable, shown size), masks are read at `size`
    for what load_record would say of them (their notes, a size other than their frame's: DataError, no person).
    """
    root = embedded_record_path() if root is None else Path(root)
    size = check_size(size)
    images, masks, skipped_notes = paired_files(root, record)
    ids = tuple(sorted(images))
    image_paths, mask_paths = tuple(str(images[i]) for i in ids), tuple(str(masks[i]) for i in ids)
    read_notes, empty = reading.check_listed_pairs(image_paths, mask_paths, size)
    notes = tuple(skipped_notes + summarise(read_notes, READ_NOTES))
    return RecordFiles(ids, image_paths, mask_paths, size, root, notes, frozenset(i for i, e in zip(ids, empty) if e))


#: Errors of files that failed to decode while streaming, by message: `named_file_errors` raises them again.
_STREAM_FAILURES: dict[str, DataError] = {}
_STREAM_FAILURES_LOCK = threading.Lock()


def _read_streamed_pair(image_path: bytes, mask_path: bytes, size: tuple[int, int]):
    """One pair decoded by the reader for tf.numpy_function: uint8 frame and mask, a DataError remembered."""
    try:
        return reading.read_pair(os.fsdecode(image_path), os.fsdecode(mask_path), size)
    except DataError as error:
        with _STREAM_FAILURES_LOCK:
            _STREAM_FAILURES[str(error)] = error
        raise


def decode_pair(image_path, mask_path, size: tuple[int, int]):
    """A pair of file names (string tensors) -> uint8 frame (H, W, 3) and mask (H, W, 1) in {0, 1}, read by
    cae_tutorial.reading exactly as load_record reads them."""
    image, mask = tf.numpy_function(functools.partial(_read_streamed_pair, size=tuple(size)), [image_path, mask_path],
                                    (tf.uint8, tf.uint8), stateful=False, name="read_pair")
    image.set_shape((*size, 3))
    mask.set_shape((*size, 1))
    return image, mask


@contextlib.contextmanager
def named_file_errors():
    """Inside it, a TensorFlow error caused by a streamed file that failed to decode (truncated, corrupt, a mask
    of another size) is raised again as the DataError naming the file and the fix, without TensorFlow's trace.

        with named_file_errors():
            model.fit(streaming_dataset(files, preset), ...)
    """
    try:
        yield
    except tf.errors.OpError as error:
        text = str(error)
        with _STREAM_FAILURES_LOCK:
            failure = next((e for message, e in _STREAM_FAILURES.items() if message in text), None)
        if failure is None:
            raise
        raise DataError(str(failure)) from None


#: Shuffle buffer (frames) of a set cached in a file: bounded so that memory stays flat.
FILE_CACHE_SHUFFLE = 256


def _cache_mode(files: RecordFiles, cache, budget: int) -> str:
    """'memory', 'file' or 'none': where decoded frames go (in memory only if they fit the budget twice over)."""
    if cache in (None, False, "none"):
        return "none"
    if cache == "memory":
        return "memory"
    if cache == "auto":
        # Twice: the cache, and the shuffle buffer that draws from it.
        return "memory" if 2 * files.decoded_bytes() <= budget else "none"
    return "file"


def decoded_dataset(files: RecordFiles, cache="auto", cache_budget: int = CACHE_BUDGET_BYTES,
                    parallel: int | None = None, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """(image float32 [0, 1], mask float32 {0, 1}) per frame, decoded in parallel, in order or shuffled each pass.

    cache: "auto" (memory when the decoded frames fit cache_budget bytes, else none), "memory", None,
    or a file path (tf.data's cache file, for sets larger than memory that are read several times).
    Uncached, the file names are shuffled before decoding, so memory does not grow with the number of frames.
    """
    parallel = tf.data.AUTOTUNE if parallel is None else parallel
    mode = _cache_mode(files, cache, cache_budget)
    data = tf.data.Dataset.from_tensor_slices((list(files.image_paths), list(files.mask_paths)))
    if shuffle_seed is not None and mode == "none":
        data = data.shuffle(len(files), seed=shuffle_seed, reshuffle_each_iteration=True)
    data = data.map(lambda i, m: decode_pair(i, m, files.size), num_parallel_calls=parallel, deterministic=True)
    if mode == "memory":
        data = data.cache()
    elif mode == "file":
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        data = data.cache(str(cache))
    if shuffle_seed is not None and mode != "none":
        buffer = len(files) if mode == "memory" else min(len(files), FILE_CACHE_SHUFFLE)
        data = data.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)  # uint8 frames
    return data.map(lambda i, m: (tf.cast(i, tf.float32) / 255.0, tf.cast(m, tf.float32)))


def streaming_dataset(files: RecordFiles, preset: Preset, seed: int = 0, cache="auto",
                      cache_budget: int = CACHE_BUDGET_BYTES, batch_size: int | None = None,
                      training: bool = True) -> tf.data.Dataset:
    """Batches read from files as training goes: shuffled and augmented as frames_dataset does (training=True).

    batch_size: the global batch (default: the preset's); training=False gives the frames in order, unaugmented.
    """
    batch_size = batch_size or preset.batch_size
    if not training:
        return decoded_dataset(files, cache, cache_budget).batch(batch_size).prefetch(2)
    data = decoded_dataset(files, cache, cache_budget, shuffle_seed=seed)
    if preset.augment:
        data = data.map(functools.partial(augment_pair, seed_layers=_geometry_layers(seed)), num_parallel_calls=1,
                        deterministic=True)
    data = data.batch(batch_size)
    if preset.steps_per_epoch:
        data = data.repeat()
    return data.prefetch(2)


def _geometry_layers(seed: int) -> list:
    """The flip / shift / zoom layers of the augmentation, seeded."""
    return [keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(0.06, 0.06, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom((-0.12, 0.12), fill_mode="reflect", seed=seed + 2)]


def split_by_records(record_or_ids, holdout: float = 0.2, seed: int = 0) -> Split:
    """Hold out whole records (one dancer's video each): round(holdout x records) of them, drawn with the seed.

    record_or_ids: a Record, a RecordFiles, or frame ids. At least one record trains and one is held out.
    """
    ids = tuple(getattr(record_or_ids, "ids", record_or_ids))
    if not isinstance(holdout, (int, float)) or isinstance(holdout, bool) or not 0 < holdout < 1:
        raise DataError(f"holdout={holdout!r}: give the share of records to hold out, between 0 and 1 (e.g. 0.2)")
    records = sorted({record_of(i) for i in ids})
    if len(records) < 2:
        raise DataError(f"a split by record needs at least 2 records (prefixes before '_'), found {records}; "
                        "add records or split by frame with split_by_ids")
    count = min(len(records) - 1, max(1, round(holdout * len(records))))
    held = set(np.random.default_rng(seed).choice(records, size=count, replace=False).tolist())
    return Split(tuple(i for i in ids if record_of(i) not in held), tuple(i for i in ids if record_of(i) in held))


def split_records(split: Split) -> dict[str, list[str]]:
    """The record prefixes on each side of a split: {'train': [...], 'heldout': [...]}."""
    return {"train": sorted({record_of(i) for i in split.train_ids}),
            "heldout": sorted({record_of(i) for i in split.heldout_ids})}


def shrink_pairs(images: np.ndarray, masks: np.ndarray, size: tuple[int, int]):
    """Frames resized smoothly (antialiased bilinear) and masks resized then thresholded at half, to size."""
    small_images = tf.image.resize(images, size, method="bilinear", antialias=True).numpy()
    small_masks = (tf.image.resize(masks, size, method="bilinear", antialias=True).numpy() >= 0.5)
    return np.clip(small_images, 0.0, 1.0), small_masks.astype(np.float32)


def progressive_dataset(images: np.ndarray, masks: np.ndarray, preset: Preset, seed: int = 0,
                        batch_size: int | None = None) -> tf.data.Dataset:
    """small_epochs epochs of batches at preset.small_size, then batches at full size, as one endless dataset."""
    if not preset.steps_per_epoch:
        raise ValueError(f"preset {preset.name!r}: progressive resizing needs steps_per_epoch set (the batches of "
                         "both sizes come from one endless dataset)")
    flat = preset.with_(progressive_scale=1)
    full = frames_dataset(images, masks, flat, seed, batch_size)
    small = frames_dataset(*shrink_pairs(images, masks, preset.small_size), flat, seed, batch_size)
    return small.take(preset.small_epochs * preset.steps_per_epoch).concatenate(full)
