"""A model's whole answer for rows of built features: probability, score, grade and reasons in words.

One answer, written once: explain (exact contributions) → calibrate → phrase the reasons → score and
grade. The batch scorer (``leadscore.serving.score``), the logged MLflow model
(``training/logged_model.py``, so ``mlflow models serve`` and Spark's ``spark_udf`` answer like the
scorer) and training's held-out rows (``held_out.csv``, which the report reads) all call :func:`answer`;
the score and grade come from :mod:`leadscore.scorers.model.grading` and the reasons from
:func:`leadscore.scorers.model.reasons.phrase_reasons`.

**The chain.** A WON model trained as a chain (its spec's ``chain``) predicts ``q = P(win | SQO)``; its
answer's probability is ``p_win = p_sqo × q`` (:func:`chained_probability`), so p_win <= p_sqo for every
lead by construction and both stay calibrated: P(win) = P(SQO) × P(win | SQO) exactly, with the labels
aligned in training (``leadscore.features.building.labels``). ``p_sqo`` is the SQO model's probability
for the same rows: the batch scorer passes the SQO model it serves; alone (the logged pyfunc), the SQO link
the WON model was trained with (``model.stage``) gives it. A lead already at SQO (``at_sqo``) gets ``q``
from the map calibrated on such leads (``calibration["past_sqo"]``, ``chain["covers_past_sqo"]``), else no
p_win. The reasons of a chained answer are q's: what moves the chance of winning once a lead is at SQO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.scorers.model.calibration import sigmoid
from leadscore.scorers.model.grading import grade_from_p, score_from_p
from leadscore.scorers.model.reasons import reason_texts

if TYPE_CHECKING:
    from leadscore.features.building.columns import FeatureColumns

ANSWER_COLUMNS = ("lead_id", "p_raw", "p", "score", "grade", "reasons_positive", "reasons_negative", "reasons")
# A chained model's answer adds q itself.
CHAIN_COLUMN = "p_given_sqo"


def answer_columns(model: LeadscoreModel) -> tuple[str, ...]:
    """The logged pyfunc's output columns for ``model``."""
    return (*ANSWER_COLUMNS, CHAIN_COLUMN) if model.chain else ANSWER_COLUMNS


def covers_past_sqo(model: LeadscoreModel | None) -> bool:
    """Whether a WON model is calibrated for leads already at SQO too (its chain's ``covers_past_sqo``), so
    such a lead gets a p_win; a model that does not say so was trained on open leads."""
    return model is not None and bool((model.chain or {}).get("covers_past_sqo", False))


def chained_probability(model: LeadscoreModel, q: np.ndarray, p_sqo: np.ndarray,
                        at_sqo: np.ndarray | None = None, q_past_sqo: np.ndarray | None = None) -> np.ndarray:
    """``p_sqo × q``; for rows already at SQO, ``q_past_sqo`` (q calibrated on such leads) when the model
    covers them, else missing (see the module docstring)."""
    p = np.asarray(p_sqo, dtype=float) * np.asarray(q, dtype=float)
    if at_sqo is not None:
        covered = covers_past_sqo(model) and q_past_sqo is not None
        p = np.where(np.asarray(at_sqo, dtype=bool), np.asarray(q_past_sqo, dtype=float) if covered else np.nan, p)
    return p


def probability(model: LeadscoreModel, features: pd.DataFrame | FeatureColumns, p_sqo: np.ndarray | None = None,
                at_sqo: np.ndarray | None = None) -> np.ndarray:
    """The model's calibrated probability for feature rows: its own, or a chain's product (no reasons)."""
    margin = model.margin(features)
    q = model.calibrate(margin)
    if not model.chain:
        return q
    return chained_probability(model, q, _p_sqo(model, features, p_sqo), at_sqo, model.calibrate_past_sqo(margin))


def _p_sqo(model: LeadscoreModel, features: pd.DataFrame | FeatureColumns, p_sqo: np.ndarray | None) -> np.ndarray:
    if p_sqo is not None:
        return np.asarray(p_sqo, dtype=float)
    if model.stage is None:
        raise ValueError("a chained WON model needs p_sqo: pass the SQO model's probabilities")
    return model.stage.predict(features)


def feature_frame(model: LeadscoreModel, rows: pd.DataFrame) -> pd.DataFrame:
    """The spec's feature columns of ``rows`` as the builder writes them: numbers (int or float) as float."""
    missing = [name for name in model.feature_names if name not in rows.columns]
    if missing:
        raise ValueError(f"the input lacks feature column(s) the model needs: {', '.join(missing[:8])}"
                       + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""))
    out = {}
    for feature in model.spec_features:
        column = rows[feature["name"]]
        if feature["kind"] == "categorical":
            out[feature["name"]] = column.astype("str")
        else:
            out[feature["name"]] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=rows.index)


@dataclass
class Answer:
    """:func:`answer_rows`: the answer's columns, one entry per row (reasons as lists for a few rows,
    Arrow arrays for many: :func:`leadscore.scorers.model.reasons.reason_texts`)."""

    p_raw: np.ndarray
    p: np.ndarray
    q: np.ndarray | None
    score: pd.arrays.IntegerArray
    grade: np.ndarray
    reasons_positive: list[str] | pa.Array
    reasons_negative: list[str] | pa.Array
    reasons: list[str] | pa.Array


def answer_rows(model: LeadscoreModel, features: pd.DataFrame | FeatureColumns, cuts: dict[str, float] | None = None,
                p_sqo: np.ndarray | None = None, at_sqo: np.ndarray | None = None,
                on_contributions: Callable[[np.ndarray], None] | None = None,
                stories: tuple | None = None) -> Answer:
    """The answer itself, column by column (see :func:`answer` for the parameters); ``features`` may be a
    frame or the kernel's columns (:class:`~leadscore.features.building.columns.FeatureColumns`), and
    ``stories`` the spec's :func:`~leadscore.scorers.model.contributions.story_members` when the caller
    keeps them (the HTTP service answers one lead at a time)."""
    contributions = model.explain(features)
    margin = np.asarray(contributions.margin, dtype=float)
    q = p = model.calibrate(margin)
    if model.chain:
        p = chained_probability(model, q, _p_sqo(model, features, p_sqo), at_sqo, model.calibrate_past_sqo(margin))
    up, down, both = reason_texts(features, contributions.values, model.spec_features, stories=stories)
    if on_contributions is not None:
        on_contributions(contributions.values)
    del contributions
    cuts = cuts if cuts is not None else model.grade_cuts
    grade = grade_from_p(p, cuts) if cuts else np.full(len(p), None, dtype=object)
    return Answer(sigmoid(margin), p, q if model.chain else None, score_from_p(p), grade, up, down, both)


def answer(model: LeadscoreModel, features: pd.DataFrame, cuts: dict[str, float] | None = None,
           p_sqo: np.ndarray | None = None, at_sqo: np.ndarray | None = None,
           on_contributions: Callable[[np.ndarray], None] | None = None) -> pd.DataFrame:
    """The model's answer per feature row, in order and with its index.

    Parameters
    ----------
    model
        The model.
    features
        Built features (every spec feature as a column; other columns are ignored).
    cuts
        Grade cut points ``{A, B, C}`` (default: the model spec's; ``grade`` is missing when neither).
    p_sqo, at_sqo
        For a chained model: the SQO model's probability per row (default: its SQO link's) and which
        rows are already at SQO (default: none).
    on_contributions
        Called with the exact contributions (``n × len(spec_features)``) before they are dropped (the
        score store keeps them to explain a later change).

    Returns
    -------
    pandas.DataFrame
        ``p_raw`` (uncalibrated), ``p`` (calibrated), ``score`` (0–100), ``grade`` (A–D) and the reasons
        (``reasons_positive``, ``reasons_negative``, ``reasons``); for a chained model also
        ``p_given_sqo`` (q), with ``p`` the chain's product and ``p_raw`` q's uncalibrated probability.
    """
    rows = answer_rows(model, features, cuts, p_sqo, at_sqo, on_contributions)
    out = pd.DataFrame({
        "p_raw": rows.p_raw,
        "p": rows.p,
        "score": rows.score,
        "grade": pd.array(rows.grade, dtype="str"),
        "reasons_positive": pd.array(rows.reasons_positive, dtype="str"),
        "reasons_negative": pd.array(rows.reasons_negative, dtype="str"),
        "reasons": pd.array(rows.reasons, dtype="str"),
    }, index=features.index)
    if model.chain:
        out[CHAIN_COLUMN] = rows.q
    return out


def answer_features(model: LeadscoreModel, rows: pd.DataFrame) -> pd.DataFrame:
    """The logged pyfunc's answer: :func:`answer` with ``lead_id`` passed through (missing when ``rows`` lacks
    it) and each row's ``status``, as the batch scorer gives them, in the order and with the index of ``rows``.

    ``rows`` is what ``leadscore features`` writes (``lead_id``, ``as_of``, ``funnel_position`` and the
    feature columns; extra columns are ignored, numbers may come as integers or floats). ``funnel_position``
    decides who is answered (:mod:`leadscore.scorers.status`): an SQO model answers open leads only; a chained
    WON model answers open leads and, when it covers them, leads at SQO; every other row keeps its row with
    the model's columns empty (no number, empty texts: Spark's ``spark_udf`` turns a missing text into
    "nan") and its status saying why. Without the column every row is taken as open. A chained WON model
    uses its own SQO link for p_sqo (the batch scorer chains q with the SQO model it serves).
    """
    from leadscore.scorers.status import position_column, statuses

    position = position_column(rows)
    answered = (position == 0) | ((position == 1) & bool(model.chain) & covers_past_sqo(model))
    at = np.flatnonzero(answered)
    features = feature_frame(model, rows).reset_index(drop=True)  # by position: the index may repeat
    columns = [c for c in answer_columns(model) if c != "lead_id"]
    out = pd.DataFrame({c: pd.Series(np.nan if c.startswith("p") else "", index=features.index,
                                     dtype="float64" if c.startswith("p") else "str") for c in columns})
    out["score"] = pd.array([None] * len(out), dtype="Int64")
    if len(at):  # none to answer (every lead closed, or no row): the model is not asked (LightGBM fails on 0 rows)
        part = answer(model, features.iloc[at], at_sqo=position[at] == 1 if model.chain else None)
        for column in columns:
            values = part[column]
            out.loc[at, column] = values.fillna("").to_numpy() if values.dtype == "str" else values.to_numpy()
    lead_id = rows["lead_id"].astype("str").array if "lead_id" in rows.columns else [None] * len(rows)
    out.insert(0, "lead_id", pd.array(lead_id, dtype="str"))
    out["status"] = pd.array(statuses(position, out["p"].to_numpy(dtype=float)), dtype="str")
    out.index = rows.index
    return out
