"""The ``leadscore`` command line: argument parsing, dispatch, and the edge where errors become sentences.

Each subcommand's work lives in ``leadscore.commands.<name>_command`` and is imported only when that command
runs, so ``leadscore --help`` never pays for pandas, MLflow, LightGBM or SHAP.

What reaches the edge: a problem the user can fix (``LeadscoreError``, a full disk, a file that cannot be
written) is one sentence on stderr and exit 2. A termination signal (SIGTERM, SIGHUP) is turned into an
exception, so the work unwinds as for any error (a temporary file removed, an MLflow run ended FAILED
rather than left RUNNING forever) before the command exits 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from collections.abc import Callable, Sequence

DATA_HELP = "the export: a folder of CSV/Parquet files named after the tables, or a DuckDB database file"
OUTSIDE_HELP = "read files the mapping names outside the export folder (refused unless given)"
MAPPING_HELP = "YAML file mapping the export's names and values to the contract"
DATA_END_HELP = "when the export was taken (default: latest timestamp in leads, events and stage_history)"
AS_OF_HELP = "one as_of for every lead (default: the data's end)"
LEADS_HELP = "CSV/Parquet file of lead_id with an optional per-lead as_of (backtests)"
FRAME_OUT_HELP = "output file, .csv or .parquet"
SEED_HELP = "random seed: the same seed gives the same data"
TARGET_HELP = "the outcome: sqo (reaches SQO within 90 days) or won (won within 180 days)"
MODEL_SQO_HELP = "SQO model to use, as an MLflow model URI (default: the registered champion)"
VERBOSE_HELP = "the developer log on stderr: every detail, with times, levels and logger names"
STORE_HELP = ("the score store: a DuckDB file or postgresql://user@host/db "
              "(default: $LEADSCORE_STORE, else ./leadscore-scores.duckdb)")
RULES_HELP = "rules YAML for the rule points beside the model (default: the shipped rules)"


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib import metadata

        try:
            version = metadata.version("leadscore")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        sys.stdout.write(f"leadscore {version}\n")  # a result, so stdout
        parser.exit()


def _add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help=DATA_HELP)
    parser.add_argument("--mapping", metavar="FILE", help=MAPPING_HELP)
    parser.add_argument("--data-end", metavar="TS", help=DATA_END_HELP)
    parser.add_argument("--allow-files-outside", action="store_true", help=OUTSIDE_HELP)


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="PATH|URI", help=STORE_HELP)


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False on every parser: a sub-command parser does not inherit it, and an abbreviation
    # silently taken for another option (--sinc for --since) is worse than an error.
    parser = argparse.ArgumentParser(
        prog="leadscore",
        description="Predictive B2B lead scoring: calibrated probabilities with reasons, next to rule-based points.",
        allow_abbrev=False,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--version", action=_Version, help="print the installed leadscore version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, help="what to do")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, allow_abbrev=False)
        # Also after the command (`leadscore train ... --verbose`); SUPPRESS keeps a top-level -v when absent here.
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        return sub

    p = command("demo", "generate demo data, then validate, train, score and report on it")
    p.add_argument("--leads", type=int, default=20_000, help="demo leads to generate (default 20000)")
    p.add_argument("--seed", type=int, default=7, help=SEED_HELP + " (default 7)")
    p.add_argument("--workdir", default="demo-workspace", help="folder for the demo's data and outputs")

    p = command("generate", "write a synthetic export that follows the data contract")
    p.add_argument("--leads", type=int, required=True, help="number of leads (MCLs)")
    p.add_argument("--seed", type=int, default=0, help=SEED_HELP + " (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (or .duckdb file for --format duckdb)")
    p.add_argument("--format", choices=("csv", "parquet", "duckdb"),
                   help="file format of the tables (default parquet; flat shapes are CSV, as CRMs export them)")
    p.add_argument("--shape", choices=("contract", "hubspot", "converted", "deals", "edtech"), default="contract",
                   help="the contract's tables (default), or a flat export as users bring them, with its mapping file")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the tables of an export already in --out (refused without it)")
    p.add_argument("--drift-from", metavar="YYYY-MM",
                   help="a world that changes from this month on: conversion to SQO halves and a tracking change "
                        "loses 80%% of page views (to try `leadscore monitor`; the same seed without it is the same "
                        "world unchanged)")

    p = command("validate", "check an export against the data contract")
    _add_data(p)
    p.add_argument("--json", action="store_true", help="print the findings as JSON")

    p = command("features", "build point-in-time features (or --list the catalogue)")
    p.add_argument("data", metavar="DATA", nargs="?", help=DATA_HELP)
    p.add_argument("--mapping", metavar="FILE", help=MAPPING_HELP)
    p.add_argument("--data-end", metavar="TS", help=DATA_END_HELP)
    p.add_argument("--allow-files-outside", action="store_true", help=OUTSIDE_HELP)
    p.add_argument("--list", action="store_true",
                   help="print the feature catalogue and exit (with DATA: the export's own columns too)")
    p.add_argument("--out", metavar="FILE", help=FRAME_OUT_HELP)
    p.add_argument("--as-of", metavar="TS", help=AS_OF_HELP)
    p.add_argument("--leads", metavar="FILE", help=LEADS_HELP)
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local (default), or spark: events and stage history read and aggregated by Spark, for "
                        "exports that outgrow one machine (needs the spark extra; --out a .parquet folder)")

    p = command("training-set", "build labeled point-in-time snapshots for a target")
    _add_data(p)
    p.add_argument("--target", choices=("sqo", "won"), required=True, help=TARGET_HELP)
    p.add_argument("--out", required=True, metavar="FILE", help=FRAME_OUT_HELP)
    p.add_argument("--offsets", default="0,7,14,30,60", help="snapshot days after capture, comma-separated")
    p.add_argument("--horizon-days", type=int, help="label horizon (default: sqo 90, won 180)")

    p = command("rules", "rule-based points per lead, as marketing defines them")
    _add_data(p)
    p.add_argument("--out", required=True, metavar="FILE", help=FRAME_OUT_HELP)
    p.add_argument("--as-of", metavar="TS", help=AS_OF_HELP)
    p.add_argument("--leads", metavar="FILE", help=LEADS_HELP)
    p.add_argument("--config", metavar="FILE", help="rules YAML (default: the shipped rules)")

    p = command("audit", "the leakage audit: a verdict per candidate feature, with its evidence")
    _add_data(p)
    p.add_argument("--target", choices=("sqo", "won"), default="sqo", help="outcome to audit against (default sqo)")
    p.add_argument("--config", metavar="FILE", help="training YAML with the audit thresholds (default: the shipped config)")
    p.add_argument("--json", action="store_true", help="print only a JSON list, one object per candidate feature")

    p = command("train", "train, calibrate, evaluate and register a model in MLflow")
    _add_data(p)
    p.add_argument("--target", choices=("sqo", "won"), required=True, help=TARGET_HELP)
    p.add_argument("--config", metavar="FILE", help="training YAML (default: the shipped config)")
    p.add_argument("--experiment", metavar="NAME", help="MLflow experiment (default leadscore-<target>)")
    p.add_argument("--if-monitor-says-retrain", action="store_true",
                   help="train only when `leadscore monitor` on this export and score store recommends retraining")
    p.add_argument("--store", metavar="PATH|URI",
                   help="the score store --if-monitor-says-retrain reads (default: LEADSCORE_STORE, "
                        "else ./leadscore-scores.duckdb)")

    p = command("promote", "move the champion alias to the challenger if it is not worse")
    p.add_argument("--target", choices=("sqo", "won"), required=True, help=TARGET_HELP)
    p.add_argument("--version", type=int, help="model version to promote (default: the challenger)")
    p.add_argument("--force", action="store_true",
                   help="make --version champion even though it failed its gates or the comparison (recorded on it)")
    p.add_argument("data", metavar="DATA", nargs="?", help="export to compare on (default: the challenger's training data)")
    p.add_argument("--mapping", metavar="FILE", help=MAPPING_HELP)
    p.add_argument("--data-end", metavar="TS", help="when the export was taken")
    p.add_argument("--allow-files-outside", action="store_true", help=OUTSIDE_HELP)

    p = command("score", "score leads: calibrated probabilities, reasons, rule points")
    _add_data(p)
    p.add_argument("--out", required=True, metavar="FILE", help=FRAME_OUT_HELP)
    p.add_argument("--model-sqo", default="models:/leadscore-sqo@champion", metavar="URI", help=MODEL_SQO_HELP)
    p.add_argument(
        "--model-won",
        default="models:/leadscore-won@champion",
        metavar="URI",
        help="WON model (default: the champion; when there is none, p_win is left empty)",
    )
    p.add_argument("--as-of", metavar="TS", help=AS_OF_HELP)
    p.add_argument("--leads", metavar="FILE", help=LEADS_HELP)
    p.add_argument("--since", metavar="TS", help="only leads captured at or after TS (the new MCLs)")
    p.add_argument("--rules", metavar="FILE", help=RULES_HELP)
    p.add_argument("--grades", metavar="A,B,C", help="score cut points for grades A, B, C (default: from training)")
    _add_store(p)
    p.add_argument("--no-store", action="store_true", help="do not keep this run in the score store")

    p = command("history", "a lead's stored scores, oldest first, and what changed between them")
    p.add_argument("lead_id", metavar="LEAD_ID", help="the lead, as its lead_id in the export")
    _add_store(p)
    p.add_argument("--json", action="store_true", help="print the runs as JSON")

    p = command("changes", "leads whose p_sqo moved between two stored runs, each change split into data, time, model")
    _add_store(p)
    p.add_argument("--from", dest="from_run", metavar="RUN_ID", help="the earlier run (default: each lead's previous score)")
    p.add_argument("--to", dest="to_run", metavar="RUN_ID", help="the later run (default: each lead's latest score)")
    p.add_argument("--min-change", type=float, default=0.05, metavar="P",
                   help="leave out moves of p_sqo smaller than this (default 0.05)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per lead")

    p = command("serve", "serve scores over HTTP (POST /v1/score; API keys required)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data", metavar="EXPORT", help="an export whose history is used for the leads it knows")
    p.add_argument("--mapping", metavar="FILE", help="YAML mapping file for --data (its value maps apply to requests)")
    p.add_argument("--data-end", metavar="TS", help="when the --data export was taken")
    p.add_argument("--allow-files-outside", action="store_true", help=OUTSIDE_HELP)
    p.add_argument("--reload-minutes", type=float, default=15.0, help="reread --data every N minutes (default 15; 0: never)")
    p.add_argument("--api-keys-file", metavar="FILE", help="API keys, one per line (also: LEADSCORE_API_KEYS, comma-separated)")
    p.add_argument("--no-auth", action="store_true", help="serve without keys (loopback host only, for local use)")
    p.add_argument("--model-sqo", default="models:/leadscore-sqo@champion", metavar="URI", help=MODEL_SQO_HELP)
    p.add_argument("--model-won", default="models:/leadscore-won@champion", metavar="URI",
                   help="WON model (default: the champion; when there is none, p_win is left empty)")
    p.add_argument("--poll-seconds", type=float, default=10.0, help="how often to check the registry's aliases (default 10)")
    p.add_argument("--rules", metavar="FILE", help=RULES_HELP)
    p.add_argument("--grades", metavar="A,B,C", help="score cut points for grades A, B, C (default: from training)")
    p.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger bodies get 413 (default 1000000)")
    p.add_argument("--max-leads", type=int, default=1_000, help="more leads per request get 413 (default 1000)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes serving in parallel, each with its own models (default 1; one per core)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="requests scored at once per process (default 1; more only queue on the interpreter)")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="a request's line and headers must arrive within this, or the connection is closed (default 10)")
    p.add_argument("--body-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="its body within this once the headers are in, or 408 and closed (default 30)")
    p.add_argument("--keep-alive", type=float, default=5.0, metavar="SECONDS",
                   help="an idle connection is closed this long after its last answer (default 5)")
    p.add_argument("--max-connections", type=int, metavar="N",
                   help="open connections per worker; one more closes the one idle longest (default 200, "
                        "at most half the open-file limit)")

    p = command("monitor", "is the model still right? matured cohorts and input drift from the score store")
    _add_data(p)
    p.add_argument("--store", metavar="PATH|URI",
                   help="the score store to read (default: LEADSCORE_STORE, else ./leadscore-scores.duckdb)")
    p.add_argument("--target", choices=("sqo", "won"), default="sqo", help="the model to judge (default sqo)")
    p.add_argument("--json", action="store_true", help="print the cohorts, drift and recommendation as JSON")

    p = command("report", "write the marketing report (funnel KPIs, model against rules) as HTML")
    _add_data(p)
    p.add_argument("--out", default="report.html", metavar="FILE", help="output HTML file (default report.html)")
    p.add_argument("--scores", metavar="FILE", help="a scorer output to summarise")
    p.add_argument("--as-of", metavar="TS", help="the report's moment (default: the data's end); it only looks back")
    p.add_argument("--capacity", type=int, metavar="K", help="leads sales can work (default 10%% of leads)")
    p.add_argument("--model-sqo", default="models:/leadscore-sqo@champion", metavar="URI", help=MODEL_SQO_HELP)
    p.add_argument("--rules", metavar="FILE", help="rules YAML to compare the model against (default: the shipped rules)")
    p.add_argument("--store", metavar="PATH|URI",
                   help="a score store (file or postgresql://…): adds what changed since its last run and the "
                        "model over time (matured cohorts, drift, the monitor's recommendation)")
    return parser


class Terminated(BaseException):
    """A termination signal arrived; a ``BaseException`` so that no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


TERMINATION_SIGNALS = ("SIGTERM", "SIGHUP")


def _stop_on_termination() -> Callable[[], None]:
    """Raise :class:`Terminated` on a termination signal from now on; returns what puts things back.

    A second signal of the same kind while the first unwinds ends the process the default way.
    """

    def handler(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        raise Terminated(signum)

    previous = {}
    for name in TERMINATION_SIGNALS:
        number = getattr(signal, name, None)
        if number is None:
            continue
        try:
            previous[number] = signal.signal(number, handler)
        except ValueError:  # not the main thread: leave signals alone
            break

    def restore() -> None:
        for number, old in previous.items():
            signal.signal(number, old)

    return restore


def os_error_sentence(exc: BaseException) -> str | None:
    """One sentence for a full disk anywhere in ``exc``'s chain (MLflow and SQLite wrap it) or a failed file
    operation; ``None`` when ``exc`` is neither."""
    from leadscore.features.errors import disk_full_cause

    full = disk_full_cause(exc)
    if full is not None:
        where = f" while writing {full.filename}" if isinstance(full, OSError) and full.filename else ""
        return f"the disk is full{where}; free some space, then run the command again."
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}; check that path and its permissions, then run the command again."
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from leadscore.stderr import setup_stderr

    restore_logging = setup_stderr(args.verbose)  # one plain line per step or problem; --verbose: the developer log
    try:
        return _run(args)
    finally:
        restore_logging()


def _run(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"leadscore.commands.{args.command.replace('-', '_')}_command")
    from leadscore.features.errors import LeadscoreError
    from leadscore.features.frames_io import process_temporary_folder

    restore_signals = _stop_on_termination()
    try:
        # Temporary files (this command's and its libraries') in one folder, removed even after a kill -9.
        with process_temporary_folder(args.command):
            return int(module.run(args) or 0)
    except LeadscoreError as exc:
        sys.stderr.write(f"leadscore {args.command}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"leadscore {args.command}: interrupted.\n")
        return 130
    except Terminated as exc:
        sys.stderr.write(f"leadscore {args.command}: stopped by {signal.Signals(exc.signum).name}.\n")
        return 128 + exc.signum
    except Exception as exc:
        from leadscore.features.remote import redact
        from leadscore.tracking import unreachable_store_sentence

        sentence = unreachable_store_sentence(exc) or os_error_sentence(exc)
        if sentence is None:  # a bug: its traceback, for the report, with any credential hidden
            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
            return 1
        sys.stderr.write(f"leadscore {args.command}: {sentence}\n")
        return 2
    finally:
        restore_signals()


if __name__ == "__main__":
    sys.exit(main())
