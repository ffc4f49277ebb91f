"""The seed's figures, each a function that returns a matplotlib Figure (save it with fig.savefig)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cae_tutorial.metric_names import METRIC_HEADINGS, history_key

#: RGB in [0, 1] of the predicted mask in overlays.
PREDICTION_COLOUR = (1.0, 0.1, 0.6)
#: RGB in [0, 1] of the true mask in overlays.
TRUTH_COLOUR = (0.1, 0.9, 0.3)
#: RGB in [0, 1] of the error map in show_results (Okabe-Ito colours, distinct with colour blindness too).
ERROR_COLOURS = {"correct person": (0.0, 0.62, 0.45), "false person": (0.84, 0.37, 0.0),
                 "missed person": (0.0, 0.45, 0.70)}


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


def loss_curves(history) -> plt.Figure:
    """Training and held-out loss per epoch (of a history or a TrainingResult); a widening gap means overfitting."""
    loss = getattr(history, "config", {}).get("compile", {}).get("loss", "dice_focal")
    history = getattr(history, "history", history)
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], label="training")
    if "val_loss" in history:
        ax.plot(epochs, history["val_loss"], label="held-out")
    ax.set(xlabel="epoch", ylabel="Dice + focal loss" if loss == "dice_focal" else f"loss ({loss})", title="Loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_curves(history, metrics=("iou", "dice", "accuracy")) -> plt.Figure:
    """Each metric per epoch (names as in the tables, any case), training (solid) and held-out (dashed)."""
    history = getattr(history, "history", history)
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    metrics = [history_key(history, metric, "training") for metric in metrics]
    for i, metric in enumerate(metrics):
        colour = f"C{i}"
        name = METRIC_HEADINGS.get(metric, metric)
        ax.plot(epochs, history[metric], color=colour, label=f"{name} (training)")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "--", color=colour, label=f"{name} (held-out)")
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


def _iou_per_frame(scores, frame_ids) -> list[float] | None:
    """IoU per frame from a MetricsTable (matched by frame id), a {frame id: IoU} dict or a list in frame order."""
    if scores is None:
        return None
    if isinstance(scores, dict):
        found = scores
    elif all(hasattr(row, "frame_id") for row in scores):
        found = {row.frame_id: row.iou for row in scores}
    else:
        values = [float(v) for v in scores]
        if len(values) != len(frame_ids):
            raise ValueError(f"scores holds {len(values)} values for {len(frame_ids)} frames; give one per frame, "
                             "or the MetricsTable of result.evaluate(record)")
        return values
    missing = [i for i in frame_ids if i not in found]
    if missing:
        raise ValueError(f"scores has no IoU for frames {missing}; evaluate those frames, e.g. "
                         "result.evaluate(record, frame_ids)")
    return [float(found[i]) for i in frame_ids]


def overlays(images: np.ndarray, masks: np.ndarray, probabilities: np.ndarray, frame_ids,
             threshold: float = 0.5, scores=None) -> plt.Figure:
    """Per frame: the truth and the prediction overlaid on the frame (0.4 frame + 0.6 mask), side by side.

    scores: IoU per frame to print, as the MetricsTable of result.evaluate(record), a {frame id: IoU} dict or a list.
    """
    scores = _iou_per_frame(scores, frame_ids)
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


def error_map(image: np.ndarray, truth: np.ndarray, predicted: np.ndarray, image_weight: float = 0.35) -> np.ndarray:
    """The frame, dimmed to grey, with correct, false and missed person pixels in ERROR_COLOURS."""
    image = _unit(image)
    truth, predicted = (np.reshape(a, image.shape[:2]) > 0.5 for a in (truth, predicted))
    out = np.repeat(image.mean(axis=-1, keepdims=True), 3, axis=-1) * image_weight + (1 - image_weight)
    for where, colour in zip((truth & predicted, ~truth & predicted, truth & ~predicted), ERROR_COLOURS.values()):
        out[where] = colour
    return out


def show_results(result, record, frame_ids=None, threshold: float = 0.5, max_frames: int = 10) -> plt.Figure:
    """One look at a run: per frame (a column), the frame, its truth, the prediction, the errors and the IoU.

    frame_ids: the frames to show (default: the run's training and held-out frames in the record, at most
    max_frames of them, at most 3 training frames when they must be cut). Titles mark each frame as training or
    held-out; the error row colours correct, false and missed person pixels (legend below).
    """
    from matplotlib.patches import Patch

    from cae_tutorial.losses import iou_score
    from cae_tutorial.training import predict

    if getattr(result, "model", None) is None:
        raise ValueError("show_results needs the run's model; load it with "
                         "TrainingResult.load(folder, load_model=True)")
    split = result.split
    if frame_ids is None:
        training = [i for i in record.ids if i in split.train_ids]
        heldout = [i for i in record.ids if i in split.heldout_ids]
        training = training[:max(max_frames - len(heldout), min(3, len(training)))]
        chosen = {*training, *heldout[:max_frames - len(training)]}
        frame_ids = [i for i in record.ids if i in chosen]
    frame_ids = [frame_ids] if isinstance(frame_ids, str) else list(frame_ids)
    part = record.subset(frame_ids)
    probabilities = predict(result.model, part.images,
                            from_logits=result.config.get("compile", {}).get("from_logits"))
    predicted = (probabilities >= threshold).astype(np.float32)
    ious = iou_score(part.masks, probabilities, threshold)
    fig, axes = _grid(4, len(frame_ids))
    for col, frame_id in enumerate(frame_ids):
        role = ("training" if frame_id in split.train_ids else
                "held-out" if frame_id in split.heldout_ids else "not in the split")
        axes[0, col].imshow(part.images[col])
        axes[1, col].imshow(np.squeeze(part.masks[col]), cmap="gray", vmin=0, vmax=1)
        axes[2, col].imshow(np.squeeze(probabilities[col]), cmap="gray", vmin=0, vmax=1)
        axes[3, col].imshow(error_map(part.images[col], part.masks[col], predicted[col]))
        axes[0, col].set_title(f"{frame_id}\n{role}\nIoU {ious[col]:.2f}", fontsize=8,
                               color="C0" if role == "training" else "black",
                               fontweight="normal" if role == "training" else "bold")
    for row, label in enumerate(("frame", "truth", "prediction", "errors")):
        axes[row, 0].set_ylabel(label)
    fig.legend(handles=[Patch(color=c, label=name) for name, c in ERROR_COLOURS.items()], loc="lower center",
               ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig
