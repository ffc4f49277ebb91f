"""Run the course headless: every notebook in order with papermill, one line each, then a table."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from cae_tutorial.folders import write_file

SIZES = {"tiny": (64, 32), "small": (128, 64), "medium": (256, 128), "seed": (1024, 512)}
#: Notebooks that read what an earlier one saved (notebook 4's plain run, notebook 5's final run): when both run in
#: one call, each waits for those to finish, whatever the number of jobs.
NEEDS = {"05": ("04",), "06": ("05",), "07": ("05",)}
#: --fast: tiny frames and a handful of epochs, a smoke run of the whole course; notebook 7 generates a few
#: dancers and pairs 2 seeds (each notebook is given only the names its parameters cell declares).
FAST = {"IMAGE_HEIGHT": 64, "IMAGE_WIDTH": 32, "EPOCHS": 3, "N_RECORDS": 6, "SEEDS": 2}
#: Where publish records what produced a notebook's outputs (see source_fingerprint).
FINGERPRINT_KEY = "cae_tutorial"
#: The kernels the course starts: TensorFlow imported before the first cell with its C++ log lines discarded
#: (cae_tutorial/quiet.py, loaded as a file so the package's own imports cannot come first), kernel warnings off.
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore::DeprecationWarning"}


def _kernel_arguments() -> list[str]:
    """IPython options for a quiet course kernel."""
    quiet = Path(__file__).resolve().parent / "quiet.py"
    load = ("import importlib.util as _u; _s = _u.spec_from_file_location('_cae_quiet', %r); _m = _u.module_from_spec(_s); "
            "_s.loader.exec_module(_m); _m.import_tensorflow(); del _u, _s, _m" % str(quiet))
    return [f"--IPKernelApp.exec_lines={json.dumps([load])}", "--IPKernelApp.log_level=ERROR"]


@contextlib.contextmanager
def _kernel_environment():
    """KERNEL_ENV in os.environ while a kernel starts (it inherits this process's environment), then as it was."""
    saved = {name: os.environ.get(name) for name in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def source_fingerprint(notebook) -> str:
    """SHA-256 of the library's cae_tutorial/*.py and the notebook's own source cells (not its outputs)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    for cell in notebook.cells:
        if "injected-parameters" not in cell.metadata.get("tags", []):
            digest.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    return digest.hexdigest()


def notebooks_dir() -> Path:
    """The course's notebooks/ folder (next to the package in the repository)."""
    folder = Path(__file__).resolve().parent.parent / "notebooks"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing; the course runs from a clone of the repository "
                                "(pip install -e . inside it)")
    return folder


def course_notebooks(only=None) -> list[Path]:
    """The numbered notebooks in order, optionally only those named (by number or name)."""
    books = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {str(o).removesuffix(".ipynb") for o in only}
        books = [b for b in books if b.stem in wanted or b.stem[:2] in wanted or b.stem[:2].lstrip("0") in wanted]
        if not books:
            raise FileNotFoundError(f"no course notebook matches {only}; notebooks are "
                                    f"{[b.stem for b in sorted(notebooks_dir().glob('[0-9][0-9]_*.ipynb'))]}")
    return books


def course_parameters(data=None, record=None, epochs=None, size=None, height=None, width=None,
                      fast=False, data_dir=None) -> dict:
    """Notebook parameters (uppercase names) from the command-line options; unset options keep the defaults.

    data (a name such as "record-136", or a folder; data_dir: its old name, deprecated) becomes DATA, which every
    notebook reads with cae_tutorial.datasets.resolve_data.
    """
    parameters = dict(FAST) if fast else {}
    if size is not None:
        if size not in SIZES:
            raise KeyError(f"unknown size preset {size!r}; choose one of {sorted(SIZES)}")
        parameters["IMAGE_HEIGHT"], parameters["IMAGE_WIDTH"] = SIZES[size]
    for name, value in (("IMAGE_HEIGHT", height), ("IMAGE_WIDTH", width), ("EPOCHS", epochs)):
        if value is not None:
            if not isinstance(value, int) or value <= 0:
                raise TypeError(f"{name.lower()} must be a positive int, got {value!r}")
            parameters[name] = value
    if data_dir is not None:
        import warnings

        warnings.warn("course_parameters(data_dir=...) is deprecated and will be removed; pass data=...",
                      DeprecationWarning, stacklevel=2)
    data = data if data is not None else data_dir
    if data is not None:
        parameters.update(_data_parameters(data))
    if record is not None:
        parameters["RECORD"] = str(record)
    return parameters


def _data_parameters(data) -> dict:
    """DATA for a data name or folder; folders become absolute (notebooks run in another folder)."""
    from cae_tutorial.datasets import EMBEDDED_NAMES, known_names

    if isinstance(data, str) and (data in EMBEDDED_NAMES or data in known_names()):
        return {"DATA": data}
    return {"DATA": str(Path(data).expanduser().resolve())}


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's cell tagged `parameters`."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def _failed_cell(error) -> str:
    """A short description of the cell a papermill error came from."""
    cell = getattr(error, "exec_count", None)
    name = getattr(error, "ename", type(error).__name__)
    value = str(getattr(error, "evalue", error)).splitlines()
    return f"cell [{cell}]: {name}: {value[0] if value else ''}"


def run_notebook(notebook: Path, output_dir: Path, parameters: dict) -> dict:
    """Execute one notebook into output_dir (also its working folder); returns its recorded results."""
    import papermill

    output_dir.mkdir(parents=True, exist_ok=True)
    accepted = {k: v for k, v in parameters.items() if k in declared_parameters(notebook)}
    with _kernel_environment():
        papermill.execute_notebook(str(notebook), str(output_dir / notebook.name), parameters=accepted,
                                   cwd=str(output_dir), progress_bar=False, log_output=False, kernel_name="python3",
                                   extra_arguments=_kernel_arguments())
    results = output_dir / "outputs" / f"{notebook.stem}.json"
    return json.loads(results.read_text()) if results.is_file() else {}


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system tells it, else the machine's count)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_jobs(cpus: int | None = None) -> int:
    """How many notebooks `cae-tutorial course` runs at once: 2 on a machine with 2 CPUs or more, else 1.

    A course notebook leaves part of a second core idle (its models are small: many of its steps are too short to
    spread over two cores), so on 2 cores a second notebook beside it finishes the course sooner, though each of
    the two runs slower than alone. cpus: usable_cpus() unless given."""
    return 2 if (usable_cpus() if cpus is None else cpus) >= 2 else 1


def _run_one(notebook: Path, output_dir: Path, parameters: dict, publish: bool) -> tuple[dict, str, float]:
    """One notebook, run and (publish=True) copied back cleaned: (its results, its status, its seconds).

    Never raises for a failing notebook: the status names the cell (this runs in a worker process, and papermill's
    errors do not travel between processes)."""
    start = time.perf_counter()
    try:
        results = run_notebook(notebook, output_dir, parameters)
        status = "ok"
        if publish:
            clean_for_commit(output_dir / notebook.name, fingerprint=source_fingerprint(read(notebook)))
            write_file(notebook, (output_dir / notebook.name).read_bytes())
            status = "ok, published"
    except Exception as error:  # report the notebook and cell, then carry on with the others
        results, status = {}, f"FAILED at {_failed_cell(error)}"
    return results, status, time.perf_counter() - start


def _run_in_parallel(books: list[Path], run, jobs: int, on_done) -> None:
    """run(book) for every book, jobs at a time in worker processes, each after the books it NEEDS; on_done(book,
    outcome) in this process as each finishes. Books that others wait for start first, then in course order."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    by_number = {book.stem[:2]: book for book in books}
    needs = {book: [by_number[n] for n in NEEDS.get(book.stem[:2], ()) if n in by_number] for book in books}
    awaited = {needed for book in books for needed in needs[book]}
    finished, waiting, running = set(), list(books), {}

    def new_pool():  # spawn: fresh interpreters, whatever this process has imported or started (threads, TensorFlow)
        return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))

    pool, broken = new_pool(), False
    try:
        while waiting or running:
            if broken and not running:  # a worker died: the pool is unusable, the books not yet run get a new one
                pool.shutdown(wait=False)
                pool, broken = new_pool(), False
            ready = sorted((b for b in waiting if all(n in finished for n in needs[b])),
                           key=lambda b: (b not in awaited, books.index(b)))
            for book in ([] if broken else ready[: jobs - len(running)]):
                waiting.remove(book)
                running[pool.submit(run, book)] = book
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                book = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool as error:  # its worker process died (killed, out of memory)
                    broken = True
                    outcome = ({}, f"FAILED: its worker process died ({error})", 0.0)
                finished.add(book)
                on_done(book, outcome)
    except BaseException:  # Ctrl-C: the notebooks' kernels got it too; start nothing more
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def run_course(output_dir: str | Path = "build/course", parameters: dict | None = None, only=None,
               stream=None, publish: bool = False, jobs: int = 1) -> list[str]:
    """Run the notebooks, print a line each as it ends and a final table; returns the failures (empty if none).

    jobs: notebooks run at once, each in its own process (1: one after the other, in course order); a notebook
    that reads an earlier one's saved run (NEEDS) always waits for it. publish=True copies each executed notebook,
    cleaned by clean_for_commit, back over its source in notebooks/.
    """
    import functools
    import sys

    stream = stream or sys.stdout
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    books = course_notebooks(only)
    outcomes = {}

    def on_done(book, outcome):
        results, status, seconds = outcomes[book] = outcome
        iou = results.get("heldout_iou")
        print(f"[{books.index(book) + 1}/{len(books)}] {book.stem}: {status} in {seconds:.1f} s"
              + (f", held-out IoU {iou:.3f}" if iou is not None else ""), file=stream, flush=True)

    run = functools.partial(_run_one, output_dir=output_dir, parameters=parameters or {}, publish=publish)
    start = time.perf_counter()
    if jobs > 1 and len(books) > 1:
        _run_in_parallel(books, run, jobs, on_done)
    else:
        for book in books:
            on_done(book, run(book))
    wall = time.perf_counter() - start
    print(f"\n{'notebook':<30}{'seconds':>9}{'held-out IoU':>14}  status", file=stream)
    for book in books:
        results, status, seconds = outcomes[book]
        iou = results.get("heldout_iou")
        print(f"{book.stem:<30}{seconds:>9.1f}{'' if iou is None else f'{iou:.3f}':>14}  {status}", file=stream)
    print(f"{'all':<30}{wall:>9.1f}{'':>14}  " + (f"{jobs} notebooks at a time" if jobs > 1 and len(books) > 1
                                                 else "one notebook at a time"), file=stream)
    print("held-out IoU: the per-frame mean over the held-out frames, as each notebook records it", file=stream)
    print(f"executed notebooks are in {output_dir}", file=stream)
    failures = [f"{book.stem}: {outcomes[book][1]}" for book in books if not outcomes[book][1].startswith("ok")]
    for failure in failures:
        print(f"error: {failure}", file=stream)
    return failures


def read(path: str | Path):
    """A notebook file as an nbformat v4 object."""
    import nbformat

    return nbformat.read(str(path), as_version=4)


def clean_for_commit(path: str | Path, fingerprint: str | None = None) -> None:
    """Make an executed notebook fit to commit: no local paths, no widget state GitHub cannot render.

    fingerprint: source_fingerprint of the notebook that was run, recorded so a test can tell stale outputs.
    """
    import nbformat

    notebook = read(path)
    notebook.metadata.pop("widgets", None)
    if fingerprint is not None:
        notebook.metadata[FINGERPRINT_KEY] = {"source_sha256": fingerprint}
    papermill_meta = notebook.metadata.get("papermill", {})
    for key in ("input_path", "output_path", "start_time", "end_time", "duration", "environment_variables"):
        papermill_meta.pop(key, None)
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                data.pop("application/vnd.jupyter.widget-view+json")
                data["text/plain"] = "[interactive epoch scrubber: run the notebook in Jupyter to use it" + (
                    "; the picture shows the same evolution]" if "image/png" in data else "]")
    write_file(path, nbformat.writes(notebook))
