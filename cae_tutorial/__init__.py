"""cae-tutorial: image segmentation masks with a convolutional autoencoder (CAE) in TensorFlow / Keras 3.

The course is the notebooks, in order: ``notebooks/01_segmentation_masks.ipynb`` to ``08_full_dataset``
(``jupyter lab notebooks/``, or ``cae-tutorial course`` to run them headless). The library is Keras pieces that
compose with your own ``model.fit``::

    import cae_tutorial as cae

    preset = cae.get_preset("cpu")                        # print(preset) shows every setting
    record = cae.load_record(size=preset.size)            # the embedded record, or load_record(DIR, "136", ...)
    split = cae.seed_split(record)                        # or cae.split_by_ids(record, ["136_00090", ...])
    model = cae.build_model(preset, seed=0)
    model.compile(**cae.compile_settings(preset))         # or compile_settings(preset, loss=..., optimizer=...)
    model.optimizer.build(model.trainable_variables)      # Adam's variables before fit: its step is traced once
    logs, snapshots = cae.EpochLogs(), cae.PredictionSnapshots(record)
    model.fit(cae.training_dataset(record, split, preset, seed=0, model=model), epochs=preset.epochs,
              steps_per_epoch=cae.steps_per_epoch(split, preset),
              validation_data=cae.validation_dataset(record, split), callbacks=[snapshots, logs],
              shuffle=False, verbose=0)                   # the dataset shuffles itself
    result = cae.TrainingResult.from_fit(model, logs, split, snapshots, preset=preset, record=record, seed=0)

    result = cae.train(cae.build_model(preset), record, split, preset)   # the same, in one call
    cae.evaluate(result, record)                          # per-frame IoU / Dice / accuracy, held-out frames
    cae.predict(result, frames, size="original")          # probabilities at each frame's own size
    cae.show_results(result, record)                      # frame, truth, prediction, errors, IoU per frame
    cae.EpochScrubber(result)                             # in Jupyter: scrub the predictions over epochs

Bring your own loss (compile the model yourself, or ``train(..., loss=...)``) or your own model (see
``help(cae_tutorial.contract)``). Names below load on first use, so ``import cae_tutorial`` does not import
TensorFlow, and it changes no global state (no import hook, no environment variable).

Saved models: the package's layers, losses and metrics (CoordinateChannels, DiceFocalLoss, PersonIoU, BinaryDice)
are registered with Keras by ``import cae_tutorial`` when Keras is already loaded, and by the first top-level name
that loads it (``cae_tutorial.build_model``, ``cae_tutorial.losses`` ...). So ``import keras, cae_tutorial`` then
``keras.models.load_model("run/model.keras")`` works in a fresh process. Keras 3 imports a saved class's module by
itself only for its own packages (keras, keras_hub ...), so with the package imported first and nothing of it used
yet, ``import cae_tutorial.keras_objects`` before loading.
"""

import importlib as _importlib
import importlib.metadata as _metadata
import sys as _sys

try:
    __version__ = _metadata.version("cae-tutorial")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

#: The curated top level: name -> the module that defines it.
_EXPORTS = {
    "get_preset": "presets",
    "load_record": "data",
    "seed_split": "data",
    "split_by_ids": "data",
    "build_cae": "model",
    "build_model": "training",
    "compile_settings": "training",
    "package_metrics": "training",
    "training_dataset": "training",
    "validation_dataset": "training",
    "steps_per_epoch": "training",
    "train": "training",
    "TrainOptions": "training",
    "PredictionSnapshots": "callbacks",
    "EpochLogs": "callbacks",
    "ScoreLastEpoch": "callbacks",
    "TrainingResult": "results",
    "Snapshots": "results",
    "predict": "evaluation",
    "predict_masks": "evaluation",
    "evaluate": "evaluation",
    "compare": "verdicts",
    "Predictor": "evaluation",
    "show_results": "plots",
    "EpochScrubber": "widgets",
    "RunBackup": "resume",
}
_SUBMODULES = ("baseline", "callbacks", "contract", "data", "errors", "evaluation", "folders", "keras_objects",
               "losses", "memory", "metric_names", "model", "palette", "pipeline", "plots", "presets",
               "reading", "results", "resume", "run_files", "synthetic", "training", "upsampling", "verdicts",
               "widgets")


def _register_keras_objects() -> None:
    """Once Keras is loaded: import the modules whose classes carry @keras.saving.register_keras_serializable."""
    if "keras" in _sys.modules:  # never imports Keras (and TensorFlow) itself
        _importlib.import_module(f"{__name__}.keras_objects")


_register_keras_objects()

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    """Import a top-level name's module on first use (TensorFlow loads only when a name needs it)."""
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}; its top level is {sorted(_EXPORTS)}")
    _register_keras_objects()  # the name may have loaded Keras: its saved models load from now on
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The curated names, the submodules and the module's own attributes."""
    return sorted({*_EXPORTS, *_SUBMODULES, *(k for k in globals() if not k.startswith("_") or k.startswith("__"))})
