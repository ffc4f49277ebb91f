"""The scrub page: the epoch scrubber of a saved run, served as a web page by Voila on 127.0.0.1.

    cae-tutorial scrub runs/cpu [--port 8866] [--no-browser]

Voila runs a generated one-cell notebook (in a temporary folder) that loads the run and shows its
EpochScrubber. Voila shuts a page's kernel down when the page closes (its `beforeunload` beacon to
/voila/api/shutdown/<kernel>), culls kernels left without a connection, and stops them all when it stops.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from pathlib import Path

#: Kernels whose page vanished without saying goodbye (a crashed browser) are culled after this many seconds idle.
CULL_IDLE_SECONDS = 300


def check_run(run_dir: str | Path) -> Path:
    """The run folder, resolved, or a FileNotFoundError naming what is missing and the fix."""
    run_dir = Path(run_dir).resolve()
    for name in ("history.json", "snapshots.npz", "split.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir} holds no saved training run ({name} is missing); pass the folder "
                                    "given to `cae-tutorial train --output` or TrainingResult.save")
    return run_dir


def scrub_page(run_dir: str | Path, height: int = 192):
    """What the page shows: a title line and the saved run's EpochScrubber (returned)."""
    from IPython.display import HTML, display

    from cae_tutorial.training import TrainingResult
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


def voila_command(notebook: Path, port: int) -> list[str]:
    """Voila on 127.0.0.1:port for the notebook: no browser of its own, no port hopping, idle orphans culled."""
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--Voila.ip=127.0.0.1",
            "--Voila.port_retries=0", "--no-browser", "--VoilaConfiguration.show_tracebacks=True",
            f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
            "--MappingKernelManager.cull_interval=60"]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Return once something listens on 127.0.0.1:port; raise if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with code {process.returncode} before serving port {port}; "
                               "is the port taken? choose another with --port")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
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
        process = subprocess.Popen(voila_command(write_page_notebook(run_dir, Path(folder)), port))
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
