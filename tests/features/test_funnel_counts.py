"""Funnel counts: reaching a stage means reaching it or any later forward stage."""

from __future__ import annotations

import pandas as pd

from leadscore.features.funnel import format_funnel, summarize_funnel

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    leads = pd.DataFrame({"lead_id": ["a", "b", "c", "d"], "channel": ["linkedin", "linkedin", "email", None]})
    history = pd.DataFrame(
        {
            "lead_id": ["a", "a", "a", "b", "b", "c", "c"],
            "stage": ["MCL", "MEL", "MQL", "MCL", "WON", "MCL", "RECYCLED"],
            "entered_at": [T0, T0 + pd.Timedelta(days=1), T0 + pd.Timedelta(days=9), T0, T0 + pd.Timedelta(days=30), T0, T0],
        }
    )
    return leads, history


def test_won_without_recorded_sqo_counts_at_every_earlier_stage() -> None:
    leads, history = _frames()
    table = summarize_funnel(leads, history).set_index("stage")
    assert table.loc["MCL", "n_leads"] == 4
    assert table.loc["MEL", "n_leads"] == 2  # a (MQL) and b (WON)
    assert table.loc["SQO", "n_leads"] == 1
    assert table.loc["MEL", "pct_of_previous"] == 50.0
    assert table.loc["MQL", "pct_of_mcl"] == 50.0


def test_stage_entries_after_as_of_do_not_count() -> None:
    leads, history = _frames()
    table = summarize_funnel(leads, history, as_of=T0 + pd.Timedelta(days=5)).set_index("stage")
    assert table.loc["MEL", "n_leads"] == 1
    assert table.loc["WON", "n_leads"] == 0


def test_breakdown_by_channel_keeps_leads_without_a_value() -> None:
    leads, history = _frames()
    table = summarize_funnel(leads, history, by="channel")
    mcl = table[table["stage"] == "MCL"].set_index("channel")["n_leads"]
    assert mcl.to_dict() == {"(none)": 1, "email": 1, "linkedin": 2}
    assert "MQL" in format_funnel(table[table["channel"] == "linkedin"])
