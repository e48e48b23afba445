"""Calibration of a model's raw probabilities on its out-of-fold predictions (``stage.py``).

Three candidates: ``none`` (the booster's own probability), ``sigmoid`` (Platt scaling: a logistic
regression on the raw log-odds margin) and ``isotonic`` (a monotone step function of the raw
probability). The choice is made by **held-out log loss**: each candidate is fitted on k-1 folds of
the out-of-fold predictions and scored on the remaining fold, folds made of whole leads so that a lead's
snapshots never sit on both sides. A more flexible method must beat the simpler one by
``min_improvement`` to be chosen (isotonic overfits small windows). The winner is then refitted on the
whole of them and written in the ``calibration.json`` format of :mod:`leadscore.scorers.model.calibration`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from leadscore.scorers.model.calibration import apply_calibration, sigmoid
from leadscore.training.config import CalibrationConfig

log = logging.getLogger(__name__)

# Isotonic can output exactly 0 or 1 on a sparse end of the range; one wrong "certain" prediction
# then costs an infinite log loss. Probabilities are kept within [EPS, 1 - EPS].
EPS = 1e-5


def fit_calibration(method: str, margin: np.ndarray, label: np.ndarray) -> dict:
    """Fit one calibration ``method`` on raw margins and 0/1 labels; returns the calibration.json dict."""
    margin = np.asarray(margin, dtype=float)
    label = np.asarray(label, dtype=float)
    if method == "none":
        return {"method": "none"}
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        # Nearly unpenalised: Platt scaling is a 2-parameter fit, regularising it only biases it.
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), label)
        a = float(platt.coef_[0, 0])
        if a < 0:
            # the margins ranked the outcomes backwards (a model that learnt a relation the later leads
            # reverse): a calibration never turns a ranking round; the most it may say is the base rate
            rate = float(np.clip(label.mean(), EPS, 1 - EPS))
            return {"method": "sigmoid", "a": 0.0, "b": float(np.log(rate / (1 - rate)))}
        return {"method": "sigmoid", "a": a, "b": float(platt.intercept_[0])}
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(sigmoid(margin), label)
        return {
            "method": "isotonic",
            "x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_],
        }
    raise ValueError(f"unknown calibration method {method!r}")


def lead_folds(lead_id: pd.Series, n_folds: int, seed: int) -> np.ndarray:
    """Fold number per row, whole leads per fold, assigned by a seeded shuffle of the distinct leads."""
    codes, uniques = pd.factorize(lead_id, sort=True)
    rng = np.random.default_rng(seed)
    lead_fold = rng.permutation(len(uniques)) % n_folds
    return lead_fold[codes]


def held_out_probabilities(
    margin: np.ndarray,
    label: np.ndarray,
    lead_id: pd.Series,
    config: CalibrationConfig,
    seed: int,
) -> dict[str, np.ndarray]:
    """Each calibration method's out-of-fold probability per row (folds of whole leads); ``None`` where a fold cannot be fitted."""
    margin = np.asarray(margin, dtype=float)
    label = np.asarray(label, dtype=float)
    n_folds = min(config.n_folds, int(pd.Series(lead_id).nunique()))
    folds = lead_folds(pd.Series(lead_id).reset_index(drop=True), max(n_folds, 2), seed)
    out = {}
    for method in config.methods:
        held_out = np.empty_like(margin)
        for fold in np.unique(folds):
            fit_rows = folds != fold
            if len(np.unique(label[fit_rows])) < 2 and method != "none":
                held_out[~fit_rows] = np.nan
                continue
            mapping = fit_calibration(method, margin[fit_rows], label[fit_rows])
            held_out[~fit_rows] = apply_calibration(mapping, margin[~fit_rows])
        out[method] = held_out
    return out


def row_log_loss(label: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Log loss of each row, probabilities kept within [EPS, 1 - EPS]."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    label = np.asarray(label, dtype=float)
    return -(label * np.log(p) + (1 - label) * np.log(1 - p))


def compare_methods(held_out: dict[str, np.ndarray], label: np.ndarray, config: CalibrationConfig) -> pd.DataFrame:
    """``method, cv_log_loss, chosen``: the simplest method wins unless a more flexible one beats it by ``min_improvement``."""
    losses = {m: float(row_log_loss(label, p).mean()) if not np.isnan(p).any() else float("inf") for m, p in held_out.items()}
    order = [m for m in ("none", "sigmoid", "isotonic") if m in losses]
    chosen = order[0]
    for method in order[1:]:
        if losses[method] < losses[chosen] - config.min_improvement:
            chosen = method
    return pd.DataFrame({"method": order, "cv_log_loss": [losses[m] for m in order], "chosen": [m == chosen for m in order]})


def select_calibration(
    margin: np.ndarray,
    label: np.ndarray,
    lead_id: pd.Series,
    config: CalibrationConfig,
    seed: int,
) -> tuple[dict, pd.DataFrame, np.ndarray]:
    """Choose and fit the calibration with the lowest held-out log loss on these margins.

    Returns
    -------
    calibration, comparison, held_out
        The chosen mapping (fitted on all the margins), a frame ``method, cv_log_loss, chosen``, and the
        chosen method's held-out probability per row (what it predicts for leads its fit did not see).
    """
    held_out = held_out_probabilities(margin, label, lead_id, config, seed)
    comparison = compare_methods(held_out, label, config)
    chosen = comparison.loc[comparison["chosen"], "method"].iloc[0]
    log.debug("calibration: chose %s (held-out log loss %s)", chosen,
             {m: round(v, 5) for m, v in zip(comparison["method"], comparison["cv_log_loss"], strict=True)})
    calibration = fit_calibration(chosen, np.asarray(margin, dtype=float), np.asarray(label, dtype=float))
    return calibration, comparison, held_out[chosen]


def map_rule_scores(calibration_score: np.ndarray, calibration_label: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Rule points mapped to probabilities by isotonic regression fitted on development rows (never the test window).

    Points are not probabilities; this monotone map (it keeps the rules' ranking) lets log loss,
    Brier and ECE be reported for the rules on the same footing as the models. Missing points count
    as the lowest score seen in calibration.
    """
    from sklearn.isotonic import IsotonicRegression

    calibration_score = np.asarray(calibration_score, dtype=float)
    known = np.isfinite(calibration_score)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(
        calibration_score[known], np.asarray(calibration_label, dtype=float)[known]
    )
    score = np.asarray(score, dtype=float)
    return iso.predict(np.where(np.isfinite(score), score, iso.X_min_))
