"""What one training produced before it is logged: the model that serves, its baselines and its evaluation.

Its own module because both the pipeline (which makes it) and the MLflow edge (which logs it) need it,
and neither should import the other for a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadscore.features.model.artifacts import LeadscoreModel
from leadscore.training.fit import FittedBooster


@dataclass
class TrainedModels:
    """Everything one training produced before it is logged: models, spec, evaluation.

    Attributes
    ----------
    model
        The model that serves (spec, calibration, booster), written by
        :func:`leadscore.features.model.artifacts.write_model`.
    fitted, logistic
        The LightGBM booster (with training facts) and the fitted logistic-regression pipeline.
    scored
        Test-window snapshots with ``label``, every method's score (``p_model``, ``p_raw``,
        ``p_logistic``, ``rule_score``, ``p_rules``) and the slice columns.
    metrics, slices
        Test-window metrics per method (see ``leadscore.training.metrics``) and per channel / region.
    facts
        Numeric facts for MLflow metrics: trees, SHAP rows/s, uncalibrated ECE, timings.
    """

    model: LeadscoreModel
    calibration_comparison: pd.DataFrame
    fitted: FittedBooster
    logistic: object
    scored: pd.DataFrame
    scored_features: pd.DataFrame
    metrics: pd.DataFrame
    slices: pd.DataFrame
    split_summary: pd.DataFrame
    importance: pd.DataFrame
    shap_contributions: np.ndarray
    shap_encoded: pd.DataFrame
    window_frames: dict[str, pd.DataFrame]
    facts: dict[str, float] = field(default_factory=dict)
    facts_text: dict[str, str] = field(default_factory=dict)
    training_summary: pd.DataFrame | None = None

    @property
    def spec(self) -> dict:
        return self.model.spec

    @property
    def calibration(self) -> dict:
        return self.model.calibration
