"""Point-in-time fixtures: nothing after as_of changes a row's features; what happens exactly at as_of counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.building.builder import build_features
from leadscore.features.building.spine import make_spine
from leadscore.features.tables import contract_frame, make_tables

T = pd.Timestamp("2025-03-01T12:00:00Z")
DATA_END = T + pd.Timedelta(days=365)


def days(n: float) -> pd.Timestamp:
    return T + pd.Timedelta(days=n)




def world() -> dict[str, list[dict]]:
    """Two colleagues at account A1 and one lead without an account, all captured before T."""
    return {
        "leads": [
            {"lead_id": "L1", "account_id": "A1", "captured_at": days(-40), "channel": "linkedin", "campaign": "c1",
             "job_title": "VP Finance", "country": "US", "email_domain": "acme.com", "email_consent": True},
            {"lead_id": "L2", "account_id": "A1", "captured_at": days(-20), "channel": "email", "campaign": "c2",
             "job_title": "CFO", "country": "US", "email_domain": "acme.com", "email_consent": True},
            {"lead_id": "L3", "account_id": None, "captured_at": days(-5), "channel": "organic", "campaign": None,
             "job_title": "Student", "country": "GB", "email_domain": "gmail.com", "email_consent": False},
        ],
        "accounts": [
            {"account_id": "A1", "industry": "software", "employees": 500, "annual_revenue_usd": 5e7, "region": "us_east",
             "branch_count": 3, "business_model": "b2b", "paying_customers": 2000, "is_public": False,
             "company_stage": "scaleup", "has_cdo": True, "digital_transformation": "in_progress"},
        ],
        "technographics": [
            {"account_id": "A1", "technology": "salesforce", "category": "crm", "first_seen_at": days(-100)},
            {"account_id": "A1", "technology": "netsuite", "category": "erp", "first_seen_at": None},
        ],
        "events": [
            {"lead_id": "L1", "occurred_at": days(-30), "event_type": "email_sent", "email_step": 1},
            {"lead_id": "L1", "occurred_at": days(-29), "event_type": "email_open", "email_step": 1},
            {"lead_id": "L1", "occurred_at": days(-10), "event_type": "email_sent", "email_step": 2},
            {"lead_id": "L1", "occurred_at": days(-3), "event_type": "page_view", "page_type": "pricing"},
            {"lead_id": "L1", "occurred_at": days(-2), "event_type": "form_submit", "page_type": "contact"},
            {"lead_id": "L2", "occurred_at": days(-6), "event_type": "demo_request"},
            {"lead_id": "L2", "occurred_at": days(-1), "event_type": "page_view", "page_type": "product"},
            {"lead_id": "L3", "occurred_at": days(-1 / 24), "event_type": "page_view", "page_type": "home"},
        ],
        "stage_history": [
            {"lead_id": "L1", "stage": "MCL", "entered_at": days(-40)},
            {"lead_id": "L1", "stage": "MEL", "entered_at": days(-25)},
            {"lead_id": "L1", "stage": "MQL", "entered_at": days(-5)},
            {"lead_id": "L2", "stage": "MCL", "entered_at": days(-20)},
            {"lead_id": "L3", "stage": "MCL", "entered_at": days(-5)},
        ],
        "opportunities": [
            {"opportunity_id": "O1", "lead_id": None, "account_id": "A1", "created_at": days(-15), "closed_at": None,
             "outcome": "open", "amount_usd": 1e4},
        ],
    }


def features_at(rows: dict[str, list[dict]], as_of: pd.Timestamp = T) -> pd.DataFrame:
    tables = make_tables({name: contract_frame(name, r) for name, r in rows.items()}, data_end=DATA_END)
    spine, _ = make_spine(tables, as_of)
    return build_features(tables, spine).set_index("lead_id")


def with_rows(table: str, *extra: dict) -> dict[str, list[dict]]:
    rows = world()
    rows[table] = rows[table] + list(extra)
    return rows


BASE_CHECKS = {
    ("L1", "n_pricing_views_7d"): 1.0,
    ("L1", "n_form_submits_30d"): 1.0,
    ("L1", "email_open_rate"): 0.5,
    ("L1", "current_stage"): "MQL",
    ("L1", "n_account_leads"): 1.0,
    ("L1", "n_account_senior_leads"): 1.0,
    ("L1", "n_account_activities_30d"): 2.0,
    ("L2", "n_account_activities_30d"): 3.0,
    ("L1", "n_technologies"): 2.0,
    ("L1", "n_account_open_opportunities"): 1.0,
    ("L3", "employees"): np.nan,
    ("L3", "n_account_leads"): np.nan,
}


def test_fixture_world_has_the_expected_features() -> None:
    base = features_at(world())
    for (lead, name), expected in BASE_CHECKS.items():
        value = base.loc[lead, name]
        assert (pd.isna(value) and pd.isna(expected)) or value == expected, (lead, name, value)


AFTER_AS_OF = [
    pytest.param("events", {"lead_id": "L1", "occurred_at": T + pd.Timedelta("1ns"), "event_type": "page_view",
                            "page_type": "pricing"}, id="pricing-view-1ns-after"),
    pytest.param("events", {"lead_id": "L1", "occurred_at": days(1), "event_type": "unsubscribe"}, id="unsubscribe-after"),
    pytest.param("events", {"lead_id": "L2", "occurred_at": days(2), "event_type": "email_open", "email_step": 2},
                 id="email-open-after"),
    pytest.param("stage_history", {"lead_id": "L1", "stage": "SQO", "entered_at": days(0.01)}, id="own-sqo-after"),
    pytest.param("stage_history", {"lead_id": "L2", "stage": "WON", "entered_at": days(3)}, id="colleague-won-after"),
    pytest.param("technographics", {"account_id": "A1", "technology": "stripe", "category": "billing",
                                    "first_seen_at": days(1)}, id="technology-first-seen-after"),
    pytest.param("opportunities", {"opportunity_id": "O2", "lead_id": "L2", "account_id": "A1", "created_at": days(1),
                                   "outcome": "open"}, id="opportunity-created-after"),
]


@pytest.mark.parametrize(("table", "row"), AFTER_AS_OF)
def test_a_row_after_as_of_changes_no_feature(table: str, row: dict) -> None:
    pd.testing.assert_frame_equal(features_at(with_rows(table, row)), features_at(world()))


def test_a_colleague_captured_after_as_of_changes_nothing_even_with_earlier_events() -> None:
    rows = with_rows(
        "leads",
        {"lead_id": "L4", "account_id": "A1", "captured_at": days(1), "job_title": "CEO", "channel": "email"},
    )
    # Events and stages of the late lead dated before as_of (e.g. anonymous visits matched later).
    rows["events"] += [{"lead_id": "L4", "occurred_at": days(-2), "event_type": "page_view", "page_type": "pricing"}]
    rows["stage_history"] += [{"lead_id": "L4", "stage": "SQO", "entered_at": days(-1)}]
    pd.testing.assert_frame_equal(features_at(rows), features_at(world()))


def test_an_opportunity_closed_after_as_of_is_still_open_at_as_of() -> None:
    won_later = world()
    won_later["opportunities"][0].update(closed_at=days(10), outcome="won")
    pd.testing.assert_frame_equal(features_at(won_later), features_at(world()))
    won_before = world()
    won_before["opportunities"][0].update(closed_at=days(-1), outcome="won")
    before = features_at(won_before)
    assert before.loc["L1", "account_had_won"] == 1.0
    assert before.loc["L1", "n_account_open_opportunities"] == 0.0


def test_an_event_exactly_at_as_of_counts() -> None:
    at = features_at(with_rows("events", {"lead_id": "L1", "occurred_at": T, "event_type": "page_view", "page_type": "pricing"}))
    base = features_at(world())
    assert at.loc["L1", "n_pricing_views_7d"] == base.loc["L1", "n_pricing_views_7d"] + 1
    assert at.loc["L1", "days_since_last_activity"] == 0.0
    assert at.loc["L1", "days_since_last_high_intent"] == 0.0
    assert at.loc["L2", "n_account_activities_30d"] == base.loc["L2", "n_account_activities_30d"] + 1


def test_a_stage_entered_exactly_at_as_of_is_the_current_stage() -> None:
    at = features_at(with_rows("stage_history", {"lead_id": "L1", "stage": "SAL", "entered_at": T}))
    assert at.loc["L1", "current_stage"] == "SAL"
    assert at.loc["L1", "days_in_current_stage"] == 0.0


def test_a_technology_without_a_first_seen_date_counts_and_a_dated_one_counts_from_that_date() -> None:
    base = features_at(world())
    assert base.loc["L1", "has_erp"] == 1.0  # netsuite has no first_seen_at
    assert base.loc["L1", "has_billing"] == 0.0
    later = with_rows("technographics", {"account_id": "A1", "technology": "stripe", "category": "billing", "first_seen_at": days(1)})
    assert features_at(later, as_of=days(1)).loc["L1", "has_billing"] == 1.0
    assert features_at(later, as_of=days(1)).loc["L1", "n_technologies_new_90d"] == 1.0


def test_a_colleague_reaching_sqo_before_as_of_marks_the_account() -> None:
    rows = with_rows("stage_history", {"lead_id": "L2", "stage": "SQO", "entered_at": days(-0.5)})
    rows["opportunities"] = []
    out = features_at(rows)
    assert out.loc["L1", "account_had_sqo"] == 1.0
    # The lead's own SQO is its funnel state, not its company's history.
    assert out.loc["L2", "account_had_sqo"] == 0.0


def test_a_lead_captured_after_as_of_gets_no_row_but_is_accounted_for() -> None:
    tables = make_tables({name: contract_frame(name, r) for name, r in world().items()}, data_end=DATA_END)
    spine, excluded = make_spine(tables, days(-10))
    assert spine["lead_id"].tolist() == ["L1", "L2"]
    assert excluded[["lead_id", "reason"]].values.tolist() == [["L3", "captured_after_as_of"]]


def test_a_deal_known_only_through_a_lead_captured_after_as_of_is_not_the_accounts_yet() -> None:
    rows = with_rows("leads", {"lead_id": "L4", "account_id": "A1", "captured_at": days(2), "channel": "email"})
    # The deal names no account; its lead (captured after as_of) is what ties it to A1.
    rows["opportunities"] += [{"opportunity_id": "O9", "lead_id": "L4", "account_id": None, "created_at": days(-3),
                               "closed_at": days(-1), "outcome": "won"}]
    assert features_at(rows).loc["L1", "account_had_won"] == 0.0
    assert features_at(rows, as_of=days(2)).loc["L1", "account_had_won"] == 1.0
