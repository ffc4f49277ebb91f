"""The scrub page: the epoch scrubber of a saved run, served as a web page by Voila on 127.0.0.1.

    cae-tutorial scrub runs/cpu [--port 8866] [--no-browser]

Voila runs a generated one-cell notebook (in a temporary folder) that loads the run and shows its
EpochScrubber. Voila shuts a page's kernel down when the page closes (its `beforeunload` beacon to
/voila/api/shutdown/<kernel>), culls kernels left without a connection, and stops them all when it stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from pathlib import Path

from cae_tutorial.folders import check_saved_run

#: Seconds an idle kernel without a connected page lives on.
CULL_IDLE_SECONDS = 300


def check_run(run_dir: str | Path) -> Path:
    """The run folder, resolved, or a FileNotFoundError naming what is missing and the fix."""
    return check_saved_run(Path(run_dir).resolve())


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: TensorFlow's C++ start-up lines would show on the page as red error text."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def scrub_page(run_dir: str | Path, height: int = 192):
    """What the page shows: a title line and the saved run's EpochScrubber (returned)."""
    from IPython.display import HTML, display

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet_stderr():
        from cae_tutorial.results import TrainingResult
        from cae_tutorial.widgets import EpochScrubber

    result = TrainingResult.load(run_dir, load_model=False)
    display(HTML(f"<h3>{Path(run_dir).name}: {result.config.get('epochs', '?')} epochs, "
                 f"{len(result.split.train_ids)} training and {len(result.split.heldout_ids)} held-out frames</h3>"))
    scrubber = EpochScrubber(result, height=height)
    display(scrubber)
    return scrubber


def write_page_notebook(run_dir: Path, folder: Path) -> Path:
    """The one-cell notebook Voila serves for run_dir, written into folder."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells.append(nbformat.v4.new_code_cell(
        f"from cae_tutorial.app import scrub_page\n\nscrub_page({str(run_dir)!r});"))
    path = folder / "scrub.ipynb"
    nbformat.write(notebook, str(path))
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: Voila's settings for the page, written as voila.json beside the page notebook (Voila reads it from its cwd).
VOILA_CONFIG = {
    # Kernels whose page vanished without saying goodbye (a crashed browser) are culled once idle that long.
    "MappingKernelManager": {"cull_idle_timeout": CULL_IDLE_SECONDS, "cull_interval": 60},
    # Voila's page sends its kernel-shutdown beacon without the _xsrf cookie it never set, so the check would refuse
    # it (403) and leave the kernel running; a read-only page served on 127.0.0.1 only loses nothing without it.
    "Voila": {"tornado_settings": {"disable_check_xsrf": True}},
    # The jupytext lab extension, where installed, fails to load in Voila's page; the page needs no extension of it.
    "VoilaConfiguration": {"show_tracebacks": True, "extension_denylist": ["jupyterlab-jupytext"]},
}


def write_voila_config(folder: Path) -> Path:
    """VOILA_CONFIG as folder/voila.json."""
    path = folder / "voila.json"
    path.write_text(json.dumps(VOILA_CONFIG, indent=1))
    return path


def voila_command(notebook: Path, port: int) -> list[str]:
    """Voila on 127.0.0.1:port for the notebook, with no browser of its own and no hopping to another port."""
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--Voila.ip=127.0.0.1",
            "--Voila.port_retries=0", "--no-browser"]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Return once something listens on 127.0.0.1:port; raise if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with code {process.returncode} before serving port {port}; "
                               "is the port taken? choose another with --port")
        with socket.socket() as probe:
            # A probe from an ephemeral port equal to `port` connects to itself (and then blocks Voila's bind).
            if probe.connect_ex(("127.0.0.1", port)) == 0 and probe.getsockname()[1] != port:
                return
        time.sleep(0.2)
    raise TimeoutError(f"voila did not listen on port {port} within {timeout:.0f} s")


def stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """Ask Voila to stop (it then shuts its kernels down); kill it if it does not within `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _exit_on_sigterm(signum, frame):
    """SIGTERM ends `serve` like Ctrl-C does, so its cleanup runs."""
    raise KeyboardInterrupt


def serve(run_dir: str | Path, port: int | None = None, open_browser: bool = True, stream=None) -> int:
    """Serve run_dir's scrubber with Voila until Ctrl-C (or SIGTERM); prints the URL; returns an exit code."""
    import importlib.util

    stream = stream or sys.stdout
    run_dir = check_run(run_dir)
    if importlib.util.find_spec("voila") is None:
        raise ModuleNotFoundError("the scrub page needs Voila: pip install 'cae-tutorial[scrub]'")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="cae-scrub-") as folder:
        notebook = write_page_notebook(run_dir, Path(folder))
        write_voila_config(Path(folder))
        process = subprocess.Popen(voila_command(notebook, port), cwd=folder)
        try:
            wait_for_port(port, process)
            print(f"scrub page for {run_dir}: {url}  (Ctrl-C stops it)", file=stream, flush=True)
            if open_browser:
                webbrowser.open(url)
            return process.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            stop(process)
            signal.signal(signal.SIGTERM, previous)
