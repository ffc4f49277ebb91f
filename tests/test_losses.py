"""Dice + focal loss from Keras' own losses, training metrics, and per-frame NumPy scores."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cae_tutorial.losses import (BinaryDice, PersonIoU, dice_focal_loss, dice_score, iou_score, per_frame_metrics,
                                 pixel_accuracy, training_metrics)


def masks():
    truth = np.zeros((2, 4, 4, 1), np.float32)
    truth[0, :2] = 1  # 8 person pixels
    truth[1, :1] = 1  # 4 person pixels
    pred = np.zeros_like(truth)
    pred[0, 1:3] = 0.9  # 4 right, 4 wrong
    pred[1, :1] = 0.8  # perfect
    return truth, pred


def test_numpy_scores_by_hand():
    truth, pred = masks()
    np.testing.assert_allclose(iou_score(truth, pred), [4 / 12, 1.0])
    np.testing.assert_allclose(dice_score(truth, pred), [8 / 16, 1.0])
    np.testing.assert_allclose(pixel_accuracy(truth, pred), [8 / 16, 1.0])
    # Empty truth: nothing to outline, so IoU is undefined (NaN, with a warning), never a perfect 1.0.
    with pytest.warns(UserWarning, match="all-background truth"):
        assert np.isnan(iou_score(np.zeros((1, 4)), np.zeros((1, 4)))[0])


def test_all_background_guess_scores_high_accuracy_but_zero_iou():
    truth = np.zeros((1, 10, 10, 1), np.float32)
    truth[0, :1] = 1
    guess = np.zeros_like(truth)
    assert pixel_accuracy(truth, guess)[0] == pytest.approx(0.9)
    assert iou_score(truth, guess)[0] == 0.0 and dice_score(truth, guess)[0] == 0.0


def test_loss_is_keras_dice_plus_keras_focal():
    truth, pred = masks()
    pred = np.clip(pred, 0.05, 0.95)
    expected = keras.losses.Dice(axis=(1, 2, 3))(truth, pred) + keras.losses.BinaryFocalCrossentropy(gamma=2.0)(
        truth, pred)
    assert float(dice_focal_loss()(truth, pred)) == pytest.approx(float(expected), rel=1e-6)
    assert float(dice_focal_loss()(truth, truth)) < 0.01


def test_training_metrics_match_numpy():
    truth, pred = masks()
    logged = {}
    for metric in training_metrics():
        metric.update_state(truth, pred)
        logged[metric.name] = float(metric.result())
    tp, fp, fn = 8, 4, 4  # pooled over both frames
    assert logged["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert logged["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert logged["accuracy"] == pytest.approx(24 / 32)


def test_person_iou_equals_keras_binary_iou():
    rng = np.random.default_rng(1)
    truth = (rng.random((3, 16, 8, 1)) > 0.8).astype(np.float32)
    pred = rng.random((3, 16, 8, 1)).astype(np.float32)
    # Whole-number weights: BinaryIoU keeps an integer confusion matrix, so fractions would be truncated to 0.
    weights = rng.integers(1, 4, (3, 16, 8, 1)).astype(np.float32)
    for kwargs in ({}, {"sample_weight": weights}):
        ours, keras_own = PersonIoU(threshold=0.4), keras.metrics.BinaryIoU(target_class_ids=[1], threshold=0.4)
        ours.update_state(truth, pred, **kwargs)
        keras_own.update_state(truth, pred, **kwargs)
        np.testing.assert_allclose(ours.total_cm.numpy(), keras_own.total_cm.numpy(), rtol=1e-5)
        assert float(ours.result()) == pytest.approx(float(keras_own.result()), rel=1e-5)


def test_dice_metric_round_trips_config():
    metric = BinaryDice(threshold=0.3)
    assert BinaryDice.from_config(metric.get_config()).threshold == 0.3


def test_per_frame_table():
    truth, pred = masks()
    table = per_frame_metrics(["a", "b"], truth, pred)
    assert [row.frame_id for row in table] == ["a", "b"]
    assert table.mean("iou") == pytest.approx((1 / 3 + 1) / 2)
    assert "mean" in str(table) and "<table>" in table._repr_html_()
    assert table.to_dict()["b"]["dice"] == 1.0


def test_boundary_aware_loss_weights_the_outline():
    from cae_tutorial.losses import outline_band

    truth = np.zeros((1, 12, 12, 1), np.float32)
    truth[0, 3:9, 3:9] = 1
    band = np.asarray(outline_band(truth))[0, ..., 0]
    assert band[3, 3] == band[2, 5] == 1 and band[5, 5] == 0 and band[0, 0] == 0  # both sides of the outline
    # An error on the outline costs more with boundary_weight > 0; the same error far inside costs less.
    on_outline, inside = np.where(truth > 0, 0.9, 0.1), np.where(truth > 0, 0.9, 0.1)
    on_outline[0, 3, 5], inside[0, 5, 5] = 0.2, 0.2
    plain, aware = dice_focal_loss(), dice_focal_loss(boundary_weight=4.0)
    assert float(aware(truth, on_outline)) > float(plain(truth, on_outline))
    assert float(aware(truth, inside)) < float(plain(truth, inside))
    assert float(dice_focal_loss(boundary_weight=0.0)(truth, on_outline)) == float(plain(truth, on_outline))
    # Saved with the model: the weight round-trips, and logits give the same loss as their probabilities.
    restored = keras.losses.deserialize(keras.losses.serialize(aware))
    assert restored.boundary_weight == 4.0 and restored.boundary_width == 3
    logits = np.log(on_outline / (1 - on_outline))
    assert float(dice_focal_loss(boundary_weight=4.0, from_logits=True)(truth, logits)) == pytest.approx(
        float(aware(truth, on_outline)), rel=1e-4)
