"""Edge-aware upsampling: the full-resolution frame says where the outline of a coarse prediction lies.

The CAE predicts person probabilities p at its own size (256 x 144); resized bilinearly to the frame's size
(960 x 540), every outline becomes a ramp a few pixels wide, and the 0.5 threshold cuts it wherever the ramp
crosses, not where the frame's edge is. The guided filter (He, Sun and Tang, "Guided image filtering", 2010) fits,
in every window w_k of radius r around pixel k, p as a linear function of the guide frame I:

    q_i = a_k . I_i + b_k        for every pixel i in w_k,

    a_k = (Sigma_k + eps U)^-1 cov_k(I, p),   b_k = mean_k(p) - a_k . mean_k(I),

where Sigma_k is the 3 x 3 covariance of the colours in w_k (or the variance of the gray level, for a gray guide),
U the identity and eps the smoothing: where the frame is flat (variance << eps) a_k ~ 0 and q is p smoothed; where
it has an edge (variance >> eps) q follows the edge. Each pixel's output averages the a_k, b_k of the windows that
cover it, q_i = mean(a)_i . I_i + mean(b)_i. Every mean is a box filter, so the cost does not depend on r.
The fast guided filter (He and Sun, 2015) computes a and b on a subsampled frame (by `subsample`) and resizes
them bilinearly to full size; only the last line runs at full resolution.
"""

from __future__ import annotations


import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

from cae_tutorial.data import DataError, resize_probabilities

#: Methods of upsample(): "guided" (the frame steers the outline), "bilinear" (the plain resize).
METHODS = ("guided", "bilinear")
#: The guided filter's defaults: window radius (full-size pixels), regularisation, subsampling, gray or colour guide.
RADIUS = 12
EPS = 1e-3
SUBSAMPLE = 4
GRAY = False
#: The default of evaluate, TrainingResult.evaluate and `cae-tutorial predict`.
DEFAULT_METHOD = "guided"
#: Luminance weights (ITU-R BT.601) of the gray guide.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean of values (H, W) or (H, W, C) over the (2 r + 1) x (2 r + 1) window around each pixel (mirrored edges)."""
    size = (2 * radius + 1, 2 * radius + 1) + (1,) * (values.ndim - 2)
    return uniform_filter(values, size=size, mode="reflect")


def gray_guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of source (H, W) by a gray guide (H, W), by the equations of the guided filter."""
    mean_i, mean_p = box_mean(guide, radius), box_mean(source, radius)
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    cov_ip = box_mean(guide * source, radius) - mean_i * mean_p
    a = cov_ip / (var_i + eps)  # ~0 where the frame is flat, ~cov/var on an edge
    b = mean_p - a * mean_i
    return box_mean(a, radius) * guide + box_mean(b, radius)


def resize_plane(plane: np.ndarray, size, resample=Image.Resampling.BILINEAR) -> np.ndarray:
    """A float plane (H, W) resized to size=(height, width)."""
    height, width = int(size[0]), int(size[1])
    plane = np.asarray(plane, dtype=np.float32)
    if plane.shape == (height, width):
        return plane
    return np.asarray(Image.fromarray(plane).resize((width, height), resample))


def _invert_symmetric_3x3(xx, xy, xz, yy, yz, zz):
    """The 6 distinct entries of the inverse of per-pixel symmetric 3 x 3 matrices (by the adjugate)."""
    ixx, ixy, ixz = yy * zz - yz * yz, xz * yz - xy * zz, xy * yz - xz * yy
    iyy, iyz, izz = xx * zz - xz * xz, xy * xz - xx * yz, xx * yy - xy * xy
    det = xx * ixx + xy * ixy + xz * ixz
    return [v / det for v in (ixx, ixy, ixz, iyy, iyz, izz)]


def guided_coefficients(guide: list, source: np.ndarray, radius: int, eps: float):
    """Window-averaged linear coefficients ([mean a per guide plane], mean b) of source (H, W) on 1 or 3 planes."""
    source = np.asarray(source, dtype=np.float32)
    mean_i = [box_mean(g, radius) for g in guide]
    mean_p = box_mean(source, radius)
    cov_ip = [box_mean(g * source, radius) - m * mean_p for g, m in zip(guide, mean_i)]
    if len(guide) == 1:
        var = box_mean(guide[0] * guide[0], radius) - mean_i[0] * mean_i[0]
        a = [cov_ip[0] / (var + eps)]
    elif len(guide) == 3:
        pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
        sigma = [box_mean(guide[u] * guide[v], radius) - mean_i[u] * mean_i[v] for u, v in pairs]
        for diagonal in (0, 3, 5):
            sigma[diagonal] += eps
        ixx, ixy, ixz, iyy, iyz, izz = _invert_symmetric_3x3(*sigma)
        cr, cg, cb = cov_ip
        a = [ixx * cr + ixy * cg + ixz * cb, ixy * cr + iyy * cg + iyz * cb, ixz * cr + iyz * cg + izz * cb]
    else:
        raise DataError(f"the guide has {len(guide)} channels; pass a gray (H, W, 1) or colour (H, W, 3) frame")
    b = mean_p - sum(ai * mi for ai, mi in zip(a, mean_i))
    return [box_mean(ai, radius) for ai in a], box_mean(b, radius)


def _planes(guide: np.ndarray) -> list:
    """The channels of a guide (H, W) or (H, W, C) as a list of float32 planes."""
    guide = np.asarray(guide, dtype=np.float32)
    return [guide] if guide.ndim == 2 else [np.ascontiguousarray(guide[..., c]) for c in range(guide.shape[-1])]


def _combine(mean_a: list, guide: list, mean_b: np.ndarray) -> np.ndarray:
    """q = sum over planes of mean_a * guide, plus mean_b (no stacked temporaries)."""
    out = np.array(mean_b, dtype=np.float32)
    for a, g in zip(mean_a, guide):
        out += a * g
    return out


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of source (H, W) steered by guide (H, W), (H, W, 1) or (H, W, 3), at one size."""
    planes = _planes(guide)
    mean_a, mean_b = guided_coefficients(planes, source, radius, eps)
    return _combine(mean_a, planes, mean_b)


def check_frame(frame, size=None) -> np.ndarray:
    """A float32 (H, W, 3) frame in [0, 1]; a clear error for another shape, or for a frame not of size (H, W)."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise DataError(f"guide frame of shape {frame.shape}: pass the full-resolution RGB frame (H, W, 3)")
    if size is not None and frame.shape[:2] != tuple(int(v) for v in size):
        raise DataError(f"guide frame of size {frame.shape[0]} x {frame.shape[1]} for an output of size "
                        f"{size[0]} x {size[1]}: pass the frame the mask is drawn on, at its own size")
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    return frame.astype(np.float32, copy=False)


def frame_at_size(frame, size) -> np.ndarray:
    """The frame as float32 (H, W, 3), resized bilinearly to size=(H, W) where a mask was drawn at another size."""
    frame = check_frame(frame)
    if frame.shape[:2] == tuple(int(v) for v in size):
        return frame
    return np.stack([resize_plane(plane, size) for plane in _planes(frame)], axis=-1)


def guided_upsample(probabilities, frame, radius: int = RADIUS, eps: float = EPS, subsample: int = SUBSAMPLE,
                    gray: bool = GRAY) -> np.ndarray:
    """Probabilities (h, w[, 1]) at the model's size upsampled to frame's size (H, W), their outline on its edges.

    radius is in full-resolution pixels; subsample > 1 fits the coefficients on the frame shrunk that many times
    (the fast guided filter). The output keeps the input's layout, at (H, W), clipped to [0, 1].
    """
    frame = check_frame(frame)
    values = np.asarray(probabilities, dtype=np.float32)
    channel = values.ndim == 3 and values.shape[-1] == 1
    plane = values[..., 0] if channel else values
    if plane.ndim != 2:
        raise DataError(f"probabilities of shape {values.shape}: pass one frame's (H, W) or (H, W, 1)")
    if radius < 1 or eps <= 0 or subsample < 1:
        raise ValueError(f"radius={radius}, eps={eps}, subsample={subsample}: radius and subsample must be at least "
                         "1 and eps positive")
    height, width = frame.shape[:2]
    guide = [frame @ LUMA] if gray else _planes(frame)
    low = (max(1, round(height / subsample)), max(1, round(width / subsample)))
    low_guide = [resize_plane(g, low, Image.Resampling.BOX) for g in guide]
    low_source = resize_probabilities(plane, low)
    mean_a, mean_b = guided_coefficients(low_guide, low_source, max(1, round(radius / subsample)), eps)
    mean_a = [resize_plane(a, (height, width)) for a in mean_a]
    out = _combine(mean_a, guide, resize_plane(mean_b, (height, width)))
    np.clip(out, 0.0, 1.0, out=out)
    return out[..., None] if channel else out


def upsample(probabilities, size, frame=None, method: str = "guided", **parameters) -> np.ndarray:
    """Probabilities (h, w[, 1]) at the model's size resized to size=(H, W): "guided" by frame, or "bilinear"."""
    if method not in METHODS:
        raise ValueError(f"upsampling={method!r}: choose one of {', '.join(METHODS)}")
    if method == "bilinear":
        return resize_probabilities(probabilities, size)
    if frame is None:
        raise DataError("guided upsampling needs the full-resolution frame (frame=...); pass it, or "
                        "upsampling='bilinear' to resize without it")
    return guided_upsample(probabilities, check_frame(frame, size), **parameters)
