"""What a training run leaves: the predictions recorded per epoch (Snapshots) and the TrainingResult, from your
own ``model.fit`` or from ``train``, saved as one folder and loaded back.

    logs, snapshots = EpochLogs(), PredictionSnapshots(record)
    model.fit(..., callbacks=[snapshots, logs])
    result = TrainingResult.from_fit(model, logs, split, snapshots, preset=preset, record=record, seed=0)
    result.save("runs/mine"); TrainingResult.load("runs/mine")

Layouts, stored as uint8 (a quarter of float32's memory, plenty for pictures): frames (N, H, W, 3) 0..255, true
masks (N, H, W) 0 or 255, predictions (n_epochs, N, H, W) 0..255 (probability x 255). Snapshots also takes float
frames in [0, 1], bool or float masks in {0, 1} and float probabilities in [0, 1] and converts them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cae_tutorial.data import DataError, Split
from cae_tutorial.folders import encoded, save_model_file, write_file, write_json, write_whole
from cae_tutorial.metric_names import history_key
from cae_tutorial.presets import Preset

# Keras (and TensorFlow) load only when a model is involved: loading a run without its model, as the scrub page
# does, stays light.


def _uint8(values, name: str, ndim: int, binary: bool = False) -> np.ndarray:
    """uint8 from uint8 as it is, or from float / bool in [0, 1] (x 255); a wrong rank is one line naming the layout."""
    array = np.asarray(values)
    if array.ndim == ndim + 1 and array.shape[-1] == 1 and name != "images":
        array = array[..., 0]
    if array.ndim != ndim:
        layouts = {"images": "(N, H, W, 3)", "masks": "(N, H, W)", "predictions": "(n_epochs, N, H, W)"}
        raise ValueError(f"Snapshots {name} have shape {array.shape}; give {layouts[name]}: uint8 0..255, or float "
                         "in [0, 1]" + (" (or bool)" if binary else ""))
    if array.dtype == np.uint8:
        return (array > 0).astype(np.uint8) * 255 if binary and array.max(initial=0) == 1 else array
    if array.dtype == bool or np.issubdtype(array.dtype, np.floating):
        if binary:
            return (array.astype(np.float32) >= 0.5).astype(np.uint8) * 255
        return np.clip(np.rint(array.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"Snapshots {name} are {array.dtype}; give uint8 0..255 or float in [0, 1]")


@dataclass(repr=False)
class Snapshots:
    """Predictions recorded at some epochs, with their frames and true masks (layouts in the module's docstring)."""

    epochs: np.ndarray
    frame_ids: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    predictions: np.ndarray

    def __post_init__(self):
        self.epochs = np.asarray(self.epochs, dtype=int).reshape(-1)
        self.frame_ids = tuple(str(i) for i in self.frame_ids)
        self.images = _uint8(self.images, "images", 4)
        if self.images.shape[-1] != 3:
            raise ValueError(f"Snapshots images have shape {self.images.shape}; give (N, H, W, 3) RGB frames")
        self.masks = _uint8(self.masks, "masks", 3, binary=True)
        self.predictions = _uint8(self.predictions, "predictions", 4)
        frames, size = len(self.frame_ids), self.images.shape[1:3]
        if self.images.shape[0] != frames or self.masks.shape != (frames, *size) or (
                self.predictions.shape[1:] != (frames, *size) and len(self.epochs)) or \
                len(self.predictions) != len(self.epochs):
            raise ValueError(f"Snapshots of {frames} frame ids got images {self.images.shape}, masks "
                             f"{self.masks.shape} and predictions {self.predictions.shape} at {len(self.epochs)} "
                             "epochs; give one image and mask per frame, and one prediction per frame and epoch")

    @classmethod
    def of(cls, callback, masks=None) -> "Snapshots":
        """The snapshots a PredictionSnapshots callback recorded (masks: when the callback was given none)."""
        masks = callback.masks if masks is None else masks
        if masks is None:
            raise ValueError("these snapshots know no true masks: build PredictionSnapshots from the record "
                             "(PredictionSnapshots(record)), or pass record= to TrainingResult.from_fit")
        return cls(np.array(callback.epochs, dtype=int), callback.frame_ids, callback.images, masks,
                   callback.stacked())

    @classmethod
    def empty(cls, size=(0, 0)) -> "Snapshots":
        """No frame at no epoch (a run that recorded none)."""
        height, width = size
        return cls(np.zeros(0, int), (), np.zeros((0, height, width, 3), np.uint8),
                   np.zeros((0, height, width), np.uint8), np.zeros((0, 0, height, width), np.uint8))

    def at(self, epoch: int) -> np.ndarray:
        """Predictions (uint8) recorded at the given epoch."""
        where = np.flatnonzero(self.epochs == epoch)
        if not len(where):
            raise KeyError(f"no snapshot at epoch {epoch}; recorded epochs are {self.epochs.tolist()}")
        return self.predictions[where[0]]

    def __repr__(self) -> str:
        epochs = self.epochs.tolist()
        at = f"epochs {epochs[0]} .. {epochs[-1]}" if epochs else "no epoch"
        height, width = self.images.shape[1:3]
        size = sum(a.nbytes for a in (self.images, self.masks, self.predictions)) / 1e6
        return (f"Snapshots({len(self.frame_ids)} frames of {height} x {width} at {len(epochs)} recorded {at}; "
                f"uint8, {size:.1f} MB)")


def _json_or_name(obj):
    """The Keras serialisation of a loss or optimiser when it is JSON-ready, else its name."""
    import keras

    from cae_tutorial.contract import loss_name

    try:
        serialized = keras.saving.serialize_keras_object(obj)
        json.dumps(serialized)
        return serialized
    except (TypeError, ValueError):
        return loss_name(obj)


def describe_compile(model, history: dict, from_logits: bool | None = None) -> dict:
    """What the model trained with, read from its public attributes (loss, optimizer) and the metrics it logged."""
    from cae_tutorial.contract import loss_name, outputs_logits

    logits = outputs_logits(model) if from_logits is None else bool(from_logits)
    metrics = sorted(key for key in history if not key.startswith("val_") and key != "loss")
    optimizer = getattr(model, "optimizer", None)
    return {"loss": loss_name(model.loss) if getattr(model, "loss", None) is not None else None,
            "optimizer": type(optimizer).__name__ if optimizer is not None else None,
            "metrics": metrics, "from_logits": logits,
            "loss_config": _json_or_name(model.loss) if getattr(model, "loss", None) is not None else None,
            "optimizer_config": _json_or_name(optimizer) if optimizer is not None else None}


def _layer_signature(model) -> list:
    """The layers' kinds and sizes: what tells one architecture from another."""
    return [(type(layer).__name__, getattr(layer, "filters", None), getattr(layer, "kernel_size", None),
             getattr(layer, "rate", None)) for layer in model.layers]


def from_preset(model, preset: Preset) -> bool:
    """Whether the model is the CAE the preset describes (same layers and sizes as build_cae builds from it)."""
    from cae_tutorial.model import build_cae

    if model.name not in ("cae", "cae_skip"):
        return False
    try:
        twin = build_cae(preset.input_shape, preset.filters, preset.kernel_size, preset.activation, preset.dropout,
                         skip_connections=preset.skip_connections, batch_norm=preset.batch_norm,
                         coordinates=preset.coordinates)
    except ValueError:
        return False
    return twin.count_params() == model.count_params() and _layer_signature(twin) == _layer_signature(model)


def describe_model(model, preset: Preset | None) -> dict:
    """The model that trained: its name, size, input and output, and whether it is the preset's CAE."""
    inputs = getattr(model, "inputs", None) or []
    built = preset is not None and from_preset(model, preset)
    description = {"name": model.name, "class": type(model).__name__, "parameters": int(model.count_params()),
                   "input_shape": list(inputs[0].shape[1:]) if len(inputs) == 1 else None,
                   "from_preset": built,
                   "conv_filters": [layer.filters for layer in model.layers if hasattr(layer, "filters")]}
    if preset is not None and not built:
        description["note"] = ("your own model: the preset's architecture fields (filters, kernel_size, activation, "
                               "dropout, skip_connections, batch_norm, coordinates) do not describe it; the preset "
                               "gave the training recipe only")
    return description


@dataclass(repr=False)
class TrainingResult:
    """What a training run leaves: history per epoch, snapshots, split, configuration and the model."""

    history: dict[str, list[float]]
    snapshots: Snapshots
    split: Split
    config: dict
    model: keras.Model | None = field(default=None, repr=False)

    @classmethod
    def from_fit(cls, model: keras.Model, history, split: Split, snapshots=None, *, preset: Preset | str | None = None,
                 record=None, seed: int | None = None, seconds: float | None = None,
                 config: dict | None = None) -> "TrainingResult":
        """The result of your own model.fit: scrubber, plots, evaluate and save work on it as on train's.

        history: the EpochLogs callback you passed to fit (its seconds are the fit's time), its .history, or the
        History fit returned (held-out scores every epoch; with validation_freq use EpochLogs, which keeps NaN in
        the epochs between). snapshots: the PredictionSnapshots callback you passed to fit, a Snapshots, or None.
        preset, record, seed: recorded in config.json (the preset as the training recipe; config["model"]
        describes the model itself). seconds: the fit's time, when history does not know it (None: unknown).
        """
        import keras

        from cae_tutorial.callbacks import EpochLogs, PredictionSnapshots
        from cae_tutorial.presets import get_preset

        if isinstance(history, EpochLogs):
            seconds = history.seconds if seconds is None else seconds
            history = history.history
        elif isinstance(history, keras.callbacks.History):
            history = history.history
        history = {key: [float(v) for v in values] for key, values in dict(history).items()}
        lengths = {len(values) for values in history.values()}
        if len(lengths) > 1:
            raise ValueError(f"the history's lists have different lengths ({sorted(lengths)}; fit with "
                             "validation_freq logs val_* only some epochs): pass the cae_tutorial.callbacks.EpochLogs "
                             "callback you gave fit, which keeps one value per epoch")
        preset = None if preset is None else get_preset(preset)
        if isinstance(snapshots, PredictionSnapshots):
            masks = None
            if snapshots.masks is None and record is not None:
                masks = record.subset(snapshots.frame_ids).masks
            snapshots = Snapshots.of(snapshots, masks)
        elif snapshots is None:
            snapshots = Snapshots.empty(tuple(record.size) if record is not None else (0, 0))
        from_logits = (config or {}).get("compile", {}).get("from_logits")
        size = list(record.size) if record is not None else list(snapshots.images.shape[1:3])
        described = {"preset": None if preset is None else preset.to_dict(),
                     "epochs": max(lengths, default=0), "seed": seed,
                     "record_root": None if getattr(record, "root", None) is None else Path(record.root).name,
                     "size": size, "train_seconds": None if seconds is None else round(float(seconds), 3),
                     "parameters": int(model.count_params()), "model": describe_model(model, preset)}
        described.update(config or {})
        described["compile"] = {**describe_compile(model, history, from_logits), **(config or {}).get("compile", {})}
        described = json.loads(json.dumps(described))  # JSON types now, so a saved and reloaded config compares equal
        return cls(history, snapshots, split, described, model)

    @property
    def preset(self) -> Preset:
        """The preset (training recipe) the run used."""
        if not self.config.get("preset"):
            raise ValueError("this run recorded no preset (TrainingResult.from_fit was given none)")
        return Preset.from_dict(self.config["preset"])

    def final(self, metric: str = "iou", part: str = "held-out") -> float:
        """A metric's value after the last epoch: held-out by default, part="training" for the training frames.

        Names as in the tables, any case: "iou", "IoU", "dice", "accuracy", "loss"; Keras' "val_iou" works too.
        """
        return float(self.history[history_key(self.history, metric, part)][-1])

    def __repr__(self) -> str:
        epochs = len(next(iter(self.history.values()), []))
        scores = ", ".join(f"{name} {self.history[f'val_{key}'][-1]:.3f}"
                           for key, name in (("iou", "IoU"), ("dice", "Dice"), ("accuracy", "accuracy"))
                           if f"val_{key}" in self.history)
        model = self.model.name if self.model is not None else "no model loaded"
        loss = self.config.get("compile", {}).get("loss") or "an unknown loss"
        seconds = self.config.get("train_seconds")
        took = "in an unrecorded time" if seconds is None or not math.isfinite(seconds) else f"in {seconds:.1f} s"
        return (f"TrainingResult({model}, {epochs} epochs of {loss} {took}; "
                f"{len(self.split.train_ids)} training and {len(self.split.heldout_ids)} held-out frames; "
                f"final held-out {scores or 'scores: none (no frame held out)'}; "
                f"snapshots of {len(self.snapshots.frame_ids)} frames at {len(self.snapshots.epochs)} epochs)")

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write model.keras, history.json, config.json, split.json and snapshots.npz as one new folder.

        The files go into a hidden sibling folder that is moved into place at the end, so folder always holds
        one complete run. A folder holding an earlier run raises FileExistsError unless overwrite=True.
        """
        return write_whole(folder, self._write, overwrite)

    def _write(self, folder: Path) -> None:
        """Write the run's files into an existing folder."""
        if self.model is not None:
            save_model_file(self.model, folder / "model.keras")
        write_json(folder / "history.json", self.history)
        write_json(folder / "config.json", self.config)
        write_json(folder / "split.json", self.split.to_dict())
        s = self.snapshots
        write_file(folder / "snapshots.npz", encoded(np.savez_compressed, epochs=s.epochs,
                                                     frame_ids=np.array(s.frame_ids), images=s.images,
                                                     masks=s.masks, predictions=s.predictions))

    @classmethod
    def load(cls, folder: str | Path, load_model: bool = True) -> "TrainingResult":
        """Read back a folder written by save(); a damaged file is a run_files.RunFileError naming it."""
        # run_files is the one reader of a saved run (the scrub page uses it without TensorFlow); it builds this
        # module's Snapshots, hence the import here.
        from cae_tutorial.run_files import read_saved_run

        run = read_saved_run(folder)
        model = None
        if load_model and (run.folder / "model.keras").is_file():
            import keras

            import cae_tutorial.losses  # noqa: F401  (registers the package's loss and layers for loading)
            import cae_tutorial.model  # noqa: F401

            model = keras.saving.load_model(run.folder / "model.keras")
        return cls(run.history, run.snapshots, run.split, run.config, model)

    def predict(self, frames, size="original", threshold: float | None = None, flip_average: bool | None = None,
                upsampling: str | None = None, input_scale: float | None = None):
        """The run's model on frames of any size (see cae_tutorial.evaluation.predict; None: its default)."""
        from cae_tutorial.evaluation import predict, predict_masks

        options = _given(flip_average=flip_average, upsampling=upsampling, input_scale=input_scale)
        if threshold is None:
            return predict(self, frames, size=size, **options)
        return predict_masks(self, frames, threshold, size=size, **options)

    def evaluate(self, record, frame_ids=None, threshold: float = 0.5, resolution: str | None = None,
                 flip_average: bool | None = None, upsampling: str | None = None, input_scale: float | None = None):
        """Per-frame IoU / Dice / accuracy of the run's model on its held-out frames (see evaluation.evaluate;
        None: its default)."""
        from cae_tutorial.evaluation import evaluate

        return evaluate(self, record, frame_ids, threshold=threshold, resolution=resolution,
                        **_given(flip_average=flip_average, upsampling=upsampling, input_scale=input_scale))

    def require_model(self):
        """The run's model, or one line saying how to load it."""
        if self.model is None:
            raise ValueError("this TrainingResult holds no model (loaded with load_model=False, or model.keras is "
                             "missing); load it with TrainingResult.load(folder, load_model=True) to evaluate")
        return self.model


def _given(**options) -> dict:
    """The options that were given (None: leave evaluation's default in place)."""
    return {name: value for name, value in options.items() if value is not None}


def no_heldout_error(split: Split) -> DataError:
    """The error of a run that held out no frame, asked for held-out scores."""
    return DataError(f"no frames to evaluate: this run held out none (all {len(split.train_ids)} trained); pass "
                     "frame_ids=[...] (or 'all') to score chosen frames (training frames measure the fit, not how the "
                     "model does on frames it has not seen)")
