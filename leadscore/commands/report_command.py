"""``leadscore report``: the marketing report (funnel KPIs, model against rules, latest scores) as HTML.

Section 2 needs a registered SQO model. Without one the report is still written, and section 2 says
how to train one, because the funnel KPIs alone are worth sharing on day one.
"""

from __future__ import annotations

import argparse
import html
import logging

import pandas as pd

from leadscore.features.errors import LeadscoreError

log = logging.getLogger(__name__)


def _timestamp(text: str, what: str) -> pd.Timestamp:
    try:
        value = pd.Timestamp(text)
    except (ValueError, TypeError):
        value = pd.NaT
    if pd.isna(value):
        raise LeadscoreError(f"{what} {text!r} is not a timestamp; use ISO-8601, e.g. 2024-06-30T00:00:00Z.")
    return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")


def _load_sqo_model(uri: str) -> tuple[object | None, str | None]:
    """The SQO model at ``uri``, or ``None`` and the notice section 2 shows instead."""
    from leadscore.serving.loading import load_scoring_model
    from leadscore.tracking import configure_tracking

    store = configure_tracking()
    try:
        return load_scoring_model(uri), None
    except LeadscoreError as exc:
        log.warning("no SQO model for the report's comparison: %s", exc)
        note = (
            f"No SQO model could be loaded from <code>{html.escape(uri)}</code> in the MLflow store "
            f"<code>{html.escape(store)}</code> ({html.escape(str(exc))}), so this section is empty. Train and "
            "register one with <code>leadscore train DATA --target sqo</code> (the first version becomes "
            "champion), or point <code>--model-sqo</code> at an existing model, then run "
            "<code>leadscore report</code> again."
        )
        return None, note


def run(args: argparse.Namespace) -> int:
    from leadscore.features.frames_io import read_frame
    from leadscore.features.reading.validation import load_tables
    from leadscore.serving.report.page import check_scores, write_report

    if args.capacity is not None and args.capacity < 1:
        raise LeadscoreError(f"--capacity must be a positive number of leads, not {args.capacity}.")
    as_of = _timestamp(args.as_of, "--as-of") if args.as_of else None
    rules_config = None
    if args.rules:
        from leadscore.features.rules import load_rules

        rules_config = load_rules(args.rules)
    scores = check_scores(read_frame(args.scores), args.scores) if args.scores else None
    tables = load_tables(args.data, args.mapping, args.data_end)
    if as_of is not None and as_of > tables.data_end:
        raise LeadscoreError(
            f"--as-of {as_of:%Y-%m-%d %H:%M} is after the data's end ({tables.data_end:%Y-%m-%d %H:%M} UTC); "
            "a report can only look back."
        )
    sqo_model, note = _load_sqo_model(args.model_sqo)
    path = write_report(
        tables, args.out, scores=scores, sqo_model=sqo_model, rules_config=rules_config, as_of=as_of,
        capacity=args.capacity, model_note=note,
    )
    print(path)  # noqa: T201 (the command's result on stdout; commands may print)
    return 0
