"""Figures return matplotlib Figures; the epoch scrubber reacts to its slider without a browser."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from PIL import Image

from cae_tutorial import plots
from cae_tutorial.widgets import EpochScrubber, png_bytes, save_evolution_gif

matplotlib.use("Agg")


def test_every_figure_renders_and_saves(tiny_result, tiny_record, tmp_path):
    part = tiny_record.subset(tiny_result.split.heldout_ids[:3])
    probabilities = tiny_result.model.predict(part.images, verbose=0)
    table = tiny_result.evaluate(tiny_record)
    figures = {
        "grid": plots.training_grid(part.images, part.masks, part.ids),
        "loss": plots.loss_curves(tiny_result.history),
        "metrics": plots.metric_curves(tiny_result.history),
        "evolution": plots.evolution_grid(tiny_result.snapshots, every=1),
        "overlays": plots.overlays(part.images, part.masks, probabilities, part.ids, scores=[0.5, 0.6, 0.7]),
        "iou": plots.iou_bars(table, reference=0.9),
    }
    for name, figure in figures.items():
        assert isinstance(figure, matplotlib.figure.Figure), name
        figure.savefig(tmp_path / f"{name}.png")
        assert Image.open(tmp_path / f"{name}.png").size[0] > 100
    assert len(figures["loss"].axes[0].lines) == 2  # training and held-out
    assert len(figures["evolution"].axes) == 10 * 5  # 10 frames x (frame + epochs 0..3)


def test_overlay_is_the_seeds_blend():
    image = np.full((2, 2, 3), 0.5, np.float32)
    mask = np.array([[1, 0], [0, 0]], np.float32)
    out = plots.overlay(image, mask, colour=(1.0, 0.0, 0.0))
    np.testing.assert_allclose(out[0, 0], [0.4 * 0.5 + 0.6, 0.2, 0.2])
    np.testing.assert_allclose(out[1, 1], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(plots.overlay((image * 255).astype(np.uint8), mask * 255)[1, 1], 0.5, atol=0.01)


def test_scrubber_slider_changes_images_and_readout(tiny_result):
    scrubber = EpochScrubber(tiny_result, frame_ids=["dance_00090", "dance_00120"], height=64)
    assert scrubber.slider.value == 3 and scrubber.slider.max == 3 and scrubber.slider.min == 0
    last = [image.value for image in scrubber.predictions]
    last_readout = scrubber.readout.value
    scrubber.slider.value = 0
    first = [image.value for image in scrubber.predictions]
    assert first != last and scrubber.readout.value != last_readout
    assert "epoch 0" in scrubber.readout.value
    assert first[0] == png_bytes(tiny_result.snapshots.at(0)[tiny_result.snapshots.frame_ids.index("dance_00090")], 64)
    assert all(score.value.startswith("IoU ") for score in scrubber.scores)


def test_play_and_slider_stay_linked(tiny_result):
    scrubber = EpochScrubber(tiny_result, height=32)
    scrubber.play.value = 2
    assert scrubber.slider.value == 2 and "epoch 2" in scrubber.readout.value
    scrubber.slider.value = 1
    assert scrubber.play.value == 1


def test_static_gif_fallback(tiny_result, tmp_path):
    path = save_evolution_gif(tiny_result, tmp_path / "evolution.gif", frame_ids=["dance_00090"], height=48)
    gif = Image.open(path)
    assert gif.format == "GIF" and gif.n_frames == 4


def test_evolution_grid_columns_are_recorded_epochs_spread_evenly(tiny_result):
    from types import SimpleNamespace

    snapshots = tiny_result.snapshots
    every_fourth = SimpleNamespace(epochs=np.arange(0, 241, 4), frame_ids=snapshots.frame_ids, images=snapshots.images,
                                   at=lambda epoch: snapshots.at(0))

    def titles(fig):
        return [ax.get_title() for ax in fig.axes if ax.get_title().startswith("epoch")]

    spread = titles(plots.evolution_grid(every_fourth))
    assert len(spread) == 8 and spread[0] == "epoch 0" and spread[-1] == "epoch 240"
    assert all(int(t.split()[1]) % 4 == 0 for t in spread)  # only epochs that were recorded
    assert titles(plots.evolution_grid(every_fourth, epochs=[0, 8, 16])) == ["epoch 0", "epoch 8", "epoch 16"]
    with pytest.raises(ValueError, match="not recorded"):
        plots.evolution_grid(every_fourth, epochs=[0, 2])
    matplotlib.pyplot.close("all")
