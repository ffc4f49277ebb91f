"""A saved run's files read with numpy and json only: the scrub page shows a run without importing TensorFlow.

    run = read_saved_run("runs/cpu")      # history.json, config.json, split.json, snapshots.npz
    EpochScrubber(run)                    # the same scrubber as for a TrainingResult

A damaged file (a truncated snapshots.npz, a history.json cut short) raises RunFileError: one line naming the file.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cae_tutorial.data import Split
from cae_tutorial.errors import CaeTutorialError
from cae_tutorial.folders import check_saved_run

#: The arrays a saved run's snapshots.npz holds (TrainingResult.save writes them).
SNAPSHOT_ARRAYS = ("epochs", "frame_ids", "images", "masks", "predictions")


class RunFileError(CaeTutorialError, ValueError):
    """A file of a saved run cannot be read; the message names the file and the fix."""


@dataclass(repr=False)
class SavedSnapshots:
    """The snapshots of a saved run: uint8 predictions (n_epochs, n_frames, H, W) with frames, masks and epochs."""

    epochs: np.ndarray
    frame_ids: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    predictions: np.ndarray

    def __repr__(self) -> str:
        return (f"SavedSnapshots({len(self.frame_ids)} frames of {self.images.shape[1]} x {self.images.shape[2]} at "
                f"{len(self.epochs)} recorded epochs)")


@dataclass(repr=False)
class SavedRun:
    """A saved run's history, configuration, split and snapshots (no model, no TensorFlow)."""

    folder: Path
    history: dict
    config: dict
    split: Split
    snapshots: SavedSnapshots

    def __repr__(self) -> str:
        return f"SavedRun({self.folder}: {self.snapshots!r}, {self.split!r})"


def _damaged(path: Path, reason: str) -> RunFileError:
    """The one-line error for a file that cannot be read."""
    return RunFileError(f"{path} is damaged ({reason}); train again into a new folder or restore the file from a "
                        "backup")


def read_json(path: Path, kind=dict):
    """A JSON file's content, checked to be a `kind`; RunFileError naming the file otherwise."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _damaged(path, f"not valid JSON: {error}") from None
    if not isinstance(value, kind):
        raise _damaged(path, f"expected a JSON {kind.__name__}, found {type(value).__name__}")
    return value


def read_snapshots(path: Path) -> SavedSnapshots:
    """snapshots.npz, every array read and checked for shape; RunFileError naming the file otherwise."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [name for name in SNAPSHOT_ARRAYS if name not in npz.files]
            if missing:
                raise _damaged(path, f"no {', '.join(missing)} array")
            arrays = {name: npz[name] for name in SNAPSHOT_ARRAYS}
    except RunFileError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as error:
        raise _damaged(path, f"cannot be read as .npz: {' '.join(str(error).split()) or type(error).__name__}") from None
    images, masks, predictions = arrays["images"], arrays["masks"], arrays["predictions"]
    frames = len(arrays["frame_ids"])
    if (images.ndim != 4 or masks.shape != images.shape[:3] or predictions.ndim != 4
            or predictions.shape[1:] != masks.shape or len(arrays["epochs"]) != len(predictions) or frames != len(masks)):
        raise _damaged(path, f"array shapes do not agree: images {images.shape}, masks {masks.shape}, predictions "
                             f"{predictions.shape}, {len(arrays['epochs'])} epochs, {frames} frame ids")
    return SavedSnapshots(arrays["epochs"].astype(int), tuple(str(i) for i in arrays["frame_ids"]),
                          images.astype(np.uint8, copy=False), masks.astype(np.uint8, copy=False),
                          predictions.astype(np.uint8, copy=False))


def read_saved_run(folder: str | Path) -> SavedRun:
    """history.json, config.json, split.json and snapshots.npz of a folder written by TrainingResult.save."""
    folder = check_saved_run(Path(folder))
    history = read_json(folder / "history.json")
    config = read_json(folder / "config.json")
    split_data = read_json(folder / "split.json")
    try:
        split = Split.from_dict(split_data)
    except (KeyError, TypeError, ValueError) as error:
        raise _damaged(folder / "split.json", f"not a split: {error}") from None
    return SavedRun(folder, history, config, split, read_snapshots(folder / "snapshots.npz"))


def model_size(snapshots) -> tuple[int, int]:
    """(height, width) the snapshots were predicted at: the model's input size."""
    return tuple(int(n) for n in np.shape(snapshots.images)[1:3])
