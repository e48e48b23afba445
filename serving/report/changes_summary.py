"""Section 4's numbers: what changed since the store's last run, the leads that moved most up and down.

Read from the score store (:mod:`leadscore.serving.history`): each lead of the latest run against its
previous stored score, the move split into data, time and model, with the features that moved in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leadscore.serving.history.because import parts_text
from leadscore.serving.history.changes import feature_layouts, find_changes
from leadscore.serving.history.split import PARTS
from leadscore.serving.history.store import ScoreStore, describe_target

N_MOVERS = 10


@dataclass
class ChangesSummary:
    """The latest run, how many of its leads moved, and the top movers each way (``lead_id, before, after, parts, because``)."""

    store: str
    run_id: str | None
    as_of: pd.Timestamp | None
    n_compared: int
    n_moved: int
    up: pd.DataFrame
    down: pd.DataFrame


def summarize_changes(store: ScoreStore, min_change: float = 0.01) -> ChangesSummary:
    """Top movers of the store's latest run (moves of at least ``min_change`` counted as moved)."""
    runs = store.runs()
    empty = pd.DataFrame(columns=["lead_id", "before", "after", "parts", "because"])
    if runs.empty:
        return ChangesSummary(describe_target(store.target), None, None, 0, 0, empty, empty)
    latest = runs.iloc[-1]
    changes = find_changes(store, to_run=str(latest["run_id"]), min_change=0.0, layout=feature_layouts(store))
    frame = pd.DataFrame([{
        "lead_id": c.lead_id, "before": c.p_sqo_before, "after": c.p_sqo_after, "change": c.change,
        "parts": parts_text(c.change, c.parts or dict.fromkeys(PARTS)), "because": "; ".join(c.because[:3]),
    } for c in changes], columns=["lead_id", "before", "after", "change", "parts", "because"])
    moved = frame[frame["change"].abs() >= min_change]
    up = moved[moved["change"] > 0].sort_values("change", ascending=False, kind="stable").head(N_MOVERS)
    down = moved[moved["change"] < 0].sort_values("change", kind="stable").head(N_MOVERS)
    return ChangesSummary(describe_target(store.target), str(latest["run_id"]), pd.Timestamp(latest["as_of"]),
                          len(frame), len(moved), up, down)
