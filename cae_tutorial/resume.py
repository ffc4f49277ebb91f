"""Resumable runs: a whole backup per epoch, a work folder with a lock, and the check of what is resumed.

The Keras piece is ``RunBackup``, a callback that writes, at the end of every epoch, one consistent unit:
the model's variables (weights and the random states of its dropout layers), the optimiser's variables
(Adam's moments and step count, so the learning-rate schedule continues), the epoch logs, the prediction
snapshots and a description of the run, all of the same epoch. A plain ``fit`` resumes with it::

    backup = RunBackup("runs/x.backup", snapshots=snapshots, logs=logs, run={"seed": 0, ...})
    done = backup.restore(model)        # 0 for a new run; checks the backup belongs to this run
    model.fit(data.skip(done * steps), initial_epoch=done, epochs=epochs, steps_per_epoch=steps,
              callbacks=[snapshots, logs, backup])

``train(..., backup_dir=FOLDER)`` does exactly this. On disk, each epoch's snapshots are a ``snapshot-E.npy`` file
(written once) and the rest ``epoch-E.npz``, which names the snapshot files with their SHA-256; both are written
whole (a temporary name, fsync, rename) and the previous ``epoch-*.npz`` is removed only once the new one is in
place, so a kill at any instant leaves the last whole epoch. A full disk is one error that keeps it.

The command line (``cae-tutorial train``) keeps a run in progress in a hidden work folder beside its ``--output``
(``.RUN.in-progress/``: ``train-options.json``, ``backup/``, ``lock``), see ``TrainWork``: one process at a time
(a second one is refused, naming the first; a lock left by a dead process is taken over), only ``--resume``
continues an interrupted run, with the options it started with, and the work folder is removed only once the
complete run is saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from cae_tutorial.data import DataError
from cae_tutorial.folders import (
    check_free_space,
    check_saved_run,
    fsync_folder,
    instant,
    write_file,
    write_json,
)

#: Version of the backup's layout; a backup of another layout is reported, never half-read.
FORMAT = 2


class ResumeError(DataError):
    """A run that cannot be resumed or started as asked; the message names the folder and the way out."""


class RunLocked(ResumeError):
    """Another live process writes the same run."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _variable_layout(variables) -> list:
    """[shape, dtype] of each variable, in order: what a backup's arrays must match."""
    return [[list(v.shape), str(v.dtype)] for v in variables]


def _json_ready(obj):
    """obj as JSON would give it back (tuples become lists), for comparing a saved description."""
    return json.loads(json.dumps(obj))


def _epoch_of(path: Path) -> int | None:
    stem = path.stem.split("-", 1)[-1]
    return int(stem) if stem.isdigit() else None


def latest_backup(folder: str | Path) -> Path | None:
    """The newest whole backup (epoch-E.npz) in folder, or None."""
    folder = Path(folder)
    found = [(e, p) for p in folder.glob("epoch-*.npz") if (e := _epoch_of(p)) is not None] if folder.is_dir() else []
    return max(found)[1] if found else None


def backup_summary(folder: str | Path) -> dict | None:
    """The description of the newest backup (epoch, history, run, ...) without loading its arrays; None if none."""
    path = latest_backup(folder)
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            return json.loads(str(saved["meta"]))
    except Exception as error:  # numpy and zipfile raise many kinds for a damaged file
        raise ResumeError(f"the backup {path} cannot be read ({' '.join(str(error).split())[:120]}); remove "
                          f"{Path(folder)} to start the run afresh") from error


def _run_backup_class():
    """RunBackup, defined on first use: the work-folder and lock helpers of this module need no TensorFlow."""
    import keras

    class RunBackup(keras.callbacks.Callback):
        """Keras callback: a whole backup of the run at the end of every epoch; restore() picks it up.

        snapshots: a PredictionSnapshots whose recorded epochs are backed up and restored; logs: a callback with a
        ``history`` dict (callbacks.EpochLogs); run: a JSON-ready description of the run (preset, seed, split, ...)
        that a resumed run must match; keep: the backup outlives the run (train() then leaves it for the caller
        to remove() once the result is saved, as the command line does); resume_hint: words added to a full disk's
        message (how to continue). Keras' own BackupAndRestore writes its checkpoint in place; this one never leaves
        a half-written backup, and checks on restore that the backup belongs to the run.
        """

        def __init__(self, folder, snapshots=None, logs=None, run: dict | None = None, keep: bool = False,
                     resume_hint: str = ""):
            super().__init__()
            self.folder = Path(folder)
            self.snapshots, self.logs, self.run, self.keep = snapshots, logs, _json_ready(run or {}), keep
            self.resume_hint = resume_hint
            self.epochs_done = 0
            self.saved_snapshots: list[list] = []  # [epoch, file name, sha256] of every backed-up snapshot
            self.seconds = {"backup": 0.0, "epochs": 0}

        # ---------------------------------------------------------------- restore

        def restore(self, model) -> int:
            """Load the newest backup into model (weights, random states, optimiser), snapshots and logs.

            Returns the epochs it holds (0, changing nothing, when there is none). Call it after compile and
            before fit (inside the distribution strategy's scope, if any). A backup of another run (other
            description or variables) or a damaged one raises ResumeError naming it; nothing is half-restored.
            """
            path = latest_backup(self.folder)
            if path is None:
                self._refuse_other_layouts()
                return 0
            arrays, meta = self._read(path)
            variables, optimizer = list(model.variables), model.optimizer
            problems = []
            if meta.get("run", {}) != self.run:
                keys = sorted({*meta.get("run", {}), *self.run})
                changed = [k for k in keys if meta.get("run", {}).get(k) != self.run.get(k)]
                problems.append(f"it was made by a run with other {', '.join(changed)}")
            if meta["variables"] != _variable_layout(variables):
                problems.append("the model's variables differ")
            if problems:
                raise ResumeError(f"the backup in {self.folder} (epoch {meta['epoch']}) does not belong to this run: "
                                  f"{'; '.join(problems)}; resume with the settings it was made with, or remove "
                                  f"{self.folder} to start afresh")
            if optimizer is not None and meta["optimizer"]:
                if not optimizer.built:
                    optimizer.build(model.trainable_variables)
                if meta["optimizer"] != _variable_layout(optimizer.variables):
                    raise ResumeError(f"the backup in {self.folder} holds another optimiser's state; resume with "
                                      f"the optimiser it was made with, or remove {self.folder} to start afresh")
                for variable, value in zip(optimizer.variables, arrays["optimizer"]):
                    variable.assign(value)
            for variable, value in zip(variables, arrays["variables"]):
                variable.assign(value)
            if self.logs is not None:
                self.logs.history = {k: list(v) for k, v in meta["history"].items()}
            if self.snapshots is not None:
                self.snapshots.epochs = [e for e, _, _ in meta["snapshots"]]
                self.snapshots.predictions = list(arrays["snapshots"])
            self.saved_snapshots = [list(s) for s in meta["snapshots"]]
            self.epochs_done = int(meta["epoch"])
            return self.epochs_done

        def _refuse_other_layouts(self) -> None:
            """A folder holding a backup of an older version (Keras' checkpoint) is reported, not silently ignored."""
            if (self.folder / "training_metadata.json").is_file() or (self.folder / "snapshots-partial.npz").is_file():
                raise ResumeError(f"{self.folder} holds a backup written by an older version of cae-tutorial, which "
                                  f"this one cannot continue; remove {self.folder} to start the run afresh")

        def _read(self, path: Path) -> tuple[dict, dict]:
            """The arrays and description of a backup file, every part checked (its snapshots by SHA-256)."""
            try:
                with np.load(path, allow_pickle=False) as saved:
                    meta = json.loads(str(saved["meta"]))
                    if meta.get("format") != FORMAT:
                        raise ValueError(f"layout {meta.get('format')}, this version reads {FORMAT}")
                    arrays = {"variables": [saved[f"v{i}"] for i in range(len(meta["variables"]))],
                              "optimizer": [saved[f"o{i}"] for i in range(len(meta["optimizer"]))]}
                if meta["epoch"] != _epoch_of(path):
                    raise ValueError(f"it says epoch {meta['epoch']}")
                snapshots = []
                for epoch, name, digest in meta["snapshots"]:
                    data = (self.folder / name).read_bytes()
                    if _sha256(data) != digest:
                        raise ValueError(f"{name} differs from the one it was saved with")
                    snapshots.append(np.load(io.BytesIO(data), allow_pickle=False))
                arrays["snapshots"] = snapshots
            except Exception as error:  # numpy, zipfile and json raise many kinds for a damaged file
                raise ResumeError(f"the backup {path} is damaged or incomplete ({' '.join(str(error).split())[:160]});"
                                  f" it is not used: remove {self.folder} to start the run afresh") from error
            return arrays, meta

        # ---------------------------------------------------------------- Keras hooks

        def on_train_begin(self, logs=None):
            """Keras hook: note the start (a new run also backs up nothing until its first epoch ends)."""
            self.folder.mkdir(parents=True, exist_ok=True)

        def on_train_batch_end(self, batch, logs=None):
            """Keras hook: a named instant for the interruption tests (nothing else)."""
            instant("batch", self.epochs_done + 1)

        def on_epoch_end(self, epoch, logs=None):
            """Keras hook: after the snapshots and logs of this epoch are recorded, back the epoch up whole."""
            start = time.perf_counter()
            self.save(epoch + 1)
            self.seconds["backup"] += time.perf_counter() - start
            self.seconds["epochs"] += 1

        # ---------------------------------------------------------------- writing

        def save(self, epoch: int) -> Path:
            """Write the backup of `epoch` (the epochs done) whole, then remove the previous one."""
            model = self.model
            variables, optimizer = self._values(list(model.variables),
                                                list(model.optimizer.variables) if model.optimizer is not None else [])
            new_snapshots = []
            if self.snapshots is not None:
                have = {e for e, _, _ in self.saved_snapshots}
                new_snapshots = [(e, p) for e, p in zip(self.snapshots.epochs, self.snapshots.predictions)
                                 if e not in have]
            kept = (f" (the backup of epoch {self.epochs_done} is kept in {self.folder}{self.resume_hint})"
                    if self.epochs_done else "")
            encoded = [(e, _npy_bytes(p)) for e, p in new_snapshots]
            needed = sum(a.nbytes for a in variables + optimizer) + sum(len(d) for _, d in encoded) + (1 << 16)
            check_free_space(self.folder, needed, kept)
            saved_snapshots = list(self.saved_snapshots)
            for e, data in encoded:  # each snapshot file is written once; the epoch file below names them
                name = f"snapshot-{e:06d}.npy"
                write_file(self.folder / name, data, kept, sync_folder=False)  # the epoch file's fsync covers it
                saved_snapshots.append([e, name, _sha256(data)])
            instant("snapshots-written", epoch)
            meta = {"format": FORMAT, "epoch": epoch, "run": self.run, "variables": _variable_layout(variables),
                    "optimizer": _variable_layout(optimizer), "snapshots": saved_snapshots,
                    "history": self.logs.history if self.logs is not None else {},
                    "frame_ids": list(getattr(self.snapshots, "frame_ids", ()))}
            buffer = io.BytesIO()
            np.savez(buffer, meta=np.array(json.dumps(meta)), **{f"v{i}": a for i, a in enumerate(variables)},
                     **{f"o{i}": a for i, a in enumerate(optimizer)})
            instant("state-encoded", epoch)
            path = self.folder / f"epoch-{epoch:06d}.npz"
            write_file(path, buffer.getbuffer(), kept)  # the commit: from now on this epoch is the backup
            instant("backup-committed", epoch)
            self.saved_snapshots, self.epochs_done = saved_snapshots, epoch
            self._remove_older(path)
            return path

        def _values(self, variables: list, optimizer: list) -> tuple[list, list]:
            """The variables' values as numpy arrays, read in one TensorFlow call (not one eager read each)."""
            import tensorflow as tf

            every = variables + optimizer
            if [id(v) for v in every] != getattr(self, "_read_ids", None):
                self._read_ids = [id(v) for v in every]
                self._read = tf.function(lambda: [v.value for v in every], autograph=False)
            try:
                values = [np.asarray(t) for t in self._read()]
            except Exception:  # variables a tf.function cannot read together (a distribution strategy's): one by one
                values = [np.asarray(v) for v in every]
            return values[:len(variables)], values[len(variables):]

        def _remove_older(self, newest: Path) -> None:
            """Remove backups older than newest, and snapshot files it does not name (left by a kill)."""
            named = {name for _, name, _ in self.saved_snapshots}
            for path in self.folder.iterdir():
                if (path.name.startswith("epoch-") and path != newest) or (
                        path.name.startswith("snapshot-") and path.name not in named):
                    path.unlink(missing_ok=True)  # no fsync: an older backup that comes back after a crash is ignored

        def remove(self) -> None:
            """Remove the backup folder (once the run it backs up is complete)."""
            _remove_folder(self.folder)

    RunBackup.__qualname__ = "RunBackup"
    return RunBackup


def __getattr__(name: str):
    """RunBackup on first use (PEP 562): importing resume.py loads no TensorFlow."""
    if name == "RunBackup":
        globals()["RunBackup"] = _run_backup_class()
        return globals()["RunBackup"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _remove_folder(folder: Path) -> None:
    """Remove folder so that a kill half-way leaves it whole or gone: renamed aside first, then deleted."""
    if not folder.exists():
        return
    aside = folder.parent / f".{folder.name}.done-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    os.replace(folder, aside)
    fsync_folder(folder.parent)
    shutil.rmtree(aside, ignore_errors=True)


# ---------------------------------------------------------------- the lock


class RunLock:
    """An exclusive lock on a run's work folder (a lock file held with flock, released by the system when the
    process dies), holding who took it: pid, host, start time and command."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / "lock"
        self.descriptor: int | None = None

    def acquire(self) -> str | None:
        """Take the lock, or raise RunLocked naming the live holder; returns a note when a dead holder's is taken over."""
        try:
            import fcntl
        except ImportError:  # Windows: no flock; runs are not locked there
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(descriptor)
                os.close(descriptor)
                raise RunLocked(f"{self.folder} is in use by another process ({_describe(holder)}): one run is "
                                "written by one process at a time; wait for it to end or stop it, or choose "
                                "another --output") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(descriptor).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(descriptor)  # the holder removed the file as we opened it: take the new one
        else:
            raise RunLocked(f"{self.folder}: its lock file keeps changing; is another process starting there?")
        earlier = _read_holder(descriptor)
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "command": " ".join(["cae-tutorial", *sys.argv[1:]])[:200]}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(me).encode(), 0)
        os.fsync(descriptor)
        self.descriptor = descriptor
        if earlier:
            return (f"took over the lock of {self.folder} left by {_describe(earlier)}, which has stopped "
                    "without releasing it")
        return None

    def release(self) -> None:
        """Give the lock back (removing the lock file); a no-op when not held."""
        if self.descriptor is None:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == os.fstat(self.descriptor).st_ino:
                self.path.unlink()
        os.close(self.descriptor)
        self.descriptor = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def _read_holder(descriptor: int) -> dict:
    """What a lock file says about its holder ({} when empty or unreadable)."""
    try:
        text = os.pread(descriptor, 4096, 0).decode()
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    """'pid 123 on host, started ...' for messages."""
    if not holder:
        return "a process that is starting"
    return (f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}"
            + (f": {holder['command']}" if holder.get("command") else ""))


# ---------------------------------------------------------------- the command line's work folder


def work_folder(output: str | Path) -> Path:
    """Where a run in progress keeps its options, backup and lock: a hidden sibling of its --output."""
    output = Path(os.path.abspath(output))
    return output.parent / f".{output.name}.in-progress"


#: Options a resumed run must keep (they decide what is trained); --overwrite and --output are about saving.
KEPT_OPTIONS = ("data", "record", "preset", "epochs", "seed", "train_ids", "split", "holdout", "stream",
                "devices", "height", "width", "tensorboard", "validate_every")


def _shown(option: str, value) -> str:
    """An option as typed: --train-ids a b, --stream, --height 64."""
    flag = "--" + option.replace("_", "-")
    if value is True:
        return flag
    if value in (False, None):
        return f"no {flag}"
    return f"{flag} {' '.join(map(str, value)) if isinstance(value, list) else value}"


class TrainWork:
    """The work folder of one `cae-tutorial train --output RUN`: options, backup and lock of the run in progress.

    begin() takes the lock and decides, from what the folder holds, whether to start, resume or refuse;
    finish() removes the folder once the complete run is saved; release() (always, in a finally) gives the lock
    back and removes a folder that holds nothing worth resuming.
    """

    def __init__(self, output: str | Path):
        self.output = Path(output)
        self.folder = work_folder(output)
        self.backup = self.folder / "backup"
        self.options_file = self.folder / "train-options.json"
        self.lock = RunLock(self.folder)
        self.notes: list[str] = []
        self.complete = False  # --resume found the run saved whole already: only the clean-up was left
        self._created = False

    def describe(self) -> str:
        """'epoch 5 of 12 done' (or 'no epoch done') for messages."""
        summary = backup_summary(self.backup)
        saved = self.saved_options() or {}
        total = f" of {saved['epochs']}" if saved.get("epochs") else ""
        return f"epoch {summary['epoch']}{total} done" if summary else "no epoch done yet"

    def saved_options(self) -> dict | None:
        """The options the interrupted run started with (None when there is no interrupted run)."""
        try:
            return json.loads(self.options_file.read_text()) if self.options_file.is_file() else None
        except ValueError:
            return None

    def begin(self, options: dict, resume: bool, given: dict | None = None, overwrite: bool = False) -> dict:
        """Lock the work folder, then start a new run, resume the interrupted one, or refuse; returns the options.

        options: this command's options (JSON-ready); given: those typed on the command line (the others are
        defaults); resume: --resume was given. A plain start over an interrupted run that finished an epoch
        is refused (naming --resume and --overwrite); --overwrite discards it. A resume whose given options
        differ from the saved ones is refused, naming them.
        """
        self._created = not self.folder.exists()
        note = self.lock.acquire()
        if note:
            self.notes.append(note)
        saved = self.saved_options()
        if resume:
            return self._resume(saved, given or {}, overwrite)
        summary = backup_summary(self.backup) if saved is not None or self.backup.exists() else None
        if summary is not None or (self.backup.exists() and any(self.backup.iterdir())):
            if not overwrite:
                raise ResumeError(
                    f"{self.output} is an interrupted run ({self.describe()}, backed up in {self.folder}); "
                    f"continue it with `cae-tutorial train --resume {self.output}`, or pass --overwrite to "
                    "discard it and start afresh with these options")
            self.notes.append(f"discarded the interrupted run of {self.output} ({self.describe()}) and its "
                              f"backup in {self.folder} (--overwrite)")
        elif saved is not None:
            self.notes.append(f"an earlier start of {self.output} had finished no epoch; starting afresh")
        _remove_folder(self.backup)
        write_json(self.options_file, options)
        return options

    def _resume(self, saved: dict | None, given: dict, overwrite: bool) -> dict:
        """The saved options, after checking the given ones agree with them."""
        if saved is None:
            if self._output_complete():
                self.complete = True
                self.notes.append(f"{self.output} already holds a complete run: nothing to resume")
                return {}
            raise ResumeError(f"--resume {self.output}: no interrupted run to continue ({self.options_file} is "
                              "missing); --resume takes the --output of a `cae-tutorial train` that was stopped "
                              "before it finished")
        differ = [k for k in KEPT_OPTIONS if k in given and _json_ready(given[k]) != saved.get(k)]
        if differ:
            raise ResumeError(
                f"--resume {self.output} continues the run with the options it started with; "
                f"{', '.join(f'{_shown(k, given[k])} (it has {_shown(k, saved.get(k))})' for k in differ)} "
                f"differ{'s' if len(differ) == 1 else ''}: drop {'it' if len(differ) == 1 else 'them'} to "
                f"continue, or start afresh with `cae-tutorial train --output {self.output} --overwrite` and the "
                "new options")
        summary = backup_summary(self.backup)
        if summary is not None and self._output_complete(summary):
            self.complete = True
            self.notes.append(f"{self.output} was saved whole before the interruption; removing its backup")
        elif summary is None:
            self.notes.append(f"the interrupted run of {self.output} had finished no epoch: it starts at epoch 1")
        return {**saved, "overwrite": bool(saved.get("overwrite")) or overwrite}

    def _output_complete(self, summary: dict | None = None) -> bool:
        """True when --output holds a complete run (the one backed up, when a summary is given)."""
        try:
            check_saved_run(self.output)
            if summary is None:
                return True
            history = json.loads((self.output / "history.json").read_text())
        except (OSError, ValueError):
            return False
        return history.get("loss") == summary["history"].get("loss")

    def finish(self) -> None:
        """The complete run is saved: remove the work folder (renamed aside first), give the lock back."""
        instant("finish")
        _remove_folder(self.folder)
        self.lock.release()

    def release(self) -> None:
        """Give the lock back; a work folder this process made and that holds no backed-up epoch is removed."""
        if self.lock.descriptor is not None and self._created and self.folder.exists() and \
                backup_summary_safe(self.backup) is None:
            _remove_folder(self.folder)
        self.lock.release()


def backup_summary_safe(folder: Path) -> dict | None:
    """backup_summary, None also for a damaged backup (kept on disk for the user to see)."""
    try:
        return backup_summary(folder)
    except ResumeError:
        return {"damaged": True}
