"""The `melodex` command line.

Exit codes: 0 done, 1 something failed (a run, a file), 2 something to fix first (a bad
MELODEX_* value, a full or read-only MELODEX_HOME, a refused query, a bad option). Errors are one
line on stderr; ``--debug`` adds the traceback.

Modules: pipeline (demo, run, scan, ui), queries (sql, status, results), analysis (features,
catalog unify), library (similar, search), models (models compare), tables and terminal (what is
printed and how), errors (one-line explanations), view_docs (documented NULL reasons). Each
command imports what it needs when it runs, so ``melodex scan`` or ``melodex sql`` does not load
models, MLflow or every stage's code.

argparse rather than typer: the options stay as they were (``--datasets a b`` takes several
values, which click options cannot), and the parser loads in milliseconds.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence

from dagster_project.cli.terminal import fail, warn

FORMATS = ["table", "csv", "json"]


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    # --debug is accepted before or after the command: a parent parser gives it to every subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = argparse.ArgumentParser(prog="melodex", description=__doc__.split("\n\n")[0], parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common], **kwargs)

    demo = command("demo", "generate the demo library if absent, then materialize everything")
    demo.add_argument("--library", help="where the demo library lives (default $MELODEX_HOME/demo-library)")
    demo.add_argument("--tracks", type=int, default=60)
    demo.add_argument("--seed", type=int, default=0)

    run = command("run", "materialize the whole graph for the configured library")
    run.add_argument("--root", action="append", help="library root (repeatable), replacing MELODEX_LIBRARY_ROOTS")
    run.add_argument("--retrain", action="store_true", help="retrain the genre classifier even if nothing changed")

    scan = command("scan", "scan the library roots and print what changed")
    scan.add_argument(
        "--root", action="append",
        help="library root (repeatable), replacing MELODEX_LIBRARY_ROOTS for this scan: the roots are the whole "
        "library, so tracks outside them are retired",
    )

    sql = command("sql", "run a read-only query on the feature store (SELECT, WITH, FROM, DESCRIBE, SHOW, ...)")
    sql.add_argument("query")
    sql.add_argument("--format", choices=FORMATS, default="table")
    sql.add_argument("--limit", type=int, default=0, help="print at most this many rows (0: all)")
    layout = sql.add_mutually_exclusive_group()
    layout.add_argument(
        "--vertical", action="store_const", const=True, default=None,
        help="one field per line (default: only when the rows are wider than the terminal)",
    )
    layout.add_argument("--no-vertical", dest="vertical", action="store_const", const=False, help="always a table")

    status = command("status", "what is materialized, what was skipped and why, what failed")
    status.add_argument("--failures", type=int, default=10, help="how many recent failures to list")

    similar = command(
        "similar", "the live tracks nearest to a track by cosine over the msd-musicnn track embeddings",
        description="The live tracks nearest to TRACK by cosine similarity of their msd-musicnn track embeddings, "
        "TRACK itself excluded (the `similar_tracks` query in sql/queries.sql). Exit code 2, with one error line, "
        "when there is nothing to search (no store, no embeddings yet) or TRACK is unknown or has no embedding.",
    )
    similar.add_argument("track", metavar="TRACK", help="a track id, a path in the library, or any audio file "
                         "(analysed on the fly)")  # fmt: skip
    similar.add_argument("--k", type=positive, default=10, help="how many tracks (default 10, at least 1)")
    similar.add_argument("--format", choices=["table", "json"], default="table",
                         help="json: the tracks on stdout, how they were found on stderr")  # fmt: skip

    search = command(
        "search", "tracks for a text query, by the text-to-music projection or zero-shot tags (it says which)",
        description="Tracks for a text query: the trained text-to-music projection when it beat the zero-shot tag "
        "search on held-out tracks, else the zero-shot search over MusiCNN's tags and your own genres; it says "
        "which. Exit code 2, with one error line, when there is nothing to search (no store, no embeddings yet), "
        "the query is empty, or it matches no tag.",
    )
    search.add_argument("query")
    search.add_argument("--k", type=positive, default=10, help="how many tracks (default 10, at least 1)")
    search.add_argument("--format", choices=["table", "json"], default="table",
                        help="json: the tracks on stdout, how they were found on stderr")  # fmt: skip

    features = command("features", "descriptors of files or folders, without touching the store")
    features.add_argument("paths", nargs="+")
    features.add_argument("--format", choices=FORMATS, default="table")
    features.add_argument("--output", help="write the report to this file instead of the terminal")

    predict = command("predict", "genre predictions of files or folders by the champion model, per 30 s segment")
    predict.add_argument("paths", nargs="+")
    predict.add_argument("--format", choices=["jsonl", "json", "csv"], default="jsonl",
                         help="jsonl: a line per file (the inference asset's format); csv: a row per segment")  # fmt: skip
    predict.add_argument("--output", help="write the predictions to this file instead of the terminal")
    predict.add_argument("--batch-size", type=positive, help="segments per forward pass (default MELODEX_INFERENCE_BATCH_SIZE)")
    predict.add_argument("--num-workers", type=non_negative,
                         help="processes decoding files (default MELODEX_INFERENCE_WORKERS)")  # fmt: skip
    predict.add_argument("--plot", metavar="IMAGE", help="also draw the genre timeline of the (one) file, e.g. out.png")

    catalog = command("catalog", "research-dataset catalogs").add_subparsers(dest="action", required=True)
    unify = catalog.add_parser(
        "unify", help="unify datasets and the library into one catalog with splits", parents=[common]
    )
    unify.add_argument("--datasets", nargs="+", help="default: every MELODEX_DATASET_ROOTS entry plus library")
    unify.add_argument("--root", dest="roots", action="append", metavar="NAME=PATH", help="dataset root (repeatable)")
    unify.add_argument("--max-samples", type=int)
    unify.add_argument("--stratify-by", choices=["none", "dataset", "duration"])
    unify.add_argument("--samples-per-dataset", type=int)
    unify.add_argument("--min-duration", type=float)
    unify.add_argument("--max-duration", type=float)
    unify.add_argument("--seed", type=int)
    unify.add_argument("--allow-artist-overlap", action="store_true", help="split by track only, not by artist")
    unify.add_argument("--official-splits", action="store_true", help="keep a dataset's published split")
    unify.add_argument("--dry-run", action="store_true", help="report what would be built, write nothing")
    unify.add_argument("--export", help="also write the catalog to this .json or .parquet file")

    models = command("models", "genre model candidates in the MLflow store").add_subparsers(
        dest="action", required=True
    )
    compare = models.add_parser(
        "compare", parents=[common], help="the candidates side by side on their shared split, champion marked",
        description="The newest version of each candidate on one shared split (the champion's, else the newest), "
        "best macro F1 first. Exit code 1, with one error line, when no MLflow store or no candidate exists yet.",
    )  # fmt: skip
    compare.add_argument("--task", default="genre", help="whose candidates (default genre)")
    compare.add_argument("--format", choices=FORMATS, default="table",
                         help="json, csv: the rows on stdout, the split on stderr")  # fmt: skip

    ui = command("ui", "start the Dagster UI on this project's instance")
    ui.add_argument("--port", type=int, default=3000)
    return parser


def dispatch(args: argparse.Namespace, settings, debug: bool) -> int:
    from dagster_project.cli import analysis, pipeline, queries

    match args.command:
        case "demo":
            return pipeline.demo(settings, library=args.library, tracks=args.tracks, seed=args.seed, debug=debug)
        case "run":
            return pipeline.run(settings, roots=args.root, retrain=args.retrain, debug=debug)
        case "scan":
            return pipeline.scan(settings, roots=args.root, debug=debug)
        case "sql":
            return queries.sql(settings, args.query, fmt=args.format, limit=args.limit, vertical=args.vertical)
        case "status":
            return queries.status(settings, failures=args.failures)
        case "similar":
            from dagster_project.cli.library import similar

            return similar(settings, args.track, k=args.k, fmt=args.format)
        case "search":
            from dagster_project.cli.library import search

            return search(settings, args.query, k=args.k, fmt=args.format)
        case "models" if args.action == "compare":
            from dagster_project.cli import models

            return models.compare(settings, task=args.task, fmt=args.format)
        case "features":
            return analysis.features(settings, args.paths, fmt=args.format, output=args.output)
        case "catalog":
            return analysis.catalog_unify(settings, args, debug=debug)
        case "predict":
            from dagster_project.cli.predict import predict

            return predict(settings, args.paths, fmt=args.format, output=args.output, plot=args.plot,
                           batch_size=args.batch_size, num_workers=args.num_workers)  # fmt: skip
        case "ui":
            return pipeline.ui(settings, port=args.port)
    raise AssertionError(f"unknown command {args.command}")


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A library's warning as one escaped line: some colour theirs with ANSI codes, others quote user text."""
    warn(f"{category.__name__}: {message} ({filename}:{lineno})")


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Dagster's beta/preview notices about its own API say nothing to someone running the CLI.
    warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")
    warnings.showwarning = show_warning
    # A value the terminal cannot encode is written escaped rather than ending the command.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    if not debug:
        # MLflow logs each model it saves and draws a bar per artifact download; the commands print
        # their own summaries. Read by MLflow when it is imported, which happens later, on use.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = None
    try:
        from melodex_ml.models.cache import apply_download_policy
        from melodex_ml.settings import get_settings

        settings = get_settings()  # the one read of MELODEX_*; every command gets it passed down
        apply_download_policy(settings.allow_downloads)
        return dispatch(args, settings, debug)
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 -- every error ends as one line (and the traceback with --debug)
        from dagster_project.cli.errors import explain

        if debug:
            sys.stderr.write(traceback.format_exc())
        explained = explain(exc, settings)
        for message in explained.message.splitlines() or [type(exc).__name__]:
            fail(message)
        return explained.exit_code


def entry() -> None:
    """The `melodex` script: :func:`main`, then a quick exit.

    Native libraries a command loads (TensorFlow inside essentia, LLVM for numba, torch) take most of a
    second to tear down when the interpreter finalizes, which a user waits for after the output is
    complete. Nothing a command leaves behind depends on that teardown: each closes its stores itself,
    output is flushed here and the atexit hooks (logging, multiprocessing, MLflow) still run. A thread
    still running is waited for, as the interpreter would.
    """
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe, a full disk: reported as the interpreter's own exit reports it
        sys.exit(code)
    os._exit(code)

