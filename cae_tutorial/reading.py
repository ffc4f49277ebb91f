"""One reader of frames and masks: every path (in memory, streamed, predicted) decodes a file here.

A file is read as an image viewer shows it: EXIF orientation applied, 16-bit images scaled from 0..65535,
palette images turned into their colours, transparent frame pixels shown over black. A mask's person is any
pixel with a nonzero colour (grayscale, RGB, RGBA, palette or 16-bit) that is not fully transparent; a mask
whose colour channels are empty but whose alpha channel varies marks the person with its alpha; a JPEG mask
(lossy) is thresholded at half its brightest value. Frames come back as uint8 (H, W, 3), masks as uint8
(H, W, 1) in {0, 1}; data.py turns them into float32 for the in-memory Record, pipeline.py streams them.

Whatever a reading reinterprets is added to a `notes` collector (`new_notes()`), summarised as one line per
kind by `summarise`. What cannot be read is a `DataError` naming the file and the fix.
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cae_tutorial.errors import CaeTutorialError

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
#: Modes with an alpha channel (a palette image may also name one transparent colour: info["transparency"]).
ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
#: EXIF orientations that turn the picture by a quarter: the viewer swaps width and height.
QUARTER_TURNS = (5, 6, 7, 8)
EXIF_ORIENTATION = 0x0112


class DataError(CaeTutorialError, ValueError):
    """A record that cannot be read as asked; the message names the file or argument and the fix."""


#: One line per kind of reinterpretation, in this order, followed by how many files and which.
READ_NOTES = {
    "alpha": "masks whose colour channels are empty: the person is read from their alpha channel",
    "transparent": "masks with coloured but fully transparent pixels: those pixels are background",
    "jpeg": "JPEG masks (lossy): person where brighter than half the mask's brightest pixel",
    "frames": "animated files: only the first frame is read",
    "transparency": "frames with transparency (an alpha channel or a transparent colour): transparent pixels are "
                    "shown over black",
    "sixteen": "16-bit images: scaled from 0..65535 to 0..1",
    "empty": "masks with no person (all background): their IoU and Dice are undefined",
}


def new_notes() -> defaultdict:
    """An empty collector of reinterpreted (or skipped) files: {kind: [path, ...]}."""
    return defaultdict(list)


def merge_notes(into: dict, more: dict) -> None:
    """Append a collector's files to another's, kind by kind (in the order the files were read)."""
    for kind, paths in more.items():
        into[kind].extend(paths)


def names(paths, limit: int = 3) -> str:
    """A short list of file names: the first few, then how many more."""
    paths = list(paths)
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def summarise(notes: dict, what: dict[str, str]) -> list[str]:
    """One line per kind of note (in the order of `what`): what happened, how many files, which."""
    return [f"{what[kind]}: {len(notes[kind])} file(s): {names(Path(p.parent.name) / p.name for p in notes[kind])}"
            for kind in what if notes.get(kind)]


def _unreadable(path: Path, error: Exception) -> DataError:
    """The error naming a file that cannot be opened or decoded, and the fix."""
    if isinstance(error, PermissionError):
        return DataError(f"{path} cannot be read (permission denied); make it readable or remove it")
    reason = str(error).strip() or type(error).__name__
    return DataError(f"{path} is not a readable image ({reason}); replace or remove it")


_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def open_header(path: str | Path) -> Image.Image:
    """A file opened without decoding its pixels (PIL reads the header only), naming the file on failure."""
    path = Path(path)
    try:
        return Image.open(path)
    except _DECODE_ERRORS as error:
        raise _unreadable(path, error) from error


def note_header(image: Image.Image, path: Path, notes: dict, frame: bool) -> None:
    """The notes a file's header decides: animated, 16-bit, JPEG mask, frame with transparency."""
    if getattr(image, "n_frames", 1) > 1:
        notes["frames"].append(path)
    if frame and image.mode in SIXTEEN_BIT_MODES:
        notes["sixteen"].append(path)
    if frame and (image.mode in ALPHA_MODES or "transparency" in image.info):
        notes["transparency"].append(path)
    if not frame and image.format == "JPEG":
        notes["jpeg"].append(path)


def shown_size(image: Image.Image) -> tuple[int, int]:
    """(height, width) of an opened file as a viewer shows it, from its header: EXIF orientation applied."""
    # A PNG keeps its EXIF in a chunk that PIL reads with the pixels unless it comes first: read no pixels for it.
    known = image.format != "PNG" or "exif" in image.info or "XML:com.adobe.xmp" in image.info
    orientation = image.getexif().get(EXIF_ORIENTATION, 1) if known else 1
    width, height = image.size
    return (width, height) if orientation in QUARTER_TURNS else (height, width)


def open_image(path: str | Path, notes: dict, frame: bool) -> Image.Image:
    """Open and decode a file as a viewer shows it (EXIF orientation applied), noting its header, naming it on failure.

    frame: True for a frame, False for a mask (which notes apply).
    """
    path = Path(path)
    image = open_header(path)
    try:
        image.load()
    except _DECODE_ERRORS as error:
        raise _unreadable(path, error) from error
    note_header(image, path, notes, frame)
    oriented = ImageOps.exif_transpose(image)
    oriented.format = image.format
    return oriented


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit (or 32-bit integer) grayscale image scaled from 0..65535 to 8 bits, as a viewer shows it."""
    values = np.asarray(image, dtype=np.float64) / 65535.0 * 255.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def _resize_to(image: Image.Image, size: tuple[int, int] | None) -> Image.Image:
    """The image resized bilinearly (PIL, antialiased when shrinking) to size=(height, width), if given."""
    if size is None or image.size == (size[1], size[0]):
        return image
    return image.resize((size[1], size[0]), Image.Resampling.BILINEAR)


def frame_pixels(image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3) of a decoded frame (transparent pixels over black), resized bilinearly when size is given."""
    if image.mode in SIXTEEN_BIT_MODES:
        image = _eight_bit(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint32)
        # round(colour x alpha / 255) in integers: over black, a pixel keeps alpha/255 of its colour.
        image = Image.fromarray(((rgba[..., :3] * rgba[..., 3:] + 127) // 255).astype(np.uint8))
    return np.asarray(_resize_to(image.convert("RGB"), size))


def _largest_colour(values: np.ndarray, channels: int) -> np.ndarray:
    """The largest of the first `channels` colour channels of (H, W, C) values, pixel by pixel."""
    colour = values[..., 0]
    for channel in range(1, channels):
        colour = np.maximum(colour, values[..., channel])
    return colour


def person(image: Image.Image, path: Path, notes: dict) -> np.ndarray:
    """Boolean (H, W) person of a decoded mask, by the rules in the module docstring."""
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    has_alpha = image.mode in ALPHA_MODES
    values = np.asarray(image)
    if values.ndim == 3:
        colour = _largest_colour(values, values.shape[-1] - 1 if has_alpha else values.shape[-1])
    else:
        colour = values
    if image.format == "JPEG":
        found = colour > colour.max(initial=0) / 2
    else:
        found = colour > 0
    if has_alpha:
        alpha = values[..., -1]
        if alpha.min() != alpha.max():
            opaque = alpha > 0
            if not (found & opaque).any() and opaque.any():
                notes["alpha"].append(path)
                found = opaque
            elif (found & ~opaque).any():
                notes["transparent"].append(path)
                found = found & opaque
    return found


def mask_pixels(image: Image.Image, path: Path, notes: dict, size: tuple[int, int] | None = None) -> np.ndarray:
    """Binary uint8 (H, W, 1) in {0, 1} of a decoded mask; resizing keeps it binary."""
    found = person(image, path, notes)
    if size is not None and found.shape != tuple(size):
        # Resize the coverage smoothly, then threshold at half: edges stay in place, values stay binary.
        coverage = Image.fromarray(found.astype(np.uint8) * 255).resize((size[1], size[0]), Image.Resampling.BILINEAR)
        found = np.asarray(coverage) >= 128
    if not found.any():
        notes["empty"].append(path)
    return found.astype(np.uint8)[..., None]


def read_frame(path: str | Path, size: tuple[int, int] | None = None, notes: dict | None = None) -> np.ndarray:
    """A frame file as RGB uint8 (H, W, 3), resized smoothly (bilinear) when size is given."""
    notes = new_notes() if notes is None else notes
    return frame_pixels(open_image(path, notes, frame=True), size)


def read_mask(path: str | Path, size: tuple[int, int] | None = None, notes: dict | None = None) -> np.ndarray:
    """A mask file as uint8 (H, W, 1) in {0, 1} by the module's rules; resizing keeps it binary."""
    notes = new_notes() if notes is None else notes
    return mask_pixels(open_image(path, notes, frame=False), Path(path), notes, size)


def check_same_size(image_path, image_size, mask_path, mask_size) -> None:
    """The error naming a mask whose shown (height, width) is not its frame's."""
    if tuple(image_size) != tuple(mask_size):
        raise DataError(f"{mask_path} is {mask_size[1]} x {mask_size[0]} (W x H) but its image {image_path} is "
                        f"{image_size[1]} x {image_size[0]}; masks must match their image")


def read_pair(image_path: str | Path, mask_path: str | Path, size: tuple[int, int] | None = None,
              notes: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A frame (uint8 (H, W, 3)) and its mask (uint8 (H, W, 1)), checked to be the same shown size before resizing."""
    notes = new_notes() if notes is None else notes
    image_path, mask_path = Path(image_path), Path(mask_path)
    image, mask = open_image(image_path, notes, frame=True), open_image(mask_path, notes, frame=False)
    check_same_size(image_path, (image.height, image.width), mask_path, (mask.height, mask.width))
    return frame_pixels(image, size), mask_pixels(mask, mask_path, notes, size)


def _check_listed_pair(image_path: Path, mask_path: Path, size: tuple[int, int]) -> tuple[dict, bool]:
    """One listed pair checked without decoding its frame: its notes and whether its mask is all background."""
    notes = new_notes()
    with open_header(image_path) as header:
        note_header(header, image_path, notes, frame=True)
        image_size = shown_size(header)
    mask = open_image(mask_path, notes, frame=False)
    check_same_size(image_path, image_size, mask_path, (mask.height, mask.width))
    return notes, not mask_pixels(mask, mask_path, notes, size).any()


def check_listed_pairs(image_paths, mask_paths, size: tuple[int, int], workers: int | None = None):
    """What can be checked of listed pairs before streaming them: ({kind: [path, ...]}, [mask is all background]).

    Frames are checked from their headers (readable, shown size, notes); masks are decoded at `size` (they are
    small and compress well) for their notes, their size and whether they mark any person. The first failure in
    listing order raises its DataError. Files are read by `workers` threads (default: one per CPU).
    """
    workers = workers or min(8, os.cpu_count() or 1)
    pairs = list(zip(map(Path, image_paths), map(Path, mask_paths)))
    notes, empty = new_notes(), []
    pool = ThreadPoolExecutor(max_workers=workers)  # PIL decodes and resizes without holding the GIL
    try:
        for pair_notes, is_empty in pool.map(lambda pair: _check_listed_pair(*pair, size), pairs):
            merge_notes(notes, pair_notes)
            empty.append(is_empty)
    finally:
        pool.shutdown(cancel_futures=True)  # after a failure, the files not yet read are not read
    return notes, empty
