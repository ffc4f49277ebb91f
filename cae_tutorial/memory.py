"""Will a run fit in memory? An estimate from the sizes alone, checked before any frame is loaded.

A mistyped ``--height 100000`` would otherwise load for minutes and grow past the machine's memory before
failing (or before the system kills it); ``check_training_fits`` refuses it at once, with the estimate.
The estimate counts what grows with the frame size: the frames held in memory (float32 colour and mask),
the model's activations kept for the backward pass of one batch, and the uint8 snapshots of every recorded epoch
(held in memory, then stacked once more when the run is saved).
"""

from __future__ import annotations

import os
from pathlib import Path

from cae_tutorial.data import DataError
from cae_tutorial.folders import megabytes

#: Activations kept per pixel and feature map: conv, activation and dropout outputs of each of a block's two convs
#: (decoder blocks also the upsampled and concatenated inputs), and as much again for the gradients.
_TENSORS_PER_ENCODER, _TENSORS_PER_DECODER, _BACKWARD = 6, 8, 1.5


class TooLargeForMemory(DataError):
    """A run that cannot fit in this machine's memory; the message gives the estimate and the fix."""


def available_memory(meminfo: str | Path = "/proc/meminfo", cgroup: str | Path = "/sys/fs/cgroup") -> int | None:
    """Bytes this process can still use: MemAvailable, capped by a container's memory limit; None if unknown."""
    available = None
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = None
    try:
        limit = (Path(cgroup) / "memory.max").read_text().strip()
        used = int((Path(cgroup) / "memory.current").read_text().strip())
        if limit.isdigit():
            room = int(limit) - used
            available = room if available is None else min(available, room)
    except (OSError, ValueError):
        pass
    return available


def training_memory(frames_in_memory: int, size: tuple[int, int], filters, batch_size: int,
                    snapshot_frames: int, snapshot_epochs: int) -> dict[str, int]:
    """Bytes a run needs, part by part: frames, activations of one batch, snapshots."""
    pixels = int(size[0]) * int(size[1])
    per_pixel = sum(f * 4.0 ** -level * _TENSORS_PER_ENCODER for level, f in enumerate(filters, start=1))
    per_pixel += sum(f * 4.0 ** -(level - 1) * _TENSORS_PER_DECODER for level, f in enumerate(filters, start=1))
    return {"frames": frames_in_memory * pixels * 4 * 4,  # float32 RGB + mask
            "activations": int(batch_size * pixels * 4 * per_pixel * _BACKWARD),
            "snapshots": 2 * snapshot_frames * snapshot_epochs * pixels}


def check_training_fits(frames_in_memory: int, size: tuple[int, int], filters, batch_size: int,
                        snapshot_frames: int, snapshot_epochs: int, available: int | None = None,
                        what: str = "") -> dict[str, int]:
    """Raise TooLargeForMemory (one line: the estimate, what is available, the fix) when the run cannot fit."""
    parts = training_memory(frames_in_memory, size, filters, batch_size, snapshot_frames, snapshot_epochs)
    available = available_memory() if available is None else available
    needed = sum(parts.values())
    if available is not None and needed > available:
        detail = ", ".join(f"{name} {megabytes(count)}" for name, count in parts.items())
        raise TooLargeForMemory(f"{what or f'frames of {size[0]} x {size[1]}'}: training needs about "
                           f"{megabytes(needed)} of memory ({detail}), more than the {megabytes(available)} "
                           "available; choose a smaller --height / --width (the cpu preset uses 256 x 144), "
                           "fewer epochs, or --stream for many frames")
    return parts
