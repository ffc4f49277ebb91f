"""The scrub page: the epoch scrubber of a saved run, served as a web page by Voila on 127.0.0.1.

    cae-tutorial scrub runs/cpu [--port 8866] [--no-browser] [--cull-after 20]

Voila runs a generated one-cell notebook (in a temporary folder) that loads the run and shows its
EpochScrubber. Voila shuts a page's kernel down when the page closes (its `beforeunload` beacon to
/voila/api/shutdown/<kernel>), culls kernels left without a connection (a crashed or lost tab sends no beacon)
`--cull-after` seconds after their last activity, and stops them all when it stops. An open page tells its kernel
it is there every keepalive_seconds(cull_after) (a small message), so its kernel stays active even while its
connection drops and comes back.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from pathlib import Path

from cae_tutorial.errors import UsageError
from cae_tutorial.folders import check_saved_run, write_file, write_json

#: Seconds a kernel whose page went away without saying goodbye (a crashed or lost tab) lives on, and how often
#: Voila looks: a page's kernel holds the run's snapshots, so it should not linger.
CULL_IDLE_SECONDS, CULL_INTERVAL_SECONDS = 20, 5


def keepalive_seconds(cull_after: int = CULL_IDLE_SECONDS) -> int:
    """How often an open page tells its kernel it is there: a quarter of cull_after, so a dropped connection has
    about three quarters of it to come back before the culler counts the tab as lost."""
    return max(1, int(cull_after) // 4)


def check_run(run_dir: str | Path) -> Path:
    """The run folder, resolved, or a FileNotFoundError naming what is missing and the fix."""
    return check_saved_run(Path(run_dir).resolve())


def page_title(run_dir: str | Path) -> str:
    """The page's title: what it shows and of which run."""
    return f"Epoch scrubber of {Path(run_dir).name}"


def scrub_page(run_dir: str | Path, height: int = 192, keepalive: int | None = None):
    """What the page shows: a title line and the saved run's EpochScrubber (returned); a damaged file: one line.

    Reads the run with run_files (numpy and json only): the page never imports TensorFlow.
    keepalive: seconds between the open page's keep-alive messages to its kernel (default keepalive_seconds()).
    """
    from IPython.display import HTML, display

    from cae_tutorial.run_files import RunFileError, read_saved_run
    from cae_tutorial.widgets import EpochScrubber

    try:
        run = read_saved_run(run_dir)
    except (RunFileError, OSError) as error:
        display(HTML(f'<p role="alert">cae-tutorial scrub: error: {html.escape(str(error))}</p>'))
        return None
    epochs = run.config.get("epochs", int(run.snapshots.epochs[-1]) if len(run.snapshots.epochs) else "?")
    display(HTML(f"<h1 style='font-size:1.3em'>{html.escape(page_title(run_dir))}: {epochs} epochs, "
                 f"{len(run.split.train_ids)} training and {len(run.split.heldout_ids)} held-out frames</h1>"))
    scrubber = EpochScrubber(run, height=height, title=page_title(run_dir), static_image=False)  # the page has a kernel
    scrubber.controls.ping_url = PING_PATH  # the page says when the server has gone
    scrubber.controls.keepalive_ms = 1000 * int(keepalive or keepalive_seconds())
    display(scrubber)
    return scrubber


def write_page_notebook(run_dir: Path, folder: Path, cull_after: int = CULL_IDLE_SECONDS) -> Path:
    """The one-cell notebook Voila serves for run_dir, written into folder; its page keeps alive for cull_after."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells.append(nbformat.v4.new_code_cell(
        f"from cae_tutorial.app import scrub_page\n\n"
        f"scrub_page({str(run_dir)!r}, keepalive={keepalive_seconds(cull_after)});"))
    # Voila titles the page with the notebook's name.
    path = folder / f"{page_title(run_dir)}.ipynb"
    return write_file(path, nbformat.writes(notebook))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def voila_config(cull_after: int = CULL_IDLE_SECONDS) -> dict:
    """Voila's settings for the page, written as voila.json beside the page notebook (Voila reads it from its cwd).

    cull_after: seconds a kernel left without a connection lives on after its last activity.
    """
    return {
        # Kernels whose page vanished without saying goodbye (a crashed browser, a lost tab) are culled once idle
        # that long without a connection; a connected tab's kernel stays however long it idles.
        "MappingKernelManager": {"cull_idle_timeout": int(cull_after),
                                 "cull_interval": max(1, min(CULL_INTERVAL_SECONDS, int(cull_after) // 2)),
                                 "cull_connected": False},
        # Voila's page sends its kernel-shutdown beacon without the _xsrf cookie it never set, so the check would
        # refuse it (403) and leave the kernel running; a read-only page served on 127.0.0.1 only loses nothing
        # without it.
        "Voila": {"tornado_settings": {"disable_check_xsrf": True}},
        # The jupytext lab extension, where installed, fails to load in Voila's page; the page needs no extension of
        # it.
        "VoilaConfiguration": {"show_tracebacks": False, "extension_denylist": ["jupyterlab-jupytext"]},
    }


#: The page's template (write_template): Voila's lab template without its Font Awesome links to a CDN.
TEMPLATE = "cae-scrub"
#: A file of the template that the open page fetches every few seconds (HEAD): no answer means the server is gone.
PING_PATH = f"voila/templates/{TEMPLATE}/static/ping.txt"


def write_voila_config(folder: Path, cull_after: int = CULL_IDLE_SECONDS) -> Path:
    """voila_config(cull_after) as folder/voila.json."""
    return write_json(folder / "voila.json", voila_config(cull_after))


def write_template(folder: Path) -> Path:
    """folder/voila/templates/cae-scrub: a copy of Voila's lab template with every CDN link taken out; folder goes
    on JUPYTER_PATH for Voila to find it."""
    from jupyter_core.paths import jupyter_path

    lab = next((Path(p) / "lab" for p in jupyter_path("voila", "templates")
                if (Path(p) / "lab" / "index.html.j2").is_file()), None)
    if lab is None:
        raise RuntimeError("Voila's lab template is not installed; reinstall Voila: pip install 'cae-tutorial[scrub]'")
    target = folder / "voila" / "templates" / TEMPLATE
    shutil.copytree(lab, target)
    page = target / "index.html.j2"
    page.write_text("".join(line for line in page.read_text().splitlines(keepends=True)
                            if "https://cdn." not in line))
    (target / "conf.json").write_text(json.dumps({"base_template": "lab"}))
    (target / "static").mkdir(exist_ok=True)
    write_file(target / "static" / "ping.txt", "the scrub page's server is there\n")
    return target


def voila_command(notebook: Path, port: int) -> list[str]:
    """Voila on 127.0.0.1:port for the notebook, with no browser of its own and no hopping to another port."""
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--Voila.ip=127.0.0.1",
            "--Voila.port_retries=0", "--no-browser", f"--template={TEMPLATE}"]


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


def serve(run_dir: str | Path, port: int | None = None, open_browser: bool = True, stream=None,
          cull_after: int = CULL_IDLE_SECONDS) -> int:
    """Serve run_dir's scrubber with Voila until Ctrl-C (KeyboardInterrupt, also for SIGTERM); prints the URL.

    The run's files are read once first, so a damaged one is a RunFileError naming it, before any server starts.
    cull_after: seconds a lost tab's kernel (no connection left) lives on after its last activity.
    """
    import importlib.util

    from cae_tutorial.run_files import read_saved_run

    stream = stream or sys.stdout
    run_dir = check_run(run_dir)
    read_saved_run(run_dir)
    if int(cull_after) < 1:
        raise UsageError(f"--cull-after {cull_after}: give a whole number of seconds, 1 or more (default "
                         f"{CULL_IDLE_SECONDS})")
    if importlib.util.find_spec("voila") is None:
        raise ModuleNotFoundError("the scrub page needs Voila: pip install 'cae-tutorial[scrub]'")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="cae-scrub-") as folder:
        notebook = write_page_notebook(run_dir, Path(folder), cull_after)
        write_voila_config(Path(folder), cull_after)
        write_template(Path(folder))
        paths = [folder, os.environ.get("JUPYTER_PATH", "")]
        env = {**os.environ, "JUPYTER_PATH": os.pathsep.join(p for p in paths if p)}
        process = subprocess.Popen(voila_command(notebook, port), cwd=folder, env=env)
        try:
            wait_for_port(port, process)
            print(f"scrub page for {run_dir}: {url}  (Ctrl-C stops it)", file=stream, flush=True)
            if open_browser:
                webbrowser.open(url)
            return process.wait()
        finally:
            stop(process)
            signal.signal(signal.SIGTERM, previous)
