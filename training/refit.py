"""After evaluation, the serving model refit on all labelled data with the settings already chosen.

Evaluation needs held-out windows; the model put to work should learn from every labelled lead,
including the newest, which are the most like tomorrow's. The kind, LightGBM's number of trees (its
early-stopping choice), the logistic regression's regularisation and the calibration method are kept;
the categories, the fit and the calibration map are learnt again on all rows. The calibration is fitted
by cross-validation: the model is fitted on all folds but one and predicts the one left out (folds of
whole leads), and the calibration map is fitted on those out-of-fold margins at the scoring moments,
so it never sees a margin the model produced for a lead it trained on. The grade cut points come from the same
out-of-fold probabilities at the scoring moments. The reported metrics stay those of the held-out
evaluation.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.scorers.model.calibration import apply_calibration
from leadscore.training.calibration import fit_calibration, lead_folds
from leadscore.training.config import TrainConfig
from leadscore.training.fit import fit_lightgbm_rounds, fit_logistic, fix_feature_spec
from leadscore.training.metrics import at_moments
from leadscore.training.spec import derive_grade_cuts

log = logging.getLogger(__name__)


def _fit(kind: str, rows: pd.DataFrame, spec_features: list[dict], config: TrainConfig, n_trees: int) -> LeadscoreModel:
    spec = {"features": spec_features}
    if kind == "lightgbm":
        booster = fit_lightgbm_rounds(rows, spec_features, config.lightgbm, config.seed, n_trees)
        return LeadscoreModel(spec=spec, calibration={"method": "none"}, booster=booster)
    return LeadscoreModel(spec=spec, calibration={"method": "none"}, linear=fit_logistic(rows, spec_features, config.logistic))


def refit_on_all(
    rows: pd.DataFrame, features: list[dict], kind: str, calibration_method: str, n_trees: int, config: TrainConfig
) -> tuple[LeadscoreModel, dict[str, float], pd.DataFrame]:
    """The serving model refit on ``rows`` (every labelled snapshot), with its cross-validated calibration.

    Returns
    -------
    model, grade_cuts, out_of_fold
        The refit model (its spec holds the features; the caller completes it), the grade cut points,
        and the out-of-fold calibrated probabilities (``lead_id``, ``as_of``, ``label``, ``p``).
    """
    rows = rows.reset_index(drop=True)
    spec_features = fix_feature_spec(rows, features)
    folds = lead_folds(rows["lead_id"], config.model.refit_folds, config.seed)
    margin = np.empty(len(rows))
    for fold in range(config.model.refit_folds):
        held = folds == fold
        model = _fit(kind, rows[~held], spec_features, config, n_trees)
        margin[held] = model.margin(rows[held])
    at = at_moments(rows.assign(margin=margin), config.evaluation.moments_days)
    calibrated_on = at if at["label"].nunique() == 2 and len(at) >= 50 else rows.assign(margin=margin)
    calibration = fit_calibration(calibration_method, calibrated_on["margin"].to_numpy(), calibrated_on["label"].to_numpy())
    final = _fit(kind, rows, spec_features, config, n_trees)
    final = LeadscoreModel(spec=final.spec, calibration=calibration, booster=final.booster, linear=final.linear)
    out_of_fold = rows.loc[:, ["lead_id", "as_of", "label"] + (["offset_days"] if "offset_days" in rows else [])].assign(
        p=apply_calibration(calibration, margin))
    at = at_moments(out_of_fold, config.evaluation.moments_days)
    cuts = derive_grade_cuts((at if len(at) else out_of_fold)["p"].to_numpy(), config.grades)
    log.debug("refit %s on %d labelled snapshots (%d folds for the calibration)", kind, len(rows), config.model.refit_folds)
    return final, cuts, out_of_fold
