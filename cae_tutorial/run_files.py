"""A saved run's files read with numpy and json only: the one reader of the format TrainingResult.save writes.

    run = read_saved_run("runs/cpu")      # history.json, config.json, split.json, snapshots.npz
    EpochScrubber(run)                    # the same scrubber as for a TrainingResult

TrainingResult.load reads through it too (and adds the model); the scrub page uses it alone, so it never imports
TensorFlow. A damaged file (a truncated snapshots.npz, a history.json cut short) raises RunFileError: one line
naming the file.
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
from cae_tutorial.results import Snapshots

#: The arrays a saved run's snapshots.npz holds (TrainingResult.save writes them).
SNAPSHOT_ARRAYS = ("epochs", "frame_ids", "images", "masks", "predictions")


class RunFileError(CaeTutorialError, ValueError):
    """A file of a saved run cannot be read; the message names the file and the fix."""


@dataclass(repr=False)
class SavedRun:
    """A saved run's history, configuration, split and snapshots (no model, no TensorFlow)."""

    folder: Path
    history: dict
    config: dict
    split: Split
    snapshots: Snapshots

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


def read_snapshots(path: Path) -> Snapshots:
    """snapshots.npz as results.Snapshots, every array read and checked; RunFileError naming the file otherwise."""
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
    try:
        return Snapshots(arrays["epochs"], tuple(str(i) for i in arrays["frame_ids"]), arrays["images"],
                         arrays["masks"], arrays["predictions"])
    except ValueError as error:  # Snapshots' own check of the shapes and types
        raise _damaged(path, " ".join(str(error).split())) from None


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
