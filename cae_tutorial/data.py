"""Records in the Kaggle layout: list frames and masks, load them, resize them, split them by frame id.

A record folder holds ``images/`` and ``masks/`` whose files share names, such as
``images/136_00090.png`` and ``masks/136_00090.png``; the part before the first
underscore is the record prefix and the rest the frame number.

Every file is decoded by ``cae_tutorial.reading`` (the one reader the streaming pipeline uses too), by the
rules in its docstring: read as an image viewer shows it, masks' person by colour, alpha or JPEG threshold.
Whatever the loader skips (hidden files, other formats, subfolders, other records, earlier predictions) or
reinterprets is listed in ``Record.notes`` (printed with the record); what it cannot pair is an error.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from cae_tutorial import reading
from cae_tutorial.reading import READ_NOTES, DataError, names, new_notes, summarise

#: Frame numbers the seed trained on (136_00090, 136_00210, 136_00420); the rest are held out.
SEED_TRAIN_FRAMES = ("00090", "00210", "00420")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: What `cae-tutorial predict` writes beside a frame's id; never read back as a frame of that id.
PREDICTION_SUFFIXES = ("_mask", "_overlay")
#: Three stride-2 stages halve the size three times, so sizes must divide by 2**3.
SIZE_MULTIPLE = 8


@dataclass(frozen=True, eq=False)
class Record:
    """One record: frame ids, images (N, H, W, 3) float32 in [0, 1], masks (N, H, W, 1) in {0, 1}.

    notes: what the loader skipped or reinterpreted, one line each (printed by repr).
    """

    ids: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    root: Path | None = None
    notes: tuple[str, ...] = ()

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
        return Record(tuple(frame_ids), self.images[take], self.masks[take], self.root, self.notes)

    def empty_masks(self) -> list[str]:
        """Ids of the frames whose mask is all background."""
        return [frame_id for frame_id, mask in zip(self.ids, self.masks) if not mask.any()]

    def __repr__(self) -> str:
        if not len(self):
            return "Record(no frames)"
        h, w = self.size
        line = f"Record({len(self)} frames of {h} x {w}, ids {self.ids[0]} ... {self.ids[-1]})"
        return "\n".join([line, *(f"  note: {note}" for note in self.notes)])


def few_ids(ids, show: int = 3) -> str:
    """Frame ids for a one-line summary: all of them when few, else the first `show`, an ellipsis and the last."""
    ids = list(ids)
    return ", ".join(ids) if len(ids) <= show + 1 else f"{', '.join(ids[:show])}, ... {ids[-1]}"


@dataclass(frozen=True, repr=False)
class Split:
    """Which frame ids train the model and which are held out to measure it."""

    train_ids: tuple[str, ...]
    heldout_ids: tuple[str, ...] = field(default=())

    def __post_init__(self):
        for part, ids in (("training", self.train_ids), ("held-out", self.heldout_ids)):
            repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
            if repeated:
                raise DataError(f"frames {repeated} are named more than once in the {part} ids; name each frame once")
        overlap = set(self.train_ids) & set(self.heldout_ids)
        if overlap:
            raise DataError(f"frames {sorted(overlap)} are both in training and held out; each frame belongs to one part")

    def __repr__(self) -> str:
        return (f"Split({len(self.train_ids)} training: {few_ids(self.train_ids)}; "
                f"{len(self.heldout_ids)} held out: {few_ids(self.heldout_ids) or 'none'})")

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
    why = "the CAE's three stride-2 stages halve height and width three times"
    if height <= 0 or width <= 0:
        raise DataError(f"{name}={size!r}: height and width must be a positive multiple of {SIZE_MULTIPLE} "
                        f"({why}); use for example (128, 64)")
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        fix = tuple(max(SIZE_MULTIPLE, round(v / SIZE_MULTIPLE) * SIZE_MULTIPLE) for v in (height, width))
        raise DataError(f"{name}={size!r} does not divide by {SIZE_MULTIPLE}: height and width must be a positive "
                        f"multiple of {SIZE_MULTIPLE} ({why}); use for example {fix}")
    return height, width


_SKIPPED = {
    "hidden": "skipped hidden files",
    "folder": "skipped subfolders (frames are read from the folder itself, not below it)",
    "format": f"skipped files that are not {'/'.join(IMAGE_SUFFIXES)} images (convert them to PNG to use them)",
    "record": "skipped files of other records",
    "prediction": "skipped earlier predictions (<id>_mask / <id>_overlay beside the frame <id>)",
}


def _scan(folder: Path, record: str | None, skipped: dict) -> dict[str, Path]:
    """{frame id: file} for the image files in folder that belong to the record; skipped files go in skipped."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            skipped["hidden"].append(path)
        elif path.is_dir():
            skipped["folder"].append(path)
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped["format"].append(path)
        elif record is not None and not path.stem.startswith(f"{record}_"):
            skipped["record"].append(path)
        elif path.stem in files:
            raise DataError(f"{files[path.stem]} and {path} are the same frame in two formats; "
                            "keep one of them (move the other out of the folder)")
        else:
            files[path.stem] = path
    return files


def _skip_predictions(files: dict[str, Path], skipped: dict) -> dict[str, Path]:
    """Files without earlier predictions: <id>_mask / <id>_overlay beside the frame <id> in the same folder."""
    kept = {}
    for frame_id, path in files.items():
        base = next((frame_id[: -len(s)] for s in PREDICTION_SUFFIXES if frame_id.endswith(s)), None)
        if base is not None and base in files and files[base].parent == path.parent:
            skipped["prediction"].append(path)
        else:
            kept[frame_id] = path
    return kept


def _check_folder(folder: Path, what: str) -> None:
    """An error naming the fix when folder is missing or is a file."""
    if folder.is_file():
        raise DataError(f"{what} {folder} is a file, not a folder; pass the folder that holds images/ and masks/")
    if not folder.is_dir():
        raise DataError(f"{what} {folder} does not exist; pass the folder that holds images/ and masks/")


def frame_as_float(pixels: np.ndarray) -> np.ndarray:
    """A uint8 frame as float32 in [0, 1] (the streamed frames are divided the same way, so the values are equal)."""
    return pixels.astype(np.float32) / np.float32(255)


def mask_as_float(pixels: np.ndarray) -> np.ndarray:
    """A uint8 mask in {0, 1} as float32 in {0, 1}."""
    return pixels.astype(np.float32)


def read_image(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """An RGB frame as float32 (H, W, 3) in [0, 1], resized smoothly (bilinear) when size is given."""
    return frame_as_float(reading.read_frame(path, size))


def read_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask as float32 (H, W, 1) in {0, 1} by the reader's rules; resizing keeps it binary."""
    return mask_as_float(reading.read_mask(path, size))


def read_originals(record, kind: str) -> list[np.ndarray] | None:
    """A record's frames (kind "images") or masks ("masks") at their files' own size, read from record.root/kind by
    read_image / read_mask; None when the record has no folder or a frame's file is missing."""
    if kind not in ("images", "masks"):
        raise ValueError(f"kind must be 'images' or 'masks', got {kind!r}")
    folder = None if getattr(record, "root", None) is None else Path(record.root) / kind
    if folder is None or not folder.is_dir():
        return None
    files = {path.stem: path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES}
    if not all(frame_id in files for frame_id in record.ids):
        return None
    read = read_image if kind == "images" else read_mask
    return [read(files[frame_id]) for frame_id in record.ids]


def read_pair(image_path: Path, mask_path: Path, size: tuple[int, int] | None = None, notes: dict | None = None):
    """A frame and its mask as float32, checked to be the same size (as displayed) before any resizing."""
    image, mask = reading.read_pair(image_path, mask_path, size, notes)
    return frame_as_float(image), mask_as_float(mask)


def _frame_files(folder: Path, record: str | None, skipped: dict) -> dict[str, Path]:
    """The frames of images/ or masks/, with an error naming the folder when it holds none."""
    _check_folder(folder, "folder")
    files = _scan(folder, record, skipped)
    if files:
        return files
    entries = [p for p in sorted(folder.iterdir())]
    if not entries:
        raise DataError(f"{folder} is empty; put the record's {folder.name} there (files such as 136_00090.png)")
    if record is None or not any(p.suffix.lower() in IMAGE_SUFFIXES for p in entries):
        raise DataError(f"{folder} holds no {'/'.join(IMAGE_SUFFIXES)} files (found {names(p.name for p in entries)}); "
                        f"put the record's {folder.name} there as PNG or JPEG")
    prefixes = sorted({p.stem.split("_")[0] for p in entries if "_" in p.stem})
    raise DataError(f"no frames for record {record!r} in {folder}; record prefixes found there: "
                    f"{prefixes or 'none'}")


def paired_files(root: str | Path | None = None, record: str | None = None):
    """A Kaggle-layout folder's frames and masks, paired by name, listed once: ({id: image}, {id: mask}, notes).

    Files skipped on the way (hidden, other formats, other records, earlier predictions) are named in notes.
    """
    root = embedded_record_path() if root is None else Path(root)
    _check_folder(root, "data folder")
    image_dir, mask_dir = root / "images", root / "masks"
    for folder in (image_dir, mask_dir):
        if not folder.exists():
            raise DataError(f"{folder} is missing; a record folder needs images/ and masks/ with the same file names")
    skipped = new_notes()
    images, masks = _frame_files(image_dir, record, skipped), _frame_files(mask_dir, record, skipped)
    unpaired = [images[i] for i in images.keys() - masks.keys()] + [masks[i] for i in masks.keys() - images.keys()]
    if unpaired:
        names = ", ".join(str(p) for p in sorted(unpaired))
        raise DataError(f"unpaired files (an image without its mask, or a mask without its image): {names}; "
                        "add the missing partner or remove the file")
    return images, masks, summarise(skipped, _SKIPPED)


def load_record(root: str | Path | None = None, record: str | None = None,
                size: tuple[int, int] | None = None) -> Record:
    """Load a Kaggle-layout record (default: the embedded one), paired by file name and sorted by frame."""
    root = embedded_record_path() if root is None else Path(root)
    if size is not None:
        size = check_size(size)
    images, masks, skipped_notes = paired_files(root, record)
    ids = tuple(sorted(images))
    frames, truths, read = [], [], new_notes()
    for frame_id in ids:
        frame, mask = read_pair(images[frame_id], masks[frame_id], size, read)
        if frames and frame.shape != frames[0].shape:
            raise DataError(f"{images[frame_id]} is {frame.shape[0]} x {frame.shape[1]} (height x width) but "
                            f"{images[ids[0]]} is {frames[0].shape[0]} x {frames[0].shape[1]}; pass "
                            "size=(height, width) to resize all")
        frames.append(frame)
        truths.append(mask)
    notes = skipped_notes + summarise(read, READ_NOTES)
    return Record(ids, np.stack(frames), np.stack(truths), root, tuple(notes))


@dataclass(frozen=True, eq=False)
class Frames:
    """Frames without masks, for prediction: ids, images (N, H, W, 3) at the model's size, each file's
    own (height, width) as a viewer shows it, the files, and notes on what was skipped or reinterpreted."""

    ids: tuple[str, ...]
    images: np.ndarray
    sizes: tuple[tuple[int, int], ...]
    paths: tuple[Path, ...]
    notes: tuple[str, ...] = ()


def find_frames(paths) -> tuple[dict[str, Path], tuple[str, ...]]:
    """{id: file} of the frames named by files or folders (earlier predictions skipped), and notes."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: dict[str, Path] = {}
    skipped = new_notes()
    for path in map(Path, paths):
        if path.is_dir():
            found = _skip_predictions(_scan(path, None, skipped), skipped)
        elif path.is_file():
            found = {path.stem: path}
        else:
            raise DataError(f"{path} does not exist; pass image files or a folder of them")
        for frame_id, file in found.items():
            if frame_id in files and files[frame_id].resolve() != file.resolve():
                raise DataError(f"{files[frame_id]} and {file} share the id {frame_id!r}, so their predictions "
                                "would overwrite each other; rename one or predict them separately")
            files[frame_id] = file
    if not files:
        raise DataError(f"no {'/'.join(IMAGE_SUFFIXES)} frames found in {names(map(str, paths))}; "
                        "pass image files or a folder of them")
    return files, tuple(summarise(skipped, _SKIPPED))


def read_frames(paths, size: tuple[int, int]) -> Frames:
    """Frames with no masks (files or folders of images) at the model's size, with each file's own size."""
    size = check_size(size)
    files, notes = find_frames(paths)
    read, arrays, sizes = new_notes(), [], []
    for path in files.values():
        image = reading.open_image(path, read, frame=True)
        sizes.append((image.height, image.width))
        arrays.append(frame_as_float(reading.frame_pixels(image, size)))
    return Frames(tuple(files), np.stack(arrays), tuple(sizes), tuple(files.values()),
                  notes + tuple(summarise(read, READ_NOTES)))


def resize_probabilities(probabilities, size) -> np.ndarray:
    """Float probabilities (H, W), (H, W, 1) or (N, H, W, 1) resized bilinearly to size=(height, width).

    Threshold after resizing, so that a mask drawn at a frame's own size keeps a smooth outline.
    """
    values = np.asarray(probabilities, dtype=np.float32)
    height, width = int(size[0]), int(size[1])
    if height <= 0 or width <= 0:
        raise DataError(f"size={size!r}: height and width must be positive")
    if values.ndim == 4:
        return np.stack([resize_probabilities(v, size) for v in values]) if len(values) else \
            np.zeros((0, height, width, values.shape[-1]), np.float32)
    if values.ndim == 3 and values.shape[-1] == 1:
        return resize_probabilities(values[..., 0], size)[..., None]
    if values.ndim != 2:
        raise DataError(f"probabilities of shape {values.shape}: pass (H, W), (H, W, 1) or (N, H, W, 1)")
    if values.shape == (height, width):
        return values.copy()
    return np.asarray(Image.fromarray(values).resize((width, height), Image.Resampling.BILINEAR), np.float32)


def split_by_ids(record: Record, train_ids) -> Split:
    """Train on the given frame ids (one id may be given as a string) and hold out every other frame of the record."""
    train_ids = (train_ids,) if isinstance(train_ids, str) else tuple(train_ids)
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

