"""One lead's stored scores, oldest first, and what changed between consecutive ones, in words."""

from __future__ import annotations

import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.serving.history.because import item_sentence, parts_text
from leadscore.serving.history.changes import number_or_none, stored_items
from leadscore.serving.history.split import PARTS
from leadscore.serving.history.store import ScoreStore, describe_target

COLUMNS = ("run_id", "as_of", "p_sqo", "p_win", "score", "grade", "rule_score", "rule_grade", "status", "previous_run_id",
           "change_data", "change_time", "change_model", "rule_change_data", "rule_change_time", "rule_change_model",
           "change_because")


def lead_history(store: ScoreStore, lead_id: str, layout: dict[str, dict] | None = None) -> list[dict]:
    """The lead's stored scores, oldest first: moment, probabilities, grades, models, and the change since the one before."""
    picked = ", ".join(f"s.{c}" for c in COLUMNS)
    rows = store.query(
        f"SELECT DISTINCT {picked}, r.started_at, r.model_sqo, r.model_sqo_version, r.model_won, r.model_won_version"
        " FROM lead_scores s JOIN scoring_runs r ON r.run_id = s.run_id WHERE s.lead_id = ?"
        " ORDER BY s.as_of NULLS FIRST, r.started_at, s.run_id", [str(lead_id)])
    if rows.empty:
        raise LeadscoreError(f"lead {lead_id!r} has no stored score in {describe_target(store.target)}.")
    out = []
    for row in rows.to_dict("records"):
        entry = {
            "run_id": row["run_id"], "as_of": _moment(row["as_of"]), "scored_at": _moment(row["started_at"]),
            "status": row["status"], "p_sqo": number_or_none(row["p_sqo"]), "p_win": number_or_none(row["p_win"]),
            "score": None if pd.isna(row["score"]) else int(row["score"]), "grade": row["grade"],
            "rule_points": number_or_none(row["rule_score"]), "rule_grade": row["rule_grade"],
            "models": {"sqo": _model(row["model_sqo"], row["model_sqo_version"]),
                       "won": _model(row["model_won"], row["model_won_version"])},
            "change": None,
        }
        if row["previous_run_id"] is not None and not pd.isna(row["previous_run_id"]):
            items, note = stored_items(row["change_because"])
            parts = {p: number_or_none(row[f"change_{p}"]) for p in PARTS}
            rule_parts = {p: number_or_none(row[f"rule_change_{p}"]) for p in PARTS}
            entry["change"] = {
                "since_run": row["previous_run_id"],
                "parts": None if any(v is None for v in parts.values()) else parts,
                "rule_parts": None if any(v is None for v in rule_parts.values()) else rule_parts,
                "because": [item_sentence(item, layout) for item in items] + ([f"not split: {note}"] if note else []),
            }
        out.append(entry)
    return out


def _moment(value: object) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).tz_convert("UTC").isoformat()


def _model(name: object, version: object) -> str | None:
    return None if name is None or pd.isna(name) else f"{name} v{version}"


def history_lines(lead_id: str, entries: list[dict]) -> list[str]:
    """The history as the command prints it."""
    lines = [f"lead {lead_id}: {len(entries)} stored score{'s' if len(entries) != 1 else ''}, oldest first"]
    p_of = {entry["run_id"]: entry["p_sqo"] for entry in entries}
    for entry in entries:
        when = (entry["as_of"] or "no as_of")[:16].replace("T", " ")
        if entry["p_sqo"] is None:
            lines.append(f"{when}  run {entry['run_id']}  not scored: {entry['status']}")
            continue
        models = ", ".join(m for m in entry["models"].values() if m)
        p_win = f"{entry['p_win']:.3f}" if entry["p_win"] is not None else "-"
        rules = (f"  rule points {entry['rule_points']:.1f} ({entry['rule_grade']})"
                 if entry["rule_points"] is not None else "")
        lines.append(f"{when}  run {entry['run_id']}  p_sqo {entry['p_sqo']:.3f}  p_win {p_win}  grade {entry['grade']}"
                     f"{rules}  {models}")
        change = entry["change"]
        if change is not None and p_of.get(change["since_run"]) is not None:
            parts = change["parts"] or dict.fromkeys(PARTS)
            moved = entry["p_sqo"] - p_of[change["since_run"]]
            lines.append(f"    {parts_text(moved, parts)} since run {change['since_run']}")
            lines += [f"    {sentence}" for sentence in change["because"]]
    return lines
