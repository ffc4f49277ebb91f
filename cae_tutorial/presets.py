"""Named training recipes. A preset is frozen data: print it to see everything it sets.

``seed`` is the seed project's recipe, exactly. ``cpu`` is the course default, made to learn in minutes on a
laptop CPU: lighter filters (16, 32, 64) with skip connections, coordinate channels (each pixel's row and column position as
two more inputs), augmentation with 4 batches per epoch, Adam 3e-3 with cosine decay over 240 epochs, progressive
resizing (the first 180 epochs at 128 x 72, the last 60 at 256 x 144: the frames' own 16:9 shape, 960 x 540 scaled
down), a boundary-aware loss (the focal term counts pixels along the true outline 6 times), and the dtype policy
that is fastest on the machine ("auto": bfloat16 where the CPU has bf16 instructions).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from cae_tutorial.errors import CaeTutorialError
from cae_tutorial.hardware import DTYPES

#: Schedules of the learning rate (training's learning_rate_schedule).
SCHEDULES = ("constant", "cosine")
#: Frame sizes must divide by 2**3: the CAE halves them three times (data.SIZE_MULTIPLE, repeated here so that
#: presets load without numpy and PIL; a test checks the two are equal).
SIZE_MULTIPLE = 8


class PresetError(CaeTutorialError, ValueError):
    """A preset field given a value it cannot take; the message names the field and the allowed values."""


class PresetFieldError(PresetError, TypeError):
    """A preset field that does not exist, or a value of the wrong type (still a TypeError, as it always was)."""


class UnknownPresetError(PresetError, KeyError):
    """A preset name that is not in PRESETS (still a KeyError, as it always was)."""


@dataclass(frozen=True)
class Preset:
    """Everything that defines a training run besides the data and the random seed."""

    name: str
    height: int = 1024
    width: int = 512
    epochs: int = 500
    #: Frames per batch, at most the training frames (train warns when it is more); a pass over the training
    #: frames ends with a smaller batch when batch_size does not divide them (3 frames, batch 2: 2, 1, 2, 1 ...).
    batch_size: int = 3
    learning_rate: float = 5e-4
    #: "constant", or "cosine": decay to 5 % of learning_rate over all epochs.
    schedule: str = "constant"
    filters: tuple[int, ...] = (4, 32, 256)
    kernel_size: int = 3
    activation: str = "swish"
    dropout: tuple[float, float] = (0.1, 0.25)
    skip_connections: bool = False
    #: BatchNormalization after every convolution (not in the seed).
    batch_norm: bool = False
    #: Random flips, shifts, zoom and colour jitter of the training frames.
    augment: bool = False
    #: Batches per epoch; None means one pass over the training frames.
    steps_per_epoch: int | None = None
    #: Keras dtype policy of the hidden layers: "auto" (the fastest for this machine, see
    #: cae_tutorial.hardware.choose_dtype), "float32", "mixed_bfloat16" or "mixed_float16".
    dtype: str = "auto"
    #: XLA-compile the train step (model.compile(jit_compile=...)).
    jit_compile: bool = False
    #: Progressive resizing: the first progressive_fraction of the epochs train on frames shrunk by
    #: progressive_scale (2: half the height and width, a quarter of the arithmetic), the rest at full size.
    #: The CAE is fully convolutional, so the weights carry over. 1 turns it off.
    progressive_scale: int = 1
    progressive_fraction: float = 0.0
    #: Append each pixel's row and column position (scaled to [-1, 1]) as two more input channels inside the
    #: model (model.CoordinateChannels): position is a strong cue on a fixed-camera clip.
    coordinates: bool = False
    #: Extra weight of the focal loss term on pixels along the true outline (losses.DiceFocalLoss); 0 is the
    #: seed's plain Dice + focal.
    boundary_weight: float = 0.0

    def __post_init__(self):
        """Check every field when the preset is made (also by with_ and get_preset), one line per problem."""
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, list):  # a preset read back from JSON, or filters=[16, 32] typed by hand
                value = tuple(value)
            value = _CHECKS[field.name](field.name, value)
            object.__setattr__(self, field.name, value)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) the frames are resized to."""
        return (self.height, self.width)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Model input shape (height, width, 3)."""
        return (self.height, self.width, 3)

    @property
    def small_size(self) -> tuple[int, int] | None:
        """(height, width) of the progressive first epochs, or None without progressive resizing."""
        if self.progressive_scale <= 1:
            return None
        size = (self.height // self.progressive_scale, self.width // self.progressive_scale)
        from cae_tutorial.data import SIZE_MULTIPLE

        # Too small to halve three times: the whole run trains at full size instead.
        return size if all(v > 0 and v % SIZE_MULTIPLE == 0 and v * self.progressive_scale == full
                           for v, full in zip(size, self.size)) else None

    @property
    def small_epochs(self) -> int:
        """How many of the epochs train at small_size (0 without progressive resizing)."""
        return round(self.progressive_fraction * self.epochs) if self.small_size else 0

    @property
    def resolved_dtype(self) -> str:
        """The dtype policy a build uses: dtype itself, or for "auto" the fastest for this machine."""
        from cae_tutorial.hardware import resolve_dtype

        return resolve_dtype(self.dtype)

    def resolved(self) -> "Preset":
        """A copy with dtype "auto" replaced by the policy chosen for this machine (what a run saves)."""
        return replace(self, dtype=self.resolved_dtype)

    def with_(self, **changes) -> "Preset":
        """A copy with some fields changed, each checked; None keeps a field's value unless None is one it takes.

        None is a value only for steps_per_epoch (one pass over the training frames); for any other field it
        means "unchanged", so notebooks can pass their parameters (None: the preset's value) straight through.
        """
        known = [f.name for f in fields(self)]
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise PresetFieldError(f"Preset has no field {unknown[0]!r}; fields are {', '.join(known)}")
        changes = {k: v for k, v in changes.items() if v is not None or k in NONE_ALLOWED}
        return replace(self, **changes) if changes else self

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Preset":
        """Inverse of to_dict (lists become tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def __str__(self) -> str:
        notes = {"batch_size": "  (at most the training frames; a pass ends with the rest)"}

        def shown(name):
            value = getattr(self, name)
            return f"auto -> {self.resolved_dtype} on this machine" if name == "dtype" and value == "auto" else value

        return "\n".join(f"{f.name:>16}: {shown(f.name)}{notes.get(f.name, '')}" for f in fields(self))


#: The only field for which None is a value (one pass over the training frames per epoch).
NONE_ALLOWED = ("steps_per_epoch",)


def _fail(name, value, allowed, error=PresetError):
    """Raise one line naming the field, the allowed values and the value given."""
    raise error(f"Preset field {name} must be {allowed}, got {value!r}")


def _int(allowed, minimum=1, multiple=1, none=False):
    """A check of an int field (not a bool) of at least `minimum`, dividing by `multiple`."""

    def check(name, value):
        if value is None and none:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(name, value, allowed, PresetFieldError)
        if value < minimum or value % multiple:
            _fail(name, value, allowed)
        return value

    return check


def _float(allowed, low, high=math.inf, high_open=True, low_open=False):
    """A check of a finite number field in [low, high) (open or closed ends as asked); ints become floats."""

    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(name, value, allowed, PresetFieldError)
        number = float(value)
        below = number <= low if low_open else number < low
        above = number >= high if high_open else number > high
        if not math.isfinite(number) or below or above:
            _fail(name, value, allowed)
        return number

    return check


def _choice(choices):
    """A check of a str field that takes one of `choices`."""
    allowed = "one of " + ", ".join(repr(c) for c in choices)

    def check(name, value):
        if not isinstance(value, str):
            _fail(name, value, allowed, PresetFieldError)
        if value not in choices:
            _fail(name, value, allowed)
        return value

    return check


def _text(allowed):
    """A check of a non-empty str field."""

    def check(name, value):
        if not isinstance(value, str):
            _fail(name, value, allowed, PresetFieldError)
        if not value.strip():
            _fail(name, value, allowed)
        return value

    return check


def _flag(name, value):
    """A check of a bool field."""
    if not isinstance(value, bool):
        _fail(name, value, "True or False", PresetFieldError)
    return value


def _filters(name, value):
    """Filters: a non-empty tuple of positive ints, one per encoder block."""
    allowed = "a tuple of positive ints, one per encoder block, e.g. (16, 32, 64)"
    if not isinstance(value, tuple) or not value:
        _fail(name, value, allowed, PresetFieldError)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            _fail(name, value, allowed, PresetFieldError)
        if item < 1:
            _fail(name, value, allowed)
    return value


def _dropout(name, value):
    """Dropout: two rates in [0, 1), of the encoder and of the decoder."""
    allowed = "two rates in [0, 1), the encoder's and the decoder's, e.g. (0.1, 0.25)"
    if not isinstance(value, tuple) or len(value) != 2:
        _fail(name, value, allowed, PresetFieldError)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        _fail(name, value, allowed, PresetFieldError)
    if not all(math.isfinite(v) and 0 <= v < 1 for v in value):
        _fail(name, value, allowed)
    return tuple(float(v) for v in value)


#: The check of each field: it raises one line naming the field and the allowed values, or returns the value.
_CHECKS = {
    "name": _text("a non-empty str"),
    "height": _int(f"a positive int that divides by {SIZE_MULTIPLE} (the CAE halves frames three times)",
                   multiple=SIZE_MULTIPLE),
    "width": _int(f"a positive int that divides by {SIZE_MULTIPLE} (the CAE halves frames three times)",
                  multiple=SIZE_MULTIPLE),
    "epochs": _int("an int of at least 1"),
    "batch_size": _int("an int of at least 1"),
    "learning_rate": _float("a finite number above 0, e.g. 3e-3", 0.0, low_open=True),
    "schedule": _choice(SCHEDULES),
    "filters": _filters,
    "kernel_size": _int("an int of at least 1"),
    "activation": _text("the name of a Keras activation, e.g. 'swish' or 'relu'"),
    "dropout": _dropout,
    "skip_connections": _flag,
    "batch_norm": _flag,
    "augment": _flag,
    "steps_per_epoch": _int("an int of at least 1, or None (one pass over the training frames)", none=True),
    "dtype": _choice(DTYPES),
    "jit_compile": _flag,
    "progressive_scale": _int("an int of at least 1 (1: no progressive resizing)"),
    "progressive_fraction": _float("a share in [0, 1) of the epochs", 0.0, 1.0),
    "coordinates": _flag,
    "boundary_weight": _float("a finite number of 0 or more (0: the seed's plain Dice + focal)", 0.0),
}

PRESETS: dict[str, Preset] = {
    "seed": Preset(name="seed"),
    "cpu": Preset(
        name="cpu", height=256, width=144, epochs=240, batch_size=3, learning_rate=3e-3, schedule="cosine",
        filters=(16, 32, 64), skip_connections=True, coordinates=True, augment=True, steps_per_epoch=4,
        progressive_scale=2, progressive_fraction=0.75, boundary_weight=5.0,
    ),
}


def get_preset(name_or_preset: str | Preset = "cpu", **changes) -> Preset:
    """A preset by name (or the preset itself), with field changes checked as Preset.with_ checks them."""
    if isinstance(name_or_preset, Preset):
        preset = name_or_preset
    elif name_or_preset in PRESETS:
        preset = PRESETS[name_or_preset]
    else:
        raise UnknownPresetError(f"unknown preset {name_or_preset!r}; choose one of {', '.join(sorted(PRESETS))}")
    return preset.with_(**changes)
