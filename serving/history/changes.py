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
    if from_id is None:
        frame = _against_previous(store, to_id, min_change)
    else:
        frame = _along_chains(store, from_id, to_id, order, min_change)
    if frame.empty:
        return []
    frame = frame.assign(_move=(frame["p_after"] - frame["p_before"]).abs())
    frame = frame.sort_values(["_move", "lead_id"], ascending=[False, True], kind="stable")
    return [_lead_change(row, layout) for row in frame.to_dict("records")]


PAIR_COLUMNS = ("lead_id", "run_before", "run_after", "p_before", "p_after", "rule_before", "rule_after",
                "change_data", "change_time", "change_model", "rule_change_data", "rule_change_time",
                "rule_change_model")


def _against_previous(store: ScoreStore, to_id: str | None, min_change: float) -> pd.DataFrame:
    """Each lead's score (in ``to_id``, or its latest) against the previous stored score its parts were split from."""
    if to_id is not None:
        after = "SELECT * FROM lead_scores WHERE run_id = ? AND p_sqo IS NOT NULL"
        params: list = [to_id, min_change]
    else:
        after = (f"SELECT * FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.lead_id ORDER BY {ORDER}) AS latest"
                 " FROM lead_scores s JOIN scoring_runs r ON r.run_id = s.run_id WHERE s.p_sqo IS NOT NULL) t"
                 " WHERE latest = 1")
        params = [min_change]
    frame = store.query(
        "SELECT a.lead_id, b.run_id AS run_before, a.run_id AS run_after, b.p_sqo AS p_before, a.p_sqo AS p_after,"
        " b.rule_score AS rule_before, a.rule_score AS rule_after, a.change_data, a.change_time, a.change_model,"
        " a.rule_change_data, a.rule_change_time, a.rule_change_model, a.change_because"
        f" FROM ({after}) a JOIN lead_scores b ON b.run_id = a.previous_run_id AND b.lead_id = a.lead_id"
        " WHERE b.p_sqo IS NOT NULL AND ABS(a.p_sqo - b.p_sqo) >= ?", params)
    frame["change_because"] = frame["change_because"].map(lambda text: [text])
    return frame


def _along_chains(store: ScoreStore, from_id: str, to_id: str, order: list[str], min_change: float) -> pd.DataFrame:
    """The leads scored in both runs, their stored changes added up along each lead's chain of scores."""
    runs = order[order.index(from_id): order.index(to_id) + 1]
    marks = ", ".join("?" for _ in runs)
    steps = _steps(store, f"s.run_id IN ({marks})", runs)
    steps["change_because"] = steps["change_because"].map(lambda text: [text])
    by_run = {run_id: frame.drop(columns="run_id") for run_id, frame in steps.groupby("run_id", sort=False)}
    empty = pd.DataFrame(columns=[*PAIR_COLUMNS, "change_because"])
    if to_id not in by_run or from_id not in by_run:
        return empty
    sums = [c for c in STEP_COLUMNS if c.startswith(("change_", "rule_change_")) and c != "change_because"]
    chain = by_run[to_id].rename(columns={"p_sqo": "p_after", "rule_score": "rule_after"})
    chain = chain[chain["previous_run_id"].notna()]
    for _ in runs:
        walking = chain["previous_run_id"] != from_id
        if not walking.any():
            break
        step = pd.concat([frame.assign(run_id=run_id) for run_id, frame in by_run.items() if run_id != from_id])
        joined = chain[walking].merge(step, left_on=["lead_id", "previous_run_id"], right_on=["lead_id", "run_id"],
                                      suffixes=("", "_step"))
        for column in sums:
            joined[column] = joined[column] + joined[f"{column}_step"]
        joined["change_because"] = joined["change_because_step"] + joined["change_because"]
        joined["previous_run_id"] = joined["previous_run_id_step"]
        joined = joined[joined["previous_run_id"].notna()]
        chain = pd.concat([chain[~walking], joined.loc[:, chain.columns]], ignore_index=True)
    start = by_run[from_id].loc[:, ["lead_id", "p_sqo", "rule_score"]].rename(
        columns={"p_sqo": "p_before", "rule_score": "rule_before"})
    chain = chain[chain["previous_run_id"] == from_id].merge(start, on="lead_id")
    chain = chain[(chain["p_after"] - chain["p_before"]).abs() >= min_change]
    return chain.assign(run_before=from_id, run_after=to_id).loc[:, [*PAIR_COLUMNS, "change_because"]]


def _lead_change(row: dict, layout: dict[str, dict] | None) -> LeadChange:
    notes, items = [], []
    for text in row["change_because"]:
        step_items, note = stored_items(text)
        items.append(step_items)
        if note:
            notes.append(note)
    merged = items[0] if len(items) == 1 else merge_items(items)  # one step: stored merged, largest first
    parts = {p: number_or_none(row[f"change_{p}"]) for p in PARTS}
    rule_parts = {p: number_or_none(row[f"rule_change_{p}"]) for p in PARTS}
    because = [item_sentence(item, layout) for item in merged if abs(item[2]) >= 0.0005]
    because += [f"not split: {note}" for note in dict.fromkeys(notes)]
    return LeadChange(
        lead_id=str(row["lead_id"]), run_before=str(row["run_before"]), run_after=str(row["run_after"]),
        p_sqo_before=float(row["p_before"]), p_sqo_after=float(row["p_after"]),
        parts=None if any(v is None for v in parts.values()) else parts, because=because,
        rule_points_before=number_or_none(row["rule_before"]), rule_points_after=number_or_none(row["rule_after"]),
        rule_parts=None if any(v is None for v in rule_parts.values()) else rule_parts,
    )


def feature_layouts(store: ScoreStore) -> dict[str, dict]:
    """Every stored run's feature entries by name (how an export's own column is phrased)."""
    out: dict[str, dict] = {}
    for text in store.query("SELECT features FROM scoring_runs")["features"]:
        for entry in json.loads(text):
            out.setdefault(entry["name"], entry)
    return out
