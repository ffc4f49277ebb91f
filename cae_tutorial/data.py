"""Records in the Kaggle layout: load frames and masks, resize them, split them by frame id.

A record folder holds ``images/`` and ``masks/`` whose files share names, such as
``images/136_00090.png`` and ``masks/136_00090.png``; the part before the first
underscore is the record prefix and the rest the frame number. Masks may be stored
as grayscale, RGB, RGBA or palette images: any nonzero pixel (in any colour
channel, alpha ignored) is the person, zero is background.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Frame numbers the seed trained on (136_00090, 136_00210, 136_00420); the rest are held out.
SEED_TRAIN_FRAMES = ("00090", "00210", "00420")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Three stride-2 stages halve the size three times, so sizes must divide by 2**3.
SIZE_MULTIPLE = 8


class DataError(ValueError):
    """A record that cannot be read as asked; the message names the file or argument and the fix."""


@dataclass(frozen=True, eq=False)
class Record:
    """One record: frame ids, images (N, H, W, 3) float32 in [0, 1], masks (N, H, W, 1) in {0, 1}."""

    ids: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    root: Path | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return self.images.shape[1], self.images.shape[2]

    def index(self, frame_ids) -> list[int]:
        """Positions of the given frame ids, with an error naming any unknown id."""
        positions = {frame_id: i for i, frame_id in enumerate(self.ids)}
        missing = [frame_id for frame_id in frame_ids if frame_id not in positions]
        if missing:
            raise DataError(f"frame ids {missing} are not in this record; its frames are {list(self.ids)}")
        return [positions[frame_id] for frame_id in frame_ids]

    def subset(self, frame_ids) -> "Record":
        """A record holding only the given frames, in the given order."""
        take = self.index(frame_ids)
        return Record(tuple(frame_ids), self.images[take], self.masks[take], self.root)

    def __repr__(self) -> str:
        h, w = self.size
        return f"Record({len(self)} frames of {h} x {w}, ids {self.ids[0]} ... {self.ids[-1]})"


@dataclass(frozen=True)
class Split:
    """Which frame ids train the model and which are held out to measure it."""

    train_ids: tuple[str, ...]
    heldout_ids: tuple[str, ...] = field(default=())

    def __post_init__(self):
        overlap = set(self.train_ids) & set(self.heldout_ids)
        if overlap:
            raise DataError(f"frames {sorted(overlap)} are both in training and held out; each frame belongs to one part")

    def to_dict(self) -> dict:
        """A JSON-ready dict of both parts."""
        return {"train_ids": list(self.train_ids), "heldout_ids": list(self.heldout_ids)}

    @classmethod
    def from_dict(cls, data: dict) -> "Split":
        """Inverse of to_dict."""
        return cls(tuple(data["train_ids"]), tuple(data["heldout_ids"]))


def embedded_record_path() -> Path:
    """Folder of the embedded synthetic record (frames ``dance_*``): the repository's ``data/dance``."""
    committed = Path(__file__).resolve().parent.parent / "data" / "dance"
    if (committed / "images").is_dir():
        return committed
    # Installed without the repository (a wheel): draw the same clip once into a cache folder.
    from cae_tutorial.synthetic import write_dance_clip

    cache = Path(os.environ.get("CAE_TUTORIAL_CACHE", Path.home() / ".cache" / "cae-tutorial")) / "dance"
    if not (cache / "masks").is_dir():
        write_dance_clip(cache)
    return cache


def frame_number(frame_id: str) -> str:
    """The frame part of an id: '136_00090' -> '00090'."""
    return frame_id.split("_", 1)[1] if "_" in frame_id else frame_id


def check_size(size, name: str = "size") -> tuple[int, int]:
    """Validate a (height, width) pair for the CAE: two positive ints divisible by 8."""
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise DataError(f"{name} must be a (height, width) pair of ints, got {size!r}")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size):
        raise DataError(f"{name} must hold ints, got {size!r} ({', '.join(type(v).__name__ for v in size)})")
    height, width = int(size[0]), int(size[1])
    if height <= 0 or width <= 0 or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        fix = tuple(max(SIZE_MULTIPLE, round(v / SIZE_MULTIPLE) * SIZE_MULTIPLE) for v in (height, width))
        raise DataError(
            f"{name}={size!r} does not divide by {SIZE_MULTIPLE}: the CAE's three stride-2 stages "
            f"halve it three times; use for example {fix}"
        )
    return height, width


def _list_frames(folder: Path, record: str | None) -> dict[str, Path]:
    """{frame id: file} for the image files in folder that belong to the record."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and (record is None or path.stem.startswith(f"{record}_")):
            files[path.stem] = path
    return files


def _open(path: Path) -> Image.Image:
    """Open and fully decode an image file, with an error naming the file when it is not one."""
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DataError(f"{path} is not a readable image ({error}); replace or remove it") from error
    return image


def _image_array(image: Image.Image, size: tuple[int, int] | None) -> np.ndarray:
    """RGB float32 (H, W, 3) in [0, 1] from a decoded image, resized bilinearly when size is given."""
    image = image.convert("RGB")
    if size is not None:
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0


def _mask_array(image: Image.Image, size: tuple[int, int] | None) -> np.ndarray:
    """Binary float32 (H, W, 1) from a decoded mask: any nonzero pixel (alpha ignored) is person."""
    if image.mode == "P":
        image = image.convert("RGBA")
    values = np.asarray(image)
    if values.ndim == 3:
        values = values[..., :3] if values.shape[-1] >= 3 else values[..., :1]
        values = values.max(axis=-1)
    person = (values > 0).astype(np.uint8) * 255
    if size is not None and person.shape != tuple(size):
        # Resize the coverage smoothly, then threshold at half: edges stay in place, values stay binary.
        resized = Image.fromarray(person).resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return (np.asarray(resized) >= 128).astype(np.float32)[..., None]
    return (person > 0).astype(np.float32)[..., None]


def read_image(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An RGB frame as float32 (H, W, 3) in [0, 1], resized smoothly (bilinear) when size is given."""
    return _image_array(_open(Path(path)), size)


def read_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask as float32 (H, W, 1) in {0, 1}: any nonzero pixel is person; resizing keeps it binary."""
    return _mask_array(_open(Path(path)), size)


def read_pair(image_path: Path, mask_path: Path, size: tuple[int, int] | None = None):
    """A frame and its mask, checked to be the same size before any resizing."""
    image, mask = _open(image_path), _open(mask_path)
    if image.size != mask.size:
        raise DataError(f"{mask_path} is {mask.size[0]} x {mask.size[1]} (W x H) but its image {image_path} is "
                        f"{image.size[0]} x {image.size[1]}; masks must match their image")
    return _image_array(image, size), _mask_array(mask, size)


def load_record(root: str | Path | None = None, record: str | None = None,
                size: tuple[int, int] | None = None) -> Record:
    """Load a Kaggle-layout record (default: the embedded one), paired by file name and sorted by frame."""
    root = embedded_record_path() if root is None else Path(root)
    if size is not None:
        size = check_size(size)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; pass the folder that holds images/ and masks/")
    image_dir, mask_dir = root / "images", root / "masks"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder} is missing; a record folder needs images/ and masks/ with the same file names")
    images, masks = _list_frames(image_dir, record), _list_frames(mask_dir, record)
    if not images and not masks:
        prefixes = sorted({p.stem.split("_")[0] for p in image_dir.iterdir() if "_" in p.stem})
        raise DataError(
            f"no frames for record {record!r} in {root}; record prefixes found there: {prefixes or 'none'}"
        )
    unpaired = [images[i] for i in images.keys() - masks.keys()] + [masks[i] for i in masks.keys() - images.keys()]
    if unpaired:
        names = ", ".join(str(p) for p in sorted(unpaired))
        raise DataError(f"unpaired files (an image without its mask, or a mask without its image): {names}; "
                        "add the missing partner or remove the file")
    ids = tuple(sorted(images))
    frames, truths = [], []
    for frame_id in ids:
        frame, mask = read_pair(images[frame_id], masks[frame_id], size)
        if frames and frame.shape != frames[0].shape:
            raise DataError(f"{images[frame_id]} is {frame.shape[1]} x {frame.shape[0]} but {images[ids[0]]} is "
                            f"{frames[0].shape[1]} x {frames[0].shape[0]}; pass size=(height, width) to resize all")
        frames.append(frame)
        truths.append(mask)
    return Record(ids, np.stack(frames), np.stack(truths), root)


def load_frames(paths, size: tuple[int, int]) -> tuple[tuple[str, ...], np.ndarray]:
    """Frames with no masks (files or folders of images), for prediction: ids and (N, H, W, 3) float32."""
    size = check_size(size)
    files: list[Path] = []
    for path in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        if path.is_dir():
            files += [p for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"{path} does not exist; pass image files or a folder of them")
    if not files:
        raise DataError(f"no .png/.jpg frames found in {paths}; pass image files or a folder of them")
    return tuple(p.stem for p in files), np.stack([read_image(p, size) for p in files])


def split_by_ids(record: Record, train_ids) -> Split:
    """Train on the given frame ids and hold out every other frame of the record."""
    train_ids = tuple(train_ids)
    if not train_ids:
        raise DataError("the training split is empty; name at least one frame id to train on")
    record.index(train_ids)
    return Split(train_ids, tuple(i for i in record.ids if i not in train_ids))


def seed_split(record: Record) -> Split:
    """The seed's split: train on frames 00090, 00210 and 00420 of the record, hold out the rest."""
    train_ids = tuple(i for i in record.ids if frame_number(i) in SEED_TRAIN_FRAMES)
    if not train_ids:
        raise DataError(
            f"the training split is empty: none of the seed's frames {SEED_TRAIN_FRAMES} is in this record "
            f"({list(record.ids)}); choose frames with split_by_ids(record, [...])"
        )
    return split_by_ids(record, train_ids)


def resize_probabilities(probabilities: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float probabilities (H, W) or (H, W, 1) resized bilinearly to size (height, width), same layout."""
    values = np.asarray(probabilities, np.float32)
    flat = values[..., 0] if values.ndim == 3 else values
    if flat.ndim != 2:
        raise DataError(f"probabilities must be (H, W) or (H, W, 1), got shape {values.shape}")
    resized = Image.fromarray(flat, mode="F").resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
    out = np.clip(np.asarray(resized, np.float32), 0.0, 1.0)
    return out[..., None] if values.ndim == 3 else out
