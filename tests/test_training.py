"""Training through model.fit: history, snapshots, saving and loading, reproducibility, presets."""

from __future__ import annotations

import numpy as np
import pytest

from cae_tutorial.data import DataError, Split, load_record, seed_split
from cae_tutorial.presets import PRESETS, Preset, get_preset
from cae_tutorial.results import TrainingResult
from cae_tutorial.training import TrainOptions, build_model, train

METRICS = {"loss", "accuracy", "iou", "dice"}


def test_history_has_train_and_heldout_every_epoch(tiny_result):
    history = tiny_result.history
    assert METRICS | {f"val_{m}" for m in METRICS} <= set(history)
    assert all(len(values) == 3 for values in history.values())
    assert all(np.isfinite(values).all() for values in history.values())


def test_snapshots_every_epoch_uint8(tiny_result, tiny_record):
    snapshots = tiny_result.snapshots
    assert snapshots.epochs.tolist() == [0, 1, 2, 3]
    assert snapshots.predictions.dtype == np.uint8
    assert snapshots.predictions.shape == (4, 10, 64, 32)
    assert snapshots.frame_ids == tiny_record.ids
    # The weights move, so the predictions of epoch 3 differ from those before training.
    assert not np.array_equal(snapshots.at(0), snapshots.at(3))
    with pytest.raises(KeyError, match="recorded epochs"):
        snapshots.at(7)


def test_snapshot_of_last_epoch_equals_model_prediction(tiny_result, tiny_record):
    final = tiny_result.model.predict(tiny_record.images, verbose=0)[..., 0]
    diff = np.abs(tiny_result.snapshots.at(3).astype(int) - np.rint(final * 255).astype(int))
    assert diff.max() <= 1


def test_save_and_load_round_trip(tiny_result, tiny_record, tmp_path):
    tiny_result.save(tmp_path / "run")
    assert {p.name for p in (tmp_path / "run").iterdir()} == {
        "model.keras", "history.json", "config.json", "split.json", "snapshots.npz"}
    back = TrainingResult.load(tmp_path / "run")
    assert back.history == tiny_result.history
    assert back.split == tiny_result.split and back.config == tiny_result.config
    assert back.preset == get_preset("seed", height=64, width=32, epochs=3).resolved()  # "auto" saved as chosen
    for name in ("epochs", "images", "masks", "predictions"):
        assert np.array_equal(getattr(back.snapshots, name), getattr(tiny_result.snapshots, name))
    assert back.snapshots.frame_ids == tiny_result.snapshots.frame_ids
    np.testing.assert_array_equal(back.model.predict(tiny_record.images, verbose=0),
                                  tiny_result.model.predict(tiny_record.images, verbose=0))
    with pytest.raises(FileNotFoundError, match="history.json"):
        TrainingResult.load(tmp_path)


def test_same_seed_same_history(tiny_result, tiny_record, tiny_preset):
    again = train(build_model(tiny_preset, seed=0), tiny_record, seed_split(tiny_record), tiny_preset,
                  seed=0, progress=False, options=TrainOptions(snapshot_epochs=(3,)))
    assert again.history == tiny_result.history
    assert again.snapshots.epochs.tolist() == [3]


def test_augmented_cpu_preset_runs_several_steps(tiny_record, capsys):
    preset = get_preset("cpu", height=64, width=32, epochs=2, steps_per_epoch=3)
    result = train(build_model(preset), tiny_record, seed_split(tiny_record), preset,
                   options=TrainOptions(snapshot_every=2, snapshot_frames=("dance_00090", "dance_00120")))
    assert result.config["steps_per_epoch"] == 3
    assert result.snapshots.predictions.shape == (2, 2, 64, 32)
    out = capsys.readouterr().out
    assert "epoch    1/2" in out and "held-out" in out


def test_evaluate_reports_heldout_frames(tiny_result, tiny_record):
    table = tiny_result.evaluate(tiny_record)
    assert [row.frame_id for row in table] == list(tiny_result.split.heldout_ids)
    assert 0.0 <= table.mean("iou") <= 1.0


def test_bad_training_arguments(tiny_record, tiny_preset):
    model = build_model(tiny_preset)
    split = seed_split(tiny_record)
    with pytest.raises(TypeError, match="seed"):
        train(model, tiny_record, split, tiny_preset, seed=1.5)
    with pytest.raises(DataError, match="training split is empty"):
        train(model, tiny_record, Split((), tiny_record.ids), tiny_preset)
    with pytest.raises(DataError, match="size"):
        train(model, load_record(size=(32, 16)), split, tiny_preset)
    with pytest.raises(TypeError, match="snapshot_every"):
        TrainOptions(snapshot_every=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        train(model, tiny_record, split, tiny_preset, epochs=3)  # the epochs are the preset's


def test_presets_are_frozen_data():
    seed = PRESETS["seed"]
    assert (seed.height, seed.width, seed.epochs, seed.batch_size, seed.learning_rate) == (1024, 512, 500, 3, 5e-4)
    assert seed.filters == (4, 32, 256) and seed.dropout == (0.1, 0.25) and not seed.augment
    assert seed.dtype == "auto" and seed.schedule == "constant" and not seed.skip_connections
    with pytest.raises(Exception):
        seed.epochs = 3
    assert Preset.from_dict(PRESETS["cpu"].to_dict()) == PRESETS["cpu"]
    assert "learning_rate" in str(PRESETS["cpu"])
    with pytest.raises(TypeError, match="no field"):
        get_preset("cpu", epoch=3)
    with pytest.raises(TypeError, match="epochs must be an int"):
        get_preset("cpu", epochs="3")
    with pytest.raises(KeyError, match="unknown preset"):
        get_preset("gpu")


@pytest.mark.real_data
def test_real_record_beats_the_all_background_guess():
    from conftest import real_record_or_skip

    record = load_record(real_record_or_skip(), "136", size=(128, 64))
    split = seed_split(record)
    assert split.heldout_ids == ("136_00120", "136_00150", "136_00300", "136_00360")
    preset = get_preset("cpu", height=128, width=64, epochs=30)
    result = train(build_model(preset), record, split, preset, progress=False, options=TrainOptions(snapshot_epochs=()))
    table = result.evaluate(record)
    print(f"real record 136, held-out IoU after 30 epochs at 128 x 64: {table.mean('iou'):.3f}")
    # The all-background guess scores IoU 0 (and pixel accuracy ~0.9): demand a clear margin over it.
    assert table.mean("iou") > 0.5
    assert table.mean("accuracy") > 0.93


def test_validate_every_scores_held_out_frames_every_n_epochs_and_at_the_end(tiny_cli_run):
    import math

    from cae_tutorial.plots import loss_curves, metric_curves

    # The shared CLI run (conftest's TINY_CLI_RUN: 3 epochs, --validate-every 2, through train's TrainOptions),
    # read back as a user reads a saved run: epoch 1 unscored, epoch 2 scored as the second, epoch 3 as the last.
    run_dir, _ = tiny_cli_run
    result = TrainingResult.load(run_dir, load_model=False)
    scored = [not math.isnan(v) for v in result.history["val_iou"]]
    assert scored == [False, True, True]  # epoch 2 (every second), and the last one always
    assert all(len(values) == 3 for values in result.history.values())
    assert not math.isnan(result.final("iou")) and not math.isnan(result.final("loss"))
    lines = metric_curves(result).axes[0].get_lines()
    assert [len(line.get_xdata()) for line in lines] == [3, 2] * 3  # training every epoch, held-out when scored
    assert len(loss_curves(result).axes[0].get_lines()[1].get_xdata()) == 2
    for bad in (0, 1.5, True):
        with pytest.raises(TypeError, match="validate_every"):
            TrainOptions(validate_every=bad)
