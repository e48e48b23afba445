"""The MLflow pyfunc of a leadscore model ("models from code"): a thin wrapper for MLflow users.

MLflow copies this file into the logged model and runs it when a user loads the model with
``mlflow.pyfunc.load_model``, ``mlflow models serve`` or Spark's ``spark_udf`` (in an environment where
leadscore is installed). Everything a model is and does lives in
:mod:`leadscore.features.model.artifacts`; leadscore's own scorer reads the same files as data and never
runs this code.

``predict`` takes a frame with the feature columns (extra columns are ignored) and returns ``p_raw``
(the uncalibrated probability) and ``p`` (calibrated).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from leadscore.features.model.artifacts import read_model
from leadscore.features.model.calibration import sigmoid


class LeadscorePyfunc(PythonModel):
    """A leadscore model behind MLflow's pyfunc interface."""

    def load_context(self, context) -> None:
        self.model = read_model(Path(context.artifacts["feature_spec"]).parent)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        margin = self.model.margin(model_input)
        return pd.DataFrame({"p_raw": sigmoid(margin), "p": self.model.calibrate(np.asarray(margin))},
                            index=model_input.index)


set_model(LeadscorePyfunc())
