"""Resumable runs: Keras' BackupAndRestore in the run folder, plus the snapshots and history already recorded.

``train(..., backup_dir=RUN_DIR / "backup")`` writes, at the end of every epoch, Keras' checkpoint (weights,
optimiser state, epoch) and ``snapshots-partial.npz`` (the predictions recorded so far and the history). After an
interruption the same call continues from the last finished epoch; a finished run removes the backup.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from cae_tutorial.callbacks import PredictionSnapshots, append_logs

PARTIAL = "snapshots-partial.npz"


class ResumableSnapshots(PredictionSnapshots):
    """PredictionSnapshots that saves its state (and the epoch logs) each epoch and picks it up on resume."""

    def __init__(self, backup_dir, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = Path(backup_dir) / PARTIAL
        self.history: dict[str, list[float]] = {}
        self.seed_states = None
        if self.path.is_file():
            with np.load(self.path) as saved:
                self.epochs = [int(e) for e in saved["epochs"]]
                self.predictions = list(saved["predictions"])
                self.history = json.loads(str(saved["history"]))
                self.seed_states = saved["seed_states"]

    def _seed_variables(self) -> list:
        """The model's random-number states (dropout): not in Keras' weights file, yet needed for an exact resume."""
        return [v for v in self.model.variables if "seed_generator_state" in v.path]

    def on_train_begin(self, logs=None):
        """Keras hook: restore the random states of a resumed run, or record epoch 0 of a new one."""
        if self.seed_states is not None:
            for variable, state in zip(self._seed_variables(), self.seed_states):
                variable.assign(state)
        if not self.epochs:
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        """Keras hook: record as usual, keep the logs, then write the state beside Keras' backup."""
        super().on_epoch_end(epoch, logs)
        append_logs(self.history, logs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp.npz")
        np.savez(temporary, epochs=np.array(self.epochs, int), predictions=self.stacked(),
                 history=np.array(json.dumps(self.history)),
                 seed_states=np.array([np.asarray(v) for v in self._seed_variables()]))
        temporary.replace(self.path)  # whole or not at all, even if the run dies while writing

    def finish(self) -> None:
        """Remove the saved state once the run is complete (Keras removes its own checkpoint)."""
        self.path.unlink(missing_ok=True)
        if self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
            self.path.parent.rmdir()


def backup_callback(backup_dir) -> keras.callbacks.BackupAndRestore:
    """Keras' BackupAndRestore writing to backup_dir at every epoch's end."""
    return keras.callbacks.BackupAndRestore(str(backup_dir), save_freq="epoch", delete_checkpoint=True)


def finished_epochs(backup_dir) -> int:
    """Epochs a backed-up run has finished (0 when there is no backup to resume from)."""
    metadata = Path(backup_dir) / "training_metadata.json"
    return int(json.loads(metadata.read_text())["epoch"]) if metadata.is_file() else 0
