"""A model's whole answer for rows of built features: probability, score, grade and reasons in words.

One answer, written once: explain (exact contributions) → calibrate → phrase the reasons → score and
grade. The batch scorer (``leadscore.serving.score``), the logged MLflow model
(``training/logged_model.py``, so ``mlflow models serve`` and Spark's ``spark_udf`` answer like the
scorer) and training's held-out rows (``held_out.csv``, which the report reads) all call :func:`answer`;
the score and grade come from :mod:`leadscore.scorers.model.grading` and the reasons from
:func:`leadscore.scorers.model.reasons.phrase_reasons`.
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


def answer(model: LeadscoreModel, features: pd.DataFrame, cuts: dict[str, float] | None = None) -> pd.DataFrame:
    """The model's answer per feature row, in order and with its index.

    Parameters
    ----------
    model
        The model.
    features
        Built features (every spec feature as a column; other columns are ignored).
    cuts
        Grade cut points ``{A, B, C}`` (default: the model spec's; ``grade`` is missing when neither).

    Returns
    -------
    pandas.DataFrame
        ``p_raw`` (uncalibrated), ``p`` (calibrated), ``score`` (0–100), ``grade`` (A–D) and the reasons
        (``reasons_positive``, ``reasons_negative``, ``reasons``).
    """
    contributions = model.explain(features)
    margin = np.asarray(contributions.margin, dtype=float)
    p = model.calibrate(margin)
    reasons = phrase_reasons(features, contributions.values, model.spec_features)
    del contributions
    cuts = cuts if cuts is not None else model.grade_cuts
    grade = grade_from_p(p, cuts) if cuts else np.full(len(p), None, dtype=object)
    return pd.DataFrame({
        "p_raw": sigmoid(margin),
        "p": p,
        "score": score_from_p(p),
        "grade": pd.array(grade, dtype="str"),
        "reasons_positive": reasons["reasons_positive"].array,
        "reasons_negative": reasons["reasons_negative"].array,
        "reasons": reasons["reasons"].array,
    }, index=features.index)


def answer_features(model: LeadscoreModel, rows: pd.DataFrame) -> pd.DataFrame:
    """The logged pyfunc's answer: :func:`answer` with ``lead_id`` passed through (missing when ``rows`` lacks it).

    ``rows`` is what ``leadscore features`` writes (``lead_id``, ``as_of`` and the feature columns; extra
    columns are ignored, numbers may come as integers or floats).
    """
    out = answer(model, feature_frame(model, rows))
    lead_id = rows["lead_id"].astype("str") if "lead_id" in rows.columns else pd.Series(None, index=rows.index,
                                                                                         dtype="str")
    out.insert(0, "lead_id", lead_id.array)
    return out.loc[:, list(ANSWER_COLUMNS)]
