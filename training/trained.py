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
from leadscore.training.fit import FittedBooster
from leadscore.training.stage import Stage


@dataclass
class TrainedModels:
    """Everything one training produced before it is logged.

    Attributes
    ----------
    model
        The model that serves (spec, calibration, booster or linear model), refit on all labelled data
        unless the config says not to; written by :func:`leadscore.scorers.model.artifacts.write_model`.
    serving_kind, serving_reason
        ``lightgbm`` or ``logistic`` (``constant`` for a chain's q that is 1), and the sentence saying why
        it serves, with the folds' evidence.
    stages
        Each probability chosen over the folds (``training/stage.py``): the target's, or for a chained WON
        model the SQO link (``sqo``) and q (``q``); both kinds as evaluated (before any refit).
    fitted
        The development LightGBM model's facts (trees chosen over the folds); ``None`` without one.
    scored
        Test-window snapshots with ``offset_days``, ``label``, every method's score (``p_model``,
        ``p_raw``, the other kind's ``p_<kind>``, ``rule_score``, ``p_rules``, ``p_floor`` when the rules
        tie) and slice columns. For a chained WON model ``p_model`` is the chain's product.
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
        Numeric facts for MLflow metrics: trees, SHAP rows/s, uncalibrated ECE, timings, the folds, refit.
    chain_lines, notes
        The chain in words (a chained WON model), and what the stages left out and why.
    """

    model: LeadscoreModel
    serving_kind: str
    serving_reason: str
    stages: dict[str, Stage]
    calibration_comparison: pd.DataFrame
    fitted: FittedBooster | None
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
    chain_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> dict:
        return self.model.spec

    @property
    def calibration(self) -> dict:
        return self.model.calibration
