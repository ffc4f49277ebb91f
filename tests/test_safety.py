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


@pytest.mark.parametrize("delay", [0.3, 1.0, 2.5])
def test_ctrl_c_during_start_up_is_one_line_and_130(tmp_path, delay):
    process = subprocess.Popen([sys.executable, "-m", "cae_tutorial.cli", "train", "--epochs", "1", "--height", "64",
                                "--width", "32", "--output", str(tmp_path / "run")], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    assert not (tmp_path / "run").exists()
