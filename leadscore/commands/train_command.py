"""``leadscore train``: build the training set, train, calibrate, evaluate, log and register a model.

Prints the test-window comparison of the model with the logistic and rules baselines, the chosen
calibration, the gate decisions, the MLflow run and the registered version with its alias.
"""

from __future__ import annotations

import argparse
from pathlib import Path


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
        experiment = args.experiment or f"leadscore-{args.target}"
        lineage = {
            "data_source": str(Path(args.data).resolve()),
            "mapping": str(Path(args.mapping).resolve()) if args.mapping else None,
            "data_end": args.data_end,
            # So that promote, re-reading this export, reads the same files.
            "allow_files_outside": "true" if args.allow_files_outside else None,
        }
        result = train_model(tables, args.target, config, experiment, lineage=lineage, progress=progress)
    print(f"leadscore train --target {args.target}: {tables.source} (data end {tables.data_end:%Y-%m-%d %H:%M} UTC)")
    print(result.summary())
    print(f"MLflow store: {redact(store)}")
    return 0
