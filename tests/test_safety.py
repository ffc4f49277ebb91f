"""A run survives any interruption (issue 17): files written whole or not at all, downloads that give up,
sizes refused before loading, backups that resume bit-exact, locks, full disks, kills at any instant."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cae_tutorial import folders
from cae_tutorial.cli import main
from cae_tutorial.data import DataError

REPO = Path(__file__).resolve().parents[1]


def one_line(capsys, *words) -> str:
    """stderr of the CLI: one line, no traceback, naming every word."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)
    return err


# ---------------------------------------------------------------- files written whole or not at all


def test_write_file_replaces_whole_or_leaves_the_earlier_file(tmp_path):
    target = tmp_path / "history.json"
    folders.write_json(target, {"loss": [1.0]})
    with pytest.raises(KeyboardInterrupt):
        with folders.atomic_file(target, "w") as stream:
            stream.write('{"loss": [1.0, 0.')  # interrupted half-way
            raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"loss": [1.0]}
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"], "no temporary file is left"


def test_a_full_disk_while_writing_is_one_error_naming_the_folder_and_keeps_the_earlier_file(tmp_path, monkeypatch):
    target = tmp_path / "snapshots.npz"
    folders.write_file(target, b"earlier")
    real_open = open

    class Full:
        def __init__(self, stream):
            self.stream = stream

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.stream, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

    monkeypatch.setattr("builtins.open", lambda path, mode="r", *a, **k: Full(real_open(path, mode, *a, **k))
                        if "partial" in str(path) and "w" in mode else real_open(path, mode, *a, **k))
    with pytest.raises(folders.DiskFullError, match=rf"no space left on the device of {tmp_path}: .*needs about "
                                                    r"0\.0 MB more"):
        folders.write_file(target, b"new contents")
    monkeypatch.undo()
    assert target.read_bytes() == b"earlier" and len(list(tmp_path.iterdir())) == 1


def test_partials_left_by_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / f".run.partial-{pid}-abcd").mkdir()
    (tmp_path / f".run.partial-{os.getpid()}-abcd").mkdir()  # ours, alive: kept
    removed = folders.remove_stale_partials(tmp_path / "run")
    assert [p.name for p in removed] == [f".run.partial-{pid}-abcd"]
    assert (tmp_path / f".run.partial-{os.getpid()}-abcd").is_dir()


# ---------------------------------------------------------------- downloads that give up


class _Server:
    """On 127.0.0.1: 'silent' accepts connections and never answers; 'stall' sends half a body, then waits."""

    def __init__(self, kind: str, size: int = 296798):
        self.kind, self.size, self.requests, self.stop = kind, size, 0, threading.Event()
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/"
        self.connections = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.socket.settimeout(0.1)
        while not self.stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except (TimeoutError, OSError):
                continue
            self.connections.append(connection)
            self.requests += 1
            if self.kind == "stall":
                connection.recv(65536)
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % self.size
                                   + b"x" * (self.size // 2))

    def close(self):
        self.stop.set()
        self.thread.join()
        for connection in self.connections:
            connection.close()
        self.socket.close()


@pytest.fixture(params=["silent", "stall"])
def bad_server(request):
    server = _Server(request.param)
    yield server
    server.close()


def test_a_silent_or_stalling_server_times_out_is_retried_once_and_leaves_no_file(bad_server, tmp_path, capsys):
    from cae_tutorial.datasets import MANIFESTS

    start = time.perf_counter()
    code = main(["download", "record-136", "--cache-dir", str(tmp_path), "--origin", bad_server.url,
                 "--timeout", "0.5"])
    seconds = time.perf_counter() - start
    one_line(capsys, "136_00090.png", "no answer within 0.5 s", "tried twice", "CAE_TUTORIAL_TIMEOUT")
    assert code == 2 and seconds < 20
    if bad_server.kind == "stall":
        assert bad_server.requests == 2  # the first file, once more after the stall, then it gives up
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "nothing half-downloaded is left"
    assert MANIFESTS["136"][0][0].endswith("136_00090.png")


def test_download_timeouts_default_finite_and_overridable(monkeypatch):
    from cae_tutorial.datasets import TIMEOUTS, download_timeouts

    assert download_timeouts() == TIMEOUTS and all(0 < t < 600 for t in TIMEOUTS)
    monkeypatch.setenv("CAE_TUTORIAL_TIMEOUT", "3,40")
    assert download_timeouts() == (3.0, 40.0) and download_timeouts(5) == (5.0, 5.0)
    with pytest.raises(DataError, match="CONNECT,READ"):
        download_timeouts("soon")
    monkeypatch.setenv("CAE_TUTORIAL_TIMEOUT", "0")
    with pytest.raises(DataError, match="seconds > 0"):
        download_timeouts()


def test_sigterm_during_a_download_leaves_no_partial_file(tmp_path):
    server = _Server("stall")
    try:
        process = subprocess.Popen([sys.executable, "-m", "cae_tutorial.cli", "download", "record-136",
                                    "--cache-dir", str(tmp_path), "--origin", server.url, "--timeout", "60"],
                                   cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while not list(tmp_path.rglob(".*.partial-*")) and time.time() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.rglob(".*.partial-*")), "the download never started"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        server.close()
    assert process.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "a partial file was left"


# ---------------------------------------------------------------- sizes refused before loading


def test_a_size_that_cannot_fit_in_memory_is_refused_before_loading(tmp_path, capsys, monkeypatch):
    from cae_tutorial.memory import check_training_fits, training_memory

    monkeypatch.setattr("cae_tutorial.data.load_record", lambda *a, **k: pytest.fail("loaded data first"))
    assert main(["train", "--height", "100000", "--output", str(tmp_path / "run")]) == 2
    one_line(capsys, "--height 100000", "needs about", "GB of memory", "available", "smaller --height")
    assert not (tmp_path / "run").exists()
    parts = training_memory(10, (256, 144), (16, 32, 64), 3, 10, 241)
    assert sum(parts.values()) < 1e9  # the cpu preset fits easily
    check_training_fits(10, (256, 144), (16, 32, 64), 3, 10, 241, available=int(2e9))
    with pytest.raises(DataError, match=r"needs about .* more than the 0\.1 GB available|more than the 100 MB"):
        check_training_fits(10, (256, 144), (16, 32, 64), 3, 10, 241, available=int(1e8))


# ---------------------------------------------------------------- tracebacks left


def test_tensorboard_folder_that_cannot_be_written_fails_before_loading(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cae_tutorial.data.load_record", lambda *a, **k: pytest.fail("loaded data first"))
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):  # what a read-only folder answers (as root every folder is writable)
        if "logs" in str(self):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["train", "--tensorboard", str(tmp_path / "ro" / "logs"), "--output", str(tmp_path / "run")]) == 2
    one_line(capsys, "--tensorboard folder", "permission denied")


@pytest.mark.slow  # a fresh interpreter imports TensorFlow (three of them)
@pytest.mark.parametrize("delay", [0.3, 1.0, 2.5])
def test_ctrl_c_during_start_up_is_one_line_and_130(tmp_path, delay):
    process = subprocess.Popen([sys.executable, "-m", "cae_tutorial.cli", "train", "--epochs", "1", "--height", "64",
                                "--width", "32", "--output", str(tmp_path / "run")], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    # 130 either way a shell sees it: exit(130), or death by SIGINT (128 + 2), which CPython chooses at exit when
    # the interrupt passed through a C extension's code on its way to main's handler (seen under xdist's load).
    assert process.returncode in (130, -signal.SIGINT) and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- kills at any instant, then --resume

def _cli(args, kill_at=None, timeout=300):
    """`python -m cae_tutorial.cli ARGS` in a subprocess, SIGKILLed at the named instant (if any)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CAE_TUTORIAL_KILL_AT", None)
    if kill_at:
        env["CAE_TUTORIAL_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "cae_tutorial.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _assert_same_run(ours: Path, theirs: Path) -> None:
    """Two saved runs with exactly the same history, snapshots and weights."""
    import numpy as np

    from cae_tutorial.results import TrainingResult

    a, b = TrainingResult.load(ours), TrainingResult.load(theirs)
    assert a.history == b.history and a.snapshots.epochs.tolist() == b.snapshots.epochs.tolist()
    assert np.array_equal(a.snapshots.predictions, b.snapshots.predictions)
    assert all(np.array_equal(x, y) for x, y in zip(a.model.get_weights(), b.model.get_weights()))


#: Named instants of a 6-epoch run and the epochs its backup holds there: during an epoch, inside each step of a
#: backup (a snapshot half-written, the epoch file half-written, written but not yet renamed, just renamed),
#: after the last epoch, inside the final save, and after it (the run folder in place, its backup not removed).
INSTANTS = [("batch@2", 1), ("half-written:snapshot-000002.npy", 1), ("half-written:epoch-000003.npz", 2),
            ("replace:epoch-000004.npz", 3), ("backup-committed@5", 5), ("snapshots-written@6", 5),
            ("trained", 6), ("half-written:snapshots.npz", 6), ("save-written", 6), ("saved", 6)]
TINY_RUN = ["train", "--epochs", "6", "--height", "64", "--width", "32"]


@pytest.mark.slow  # 11 trainings: out of the fast lane
def test_a_kill_at_any_instant_then_resume_ends_in_the_uninterrupted_run(tmp_path, monkeypatch):
    """One uninterrupted run copies its files at each instant (what a SIGKILL there leaves: the disk as it is,
    unflushed buffers and locks lost); each copy is resumed and must end in exactly that run."""
    import shutil

    from cae_tutorial.resume import backup_summary, work_folder

    area, images = tmp_path / "area", tmp_path / "images"
    area.mkdir()
    wanted = dict(INSTANTS)

    def copy_as_killed(name, epoch):
        key = name if name in wanted else f"{name}@{epoch}"
        if key in wanted and not (images / key).exists():
            shutil.copytree(area, images / key, symlinks=True)

    monkeypatch.setattr(folders, "on_instant", copy_as_killed)
    assert main([*TINY_RUN, "--output", str(area / "run")]) == 0
    monkeypatch.setattr(folders, "on_instant", None)
    assert sorted(p.name for p in images.iterdir()) == sorted(wanted)
    for key, epochs in INSTANTS:
        run = images / key / "run"
        summary = backup_summary(work_folder(run) / "backup")
        assert summary["epoch"] == epochs, key  # at most the epoch in progress is lost
        assert run.exists() == (key == "saved"), key  # the run folder appears whole, only at the end
        assert main(["train", "--resume", str(run)]) == 0, key
        _assert_same_run(run, area / "run")
        assert not work_folder(run).exists(), key


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_sigkill_during_epochs_backups_and_the_save_then_resume(tmp_path):
    """The same with real SIGKILLs of the command, inside a backup and inside the save (each costs a process start)."""
    from cae_tutorial.resume import backup_summary, work_folder

    args = ["train", "--epochs", "3", "--height", "64", "--width", "32"]
    assert main([*args, "--output", str(tmp_path / "reference")]) == 0
    run = tmp_path / "run"
    for i, (kill_at, epochs) in enumerate([("half-written:epoch-000002.npz", 1), ("save-written", 3)]):
        done = _cli([*args, "--output", str(run)] if i == 0 else ["train", "--resume", str(run)], kill_at)
        assert done.returncode == -signal.SIGKILL, (kill_at, done.stderr[-2000:])
        assert backup_summary(work_folder(run) / "backup")["epoch"] == epochs and not run.exists(), kill_at
    done = _cli(["train", "--resume", str(run)])
    assert done.returncode == 0 and "took over the lock" in done.stdout, done.stderr[-3000:]
    _assert_same_run(run, tmp_path / "reference")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference", "run"], "no partial or work folder left"
    done = _cli(["train", "--resume", str(run)])  # a resume of a complete run (a kill after the clean-up)
    assert done.returncode == 0 and "already holds a complete run" in done.stdout, done.stderr[-2000:]


# ---------------------------------------------------------------- stale runs, changed options, two writers


class StopAfter:
    """Stands in for EpochProgress: interrupts training (as Ctrl-C would) at the end of epoch k."""

    def __new__(cls, k=1):
        import keras

        class Stop(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch + 1 == k:
                    raise KeyboardInterrupt

        return Stop()


def test_stale_run_changed_options_and_a_fresh_start(tmp_path, capsys, monkeypatch):
    from cae_tutorial import training

    run = tmp_path / "run"
    args = ["train", "--epochs", "2", "--height", "64", "--width", "32", "--output", str(run)]
    monkeypatch.setattr(training, "EpochProgress", StopAfter)
    assert main(args) == 130
    one_line(capsys, "1 epochs done are backed up", f"--resume {run}")
    monkeypatch.undo()
    # A plain train over it, with other options: refused before loading anything, saying what it found.
    monkeypatch.setattr("cae_tutorial.data.load_record", lambda *a, **k: pytest.fail("loaded data first"))
    assert main([*args, "--seed", "1"]) == 2
    one_line(capsys, f"{run} is an interrupted run", "epoch 1 of 2 done", f".{run.name}.in-progress",
             f"--resume {run}", "--overwrite")
    # --resume with options that differ from the saved ones: refused, naming each.
    assert main(["train", "--resume", str(run), "--epochs", "3", "--height", "128"]) == 2
    one_line(capsys, "--epochs 3 (it has --epochs 2)", "--height 128 (it has --height 64)", "--overwrite")
    assert main(["train", "--resume", str(run), "--output", str(tmp_path / "elsewhere")]) == 2
    one_line(capsys, "differs from --resume")
    monkeypatch.undo()
    # Repeating the saved options with --resume is fine; --overwrite starts afresh instead.
    assert main([*args, "--overwrite", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "discarded the interrupted run" in out and not (tmp_path / f".{run.name}.in-progress").exists()
    assert json.loads((run / "config.json").read_text())["seed"] == 1


def test_a_second_writer_is_refused_at_the_start_naming_the_first(tmp_path, capsys, monkeypatch):
    from cae_tutorial.resume import RunLock, work_folder

    run = tmp_path / "run"
    monkeypatch.setattr("cae_tutorial.data.load_record", lambda *a, **k: pytest.fail("loaded data first"))
    with RunLock(work_folder(run)):
        assert main(["train", "--output", str(run)]) == 2
        one_line(capsys, "in use by another process", f"pid {os.getpid()} on {socket.gethostname()}", "started")
        assert main(["train", "--resume", str(run)]) == 2
        one_line(capsys, "in use by another process")
    assert not list(work_folder(run).iterdir()) and not run.exists()  # the second writer changed nothing


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(tmp_path, capsys):
    from cae_tutorial.resume import RunLock, work_folder

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    work = work_folder(tmp_path / "run")
    work.mkdir()
    (work / "lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(),
                                           "started": "2026-01-01 00:00:00 UTC"}))
    lock = RunLock(work)
    note = lock.acquire()
    assert f"left by pid {int(dead.stdout)}" in note and "has stopped" in note
    assert json.loads((work / "lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert not (work / "lock").exists()


def test_a_backup_of_another_run_or_a_damaged_one_is_reported(tmp_path, tiny_record):
    import numpy as np

    from cae_tutorial.data import seed_split
    from cae_tutorial.presets import get_preset
    from cae_tutorial.resume import ResumeError
    from cae_tutorial.training import TrainOptions, build_model, train

    preset = get_preset("seed", height=64, width=32, epochs=1)
    split = seed_split(tiny_record)
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        train(build_model(preset), tiny_record, split, preset, progress=False, options=TrainOptions(backup_dir=backup),
              callbacks=[StopAfter(1)])
    with pytest.raises(ResumeError, match=r"does not belong to this run: it was made by a run with other seed"):
        train(build_model(preset), tiny_record, split, preset, seed=3, progress=False, options=TrainOptions(backup_dir=backup))
    state = next(backup.glob("epoch-*.npz"))
    snapshot = next(backup.glob("snapshot-*.npy"))
    snapshot.write_bytes(snapshot.read_bytes()[:-7] + b"damaged")
    with pytest.raises(ResumeError, match=rf"the backup {state} is damaged .*differs from the one it was saved"):
        train(build_model(preset), tiny_record, split, preset, progress=False, options=TrainOptions(backup_dir=backup))
    assert state.is_file() and np.load(state)["meta"]  # reported, left as it was


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (root only): a disk that fills up at the second backup of a tiny run."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk is tested on a small tmpfs, which only root can mount")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()})")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.slow  # a training onto a full disk, its --resume and a predict (about 12 s): as the kill tests
def test_a_full_disk_is_one_line_keeps_the_last_backup_and_resumes(small_disk, tiny_cli_run, capsys):
    from conftest import TINY_CLI_RUN

    run, (reference, _) = small_disk / "run", tiny_cli_run  # the uninterrupted run: the same options, trained once
    args = TINY_CLI_RUN
    assert main([*args, "--output", str(run)]) == 2
    err = one_line(capsys, "no space left on the device of", "needs about", "MB more", "is free",
                   "the backup of epoch 1 is kept", f"--resume {run}")
    assert "h5py" not in err
    from cae_tutorial.resume import backup_summary, work_folder

    assert backup_summary(work_folder(run) / "backup")["epoch"] == 1 and not run.exists()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    assert main(["train", "--resume", str(run)]) == 0
    # The same history, number for number (sorted, dumped: a held-out score not computed is NaN, equal to itself).
    assert json.dumps(json.loads((run / "history.json").read_text()), sort_keys=True) == json.dumps(
        json.loads((reference / "history.json").read_text()), sort_keys=True)
    # predict onto a full disk: one line naming the folder and the space, the frames written before are whole.
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    (small_disk / "filler").write_bytes(b"\0" * (small_disk.stat().st_size or 0))
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 40_000))
    capsys.readouterr()
    assert main(["predict", "--model", str(run), "--input", str(REPO / "cae_tutorial" / "data" / "images")
                 if (REPO / "cae_tutorial" / "data" / "images").is_dir() else str(_embedded_images()),
                 "--output", str(small_disk / "masks")]) == 2
    one_line(capsys, "no space left on the device of", str(small_disk / "masks"), "needs about", "written whole")
    assert not [p for p in (small_disk / "masks").iterdir() if p.name.startswith(".")]


def _embedded_images() -> Path:
    from cae_tutorial.data import embedded_record_path

    return embedded_record_path() / "images"
