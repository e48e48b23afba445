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

from leadscore.features.building.staging import UNKNOWN_STAGE, Staged
from leadscore.features.contract import FUNNEL_ORDER, STAGES
from leadscore.features.pit import visible_end
from leadscore.features.tables import Tables, has_table, positions
from leadscore.features.timestamps import NS_PER_DAY, to_epoch_ns

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
POSITION_COLUMN = "funnel_position"
"""The column of ``leadscore features``' rows that holds :func:`funnel_position` (not a feature: it says
which rows a model may answer, :mod:`leadscore.scorers.status`)."""


def funnel_position(tables: Tables, spine: pd.DataFrame) -> pd.Series:
    """Per spine row (aligned with ``spine``), where the lead stands at its as_of (see :data:`POSITIONS`).

    A lead whose latest visible stage entry is WON, LOST or DISQUALIFIED is closed (``won``, ``lost``,
    ``disqualified``); otherwise a lead whose first SQO or WON entry is at or before as_of is ``sqo`` (an
    open opportunity, recycled or not); every other lead is ``open``. Only timed entries at or before
    as_of count (the rule of :func:`leadscore.features.pit.join_as_of`): a stage reached at an unknown time (a
    Converted flag) is never visible, so such a lead is open. Entries at the same instant are ordered by
    the contract's stage order, as the funnel features order them. Without a stage_history table every
    lead is ``open``.

    Worked on arrays (stage entries matched to spine rows by lead, one sort): a million leads with three
    million entries take about 5 s, where the pandas join and group-by took 20.
    """
    n = len(spine)
    position = np.full(n, "open", dtype=object)
    if not (has_table(tables, "stage_history") and n):
        return pd.Series(position, index=spine.index, name="position", dtype="str")
    history = tables.stage_history
    entered = to_epoch_ns(history["entered_at"])
    timed = entered.notna().to_numpy()
    # Spine rows grouped by lead: each entry goes to every spine row of its lead.
    lead_code, leads = pd.factorize(spine["lead_id"].astype("str"), use_na_sentinel=True)
    by_lead = np.argsort(lead_code, kind="stable")
    starts = np.searchsorted(lead_code[by_lead], np.arange(len(leads)))
    counts = np.bincount(lead_code[lead_code >= 0], minlength=len(leads))
    entry_lead = positions(history["lead_id"], pd.Series(leads, dtype="str"))
    keep = np.flatnonzero(timed & (entry_lead >= 0))
    entry_lead = entry_lead[keep]
    repeat = counts[entry_lead]
    entry = np.repeat(keep, repeat)
    offset = np.arange(len(entry)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    row = by_lead[np.repeat(starts[entry_lead], repeat) + offset]
    t = entered.to_numpy(dtype="int64", na_value=0)[entry]
    as_of = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64", na_value=np.iinfo(np.int64).min)
    visible = t <= as_of[row]
    row, t = row[visible], t[visible]
    code = positions(history["stage"], pd.Series(STAGES, dtype="str"))[entry[visible]]
    if len(row):
        reached = np.zeros(n, dtype=bool)
        reached[row[np.isin(code, [STAGES.index("SQO"), STAGES.index("WON")])]] = True
        position[reached] = "sqo"
        # Per row the latest entry; at the same instant the later stage in the contract's order.
        latest_t = np.full(n, np.iinfo(np.int64).min)
        np.maximum.at(latest_t, row, t)
        at_latest = t == latest_t[row]
        latest_code = np.full(n, -1)
        np.maximum.at(latest_code, row[at_latest], code[at_latest])
        for stage in CLOSED_STAGES:
            position[latest_code == STAGES.index(stage)] = stage.lower()
    return pd.Series(position, index=spine.index, name="position", dtype="str")


_LOST, _DISQUALIFIED = STAGES.index("LOST"), STAGES.index("DISQUALIFIED")


@numba.njit
def position_row(t: np.ndarray, code: np.ndarray, lo: int, hi: int, as_of: int) -> int:
    """:func:`funnel_position` of one row from its lead's staged stage entries ``lo:hi``, as a :data:`POSITIONS` index."""
    end = visible_end(t, lo, hi, as_of)
    if end == lo:
        return 0
    reached = False
    for j in range(lo, end):
        if code[j] == _SQO or code[j] == _WON:
            reached = True
    # The latest instant's entry latest in the contract's order (an unknown stage text closes nothing).
    latest = -1
    for j in range(end - 1, lo - 1, -1):
        if t[j] != t[end - 1]:
            break
        if code[j] != UNKNOWN_STAGE and code[j] > latest:
            latest = code[j]
    if latest == _WON:
        return 2
    if latest == _LOST:
        return 3
    if latest == _DISQUALIFIED:
        return 4
    return 1 if reached else 0


@numba.njit
def _position_rows(stage_t: np.ndarray, stage_code: np.ndarray, stage_start: np.ndarray, lead_pos: np.ndarray,
                   as_of: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lead_pos), dtype=np.int64)
    for i in range(len(lead_pos)):
        lead = lead_pos[i]
        if lead >= 0:
            out[i] = position_row(stage_t, stage_code, stage_start[lead], stage_start[lead + 1], as_of[i])
    return out


def staged_position(staged: Staged, lead_pos: np.ndarray, as_of_ns: np.ndarray) -> np.ndarray:
    """:func:`funnel_position` on a staged export, as :data:`POSITIONS` indices (an unknown lead: ``open``).

    The kernel's form of the one definition (the same answers on random exports, tested), for rows
    given as lead positions and epoch-ns moments.
    """
    return _position_rows(staged.stage_t, staged.stage_code, staged.stage_start,
                          np.ascontiguousarray(lead_pos, dtype=np.int64), np.ascontiguousarray(as_of_ns, dtype=np.int64))


def position_codes(position: pd.Series | np.ndarray) -> np.ndarray:
    """:func:`funnel_position`'s words as :data:`POSITIONS` indices."""
    return np.asarray([POSITIONS.index(p) for p in np.asarray(position, dtype=object).tolist()], dtype=np.int64)
