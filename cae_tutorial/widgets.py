"""Epoch scrubbers: watch the predictions evolve over training, live (ipywidgets), as a GIF, or as static HTML.

Every image the scrubber can show is encoded to PNG once, when its epoch arrives, so that dragging the slider
only swaps bytes: no model runs, nothing is recomputed.

    scrubber = EpochScrubber.live(record, split, frame_ids=[...])   # shows now, grows while training runs
    model.fit(..., callbacks=[scrubber.callback])   # or train(model, record, split, preset, callbacks=[...])
    EpochScrubber(result)                                           # the same widget for a finished run
    evolution_html(result)                                          # the static fallback (GIF + PNG strip)
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cae_tutorial import plots
from cae_tutorial.losses import iou_score

#: Error-map colours: near-white, Okabe-Ito orange and blue. They stay distinct under every common colour-vision
#: deficiency (they also differ in lightness), and none occurs in the backdrop, the frame in dim grey.
#: plots.ERROR_COLOURS as 0..255 RGB: one colour key for the scrubber and show_results.
ERROR_COLOURS = {name: tuple(round(255 * c) for c in colour) for name, colour in plots.ERROR_COLOURS.items()}
VIEWS = ("prediction", "errors")


def resized_image(array: np.ndarray, height: int | None = None, nearest: bool = False) -> Image.Image:
    """A PIL image of a uint8 array (H, W) or (H, W, 3), resized to `height` pixels high if given.

    nearest=True keeps an error map's colours pure; bilinear (the default) suits frames and probabilities.
    """
    image = Image.fromarray(np.asarray(array, np.uint8))
    if height and image.height != height:
        method = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
        image = image.resize((max(1, round(image.width * height / image.height)), height), method)
    return image


def png_bytes(array: np.ndarray, height: int | None = None, nearest: bool = False) -> bytes:
    """PNG bytes of a uint8 image (H, W) or (H, W, 3), resized to `height` pixels high if given."""
    buffer = io.BytesIO()
    resized_image(array, height, nearest).save(buffer, format="PNG")
    return buffer.getvalue()


def _snapshots_of(result):
    """Snapshots of a TrainingResult (or the Snapshots themselves)."""
    return getattr(result, "snapshots", result)


def _rows_of(recorded_ids, frame_ids) -> list[int]:
    """Row of each wanted frame id among the recorded ones, or a KeyError naming the choices."""
    recorded_ids = list(recorded_ids)
    missing = [i for i in frame_ids if i not in recorded_ids]
    if missing:
        raise KeyError(f"frame ids {missing} have no snapshots; choose frame_ids among {recorded_ids}")
    return [recorded_ids.index(i) for i in frame_ids]


def error_map(image: np.ndarray, truth: np.ndarray, prediction: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """RGB uint8 (H, W, 3) of plots.error_map, from uint8 snapshots.

    image: uint8 (H, W, 3); truth and prediction: uint8 (H, W), 0..255 (truth is person above one half).
    """
    picture = plots.error_map(np.asarray(image, np.float32) / 255.0, truth > 127, prediction / 255.0 >= threshold)
    return np.rint(picture * 255).astype(np.uint8)


def legend_html() -> str:
    """The error map's colour key as a line of HTML swatches."""
    swatch = ('<span style="display:inline-block;width:0.9em;height:0.9em;background:rgb{};'
              'border:1px solid #888;vertical-align:middle;margin:0 0.3em 0 0.9em"></span>{}')
    return "".join(swatch.format(colour, name) for name, colour in ERROR_COLOURS.items()) + \
        '<span style="margin-left:0.9em;color:#666">(background: the frame, dimmed)</span>'


def iou_curve_svg(epochs, values, marker_epoch=None, width: int = 260, height: int = 120,
                  title: str = "held-out mean IoU") -> str:
    """A small SVG line chart of IoU (0..1) over epochs, with a dot at marker_epoch."""
    left, right, top, bottom = 30, 10, 18, 20
    x0, x1 = (epochs[0], epochs[-1]) if len(epochs) else (0, 1)
    x1 = x1 if x1 > x0 else x0 + 1

    def xy(epoch, value):
        """Pixel position of (epoch, IoU)."""
        return (left + (epoch - x0) / (x1 - x0) * (width - left - right),
                top + (1.0 - value) * (height - top - bottom))

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
              f'font-family="sans-serif" font-size="10">'),
             f'<text x="{left}" y="11" font-size="11">{html.escape(title)}</text>',
             (f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
              'fill="none" stroke="#bbb"/>')]
    for tick in (0.0, 0.5, 1.0):
        _, y = xy(x0, tick)
        parts.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="{left}" y="{height - 6}">{x0}</text>'
                 f'<text x="{width - right}" y="{height - 6}" text-anchor="end">epoch {x1}</text>')
    finite = [(e, v) for e, v in zip(epochs, values) if np.isfinite(v)]
    if finite:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(e, v) for e, v in finite))
        parts.append(f'<polyline points="{points}" fill="none" stroke="#0072b2" stroke-width="1.5"/>')
        marked = [(e, v) for e, v in finite if e == marker_epoch]
        if marked:
            x, y = xy(*marked[0])
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#e69f00" stroke="black"/>')
    parts.append("</svg>")
    return "".join(parts)


class EpochScrubber:
    """A Play button and an epoch slider, linked, showing per frame: image, true mask, prediction (or its
    errors), the frame's id, part (training or held-out) and IoU, plus the held-out mean IoU curve.

    EpochScrubber(result) shows a finished run; EpochScrubber.live(record, split) shows at once and grows as its
    `callback` (a PredictionSnapshots) receives epochs during `model.fit(..., callbacks=[scrubber.callback])`
    or `train(..., callbacks=[scrubber.callback])`.
    """

    def __init__(self, result, frame_ids=None, height: int = 192, interval_ms: int = 150, threshold: float = 0.5,
                 split=None):
        snapshots = _snapshots_of(result)
        self._setup(snapshots.frame_ids, snapshots.images, snapshots.masks, frame_ids,
                    split or getattr(result, "split", None), height, interval_ms, threshold)
        for epoch, predictions in zip(snapshots.epochs, snapshots.predictions):
            self._record(int(epoch), predictions)
        self._show()  # once, for the finished run, not after every epoch

    @classmethod
    def live(cls, record, split, frame_ids=None, every: int = 1, height: int = 192, interval_ms: int = 150,
             threshold: float = 0.5, epochs=None) -> EpochScrubber:
        """An empty scrubber for a run about to start; pass `scrubber.callback` to fit (or train) callbacks=[...]."""
        from cae_tutorial.callbacks import PredictionSnapshots, to_uint8

        shown = list(frame_ids or record.ids)
        _rows_of(record.ids, shown)
        # Predict the shown frames and every held-out frame: the held-out mean IoU curve needs them all.
        wanted = set(shown) | set(split.heldout_ids)
        part = record.subset([i for i in record.ids if i in wanted])
        scrubber = cls.__new__(cls)
        scrubber._setup(part.ids, to_uint8(part.images), to_uint8(part.masks[..., 0]), shown, split, height,
                        interval_ms, threshold)
        scrubber.callback = PredictionSnapshots(part, every=every, epochs=epochs)
        scrubber.callback.listeners.append(scrubber.add_epoch)
        return scrubber

    def _setup(self, recorded_ids, images, masks, frame_ids, split, height, interval_ms, threshold) -> None:
        """State and widgets, before any epoch has arrived."""
        self.frame_ids = list(frame_ids or recorded_ids)
        self._rows = _rows_of(recorded_ids, self.frame_ids)
        heldout = set(split.heldout_ids) if split is not None else set()
        self._heldout_rows = [r for r, i in enumerate(recorded_ids) if i in heldout]
        self.parts = [plots.frame_role(i, split) for i in self.frame_ids]
        self._images, self._masks = np.asarray(images, np.uint8), np.asarray(masks, np.uint8)
        self.height, self.threshold, self.callback = height, threshold, None
        self.epochs: list[int] = []
        self._iou: list[np.ndarray] = []
        self.heldout_iou: list[float] = []
        self._png: dict[str, list[list[bytes]]] = {view: [] for view in VIEWS}
        self._following, self._quiet = True, False

        self.play = widgets.Play(value=0, min=0, max=0, interval=interval_ms, description="play")
        self.slider = widgets.IntSlider(value=0, min=0, max=0, description="epoch", readout=False,
                                        continuous_update=True)
        # widgets.link syncs in the kernel too (jslink only in a browser), so tests can drive it.
        self.link = widgets.link((self.play, "value"), (self.slider, "value"))
        self.view = widgets.ToggleButtons(options=list(VIEWS), value="prediction",
                                          tooltips=["the predicted probability of person",
                                                    "correct, false and missed person pixels"])
        self.legend = widgets.HTML(legend_html(), layout=widgets.Layout(display="none"))
        self.readout = widgets.HTML("waiting for the first epoch...")
        self.curve = widgets.HTML(iou_curve_svg([], []))
        self.header = widgets.HTML()
        waiting = png_bytes(np.full(self._masks.shape[1:3], 128, np.uint8), height)
        self.predictions = [widgets.Image(value=waiting, format="png") for _ in self._rows]
        self.scores = [widgets.HTML("IoU -") for _ in self._rows]
        columns = []
        for f, row in enumerate(self._rows):
            image = widgets.Image(value=png_bytes(self._images[row], height), format="png")
            truth = widgets.Image(value=png_bytes(self._masks[row], height), format="png")
            for widget, name in ((image, "frame"), (truth, "truth"), (self.predictions[f], "prediction"),
                                 (self.scores[f], "iou")):
                widget.add_class(f"cae-{name}")
            part = f" &middot; {self.parts[f]}" if self.parts[f] else ""
            label = widgets.HTML(f"<b>{html.escape(self.frame_ids[f])}</b>{part}")
            columns.append(widgets.VBox([label, widgets.HBox([image, truth, self.predictions[f]]), self.scores[f]]))
        for widget, name in ((self.play, "play"), (self.slider, "slider"), (self.view, "view"),
                             (self.readout, "readout"), (self.curve, "curve"), (self.legend, "legend")):
            widget.add_class(f"cae-{name}")
        self.slider.observe(self._slider_moved, names="value")
        self.view.observe(lambda change: self._show(), names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.play, self.slider, self.readout]),
            widgets.HBox([self.view, self.legend]),
            self.header,
            widgets.HBox([widgets.HBox(columns, layout=widgets.Layout(flex_flow="row wrap")), self.curve]),
        ])
        self.widget.add_class("cae-scrubber")
        self._show()

    @property
    def iou(self) -> np.ndarray:
        """IoU of each shown frame at each recorded epoch: (n_epochs, n_frames)."""
        return np.array(self._iou).reshape(len(self._iou), len(self._rows))

    def add_epoch(self, epoch: int, predictions: np.ndarray) -> None:
        """Take one snapshot (uint8 (n_frames, H, W) of every recorded frame) and show it; a repeated epoch starts
        over."""
        self._record(epoch, predictions)
        self._show()

    def _record(self, epoch: int, predictions: np.ndarray) -> None:
        """Keep one snapshot's scores and pictures and extend the slider's range (follow it if following)."""
        epoch = int(epoch)
        if self.epochs and epoch <= self.epochs[-1]:  # a new training run fed the same scrubber
            self.epochs.clear(), self._iou.clear(), self.heldout_iou.clear()
            for pictures in self._png.values():
                pictures.clear()
            self._following = True
        scores = iou_score(self._masks / 255.0, predictions / 255.0, self.threshold)
        self._iou.append(scores[self._rows])
        self.heldout_iou.append(float(scores[self._heldout_rows].mean()) if self._heldout_rows else float("nan"))
        self._png["prediction"].append([png_bytes(predictions[r], self.height) for r in self._rows])
        self._png["errors"].append([png_bytes(error_map(self._images[r], self._masks[r], predictions[r],
                                                        self.threshold), self.height, nearest=True)
                                     for r in self._rows])
        self.epochs.append(epoch)
        self._quiet = True  # our own moves of the slider are not the learner's
        try:
            step = self._step()
            for control in (self.slider, self.play):
                if self.epochs[-1] >= control.min:
                    control.max, control.min = self.epochs[-1], self.epochs[0]
                else:
                    control.min, control.max = self.epochs[0], self.epochs[-1]
                control.step = step
            if self._following:
                self.slider.value = epoch
        finally:
            self._quiet = False

    def _slider_moved(self, change) -> None:
        """The learner (or Play) moved the slider: follow new epochs only while it sits on the newest."""
        if self._quiet:  # moved by _record: its caller shows the result
            return
        if self.epochs:
            self._following = change["new"] >= self.epochs[-1]
        self._show()

    def _step(self) -> int:
        """Slider step: the gap between recorded epochs when it is regular, else 1."""
        gaps = np.diff(self.epochs[1:]) if len(self.epochs) > 2 else np.diff(self.epochs)
        return int(gaps[0]) if len(gaps) and np.all(gaps == gaps[0]) else 1

    def epoch_index(self, epoch: int) -> int:
        """Index of the recorded epoch nearest to `epoch` (at or before it)."""
        return max(0, int(np.searchsorted(self.epochs, epoch, side="right")) - 1)

    def _show(self) -> None:
        """Put the slider's epoch on screen: pictures, per-frame IoU, readout, curve marker."""
        view = self.view.value
        self.legend.layout.display = None if view == "errors" else "none"
        self.header.value = f"frame | true mask | {'prediction' if view == 'prediction' else 'errors'}"
        if not self.epochs:
            return
        e = self.epoch_index(self.slider.value)
        for f, image in enumerate(self.predictions):
            image.value = self._png[view][e][f]
            self.scores[f].value = f"IoU {self._iou[e][f]:.3f}"
        heldout = self.heldout_iou[e]
        summary = (f"held-out mean IoU {heldout:.3f}" if np.isfinite(heldout)
                   else f"mean IoU {self._iou[e].mean():.3f}")
        self.readout.value = f"<b>epoch {self.epochs[e]}</b> of {self.epochs[-1]} &middot; {summary}"
        if self._heldout_rows:
            self.curve.value = iou_curve_svg(self.epochs, self.heldout_iou, self.epochs[e])
        else:
            self.curve.value = iou_curve_svg(self.epochs, self.iou.mean(axis=1), self.epochs[e], title="mean IoU")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def label_font(size: int) -> ImageFont.ImageFont:
    """Pillow's built-in TrueType font (Pillow >= 10.1) at `size` pixels; the bitmap font on older Pillow."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def evolution_frames(result, frame_ids=None, height: int = 160, threshold: float = 0.5,
                     epoch_indices=None, split=None) -> list[Image.Image]:
    """One labelled PIL image per recorded epoch (or per index given): for each frame, frame | truth | prediction,
    its id, its part (training or held-out) and its IoU; the epoch and the held-out mean IoU on top."""
    snapshots = _snapshots_of(result)
    split = split or getattr(result, "split", None)
    frame_ids = list(frame_ids or snapshots.frame_ids)
    rows = _rows_of(snapshots.frame_ids, frame_ids)
    heldout = set(split.heldout_ids) if split is not None else set()
    heldout_rows = [r for r, i in enumerate(snapshots.frame_ids) if i in heldout]
    parts = [plots.frame_role(i, split) for i in frame_ids]
    indices = range(len(snapshots.epochs)) if epoch_indices is None else epoch_indices
    font = label_font(max(11, height // 11))
    line = font.getbbox("Ag")[3] + 4
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def tile(array):
        """An RGB PIL tile of `height` pixels from a uint8 array."""
        return resized_image(array, height).convert("RGB")

    fixed = [(tile(snapshots.images[r]), tile(snapshots.masks[r])) for r in rows]
    blocks = [max(3 * a.width + 4, int(measure.textlength(f"{frame_id}", font=font)),
                  int(measure.textlength(f"{part} · IoU 0.000", font=font)))
              for (a, _), frame_id, part in zip(fixed, frame_ids, parts)]
    gap, top = 12, line + 4
    width = sum(blocks) + gap * (len(rows) + 1)
    pictures = []
    for e in indices:
        predictions = snapshots.predictions[e]
        scores = iou_score(snapshots.masks / 255.0, predictions / 255.0, threshold)
        canvas = Image.new("RGB", (width, top + line + height + line + 6), "white")
        draw = ImageDraw.Draw(canvas)
        summary = (f"held-out mean IoU {scores[heldout_rows].mean():.3f}" if heldout_rows
                   else f"mean IoU {scores[rows].mean():.3f}")
        draw.text((gap, 3), f"epoch {int(snapshots.epochs[e])}   {summary}", fill="black", font=font)
        x = gap
        for (image, truth), row, block, frame_id, part in zip(fixed, rows, blocks, frame_ids, parts):
            draw.text((x, top), frame_id, fill="black", font=font)
            tx = x
            for piece in (image, truth, tile(predictions[row])):
                canvas.paste(piece, (tx, top + line))
                tx += piece.width + 2
            label = f"{part} · IoU {scores[row]:.3f}" if part else f"IoU {scores[row]:.3f}"
            draw.text((x, top + line + height + 2), label, fill="#444" if part == "train" else "black", font=font)
            x += block + gap
        pictures.append(canvas)
    return pictures


def _gif_bytes(pictures: list[Image.Image], duration_ms: int) -> bytes:
    """An animated, looping GIF of the pictures."""
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0,
                     optimize=True)
    return buffer.getvalue()


def save_evolution_gif(result, path: str | Path, frame_ids=None, height: int = 160, max_epochs: int = 60,
                       duration_ms: int = 120) -> Path:
    """An animated GIF of the evolution (at most max_epochs frames), labelled like the scrubber."""
    recorded = len(_snapshots_of(result).epochs)
    # Pick the epochs first, so only the pictures that go into the GIF are drawn.
    pictures = evolution_frames(result, frame_ids, height,
                                epoch_indices=plots.spread_indices(recorded, max_epochs))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_gif_bytes(pictures, duration_ms))
    return path


class EvolutionHTML:
    """The static fallback of the scrubber as HTML: the animated GIF and a PNG strip of a few epochs, both inline
    as data URIs, so JupyterLab, nbconvert / nbviewer and GitHub all show them."""

    def __init__(self, gif: bytes, strip: bytes, epochs, strip_epochs):
        self.gif, self.strip, self.epochs, self.strip_epochs = gif, strip, list(epochs), list(strip_epochs)

    def _repr_html_(self) -> str:
        gif, strip = (base64.b64encode(data).decode("ascii") for data in (self.gif, self.strip))
        figure = '<figure style="display:inline-block;vertical-align:top;margin:0 1em 1em 0">'
        shown = ", ".join(str(e) for e in self.strip_epochs)
        return (f'<div class="cae-evolution">{figure}<img src="data:image/gif;base64,{gif}" '
                f'alt="predictions over epochs {self.epochs[0]} to {self.epochs[-1]}, animated">'
                f"<figcaption>epochs {self.epochs[0]} to {self.epochs[-1]}, animated</figcaption></figure>"
                f'{figure}<img src="data:image/png;base64,{strip}" alt="predictions at epochs {shown}">'
                f"<figcaption>epochs {shown}</figcaption></figure></div>")

    def __repr__(self) -> str:
        return (f"<EvolutionHTML: animated GIF of epochs {self.epochs[0]}..{self.epochs[-1]} and a strip of "
                f"epochs {self.strip_epochs}; display it in Jupyter or call _repr_html_()>")

    def save(self, path: str | Path) -> Path:
        """Write a standalone HTML page of the fallback."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<!DOCTYPE html><meta charset='utf-8'><title>evolution</title>{self._repr_html_()}")
        return path


def evolution_html(result, frame_ids=None, height: int = 128, max_epochs: int = 40, strip_epochs: int = 4,
                   duration_ms: int = 120) -> EvolutionHTML:
    """The static fallback: the evolution as an inline GIF beside a PNG strip of `strip_epochs` epochs."""
    epochs = [int(e) for e in _snapshots_of(result).epochs]
    if not epochs:
        raise ValueError("the run recorded no snapshots; train with snapshot_every=1 (the default) to animate it")
    kept = plots.spread_indices(len(epochs), max_epochs)
    pictures = evolution_frames(result, frame_ids, height, epoch_indices=kept)
    chosen = plots.spread_indices(len(kept), strip_epochs)
    rows = [pictures[i] for i in chosen]
    strip = Image.new("RGB", (rows[0].width, sum(p.height for p in rows)), "white")
    for i, picture in enumerate(rows):
        strip.paste(picture, (0, i * picture.height))
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG", optimize=True)
    return EvolutionHTML(_gif_bytes(pictures, duration_ms), buffer.getvalue(), [epochs[i] for i in kept],
                         [epochs[kept[i]] for i in chosen])
