"""Point in time for a flat export: its own columns, the job title, and stage entries reached at an unknown time.

- an own date column is "days from that date to as_of" only when the date is at or before as_of;
- a category (own, or the built-in job_title) keeps a value only when max(30, 1%) of the leads captured *by as_of*
  hold it, so leads captured later never change an earlier row;
- a stage entry without a time is never visible: no funnel or account feature and no rule point sees it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.building.builder import build_features
from leadscore.features.building.own import own_feature_specs
from leadscore.features.reading.own_columns import describe_own_columns
from leadscore.features.tables import contract_frame, make_tables
from leadscore.scorers.rules import load_rules, score_rules

T0 = pd.Timestamp("2025-01-01T00:00:00Z")
DAY = pd.Timedelta(days=1)
DATA_END = T0 + 400 * DAY


def day(n: float) -> pd.Timestamp:
    return T0 + n * DAY


def tables_of(leads: pd.DataFrame, stage_history: pd.DataFrame | None = None, accounts: pd.DataFrame | None = None,
              events: pd.DataFrame | None = None):
    frames = {"leads": leads, "accounts": accounts, "stage_history": stage_history, "events": events}
    frames = {name: frame for name, frame in frames.items() if frame is not None}
    own = describe_own_columns(frames, {})
    return make_tables(frames, data_end=DATA_END, own_columns=tuple(own))


def spine(rows: list[tuple[str, pd.Timestamp]]) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": [lead for lead, _ in rows],
                         "as_of": pd.Series([at for _, at in rows], dtype="datetime64[ns, UTC]")})


# --------------------------------------------------------------------------------------------------
# An own date column


def test_an_own_date_is_days_before_as_of_and_missing_while_it_is_after_as_of() -> None:
    leads = contract_frame("leads", {"lead_id": ["a", "b"], "captured_at": [day(0), day(0)]})
    leads["Last Visit"] = pd.Series([day(10), pd.NaT], dtype="datetime64[ns, UTC]")
    leads["Source"] = pd.Series(["x", "y"], dtype="str")
    tables = tables_of(leads)
    as_ofs = [day(5), day(10) - pd.Timedelta("1ns"), day(10), day(12.5)]
    built = build_features(tables, spine([("a", at) for at in as_ofs] + [("b", day(12.5))]))
    visit = built["own_last_visit"]
    assert visit.isna().tolist() == [True, True, False, False, True]
    assert visit.iloc[2:4].tolist() == [0.0, 2.5]  # exactly at as_of counts, as zero days


def test_an_own_category_keeps_a_value_only_when_enough_leads_captured_by_as_of_hold_it() -> None:
    # 30 leads say "Reference", one captured each day from day 1; "Google" leads fill the rest.
    n_ref = 30
    ids = [f"R{i}" for i in range(n_ref)] + [f"G{i}" for i in range(40)]
    captured = [day(1 + i) for i in range(n_ref)] + [day(0)] * 40
    leads = contract_frame("leads", {"lead_id": ids, "captured_at": captured})
    leads["Lead Source"] = pd.Series(["Reference"] * n_ref + ["Google"] * 40, dtype="str")
    leads["Visits"] = np.arange(len(ids), dtype="float64")
    tables = tables_of(leads)
    rows = [("R0", day(30) - pd.Timedelta("1ns")), ("R0", day(30)), ("R0", day(300)), ("G0", day(0))]
    built = build_features(tables, spine(rows))
    assert built["own_lead_source"].tolist() == ["other", "Reference", "Reference", "Google"]
    # The same row on an export cut at its as_of: later leads never made "Reference" common earlier.
    cut = tables_of(leads[leads["captured_at"] <= day(30) - pd.Timedelta("1ns")].reset_index(drop=True))
    assert build_features(cut, spine(rows[:1]))["own_lead_source"].tolist() == ["other"]


def test_the_job_title_feature_is_bounded_by_the_leads_captured_by_as_of() -> None:
    ids = [f"W{i}" for i in range(30)] + [f"S{i}" for i in range(35)]
    titles = [" Working  Professional" if i % 2 else "working professional" for i in range(30)] + ["Student"] * 35
    captured = [day(1 + i) for i in range(30)] + [day(0)] * 35
    tables = tables_of(contract_frame("leads", {"lead_id": ids, "captured_at": captured, "job_title": titles}))
    built = build_features(tables, spine([("W0", day(29)), ("W0", day(30)), ("S0", day(0))]))
    assert built["job_title"].tolist() == ["other", "working professional", "student"]


# --------------------------------------------------------------------------------------------------
# Stage entries at an unknown time

FUNNEL = ["current_stage", "highest_stage", "days_in_current_stage", "n_recycles", "account_had_won"]


def unknown_time_world(with_undated: bool):
    leads = contract_frame("leads", {
        "lead_id": ["won_undated", "colleague", "alone"],
        "account_id": ["A1", "A1", None],
        "captured_at": [day(0), day(1), day(2)],
        "job_title": ["VP Finance", "CFO", "Analyst"],
    })
    leads["Lead Source"] = pd.Series(["Reference", "Google", "Reference"], dtype="str")
    leads["Last Visit"] = pd.Series([day(2), day(60), None], dtype="datetime64[ns, UTC]")
    accounts = contract_frame("accounts", {"account_id": ["A1"], "employees": [2000.0]})
    rows = [{"lead_id": "won_undated", "stage": "MQL", "entered_at": day(3)}]
    if with_undated:
        rows += [{"lead_id": "won_undated", "stage": "WON", "entered_at": None},
                 {"lead_id": "won_undated", "stage": "SQO", "entered_at": None},
                 {"lead_id": "alone", "stage": "RECYCLED", "entered_at": None},
                 {"lead_id": "colleague", "stage": "WON", "entered_at": None}]
    events = contract_frame("events", {
        "lead_id": ["won_undated", "colleague", "alone"],
        "occurred_at": [day(4), day(4), day(4)],
        "event_type": ["demo_request", "page_view", "demo_request"],
        "page_type": [None, "pricing", None],
    })
    return tables_of(leads, contract_frame("stage_history", rows), accounts, events)


AS_OFS = [day(2), day(3), day(50), DATA_END]


def full_spine() -> pd.DataFrame:
    return spine([(lead, at) for at in AS_OFS for lead in ("won_undated", "colleague", "alone")])


def test_unknown_time_entries_change_no_feature_at_any_as_of() -> None:
    tables = unknown_time_world(True)
    assert tables.stage_history["entered_at"].isna().sum() == 4
    assert {s["name"] for s in own_feature_specs(tables)} == {"own_lead_source", "own_last_visit"}
    with_undated = build_features(tables, full_spine())
    without = build_features(unknown_time_world(False), full_spine())
    pd.testing.assert_frame_equal(with_undated, without)


def test_a_lead_won_at_an_unknown_time_is_never_seen_as_won_by_itself_or_its_colleagues() -> None:
    built = build_features(unknown_time_world(True), full_spine()).set_index(["lead_id", "as_of"])
    for at in AS_OFS:
        won = built.loc[("won_undated", at)]
        assert won["current_stage"] == ("MQL" if at >= day(3) else "MCL")
        assert won["highest_stage"] == won["current_stage"]
        assert won["account_had_won"] == 0.0
        colleague = built.loc[("colleague", at)]
        assert colleague["account_had_won"] == 0.0 and colleague["current_stage"] == "MCL"
        assert built.loc[("alone", at), "n_recycles"] == 0.0


@pytest.mark.parametrize("as_of", AS_OFS[1:])
def test_rules_score_a_lead_won_at_an_unknown_time_like_any_other(as_of: pd.Timestamp) -> None:
    config = load_rules()
    rows = spine([(lead, as_of) for lead in ("won_undated", "colleague", "alone")])
    with_undated = score_rules(unknown_time_world(True), rows, config)
    without = score_rules(unknown_time_world(False), rows, config)
    pd.testing.assert_frame_equal(with_undated, without)
    assert set(with_undated["rule_stage"]) <= {"MCL", "MEL", "MQL", "SQL"}
