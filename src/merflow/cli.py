"""The ``merflow`` command line.

Conventions
-----------
``merflow info`` prints versions, the compute device and the paths the pipeline uses.
``merflow docs RESULTS OUT [--config FILE]`` copies the pipeline's Markdown results tables
into a docs folder with their provenance (:mod:`merflow.docs`).
``merflow table METRICS.json... --out OUT`` writes the results table (the pipeline's
:func:`merflow.evaluation.tables.results_table`) of the runs given, e.g. the seeds finished so far.
The pipeline itself runs through Snakemake (see the README). On top of its trained runs
(:mod:`merflow.inference.prediction`):

``merflow predict FILE... [--run DIR | --results DIR [--dataset NAME] [--model NAME]] [--json]``
    classifies MIDI/audio files: a summary per file on stdout, or with ``--json`` one JSON
    list (one object per classified file). Each unreadable or unsupported file gets a line
    ``merflow predict: FILE: reason: message`` on stderr; the other files are still
    processed and the exit status is then 1.
``merflow annotate DIR --out FILE.parquet [--run ... ] [--batch-size N] [--workers W] [--shard K/N]``
    annotates every MIDI/audio file under DIR (recursively) into FILE.parquet, resumably,
    with unreadable files in FILE.ledger.csv; progress (count, rate, ETA) on stderr; W
    processes; only shard K of N (:mod:`merflow.inference.annotation`). Exit status 0 when the run
    completes, unreadable files included (they are in the ledger).

Without ``--run``, the run is :func:`merflow.inference.runs.find_run` of ``--results`` (default
``results``): the best test accuracy, optionally among one dataset's or model's runs, runs of
real datasets before the demo's. A run trained on the synthetic demo songs (picked or named)
gets a warning on stderr saying so, with the command that trains a real model.
A run that cannot be found or loaded gives a message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import logging
import platform
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from merflow import __version__
from merflow.core.config import SCHEMA_PATH
from merflow.core.errors import InputError
from merflow.core.logs import LOG_FORMAT, enable_crash_tracebacks
from merflow.inference.annotation import DEFAULT_BATCH_SIZE, annotate
from merflow.inference.prediction import ModelInfo, Prediction, Predictor, load_predictor
from merflow.inference.runs import RunError, find_run, synthetic_run_warning

KEY_PACKAGES = (
    "torch",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "symusic",
    "music21",
    "librosa",
    "basic-pitch",
    "onnxruntime",
    "yt-dlp",
    "mlflow",
    "scikit-learn",
    "pandas",
    "pyarrow",
)
DEFAULT_RESULTS = Path("results")
EXIT_OK, EXIT_FILE_ERRORS, EXIT_RUN_ERROR = 0, 1, 2


def package_versions() -> dict[str, str]:
    """Installed version of each key dependency (``not installed`` if absent)."""
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def compute_device() -> str:
    """``cuda (<GPU name>)`` when PyTorch sees a GPU, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def ffmpeg_binary() -> str:
    """Path of the ffmpeg used for audio conversion (PATH first, then imageio-ffmpeg's)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return "not found"


def cmd_info(args: argparse.Namespace) -> int:
    print(f"merflow {__version__}")
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"device: {compute_device()}")
    print("packages:")
    for name, version in package_versions().items():
        print(f"  {name:32s} {version}")
    print("paths:")
    print(f"  package             {Path(__file__).parent}")
    print(f"  config schema       {SCHEMA_PATH}")
    print(f"  working directory   {Path.cwd()}")
    print(f"  results             {Path('results').resolve()}")
    print(f"  mlflow database     {Path('results/mlflow/mlflow.db').resolve()}")
    print(f"  ffmpeg              {ffmpeg_binary()}")
    return 0


@contextlib.contextmanager
def _stderr_logging(level: int) -> Iterator[None]:
    """Log records of ``level`` and above to the current stderr for the duration of a command."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def _predictor(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Predictor:
    """The run named by ``--run``, or the best one under ``--results`` (see the module docstring)."""
    if args.run is not None and (args.model is not None or args.dataset is not None):
        parser.error("--run names the run itself: do not combine it with --model or --dataset")
    run_dir = args.run or find_run(args.results, dataset=args.dataset, model=args.model)
    predictor = load_predictor(run_dir)
    warning = synthetic_run_warning(predictor.info.dataset)
    if warning is not None:
        print(warning, file=sys.stderr)
    return predictor


def format_prediction(prediction: Prediction) -> str:
    """Human-readable summary of one :class:`merflow.inference.prediction.Prediction`, several lines."""
    level = {1: "high", 0: "low"}
    probabilities = "  ".join(f"{name} {p:.3f}" for name, p in prediction.probabilities.items())
    source = f"{prediction.input}, {prediction.n_notes} notes"
    if prediction.transcriber:
        source += f" transcribed by {prediction.transcriber}"
    return "\n".join(
        [
            f"{prediction.file}",
            f"  quadrant       {prediction.label}",
            f"  probabilities  {probabilities}",
            f"  valence        {level[prediction.valence]} (P(high) = {prediction.valence_probability:.3f})",
            f"  arousal        {level[prediction.arousal]} (P(high) = {prediction.arousal_probability:.3f})",
            f"  key            {prediction.key} (r = {prediction.key_correlation:.2f})",
            f"  input          {source}",
        ]
    )


def format_model(info: ModelInfo) -> str:
    """One line naming the run of a :class:`merflow.inference.prediction.ModelInfo`."""
    accuracy = "" if info.test_accuracy is None else f", test accuracy {info.test_accuracy:.3f}"
    return (
        f"model {info.model} ({info.estimator} on {info.features} features, source {info.source}; "
        f"{info.dataset} {info.part} seed {info.seed}{accuracy}) from {info.run_dir}"
    )


def cmd_predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``merflow predict``: classify files, report each unreadable one, exit 1 if any."""
    try:
        predictor = _predictor(args, parser)
    except RunError as error:
        print(f"merflow predict: {error}", file=sys.stderr)
        return EXIT_RUN_ERROR
    results = predictor.predict_files(args.files)
    predictions = []
    for file, result in zip(args.files, results, strict=True):
        if isinstance(result, InputError):
            print(f"merflow predict: {file}: {result.reason}: {result.message}", file=sys.stderr)
        else:
            predictions.append(result)
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    else:
        print(format_model(predictor.info))
        for prediction in predictions:
            print(format_prediction(prediction))
    return EXIT_FILE_ERRORS if len(predictions) < len(results) else EXIT_OK


def cmd_annotate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``merflow annotate``: resumable annotation of a folder into parquet plus a ledger."""
    if args.batch_size < 1 or args.workers < 1:
        parser.error(f"--batch-size and --workers must be >= 1, got {args.batch_size} and {args.workers}")
    if not args.dir.is_dir():
        parser.error(f"{args.dir} is not a folder")
    try:
        predictor = _predictor(args, parser)
        print(format_model(predictor.info), file=sys.stderr)
        summary = annotate(
            args.dir, args.out, predictor, batch_size=args.batch_size, workers=args.workers, shard=args.shard
        )
    except RunError as error:
        print(f"merflow annotate: {error}", file=sys.stderr)
        return EXIT_RUN_ERROR
    print(
        f"{summary.n_files} music files: {summary.n_skipped} already annotated, "
        f"{summary.n_annotated} annotated now, {summary.n_failed} unreadable "
        f"(ledger {summary.ledger}); annotations in {summary.out}",
        file=sys.stderr,
    )
    return EXIT_OK


def _shard(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N) with 0 <= K < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"shard {index} of {count} does not exist (0 <= K < N)")
    return index, count


def _add_run_options(command: argparse.ArgumentParser) -> None:
    """``--run``, or ``--results`` with ``--dataset`` / ``--model`` to pick one."""
    command.add_argument(
        "--run", type=Path, help="trained run folder (results/<dataset>/models/<model>/<part>/seed<k>)"
    )
    command.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="without --run: pick the run with the best test accuracy under this folder (default: results)",
    )
    command.add_argument("--dataset", help="without --run: only runs of this dataset")
    command.add_argument("--model", help="without --run: only runs of this model name")


def cmd_docs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``merflow docs``: the results tables into a docs folder (:func:`merflow.docs.publish_tables`)."""
    from merflow.docs import publish_tables

    try:
        written = publish_tables(args.results, args.out, args.config)
    except FileNotFoundError as error:
        print(f"merflow docs: {error}", file=sys.stderr)
        return EXIT_RUN_ERROR
    for path in written:
        print(path)
    return EXIT_OK


def report_split(part: str, n_folds: int) -> str:
    """The reported split a training partition belongs to: ``fold3`` -> ``5fold``, else itself."""
    return f"{n_folds}fold" if re.fullmatch(r"fold\d+", part) else part


def write_split_tables(
    runs: list[dict], dataset: str, split: str, out: Path, audio_source: str, curves: bool
) -> None:
    """``out/tables/<dataset>_<split>.md`` and ``.csv`` of ``runs``; with ``curves`` also their
    learning curves (``_curves.md``, ``out/plots/<dataset>_<split>_curves.png``)."""
    from merflow.core.io import write_text
    from merflow.evaluation.learning_curves import curves_markdown, curves_table, plot_curves
    from merflow.evaluation.tables import results_table, to_markdown

    table = results_table(runs, dataset, split, audio_source)
    stem = out / "tables" / f"{dataset}_{split}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(stem.with_suffix(".csv"), index=False, float_format="%.4f")
    write_text(to_markdown(table, dataset, split), stem.with_suffix(".md"))
    print(stem.with_suffix(".md"))
    if not curves:
        return
    title = f"{dataset}, split {split}: learning curves"
    curves_md = stem.with_name(stem.name + "_curves.md")
    write_text(curves_markdown(curves_table(runs), title), curves_md)
    plot = out / "plots" / f"{dataset}_{split}_curves.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot_curves(runs, plot, title)
    print(curves_md, plot, sep="\n")


def cmd_table(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``merflow table``: the results tables of the runs finished so far (the pipeline's own code),
    one per dataset and reported split among them."""
    from merflow.core.io import read_json

    groups: dict[tuple[str, str], list[dict]] = {}
    for path in args.metrics:
        run = read_json(path)
        groups.setdefault((run["dataset"], report_split(run["part"], args.folds)), []).append(run)
    for (dataset, split), runs in sorted(groups.items()):
        write_split_tables(runs, dataset, split, args.out, args.audio_source, args.curves)
    return EXIT_OK


def cmd_sizes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``merflow sizes``: the pretraining size table of some finished runs (the pipeline's own code)."""
    from merflow.core.io import read_json
    from merflow.evaluation.pretraining_sizes import write_sizes

    histories = [read_json(path) for path in args.histories]
    presets = [history.get("preset") for history in histories]
    if len(set(presets)) != len(presets):
        parser.error(f"one history per preset, got {presets}")
    pending = tuple(preset for preset in args.sweep if preset not in presets)
    md = args.out / "tables" / "pretraining_sizes.md"
    try:
        write_sizes(
            histories, md, md.with_suffix(".csv"), args.out / "plots" / "pretraining_sizes.png", pending
        )
    except ValueError as error:
        print(f"merflow sizes: {error}", file=sys.stderr)
        return EXIT_RUN_ERROR
    print(md)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="merflow",
        description="Music emotion recognition on piano music: a reproducible pipeline (run with snakemake).",
    )
    parser.add_argument("--version", action="version", version=f"merflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print versions, compute device and paths")
    info.set_defaults(func=cmd_info)
    predict = commands.add_parser(
        "predict", help="emotion quadrant, valence, arousal and key of MIDI/audio files"
    )
    predict.add_argument("files", nargs="+", metavar="FILE", help=".mid/.midi or .wav/.mp3/.flac files")
    predict.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    _add_run_options(predict)
    predict.set_defaults(func=cmd_predict, log_level=logging.WARNING)
    annotate_parser = commands.add_parser(
        "annotate", help="annotate every MIDI/audio file of a folder into parquet"
    )
    annotate_parser.add_argument("dir", type=Path, metavar="DIR", help="folder searched recursively")
    annotate_parser.add_argument(
        "--out", type=Path, required=True, metavar="FILE.parquet", help="annotation table"
    )
    annotate_parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"files per model call (default: {DEFAULT_BATCH_SIZE})",
    )
    annotate_parser.add_argument(
        "--workers", type=int, default=1, help="processes classifying files (default: 1)"
    )
    annotate_parser.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="K/N",
        help="annotate only shard K of N (0-based; a file's shard is a hash of its path in DIR)",
    )
    _add_run_options(annotate_parser)
    annotate_parser.set_defaults(func=cmd_annotate, log_level=logging.INFO)
    docs = commands.add_parser(
        "docs", help="copy the pipeline's results tables into docs/, with their source"
    )
    docs.add_argument("results", type=Path, help="the pipeline's results folder")
    docs.add_argument(
        "out", type=Path, help="folder of the generated tables (e.g. docs/results/faithful_cpu)"
    )
    docs.add_argument("--config", type=Path, help="the config file the run used (named, with its SHA-256)")
    docs.set_defaults(func=cmd_docs, log_level=logging.INFO)
    table = commands.add_parser(
        "table", help="the results table of some finished runs (e.g. while the others still train)"
    )
    table.add_argument("metrics", type=Path, nargs="+", help="metrics.json of runs (any datasets and splits)")
    table.add_argument(
        "--out", type=Path, required=True, help="writes OUT/tables/<dataset>_<split>.md, .csv per split"
    )
    table.add_argument(
        "--folds",
        type=int,
        default=5,
        help="runs of partitions foldK report as split <FOLDS>fold (default: 5)",
    )
    table.add_argument("--audio-source", default="", help="stated on rows of audio models (youtube, render)")
    table.add_argument(
        "--curves", action="store_true", help="also the neural runs' learning curves (_curves.md, plots/)"
    )
    table.set_defaults(func=cmd_table, log_level=logging.INFO)
    sizes = commands.add_parser(
        "sizes", help="the MIDI-BERT pretraining size table of some finished pretrainings"
    )
    sizes.add_argument("histories", type=Path, nargs="+", help="history.json of pretrainings, one per preset")
    sizes.add_argument(
        "--out", type=Path, required=True, help="writes OUT/tables/pretraining_sizes.md, .csv, OUT/plots/"
    )
    sizes.add_argument(
        "--sweep",
        nargs="*",
        default=[],
        metavar="PRESET",
        help="the sweep's presets (midibert.size_sweep): those without a history are named as not yet run",
    )
    sizes.set_defaults(func=cmd_sizes, log_level=logging.INFO)
    return parser


def main(argv: list[str] | None = None) -> int:
    enable_crash_tracebacks()  # a crash names where it died
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.func is cmd_info:
        return cmd_info(args)
    with _stderr_logging(args.log_level):
        return args.func(args, parser)


if __name__ == "__main__":
    sys.exit(main())
