"""Where a lead stands at its as_of -> the status its scored row carries: one mapping for every scorer.

Only an open lead gets both probabilities; a lead at SQO gets no p_sqo (and a p_win only from a WON model
trained on leads past SQO); a closed lead gets neither. The batch scorer, the HTTP service, the rules
command and the logged MLflow model (given the ``funnel_position`` column ``leadscore features`` writes)
all say it with these words (:func:`leadscore.features.building.stages.funnel_position` decides where a lead
stands).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.building.stages import POSITION_COLUMN, POSITIONS

STATUS_OK = "ok"
STATUS_REACHED_SQO = "reached SQO"
STATUS_NO_PROBABILITY = "no score: the model gave no probability"
STATUS_BY_POSITION = {
    "open": STATUS_OK,
    "sqo": STATUS_REACHED_SQO,
    "won": "closed: won",
    "lost": "closed: lost",
    "disqualified": "closed: disqualified",
}
NOT_OPEN_STATUSES = tuple(text for position, text in STATUS_BY_POSITION.items() if position != "open")
STATUS_OF_POSITION = np.array([STATUS_BY_POSITION[p] for p in POSITIONS], dtype=object)
"""Statuses indexed by :data:`~leadscore.features.building.stages.POSITIONS` codes."""


def statuses(position: np.ndarray, p_sqo: np.ndarray) -> np.ndarray:
    """Each answered row's status from where its lead stands (:data:`POSITIONS` codes) and the probability
    its model gave (an open lead the model gave none is said so, never ``ok``)."""
    status = STATUS_OF_POSITION[np.asarray(position)]
    return np.where((np.asarray(position) == 0) & np.isnan(np.asarray(p_sqo, dtype=float)), STATUS_NO_PROBABILITY,
                    status)


def split_counts(by_status: dict[str, int]) -> tuple[int, dict[str, int], dict[str, int]]:
    """Rows per status -> (``ok`` rows, rows of leads at SQO or closed, rows not scored by status): the three
    parts every reconciliation of counts in and out reports."""
    rest = dict(by_status)
    n_ok = rest.pop(STATUS_OK, 0)
    not_open = {k: rest.pop(k) for k in NOT_OPEN_STATUSES if k in rest}
    return n_ok, not_open, rest


def position_column(rows: pd.DataFrame) -> np.ndarray:
    """:data:`POSITIONS` codes of a feature file's ``funnel_position`` column; a row without one (or a file
    without the column) is open, as a lead sent to the service without stage history is.

    Raises ValueError naming the rows whose text is no position.
    """
    if POSITION_COLUMN not in rows.columns:
        return np.zeros(len(rows), dtype=np.int64)
    text = rows[POSITION_COLUMN].astype("str").fillna("open").str.strip().str.lower()
    known = text.isin(POSITIONS)
    if not known.all():
        bad = np.flatnonzero(~known.to_numpy())
        shown = ", ".join(f"row {i + 1} {rows[POSITION_COLUMN].iloc[i]!r}" for i in bad[:5])
        raise ValueError(f"column {POSITION_COLUMN}: {len(bad):,} rows are no funnel position ({shown}); "
                         f"expected one of {', '.join(POSITIONS)}")
    return pd.Categorical(text, categories=list(POSITIONS)).codes.astype(np.int64)
