"""The ``leadscore`` command line: argument parsing and dispatch only.

Each subcommand's work lives in ``leadscore.commands.<name>_command`` and is imported only when that command
runs, so ``leadscore --help`` never pays for pandas, MLflow, LightGBM or SHAP.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

DATA_HELP = "the export: a folder of CSV/Parquet files named after the tables, or a DuckDB database file"
OUTSIDE_HELP = "read files the mapping names outside the export folder (refused unless given)"


def _add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help=DATA_HELP)
    parser.add_argument("--mapping", metavar="FILE", help="YAML file mapping the export's names and values to the contract")
    parser.add_argument(
        "--data-end",
        metavar="TS",
        help="when the export was taken (default: latest timestamp in leads, events and stage_history)",
    )
    parser.add_argument("--allow-files-outside", action="store_true", help=OUTSIDE_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadscore",
        description="Predictive B2B lead scoring: calibrated probabilities with reasons, next to rule-based points.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="generate demo data, then validate, train, score and report on it")
    p.add_argument("--leads", type=int, default=20_000, help="demo leads to generate (default 20000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", default="demo-workspace", help="folder for the demo's data and outputs")

    p = sub.add_parser("generate", help="write a synthetic export that follows the data contract")
    p.add_argument("--leads", type=int, required=True, help="number of leads (MCLs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (or .duckdb file for --format duckdb)")
    p.add_argument("--format", choices=("csv", "parquet", "duckdb"),
                   help="file format of the tables (default parquet; flat shapes are CSV, as CRMs export them)")
    p.add_argument("--shape", choices=("contract", "hubspot", "converted", "deals"), default="contract",
                   help="the contract's tables (default), or a flat export as users bring them, with its mapping file")

    p = sub.add_parser("validate", help="check an export against the data contract")
    _add_data(p)
    p.add_argument("--json", action="store_true", help="print the findings as JSON")

    p = sub.add_parser("features", help="build point-in-time features (or --list the catalogue)")
    p.add_argument("data", metavar="DATA", nargs="?", help=DATA_HELP)
    p.add_argument("--mapping", metavar="FILE")
    p.add_argument("--data-end", metavar="TS")
    p.add_argument("--allow-files-outside", action="store_true", help=OUTSIDE_HELP)
    p.add_argument("--list", action="store_true",
                   help="print the feature catalogue and exit (with DATA: the export's own columns too)")
    p.add_argument("--out", metavar="FILE", help="output .csv or .parquet")
    p.add_argument("--as-of", metavar="TS", help="one as_of for every lead (default: the data's end)")
    p.add_argument("--leads", metavar="FILE", help="CSV/Parquet with lead_id and an optional per-lead as_of")

    p = sub.add_parser("training-set", help="build labeled point-in-time snapshots for a target")
    _add_data(p)
    p.add_argument("--target", choices=("sqo", "won"), required=True)
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--offsets", default="0,7,14,30,60", help="snapshot days after capture, comma-separated")
    p.add_argument("--horizon-days", type=int, help="label horizon (default: sqo 90, won 180)")

    p = sub.add_parser("rules", help="rule-based points per lead, as marketing defines them")
    _add_data(p)
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--as-of", metavar="TS")
    p.add_argument("--leads", metavar="FILE")
    p.add_argument("--config", metavar="FILE", help="rules YAML (default: the shipped rules)")

    p = sub.add_parser("audit", help="the leakage audit: a verdict per candidate feature, with its evidence")
    _add_data(p)
    p.add_argument("--target", choices=("sqo", "won"), default="sqo", help="outcome to audit against (default sqo)")
    p.add_argument("--config", metavar="FILE", help="training YAML with the audit thresholds (default: the shipped config)")
    p.add_argument("--json", action="store_true", help="print only a JSON list, one object per candidate feature")

    p = sub.add_parser("train", help="train, calibrate, evaluate and register a model in MLflow")
    _add_data(p)
    p.add_argument("--target", choices=("sqo", "won"), required=True)
    p.add_argument("--config", metavar="FILE", help="training YAML (default: the shipped config)")
    p.add_argument("--experiment", metavar="NAME", help="MLflow experiment (default leadscore-<target>)")

    p = sub.add_parser("promote", help="move the champion alias to the challenger if it is not worse")
    p.add_argument("--target", choices=("sqo", "won"), required=True)
    p.add_argument("--version", type=int, help="model version to promote (default: the challenger)")
    p.add_argument("--force", action="store_true",
                   help="make --version champion even though it failed its gates or the comparison (recorded on it)")
    p.add_argument("data", metavar="DATA", nargs="?", help="export to compare on (default: the challenger's training data)")
    p.add_argument("--mapping", metavar="FILE", help="YAML file mapping the export's names and values to the contract")
    p.add_argument("--data-end", metavar="TS", help="when the export was taken")
    p.add_argument("--allow-files-outside", action="store_true", help=OUTSIDE_HELP)

    p = sub.add_parser("score", help="score leads: calibrated probabilities, reasons, rule points")
    _add_data(p)
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--model-sqo", default="models:/leadscore-sqo@champion", metavar="URI")
    p.add_argument(
        "--model-won",
        default="models:/leadscore-won@champion",
        metavar="URI",
        help="WON model (default: the champion; when there is none, p_win is left empty)",
    )
    p.add_argument("--as-of", metavar="TS")
    p.add_argument("--leads", metavar="FILE")
    p.add_argument("--since", metavar="TS", help="only leads captured at or after TS (the new MCLs)")
    p.add_argument("--rules", metavar="FILE", help="rules YAML for the side-by-side points")
    p.add_argument("--grades", metavar="A,B,C", help="score cut points for grades A, B, C (default: from training)")

    p = sub.add_parser("serve", help="serve scores over HTTP (POST /v1/score; API keys required)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data", metavar="EXPORT", help="an export whose history is used for the leads it knows")
    p.add_argument("--mapping", metavar="FILE", help="YAML mapping file for --data (its value maps apply to requests)")
    p.add_argument("--data-end", metavar="TS", help="when the --data export was taken")
    p.add_argument("--reload-minutes", type=float, default=15.0, help="reread --data every N minutes (default 15; 0: never)")
    p.add_argument("--api-keys-file", metavar="FILE", help="API keys, one per line (also: LEADSCORE_API_KEYS, comma-separated)")
    p.add_argument("--no-auth", action="store_true", help="serve without keys (loopback host only, for local use)")
    p.add_argument("--model-sqo", default="models:/leadscore-sqo@champion", metavar="URI")
    p.add_argument("--model-won", default="models:/leadscore-won@champion", metavar="URI")
    p.add_argument("--poll-seconds", type=float, default=10.0, help="how often to check the registry's aliases (default 10)")
    p.add_argument("--rules", metavar="FILE", help="rules YAML for the side-by-side points")
    p.add_argument("--grades", metavar="A,B,C", help="score cut points for grades A, B, C (default: from training)")
    p.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger bodies get 413 (default 1000000)")
    p.add_argument("--max-leads", type=int, default=1_000, help="more leads per request get 413 (default 1000)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes serving in parallel, each with its own models (default 1; one per core)")
    p.add_argument("--concurrency", type=int, default=1,
                   help="requests scored at once per process (default 1; more only queue on the interpreter)")

    p = sub.add_parser("report", help="write the marketing report (funnel KPIs, model against rules) as HTML")
    _add_data(p)
    p.add_argument("--out", default="report.html", metavar="FILE")
    p.add_argument("--scores", metavar="FILE", help="a scorer output to summarise")
    p.add_argument("--as-of", metavar="TS")
    p.add_argument("--capacity", type=int, metavar="K", help="leads sales can work (default 10%% of leads)")
    p.add_argument("--model-sqo", default="models:/leadscore-sqo@champion", metavar="URI")
    p.add_argument("--rules", metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    module = importlib.import_module(f"leadscore.commands.{args.command.replace('-', '_')}_command")
    from leadscore.features.errors import LeadscoreError

    try:
        return int(module.run(args) or 0)
    except LeadscoreError as exc:
        sys.stderr.write(f"leadscore {args.command}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
