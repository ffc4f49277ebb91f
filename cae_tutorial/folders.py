"""Output files and folders that never lose a user's file: checked before any work, written whole or not at all.

Every file the package writes goes through ``write_file`` / ``write_json`` / ``atomic_file``: the bytes go to a
hidden temporary name in the same folder, are flushed and fsynced, then renamed over the final name, so a kill,
Ctrl-C or full disk at any instant leaves the earlier file (or none), never half of one. A full disk is one
``DiskFullError`` naming the folder and the space needed. A run folder (``TrainingResult.save``, ``cae-tutorial train --output``) is written into a hidden sibling
folder and renamed into place at the end, so that it always holds one complete run: an interrupted save leaves
the earlier run (or nothing), never a mix. Replacing an earlier run is explicit (``overwrite=True``), and a
folder holding anything other than a run's files is never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import uuid
from pathlib import Path

#: The files a saved run consists of; a folder holding anything else is not a run folder.
RUN_FILES = ("model.keras", "history.json", "config.json", "split.json", "snapshots.npz")


#: Tests only: a function called as on_instant(name, epoch) at every named instant (see instant()).
on_instant = None


def instant(name: str, epoch: int | None = None) -> None:
    """A named instant of a run, where the interruption tests kill the process (CAE_TUTORIAL_KILL_AT="name" or
    "name@epoch") or copy its files as a kill would leave them (on_instant); nothing happens otherwise."""
    wanted = os.environ.get("CAE_TUTORIAL_KILL_AT")
    if wanted and wanted in (name, f"{name}@{epoch}"):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if on_instant is not None:
        on_instant(name, epoch)


class DiskFullError(OSError):
    """No space left on the device a file is written to; the message names the folder and the space needed."""


def free_bytes(folder: str | Path) -> int | None:
    """Bytes free for this user on the device holding folder (or its nearest existing parent); None if unknown."""
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def megabytes(count: int | None) -> str:
    """A byte count as the short text messages use: 0.4 MB, 12 MB, 3.1 GB."""
    if count is None:
        return "an unknown amount"
    if count >= 1e9:
        return f"{count / 1e9:.1f} GB"
    return f"{count / 1e6:.1f} MB" if count < 1e7 else f"{count / 1e6:.0f} MB"


def disk_full(folder: str | Path, needed: int | None, kept: str = "") -> DiskFullError:
    """The one-line error of a full disk: the folder, the space needed and free, what was kept."""
    free = free_bytes(folder)
    return DiskFullError(errno.ENOSPC, f"no space left on the device of {folder}: writing there needs about "
                         f"{megabytes(needed)} more and {megabytes(free)} is free; free some space"
                         f"{kept} and run it again")


def check_free_space(folder: str | Path, needed: int, kept: str = "") -> None:
    """Raise DiskFullError before writing when the device of folder has clearly less than `needed` bytes free."""
    free = free_bytes(folder)
    if free is not None and free < needed:
        raise disk_full(folder, needed, kept)


def _is_disk_full(error: BaseException) -> bool:
    """True for an OSError of a full disk or an exceeded quota."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def fsync_folder(folder: str | Path) -> None:
    """Make a rename or removal in folder durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def temporary_name(path: str | Path) -> Path:
    """A hidden name beside path for writing it: .NAME.partial-<pid>-<random><suffix> (the suffix kept for tools
    that choose the format by it, e.g. .keras)."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path, size_hint: int | None = None, kept: str = "", sync_folder: bool = True):
    """Yield a temporary path beside `path` for a library to write to; fsync and rename it into place after.

    For writers that take only a file name. On any error (or Ctrl-C) the temporary file is removed and the
    earlier file at path, if any, is untouched; a full disk is a DiskFullError naming the folder.
    sync_folder=False leaves the folder's fsync (which makes the rename durable) to a later write in it.
    """
    path = Path(path)
    temporary = temporary_name(path)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        instant(f"replace:{path.name}")
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if _is_disk_full(error) and not isinstance(error, DiskFullError):
            raise disk_full(path.parent, size_hint, kept) from None
        raise
    if sync_folder:
        fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb", size_hint: int | None = None, kept: str = "",
                sync_folder: bool = True):
    """Open a temporary file beside `path` (mode "wb" or "w"), then flush, fsync and rename it to path.

    Whole or not at all: readers see the earlier file (or none) until the new one is complete, and an error,
    Ctrl-C or kill while writing leaves no partial file under path. A full disk is a DiskFullError.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_file writes a new file: mode 'wb' or 'w', got {mode!r}")
    with atomic_path(path, size_hint, kept, sync_folder) as temporary:
        with open(temporary, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as stream:
            yield stream
            stream.flush()


def write_file(path: str | Path, data: bytes | str, kept: str = "", sync_folder: bool = True) -> Path:
    """Write bytes (or text, as UTF-8) to path whole or not at all (see atomic_file)."""
    data = memoryview(data.encode("utf-8") if isinstance(data, str) else data).cast("B")  # slices copy nothing
    with atomic_file(path, "wb", size_hint=len(data), kept=kept, sync_folder=sync_folder) as stream:
        stream.write(data[:len(data) // 2])
        instant(f"half-written:{Path(path).name}")
        stream.write(data[len(data) // 2:])
    return Path(path)


def write_json(path: str | Path, obj, kept: str = "") -> Path:
    """obj as indented JSON at path, whole or not at all."""
    return write_file(path, json.dumps(obj, indent=1), kept)


def encoded(save, **kwargs) -> bytes:
    """The bytes a writer that takes a file object produces, e.g. encoded(image.save, format="PNG")."""
    buffer = io.BytesIO()
    save(buffer, **kwargs)
    return buffer.getvalue()


def save_model_file(model, path: str | Path) -> Path:
    """model.save(path) whole or not at all, without letting Keras' HDF5 writer meet a full disk.

    Keras writes model.keras only to a named file; it is written first in memory-backed /dev/shm where there is
    one (h5py crashes on a full disk instead of raising), then copied into place with write_file.
    """
    import tempfile

    path = Path(path)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        try:
            with tempfile.TemporaryDirectory(dir=shm, prefix="cae-tutorial-") as scratch:
                model.save(Path(scratch) / path.name)
                return write_file(path, (Path(scratch) / path.name).read_bytes())
        except DiskFullError:
            raise
        except OSError:
            pass  # /dev/shm too small: write in place below
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path


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
    remove_stale_partials(folder)
    partial = folder.parent / f".{folder.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        try:
            write(partial)
            for file in partial.iterdir():  # durable before the rename makes them the run
                if file.is_file():
                    with open(file, "rb+") as stream:
                        os.fsync(stream.fileno())
            fsync_folder(partial)
            instant("save-written")
        except OSError as error:
            if _is_disk_full(error) and not isinstance(error, DiskFullError):
                raise disk_full(folder.parent, _tree_bytes(partial) or None) from None
            raise
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
    fsync_folder(folder.parent)
    return folder


def _tree_bytes(folder: Path) -> int:
    """Bytes of the files under folder."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _pid_alive(pid: int) -> bool:
    """True when a process of that id runs on this machine (or may: no permission to ask)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(path: str | Path) -> list[Path]:
    """Remove the hidden .NAME.partial-<pid>-* files and folders beside path left by processes that have died."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for leftover in path.parent.glob(f".{path.name}.partial-*"):
        pid = leftover.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed
