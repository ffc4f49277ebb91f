"""Importing the package keeps TensorFlow's C++ start-up log lines out of notebooks and terminals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

NOISE = re.compile(r"absl::InitializeLog|oneDNN|cpu_feature_guard|^[EWI]0000 |WARNING:tensorflow", re.M)
REPO = Path(__file__).resolve().parents[1]


def test_importing_the_package_then_keras_prints_no_tensorflow_log_lines():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["PYTHONPATH"] = str(REPO)
    run = subprocess.run([sys.executable, "-c", "import cae_tutorial, keras; print('ok')"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
    assert not NOISE.search(run.stderr), run.stderr[-2000:]


def test_stderr_is_restored_after_the_quiet_import():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import os, cae_tutorial; os.write(2, b'still here')"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "still here" in run.stderr


def test_tensorflow_python_warnings_stay_out():
    """Keras' "triggered tf.function retracing" warnings go through TensorFlow's Python logger."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import cae_tutorial, tensorflow as tf\ntf.get_logger().warning('retracing, say')\nprint('ok')"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]
    assert "retracing, say" not in run.stderr
