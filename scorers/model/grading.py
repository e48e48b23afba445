"""From a calibrated probability to what a reader sees: the 0–100 score and the grade.

The batch scorer, the HTTP service and the logged MLflow model all answer with these, so a lead gets the
same score and grade wherever it is scored.

``score`` is ``round(100 × p)`` (half up): the honest "chance in 100". ``grade`` is A when
``p >= cuts["A"]``, B, C likewise, else D; the cut points come from the model spec (derived in
training) unless given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError

GRADES = ("A", "B", "C")
"""The grades with a cut point; below C a lead is graded D (:data:`ALL_GRADES`)."""
ALL_GRADES = (*GRADES, "D")


def check_grade_cuts(cuts: dict[str, float], source: str) -> dict[str, float]:
    """Cut points ``{A, B, C}`` as probabilities, ordered A >= B >= C within [0, 1]; else ``LeadscoreError``."""
    try:
        values = {g: float(cuts[g]) for g in GRADES}
    except (KeyError, TypeError, ValueError) as exc:
        raise LeadscoreError(f"{source}: grade cut points need A, B and C as numbers, got {cuts!r}.") from exc
    if not all(0.0 <= v <= 1.0 for v in values.values()) or not values["A"] >= values["B"] >= values["C"]:
        raise LeadscoreError(f"{source}: grade cut points must satisfy 1 >= A >= B >= C >= 0, got {values}.")
    return values


def whole_scores(p: np.ndarray) -> np.ndarray:
    """0–100 integer scores, ``floor(100 p + 0.5)``, as int64 (0 where ``p`` is missing: see :func:`score_from_p`)."""
    return np.floor(100.0 * np.nan_to_num(np.asarray(p, dtype=float)) + 0.5).astype(np.int64)


def score_from_p(p: np.ndarray) -> pd.array:
    """0–100 integer scores, ``floor(100 p + 0.5)``; missing where ``p`` is.

    Examples
    --------
    >>> score_from_p(np.array([0.004, 0.005, 0.5, np.nan])).tolist()
    [0, 1, 50, <NA>]
    """
    p = np.asarray(p, dtype=float)
    scores = pd.array(whole_scores(p), dtype="Int64")
    scores[np.isnan(p)] = pd.NA
    return scores


def grade_from_p(p: np.ndarray, cuts: dict[str, float]) -> np.ndarray:
    """Grades A–D from calibrated probabilities (object array, ``None`` where ``p`` is missing).

    Examples
    --------
    >>> grade_from_p(np.array([0.5, 0.2, 0.01, np.nan]), {"A": 0.4, "B": 0.2, "C": 0.1}).tolist()
    ['A', 'B', 'D', None]
    """
    p = np.asarray(p, dtype=float)
    grade = np.select([p >= cuts["A"], p >= cuts["B"], p >= cuts["C"]], ["A", "B", "C"], "D").astype(object)
    grade[np.isnan(p)] = None
    return grade
