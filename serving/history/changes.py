"""Leads whose p_sqo moved between two stored runs, each move split into data, time and model.

Each stored score carries its change since the lead's previous stored score (``previous_run_id``), split
when it was scored (:mod:`leadscore.serving.history.split`). Between two runs further apart the lead's
consecutive changes are added up along that chain, so the parts still add up to the whole move; the
features that moved are added up per part and feature, with the value before taken from the earliest
step and the value after from the latest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.serving.history.because import item_sentence, parts_text
from leadscore.serving.history.split import PARTS
from leadscore.serving.history.store import ScoreStore

STEP_COLUMNS = ("lead_id", "run_id", "previous_run_id", "p_sqo", "rule_score", "change_data", "change_time",
                "change_model", "rule_change_data", "rule_change_time", "rule_change_model", "change_because")
ORDER = "s.as_of DESC NULLS LAST, r.started_at DESC, s.run_id DESC"


@dataclass
class LeadChange:
    """One lead's move between two of its stored scores."""

    lead_id: str
    run_before: str
    run_after: str
    p_sqo_before: float
    p_sqo_after: float
    parts: dict[str, float] | None
    because: list[str]
    rule_points_before: float | None
    rule_points_after: float | None
    rule_parts: dict[str, float] | None

    @property
    def change(self) -> float:
        return self.p_sqo_after - self.p_sqo_before

    def as_json(self) -> dict:
        return {
            "lead_id": self.lead_id, "run_before": self.run_before, "run_after": self.run_after,
            "p_sqo_before": self.p_sqo_before, "p_sqo_after": self.p_sqo_after, "change": self.change,
            "parts": self.parts, "because": self.because, "rule_points_before": self.rule_points_before,
            "rule_points_after": self.rule_points_after, "rule_parts": self.rule_parts,
        }

    def lines(self) -> list[str]:
        """The change as the ``changes`` command prints it: a headline, then the reasons, indented."""
        parts = self.parts or dict.fromkeys(PARTS)
        out = [f"{self.lead_id}  p_sqo {self.p_sqo_before:.3f} → {self.p_sqo_after:.3f}  ({parts_text(self.change, parts)})"]
        out += [f"    {sentence}" for sentence in self.because]
        if self.rule_parts is not None and self.rule_points_before != self.rule_points_after:
            moved = (self.rule_points_after or 0.0) - (self.rule_points_before or 0.0)
            out.append(f"    rule points {self.rule_points_before:.1f} → {self.rule_points_after:.1f} "
                       f"({parts_text(moved, self.rule_parts, digits=1)})")
        return out


def number_or_none(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def stored_items(text: object) -> tuple[list[list], str | None]:
    """A stored ``change_because``: its items, or the note saying why the change was not split."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return [], None
    value = json.loads(text)
    if isinstance(value, dict):
        return [], value.get("note")
    return value, None


def merge_items(steps: list[list[list]]) -> list[list]:
    """Items of consecutive steps (earliest first) added up per part and feature, largest first."""
    merged: dict[tuple, list] = {}
    for items in steps:
        for part, name, effect, before, after in items:
            key = (part, name)
            if key in merged:
                merged[key][2] += effect
                merged[key][4] = after
            else:
                merged[key] = [part, name, effect, before, after]
    return sorted(merged.values(), key=lambda item: -abs(item[2]))


def _steps(store: ScoreStore, where: str, params: list) -> pd.DataFrame:
    columns = ", ".join(f"s.{c}" for c in STEP_COLUMNS)
    return store.query(f"SELECT {columns} FROM lead_scores s WHERE s.p_sqo IS NOT NULL AND {where}", params)


def _run_order(store: ScoreStore) -> list[str]:
    return store.runs()["run_id"].astype(str).tolist()


def find_changes(
    store: ScoreStore,
    from_run: str | None = None,
    to_run: str | None = None,
    min_change: float = 0.05,
    layout: dict[str, dict] | None = None,
) -> list[LeadChange]:
    """The leads whose p_sqo moved by at least ``min_change``, largest move first.

    Without runs: each lead's latest score against its previous one. ``to_run`` alone: that run's
    leads against their previous scores. ``from_run``: the leads scored in both runs (``to_run``
    defaulting to the latest run), their consecutive changes added up.
    """
    if min_change < 0:
        raise LeadscoreError(f"--min-change must be 0 or more, not {min_change}.")
    order = _run_order(store)
    if not order:
        return []
    to_id = store.resolve_run(to_run) if to_run else None
    from_id = store.resolve_run(from_run) if from_run else None
    if from_id is not None and to_id is None:
        to_id = order[-1]
    if from_id is not None and order.index(from_id) >= order.index(to_id):
        raise LeadscoreError(f"--from {from_id} is not earlier than --to {to_id}: give the earlier run first.")
    if to_id is not None:
        latest = _steps(store, "s.run_id = ?", [to_id])
    else:
        latest = store.query(
            f"SELECT {', '.join(STEP_COLUMNS)} FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.lead_id ORDER BY {ORDER})"
            " AS latest FROM lead_scores s JOIN scoring_runs r ON r.run_id = s.run_id WHERE s.p_sqo IS NOT NULL) t"
            " WHERE latest = 1"
        )
    latest = latest[latest["previous_run_id"].notna()].reset_index(drop=True)
    if latest.empty:
        return []
    if from_id is None:
        chains = [(row, [row]) for row in latest.to_dict("records")]
        before_of = _before_rows(store, latest)
    else:
        chains, before_of = _walk_back(store, latest, from_id, order)
    out = []
    for final, steps in chains:
        before = before_of.get((final["lead_id"], steps[0]["previous_run_id"]))
        if before is None:
            continue
        p_before, p_after = float(before["p_sqo"]), float(final["p_sqo"])
        if abs(p_after - p_before) < min_change:
            continue
        out.append(_lead_change(final, steps, before, layout))
    out.sort(key=lambda c: (-abs(c.change), c.lead_id))
    return out


def _before_rows(store: ScoreStore, rows: pd.DataFrame) -> dict[tuple[str, str], dict]:
    runs = rows["previous_run_id"].astype(str).unique().tolist()
    marks = ", ".join("?" for _ in runs)
    found = _steps(store, f"s.run_id IN ({marks})", runs)
    wanted = set(zip(rows["lead_id"].astype(str), rows["previous_run_id"].astype(str), strict=True))
    return {(r["lead_id"], r["run_id"]): r for r in found.to_dict("records") if (r["lead_id"], r["run_id"]) in wanted}


def _walk_back(store: ScoreStore, latest: pd.DataFrame, from_id: str, order: list[str]):
    """Each lead's chain of stored changes from ``from_id`` to its row in ``latest``, earliest first."""
    start, end = order.index(from_id), order.index(str(latest["run_id"].iloc[0]))
    between = order[start:end]
    marks = ", ".join("?" for _ in between)
    rows = _steps(store, f"s.run_id IN ({marks})", between)
    by_key = {(r["lead_id"], r["run_id"]): r for r in rows.to_dict("records")}
    chains, before_of = [], {}
    for final in latest.to_dict("records"):
        steps = [final]
        while steps[0]["previous_run_id"] not in (None, from_id):
            step = by_key.get((final["lead_id"], steps[0]["previous_run_id"]))
            if step is None or step["previous_run_id"] is None or pd.isna(step["previous_run_id"]):
                steps = []
                break
            steps.insert(0, step)
        if steps and steps[0]["previous_run_id"] == from_id and (final["lead_id"], from_id) in by_key:
            chains.append((final, steps))
            before_of[(final["lead_id"], from_id)] = by_key[(final["lead_id"], from_id)]
    return chains, before_of


def _lead_change(final: dict, steps: list[dict], before: dict, layout: dict[str, dict] | None) -> LeadChange:
    notes, items = [], []
    parts: dict[str, float] | None = dict.fromkeys(PARTS, 0.0)
    rule_parts: dict[str, float] | None = dict.fromkeys(PARTS, 0.0)
    for step in steps:
        step_items, note = stored_items(step["change_because"])
        items.append(step_items)
        if note:
            notes.append(note)
        for name, totals in (("change", parts), ("rule_change", rule_parts)):
            if totals is None:
                continue
            values = [number_or_none(step[f"{name}_{p}"]) for p in PARTS]
            if any(v is None for v in values):
                if name == "change":
                    parts = None
                else:
                    rule_parts = None
                continue
            for p, v in zip(PARTS, values, strict=True):
                totals[p] += v
    because = [item_sentence(item, layout) for item in merge_items(items) if abs(item[2]) >= 0.0005]
    because += [f"not split: {note}" for note in dict.fromkeys(notes)]
    return LeadChange(
        lead_id=str(final["lead_id"]), run_before=str(before["run_id"]), run_after=str(final["run_id"]),
        p_sqo_before=float(before["p_sqo"]), p_sqo_after=float(final["p_sqo"]), parts=parts, because=because,
        rule_points_before=number_or_none(before["rule_score"]), rule_points_after=number_or_none(final["rule_score"]),
        rule_parts=rule_parts,
    )


def feature_layouts(store: ScoreStore) -> dict[str, dict]:
    """Every stored run's feature entries by name (how an export's own column is phrased)."""
    out: dict[str, dict] = {}
    for text in store.query("SELECT features FROM scoring_runs")["features"]:
        for entry in json.loads(text):
            out.setdefault(entry["name"], entry)
    return out
