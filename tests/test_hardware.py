"""The dtype policy chosen for the hardware, tested with injected CPU flags and GPU lists (so on any machine)."""

from __future__ import annotations

import pytest

from cae_tutorial.hardware import (
    choose_dtype,
    cpu_flags,
    cpu_model,
    describe,
    resolve_dtype,
)
from cae_tutorial.presets import PRESETS, get_preset

XEON_AMX = {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
EPYC_GENOA = {"avx2", "fma", "avx512f", "avx512_bf16"}
AVX2_ONLY = {"avx2", "fma", "sse4_2"}


@pytest.mark.parametrize("flags, expected", [
    (XEON_AMX, "mixed_bfloat16"),
    (EPYC_GENOA, "mixed_bfloat16"),
    ({"amx_bf16"}, "mixed_bfloat16"),
    (AVX2_ONLY, "float32"),
    (set(), "float32"),
])
def test_cpu_dtype_follows_bf16_flags(flags, expected):
    assert choose_dtype(cpu_flags=flags, gpus=[]) == expected


@pytest.mark.parametrize("capabilities, expected", [
    ([(8, 0)], "mixed_float16"),
    ([(7, 0)], "mixed_float16"),
    ([(9, 0), (7, 5)], "mixed_float16"),
    ([(6, 1)], "float32"),
    ([(8, 6), (6, 0)], "float32"),  # one old card in the set: float16 would crawl there
    ([None], "float32"),
])
def test_gpu_dtype_needs_compute_capability_7(capabilities, expected):
    devices = [{"name": f"gpu{i}", "compute_capability": c} for i, c in enumerate(capabilities)]
    # A GPU decides, whatever the CPU offers.
    assert choose_dtype(cpu_flags=XEON_AMX, gpus=devices) == expected


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512_bf16\n\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_model(info) == "Test CPU 9000"
    assert cpu_flags(tmp_path / "absent") == frozenset()


def test_resolve_dtype_keeps_explicit_choice_and_names_bad_ones():
    assert resolve_dtype("float32") == "float32"
    assert resolve_dtype("mixed_bfloat16") == "mixed_bfloat16"
    assert resolve_dtype("auto") == choose_dtype()
    with pytest.raises(ValueError, match="'float64'.*auto"):
        resolve_dtype("float64")


def test_every_preset_defaults_to_auto_and_prints_the_choice():
    assert all(preset.dtype == "auto" for preset in PRESETS.values())
    preset = get_preset("cpu")
    assert preset.resolved().dtype == choose_dtype()
    assert f"auto -> {choose_dtype()}" in str(preset)
    assert "auto" not in str(preset.with_(dtype="float32")).split("dtype:")[1].splitlines()[0]


def test_build_model_uses_the_resolved_dtype_and_keeps_output_float32():
    from cae_tutorial.training import build_model

    auto = build_model(get_preset("cpu", height=32, width=16))
    expected = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[choose_dtype()]
    assert auto.get_layer("encoder1_conv").compute_dtype == expected
    assert auto.get_layer("mask").compute_dtype == "float32"
    explicit = build_model(get_preset("cpu", height=32, width=16, dtype="float32"))
    assert explicit.get_layer("encoder1_conv").compute_dtype == "float32"


def test_run_saves_the_dtype_it_used(tiny_result, tmp_path):
    from cae_tutorial.results import TrainingResult

    assert tiny_result.config["preset"]["dtype"] == choose_dtype()
    tiny_result.save(tmp_path / "run")
    assert TrainingResult.load(tmp_path / "run", load_model=False).preset.dtype == choose_dtype()


def test_describe_names_cpu_and_choice():
    info = describe()
    assert info["cpu_model"] and info["cpus"] >= 1 and info["auto_dtype"] == choose_dtype()
