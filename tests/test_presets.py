"""Presets are checked field by field when made; get_preset and Preset.with_ follow one rule."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest

from cae_tutorial.errors import CaeTutorialError
from cae_tutorial.presets import (
    PRESETS,
    SIZE_MULTIPLE,
    Preset,
    PresetError,
    PresetFieldError,
    UnknownPresetError,
    get_preset,
)

#: field -> (a value it refuses, words the one-line message must hold: the field and the allowed values).
BAD = {
    "name": ("", "a non-empty str"),
    "height": (100, "divides by 8"),
    "width": (0, "divides by 8"),
    "epochs": (0, "at least 1"),
    "batch_size": (0, "at least 1"),
    "learning_rate": (-1, "above 0"),
    "schedule": ("step", "'constant', 'cosine'"),
    "filters": ((16, 0), "positive ints"),
    "kernel_size": (0, "at least 1"),
    "activation": (" ", "Keras activation"),
    "dropout": ((0.1, 1.5), "[0, 1)"),
    "skip_connections": ("yes", "True or False"),
    "batch_norm": (1, "True or False"),
    "augment": ("maybe", "True or False"),
    "steps_per_epoch": (0, "or None"),
    "dtype": ("float16", "'auto', 'float32', 'mixed_bfloat16', 'mixed_float16'"),
    "jit_compile": ("no", "True or False"),
    "progressive_scale": (0, "at least 1"),
    "progressive_fraction": (1.0, "[0, 1)"),
    "coordinates": (0, "True or False"),
    "boundary_weight": (math.nan, "0 or more"),
}


def test_every_field_has_a_check():
    assert set(BAD) == {f.name for f in fields(Preset)}


@pytest.mark.parametrize("field", sorted(BAD))
def test_a_bad_value_is_one_line_naming_the_field_and_the_allowed_values(field):
    value, allowed = BAD[field]
    for make in (lambda: Preset(**{"name": "x", field: value}), lambda: PRESETS["cpu"].with_(**{field: value})):
        with pytest.raises(PresetError) as raised:
            make()
        message = str(raised.value)
        assert "\n" not in message and f"Preset field {field} must be" in message and allowed in message, message
        assert isinstance(raised.value, (CaeTutorialError, ValueError))


def test_the_issue_s_examples():
    with pytest.raises(ValueError, match="batch_size must be an int of at least 1, got 0"):
        get_preset("cpu", batch_size=0)
    with pytest.raises(ValueError, match="learning_rate must be a finite number above 0.*got -1"):
        get_preset("cpu", learning_rate=-1)
    with pytest.raises(ValueError, match="schedule must be one of 'constant', 'cosine', got 'step'"):
        get_preset("cpu", schedule="step")


def test_wrong_types_and_unknown_names_keep_their_builtin_bases():
    with pytest.raises(TypeError, match="no field 'epoch'"):
        get_preset("cpu", epoch=3)
    with pytest.raises(PresetFieldError, match="epochs must be an int"):
        get_preset("cpu", epochs="3")
    with pytest.raises(TypeError, match="epochs must be an int"):
        get_preset("cpu", epochs=True)  # a bool is not an int here
    with pytest.raises(KeyError) as raised:
        get_preset("gpu")
    assert isinstance(raised.value, UnknownPresetError) and str(raised.value).startswith("unknown preset 'gpu'")


def test_get_preset_and_with_behave_the_same():
    cpu = PRESETS["cpu"]
    for changes in ({"epochs": None}, {"steps_per_epoch": None}, {"epochs": 7, "height": None}, {}):
        assert get_preset("cpu", **changes) == cpu.with_(**changes), changes
    assert cpu.with_(epochs=None) == cpu  # None: unchanged, so notebooks pass parameters straight through
    with pytest.raises(PresetFieldError, match="epochs must be an int of at least 1, got None"):
        Preset(name="x", epochs=None)  # made directly, None is a value like any other
    assert cpu.with_(steps_per_epoch=None).steps_per_epoch is None  # for the one field that takes None
    for make in (lambda: get_preset("cpu", k=None), lambda: cpu.with_(k=None)):
        with pytest.raises(TypeError, match="no field 'k'"):
            make()


def test_values_are_normalised():
    preset = get_preset("cpu", learning_rate=1, filters=[8, 16], dropout=[0, 0.5])
    assert preset.learning_rate == 1.0 and isinstance(preset.learning_rate, float)
    assert preset.filters == (8, 16) and preset.dropout == (0.0, 0.5)
    assert Preset.from_dict(preset.to_dict()) == preset


def test_the_presets_and_their_resolved_copies_are_valid():
    for preset in PRESETS.values():
        assert Preset.from_dict(preset.to_dict()) == preset
        assert preset.with_(dtype="float32").dtype == "float32"


def test_size_multiple_matches_the_data_module():
    from cae_tutorial.data import SIZE_MULTIPLE as DATA_SIZE_MULTIPLE

    assert SIZE_MULTIPLE == DATA_SIZE_MULTIPLE
