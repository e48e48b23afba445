"""The ``feature_spec.json`` document logged with a model: what the booster expects and how to read its output.

Serving relies on it without training code: the feature list in order with kinds and categories, the
target and its horizon, the catalogue hash (to refuse a model built on another catalogue), the grade
cut points, and the data windows the model learnt from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.training.config import GradesConfig

TARGET_DESCRIPTIONS = {
    "sqo": "first enters SQO (or WON) within horizon_days after as_of",
    "won": "first enters WON within horizon_days after as_of",
}


def derive_grade_cuts(p: np.ndarray, grades: GradesConfig) -> dict[str, float]:
    """Probability thresholds for grades A, B and C from calibrated probabilities of a reference window.

    A is the top ``a_fraction`` of ``p``, B the next ``b_fraction``, C the next ``c_fraction``, D the
    rest: a lead is graded A when its calibrated probability is at least ``cuts["A"]``. Cut points are
    probabilities, not ranks, so a later batch of better leads gets more A grades.

    Examples
    --------
    >>> cuts = derive_grade_cuts(np.linspace(0, 1, 101), GradesConfig())
    >>> round(cuts["A"], 2), round(cuts["B"], 2), round(cuts["C"], 2)
    (0.9, 0.7, 0.4)
    """
    p = np.asarray(p, dtype=float)
    a = grades.a_fraction
    b = a + grades.b_fraction
    c = b + grades.c_fraction
    return {
        "A": float(np.quantile(p, 1 - a)),
        "B": float(np.quantile(p, 1 - b)),
        "C": float(np.quantile(p, 1 - c)),
    }


def _iso(value: object) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def describe_windows(split_summary: pd.DataFrame) -> dict[str, dict]:
    """The split summary as JSON-safe ``{window: {n_leads, n_rows, n_positive, captured_from, ...}}``."""
    out = {}
    for record in split_summary.to_dict(orient="records"):
        out[record["window"]] = {
            "n_leads": int(record["n_leads"]),
            "n_rows": int(record["n_rows"]),
            "n_positive": int(record["n_positive"]),
            "n_rows_dropped_by_gap": int(record["n_rows_dropped_by_gap"]),
            "captured_from": _iso(record["captured_from"]),
            "captured_to": _iso(record["captured_to"]),
            "as_of_from": _iso(record["as_of_from"]),
            "as_of_to": _iso(record["as_of_to"]),
        }
    return out


def build_model_spec(
    target: str,
    horizon_days: int,
    offsets_days: list[int],
    features: list[dict],
    grade_cuts: dict[str, float],
    split_summary: pd.DataFrame,
    catalogue_hash: str,
    data_end: pd.Timestamp | None,
    calibration_method: str,
) -> dict:
    """The complete ``feature_spec.json`` document (JSON-safe)."""
    return {
        "target": target,
        "label": TARGET_DESCRIPTIONS.get(target, target),
        "horizon_days": int(horizon_days),
        "offsets_days": [int(o) for o in offsets_days],
        "catalogue_hash": catalogue_hash,
        "features": features,
        "grade_cuts": grade_cuts,
        "calibration_method": calibration_method,
        "data_end": _iso(data_end),
        "windows": describe_windows(split_summary),
    }
