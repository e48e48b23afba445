"""Where the lead stands in the funnel at as_of: current stage, time in it, furthest stage, recycles.

Only stage entries with ``entered_at <= as_of`` count (:func:`leadscore.features.pit.visible`). A lead with
no visible entry is an MCL since its capture, as :mod:`leadscore.features.funnel` counts it. Entries at
the same instant are ordered by the contract's stage order, so the result never depends on row order. An
entry whose stage text the contract does not know (validation reports it) names no stage, but its time
still starts the time in the current stage.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from leadscore.features.building.staging import UNKNOWN_STAGE
from leadscore.features.contract import FUNNEL_ORDER, STAGES
from leadscore.features.pit import join_as_of, visible_end
from leadscore.features.tables import Tables, has_table
from leadscore.features.timestamps import NS_PER_DAY

# Helper columns the account context subtracts (the lead's own SQO / WON by as_of).
OWN_REACHED_SQO = "_own_reached_sqo"
OWN_REACHED_WON = "_own_reached_won"
COLUMNS = ("_current_stage_code", "days_in_current_stage", "_highest_stage_code", "n_recycles", OWN_REACHED_SQO,
           OWN_REACHED_WON)
"""The columns :func:`funnel_row` writes: the two stages as codes (STAGES and FUNNEL_ORDER positions)."""

# FUNNEL_ORDER rank of each STAGES code (-1: LOST, RECYCLED and DISQUALIFIED are exits or loops, no rank).
_RANK = np.array([FUNNEL_ORDER.index(s) if s in FUNNEL_ORDER else -1 for s in STAGES] + [-1] * (UNKNOWN_STAGE + 1 - len(STAGES)),
                 dtype=np.int64)
_RECYCLED, _SQO, _WON, _MCL = STAGES.index("RECYCLED"), STAGES.index("SQO"), STAGES.index("WON"), STAGES.index("MCL")
_DAY = NS_PER_DAY


@numba.njit
def funnel_row(t: np.ndarray, code: np.ndarray, lo: int, hi: int, as_of: int, captured: int, out: np.ndarray) -> None:
    """Write :data:`COLUMNS` of one spine row from its lead's stage entries ``lo:hi`` (sorted by time, then code)."""
    end = visible_end(t, lo, hi, as_of)
    highest = 0
    recycles = 0
    sqo = 0.0
    won = 0.0
    for j in range(lo, end):
        c = code[j]
        if _RANK[c] > highest:
            highest = _RANK[c]
        if c == _RECYCLED:
            recycles += 1
        if c == _SQO or c == _WON:
            sqo = 1.0
        if c == _WON:
            won = 1.0
    if end > lo:
        # The current stage is the latest entry of a known stage; the time in it runs from the latest
        # entry of any kind (an unknown stage text is an entry nonetheless).
        latest = _MCL
        for j in range(end - 1, lo - 1, -1):
            if code[j] != UNKNOWN_STAGE:
                latest = code[j]
                break
        out[0] = latest
        out[1] = np.float64(as_of - t[end - 1]) / _DAY
    else:
        out[0] = _MCL
        out[1] = np.float64(as_of - captured) / _DAY
    out[2] = highest
    out[3] = recycles
    out[4] = sqo
    out[5] = won


# Where a lead stands at as_of, for deciding what it may be scored for (one definition for training,
# the scorer, the rules and the report): ``closed`` positions get no probability, ``sqo`` no p_sqo.
POSITIONS = ("open", "sqo", "won", "lost", "disqualified")
CLOSED_STAGES = ("WON", "LOST", "DISQUALIFIED")


def funnel_position(tables: Tables, spine: pd.DataFrame) -> pd.Series:
    """Per spine row (aligned with ``spine``), where the lead stands at its as_of (see :data:`POSITIONS`).

    A lead whose latest visible stage entry is WON, LOST or DISQUALIFIED is closed (``won``, ``lost``,
    ``disqualified``); otherwise a lead whose first SQO or WON entry is at or before as_of is ``sqo`` (an
    open opportunity, recycled or not); every other lead is ``open``. Only timed entries at or before
    as_of count (:func:`leadscore.features.pit.join_as_of`): a stage reached at an unknown time (a
    Converted flag) is never visible, so such a lead is open. Entries at the same instant are ordered by
    the contract's stage order, as the funnel features order them. Without a stage_history table every
    lead is ``open``.
    """
    position = np.full(len(spine), "open", dtype=object)
    if has_table(tables, "stage_history") and len(spine):
        history = tables.stage_history[["lead_id", "stage", "entered_at"]]
        seen = join_as_of(spine.reset_index(drop=True)[["lead_id", "as_of"]], history, "entered_at")
        if len(seen):
            code = seen["stage"].astype("str").map({s: i for i, s in enumerate(STAGES)}).to_numpy(dtype="int64")
            seen = seen.assign(_t=pd.to_datetime(seen["entered_at"], utc=True), _code=code)
            latest = seen.sort_values(["row", "_t", "_code"], kind="stable").groupby("row", sort=False).tail(1)
            rows = latest["row"].to_numpy(dtype="int64")
            stage = latest["stage"].astype("str").to_numpy()
            reached = seen.loc[seen["stage"].astype("str").isin(("SQO", "WON")), "row"].unique()
            position[np.asarray(reached, dtype="int64")] = "sqo"
            closed = np.isin(stage, CLOSED_STAGES)
            position[rows[closed]] = np.char.lower(stage[closed].astype(str)).astype(object)
    return pd.Series(position, index=spine.index, name="position", dtype="str")
