"""``leadscore train``: build the training set, train, calibrate, evaluate, log and register a model.

Prints the test-window comparison of the model with the logistic and rules baselines, the chosen
calibration, the gate decisions, the MLflow run and the registered version with its alias.

``--if-monitor-says-retrain`` first runs ``leadscore monitor`` on the same export and score store, and
trains only when it recommends ``retrain``; otherwise it says why not and exits 0 without a run, so a
schedule can call it every day. The new version records the monitor's reason (``leadscore.trained_because``)
and, as any version after the first, can become ``challenger`` only: promoting it stays a decision.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def monitor_gate(tables, args: argparse.Namespace) -> str | None:
    """Run the monitor (logged to MLflow as ``leadscore monitor`` does); its reason when it recommends
    retraining, else None after saying why no model is trained."""
    import sys

    from leadscore.commands.monitor_command import judge_and_log
    from leadscore.serving.history.store import store_target
    from leadscore.serving.monitor.verdict import RETRAIN

    result, _ = judge_and_log(tables, store_target(args.store), args.target)
    recommendation, reason = result.recommendation
    if recommendation == RETRAIN:
        return reason
    sys.stdout.write(f"leadscore train --target {args.target}: not trained: the monitor recommends {recommendation}: "
                     f"{reason}\n")
    return None


def run(args: argparse.Namespace) -> int:
    from leadscore.features.progress import Progress
    from leadscore.features.reading.validation import load_tables
    from leadscore.features.remote import redact
    from leadscore.tracking import configure_tracking
    from leadscore.training.config import load_config
    from leadscore.training.pipeline import TRAIN_STEPS, train_model
    from leadscore.training.tracking import fail_abandoned_runs

    config = load_config(args.config)
    store = configure_tracking()  # a store that cannot be opened fails now, not after the training
    fail_abandoned_runs()  # runs an earlier train left RUNNING when it was killed outright
    with Progress(f"train --target {args.target}", steps=TRAIN_STEPS + 1) as progress:
        progress.step(f"reading the export {args.data}")
        tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
        because = None
        if args.if_monitor_says_retrain:
            because = monitor_gate(tables, args)
            if because is None:
                return 0
        experiment = args.experiment or f"leadscore-{args.target}"
        lineage = {
            "data_source": str(Path(args.data).resolve()),
            "mapping": str(Path(args.mapping).resolve()) if args.mapping else None,
            "data_end": args.data_end,
            # So that promote, re-reading this export, reads the same files.
            "allow_files_outside": "true" if args.allow_files_outside else None,
        }
        result = train_model(tables, args.target, config, experiment, lineage=lineage, progress=progress)
    if because is not None:
        from mlflow import MlflowClient

        MlflowClient().set_model_version_tag(result.model_name, str(result.model_version), "leadscore.trained_because",
                                             because[:5000])
    print(f"leadscore train --target {args.target}: {tables.source} (data end {tables.data_end:%Y-%m-%d %H:%M} UTC)")
    if because is not None:
        print(f"trained because the monitor recommends retraining: {because}")
    print(result.summary())
    print(f"MLflow store: {redact(store)}")
    return 0
