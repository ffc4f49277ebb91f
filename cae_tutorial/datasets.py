"""Named data: the embedded record, the real record 136 downloaded by hash into a cache, and the Kaggle tree.

``resolve_data(DATA)`` turns what a learner types (``None`` or ``"embedded"``, ``"record-136"``, or a folder)
into the folder that holds ``images/`` and ``masks/``, which ``cae_tutorial.data.load_record`` reads:

- ``"record-136"``: the 10 public frames and masks of record 136, fetched once from the seed project's
  repository (finite connect and read timeouts, one retry, written whole or not at all) and checked against
  their SHA-256 (see ``download_record``);
- a folder: a record folder, or the Kaggle dataset as it unzips
  (``segmentation_full_body_tik_tok_2615_img/segmentation_full_body_tik_tok_2615_img/{images,masks,collage}``
  and ``df.csv``): the top folder or either nested one, ``collage/`` and ``df.csv`` ignored;
- ``"kaggle"``: the whole Kaggle dataset through ``kagglehub`` (``pip install 'cae-tutorial[kaggle]'``).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

from cae_tutorial.data import IMAGE_SUFFIXES, DataError, embedded_record_path
from cae_tutorial.folders import DiskFullError, atomic_file, check_free_space, remove_stale_partials

DEFAULT_ORIGIN = "https://raw.githubusercontent.com/tot-alin/Convolutional_autoencoder_CAE_Segmentation_masks/main/"
KAGGLE_DATASET = "tapakah68/segmentation-full-body-tiktok-dancing-dataset"
EMBEDDED_NAMES = ("embedded", "dance")

#: Files of each downloadable record: (path in the origin repository, bytes, SHA-256).
MANIFESTS: dict[str, tuple[tuple[str, int, str], ...]] = {
    "136": (
        ("data/val_image/136_00090.png", 296798, "57ca9e111597ade32a8ec436a01d5be93c294bdc68a37c010acf8a8720bb8205"),
        ("data/val_image/136_00120.png", 314655, "be97bee9cac10bdb9f223ad37fbc6bd1257506439326b215183269dc0f538134"),
        ("data/val_image/136_00150.png", 308333, "c4b67fe4497e1e5b1e38519828a82bd4b10e5afc7eb58b02642dbaaa775efa1e"),
        ("data/val_image/136_00180.png", 306784, "4826412d24fba639b525c9a6f91f72ab7ce24e778abf4bfdf65f9c9dbd03220b"),
        ("data/val_image/136_00210.png", 304179, "c5423dd559bbb58e039518170c56f7c1c9216e8d34621d1128738b95bf7058b4"),
        ("data/val_image/136_00300.png", 271510, "fe52dc1246142e065740b50db0d36067c5b662d16b2f9f0521b589c91f00b3b7"),
        ("data/val_image/136_00330.png", 273019, "20804fdd0f69d22d59753a95c1651d1527ca2043b2e1182cbc4848dc9d02c9f9"),
        ("data/val_image/136_00360.png", 261480, "3e718a64facac06b67524bb330eb8ef33f5ad988f1be7af9772f053fd6ff1d1b"),
        ("data/val_image/136_00390.png", 280781, "7fef8ba1e01956fde7ac4c4065666ac812098fd4dc7021f7b9ad0808dd5604ee"),
        ("data/val_image/136_00420.png", 291344, "55092d356c24c617bc4ef5009837d7621b30874901d8575ceca2eb9968568d0d"),
        ("data/val_mask/136_00090.png", 9024, "fea85091005630b39bc42be93c819cc8a7d9e75159ddd291a53f84afc3e3c3b4"),
        ("data/val_mask/136_00120.png", 9034, "74388a94cb35b62aa791e5c690194df04eeca06963484bd5eebf2ce03c1618be"),
        ("data/val_mask/136_00150.png", 9536, "d055e410dda883a996e32c05d91d2bdc3c0fd20d0f320b7da2dee1558b28ebb5"),
        ("data/val_mask/136_00180.png", 8765, "cb5ccbd3dc057189a36db9cf8074024608db711f920ada794493412607c58fa6"),
        ("data/val_mask/136_00210.png", 8570, "6bcadb4b4df7d2bd25f65435f71bdd8c667a7b64e730b9311ec57186dd9d674a"),
        ("data/val_mask/136_00300.png", 7315, "da95f26a42ff34b2728f975db8bf2d8bdee6176e0ff14a9dfd8c60eebba46f5a"),
        ("data/val_mask/136_00330.png", 7479, "2098bada6988403d6c8b9056ab61dff927e95ff8fde95902942a1690c3e26cdb"),
        ("data/val_mask/136_00360.png", 6858, "18f703dac586d8bb5cfecda2d4e7ed5be97437dbb17af88e04f925e22a98aa66"),
        ("data/val_mask/136_00390.png", 7869, "7ffddab2e5f0fca6514438ab864da951cabfc2f5dc86fae2e61817217db029f2"),
        ("data/val_mask/136_00420.png", 8320, "7d1fabd7ccf5d13feaa46323dd58abb277e2d0f4428d04cde1670920561a439b"),
    ),
}
#: Where the origin repository keeps frames and masks, and where a record folder keeps them.
_LAYOUT = {"val_image": "images", "val_mask": "masks"}


def known_names() -> list[str]:
    """The data names resolve_data accepts besides folders."""
    return ["embedded", *(f"record-{r}" for r in MANIFESTS), "kaggle"]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The download cache: cache_dir, else ``CAE_TUTORIAL_CACHE`` (environment), else ~/.cache/cae-tutorial."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("CAE_TUTORIAL_CACHE") or Path.home() / ".cache" / "cae-tutorial").expanduser()


def _record_key(name: str) -> str:
    """'136' or 'record-136' -> '136', with an error listing the downloadable records."""
    key = str(name).removeprefix("record-")
    if key not in MANIFESTS:
        raise DataError(f"no downloadable record {name!r}; known: {', '.join(f'record-{r}' for r in MANIFESTS)}")
    return key


def record_cache_path(name: str = "136", cache_dir: str | Path | None = None) -> Path:
    """Folder a downloaded record lives in: <cache>/record-<name> (with images/ and masks/)."""
    return cache_root(cache_dir) / f"record-{_record_key(name)}"


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _local_path(folder: Path, repo_path: str) -> Path:
    """Where a file of the origin repository goes in the record folder: data/val_image/x -> images/x."""
    parts = Path(repo_path).parts
    return folder / _LAYOUT.get(parts[-2], parts[-2]) / parts[-1]


def _one_line(error: BaseException) -> str:
    """An exception's message squeezed onto one line."""
    return " ".join(str(error).split()) or type(error).__name__


#: Seconds to wait for a connection and between two pieces of a reply (both finite, so a silent or stalled
#: server fails instead of hanging); ``CAE_TUTORIAL_TIMEOUT`` (one number, or "CONNECT,READ") overrides them.
TIMEOUTS = (15.0, 60.0)


def download_timeouts(timeout=None) -> tuple[float, float]:
    """(connect, read) seconds: timeout (a number or a pair), else ``CAE_TUTORIAL_TIMEOUT`` (environment), else TIMEOUTS."""
    given = timeout if timeout is not None else os.environ.get("CAE_TUTORIAL_TIMEOUT")
    if given is None or given == "":
        return TIMEOUTS
    try:
        parts = ([float(p) for p in given.split(",")] if isinstance(given, str) else
                 [float(p) for p in given] if isinstance(given, (tuple, list)) else [float(given)])
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not all(0 < p < float("inf") for p in parts):
        raise DataError(f"download timeout {given!r}: give seconds > 0, one number or CONNECT,READ (e.g. 10,60)")
    return (parts[0], parts[-1])


def download_record(name: str = "136", cache_dir: str | Path | None = None, origin: str | None = None,
                    progress: bool = True, manifest=None, timeout=None) -> Path:
    """Fetch a record's frames and masks into <cache>/record-<name>/{images,masks}, each checked by SHA-256.

    Idempotent: files already present with the right hash are not fetched again. Each file is downloaded under
    a hidden temporary name and renamed into place only once its size and hash are right, so an interrupted
    download (Ctrl-C, SIGTERM, a kill) never leaves a partial file under the final name; a file whose hash
    differs is deleted and reported. A connection that fails or stalls is retried once. origin defaults to
    ``CAE_TUTORIAL_ORIGIN`` (environment), else the seed project's repository on GitHub; manifest overrides the file list;
    timeout: (connect, read) seconds or one number for both (default ``CAE_TUTORIAL_TIMEOUT``, else TIMEOUTS).
    """
    key = _record_key(name)
    files = tuple(manifest) if manifest is not None else MANIFESTS[key]
    origin = (origin or os.environ.get("CAE_TUTORIAL_ORIGIN") or DEFAULT_ORIGIN).rstrip("/") + "/"
    timeouts = download_timeouts(timeout)
    folder = record_cache_path(key, cache_dir)
    missing = [(path, size, digest) for path, size, digest in files
               if not (_local_path(folder, path).is_file() and sha256(_local_path(folder, path)) == digest)]
    if not missing:
        return folder
    for sub in {_local_path(folder, path).parent for path, _, _ in missing}:
        try:
            sub.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(f"cannot create the cache folder {sub} ({_one_line(error)}); pass --cache-dir DIR "
                            "or set CAE_TUTORIAL_CACHE to a writable folder") from error
    total = sum(size for _, size, _ in missing)
    check_free_space(folder, total)
    if progress:
        print(f"record-{key}: downloading {len(missing)} of {len(files)} files ({total / 1e6:.1f} MB) "
              f"from {origin} into {folder}", flush=True)
    for i, (path, size, digest) in enumerate(missing, start=1):
        target = _local_path(folder, path)
        if progress:
            print(f"[{i}/{len(missing)}] {target.parent.name}/{target.name} ({size / 1e3:.0f} kB)", flush=True)
        _fetch(origin + path, target, size, digest, folder, timeouts)
    if progress:
        print(f"record-{key}: {len(files)} files verified in {folder}", flush=True)
    return folder


class _Stalled(OSError):
    """A reply that stopped before its end (a short body)."""


def _opener(read_timeout: float):
    """A urllib opener (proxies and redirects as usual) whose sockets wait at most read_timeout per read."""
    import http.client
    import urllib.request

    def reading(base):
        class Connection(base):
            """Connects within the connect timeout, then waits read_timeout at most for each piece of the reply."""

            def connect(self):
                super().connect()
                self.sock.settimeout(read_timeout)

        return Connection

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(reading(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(reading(http.client.HTTPSConnection), req, context=self._context)

    return urllib.request.build_opener(Http, Https)


def _download_to(url: str, stream, timeouts: tuple[float, float]) -> int:
    """Copy the body at url into stream, raising OSError on a network error, a stall or a short body."""
    with _opener(timeouts[1]).open(url, timeout=timeouts[0]) as reply:
        expected = reply.headers.get("Content-Length")
        count = 0
        for block in iter(lambda: reply.read(1 << 16), b""):
            stream.write(block)
            count += len(block)
    if expected is not None and expected.isdigit() and count != int(expected):
        raise _Stalled(f"the reply ended after {count} of {expected} bytes")
    return count


def _fetch(url: str, target: Path, size: int, digest: str, folder: Path, timeouts: tuple[float, float]) -> None:
    """One file into target, verified, whole or not at all; one retry after a network error or stall."""
    import socket
    import urllib.error

    remove_stale_partials(target)
    for attempt in (1, 2):
        try:
            with atomic_file(target, "wb", size_hint=size) as stream:
                _download_to(url, stream, timeouts)
                stream.flush()
                actual = sha256(stream.name)
                if actual != digest:
                    raise _WrongHash(actual)
            return
        except _WrongHash as wrong:
            target.unlink(missing_ok=True)
            raise DataError(f"{url} sent a file whose SHA-256 is {wrong.args[0]}, not the expected {digest}; it "
                            "was not kept. Retry later; if it persists, the origin has changed (see --origin).")
        except DiskFullError:
            raise
        except urllib.error.HTTPError as error:  # the server answered: retrying will not change it
            reason = f"HTTP {error.code} {error.reason}"
        except (OSError, socket.timeout, http_errors()) as error:
            reason = _network_reason(error, timeouts)
            if attempt == 1:
                continue
        raise DataError(f"cannot download {url} ({reason}); run it again to resume, or without network "
                        f"put the frames in {folder / 'images'} and the masks in {folder / 'masks'} by hand, "
                        "or pass --data FOLDER with your own copy")


class _WrongHash(Exception):
    """A downloaded file whose SHA-256 differs from the manifest's (args[0]: its hash)."""


def http_errors() -> type:
    """http.client's base error (a reply cut short raises IncompleteRead, not an OSError)."""
    import http.client

    return http.client.HTTPException


def _network_reason(error: BaseException, timeouts: tuple[float, float]) -> str:
    """Why a download failed, in a few words (a timeout says which and how long)."""
    import socket
    import urllib.error

    inner = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(inner, (socket.timeout, TimeoutError)):
        return (f"no answer within {timeouts[0]:g} s to connect or {timeouts[1]:g} s to read, tried twice; "
                "set CAE_TUTORIAL_TIMEOUT=CONNECT,READ seconds for a slow network")
    return _one_line(inner) + ", tried twice"


def find_record_folder(folder: str | Path) -> Path:
    """The folder holding images/ and masks/: folder itself, or the one nested inside it (the Kaggle tree)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist; pass a folder holding images/ and masks/, "
                        f"the unzipped Kaggle dataset, or one of the names {known_names()}")
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        return folder
    # The Kaggle zip nests the same name twice; look two levels down, never into images/, masks/ or collage/.
    found = [p for p in sorted(folder.glob("*")) + sorted(folder.glob("*/*"))
             if p.is_dir() and (p / "images").is_dir() and (p / "masks").is_dir()]
    if len(found) == 1:
        return found[0]
    if found:
        raise DataError(f"{folder} holds several record folders ({', '.join(map(str, found))}); pass one of them")
    raise DataError(f"{folder} holds no images/ and masks/ folders (nor one or two levels below); "
                    "pass the folder holding them, or the unzipped Kaggle dataset's top folder")


def kaggle_download() -> Path:
    """The full Kaggle dataset through kagglehub (cached by kagglehub), as its record folder."""
    try:
        import kagglehub
    except ImportError as error:
        raise DataError("the name 'kaggle' needs kagglehub: pip install 'cae-tutorial[kaggle]' and Kaggle "
                        "credentials (~/.kaggle/kaggle.json); or download the dataset by hand, unzip it and "
                        "pass the folder") from error
    try:
        return find_record_folder(kagglehub.dataset_download(KAGGLE_DATASET))
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"kagglehub could not fetch {KAGGLE_DATASET} ({_one_line(error)}); check your Kaggle "
                        "credentials and network, or download and unzip it by hand and pass the folder") from error


def resolve_data(data: str | Path | None = None, record: str | None = None, cache_dir: str | Path | None = None,
                 progress: bool = True) -> Path:
    """The folder holding images/ and masks/ for a data name or folder; checks `record` is there when given.

    None or "embedded": the embedded record; "record-136": the cached download (fetched if absent);
    "kaggle": the full dataset via kagglehub; a folder: that record folder or the Kaggle tree above it.
    """
    if data is None or str(data) in EMBEDDED_NAMES:
        folder = embedded_record_path()
    elif isinstance(data, str) and data.startswith("record-") and not Path(data).exists():
        folder = download_record(data, cache_dir=cache_dir, progress=progress)
    elif isinstance(data, str) and data == "kaggle" and not Path(data).exists():
        folder = kaggle_download()
    elif Path(data).expanduser().exists() or os.sep in str(data) or isinstance(data, Path):
        folder = find_record_folder(data)
    else:
        raise DataError(f"unknown data {str(data)!r}: not a known name, and the folder {Path(data).resolve()} "
                        f"does not exist; known names are {', '.join(known_names())}, or pass a folder")
    if record is not None:
        records = list_records(folder)
        if str(record) not in records:
            raise DataError(f"record {str(record)!r} is not in {folder}; records there: "
                            f"{', '.join(sorted(records)) or 'none'}")
    return folder


def list_records(folder: str | Path) -> dict[str, int]:
    """{record prefix: frame count} of the frames in a record folder (or the Kaggle tree above it)."""
    images = find_record_folder(folder) / "images"
    stems = [p.stem for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    return dict(sorted(Counter(stem.split("_", 1)[0] for stem in stems).items()))
