"""`cae-tutorial train` and `predict` end to end on tiny sizes."""

from __future__ import annotations

import json
import math

from PIL import Image

from cae_tutorial.cli import main
from cae_tutorial.data import embedded_record_path


def test_train_then_predict(tiny_cli_run, tmp_path, capsys):
    out, printed = tiny_cli_run  # `train --epochs 3 --height 64 --width 32 --validate-every 2`, once per test run
    assert (out / "model.keras").is_file() and (out / "snapshots.npz").is_file()
    heldout_loss = json.loads((out / "history.json").read_text())["val_loss"]
    assert [math.isnan(v) for v in heldout_loss] == [True, False, False]  # epoch 2, and the last
    assert "held-out metrics" in printed and "mean" in printed
    frames = [str(embedded_record_path() / "images" / "dance_00060.png")]
    capsys.readouterr()
    assert main(["predict", "--model", str(out / "model.keras"), "--input", *frames,
                 "--output", str(tmp_path / "pred")]) == 0
    assert "% person, 960 x 540 ->" in capsys.readouterr().out  # height x width, the course's order
    mask = Image.open(tmp_path / "pred" / "dance_00060_mask.png")
    # At the frame's own size (960 x 540, height x width as everywhere in the course), not the model's 64 x 32.
    assert mask.size == Image.open(frames[0]).size and set(mask.getdata()) <= {0, 255}
    overlay = Image.open(tmp_path / "pred" / "dance_00060_overlay.png")
    assert overlay.mode == "RGB" and overlay.size == mask.size


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--height", "100", "--width", "50", "--output", str(tmp_path / "o")]) == 2
    assert "positive multiple of 8" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "none.keras"), "--input", str(tmp_path),
                 "--output", str(tmp_path / "o")]) == 2
    assert "model.keras" in capsys.readouterr().err
