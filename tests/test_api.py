"""The library as an ML engineer drives it: their own compile and model, one metric vocabulary, short reprs,
a light import, one-call results, and the README's library code."""

from __future__ import annotations

import os
import pydoc
import re
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import matplotlib
import numpy as np
import pytest

from cae_tutorial import plots
from cae_tutorial.contract import ModelContractError
from cae_tutorial.data import DataError, seed_split, split_by_ids
from cae_tutorial.losses import DiceFocalLoss, MetricNameError, per_frame_metrics
from cae_tutorial.metric_names import history_key
from cae_tutorial.presets import PRESETS, get_preset
from cae_tutorial.evaluation import predict
from cae_tutorial.results import TrainingResult
from cae_tutorial.training import TrainOptions, build_model, compile_settings, train

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


def quick(record, preset, model, callbacks=(), **options):
    """One epoch on the seed split, no progress lines, snapshots before and after."""
    return train(model, record, seed_split(record), preset.with_(epochs=1), progress=False, callbacks=callbacks,
                 options=TrainOptions(**options))


def one_line(error) -> bool:
    """An error message of a single line."""
    return "\n" not in str(error.value)


# The user owns compile.

def test_model_compiled_by_the_user_trains_as_compiled(tiny_record, tiny_preset, tiny_result, tmp_path):
    model = build_model(tiny_preset)
    model.compile("sgd", "mse")
    with pytest.warns(UserWarning, match=r"log no 'iou'.*compile_settings\(preset, loss=\.\.\., optimizer"):
        result = quick(tiny_record, tiny_preset, model)
    assert result.model.loss == "mse"
    assert isinstance(result.model.optimizer, keras.optimizers.SGD)
    assert result.history["loss"][0] != pytest.approx(tiny_result.history["loss"][0], rel=1e-3)
    assert "iou" not in result.history  # as compiled: no metric of the package's added behind the user's back
    compiled = result.config["compile"]
    assert (compiled["loss"], compiled["optimizer"], compiled["compiled_by"]) == ("mse", "SGD", "model.compile")
    assert "held-out" in repr(result)
    result.save(tmp_path / "run")
    assert TrainingResult.load(tmp_path / "run", load_model=False).config["compile"]["loss"] == "mse"


def test_package_choice_applies_only_to_an_uncompiled_model(tiny_result):
    compiled = tiny_result.config["compile"]
    assert isinstance(tiny_result.model.loss, DiceFocalLoss)
    assert isinstance(tiny_result.model.optimizer, keras.optimizers.Adam)
    assert (compiled["compiled_by"], compiled["from_logits"]) == ("package", False)
    assert compiled["metrics"] == ["accuracy", "dice", "iou"]


def test_own_loss_and_optimiser_keep_the_package_metrics_and_big_batches_are_announced(tiny_record, tiny_preset):
    model = build_model(tiny_preset)
    preset = tiny_preset.with_(batch_size=5)
    settings = compile_settings(preset, loss=keras.losses.BinaryCrossentropy(), optimizer="sgd",
                                metrics=[keras.metrics.Precision(name="precision")])
    assert [m if isinstance(m, str) else m.name for m in settings["metrics"]] == [
        "precision", "accuracy", "iou", "dice"]
    model.compile(**settings)
    assert "at most the training frames" in str(preset)
    with pytest.warns(UserWarning, match=r"batch_size=5 but the split has 3 training frames"):
        result = quick(tiny_record, preset, model)
    assert isinstance(result.model.loss, keras.losses.BinaryCrossentropy)
    assert isinstance(result.model.optimizer, keras.optimizers.SGD)
    assert {"precision", "val_precision", "iou", "val_iou"} <= set(result.history)
    assert result.config["compile"]["compiled_by"] == "model.compile"
    assert result.config["compile"]["metrics"] == ["accuracy", "dice", "iou", "precision"]


def test_no_private_keras_state_is_read_or_set():
    source = "".join(path.read_text() for path in (ROOT / "cae_tutorial").glob("*.py"))
    assert "_compile_config" not in source and "_cae_tutorial" not in source


# Bring your own model.

def fcn(outputs: int = 1, activation=None, input_shape=(None, None, 3), down: int = 2):
    """A tiny fully convolutional model: one stride-`down` conv, back up, a 1x1 conv."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(8, 3, strides=down, padding="same", activation="relu")(inputs)
    x = keras.layers.UpSampling2D(down)(x)
    return keras.Model(inputs, keras.layers.Conv2D(outputs, 1, activation=activation)(x), name="fcn")


def test_size_agnostic_logits_model_trains_and_predicts_probabilities_and_its_live_scrubber_too(tiny_record,
                                                                                              tiny_preset):
    from cae_tutorial.widgets import EpochScrubber

    keras.utils.set_random_seed(0)
    scrubber = EpochScrubber.live(tiny_record, seed_split(tiny_record))
    result = quick(tiny_record, tiny_preset, fcn(), callbacks=[scrubber.callback])
    assert result.config["compile"]["from_logits"] is True
    assert result.model.loss.from_logits
    probabilities = predict(result.model, tiny_record.images)
    assert probabilities.shape == (10, 64, 32, 1) and 0.0 <= probabilities.min() and probabilities.max() <= 1.0
    logits = result.model.predict(tiny_record.images, verbose=0)
    assert logits.min() < 0.0  # raw outputs are logits; the snapshots are their sigmoid
    expected = np.rint(1 / (1 + np.exp(-logits[..., 0])) * 255)
    assert np.abs(result.snapshots.at(1).astype(int) - expected).max() <= 1
    table = result.evaluate(tiny_record)
    assert 0.0 <= table.mean("iou") <= 1.0
    # The live scrubber of the same run shows probabilities too: the sigmoid of the logits, as the snapshots.
    assert scrubber.callback.from_logits is True
    assert np.array_equal(scrubber.callback.stacked(), result.snapshots.predictions)


def test_models_outside_the_contract_are_refused_in_one_line(tiny_record, tiny_preset):
    cases = [
        (fcn(2, "softmax"), ModelContractError,
         r"2 channels per pixel with softmax.*Conv2D\(1, 1, activation='sigmoid'\)"),
        (fcn(1, "relu"), ModelContractError, r"applies 'relu'.*Conv2D\(1, 1"),
        (fcn(1, "softmax"), ModelContractError, r"softmax over one channel"),
        (fcn(input_shape=(32, 32, 3)), DataError, r"takes frames of 32 x 32 .* size=\(32, 32\)"),
        (fcn(input_shape=(None, None, 4)), ModelContractError, r"frames are \(height, width, 3\)"),
        (keras.Sequential([keras.Input((64, 32, 3)),
                           keras.layers.Conv2D(1, 3, strides=2, padding="same", activation="sigmoid")]),
         ModelContractError, r"outputs 32 x 16 masks for 64 x 32 frames"),
    ]
    for model, error, message in cases:
        with pytest.raises(error, match=message) as caught:
            quick(tiny_record, tiny_preset, model)
        assert one_line(caught)
    compiled = fcn()
    compiled.compile("adam", keras.losses.BinaryCrossentropy())
    with pytest.raises(ModelContractError, match=r"from_logits") as caught:
        quick(tiny_record, tiny_preset, compiled)
    assert one_line(caught)
    with pytest.raises(ModelContractError, match=r"ends with a sigmoid"):
        quick(tiny_record, tiny_preset, fcn(1, "sigmoid"), from_logits=True)


# Edges.

def test_split_by_ids_takes_one_id_as_a_string(tiny_record):
    split = split_by_ids(tiny_record, "dance_00120")
    assert split.train_ids == ("dance_00120",) and len(split.heldout_ids) == len(tiny_record) - 1


def test_per_frame_metrics_with_mismatched_lengths():
    truth = np.zeros((3, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match=r"2 frame ids, 3 true masks and 3 predictions") as caught:
        per_frame_metrics(["a", "b"], truth, truth)
    assert one_line(caught)
    with pytest.raises(ValueError, match=r"3 true masks and 1 predictions"):
        per_frame_metrics(["a", "b", "c"], truth, truth[:1])


def test_result_loaded_without_model_says_how_to_evaluate(tiny_result, tiny_record, tmp_path):
    tiny_result.save(tmp_path / "run")
    back = TrainingResult.load(tmp_path / "run", load_model=False)
    for call in (lambda: back.evaluate(tiny_record), lambda: plots.show_results(back, tiny_record)):
        with pytest.raises(ValueError, match=r"load_model=True") as caught:
            call()
        assert one_line(caught)


# One vocabulary for metric names.

def test_metric_names_are_one_vocabulary(tiny_result, tiny_record):
    table = tiny_result.evaluate(tiny_record)
    iou = float(np.mean([row.iou for row in table]))
    assert table.mean("iou") == table.mean("IoU") == table.mean(" IOU ") == pytest.approx(iou)
    assert table.mean("Dice") == table.mean("dice") and table.mean("pixel accuracy") == table.mean("accuracy")
    assert table.column("IoU") == [row.iou for row in table]
    with pytest.raises(MetricNameError, match=r"unknown metric 'f1'; known names \(any case\): iou, dice, accuracy"):
        table.mean("f1")
    history = tiny_result.history
    assert tiny_result.final("iou") == tiny_result.final("IoU") == history["val_iou"][-1]
    assert tiny_result.final("val_iou") == history["val_iou"][-1]  # Keras' own key still works
    assert tiny_result.final("IoU", part="training") == tiny_result.final("train_iou") == history["iou"][-1]
    assert tiny_result.final("Pixel accuracy") == history["val_accuracy"][-1]
    assert tiny_result.final("loss") == history["val_loss"][-1]
    with pytest.raises(MetricNameError, match=r"known names \(any case\): accuracy, dice, iou, loss"):
        tiny_result.final("f1")
    no_heldout = {"loss": [1.0], "iou": [0.5]}
    with pytest.raises(MetricNameError, match=r"held out no frames; ask for part='training'"):
        history_key(no_heldout, "IoU")
    assert history_key(no_heldout, "IoU", "training") == "iou"
    figure = plots.metric_curves(tiny_result, ["IoU", "Dice"])
    assert [line.get_label() for line in figure.axes[0].lines] == [
        "IoU (training)", "IoU (held-out)", "Dice (training)", "Dice (held-out)"]


def test_overlays_take_the_table_iou_bars_takes(tiny_result, tiny_record):
    table = tiny_result.evaluate(tiny_record)
    part = tiny_record.subset(tiny_result.split.heldout_ids[:3])
    probabilities = predict(tiny_result.model, part.images)
    figure = plots.overlays(part.images, part.masks, probabilities, part.ids, scores=table)
    assert figure.axes[0].get_title() == f"{part.ids[0]}\nIoU {table[0].iou:.3f}"
    plots.iou_bars(table)
    with pytest.raises(ValueError, match="no IoU for frames"):
        plots.overlays(part.images, part.masks, probabilities, ["dance_00090"], scores=table)


# Short reprs, a light and discoverable import.

def test_reprs_are_short(tiny_result, tiny_record):
    text = repr(tiny_result)
    assert len(text) < 300 and "\n" not in text
    assert re.search(r"3 epochs .*3 training and 7 held-out frames; final held-out IoU \d\.\d{3}", text)
    for thing in (tiny_result.snapshots, tiny_record, tiny_result.split):
        assert len(repr(thing)) < 200, repr(thing)
    assert "10 frames of 64 x 32 at 4 recorded epochs 0 .. 3" in repr(tiny_result.snapshots)
    assert repr(tiny_result.split).startswith("Split(3 training: dance_00090, dance_00210, dance_00420; 7 held out")
    table = tiny_result.evaluate(tiny_record)
    assert repr(table) == str(table) and str(table).splitlines()[0].split() == ["frame", "IoU", "Dice", "accuracy"]


def test_import_is_light_curated_and_changes_no_global_state():
    code = ("import os, sys; hooks, env = list(sys.meta_path), dict(os.environ); import cae_tutorial as c; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules, sys.meta_path == hooks, dict(os.environ) == env); "
            "print(c.__version__); print(' '.join(dir(c))); print(c.__doc__)")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    loaded, version, names, doc = out.split("\n", 3)
    assert loaded == "False False True True"  # no TensorFlow, no import hook, no TF_CPP_MIN_LOG_LEVEL
    assert re.match(r"\d+\.\d+", version)
    for name in ("load_record", "seed_split", "split_by_ids", "build_cae", "build_model", "train", "TrainingResult",
                 "predict", "evaluate", "EpochScrubber", "show_results", "get_preset", "plots"):
        assert name in names.split()
    assert "notebooks/01_segmentation_masks" in doc
    import cae_tutorial

    assert cae_tutorial.train is train and cae_tutorial.show_results is plots.show_results
    with pytest.raises(AttributeError, match="top level is"):
        cae_tutorial.trian  # noqa: B018


def test_help_of_plots_shows_no_numpy_docstring():
    text = pydoc.render_doc(plots, renderer=pydoc.plaintext)
    assert "ndarray(shape" not in text and f"PREDICTION_COLOUR = {plots.PREDICTION_COLOUR}" in text


# One call to look at a run's results.

def test_error_map_colours_correct_false_and_missed_person():
    image = np.zeros((1, 4, 3), np.float32)
    truth = np.array([[1, 1, 0, 0]], np.float32)
    predicted = np.array([[1, 0, 1, 0]], np.float32)
    out = plots.error_map(image, truth, predicted)
    colours = list(plots.ERROR_COLOURS.values())
    np.testing.assert_allclose(out[0, [0, 2, 1]], colours, rtol=1e-6)  # correct, false, missed
    assert len(set(colours)) == 3 and tuple(out[0, 3]) not in colours


def test_outline_colours_are_okabe_ito_and_named():
    from cae_tutorial.palette import OUTLINE_COLOURS, OUTLINE_NAMES

    okabe_ito = {(0.90, 0.62, 0.0), (0.34, 0.71, 0.91), (0.0, 0.62, 0.45), (0.94, 0.89, 0.26), (0.0, 0.45, 0.70),
                 (0.84, 0.37, 0.0), (0.80, 0.47, 0.65), (0.0, 0.0, 0.0)}
    assert set(OUTLINE_COLOURS.values()) <= okabe_ito and len(set(OUTLINE_COLOURS.values())) == len(OUTLINE_COLOURS)
    assert set(OUTLINE_NAMES) == set(OUTLINE_COLOURS)


def test_show_results_marks_training_and_heldout_frames(tiny_result, tiny_record):
    figure = plots.show_results(tiny_result, tiny_record)
    assert isinstance(figure, matplotlib.figure.Figure)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert len(titles) == 10 and len(figure.axes) == 4 * 10
    assert sum("\ntraining\n" in t for t in titles) == 3 and sum("\nheld-out\n" in t for t in titles) == 7
    assert all(re.search(r"IoU \d\.\d\d$", t) for t in titles)
    assert [ax.get_ylabel() for ax in figure.axes[::10]] == ["frame", "truth", "prediction", "errors"]
    one = plots.show_results(tiny_result, tiny_record, frame_ids="dance_00120", threshold=0.3)
    assert len(one.axes) == 4


# The README's library section runs as written (at tiny size).

@pytest.mark.slow
def test_readme_library_code_runs(monkeypatch, tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The library\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3 and "keras.Input(shape=(None, None, 3))" in blocks[2]
    assert "model.compile(**cae.compile_settings(preset))" in blocks[0] and "model.fit(" in blocks[0]  # plain fit first
    monkeypatch.setitem(PRESETS, "cpu", get_preset("cpu", height=64, width=32, epochs=1, steps_per_epoch=1))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []  # nor warns
    assert namespace["result"].model.name == "tiny_fcn"
    assert 0.0 <= namespace["probabilities"].min() and namespace["probabilities"].max() <= 1.0
    assert (tmp_path / "runs" / "cpu" / "model.keras").is_file()
