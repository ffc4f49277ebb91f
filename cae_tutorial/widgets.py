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


def png_bytes(array: np.ndarray, height: int | None = None) -> bytes:
    """PNG bytes of a uint8 image (H, W) or (H, W, 3), resized to `height` pixels high if given."""
    image = Image.fromarray(np.asarray(array, np.uint8))
    if height and image.height != height:
        image = image.resize((max(1, round(image.width * height / image.height)), height), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _snapshots_of(result):
    """Snapshots of a TrainingResult (or the Snapshots themselves)."""
    return getattr(result, "snapshots", result)


class EpochScrubber:
    """A Play button and an epoch slider, linked, showing per frame: image, true mask, prediction, IoU."""

    def __init__(self, result, frame_ids=None, height: int = 192, interval_ms: int = 150, threshold: float = 0.5):
        snapshots = _snapshots_of(result)
        self.epochs = [int(e) for e in snapshots.epochs]
        self.frame_ids = list(frame_ids or snapshots.frame_ids)
        rows = [snapshots.frame_ids.index(i) for i in self.frame_ids]
        truths = snapshots.masks[rows]
        # (epoch, frame) -> PNG of the thresholded-free prediction, plus its IoU at the threshold.
        self.frames_png = {}
        self.iou = np.zeros((len(self.epochs), len(rows)))
        for e, predictions in enumerate(snapshots.predictions):
            chosen = predictions[rows]
            self.iou[e] = iou_score(truths / 255.0, chosen / 255.0, threshold)
            for f in range(len(rows)):
                self.frames_png[e, f] = png_bytes(chosen[f], height)
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
            truth = widgets.Image(value=png_bytes(truths[f], height), format="png")
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


def evolution_frames(result, frame_ids=None, height: int = 160, threshold: float = 0.5) -> list[Image.Image]:
    """One PIL image per recorded epoch: for each frame, frame | truth | prediction, with the epoch written."""
    from PIL import ImageDraw

    snapshots = _snapshots_of(result)
    frame_ids = list(frame_ids or snapshots.frame_ids)
    rows = [snapshots.frame_ids.index(i) for i in frame_ids]

    def tile(array):
        """An RGB PIL tile of `height` pixels from a uint8 array."""
        return Image.open(io.BytesIO(png_bytes(array, height))).convert("RGB")

    fixed = [(tile(snapshots.images[r]), tile(snapshots.masks[r])) for r in rows]
    width = sum(a.width + b.width for a, b in fixed) + fixed[0][0].width * len(rows) + 6 * len(rows)
    pictures = []
    for epoch, predictions in zip(snapshots.epochs, snapshots.predictions):
        canvas = Image.new("RGB", (width, height + 18), "white")
        x = 0
        for (image, truth), row in zip(fixed, rows):
            prediction = tile(predictions[row])
            for part in (image, truth, prediction):
                canvas.paste(part, (x, 18))
                x += part.width
            x += 6
        ious = iou_score(snapshots.masks[rows] / 255.0, predictions[rows] / 255.0, threshold)
        ImageDraw.Draw(canvas).text((4, 3), f"epoch {int(epoch)}   mean IoU {ious.mean():.3f}", fill="black")
        pictures.append(canvas)
    return pictures


def save_evolution_gif(result, path: str | Path, frame_ids=None, height: int = 160, max_epochs: int = 60,
                       duration_ms: int = 120) -> Path:
    """The static fallback of the scrubber: an animated GIF of the evolution (at most max_epochs frames)."""
    pictures = evolution_frames(result, frame_ids, height)
    if len(pictures) > max_epochs:
        keep = np.unique(np.linspace(0, len(pictures) - 1, max_epochs).round().astype(int))
        pictures = [pictures[i] for i in keep]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0,
                     optimize=True)
    return path
