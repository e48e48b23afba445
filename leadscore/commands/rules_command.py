"""``leadscore rules``: marketing's points for every lead, at one as_of or at each lead's own as_of.

The rows come from :func:`leadscore.features.building.builder.make_spine`, the same request handling as the features and the
scorer. With a leads file every requested line gets an output row: the ones that cannot be scored
(unknown lead, unreadable as_of, lead captured after its as_of) carry a null score and their reason in
``status``, so nothing a user asked about disappears.
"""

from __future__ import annotations

import argparse
import logging
import sys

import pandas as pd

from leadscore.features.building.spine import make_spine
from leadscore.features.frames_io import check_output, read_frame, write_frame
from leadscore.features.tables import Tables
from leadscore.features.timestamps import to_utc
from leadscore.inputs import command_inputs
from leadscore.scorers.rules import load_rules, score_rules
from leadscore.scorers.rules.engine import GRADES, RULE_STAGES

logger = logging.getLogger(__name__)


def _load_tables(args: argparse.Namespace) -> Tables:
    from leadscore.features.reading.validation import load_tables

    return load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)


def _counts(column: pd.Series, order: tuple[str, ...]) -> str:
    counts = column.value_counts()
    return ", ".join(f"{name} {int(counts.get(name, 0)):,}" for name in order)


def run(args: argparse.Namespace) -> int:
    check_output(args.out, inputs=command_inputs(args))
    config = load_rules(args.config)
    as_of = to_utc(args.as_of, "--as-of") if args.as_of else None
    tables = _load_tables(args)
    as_of = as_of if as_of is not None else tables.data_end
    request = read_frame(args.leads) if args.leads else None
    spine, excluded = make_spine(tables, as_of, request)

    scores = score_rules(tables, spine, config)
    scores["status"] = pd.array(["ok"] * len(scores), dtype="str")
    if request is not None and len(excluded):
        # A requested line that cannot be scored still gets its row, with the reason.
        missing = excluded.rename(columns={"reason": "status"})
        scores = pd.concat([scores, missing], ignore_index=True)
    write_frame(scores, args.out)

    if request is not None:
        source = f"{len(request):,} rows requested in {args.leads}"
    else:
        source = f"every lead captured by {as_of:%Y-%m-%d %H:%M} UTC"
        if len(excluded):
            source += f" ({len(excluded):,} leads not yet captured then, or without a capture time, are left out)"
    lines = [
        f"rules: {len(tables.leads):,} leads in the export; scored {source}",
        f"rows out: {len(scores):,} -> {args.out}",
        f"by grade: {_counts(scores['rule_grade'], GRADES[::-1])}",
        f"by stage: {_counts(scores['rule_stage'], RULE_STAGES[::-1])}",
    ]
    unscored = scores["status"] != "ok"
    if unscored.any():
        reasons = scores.loc[unscored, "status"].value_counts().to_dict()
        lines.append(f"no score: {int(unscored.sum()):,} rows ({', '.join(f'{k} {v:,}' for k, v in reasons.items())})")
    # Results go to stdout; logs go to stderr.
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
