"""The course's colours (Okabe-Ito, and a near-white) and the contrast check behind them; numpy-free, so the scrub
page stays light.

Correct, false and missed person pixels are drawn over the frame dimmed to dark grey. Each colour reaches 3:1
contrast (WCAG 2.1, non-text graphics) against the brightest the dimmed frame can be, and the three stay apart under
every common colour-vision deficiency: near-white, then Okabe-Ito orange and sky blue.
"""

from __future__ import annotations

#: RGB in [0, 1] of the error maps (show_results and the scrubber's error view).
ERROR_COLOURS = {"correct person": (0.96, 0.96, 0.96), "false person": (0.90, 0.62, 0.0),
                 "missed person": (0.34, 0.71, 0.91)}
#: The error colours in words, for text that names them.
COLOUR_NAMES = {"correct person": "near-white", "false person": "orange", "missed person": "sky blue"}
#: RGB in [0, 1] of the outlines drawn over a frame (notebook 6's zoom): Okabe-Ito bluish green and vermillion,
#: apart under every common colour-vision deficiency; the predicted outline is also dashed, so it tells without colour.
OUTLINE_COLOURS = {"true outline": (0.0, 0.62, 0.45), "predicted outline": (0.84, 0.37, 0.0)}
#: The outline colours in words, for text that names them.
OUTLINE_NAMES = {"true outline": "bluish green", "predicted outline": "vermillion"}
#: How bright the dimmed frame stays under an error map (grey level = this x the frame's mean colour): at most
#: 0.3 x 255 = 77, dark enough that every error colour keeps 3:1 against it, light enough to see the dancer.
ERROR_BACKGROUND = 0.3


def relative_luminance(rgb) -> float:
    """WCAG 2.1 relative luminance of an RGB colour in [0, 1]."""
    def linear(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(float(c)) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first, second) -> float:
    """WCAG 2.1 contrast ratio (1 to 21) of two RGB colours in [0, 1]."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
