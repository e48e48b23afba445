"""Demo generator truth and signal: calibrated true probabilities, learnable but not one-column outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.synthetic.demo import DATA_END, HORIZON_SQO_DAYS, HORIZON_WON_DAYS, generate_demo

N_LEADS = 15_000


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return generate_demo(N_LEADS, seed=4)


def _realised(frames: dict[str, pd.DataFrame], truth: pd.DataFrame, stages: list[str], column: str, horizon_days: int) -> pd.DataFrame:
    """Truth rows whose label window is observed, with the label read from the stage history."""
    history = frames["stage_history"]
    first = history[history["stage"].isin(stages)].groupby("lead_id")["entered_at"].min()
    rows = truth[truth[column].notna() & (truth["as_of"] + pd.Timedelta(days=horizon_days) <= DATA_END)].copy()
    entered = first.reindex(rows["lead_id"].to_numpy()).to_numpy()
    rows["label"] = (entered > rows["as_of"].to_numpy()) & (entered <= (rows["as_of"] + pd.Timedelta(days=horizon_days)).to_numpy())
    return rows


def _z(p: np.ndarray, label: np.ndarray) -> float:
    return float((label.mean() - p.mean()) / (np.sqrt(np.sum(p * (1 - p))) / len(p)))


@pytest.mark.parametrize(
    "stages, column, horizon",
    [(["SQO", "WON"], "p_sqo_true", HORIZON_SQO_DAYS), (["WON"], "p_won_true", HORIZON_WON_DAYS)],
)
def test_true_probabilities_match_realised_label_rates_within_sampling_error(demo, stages, column, horizon) -> None:
    frames, truth = demo
    rows = _realised(frames, truth, stages, column, horizon)
    assert len(rows) > 0.6 * N_LEADS and rows["label"].sum() > 40
    p, label = rows[column].to_numpy(), rows["label"].to_numpy()
    assert abs(_z(p, label)) < 4
    # Calibrated in each band too, not only on average.
    for band in (p < 0.05, (p >= 0.05) & (p < 0.3), p >= 0.3):
        if label[band].sum() >= 10:
            assert abs(_z(p[band], label[band])) < 4


def test_true_probability_ranks_leads_far_better_than_chance(demo) -> None:
    from sklearn.metrics import roc_auc_score

    frames, truth = demo
    rows = _realised(frames, truth, ["SQO", "WON"], "p_sqo_true", HORIZON_SQO_DAYS)
    assert roc_auc_score(rows["label"], rows["p_sqo_true"]) > 0.85


def test_no_single_column_explains_most_of_the_true_probability(demo) -> None:
    frames, truth = demo
    leads = frames["leads"].merge(frames["accounts"], on="account_id", how="left").merge(truth, on="lead_id")
    events = frames["events"].merge(truth[["lead_id", "as_of"]], on="lead_id")
    seen = events[events["occurred_at"] <= events["as_of"]]
    n_events_7d = seen.groupby("lead_id").size().reindex(leads["lead_id"]).fillna(0).to_numpy()
    rows = leads["p_sqo_true"].notna().to_numpy()
    p = leads.loc[rows, "p_sqo_true"].to_numpy()
    groupings = {
        "channel": leads["channel"], "region": leads["region"], "industry": leads["industry"],
        "job_title": leads["job_title"], "email_domain": leads["email_domain"],
        "employees_decile": pd.qcut(leads["employees"].fillna(-1), 10, duplicates="drop").astype(str),
        "n_events_7d": np.minimum(n_events_7d, 30),
    }
    for name, group in groupings.items():
        keys = pd.Series(np.asarray(group, dtype=object)).fillna("(none)")[rows].to_numpy()
        means = pd.Series(p).groupby(keys).transform("mean").to_numpy()
        explained = 1 - np.mean((p - means) ** 2) / np.var(p)
        assert explained < 0.5, name


def test_outcomes_follow_fit_persona_and_engagement_in_the_expected_directions(demo) -> None:
    frames, truth = demo
    leads = frames["leads"].merge(frames["accounts"], on="account_id", how="left").merge(truth, on="lead_id")
    p = leads["p_sqo_true"]
    icp = leads["employees"].between(150, 1000) & leads["region"].isin(["us_east", "europe", "israel"])
    tiny = leads["employees"] < 40
    assert p[icp].mean() > 1.5 * p[tiny].mean()
    title = leads["job_title"].fillna("").str.lower()
    finance_leaders = title.isin(["cfo", "chief financial officer", "vp finance", "finance director", "head of finance"])
    students = title.str.contains("student|intern")
    assert p[finance_leaders].mean() > 3 * p[students].mean()
    free_mail = leads["email_domain"].isin(["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"])
    assert p[free_mail].mean() < p[~free_mail & leads["account_id"].notna()].mean()
    events = frames["events"].merge(truth[["lead_id", "as_of"]], on="lead_id")
    pricing = events[(events["page_type"] == "pricing") & (events["occurred_at"] <= events["as_of"])]["lead_id"].unique()
    viewed = leads["lead_id"].isin(pricing)
    assert p[viewed].mean() > 2 * p[~viewed].mean()
    # Intent matters more for good-fit companies: the engagement lift is larger inside the ICP.
    lift_icp = p[icp & viewed].mean() - p[icp & ~viewed].mean()
    lift_tiny = p[tiny & viewed].mean() - p[tiny & ~viewed].mean()
    assert lift_icp > lift_tiny


def test_leads_engage_more_after_they_reach_sql_than_before(demo) -> None:
    frames, _ = demo
    history = frames["stage_history"]
    sql_at = history[history["stage"] == "SQL"].groupby("lead_id")["entered_at"].min().rename("sql_at")
    sql_at = sql_at[sql_at <= DATA_END - pd.Timedelta(days=30)]
    events = frames["events"].merge(sql_at, left_on="lead_id", right_index=True)
    intent = events[events["page_type"].isin(["pricing", "contact"]) | events["event_type"].isin(["meeting_booked", "trial_start", "demo_request"])]
    gap = intent["occurred_at"] - intent["sql_at"]
    before = ((gap < pd.Timedelta(0)) & (gap >= -pd.Timedelta(days=30))).sum()
    after = ((gap >= pd.Timedelta(0)) & (gap < pd.Timedelta(days=30))).sum()
    assert len(sql_at) > 100
    assert after > 1.5 * before
