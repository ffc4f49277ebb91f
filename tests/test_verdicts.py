"""Verdicts with their spread: a win only when every paired difference agrees, else a draw."""

import pytest

import cae_tutorial as cae
from cae_tutorial.verdicts import VerdictError, compare, signed


def test_a_win_on_every_seed_is_a_win_with_its_range():
    verdict = compare([0.951, 0.948, 0.953], [0.944, 0.946, 0.949], "augmentation", "no augmentation")
    assert verdict.winner == "augmentation" and not verdict.is_draw
    assert verdict.differences == pytest.approx((0.007, 0.002, 0.004))
    assert verdict.low == pytest.approx(0.002) and verdict.high == pytest.approx(0.007)
    assert str(verdict) == ("augmentation beats no augmentation by 0.0043 IoU "
                            "(paired over 3 seeds: +0.0020 to +0.0070)")


def test_b_winning_everywhere_names_b():
    verdict = compare([0.90, 0.91], [0.93, 0.95], "plain", "recipe", over="folds")
    assert verdict.winner == "recipe"
    assert str(verdict).startswith("recipe beats plain by 0.0350 IoU (paired over 2 folds: +0.0300 to +0.0400)")


def test_a_spread_that_covers_zero_is_a_draw():
    verdict = compare([0.95, 0.94, 0.96], [0.94, 0.95, 0.95], "flips", "no flips")
    assert verdict.is_draw and verdict.winner is None
    assert "a draw" in str(verdict) and "-0.0100 to +0.0100" in str(verdict)


@pytest.mark.parametrize("a, b, words", [([0.9, 0.8], [0.9], "give one score per seed"),
                                          ([0.9], [0.8], "at least 2 seeds"),
                                          ([0.9, float("nan")], [0.8, 0.7], "not finite")])
def test_scores_that_cannot_be_paired_say_why(a, b, words):
    with pytest.raises(VerdictError, match=words):
        compare(a, b)


def test_signed_numbers_never_print_a_minus_zero_and_keep_a_small_value_s_sign():
    assert [signed(v, 1) for v in (0.26, -0.26, -0.04, 0.04, 0.0, -0.0)] == ["+0.3", "-0.3", "-0.04", "+0.04", "0.0",
                                                                             "0.0"]
    assert signed(-0.00004) == "-0.00004" and signed(-0.00006) == "-0.0001" and signed(0.0031, 2) == "+0.003"
    assert signed(1e-15) == "0.000000000000"  # float noise around an exact zero reads as zero, never as -0
    assert signed(float("nan")) == "+nan"
    # A draw whose mean rounds to zero says so without a sign.
    assert "the difference is 0.0000 IoU" in str(compare([0.5, 0.6], [0.6, 0.5], "a", "b"))


def test_compare_is_a_top_level_name():
    assert cae.compare is compare


def test_the_overfitting_rule_needs_a_rise_past_5_percent_and_past_its_jitter_while_training_falls():
    from cae_tutorial.verdicts import read_overfitting

    falling = [1.0, 0.8, 0.6, 0.5, 0.4]
    clear = read_overfitting(falling, [0.50, 0.40, 0.41, 0.42, 0.60])  # +50 %, jitter 0.015
    assert clear.lowest == 1 and clear.rise == pytest.approx(0.5) and clear.verdict == "overfits"
    jittery = read_overfitting(falling, [0.40, 0.50, 0.40, 0.50, 0.43])  # +7.5 %, but it jumps by 0.1 each time
    assert jittery.jitter == pytest.approx(0.1) and jittery.verdict == "within its jitter"
    assert read_overfitting(falling, [0.50, 0.40, 0.41, 0.41, 0.41]).verdict == "does not overfit"  # +2.5 %
    assert read_overfitting([1.0, 0.5, 0.6, 0.7, 0.8], [0.5, 0.4, 0.5, 0.6, 0.7]).verdict == "both got worse"
    with pytest.raises(VerdictError, match="same"):
        read_overfitting([1.0, 0.5], [0.5, float("nan")])


def test_the_overfitting_rule_in_words_names_the_steps_and_the_verdict():
    from cae_tutorial.verdicts import describe_overfitting

    falling = [1.0, 0.8, 0.6, 0.5, 0.4]
    text = describe_overfitting([184, 188, 192, 196, 200], falling, [0.50, 0.40, 0.41, 0.42, 0.60])
    assert text.startswith("its held-out loss is lowest at epoch 188 (0.4000) and ends at 0.6000 (+50.0%)")
    assert "from 0.8000 to 0.4000" in text and text.endswith("so it **overfits**")
    jittery = describe_overfitting([1, 2, 3, 4, 5], falling, [0.40, 0.50, 0.40, 0.50, 0.43], unit="iteration")
    assert "from one scored iteration to the next" in jittery and "within 2 times that" in jittery
    assert describe_overfitting([1, 2, 3, 4, 5], falling, [0.50, 0.40, 0.41, 0.41, 0.41]).endswith("**does not overfit**")
    assert describe_overfitting([7], [0.5], [0.6]) == ("its held-out loss is scored at one epoch only, so its curves "
                                                        "cannot show it")


def test_the_overfitting_reading_says_when_the_masks_stayed_as_good():
    from cae_tutorial.verdicts import describe_overfitting

    steps, falling, rising = [1, 2, 3, 4, 5], [1.0, 0.8, 0.6, 0.5, 0.4], [0.50, 0.40, 0.41, 0.42, 0.60]
    # The IoU is quoted from the lowest held-out loss (step 2) to the end, as the training loss is.
    steady = describe_overfitting(steps, falling, rising, heldout_ious=[0.90, 0.91, 0.92, 0.92, 0.95])
    assert "its held-out IoU goes from 0.910 to 0.950 over the same epochs" in steady
    assert steady.endswith("so the overfitting is in the model's confidence, not yet in its masks")
    assert "the masks even improve while the loss rises" in steady  # +0.040, beyond twice its 0.01 median move
    level = describe_overfitting(steps, falling, rising, heldout_ious=[0.90, 0.91, 0.92, 0.92, 0.902])
    assert "from 0.910 to 0.902" in level and "the masks stay as good while the loss rises" in level
    bumpy = describe_overfitting(steps, falling, rising, heldout_ious=[0.90, 0.91, 0.93, 0.91, 0.93])
    assert "the masks stay as good" in bumpy  # +0.020 within twice its own 0.02 median move: not "even improve"
    worse = describe_overfitting(steps, falling, rising, heldout_ious=[0.90, 0.91, 0.92, 0.88, 0.80])
    assert worse.endswith("from 0.910 to 0.800 over the same epochs")  # the masks got worse too: no excuse made
    flat = describe_overfitting(steps, falling, [0.50, 0.40, 0.41, 0.41, 0.41], heldout_ious=[0.9] * 5)
    assert "**does not overfit**; its held-out IoU" in flat and "confidence" not in flat
