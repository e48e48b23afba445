"""``leadscore audit DATA``: the leakage audit of every candidate feature, built-in and the export's own.

The same audit every ``leadscore train`` runs (:mod:`leadscore.training.audit`), on the leads at capture:
a verdict (ok, suspicious, leaky), the evidence as numbers and one sentence per candidate. ``--json``
prints only the JSON list on stdout (progress and logs go to stderr). Exit 0 whatever the verdicts.
"""

from __future__ import annotations

import argparse
import json
import sys


def run(args: argparse.Namespace) -> int:
    from leadscore.features.building.labels import build_training_set
    from leadscore.features.reading.validation import load_tables
    from leadscore.training.audit import audit_features, format_audit
    from leadscore.training.config import load_config
    from leadscore.training.pipeline import default_horizon_days, model_features

    config = load_config(args.config)
    tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    horizon = config.training_set.horizon_days or default_horizon_days(args.target)
    features, _ = model_features(tables, config)
    rows, _ = build_training_set(tables, args.target, offsets_days=(0,), horizon_days=horizon,
                                 own=[f for f in features if "source" in f])
    result = audit_features(rows, features, tables, config.audit, config.seed)
    if args.json:
        sys.stdout.write(json.dumps(result.records(), indent=1) + "\n")
    else:
        sys.stdout.write(f"leadscore audit --target {args.target}: {tables.source} ({len(rows):,} leads at capture, "
                         f"{int(rows['label'].sum()):,} positive)\n{format_audit(result)}\n")
    return 0
