"""Importing the package changes nothing; the CLI and the course's kernels keep TensorFlow's C++ log lines out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOISE = re.compile(r"absl::InitializeLog|oneDNN|cpu_feature_guard|^[EWI]0000 |WARNING:tensorflow", re.M)
REPO = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict:
    """This process's environment without TF_* variables, with the working tree on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _python(code: str, timeout=180) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=timeout)


def _quiet_cli(*args: str) -> subprocess.CompletedProcess:
    """`cae-tutorial ARGS` in a fresh interpreter with no TF_* variables; it must succeed and print no TF lines."""
    run = subprocess.run([sys.executable, "-m", "cae_tutorial.cli", *args], env=_env(), capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    assert not NOISE.search(run.stderr), run.stderr[-2000:]
    return run


def test_importing_the_package_changes_no_global_state():
    code = ("import os, sys; hooks, env = list(sys.meta_path), dict(os.environ)\n"
            "import cae_tutorial, cae_tutorial.presets, cae_tutorial.errors, cae_tutorial.metric_names\n"
            "print(sys.meta_path == hooks, dict(os.environ) == env, 'tensorflow' in sys.modules)")
    run = _python(code)
    assert run.returncode == 0 and run.stdout.split() == ["True", "True", "False"], run.stderr[-2000:]


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_the_user_process_keeps_tensorflow_s_own_lines():
    """A user's `import cae_tutorial, tensorflow` is not silenced: TensorFlow's error lines stay visible."""
    code = ("import os, sys, cae_tutorial, tensorflow\n"
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), tensorflow.get_logger().level, "
            "[type(f).__name__ for f in sys.meta_path if type(f).__module__.startswith('cae_tutorial')])")
    run = _python(code)
    assert run.returncode == 0 and run.stdout.strip() == "None 0 []", run.stdout + run.stderr[-2000:]


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_the_cli_prints_no_tensorflow_log_lines(tmp_path):
    """A command that loads TensorFlow (predict: a model is loaded) starts without the C++ log lines."""
    code = ("import keras, sys\n"
            "from cae_tutorial.model import build_cae\n"
            f"build_cae((16, 8, 3), filters=(2, 2, 2)).save({str(tmp_path / 'model.keras')!r})\n")
    made = subprocess.run([sys.executable, "-c", code], env=_env(TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True,
                          text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    from cae_tutorial.data import embedded_record_path

    frame = embedded_record_path() / "images" / "dance_00060.png"
    run = _quiet_cli("predict", "--model", str(tmp_path / "model.keras"), "--input", str(frame),
                     "--output", str(tmp_path / "pred"))
    assert "% person" in run.stdout, run.stdout


def test_quiet_tensorflow_undoes_itself_and_hooks_no_import():
    """cli.main's quiet start-up: the log level for the command only, nothing in sys.meta_path, no import."""
    code = ("import os, sys; hooks, env = list(sys.meta_path), dict(os.environ)\n"
            "from cae_tutorial.quiet import quiet_tensorflow\n"
            "with quiet_tensorflow():\n"
            "    inside = (sys.meta_path == hooks, os.environ['TF_CPP_MIN_LOG_LEVEL'], 'tensorflow' in sys.modules)\n"
            "print(inside, sys.meta_path == hooks, dict(os.environ) == env)")
    run = _python(code)
    assert run.returncode == 0 and run.stdout.strip() == "(True, '3', False) True True", run.stdout + run.stderr[-2000:]


def test_only_train_and_predict_import_tensorflow():
    """The other commands never load it (quick, and nothing to silence); train and predict import it themselves."""
    code = ("import sys\nimport cae_tutorial.app, cae_tutorial.course, cae_tutorial.datasets, cae_tutorial.site\n"
            "import cae_tutorial.cli, cae_tutorial.data, cae_tutorial.folders, cae_tutorial.memory, "
            "cae_tutorial.resume\nprint('tensorflow' in sys.modules)")
    run = _python(code)
    assert run.returncode == 0 and run.stdout.strip() == "False", run.stdout + run.stderr[-2000:]
    source = (REPO / "cae_tutorial" / "cli.py").read_text()
    for command in ("_train_and_save", "run_predict"):
        body = source[source.index(f"def {command}("):]
        assert body.index("import_tensorflow()") < body.index("from cae_tutorial.pipeline import" if
                                                              command == "_train_and_save" else
                                                              "from cae_tutorial.callbacks import"), command


@pytest.mark.slow  # a fresh interpreter imports TensorFlow and trains one tiny epoch
def test_cli_train_prints_no_tensorflow_log_lines(tmp_path):
    _quiet_cli("train", "--epochs", "1", "--height", "16", "--width", "8", "--output", str(tmp_path / "run"))
    assert (tmp_path / "run").is_dir()


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_stderr_is_restored_after_the_quiet_import():
    code = ("import os\nfrom cae_tutorial.quiet import import_tensorflow, quiet_tensorflow\n"
            "with quiet_tensorflow():\n    import_tensorflow()\nos.write(2, b'still here')")
    run = _python(code)
    assert run.returncode == 0 and "still here" in run.stderr, run.stderr[-2000:]
    assert not NOISE.search(run.stderr), run.stderr[-2000:]


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_tensorflow_python_warnings_stay_out_of_the_course_kernels():
    """Keras' "triggered tf.function retracing" warnings go through TensorFlow's Python logger."""
    code = ("from cae_tutorial.quiet import import_tensorflow\ntf = import_tensorflow()\n"
            "tf.get_logger().warning('retracing, say')\nprint('ok')")
    run = _python(code)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]
    assert "retracing, say" not in run.stderr
    assert not NOISE.search(run.stderr), run.stderr[-2000:]


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_a_course_notebook_run_prints_no_tensorflow_log_lines(tmp_path):
    """course.run_notebook's kernel (whose stderr is the terminal's) imports TensorFlow without the C++ lines."""
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import keras\nprint(keras.__version__)")])
    nbformat.write(notebook, tmp_path / "01_quiet.ipynb")
    code = ("from pathlib import Path\nfrom cae_tutorial.course import run_notebook\n"
            f"run_notebook(Path({str(tmp_path / '01_quiet.ipynb')!r}), Path({str(tmp_path / 'out')!r}), {{}})\n"
            "print('ran')")
    run = _python(code, timeout=300)
    assert run.returncode == 0 and "ran" in run.stdout, run.stderr[-2000:]
    assert not NOISE.search(run.stderr), run.stderr[-2000:]
    executed = nbformat.read(tmp_path / "out" / "01_quiet.ipynb", as_version=4)
    assert not NOISE.search(str(executed.cells[0].outputs)), executed.cells[0].outputs


def test_the_course_passes_its_environment_to_the_kernel_only(tmp_path, monkeypatch):
    """course.run_notebook sets KERNEL_ENV while the kernel starts and leaves this process's environment as it was."""
    import papermill

    from cae_tutorial import course

    seen = {}

    def fake_execute(*args, **kwargs):
        """Record what a kernel started now would inherit."""
        seen.update({name: os.environ.get(name) for name in course.KERNEL_ENV})

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(course, "declared_parameters", lambda notebook: set())
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    before = dict(os.environ)
    course.run_notebook(REPO / "notebooks" / "01_segmentation_masks.ipynb", tmp_path, {})
    assert seen == course.KERNEL_ENV and dict(os.environ) == before


def _first_import_cell(notebook) -> str:
    """The source of a notebook's first code cell that imports something."""
    return next(c.source for c in notebook.cells if c.cell_type == "code" and re.search(r"^(import|from) ", c.source,
                                                                                          re.M))


def test_each_notebook_imports_tensorflow_quietly_before_anything_else():
    """In a learner's own Jupyter kernel (not the course's), the notebook itself keeps the start-up lines out."""
    import nbformat

    for path in sorted((REPO / "notebooks").glob("0*.ipynb")):
        source = _first_import_cell(nbformat.read(path, as_version=4))
        code = [line for line in source.splitlines() if line.strip() and not line.startswith("#")]
        assert code[:2] == ["from cae_tutorial.quiet import import_tensorflow", "import_tensorflow()"], path.name


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_a_plain_jupyter_kernel_shows_no_tensorflow_lines_after_the_notebooks_first_lines(tmp_path):
    """ipykernel shows what the process writes to fd 2 in the cell's output; the notebooks' first lines prevent it."""
    import nbformat
    import nbclient

    cell = "from cae_tutorial.quiet import import_tensorflow\n\nimport_tensorflow()\nimport keras\nprint('ok')"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    env = _env()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this environment: no TF_* variables, the working tree's package
    try:
        client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300,
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    outputs = notebook.cells[0].outputs
    assert [o.get("text") for o in outputs if o.get("name") == "stdout"] == ["ok\n"], outputs
    assert not [o for o in outputs if o.get("name") == "stderr"], outputs
