"""A non-deep baseline: gradient boosting on each pixel's colour, position and blurred colour.

It answers the course's honest question, "do we need a network at all?": fitted on the
same 3 frames, how well does a per-pixel classifier segment the held-out frames?
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter
from sklearn.ensemble import HistGradientBoostingClassifier

BLUR_RADII = (2, 8)


def blurred(image: np.ndarray, radius: float) -> np.ndarray:
    """A float image (H, W, 3) in [0, 1] after a Gaussian blur of `radius` pixels."""
    picture = Image.fromarray(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))
    return np.asarray(picture.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255.0


def pixel_features(images: np.ndarray, blur_radii=BLUR_RADII) -> np.ndarray:
    """Per pixel: RGB, (y, x) position in [0, 1], and RGB blurred at each radius: (N*H*W, 5 + 3*len(radii))."""
    n, height, width, _ = images.shape
    y, x = np.meshgrid(np.linspace(0, 1, height, dtype=np.float32), np.linspace(0, 1, width, dtype=np.float32),
                       indexing="ij")
    per_frame = []
    for image in images:
        parts = [image, y[..., None], x[..., None]] + [blurred(image, r) for r in blur_radii]
        per_frame.append(np.concatenate(parts, axis=-1).reshape(height * width, -1))
    return np.concatenate(per_frame)


def fit_pixel_classifier(images: np.ndarray, masks: np.ndarray, max_pixels: int = 60_000,
                         seed: int = 0) -> HistGradientBoostingClassifier:
    """Fit gradient boosting on (a random sample of) the training frames' pixels."""
    features, labels = pixel_features(images), masks.reshape(-1).astype(np.int64)
    rng = np.random.default_rng(seed)
    if len(labels) > max_pixels:
        keep = rng.choice(len(labels), max_pixels, replace=False)
        features, labels = features[keep], labels[keep]
    classifier = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    return classifier.fit(features, labels)


def predict_pixel_classifier(classifier, images: np.ndarray) -> np.ndarray:
    """Person probabilities (N, H, W, 1) from a fitted pixel classifier."""
    n, height, width, _ = images.shape
    return classifier.predict_proba(pixel_features(images))[:, 1].reshape(n, height, width, 1).astype(np.float32)
