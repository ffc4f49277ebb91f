"""The machine a run trains on: CPU flags, GPUs, and the Keras dtype policy that is fastest there.

choose_dtype picks bfloat16 on CPUs with bf16 instructions (AVX-512 BF16, AMX-BF16; without them every bf16
convolution is emulated), float16 on GPUs with tensor cores (compute capability 7.0 and newer), float32 elsewhere.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

from cae_tutorial.errors import UsageError

#: CPU flags (as /proc/cpuinfo spells them) that give hardware bfloat16 arithmetic.
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
#: Lowest GPU compute capability with float16 tensor cores.
FLOAT16_MIN_CAPABILITY = (7, 0)
DTYPES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where that file does not exist, e.g. macOS, Windows)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (from /proc/cpuinfo, else the platform's processor string)."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[dict]:
    """Visible GPUs as dicts with "name" and "compute_capability" ((major, minor), or None where unknown)."""
    import tensorflow as tf

    found = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        found.append({"name": details.get("device_name", device.name),
                      "compute_capability": details.get("compute_capability")})
    return found


def choose_dtype(cpu_flags: frozenset[str] | set[str] | None = None, gpus: list[dict] | None = None) -> str:
    """The Keras dtype policy for this machine (or for the given flags and GPUs): fastest without losing quality.

    mixed_float16 on a GPU of compute capability >= 7.0, mixed_bfloat16 on a CPU with AMX-BF16 or
    AVX-512 BF16, float32 otherwise.
    """
    flags = _cpu_flags_now() if cpu_flags is None else frozenset(cpu_flags)
    devices = _gpus_now() if gpus is None else gpus
    if devices:
        capabilities = [tuple(d.get("compute_capability") or (0, 0)) for d in devices]
        return "mixed_float16" if min(capabilities) >= FLOAT16_MIN_CAPABILITY else "float32"
    return "mixed_bfloat16" if flags & BF16_CPU_FLAGS else "float32"


def resolve_dtype(dtype: str) -> str:
    """An explicit dtype policy unchanged; "auto" as choose_dtype() picks it for this machine."""
    if dtype not in DTYPES:
        raise UsageError(f"dtype {dtype!r} is not one of {DTYPES}; 'auto' picks the fastest for this machine")
    return choose_dtype() if dtype == "auto" else dtype


def describe() -> dict:
    """CPU model, CPU count, the flags that matter for speed, GPUs and the dtype chosen: for benchmark reports."""
    import os

    flags, devices = _cpu_flags_now(), _gpus_now()
    speed_flags = sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))
    return {"cpu_model": cpu_model(), "cpus": os.cpu_count(), "cpu_flags": speed_flags, "gpus": devices,
            "auto_dtype": choose_dtype(flags, devices)}


# The machine's own answers, looked up once (choose_dtype is called at every build).
@functools.cache
def _cpu_flags_now() -> frozenset[str]:
    """cpu_flags() of this machine, cached."""
    return cpu_flags()


@functools.cache
def _gpus_now() -> list[dict]:
    """gpus() of this machine, cached."""
    return gpus()
