"""The `cae-tutorial` command: train, predict, course, download and scrub, thin layers over the library.

A mistake in the options or the files (one of the package's own errors, cae_tutorial.errors.CaeTutorialError, or
an OSError on a file) is one line on stderr and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

from cae_tutorial.errors import CaeTutorialError, UsageError  # noqa: F401  (UsageError: also cli.UsageError)
from cae_tutorial.presets import PRESETS


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (raised, printed by main), not usage plus a line."""

    def error(self, message):
        """argparse hook: a bad option."""
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    """argparse type: an int of at least 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text}")
    return value


def _seed(text: str) -> int:
    """argparse type: an int of at least 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int of 0 or more, got {text}")
    return value


def _int(text: str) -> int:
    """argparse type: an int, with a message naming the value."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int, got {text!r}") from None


def _size(text: str) -> int:
    """argparse type: a positive multiple of 8 (the CAE halves frames three times)."""
    value = _int(text)
    if value <= 0 or value % 8:
        suggestion = max(8, round(value / 8) * 8)
        raise argparse.ArgumentTypeError(f"must be a positive multiple of 8 (the CAE halves it three times), "
                                         f"got {text}; use for example {suggestion}")
    return value


def _threshold(text: str) -> float:
    """argparse type: a probability strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _input_scale(text: str) -> float:
    """argparse type: a scale of the model's input size from 0.25 to 4."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0.25 to 4, got {text!r}") from None
    if not 0.25 <= value <= 4:
        raise argparse.ArgumentTypeError(f"must be from 0.25 to 4 (1: predict at the trained size), got {text}")
    return value


def _size_arguments(parser: argparse.ArgumentParser) -> None:
    """--height/--width options shared by the subcommands."""
    parser.add_argument("--height", type=_size, help="frame height the model uses (a positive multiple of 8)")
    parser.add_argument("--width", type=_size, help="frame width the model uses (a positive multiple of 8)")


def _parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from cae_tutorial.presets import PRESETS

    parser = _Parser(prog="cae-tutorial", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    from cae_tutorial.app import CULL_IDLE_SECONDS as CULL_AFTER  # stdlib only: --help stays quick

    train = commands.add_parser("train", help="train the CAE on a record and save the model and the run")
    _data_argument(train)
    train.add_argument("--record", help="record prefix, e.g. 136 (default: every frame in the folder)")
    train.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="training preset (default cpu)")
    train.add_argument("--epochs", type=_positive_int, help="epochs (default: the preset's)")
    train.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    train.add_argument("--train-ids", nargs="+", help="frame ids to train on (default: the seed's 00090, 00210, 00420)")
    _size_arguments(train)
    train.add_argument("--split", choices=["ids", "records"], default="ids",
                       help="ids: by frame (--train-ids or the seed's); records: hold out whole records (dancers)")
    train.add_argument("--holdout", type=float, default=0.2, help="share of records held out by --split records")
    train.add_argument("--stream", action="store_true",
                       help="read frames from their files as training goes (the full dataset), not all in memory")
    train.add_argument("--devices", default="all", help="GPUs to train on: all (default, visible ones) or a number")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue the interrupted run whose --output was RUN_DIR, from its last finished epoch")
    train.add_argument("--output", type=Path,
                       help="new (or empty) folder for model.keras and the saved run, written whole at the end")
    train.add_argument("--overwrite", action="store_true", help="replace an earlier run saved in --output")
    train.add_argument("--validate-every", type=_positive_int, default=1, metavar="N",
                       help="score the held-out frames every N epochs and after the last (default 1: every epoch)")
    train.add_argument("--tensorboard", type=Path, metavar="DIR",
                       help="also log loss, metrics and prediction images per epoch here (tensorboard --logdir DIR)")

    predict = commands.add_parser("predict", help="predict masks of frames with a saved model")
    predict.add_argument("--model", type=Path, required=True, help="a model.keras file (or the folder holding it)")
    predict.add_argument("--input", type=Path, nargs="+", required=True, help="image files or folders of them")
    predict.add_argument("--output", type=Path, required=True,
                         help="folder for <id>_mask.png and <id>_overlay.png (at each frame's own size)")
    predict.add_argument("--threshold", type=_threshold, default=0.5,
                         help="probability above which a pixel is person (default 0.5)")
    predict.add_argument("--upsampling", choices=["guided", "bilinear"], default="guided",
                         help="how the model-size mask reaches each frame's size: guided (default) puts the outline "
                              "on the frame's edges (cae_tutorial.upsampling), bilinear is the plain resize")
    predict.add_argument("--input-scale", type=_input_scale, default=None, metavar="S",
                         help="predict at S times the size the model trained at, from each full-size frame "
                              "(default 1: at the trained size; 1.25 gained 0.001 IoU on record 136's frames and "
                              "lost 0.016 on the embedded clip)")
    predict.add_argument("--flip-average", action=argparse.BooleanOptionalAction, default=None,
                         help="also predict each mirrored frame and average (test-time flips, twice the inference; "
                              "default: cae_tutorial.evaluation.FLIP_AVERAGE)")
    predict.add_argument("--overwrite", action="store_true",
                         help="replace files already in --output, or write into an --input folder")

    course = commands.add_parser("course", help="run every course notebook headless with papermill")
    course.add_argument("--output", type=Path, default=Path("build/course"), help="folder for executed notebooks")
    _data_argument(course)
    course.add_argument("--record", help="record prefix in --data, e.g. 136")
    course.add_argument("--epochs", type=_positive_int, help="epochs of the training notebooks")
    course.add_argument("--size", choices=["tiny", "small", "medium", "seed"],
                        help="size preset: tiny 64x32, small 128x64, medium 256x128, seed 1024x512")
    _size_arguments(course)
    course.add_argument("--fast", action="store_true", help="tiny sizes and few epochs: a smoke run in minutes")
    course.add_argument("--notebooks", nargs="+", help="only these notebooks (names or numbers)")
    course.add_argument("--publish", action="store_true",
                        help="maintainers: copy the executed notebooks, cleaned, back into notebooks/ to commit")
    course.add_argument("--jobs", type=_positive_int, metavar="N",
                        help="notebooks run at once, a notebook that reads another's saved run after it (default: 2 "
                             "on 2 CPUs or more, else 1; 1 with --publish, so that the seconds the committed "
                             "notebooks measure are their own)")

    scrub = commands.add_parser("scrub", help="serve the epoch scrubber of a saved run as a web page (Voila)")
    scrub.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder written by `cae-tutorial train --output`")
    scrub.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    scrub.add_argument("--no-browser", action="store_true", help="print the page's URL without opening a browser")
    scrub.add_argument("--cull-after", type=_positive_int, default=CULL_AFTER, metavar="SECONDS",
                       help="seconds a closed or lost tab's kernel lives on once idle without a connection "
                            f"(default {CULL_AFTER})")

    site = commands.add_parser("site", help="build the course's static website from the committed notebooks")
    site.add_argument("--output", type=Path, default=Path("build/site"), help="folder of the site (default build/site)")
    site.add_argument("--repository", metavar="URL",
                      help="the course's GitHub repository (https://github.com/OWNER/NAME): a repository button and "
                           "each page's Colab and Binder links (default: none)")

    download = commands.add_parser("download", help="fetch a named record into the cache, checked by SHA-256")
    download.add_argument("name", help="the record to fetch: record-136")
    download.add_argument("--cache-dir", type=Path,
                          help="cache folder (default: $CAE_TUTORIAL_CACHE, else ~/.cache/cae-tutorial)")
    download.add_argument("--origin", help="base URL to fetch from (default: $CAE_TUTORIAL_ORIGIN, else the seed "
                                           "project's GitHub repository)")
    download.add_argument("--timeout", metavar="SECONDS",
                          help="give up on a silent or stalled server after this long: one number, or CONNECT,READ "
                               "(default: $CAE_TUTORIAL_TIMEOUT, else 15,60); a failed file is tried once more")
    return parser


def _data_argument(parser: argparse.ArgumentParser) -> None:
    """--data NAME_OR_DIR, shared by train and course (--data-dir: its old name, deprecated and hidden)."""
    parser.add_argument("--data", metavar="NAME_OR_DIR",
                        help="embedded (default), record-136 (downloaded once into the cache), kaggle, or a folder "
                             "holding images/ and masks/ (the unzipped Kaggle dataset too)")
    parser.add_argument("--data-dir", dest="data_dir", metavar="DIR", help=argparse.SUPPRESS)


def _deprecated_data_dir(args, command: str) -> None:
    """--data-dir DIR (the old name of --data) still works, with a warning; both at once is an error."""
    old = vars(args).pop("data_dir", None)
    if old is None:
        return
    if args.data is not None:
        raise UsageError(f"give --data only: --data-dir is its old name (got --data {args.data} and "
                         f"--data-dir {old})")
    print(f"{command}: warning: --data-dir is deprecated and will be removed; use --data {old}", file=sys.stderr)
    args.data = old


def _check_data(data: str | None) -> None:
    """--data must be a known name or an existing folder (checked before any work)."""
    if data is None:
        return
    from cae_tutorial.datasets import EMBEDDED_NAMES, known_names

    if data in (*known_names(), *EMBEDDED_NAMES):
        return
    path = Path(data)
    if path.is_file():
        raise UsageError(f"--data {data} is a file, not a folder; pass the folder that holds images/ and masks/")
    if not path.is_dir():
        raise UsageError(f"--data {data} does not exist: it is neither a folder nor one of the known names "
                         f"({', '.join(known_names())}); pass the folder that holds images/ and masks/")


#: The options of a run, saved in its work folder when it starts (a resumed run keeps them).
TRAIN_OPTIONS = ("data", "record", "preset", "epochs", "seed", "train_ids", "split", "holdout", "stream",
                 "devices", "height", "width", "output", "overwrite", "tensorboard", "validate_every")


def _saved_form(args) -> dict:
    """The run's options as train-options.json holds them (paths as absolute text)."""
    import os

    return {k: (os.path.abspath(v) if k == "tensorboard" else str(v)) if isinstance(v, Path) else v
            for k, v in vars(args).items() if k in TRAIN_OPTIONS}


def _given_options(args) -> dict:
    """The options typed on the command line (those whose value is not the default), in saved form."""
    defaults = _saved_form(_parser().parse_args(["train"]))
    return {k: v for k, v in _saved_form(args).items() if v != defaults.get(k) and k not in ("output", "overwrite")}


def _check_train_options(args) -> None:
    """Everything about train's options that can be checked before loading data or building a model."""
    from cae_tutorial.folders import check_run_folder, check_writable

    if args.train_ids:
        repeated = sorted({i for i in args.train_ids if args.train_ids.count(i) > 1})
        if repeated:
            raise UsageError(f"--train-ids names {', '.join(repeated)} more than once; name each frame once")
    if not 0 < args.holdout < 1:
        raise UsageError(f"--holdout {args.holdout} must be a share between 0 and 1, e.g. 0.2")
    _check_data(args.data)
    check_run_folder(args.output, args.overwrite, flag="--overwrite")
    if args.tensorboard is not None:  # before loading the data, not after
        check_writable(args.tensorboard, "--tensorboard folder")


def _check_memory(folder: Path, args, preset) -> None:
    """Refuse, before loading, a run whose frames, activations and snapshots cannot fit in memory."""
    from cae_tutorial.datasets import list_records
    from cae_tutorial.memory import check_training_fits

    counts = list_records(folder)
    frames = counts.get(str(args.record), 0) if args.record is not None else sum(counts.values())
    held = min(frames, 8) if args.stream else frames  # streamed: only the snapshot frames stay in memory
    sizes = " ".join(f"--{k} {v}" for k, v in (("height", args.height), ("width", args.width)) if v is not None)
    check_training_fits(held, preset.size, preset.filters, preset.batch_size, held, preset.epochs + 1,
                        what=f"{sizes or f'preset {preset.name}'} ({preset.height} x {preset.width}, "
                             f"{frames} frames, {preset.epochs} epochs)")


class _InterruptedNote:
    """What Ctrl-C leaves, worked out when it is printed: the epochs backed up and how to continue."""

    def __init__(self, work):
        self.work = work

    def __str__(self) -> str:
        from cae_tutorial.resume import backup_summary_safe

        summary = backup_summary_safe(self.work.backup) if self.work.folder.exists() else None
        if not summary or "epoch" not in summary:
            return f"nothing was saved to {self.work.output} and no epoch had finished"
        return (f"nothing was saved to {self.work.output}; the {summary['epoch']} epochs done are backed up in "
                f"{self.work.folder}: continue with `cae-tutorial train --resume {self.work.output}`")


def run_train(args) -> int:
    """`cae-tutorial train`: check options, lock the run, load, split, build, fit (backed up each epoch), save."""
    import os

    from cae_tutorial.resume import TrainWork

    if args.resume is None and args.output is None:
        raise UsageError("give --output DIR for the run (or --resume RUN_DIR to continue an interrupted one)")
    if args.resume is not None and args.output is not None and \
            os.path.abspath(args.output) != os.path.abspath(args.resume):
        raise UsageError(f"--output {args.output} differs from --resume {args.resume}: a resumed run is saved where "
                         "it started; drop --output")
    output = args.resume if args.resume is not None else args.output
    if args.resume is None:
        _check_train_options(args)  # before the work folder is made
    work = TrainWork(output)
    try:
        options = work.begin(_saved_form(args), resume=args.resume is not None, given=_given_options(args),
                             overwrite=args.overwrite)
        for note in work.notes:
            print(f"note: {note}")
        if work.complete:
            work.finish()
            print(f"{output} holds the complete run")
            return 0
        args.interrupted_note = _InterruptedNote(work)  # on the namespace main() reads after a Ctrl-C
        options = {k: Path(v) if k == "tensorboard" and v is not None else v for k, v in options.items()}
        run = argparse.Namespace(**{**vars(args), **options, "output": output})
        if run.resume is not None:
            _check_train_options(run)
        return _train_and_save(run, work)
    finally:
        work.release()


def _train_and_save(args, work) -> int:
    """The run itself, inside its locked work folder: load, split, build, fit with a backup per epoch, save."""
    from cae_tutorial.quiet import import_tensorflow

    import_tensorflow()  # quietly, before the first module that imports it (pipeline)
    from cae_tutorial.data import load_record, seed_split, split_by_ids
    from cae_tutorial.datasets import resolve_data
    from cae_tutorial.pipeline import list_record_files, split_by_records
    from cae_tutorial.presets import get_preset

    changes = {k: v for k, v in (("height", args.height), ("width", args.width), ("epochs", args.epochs))
               if v is not None}
    preset = get_preset(args.preset, **changes)
    folder = resolve_data(args.data, args.record)
    _check_memory(folder, args, preset)
    record = (list_record_files if args.stream else load_record)(folder, args.record, size=preset.size)
    if args.split == "records":
        split = split_by_records(record, args.holdout, args.seed)
    else:
        split = split_by_ids(record, args.train_ids) if args.train_ids else seed_split(record)
    # Imported here, once the data has passed its checks: a bad folder or option fails before any model is built.
    from cae_tutorial.distribute import choose_strategy
    from cae_tutorial.folders import check_free_space
    from cae_tutorial.resume import RunBackup, instant
    from cae_tutorial.training import TrainOptions, build_model, train

    strategy = choose_strategy(args.devices)
    print(record)
    if split.heldout_ids:
        count = len(split.heldout_ids)
        print(f"training on {len(split.train_ids)} frames {list(split.train_ids)[:6]}"
              f"{' ...' if len(split.train_ids) > 6 else ''}, holding out {count} frame{'s' if count > 1 else ''}; "
              f"{strategy.num_replicas_in_sync} device(s)" + (f"; resuming {args.output}" if args.resume else ""))
    else:
        print(f"training on every frame ({len(split.train_ids)}): none is held out, so there are no held-out "
              "scores; name fewer --train-ids to hold some out")
    with strategy.scope():
        model = build_model(preset, args.seed)
    resume_hint = f"; then continue with `cae-tutorial train --resume {args.output}`"
    backup = RunBackup(work.backup, keep=True, resume_hint=resume_hint)
    options = TrainOptions(strategy=strategy, backup_dir=backup, tensorboard=args.tensorboard,
                           validate_every=args.validate_every)
    result = train(model, record, split, preset, seed=args.seed, options=options)
    instant("trained")
    s = result.snapshots
    needed = sum(v.nbytes for v in (s.images, s.masks, s.predictions)) + 3 * model.count_params() * 4
    check_free_space(args.output.parent if not args.output.exists() else args.output, needed,
                     kept=f" (the backup of all {backup.epochs_done} epochs is kept in {work.folder}{resume_hint})")
    result.save(args.output, overwrite=args.overwrite)
    instant("saved")
    work.finish()
    print(f"saved {args.output / 'model.keras'} and the run ({result.config['train_seconds']:.1f} s of training)")
    if args.tensorboard:
        print(f"TensorBoard logs in {args.tensorboard}: tensorboard --logdir {args.tensorboard}")
    if split.heldout_ids:
        record = record.load(split.heldout_ids) if args.stream else record
        print("held-out metrics:")
        print(result.evaluate(record))
    return 0


def _model_file(path: Path) -> Path:
    """The model.keras named by --model (a file or the run folder holding it)."""
    model_path = path / "model.keras" if path.is_dir() else path
    if not model_path.is_file():
        raise UsageError(f"--model {model_path} does not exist; pass the model.keras written by `cae-tutorial train` "
                         "(or its run folder)")
    return model_path


def _check_model_file(model_path: Path) -> None:
    """A cheap check, before TensorFlow loads, that a .keras file is at least a zip archive as Keras writes."""
    import zipfile

    if model_path.suffix == ".keras" and not zipfile.is_zipfile(model_path):
        raise UsageError(f"--model {model_path} is not a Keras model (a .keras file is a zip archive and this one is "
                         "not); pass the model.keras written by `cae-tutorial train`")


def _load_model(model_path: Path):
    """A Keras model from a file, with one line naming the file when it is not one."""
    import keras

    import cae_tutorial.model  # noqa: F401  (registers the package's layers, e.g. CoordinateChannels, for loading)

    try:
        return keras.saving.load_model(model_path)
    except Exception as error:  # Keras raises many kinds (ValueError, zipfile errors, OSError) for a bad file
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise UsageError(f"--model {model_path} is not a Keras model that loads ({reason}); pass the model.keras "
                         "written by `cae-tutorial train`") from error


def _check_predict_output(args, files: dict) -> None:
    """Refuse (without --overwrite) to write into an input folder or over files that already exist."""
    output = args.output.resolve()
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"--output {args.output} is a file, not a folder; choose a folder for the predictions")
    input_folders = {p.resolve() if p.is_dir() else p.resolve().parent for p in args.input}
    if output in input_folders and not args.overwrite:
        raise UsageError(f"--output {args.output} is also where the input frames are: the predictions would mix with "
                         "them; choose another --output folder (or pass --overwrite to write there anyway)")
    existing = [output / f"{frame_id}{suffix}.png" for frame_id in files for suffix in ("_mask", "_overlay")
                if (output / f"{frame_id}{suffix}.png").exists()]
    if existing and not args.overwrite:
        names = ", ".join(p.name for p in existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise UsageError(f"--output {args.output} already holds {names}; choose another --output folder "
                         "(or pass --overwrite to replace them)")


def run_predict(args) -> int:
    """`cae-tutorial predict`: a mask PNG and an overlay PNG per input frame, at the frame's own size."""
    from cae_tutorial.data import find_frames
    from cae_tutorial.folders import DiskFullError, check_writable, disk_full, encoded, write_file

    model_path = _model_file(args.model)
    _check_model_file(model_path)
    files, skipped = find_frames(args.input)
    _check_predict_output(args, files)
    check_writable(args.output, "--output")
    args.output.mkdir(parents=True, exist_ok=True)

    import numpy as np
    from PIL import Image

    from cae_tutorial.quiet import import_tensorflow

    import_tensorflow()  # quietly, before the first module that imports it (callbacks)
    from cae_tutorial.callbacks import to_uint8
    from cae_tutorial.data import check_size, read_frames, read_image
    from cae_tutorial.evaluation import model_size, predict_masks
    from cae_tutorial.plots import overlay

    model = _load_model(model_path)
    if len(model.input_shape) != 4 or model.input_shape[-1] != 3:
        raise UsageError(f"--model {model_path} takes input {model.input_shape}; predict needs a model of "
                         "(height, width, 3) frames such as the ones `cae-tutorial train` writes")
    size = model_size(model, size=_trained_size(model_path))
    if size is None:
        raise UsageError(f"--model {model_path} takes frames of any size and no config.json beside it says the size "
                         "it trained at; pass the run folder written by `cae-tutorial train`")
    frames = read_frames(list(files.values()), check_size(size, "the model's input size"))
    for note in skipped + frames.notes:
        print(f"note: {note}")
    args.interrupted_note = f"the predictions written so far are in {args.output}"
    levers = {name: value for name, value in (("input_scale", args.input_scale), ("flip_average", args.flip_average))
              if value is not None}  # None: evaluation's default
    masks = predict_masks(model, frames, args.threshold, size="original", upsampling=args.upsampling, **levers)
    for done, (frame_id, path, frame_size, person) in enumerate(zip(frames.ids, frames.paths, frames.sizes, masks)):
        mask = person.astype(np.uint8) * 255
        pictures = {f"{frame_id}_mask.png": encoded(Image.fromarray(mask).save, format="PNG"),
                    f"{frame_id}_overlay.png": encoded(Image.fromarray(to_uint8(overlay(read_image(path), mask))).save,
                                                       format="PNG")}
        try:
            for name, data in pictures.items():
                write_file(args.output / name, data)
        except DiskFullError:
            needed = sum(map(len, pictures.values())) * (len(frames.ids) - done)  # this frame's size for the rest
            raise disk_full(args.output, needed, kept=f" (the {done} frames predicted before are written whole)")
        # Height x width, as every size the package prints.
        print(f"{frame_id}: {mask.mean() / 2.55:.1f} % person, {frame_size[0]} x {frame_size[1]} -> "
              f"{args.output / (frame_id + '_mask.png')}")
    return 0


def _trained_size(model_path: Path):
    """The (height, width) a run trained at, from the config.json beside its model.keras (None if absent)."""
    import json

    config = model_path.parent / "config.json"
    try:
        size = json.loads(config.read_text()).get("size") if config.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None
    return tuple(size) if isinstance(size, list) and len(size) == 2 else None


def run_course(args) -> int:
    """`cae-tutorial course`: every notebook (default_jobs() at a time), a final table, non-zero exit if one failed."""
    from cae_tutorial.course import course_parameters, default_jobs
    from cae_tutorial.course import run_course as run
    from cae_tutorial.datasets import resolve_data

    if args.data is not None:
        resolve_data(args.data, args.record)  # download or find it now, before any notebook runs
    parameters = course_parameters(data=args.data, record=args.record, epochs=args.epochs, size=args.size,
                                   height=args.height, width=args.width, fast=args.fast)
    if args.publish and (parameters or args.data):
        print("cae-tutorial course: error: --publish commits the default run on the embedded data; "
              "drop the other options", file=sys.stderr)
        return 2
    jobs = args.jobs or (1 if args.publish else default_jobs())
    failures = run(args.output, parameters, only=args.notebooks, publish=args.publish, jobs=jobs)
    return 1 if failures else 0


def _one_line(error: BaseException) -> str:
    """An exception as one line: our messages as they are, a bare OSError with its file and reason."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror.lower()}; check the path and its permissions"
    return " ".join(str(error).split()) or type(error).__name__


def run_scrub(args) -> int:
    """`cae-tutorial scrub`: the saved run's scrubber as a Voila page on 127.0.0.1 until Ctrl-C."""
    from cae_tutorial.app import serve

    try:
        return serve(args.run_dir, args.port, open_browser=not args.no_browser, cull_after=args.cull_after)
    except (ModuleNotFoundError, RuntimeError, TimeoutError) as error:
        print(f"cae-tutorial scrub: error: {error}", file=sys.stderr)
        return 2


def run_site(args) -> int:
    """`cae-tutorial site`: the website of the course (no notebook is executed); prints where it is."""
    from cae_tutorial.site import build_site

    try:
        site = build_site(args.output, repository=args.repository)
    except (ModuleNotFoundError, RuntimeError, ValueError) as error:
        print(f"cae-tutorial site: error: {error}", file=sys.stderr)
        return 2
    for warning in site.warnings:
        print(f"cae-tutorial site: warning: {warning}", file=sys.stderr)
    print(f"{len(site.pages)} pages in {site.seconds:.0f} s into {site.path}; to read it: "
          f"python -m http.server -d {site.path} -b 127.0.0.1 8000, then open http://127.0.0.1:8000/")
    return 0


def run_download(args) -> int:
    """`cae-tutorial download`: fetch a named record into the cache and print where it is."""
    from cae_tutorial.datasets import download_record

    with terminate_as_interrupt():
        print(download_record(args.name, cache_dir=args.cache_dir, origin=args.origin, timeout=args.timeout))
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that the same clean-up runs as for Ctrl-C."""


@contextlib.contextmanager
def terminate_as_interrupt():
    """While the block runs, SIGTERM (kill, a closed terminal, a job scheduler) interrupts like Ctrl-C does."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Terminated("terminated")

    earlier = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, earlier)


def main(argv=None) -> int:
    """Entry point of the console script.

    The package's own errors (CaeTutorialError: a bad option, data, model or preset) and an OSError on a file
    are one line on stderr and exit status 2; Ctrl-C is 130; any other exception is a bug in the package and
    propagates with its traceback (exit status 1). TensorFlow's C++ start-up lines are kept out of the terminal:
    train and predict import it through quiet.import_tensorflow; quiet.quiet_tensorflow sets its log level for the
    duration of the command only.
    """
    from cae_tutorial.quiet import quiet_tensorflow

    command = "cae-tutorial"
    args = None
    try:
        from cae_tutorial.data import DataError  # in the try: a Ctrl-C while it loads is one line as well

        args = _parser().parse_args(argv)
        command = f"cae-tutorial {args.command}"
        _deprecated_data_dir(args, command)
        with quiet_tensorflow(), warnings.catch_warnings():
            warnings.showwarning = lambda message, *rest, **kw: print(f"{command}: warning: {message}",
                                                                      file=sys.stderr)
            return {"train": run_train, "predict": run_predict, "course": run_course, "scrub": run_scrub,
                    "download": run_download, "site": run_site}[args.command](args)
    except KeyboardInterrupt:
        note = getattr(args, "interrupted_note", "nothing was written")
        print(f"{command}: interrupted; {note}", file=sys.stderr)
        return 130
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except (CaeTutorialError, OSError) as error:
        print(f"{command}: error: {_one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
