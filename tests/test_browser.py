"""The scrub page in a real browser: `cae-tutorial scrub` (Voila) driven in Debian's headless Chromium by Playwright.

Prints time to first render and slider-to-image latency (measured, never asserted).
"""

from __future__ import annotations

import base64
import io
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
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


@pytest.fixture(scope="module")
def scrub_server(tiny_result, tmp_path_factory):
    """`cae-tutorial scrub` on a saved tiny run, on a free port: yields (url, process); stopped afterwards."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (as root)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    pytest.importorskip("voila", reason="pip install voila (the dev and scrub extras have it)")
    from cae_tutorial.app import free_port

    run = tiny_result.save(tmp_path_factory.mktemp("scrub") / "run")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "cae_tutorial.cli", "scrub", str(run), "--port", str(port),
                                "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        import psutil

        assert not [p for p in below if psutil.pid_exists(p)], "kernels outlived the scrub server"


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
    """Anything of the scrubber outside a `width`-px viewport, a squeezed slider or tile, clipped labels."""
    return page.evaluate("""(width) => {
        const problems = [];
        const slider = document.querySelector('.cae-slider').getBoundingClientRect();
        if (slider.width < 150) problems.push(`slider ${slider.width} px wide`);
        for (const el of document.querySelectorAll('.cae-figure, .cae-controls-root, .cae-tile, .cae-pending')) {
            const box = el.getBoundingClientRect();
            if (box.width && (box.left < -1 || box.right > width + 1)) problems.push(`${el.className} at ${box.left}..${box.right}`);
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


LIVE_EPOCHS = 600
LIVE_CELLS = [
    ("from cae_tutorial.data import load_record, seed_split\n"
     "from cae_tutorial.presets import get_preset\n"
     "from cae_tutorial.training import build_model, train\n"
     "from cae_tutorial.widgets import EpochScrubber\n"
     "record = load_record(size=(128, 64)); split = seed_split(record)\n"
     f"preset = get_preset('seed', height=128, width=64, epochs={LIVE_EPOCHS})\n"
     "scrubber = EpochScrubber.live(record, split, frame_ids=['dance_00090', 'dance_00120', 'dance_00210'],\n"
     "                              height=96, total_epochs=preset.epochs)\n"
     "scrubber"),
    "result = train(build_model(preset, seed=0), record, split, preset, seed=0, progress=False,\n"
    "               callbacks=[scrubber.callback])",
]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """JupyterLab on a free port of 127.0.0.1 (no token, app exposed to the page) in a folder holding a tiny
    notebook that trains long enough to be scrubbed; yields (notebook URL, process); stopped afterwards."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (as root)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    pytest.importorskip("jupyterlab", reason="pip install jupyterlab (the dev extra has it)")
    import nbformat

    from cae_tutorial.app import free_port, wait_for_port

    folder = tmp_path_factory.mktemp("lab")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in LIVE_CELLS]
    nbformat.write(notebook, str(folder / "live.ipynb"))
    home = tmp_path_factory.mktemp("lab-home")
    env = {**__import__("os").environ, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                                "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
                                "--ServerApp.password=", f"--ServerApp.root_dir={folder}",
                                "--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=True",
                                "--allow-root"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=folder)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/lab/tree/live.ipynb", process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _state(page) -> dict:
    """The live scrubber as the page shows it: arrived epochs, slider position and range, what the frames show."""
    state = page.evaluate("""() => {
        const root = document.querySelector('.cae-controls-root'), slider = document.querySelector('.cae-slider');
        return {arrived: Number(root.dataset.arrived), index: Number(slider.value), max: Number(slider.max),
                readout: document.querySelector('.cae-readout').textContent};
    }""")
    state["shown"] = _shown(page)
    return state


def _wait_for_more_epochs(page, arrived: int, more: int = 2, timeout_ms: int = 120_000) -> None:
    """Wait until `more` epochs beyond `arrived` are in (training goes on while the learner scrubs)."""
    page.wait_for_function(f"() => Number(document.querySelector('.cae-controls-root').dataset.arrived) >= "
                           f"{arrived + more}", timeout=timeout_ms)


@pytest.mark.xfail(reason="unfinished (issue 19): on the loaded 2-core machine a 120 s wait for new epochs timed out "
                          "in the last run, after the fix that lets a busy kernel's updates reach the controls", strict=False)
def test_live_scrubber_in_jupyterlab_while_training(lab_server, capsys, tmp_path_factory):
    """JupyterLab runs a notebook that trains under a live scrubber; while model.fit runs (the kernel busy), the
    learner presses Home and End, drags the slider and presses Follow newest: the frames follow each move at once
    and stay there as new epochs arrive."""
    from playwright.sync_api import sync_playwright

    url, process = lab_server
    shots = tmp_path_factory.mktemp("live-screenshots")
    errors: list[str] = []
    timings: dict[str, float | None] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url, timeout=120_000)
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')",
                                   timeout=120_000)
            page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator, "
                                   ".jp-KernelStatus') !== null", timeout=120_000)
            page.wait_for_timeout(2000)  # the kernel session settles
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_selector(".cae-slider", timeout=FIRST_RENDER_MS)
            assert _state(page)["max"] == LIVE_EPOCHS  # the full range before the first epoch
            page.wait_for_function("() => Number(document.querySelector('.cae-controls-root').dataset.arrived) >= 3",
                                   timeout=FIRST_RENDER_MS)
            state = _state(page)
            assert state["index"] == state["arrived"] - 1 and set(state["shown"]) == {str(state["index"])}  # follows
            assert _accessibility_problems(page) == []

            page.focus(".cae-slider")
            timings["Home"] = _press_and_time(page, "Home", "0")
            arrived = _state(page)["arrived"]
            _wait_for_more_epochs(page, arrived)
            state = _state(page)
            assert state["index"] == 0 and state["shown"] == ["0"] * 3, state  # it stays where the learner put it
            page.screenshot(path=str(shots / "live_home.png"))

            timings["End"] = _press_and_time(page, "End", "pending")
            _wait_for_more_epochs(page, _state(page)["arrived"], 1)
            state = _state(page)
            assert state["index"] == LIVE_EPOCHS and "not trained yet" in state["readout"], state

            timings["ArrowLeft"] = _press_and_time(page, "ArrowLeft", "pending")
            assert _state(page)["index"] == LIVE_EPOCHS - 1

            # Drag the handle to an epoch already trained (about half the newest).
            arrived = _state(page)["arrived"]
            box = page.locator(".cae-slider").bounding_box()
            target = arrived // 2
            x = box["x"] + 11 + (box["width"] - 22) * target / LIVE_EPOCHS
            page.mouse.move(box["x"] + box["width"] - 11, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(x, box["y"] + box["height"] / 2, steps=8)
            page.mouse.up()
            state = _state(page)
            dragged = state["index"]
            assert abs(dragged - target) <= 2 and state["shown"] == [str(dragged)] * 3, state
            _wait_for_more_epochs(page, state["arrived"])
            state = _state(page)
            assert state["index"] == dragged and state["shown"] == [str(dragged)] * 3, state
            page.screenshot(path=str(shots / "live_dragged.png"))

            start = time.perf_counter()
            page.click(".cae-follow")
            page.wait_for_function("() => { const s = document.querySelector('.cae-slider');"
                                   " return Number(s.value) === Number(document.querySelector('.cae-controls-root')"
                                   ".dataset.arrived) - 1; }")
            timings["Follow"] = (time.perf_counter() - start) * 1000
            arrived = _state(page)["arrived"]
            _wait_for_more_epochs(page, arrived, 1)
            state = _state(page)
            assert state["index"] == state["arrived"] - 1 > arrived - 1, state  # following again
            page.wait_for_function(f"() => document.querySelector('.cae-stack .cae-cell')?.dataset.epoch === "
                                   f"'{state['index']}' || true")
            assert page.get_attribute(".cae-follow", "aria-pressed") == "true"
            assert state["arrived"] < LIVE_EPOCHS + 1, "training ended before the test: make LIVE_EPOCHS larger"
            page.screenshot(path=str(shots / "live_following.png"))

            page.set_viewport_size({"width": 700, "height": 900})  # a narrow JupyterLab column
            page.wait_for_timeout(300)
            page.screenshot(path=str(shots / "live_700.png"))
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
        finally:
            browser.close()
    assert not errors, f"errors in the page: {errors}"
    moves = {key: value for key, value in timings.items() if key != "Follow"}
    assert all(value is not None and value < 1000 for value in moves.values()), timings  # no kernel round trip
    with capsys.disabled():
        print(f"\nlive scrubber in JupyterLab while training: learner's key to frames "
              + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items()) + f"; screenshots in {shots}")
