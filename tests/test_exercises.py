"""The exercises' self-checks: the right answer gets "right", a wrong one "not yet" with a hint, never the answer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cae_tutorial import exercises
from cae_tutorial.data import load_record


def right(verdict) -> bool:
    assert isinstance(verdict, exercises.Verdict) and repr(verdict) == str(verdict)
    return verdict == "right" and verdict.right


def not_yet(verdict, *hint_words) -> bool:
    """A "not yet: ..." verdict whose hint holds the given words."""
    return verdict.startswith("not yet: ") and not verdict.right and all(w in verdict for w in hint_words)


def test_notebook_1_checks(tiny_record):
    bigger = load_record(size=(128, 64))
    share = float(bigger.masks.mean())
    assert right(exercises.ex01_1(share, tiny_record, bigger.size))
    assert not_yet(exercises.ex01_1(float(tiny_record.masks.mean()) + 0.01, tiny_record, bigger.size))
    assert not_yet(exercises.ex01_1(100 * share, tiny_record, bigger.size), "percentage")
    from cae_tutorial.losses import iou_score, pixel_accuracy

    masks, shifts = tiny_record.masks, [1, 4]
    ious = [float(iou_score(masks, np.roll(masks, s, axis=2)).mean()) for s in shifts]
    accuracies = [float(pixel_accuracy(masks, np.roll(masks, s, axis=2)).mean()) for s in shifts]
    assert right(exercises.ex01_2(shifts, ious, accuracies, masks))
    assert not_yet(exercises.ex01_2(shifts, accuracies, ious, masks), "swapped")
    rolled_wrong_way = [float(iou_score(masks, np.roll(masks, s, axis=1)).mean()) for s in shifts]
    assert not_yet(exercises.ex01_2(shifts, rolled_wrong_way, accuracies, masks), "width")
    categorical = np.array([[0, 1, 2], [2, 1, 0]])
    assert right(exercises.ex01_3(np.eye(3, dtype=int)[categorical], categorical))
    assert not_yet(exercises.ex01_3(np.eye(2, dtype=int)[categorical.clip(0, 1)], categorical), "class")
    assert not_yet(exercises.ex01_3(np.eye(3, dtype=int)[categorical[::-1]], categorical))


def test_notebook_2_checks():
    import keras

    shape = (128, 64, 3)
    assert right(exercises.ex02_1(2, 2 * 16 * 8, shape)) and not_yet(exercises.ex02_1(2, 2 * 128 * 64, shape))
    assert right(exercises.ex02_2(64 * 16 * 8, shape)) and not_yet(exercises.ex02_2(64 * 16 * 8 * 3, shape))
    frames = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32)
    frames[1] *= 0.1  # far from what a sigmoid of zeros (0.5) gives back
    heldout = SimpleNamespace(ids=("a", "b", "c"), images=frames)
    flat = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(3, 1, kernel_initializer="zeros",
                                                                          activation="sigmoid")])
    error = np.abs(0.5 - frames).mean(axis=(1, 2, 3))
    worst_first = [heldout.ids[i] for i in np.argsort(-error)]
    assert right(exercises.ex02_3(worst_first, flat, heldout))
    assert not_yet(exercises.ex02_3(worst_first[::-1], flat, heldout), "worst first")
    assert not_yet(exercises.ex02_3(worst_first[:2], flat, heldout), "every")


def test_notebook_3_checks():
    assert right(exercises.ex03_1(3 * 3 * 4 * 32 + 32))
    assert not_yet(exercises.ex03_1(3 * 3 * 4 * 32), "bias") and not_yet(exercises.ex03_1("many"))
    from cae_tutorial.model import build_cae

    count = build_cae((32, 16, 3), filters=(8, 32, 64)).count_params()
    assert right(exercises.ex03_2(count, "decoder1", (32, 16)))
    assert not_yet(exercises.ex03_2(count, "encoder1", (32, 16))) and not_yet(exercises.ex03_2(count + 1, "decoder1",
                                                                                                (32, 16)))
    assert right(exercises.ex03_3(96, 48)) and right(exercises.ex03_3(104, 56))
    assert not_yet(exercises.ex03_3(100, 50), "divide") and not_yet(exercises.ex03_3(800, 400))


def _run(ious):
    """A stand-in for a TrainingResult: its held-out IoU per epoch (NaN where not scored)."""
    return SimpleNamespace(history={"val_iou": list(ious)})


def test_notebook_4_checks():
    nan = math.nan
    focal, alone = _run([nan, 0.4, nan, 0.7]), _run([nan, 0.2, nan, 0.6])
    assert right(exercises.ex04_1("slower", focal, alone, 4)) and not_yet(exercises.ex04_1("faster", focal, alone, 4))
    early_lead = _run([nan, 0.5, nan, 0.6])  # ahead at epoch 2, behind by epoch 4
    assert right(exercises.ex04_1("faster", focal, early_lead, 2)) and right(exercises.ex04_1("slower", focal,
                                                                                              early_lead, 4))
    assert not_yet(exercises.ex04_1("same", focal, alone, 4), "faster")
    passing = _run([0.1, nan, nan, 0.4, nan, nan, 0.6, 0.7])
    assert right(exercises.ex04_2(7, passing))
    assert not_yet(exercises.ex04_2(6, passing), "from 1") and not_yet(exercises.ex04_2(8, passing))
    assert not_yet(exercises.ex04_2(None, passing))
    never = _run([0.1, nan, 0.3])
    assert right(exercises.ex04_2(None, never)) and not_yet(exercises.ex04_2(3, never), "None")
    losses = SimpleNamespace(history={"val_loss": [0.9, nan, 0.4, nan, 0.5, 0.45]})
    assert right(exercises.ex04_3(3, losses))
    assert not_yet(exercises.ex04_3(2, losses), "from 1") and not_yet(exercises.ex04_3(6, losses), "smallest")
    assert not_yet(exercises.ex04_3(1, SimpleNamespace(history={"val_loss": [nan, nan]})), "validation_data")


def test_notebook_5_checks():
    from cae_tutorial.presets import get_preset
    from cae_tutorial.verdicts import compare

    seeds = {"cpu preset": [0.7, 0.5, 0.6], "seed preset": [0.55, 0.65, 0.5]}  # means 0.6 and 0.567
    assert right(exercises.ex05_1("cpu preset", seeds)) and not_yet(exercises.ex05_1("seed preset", seeds), "means")
    assert not_yet(exercises.ex05_1("the cpu one", seeds), "names")
    gains = {"augmentation": compare([0.8, 0.9], [0.7, 0.7]), "coordinates": compare([0.9, 0.6], [0.7, 0.7])}
    assert right(exercises.ex05_2("augmentation", gains)) and not_yet(exercises.ex05_2("coordinates", gains), "mean")
    assert not_yet(exercises.ex05_2("bfloat16", gains), "names")
    cosine = get_preset("cpu", epochs=10)
    half_way = cosine.learning_rate * (0.05 + 0.95 * 0.5)  # cos(pi / 2) = 0
    assert right(exercises.ex05_3(half_way, cosine, 4, 20)) and not_yet(exercises.ex05_3(cosine.learning_rate / 2,
                                                                                         cosine, 4, 20), "alpha")
    assert right(exercises.ex05_3(cosine.learning_rate * 0.05, cosine, 4, 40))
    assert right(exercises.ex05_3(5e-4, get_preset("seed"), 1, 7))


def test_notebook_6_checks(tiny_record, tmp_path):
    training = tiny_record.subset(tiny_record.ids[:3])
    frame = tiny_record.images[1] * 0.98
    assert right(exercises.ex06_1(tiny_record.ids[1], frame, training))
    assert not_yet(exercises.ex06_1(tiny_record.ids[2], frame, training))
    assert not_yet(exercises.ex06_1(tiny_record.ids[5], frame, training), "training frame")
    frames = []
    for name in ("a_1", "a_2"):
        Image.new("RGB", (12, 20)).save(tmp_path / f"{name}.png")
        frames.append(tmp_path / f"{name}.png")
    out = tmp_path / "preds"
    out.mkdir()
    Image.new("L", (12, 20)).save(out / "a_1_mask.png")
    Image.new("RGB", (12, 20)).save(out / "a_1_overlay.png")
    assert not_yet(exercises.ex06_2(out, frames), "a_2_mask.png")
    Image.new("L", (6, 10)).save(out / "a_2_mask.png")
    Image.new("RGB", (12, 20)).save(out / "a_2_overlay.png")
    assert not_yet(exercises.ex06_2(out, frames), "size")
    Image.new("L", (12, 20)).save(out / "a_2_mask.png")
    assert right(exercises.ex06_2(out, frames))
    from cae_tutorial.losses import outline_band

    masks = tiny_record.masks
    probabilities = np.clip(np.roll(masks, 1, axis=2) * 0.9 + 0.05, 0, 1)
    edge = np.asarray(outline_band(masks, width=5))[..., 0] > 0.5
    predicted, truth = probabilities[..., 0] >= 0.5, masks[..., 0] > 0.5
    band = (predicted & truth & edge).sum() / ((predicted | truth) & edge).sum()
    assert right(exercises.ex06_3(band, probabilities, masks))
    whole = (predicted & truth).sum() / (predicted | truth).sum()
    assert not_yet(exercises.ex06_3(whole, probabilities, masks), "band")


def test_notebook_7_and_8_checks():
    assert right(exercises.ex07_1(True, 0.9, 0.8, 0.85)) and right(exercises.ex07_1(False, 0.84, 0.8, 0.85))
    assert not_yet(exercises.ex07_1(False, 0.9, 0.8, 0.85)) and not_yet(exercises.ex07_1("yes", 0.9, 0.8, 0.85))
    training = {"CAE": 0.95, "pixel classifier": 0.99}
    heldout = {"CAE": 0.90, "pixel classifier": 0.97}
    assert right(exercises.ex07_2("CAE", training, heldout))
    assert not_yet(exercises.ex07_2("pixel classifier", training, heldout), "gap")
    assert right(exercises.ex08_2("by dancer")) and right(exercises.ex08_2("By record"))
    assert not_yet(exercises.ex08_2("by frame"), "never seen")
    files = SimpleNamespace(decoded_bytes=lambda: 4 * 128 * 64 * 4)
    assert right(exercises.ex08_3(4 * 128 * 64 * 4, files)) and not_yet(exercises.ex08_3(4 * 128 * 64 * 3, files))


@pytest.mark.parametrize("name", [n for n in dir(exercises) if n.startswith("ex")])
def test_every_check_is_tested_and_documented(name):
    source = open(__file__).read()
    assert f"exercises.{name}(" in source, f"{name} has no test here"
    assert getattr(exercises, name).__doc__.startswith("Exercise ")
