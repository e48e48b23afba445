"""``leadscore rules``: marketing's points for every lead, at one as_of or at each lead's own as_of."""

from __future__ import annotations

import argparse
import logging
import sys

import pandas as pd

from features.errors import LeadscoreError
from features.frames_io import read_frame, write_frame
from features.rules import load_rules, score_rules
from features.rules.engine import GRADES, RULE_STAGES
from features.tables import Tables

logger = logging.getLogger(__name__)


def _timestamp(text: str, what: str) -> pd.Timestamp:
    try:
        value = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise LeadscoreError(f"{what} {text!r} is not a timestamp; use ISO-8601, e.g. 2024-06-30T00:00:00Z.") from None
    if pd.isna(value):
        raise LeadscoreError(f"{what} {text!r} is not a timestamp; use ISO-8601, e.g. 2024-06-30T00:00:00Z.")
    return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")


def spine_from_leads_file(path: str, default_as_of: pd.Timestamp) -> pd.DataFrame:
    """Rows to score from a user's file: ``lead_id`` and an optional ``as_of`` (blank → ``default_as_of``)."""
    frame = read_frame(path)
    if "lead_id" not in frame.columns:
        raise LeadscoreError(f"{path}: needs a lead_id column (found: {', '.join(map(str, frame.columns))}).")
    lead_id = frame["lead_id"].astype("str")
    blank = lead_id.isna() | (lead_id.str.strip() == "")
    if blank.any():
        rows = ", ".join(str(i + 2) for i in blank[blank].index[:5])
        raise LeadscoreError(f"{path}: lead_id is empty in {int(blank.sum())} row(s) (file lines {rows}…).")
    as_of = pd.Series(default_as_of, index=frame.index)
    if "as_of" in frame.columns:
        given = frame["as_of"].notna() & (frame["as_of"].astype("str").str.strip() != "")
        parsed = pd.to_datetime(frame["as_of"].where(given), utc=True, errors="coerce", format="mixed")
        bad = given & parsed.isna()
        if bad.any():
            first = frame.loc[bad, "as_of"].iloc[0]
            raise LeadscoreError(
                f"{path}: as_of is not a timestamp in {int(bad.sum())} row(s) (first: {first!r}); use ISO-8601."
            )
        as_of = parsed.where(given, as_of)
    return pd.DataFrame({"lead_id": lead_id.str.strip(), "as_of": as_of}).reset_index(drop=True)


def spine_at(tables: Tables, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every lead captured at or before ``as_of``, all scored at that moment."""
    leads = tables.leads
    captured = leads["captured_at"] <= as_of
    return pd.DataFrame({"lead_id": leads.loc[captured, "lead_id"].astype("str"), "as_of": as_of}).reset_index(drop=True)


def _load_tables(args: argparse.Namespace) -> Tables:
    from features.validation import load_tables

    return load_tables(args.data, args.mapping, args.data_end)


def _counts(column: pd.Series, order: tuple[str, ...]) -> str:
    counts = column.value_counts()
    return ", ".join(f"{name} {int(counts.get(name, 0)):,}" for name in order)


def run(args: argparse.Namespace) -> int:
    config = load_rules(args.config)
    tables = _load_tables(args)
    as_of = _timestamp(args.as_of, "--as-of") if args.as_of else tables.data_end
    if args.leads:
        spine = spine_from_leads_file(args.leads, as_of)
        source = f"{len(spine):,} rows from {args.leads}"
    else:
        spine = spine_at(tables, as_of)
        n_later = len(tables.leads) - len(spine)
        source = f"{len(spine):,} leads captured by {as_of:%Y-%m-%d %H:%M} UTC"
        if n_later:
            source += f" ({n_later:,} captured later are left out)"
    scores = score_rules(tables, spine, config)
    write_frame(scores, args.out)

    unscored = scores["rule_score"].isna()
    lines = [
        f"rules: {len(tables.leads):,} leads in the export; scored {source}",
        f"rows out: {len(scores):,} -> {args.out}",
        f"by grade: {_counts(scores['rule_grade'], GRADES[::-1])}",
        f"by stage: {_counts(scores['rule_stage'], RULE_STAGES[::-1])}",
    ]
    if unscored.any():
        lines.append(f"no score: {int(unscored.sum()):,} rows whose lead is not in the export or was captured after its as_of")
    # Results go to stdout (logs go to stderr).
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
