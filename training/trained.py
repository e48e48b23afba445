"""What one training produced before it is logged: the model that serves, its rival, and their evaluation.

Its own module because both the pipeline (which makes it) and the MLflow edge (which logs it) need it,
and neither should import the other for a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.scorers.monitoring.reference import TrainingReference
from leadscore.training.audit import AuditResult
from leadscore.training.candidates import Candidate
from leadscore.training.fit import FittedBooster


@dataclass
class TrainedModels:
    """Everything one training produced before it is logged.

    Attributes
    ----------
    model
        The model that serves (spec, calibration, booster or linear model), refit on all labelled data
        unless the config says not to; written by :func:`leadscore.scorers.model.artifacts.write_model`.
    serving_kind, serving_reason
        ``lightgbm`` or ``logistic``, and the sentence saying why it serves.
    candidates
        Both candidates as evaluated (before any refit), by kind.
    fitted
        LightGBM's training facts (trees, early stopping).
    scored
        Test-window snapshots with ``offset_days``, ``label``, every method's score (``p_model``,
        ``p_raw``, the other candidate's ``p_<kind>``, ``rule_score``, ``p_rules``) and slice columns.
    metrics
        The headline: test-window metrics per method at the scoring moments (default: at capture).
    metrics_by_offset
        The same point metrics per snapshot offset and pooled, beside the headline.
    slices
        Headline metrics per channel / region.
    audit
        The leakage audit of the candidate features.
    reference
        The training reference logged beside the model for ``leadscore monitor`` (made by
        :func:`leadscore.training.pipeline.train_model`, which holds the export).
    facts
        Numeric facts for MLflow metrics: trees, SHAP rows/s, uncalibrated ECE, timings, refit.
    """

    model: LeadscoreModel
    serving_kind: str
    serving_reason: str
    candidates: dict[str, Candidate]
    calibration_comparison: pd.DataFrame
    fitted: FittedBooster
    scored: pd.DataFrame
    scored_features: pd.DataFrame
    metrics: pd.DataFrame
    metrics_by_offset: pd.DataFrame
    slices: pd.DataFrame
    split_summary: pd.DataFrame
    importance: pd.DataFrame
    shap_contributions: np.ndarray
    shap_encoded: pd.DataFrame
    window_frames: dict[str, pd.DataFrame]
    facts: dict[str, float] = field(default_factory=dict)
    facts_text: dict[str, str] = field(default_factory=dict)
    training_summary: pd.DataFrame | None = None
    audit: AuditResult | None = None
    reference: TrainingReference | None = None

    @property
    def spec(self) -> dict:
        return self.model.spec

    @property
    def calibration(self) -> dict:
        return self.model.calibration
