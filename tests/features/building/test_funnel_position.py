"""Where a lead stands at as_of: open, an open opportunity (sqo), or closed (won, lost, disqualified)."""

from __future__ import annotations

import pandas as pd

from leadscore.features.building.stages import funnel_position
from leadscore.features.tables import Tables, contract_frame, make_tables


def _tables(history: list[tuple[str, str, str | None]]) -> Tables:
    leads = contract_frame("leads", {"lead_id": ["A", "B", "C", "D", "E", "F"],
                                     "captured_at": ["2025-01-01T00:00:00Z"] * 6, "channel": ["other"] * 6})
    stages = contract_frame("stage_history", {"lead_id": [h[0] for h in history], "stage": [h[1] for h in history],
                                              "entered_at": [h[2] for h in history]})
    return make_tables({"leads": leads, "stage_history": stages}, data_end="2025-12-31T00:00:00Z")


def test_each_lead_is_placed_by_its_entries_at_or_before_as_of_only() -> None:
    tables = _tables([
        ("A", "MQL", "2025-02-01T00:00:00Z"),
        ("B", "SQO", "2025-02-01T00:00:00Z"),
        ("C", "SQO", "2025-02-01T00:00:00Z"), ("C", "WON", "2025-03-01T00:00:00Z"),
        ("D", "MQL", "2025-02-01T00:00:00Z"), ("D", "DISQUALIFIED", "2025-02-10T00:00:00Z"),
        ("E", "LOST", "2025-02-01T00:00:00Z"), ("E", "RECYCLED", "2025-02-05T00:00:00Z"),
        ("F", "WON", None),  # reached at an unknown time: never visible
    ])
    spine = pd.DataFrame({"lead_id": ["A", "B", "C", "C", "D", "E", "F"],
                          "as_of": pd.to_datetime(["2025-06-01", "2025-06-01", "2025-02-15", "2025-03-01",
                                                   "2025-02-10", "2025-06-01", "2025-06-01"], utc=True)})
    assert funnel_position(tables, spine).tolist() == ["open", "sqo", "sqo", "won", "disqualified", "open", "open"]


def test_a_later_entry_does_not_move_an_earlier_as_of() -> None:
    tables = _tables([("B", "SQO", "2025-02-01T00:00:00Z"), ("B", "LOST", "2025-04-01T00:00:00Z")])
    spine = pd.DataFrame({"lead_id": ["B", "B", "B"],
                          "as_of": pd.to_datetime(["2025-01-31", "2025-02-01", "2025-04-01"], utc=True)})
    assert funnel_position(tables, spine).tolist() == ["open", "sqo", "lost"]
