"""Model-against-rules numbers: tie handling, ROC, capacity, agreement, disagreements, thresholds, maturity."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from leadscore.features.tables import make_tables
from leadscore.serving.report.compare import (
    capacity_grid,
    compute_gain,
    compute_roc,
    expected_hits_at,
    find_disagreements,
    make_matured_spine,
    mark_top,
    review_thresholds,
    rules_edge,
    summarize_agreement,
    summarize_calibration,
    summarize_capacity,
    summarize_disagreement,
)


def _brute_force_hits(y: list[int], score: list[float], k: int) -> float:
    """Average SQOs in the top k over every order of the tied leads (what a random tie-break gives)."""
    totals = []
    for order in itertools.permutations(range(len(y))):
        ranked = sorted(order, key=lambda i: -score[i])  # sorted is stable: ties keep the permuted order
        totals.append(sum(y[i] for i in ranked[:k]))
    return float(np.mean(totals))


@pytest.mark.parametrize("k", range(0, 8))
def test_ties_at_the_capacity_edge_count_as_a_random_pick_among_them(k: int) -> None:
    y = [1, 0, 1, 0, 0, 1, 0]
    score = [9.0, 5.0, 5.0, 5.0, 2.0, 2.0, 1.0]
    assert expected_hits_at(y, score, k) == pytest.approx(_brute_force_hits(y, score, k))


def test_auc_equals_the_pairwise_probability_with_ties_counted_half() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    score = rng.integers(0, 6, 60).astype(float)  # coarse, like rule points
    pairs = [(p, n) for p in score[y == 1] for n in score[y == 0]]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    _, _, auc = compute_roc(y, score)
    assert auc == pytest.approx(expected)


def test_roc_is_undefined_with_a_single_outcome() -> None:
    assert np.isnan(compute_roc([0, 0, 0], [1.0, 2.0, 3.0])[2])


def test_gain_curve_runs_from_nothing_to_everything() -> None:
    x, y = compute_gain([0, 1, 1, 0], [0.1, 0.9, 0.5, 0.4])
    assert (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert y[1] == 0.5 and x[1] == 0.25  # the best lead is one of the two SQOs


def test_capacity_table_brackets_every_method_between_random_and_perfect() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(200) < 0.2
    good = y + rng.normal(0, 0.6, 200)
    coarse = np.round(good * 2)
    table = summarize_capacity(y, {"model": good, "rules": coarse}, [10, 20, 50])
    assert table["n_leads"].tolist() == [10, 20, 50]
    assert (table["n_sqo_model"] <= table["n_sqo_best"] + 1e-9).all()
    assert (table["n_sqo_rules"] <= table["n_sqo_best"] + 1e-9).all()
    assert table["n_sqo_random"].tolist() == pytest.approx([k * y.mean() for k in (10, 20, 50)])
    assert table["n_sqo_model"].iloc[-1] > table["n_sqo_random"].iloc[-1]
    assert table["sqo_rate_model"].iloc[0] == pytest.approx(100 * table["n_sqo_model"].iloc[0] / 10)


def test_capacity_grid_includes_the_chosen_capacity_and_stays_within_the_leads() -> None:
    assert capacity_grid(1000, 123) == [50, 100, 123, 200, 300]
    assert capacity_grid(3, 10) == [1]


def test_calibration_groups_have_equal_size_and_true_means() -> None:
    p = np.linspace(0.0, 0.5, 100)
    y = (np.arange(100) % 4 == 0).astype(float)
    table = summarize_calibration(y, p, n_bins=4)
    assert table["n_leads"].tolist() == [25, 25, 25, 25]
    assert table["mean_predicted"].iloc[0] == pytest.approx(p[:25].mean())
    assert table["observed_rate"].iloc[1] == pytest.approx(y[25:50].mean())


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(8)],
            "sqo": [1, 0, 1, 0, 0, 1, 0, 0],
            "p_sqo": [0.9, 0.8, 0.1, 0.3, 0.05, 0.6, 0.2, 0.02],
            "rule_score": [10, 20, 90, 40, 85, 70, 50, 0],
            "grade": ["A", "A", "D", "B", "D", "A", "C", "legacy"],
            "rule_grade": ["cold", "cold", "hot", "warm", "hot", "hot", "warm", "cold"],
        }
    )


def test_agreement_matrix_counts_every_pair_and_keeps_unknown_grades() -> None:
    frame = _frame()
    table = summarize_agreement(frame).set_index(["grade", "rule_grade"])
    assert len(table) == 5 * 3  # A–D plus the unexpected "legacy", by hot/warm/cold
    assert table["n_leads"].sum() == len(frame)
    assert table.loc[("A", "cold"), "n_leads"] == 2 and table.loc[("A", "cold"), "n_sqo"] == 1
    assert table.loc[("A", "cold"), "sqo_rate"] == 50.0
    assert table.loc[("D", "hot"), "n_leads"] == 2 and table.loc[("D", "hot"), "sqo_rate"] == 50.0
    assert table.loc[("B", "hot"), "n_leads"] == 0 and np.isnan(table.loc[("B", "hot"), "sqo_rate"])


def test_disagreements_are_leads_in_one_methods_top_list_only() -> None:
    table = find_disagreements(_frame(), capacity=3, n=5)
    high = table[table["direction"] == "model high, rules low"]
    low = table[table["direction"] == "rules high, model low"]
    # Model's top 3: L0, L1, L5; rules' top 3: L2, L4, L5. L5 is in both, so it is no disagreement.
    assert high["lead_id"].tolist() == ["L0", "L1"]
    assert low["lead_id"].tolist() == ["L2", "L4"]
    assert (high["gap"] > 0).all() and (low["gap"] < 0).all()
    assert high["gap"].is_monotonic_decreasing


def test_disagreement_summary_says_whose_own_picks_reached_sqo_more_often() -> None:
    summary = summarize_disagreement(_frame(), capacity=3).set_index("group")
    assert summary.loc["both", ["n_leads", "n_sqo"]].tolist() == [1, 1]
    assert summary.loc["model only", ["n_leads", "n_sqo"]].tolist() == [2, 1]
    assert summary.loc["rules only", ["n_leads", "n_sqo"]].tolist() == [2, 1]
    assert summary.loc["neither", "n_leads"] == 3 and summary.loc["neither", "sqo_rate"] == 0.0
    assert summary["n_leads"].sum() == len(_frame())


def test_a_top_list_holds_exactly_k_leads_and_the_model_breaks_a_tie_of_rule_points() -> None:
    frame = _frame().assign(rule_score=[10, 20, 90, 70, 85, 70, 70, 0])
    marked = mark_top(frame, capacity=3)
    assert marked["in_rules_top"].sum() == marked["in_model_top"].sum() == 3
    # 90 and 85 by their points; of the three tied at 70 (L3 0.3, L5 0.6, L6 0.2) the model's best
    assert marked.loc[marked["in_rules_top"], "lead_id"].tolist() == ["L2", "L4", "L5"]
    assert marked.loc[marked["rules_by_points"], "lead_id"].tolist() == ["L2", "L4"]
    summary = summarize_disagreement(frame, capacity=3).set_index("group")
    assert summary.loc[["both", "rules only"], "n_leads"].sum() == 3
    assert rules_edge(frame, 3) == {"points": 70.0, "n_tied": 3, "n_taken": 1, "n_leads": 8}


def test_when_every_lead_has_the_same_rule_points_no_lead_is_rules_high() -> None:
    frame = _frame().assign(rule_score=0.0)
    for capacity in (1, 3, 7):
        marked = mark_top(frame, capacity)
        assert marked["in_rules_top"].sum() == capacity
        assert (marked["in_rules_top"] == marked["in_model_top"]).all()  # the rules' list is the model's order
        table = find_disagreements(frame, capacity, n=10)
        assert table.empty
        assert rules_edge(frame, capacity)["n_tied"] == len(frame)
        summary = summarize_disagreement(frame, capacity).set_index("group")
        assert summary.loc["both", "n_leads"] == capacity and summary.loc["rules only", "n_leads"] == 0


def test_a_lead_taken_from_the_tie_at_the_edge_is_not_called_rules_high() -> None:
    # Two leads with points, six with none; a capacity of 4 takes two 0-point leads by the model's order.
    frame = _frame().assign(rule_score=[0, 0, 30, 0, 20, 0, 0, 0], p_sqo=[0.9, 0.8, 0.1, 0.3, 0.05, 0.6, 0.2, 0.02])
    marked = mark_top(frame, 4)
    assert marked.loc[marked["in_rules_top"], "lead_id"].tolist() == ["L0", "L1", "L2", "L4"]
    low = find_disagreements(frame, 4, n=10)
    low = low[low["direction"] == "rules high, model low"]
    assert low["lead_id"].tolist() == ["L2", "L4"] and (low["rule_score"] > 0).all()


def test_threshold_review_counts_passing_leads_and_matches_the_model_at_the_same_volume() -> None:
    frame = _frame()
    review = review_thresholds(frame, (50, 80)).set_index("threshold")
    assert review.loc[50, "n_pass"] == 4  # 90, 85, 70, 50
    assert review.loc[50, "n_sqo_rules"] == 2
    assert review.loc[50, "sqo_rate_rules"] == 50.0
    assert review.loc[50, "n_sqo_model"] == 2  # model's top 4: 0.9, 0.8, 0.6, 0.3 -> L0 and L5
    assert review.loc[80, "n_pass"] == 2 and review.loc[80, "n_sqo_model"] == 1


T0 = pd.Timestamp("2025-01-01", tz="UTC")


def test_matured_leads_are_scored_a_week_after_capture_and_labelled_over_the_horizon() -> None:
    day = pd.Timedelta(days=1)
    leads = pd.DataFrame(
        {
            "lead_id": pd.Series(["hit", "edge", "late", "before", "recent"], dtype="str"),
            "captured_at": pd.Series([T0] * 4 + [T0 + 60 * day], dtype="datetime64[ns, UTC]"),
        }
    )
    as_of = T0 + 7 * day
    history = pd.DataFrame(
        {
            "lead_id": pd.Series(["hit", "edge", "late", "before"], dtype="str"),
            "stage": pd.Series(["SQO", "WON", "SQO", "SQO"], dtype="str"),
            "entered_at": pd.Series(
                [as_of + 5 * day, as_of + 90 * day, as_of + 90 * day + pd.Timedelta(seconds=1), as_of],
                dtype="datetime64[ns, UTC]",
            ),
        }
    )
    tables = make_tables({"leads": leads, "stage_history": history}, data_end=T0 + 100 * day)
    spine, info = make_matured_spine(tables, offset_days=7, horizon_days=90, capture_days=180)
    labels = dict(zip(spine["lead_id"], spine["sqo"], strict=True))
    # SQO inside the horizon and a WON exactly at its end count; one second later does not; an SQO exactly
    # at the scoring moment is already known, so that lead is left out; a recent capture is not mature.
    assert labels == {"hit": 1, "edge": 1, "late": 0}
    assert (spine["as_of"] == as_of).all()
    assert info["n_already_sqo"] == 1 and info["n_too_recent"] == 1 and info["n_sqo"] == 2
