"""Behavioural model tests through the whole scorer (data -> features -> model -> calibrated score -> grade).

The SQO model here is the ``serving_world`` fixture's: a real LightGBM trained on a generated export,
monotone-constrained in the engagement features (see tests/conftest.py). The direction test therefore
checks that nothing between the raw events and the probability (feature windows, encoding, calibration,
the fast TreeSHAP margin) bends that guarantee; it would not hold for an unconstrained model.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from leadscore.features.building.stages import funnel_position
from leadscore.scorers.rules import load_rules
from leadscore.serving.score import score_leads

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


def _event(lead_id: str, at: pd.Timestamp, event_type: str, page_type: str | None = None) -> dict:
    return {"lead_id": lead_id, "occurred_at": at, "event_type": event_type, "page_type": page_type,
            "email_step": np.nan, "channel": "direct"}


def _with_events(tables, rows: list[dict]):
    extra = pd.DataFrame(rows).astype(tables.events.dtypes.to_dict())
    return dataclasses.replace(tables, events=pd.concat([tables.events, extra], ignore_index=True))


def test_renaming_a_lead_changes_nothing_but_its_id(serving_world) -> None:
    tables = serving_world.tables
    recent = tables.leads[tables.leads["captured_at"] >= tables.data_end - 60 * DAY]
    old = recent["lead_id"].iloc[len(recent) // 2]
    new = "renamed-" + old

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["lead_id"] = frame["lead_id"].where(frame["lead_id"] != old, new)
        return frame

    renamed = dataclasses.replace(tables, leads=rename(tables.leads), events=rename(tables.events),
                                  stage_history=rename(tables.stage_history),
                                  opportunities=rename(tables.opportunities))
    rules = load_rules(None)
    before, _ = score_leads(tables, serving_world.sqo, serving_world.won, rules, leads=pd.DataFrame({"lead_id": [old]}))
    after, _ = score_leads(renamed, serving_world.sqo, serving_world.won, rules, leads=pd.DataFrame({"lead_id": [new]}))
    assert before["status"].iloc[0] == after["status"].iloc[0] == "ok"
    assert after["lead_id"].iloc[0] == new
    pd.testing.assert_frame_equal(before.drop(columns="lead_id"), after.drop(columns="lead_id"))


def test_one_more_pricing_page_visit_never_lowers_the_score(serving_world) -> None:
    tables = serving_world.tables
    leads = tables.leads[tables.leads["captured_at"] < tables.data_end - 2 * HOUR]
    # One lead per account: a visit by one lead also counts in its colleagues' account features.
    leads = leads[leads["account_id"].isna() | ~leads["account_id"].duplicated()]
    # Open leads only: a lead at SQO or closed gets no p_sqo to compare.
    at_end = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "as_of": tables.data_end})
    leads = leads[(funnel_position(tables, at_end) == "open").to_numpy()]
    sample = leads["lead_id"].sample(200, random_state=3).tolist()
    request = pd.DataFrame({"lead_id": sample})
    rules = load_rules(None)
    before, _ = score_leads(tables, serving_world.sqo, None, rules, leads=request)
    visit_at = tables.data_end - HOUR
    after, _ = score_leads(_with_events(tables, [_event(lead, visit_at, "page_view", "pricing") for lead in sample]),
                           serving_world.sqo, None, rules, leads=request)
    assert (before["status"] == "ok").all() and (after["status"] == "ok").all()
    gain = after["p_sqo"].to_numpy() - before["p_sqo"].to_numpy()
    assert (gain >= -1e-12).all()
    assert (gain > 0).mean() > 0.5  # and it does matter for most leads
    assert (after["score"].to_numpy() >= before["score"].to_numpy()).all()


def test_an_obvious_hot_lead_grades_a(serving_world) -> None:
    tables = serving_world.tables
    end = tables.data_end
    leads = tables.leads
    candidates = leads[(leads["captured_at"] > end - 25 * DAY) & (leads["captured_at"] < end - 15 * DAY)
                       & leads["account_id"].notna()]
    hot = candidates["lead_id"].iloc[0]
    captured = candidates["captured_at"].iloc[0]
    events = [_event(hot, end - d * DAY, "page_view", "pricing") for d in (10, 6, 3, 1)]
    events += [_event(hot, end - d * DAY, "page_view", "product") for d in (9, 5, 2)]
    events += [_event(hot, end - 2 * DAY, "form_submit", "contact"), _event(hot, end - 2 * DAY, "demo_request"),
               _event(hot, end - DAY, "meeting_booked")]
    stages = pd.DataFrame({
        "lead_id": [hot] * 5,
        "stage": ["MCL", "MEL", "MQL", "SAL", "SQL"],
        "entered_at": [captured, end - 12 * DAY, end - 8 * DAY, end - 5 * DAY, end - 2 * DAY],
    }).astype(tables.stage_history.dtypes.to_dict())
    changed = _with_events(dataclasses.replace(
        tables,
        events=tables.events[tables.events["lead_id"] != hot],
        stage_history=pd.concat([tables.stage_history[tables.stage_history["lead_id"] != hot], stages],
                                ignore_index=True),
    ), events)
    scores, _ = score_leads(changed, serving_world.sqo, serving_world.won, load_rules(None),
                            leads=pd.DataFrame({"lead_id": [hot]}))
    row = scores.iloc[0]
    assert row["status"] == "ok" and row["grade"] == "A", (row["p_sqo"], row["reasons"])
    assert row["reasons_positive"] != ""
