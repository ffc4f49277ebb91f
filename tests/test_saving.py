"""A saved model.keras loads with plain keras.models.load_model in a fresh process after `import cae_tutorial`."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    """A tiny CAE with CoordinateChannels, compiled with DiceFocalLoss, PersonIoU and BinaryDice, saved."""
    import keras

    from cae_tutorial.losses import BinaryDice, DiceFocalLoss, PersonIoU
    from cae_tutorial.model import build_cae

    model = build_cae((16, 8, 3), filters=(2, 2, 2), coordinates=True)
    model.compile(optimizer="adam", loss=DiceFocalLoss(boundary_weight=2.0), metrics=[PersonIoU(), BinaryDice()])
    x = keras.ops.ones((2, 16, 8, 3))
    model.fit(x, keras.ops.ones((2, 16, 8, 1)), epochs=1, verbose=0)
    global EXPECTED_SCORES
    EXPECTED_SCORES = sorted(model.evaluate(x, keras.ops.ones((2, 16, 8, 1)), verbose=0, return_dict=True))
    path = tmp_path_factory.mktemp("run") / "model.keras"
    model.save(path)
    return path


def _load_in_a_fresh_process(imports: str, path: Path) -> subprocess.CompletedProcess:
    """Run `imports`, then keras.models.load_model(path), in a new interpreter; print what came back."""
    code = (f"{imports}\nimport keras\nmodel = keras.models.load_model({str(path)!r})\n"
            "scores = model.evaluate(keras.ops.ones((2, 16, 8, 3)), keras.ops.ones((2, 16, 8, 1)), verbose=0, "
            "return_dict=True)\n"
            "print(sorted({type(l).__name__ for l in model.layers} & {'CoordinateChannels'}), "
            "type(model.loss).__name__, model.loss.boundary_weight, "
            "sorted(type(m).__name__ for m in model.metrics[-1].metrics), sorted(scores))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


EXPECTED_SCORES = None  # the metric names the saved model reports, filled in by saved_model


def expected() -> str:
    """What the reloaded model should print: the package's layer, loss (with its setting) and both metrics."""
    assert len(EXPECTED_SCORES) == 3, EXPECTED_SCORES  # loss and the two metrics
    return f"['CoordinateChannels'] DiceFocalLoss 2.0 ['BinaryDice', 'PersonIoU'] {EXPECTED_SCORES}"


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_load_model_after_keras_then_the_package(saved_model):
    run = _load_in_a_fresh_process("import keras, cae_tutorial", saved_model)
    assert run.returncode == 0 and run.stdout.strip() == expected(), run.stdout + run.stderr[-3000:]


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_load_model_after_the_package_and_a_name_that_uses_keras(saved_model):
    run = _load_in_a_fresh_process("import cae_tutorial\ncae_tutorial.build_cae", saved_model)
    assert run.returncode == 0 and run.stdout.strip() == expected(), run.stdout + run.stderr[-3000:]


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_load_model_after_the_package_first_with_keras_objects(saved_model):
    run = _load_in_a_fresh_process("import cae_tutorial, keras\nimport cae_tutorial.keras_objects", saved_model)
    assert run.returncode == 0 and run.stdout.strip() == expected(), run.stdout + run.stderr[-3000:]


def test_keras_objects_lists_every_registered_class():
    """Each class decorated with register_keras_serializable in the package is imported by keras_objects."""
    registered = set()
    for path in (REPO / "cae_tutorial").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any("register_keras_serializable" in ast.unparse(d)
                                                      for d in node.decorator_list):
                registered.add(node.name)
    from cae_tutorial.keras_objects import KERAS_OBJECTS

    assert registered == {c.__name__ for c in KERAS_OBJECTS} and len(registered) >= 4
