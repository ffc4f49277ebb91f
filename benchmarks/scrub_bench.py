"""The scrub page's cost per open tab: page-load time in headless Chromium and the Voila kernel's memory (RSS).

    python benchmarks/scrub_bench.py [--run RUN_DIR] [--loads 3]

Without --run it saves a synthetic run like the `cpu` preset's (61 recorded epochs x 10 frames at 256 x 144,
predictions blurred from the true masks) into a temporary folder. For each load: a fresh `cae-tutorial scrub`
server, Chromium opens the page, and the clock stops when the first epoch's prediction images and the readout are on
screen; then the RSS of the page's kernel (psutil) is read, once right away and once after the page idles 5 s.
Prints a table with the machine and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CHROMIUM = "/usr/bin/chromium"


def synthetic_run(folder: Path, epochs: int = 61, size=(256, 144)) -> Path:
    """A saved run folder (history.json, config.json, split.json, snapshots.npz) written with numpy and json only."""
    from PIL import Image, ImageFilter

    from cae_tutorial.data import load_record, seed_split

    record = load_record(size=size)
    split = seed_split(record)
    images = np.clip(np.rint(record.images * 255), 0, 255).astype(np.uint8)
    masks = np.clip(np.rint(record.masks[..., 0] * 255), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    predictions = np.empty((epochs, *masks.shape), np.uint8)
    for e in range(epochs):
        radius = 12 * (1 - e / (epochs - 1)) + 0.5
        for f, mask in enumerate(masks):
            blurred = np.asarray(Image.fromarray(mask).filter(ImageFilter.GaussianBlur(radius)), np.float32)
            noise = rng.normal(0, 30 * (1 - e / epochs), mask.shape)
            predictions[e, f] = np.clip(blurred * (0.3 + 0.7 * e / epochs) + noise, 0, 255).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    steps = (epochs - 1) * 4
    history = {key: list(np.linspace(0.2, 0.9, steps).round(4)) for key in ("iou", "val_iou", "dice", "val_dice")}
    history.update(loss=list(np.linspace(1, 0.1, steps).round(4)), val_loss=list(np.linspace(1, 0.2, steps).round(4)))
    (folder / "history.json").write_text(json.dumps(history))
    (folder / "config.json").write_text(json.dumps({"epochs": steps, "preset": {"height": size[0], "width": size[1]}}))
    (folder / "split.json").write_text(json.dumps(split.to_dict()))
    np.savez_compressed(folder / "snapshots.npz", epochs=np.arange(0, steps + 1, 4), frame_ids=np.array(record.ids),
                        images=images, masks=masks, predictions=predictions)
    return folder


def kernels(pid: int):
    """psutil processes of the ipykernels below process pid."""
    import psutil

    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def one_load(run: Path, browser) -> dict:
    """Serve run, load the page once, measure; stop the server."""
    from cae_tutorial.app import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "cae_tutorial.cli", "scrub", str(run), "--port", str(port),
                               "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while url not in lines.get(timeout=max(0.1, deadline - time.monotonic())):
            pass
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=180_000)
        page.wait_for_selector("img.cae-prediction", timeout=180_000)
        page.wait_for_function("() => /epoch \\d+/.test(document.querySelector('.cae-readout').innerText)",
                               timeout=60_000)
        seconds = time.perf_counter() - start
        (kernel,) = kernels(server.pid)
        rss_now = kernel.memory_info().rss / 2**20
        time.sleep(5)
        rss_idle = kernel.memory_info().rss / 2**20
        page.close()
        return {"load_s": seconds, "rss_mib": rss_now, "rss_idle_mib": rss_idle}
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a saved run folder (default: a synthetic one)")
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        run = args.run or synthetic_run(Path(folder) / "run")
        load_before = os.getloadavg()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            try:
                rows = [one_load(run, browser) for _ in range(args.loads)]
            finally:
                browser.close()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
          f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"code from PYTHONPATH={os.environ.get('PYTHONPATH', '')}")
    print("| load | page-load s | kernel RSS MiB (at first paint) | kernel RSS MiB (5 s later) |\n|---|---|---|---|")
    for i, row in enumerate(rows, 1):
        print(f"| {i} | {row['load_s']:.1f} | {row['rss_mib']:.0f} | {row['rss_idle_mib']:.0f} |")
    print(f"| median | {statistics.median(r['load_s'] for r in rows):.1f} | "
          f"{statistics.median(r['rss_mib'] for r in rows):.0f} | "
          f"{statistics.median(r['rss_idle_mib'] for r in rows):.0f} |")


if __name__ == "__main__":
    main()
