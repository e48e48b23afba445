"""The two candidate models, each fitted and calibrated, and the choice of the one that serves.

LightGBM and a regularised logistic regression are fitted on the training window (``fit.py``), each
calibrated on the validation and calibration windows at the moment of scoring (``calibration.py``), and
compared at that moment on the calibration window by their out-of-fold log loss once calibrated: the
lower serves, unless the configuration names a kind. The judge is the calibration window because neither
fit saw it (LightGBM's early stopping chose its trees on the validation window, which flatters its log
loss there) and it is the newest before the test window; the loss is taken after calibration because
both serve calibrated (a raw comparison punishes a model whose ranking is better but whose scale drifted).
The simpler model serves unless the trees are clearly better: LightGBM serves only when its gain in
log loss, paired lead by lead, stays at least ``model.min_improvement`` at the low end of its 95% interval
(the way a gate judges evidence). On small real exports the linear model often wins; on rich engagement
histories the trees do. Both are the same kind of :class:`~leadscore.scorers.model.artifacts.LeadscoreModel`,
with exact contributions and the same reasons, so which one serves changes nothing downstream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.scorers.model.calibration import apply_calibration
from leadscore.training.calibration import (
    compare_methods,
    held_out_probabilities,
    row_log_loss,
    select_calibration,
)
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
        Out-of-fold log loss of its calibrated probabilities on the calibration window at the scoring
        moments (on the validation and calibration windows together when that window alone lacks an outcome).
    calibration_comparison
        Held-out log loss of each calibration method on the calibration window.
    lead_log_loss
        The judged out-of-fold log loss per lead (mean over its rows), indexed by ``lead_id``: the
        candidates are compared lead by lead.
    fitted
        LightGBM's training facts (trees, early stopping), for the LightGBM candidate.
    """

    kind: str
    model: LeadscoreModel
    validation_log_loss: float
    calibration_comparison: pd.DataFrame
    lead_log_loss: pd.Series
    fitted: FittedBooster | None = None

    def p(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities for feature rows."""
        return self.model.predict(frame)


def moment_rows(window: pd.DataFrame, config: TrainConfig, min_rows: int = 50) -> pd.DataFrame:
    """A window's snapshots at the scoring moments, when they hold both outcomes and enough rows; else all of them.

    Candidates are compared, and calibrated, where they will be used: a probability calibrated on
    snapshots weeks after capture is off at capture, where leads convert at another rate.
    """
    at = at_moments(window, config.evaluation.moments_days)
    return at if at["label"].nunique() == 2 and len(at) >= min_rows else window


def judged_log_loss(margin: np.ndarray, rows: pd.DataFrame, config: TrainConfig) -> pd.Series:
    """Out-of-fold log loss per lead of the calibration method the calibration step would choose on these rows."""
    label = rows["label"].to_numpy()
    held_out = held_out_probabilities(margin, label, rows["lead_id"], config.calibration, config.seed)
    comparison = compare_methods(held_out, label, config.calibration)
    chosen = comparison.loc[comparison["chosen"], "method"].iloc[0]
    return pd.Series(row_log_loss(label, held_out[chosen]), index=rows["lead_id"].to_numpy()).groupby(level=0).mean()


def fit_candidates(windows: dict[str, pd.DataFrame], spec_features: list[dict], config: TrainConfig) -> dict[str, Candidate]:
    """Fit, calibrate and judge both candidate kinds (see the module docstring)."""
    train, validation, calibration_rows = windows["train"], windows["validation"], windows["calibration"]
    spec = {"features": spec_features}
    fitted = fit_lightgbm(train, validation, spec_features, config.lightgbm, config.seed)
    raw = {
        "lightgbm": LeadscoreModel(spec=spec, calibration={"method": "none"}, booster=fitted.booster),
        "logistic": LeadscoreModel(spec=spec, calibration={"method": "none"}, linear=fit_logistic(train, spec_features, config.logistic)),
    }
    # Both candidates are calibrated on the validation and calibration windows together (validation
    # only stopped the trees, and a one- or two-parameter map wants every recent lead it can get), and
    # judged on the calibration window alone (see the module docstring).
    calibrated_on = moment_rows(pd.concat([validation, calibration_rows], ignore_index=True), config)
    judged = moment_rows(calibration_rows, config)
    if judged["label"].nunique() < 2:
        judged = calibrated_on
    candidates = {}
    for kind, model in raw.items():
        per_lead = judged_log_loss(model.margin(judged), judged, config)
        calibration, comparison = select_calibration(
            model.margin(calibrated_on), calibrated_on["label"].to_numpy(), calibrated_on["lead_id"],
            config.calibration, config.seed,
        )
        candidates[kind] = Candidate(kind, LeadscoreModel(spec=spec, calibration=calibration, booster=model.booster,
                                                          linear=model.linear), float(per_lead.mean()), comparison,
                                     per_lead, fitted if kind == "lightgbm" else None)
    log.debug("validation log loss: %s", {k: round(c.validation_log_loss, 5) for k, c in candidates.items()})
    return candidates


def tree_gain(candidates: dict[str, Candidate]) -> tuple[float, float, float]:
    """LightGBM's gain in log loss over the logistic regression, paired by lead: mean and its 95% interval."""
    gain = candidates["logistic"].lead_log_loss - candidates["lightgbm"].lead_log_loss
    mean = float(gain.mean())
    margin = 1.96 * float(gain.std(ddof=1)) / len(gain) ** 0.5 if len(gain) > 1 else float("inf")
    return mean, mean - margin, mean + margin


def choose_serving(candidates: dict[str, Candidate], config: TrainConfig) -> tuple[str, str]:
    """The kind that serves and the sentence saying why (see the module docstring)."""
    losses = ", ".join(f"{KIND_WORDS[k]} {c.validation_log_loss:.5f}" for k, c in candidates.items())
    where = f"calibrated log loss on the calibration window at the scoring moments ({losses}"
    if config.model.kind != "auto":
        return config.model.kind, f"{KIND_WORDS[config.model.kind]}, as the training config names it ({where}))"
    gain, low, high = tree_gain(candidates)
    interval = f"LightGBM's gain {gain:+.5f}, 95% interval [{low:+.5f}, {high:+.5f}]"
    if low >= config.model.min_improvement:
        return "lightgbm", f"LightGBM, clearly the better {where}; {interval})"
    if gain < 0:
        return "logistic", f"logistic regression, the better {where})"
    return "logistic", (f"logistic regression: LightGBM is not clearly better in {where}; {interval} reaches below "
                        f"{config.model.min_improvement:g}, and the simpler model wins unless the trees clearly do)")


def calibrated(candidate: Candidate, margin: np.ndarray) -> np.ndarray:
    return apply_calibration(candidate.model.calibration, margin)
