"""The embedded default record: a synthetic "dance clip" drawn with NumPy, and synthetic multi-dancer datasets.

The clip imitates record 136 of the Kaggle TikTok dataset (a dancer in a room, 960 x 540 (height x width) portrait
frames) closely enough that the course's comparisons come out as on the real frames: the room is
textured and holds regions painted in the dancer's own skin and clothing colours, the light drifts
and the dancer casts a soft shadow, the camera moves a little, fast limbs are motion-blurred, and
the dancer changes pose, scale and position from frame to frame. A colour-per-pixel classifier
therefore cannot separate person from room by colour alone, as on the real frames.

The mask is the union of the dancer's sharp shapes (before blur), so it is exact by construction.
Everything comes from a generator seeded by `seed`: the same seed always gives the same pixels, and
another seed gives another dancer, room and palette.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from cae_tutorial.errors import CaeTutorialError, UsageError
from cae_tutorial.folders import encoded, write_file

#: Frame numbers of the embedded clip; 90, 210 and 420 are the seed's training frames.
DANCE_FRAME_NUMBERS = (60, 90, 120, 150, 210, 270, 300, 360, 420, 480)
DANCE_RECORD = "dance"
DANCE_SIZE = (960, 540)  # (height, width), as the real record
#: The seed of the embedded clip: its palette is record 136's (yellow wall, pink top, black leggings).
DANCE_SEED = 136

Colour = tuple[float, float, float]


@dataclass(frozen=True)
class Look:
    """The colours of one dancer and one room; some room colours repeat the dancer's on purpose."""

    skin: Colour
    hair: Colour
    top: Colour
    bottoms: Colour
    stripe: Colour
    shoes: Colour
    wall: Colour
    ceiling: Colour
    floor: Colour
    door: Colour
    #: Which side the door stands on (-1 left, 1 right) and where a top-coloured towel hangs (x fraction).
    door_side: int = -1
    towel_x: float = 0.8


#: Record 136's palette: blonde hair on a yellow wall, skin-toned floor tiles, a dark window over the ceiling.
RECORD_136_LOOK = Look(
    skin=(222, 174, 146), hair=(206, 178, 112), top=(186, 116, 146), bottoms=(34, 32, 38), stripe=(118, 118, 126),
    shoes=(236, 236, 238), wall=(214, 178, 48), ceiling=(92, 62, 42), floor=(212, 162, 122), door=(112, 78, 54),
)

_SKIN_TONES = ((236, 196, 170), (222, 174, 146), (198, 146, 112), (160, 110, 80), (112, 76, 56), (84, 58, 44))
_HAIR_TONES = ((214, 186, 120), (120, 80, 48), (60, 42, 32), (28, 24, 22), (170, 90, 50))


def _hsv(rng: np.random.Generator, saturation=(0.3, 0.8), value=(0.4, 0.9)) -> Colour:
    """A random colour with hue anywhere and the given saturation and value ranges."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))
    return (round(255 * r), round(255 * g), round(255 * b))


def _near(rng: np.random.Generator, colour: Colour, spread: float = 14.0) -> Colour:
    """A colour within `spread` of another: the room's look-alike of a dancer's colour."""
    return tuple(float(np.clip(c + rng.uniform(-spread, spread), 0, 255)) for c in colour)


def random_look(rng: np.random.Generator) -> Look:
    """A dancer and a room: the floor near the skin, the door near the hair, a dark corner near the bottoms."""
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
    hair = _HAIR_TONES[rng.integers(len(_HAIR_TONES))]
    bottoms = _hsv(rng, (0.0, 0.5), (0.08, 0.35)) if rng.uniform() < 0.7 else _hsv(rng, (0.3, 0.7), (0.3, 0.7))
    return Look(
        skin=skin, hair=hair, top=_hsv(rng), bottoms=bottoms, stripe=_hsv(rng, (0.0, 0.3), (0.4, 0.7)),
        shoes=_hsv(rng, (0.0, 0.15), (0.8, 0.95)), wall=_near(rng, hair, 30) if rng.uniform() < 0.5 else _hsv(rng),
        ceiling=_hsv(rng, (0.2, 0.6), (0.2, 0.5)), floor=_near(rng, skin), door=_near(rng, hair, 25),
        door_side=int(rng.choice((-1, 1))), towel_x=float(rng.uniform(0.1, 0.9)),
    )


def look_for_seed(seed: int) -> Look:
    """Record 136's palette for the embedded clip's seed, a random look for any other seed."""
    if seed == DANCE_SEED:
        return RECORD_136_LOOK
    return random_look(np.random.default_rng([seed, 1]))


@dataclass(frozen=True)
class Pose:
    """Angles (radians, 0 = straight down), place and scale of one frame's dancer."""

    center_x: float
    feet_y: float
    scale: float
    crouch: float
    lean: float
    left_arm: tuple[float, float]
    right_arm: tuple[float, float]
    left_leg: tuple[float, float]
    right_leg: tuple[float, float]
    head_tilt: float


def random_pose(rng: np.random.Generator, t: float = 0.0) -> Pose:
    """A dance pose; place and scale drift smoothly with the clip time t in [0, 1], limbs change freely."""
    u = rng.uniform
    phase = rng.uniform(0, 2 * np.pi, 3)
    return Pose(
        center_x=0.5 + 0.14 * np.sin(2 * np.pi * t + phase[0]) + u(-0.04, 0.04),
        feet_y=0.9 + 0.04 * np.sin(2 * np.pi * t + phase[1]),
        scale=0.92 + 0.12 * np.sin(2 * np.pi * t + phase[2]) + u(-0.03, 0.03),
        crouch=u(0.0, 0.08),
        lean=u(-0.14, 0.14),
        left_arm=(u(0.2, 2.6), u(-0.6, 1.4)),
        right_arm=(-u(0.2, 2.6), -u(-0.6, 1.4)),
        left_leg=(u(0.02, 0.4), u(-0.4, 0.15)),
        right_leg=(-u(0.02, 0.4), -u(-0.4, 0.15)),
        head_tilt=u(-0.3, 0.3),
    )


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as two (H, W) float arrays (y, x)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return y + 0.5, x + 0.5


def _segment_distance(y, x, p0, p1):
    """Distance of every pixel to the segment p0-p1 (points are (x, y))."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy or 1e-6
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0.0, 1.0)
    return np.sqrt((x - (x0 + t * dx)) ** 2 + (y - (y0 + t * dy)) ** 2)


def _capsule(y, x, p0, p1, radius):
    """(coverage in [0, 1] with a one-pixel soft edge, normalised distance to the axis) of a capsule."""
    distance = _segment_distance(y, x, p0, p1)
    return np.clip(radius + 0.5 - distance, 0.0, 1.0), distance / radius


def _ellipse(y, x, center, radii, angle=0.0):
    """(coverage, normalised radius) of a rotated ellipse; center is (x, y), radii (rx, ry)."""
    c, s = np.cos(angle), np.sin(angle)
    u = (x - center[0]) * c + (y - center[1]) * s
    v = -(x - center[0]) * s + (y - center[1]) * c
    r = np.sqrt((u / radii[0]) ** 2 + (v / radii[1]) ** 2)
    return np.clip((1.0 - r) * min(radii) + 0.5, 0.0, 1.0), r


def _limb_end(start, angle, length):
    """End point of a limb hanging from `start` at `angle` (0 = straight down)."""
    return (start[0] + length * np.sin(angle), start[1] + length * np.cos(angle))


def _smooth_noise(rng, height, width, cell):
    """Low-frequency noise in [-1, 1]: a coarse random grid resized smoothly."""
    coarse = rng.uniform(0, 255, size=(height // cell + 2, width // cell + 2)).astype(np.uint8)
    big = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 127.5 - 1.0


def _paint(canvas, coverage, colour, shade=1.0):
    """Paint `colour` (times `shade`) over the canvas where coverage > 0, in place."""
    colour = np.asarray(colour, np.float32) * (shade[..., None] if np.ndim(shade) else shade)
    canvas += coverage[..., None] * (colour - canvas)


def _box(y, x, x0, x1, y0, y1):
    """Coverage of an axis-aligned box, soft by one pixel at its edges."""
    return (np.clip(np.minimum(x - x0, x1 - x) + 0.5, 0, 1) * np.clip(np.minimum(y - y0, y1 - y) + 0.5, 0, 1))


def draw_room(rng: np.random.Generator, look: Look, height: int, width: int) -> np.ndarray:
    """A room: plank ceiling with a dark window, textured wall, door, towel, dark bag, skin-toned floor tiles."""
    y, x = _grid(height, width)
    room = np.empty((height, width, 3), np.float32)
    ceiling_end, floor_start = rng.uniform(0.2, 0.28) * height, rng.uniform(0.84, 0.88) * height
    room[:] = look.wall
    plaster = 1.0 + 0.05 * _smooth_noise(rng, height, width, 40) + 0.015 * _smooth_noise(rng, height, width, 8)
    room *= plaster[..., None]
    plank = np.floor(y / (0.035 * height))
    grain = 0.82 + 0.12 * np.sin(plank * 2.3 + x / 37.0 + 3 * _smooth_noise(rng, height, width, 30))
    wood = np.asarray(look.ceiling, np.float32) * grain[..., None]
    wood[(np.abs(y % (0.035 * height)) < 1.2)] *= 0.6
    room = np.where((y < ceiling_end)[..., None], wood, room)
    window = (y < 0.06 * height) & (np.abs(x - 0.35 * width) < 0.33 * width)
    _paint(room, window.astype(np.float32), look.bottoms, 1.0 + 0.4 * (1 - y / (0.06 * height)))
    beam = _box(y, x, 0.6 * width, 0.68 * width, 0, ceiling_end)
    _paint(room, beam, look.ceiling, 0.75)
    floor = np.asarray(look.floor, np.float32)
    depth = (y - floor_start) / (height - floor_start)
    tile_lines = (np.abs(((x - width / 2) / (1 + 2.5 * depth)) % (0.22 * width)) < 1.5) | (
        np.abs(np.sqrt(np.maximum(depth, 0)) % 0.3) < 0.012
    )
    floor_rgb = floor * (0.92 + 0.1 * depth)[..., None] * np.where(tile_lines, 0.8, 1.0)[..., None]
    room = np.where((y >= floor_start)[..., None], floor_rgb, room)
    _paint(room, _box(y, x, -1, width + 1, floor_start - 0.02 * height, floor_start), look.floor, 0.9)
    door_x = (0.0, 0.11 * width) if look.door_side < 0 else (0.89 * width, width)
    _paint(room, _box(y, x, door_x[0] - 1, door_x[1] + 6 * look.door_side, 0.34 * height, floor_start),
           look.wall, 0.75)
    _paint(room, _box(y, x, door_x[0] - 1, door_x[1], 0.36 * height, floor_start), look.door,
           0.9 + 0.1 * _smooth_noise(rng, height, width, 12))
    handle_x = door_x[1] - 0.03 * width if look.door_side < 0 else door_x[0] + 0.03 * width
    _paint(room, _ellipse(y, x, (handle_x, 0.6 * height), (0.012 * width, 0.022 * height))[0], look.shoes)
    towel = _box(y, x, (look.towel_x - 0.05) * width, (look.towel_x + 0.05) * width, 0.45 * height, 0.62 * height)
    _paint(room, towel, look.top, 0.9 + 0.12 * np.sin(x / 5.0))
    bag_x = 1.0 - look.towel_x
    bag = _ellipse(y, x, (bag_x * width, floor_start + 0.02 * height), (0.07 * width, 0.05 * height))[0]
    _paint(room, bag * (y < floor_start + 0.04 * height), look.bottoms, 1.1)
    _paint(room, _capsule(y, x, (bag_x * width - 12, floor_start - 0.02 * height),
                          (bag_x * width + 14, floor_start - 0.05 * height), 5)[0], look.skin)
    lamp = _box(y, x, 0.64 * width, 0.68 * width, 0.28 * height, 0.295 * height)
    _paint(room, lamp, look.stripe)
    return np.clip(room, 0, 255)


def _camera(room: np.ndarray, shift: tuple[float, float], zoom: float, height: int, width: int) -> np.ndarray:
    """The frame a slightly shifted and zoomed camera sees of a room drawn with a margin."""
    margin_y, margin_x = (room.shape[0] - height) / 2, (room.shape[1] - width) / 2
    a = 1.0 / zoom
    cx, cy = room.shape[1] / 2 + shift[0] * margin_x, room.shape[0] / 2 + shift[1] * margin_y
    matrix = (a, 0.0, cx - a * width / 2, 0.0, a, cy - a * height / 2)
    channels = [Image.fromarray(room[..., c]).transform((width, height), Image.Transform.AFFINE, matrix,
                                                         Image.Resampling.BILINEAR) for c in range(3)]
    return np.stack([np.asarray(c, np.float32) for c in channels], axis=-1)


@dataclass(frozen=True)
class Part:
    """One shape of the dancer: coverage in [0, 1], its colour and shading, and the sharp shape for the mask."""

    coverage: np.ndarray
    colour: Colour
    shade: np.ndarray
    sharp: np.ndarray


def _limb(y, x, p0, p1, radius, colour, blur=(0.0, 0.0), steps=7, light=0.0) -> Part:
    """A capsule limb, motion-blurred along `blur` (pixels) by averaging shifted copies; round shading."""
    coverage, axis = _capsule(y, x, p0, p1, radius)
    sharp = coverage >= 0.5
    shade = 1.0 - 0.3 * np.clip(axis, 0, 1) ** 2
    if blur != (0.0, 0.0):
        total = np.zeros_like(coverage)
        for f in np.linspace(-0.5, 0.5, steps):
            offset = (f * blur[0], f * blur[1])
            total += _capsule(y, x, (p0[0] + offset[0], p0[1] + offset[1]),
                              (p1[0] + offset[0], p1[1] + offset[1]), radius)[0]
        coverage = total / steps
    return Part(coverage, colour, shade * (1.0 + light), sharp)


def draw_dancer(rng: np.random.Generator, pose: Pose, look: Look, height: int, width: int) -> list[Part]:
    """The dancer's parts, painted in order; fast limbs (hands, feet) get motion blur."""
    y, x = _grid(height, width)
    unit = pose.scale * 0.85 * height / 960.0  # about a tenth of the frame, as in record 136
    leg = 320 * unit
    hips = (pose.center_x * width, pose.feet_y * height - leg * (1 - pose.crouch))
    neck = (hips[0] + 260 * unit * np.sin(pose.lean), hips[1] - 260 * unit * np.cos(pose.lean))
    head = (neck[0] + 50 * unit * np.sin(pose.head_tilt), neck[1] - 55 * unit)
    shoulders = [(neck[0] + side * 58 * unit, neck[1] + 20 * unit) for side in (1, -1)]
    hip_joints = [(hips[0] + side * 38 * unit, hips[1]) for side in (1, -1)]
    parts: list[Part] = []

    def fast() -> tuple[float, float]:
        """A random motion of a fast limb during the exposure, in pixels."""
        speed, angle = rng.uniform(0, 45) * unit, rng.uniform(0, 2 * np.pi)
        return (float(speed * np.cos(angle)), float(speed * np.sin(angle)))

    for joint, (thigh, shin) in zip(hip_joints, (pose.left_leg, pose.right_leg)):
        knee = _limb_end(joint, thigh, 165 * unit)
        ankle = _limb_end(knee, thigh + shin, 155 * unit)
        parts.append(_limb(y, x, joint, knee, 30 * unit, look.bottoms))
        motion = fast()
        shin_part = _limb(y, x, knee, ankle, 23 * unit, look.bottoms, motion)
        parts.append(shin_part)
        stripe = _capsule(y, x, knee, ankle, 23 * unit)[0] * (np.abs(y - (knee[1] + 40 * unit)) < 22 * unit)
        parts.append(Part(stripe * shin_part.coverage, look.stripe, shin_part.shade, stripe >= 0.5))
        toe = (ankle[0] + np.sign(ankle[0] - hips[0] or 1) * 22 * unit, ankle[1] + 18 * unit)
        parts.append(_limb(y, x, (ankle[0], ankle[1] + 10 * unit), toe, 20 * unit, look.shoes, motion, light=0.05))
    torso, axis = _capsule(y, x, neck, hips, 52 * unit)
    torso = torso * (y > neck[1] + 5 * unit)
    shade = 1.0 - 0.3 * np.clip(axis, 0, 1) ** 2
    waist = hips[1] - 70 * unit
    for lo, hi, colour in ((-np.inf, waist, look.top), (waist, waist + 30 * unit, look.skin),
                           (waist + 30 * unit, np.inf, look.bottoms)):
        band = torso * np.clip(np.minimum(y - lo, hi - y) + 0.5, 0, 1)
        parts.append(Part(band, colour, shade, band >= 0.5))
    parts.append(_limb(y, x, neck, (neck[0], neck[1] - 30 * unit), 17 * unit, look.skin))
    hair_back, r = _ellipse(y, x, (head[0], head[1] - 8 * unit), (46 * unit, 60 * unit), pose.head_tilt)
    parts.append(Part(hair_back, look.hair, 1.0 - 0.25 * np.clip(r, 0, 1) ** 2, hair_back >= 0.5))
    face, r = _ellipse(y, x, head, (34 * unit, 44 * unit), pose.head_tilt)
    parts.append(Part(face, look.skin, 1.0 - 0.2 * np.clip(r, 0, 1) ** 2, face >= 0.5))
    for side in (1, -1):
        strand_top = (head[0] + side * 32 * unit, head[1] - 20 * unit)
        strand_end = (head[0] + side * (48 + rng.uniform(0, 20)) * unit, head[1] + rng.uniform(60, 110) * unit)
        parts.append(_limb(y, x, strand_top, strand_end, 12 * unit, look.hair, light=0.05))
    for shoulder, (upper, lower) in zip(shoulders, (pose.left_arm, pose.right_arm)):
        elbow = _limb_end(shoulder, upper, 120 * unit)
        hand = _limb_end(elbow, upper + lower, 115 * unit)
        motion = fast()
        parts.append(_limb(y, x, shoulder, elbow, 16 * unit, look.skin))
        parts.append(_limb(y, x, elbow, hand, 13 * unit, look.skin, (motion[0] * 0.5, motion[1] * 0.5)))
        fingers = _limb_end(hand, upper + lower, 22 * unit)
        parts.append(_limb(y, x, hand, fingers, 14 * unit, look.skin, motion))
    return parts


@dataclass(frozen=True)
class Light:
    """Where the light comes from this frame (x, y as fractions of the frame) and how bright the room is."""

    x: float
    y: float
    brightness: float


def make_dance_frame(rng: np.random.Generator, look: Look, room: np.ndarray, t: float,
                     height: int = DANCE_SIZE[0], width: int = DANCE_SIZE[1]) -> tuple[np.ndarray, np.ndarray]:
    """One frame: a uint8 RGB image (H, W, 3) and its exact uint8 mask (H, W), 255 = person."""
    camera_shift = (0.5 * np.sin(2 * np.pi * t * 1.3) + rng.uniform(-0.2, 0.2), 0.5 * np.cos(2 * np.pi * t))
    image = _camera(room, camera_shift, 1.0 + 0.02 * np.sin(2 * np.pi * t), height, width)
    light = Light(0.5 + 0.45 * np.sin(2 * np.pi * t + 1.0), 0.1 + 0.15 * np.cos(2 * np.pi * t),
                  0.9 + 0.12 * np.sin(2 * np.pi * t * 2))
    parts = draw_dancer(rng, random_pose(rng, t), look, height, width)
    person = np.zeros((height, width), bool)
    silhouette = np.zeros((height, width), np.float32)
    for part in parts:
        person |= part.sharp
        silhouette = np.maximum(silhouette, part.coverage)
    # The shadow falls away from the light onto the wall behind, soft and offset.
    offset = (int(round((0.5 - light.x) * 0.2 * width)), int(round(0.015 * height)))
    shadow = np.roll(silhouette, offset, axis=(1, 0))
    radius = 0.012 * height
    shadow = np.asarray(Image.fromarray((shadow * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)),
                        np.float32) / 255.0
    image *= (1.0 - 0.45 * shadow)[..., None]
    weave = _smooth_noise(rng, height, width, 5)
    for part in parts:
        texture = 1.0 + (0.01 if part.colour == look.skin else 0.05) * weave
        _paint(image, part.coverage, part.colour, part.shade * texture)
    y, x = _grid(height, width)
    falloff = np.sqrt((x / width - light.x) ** 2 + (y / height - light.y) ** 2)
    image *= (light.brightness * (1.12 - 0.35 * falloff))[..., None]
    soft = Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    image = np.asarray(soft, np.float32)
    # Grey grain at a few levels: sensor noise in spirit, small enough to keep the committed PNGs light.
    image += rng.choice(np.array([-3.0] + [0.0] * 10 + [3.0], np.float32), size=(height, width))[..., None]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), person.astype(np.uint8) * 255


def _frame_numbers(n_frames: int) -> tuple[int, ...]:
    """The clip's frame numbers: the embedded record's ten, or every 30th frame for longer clips."""
    if n_frames > len(DANCE_FRAME_NUMBERS):
        return tuple(range(30, 30 * (n_frames + 1), 30))
    return DANCE_FRAME_NUMBERS[:n_frames]


def make_dance_clip(seed: int = DANCE_SEED, n_frames: int = len(DANCE_FRAME_NUMBERS),
                    size: tuple[int, int] = DANCE_SIZE, record: str = DANCE_RECORD,
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A clip: {frame id: (image uint8 (H, W, 3), mask uint8 (H, W))}, deterministic in `seed`.

    The default is the embedded record; another seed gives another dancer, room and palette.
    """
    height, width = size
    look = look_for_seed(seed)
    rng = np.random.default_rng(seed)
    margin = int(0.03 * max(height, width)) * 2
    room = draw_room(rng, look, height + margin, width + margin)
    numbers = _frame_numbers(n_frames)
    span = max(numbers[-1] - numbers[0], 1)
    return {f"{record}_{number:05d}": make_dance_frame(rng, look, room, (number - numbers[0]) / span, height, width)
            for number in numbers}


def _write_clip(clip: dict, root: Path) -> None:
    """Save a clip's frames and masks as PNGs in root/images and root/masks."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for frame_id, (image, mask) in clip.items():
        write_file(root / "images" / f"{frame_id}.png", encoded(Image.fromarray(image).save, format="PNG", optimize=True))
        write_file(root / "masks" / f"{frame_id}.png", encoded(Image.fromarray(mask).save, format="PNG", optimize=True))


def write_dance_clip(root: str | Path, seed: int = DANCE_SEED, **kwargs) -> Path:
    """Write the clip in the Kaggle layout (root/images, root/masks) and return root."""
    root = Path(root)
    _write_clip(make_dance_clip(seed, **kwargs), root)
    return root


def write_dataset(folder: str | Path, n_records: int = 4, frames_per_record: int = 6,
                  size: tuple[int, int] = DANCE_SIZE, seed: int = 0) -> Path:
    """Several synthetic dancers (records 201_, 202_, ...) in one Kaggle-layout folder; returns the folder.

    Each record has its own dancer, room and palette, like the Kaggle dataset's many videos, so that a
    split by record (one dancer = one record) can be tested without the real data.
    """
    if n_records < 1 or frames_per_record < 1:
        raise UsageError(f"n_records and frames_per_record must be at least 1, got {n_records} and {frames_per_record}")
    folder = Path(folder)
    for i in range(n_records):
        prefix = str(201 + i)
        record_seed = int(np.random.default_rng([seed, i]).integers(1_000, 2**31 - 1))
        _write_clip(make_dance_clip(record_seed, frames_per_record, size, record=prefix), folder)
    return folder


def _positive(text: str) -> int:
    """argparse type: an int of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def main(argv=None) -> int:
    """`python -m cae_tutorial.synthetic [FOLDER]`: write the embedded clip (or --records N dancers) as PNGs."""
    parser = argparse.ArgumentParser(
        prog="python -m cae_tutorial.synthetic",
        description="Write the synthetic dance clip (the embedded record) as images/ and masks/ PNGs in FOLDER, "
                    "or with --records N a dataset of N synthetic dancers (records 201, 202, ...).")
    parser.add_argument("folder", nargs="?", type=Path, default=Path("data/dance"),
                        help="folder to write images/ and masks/ into (default data/dance)")
    parser.add_argument("--seed", type=int, help=f"random seed (default {DANCE_SEED} for the clip, 0 for --records)")
    parser.add_argument("--frames", type=_positive,
                        help=f"frames per record (default {len(DANCE_FRAME_NUMBERS)} for the clip, 6 for --records)")
    parser.add_argument("--records", type=_positive, help="write this many synthetic dancers instead of the clip")
    parser.add_argument("--overwrite", action="store_true", help="replace frames already in FOLDER")
    args = parser.parse_args(argv)
    try:
        existing = [p for sub in ("images", "masks") if (args.folder / sub).is_dir()
                    for p in (args.folder / sub).iterdir()]
        if existing and not args.overwrite:
            parser.exit(2, f"{parser.prog}: error: {args.folder} already holds {len(existing)} frame and mask "
                           "files; choose another folder (or pass --overwrite to replace them)\n")
        if args.records:
            folder = write_dataset(args.folder, args.records, args.frames or 6, seed=args.seed or 0)
        else:
            folder = write_dance_clip(args.folder, DANCE_SEED if args.seed is None else args.seed,
                                      **({"n_frames": args.frames} if args.frames else {}))
    except (CaeTutorialError, OSError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
