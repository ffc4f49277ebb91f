"""Training with Keras ``model.fit``, prediction snapshots per epoch, and a result that saves and loads.

    keras.utils.set_random_seed(0)
    model = build_model(preset)                     # or build_cae(...) yourself
    result = train(model, record, split, preset)    # -> TrainingResult
    result.save("runs/cpu"); TrainingResult.load("runs/cpu")
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cae_tutorial.callbacks import EpochProgress, PredictionSnapshots, TimeBudget, to_uint8  # noqa: F401
from cae_tutorial.data import IMAGE_SUFFIXES, DataError, Record, Split, read_mask, resize_probabilities
from cae_tutorial.losses import MetricsTable, dice_focal_loss, per_frame_metrics, training_metrics
from cae_tutorial.model import build_cae
from cae_tutorial.pipeline import augment_pair, training_dataset  # noqa: F401
from cae_tutorial.presets import Preset, get_preset


def build_model(preset: Preset | str = "cpu", seed: int | None = 0) -> keras.Model:
    """The CAE a preset describes; seeds Keras first (when seed is not None) so weights are reproducible.

    dtype "auto" becomes the fastest policy for this machine (cae_tutorial.hardware.choose_dtype). A preset with
    progressive resizing gets a model that also takes its smaller training frames.
    """
    preset = get_preset(preset)
    dtype = preset.resolved_dtype
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = build_cae(preset.input_shape, preset.filters, preset.kernel_size, preset.activation, preset.dropout,
                      skip_connections=preset.skip_connections, batch_norm=preset.batch_norm,
                      dtype=None if dtype == "float32" else dtype)
    if preset.small_epochs:
        # Every layer is convolutional, so any size divisible by 8 flows through the same weights.
        model.input_spec = keras.layers.InputSpec(shape=(None, None, None, preset.input_shape[-1]))
    return model


def make_optimizer(preset: Preset, steps_per_epoch: int, epochs: int) -> keras.optimizers.Optimizer:
    """Adam with the preset's learning rate, constant or cosine-decayed over the whole run."""
    rate = preset.learning_rate
    if preset.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, steps_per_epoch * epochs), alpha=0.05)
    elif preset.schedule != "constant":
        raise ValueError(f"preset.schedule must be 'constant' or 'cosine', got {preset.schedule!r}")
    return keras.optimizers.Adam(rate)


def compile_model(model: keras.Model, preset: Preset, steps_per_epoch: int = 1, epochs: int | None = None,
                  loss=None) -> None:
    """Compile with Dice + focal loss (or `loss`), the training metrics and the preset's optimiser."""
    model.compile(optimizer=make_optimizer(preset, steps_per_epoch, epochs or preset.epochs),
                  loss=loss or dice_focal_loss(), metrics=training_metrics(), jit_compile=preset.jit_compile)


@dataclass
class Snapshots:
    """Predictions (uint8, (n_epochs, n_frames, H, W)) with their frames, true masks and epochs."""

    epochs: np.ndarray
    frame_ids: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    predictions: np.ndarray

    def at(self, epoch: int) -> np.ndarray:
        """Predictions (uint8) recorded at the given epoch."""
        where = np.flatnonzero(self.epochs == epoch)
        if not len(where):
            raise KeyError(f"no snapshot at epoch {epoch}; recorded epochs are {self.epochs.tolist()}")
        return self.predictions[where[0]]


@dataclass
class TrainingResult:
    """What a training run leaves: history per epoch, snapshots, split, configuration and the model."""

    history: dict[str, list[float]]
    snapshots: Snapshots
    split: Split
    config: dict
    model: keras.Model | None = field(default=None, repr=False)

    @property
    def preset(self) -> Preset:
        """The preset the run used."""
        return Preset.from_dict(self.config["preset"])

    def final(self, metric: str = "val_iou") -> float:
        """A metric's value after the last epoch."""
        return float(self.history[metric][-1])

    def save(self, folder: str | Path) -> Path:
        """Write model.keras, history.json, config.json, split.json and snapshots.npz into folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            self.model.save(folder / "model.keras")
        (folder / "history.json").write_text(json.dumps(self.history, indent=1))
        (folder / "config.json").write_text(json.dumps(self.config, indent=1))
        (folder / "split.json").write_text(json.dumps(self.split.to_dict(), indent=1))
        s = self.snapshots
        np.savez_compressed(folder / "snapshots.npz", epochs=s.epochs, frame_ids=np.array(s.frame_ids),
                            images=s.images, masks=s.masks, predictions=s.predictions)
        return folder

    @classmethod
    def load(cls, folder: str | Path, load_model: bool = True) -> "TrainingResult":
        """Read back a folder written by save()."""
        folder = Path(folder)
        if not (folder / "history.json").is_file():
            raise FileNotFoundError(f"{folder} holds no saved training result (history.json is missing); "
                                    "pass the folder given to TrainingResult.save or `cae-tutorial train --output`")
        with np.load(folder / "snapshots.npz") as npz:
            snapshots = Snapshots(npz["epochs"], tuple(str(i) for i in npz["frame_ids"]), npz["images"],
                                  npz["masks"], npz["predictions"])
        model = None
        if load_model and (folder / "model.keras").is_file():
            model = keras.saving.load_model(folder / "model.keras")
        return cls(json.loads((folder / "history.json").read_text()), snapshots,
                   Split.from_dict(json.loads((folder / "split.json").read_text())),
                   json.loads((folder / "config.json").read_text()), model)

    def evaluate(self, record: Record, frame_ids=None, threshold: float = 0.5, resolution: str | None = None,
                 flip_average: bool = False):
        """Per-frame IoU / Dice / accuracy of the model on frames of record (default: the held-out ones).

        resolution "original" scores what users see: probabilities predicted at the model's size, resized
        bilinearly to each frame's original size, against the original masks read from record.root.
        "model" scores at the model's size. Default: "original" whenever the original masks can be found.
        The table's `resolution` attribute says which was used. flip_average: see predict().
        """
        if resolution not in (None, "original", "model"):
            raise ValueError(f"resolution must be 'original' or 'model', got {resolution!r}")
        part = record.subset(frame_ids or self.split.heldout_ids)
        originals = original_masks(part) if resolution in (None, "original") else None
        if resolution == "original" and originals is None:
            raise DataError(f"the original masks of {list(part.ids)} are not found under {part.root}/masks; "
                            "pass resolution='model' or load the record from its folder")
        probabilities = predict(self.model, part.images, flip_average=flip_average)
        if originals is None:
            table = per_frame_metrics(part.ids, part.masks, probabilities, threshold)
            table.resolution = "model {} x {}".format(*part.size)
            return table
        table = MetricsTable()
        for frame_id, mask, probability in zip(part.ids, originals, probabilities):
            full = resize_probabilities(probability, mask.shape[:2])
            table.extend(per_frame_metrics([frame_id], mask[None], full[None], threshold))
        table.resolution = "original" + "".join(sorted({" {} x {}".format(*m.shape[:2]) for m in originals}))
        return table


def original_masks(record: Record) -> list[np.ndarray] | None:
    """The record's masks at their files' own size, read from record.root/masks (None where not found)."""
    folder = None if record.root is None else Path(record.root) / "masks"
    if folder is None or not folder.is_dir():
        return None
    files = {path.stem: path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES}
    if not all(frame_id in files for frame_id in record.ids):
        return None
    return [read_mask(files[frame_id]) for frame_id in record.ids]


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 4, flip_average: bool = False) -> np.ndarray:
    """Person probabilities (N, H, W, 1) float32 for frames (N, H, W, 3).

    flip_average: also predict the mirrored frames and average (test-time augmentation, twice the inference cost).
    """
    probabilities = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), np.float32)
    if flip_average:
        mirrored = np.asarray(model.predict(images[:, :, ::-1], batch_size=batch_size, verbose=0), np.float32)
        probabilities = (probabilities + mirrored[:, :, ::-1]) / 2
    return probabilities


def train(model: keras.Model, record: Record, split: Split, preset: Preset | str = "cpu", *, epochs: int | None = None,
          seed: int = 0, snapshot_frames=None, snapshot_every: int = 1, snapshot_epochs=None,
          progress: bool = True, callbacks=()) -> TrainingResult:
    """Train the model with model.fit on the split's training frames, scoring the held-out frames every epoch.

    snapshot_frames: ids to record predictions of (default: every frame of the record, training and held-out);
    snapshot_every / snapshot_epochs: when to record them (default: every epoch, plus epoch 0 before training).
    """
    preset = get_preset(preset).resolved()  # the run saves the dtype it really used, not "auto"
    epochs = preset.epochs if epochs is None else epochs
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise TypeError(f"epochs must be a positive int, got {epochs!r}")
    preset = preset.with_(epochs=epochs)  # progressive resizing and the saved config follow the epochs run
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if not split.train_ids:
        raise DataError("the training split is empty; name at least one frame id to train on")
    if tuple(model.input_shape[1:3]) != record.size:
        raise DataError(f"the model takes {model.input_shape[1:3]} frames but the record's are {record.size}; "
                        "load the record with size=(height, width) of the model")
    keras.utils.set_random_seed(seed)
    train_part, heldout_part = record.subset(split.train_ids), record.subset(split.heldout_ids)
    data = training_dataset(train_part.images, train_part.masks, preset, seed)
    steps = preset.steps_per_epoch or math.ceil(len(train_part) / preset.batch_size)
    compile_model(model, preset, steps, epochs)
    shown = record.subset(tuple(snapshot_frames) if snapshot_frames is not None else record.ids)
    snapshots = PredictionSnapshots(shown.ids, shown.images, snapshot_every, snapshot_epochs)
    extra = [EpochProgress()] if progress else []
    # Our own small dataset: Keras' adapter for arrays adds an AUTOTUNE prefetch, slow to tear down on 2 cores.
    validation = (tf.data.Dataset.from_tensor_slices((heldout_part.images, heldout_part.masks)).batch(4)
                  if len(heldout_part) else None)
    start = time.perf_counter()
    history = model.fit(data, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                        callbacks=[snapshots, *extra, *callbacks], shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    config = {"preset": preset.to_dict(), "epochs": epochs, "seed": seed, "steps_per_epoch": steps,
              "record_root": None if record.root is None else record.root.name, "size": list(record.size),
              "train_seconds": round(seconds, 3), "parameters": model.count_params()}
    config = json.loads(json.dumps(config))  # JSON types now, so a saved and reloaded config compares equal
    return TrainingResult(
        {k: [float(v) for v in values] for k, values in history.history.items()},
        Snapshots(np.array(snapshots.epochs, dtype=int), shown.ids, to_uint8(shown.images),
                  to_uint8(shown.masks[..., 0]), snapshots.stacked()),
        split, config, model)
