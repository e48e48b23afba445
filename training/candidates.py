"""The two candidate models, each fitted and calibrated, and the choice of the one that serves.

LightGBM and a regularised logistic regression are fitted on the training window (``fit.py``), each
calibrated on the validation and calibration windows at the moment of scoring (``calibration.py``), and
compared on the validation window at that moment: the lower log loss serves, unless the configuration names a kind. On small real
exports the linear model often wins; on rich engagement histories the trees do. Both are the same kind
of :class:`~leadscore.features.model.artifacts.LeadscoreModel`, with exact contributions and the same
reasons, so which one serves changes nothing downstream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.model.artifacts import LeadscoreModel
from leadscore.features.model.calibration import apply_calibration, sigmoid
from leadscore.training.calibration import EPS, select_calibration
from leadscore.training.config import TrainConfig
from leadscore.training.fit import FittedBooster, fit_lightgbm, fit_logistic
from leadscore.training.metrics import at_moments

log = logging.getLogger(__name__)

KINDS = ("lightgbm", "logistic")
KIND_WORDS = {"lightgbm": "LightGBM", "logistic": "logistic regression"}


@dataclass
class Candidate:
    """One fitted and calibrated candidate.

    Attributes
    ----------
    kind
        ``lightgbm`` or ``logistic``.
    model
        The model (its spec holds only the features until the pipeline completes it).
    validation_log_loss
        Log loss of its raw probabilities on the validation and calibration windows at the scoring moments.
    calibration_comparison
        Held-out log loss of each calibration method on the calibration window.
    fitted
        LightGBM's training facts (trees, early stopping), for the LightGBM candidate.
    """

    kind: str
    model: LeadscoreModel
    validation_log_loss: float
    calibration_comparison: pd.DataFrame
    fitted: FittedBooster | None = None

    def p(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities for feature rows."""
        return self.model.predict(frame)


def log_loss(label: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    label = np.asarray(label, dtype=float)
    return float(-np.mean(label * np.log(q) + (1 - label) * np.log(1 - q)))


def moment_rows(window: pd.DataFrame, config: TrainConfig, min_rows: int = 50) -> pd.DataFrame:
    """A window's snapshots at the scoring moments, when they hold both outcomes and enough rows; else all of them.

    Candidates are compared, and calibrated, where they will be used: a probability calibrated on
    snapshots weeks after capture is off at capture, where leads convert at another rate.
    """
    at = at_moments(window, config.evaluation.moments_days)
    return at if at["label"].nunique() == 2 and len(at) >= min_rows else window


def fit_candidates(windows: dict[str, pd.DataFrame], spec_features: list[dict], config: TrainConfig) -> dict[str, Candidate]:
    """Fit, calibrate and judge on validation both candidate kinds (see the module docstring)."""
    train, validation, calibration_rows = windows["train"], windows["validation"], windows["calibration"]
    spec = {"features": spec_features}
    fitted = fit_lightgbm(train, validation, spec_features, config.lightgbm, config.seed)
    raw = {
        "lightgbm": LeadscoreModel(spec=spec, calibration={"method": "none"}, booster=fitted.booster),
        "logistic": LeadscoreModel(spec=spec, calibration={"method": "none"}, linear=fit_logistic(train, spec_features, config.logistic)),
    }
    # Both candidates are judged, and calibrated, on the validation and calibration windows together:
    # validation only stopped the trees, and a comparison or a one- or two-parameter map wants every
    # recent lead it can get.
    held_out = moment_rows(pd.concat([validation, calibration_rows], ignore_index=True), config)
    judged = calibrated_on = held_out
    candidates = {}
    for kind, model in raw.items():
        loss = log_loss(judged["label"].to_numpy(), sigmoid(model.margin(judged)))
        calibration, comparison = select_calibration(
            model.margin(calibrated_on), calibrated_on["label"].to_numpy(), calibrated_on["lead_id"],
            config.calibration, config.seed,
        )
        candidates[kind] = Candidate(kind, LeadscoreModel(spec=spec, calibration=calibration, booster=model.booster,
                                                          linear=model.linear), loss, comparison,
                                     fitted if kind == "lightgbm" else None)
    log.info("validation log loss: %s", {k: round(c.validation_log_loss, 5) for k, c in candidates.items()})
    return candidates


def choose_serving(candidates: dict[str, Candidate], config: TrainConfig) -> tuple[str, str]:
    """The kind that serves and the sentence saying why."""
    losses = ", ".join(f"{KIND_WORDS[k]} {c.validation_log_loss:.5f}" for k, c in candidates.items())
    if config.model.kind != "auto":
        return config.model.kind, f"{KIND_WORDS[config.model.kind]}, as the training config names it (validation log loss: {losses})"
    gain = candidates["logistic"].validation_log_loss - candidates["lightgbm"].validation_log_loss
    if gain >= config.model.min_improvement:
        return "lightgbm", f"LightGBM, the better held-out log loss at the scoring moments ({losses})"
    why = "the better" if gain < 0 else f"as good within {config.model.min_improvement:g} (the simpler model wins a tie):"
    return "logistic", f"logistic regression, {why} held-out log loss at the scoring moments ({losses})"


def calibrated(candidate: Candidate, margin: np.ndarray) -> np.ndarray:
    return apply_calibration(candidate.model.calibration, margin)
