"""The embedded default record: a synthetic "dance clip" drawn with NumPy.

The clip imitates record 136 of the Kaggle TikTok dataset (a dancer in a room,
540 x 960 portrait frames) so that the course runs on a fresh machine with no
download. Every frame is drawn from simple shapes (discs, ellipses and
capsules); the mask is the union of the person's shapes, so it is exact by
construction. Poses, the camera's small shifts and the noise all come from a
seeded generator: the same seed always gives the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Frame numbers of the embedded clip; 90, 210 and 420 are the seed's training frames.
DANCE_FRAME_NUMBERS = (60, 90, 120, 150, 210, 270, 300, 360, 420, 480)
DANCE_RECORD = "dance"
DANCE_SIZE = (960, 540)  # (height, width), as the real record

_SKIN = (226, 178, 150)
_HAIR = (214, 190, 130)
_TOP = (196, 120, 150)
_LEGGINGS = (30, 30, 36)
_PATCH = (120, 120, 128)
_SHOES = (238, 238, 240)


@dataclass(frozen=True)
class Pose:
    """Angles (radians, 0 = straight down) and offsets of one frame's dancer."""

    center_x: float
    crouch: float
    lean: float
    left_arm: tuple[float, float]
    right_arm: tuple[float, float]
    left_leg: tuple[float, float]
    right_leg: tuple[float, float]
    head_tilt: float


def random_pose(rng: np.random.Generator) -> Pose:
    """Draw a plausible dance pose: arms anywhere from down to overhead, legs apart."""
    u = rng.uniform
    return Pose(
        center_x=u(0.38, 0.62),
        crouch=u(0.0, 0.08),
        lean=u(-0.12, 0.12),
        left_arm=(u(0.2, 2.6), u(-0.6, 1.2)),
        right_arm=(-u(0.2, 2.6), -u(-0.6, 1.2)),
        left_leg=(u(0.02, 0.35), u(-0.35, 0.1)),
        right_leg=(-u(0.02, 0.35), -u(-0.35, 0.1)),
        head_tilt=u(-0.25, 0.25),
    )


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as two (H, W) float arrays (y, x)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return y + 0.5, x + 0.5


def _capsule(y, x, p0, p1, radius):
    """Boolean mask of points within `radius` of the segment p0-p1 (points are (x, y))."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy or 1e-6
    t = np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0.0, 1.0)
    return (x - (x0 + t * dx)) ** 2 + (y - (y0 + t * dy)) ** 2 <= radius * radius


def _ellipse(y, x, center, radii, angle=0.0):
    """Boolean mask of a rotated ellipse; center is (x, y), radii (rx, ry)."""
    c, s = np.cos(angle), np.sin(angle)
    u = (x - center[0]) * c + (y - center[1]) * s
    v = -(x - center[0]) * s + (y - center[1]) * c
    return (u / radii[0]) ** 2 + (v / radii[1]) ** 2 <= 1.0


def _limb_end(start, angle, length):
    """End point of a limb hanging from `start` at `angle` (0 = straight down)."""
    return (start[0] + length * np.sin(angle), start[1] + length * np.cos(angle))


def _smooth_noise(rng, height, width, cell):
    """Low-frequency noise in [-1, 1]: a coarse random grid resized smoothly."""
    coarse = rng.uniform(0, 255, size=(height // cell + 2, width // cell + 2)).astype(np.uint8)
    big = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 127.5 - 1.0


def draw_room(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A room like the real record's: wooden ceiling, painted wall, door, tiled floor."""
    y, x = _grid(height, width)
    room = np.zeros((height, width, 3), np.float32)
    ceiling_end, floor_start = 0.26 * height, 0.86 * height
    wall = np.array([222, 190, 52], np.float32) * (0.92 + 0.1 * (y / height))[..., None]
    room[:] = wall
    plank = np.floor(y / (0.035 * height))
    wood = np.array([96, 66, 44], np.float32) * (0.8 + 0.25 * np.sin(plank * 2.3 + x / 90.0))[..., None]
    room = np.where((y < ceiling_end)[..., None], wood, room)
    floor = np.array([214, 160, 118], np.float32)
    tile_lines = (np.abs(((x - width / 2) / (1 + (y - floor_start) / height * 3)) % 120) < 2) | (
        np.abs((y - floor_start) % (0.05 * height)) < 1.5
    )
    floor_rgb = np.where(tile_lines[..., None], floor * 0.8, floor)
    room = np.where((y >= floor_start)[..., None], floor_rgb, room)
    baseboard = (y >= floor_start - 0.02 * height) & (y < floor_start)
    room[baseboard] = (200, 150, 100)
    door = (x < 0.08 * width) & (y > 0.37 * height) & (y < floor_start)
    room[door] = (110, 76, 52)
    room[(x < 0.085 * width) & (x >= 0.08 * width) & (y > 0.35 * height) & (y < floor_start)] = (200, 170, 40)
    room[_ellipse(y, x, (0.02 * width, 0.6 * height), (10, 22))] = (235, 235, 235)
    lamp = (np.abs(x - 0.66 * width) < 20) & (np.abs(y - 0.29 * height) < 12)
    room[lamp] = (120, 120, 120)
    room *= (1.0 + 0.06 * _smooth_noise(rng, height, width, 48))[..., None]
    vignette = 1.0 - 0.25 * (((x - width / 2) / width) ** 2 + ((y - height / 2) / height) ** 2)
    return room * vignette[..., None]


def draw_dancer(pose: Pose, height: int, width: int) -> tuple[list[tuple[np.ndarray, tuple]], np.ndarray]:
    """The dancer's parts as (mask, colour) pairs painted in order, and their union."""
    y, x = _grid(height, width)
    unit = 0.85 * height / 960.0  # the dancer is about a tenth of the frame, as in record 136
    hips = (pose.center_x * width, (0.58 + pose.crouch) * height)
    neck = (hips[0] + 260 * unit * np.sin(pose.lean), hips[1] - 260 * unit * np.cos(pose.lean))
    head = (neck[0] + 50 * unit * np.sin(pose.head_tilt), neck[1] - 55 * unit)
    shoulders = [(neck[0] + side * 58 * unit, neck[1] + 20 * unit) for side in (1, -1)]
    hip_joints = [(hips[0] + side * 38 * unit, hips[1]) for side in (1, -1)]
    parts: list[tuple[np.ndarray, tuple]] = []
    for shoulder, (upper, lower) in zip(shoulders, (pose.left_arm, pose.right_arm)):
        elbow = _limb_end(shoulder, upper, 120 * unit)
        hand = _limb_end(elbow, upper + lower, 115 * unit)
        parts.append((_capsule(y, x, shoulder, elbow, 17 * unit), _SKIN))
        parts.append((_capsule(y, x, elbow, hand, 14 * unit), _SKIN))
        parts.append((_ellipse(y, x, hand, (15 * unit, 19 * unit), upper + lower), _SKIN))
    for joint, (thigh, shin) in zip(hip_joints, (pose.left_leg, pose.right_leg)):
        knee = _limb_end(joint, thigh, 165 * unit)
        ankle = _limb_end(knee, thigh + shin, 155 * unit)
        parts.append((_capsule(y, x, joint, knee, 30 * unit), _LEGGINGS))
        parts.append((_capsule(y, x, knee, ankle, 23 * unit), _LEGGINGS))
        parts.append((_capsule(y, x, knee, ankle, 23 * unit) & _capsule(y, x, knee, ankle, 60 * unit)
                      & (np.abs(y - (knee[1] + 30 * unit)) < 25 * unit), _PATCH))
        toe = (ankle[0] + np.sign(ankle[0] - hips[0] or 1) * 22 * unit, ankle[1] + 18 * unit)
        parts.append((_ellipse(y, x, toe, (34 * unit, 20 * unit)), _SHOES))
    torso = _capsule(y, x, neck, hips, 52 * unit) & (y > neck[1] + 5 * unit)
    parts.append((torso & (y < hips[1] - 70 * unit), _TOP))
    parts.append((torso & (y >= hips[1] - 70 * unit) & (y < hips[1] - 40 * unit), _SKIN))
    parts.append((torso & (y >= hips[1] - 40 * unit), _LEGGINGS))
    parts.append((_capsule(y, x, neck, (neck[0], neck[1] - 30 * unit), 17 * unit), _SKIN))
    parts.append((_ellipse(y, x, (head[0], head[1] - 8 * unit), (44 * unit, 58 * unit), pose.head_tilt), _HAIR))
    parts.append((_ellipse(y, x, head, (34 * unit, 44 * unit), pose.head_tilt), _SKIN))
    parts.append((_capsule(y, x, (head[0] + 30 * unit, head[1] - 10 * unit),
                           (head[0] + 46 * unit, head[1] + 80 * unit), 14 * unit), _HAIR))
    union = np.zeros((height, width), bool)
    for part, _ in parts:
        union |= part
    return parts, union


def make_dance_frame(rng: np.random.Generator, height: int = DANCE_SIZE[0],
                     width: int = DANCE_SIZE[1]) -> tuple[np.ndarray, np.ndarray]:
    """One frame: a uint8 RGB image (H, W, 3) and its exact uint8 mask (H, W), 255 = person."""
    room = draw_room(rng, height, width)
    parts, person = draw_dancer(random_pose(rng), height, width)
    image = room.copy()
    y, _ = _grid(height, width)
    shade = (0.85 + 0.25 * (1 - y / height))[..., None]
    for part, colour in parts:
        image[part] = np.asarray(colour, np.float32)
    image = np.where(person[..., None], image * shade, image)
    # Sparse grey grain: real sensor noise in spirit, but it keeps the committed PNGs small.
    image += rng.choice(np.array([-3.0, 0.0, 0.0, 0.0, 0.0, 3.0], np.float32), size=(height, width))[..., None]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), person.astype(np.uint8) * 255


def make_dance_clip(seed: int = 136, n_frames: int = len(DANCE_FRAME_NUMBERS),
                    size: tuple[int, int] = DANCE_SIZE) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The embedded clip: {frame id: (image uint8 (H, W, 3), mask uint8 (H, W))}, deterministic in `seed`."""
    if n_frames > len(DANCE_FRAME_NUMBERS):
        numbers = tuple(range(30, 30 * (n_frames + 1), 30))
    else:
        numbers = DANCE_FRAME_NUMBERS[:n_frames]
    rng = np.random.default_rng(seed)
    return {f"{DANCE_RECORD}_{number:05d}": make_dance_frame(rng, *size) for number in numbers}


def write_dance_clip(root: str | Path, seed: int = 136, **kwargs) -> Path:
    """Write the clip in the Kaggle layout (root/images, root/masks) and return root."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for frame_id, (image, mask) in make_dance_clip(seed, **kwargs).items():
        Image.fromarray(image).save(root / "images" / f"{frame_id}.png", optimize=True)
        Image.fromarray(mask).save(root / "masks" / f"{frame_id}.png", optimize=True)
    return root


if __name__ == "__main__":
    import sys

    print(write_dance_clip(sys.argv[1] if len(sys.argv) > 1 else "data/dance"))
