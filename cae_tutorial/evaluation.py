"""Prediction and scores: probabilities or masks for frames of any size, and per-frame IoU / Dice / accuracy.

    probabilities = predict(result, frames)                  # each frame's own size, as `cae-tutorial predict`
    masks = predict_masks(model, frames, threshold=0.5)
    table = evaluate(result, record)                         # says which frames and at which resolution

One rule for which frames are scored: the frames you name (frame_ids, or "all"); else, when a split is known (a
TrainingResult's, or split=...), its held-out frames; else every frame of the data. One rule for the resolution,
shared by show_results: "original" (each frame's own size, what users see) whenever the record's original mask
files are found, else "model" (the size the model predicts at). The table prints both rules' outcome under it.
"""

from __future__ import annotations


import numpy as np

from cae_tutorial.callbacks import sigmoid
from cae_tutorial.contract import outputs_logits
from cae_tutorial.data import SIZE_MULTIPLE, DataError, Record, read_originals, resize_probabilities
from cae_tutorial.losses import MetricsTable, per_frame_metrics
from cae_tutorial.results import TrainingResult, no_heldout_error
from cae_tutorial.upsampling import DEFAULT_METHOD, METHODS, frame_at_size, upsample


#: Inference levers of the full-resolution path (predict to the frames' own size, evaluate at "original"),
#: measured by 4-fold cross-validation over the 7 frames of record 136 (benchmarks/levers_bench.py,
#: benchmarks/README.md). Feeding a model that takes any size the full-resolution frame at 1.25 times its training
#: size gained +0.0012 IoU on that CV mean (every fold) but lost 0.016 on the embedded clip's held-out frames (every
#: frame), for 1.6 times the inference: too fragile to be a default. INPUT_SCALE = 1 predicts at the training size;
#: input_scale=1.25 is the option for footage like record 136.
INPUT_SCALE = 1.0
#: Test-time flips (average with the mirrored frame's prediction) stay off by default: with guided upsampling they
#: gave +0.0001 at the model's size and lost 0.0006 at 1.25 times it, for twice the inference.
FLIP_AVERAGE = False


class Predictor:
    """Anything that gives person probabilities, as a model for evaluate / predict: e.g. the pixel baseline,
    ``Predictor(lambda frames: predict_pixel_classifier(classifier, frames), "pixel baseline")``.

    function(frames (N, H, W, 3) float in [0, 1]) -> probabilities (N, H, W, 1) in [0, 1], at the frames' size.
    """

    def __init__(self, function, name: str = "predictor"):
        self.function, self.name = function, name

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return np.asarray(self.function(frames), np.float32).reshape(*np.shape(frames)[:3], 1)

    def __repr__(self) -> str:
        return f"Predictor({self.name})"


def _frames_list(frames) -> tuple[list[np.ndarray], tuple | None]:
    """Float frames in [0, 1], one (H, W, 3) array each, and their own sizes when frames say (data.Frames)."""
    own_sizes = getattr(frames, "sizes", None)
    frames = getattr(frames, "images", frames)  # a Record or Frames: its frames
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = frames[None]
    out = []
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.ndim != 3:  # channels last; their number is the model's to check (RGB, or RGB + extra channels)
            raise DataError(f"frame {i} has shape {frame.shape}; give frames (H, W, channels), e.g. (H, W, 3) RGB, "
                            "float in [0, 1] or uint8")
        if frame.dtype == np.uint8:
            frame = frame.astype(np.float32) / 255.0
        elif not np.issubdtype(frame.dtype, np.floating):
            raise DataError(f"frame {i} is {frame.dtype}; give float32 in [0, 1] or uint8 0..255")
        out.append(frame.astype(np.float32, copy=False))
    return out, own_sizes


def model_size(model, frames_sizes=(), size=None) -> tuple[int, int] | None:
    """The (height, width) the model predicts at: its fixed input size, else `size`, else a run's training size,
    else (None) the frames' own size."""
    if isinstance(model, TrainingResult):
        trained = model.config.get("size")
        model = model.require_model()
        size = size or (tuple(trained) if trained else None)
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) == 1 and None not in tuple(inputs[0].shape[1:3]):
        return tuple(int(v) for v in inputs[0].shape[1:3])
    return None if size is None else (int(size[0]), int(size[1]))


def takes_any_size(model) -> bool:
    """Whether a Keras model (or a run's) takes frames of any height and width (the fully convolutional CAE)."""
    if isinstance(model, TrainingResult):
        model = model.require_model()
    if isinstance(model, Predictor):
        return False  # a function of the frames at the size it was fitted at: it keeps that size
    inputs = getattr(model, "inputs", None) or []
    return len(inputs) == 1 and tuple(inputs[0].shape[1:3]) == (None, None)


def scaled_size(size, input_scale: float) -> tuple[int, int]:
    """(height, width) times input_scale, each rounded to the nearest multiple of 8 (the CAE halves it 3 times)."""
    return tuple(max(SIZE_MULTIPLE, int(v * input_scale / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE) for v in size)


def check_input_scale(input_scale) -> float:
    """input_scale as a float, or one line saying what it takes."""
    if isinstance(input_scale, bool) or not isinstance(input_scale, (int, float)) or not 0.25 <= input_scale <= 4:
        raise ValueError(f"input_scale must be a number from 0.25 to 4 (1: predict at the model's size), got "
                         f"{input_scale!r}")
    return float(input_scale)


def _resize_frames(frames: list[np.ndarray], size) -> np.ndarray:
    """Frames resized smoothly (antialiased bilinear) to one size, as one array."""
    import tensorflow as tf

    return np.stack([frame if frame.shape[:2] == tuple(size) else
                     np.clip(tf.image.resize(frame, size, method="bilinear", antialias=True).numpy(), 0.0, 1.0)
                     for frame in frames]).astype(np.float32)


def predict(model, frames, *, size="model", model_input_size=None, batch_size: int = 4,
            from_logits: bool | None = None, flip_average: bool = FLIP_AVERAGE, upsampling: str = DEFAULT_METHOD,
            input_scale: float = INPUT_SCALE):
    """Person probabilities (float32 in [0, 1], also from a model that outputs logits) for frames of any size.

    model: a Keras model, a TrainingResult (its model, logits and training size), or a Predictor.
    frames: an array (N, H, W, 3) or a list of frames of different sizes, float in [0, 1] or uint8 0..255; a
    Record; or data.read_frames' Frames (frames read at the model's size, with their files' own sizes).
    Frames not at the model's size are resized to it (antialiased bilinear) and the model predicts there.
    size: "model" -> (N, h, w, 1) at the model's size; "original" -> each frame's own size (a Frames' file sizes),
    one array (N, H, W, 1) when all sizes are equal, else a list of (H, W, 1); or a list of (height, width), one
    per frame. model_input_size: the size a model that takes any size predicts at (default: a run's training
    size, else each frame's own). from_logits: None tells from the model. flip_average: also predict the mirrored
    frames and average (test-time augmentation, twice the inference cost). upsampling (to any size but the
    model's): "guided" (default) puts the outline on the edges of the full-resolution frame (the frame itself
    when given at that size, else read from a Frames' files; cae_tutorial.upsampling), "bilinear" the plain resize.
    input_scale: when the output is upsampled to larger frames and their full-resolution pictures are at hand (as
    for upsampling), a model that takes any size predicts at input_scale times its size (each side a multiple of
    8), fed from those pictures; 1 predicts at the model's size. It does not apply to size="model", to a model of
    fixed input size, nor to a Predictor. Default INPUT_SCALE (1; see its comment for why).
    """
    check_upsampling(upsampling)
    input_scale = check_input_scale(input_scale)
    if size not in ("model", "original") and not isinstance(size, (list, tuple)):
        raise ValueError(f"size must be 'model', 'original' or a list of (height, width), got {size!r}")
    listed, own = _frames_list(frames)
    if not listed:
        return np.zeros((0, 0, 0, 1), np.float32) if size != "original" else []
    originals = [frame.shape[:2] for frame in listed] if own is None else [tuple(s) for s in own]
    targets = originals if size == "original" else size if size != "model" else None
    if targets is not None and len(targets) != len(listed):
        raise ValueError(f"{len(targets)} sizes for {len(listed)} frames; give one (height, width) per frame")
    if isinstance(model, TrainingResult):
        logits = model.config.get("compile", {}).get("from_logits") if from_logits is None else from_logits
        at = model_size(model, size=model_input_size)
        model = model.require_model()
    else:
        logits, at = from_logits, model_size(model, size=model_input_size)
    if at is None:  # a model that takes any size: each frame at its own size, one batch per size
        at = listed[0].shape[:2] if len({f.shape[:2] for f in listed}) == 1 else None
        if at is None:
            raise DataError(f"{getattr(model, 'name', model)} takes any size and the frames have several; pass "
                            "model_input_size=(height, width), the size it trained at (a run's config['size'])")
    scaled = targets is not None and input_scale != 1 and takes_any_size(model) and all(
        t[0] > at[0] and t[1] > at[1] for t in map(tuple, targets))
    wanted = upsampling == "guided" or scaled
    guides = _guides(frames, listed, targets) if targets is not None and wanted else [None] * len(listed)
    feed = listed
    if scaled and all(guide is not None for guide in guides):  # the full-resolution pictures feed the model
        feed, at = guides, scaled_size(at, input_scale)
    images = _resize_frames(feed, at)
    probabilities = _probabilities(model, images, batch_size, logits)
    if flip_average:
        probabilities = (probabilities + _probabilities(model, images[:, :, ::-1], batch_size, logits)[:, :, ::-1]) / 2
    if targets is None:
        return probabilities
    if upsampling != "guided":
        guides = [None] * len(targets)
    resized = [resize_probabilities(p, target) if guide is None else upsample(p, target, guide)
               for p, target, guide in zip(probabilities, targets, guides)]
    return np.stack(resized) if len({r.shape for r in resized}) == 1 else resized


def check_upsampling(upsampling: str) -> None:
    """One line naming the allowed values of an upsampling option."""
    if upsampling not in METHODS:
        raise ValueError(f"upsampling must be one of {', '.join(map(repr, METHODS))}, got {upsampling!r}")


def _guides(frames, listed: list[np.ndarray], targets) -> list:
    """The full-resolution frame that guides each frame's upsampling (None: none at hand, resized bilinearly)."""
    from cae_tutorial.data import read_image

    paths = getattr(frames, "paths", None)
    guides = []
    for i, (frame, target) in enumerate(zip(listed, targets)):
        if frame.shape[:2] == tuple(target):
            guides.append(frame)
        elif paths is not None:  # data.read_frames: frames read at the model's size, their files at full size
            guides.append(frame_at_size(read_image(paths[i]), target))
        else:
            guides.append(None)
    return guides


def _probabilities(model, images: np.ndarray, batch_size: int, from_logits: bool | None) -> np.ndarray:
    """The model's outputs on frames at its size, as probabilities (N, H, W, 1); one line when it cannot run."""
    if isinstance(model, Predictor):
        return model(images)
    logits = outputs_logits(model) if from_logits is None else from_logits
    try:
        outputs = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), np.float32)
    except Exception as error:  # noqa: BLE001 - TensorFlow raises InvalidArgumentError, Keras ValueError
        import tensorflow as tf

        if not isinstance(error, (ValueError, tf.errors.InvalidArgumentError)):
            raise
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise DataError(f"{model.name} cannot predict frames of {images.shape[1]} x {images.shape[2]} ({reason}); "
                        "pass model_input_size=(height, width), a size it takes (the size it trained at, a "
                        "multiple of 8 for the CAE)") from error
    return sigmoid(outputs) if logits else outputs


def predict_masks(model, frames, threshold: float = 0.5, *, size="original", **options):
    """Masks (bool, (N, H, W) or a list of (H, W)) at each frame's own size by default: predict(), thresholded."""
    probabilities = predict(model, frames, size=size, **options)
    if isinstance(probabilities, list):
        return [p[..., 0] >= threshold for p in probabilities]
    return probabilities[..., 0] >= threshold


def score_at_original_size(frame_ids, originals, probabilities: np.ndarray, threshold: float = 0.5,
                           frames=None, **guided_parameters) -> MetricsTable:
    """Per-frame metrics of probabilities (at model size) resized to each original mask's size.

    frames: the original frames; given, the resize is guided by them (cae_tutorial.upsampling), else bilinear.
    A frame whose file is not the size of its mask's is resized to the mask's size to guide it.
    guided_parameters (radius, eps, subsample, gray) replace guided_upsample's defaults.
    """
    if guided_parameters and frames is None:
        raise ValueError(f"{', '.join(guided_parameters)} set the guided filter: pass frames=... to guide by them")
    table = MetricsTable()
    guides = [None] * len(originals) if frames is None else frames
    for frame_id, mask, probability, frame in zip(frame_ids, originals, probabilities, guides):
        guide = None if frame is None else frame_at_size(frame, mask.shape[:2])
        full = upsample(probability, mask.shape[:2], guide, method="bilinear" if guide is None else "guided",
                        **({} if guide is None else guided_parameters))
        table.extend(per_frame_metrics([frame_id], mask[None], full[None], threshold))
    table.resolution = "original" + "".join(sorted({" {} x {}".format(*m.shape[:2]) for m in originals}))
    table.upsampling = "bilinear" if frames is None else "guided"
    return table


def chosen_frames(data, frame_ids=None, split=None) -> tuple[tuple[str, ...], str]:
    """The frames the rule picks (see the module's docstring) and the sentence that states it."""
    ids = tuple(data.ids)
    if isinstance(frame_ids, str) and frame_ids == "all":
        return ids, f"all {len(ids)} frames of the data"
    if frame_ids is not None:
        chosen = (frame_ids,) if isinstance(frame_ids, str) else tuple(frame_ids)
        return chosen, f"{len(chosen)} chosen frame(s)"
    if split is not None:
        if not split.heldout_ids:
            raise no_heldout_error(split)
        chosen = tuple(i for i in ids if i in set(split.heldout_ids))
        if not chosen:
            raise DataError(f"none of the split's {len(split.heldout_ids)} held-out frames "
                            f"({list(split.heldout_ids)[:3]} ...) is in this data; pass the record they come from, "
                            "or frame_ids=...")
        return chosen, f"the split's {len(chosen)} held-out frames (frame_ids='all' scores every frame)"
    return ids, f"all {len(ids)} frames of the data (no split given: pass split= to score its held-out frames)"


def resolution_rule(record: Record, resolution: str | None, upsampling: str = DEFAULT_METHOD):
    """The originals to score against (None: at the model's size), the frames that guide the upsampling (None:
    bilinear) and the sentence that states the choice."""
    if resolution not in (None, "original", "model"):
        raise ValueError(f"resolution must be 'original' or 'model', got {resolution!r}")
    originals = read_originals(record, "masks") if resolution in (None, "original") else None
    if resolution == "original" and originals is None:
        raise DataError(f"the original masks of {list(record.ids)} are not found under {record.root}/masks; "
                        "pass resolution='model' or load the record from its folder")
    if originals is not None:
        guides = read_originals(record, "images") if upsampling == "guided" else None
        if upsampling == "guided" and guides is None:
            raise DataError(f"guided upsampling needs the original frames of {list(record.ids)} under "
                            f"{record.root}/images; pass upsampling='bilinear' to score without them")
        sizes = sorted({"{} x {}".format(*m.shape[:2]) for m in originals})
        how = "upsampled guided by each frame (upsampling='guided')" if guides is not None else "resized bilinearly"
        return originals, guides, (f"scored at each frame's original size ({', '.join(sizes)}): predictions at the "
                                   f"model's size, {how}")
    why = "asked" if resolution == "model" else "the original mask files were not found"
    return None, None, "scored at the model's size {} x {} ({})".format(*record.size, why)


def evaluate(model, data, frame_ids=None, *, split=None, threshold: float = 0.5, resolution: str | None = None,
             from_logits: bool | None = None, flip_average: bool = FLIP_AVERAGE,
             upsampling: str = DEFAULT_METHOD, input_scale: float = INPUT_SCALE) -> MetricsTable:
    """Per-frame IoU / Dice / pixel accuracy (a MetricsTable) that says which frames and at which resolution.

    model: a Keras model, a TrainingResult (its split's held-out frames by default) or a Predictor.
    data: a Record, or a RecordFiles listing (only the scored frames are read). frame_ids: ids, or "all".
    split: the split whose held-out frames to score (a TrainingResult brings its own); every row is marked with
    its part, and a table of several parts prints one mean per part. resolution: see the module's docstring;
    the table's `resolution` attribute says which was used. flip_average, upsampling, input_scale: see predict()
    (guided upsampling, and an input_scale other than 1, read the original frames from record.root/images; the
    scale applies at the original resolution only, and the table's `input_size` says where the model predicted).
    """
    check_upsampling(upsampling)
    input_scale = check_input_scale(input_scale)
    if isinstance(model, TrainingResult):
        split = model.split if split is None else split
        model.require_model()
    ids, which = chosen_frames(data, frame_ids, split)
    part = data.load(ids) if not isinstance(data, Record) else data.subset(ids)
    originals, guides, at = resolution_rule(part, resolution, upsampling)
    feed, input_size = part.images, model_size(model, size=part.size) or tuple(part.size)
    if originals is not None and input_scale != 1 and takes_any_size(model):
        full = guides if guides is not None else read_originals(part, "images")
        if full is not None:  # the model is fed the original frames, shrunk to input_scale times its size
            feed, input_size = full, scaled_size(input_size, input_scale)
            at += " from the original frames resized to {} x {} (input_scale={:g})".format(*input_size, input_scale)
    probabilities = predict(model, feed, from_logits=from_logits, flip_average=flip_average,
                            model_input_size=input_size)
    if originals is None:
        if probabilities.shape[1:3] != tuple(part.size):  # a fixed-size model on a record read at another size
            probabilities = resize_probabilities(probabilities, part.size)
        table = per_frame_metrics(part.ids, part.masks, probabilities, threshold)
        table.resolution = "model {} x {}".format(*part.size)
    else:
        table = score_at_original_size(part.ids, originals, probabilities, threshold, guides)
    table.input_size = tuple(probabilities.shape[1:3])
    if split is not None:
        table.parts = {i: "training" if i in set(split.train_ids) else
                       "held-out" if i in set(split.heldout_ids) else "not in the split" for i in part.ids}
    table.about = (f"{getattr(model, 'name', None) or getattr(getattr(model, 'model', None), 'name', 'model')}"
                   f" on {which}; {at}",)
    return table
