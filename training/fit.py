"""Fitting the two learned models on the training window: LightGBM and the logistic-regression baseline.

Both see the same feature columns. LightGBM gets categoricals natively (pandas ``category`` with the
categories fixed from the training window, see :func:`fix_feature_spec`) and is encoded by the very
function the logged model uses at serving time, so training and serving cannot disagree. Neither model
is resampled nor class-weighted: both are fitted on plain log loss so their probabilities stay honest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.model.encoding import encode_features
from leadscore.training.config import LightGBMConfig, LogisticConfig

log = logging.getLogger(__name__)

FEATURE_KINDS = ("numeric", "categorical", "flag")


@dataclass(frozen=True)
class FittedBooster:
    """A trained booster and how training went.

    Attributes
    ----------
    booster
        The ``lightgbm.Booster`` trimmed to its best iteration.
    n_trees, best_iteration
        Trees kept (one per iteration for a binary objective) and the early-stopping choice.
    params
        The exact LightGBM parameters used, for logging.
    validation_log_loss
        Log loss on the validation window at the best iteration.
    """

    booster: object
    n_trees: int
    best_iteration: int
    params: dict
    validation_log_loss: float


def fix_feature_spec(train: pd.DataFrame, features: list[dict]) -> list[dict]:
    """Feature spec entries with each categorical's categories taken from the training window only.

    Categories are the distinct non-missing values seen in training, as text, sorted, so that the
    spec is deterministic. Values first seen later (validation, test, serving) become missing rather
    than an unseen code: the booster has never learnt anything about them.

    Raises
    ------
    ValueError
        If a feature's kind is not one of numeric, categorical, flag, or its column is missing.
    """
    missing = [f["name"] for f in features if f["name"] not in train.columns]
    if missing:
        raise ValueError(f"training rows lack feature column(s) {missing}")
    spec = []
    for feature in features:
        if feature["kind"] not in FEATURE_KINDS:
            raise ValueError(f"feature {feature['name']!r} has unknown kind {feature['kind']!r}")
        entry = {**{k: feature.get(k, "") for k in ("name", "kind", "group", "story")}, **feature}
        if feature["kind"] == "categorical":
            values = train[feature["name"]].dropna().astype("str")
            entry["categories"] = sorted(values.unique().tolist())
        spec.append(entry)
    return spec


def lightgbm_params(config: LightGBMConfig, n_train_rows: int, seed: int) -> dict:
    """LightGBM parameters for a small, regularised, reproducible binary model.

    ``min_data_in_leaf`` left unset is sized for the data (0.2% of training rows, kept within
    20..500) so that leaves are estimated from enough leads on any export size. ``deterministic`` with
    a fixed thread count and seed gives identical trees for identical data.
    """
    min_leaf = config.min_data_in_leaf
    if min_leaf is None:
        min_leaf = int(min(500, max(20, round(0.002 * n_train_rows))))
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "max_depth": config.max_depth,
        "min_data_in_leaf": min_leaf,
        "min_data_per_group": min_leaf,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": config.bagging_freq,
        "lambda_l2": config.lambda_l2,
        "min_gain_to_split": config.min_gain_to_split,
        "cat_smooth": config.cat_smooth,
        "cat_l2": config.cat_l2,
        "max_cat_threshold": config.max_cat_threshold,
        "num_threads": config.num_threads,
        "deterministic": True,
        "force_col_wise": True,
        "seed": seed,
        "verbosity": -1,
    }


def fit_lightgbm(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    spec: list[dict],
    config: LightGBMConfig,
    seed: int,
) -> FittedBooster:
    """Train LightGBM on the training window, stopping early on the validation window's log loss.

    Parameters
    ----------
    train, validation
        Rows with the spec's feature columns and ``label``.
    spec
        Feature spec from :func:`fix_feature_spec` (order and categories).
    """
    import lightgbm as lgb

    params = lightgbm_params(config, len(train), seed)
    train_set = lgb.Dataset(encode_features(train, spec), label=train["label"].to_numpy(), free_raw_data=True)
    valid_set = lgb.Dataset(
        encode_features(validation, spec), label=validation["label"].to_numpy(), reference=train_set
    )
    evals: dict = {}
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=config.max_trees,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, verbose=False),
            lgb.record_evaluation(evals),
        ],
    )
    best = booster.best_iteration or booster.current_iteration()
    # Keep only the trees up to the best iteration: smaller file, cheaper SHAP, same predictions.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    losses = evals.get("validation", {}).get("binary_logloss", [float("nan")])
    log.info("lightgbm: %d trees (best iteration %d of at most %d)", booster.num_trees(), best, config.max_trees)
    return FittedBooster(
        booster=booster,
        n_trees=booster.num_trees(),
        best_iteration=int(best),
        params=params,
        validation_log_loss=float(losses[best - 1]) if len(losses) >= best else float("nan"),
    )


def predict_margin(booster: object, frame: pd.DataFrame, spec: list[dict]) -> np.ndarray:
    """Raw log-odds of the booster for ``frame`` (before calibration)."""
    return np.asarray(booster.predict(encode_features(frame, spec), raw_score=True), dtype=float)


def _logistic_inputs(frame: pd.DataFrame, spec: list[dict]) -> pd.DataFrame:
    """Numeric columns as float, categoricals as object text with NaN, for scikit-learn's transformers."""
    out = {}
    for feature in spec:
        column = frame[feature["name"]]
        if feature["kind"] == "categorical":
            out[feature["name"]] = column.astype("str").astype("object").where(column.notna(), np.nan)
        else:
            out[feature["name"]] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def make_logistic_pipeline(spec: list[dict], config: LogisticConfig) -> object:
    """An unfitted scikit-learn pipeline: impute, scale numerics, one-hot categoricals, logistic regression.

    Missing numerics get the median plus a missing-indicator column (absence is often informative in
    CRM data); categoricals get a "missing" level, rare levels are pooled, unseen levels are ignored.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f["name"] for f in spec if f["kind"] != "categorical"]
    categorical = [f["name"] for f in spec if f["kind"] == "categorical"]
    transformers = []
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True)),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="ignore",
                                min_frequency=config.min_category_frequency,
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                categorical,
            )
        )
    return Pipeline(
        [
            ("prepare", ColumnTransformer(transformers, remainder="drop")),
            ("model", LogisticRegression(C=config.C, max_iter=config.max_iter)),
        ]
    )


def fit_logistic(train: pd.DataFrame, spec: list[dict], config: LogisticConfig) -> object:
    """Fit the logistic-regression baseline on the training window; returns the fitted pipeline."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    pipeline = make_logistic_pipeline(spec, config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        pipeline.fit(_logistic_inputs(train, spec), train["label"].to_numpy())
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("logistic baseline did not converge in %d iterations; its scores are still reported", config.max_iter)
    return pipeline


def predict_logistic(pipeline: object, frame: pd.DataFrame, spec: list[dict]) -> np.ndarray:
    """Probability of the positive class from the fitted logistic baseline."""
    return np.asarray(pipeline.predict_proba(_logistic_inputs(frame, spec))[:, 1], dtype=float)
