"""The path to the full dataset: streaming from files, splits by record, several devices, resumable runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import TINY

from cae_tutorial import training
from cae_tutorial.data import DataError, load_record, seed_split, split_by_ids
from cae_tutorial.distribute import choose_strategy, global_batch_size, resolve_devices
from cae_tutorial.pipeline import (
    RecordFiles,
    decoded_dataset,
    list_record_files,
    split_by_records,
    split_records,
    streaming_dataset,
)
from cae_tutorial.presets import get_preset
from cae_tutorial.synthetic import write_dataset
from cae_tutorial.results import TrainingResult
from cae_tutorial.training import TrainOptions, build_model, train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dancers(tmp_path_factory):
    """Four generated records (dancers) of 3 frames each, drawn at 128 x 64, in the Kaggle layout."""
    return write_dataset(tmp_path_factory.mktemp("dancers"), n_records=4, frames_per_record=3, size=(128, 64))


def decoded(files: RecordFiles, **kwargs):
    """All frames of the decoded dataset as two arrays."""
    pairs = list(decoded_dataset(files, **kwargs).as_numpy_iterator())
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def test_streaming_gives_the_pixels_of_load_record():
    """Same frame, same size: the stream decodes with load_record's reader, so every value is equal."""
    files, record = list_record_files(size=TINY), load_record(size=TINY)
    assert files.ids == record.ids and len(files) == 10 and files.records == ("dance",)
    images, masks = decoded(files, cache=None)
    assert images.shape == record.images.shape and masks.shape == record.masks.shape
    assert images.dtype == np.float32 and set(np.unique(masks)) <= {0.0, 1.0}
    assert np.array_equal(images, record.images) and np.array_equal(masks, record.masks)
    assert files.load(files.ids[:2]).images.tolist() == record.images[:2].tolist()  # snapshots read as load_record


def test_masks_in_any_colour_mode_stream_as_load_record(tmp_path):
    """Palette, RGBA (alpha ignored) and grey masks: any nonzero colour is person, as data.py reads them."""
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    person = np.zeros((40, 24), np.uint8)
    person[8:30, 6:18] = 1
    image = Image.fromarray(rng.integers(0, 255, (40, 24, 3), dtype=np.uint8))
    rgba = np.zeros((40, 24, 4), np.uint8)
    rgba[..., 3] = 255  # opaque background must stay background
    rgba[..., 2] = person * 7
    palette = Image.fromarray(person, "P")
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    for name, mask in (("a_1", Image.fromarray(person * 255)), ("a_2", Image.fromarray(rgba, "RGBA")),
                       ("a_3", palette)):
        image.save(tmp_path / "images" / f"{name}.png")
        mask.save(tmp_path / "masks" / f"{name}.png")
    files, record = list_record_files(tmp_path, size=(16, 8)), load_record(tmp_path, size=(16, 8))
    _, masks = decoded(files, cache=None)
    assert np.array_equal(masks, record.masks)


def test_cache_in_memory_only_when_it_fits(tmp_path):
    files = list_record_files(size=TINY)
    reference = decoded(files, cache=None)
    for cache in ("auto", "memory", str(tmp_path / "frames.cache")):
        images, masks = decoded(files, cache=cache)
        assert np.array_equal(images, reference[0]) and np.array_equal(masks, reference[1])
    assert any(p.name.startswith("frames.cache") for p in tmp_path.iterdir()), "a cache file was written"
    assert files.decoded_bytes() == 10 * 64 * 32 * 4
    # "auto" caches in memory only when the decoded frames fit the budget twice (cache + shuffle buffer).
    from cae_tutorial.pipeline import _cache_mode

    assert _cache_mode(files, "auto", budget=2 * files.decoded_bytes()) == "memory"
    assert _cache_mode(files, "auto", budget=2 * files.decoded_bytes() - 1) == "none"
    assert _cache_mode(files, str(tmp_path / "x"), budget=0) == "file"
    for cache in (None, "memory", str(tmp_path / "shuffled.cache")):  # every mode shuffles the same frames
        shuffled = list(decoded_dataset(files, cache=cache, shuffle_seed=0).as_numpy_iterator())
        assert sorted(float(p[0].sum()) for p in shuffled) == pytest.approx(sorted(reference[0].sum((1, 2, 3))))


def test_streaming_batches_are_augmented_like_the_in_memory_ones():
    preset = get_preset("cpu", height=TINY[0], width=TINY[1])
    files = list_record_files(size=TINY)
    batch_images, batch_masks = next(iter(streaming_dataset(files, preset, seed=0)))
    assert batch_images.shape == (3, *TINY, 3) and batch_masks.shape == (3, *TINY, 1)
    assert set(np.unique(batch_masks.numpy())) <= {0.0, 1.0}
    plain = next(iter(streaming_dataset(files, preset, training=False, batch_size=10)))[0].numpy()
    assert not any(np.allclose(b, p, atol=1e-3) for b in batch_images.numpy() for p in plain), "augmented"


def test_list_record_files_errors(tmp_path, dancers):
    with pytest.raises(DataError, match="does not exist"):
        list_record_files(tmp_path / "nothing", size=TINY)
    with pytest.raises(DataError, match="record '999'"):
        list_record_files(dancers, "999", size=TINY)
    with pytest.raises(DataError, match="divide by 8"):
        list_record_files(dancers, size=(60, 30))
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "7_00001.png").write_bytes((dancers / "images" / "201_00060.png").read_bytes())
    with pytest.raises(DataError, match="masks is empty"):
        list_record_files(tmp_path, size=TINY)


def test_split_by_records_holds_out_whole_records(dancers):
    files = list_record_files(dancers, size=TINY)
    assert files.records == ("201", "202", "203", "204") and len(files) == 12
    split = split_by_records(files, holdout=0.25, seed=0)
    parts = split_records(split)
    assert len(parts["heldout"]) == 1 and len(parts["train"]) == 3 and not set(parts["train"]) & set(parts["heldout"])
    assert len(split.train_ids) == 9 and len(split.heldout_ids) == 3
    assert split_by_records(files.ids, 0.25, seed=0) == split, "seeded, and ids work as well as a listing"
    assert {split_records(split_by_records(files, 0.25, seed=s))["heldout"][0] for s in range(12)} != {
        parts["heldout"][0]}, "another seed holds out another record"
    assert len(split_records(split_by_records(files, 0.01))["heldout"]) == 1, "at least one held out"
    assert len(split_records(split_by_records(files, 0.99))["train"]) == 1, "at least one trains"
    with pytest.raises(DataError, match="at least 2 records"):
        split_by_records(load_record(size=TINY))
    with pytest.raises(DataError, match="holdout"):
        split_by_records(files, holdout=1.5)


def test_train_streams_from_files_and_keeps_only_shown_frames(dancers):
    preset = get_preset("cpu", height=TINY[0], width=TINY[1], epochs=1, steps_per_epoch=2)
    files = list_record_files(dancers, size=TINY)
    split = split_by_records(files, 0.25, seed=0)
    result = train(build_model(preset, 0), files, split, preset, seed=0, progress=False)
    assert set(result.history) >= {"loss", "val_loss", "val_iou"} and len(result.history["loss"]) == 1
    assert result.snapshots.frame_ids == split.train_ids[:4] + split.heldout_ids[:3]
    assert result.snapshots.predictions.shape == (2, 7, *TINY)
    assert result.config["records"] == split_records(split)
    table = result.evaluate(files.load(split.heldout_ids))
    assert len(table) == 3


def test_devices_without_gpus():
    assert resolve_devices("all") == ["/cpu:0"] and resolve_devices(1) == ["/cpu:0"]
    import tensorflow as tf

    assert choose_strategy("all") is tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="GPU"):
        resolve_devices(3)
    assert global_batch_size(get_preset("cpu"), None) == 3


TWO_REPLICAS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    # Two logical CPUs: must happen before anything in TensorFlow touches the devices.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from cae_tutorial.data import load_record, split_by_ids
    from cae_tutorial.distribute import choose_strategy
    from cae_tutorial.presets import get_preset
    from cae_tutorial.evaluation import predict
    from cae_tutorial.results import TrainingResult
    from cae_tutorial.training import TrainOptions, build_model, train

    replicas, out = int(sys.argv[1]), sys.argv[2]
    record = load_record(size=(64, 32))
    split = split_by_ids(record, record.ids[:4])
    # Comparable runs: no augmentation and no dropout (no random numbers drawn per replica), no batch norm;
    # the same global batch of 2 (1 per replica with two, 2 on one device), the same data order.
    preset = get_preset("seed", height=64, width=32, epochs=2, batch_size=2 // replicas, dropout=(0.0, 0.0))
    strategy = choose_strategy(["/cpu:0", "/cpu:1"] if replicas == 2 else 1)
    with strategy.scope():
        model = build_model(preset, seed=0)
    result = train(model, record, split, preset, seed=0, progress=False,
                   options=TrainOptions(strategy=strategy, snapshot_epochs=()))
    result.save(out)
    again = TrainingResult.load(out)
    same = float(np.abs(predict(again.model, record.images[:2]) - predict(result.model, record.images[:2])).max())
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "history": result.history,
                      "global_batch": result.config["global_batch_size"], "reload_difference": same}))
""")


@pytest.mark.slow
def test_two_cpu_replicas_train_like_one_device(tmp_path):
    """MirroredStrategy over two logical CPUs in a fresh process: trains, saves, reloads, and matches one device."""
    runs = {}
    for replicas in (2, 1):
        done = subprocess.run([sys.executable, "-c", TWO_REPLICAS, str(replicas), str(tmp_path / f"r{replicas}")],
                              check=False, capture_output=True, text=True, cwd=REPO, timeout=600,
                              env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr[-3000:]
        runs[replicas] = json.loads(done.stdout.strip().splitlines()[-1])
    two, one = runs[2], runs[1]
    assert two["replicas"] == 2 and one["replicas"] == 1 and two["global_batch"] == one["global_batch"] == 2
    assert two["reload_difference"] < 1e-5
    for key in ("loss", "val_loss"):
        assert two["history"][key] == pytest.approx(one["history"][key], rel=0.02), key
    print("two replicas", two["history"]["loss"], "one device", one["history"]["loss"])


class StopAfter(keras.callbacks.Callback):
    """Interrupts training (as a crash would) at the end of epoch k."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.k:
            raise KeyboardInterrupt(f"interrupted after epoch {self.k}")


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(tmp_path, tiny_record):
    """cpu preset (augmentation, dropout, cosine schedule): interrupted after 2 of 4 epochs, resumed, identical."""
    preset = get_preset("cpu", height=TINY[0], width=TINY[1], epochs=4)
    split = seed_split(tiny_record)
    whole = train(build_model(preset, 0), tiny_record, split, preset, seed=0, progress=False,
                  options=TrainOptions(backup_dir=tmp_path / "whole"))
    with pytest.raises(KeyboardInterrupt):
        train(build_model(preset, 0), tiny_record, split, preset, seed=0, progress=False,
              options=TrainOptions(backup_dir=tmp_path / "cut"), callbacks=[StopAfter(2)])
    assert {p.name for p in (tmp_path / "cut").iterdir()} == {"epoch-000002.npz", *(f"snapshot-00000{e}.npy"
                                                                                  for e in range(3))}
    resumed = train(build_model(preset, 0), tiny_record, split, preset, seed=0, progress=False,
                    options=TrainOptions(backup_dir=tmp_path / "cut"))
    assert not (tmp_path / "cut").exists(), "a finished run removes its backup"
    assert resumed.history == whole.history  # exactly, every metric of every epoch
    assert resumed.snapshots.epochs.tolist() == [0, 1, 2, 3, 4]
    assert np.array_equal(resumed.snapshots.predictions, whole.snapshots.predictions)
    for a, b in zip(resumed.model.get_weights(), whole.model.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_cli_split_by_records_stream_and_resume(tmp_path, dancers, monkeypatch, capsys):
    from cae_tutorial.cli import main

    out = tmp_path / "run"
    monkeypatch.setattr(training, "EpochProgress", lambda: StopAfter(1))
    assert main(["train", "--data", str(dancers), "--split", "records", "--holdout", "0.25", "--stream",
                 "--epochs", "2", "--height", "64", "--width", "32", "--output", str(out)]) == 130
    assert f"--resume {out}" in capsys.readouterr().err  # Ctrl-C: one line saying how to continue
    work = out.parent / f".{out.name}.in-progress"  # the run in progress lives beside its output
    assert (work / "backup" / "epoch-000001.npz").is_file() and not out.exists()
    assert json.loads((work / "train-options.json").read_text())["split"] == "records"
    monkeypatch.undo()
    assert main(["train", "--resume", str(out)]) == 0
    assert "resuming" in capsys.readouterr().out
    result = TrainingResult.load(out)
    assert len(result.history["loss"]) == 2 and result.snapshots.epochs.tolist() == [0, 1, 2]
    assert len(result.config["records"]["heldout"]) == 1 and len(result.split.heldout_ids) == 3
    assert not work.exists()  # finished: only the complete run is left
    assert main(["train", "--resume", str(tmp_path / "none")]) == 2
    assert "train-options.json is missing" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_frame_split_still_works_with_devices(tmp_path):
    from cae_tutorial.cli import main

    record = load_record(size=TINY)
    assert main(["train", "--epochs", "1", "--height", "64", "--width", "32", "--devices", "1",
                 "--train-ids", *record.ids[:2], "--output", str(tmp_path / "r")]) == 0
    assert TrainingResult.load(tmp_path / "r", load_model=False).split == split_by_ids(record, record.ids[:2])
    assert main(["train", "--epochs", "1", "--devices", "4", "--output", str(tmp_path / "x")]) == 2


@pytest.mark.notebooks
def test_full_dataset_notebook_records_its_numbers(fast_course):
    """Notebook 08 headless at tiny sizes (4 dancers of 3 frames), read from the shared course run (conftest's
    COURSE_TINY): the split, the scores and the pixel check."""
    out = fast_course[0]
    results = json.loads((out / "outputs" / "08_full_dataset.json").read_text())
    assert (out / "08_full_dataset.ipynb").is_file()
    assert (results["records"], results["frames"], results["epochs"], results["replicas"]) == (4, 12, 3, 1)
    assert len(results["train_records"]) == 3 and len(results["heldout_records"]) == 1
    assert not set(results["train_records"]) & set(results["heldout_records"])
    # 3 training dancers of 3 frames, their last frames held out: 6 to train on, 3 seen and 3 unseen held out.
    assert (results["train_frames"], results["seen_heldout_frames"], results["unseen_heldout_frames"]) == (6, 3, 3)
    assert 0 <= results["seen_heldout_iou"] <= 1 and 0 <= results["unseen_heldout_iou"] <= 1
    assert results["heldout_iou"] == results["unseen_heldout_iou"]
    assert results["pixel_difference"] == 0.0 and results["mask_difference"] == 0.0  # one reader for both
