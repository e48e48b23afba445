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


def _reference_position(tables: Tables, spine: pd.DataFrame) -> list[str]:
    """The definition read literally, one spine row at a time, on the pandas join of the point-in-time rule."""
    from leadscore.features.contract import STAGES
    from leadscore.features.pit import join_as_of

    seen = join_as_of(spine.reset_index(drop=True)[["lead_id", "as_of"]], tables.stage_history, "entered_at")
    seen = seen.assign(order=seen["stage"].astype(str).map({s: i for i, s in enumerate(STAGES)}))
    out = []
    for row in range(len(spine)):
        entries = seen[seen["row"] == row].sort_values(["entered_at", "order"], kind="stable")
        latest = entries["stage"].astype(str).iloc[-1] if len(entries) else None
        if latest in ("WON", "LOST", "DISQUALIFIED"):
            out.append(latest.lower())
        elif entries["stage"].astype(str).isin(["SQO", "WON"]).any():
            out.append("sqo")
        else:
            out.append("open")
    return out


def test_the_array_version_agrees_with_the_definition_on_a_generated_world_at_many_moments() -> None:
    import numpy as np

    from leadscore.features.synthetic.demo import DATA_END, generate_demo

    frames, _ = generate_demo(600, 5)
    tables = make_tables(frames, data_end=DATA_END)
    rng = np.random.default_rng(2)
    leads = tables.leads.sample(400, replace=True, random_state=3).reset_index(drop=True)  # leads repeat
    days = rng.uniform(0, 200, len(leads))
    spine = pd.DataFrame({"lead_id": leads["lead_id"].tolist() + ["nobody"],
                          "as_of": list(leads["captured_at"] + pd.to_timedelta(days, unit="D")) + [DATA_END]})
    spine["as_of"] = pd.to_datetime(spine["as_of"], utc=True).clip(upper=DATA_END)
    got = funnel_position(tables, spine).tolist()
    assert got == _reference_position(tables, spine)
    assert {"open", "sqo", "won", "lost", "disqualified"} <= set(got)
