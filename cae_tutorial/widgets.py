"""Epoch scrubbers: watch the predictions evolve over training, live (ipywidgets) or as a GIF.

Every image the scrubber can show is encoded to PNG once, when it is built, so that
dragging the slider only swaps bytes: no model runs, nothing is recomputed.
"""

from __future__ import annotations

import io
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from PIL import Image

from cae_tutorial.losses import iou_score


def resized_image(array: np.ndarray, height: int | None = None) -> Image.Image:
    """A PIL image of a uint8 array (H, W) or (H, W, 3), resized to `height` pixels high if given."""
    image = Image.fromarray(np.asarray(array, np.uint8))
    if height and image.height != height:
        image = image.resize((max(1, round(image.width * height / image.height)), height), Image.Resampling.BILINEAR)
    return image


def png_bytes(array: np.ndarray, height: int | None = None) -> bytes:
    """PNG bytes of a uint8 image (H, W) or (H, W, 3), resized to `height` pixels high if given."""
    buffer = io.BytesIO()
    resized_image(array, height).save(buffer, format="PNG")
    return buffer.getvalue()


def _snapshots_of(result):
    """Snapshots of a TrainingResult (or the Snapshots themselves)."""
    return getattr(result, "snapshots", result)


def epoch_ious(snapshots, rows, threshold: float = 0.5) -> np.ndarray:
    """IoU of each recorded epoch's prediction for the given frame rows: (n_epochs, n_rows)."""
    truths = snapshots.masks[rows] / 255.0
    return np.stack([iou_score(truths, predictions[rows] / 255.0, threshold)
                     for predictions in snapshots.predictions])


class EpochScrubber:
    """A Play button and an epoch slider, linked, showing per frame: image, true mask, prediction, IoU."""

    def __init__(self, result, frame_ids=None, height: int = 192, interval_ms: int = 150, threshold: float = 0.5):
        snapshots = _snapshots_of(result)
        self.epochs = [int(e) for e in snapshots.epochs]
        self.frame_ids = list(frame_ids or snapshots.frame_ids)
        rows = [snapshots.frame_ids.index(i) for i in self.frame_ids]
        # (epoch, frame) -> PNG of the unthresholded prediction; its IoU at the threshold beside it.
        self.frames_png = {(e, f): png_bytes(predictions[row], height)
                           for e, predictions in enumerate(snapshots.predictions) for f, row in enumerate(rows)}
        self.iou = epoch_ious(snapshots, rows, threshold)
        self.slider = widgets.IntSlider(value=self.epochs[-1], min=self.epochs[0], max=self.epochs[-1],
                                        step=self._step(), description="epoch", continuous_update=True)
        self.play = widgets.Play(value=self.epochs[-1], min=self.epochs[0], max=self.epochs[-1], step=self._step(),
                                 interval=interval_ms, description="play")
        # widgets.link syncs in the kernel too (jslink only in a browser), so tests can drive it.
        self.link = widgets.link((self.play, "value"), (self.slider, "value"))
        self.slider.value = self.epochs[-1]  # open on the trained model; Play restarts from epoch 0
        self.readout = widgets.HTML()
        self.predictions = [widgets.Image(format="png") for _ in rows]
        self.scores = [widgets.HTML() for _ in rows]
        columns = []
        for f, row in enumerate(rows):
            image = widgets.Image(value=png_bytes(snapshots.images[row], height), format="png")
            truth = widgets.Image(value=png_bytes(snapshots.masks[row], height), format="png")
            columns.append(widgets.VBox([widgets.HTML(f"<b>{self.frame_ids[f]}</b>"),
                                         widgets.HBox([image, truth, self.predictions[f]]), self.scores[f]]))
        self.slider.observe(self._show, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.play, self.slider, self.readout]),
                                    widgets.HTML("frame | true mask | prediction"), widgets.HBox(columns)])
        self._show({"new": self.slider.value})

    def _step(self) -> int:
        """Slider step: the gap between recorded epochs when it is regular, else 1."""
        gaps = np.diff(self.epochs[1:]) if len(self.epochs) > 2 else np.diff(self.epochs)
        return int(gaps[0]) if len(gaps) and np.all(gaps == gaps[0]) else 1

    def epoch_index(self, epoch: int) -> int:
        """Index of the recorded epoch nearest to `epoch` (at or before it)."""
        return max(0, int(np.searchsorted(self.epochs, epoch, side="right")) - 1)

    def _show(self, change) -> None:
        e = self.epoch_index(change["new"])
        for f, image in enumerate(self.predictions):
            image.value = self.frames_png[e, f]
            self.scores[f].value = f"IoU {self.iou[e, f]:.3f}"
        self.readout.value = f"epoch {self.epochs[e]}: mean IoU {self.iou[e].mean():.3f}"

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def evolution_frames(result, frame_ids=None, height: int = 160, threshold: float = 0.5,
                     epoch_indices=None) -> list[Image.Image]:
    """One PIL image per recorded epoch (or per index given): for each frame, frame | truth | prediction."""
    from PIL import ImageDraw

    snapshots = _snapshots_of(result)
    frame_ids = list(frame_ids or snapshots.frame_ids)
    rows = [snapshots.frame_ids.index(i) for i in frame_ids]
    indices = range(len(snapshots.epochs)) if epoch_indices is None else epoch_indices

    def tile(array):
        """An RGB PIL tile of `height` pixels from a uint8 array."""
        return resized_image(array, height).convert("RGB")

    fixed = [(tile(snapshots.images[r]), tile(snapshots.masks[r])) for r in rows]
    width = sum(a.width + b.width for a, b in fixed) + fixed[0][0].width * len(rows) + 6 * len(rows)
    ious = epoch_ious(snapshots, rows, threshold)
    pictures = []
    for e in indices:
        canvas = Image.new("RGB", (width, height + 18), "white")
        x = 0
        for (image, truth), row in zip(fixed, rows):
            for part in (image, truth, tile(snapshots.predictions[e][row])):
                canvas.paste(part, (x, 18))
                x += part.width
            x += 6
        text = f"epoch {int(snapshots.epochs[e])}   mean IoU {ious[e].mean():.3f}"
        ImageDraw.Draw(canvas).text((4, 3), text, fill="black")
        pictures.append(canvas)
    return pictures


def save_evolution_gif(result, path: str | Path, frame_ids=None, height: int = 160, max_epochs: int = 60,
                       duration_ms: int = 120) -> Path:
    """The static fallback of the scrubber: an animated GIF of the evolution (at most max_epochs frames)."""
    recorded = len(_snapshots_of(result).epochs)
    # Pick the epochs first, so only the pictures that go into the GIF are drawn.
    keep = np.unique(np.linspace(0, recorded - 1, min(recorded, max_epochs)).round().astype(int))
    pictures = evolution_frames(result, frame_ids, height, epoch_indices=keep)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0,
                     optimize=True)
    return path
