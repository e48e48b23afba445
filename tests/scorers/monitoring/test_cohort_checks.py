"""A cohort's figures against brute force and simulation: the exact Poisson-binomial, DeLong, the calibration line."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from leadscore.scorers.monitoring.cohort_checks import (
    calibration_line,
    cohort_figures,
    delong_auc,
    ece_interval,
    poisson_binomial_pmf,
    poisson_binomial_range,
    poisson_binomial_test,
    wilson_interval,
)
from leadscore.scorers.ranking import roc_auc


def _convolved(p: np.ndarray) -> np.ndarray:
    """The Poisson-binomial pmf by adding one Bernoulli at a time (the textbook recursion)."""
    pmf = np.array([1.0])
    for q in p:
        pmf = np.r_[pmf * (1 - q), 0.0] + np.r_[0.0, pmf * q]
    return pmf


@pytest.mark.parametrize("n", [1, 2, 3, 64, 65, 129, 1000, 3001])
def test_poisson_binomial_pmf_equals_one_bernoulli_at_a_time_at_every_size(n: int) -> None:
    p = np.random.default_rng(n).uniform(0, 0.4, n)
    np.testing.assert_allclose(poisson_binomial_pmf(p), _convolved(p), atol=1e-13)


def test_poisson_binomial_with_one_probability_is_the_binomial() -> None:
    np.testing.assert_allclose(poisson_binomial_pmf(np.full(200, 0.07)), stats.binom.pmf(np.arange(201), 200, 0.07),
                               atol=1e-13)
    assert poisson_binomial_range(np.full(200, 0.07), 0.01) == tuple(int(x) for x in
                                                                      stats.binom.ppf([0.005, 0.995], 200, 0.07))


def test_a_count_outside_the_allowed_range_has_a_p_value_below_the_level_and_one_inside_does_not() -> None:
    p = np.random.default_rng(3).beta(0.6, 9, 400)
    low, high = poisson_binomial_range(p, 0.01)
    assert poisson_binomial_test(p, low) >= 0.01 and poisson_binomial_test(p, high) >= 0.01
    assert poisson_binomial_test(p, low - 1) < 0.01 and poisson_binomial_test(p, high + 1) < 0.01


def test_calibrated_cohorts_alarm_at_most_at_the_level_and_halved_conversion_is_caught() -> None:
    rng = np.random.default_rng(5)
    level, n_cohorts = 0.05, 600
    p = rng.beta(0.6, 9, 300)
    calibrated = [poisson_binomial_test(p, int((rng.random(300) < p).sum())) < level for _ in range(n_cohorts)]
    # a discrete count alarms at most at the level; 600 cohorts at 5% allow 30 +- 3 sd
    assert np.mean(calibrated) <= level + 3 * np.sqrt(level * (1 - level) / n_cohorts)
    p_big = rng.beta(0.6, 9, 3000)
    halved = [poisson_binomial_test(p_big, int((rng.random(3000) < p_big / 2).sum())) < 0.001 for _ in range(50)]
    assert all(halved)


def test_delong_auc_is_the_tie_aware_auc_and_its_error_matches_the_bootstrap() -> None:
    rng = np.random.default_rng(8)
    label = rng.random(2000) < 0.2
    score = np.round(rng.normal(label * 0.8, 1.0), 1)  # rounded: many ties
    auc, se = delong_auc(label, score)
    assert auc == pytest.approx(roc_auc(label.astype(float), score), abs=1e-12)
    resamples = [roc_auc(label[i].astype(float), score[i]) for i in (rng.integers(0, 2000, 2000) for _ in range(400))]
    assert se == pytest.approx(np.std(resamples), rel=0.2)


def test_delong_auc_is_nan_with_one_class() -> None:
    auc, se = delong_auc(np.zeros(5), np.arange(5.0))
    assert np.isnan(auc) and np.isnan(se)


def test_calibration_line_finds_halved_odds_and_overconfidence() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.02, 0.5, 40_000)
    halved_odds = rng.random(len(p)) < special.expit(special.logit(p) - np.log(2))
    fit = calibration_line(halved_odds, p)
    assert fit["intercept_low"] < -np.log(2) < fit["intercept_high"]
    overconfident = rng.random(len(p)) < special.expit(0.5 * special.logit(p))
    fit = calibration_line(overconfident, p)
    assert fit["slope_low"] < 0.5 < fit["slope_high"]


def test_calibration_line_is_nan_with_one_class() -> None:
    fit = calibration_line(np.zeros(50), np.full(50, 0.1))
    assert all(np.isnan(v) for v in fit.values())


def test_ece_interval_covers_zero_for_a_calibrated_cohort_and_excludes_it_for_a_miscalibrated_one() -> None:
    rng = np.random.default_rng(4)
    p = rng.beta(1, 6, 5000)
    ece, low, high = ece_interval(rng.random(5000) < p, p, seed=1)
    assert low <= 0.01 and low <= ece <= high
    ece, low, high = ece_interval(rng.random(5000) < p / 2, p, seed=1)
    assert low > 0.03


def test_wilson_interval_holds_the_rate_and_stays_inside_zero_and_one() -> None:
    low, high = wilson_interval(0, 40)
    assert low == 0.0 and 0 < high < 0.1
    low, high = wilson_interval(40, 40)
    assert 0.9 < low < 1 and high == 1.0


def test_cohort_figures_alarm_on_halved_conversion_and_on_a_ranking_below_the_floor() -> None:
    rng = np.random.default_rng(6)
    p = rng.beta(0.8, 12, 4000)
    held = cohort_figures(rng.random(4000) < p, p, level=0.001, auc_floor=0.6)
    assert not held.calibration_alarm and not held.ranking_alarm
    assert held.predicted_low < held.observed < held.predicted_high
    halved = cohort_figures(rng.random(4000) < p / 2, p, level=0.001, auc_floor=0.6)
    assert halved.calibration_alarm and halved.observed < halved.predicted_low
    shuffled = cohort_figures(rng.random(4000) < rng.permutation(p), p, level=0.001, auc_floor=0.6)
    assert shuffled.ranking_alarm and shuffled.auc_high < 0.6


def test_cohort_ranking_is_not_judged_with_too_few_positives_or_without_a_floor() -> None:
    p = np.full(100, 0.02)
    label = np.zeros(100)
    label[:2] = 1
    assert not cohort_figures(label, p, level=0.01, auc_floor=0.7).auc_judged
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.5, 500)
    assert not cohort_figures(rng.random(500) < p, p, level=0.01, auc_floor=None).auc_judged
