"""Named training recipes. A preset is frozen data: print it to see everything it sets.

``seed`` is the seed project's recipe, exactly. ``cpu`` is the course default, chosen on a 2-core CPU by
cross-validation over the real frames with benchmarks/ (see benchmarks/README.md for the measurements behind it):
lighter filters (16, 32, 64) with skip connections, coordinate channels (each pixel's row and column position as
two more inputs), augmentation with 4 batches per epoch, Adam 3e-3 with cosine decay over 240 epochs, progressive
resizing (the first 180 epochs at 128 x 72, the last 60 at 256 x 144: the frames' own 16:9 shape, 960 x 540 scaled
down), a boundary-aware loss (the focal term counts pixels along the true outline 6 times), and the dtype policy
that is fastest on the machine ("auto": bfloat16 where the CPU has bf16 instructions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


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
        """A copy with some fields changed (unknown names and wrong types raise)."""
        known = {f.name: f for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise TypeError(f"Preset has no field {key!r}; fields are {sorted(known)}")
            current = getattr(self, key)
            if current is not None and value is not None and not isinstance(value, type(current)) and not (
                isinstance(current, float) and isinstance(value, int)
            ):
                raise TypeError(f"Preset field {key!r} takes a {type(current).__name__}, got {value!r}")
        return replace(self, **changes)

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


PRESETS: dict[str, Preset] = {
    "seed": Preset(name="seed"),
    "cpu": Preset(
        name="cpu", height=256, width=144, epochs=240, batch_size=3, learning_rate=3e-3, schedule="cosine",
        filters=(16, 32, 64), skip_connections=True, coordinates=True, augment=True, steps_per_epoch=4,
        progressive_scale=2, progressive_fraction=0.75, boundary_weight=5.0,
    ),
}


def get_preset(name_or_preset: str | Preset = "cpu", **changes) -> Preset:
    """A preset by name (or the preset itself), with optional field changes (a change to None is ignored)."""
    if isinstance(name_or_preset, Preset):
        preset = name_or_preset
    elif name_or_preset in PRESETS:
        preset = PRESETS[name_or_preset]
    else:
        raise KeyError(f"unknown preset {name_or_preset!r}; choose one of {sorted(PRESETS)}")
    # None keeps the preset's value, so notebooks can pass their parameters straight through.
    changes = {key: value for key, value in changes.items() if value is not None}
    return preset.with_(**changes) if changes else preset
