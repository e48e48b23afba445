"""The MLflow pyfunc of a leadscore model ("models from code"): a thin wrapper for MLflow users.

MLflow copies this file into the logged model and runs it when a user loads the model with
``mlflow.pyfunc.load_model``, ``mlflow models serve`` or Spark's ``spark_udf`` (in an environment where
leadscore is installed). Everything a model is and does lives in ``leadscore.scorers.model``; leadscore's
own scorer reads the same files as data and never runs this code.

``predict`` takes a feature frame (what ``leadscore features`` writes: ``lead_id``, ``as_of`` and the
feature columns; extra columns are ignored, numbers may come as integers or floats) and answers like the
batch scorer: ``lead_id``, ``p_raw`` (the uncalibrated probability), ``p`` (calibrated: the scorer's
``p_sqo`` or ``p_win``), ``score`` (0–100), ``grade`` (A–D by the spec's cut points) and the reasons in
words (``reasons_positive``, ``reasons_negative``, ``reasons``) from exact SHAP values.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from leadscore.scorers.model.answer import answer_features
from leadscore.scorers.model.artifacts import read_model


class LeadscorePyfunc(PythonModel):
    """A leadscore model behind MLflow's pyfunc interface."""

    def load_context(self, context) -> None:
        self.model = read_model(Path(context.artifacts["feature_spec"]).parent)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return answer_features(self.model, model_input)


set_model(LeadscorePyfunc())
