"""The seed's figures, each a function that returns a matplotlib Figure (save it with fig.savefig)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

PREDICTION_COLOUR = np.array([1.0, 0.1, 0.6], np.float32)
TRUTH_COLOUR = np.array([0.1, 0.9, 0.3], np.float32)


def _unit(array) -> np.ndarray:
    """float32 in [0, 1] from uint8 (0..255) or float input."""
    array = np.asarray(array)
    return array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)


def overlay(image: np.ndarray, mask: np.ndarray, colour=PREDICTION_COLOUR, image_weight: float = 0.4) -> np.ndarray:
    """The seed's overlay: image_weight * frame + (1 - image_weight) * coloured mask, where the mask is on."""
    image = _unit(image)
    mask = _unit(mask).reshape(image.shape[:2])
    blended = image_weight * image + (1.0 - image_weight) * mask[..., None] * np.asarray(colour, np.float32)
    return np.where(mask[..., None] > 0.5, blended, image)


def _grid(rows: int, cols: int, cell: tuple[float, float] = (1.6, 3.0)):
    """A figure with rows x cols image axes, ticks off."""
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def training_grid(images: np.ndarray, masks: np.ndarray, frame_ids) -> plt.Figure:
    """Training data: each frame above its mask."""
    fig, axes = _grid(2, len(frame_ids))
    for col, frame_id in enumerate(frame_ids):
        axes[0, col].imshow(images[col])
        axes[0, col].set_title(frame_id, fontsize=9)
        axes[1, col].imshow(np.squeeze(masks[col]), cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_ylabel("frame")
    axes[1, 0].set_ylabel("mask")
    fig.tight_layout()
    return fig


def loss_curves(history: dict) -> plt.Figure:
    """Training and held-out loss per epoch; a widening gap means overfitting."""
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], label="training")
    if "val_loss" in history:
        ax.plot(epochs, history["val_loss"], label="held-out")
    ax.set(xlabel="epoch", ylabel="Dice + focal loss", title="Loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_curves(history: dict, metrics=("iou", "dice", "accuracy")) -> plt.Figure:
    """Each metric per epoch, training (solid) and held-out (dashed)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for i, metric in enumerate(metrics):
        colour = f"C{i}"
        ax.plot(epochs, history[metric], color=colour, label=f"{metric} (training)")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "--", color=colour, label=f"{metric} (held-out)")
    ax.set(xlabel="epoch", ylabel="score", ylim=(0, 1.02), title="Metrics (threshold 0.5)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def evolution_grid(snapshots, every: int | None = None, frame_ids=None, max_columns: int = 8) -> plt.Figure:
    """Predictions over training: one row per frame, one column per recorded epoch (every `every` epochs)."""
    epochs = [int(e) for e in snapshots.epochs]
    if every is None:
        every = max(1, (epochs[-1] + max_columns - 2) // (max_columns - 1))
    chosen = [e for e in epochs if e % every == 0 or e == epochs[-1]][-max_columns:]
    if chosen[0] != epochs[0] and len(chosen) < max_columns:
        chosen.insert(0, epochs[0])
    frame_ids = list(frame_ids or snapshots.frame_ids)
    rows = [snapshots.frame_ids.index(i) for i in frame_ids]
    fig, axes = _grid(len(rows), len(chosen) + 1, cell=(1.3, 2.5))
    for r, row in enumerate(rows):
        axes[r, 0].imshow(snapshots.images[row])
        axes[r, 0].set_ylabel(frame_ids[r], fontsize=8)
        for c, epoch in enumerate(chosen, start=1):
            axes[r, c].imshow(snapshots.at(epoch)[row], cmap="gray", vmin=0, vmax=255)
            if r == 0:
                axes[r, c].set_title(f"epoch {epoch}", fontsize=9)
    axes[0, 0].set_title("frame", fontsize=9)
    fig.tight_layout()
    return fig


def overlays(images: np.ndarray, masks: np.ndarray, probabilities: np.ndarray, frame_ids,
             threshold: float = 0.5, scores=None) -> plt.Figure:
    """Per frame: the truth and the prediction overlaid on the frame (0.4 frame + 0.6 mask), side by side."""
    fig, axes = _grid(2, len(frame_ids))
    for col, frame_id in enumerate(frame_ids):
        predicted = (np.squeeze(probabilities[col]) >= threshold).astype(np.float32)
        axes[0, col].imshow(overlay(images[col], np.squeeze(masks[col]), TRUTH_COLOUR))
        axes[1, col].imshow(overlay(images[col], predicted))
        title = frame_id if scores is None else f"{frame_id}\nIoU {scores[col]:.2f}"
        axes[0, col].set_title(title, fontsize=9)
    axes[0, 0].set_ylabel("truth")
    axes[1, 0].set_ylabel("prediction")
    fig.tight_layout()
    return fig


def iou_bars(table, reference: float | None = None, reference_label: str = "baseline") -> plt.Figure:
    """Per-frame IoU as bars, the mean as a line (and an optional reference line)."""
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(table) + 2), 3.5))
    ids = [row.frame_id for row in table]
    ax.bar(ids, [row.iou for row in table], color="C0")
    ax.axhline(table.mean("iou"), color="C1", label=f"mean {table.mean('iou'):.3f}")
    if reference is not None:
        ax.axhline(reference, color="C3", linestyle="--", label=f"{reference_label} {reference:.3f}")
    ax.set(ylabel="IoU", ylim=(0, 1), title="IoU per frame")
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
