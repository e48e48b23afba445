"""The model as MLflow stores it: a self-contained pyfunc that serving loads without training code.

This file is logged with the model ("models from code"): MLflow copies it into the model's artifacts
and executes the copy on load, so it imports only numpy, pandas, lightgbm and mlflow, never
``features`` or ``training``. Its artifacts are:

``booster.txt``
    The LightGBM booster in LightGBM's text format (uncalibrated probabilities).
``calibration.json``
    ``{"method": "isotonic", "x": [...], "y": [...]}`` (piecewise-linear on the raw probability),
    ``{"method": "sigmoid", "a": a, "b": b}`` (``p = 1 / (1 + exp(-(a * margin + b)))`` on the raw
    log-odds margin), or ``{"method": "none"}``.
``feature_spec.json``
    ``{"target", "features": [{"name", "kind", "group", "story", "categories"?}], "grade_cuts",
    "catalogue_hash", ...}``: the exact inputs the booster expects, in order, with each categorical
    feature's training categories (an unseen category becomes missing, which LightGBM handles).

``predict`` takes a frame with the feature columns (extra columns are ignored) and returns a frame
with ``p_raw`` and ``p`` (calibrated). Serving uses :meth:`LeadscoreModel.encode`, ``booster`` and
:meth:`LeadscoreModel.calibrate` directly to add exact SHAP reasons.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


def apply_calibration(calibration: dict, p_raw: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Map raw booster output to calibrated probabilities as described by ``calibration``."""
    method = calibration["method"]
    if method == "isotonic":
        return np.interp(p_raw, np.asarray(calibration["x"], float), np.asarray(calibration["y"], float))
    if method == "sigmoid":
        return 1.0 / (1.0 + np.exp(-(calibration["a"] * margin + calibration["b"])))
    if method == "none":
        return np.asarray(p_raw, float)
    raise ValueError(f"unknown calibration method {method!r}")


def encode_features(features: pd.DataFrame, spec_features: list[dict]) -> pd.DataFrame:
    """The booster's input: spec columns in order, categoricals with the training categories.

    Training encodes its frames with this same function, so that training and serving can never
    disagree on how a value reaches the booster. Categorical values are compared as text, and a value
    not seen in training becomes missing (explicitly: pandas will refuse unknown categories).
    """
    missing = [f["name"] for f in spec_features if f["name"] not in features.columns]
    if missing:
        raise KeyError(f"input lacks feature column(s) the model needs: {missing}")
    out = {}
    for f in spec_features:
        column = features[f["name"]]
        if f["kind"] == "categorical":
            values = column.astype("str")
            values = values.where(values.isin(f["categories"]))
            out[f["name"]] = pd.Categorical(values, categories=f["categories"])
        else:
            out[f["name"]] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=features.index)


class LeadscoreModel(PythonModel):
    """Calibrated LightGBM lead-scoring model with its feature spec."""

    def load_context(self, context) -> None:  # noqa: ANN001 (MLflow's context type)
        import lightgbm as lgb

        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        with open(context.artifacts["calibration"]) as f:
            self.calibration = json.load(f)
        with open(context.artifacts["feature_spec"]) as f:
            self.spec = json.load(f)

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.spec["features"]]

    def encode(self, features: pd.DataFrame) -> pd.DataFrame:
        """The booster's input: spec columns in order, categoricals with the training categories."""
        return encode_features(features, self.spec["features"])

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        p_raw = 1.0 / (1.0 + np.exp(-margin))
        return apply_calibration(self.calibration, p_raw, margin)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:  # noqa: ANN001
        encoded = self.encode(model_input)
        margin = self.booster.predict(encoded, raw_score=True)
        p_raw = 1.0 / (1.0 + np.exp(-margin))
        return pd.DataFrame({"p_raw": p_raw, "p": self.calibrate(margin)}, index=model_input.index)


set_model(LeadscoreModel())
