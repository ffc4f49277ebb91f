"""Import TensorFlow without the log lines its C++ core writes straight to the process's stderr.

TensorFlow 2.21 prints ``WARNING: All log messages before absl::InitializeLog() ...`` and oneDNN's notice
while it loads, before ``TF_CPP_MIN_LOG_LEVEL`` is read, so the variable alone does not silence them. Turning
oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``) would, at a cost in speed; instead the import runs with file
descriptor 2 pointed at /dev/null. Python-level errors still raise as usual.

Only what asks for it is quietened: the `cae-tutorial` command (cli.main, for the duration of the command), the
course's notebook kernels (course.py) and the notebooks themselves (their first lines call import_tensorflow).
``import cae_tutorial`` changes nothing: a user's own process keeps TensorFlow's log lines, error lines included.
Nothing here hooks Python's import machinery: a command that needs TensorFlow imports it through import_tensorflow.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def stderr_silenced():
    """Point file descriptor 2 at /dev/null for the duration, then restore it."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_tensorflow():
    """Import TensorFlow once, quietly (a no-op when it is already imported): the course's kernels and notebooks.

    It also sets TF_CPP_MIN_LOG_LEVEL=3 in the calling process (unless set): call it where that is chosen, as the
    course's kernels do before their first cell and each notebook does in its first lines (in Jupyter, what a
    kernel writes to file descriptor 2 shows in red under the cell).
    """
    # Level 3: oneDNN also logs a harmless "E0000 ... supports DT_INT32 only" line at ERROR level while training.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with stderr_silenced():
        import tensorflow
    # Keras' predict() on frames of a new batch size logs "WARNING:tensorflow:... triggered tf.function retracing":
    # expected with the course's small records, and nothing a learner can act on.
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


@contextlib.contextmanager
def quiet_tensorflow():
    """For the duration of a command (cli.main): TF_CPP_MIN_LOG_LEVEL=3 unless the caller chose a level; restored.

    The level alone does not silence TensorFlow's first lines (see above): a command that needs TensorFlow calls
    import_tensorflow() where it first does, so a command that never does (a download, --help) stays quick.
    Nothing here hooks Python's import machinery.
    """
    saved_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        yield
    finally:
        if saved_level is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = saved_level
