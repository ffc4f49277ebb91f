"""The library as Keras pieces: plain compile / fit gets everything train adds, train is only their sum, the recipe
does not leak into a user's model, and predict / evaluate take frames of any size with one stated rule."""

from __future__ import annotations

import inspect
import math
import re
import warnings

import keras
import numpy as np
import pytest

import cae_tutorial as cae
from cae_tutorial.callbacks import EpochLogs, PredictionSnapshots, ScoreLastEpoch
from cae_tutorial.data import DataError, seed_split
from cae_tutorial.evaluation import Predictor, evaluate, predict, predict_masks
from cae_tutorial.pipeline import list_record_files
from cae_tutorial.presets import get_preset
from cae_tutorial.results import Snapshots, TrainingResult
from cae_tutorial.training import (
    TrainOptions,
    build_model,
    compile_settings,
    steps_per_epoch,
    train,
    training_dataset,
    validation_dataset,
)

TINY = (64, 32)


def progressive_preset(epochs: int = 4):
    """The cpu recipe at 64 x 32: its first 3 of 4 epochs at 32 x 16."""
    return get_preset("cpu", height=TINY[0], width=TINY[1], epochs=epochs, steps_per_epoch=1, filters=(4, 8, 8))


def plain_fit(record, split, preset, seed=0, model=None, **fit):
    """The README's plain Keras path, as a user writes it."""
    model = model or build_model(preset, seed=seed)
    if not model.compiled:
        model.compile(**compile_settings(preset))
    logs, snapshots = EpochLogs(), PredictionSnapshots(record)
    model.fit(training_dataset(record, split, preset, seed=seed, model=model), epochs=preset.epochs,
              steps_per_epoch=steps_per_epoch(split, preset), validation_data=validation_dataset(record, split),
              callbacks=[snapshots, logs], verbose=0, shuffle=False, **fit)
    return TrainingResult.from_fit(model, logs, split, snapshots, preset=preset, record=record, seed=seed)


def fcn(input_shape=(None, None, 3), name="fcn"):
    """A tiny fully convolutional model with a sigmoid."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.UpSampling2D(2)(x)
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(x), name=name)


@pytest.fixture(scope="module")
def progressive_runs(tiny_record):
    """One plain-fit run (the optimizer built by fit) and one train run (built before fit), one seed."""
    preset, split = progressive_preset(), seed_split(tiny_record)
    plain = plain_fit(tiny_record, split, preset, seed=3)
    composed = train(build_model(preset, seed=3), tiny_record, split, preset, seed=3, progress=False)
    return plain, composed


# Plain compile / fit gets what train gets; train is their sum.

def test_a_plain_fit_and_train_with_one_seed_score_the_same(progressive_runs):
    # Two different code paths giving equal numbers: the seeding is part of the pieces, train() is their sum, and
    # building Adam's variables before fit (train does, plain_fit does not) changes nothing but the tracing.
    plain, composed = progressive_runs
    assert plain.history == composed.history
    assert np.array_equal(plain.snapshots.predictions, composed.snapshots.predictions)
    assert plain.final("iou") == composed.final("iou") and not math.isnan(plain.final("iou"))


def test_train_has_at_most_eight_parameters_and_the_rest_in_options():
    assert len(inspect.signature(train).parameters) <= 8
    assert {"backup_dir", "tensorboard", "strategy", "validate_every", "snapshot_every"} <= set(
        inspect.signature(TrainOptions).parameters)
    for name in ("build_model", "compile_settings", "training_dataset", "validation_dataset", "steps_per_epoch",
                 "PredictionSnapshots", "EpochLogs", "ScoreLastEpoch", "TrainingResult", "predict", "predict_masks",
                 "evaluate", "TrainOptions"):
        assert name in dir(cae), name


def test_compile_settings_is_a_dict_for_compile_and_adds_the_package_metrics_to_yours(tiny_preset):
    settings = compile_settings(tiny_preset)
    assert set(settings) == {"optimizer", "loss", "metrics", "jit_compile"}
    assert [m.name for m in settings["metrics"]] == ["accuracy", "iou", "dice"]
    mine = compile_settings(tiny_preset, loss="mse", optimizer="sgd", metrics=["mae"])
    assert mine["loss"] == "mse" and isinstance(mine["optimizer"], keras.optimizers.SGD)
    assert [m if isinstance(m, str) else m.name for m in mine["metrics"]] == ["mae", "accuracy", "iou", "dice"]
    with pytest.raises(ValueError, match=r"steps=steps_per_epoch\(split, preset\)"):
        compile_settings(get_preset("cpu").with_(steps_per_epoch=None))  # a cosine schedule needs the run's length


def test_validate_every_is_keras_validation_freq_plus_score_last_epoch(tiny_record, tiny_preset):
    split, preset = seed_split(tiny_record), tiny_preset.with_(epochs=3)
    model = build_model(preset, seed=0)
    model.compile(**compile_settings(preset))
    heldout, logs = validation_dataset(tiny_record, split), EpochLogs()
    history = model.fit(training_dataset(tiny_record, split, preset, seed=0), epochs=3, steps_per_epoch=1,
                        validation_data=heldout, validation_freq=2, callbacks=[ScoreLastEpoch(heldout), logs],
                        verbose=0)
    assert [not math.isnan(v) for v in logs.history["val_iou"]] == [False, True, True]
    assert logs.seconds is not None and logs.seconds > 0
    # One time per epoch, each inside the whole fit's: what notebook 5's ladder takes its steady seconds from.
    assert len(logs.epoch_seconds) == 3 and all(v > 0 for v in logs.epoch_seconds)
    assert sum(logs.epoch_seconds) <= logs.seconds
    # Keras's own History keeps a held-out value only for the epochs scored, so its lists differ in length.
    assert len(history.history["val_iou"]) < len(history.history["iou"]) == 3
    with pytest.raises(ValueError, match=r"different lengths.*EpochLogs") as caught:
        TrainingResult.from_fit(model, history, split)
    assert "\n" not in str(caught.value)


def test_streamed_record_files_train_with_plain_fit(tmp_path, tiny_record):
    from conftest import write_record

    root = write_record(tmp_path / "rec", ids=[f"7_{i:05d}" for i in range(1, 6)], size=TINY)
    files = list_record_files(root, size=TINY)
    split = cae.split_by_ids(files.load(), files.ids[:3])
    preset = get_preset("seed", height=TINY[0], width=TINY[1], epochs=1)
    model = build_model(preset, seed=0)
    model.compile(**compile_settings(preset))
    snapshots = PredictionSnapshots(files, split.heldout_ids)  # only the shown frames are read into memory
    logs = EpochLogs()
    model.fit(training_dataset(files, split, preset, seed=0), epochs=1, steps_per_epoch=1,
              validation_data=validation_dataset(files, split), callbacks=[snapshots, logs], verbose=0)
    result = TrainingResult.from_fit(model, logs, split, snapshots, preset=preset, record=files)
    assert result.snapshots.frame_ids == split.heldout_ids and "val_iou" in result.history
    table = evaluate(result, files)  # RecordFiles: the scored frames are read, no AttributeError
    assert [row.frame_id for row in table] == list(split.heldout_ids)


# The recipe does not leak into a user's model.

def test_progressive_resizing_only_for_models_of_any_size_and_said_once_when_skipped(tiny_record):
    preset, split = progressive_preset(), seed_split(tiny_record)
    any_size = build_model(preset, seed=0)
    assert any_size.input_shape == (None, None, None, 3)
    shapes = [tuple(x.shape[1:3]) for x, _ in training_dataset(tiny_record, split, preset, model=any_size).take(4)]
    assert shapes == [(32, 16)] * 3 + [(64, 32)]
    fixed = fcn(input_shape=(*TINY, 3), name="fixed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = training_dataset(tiny_record, split, preset, model=fixed)
    skipped = [w for w in caught if "progressive resizing skipped" in str(w.message)]
    assert len(skipped) == 1 and "fixed takes frames of (64, 32) only" in str(skipped[0].message)
    assert {tuple(x.shape[1:3]) for x, _ in data.take(4)} == {TINY}  # never a wrong size
    # Not fully convolutional (a dense layer in the middle): trains at its size, no raw TensorFlow error.
    inputs = keras.Input((*TINY, 3))
    x = keras.layers.Dense(1)(keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(inputs)))
    x = keras.layers.Reshape((1, 1, 1))(x)
    dense = keras.Model(inputs, keras.layers.Activation("sigmoid")(keras.layers.UpSampling2D(TINY)(x)), name="dense")
    with pytest.warns(UserWarning, match="progressive resizing skipped"):
        result = train(dense, tiny_record, split, preset, progress=False, options=TrainOptions(snapshot_epochs=()))
    assert len(result.history["loss"]) == 4


def test_config_describes_the_model_that_trained(tiny_record, tiny_preset, tiny_result, tmp_path):
    assert tiny_result.config["model"]["from_preset"] is True and tiny_result.config["model"]["name"] == "cae"
    keras.utils.set_random_seed(0)
    mine = fcn()
    result = train(mine, tiny_record, seed_split(tiny_record), tiny_preset.with_(epochs=1), progress=False)
    described = result.config["model"]
    assert (described["name"], described["from_preset"], described["parameters"]) == ("fcn", False,
                                                                                     mine.count_params())
    assert described["conv_filters"] == [4, 1] and "do not describe it" in described["note"]
    result.save(tmp_path / "run")
    assert TrainingResult.load(tmp_path / "run", load_model=False).config["model"] == described


# Results take the layouts they document; reprs tell real times.

def test_snapshots_and_results_take_float_or_uint8_and_say_the_layout(tiny_record):
    frames = tiny_record.images[:2]
    floats = Snapshots([0], ["a", "b"], frames, tiny_record.masks[:2], np.full((1, 2, *TINY), 0.5, np.float32))
    uint8 = Snapshots([0], ["a", "b"], (frames * 255).round().astype(np.uint8),
                      (tiny_record.masks[:2, ..., 0] * 255).astype(np.uint8), np.full((1, 2, *TINY), 128, np.uint8))
    assert floats.images.dtype == np.uint8 and np.abs(floats.images.astype(int) - uint8.images).max() <= 1
    assert np.array_equal(floats.masks, uint8.masks) and set(np.unique(floats.masks)) <= {0, 255}
    with pytest.raises(ValueError, match=r"images have shape \(2, 64, 32\); give \(N, H, W, 3\)") as caught:
        Snapshots([0], ["a", "b"], frames[..., 0], tiny_record.masks[:2], np.zeros((1, 2, *TINY)))
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="one image and mask per frame"):
        Snapshots([0], ["a"], frames, tiny_record.masks[:2], np.zeros((1, 2, *TINY)))
    from cae_tutorial.widgets import EpochScrubber

    EpochScrubber(floats, height=32)  # float inputs draw (no raw PIL TypeError)
    callback = PredictionSnapshots((frames * 255).astype(np.uint8), ["a", "b"], masks=tiny_record.masks[:2] > 0.5)
    assert callback.images.dtype == np.float32 and callback.images.max() <= 1.0


def test_repr_time_is_the_fits_or_says_unknown(tiny_result, tiny_record):
    assert re.search(r"in \d+\.\d s", repr(tiny_result)) and tiny_result.config["train_seconds"] > 0
    bare = TrainingResult.from_fit(tiny_result.model, tiny_result.history, tiny_result.split)
    assert "in an unrecorded time" in repr(bare) and "0.0 s" not in repr(bare)


# Frames of any size; evaluate's one rule.

def test_predict_gives_each_frames_own_size_for_any_frames(progressive_runs, tiny_record, tmp_path):
    result = progressive_runs[1]
    big = np.random.default_rng(0).random((2, 540, 960, 3)).astype(np.float32)
    probabilities = predict(result, big, size="original")
    assert probabilities.shape == (2, 540, 960, 1) and 0 <= probabilities.min() and probabilities.max() <= 1
    assert predict(result, big).shape == (2, *TINY, 1)  # size="model": at the size the run trained at
    mixed = predict_masks(result, [big[0], (tiny_record.images[0] * 255).astype(np.uint8)])
    assert [m.shape for m in mixed] == [(540, 960), TINY] and mixed[0].dtype == bool
    result.save(tmp_path / "run")
    again = TrainingResult.load(tmp_path / "run")
    small = tiny_record.images[:2, ::2, ::2]  # 32 x 16: what the in-memory model trained on first
    assert np.allclose(again.model.predict(small, verbose=0), result.model.predict(small, verbose=0), atol=1e-5)
    assert np.allclose(predict(again, big, size="original"), probabilities, atol=1e-5)
    with pytest.raises(DataError, match=r"model_input_size=\(height, width\)") as caught:
        predict(result.model, [big[0], tiny_record.images[0]])  # any size, no run to tell its training size
    assert "\n" not in str(caught.value)


def test_evaluate_one_rule_for_frames_and_resolution_stated_in_the_output(tiny_result, tiny_record):
    split = tiny_result.split
    of_result = evaluate(tiny_result, tiny_record)
    of_model = evaluate(tiny_result.model, tiny_record, split=split)
    assert [r.frame_id for r in of_result] == [r.frame_id for r in of_model] == list(split.heldout_ids)
    assert "the split's 7 held-out frames" in str(of_result) and "original size (960 x 540)" in str(of_result)
    every = evaluate(tiny_result.model, tiny_record)
    assert len(every) == 10 and "all 10 frames of the data (no split given" in str(every)
    at_model = evaluate(tiny_result, tiny_record, resolution="model")
    assert "scored at the model's size 64 x 32 (asked)" in str(at_model)
    both = evaluate(tiny_result, tiny_record, "all")
    text = str(both).splitlines()
    assert any(line.startswith("mean training") for line in text) and any(line.startswith("mean held-out")
                                                                          for line in text)
    assert not any(line.split()[0] == "mean" and len(line.split()) == 4 for line in text)  # no mixed mean
    assert both.mean("iou", part="held-out") == pytest.approx(of_result.mean("iou"))
    with pytest.warns(UserWarning, match="mixes training and held-out"):
        both.mean("iou")
    figure = cae.show_results(tiny_result, tiny_record)  # the same rule, said in its title
    assert "original size 960 x 540 (as evaluate)" in figure._suptitle.get_text()
    shown = {ax.get_title().split("\n")[0]: ax.get_title() for ax in figure.axes if ax.get_title()}
    for row in of_result:
        assert shown[row.frame_id].endswith(f"IoU {row.iou:.2f}")


def test_the_baseline_goes_through_evaluate(tiny_record):
    from cae_tutorial.baseline import fit_pixel_classifier, predict_pixel_classifier

    split = seed_split(tiny_record)
    part = tiny_record.subset(split.train_ids)
    classifier = fit_pixel_classifier(part.images, part.masks, max_pixels=3000)
    baseline = Predictor(lambda frames: predict_pixel_classifier(classifier, frames), "pixel baseline")
    table = evaluate(baseline, tiny_record, split=split)
    assert len(table) == len(split.heldout_ids) and 0.0 <= table.mean("iou") <= 1.0
    assert str(table).splitlines()[-1].startswith("pixel baseline on the split's 7 held-out frames")



def test_cli_predict_makes_the_same_call_for_a_model_of_any_size(progressive_runs, tmp_path, capsys):
    import shutil

    from PIL import Image

    from cae_tutorial.cli import main

    result = progressive_runs[1]
    run = result.save(tmp_path / "run")
    frames = tmp_path / "frames"
    frames.mkdir()
    frame = (np.random.default_rng(1).random((540, 960, 3)) * 255).astype(np.uint8)
    Image.fromarray(frame).save(frames / "wide.png")
    assert main(["predict", "--model", str(run), "--input", str(frames), "--output", str(tmp_path / "out")]) == 0
    mask = np.asarray(Image.open(tmp_path / "out" / "wide_mask.png")) > 0
    assert mask.shape == (540, 960)
    from cae_tutorial.data import read_frames

    assert np.array_equal(mask, predict_masks(result, read_frames(frames, TINY))[0])  # the CLI's call, in Python
    assert (predict_masks(result, frame[None])[0] == mask).mean() > 0.99  # frames resized by TF, not PIL
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run / "model.keras", bare / "model.keras")
    capsys.readouterr()
    assert main(["predict", "--model", str(bare / "model.keras"), "--input", str(frames), "--output",
                 str(tmp_path / "out2")]) == 2
    error = capsys.readouterr().err.strip()
    assert "takes frames of any size and no config.json" in error and "\n" not in error
