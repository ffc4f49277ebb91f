"""Output folders that never lose a user's file: checked before any work, a run folder written whole or not at all.

A run folder (``TrainingResult.save``, ``cae-tutorial train --output``) is written into a hidden sibling
folder and renamed into place at the end, so that it always holds one complete run: an interrupted save leaves
the earlier run (or nothing), never a mix. Replacing an earlier run is explicit (``overwrite=True``), and a
folder holding anything other than a run's files is never replaced.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

#: The files a saved run consists of; a folder holding anything else is not a run folder.
RUN_FILES = ("model.keras", "history.json", "config.json", "split.json", "snapshots.npz")


def check_saved_run(folder: str | Path) -> Path:
    """The folder of a saved run, or a FileNotFoundError naming what is missing and the fix (model.keras optional)."""
    folder = Path(folder)
    if not (folder / "history.json").is_file():
        raise FileNotFoundError(f"{folder} holds no saved training run (history.json is missing); pass the folder "
                                "given to `cae-tutorial train --output` or TrainingResult.save")
    missing = [name for name in ("config.json", "split.json", "snapshots.npz") if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a complete saved run ({', '.join(missing)} missing); "
                                "train again into a new folder")
    return folder


def check_writable(folder: str | Path, what: str = "output folder") -> Path:
    """Create folder's parents and check a file can be written beside it; an OSError naming it otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{what} {folder} is a file, not a folder; choose a folder name")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        probe = folder.parent / f".{folder.name}.probe-{uuid.uuid4().hex[:8]}"
        probe.mkdir()
        probe.rmdir()
        if folder.is_dir():
            probe = folder / f".probe-{uuid.uuid4().hex[:8]}"
            probe.write_bytes(b"")
            probe.unlink()
    except PermissionError as error:
        raise PermissionError(f"cannot write {what} {folder} ({error.strerror.lower()} on "
                              f"{error.filename}); choose a folder you can write to") from error
    except OSError as error:
        raise OSError(f"cannot write {what} {folder} ({error.strerror or error}); "
                      "choose another folder") from error
    return folder


def check_run_folder(folder: str | Path, overwrite: bool = False, flag: str = "overwrite=True") -> Path:
    """Check folder can take a run: new or empty, or (with overwrite) holding only an earlier run's files."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} is a file, not a folder; choose a folder name for the run")
    entries = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    foreign = [name for name in entries if name not in RUN_FILES]
    if foreign:
        raise FileExistsError(f"{folder} holds files that are not a saved run's ({', '.join(foreign[:3])}"
                              f"{' ...' if len(foreign) > 3 else ''}); choose a new or empty folder for the run")
    if entries and not overwrite:
        raise FileExistsError(f"{folder} already holds a run; pass {flag} to replace it, or choose another folder")
    return check_writable(folder, "run folder")


def write_whole(folder: str | Path, write, overwrite: bool = False, flag: str = "overwrite=True") -> Path:
    """Call write(tmp) on a hidden sibling folder, then move it into place as folder (replacing a run if allowed)."""
    folder = Path(os.path.abspath(check_run_folder(folder, overwrite, flag)))  # "." has no name to put beside
    partial = folder.parent / f".{folder.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        write(partial)
        if folder.exists():
            earlier = folder.parent / f".{folder.name}.replaced-{uuid.uuid4().hex[:8]}"
            os.replace(folder, earlier)
            try:
                os.replace(partial, folder)
            except BaseException:
                os.replace(earlier, folder)
                raise
            shutil.rmtree(earlier, ignore_errors=True)
        else:
            os.replace(partial, folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder
