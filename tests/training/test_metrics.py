"""Evaluation metrics: ECE binning, tie-fair capture at K, weighted AUC, per-lead capacity, bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from leadscore.training.metrics import (
    Scorer,
    captured_at_k,
    earliest_snapshot_per_lead,
    evaluate_scorers,
    evaluate_slices,
    expected_calibration_error,
    lift_at_fraction,
    missing_ranks_last,
    rank_groups,
    weighted_auc,
)


def test_ece_is_zero_when_each_bin_predicts_its_observed_rate() -> None:
    label = np.array([0, 0, 0, 1] * 5 + [0, 1] * 10)
    p = np.array([0.25] * 20 + [0.5] * 20)
    assert expected_calibration_error(label, p, n_bins=2) == pytest.approx(0.0)


def test_ece_measures_a_uniform_overestimate() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.1, 0.5, 20_000)
    label = (rng.random(20_000) < p).astype(float)
    assert expected_calibration_error(label, p + 0.1, n_bins=10) == pytest.approx(0.1, abs=0.01)


def test_capture_at_k_shares_a_tie_at_the_cut() -> None:
    label = np.array([1, 1, 0, 0])
    score = np.array([5.0, 1.0, 1.0, 1.0])
    # One sure positive, then one of three tied leads of which one is positive: 1 + 1/3.
    assert captured_at_k(label, score, k=2) == pytest.approx(4 / 3)


def test_capture_at_k_with_weights_equals_duplicated_rows() -> None:
    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 50)
    score = rng.integers(0, 8, 50).astype(float)
    weight = rng.integers(0, 3, 50)
    repeated = np.repeat(np.arange(50), weight)
    assert captured_at_k(label, score, 12, weight) == pytest.approx(captured_at_k(label[repeated], score[repeated], 12))


def test_missing_scores_rank_below_every_known_score() -> None:
    ranked = missing_ranks_last(np.array([3.0, np.nan, -2.0]))
    assert ranked[1] < ranked[2] < ranked[0]
    assert captured_at_k(np.array([0, 1, 0]), np.array([1.0, np.nan, 0.0]), k=2) == 0.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 3)), min_size=4, max_size=60)
)
def test_weighted_auc_matches_scikit_learn(rows: list[tuple[int, int, int]]) -> None:
    label, score, weight = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    has_both = weight[label == 1].sum() > 0 and weight[label == 0].sum() > 0
    order, group = rank_groups(score)
    ours = weighted_auc(label, order, group, weight)
    if not has_both:
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(roc_auc_score(label, score, sample_weight=weight))


def test_lift_of_a_perfect_ranking_is_one_over_the_base_rate() -> None:
    label = np.array([1] * 10 + [0] * 90)
    assert lift_at_fraction(label, -np.arange(100.0), 0.1) == pytest.approx(10.0)


def test_capacity_view_takes_each_leads_earliest_snapshot() -> None:
    test = pd.DataFrame(
        {
            "lead_id": ["a", "a", "b"],
            "as_of": pd.to_datetime(["2024-02-01", "2024-01-01", "2024-01-05"], utc=True),
            "label": [1, 0, 1],
        }
    )
    leads = earliest_snapshot_per_lead(test)
    assert leads["as_of"].tolist() == list(pd.to_datetime(["2024-01-01", "2024-01-05"], utc=True))
    assert leads["label"].tolist() == [0, 1]


def _scored(n_leads: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lead = np.repeat([f"L{i}" for i in range(n_leads)], 2)
    p = rng.uniform(0.01, 0.6, 2 * n_leads)
    return pd.DataFrame(
        {
            "lead_id": lead,
            "as_of": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.tile([0, 7], n_leads), unit="D"),
            "label": (rng.random(2 * n_leads) < p).astype(int),
            "p_good": p,
            "points": np.round(p * 10 + rng.normal(0, 3, 2 * n_leads)),
            "channel": rng.choice(["email", "linkedin", None], 2 * n_leads),
        }
    )


def test_evaluation_is_seeded_and_ci_brackets_the_estimate() -> None:
    scored = _scored()
    scorers = [Scorer("good", "p_good", "p_good"), Scorer("rules", "points", None)]
    first = evaluate_scorers(scored, scorers, n_bootstrap=50, seed=3)
    again = evaluate_scorers(scored, scorers, n_bootstrap=50, seed=3)
    pd.testing.assert_frame_equal(first, again)
    for name in ("good", "rules"):
        row = first.loc[name]
        assert row["roc_auc_ci_low"] <= row["roc_auc"] <= row["roc_auc_ci_high"]
        assert row["captured_at_k_ci_low"] <= row["captured_at_k_ci_high"]
    assert first.loc["good", "capacity_k"] == 30
    assert first.loc["good", "n_leads"] == 300
    assert np.isnan(first.loc["rules", "ece"])
    assert first.loc["good", "roc_auc"] > first.loc["rules", "roc_auc"]


def test_slices_count_every_snapshot_including_missing_values() -> None:
    scored = _scored()
    slices = evaluate_slices(scored, [Scorer("good", "p_good", "p_good")], ["channel", "region"])
    assert set(slices["value"]) == {"email", "linkedin", "(missing)"}
    assert slices["n_rows"].sum() == len(scored)


def test_gain_curve_does_not_depend_on_the_order_of_tied_scores() -> None:
    from leadscore.scorers.ranking import gain_curve

    label = np.array([1, 0, 0, 1, 0])
    score = np.array([3.0, 1.0, 1.0, 1.0, 0.0])
    x, y = gain_curve(label, score)
    x_rev, y_rev = gain_curve(label[::-1], score[::-1])
    np.testing.assert_allclose(x, x_rev)
    np.testing.assert_allclose(y, y_rev)
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0, 1.0])
