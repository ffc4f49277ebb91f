"""One base class of the package's errors; the CLI makes those (and OSError on files) one line, bugs keep tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cae_tutorial import cli
from cae_tutorial.errors import CaeTutorialError, UsageError

REPO = Path(__file__).resolve().parents[1]


def test_the_package_s_errors_share_one_base_and_keep_their_builtin_ones():
    from cae_tutorial.contract import ModelContractError
    from cae_tutorial.data import DataError
    from cae_tutorial.metric_names import MetricNameError
    from cae_tutorial.presets import PresetError, PresetFieldError, UnknownPresetError

    for error, builtin in ((DataError, ValueError), (ModelContractError, ValueError), (MetricNameError, KeyError),
                           (UsageError, ValueError), (PresetError, ValueError), (PresetFieldError, TypeError),
                           (UnknownPresetError, KeyError)):
        assert issubclass(error, CaeTutorialError) and issubclass(error, builtin), error
    assert cli.UsageError is UsageError
    assert str(MetricNameError("unknown metric 'x'")) == "unknown metric 'x'"  # no KeyError quotes


def _failing(error):
    """A stand-in for a subcommand that raises `error`."""

    def run(args):
        raise error

    return run


@pytest.mark.parametrize("error", [ValueError("a bug"), KeyError("a bug"), TypeError("a bug"),
                                   AttributeError("a bug")])
def test_a_bug_keeps_its_traceback(monkeypatch, error):
    monkeypatch.setattr(cli, "run_download", _failing(error))
    with pytest.raises(type(error), match="a bug"):
        cli.main(["download", "record-136"])


@pytest.mark.parametrize("error", [UsageError("--x 3 is wrong; use --x 2"),
                                   PermissionError(13, "Permission denied", "/some/file.png")])
def test_the_package_s_errors_and_os_errors_are_one_line(monkeypatch, capsys, error):
    monkeypatch.setattr(cli, "run_download", _failing(error))
    assert cli.main(["download", "record-136"]) == 2
    printed = capsys.readouterr().err
    assert printed.startswith("cae-tutorial download: error: ") and printed.count("\n") == 1, printed
    assert "Traceback" not in printed


def test_a_preset_error_is_one_line(monkeypatch, capsys):
    from cae_tutorial.presets import get_preset

    monkeypatch.setattr(cli, "run_download", lambda args: get_preset("cpu", batch_size=0))
    assert cli.main(["download", "record-136"]) == 2
    assert "Preset field batch_size must be an int of at least 1, got 0" in capsys.readouterr().err


def test_as_a_command_a_bug_exits_1_with_its_traceback_and_a_mistake_exits_2():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bug = ("import sys, cae_tutorial.cli as c\n"
           "def run(args):\n    return {}['no such key']\n"
           "c.run_download = run\nsys.exit(c.main(['download', 'record-136']))")
    run = subprocess.run([sys.executable, "-c", bug], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" in run.stderr and "KeyError" in run.stderr, run.stderr[-2000:]
    run = subprocess.run([sys.executable, "-m", "cae_tutorial.cli", "download", "record-999"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "record-136" in run.stderr, run.stderr


def test_data_dir_is_a_deprecated_alias_of_data(tmp_path, capsys):
    assert cli.main(["train", "--data-dir", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]) == 2
    printed = capsys.readouterr().err
    assert "--data-dir is deprecated" in printed and f"use --data {tmp_path / 'nowhere'}" in printed
    assert "does not exist" in printed  # then it is --data, checked as --data is
    assert cli.main(["train", "--data", "embedded", "--data-dir", "x", "--output", str(tmp_path / "o")]) == 2
    assert "give --data only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["train", "--help"])
    assert "--data-dir" not in capsys.readouterr().out  # hidden from --help: --data is the one option
