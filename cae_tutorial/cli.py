"""The `cae-tutorial` command: train, predict and course, thin layers over the library."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _size_arguments(parser: argparse.ArgumentParser) -> None:
    """--height/--width options shared by the subcommands."""
    parser.add_argument("--height", type=int, help="frame height the model uses (divisible by 8)")
    parser.add_argument("--width", type=int, help="frame width the model uses (divisible by 8)")


def _parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="cae-tutorial", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train the CAE on a record and save the model and the run")
    train.add_argument("--data-dir", type=Path, help="Kaggle-layout record folder (default: the embedded record)")
    train.add_argument("--record", help="record prefix, e.g. 136 (default: every frame in the folder)")
    train.add_argument("--preset", default="cpu", help="training preset: cpu (default) or seed")
    train.add_argument("--epochs", type=int, help="epochs (default: the preset's)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--train-ids", nargs="+", help="frame ids to train on (default: the seed's 00090, 00210, 00420)")
    train.add_argument("--split", choices=["ids", "records"], default="ids",
                       help="ids: by frame (--train-ids or the seed's); records: hold out whole records (dancers)")
    train.add_argument("--holdout", type=float, default=0.2, help="share of records held out by --split records")
    train.add_argument("--stream", action="store_true",
                       help="read frames from their files as training goes (the full dataset), not all in memory")
    train.add_argument("--devices", default="all", help="GPUs to train on: all (default, visible ones) or a number")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue an interrupted run in RUN_DIR from its last finished epoch (same options)")
    _size_arguments(train)
    train.add_argument("--output", type=Path, help="folder for model.keras and the saved run")

    predict = commands.add_parser("predict", help="predict masks of frames with a saved model")
    predict.add_argument("--model", type=Path, required=True, help="a model.keras file (or the folder holding it)")
    predict.add_argument("--input", type=Path, nargs="+", required=True, help="image files or folders of them")
    predict.add_argument("--output", type=Path, required=True, help="folder for <id>_mask.png and <id>_overlay.png")
    predict.add_argument("--threshold", type=float, default=0.5, help="probability above which a pixel is person")

    course = commands.add_parser("course", help="run every course notebook headless with papermill")
    course.add_argument("--output", type=Path, default=Path("build/course"), help="folder for executed notebooks")
    course.add_argument("--data-dir", type=Path, help="Kaggle-layout record folder (default: the embedded record)")
    course.add_argument("--record", help="record prefix of --data-dir, e.g. 136")
    course.add_argument("--epochs", type=int, help="epochs of the training notebooks")
    course.add_argument("--size", choices=["tiny", "small", "medium", "seed"],
                        help="size preset: tiny 64x32, small 128x64, medium 256x128, seed 1024x512")
    _size_arguments(course)
    course.add_argument("--fast", action="store_true", help="tiny sizes and few epochs: a smoke run in minutes")
    course.add_argument("--notebooks", nargs="+", help="only these notebooks (names or numbers)")
    course.add_argument("--publish", action="store_true",
                        help="maintainers: copy the executed notebooks, cleaned, back into notebooks/ to commit")
    return parser


TRAIN_OPTIONS = ("data_dir", "record", "preset", "epochs", "seed", "train_ids", "split", "holdout", "stream",
                 "devices", "height", "width")


def _train_options(args) -> argparse.Namespace:
    """The run's options: those given, or with --resume those saved in RUN_DIR/train-options.json."""
    import json

    if args.resume is None:
        if args.output is None:
            raise FileNotFoundError("give --output DIR for the run (or --resume RUN_DIR to continue one)")
        args.output.mkdir(parents=True, exist_ok=True)
        saved = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k in TRAIN_OPTIONS}
        (args.output / "train-options.json").write_text(json.dumps(saved, indent=1))
        return args
    options = args.resume / "train-options.json"
    if not options.is_file():
        raise FileNotFoundError(f"{options} is missing: --resume takes a folder written by `cae-tutorial train "
                                "--output`, interrupted before it finished")
    saved = json.loads(options.read_text())
    saved["data_dir"] = None if saved["data_dir"] is None else Path(saved["data_dir"])
    return argparse.Namespace(**{**vars(args), **saved, "output": args.resume})


def run_train(args) -> int:
    """`cae-tutorial train`: load, split, build, fit, save, print held-out metrics (backed up each epoch)."""
    from cae_tutorial.data import load_record, seed_split, split_by_ids
    from cae_tutorial.distribute import choose_strategy
    from cae_tutorial.pipeline import list_record_files, split_by_records
    from cae_tutorial.presets import get_preset
    from cae_tutorial.training import build_model, train

    args = _train_options(args)
    changes = {k: v for k, v in (("height", args.height), ("width", args.width), ("epochs", args.epochs))
               if v is not None}
    preset = get_preset(args.preset, **changes)
    record = (list_record_files if args.stream else load_record)(args.data_dir, args.record, size=preset.size)
    if args.split == "records":
        split = split_by_records(record, args.holdout, args.seed)
    else:
        split = split_by_ids(record, args.train_ids) if args.train_ids else seed_split(record)
    strategy = choose_strategy(args.devices)
    print(f"{record}; training on {len(split.train_ids)} frames, holding out {len(split.heldout_ids)}; "
          f"{strategy.num_replicas_in_sync} device(s)" + (f"; resuming {args.output}" if args.resume else ""))
    with strategy.scope():
        model = build_model(preset, args.seed)
    result = train(model, record, split, preset, seed=args.seed, strategy=strategy,
                   backup_dir=args.output / "backup")
    result.save(args.output)
    print(f"saved {args.output / 'model.keras'} and the run ({result.config['train_seconds']:.1f} s of training)")
    if split.heldout_ids:
        table = result.evaluate(record.load(split.heldout_ids) if args.stream else record)
        print("held-out metrics:")
        print(table)
    return 0


def run_predict(args) -> int:
    """`cae-tutorial predict`: a mask PNG and an overlay PNG per input frame."""
    import keras
    import numpy as np
    from PIL import Image

    from cae_tutorial.data import load_frames
    from cae_tutorial.plots import overlay
    from cae_tutorial.training import predict, to_uint8

    model_path = args.model / "model.keras" if args.model.is_dir() else args.model
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path} does not exist; pass the model.keras written by `cae-tutorial train`")
    model = keras.saving.load_model(model_path)
    ids, images = load_frames(args.input, tuple(model.input_shape[1:3]))
    probabilities = predict(model, images)
    args.output.mkdir(parents=True, exist_ok=True)
    for frame_id, image, probability in zip(ids, images, probabilities):
        mask = (probability[..., 0] >= args.threshold).astype(np.uint8) * 255
        Image.fromarray(mask).save(args.output / f"{frame_id}_mask.png")
        Image.fromarray(to_uint8(overlay(image, mask))).save(args.output / f"{frame_id}_overlay.png")
        print(f"{frame_id}: {mask.mean() / 2.55:.1f} % person -> {args.output / (frame_id + '_mask.png')}")
    return 0


def run_course(args) -> int:
    """`cae-tutorial course`: every notebook in order, a final table, non-zero exit if one failed."""
    from cae_tutorial.course import course_parameters, run_course as run

    parameters = course_parameters(data_dir=args.data_dir, record=args.record, epochs=args.epochs, size=args.size,
                                   height=args.height, width=args.width, fast=args.fast)
    if args.publish and (parameters or args.data_dir):
        print("cae-tutorial course: error: --publish commits the default run on the embedded data; "
              "drop the other options", file=sys.stderr)
        return 2
    failures = run(args.output, parameters, only=args.notebooks, publish=args.publish)
    return 1 if failures else 0


def main(argv=None) -> int:
    """Entry point of the console script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)
    from cae_tutorial.data import DataError

    try:
        return {"train": run_train, "predict": run_predict, "course": run_course}[args.command](args)
    except (DataError, FileNotFoundError, KeyError, TypeError, ValueError) as error:
        print(f"cae-tutorial {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
