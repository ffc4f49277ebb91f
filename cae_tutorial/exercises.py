"""Self-checks for the course's exercises: call one on your own answer; it says "right" or "not yet: <a hint>".

One function per exercise with a computable answer, named by notebook and exercise (ex03_1: notebook 3,
exercise 1). Each computes the right answer itself from what you pass and compares; none ever prints it.

    from cae_tutorial.exercises import ex03_1
    ex03_1(3 * 3 * 4 * 32)          # -> not yet: ... (the biases)

Exercises whose answer is an observation of your own run (what the pictures show, a trend over several runs)
have no self-check: their worked solutions measure and state it.
"""

from __future__ import annotations

import math

import numpy as np

RIGHT = "right"


class Verdict(str):
    """"right" or "not yet: <hint>"; shows as plain text in a notebook; `.right` is True or False."""

    @property
    def right(self) -> bool:
        """Whether the answer was right."""
        return self == RIGHT

    def __repr__(self) -> str:
        return str(self)


def _verdict(ok: bool, hint: str) -> Verdict:
    """Verdict("right") when ok, else "not yet: hint"."""
    return Verdict(RIGHT if ok else f"not yet: {hint}")


def _number(answer):
    """answer as a float, or None when it is not one number."""
    try:
        value = float(np.asarray(answer).reshape(()))
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _close(answer, truth: float, tolerance: float) -> bool:
    """Whether answer is one number within tolerance of truth."""
    value = _number(answer)
    return value is not None and abs(value - truth) <= tolerance


def _word(answer) -> str:
    """An answer as lower-case text, for answers given in words."""
    return str(answer).strip().lower().replace("_", " ").replace("-", " ")


# Notebook 1: segmentation masks.

def ex01_1(share, record, size) -> Verdict:
    """Exercise 1.1: the person's share of the pixels (0 to 1) of `record`'s frames loaded at `size` (h, w)."""
    from cae_tutorial.data import load_record

    truth = float(load_record(record.root, size=tuple(size)).subset(record.ids).masks.mean())
    value = _number(share)
    if value is not None and value > 1:
        return _verdict(False, "give a share between 0 and 1 (a mean of the 0/1 masks), not a percentage")
    return _verdict(_close(share, truth, 5e-5), f"load the same frames at {tuple(size)} and take the mean of "
                                                "their masks: a mask is 1 on person pixels, so its mean is the share")


def ex01_2(shifts, ious, accuracies, masks) -> Verdict:
    """Exercise 1.2: mean IoU and pixel accuracy of the masks shifted sideways (along the width) by each shift."""
    from cae_tutorial.losses import iou_score, pixel_accuracy

    shifted = [np.roll(masks, int(s), axis=2) for s in shifts]
    true_ious = [float(iou_score(masks, m).mean()) for m in shifted]
    true_accuracies = [float(pixel_accuracy(masks, m).mean()) for m in shifted]
    if len(ious) != len(shifts) or len(accuracies) != len(shifts):
        return _verdict(False, "give one IoU and one pixel accuracy per shift")
    if np.allclose(ious, true_accuracies, atol=1e-4) and np.allclose(accuracies, true_ious, atol=1e-4):
        return _verdict(False, "the IoUs and the accuracies are swapped")
    ok = np.allclose(ious, true_ious, atol=1e-4) and np.allclose(accuracies, true_accuracies, atol=1e-4)
    return _verdict(ok, "shift the masks along the width (np.roll(masks, shift, axis=2)) and score each shifted "
                        "copy against the unshifted masks, mean over the frames")


def ex01_3(one_hot, categorical) -> Verdict:
    """Exercise 1.3: the categorical mask as one-hot channels (height, width, classes)."""
    one_hot, categorical = np.asarray(one_hot), np.asarray(categorical)
    classes = int(categorical.max()) + 1
    if one_hot.shape != (*categorical.shape, classes):
        return _verdict(False, f"one channel per class, last: shape (height, width, classes) with {classes} classes "
                               "here, 0 included")
    if not np.isin(one_hot, (0, 1)).all() or not (one_hot.sum(axis=-1) == 1).all():
        return _verdict(False, "every pixel needs exactly one 1, in the channel of its class")
    return _verdict(np.array_equal(one_hot.argmax(axis=-1), categorical),
                    "channel k must be 1 exactly where the mask holds k")


# Notebook 2: autoencoders.

def ex02_1(channels: int, latent_numbers, image_shape) -> Verdict:
    """Exercise 2.1: the numbers in the latent space of the reconstruction CAE with `channels` bottleneck channels,
    for frames of image_shape (height, width, ...)."""
    height, width = int(image_shape[0]), int(image_shape[1])
    truth = int(channels) * (height // 8) * (width // 8)
    return _verdict(_close(latent_numbers, truth, 0), "the bottleneck sits after three stride-2 stages: count its "
                                                      "height x width x channels")


def ex02_2(narrowest, image_shape, last_filters: int = 64) -> Verdict:
    """Exercise 2.2: the numbers at the narrowest point of the reconstruction CAE without its 1x1 bottleneck."""
    height, width = int(image_shape[0]), int(image_shape[1])
    truth = int(last_filters) * (height // 8) * (width // 8)
    return _verdict(_close(narrowest, truth, 0), f"without the bottleneck the narrowest tensor is the last "
                                                 f"encoder stage's output: {last_filters} channels at 1/8 of the "
                                                 "height and width")


def ex02_3(ranking, autoencoder, heldout) -> Verdict:
    """Exercise 2.3: the held-out frame ids from the worst reconstructed to the best (mean absolute error)."""
    rebuilt = autoencoder.predict(heldout.images, verbose=0)
    error = np.abs(rebuilt - heldout.images).mean(axis=(1, 2, 3))
    truth = [heldout.ids[i] for i in np.argsort(-error, kind="stable")]
    ranking = [str(i) for i in ranking]
    if sorted(ranking) != sorted(truth):
        return _verdict(False, "rank every held-out frame once, by its id")
    if ranking == truth[::-1]:
        return _verdict(False, "worst first: the largest error at the top")
    return _verdict(ranking == truth, "reconstruct every held-out frame and rank them by their mean absolute error, "
                                      "over pixels and colours")


# Notebook 3: building the CAE.

def ex03_1(count) -> Verdict:
    """Exercise 3.1: the parameters of encoder2_down_conv (3x3, 4 -> 32 channels)."""
    import keras

    layer = keras.layers.Conv2D(32, 3)
    layer.build((None, None, None, 4))
    truth = layer.count_params()
    if _close(count, truth - 32, 0):
        return _verdict(False, "the weights are right; each filter also has a bias")
    return _verdict(_close(count, truth, 0), "a k x k convolution from c_in to c_out channels has k·k·c_in·c_out "
                                             "weights and c_out biases")


def ex03_2(count, most_lost: str, size=(256, 128)) -> Verdict:
    """Exercise 3.2: the parameters of build_cae(size, filters=(8, 32, 64)) and the block that lost the most."""
    from cae_tutorial.model import build_cae

    def blocks(model):
        counts = {}
        for layer in model.layers:
            counts[layer.name.split("_")[0]] = counts.get(layer.name.split("_")[0], 0) + layer.count_params()
        return counts

    seed, light = build_cae((*size, 3)), build_cae((*size, 3), filters=(8, 32, 64))
    before, after = blocks(seed), blocks(light)
    loser = max(before, key=lambda block: before[block] - after.get(block, 0))
    if not _close(count, light.count_params(), 0):
        return _verdict(False, "build the model with filters=(8, 32, 64) and count its parameters "
                               "(count_params(), or sum them per block)")
    return _verdict(str(most_lost) == loser, "compare each block's parameters in both models (the block is the "
                                             "part of a layer's name before '_'); the widest blocks cost the most")


def ex03_3(height, width) -> Verdict:
    """Exercise 3.3: a frame size near (100, 50) that the CAE accepts."""
    sizes = (_number(height), _number(width))
    if None in sizes or min(sizes) <= 0:
        return _verdict(False, "give a positive height and width")
    near = abs(sizes[0] - 100) <= 8 and abs(sizes[1] - 50) <= 8
    return _verdict(near and all(s % 8 == 0 for s in sizes),
                    "three stride-2 blocks halve the size three times: the height and width must divide by 2 x 2 x 2 "
                    "(and stay near 100 x 50)")


# Notebook 4: training with Keras.

def ex04_1(answer: str, with_focal, dice_only, epochs: int) -> Verdict:
    """Exercise 4.1: "faster" or "slower": how Dice alone learns in the first `epochs` epochs, against Dice + focal,
    by the held-out IoU (pooled) at the last scored epoch within them (runs: TrainingResult or a history dict)."""
    def last_within(run):
        history = getattr(run, "history", run)["val_iou"][:int(epochs)]
        values = [v for v in history if not math.isnan(v)]
        return values[-1] if values else float("nan")

    answer = _word(answer)
    if answer not in ("faster", "slower"):
        return _verdict(False, 'answer "faster" or "slower" (Dice alone, against Dice + focal)')
    focal, alone = last_within(with_focal), last_within(dice_only)
    if math.isnan(focal) or math.isnan(alone):
        return _verdict(False, f"both runs need a held-out score within their first {epochs} epochs")
    return _verdict((answer == "faster") == (alone > focal), "compare the held-out IoU of both runs at the same "
                                                             "epoch, the last one scored")



def ex04_2(epoch, result) -> Verdict:
    """Exercise 4.2: the first scored epoch (counting from 1) whose held-out IoU is above 0.5; None if none is."""
    scored = [(e, v) for e, v in enumerate(result.history["val_iou"], start=1) if not math.isnan(v)]
    passed = [e for e, v in scored if v > 0.5]
    if not passed:
        return _verdict(epoch is None, "no scored epoch passes 0.5 in this run: answer None")
    if epoch is None:
        return _verdict(False, "some scored epoch passes 0.5: look again")
    value = _number(epoch)
    if value is not None and value + 1 == passed[0]:
        return _verdict(False, "count epochs from 1: the history's index 0 is epoch 1")
    return _verdict(value == passed[0], "look for the first epoch whose held-out IoU is above 0.5, among the "
                                        "scored ones (the others are NaN)")


def ex04_3(epoch, result) -> Verdict:
    """Exercise 4.3: the scored epoch (counting from 1) with the lowest held-out loss, where
    keras.callbacks.EarlyStopping(monitor="val_loss", restore_best_weights=True) with a patience as long as the run
    restores its weights from."""
    scored = [(e, v) for e, v in enumerate(result.history["val_loss"], start=1) if not math.isnan(v)]
    if not scored:
        return _verdict(False, "this run scored no held-out loss: train with validation_data")
    best = min(scored, key=lambda pair: pair[1])[0]
    value = _number(epoch)
    if value is not None and value + 1 == best:
        return _verdict(False, "count epochs from 1: the history's index 0 is epoch 1")
    return _verdict(value == best, "look for the smallest held-out loss (result.history['val_loss']) among the "
                                   "scored epochs (the others are NaN)")


# Notebook 5: the CPU recipe.

def ex05_1(better: str, scores: dict) -> Verdict:
    """Exercise 5.1: the name (a key of scores: name -> the held-out IoU of each seed's run) with the higher mean."""
    means = {name: float(np.mean(values)) for name, values in scores.items()}
    if better not in means:
        return _verdict(False, f"answer with one of the recipes' names: {sorted(means)}")
    return _verdict(means[better] == max(means.values()), "compare the means over the seeds, not one seed's score")


def ex05_2(trick: str, verdicts: dict) -> Verdict:
    """Exercise 5.2: the trick (a key of verdicts: name -> verdicts.Verdict, its IoU gain over the rung below) with
    the largest mean gain in held-out IoU."""
    if trick not in verdicts:
        return _verdict(False, f"answer with one of the tricks' names: {sorted(verdicts)}")
    best = max(verdicts, key=lambda name: verdicts[name].mean)
    return _verdict(trick == best, "compare the mean paired differences (Verdict.mean), not a single seed's")


def ex05_3(rate, preset, steps: int, step: int) -> Verdict:
    """Exercise 5.3: the learning rate of the preset's cosine schedule at `step` (of steps x preset.epochs), by the
    equation: rate0 x (alpha + (1 - alpha) x (1 + cos(pi x step / total)) / 2), alpha = 0.05."""
    total = max(1, steps * preset.epochs)
    fraction = min(step, total) / total
    truth = preset.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * fraction)))
    if preset.schedule != "cosine":
        truth = preset.learning_rate
    return _verdict(_close(rate, truth, 1e-4 * truth),
                    "t / T is the step over all the steps of the run (steps per epoch x epochs); alpha = 0.05 is the "
                    "share of the first rate left at the end")


# Notebook 6: predictions vs reality.

def ex06_1(closest: str, frame, training) -> Verdict:
    """Exercise 6.1: the id of the training frame (of the Record `training`) closest to `frame` (H, W, 3) by mean
    absolute pixel difference."""
    distance = np.abs(training.images - np.asarray(frame)).mean(axis=(1, 2, 3))
    truth = training.ids[int(np.argmin(distance))]
    if str(closest) not in training.ids:
        return _verdict(False, f"answer with a training frame's id: {list(training.ids)}")
    return _verdict(str(closest) == truth, "take the mean absolute difference over every pixel and colour to each "
                                           "training frame, and keep the smallest")


def ex06_2(folder, frames) -> Verdict:
    """Exercise 6.2: `cae-tutorial predict --output folder` on the frame files `frames`: a mask and an overlay per
    frame, each at the frame's own size."""
    from pathlib import Path

    from PIL import Image

    folder = Path(folder)
    for frame in map(Path, frames):
        stem = frame.stem
        for kind in ("mask", "overlay"):
            made = folder / f"{stem}_{kind}.png"
            if not made.is_file():
                return _verdict(False, f"{made.name} is missing: pass every frame to --input and this folder "
                                       "to --output")
            with Image.open(made) as picture, Image.open(frame) as original:
                if picture.size != original.size:
                    return _verdict(False, f"{made.name} is not at its frame's size: predict writes masks at each "
                                           "frame's own size")
    return Verdict(RIGHT)


def ex06_3(band_iou, probabilities, masks, threshold: float = 0.5) -> Verdict:
    """Exercise 6.3: the IoU, pooled over the frames, of the pixels within 2 of the true outline (outline_band with
    a 5 x 5 window)."""
    from cae_tutorial.losses import outline_band

    edge = np.asarray(outline_band(np.asarray(masks, np.float32), width=5))[..., 0] > 0.5
    predicted, truth = np.asarray(probabilities)[..., 0] >= threshold, np.asarray(masks)[..., 0] > 0.5
    iou = (predicted & truth & edge).sum() / max(1, ((predicted | truth) & edge).sum())
    return _verdict(_close(band_iou, float(iou), 1e-4), "count, inside the band only, the pixels both call person "
                                                        "and the pixels either calls person, over all the frames")


# Notebook 7: going further.

def ex07_1(beats_both, stacked: float, network: float, classifier: float) -> Verdict:
    """Exercise 7.1: True if the stacked CAE's held-out IoU beats both the network's and the classifier's."""
    if not isinstance(beats_both, (bool, np.bool_)):
        return _verdict(False, "answer True or False")
    return _verdict(bool(beats_both) == (stacked > max(network, classifier)), "compare the stacked CAE's IoU with "
                                                                               "each of the other two")


def ex07_2(larger_gap: str, training: dict, heldout: dict) -> Verdict:
    """Exercise 7.2: the approach (a key of both dicts: name -> IoU) with the larger generalisation gap, its training
    score minus its held-out score."""
    if larger_gap not in training or set(training) != set(heldout):
        return _verdict(False, f"answer with one of {sorted(training)}, with both scores for each")
    gaps = {name: training[name] - heldout[name] for name in training}
    return _verdict(gaps[larger_gap] == max(gaps.values()), "the generalisation gap is the training score minus "
                                                            "the held-out one, not the training score alone")


# Notebook 8: the full dataset.

def ex08_2(publish: str) -> Verdict:
    """Exercise 8.2: which split's held-out score you would publish for "segments people": "by frame" or "by
    dancer"."""
    answer = _word(publish)
    if "frame" in answer and "dancer" not in answer and "record" not in answer:
        return _verdict(False, "frames of a dancer seen in training ask whether the model recognises that dancer "
                               "again; the claim is about people it has never seen")
    return _verdict("dancer" in answer or "record" in answer, 'answer "by frame" or "by dancer"')


def ex08_3(cache_bytes, files) -> Verdict:
    """Exercise 8.3: the bytes that cache="memory" holds for the RecordFiles `files` (decoded uint8 frames and
    masks at the training size)."""
    return _verdict(_close(cache_bytes, files.decoded_bytes(), 0), "count height x width x (3 colours + 1 mask) "
                                                                   "bytes per frame, at the training size")
