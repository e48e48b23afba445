"""Which predictions are judged, when a cohort matures, what it is judged against, and the recommendation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from leadscore.features.tables import contract_frame, make_tables
from leadscore.scorers.monitoring.drift import FeatureDrift
from leadscore.serving.monitor.cohorts import judged_predictions, matures_on, version_cohorts
from leadscore.serving.monitor.verdict import OK, RETRAIN, WATCH, MonitorResult, format_result, result_record
from leadscore.serving.monitor.window import DriftWindow

DATA_END = pd.Timestamp("2026-06-30T00:00:00Z")
HORIZON = 90
MONTHS = pd.date_range("2025-07-01", "2026-05-01", freq="MS", tz="UTC")


def _world(seed: int = 0, per_month: int = 600, broken_from: str | None = None):
    """Leads captured every month with a probability each; those that convert enter SQO 20 days later.

    From ``broken_from`` on, leads convert at a fifth of their probability: the promise is broken.
    """
    rng = np.random.default_rng(seed)
    captured = np.concatenate([month + pd.to_timedelta(rng.uniform(0, 27, per_month), unit="D") for month in MONTHS])
    captured = pd.DatetimeIndex(captured).floor("s")
    n = len(captured)
    p = rng.beta(0.8, 10, n)
    factor = np.where(captured >= pd.Timestamp(f"{broken_from}-01T00:00:00Z"), 0.2, 1.0) if broken_from else 1.0
    converts = rng.random(n) < p * factor
    lead_id = [f"L{i:05d}" for i in range(n)]
    leads = contract_frame("leads", {"lead_id": lead_id, "captured_at": list(captured), "channel": ["email"] * n})
    entries = [{"lead_id": lead, "stage": "MCL", "entered_at": at} for lead, at in zip(lead_id, captured, strict=True)]
    entries += [{"lead_id": lead_id[i], "stage": "SQO", "entered_at": captured[i] + pd.Timedelta(days=20)}
                for i in np.flatnonzero(converts)]
    tables = make_tables({"leads": leads, "stage_history": contract_frame("stage_history", entries)}, data_end=DATA_END)
    predictions = pd.DataFrame({"lead_id": lead_id, "as_of": captured, "p": p, "model_version": "1"})
    return tables, predictions


def test_each_lead_counts_once_per_version_at_its_first_prediction_made_at_the_scoring_moment() -> None:
    tables, predictions = _world(per_month=20)
    lead, captured = predictions.loc[0, "lead_id"], predictions.loc[0, "as_of"]
    again = pd.DataFrame({"lead_id": [lead, lead, predictions.loc[1, "lead_id"], "nobody"],
                          "as_of": [captured + pd.Timedelta(days=7), captured, captured + pd.Timedelta(days=2),
                                    captured],
                          "p": [0.9, 0.5, 0.5, 0.5], "model_version": ["1", "2", "2", "1"]})
    rows = pd.concat([predictions, again], ignore_index=True)
    judged = judged_predictions(rows, tables, [0])
    first = judged.rows[(judged.rows["lead_id"] == lead) & (judged.rows["model_version"] == "1")]
    assert len(first) == 1 and first["p"].iloc[0] == predictions.loc[0, "p"]  # the later 0.9 is not judged
    assert ((judged.rows["lead_id"] == lead) & (judged.rows["model_version"] == "2")).sum() == 1
    assert judged.left_out == {"lead no longer in the export": 1, "first scored after the scoring moment": 1}


def test_a_cohort_matures_once_its_last_lead_had_the_whole_horizon_by_the_data_end() -> None:
    assert matures_on("2026-03", 90) == pd.Timestamp("2026-06-30T00:00:00Z")
    tables, predictions = _world(per_month=50)
    cohorts, _ = version_cohorts(judged_predictions(predictions, tables, [0]).rows, tables, "1", "sqo", HORIZON, None)
    by_month = {c.month: c for c in cohorts}
    assert by_month["2026-03"].matured and by_month["2026-03"].figures is not None
    assert not by_month["2026-04"].matured and by_month["2026-04"].figures is None
    assert by_month["2026-04"].why.startswith("matures on 2026-07-30")


def test_calibrated_months_hold_and_months_whose_promise_broke_alarm() -> None:
    tables, predictions = _world(seed=3, broken_from="2026-01")
    cohorts, _ = version_cohorts(judged_predictions(predictions, tables, [0]).rows, tables, "1", "sqo", HORIZON, None)
    matured = {c.month: c for c in cohorts if c.matured}
    assert [m for m, c in matured.items() if c.alarm] == ["2026-01", "2026-02", "2026-03"]
    broken = matured["2026-02"]
    assert broken.figures.observed < broken.figures.predicted_low
    assert "outside the" in broken.why and "reached SQO within 90 days" in broken.why
    assert "within the" in matured["2025-09"].why


def test_an_outcome_after_the_horizon_is_not_a_conversion() -> None:
    tables, predictions = _world(per_month=30)
    late = make_tables({"leads": tables.leads, "stage_history": tables.stage_history.assign(
        entered_at=lambda f: f["entered_at"].where(f["stage"] == "MCL", f["entered_at"] + pd.Timedelta(days=80)))},
        data_end=DATA_END)
    cohorts, _ = version_cohorts(judged_predictions(predictions, late, [0]).rows, late, "1", "sqo", HORIZON, None)
    assert all(c.figures.n_positive == 0 for c in cohorts if c.matured)


def test_a_ranking_below_the_models_own_test_interval_alarms() -> None:
    tables, predictions = _world(seed=5, per_month=1500)
    shuffled = predictions.assign(p=np.random.default_rng(1).permutation(predictions["p"].to_numpy()))
    cohorts, _ = version_cohorts(judged_predictions(shuffled, tables, [0]).rows, tables, "1", "sqo", HORIZON, 0.7)
    matured = [c for c in cohorts if c.matured]
    assert all(c.figures.ranking_alarm for c in matured)
    assert "below the model's test interval, which starts at 0.70" in matured[0].why


def _result(cohorts, drift_alarm: bool = False, version: str = "1") -> MonitorResult:
    rows = [FeatureDrift("n_page_views_30d", 0.9 if drift_alarm else 0.001, 0.02, drift_alarm, True, 500,
                         "Web page views in the last 30 days: fell by 80%" if drift_alarm else "", "web_visits")]
    window = DriftWindow(version, DATA_END - pd.Timedelta(days=30), DATA_END, 500, {}, rows, "training")
    return MonitorResult("leadscore-sqo", version, "sqo", HORIZON, "export", DATA_END, 0.01, cohorts, window, "")


@pytest.fixture(scope="module")
def judged_worlds():
    out = {}
    for name, broken in (("held", None), ("broken", "2026-01")):
        tables, predictions = _world(seed=3, broken_from=broken)
        out[name] = version_cohorts(judged_predictions(predictions, tables, [0]).rows, tables, "1", "sqo", HORIZON,
                                    None)[0]
    return out


def test_the_recommendation_is_retrain_when_a_matured_cohort_of_the_version_in_use_alarms(judged_worlds) -> None:
    recommendation, reason = _result(judged_worlds["broken"], drift_alarm=True).recommendation
    assert recommendation == RETRAIN and "2026-01, 2026-02, 2026-03" in reason and "never retrains" in reason


def test_the_recommendation_is_watch_when_only_inputs_moved_or_an_earlier_version_alarmed(judged_worlds) -> None:
    recommendation, reason = _result(judged_worlds["held"], drift_alarm=True).recommendation
    assert recommendation == WATCH and "Web page views in the last 30 days: fell by 80%" in reason
    recommendation, reason = _result(judged_worlds["broken"], version="2").recommendation
    assert recommendation == WATCH and "version 1" in reason


def test_the_recommendation_is_ok_when_every_cohort_held_and_no_input_moved(judged_worlds) -> None:
    recommendation, reason = _result(judged_worlds["held"]).recommendation
    assert recommendation == OK and "matured cohort(s) of version 1 held" in reason


def test_the_json_holds_the_issues_keys_for_every_cohort_and_drift_row(judged_worlds) -> None:
    record = json.loads(json.dumps(result_record(_result(judged_worlds["broken"], drift_alarm=True))))
    assert {"cohorts", "drift", "recommendation"} <= set(record)
    for cohort in record["cohorts"]:
        assert {"cohort", "leads", "matured", "predicted", "observed", "auc", "ece", "alarm", "why"} <= set(cohort)
        assert (cohort["observed"] is None) == (not cohort["matured"])
    assert set(record["drift"][0]) >= {"feature", "psi", "threshold", "alarm"}
    assert record["recommendation"] == "retrain"


def test_the_printout_names_the_alarming_months_and_what_moved(judged_worlds) -> None:
    text = format_result(_result(judged_worlds["broken"], drift_alarm=True))
    assert "2026-02 (version 1): observed" in text and "immature: matures on 2026-07-30" in text
    assert "Web page views in the last 30 days: fell by 80%" in text
    assert text.splitlines()[-1].startswith("recommendation: retrain:")


def test_a_lead_closed_before_its_prediction_by_a_backdated_entry_is_counted_and_not_judged() -> None:
    # The CRM later writes a DISQUALIFIED entry dated before the lead was scored: the lead has no label.
    tables, predictions = _world(per_month=50)
    closed = predictions["lead_id"].iloc[[3, 60, 110]].tolist()  # in three matured months
    backdated = contract_frame("stage_history", {
        "lead_id": closed, "stage": ["DISQUALIFIED"] * 3,
        "entered_at": list(predictions.set_index("lead_id").loc[closed, "as_of"])})
    history = pd.concat([tables.stage_history, backdated], ignore_index=True)
    tables = make_tables({"leads": tables.leads, "stage_history": history}, data_end=DATA_END)
    cohorts, left_out = version_cohorts(judged_predictions(predictions, tables, [0]).rows, tables, "1", "sqo",
                                        HORIZON, None)
    assert left_out == {"not labelled (closed)": 3}
    matured = [c for c in cohorts if c.matured]
    assert len(matured) == 9 and all(np.isfinite(c.figures.observed) for c in matured)
    assert sorted(c.figures.n for c in matured) == [49, 49, 49] + [50] * 6  # 50 leads a month, 3 left out
