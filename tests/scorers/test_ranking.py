"""The shared tie-aware metrics against brute force: pairwise AUC, capture at K by enumeration, hand ECE."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from leadscore.scorers.ranking import (
    calibration_bins,
    capacity_k,
    captured_at_k,
    cumulative_hits,
    expected_calibration_error,
    gain_curve,
    missing_ranks_last,
    rank_groups,
    roc_auc,
    roc_curve,
    weighted_auc,
)


def _pairwise_auc(label: np.ndarray, score: np.ndarray, weight: np.ndarray) -> float:
    """Weighted share of (positive, negative) pairs the positive wins, a tie counting 1/2, NaN lowest."""
    score = np.where(np.isnan(score), -np.inf, score)
    won = total = 0.0
    for i in np.flatnonzero(label == 1):
        for j in np.flatnonzero(label == 0):
            pair = weight[i] * weight[j]
            won += pair * (1.0 if score[i] > score[j] else 0.5 if score[i] == score[j] else 0.0)
            total += pair
    return won / total if total else float("nan")


def _random_case(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, coarse scores with many ties and some missing, integer weights (some zero)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n).astype(float)
    score = rng.integers(0, 5, n).astype(float)
    score[rng.random(n) < 0.15] = np.nan
    return label, score, rng.integers(0, 3, n).astype(float)


@pytest.mark.parametrize("seed", range(12))
def test_auc_equals_the_pairwise_win_rate_with_ties_counted_half(seed: int) -> None:
    label, score, weight = _random_case(seed, 25)
    assert roc_auc(label, score) == pytest.approx(_pairwise_auc(label, score, np.ones_like(label)), abs=1e-12)
    assert roc_auc(label, score, weight) == pytest.approx(_pairwise_auc(label, score, weight), abs=1e-12)


def test_auc_from_precomputed_groups_equals_auc_from_scores() -> None:
    label, score, weight = _random_case(99, 40)
    order, group = rank_groups(score)
    assert weighted_auc(label, order, group, weight) == roc_auc(label, score, weight)


def test_auc_is_nan_without_both_classes() -> None:
    assert np.isnan(roc_auc(np.array([1.0, 1.0]), np.array([0.2, 0.7])))
    assert np.isnan(roc_auc(np.array([1.0, 0.0]), np.array([0.2, 0.7]), weight=np.array([1.0, 0.0])))


@pytest.mark.parametrize("seed", range(6))
def test_area_under_the_roc_points_is_the_auc(seed: int) -> None:
    label, score, _ = _random_case(seed, 30)
    fpr, tpr = roc_curve(label, score)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(label, score), abs=1e-12)


def test_roc_rates_are_nan_for_an_absent_class() -> None:
    fpr, tpr = roc_curve(np.array([1.0, 1.0, 1.0]), np.array([3.0, 2.0, 1.0]))
    assert np.isnan(fpr).all() and not np.isnan(tpr).any()


def _enumerated_capture(label: np.ndarray, score: np.ndarray, k: int) -> float:
    """Mean positives in the top k over every order of the rows: every random tie-break, equally likely."""
    key = missing_ranks_last(score)
    totals = [label[sorted(order, key=lambda i: -key[i])[:k]].sum() for order in itertools.permutations(range(len(label)))]
    return float(np.mean(totals))


@pytest.mark.parametrize("seed", range(4))
def test_capture_at_k_is_the_expectation_over_every_tie_break(seed: int) -> None:
    label, score, _ = _random_case(seed, 7)
    for k in range(0, 9):
        assert captured_at_k(label, score, k) == pytest.approx(_enumerated_capture(label, score, k), abs=1e-12)


def test_capture_at_a_fractional_k_interpolates_inside_the_tied_group() -> None:
    label = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    score = np.array([9.0, 5.0, 5.0, 5.0, 1.0])
    # One sure positive, then 1.5 of three tied leads holding one positive: 1 + 1.5 / 3.
    assert captured_at_k(label, score, 2.5) == pytest.approx(1.5)


def test_weights_count_like_repeated_rows() -> None:
    label, score, weight = _random_case(7, 40)
    repeated = np.repeat(np.arange(40), weight.astype(int))
    for k in (0, 3, 10.5, 25, 100):
        assert captured_at_k(label, score, k, weight) == pytest.approx(captured_at_k(label[repeated], score[repeated], k))
    assert roc_auc(label, score, weight) == pytest.approx(roc_auc(label[repeated], score[repeated]))


def test_missing_scores_rank_below_every_known_score() -> None:
    label = np.array([1.0, 0.0, 0.0])
    score = np.array([np.nan, -5.0, -7.0])
    assert captured_at_k(label, score, 2) == 0.0
    assert roc_auc(label, score) == 0.0


def test_cumulative_hits_sit_at_the_end_of_each_tie_group_and_match_capture() -> None:
    label, score, _ = _random_case(3, 30)
    n_taken, n_hits = cumulative_hits(label, score)
    assert len(n_taken) == 1 + len(np.unique(missing_ranks_last(score)))
    assert (n_taken[-1], n_hits[-1]) == (30.0, label.sum())
    for taken, hits in zip(n_taken, n_hits, strict=True):
        assert captured_at_k(label, score, taken) == pytest.approx(hits)


def test_gain_curve_does_not_depend_on_the_row_order() -> None:
    label, score, _ = _random_case(5, 30)
    shuffled = np.random.default_rng(0).permutation(30)
    for ours, theirs in zip(gain_curve(label, score), gain_curve(label[shuffled], score[shuffled]), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    x, y = gain_curve(label, score)
    assert (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_ece_of_a_hand_computed_example() -> None:
    label = np.array([1, 0, 0, 1, 1])
    p = np.array([0.9, 0.1, 0.5, 0.2, 0.6])
    # Sorted by p: bin 1 = {0.1, 0.2, 0.5} with one positive, bin 2 = {0.6, 0.9} with two.
    bins = calibration_bins(label, p, n_bins=2)
    assert bins["n_rows"].tolist() == [3, 2]
    assert bins["mean_predicted"].tolist() == pytest.approx([0.8 / 3, 0.75])
    assert bins["observed_rate"].tolist() == pytest.approx([1 / 3, 1.0])
    # (3 × |0.8/3 − 1/3| + 2 × |0.75 − 1|) / 5 = (0.2 + 0.5) / 5
    assert expected_calibration_error(label, p, n_bins=2) == pytest.approx(0.14)


def test_calibration_bins_never_outnumber_the_rows_and_empty_input_gives_none() -> None:
    assert calibration_bins(np.array([0, 1]), np.array([0.3, 0.6]), n_bins=10)["n_rows"].tolist() == [1, 1]
    assert calibration_bins(np.array([]), np.array([]), n_bins=10).empty
    assert np.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_capacity_is_a_share_of_the_leads_at_least_one() -> None:
    assert capacity_k(1234, 0.10) == 123
    assert capacity_k(3, 0.10) == 1
    assert capacity_k(0, 0.10) == 0


def test_training_and_report_give_identical_headline_numbers() -> None:
    from leadscore.serving.report.compare import (
        compute_roc,
        default_capacity,
        expected_hits_at,
        summarize_calibration,
    )
    from leadscore.training.metrics import captured_at_k as training_captured_at_k
    from leadscore.training.metrics import expected_calibration_error as training_ece
    from leadscore.training.metrics import roc_auc as training_roc_auc

    rng = np.random.default_rng(11)
    label = (rng.random(500) < 0.2).astype(float)
    p = np.clip(0.2 + 0.3 * (label - 0.2) + rng.normal(0, 0.15, 500), 0.0, 1.0)
    points = np.round(p * 8)
    for score in (p, points):
        assert compute_roc(label, score)[2] == training_roc_auc(label, score)
        k = default_capacity(len(label))
        assert expected_hits_at(label, score, k) == training_captured_at_k(label, score, k)
    bins = summarize_calibration(label, p, n_bins=10)
    report_ece = float((bins["n_leads"] * (bins["mean_predicted"] - bins["observed_rate"]).abs()).sum() / 500)
    assert report_ece == training_ece(label, p, n_bins=10)
