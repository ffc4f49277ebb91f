"""The scrub page in a real browser: `cae-tutorial scrub` (Voila) driven in Debian's headless Chromium by Playwright.

Prints time to first render and slider-to-image latency (measured, never asserted).
"""

from __future__ import annotations

import base64
import io
import queue
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
        process.terminate()
        process.wait(60)
        time.sleep(1)
        import psutil

        assert not [p for p in below if psutil.pid_exists(p)], "kernels outlived the scrub server"


def _image_bytes(page, selector: str, index: int = 0) -> bytes:
    """The bytes behind the index-th <img> matching selector (ipywidgets serves them as blob URLs)."""
    data = page.evaluate("""async ([selector, index]) => {
        const response = await fetch(document.querySelectorAll(selector)[index].src);
        const bytes = new Uint8Array(await response.arrayBuffer());
        let text = ''; for (const b of bytes) text += String.fromCharCode(b);
        return btoa(text);
    }""", [selector, index])
    return base64.b64decode(data)


def _press_and_time(page, key: str) -> tuple[float | None, float | None]:
    """Press `key` on the focused slider; milliseconds from keydown until the readout's text changes and until a
    prediction image changes (None: it did not within 10 s, as when two epochs predict the same picture)."""
    page.evaluate("""() => {
        const changed = (targets, options) => new Promise(resolve => {
            const observer = new MutationObserver(() => { observer.disconnect(); resolve(performance.now()); });
            for (const target of targets) observer.observe(target, options);
            setTimeout(() => { observer.disconnect(); resolve(null); }, 10000);
        });
        window.__image = changed(document.querySelectorAll('img.cae-prediction'),
                                 {attributes: true, attributeFilter: ['src']});
        window.__readout = changed([document.querySelector('.cae-readout')],
                                   {childList: true, subtree: true, characterData: true});
        document.addEventListener('keydown', () => { window.__keyAt = performance.now(); },
                                  {capture: true, once: true});
    }""")
    page.keyboard.press(key)
    return tuple(page.evaluate("""async () => {
        const [readout, image] = await Promise.all([window.__readout, window.__image]);
        return [readout && readout - window.__keyAt, image && image - window.__keyAt];
    }"""))


def _predictions(page) -> list[bytes]:
    """The bytes of every prediction image on the page."""
    count = page.locator("img.cae-prediction").count()
    return [_image_bytes(page, "img.cae-prediction", i) for i in range(count)]


def test_scrub_page_in_chromium(scrub_server, capsys):
    from playwright.sync_api import sync_playwright

    from cae_tutorial.widgets import ERROR_COLOURS

    url, process, _ = scrub_server
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            start = time.perf_counter()
            page.goto(url, wait_until="commit", timeout=FIRST_RENDER_MS)  # Voila streams the page as it runs
            page.wait_for_selector("img.cae-prediction", timeout=FIRST_RENDER_MS)
            page.wait_for_function("() => document.querySelector('.cae-readout').innerText.includes('epoch 3')",
                                   timeout=30_000)
            first_render = time.perf_counter() - start
            assert len(_kernels(process.pid)) == 1
            readout = page.inner_text(".cae-readout")
            assert readout.count("epoch") == 1 and "held-out mean IoU" in readout
            labels = page.inner_text(".cae-scrubber")
            assert "dance_00090" in labels and "held-out" in labels and "training" in labels

            fixed = {s: page.get_attribute(s, "src") for s in ("img.cae-frame", "img.cae-truth")}
            before = _predictions(page)
            page.focus(".cae-slider .noUi-handle")
            presses = [_press_and_time(page, "ArrowLeft") for _ in range(3)]
            page.wait_for_function("() => document.querySelector('.cae-readout').innerText.includes('epoch 0')")
            assert _predictions(page) != before  # epoch 0 (untrained) differs from epoch 3
            readouts = [r for r, _ in presses if r is not None]
            latencies = [i for _, i in presses if i is not None]
            assert len(readouts) == 3 and latencies, f"key presses did not update the page: {presses}"
            assert {s: page.get_attribute(s, "src") for s in fixed} == fixed  # frame and truth untouched

            page.click(".cae-play button >> nth=0")  # Play, from epoch 0
            page.wait_for_function("() => document.querySelector('.cae-readout').innerText.includes('epoch 3')",
                                   timeout=30_000)

            assert "held-out mean IoU" in page.inner_text(".cae-curve")
            plain = _image_bytes(page, "img.cae-prediction")
            page.click(".cae-view button:has-text('errors')")
            page.wait_for_selector(".cae-legend", state="visible")
            page.wait_for_function("() => document.querySelector('.cae-legend').innerText.includes('missed person')")
            deadline = time.monotonic() + 30
            while (errors_png := _image_bytes(page, "img.cae-prediction")) == plain and time.monotonic() < deadline:
                time.sleep(0.05)
            pixels = np.asarray(Image.open(io.BytesIO(errors_png)).convert("RGB")).reshape(-1, 3)
            colours = {tuple(p) for p in np.unique(pixels, axis=0) if len(set(p)) > 1}
            assert colours and colours <= set(ERROR_COLOURS.values())

            page.goto("about:blank")  # leaving the page: Voila's beforeunload beacon shuts its kernel down
            deadline = time.monotonic() + 30
            while _kernels(process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not _kernels(process.pid), "the page's kernel outlived the page"
        finally:
            browser.close()
    assert not errors, f"errors in the page: {errors}"
    with capsys.disabled():
        print(f"\nscrub page in Chromium: first render {first_render:.1f} s (cold kernel, TensorFlow import); "
              f"slider key to new readout {statistics.median(readouts):.0f} ms median of {len(readouts)}, "
              f"to new prediction image {statistics.median(latencies):.0f} ms median of {len(latencies)} "
              f"(each press: {presses})")
