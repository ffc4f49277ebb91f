"""The course's figures: frames marked train / held out, masks at thresholds, the architecture, augmentation."""

from __future__ import annotations

import colorsys

import numpy as np

from cae_tutorial import plots
from cae_tutorial.data import seed_split
from cae_tutorial.model import build_cae


def titles(fig) -> str:
    return " ".join(ax.get_title() + " " + ax.get_ylabel() for ax in fig.axes)


def test_multi_frame_figures_mark_train_and_heldout(tiny_record):
    split = seed_split(tiny_record)
    ids = [split.train_ids[0], split.heldout_ids[0]]
    part = tiny_record.subset(ids)
    probabilities = np.clip(part.masks * 0.8 + 0.1, 0, 1)
    for fig in (plots.training_grid(part.images, part.masks, ids, split=split),
                plots.overlays(part.images, part.masks, probabilities, ids, split=split),
                plots.threshold_grid(part.images, part.masks, probabilities, ids, split=split)):
        text = titles(fig)
        assert "training" in text and "held-out" in text  # metric_names' one spelling of the parts


def test_threshold_grid_scores_each_threshold(tiny_record):
    part = tiny_record.subset(tiny_record.ids[:1])
    fig = plots.threshold_grid(part.images, part.masks, part.masks * 0.6, part.ids, thresholds=(0.5, 0.7))
    text = titles(fig)
    assert "threshold 0.5\nIoU 1.000" in text and "threshold 0.7\nIoU 0.000" in text


def test_architecture_diagram_shows_blocks_and_skips():
    plain = titles(plots.architecture_diagram(build_cae((32, 16, 3), (4, 8, 16))))
    fig = plots.architecture_diagram(build_cae((32, 16, 3), (4, 8, 16), skip_connections=True))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"frame", "encoder1", "encoder3", "decoder3", "mask", "latent space"} <= set(texts)
    assert "4 x 2\n x 16\n= 128" in texts  # the latent tensor: 1/8 of 32 x 16, 16 channels
    assert any("skip" in t for t in texts) and "skip" not in plain
    positions = plots.architecture_diagram(build_cae((32, 16, 3), (4, 8, 16), skip_connections=True,
                                                     coordinates=True))
    texts = [t.get_text() for t in positions.axes[0].texts]
    assert "coordinates" in texts and "32 x 16\n x 5\n= 2,560" in texts  # the frame with its 2 position channels


def test_augmentation_grid_has_a_row_per_batch(tiny_record):
    part = tiny_record.subset(tiny_record.ids[:3])
    fig = plots.augmentation_grid(part.images, part.masks, part.images[::-1], part.masks[::-1], part.ids)
    assert "augmented #3" in titles(fig) and "one augmented batch" in titles(fig)


def test_prediction_colour_is_far_from_the_frames_hues(tiny_record):
    hue = colorsys.rgb_to_hsv(*plots.PREDICTION_COLOUR)[0]
    truth_hue = colorsys.rgb_to_hsv(*plots.TRUTH_COLOUR)[0]
    assert abs(hue - truth_hue) > 0.15
    pixels = tiny_record.images.reshape(-1, 3)
    saturated = [colorsys.rgb_to_hsv(*p) for p in pixels[::7] if max(p) - min(p) > 0.25]
    near = sum(min(abs(h - hue), 1 - abs(h - hue)) < 1 / 24 for h, s, v in saturated)
    assert near <= 0.01 * max(1, len(saturated)), "no object in the frames shares the prediction's colour"
