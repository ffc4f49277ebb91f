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


def _cell_png(cell, kind: str = "prediction") -> bytes:
    """The PNG bytes of one Stack child's prediction (or errors) <img>."""
    import base64
    import re

    source = re.search(rf'class="cae-tile cae-{kind}"[^>]*src="data:image/png;base64,([^"]+)"', cell.value).group(1)
    return base64.b64decode(source)


def test_scrubber_index_picks_each_frames_pictures_and_readout(tiny_result):
    scrubber = EpochScrubber(tiny_result, frame_ids=["dance_00090", "dance_00120"], height=64)
    controls = scrubber.controls
    assert controls.epochs == [0, 1, 2, 3] and controls.arrived == 4 and controls.index == 3  # the last shows
    assert "epoch 3 of 3" in controls.summaries[3] and "at model size 64 x 32" in controls.summaries[3]
    assert all(len(stack.children) == 4 for stack in scrubber.stacks)
    assert scrubber._drawing in scrubber.stacks[0].children  # epoch 0 not drawn yet: drawn when first shown
    controls.index = 0  # as the browser does
    first = scrubber.stacks[0].children[0]
    assert first is not scrubber._drawing
    row = tiny_result.snapshots.frame_ids.index("dance_00090")
    assert _cell_png(first) == png_bytes(tiny_result.snapshots.at(0)[row], 64)
    assert "epoch 0" in controls.summaries[0] and "epoch 0" in first.value
    assert 'alt="prediction for dance_00090 (training) at epoch 0: IoU ' in first.value
    assert _cell_png(first) != _cell_png(scrubber.stacks[0].children[3])


def test_stacks_follow_the_controls_in_the_browser(tiny_result):
    scrubber = EpochScrubber(tiny_result, height=32)
    links = scrubber.links  # widgets.jslink: applied in the browser, with no kernel round trip
    assert all(link.source == (scrubber.controls, "index") for link in links)
    assert [id(link.target[0]) for link in links] == [id(stack) for stack in scrubber.stacks]
    assert all(link.target[1] == "selected_index" for link in links)


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


def test_loss_curves_name_the_boundary_weighted_loss():
    class Run:  # what loss_curves reads of a TrainingResult
        history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}
        config = {"compile": {"loss": "dice_focal", "loss_config": {"config": {"boundary_weight": 5.0}}}}

    assert plots.loss_curves(Run()).axes[0].get_ylabel() == "Dice + boundary-weighted focal loss"
    Run.config = {"compile": {"loss": "dice_focal", "loss_config": {"config": {"boundary_weight": 0.0}}}}
    assert plots.loss_curves(Run()).axes[0].get_ylabel() == "Dice + focal loss"
    assert plots.loss_curves(Run.history).axes[0].get_ylabel() == "Dice + focal loss"  # a plain History dict
