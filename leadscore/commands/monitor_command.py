"""``leadscore monitor EXPORT``: is the model still right? Matured cohorts and input drift from the score store.

Reads what was predicted then (the score store's stored probabilities of ``--target``, by the model
behind the latest stored run), what happened since (the export's outcomes), and what each model version
recorded at training (MLflow: its test interval, its training reference), prints the cohorts, the drift
table and the recommendation (``--json``: the same as JSON), and logs the figures to MLflow against the
versions they judge. It never retrains: ``leadscore train --if-monitor-says-retrain`` is the gate.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

EXPERIMENT = "leadscore-monitor"


def judge_and_log(tables, store: str, target: str):
    """The monitor's result for ``target`` from the score store ``store``, logged to MLflow; and the run's id."""
    from leadscore.serving.monitor.record import log_monitor
    from leadscore.serving.monitor.run import monitor_export
    from leadscore.training.tracking import use_experiment

    result, facts = monitor_export(tables, store, target)
    use_experiment(EXPERIMENT)
    return result, log_monitor(result, facts)


def run(args: argparse.Namespace) -> int:
    from leadscore.features.reading.validation import load_tables
    from leadscore.serving.history.store import describe_target, store_target
    from leadscore.serving.monitor.verdict import format_result, result_record
    from leadscore.tracking import configure_tracking

    target = store_target(args.store)
    uri = configure_tracking()
    tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    result, run_id = judge_and_log(tables, target, args.target)
    recommendation, _ = result.recommendation
    if args.json:
        sys.stdout.write(json.dumps(result_record(result), indent=1) + "\n")
    else:
        sys.stdout.write(f"leadscore monitor --target {args.target}: {Path(str(tables.source)).name}, "
                         f"store {describe_target(target)}\n")
        sys.stdout.write(format_result(result) + "\n")
        sys.stdout.write(f"logged to MLflow: run {run_id} in experiment {EXPERIMENT} ({uri})\n")
    log.info("monitor: %s", recommendation)
    return 0
