"""The ``feature_spec.json`` document logged with a model: what the booster expects and how to read its output.

Serving relies on it without training code: the feature list in order with kinds and categories, the
target and its horizon, the catalogue hash (to refuse a model built on another catalogue), the grade
cut points, and the data windows the model learnt from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.training.audit import AuditResult
from leadscore.training.config import GradesConfig

TARGET_DESCRIPTIONS = {
    "sqo": "first enters SQO (or WON) within horizon_days after as_of",
    "won": "first enters WON within horizon_days after as_of",
}


def derive_grade_cuts(p: np.ndarray, grades: GradesConfig) -> dict[str, float]:
    """Probability cut points for grades A, B and C from calibrated probabilities of a reference window.

    A is about the top ``a_fraction`` of ``p``, B the next ``b_fraction``, C the next ``c_fraction``, D the
    rest: a lead is graded A when its calibrated probability is at least ``cuts["A"]``. Cut points are
    probabilities, not ranks, so a later batch of better leads gets more A grades. Each cut is a value
    ``p`` takes (the one whose share at or above it is nearest the target), the three stay distinct when
    probabilities tie (a calibration with few steps), and none sits at the lowest probability, which
    would grade every lead C or better. With fewer distinct values than grades, a grade stays empty
    rather than two cuts meeting.

    Examples
    --------
    >>> cuts = derive_grade_cuts(np.linspace(0, 1, 101), GradesConfig())
    >>> round(cuts["A"], 2), round(cuts["B"], 2), round(cuts["C"], 2)
    (0.91, 0.71, 0.4)
    >>> derive_grade_cuts(np.array([0.0] * 90 + [0.05] * 10), GradesConfig())
    {'A': 0.05, 'B': 0.025, 'C': 0.0125}
    """
    p = np.sort(np.asarray(p, dtype=float))
    if len(p) == 0:
        raise ValueError("grade cut points need at least one probability")
    distinct = np.unique(p)[::-1]  # descending
    lowest = distinct[-1]

    def share_at_or_above(value: float) -> float:
        return 1.0 - np.searchsorted(p, value, side="left") / len(p)

    targets = np.cumsum([grades.a_fraction, grades.b_fraction, grades.c_fraction])
    cuts: list[float] = []
    previous = np.inf
    for target in targets:
        options = distinct[(distinct < previous) & (distinct > lowest)]
        if len(options):
            shares = np.array([share_at_or_above(v) for v in options])
            cut = float(options[int(np.argmin(np.abs(shares - target)))])
        else:
            # no value left between the last cut and the lowest: a cut halfway keeps the grades apart
            top = previous if np.isfinite(previous) else lowest + max(abs(lowest), 1e-6)
            cut = float((top + lowest) / 2) if top > lowest else float(top + 1e-9)
        cuts.append(cut)
        previous = cut
    return dict(zip(("A", "B", "C"), cuts, strict=True))


def with_audit_notes(features: list[dict], audit: AuditResult | None) -> list[dict]:
    """Spec entries with what the audit found that scoring needs to know.

    ``filled_share`` (the export's own columns): the share of leads with a value at capture in training,
    so the scorer can name a column whose fill rate jumps in the batch it scores (a field written after
    capture is blank for new leads). ``calendar_cause``: the sentence the mapping file states for a
    calendar feature the audit kept; without it a calendar feature is never offered as a reason.
    """
    if audit is None:
        return features
    filled = audit.filled_shares()
    out = []
    for feature in features:
        entry = dict(feature)
        if "source" in entry and feature["name"] in filled:
            entry["filled_share"] = filled[feature["name"]]
        if feature["name"] in audit.calendar_causes:
            entry["calendar_cause"] = audit.calendar_causes[feature["name"]]
        out.append(entry)
    return out


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
