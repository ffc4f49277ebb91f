"""The seed's figures, each a function that returns a matplotlib Figure (save it with fig.savefig)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from cae_tutorial.metric_names import HELD_OUT, METRIC_HEADINGS, TRAINING, history_key

#: Azure: no object in the embedded or the real frames has this hue (the dancer's top is pink, the room warm).
PREDICTION_COLOUR = (0.0, 0.6, 1.0)
#: RGB in [0, 1] of the true mask in overlays.
TRUTH_COLOUR = (0.1, 0.9, 0.3)
#: Panel size (width, height) in inches of one portrait frame: large enough to tell truth from prediction.
PANEL = (2.4, 4.2)
# The error maps' colours and dimmed backdrop (show_results and the scrubber's error view), contrast-checked.
from cae_tutorial.palette import COLOUR_NAMES, ERROR_BACKGROUND, ERROR_COLOURS  # noqa: E402,F401


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


def _grid(rows: int, cols: int, cell: tuple[float, float] = PANEL):
    """A figure with rows x cols image axes, ticks off."""
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def frame_role(frame_id: str, split=None) -> str:
    """"training" or "held-out" (metric_names' part names) for a frame of the split ("" without a split)."""
    if split is None:
        return ""
    return TRAINING if frame_id in split.train_ids else HELD_OUT


def frame_title(frame_id: str, split=None) -> str:
    """A frame's id, with "train" or "held out" under it when a split is given."""
    role = frame_role(frame_id, split)
    return f"{frame_id}\n{role}" if role else frame_id


def architecture_diagram(model) -> plt.Figure:
    """The CAE's blocks left to right, each box sized by its output (height, channels), skips drawn as arcs."""
    names = [layer.name for layer in model.layers]
    blocks = ["frame"] + [n for n in ("coordinates",) if n in names] + sorted(
        {n.split("_")[0] for n in names if n.startswith(("encoder", "decoder"))},
        key=lambda n: (n.startswith("decoder"), n)) + [model.layers[-1].name]
    last = {b: next(l for l in reversed(model.layers) if l.name == b or l.name.startswith(b + "_")) for b in blocks}
    shapes = {b: tuple(last[b].output.shape[1:]) for b in blocks}
    producer = {id(layer.output): layer.name.split("_")[0] for layer in model.layers}  # which block made a tensor
    skips = [(producer[id(layer.input[1])], layer.name.split("_")[0])
             for layer in model.layers if layer.name.endswith("_skip")]
    top = max(s[0] for s in shapes.values())
    fig, ax = plt.subplots(figsize=(1.45 * len(blocks) + 1, 4.8))
    for x, block in enumerate(blocks):
        h, w, c = shapes[block]
        height = 0.7 + 2.3 * np.sqrt(h / top)
        colour = "C2" if block in ("frame", "coordinates") else "C0" if block.startswith("encoder") else \
            "C1" if block.startswith("decoder") else "C3"
        ax.add_patch(plt.Rectangle((x - 0.35, -height / 2), 0.7, height, color=colour, alpha=0.35))
        ax.text(x, height / 2 + 0.12, block, ha="center", va="bottom", fontsize=10)
        ax.text(x, 0, f"{h} x {w}\n x {c}\n= {h * w * c:,}", ha="center", va="center", fontsize=9)
        if x:
            ax.annotate("", (x - 0.37, 0), (x - 0.63, 0), arrowprops={"arrowstyle": "->"})
        if block.startswith("encoder") and not blocks[x + 1].startswith("encoder"):
            ax.text(x, -height / 2 - 0.12, "latent space", ha="center", va="top", fontsize=10, weight="bold")
    bottom = -1.75
    for source, target in skips:  # each skip a parabola in data units, deeper for a longer span, all inside the axes
        a, b = blocks.index(source), blocks.index(target)
        xs = np.linspace(a, b, 60)
        ys = -1.75 - (0.25 + 0.12 * (b - a)) * 4 * (xs - a) * (b - xs) / (b - a) ** 2
        ax.plot(xs[:-1], ys[:-1], color="C4", lw=1)
        ax.annotate("", (xs[-1], ys[-1]), (xs[-3], ys[-3]), arrowprops={"arrowstyle": "->", "color": "C4"})
        bottom = min(bottom, float(ys.min()))
    if skips:
        ax.text(len(blocks) / 2 - 0.5, bottom - 0.15, "skip connections (concatenated)", ha="center", va="top",
                color="C4", fontsize=10)
    ax.set(xlim=(-0.6, len(blocks) - 0.4), ylim=(min(-2.7, bottom - 0.6), 2.2),
           title=f"{model.name}: output shape (height x width x channels) of each block")
    ax.axis("off")
    fig.tight_layout()
    return fig


def augmentation_grid(images: np.ndarray, masks: np.ndarray, augmented: np.ndarray, augmented_masks: np.ndarray,
                      frame_ids) -> plt.Figure:
    """Training frames (top, truth overlaid) above one augmented batch of them (bottom, its mask overlaid)."""
    fig, axes = _grid(2, max(len(frame_ids), len(augmented)))
    for col, frame_id in enumerate(frame_ids):
        axes[0, col].imshow(overlay(images[col], np.squeeze(masks[col]), TRUTH_COLOUR))
        axes[0, col].set_title(frame_title(frame_id) + "\ntrain (as loaded)", fontsize=10)
    for col in range(len(augmented)):
        axes[1, col].imshow(overlay(augmented[col], np.squeeze(augmented_masks[col]), TRUTH_COLOUR))
        axes[1, col].set_title(f"augmented #{col + 1}", fontsize=10)
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("one augmented batch")
    fig.tight_layout()
    return fig


def threshold_grid(images: np.ndarray, masks: np.ndarray, probabilities: np.ndarray, frame_ids,
                   thresholds=(0.3, 0.5, 0.7), split=None) -> plt.Figure:
    """Per frame (rows): the truth, then the prediction thresholded at each value, with its IoU."""
    from cae_tutorial.losses import iou_score

    fig, axes = _grid(len(frame_ids), len(thresholds) + 1)
    for row, frame_id in enumerate(frame_ids):
        axes[row, 0].imshow(overlay(images[row], np.squeeze(masks[row]), TRUTH_COLOUR))
        axes[row, 0].set_title(f"{frame_title(frame_id, split)}\ntruth", fontsize=10)
        for col, threshold in enumerate(thresholds, start=1):
            predicted = (np.squeeze(probabilities[row]) >= threshold).astype(np.float32)
            iou = iou_score(masks[row:row + 1], probabilities[row:row + 1], threshold)[0]
            axes[row, col].imshow(overlay(images[row], predicted))
            axes[row, col].set_title(f"threshold {threshold:g}\nIoU {iou:.3f}", fontsize=10)
    fig.tight_layout()
    return fig


def training_grid(images: np.ndarray, masks: np.ndarray, frame_ids, split=None) -> plt.Figure:
    """Frames above their masks, each titled with its id (and "train" or "held out" when a split is given)."""
    fig, axes = _grid(2, len(frame_ids))
    for col, frame_id in enumerate(frame_ids):
        axes[0, col].imshow(images[col])
        axes[0, col].set_title(frame_title(frame_id, split), fontsize=10)
        axes[1, col].imshow(np.squeeze(masks[col]), cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_ylabel("frame")
    axes[1, 0].set_ylabel("mask")
    fig.tight_layout()
    return fig


def scored_epochs(values) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of the epochs (from 1) that have a value: held-out scores may come every few epochs only.

    Plot a history's curve with ax.plot(*scored_epochs(result.history["val_iou"])): a plain ax.plot of a list with
    NaN between the scored epochs draws no line at all.
    """
    values = np.asarray(values, dtype=float)
    epochs = np.arange(1, len(values) + 1)
    kept = ~np.isnan(values)
    return epochs[kept], values[kept]


def loss_curves(history) -> plt.Figure:
    """Training and held-out loss per epoch (history or TrainingResult); overfitting: held-out rises, training falls."""
    compiled = getattr(history, "config", {}).get("compile", {})
    loss = compiled.get("loss", "dice_focal")
    # A loss that weights the outline is another quantity than plain Dice + focal: the saved loss says which.
    weighted = (compiled.get("loss_config") or {}).get("config", {}).get("boundary_weight", 0) > 0
    history = getattr(history, "history", history)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(*scored_epochs(history["loss"]), label="training")
    if "val_loss" in history:
        ax.plot(*scored_epochs(history["val_loss"]), label="held-out")
    ax.set(xlabel="epoch", ylabel=(("Dice + boundary-weighted focal loss" if weighted else "Dice + focal loss")
                                    if loss == "dice_focal" else f"loss ({loss})"), title="Loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_curves(history, metrics=("iou", "dice", "accuracy")) -> plt.Figure:
    """Each metric per epoch (names as in the tables, any case), training (solid) and held-out (dashed)."""
    history = getattr(history, "history", history)
    fig, ax = plt.subplots(figsize=(7, 4))
    metrics = [history_key(history, metric, "training") for metric in metrics]
    for i, metric in enumerate(metrics):
        colour = f"C{i}"
        name = METRIC_HEADINGS.get(metric, metric)
        ax.plot(*scored_epochs(history[metric]), color=colour, label=f"{name} (training)")
        if f"val_{metric}" in history:
            ax.plot(*scored_epochs(history[f"val_{metric}"]), "--", color=colour, label=f"{name} (held-out)")
    ax.set(xlabel="epoch", ylabel="score", ylim=(0, 1.02), title="Metrics (threshold 0.5)")
    ax.legend(fontsize=9, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def spread_indices(count: int, wanted: int) -> np.ndarray:
    """Up to `wanted` indices spread evenly over range(count), first and last included."""
    return np.unique(np.linspace(0, count - 1, min(count, wanted)).round().astype(int))


def evolution_grid(snapshots, every: int | None = None, frame_ids=None, max_columns: int = 8,
                   split=None, epochs=None) -> plt.Figure:
    """Predictions over training: one row per frame (marked train / held out), one column per recorded epoch.

    Columns: `epochs` (recorded ones) if given; else every `every`-th epoch (the last max_columns of them); else
    max_columns epochs spread evenly over the recorded ones, the first and the last included.
    """
    recorded = [int(e) for e in snapshots.epochs]
    if epochs is not None:
        chosen = [int(e) for e in epochs]
        missing = [e for e in chosen if e not in recorded]
        if missing or not chosen:
            raise ValueError(f"epochs {missing or chosen} were not recorded; recorded: {recorded[:5]} ... "
                             f"{recorded[-1]}")
    elif every is None:
        chosen = [recorded[i] for i in spread_indices(len(recorded), max_columns)]
    else:
        chosen = [e for e in recorded if e % every == 0 or e == recorded[-1]][-max_columns:]
        if chosen[0] != recorded[0] and len(chosen) < max_columns:
            chosen.insert(0, recorded[0])
    frame_ids = list(frame_ids or snapshots.frame_ids)
    rows = [snapshots.frame_ids.index(i) for i in frame_ids]
    fig, axes = _grid(len(rows), len(chosen) + 1, cell=(1.7, 3.0))
    for r, row in enumerate(rows):
        axes[r, 0].imshow(snapshots.images[row])
        axes[r, 0].set_ylabel(frame_title(frame_ids[r], split), fontsize=10)
        for c, epoch in enumerate(chosen, start=1):
            axes[r, c].imshow(snapshots.at(epoch)[row], cmap="gray", vmin=0, vmax=255)
            if r == 0:
                axes[r, c].set_title(f"epoch {epoch}", fontsize=10)
    axes[0, 0].set_title("frame", fontsize=10)
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
             threshold: float = 0.5, scores=None, split=None) -> plt.Figure:
    """Per frame: the truth (green) above the prediction (azure), overlaid on the frame (0.4 frame + 0.6 mask).

    scores: IoU per frame to print, as the MetricsTable of result.evaluate(record), a {frame id: IoU} dict or a list.
    """
    scores = _iou_per_frame(scores, frame_ids)
    fig, axes = _grid(2, len(frame_ids))
    for col, frame_id in enumerate(frame_ids):
        predicted = (np.squeeze(probabilities[col]) >= threshold).astype(np.float32)
        axes[0, col].imshow(overlay(images[col], np.squeeze(masks[col]), TRUTH_COLOUR))
        axes[1, col].imshow(overlay(images[col], predicted))
        title = frame_title(frame_id, split) + ("" if scores is None else f"\nIoU {scores[col]:.3f}")
        axes[0, col].set_title(title, fontsize=10)
    axes[0, 0].set_ylabel("truth")
    axes[1, 0].set_ylabel("prediction")
    fig.tight_layout()
    return fig


def iou_bars(table, reference: float | None = None, reference_label: str = "baseline") -> plt.Figure:
    """Per-frame IoU as dots with their values, the mean as a line (and an optional reference line)."""
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(table) + 2), 3.5))
    ids = [row.frame_id for row in table]
    # Dots, not bars: the axis starts near the lowest score, and a bar's length from a cut axis would overstate
    # the differences between frames.
    ax.plot(ids, [row.iou for row in table], "o", color="C0", ms=7)
    for x, row in enumerate(table):
        ax.annotate(f"{row.iou:.3f}", (x, row.iou), textcoords="offset points", xytext=(0, 6), ha="center",
                    fontsize=8)
    ax.axhline(table.mean("iou"), color="C1", label=f"mean {table.mean('iou'):.3f}")
    if reference is not None:
        ax.axhline(reference, color="C3", linestyle="--", label=f"{reference_label} {reference:.3f}")
    low = min([row.iou for row in table] + [reference if reference is not None else 1.0])
    # Start the axis just below the lowest dot, so the spread between frames is visible.
    ax.set(ylabel="IoU", ylim=(max(0.0, low - 0.1), 1), title="IoU per frame")
    ax.tick_params(axis="x", rotation=45, labelsize=9)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def error_map(image: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The frame, dimmed to dark grey, with correct, false and missed person pixels in ERROR_COLOURS (floats)."""
    image = _unit(image)
    truth, predicted = (np.reshape(a, image.shape[:2]) > 0.5 for a in (truth, predicted))
    out = np.repeat(image.mean(axis=-1, keepdims=True), 3, axis=-1) * ERROR_BACKGROUND
    for where, colour in zip((truth & predicted, ~truth & predicted, truth & ~predicted), ERROR_COLOURS.values()):
        out[where] = colour
    return out


def show_results(result, record, frame_ids=None, threshold: float = 0.5, max_frames: int = 10) -> plt.Figure:
    """One look at a run: per frame (a column), the frame, its truth, the prediction, the errors and the IoU.

    frame_ids: the frames to show (default: the run's training and held-out frames in the record, at most
    max_frames of them, at most 3 training frames when they must be cut). Titles mark each frame as training or
    held-out; the error row colours correct, false and missed person pixels (legend below). The IoU is
    evaluate's, by its one resolution rule (each frame's original size when the mask files are found), and the
    figure says which; the pictures are at the model's size.
    """
    from matplotlib.patches import Patch

    from cae_tutorial.evaluation import evaluate, predict

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
    probabilities = predict(result, part.images, model_input_size=part.size)
    if probabilities.shape[1:3] != tuple(part.size):
        from cae_tutorial.data import resize_probabilities

        probabilities = resize_probabilities(probabilities, part.size)
    predicted = (probabilities >= threshold).astype(np.float32)
    table = evaluate(result, part, frame_ids, threshold=threshold)
    ious = table.column("iou")
    fig, axes = _grid(4, len(frame_ids))
    for col, frame_id in enumerate(frame_ids):
        role = (TRAINING if frame_id in split.train_ids else
                HELD_OUT if frame_id in split.heldout_ids else "not in the split")
        axes[0, col].imshow(part.images[col])
        axes[1, col].imshow(np.squeeze(part.masks[col]), cmap="gray", vmin=0, vmax=1)
        axes[2, col].imshow(np.squeeze(probabilities[col]), cmap="gray", vmin=0, vmax=1)
        axes[3, col].imshow(error_map(part.images[col], part.masks[col], predicted[col]))
        axes[0, col].set_title(f"{frame_id}\n{role}\nIoU {ious[col]:.2f}", fontsize=8,
                               color="C0" if role == "training" else "black",
                               fontweight="normal" if role == "training" else "bold")
    for row, label in enumerate(("frame", "truth", "prediction", "errors")):
        axes[row, 0].set_ylabel(label)
    fig.legend(handles=[Patch(facecolor=c, edgecolor="0.4", label=name)  # edged: the near-white shows on white
                        for name, c in ERROR_COLOURS.items()], loc="lower center", ncol=3, fontsize=8, frameon=False)
    resolution = table.resolution.replace("model", "the model's size").replace("original", "original size")
    fig.suptitle(f"IoU at {resolution} (as evaluate); pictures at the model's size", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))  # room above the titles for the line that says how IoU was scored
    return fig
