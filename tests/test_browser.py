"""The scrub page in a real browser: `cae-tutorial scrub` (Voila) driven in Debian's headless Chromium by Playwright.

Prints time to first render and slider-to-image latency (measured, never asserted).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
FIRST_RENDER_MS = 180_000  # a cold kernel imports TensorFlow: slow on a busy 2-core machine


def _kernels(pid: int) -> list[int]:
    """Pids of the ipykernel processes below process pid."""
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                found.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def _need_chromium() -> None:
    """Skip, saying why, without Chromium or Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (as root)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")


def _as_in_a_terminal():
    """In the server's process before it starts: Ctrl-C (SIGINT) as a terminal's foreground command gets it.

    A test run started from a non-interactive shell in the background (`pytest &`, `nohup`) inherits SIGINT
    ignored, and Python then never raises KeyboardInterrupt: the Ctrl-C this test sends would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def _scrub(run: Path, *options: str):
    """`cae-tutorial scrub run` on a free port with options: yields (url, process, log); stopped afterwards, and
    no kernel of it outlives it."""
    pytest.importorskip("voila", reason="pip install voila (the dev and scrub extras have it)")
    from cae_tutorial.app import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "cae_tutorial.cli", "scrub", str(run), "--port", str(port),
                                "--no-browser", *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=_as_in_a_terminal)
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def drain():
        """Keep reading the server's output so its pipe never fills; queue every line."""
        for line in process.stdout:
            log.append(line)
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("scrub printed no URL within 120 s:\n" + "".join(log))
            if url in line:
                break
        yield url, process, log
    finally:
        below = _kernels(process.pid)
        if process.poll() is None:
            process.terminate()
            process.wait(180)
        time.sleep(1)
        assert not [p for p in below if _alive(p)], "kernels outlived the scrub server"


@pytest.fixture(scope="module")
def scrub_server(tiny_result, tmp_path_factory):
    """`cae-tutorial scrub` on a saved tiny run, on a free port: yields (url, process, log); stopped afterwards."""
    _need_chromium()
    with _scrub(tiny_result.save(tmp_path_factory.mktemp("scrub") / "run")) as server:
        yield server


SHOWN_EPOCH = "() => document.querySelector('.cae-stack .cae-cell, .cae-stack .cae-pending')"


def _shown(page) -> list[str]:
    """The epoch each frame's Stack shows now ('pending' for a placeholder)."""
    return page.evaluate("""() => [...document.querySelectorAll('.cae-stack')].map(stack => {
        const cell = stack.querySelector('.cae-cell');
        return cell ? cell.dataset.epoch : (stack.querySelector('.cae-pending') ? 'pending' : 'none');
    })""")


def _press_and_time(page, key: str, want: str, timeout_ms: int = 10_000) -> float | None:
    """Press `key` on the focused slider; milliseconds from keydown until every frame's Stack shows epoch `want`
    ('pending': the not-trained-yet placeholder); None if not within timeout_ms."""
    page.evaluate("""([want, timeout]) => {
        document.addEventListener('keydown', () => {
            const start = performance.now();
            window.__followed = new Promise(resolve => {
                const check = () => {
                    const shown = [...document.querySelectorAll('.cae-stack')].map(stack => {
                        const cell = stack.querySelector('.cae-cell');
                        return cell ? cell.dataset.epoch : (stack.querySelector('.cae-pending') ? 'pending' : '');
                    });
                    if (shown.length && shown.every(s => s === want)) return resolve(performance.now() - start);
                    if (performance.now() - start > timeout) return resolve(null);
                    requestAnimationFrame(check);
                };
                check();
            });
        }, {capture: true, once: true});
    }""", [want, timeout_ms])
    page.keyboard.press(key)
    return page.evaluate("() => window.__followed")


def _image_bytes(page, selector: str, index: int = 0) -> bytes:
    """The bytes of the index-th visible <img> matching selector (a data: URI)."""
    source = page.evaluate("""([selector, index]) => [...document.querySelectorAll(selector)]
        .filter(img => img.offsetParent !== null)[index].src""", [selector, index])
    return base64.b64decode(source.split(",", 1)[1])


def _accessibility_problems(page) -> list[str]:
    """Images without alt text and controls without an accessible name, inside the scrubber."""
    return page.evaluate("""() => {
        const problems = [];
        for (const img of document.querySelectorAll('.cae-scrubber img')) if (!img.alt) problems.push('img ' + img.className);
        for (const control of document.querySelectorAll('.cae-scrubber button, .cae-scrubber input')) {
            const label = control.getAttribute('aria-label') || control.textContent.trim()
                || (control.closest('label') && control.closest('label').textContent.trim());
            if (!label) problems.push(control.outerHTML.slice(0, 80));
        }
        const readout = document.querySelector('.cae-readout');
        if (!readout || readout.getAttribute('role') !== 'status') problems.push('readout is no live region');
        return problems;
    }""")


def _layout_problems(page, width: int) -> list[str]:
    """Anything of the scrubber outside its visible column (a `width`-px viewport, or the notebook's panel in
    JupyterLab), a squeezed slider or tile, clipped labels."""
    return page.evaluate("""(viewport) => {
        const problems = [];
        const panel = document.querySelector('.jp-WindowedPanel-outer');
        const column = panel ? panel.getBoundingClientRect() : {left: 0};
        const left = column.left, width = panel ? Math.min(viewport, column.left + panel.clientWidth) : viewport;
        const slider = document.querySelector('.cae-slider').getBoundingClientRect();
        if (slider.width < 150) problems.push(`slider ${slider.width} px wide`);
        for (const el of document.querySelectorAll('.cae-figure, .cae-controls-root, .cae-bar > *, .cae-curve svg, '
                                                   + '.cae-tile, .cae-pending')) {
            const box = el.getBoundingClientRect();
            if (box.width && (box.left < left - 1 || box.right > width + 1)) {
                problems.push(`${el.className.baseVal ?? el.className} at ${box.left}..${box.right} (column ${left}..${width})`);
            }
        }
        for (const img of document.querySelectorAll('.cae-tile')) {
            const box = img.getBoundingClientRect();
            if (box.width && box.width < 60) problems.push(`tile ${box.width} px wide`);
        }
        for (const text of document.querySelectorAll('.cae-label, .cae-iou, .cae-note, .cae-readout')) {
            const box = text.getBoundingClientRect();
            const holder = text.closest('.widget-html') || text.parentElement;
            if (box.right > width + 1 || holder.scrollWidth > holder.clientWidth + 1) {
                problems.push('clipped: ' + text.textContent);
            }
        }
        return problems;
    }""", width)


def _sticky_problems(page, height: int) -> list[str]:
    """Scroll the last frame into view: the scrubber's top scrolls away; its whole control block (bar, readout,
    curve) stays on screen, pinned to the top of the box that scrolls (no frame shows above it), frames below it."""
    page.locator(".cae-figure").last.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    return page.evaluate("""(height) => {
        const problems = [], box = selector => document.querySelector(selector).getBoundingClientRect();
        const root = box('.cae-controls-root'), scrubber = box('.cae-scrubber');
        let scroller = document.querySelector('.cae-controls-root').parentElement;
        while (scroller && !(/(auto|scroll)/.test(getComputedStyle(scroller).overflowY)
                             && scroller.scrollHeight > scroller.clientHeight)) scroller = scroller.parentElement;
        const top = scroller ? Math.max(0, scroller.getBoundingClientRect().top) : 0;
        if (scrubber.top > root.top - 40) {
            problems.push(`the scrubber did not scroll away under its controls: scrubber at ${scrubber.top}, controls at ${root.top}`);
        }
        if (root.top > top + 1) problems.push(`the pinned controls start at ${root.top}, below their scroller's top ${top}: frames show above them`);
        for (const part of ['.cae-bar', '.cae-readout', '.cae-curve svg']) {
            const b = box(part);
            if (b.top < top - 1 || b.bottom > height + 1) problems.push(`${part} left the screen: ${b.top}..${b.bottom}`);
        }
        const below = [...document.querySelectorAll('.cae-tile')].filter(img => {
            const b = img.getBoundingClientRect();
            return b.bottom > root.bottom + 20 && b.top < height;
        });
        if (!below.length) problems.push(`no frame shows below the pinned controls (they end at ${root.bottom})`);
        return problems;
    }""", height)


def test_scrub_page_in_chromium(scrub_server, capsys, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    from cae_tutorial.widgets import ERROR_COLOURS

    url, process, log = scrub_server
    shots = tmp_path_factory.mktemp("screenshots")
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            start = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=FIRST_RENDER_MS)  # Voila streams the page as it runs
            page.wait_for_selector("img.cae-prediction", timeout=FIRST_RENDER_MS)
            page.wait_for_function("() => document.querySelector('.cae-readout').innerText.includes('epoch 3')",
                                   timeout=30_000)
            first_render = time.perf_counter() - start
            assert len(_kernels(process.pid)) == 1
            assert page.title() == "Epoch scrubber of run"
            readout = page.inner_text(".cae-readout")
            assert readout.count("epoch") == 1 and "held-out mean IoU" in readout and "at model size 64 x 32" in readout
            labels = page.inner_text(".cae-scrubber")
            assert "dance_00090" in labels and "held-out" in labels and "training" in labels
            assert _accessibility_problems(page) == []
            assert page.get_by_role("slider", name="epoch").count() == 1
            assert page.get_by_role("button", name="Play the epochs").count() == 1
            assert page.locator(".cae-readout").get_attribute("aria-live") == "polite"
            assert _shown(page) == ["3"] * 10
            page.screenshot(path=str(shots / "finished_1280.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 500})  # the controls stay with the frames they move
            assert _sticky_problems(page, 500) == []
            page.screenshot(path=str(shots / "finished_1280x500_scrolled.png"))
            page.set_viewport_size({"width": 1280, "height": 900})

            fixed = page.evaluate("() => [...document.querySelectorAll('img.cae-frame, img.cae-truth')].map(i => i.src)")
            before = _image_bytes(page, "img.cae-prediction")
            page.focus(".cae-slider")
            presses = [_press_and_time(page, "ArrowLeft", str(epoch)) for epoch in (2, 1, 0)]
            assert all(p is not None for p in presses), f"key presses did not update the frames: {presses}"
            assert _image_bytes(page, "img.cae-prediction") != before  # epoch 0 (untrained) differs from epoch 3
            ends = [_press_and_time(page, "End", "3"), _press_and_time(page, "Home", "0")]
            assert all(p is not None for p in ends), ends
            assert page.evaluate("() => [...document.querySelectorAll('img.cae-frame, img.cae-truth')]"
                                 ".map(i => i.src)") == fixed  # frame and truth untouched

            page.click(".cae-play")  # Play, from epoch 0: it stops at the last epoch
            page.wait_for_function("() => document.querySelector('.cae-readout').innerText.includes('epoch 3')",
                                   timeout=30_000)
            page.wait_for_function("() => document.querySelector('.cae-play').textContent.includes('Play')")
            assert _shown(page) == ["3"] * 10

            plain = _image_bytes(page, "img.cae-prediction")
            page.click(".cae-view button[data-view='errors']")
            page.wait_for_selector(".cae-legend", state="visible")
            assert "missed person" in page.inner_text(".cae-legend")
            errors_png = _image_bytes(page, "img.cae-errors")
            assert errors_png != plain
            pixels = np.asarray(Image.open(io.BytesIO(errors_png)).convert("RGB")).reshape(-1, 3)
            colours = {tuple(p) for p in np.unique(pixels, axis=0) if len(set(p)) > 1}
            assert colours and colours <= set(ERROR_COLOURS.values())
            page.screenshot(path=str(shots / "finished_errors.png"), full_page=True)
            assert not [r for r in requests if not r.startswith(("http://127.0.0.1", "data:", "blob:"))], requests

            narrow = browser.new_page(viewport={"width": 320, "height": 700})
            narrow.goto(url, wait_until="commit", timeout=FIRST_RENDER_MS)
            narrow.wait_for_selector("img.cae-prediction", timeout=FIRST_RENDER_MS)
            narrow.wait_for_timeout(500)
            assert _layout_problems(narrow, 320) == []
            narrow.screenshot(path=str(shots / "finished_320.png"), full_page=True)
            assert _sticky_problems(narrow, 700) == []  # the frames scroll under the pinned controls and curve
            assert _layout_problems(narrow, 320) == []
            narrow.screenshot(path=str(shots / "finished_320_scrolled.png"))
            narrow.click(".cae-view button[data-view='errors']")  # the key joins the pinned block
            narrow.wait_for_selector(".cae-legend", state="visible")
            assert _sticky_problems(narrow, 700) == [] and _layout_problems(narrow, 320) == []
            narrow.screenshot(path=str(shots / "finished_320_errors_scrolled.png"))

            page.goto("about:blank")  # leaving the page: Voila's beforeunload beacon shuts its kernel down
            deadline = time.monotonic() + 30
            while len(_kernels(process.pid)) > 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(_kernels(process.pid)) == 1, "the page's kernel outlived the page"

            process.send_signal(signal.SIGINT)  # Ctrl-C: the server stops, the open page says so
            assert process.wait(180) == 130
            narrow.wait_for_selector(".cae-gone", state="visible", timeout=15_000)
            assert "server is gone" in narrow.inner_text(".cae-gone")
            narrow.screenshot(path=str(shots / "server_gone_320.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, f"errors in the page: {errors}"
    assert "Traceback" not in "".join(log)
    with capsys.disabled():
        print(f"\nscrub page in Chromium: first render {first_render:.1f} s; slider key to new frames "
              f"{statistics.median(presses):.0f} ms median of {len(presses)} (each press: {presses}, End/Home {ends}); "
              f"screenshots in {shots}")


#: Seconds of the test's lost-tab cull (`--cull-after`; the default is app.CULL_IDLE_SECONDS). Not shorter: a page's
#: kernel has no connection until the page's scripts connect, and a busy machine takes seconds to get there.
CULL_AFTER = 8


def _alive(pid: int) -> bool:
    """Whether process pid runs (a zombie waiting for its parent does not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _chromium_pids() -> dict[int, int]:
    """Pid -> parent pid of the Chromium processes below this test process (Playwright's driver starts them)."""
    import psutil

    found = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name().startswith("chromium") or "/chromium/" in child.exe():
                found[child.pid] = child.ppid()
        except psutil.Error:
            pass
    return found


def _browser_mains() -> set[int]:
    """Pids of the Chromium browsers' main processes (each launch starts one, before it returns; their helpers, the
    network service among them, start afterwards, below it)."""
    chromium = _chromium_pids()
    return {pid for pid, parent in chromium.items() if parent not in chromium}


def _browser_tree(main: int) -> set[int]:
    """The browser process main and every process below it, now."""
    import psutil

    try:
        return {main, *(child.pid for child in psutil.Process(main).children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def _kernel_model(url: str, kernel: int) -> dict:
    """The Jupyter server's model of the kernel with pid `kernel` (its last activity, its connections)."""
    import re

    import psutil

    kernel_id = re.search(r"kernel-([0-9a-f-]+)\.json", " ".join(psutil.Process(kernel).cmdline())).group(1)
    with urllib.request.urlopen(f"{url}api/kernels/{kernel_id}", timeout=30) as answer:
        return json.loads(answer.read())


def test_a_lost_tab_s_kernel_is_culled_and_an_open_tab_s_is_kept(tiny_result, tmp_path, capsys):
    """Two browsers show one scrub page; one is killed (a crash or a lost tab: no beforeunload beacon). Its kernel is
    culled once idle --cull-after seconds without a connection; the open tab's kernel stays: it keeps its connection
    and its page's keep-alive keeps its last activity recent, and its page still gets the epochs it has not shown
    yet drawn by it.

    Only the lost browser's own processes are killed: its main process and everything below it, found at the kill.
    (Chromium processes new since the open browser's launch are no such set: the open browser starts its network
    service after its launch returns, and killing that drops its page's connection, which once got its idle kernel
    culled.)"""
    _need_chromium()
    import psutil
    from playwright.sync_api import sync_playwright

    from cae_tutorial.app import CULL_IDLE_SECONDS, keepalive_seconds, voila_config

    run = tiny_result.save(tmp_path / "run")
    with _scrub(run, "--cull-after", str(CULL_AFTER)) as (url, process, log), sync_playwright() as playwright:
        before = _browser_mains()
        kept = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        (kept_main,) = _browser_mains() - before
        lost = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        (lost_main,) = _browser_mains() - before - {kept_main}
        try:
            tabs, loads, memory = {}, [], []
            for name, browser in (("kept", kept), ("lost", lost)):
                page = browser.new_page(viewport={"width": 800, "height": 600})
                known = set(_kernels(process.pid))
                start = time.perf_counter()
                page.goto(url, wait_until="commit", timeout=FIRST_RENDER_MS)
                page.wait_for_function("() => document.querySelector('.cae-readout')?.innerText.includes('epoch 3')"
                                       " && document.querySelector('img.cae-prediction')", timeout=FIRST_RENDER_MS)
                loads.append(time.perf_counter() - start)
                new = set(_kernels(process.pid)) - known
                assert len(new) == 1, (name, new)
                tabs[name] = (page, new.pop())
                memory.append(psutil.Process(tabs[name][1]).memory_info().rss / 2**20)
            lost_pids, kept_pids = _browser_tree(lost_main), _browser_tree(kept_main)
            assert lost_pids and kept_pids and not lost_pids & kept_pids, (lost_pids, kept_pids)
            for pid in lost_pids:  # the lost browser dies at once: no page of it says goodbye
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            lost_kernel, kept_page, kept_kernel = tabs["lost"][1], *tabs["kept"]
            while _alive(lost_kernel) and time.monotonic() < killed + CULL_IDLE_SECONDS:
                time.sleep(0.1)
            culled = time.monotonic() - killed
            assert not _alive(lost_kernel), (f"the lost tab's kernel still runs {CULL_IDLE_SECONDS} s after its "
                                             f"browser died, with --cull-after {CULL_AFTER}")
            # The open tab has been open longer than the lost one: one more round of the culler, and its kernel stays.
            time.sleep(voila_config(CULL_AFTER)["MappingKernelManager"]["cull_interval"] + 1)
            assert _alive(kept_kernel) and _kernels(process.pid) == [kept_kernel]
            assert all(_alive(pid) for pid in kept_pids), "a process of the open browser died"
            model = _kernel_model(url, kept_kernel)
            assert model["connections"] == 1, model
            # The keep-alive: a message every keepalive_seconds(CULL_AFTER); the kernel's last activity is newer than
            # the culler's limit, so even a dropped connection would not get it culled at once.
            idle = (time.time() - datetime.datetime.fromisoformat(model["last_activity"].replace("Z", "+00:00"))
                    .timestamp())
            assert idle < CULL_AFTER, (f"the open tab's kernel idles {idle:.1f} s: no keep-alive every "
                                       f"{keepalive_seconds(CULL_AFTER)} s")
            kept_page.focus(".cae-slider")
            assert _press_and_time(kept_page, "Home", "0") is not None  # epoch 0 drawn by the kept kernel now
            assert kept_page.locator(".cae-gone").is_hidden()
        finally:
            kept.close()
            with contextlib.suppress(Exception):
                lost.close()
    assert "Traceback" not in "".join(log)
    with capsys.disabled():
        print(f"\nscrub page: page load {', '.join(f'{t:.1f}' for t in loads)} s, kernel RSS "
              f"{', '.join(f'{m:.0f}' for m in memory)} MiB per tab; a killed browser's kernel culled {culled:.1f} s "
              f"after (--cull-after {CULL_AFTER}), the open tab's kept (idle {idle:.1f} s, 1 connection)")


#: The live notebook: tiny sizes, and epochs enough that training outlasts the test (which interrupts it).
LIVE_SIZE, LIVE_EPOCHS, LIVE_HEIGHT = (64, 32), 400, 128
LIVE_CELLS = [
    ("from cae_tutorial.data import load_record, seed_split\n"
     "from cae_tutorial.presets import get_preset\n"
     "from cae_tutorial.widgets import EpochScrubber\n"
     f"record = load_record(size={LIVE_SIZE}); split = seed_split(record)\n"
     f"preset = get_preset('seed', height={LIVE_SIZE[0]}, width={LIVE_SIZE[1]}, epochs={LIVE_EPOCHS})\n"
     f"scrubber = EpochScrubber.live(record, split, height={LIVE_HEIGHT}, total_epochs=preset.epochs)\n"
     "scrubber"),
    ("from cae_tutorial.training import build_model, train\n"
     "result = train(build_model(preset, seed=0), record, split, preset, seed=0, progress=False,\n"
     "               callbacks=[scrubber.callback])"),
]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """JupyterLab on a free port of 127.0.0.1, with a token, its settings in a temporary home, serving a folder that
    holds the live notebook; yields (notebook URL, process, timings); stopped afterwards, kernels and all."""
    _need_chromium()
    pytest.importorskip("jupyterlab", reason="pip install jupyterlab (the dev extra has it)")
    import secrets

    import nbformat

    from cae_tutorial.app import free_port, wait_for_port

    started = time.perf_counter()
    folder = tmp_path_factory.mktemp("lab")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in LIVE_CELLS]
    nbformat.write(notebook, str(folder / "live.ipynb"))
    home = tmp_path_factory.mktemp("lab-home")
    # The server and the page leave out the extensions the test does not need (they slow the start; the news
    # prompt would cover the notebook), and the kernel imports
    # TensorFlow at its start, while the page loads (a startup file of this IPython profile only).
    (home / "config" / "labconfig").mkdir(parents=True)
    unneeded = dict.fromkeys(("voila.server_extension", "jupyterlab_jupytext", "jupyter_server_terminals",
                              "jupyter_lsp"), False)
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {
        "jpserver_extensions": unneeded}}))
    (home / "config" / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {
        "jupyterlab-jupytext": True, "@voila-dashboards/jupyterlab-preview": True,
        "@jupyterlab/apputils-extension:announcements": True}}))
    (home / "ipython" / "profile_default" / "startup").mkdir(parents=True)
    (home / "ipython" / "profile_default" / "startup" / "00-warm.py").write_text(
        "import cae_tutorial.training  # noqa: F401  (TensorFlow and Keras, imported while the page loads)\n")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "IPYTHONDIR": str(home / "ipython"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    token, port = secrets.token_hex(16), free_port()
    process = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                                "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
                                f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
                                "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
                                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                                "--LabApp.extension_manager=readonly", "--allow-root"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=folder)
    try:
        wait_for_port(port, process)
        timings = {"server up": time.perf_counter() - started}
        # The notebook's kernel starts now, so its imports overlap the page's load; the page joins its session.
        session = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/sessions", method="POST",
            data=json.dumps({"path": "live.ipynb", "name": "live.ipynb", "type": "notebook",
                             "kernel": {"name": "python3"}}).encode(),
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(session, timeout=120) as answer:
            assert answer.status == 201, answer.status
        yield f"http://127.0.0.1:{port}/lab/tree/live.ipynb?token={token}", process, timings
    finally:
        stopping = time.perf_counter()
        below = _kernels(process.pid)
        process.terminate()  # the server shuts its kernels down
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        timings["server stop"] = time.perf_counter() - stopping
        assert not [pid for pid in below if _alive(pid)], "kernels outlived JupyterLab"


#: In-page instrumentation: from each learner's input on the slider (or click on Follow), the milliseconds until every
#: frame shows the epoch the slider points at (that epoch's pictures, or the placeholder of one not trained yet),
#: polled once per animation frame; a newer move supersedes an older one.
WATCH_JS = """() => {
    if (window.__cae) return;
    const slider = document.querySelector('.cae-slider'), root = document.querySelector('.cae-controls-root');
    const shown = () => [...document.querySelectorAll('.cae-stack')].map(stack => {
        const cell = stack.querySelector('.cae-cell');
        return cell ? cell.dataset.epoch : (stack.querySelector('.cae-pending') ? 'pending' : '');
    });
    const moves = [];
    window.__cae = {moves, shown};
    const watch = kind => {
        const move = {kind, start: performance.now(), ms: null, index: null};
        moves.push(move);
        const check = () => {
            if (moves[moves.length - 1] !== move) return;
            const index = Number(slider.value);
            const want = index < Number(root.dataset.arrived) ? String(index) : 'pending';
            const now = shown();
            if (now.length && now.every(s => s === want)) { move.ms = performance.now() - move.start; move.index = index; return; }
            if (performance.now() - move.start > 10000) { move.ms = -1; return; }
            requestAnimationFrame(check);
        };
        check();
    };
    slider.addEventListener('input', () => watch('input'));
    document.querySelector('.cae-follow').addEventListener('click', () => watch('follow'));
}"""


def _moved(page, count: int) -> dict:
    """The count-th watched move (1-based) once the frames show it: {kind, ms, index}; ms is -1 after 10 s."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => window.__cae.moves.length >= {count} && "
                               f"window.__cae.moves[{count - 1}].ms !== null || window.__cae.moves.length > {count}",
                               timeout=15_000)
    except PlaywrightTimeout:
        pytest.fail(f"move {count} not shown within 15 s: moves {page.evaluate('() => window.__cae.moves')}, "
                    f"scrubber {_live(page)}, focus on {page.evaluate('() => document.activeElement.outerHTML.slice(0, 120)')}")
    return page.evaluate(f"() => window.__cae.moves[{count - 1}]")


def _live(page) -> dict:
    """The live scrubber as the page shows it: arrived epochs, slider position and range, following, readout,
    what each frame shows."""
    return page.evaluate("""() => {
        const root = document.querySelector('.cae-controls-root'), slider = document.querySelector('.cae-slider');
        return {arrived: Number(root.dataset.arrived), index: Number(slider.value), max: Number(slider.max),
                following: document.querySelector('.cae-follow').getAttribute('aria-pressed') === 'true',
                readout: document.querySelector('.cae-readout').textContent, shown: window.__cae.shown()};
    }""")


def _more_epochs(page, more: int = 2) -> dict:
    """Wait until `more` further epochs have arrived (training goes on while the learner scrubs); the state then."""
    arrived = _live(page)["arrived"]
    page.wait_for_function(f"() => Number(document.querySelector('.cae-controls-root').dataset.arrived) >= "
                           f"{arrived + more}", timeout=30_000)
    page.wait_for_timeout(50)  # an animation frame for the arrival to settle
    return _live(page)


def _focus_problems(page) -> list[str]:
    """Tab through the scrubber's controls: each must show a visible focus outline."""
    page.focus(".cae-slider")
    page.keyboard.press("Shift+Tab")  # to Play, by keyboard: focus shows as for a keyboard user
    problems = []
    for _ in range(5):  # Play, the slider, Follow newest, prediction, errors
        shown = page.evaluate("""() => { const el = document.activeElement, style = getComputedStyle(el);
            return [el.className || el.dataset.view || el.tagName, style.outlineStyle, parseFloat(style.outlineWidth)]; }""")
        if shown[1] in ("none", "") or shown[2] < 2:
            problems.append(f"{shown[0]}: outline {shown[1]} {shown[2]} px")
        page.keyboard.press("Tab")
    return problems


def test_live_scrubber_in_jupyterlab_while_training(lab_server, capsys, tmp_path_factory):
    """JupyterLab runs a notebook that trains under a live scrubber. While model.fit keeps the kernel busy, the learner
    presses Home and End, an arrow, drags the slider and presses Follow newest: the frames follow each move within
    100 ms (measured in the page) and stay there as new epochs arrive; after training is interrupted (the kernel
    then reads the queued moves) they still stay. Alt text, names, focus and the 320 px layout are checked."""
    from playwright.sync_api import sync_playwright

    url, process, timings = lab_server
    shots = tmp_path_factory.mktemp("live-screenshots")
    errors: list[str] = []
    clock = time.perf_counter()

    def lap(name: str) -> None:
        """Record the seconds since the last lap."""
        nonlocal clock
        timings[name] = time.perf_counter() - clock
        clock = time.perf_counter()
        print(f"{name}: {timings[name]:.1f} s", flush=True)  # shown with a failure: where the time went

    moves: list[tuple[str, dict]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url, timeout=120_000)
            page.wait_for_function("() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel"
                                   "?.status === 'idle'", timeout=120_000)
            lap("page and kernel")
            # Not awaited: the command's promise settles only when every cell has run (training included).
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            page.wait_for_selector(".cae-slider", timeout=120_000)
            page.evaluate(WATCH_JS)
            state = _live(page)
            assert state["max"] == LIVE_EPOCHS, state  # the full range, whether or not an epoch is in yet
            page.wait_for_function("() => Number(document.querySelector('.cae-controls-root').dataset.arrived) >= 3",
                                   timeout=120_000)
            lap("first epochs")
            page.wait_for_function("() => { const s = document.querySelector('.cae-slider'); const i = Number(s.value);"
                                   " return i === Number(document.querySelector('.cae-controls-root').dataset.arrived)"
                                   " - 1 && window.__cae.shown().every(e => e === String(i)); }", timeout=10_000)
            assert _live(page)["following"]  # it follows the newest epoch until the learner moves
            assert _accessibility_problems(page) == []
            assert page.get_by_role("slider", name="epoch").count() == 1
            assert page.get_by_role("button", name="Play the epochs").count() == 1
            assert page.get_by_role("button", name="Follow newest").count() == 1
            alts = page.evaluate("() => [...document.querySelectorAll('.cae-scrubber img')].map(i => i.alt)")
            frames = len(page.query_selector_all(".cae-stack"))
            assert frames == 10 and len(alts) == 4 * frames
            pattern = (r"(prediction|errors \(correct, false and missed person pixels\)) for dance_\d{5} "
                       r"\((training|held-out)\) at epoch \d+: IoU (\d\.\d{3}|undefined \(empty true mask\)) "
                       rf"at model size {LIVE_SIZE[0]} x {LIVE_SIZE[1]}")
            import re

            assert all(re.fullmatch(pattern, alt) for alt in alts if alt.startswith(("prediction", "errors"))), alts
            assert sum(alt.startswith(("frame dance_", "true mask of dance_")) for alt in alts) == 2 * frames
            page.screenshot(path=str(shots / "live_1_following.png"))

            page.focus(".cae-slider")
            for key in ("Home", "End", "ArrowLeft"):
                page.keyboard.press(key)
                moves.append((key, _moved(page, len(moves) + 1)))
                state = _more_epochs(page)  # it stays where the learner put it while epochs arrive
                want = {"Home": 0, "End": LIVE_EPOCHS, "ArrowLeft": LIVE_EPOCHS - 1}[key]
                assert state["index"] == want and not state["following"], (key, state)
                assert set(state["shown"]) == {str(want) if want < state["arrived"] else "pending"}, (key, state)
                assert f"epoch {want} of {LIVE_EPOCHS}" in state["readout"], (key, state)
                if key == "Home":
                    page.screenshot(path=str(shots / "live_2_home.png"))
            assert "not trained yet" in state["readout"]

            # Drag the handle from the right end to about half the newest epoch.
            box = page.locator(".cae-slider").bounding_box()
            target = state["arrived"] // 2
            y, thumb = box["y"] + box["height"] / 2, 11  # the handle is 22 px wide
            page.mouse.move(box["x"] + box["width"] - thumb, y)
            page.mouse.down()
            page.mouse.move(box["x"] + thumb + (box["width"] - 2 * thumb) * target / LIVE_EPOCHS, y, steps=8)
            page.mouse.up()
            count = page.evaluate("() => window.__cae.moves.length")
            moves.append(("drag", _moved(page, count)))
            dragged = moves[-1][1]["index"]
            assert abs(dragged - target) <= 3, (dragged, target)
            state = _more_epochs(page)
            assert state["index"] == dragged and set(state["shown"]) == {str(dragged)}, state
            page.screenshot(path=str(shots / "live_3_dragged.png"))

            page.click(".cae-follow")
            moves.append(("Follow", _moved(page, count + 1)))
            state = _more_epochs(page)
            page.wait_for_function("() => Number(document.querySelector('.cae-slider').value) === "
                                   "Number(document.querySelector('.cae-controls-root').dataset.arrived) - 1",
                                   timeout=5_000)  # following again (the follow step runs after each arrival)
            assert _live(page)["following"] and page.get_attribute(".cae-follow", "aria-pressed") == "true"
            assert _focus_problems(page) == []

            page.focus(".cae-slider")  # a last move, then training ends: the kernel reads every queued move
            page.keyboard.press("ArrowLeft")
            page.keyboard.press("ArrowLeft")
            page.wait_for_timeout(100)
            last = _live(page)
            assert not last["following"] and last["index"] < last["arrived"] - 1
            lap("moves while training")
            assert last["arrived"] < LIVE_EPOCHS + 1, "training ended before the test: make LIVE_EPOCHS larger"
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:interrupt-kernel'); }")
            page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
                                   " === 'idle'", timeout=60_000)
            page.wait_for_timeout(1500)  # the queued moves and their echoes have gone through
            after = _live(page)
            assert after["index"] == last["index"] and set(after["shown"]) == {str(last["index"])}, (last, after)
            lap("interrupt")

            page.set_viewport_size({"width": 1280, "height": 500})
            assert _sticky_problems(page, 500) == []
            page.screenshot(path=str(shots / "live_4_scrolled_1280x500.png"))
            for width in (700, 320):  # a JupyterLab column beside the file browser; a phone, the file browser closed
                if width == 320:
                    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
                page.set_viewport_size({"width": width, "height": 800})
                page.wait_for_timeout(300)
                page.locator(".cae-controls-root").scroll_into_view_if_needed()
                page.screenshot(path=str(shots / f"live_5_{width}.png"))
                assert _layout_problems(page, width) == [], width
            assert _sticky_problems(page, 800) == []  # at 320 px too, the controls and curve stay pinned
            page.screenshot(path=str(shots / "live_6_320_scrolled.png"))
            lap("layout")
        finally:
            browser.close()
    assert not errors, f"errors in the page: {errors}"
    slow = [(key, move) for key, move in moves if move["ms"] is None or not 0 <= move["ms"] < 100]
    assert not slow, f"frames did not follow within 100 ms: {slow}"  # no kernel round trip
    with capsys.disabled():
        print("\nlive scrubber in JupyterLab while training: frames followed the learner in "
              + ", ".join(f"{key} {move['ms']:.0f} ms" for key, move in moves)
              + "; seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + f"; screenshots in {shots}")
