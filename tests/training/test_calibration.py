"""Calibration: chosen by held-out log loss, written in the logged model's format, folds by lead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.training.calibration import (
    apply_calibration,
    fit_calibration,
    lead_folds,
    map_rule_scores,
    select_calibration,
)
from leadscore.training.config import CalibrationConfig
from leadscore.training.metrics import expected_calibration_error


def _margins(n: int, seed: int, slope: float, shift: float) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Raw margins whose true log-odds are ``slope * margin + shift``."""
    rng = np.random.default_rng(seed)
    margin = rng.normal(-2.0, 1.2, n)
    label = (rng.random(n) < 1 / (1 + np.exp(-(slope * margin + shift)))).astype(float)
    return margin, label, pd.Series([f"L{i // 2}" for i in range(n)])


def test_an_already_calibrated_model_keeps_its_probabilities() -> None:
    margin, label, lead = _margins(6000, 0, 1.0, 0.0)
    calibration, comparison, _ = select_calibration(margin, label, lead, CalibrationConfig(min_improvement=1e-3), seed=0)
    assert calibration == {"method": "none"}
    assert comparison["chosen"].sum() == 1


def test_an_overconfident_model_is_recalibrated_and_its_ece_drops() -> None:
    margin, label, lead = _margins(8000, 1, 0.5, -0.8)
    calibration, _, _ = select_calibration(margin, label, lead, CalibrationConfig(), seed=0)
    assert calibration["method"] in {"sigmoid", "isotonic"}
    held_margin, held_label, _ = _margins(8000, 2, 0.5, -0.8)
    raw = expected_calibration_error(held_label, 1 / (1 + np.exp(-held_margin)))
    calibrated = expected_calibration_error(held_label, apply_calibration(calibration, held_margin))
    assert calibrated < raw / 3


def test_sigmoid_recovers_the_true_slope_and_shift() -> None:
    margin, label, _ = _margins(40_000, 3, 0.5, -0.8)
    fitted = fit_calibration("sigmoid", margin, label)
    assert fitted["a"] == pytest.approx(0.5, abs=0.05)
    assert fitted["b"] == pytest.approx(-0.8, abs=0.1)


def test_isotonic_mapping_is_monotone_and_bounded() -> None:
    margin, label, _ = _margins(3000, 4, 0.7, 0.0)
    fitted = fit_calibration("isotonic", margin, label)
    assert np.all(np.diff(fitted["x"]) >= 0) and np.all(np.diff(fitted["y"]) >= 0)
    assert 0 < min(fitted["y"]) and max(fitted["y"]) < 1


def test_every_fitted_mapping_is_applied_by_its_documented_formula() -> None:
    margin, label, _ = _margins(2000, 5, 0.6, -0.3)
    raw = 1 / (1 + np.exp(-margin))
    none, platt, iso = (fit_calibration(m, margin, label) for m in ("none", "sigmoid", "isotonic"))
    np.testing.assert_allclose(apply_calibration(none, margin), raw)
    np.testing.assert_allclose(apply_calibration(platt, margin), 1 / (1 + np.exp(-(platt["a"] * margin + platt["b"]))))
    np.testing.assert_allclose(apply_calibration(iso, margin), np.interp(raw, iso["x"], iso["y"]))


def test_folds_never_split_a_lead() -> None:
    lead = pd.Series(np.repeat([f"L{i}" for i in range(100)], 3))
    folds = lead_folds(lead, 5, seed=0)
    assert (pd.Series(folds).groupby(lead.to_numpy()).nunique() == 1).all()
    assert set(folds) == set(range(5))


def test_rule_points_map_to_probabilities_without_changing_their_order() -> None:
    rng = np.random.default_rng(6)
    points = rng.integers(0, 100, 3000).astype(float)
    label = (rng.random(3000) < points / 150).astype(float)
    mapped = map_rule_scores(points, label, np.array([np.nan, 0.0, 50.0, 99.0]))
    assert mapped[0] == mapped[1]
    assert np.all(np.diff(mapped[1:]) >= 0)


def test_a_calibration_never_turns_a_ranking_round() -> None:
    # margins that rank the outcomes backwards (a relation the later leads reverse): the map says the base rate
    rng = np.random.default_rng(3)
    margin = rng.normal(size=2000)
    label = (rng.random(2000) < 1 / (1 + np.exp(2 * margin))).astype(float)
    calibration = fit_calibration("sigmoid", margin, label)
    assert calibration["a"] == 0.0
    np.testing.assert_allclose(apply_calibration(calibration, margin), label.mean(), rtol=1e-9)
    assert np.all(np.diff(fit_calibration("isotonic", margin, label)["y"]) >= 0)
