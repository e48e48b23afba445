"""Fitting the two candidate kinds of model: LightGBM and a regularised logistic regression.

Both see the same feature columns, and either may serve (see ``stage.py``).
LightGBM gets categoricals natively (pandas ``category`` with the categories fixed from the training
window, see :func:`fix_feature_spec`); the logistic regression gets the explicit encoding of
:mod:`leadscore.scorers.model.linear`. Each is encoded by the very function the logged model uses at
serving time, so training and serving cannot disagree. Neither model is resampled nor class-weighted:
both are fitted on plain log loss so their probabilities stay honest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.scorers.model.encoding import encode_features
from leadscore.scorers.model.linear import LinearModel, encode_matrix, fit_encoding
from leadscore.training.config import LightGBMConfig, LogisticConfig

log = logging.getLogger(__name__)

FEATURE_KINDS = ("numeric", "categorical", "flag")


@dataclass(frozen=True)
class FittedBooster:
    """A trained booster and how training went.

    Attributes
    ----------
    booster
        The ``lightgbm.Booster`` fitted on the development rows with the chosen number of trees.
    n_trees, best_iteration
        Trees kept (one per iteration for a binary objective) and the number chosen over the folds.
    params
        The exact LightGBM parameters used, for logging.
    validation_log_loss
        The folds' pooled validation log loss at that number of trees (before calibration).
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
    than an unseen code: the booster has never learnt anything about them. ``seen_missing`` says
    whether training had a missing value of the feature: where it had none, a missing value at
    scoring is one the model never saw, and the scorer does not offer it as a reason.

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
        entry["seen_missing"] = bool(train[feature["name"]].isna().any())
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


def fit_lightgbm_curve(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    spec: list[dict],
    config: LightGBMConfig,
    seed: int,
) -> tuple[object, np.ndarray]:
    """Train LightGBM on one fold's training rows, recording the validation log loss after every tree.

    Training stops once the validation loss has not improved for ``early_stopping_rounds`` trees (or at
    ``max_trees``); the number of trees is then chosen over every fold's curve together
    (``training/stage.py``), not on one validation block.

    Returns
    -------
    booster, losses
        The booster (all its trees) and its validation log loss after each tree.
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
            lgb.early_stopping(config.early_stopping_rounds, verbose=False, first_metric_only=True),
            lgb.record_evaluation(evals),
        ],
    )
    return booster, np.asarray(evals["validation"]["binary_logloss"], dtype=float)


def fit_lightgbm_rounds(rows: pd.DataFrame, spec: list[dict], config: LightGBMConfig, seed: int, n_trees: int) -> object:
    """LightGBM on ``rows`` for exactly ``n_trees`` rounds (a refit with the number early stopping chose)."""
    import lightgbm as lgb

    params = lightgbm_params(config, len(rows), seed)
    data = lgb.Dataset(encode_features(rows, spec), label=rows["label"].to_numpy(), free_raw_data=True)
    return lgb.train(params, data, num_boost_round=max(1, int(n_trees)))


def predict_margin(booster: object, frame: pd.DataFrame, spec: list[dict]) -> np.ndarray:
    """Raw log-odds of the booster for ``frame`` (before calibration)."""
    return np.asarray(booster.predict(encode_features(frame, spec), raw_score=True), dtype=float)


def fit_logistic(train: pd.DataFrame, spec: list[dict], config: LogisticConfig) -> LinearModel:
    """Fit the logistic regression on the training window; returns it as data (encoding, coefficients)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    encoding = fit_encoding(train, spec, config.min_category_frequency)
    X = encode_matrix(train, encoding)
    # One BLAS thread: the matrix products are small, and threads fighting over 2 cores (LightGBM's, other
    # processes') cost 2-3 times the CPU (measured: 6.3 s against 2.4 s on 42,713 rows x 300 columns).
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
        warnings.simplefilter("always", ConvergenceWarning)
        fitted = LogisticRegression(C=config.C, max_iter=config.max_iter).fit(X, train["label"].to_numpy())
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.warning("logistic regression did not converge in %d iterations; its scores are still reported", config.max_iter)
    return LinearModel(encoding=encoding, coef=fitted.coef_[0].astype(float), intercept=float(fitted.intercept_[0]),
                       reference=X.mean(axis=0) if len(X) else np.zeros(X.shape[1]))
