"""Epoch scrubbers: watch the predictions evolve over training, live (ipywidgets), as a GIF, or as static HTML.

Moving between epochs happens in the browser: each frame's predictions sit in an ipywidgets `Stack` (one child per
recorded epoch, PNGs inline with alt text) whose `selected_index` is jslinked to the scrubber's controls, a small
anywidget (slider, Play, Follow newest, readout, IoU curve). So the slider answers while the kernel trains, and the
kernel only sends each new epoch once, from the Keras callback, as it arrives. Following the newest epoch stops at
the learner's first move and resumes with "Follow newest"; both happen in the browser too.

    scrubber = EpochScrubber.live(record, split, total_epochs=preset.epochs)  # shows now, fills while training runs
    result = train(model, record, split, preset, callbacks=[scrubber.callback])
    EpochScrubber(result)                                   # the same widget for a finished (or saved) run
    evolution_png(result)                                   # its static picture, which the widget's output carries
    evolution_html(result)                                  # an animated GIF and a PNG strip, as HTML

This module imports neither TensorFlow nor matplotlib (the scrub page shows a saved run without them).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets
from PIL import Image, ImageDraw, ImageFont

from cae_tutorial.folders import write_file
from cae_tutorial.metric_names import HELD_OUT, TRAINING
from cae_tutorial.palette import ERROR_BACKGROUND
from cae_tutorial.palette import ERROR_COLOURS as _UNIT_COLOURS


def frame_role(frame_id: str, split=None) -> str:
    """"training" or "held-out" for a frame of the split ("" without one), as plots.frame_role (no matplotlib)."""
    if split is None:
        return ""
    return TRAINING if frame_id in split.train_ids else HELD_OUT

#: Error-map colours as 0..255 RGB (palette.ERROR_COLOURS): one colour key for the scrubber and show_results.
ERROR_COLOURS = {name: tuple(round(255 * c) for c in colour) for name, colour in _UNIT_COLOURS.items()}
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


def data_uri(png: bytes) -> str:
    """PNG bytes as a data: URI for an <img src>."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _snapshots_of(result):
    """Snapshots of a TrainingResult or SavedRun (or the snapshots themselves)."""
    return getattr(result, "snapshots", result)


def _rows_of(recorded_ids, frame_ids) -> list[int]:
    """Row of each wanted frame id among the recorded ones, or a KeyError naming the choices."""
    recorded_ids = list(recorded_ids)
    missing = [i for i in frame_ids if i not in recorded_ids]
    if missing:
        raise KeyError(f"frame ids {missing} have no snapshots; choose frame_ids among {recorded_ids}")
    return [recorded_ids.index(i) for i in frame_ids]


def snapshot_iou(masks: np.ndarray, predictions: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """IoU of the person per frame from uint8 snapshots, as losses.iou_score scores it (truth above one half,
    probability at or above threshold); NaN where the truth is empty. numpy only."""
    truth = np.asarray(masks).reshape(len(masks), -1) > 127.5
    predicted = np.asarray(predictions).reshape(len(predictions), -1) / 255.0 >= threshold
    tp = np.sum(truth & predicted, axis=1)
    union = np.sum(truth | predicted, axis=1)
    return np.where(truth.any(axis=1), tp / np.maximum(union, 1), np.nan)


def error_map(image: np.ndarray, truth: np.ndarray, prediction: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """RGB uint8 (H, W, 3) of plots.error_map, from uint8 snapshots: the frame dimmed to dark grey, correct, false
    and missed person pixels in ERROR_COLOURS.

    image: uint8 (H, W, 3); truth and prediction: uint8 (H, W), 0..255 (truth is person above one half).
    """
    image = np.asarray(image, np.float32) / 255.0
    truth, predicted = np.asarray(truth) > 127.5, np.asarray(prediction) / 255.0 >= threshold
    out = np.repeat(image.mean(axis=-1, keepdims=True), 3, axis=-1) * ERROR_BACKGROUND
    for where, colour in zip((truth & predicted, ~truth & predicted, truth & ~predicted), _UNIT_COLOURS.values()):
        out[where] = colour
    return np.rint(out * 255).astype(np.uint8)


def legend_html() -> str:
    """The error map's colour key as a line of HTML swatches."""
    # Each swatch stays with its name when the line wraps (a narrow screen).
    swatch = ('<span class="cae-key"><span class="cae-swatch" style="background:rgb{}" aria-hidden="true"></span>{}'
              '</span>')
    return "".join(swatch.format(colour, name) for name, colour in ERROR_COLOURS.items()) + \
        '<span class="cae-backdrop-note">(background: the frame, dimmed)</span>'


def planned_epochs(total_epochs: int, every: int = 1, epochs=None) -> list[int]:
    """The epochs PredictionSnapshots records in a run of total_epochs: 0, every `every`-th and the last (or the
    given `epochs` within 0..total_epochs)."""
    if epochs is not None:
        return sorted({int(e) for e in epochs if 0 <= int(e) <= total_epochs})
    return sorted({0, *range(every, total_epochs + 1, every), int(total_epochs)})


#: The controls' browser side: slider, Play, Follow newest, prediction / errors, readout, curve. State that only the
#: browser changes (index, following, playing, view) is never set by a busy kernel; the kernel only adds epochs.
CONTROLS_JS = r"""
const SVG = 'http://www.w3.org/2000/svg';
const last = (model) => Math.max(0, model.get('arrived') - 1);

function initialize({ model }) {
  // Once per model (not per view): follow new epochs, run Play.
  let timer = null;
  const stopTimer = () => { if (timer !== null) { clearInterval(timer); timer = null; } };
  model.on('change:arrived', () => setTimeout(() => {
    if (model.get('following') && model.get('index') !== last(model)) {
      model.set('index', last(model));
      model.save_changes();
    }
  }, 0));
  model.on('change:playing', () => {
    stopTimer();
    if (!model.get('playing')) return;
    if (model.get('index') >= last(model)) model.set('index', 0);
    model.set('following', false);
    model.save_changes();
    timer = setInterval(() => {
      const index = model.get('index');
      if (!model.get('playing')) { stopTimer(); return; }
      if (index >= last(model)) { model.set('playing', false); model.save_changes(); return; }
      model.set('index', index + 1);
      model.save_changes();
    }, Math.max(30, model.get('interval')));
  });
  return stopTimer;
}

function curve(model, index) {
  const values = model.get('curve'), epochs = model.get('epochs');
  const width = 260, height = 120, left = 30, right = 10, top = 18, bottom = 20;
  const x0 = epochs.length ? epochs[0] : 0, x1 = Math.max(epochs.length ? epochs[epochs.length - 1] : 1, x0 + 1);
  const xy = (e, v) => [left + (e - x0) / (x1 - x0) * (width - left - right), top + (1 - v) * (height - top - bottom)];
  const points = [];
  values.forEach((v, i) => { if (v !== null && Number.isFinite(v)) points.push([epochs[i], v]); });
  // Its own size at most, narrower in a narrow column (a phone, a JupyterLab side panel): it scales down.
  let svg = `<svg xmlns="${SVG}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"` +
    ` preserveAspectRatio="xMinYMin meet" style="max-width:100%;height:auto" font-family="sans-serif" font-size="10" aria-hidden="true"><text x="${left}" y="11" font-size="11">${model.get('curve_title')}</text>` +
    `<rect x="${left}" y="${top}" width="${width - left - right}" height="${height - top - bottom}" fill="none"` +
    ` stroke="#767676"/>`;
  for (const tick of [0, 0.5, 1]) svg += `<text x="${left - 4}" y="${xy(x0, tick)[1] + 3}" text-anchor="end">${tick}</text>`;
  svg += `<text x="${left}" y="${height - 6}">${x0}</text>` +
    `<text x="${width - right}" y="${height - 6}" text-anchor="end">epoch ${x1}</text>`;
  if (points.length) {
    svg += `<polyline points="${points.map(([e, v]) => xy(e, v).join(',')).join(' ')}" fill="none"` +
      ` stroke="#0072b2" stroke-width="2"/>`;
    const v = values[index];
    if (typeof v === 'number' && Number.isFinite(v)) {
      const [x, y] = xy(epochs[index], v);
      svg += `<circle cx="${x}" cy="${y}" r="4.5" fill="#e69f00" stroke="black" stroke-width="1.5"/>`;
    }
  }
  return svg + '</svg>';
}

function render({ model, el }) {
  el.classList.add('cae-controls-root');
  // JupyterLab's notebook shortcuts must not take the slider's keys (Home, End, arrows).
  el.setAttribute('data-lm-suppress-shortcuts', 'true');
  el.innerHTML = `
    <div class="cae-bar">
      <button type="button" class="cae-play"></button>
      <label class="cae-range-label"><span class="cae-visually-hidden">epoch</span>
        <input type="range" class="cae-slider" min="0" step="1" value="0"></label>
      <button type="button" class="cae-follow"></button>
      <span class="cae-view" role="group" aria-label="show">
        <button type="button" data-view="prediction" title="the predicted probability of person">prediction</button>
        <button type="button" data-view="errors" title="correct, false and missed person pixels">errors</button>
      </span>
    </div>
    <div class="cae-readout" role="status" aria-live="polite" aria-atomic="true"></div>
    <div class="cae-legend" hidden></div>
    <div class="cae-curve" role="img"></div>
    <div class="cae-gone" role="alert" hidden></div>`;
  // ... and on each control too: JupyterLab binds arrow keys to selectors such as `:focus`, which the focused control
  // itself matches before the search for the attribute reaches the root.
  for (const control of el.querySelectorAll('button, input')) control.setAttribute('data-lm-suppress-shortcuts', 'true');
  const $ = (selector) => el.querySelector(selector);
  const slider = $('.cae-slider'), play = $('.cae-play'), follow = $('.cae-follow'), readout = $('.cae-readout');
  $('.cae-legend').innerHTML = model.get('legend');

  slider.addEventListener('input', () => {
    // The learner's move: show that epoch and stop following (and playing).
    model.set({ index: Number(slider.value), following: false, playing: false });
    model.save_changes();
  });
  play.addEventListener('click', () => { model.set('playing', !model.get('playing')); model.save_changes(); });
  follow.addEventListener('click', () => {
    model.set({ following: true, playing: false, index: last(model) });
    model.save_changes();
  });
  for (const button of el.querySelectorAll('.cae-view button')) {
    button.addEventListener('click', () => { model.set('view', button.dataset.view); model.save_changes(); });
  }

  const update = () => {
    const epochs = model.get('epochs'), arrived = model.get('arrived');
    const index = Math.min(model.get('index'), Math.max(0, epochs.length - 1));
    const playing = model.get('playing'), following = model.get('following');
    el.dataset.arrived = String(arrived);  // for tests and user styles: how many epochs are in
    slider.max = String(Math.max(0, epochs.length - 1));
    slider.value = String(index);
    slider.disabled = epochs.length === 0;
    const epoch = epochs.length ? epochs[index] : 0;
    const trained = index < arrived;
    slider.setAttribute('aria-valuetext', `epoch ${epoch}` + (trained ? '' : ', not trained yet'));
    slider.style.setProperty('--cae-arrived', `${epochs.length > 1 ? 100 * Math.max(0, arrived - 1) / (epochs.length - 1) : 100}%`);
    const summaries = model.get('summaries');
    readout.textContent = !arrived ? 'waiting for the first epoch...'
      : trained ? (summaries[index] || `epoch ${epoch}`)
      : `epoch ${epoch} of ${epochs[epochs.length - 1]}: not trained yet (newest: epoch ${epochs[arrived - 1]})`;
    readout.setAttribute('aria-live', playing ? 'off' : 'polite');  // Play would announce every step
    play.textContent = playing ? '\u23F8 Pause' : '\u25B6 Play';
    play.setAttribute('aria-label', playing ? 'Pause' : 'Play the epochs');
    // A toggle button: its name stays, aria-pressed (and the check mark, for the eyes) says whether it is on.
    if (follow.dataset.on !== String(following)) {  // rewritten only on a change: a press in progress stays whole
      follow.innerHTML = `<span aria-hidden="true">${following ? '\u2713 ' : ''}</span>Follow newest`;
      follow.dataset.on = String(following);
    }
    follow.setAttribute('aria-pressed', String(following));
    follow.hidden = !model.get('live');
    const view = model.get('view');
    for (const button of el.querySelectorAll('.cae-view button')) {
      button.setAttribute('aria-pressed', String(button.dataset.view === view));
    }
    $('.cae-legend').hidden = view !== 'errors';
    const root = el.closest('.cae-scrubber');
    if (root) root.dataset.view = view;
    const box = $('.cae-curve');
    box.innerHTML = curve(model, index);
    const value = model.get('curve')[index];
    box.setAttribute('aria-label', `${model.get('curve_title')} over epochs` +
      (trained && typeof value === 'number' ? `; ${value.toFixed(3)} at epoch ${epoch}` : ''));
    if (model.get('page_title')) document.title = model.get('page_title');
  };
  model.on('change', update);
  update();
  requestAnimationFrame(update);  // once the view sits in the page: its scrubber root gets the view

  // A notice when the server is gone (the scrub page; JupyterLab says so itself): its ping file stops answering.
  const gone = $('.cae-gone');
  const ping = !model.get('ping_url') ? null : setInterval(async () => {
    try {
      await fetch(new URL(model.get('ping_url'), document.baseURI), { method: 'HEAD', cache: 'no-store' });
      gone.hidden = true;
    } catch (error) {
      gone.textContent = model.get('gone_notice');
      gone.hidden = false;
    }
  }, 3000);
  // The page's keep-alive (the scrub page): a small message to the kernel every few seconds keeps its last activity
  // recent, so a connection that drops and comes back (the browser's network service restarting, a network blip:
  // the page reconnects within seconds) does not get an open tab's kernel culled as a lost tab's.
  const keepalive = !model.get('keepalive_ms') ? null : setInterval(() => {
    if (!gone.hidden) return;  // the server is gone: nobody to tell
    try { model.send({ keepalive: true }); } catch (error) { /* the kernel is gone: the ping's notice says so */ }
  }, model.get('keepalive_ms'));
  return () => {
    if (ping !== null) clearInterval(ping);
    if (keepalive !== null) clearInterval(keepalive);
    model.off('change', update);
  };
}

export default { initialize, render };
"""

CONTROLS_CSS = r"""
.cae-scrubber { max-width: 100%; }
/* ipywidgets' boxes and JupyterLab's (and Voila's) output area clip or scroll (overflow: hidden / auto): the sticky
   controls would stick inside a box that never scrolls. The scrubber's box, and the output boxes holding one, let
   the notebook's scrolling move them instead (a cell whose outputs are set to scroll keeps its own rule). */
.jupyter-widgets.cae-scrubber,
:is(.jp-OutputArea-output, .jp-OutputArea-child, .jp-Cell-outputArea, .jp-OutputArea):has(.cae-scrubber) {
  overflow: visible; }
/* Stuck, the block reaches the scroller's very top: the notebook's scroller (JupyterLab's, Voila's) has a padding of
   --jp-notebook-padding, where the frames would show above the controls with `top: 0`. */
.cae-controls-root { position: sticky; top: calc(-1 * var(--jp-notebook-padding, 10px)); z-index: 3;
  background: var(--jp-layout-color0, white); padding: calc(4px + var(--jp-notebook-padding, 10px)) 0 4px;
  max-width: 100%; }
.cae-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; }
.cae-bar button, .cae-view button { font: inherit; padding: 4px 10px; min-height: 32px; color: #111;
  background: #f3f3f3; border: 1px solid #595959; border-radius: 4px; cursor: pointer; }
.cae-view button[aria-pressed="true"], .cae-follow[aria-pressed="true"] { background: #1a5fb4; color: white;
  border-color: #1a5fb4; }
.cae-view { display: inline-flex; gap: 0; }
.cae-scrubber button:focus-visible, .cae-scrubber input:focus-visible { outline: 3px solid #b34700;
  outline-offset: 2px; }
.cae-range-label { flex: 1 1 200px; min-width: 160px; display: flex; }
.cae-slider { width: 100%; min-width: 160px; height: 28px; margin: 0; background: transparent;
  -webkit-appearance: none; appearance: none; }
.cae-slider::-webkit-slider-runnable-track { height: 8px; border-radius: 4px; border: 1px solid #595959;
  background: linear-gradient(to right, #1a5fb4 var(--cae-arrived, 100%), #ffffff var(--cae-arrived, 100%)); }
.cae-slider::-moz-range-track { height: 8px; border-radius: 4px; border: 1px solid #595959;
  background: linear-gradient(to right, #1a5fb4 var(--cae-arrived, 100%), #ffffff var(--cae-arrived, 100%)); }
.cae-slider::-webkit-slider-thumb { -webkit-appearance: none; width: 22px; height: 22px; margin-top: -8px;
  border-radius: 50%; background: #111; border: 3px solid white; box-shadow: 0 0 0 1px #111; }
.cae-slider::-moz-range-thumb { width: 18px; height: 18px; border-radius: 50%; background: #111;
  border: 3px solid white; box-shadow: 0 0 0 1px #111; }
.cae-readout { margin: 4px 0; font-weight: 600; }
.cae-scrubber .widget-html-content { white-space: normal; }
.cae-note { white-space: normal; overflow-wrap: anywhere; font-size: 13px; }
.cae-legend { margin: 2px 0; }
.cae-key { white-space: nowrap; }
.cae-swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #595959;
  vertical-align: middle; margin: 0 0.3em 0 0.9em; }
.cae-backdrop-note { margin-left: 0.9em; color: #595959; }
.cae-curve { line-height: 0; }
/* On a short screen (a phone held sideways) the pinned block leaves the frames room: the curve shrinks with it. */
.cae-curve svg { max-height: 25vh; }
.cae-gone { margin: 4px 0; padding: 6px 10px; background: #fff4e5; border: 2px solid #b34700; color: #111; }
.cae-visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }
.cae-frames { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; max-width: 100%; }
.cae-figure { flex: 0 1 auto; max-width: 100%; overflow: visible; }
.cae-figure .widget-html, .cae-figure .widget-html-content, .cae-figure .widget-stack { margin: 0; height: auto;
  line-height: normal; min-width: 0; }
.cae-tiles { display: flex; gap: 2px; flex-wrap: nowrap; }
.cae-scrubber img.cae-tile { display: block; height: auto; max-width: calc((100vw - 48px) / 3); }
.cae-cell { display: block; }
.cae-iou, .cae-label { font-size: 13px; white-space: nowrap; }
.cae-scrubber[data-view="errors"] img.cae-prediction { display: none; }
.cae-scrubber:not([data-view="errors"]) img.cae-errors { display: none; }
.cae-pending { display: flex; align-items: center; justify-content: center; text-align: center; color: #595959;
  border: 1px dashed #767676; box-sizing: border-box; font-size: 12px; max-width: calc((100vw - 48px) / 3); }
"""


class ScrubControls(anywidget.AnyWidget):
    """The scrubber's controls (browser side in CONTROLS_JS): its `index` drives every frame's Stack via jslink."""

    _esm = CONTROLS_JS
    _css = CONTROLS_CSS
    epochs = traitlets.List(traitlets.Int()).tag(sync=True)  # the planned epochs: the slider's positions
    arrived = traitlets.Int(0).tag(sync=True)  # how many of them have arrived (the first `arrived`)
    index = traitlets.Int(0).tag(sync=True)  # the shown position: moved in the browser
    following = traitlets.Bool(True).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    interval = traitlets.Int(150).tag(sync=True)
    view = traitlets.Unicode("prediction").tag(sync=True)
    live = traitlets.Bool(False).tag(sync=True)
    summaries = traitlets.List(traitlets.Unicode()).tag(sync=True)  # the readout of each arrived epoch
    curve = traitlets.List(traitlets.Float(allow_none=True)).tag(sync=True)  # held-out mean IoU per arrived epoch
    curve_title = traitlets.Unicode("held-out mean IoU").tag(sync=True)
    legend = traitlets.Unicode(legend_html()).tag(sync=True)
    page_title = traitlets.Unicode("").tag(sync=True)
    ping_url = traitlets.Unicode("").tag(sync=True)  # a file of the page's server to watch (relative); "": none
    keepalive_ms = traitlets.Int(0).tag(sync=True)  # how often the page tells its kernel it is open; 0: never
    gone_notice = traitlets.Unicode("The server is gone (kernel connection lost): the epochs already drawn still "
                                    "scrub; start it again to see more.").tag(sync=True)


class EpochScrubber:
    """Per frame: image, true mask, prediction (or its errors) and IoU at the shown epoch, with the frame's id and
    part (training or held-out); a slider, Play, Follow newest and the held-out mean IoU curve. Switching epochs
    happens in the browser (see the module's docstring).

    EpochScrubber(result) shows a finished run (a TrainingResult, or a SavedRun from run_files.read_saved_run):
    the shown epoch is drawn first, the others when first shown. EpochScrubber.live(record, split, total_epochs)
    shows at once, with the slider's full range, and fills as its `callback` receives epochs during training.
    """

    def __init__(self, result, frame_ids=None, height: int = 192, interval_ms: int = 150, threshold: float = 0.5,
                 split=None, title: str = "", key_epochs=(), static_image: bool = True):
        snapshots = _snapshots_of(result)
        epochs = [int(e) for e in snapshots.epochs]
        self._setup(snapshots.frame_ids, snapshots.images, snapshots.masks, frame_ids,
                    split or getattr(result, "split", None), height, interval_ms, threshold, epochs, live=False,
                    title=title, key_epochs=key_epochs, static_image=static_image)
        for epoch, predictions in zip(epochs, snapshots.predictions):
            self._record(epoch, predictions, draw=False)
        self.controls.index = max(0, len(epochs) - 1)  # the last epoch shows first; the others are drawn when shown
        self._publish()

    @classmethod
    def live(cls, record, split, frame_ids=None, every: int = 1, height: int = 192, interval_ms: int = 150,
             threshold: float = 0.5, epochs=None, total_epochs: int | None = None, key_epochs=()) -> EpochScrubber:
        """An empty scrubber for a run about to start; pass `scrubber.callback` to train(callbacks=[...]).

        total_epochs: the run's number of epochs (preset.epochs), so the slider spans every epoch to be recorded
        from the start; without it the range is set when training begins (Keras tells the callback).
        every / epochs: which epochs to record, as for train(snapshot_every=...). When training ends, the cell that
        displayed the scrubber also gets the static picture of the evolution (static_png), for views without a
        kernel; key_epochs: epochs it must show both sides of (e.g. preset.small_epochs, the switch of size).
        """
        from cae_tutorial.callbacks import to_uint8

        shown = list(frame_ids or record.ids)
        _rows_of(record.ids, shown)
        # Predict the shown frames and every held-out frame: the held-out mean IoU curve needs them all.
        wanted = set(shown) | set(split.heldout_ids)
        part = record.subset([i for i in record.ids if i in wanted])
        scrubber = cls.__new__(cls)
        plan = planned_epochs(total_epochs, every, epochs) if total_epochs is not None else []
        scrubber._setup(part.ids, to_uint8(part.images), to_uint8(part.masks[..., 0]), shown, split, height,
                        interval_ms, threshold, plan, live=True, key_epochs=key_epochs)
        scrubber._every, scrubber._wanted = every, epochs
        scrubber.callback = _live_callback(scrubber, part.ids, part.images, every, epochs)
        scrubber._publish()
        return scrubber

    def _setup(self, recorded_ids, images, masks, frame_ids, split, height, interval_ms, threshold, plan,
               live: bool, title: str = "", key_epochs=(), static_image: bool = True) -> None:
        """State and widgets, before any epoch has arrived; plan: the epochs expected."""
        self._recorded_ids, self._split, self.key_epochs = list(recorded_ids), split, tuple(key_epochs)
        self.static_image, self._display = static_image, None
        self.frame_ids = list(frame_ids or recorded_ids)
        self._rows = _rows_of(recorded_ids, self.frame_ids)
        heldout = set(split.heldout_ids) if split is not None else set()
        self._heldout_rows = [r for r, i in enumerate(recorded_ids) if i in heldout]
        self.parts = [frame_role(i, split) for i in self.frame_ids]
        self._images, self._masks = np.asarray(images, np.uint8), np.asarray(masks, np.uint8)
        self.height, self.threshold, self.callback = height, threshold, None
        self.model_size = tuple(int(n) for n in self._masks.shape[1:3])
        self.planned: list[int] = list(plan)
        self.epochs: list[int] = []
        self._iou: list[np.ndarray] = []
        self.heldout_iou: list[float] = []
        self._predictions: list[np.ndarray] = []
        self._cells: list[list[widgets.HTML] | None] = []  # per arrived epoch: one HTML per frame, once drawn
        size = f"{self.model_size[0]} x {self.model_size[1]}"
        self.resolution = f"at model size {size}"
        width = max(1, round(self.model_size[1] * height / self.model_size[0]))
        box = f'style="width:{width}px;height:{height}px"'
        self._pending = widgets.HTML(f'<div class="cae-pending" {box}>not trained yet</div>')
        self._drawing = widgets.HTML(f'<div class="cae-pending" {box}>drawing...</div>')
        self.controls = ScrubControls(interval=interval_ms, live=live, page_title=title,
                                      curve_title="held-out mean IoU" if self._heldout_rows else "mean IoU")
        self.controls.add_class("cae-controls")
        self.stacks, self.links = [], []
        figures = []
        for f, row in enumerate(self._rows):
            frame_id, part = self.frame_ids[f], self.parts[f]
            named = f"{frame_id} ({part})" if part else frame_id
            fixed = widgets.HTML(
                f'<div class="cae-tiles"><img class="cae-tile cae-frame" alt="frame {html.escape(named)}" '
                f'src="{data_uri(png_bytes(self._images[row], height))}"><img class="cae-tile cae-truth" '
                f'alt="true mask of {html.escape(named)}" src="{data_uri(png_bytes(self._masks[row], height))}">'
                "</div>")
            stack = widgets.Stack([], selected_index=None)
            stack.add_class("cae-stack")
            self.links.append(widgets.jslink((self.controls, "index"), (stack, "selected_index")))
            self.stacks.append(stack)
            label = widgets.HTML(f'<span class="cae-label"><b>{html.escape(frame_id)}</b>'
                                 f'{" &middot; " + part if part else ""}</span>')
            figure = widgets.VBox([label, widgets.HBox([fixed, stack], layout=widgets.Layout(flex_flow="row"))])
            figure.add_class("cae-figure")
            figures.append(figure)
        self.header = widgets.HTML(f'<div class="cae-note">each frame: the frame, its true mask, the prediction (or '
                                   f'its errors); IoUs {self.resolution}</div>')
        frames = widgets.Box(figures)
        frames.add_class("cae-frames")
        self.widget = widgets.VBox([self.controls, self.header, frames])
        self.widget.add_class("cae-scrubber")
        self.controls.observe(self._shown, names="index")
        self._set_children()

    @property
    def iou(self) -> np.ndarray:
        """IoU of each shown frame at each recorded epoch: (n_epochs, n_frames)."""
        return np.array(self._iou).reshape(len(self._iou), len(self._rows))

    def plan(self, epochs) -> None:
        """Set the epochs to be recorded (the slider's positions), keeping those already arrived."""
        newest = self.epochs[-1] if self.epochs else -1
        self.planned = self.epochs + sorted({int(e) for e in epochs if int(e) > newest})
        self._set_children()
        self._publish()

    def add_epoch(self, epoch: int, predictions: np.ndarray) -> None:
        """Take one snapshot (uint8 (n_frames, H, W) of every recorded frame) and send it to the browser; a repeated
        epoch starts over (a new run fed to the same scrubber)."""
        self._record(epoch, predictions, draw=True)
        self._publish()

    def _record(self, epoch: int, predictions: np.ndarray, draw: bool) -> None:
        """Keep one snapshot's scores (and its pictures when draw) and mark it arrived."""
        epoch = int(epoch)
        if self.epochs and epoch <= self.epochs[-1]:  # a new training run fed the same scrubber
            self.epochs.clear(), self._iou.clear(), self.heldout_iou.clear()
            self._predictions.clear(), self._cells.clear()
            self.controls.following, self.controls.index = True, 0
        if epoch not in self.planned or self.planned.index(epoch) != len(self.epochs):  # off the plan: re-plan
            self.planned = self.epochs + [epoch] + [e for e in self.planned if e > epoch]
        predictions = np.asarray(predictions, np.uint8)
        scores = snapshot_iou(self._masks, predictions, self.threshold)
        self._iou.append(scores[self._rows])
        self.heldout_iou.append(float(np.nanmean(scores[self._heldout_rows])) if self._heldout_rows
                                and not np.all(np.isnan(scores[self._heldout_rows])) else float("nan"))
        self._predictions.append(predictions)
        self._cells.append(None)
        self.epochs.append(epoch)
        if draw:
            self._draw(len(self.epochs) - 1)

    def _cell_html(self, e: int, f: int) -> str:
        """One frame's prediction and error pictures at arrived epoch index e, with alt text and the IoU."""
        row, epoch, iou = self._rows[f], self.epochs[e], self._iou[e][f]
        named = f"{self.frame_ids[f]} ({self.parts[f]})" if self.parts[f] else self.frame_ids[f]
        score = f"IoU {iou:.3f}" if np.isfinite(iou) else "IoU undefined (empty true mask)"
        prediction = self._predictions[e][row]
        errors = error_map(self._images[row], self._masks[row], prediction, self.threshold)
        about = html.escape(f"{named} at epoch {epoch}: {score} {self.resolution}")
        return (f'<div class="cae-cell" data-epoch="{epoch}">'
                f'<img class="cae-tile cae-prediction" alt="prediction for {about}" '
                f'src="{data_uri(png_bytes(prediction, self.height))}">'
                f'<img class="cae-tile cae-errors" alt="errors (correct, false and missed person pixels) for {about}" '
                f'src="{data_uri(png_bytes(errors, self.height, nearest=True))}">'
                f'<div class="cae-iou">{score}</div></div>')

    def _draw(self, e: int, publish_children: bool = True) -> None:
        """Encode arrived epoch index e's pictures (once) and put them in the frames' Stacks."""
        if self._cells[e] is not None:
            return
        self._cells[e] = [widgets.HTML(self._cell_html(e, f)) for f in range(len(self._rows))]
        if publish_children:
            self._set_children()

    def _set_children(self) -> None:
        """Each frame's Stack: one child per planned epoch (its pictures, or a placeholder until drawn)."""
        for f, stack in enumerate(self.stacks):
            children = [self._cells[e][f] if e < len(self._cells) and self._cells[e] is not None
                        else (self._drawing if e < len(self.epochs) else self._pending)
                        for e in range(len(self.planned))]
            if tuple(children) != stack.children:
                stack.children = children

    def _shown(self, change) -> None:
        """The browser showed position change["new"]: draw it and the next few if not yet drawn (a finished run's
        lazy pictures; an idle kernel answers at once, a busy one has drawn every epoch on arrival anyway)."""
        index = change["new"]
        drawn = False
        for e in range(max(0, index - 1), min(len(self.epochs), index + 4)):
            if self._cells[e] is None:
                self._draw(e, publish_children=False)
                drawn = True
        if drawn:
            self._set_children()

    def draw_all(self) -> None:
        """Encode every arrived epoch's pictures now (a finished run draws them lazily otherwise)."""
        for e in range(len(self.epochs)):
            self._draw(e, publish_children=False)
        self._set_children()

    def _summary(self, e: int) -> str:
        """The readout of arrived epoch index e."""
        heldout = self.heldout_iou[e]
        score = (f"held-out mean IoU {heldout:.3f}" if np.isfinite(heldout)
                 else f"mean IoU {np.nanmean(self._iou[e]):.3f}")
        last = self.planned[-1] if self.planned else self.epochs[-1]
        return f"epoch {self.epochs[e]} of {last} \u00b7 {score} {self.resolution}"

    def _publish(self) -> None:
        """Send the plan, the arrived epochs' readouts and curve to the browser (the pictures go with _draw)."""
        if self._cells and self._cells[min(self.controls.index, len(self._cells) - 1)] is None:
            self._shown({"new": min(self.controls.index, len(self._cells) - 1)})
        self._set_children()
        curve = self.heldout_iou if self._heldout_rows else [float(np.nanmean(s)) for s in self._iou]
        with self.controls.hold_sync():
            self.controls.epochs = list(self.planned)
            self.controls.summaries = [self._summary(e) for e in range(len(self.epochs))]
            self.controls.curve = [v if np.isfinite(v) else None for v in curve]
            self.controls.arrived = len(self.epochs)

    def epoch_index(self, epoch: int) -> int:
        """Index of the recorded epoch nearest to `epoch` (at or before it)."""
        return max(0, int(np.searchsorted(self.epochs, epoch, side="right")) - 1)

    def static_png(self) -> bytes | None:
        """The evolution so far as one labelled PNG (evolution_picture of the shown frames), None before any epoch."""
        if not self.epochs:
            return None
        picture = evolution_picture(self._recorded_ids, self._images, self._masks, self.epochs, self._predictions,
                                    self._split, self.frame_ids, threshold=self.threshold, key_epochs=self.key_epochs)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The widget's view, and the static picture (image/png) that views without a kernel show instead."""
        data = dict(self.widget._repr_mimebundle_(**kwargs))
        data["text/plain"] = (f"[interactive epoch scrubber: {len(self.epochs)} epochs recorded; run the notebook "
                              "in Jupyter to use it" + ("; the picture shows the same evolution]" if
                                                         self.static_image and self.epochs else "]"))
        png = self.static_png() if self.static_image else None
        if png is not None:
            data["image/png"] = base64.b64encode(png).decode("ascii")
        return data

    def _ipython_display_(self):
        from IPython.display import display

        self._display = display(self._repr_mimebundle_(), raw=True, display_id=True)

    def show_static(self) -> None:
        """Put the static picture of the epochs recorded so far into the output where the scrubber was displayed
        (the live callback does it when training ends)."""
        if self._display is not None and self.static_image:
            self._display.update(self._repr_mimebundle_(), raw=True)


def _live_callback(scrubber: EpochScrubber, frame_ids, images, every, epochs):
    """A PredictionSnapshots that feeds scrubber.add_epoch and tells it the run's epochs when training begins."""
    from cae_tutorial.callbacks import PredictionSnapshots

    class LiveSnapshots(PredictionSnapshots):
        """PredictionSnapshots for a live scrubber: at train begin, the slider's range from Keras' epochs."""

        def on_train_begin(self, logs=None):
            """Keras hook: plan the scrubber's epochs (when not given) before the first snapshot."""
            total = (self.params or {}).get("epochs")
            if total and (not scrubber.planned or scrubber.planned[-1] != total):
                scrubber.plan(planned_epochs(int(total), every, epochs))
            super().on_train_begin(logs)

        def on_train_end(self, logs=None):
            """Keras hook: the static picture of the run joins the scrubber's output."""
            super().on_train_end(logs)
            scrubber.show_static()

    callback = LiveSnapshots(images, frame_ids, every=every, epochs=epochs)
    callback.listeners.append(scrubber.add_epoch)
    return callback


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
    parts = [frame_role(i, split) for i in frame_ids]
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
        scores = snapshot_iou(snapshots.masks, predictions, threshold)
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
            draw.text((x, top + line + height + 2), label, fill="#444" if part == TRAINING else "black", font=font)
            x += block + gap
        pictures.append(canvas)
    return pictures


def key_epoch_indices(epochs, curve, max_rows: int = 8, key_epochs=()) -> list[int]:
    """Indices of up to max_rows recorded epochs, in order: the first and the last, the recorded epochs on each side
    of every key epoch (e.g. a switch of frame size), the two sides of the largest changes of `curve` (a held-out
    mean IoU per recorded epoch), then epochs spread evenly."""
    epochs, count = [int(e) for e in epochs], len(epochs)
    chosen: list[int] = []

    def add(*indices):
        for i in indices:
            if 0 <= i < count and i not in chosen and len(chosen) < max_rows:
                chosen.append(int(i))

    add(0, count - 1)
    for key in (int(k) for k in key_epochs if int(k) > 0):  # 0: no such epoch (a preset without a switch)
        before = [i for i, e in enumerate(epochs) if e <= key]
        if before:
            add(before[-1], before[-1] + 1)
    change = np.abs(np.diff(np.asarray(curve, float)))
    change = np.where(np.isnan(change), -1.0, change)
    for i in np.argsort(-change, kind="stable"):
        if change[i] > 0:
            add(i + 1, i)
    add(*np.unique(np.linspace(0, max(0, count - 1), min(count, max_rows)).round().astype(int)))
    return sorted(chosen)


def _text(draw, xy, text, font, fill="black"):
    """Draw text; returns its width in pixels."""
    draw.text(xy, text, fill=fill, font=font)
    return int(draw.textlength(text, font=font))


def evolution_picture(frame_ids, images, masks, epochs, predictions, split=None, shown=None, height: int = 96,
                      threshold: float = 0.5, max_rows: int = 8, key_epochs=()) -> Image.Image:
    """The scrubber's evolution as one labelled picture: a header row with each frame and its truth, then one row
    per chosen epoch (key_epoch_indices) with each frame's prediction, its errors and its IoU, and the held-out
    mean IoU of that epoch and its change since the recorded epoch before.

    images: uint8 (N, H, W, 3); masks: uint8 (N, H, W), person above one half; predictions: uint8
    (n_epochs, N, H, W), one per recorded epoch; shown: the frame ids to draw (default: every frame).
    """
    frame_ids, epochs = list(frame_ids), [int(e) for e in epochs]
    shown = list(shown or frame_ids)
    rows = _rows_of(frame_ids, shown)
    parts = [frame_role(i, split) for i in shown]
    heldout = [r for r, i in enumerate(frame_ids) if split is not None and i in split.heldout_ids]
    scores = [snapshot_iou(masks, p, threshold) for p in predictions]
    curve = [float(np.nanmean(s[heldout or rows])) if not np.all(np.isnan(s[heldout or rows])) else np.nan
             for s in scores]
    picked = key_epoch_indices(epochs, curve, max_rows, key_epochs)
    font, small = label_font(max(12, height // 7)), label_font(max(11, height // 8))
    line = font.getbbox("Ag")[3] + 4
    tile_width = max(1, round(images.shape[2] * height / images.shape[1]))
    gap, pair, left = 14, 2 * tile_width + 2, 190
    block = max(pair, 8 * len(max(shown, key=len)))
    width = left + len(rows) * (block + gap)
    name = "held-out mean IoU" if heldout else "mean IoU"
    header_height = 2 * line + height + line + 8
    row_height = height + line + 10
    canvas = Image.new("RGB", (width, 2 * line + 8 + header_height + line + row_height * len(picked) + 6), "white")
    draw = ImageDraw.Draw(canvas)
    keys = [int(k) for k in key_epochs if int(k) > 0]
    title = (f"{len(picked)} of {len(epochs)} recorded epochs: the first, the last, "
             + "".join(f"both sides of epoch {k}, " for k in keys) + f"and those where the {name} changes most")
    _text(draw, (8, 4), title, font)
    x = 8
    for label, colour in ERROR_COLOURS.items():  # the errors' colour key
        draw.rectangle((x, line + 8, x + line - 6, 2 * line + 2), fill=colour, outline=(89, 89, 89))
        x += line + _text(draw, (x + line, line + 6), label, small) + 6
    _text(draw, (x + 6, line + 6), "(errors: the frame dimmed to grey)", small, fill=(89, 89, 89))
    top = 2 * line + 10
    _text(draw, (8, top + line + height // 2), "frame | truth", font)

    def tile(array, nearest=False):
        return resized_image(array, height, nearest).convert("RGB")

    for k, (row, frame_id, part) in enumerate(zip(rows, shown, parts)):
        x = left + k * (block + gap)
        _text(draw, (x, top), frame_id, small)
        _text(draw, (x, top + line), part or "", small, fill=(68, 68, 68))
        canvas.paste(tile(images[row]), (x, top + 2 * line))
        canvas.paste(tile(masks[row]), (x + tile_width + 2, top + 2 * line))
    y = top + header_height
    for k in range(len(rows)):
        _text(draw, (left + k * (block + gap), y), "prediction | errors", small, fill=(68, 68, 68))
    y += line
    for e in picked:
        before = max((i for i in picked if i < e), default=None)
        change = "" if e == 0 or np.isnan(curve[e]) or np.isnan(curve[e - 1]) else \
            f"{curve[e] - curve[e - 1]:+.3f} since epoch {epochs[e - 1]}"
        _text(draw, (8, y + 4), f"epoch {epochs[e]}", font)
        _text(draw, (8, y + 4 + line), f"{name} " + ("undefined" if np.isnan(curve[e]) else f"{curve[e]:.3f}"),
              small)
        _text(draw, (8, y + 4 + 2 * line), change, small, fill=(68, 68, 68))
        if before is not None and before != e - 1:
            draw.line((8, y - 3, width - 8, y - 3), fill=(200, 200, 200))  # epochs skipped between these rows
        for k, row in enumerate(rows):
            x = left + k * (block + gap)
            canvas.paste(tile(predictions[e][row]), (x, y))
            errors = error_map(images[row], masks[row], predictions[e][row], threshold)
            canvas.paste(tile(errors, nearest=True), (x + tile_width + 2, y))
            iou = scores[e][row]
            _text(draw, (x, y + height + 2), f"IoU {iou:.3f}" if np.isfinite(iou) else "IoU undefined", small)
        y += row_height
    return canvas


def evolution_png(result, frame_ids=None, split=None, height: int = 96, threshold: float = 0.5,
                  max_rows: int = 8, key_epochs=()) -> bytes:
    """PNG bytes of evolution_picture for a run (a TrainingResult, a SavedRun or its snapshots)."""
    snapshots = _snapshots_of(result)
    if not len(snapshots.epochs):
        raise ValueError("the run recorded no snapshots; train with snapshot_every=1 (the default) to draw them")
    picture = evolution_picture(snapshots.frame_ids, snapshots.images, snapshots.masks, snapshots.epochs,
                                snapshots.predictions, split or getattr(result, "split", None), frame_ids, height,
                                threshold, max_rows, key_epochs)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _gif_bytes(pictures: list[Image.Image], duration_ms: int) -> bytes:
    """An animated, looping GIF of the pictures."""
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0,
                     optimize=True)
    return buffer.getvalue()


def save_evolution_gif(result, path: str | Path, frame_ids=None, height: int = 160, max_epochs: int = 60,
                       duration_ms: int = 120) -> Path:
    """An animated GIF of the evolution (at most max_epochs frames), labelled like the scrubber."""
    from cae_tutorial import plots

    recorded = len(_snapshots_of(result).epochs)
    # Pick the epochs first, so only the pictures that go into the GIF are drawn.
    pictures = evolution_frames(result, frame_ids, height,
                                epoch_indices=plots.spread_indices(recorded, max_epochs))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file(path, _gif_bytes(pictures, duration_ms))


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
        return write_file(path, f"<!DOCTYPE html><meta charset='utf-8'><title>evolution</title>{self._repr_html_()}")


def evolution_html(result, frame_ids=None, height: int = 128, max_epochs: int = 40, strip_epochs: int = 4,
                   duration_ms: int = 120) -> EvolutionHTML:
    """The static fallback: the evolution as an inline GIF beside a PNG strip of `strip_epochs` epochs."""
    from cae_tutorial import plots

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
