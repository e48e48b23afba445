"""``leadscore rules``: marketing's points for every lead, at one as_of or at each lead's own as_of.

The rows come from :func:`leadscore.features.building.builder.make_spine`, the same request handling as the features and the
scorer. With a leads file every requested line gets an output row: the ones that cannot be scored
(unknown lead, unreadable as_of, lead captured after its as_of) carry a null score and their reason in
``status``, so nothing a user asked about disappears. ``status`` also says where a scored lead stands,
with the scorer's words (``ok`` for an open lead, ``reached SQO``, ``closed: won`` …): a closed lead
keeps its points, graded ``closed``.
"""

from __future__ import annotations

import argparse
import logging
import sys

import pandas as pd

from leadscore.features.building.spine import EXCLUSION_REASONS, make_spine
from leadscore.features.building.stages import funnel_position
from leadscore.features.frames_io import check_output, read_frame, write_frame
from leadscore.features.tables import Tables
from leadscore.features.timestamps import to_moment
from leadscore.inputs import command_inputs
from leadscore.scorers.rules import load_rules, score_rules
from leadscore.scorers.rules.engine import CLOSED_GRADE, CLOSED_STAGES, GRADES, RULE_STAGES
from leadscore.scorers.status import STATUS_BY_POSITION

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
    tables = _load_tables(args)
    as_of = to_moment(args.as_of, "--as-of", tables.data_end, tables.date_order) if args.as_of else tables.data_end
    request = read_frame(args.leads) if args.leads else None
    spine, excluded = make_spine(tables, as_of, request)

    position = funnel_position(tables, spine)
    scores = score_rules(tables, spine, config, position=position)
    scores["status"] = pd.array([STATUS_BY_POSITION[p] for p in position], dtype="str")
    if request is not None and len(excluded):
        # A requested line that cannot be scored still gets its row, with the reason.
        missing = excluded.rename(columns={"reason": "status"})
        missing["status"] = missing["status"].map(EXCLUSION_REASONS)
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
    closed = scores["rule_grade"] == CLOSED_GRADE
    if closed.any():
        lines.append(f"closed at as_of (graded {CLOSED_GRADE}, never hot; points still shown): "
                     f"{_counts(scores.loc[closed, 'rule_stage'], CLOSED_STAGES)}")
    unscored = ~scores["status"].isin(list(STATUS_BY_POSITION.values()))
    if unscored.any():
        reasons = scores.loc[unscored, "status"].value_counts().to_dict()
        lines.append(f"no score: {int(unscored.sum()):,} rows ({', '.join(f'{k} {v:,}' for k, v in reasons.items())})")
    # Results go to stdout; logs go to stderr.
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
