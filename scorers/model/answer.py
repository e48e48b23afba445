"""A model's whole answer for rows of built features: probability, score, grade and reasons in words.

The logged MLflow model (``training/logged_model.py``) answers with this, so ``mlflow models serve`` and
Spark's ``spark_udf`` give the batch scorer's probability, score, grade and reasons for the same feature
rows: the score and grade come from :mod:`leadscore.scorers.model.grading` and the reasons from
:func:`leadscore.scorers.model.reasons.phrase_reasons`, exactly as the scorer computes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.scorers.model.calibration import sigmoid
from leadscore.scorers.model.grading import grade_from_p, score_from_p
from leadscore.scorers.model.reasons import phrase_reasons

ANSWER_COLUMNS = ("lead_id", "p_raw", "p", "score", "grade", "reasons_positive", "reasons_negative", "reasons")


def feature_frame(model: LeadscoreModel, rows: pd.DataFrame) -> pd.DataFrame:
    """The spec's feature columns of ``rows`` as the builder writes them: numbers (int or float) as float."""
    missing = [name for name in model.feature_names if name not in rows.columns]
    if missing:
        raise KeyError(f"the input lacks feature column(s) the model needs: {', '.join(missing[:8])}"
                       + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""))
    out = {}
    for feature in model.spec_features:
        column = rows[feature["name"]]
        if feature["kind"] == "categorical":
            out[feature["name"]] = column.astype("str")
        else:
            out[feature["name"]] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=rows.index)


def answer_features(model: LeadscoreModel, rows: pd.DataFrame) -> pd.DataFrame:
    """One answer row per feature row, in order and with its index (see the module docstring).

    ``lead_id`` is passed through when ``rows`` has it (missing otherwise); ``grade`` is missing when the
    model records no cut points.
    """
    features = feature_frame(model, rows)
    contributions = model.explain(features)
    margin = np.asarray(contributions.margin, dtype=float)
    p = model.calibrate(margin)
    reasons = phrase_reasons(features, contributions.values, model.spec_features)
    cuts = model.grade_cuts
    grade = grade_from_p(p, cuts) if cuts else np.full(len(p), None, dtype=object)
    lead_id = rows["lead_id"].astype("str") if "lead_id" in rows.columns else pd.Series(None, index=rows.index,
                                                                                         dtype="str")
    return pd.DataFrame({
        "lead_id": lead_id.array,
        "p_raw": sigmoid(margin),
        "p": p,
        "score": score_from_p(p),
        "grade": pd.array(grade, dtype="str"),
        "reasons_positive": reasons["reasons_positive"].array,
        "reasons_negative": reasons["reasons_negative"].array,
        "reasons": reasons["reasons"].array,
    }, index=rows.index)
