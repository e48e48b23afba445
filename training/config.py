"""The training configuration: one YAML file says *what* to train, validated when it is read.

Every key has a default in ``training/default_config.yaml``; a user's file overrides any subset of it.
Unknown keys are errors (a misspelt ``learning_rat`` must not silently train the default), and values
are checked for range so that a bad file fails at load with one sentence, not deep inside LightGBM.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leadscore.features.errors import LeadscoreError

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.yaml")
CalibrationMethod = Literal["none", "sigmoid", "isotonic"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingSetConfig(_Strict):
    offsets_days: tuple[int, ...] = (0, 7, 14, 30, 60)
    horizon_days: int | None = Field(default=None, gt=0)
    # The WON model is P(win | SQO within this horizon): it must be the SQO model's horizon.
    sqo_horizon_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _offsets_valid(self) -> TrainingSetConfig:
        if not self.offsets_days or any(o < 0 for o in self.offsets_days):
            raise ValueError("training_set.offsets_days must list one or more days >= 0")
        return self


class FeaturesConfig(_Strict):
    """Which features a model may use: built-ins switched off by name or group, and the export's own columns."""

    exclude: tuple[str, ...] = ()
    own_columns: bool = True

    @model_validator(mode="after")
    def _known_names(self) -> FeaturesConfig:
        from leadscore.features.building.catalogue import CATALOGUE, GROUPS

        known = {s.name for s in CATALOGUE} | set(GROUPS)
        unknown = [name for name in self.exclude if name not in known]
        if unknown:
            raise ValueError(f"features.exclude: {unknown} are neither built-in features nor groups "
                             f"(groups: {', '.join(GROUPS)}; `leadscore features --list` lists the features)")
        return self


class SplitConfig(_Strict):
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    # Rolling-origin folds over the leads before the test window (training/split.py).
    folds: int = Field(default=4, ge=1, le=20)
    first_fold_share: float = Field(default=0.4, gt=0, lt=1)
    # auto: the strictest plan the data allows; or strict, test_gap, half_gap, no_gap.
    plan: Literal["auto", "strict", "test_gap", "half_gap", "no_gap"] = "auto"
    extra_gap_days: int = Field(default=0, ge=0)
    min_positives: int = Field(default=5, ge=1)
    min_train_share: float = Field(default=0.4, ge=0, lt=1)


class LightGBMConfig(_Strict):
    num_leaves: int = Field(default=15, ge=2, le=255)
    max_depth: int = Field(default=5, ge=1, le=16)
    learning_rate: float = Field(default=0.08, gt=0, le=1)
    max_trees: int = Field(default=200, ge=1, le=5000)
    early_stopping_rounds: int = Field(default=30, ge=1)
    min_data_in_leaf: int | None = Field(default=None, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=1.0, ge=0)
    min_gain_to_split: float = Field(default=0.0, ge=0)
    cat_smooth: float = Field(default=10.0, ge=0)
    cat_l2: float = Field(default=10.0, ge=0)
    max_cat_threshold: int = Field(default=32, ge=1)
    num_threads: int = Field(default=2, ge=1)


class LogisticConfig(_Strict):
    C: float = Field(default=1.0, gt=0)
    max_iter: int = Field(default=500, ge=10)
    min_category_frequency: int = Field(default=20, ge=1)


class CalibrationConfig(_Strict):
    methods: tuple[CalibrationMethod, ...] = ("none", "sigmoid", "isotonic")
    n_folds: int = Field(default=5, ge=2, le=20)
    min_improvement: float = Field(default=1e-4, ge=0)

    @model_validator(mode="after")
    def _methods_non_empty(self) -> CalibrationConfig:
        if not self.methods:
            raise ValueError("calibration.methods must name at least one of none, sigmoid, isotonic")
        return self


class EvaluationConfig(_Strict):
    moments_days: tuple[int, ...] = (0,)
    capacity_fraction: float = Field(default=0.1, gt=0, le=1)
    n_bootstrap: int = Field(default=200, ge=0, le=10_000)
    ece_bins: int = Field(default=20, ge=2, le=1000)
    slices: tuple[Literal["channel", "region"], ...] = ("channel", "region")


class ModelConfig(_Strict):
    """Which model serves, and whether it is refit on all labelled data after evaluation."""

    kind: Literal["auto", "lightgbm", "logistic"] = "auto"
    min_improvement: float = Field(default=0.0, ge=0)
    refit: bool = True


class AuditConfig(_Strict):
    """Thresholds of the leakage audit (training/audit.py)."""

    leaky_auc: float = Field(default=0.90, gt=0.5, le=1)
    suspicious_auc: float = Field(default=0.80, gt=0.5, le=1)
    far_better_margin: float = Field(default=0.10, ge=0, le=0.5)
    missingness_gap: float = Field(default=0.3, gt=0, le=1)
    accumulation_correlation: float = Field(default=0.3, gt=0, le=1)
    after_capture_share: float = Field(default=0.5, gt=0, le=1)
    drift_cramers_v: float = Field(default=0.1, gt=0, le=1)
    calendar_proxy: float = Field(default=0.8, gt=0, le=1)
    sample_leads: int = Field(default=200_000, ge=1000)
    folds: int = Field(default=5, ge=2, le=20)


class GradesConfig(_Strict):
    a_fraction: float = Field(default=0.1, gt=0, lt=1)
    b_fraction: float = Field(default=0.2, gt=0, lt=1)
    c_fraction: float = Field(default=0.3, gt=0, lt=1)

    @model_validator(mode="after")
    def _leave_room_for_d(self) -> GradesConfig:
        if self.a_fraction + self.b_fraction + self.c_fraction >= 1:
            raise ValueError("grades: a_fraction + b_fraction + c_fraction must stay below 1 (D is the rest)")
        return self


class GatesConfig(_Strict):
    min_auc: float = Field(default=0.65, ge=0, le=1)
    max_ece: float = Field(default=0.03, ge=0, le=1)
    min_auc_gain_over_rules: float = Field(default=0.0, ge=-1, le=1)
    promote_auc_tolerance: float = Field(default=0.005, ge=0, le=1)


class TrainConfig(_Strict):
    """Everything one training run needs to know besides the data and the target."""

    seed: int = 7
    features: FeaturesConfig = FeaturesConfig()
    audit: AuditConfig = AuditConfig()
    model: ModelConfig = ModelConfig()
    training_set: TrainingSetConfig = TrainingSetConfig()
    split: SplitConfig = SplitConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
    logistic: LogisticConfig = LogisticConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    grades: GradesConfig = GradesConfig()
    gates: GatesConfig = GatesConfig()
    rules_path: str | None = None


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as exc:
        raise LeadscoreError(f"{path}: cannot read the training config ({exc.strerror}).") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LeadscoreError(f"{path}: the training config is not valid YAML ({exc}).") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LeadscoreError(f"{path}: the training config must be a mapping of keys to values.")
    return data


# Keys of earlier versions, with what replaced them: a config written for them fails saying what to write.
RETIRED_KEYS = {
    ("split", "train_fraction"): "the split is now rolling-origin folds before a test window: split.folds, "
                                 "split.first_fold_share and split.test_fraction",
    ("split", "validation_fraction"): "the folds choose the trees and the calibration: split.folds",
    ("split", "calibration_fraction"): "the calibration is fitted on the folds' out-of-fold predictions: split.folds",
    ("split", "horizon_gap_before"): "split.plan (auto, strict, test_gap, half_gap, no_gap)",
    ("model", "refit_folds"): "the refit's calibration comes from the rolling-origin folds: split.folds",
}


def config_from_dict(data: dict, source: str = "<dict>") -> TrainConfig:
    """Validate a (partial) configuration mapping over the shipped defaults.

    Raises
    ------
    LeadscoreError
        Naming the first offending key and why, e.g. ``lightgbm.learning_rat: extra inputs are not
        permitted``.
    """
    for (section, key), instead in RETIRED_KEYS.items():
        if isinstance(data.get(section), dict) and key in data[section]:
            raise LeadscoreError(f"{source}: {section}.{key} is no longer a training setting ({instead}).")
    merged = _merge(_read_yaml(DEFAULT_CONFIG_PATH), data)
    try:
        return TrainConfig.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg'].lower()}" for err in exc.errors()
        )
        raise LeadscoreError(f"{source}: invalid training config ({problems}).") from exc


def load_config(path: str | os.PathLike | None = None) -> TrainConfig:
    """The shipped defaults, overridden by the YAML file at ``path`` when given.

    Examples
    --------
    >>> load_config().lightgbm.num_leaves
    15
    """
    if path is None:
        return config_from_dict({}, source=str(DEFAULT_CONFIG_PATH))
    source = Path(path)
    return config_from_dict(_read_yaml(source), source=str(source))


def config_to_dict(config: TrainConfig) -> dict:
    """Plain, JSON/YAML-safe form of ``config`` (tuples become lists) for logging with the run."""
    return config.model_dump(mode="json")
