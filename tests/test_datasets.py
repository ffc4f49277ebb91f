"""Named data: record-136 downloaded by hash from a local HTTP server, the Kaggle tree, resolve_data, the CLI.

The origin is a tmp copy of ../shared/data/tiktok-record-136 laid out as the seed repository's paths
(data/val_image, data/val_mask) served on 127.0.0.1; only 7 of the manifest's 10 frames exist there, so
the tests pass those 7 as the manifest. Without the real frames the download mechanics run on small
generated PNGs instead; the check against the published hashes then skips. No test leaves the machine.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cae_tutorial.cli import main
from cae_tutorial.data import DataError, embedded_record_path, load_record
from cae_tutorial.datasets import (MANIFESTS, download_record, find_record_folder, list_records, record_cache_path,
                                   resolve_data, sha256)
from conftest import REAL_RECORD, real_record_or_skip

KAGGLE_TOP = "segmentation_full_body_tik_tok_2615_img"


def _origin_tree(root: Path) -> list[tuple[str, int, str]]:
    """Lay out frames as the seed repository does (data/val_image, data/val_mask) and return their manifest."""
    if (REAL_RECORD / "images").is_dir():
        sources = [(p, "val_image") for p in sorted((REAL_RECORD / "images").glob("*.png"))]
        sources += [(p, "val_mask") for p in sorted((REAL_RECORD / "masks").glob("*.png"))]
    else:
        generated = root / "generated"
        generated.mkdir(parents=True)
        rng = np.random.default_rng(0)
        sources = []
        for number in ("00090", "00120", "00210"):
            for kind, shape in (("val_image", (96, 54, 3)), ("val_mask", (96, 54))):
                path = generated / kind / f"136_{number}.png"
                path.parent.mkdir(exist_ok=True)
                Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)
                sources.append((path, kind))
    manifest = []
    for source, kind in sources:
        target = root / "data" / kind / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        manifest.append((f"data/{kind}/{source.name}", target.stat().st_size, sha256(target)))
    return manifest


class _Server:
    """A local HTTP server with a request log; `half` serves only half of each file, then hangs up."""

    def __init__(self, directory: Path):
        self.requests: list[str] = []
        self.half = False
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                if not server.half:
                    return super().do_GET()
                body = Path(self.translate_path(self.path)).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                """Keep the test output quiet."""

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(directory)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def files_requested(self) -> int:
        """Requests received so far."""
        return len(self.requests)


@pytest.fixture
def origin(tmp_path):
    """(server, manifest): the 7 local frames served as the seed repository on 127.0.0.1, stopped afterwards."""
    manifest = _origin_tree(tmp_path / "origin")
    server = _Server(tmp_path / "origin")
    server.thread.start()
    yield server, manifest
    server.httpd.shutdown()
    server.httpd.server_close()


def test_local_frames_match_the_published_manifest():
    real = real_record_or_skip()
    published = {Path(path).parent.name + "/" + Path(path).name: (size, digest)
                 for path, size, digest in MANIFESTS["136"]}
    local = sorted((real / "images").glob("*.png")) + sorted((real / "masks").glob("*.png"))
    assert len(local) == 14
    for path in local:
        key = {"images": "val_image", "masks": "val_mask"}[path.parent.name] + "/" + path.name
        assert published[key] == (path.stat().st_size, sha256(path)), path


def test_download_lays_out_a_record_and_is_idempotent(origin, tmp_path, capsys):
    server, manifest = origin
    folder = download_record("136", cache_dir=tmp_path / "cache", origin=server.url, manifest=manifest)
    assert folder == tmp_path / "cache" / "record-136" == record_cache_path("136", tmp_path / "cache")
    assert server.files_requested() == len(manifest)
    for path, size, digest in manifest:
        local = folder / {"val_image": "images", "val_mask": "masks"}[Path(path).parent.name] / Path(path).name
        assert local.stat().st_size == size and sha256(local) == digest
    printed = capsys.readouterr().out
    assert f"downloading {len(manifest)} of {len(manifest)} files" in printed and "verified" in printed
    assert len(load_record(folder, "136")) == len(manifest) // 2
    # Second call: every file is present with its hash, so no request reaches the server.
    assert download_record("136", cache_dir=tmp_path / "cache", origin=server.url, manifest=manifest) == folder
    assert server.files_requested() == len(manifest)
    # A file deleted by hand is the only one fetched again.
    next((folder / "masks").iterdir()).unlink()
    download_record("136", cache_dir=tmp_path / "cache", origin=server.url, manifest=manifest, progress=False)
    assert server.files_requested() == len(manifest) + 1


def test_environment_sets_cache_and_origin(origin, tmp_path, monkeypatch):
    server, manifest = origin
    monkeypatch.setenv("CAE_TUTORIAL_CACHE", str(tmp_path / "env-cache"))
    monkeypatch.setenv("CAE_TUTORIAL_ORIGIN", server.url)
    folder = download_record("record-136", manifest=manifest[:2], progress=False)
    assert folder == tmp_path / "env-cache" / "record-136" and server.files_requested() == 2


def test_bad_hash_is_rejected_and_not_kept(origin, tmp_path):
    server, manifest = origin
    path, size, digest = manifest[0]
    with open(Path(server.httpd.RequestHandlerClass.keywords["directory"]) / path, "ab") as served:
        served.write(b"tampered")
    with pytest.raises(DataError, match=rf"{Path(path).name} sent a file whose SHA-256 is [0-9a-f]{{64}}, "
                                        rf"not the expected {digest}; it was not kept"):
        download_record("136", cache_dir=tmp_path / "cache", origin=server.url, manifest=manifest, progress=False)
    assert not (tmp_path / "cache" / "record-136" / "images" / Path(path).name).exists()


def test_offline_error_is_one_line_naming_the_url_and_the_way_out(tmp_path, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    origin = f"http://127.0.0.1:{port}/"
    code = main(["download", "record-136", "--cache-dir", str(tmp_path / "cache"), "--origin", origin])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1, error
    assert f"{origin}data/val_image/136_00090.png" in error
    assert str(tmp_path / "cache" / "record-136" / "images") in error and "--data FOLDER" in error
    assert not list((tmp_path / "cache").rglob("*.png"))


def test_interrupted_download_leaves_nothing_valid_and_a_retry_succeeds(origin, tmp_path):
    server, manifest = origin
    cache = tmp_path / "cache"
    server.half = True
    with pytest.raises(DataError, match="cannot download .*run it again"):
        download_record("136", cache_dir=cache, origin=server.url, manifest=manifest, progress=False)
    assert not list(cache.rglob("*.png")), "a half file was kept"
    # A half file left by a killed process (nothing could clean it up) is not taken as valid either.
    path, size, digest = manifest[0]
    half = cache / "record-136" / "images" / Path(path).name
    half.write_bytes((Path(server.httpd.RequestHandlerClass.keywords["directory"]) / path).read_bytes()[: size // 2])
    server.half = False
    folder = download_record("136", cache_dir=cache, origin=server.url, manifest=manifest, progress=False)
    assert sha256(half) == digest and len(list(folder.rglob("*.png"))) == len(manifest)


def test_resolve_record_136_downloads_once(origin, tmp_path, monkeypatch):
    server, manifest = origin
    monkeypatch.setitem(MANIFESTS, "136", tuple(manifest))
    monkeypatch.setenv("CAE_TUTORIAL_ORIGIN", server.url)
    folder = resolve_data("record-136", record="136", cache_dir=tmp_path / "cache", progress=False)
    assert list_records(folder) == {"136": len(manifest) // 2}
    assert resolve_data("record-136", cache_dir=tmp_path / "cache") == folder
    assert server.files_requested() == len(manifest)


def _kaggle_tree(top: Path) -> Path:
    """A small copy of the Kaggle dataset as it unzips: nested folders, collage/, df.csv; returns the top."""
    from cae_tutorial.synthetic import write_dataset

    inner = top / KAGGLE_TOP / KAGGLE_TOP
    write_dataset(inner, n_records=2, frames_per_record=2, size=(64, 40))
    (inner / "collage").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(inner / "collage" / "201_00060.png")
    (top / KAGGLE_TOP / "df.csv").write_text("original_image,mask\n")
    return top


def test_kaggle_tree_is_found_at_any_of_its_levels(tmp_path):
    top = _kaggle_tree(tmp_path / "unzipped")
    inner = top / KAGGLE_TOP / KAGGLE_TOP
    for level in (top, top / KAGGLE_TOP, inner):
        assert find_record_folder(level) == inner
        assert resolve_data(level) == inner and resolve_data(str(level)) == inner
        assert list_records(level) == {"201": 2, "202": 2}
    record = load_record(resolve_data(top, record="202"), "202")
    assert record.ids == ("202_00060", "202_00090")


def test_resolve_names_and_errors(tmp_path, monkeypatch):
    assert resolve_data() == embedded_record_path() == resolve_data("embedded")
    assert list_records(resolve_data()) == {"dance": 10}
    with pytest.raises(DataError, match=r"no downloadable record '999'; known: record-136"):
        download_record("999")
    with pytest.raises(DataError, match=r"unknown data 'nonsense'.*does not exist.*embedded, record-136, kaggle"):
        resolve_data("nonsense")
    with pytest.raises(DataError, match="does not exist"):
        resolve_data(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images/ and masks/"):
        resolve_data(tmp_path / "empty")
    with pytest.raises(DataError, match=r"record '136' is not in .*records there: dance"):
        resolve_data(None, record="136")
    monkeypatch.setitem(__import__("sys").modules, "kagglehub", None)
    with pytest.raises(DataError, match=r"pip install 'cae-tutorial\[kaggle\]'"):
        resolve_data("kaggle")


def test_kaggle_name_uses_kagglehub(tmp_path, monkeypatch):
    import sys
    import types

    top = _kaggle_tree(tmp_path / "kagglehub-cache")
    fake = types.SimpleNamespace(dataset_download=lambda handle: str(top) if "tiktok" in handle else None)
    monkeypatch.setitem(sys.modules, "kagglehub", fake)
    assert resolve_data("kaggle") == top / KAGGLE_TOP / KAGGLE_TOP


def test_cli_download_and_train_by_name(origin, tmp_path, monkeypatch, capsys):
    server, manifest = origin
    monkeypatch.setitem(MANIFESTS, "136", tuple(manifest))
    monkeypatch.setenv("CAE_TUTORIAL_CACHE", str(tmp_path / "cache"))
    assert main(["download", "record-136", "--origin", server.url]) == 0
    assert str(tmp_path / "cache" / "record-136") in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["train", "--data", "record-136", "--epochs", "1", "--height", "64", "--width", "32",
                 "--output", str(out)]) == 0
    assert (out / "model.keras").is_file() and server.files_requested() == len(manifest)
    assert main(["train", "--data", "nonsense", "--output", str(out)]) == 2
    assert "known names" in capsys.readouterr().err
