"""Where the lead stands in the funnel at as_of: current stage, time in it, furthest stage, recycles.

Only stage entries with ``entered_at <= as_of`` count (:func:`leadscore.features.pit.visible_sql`). A lead with no
visible entry is an MCL since its capture, as :mod:`leadscore.features.funnel` counts it. Entries at the same
instant are ordered by the contract's stage order, so the result never depends on row order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadscore.features.contract import FUNNEL_ORDER, STAGES
from leadscore.features.pit import visible_sql
from leadscore.features.tables import Tables, has_table, positions
from leadscore.features.timestamps import NS_PER_DAY, to_epoch_ns

if TYPE_CHECKING:
    import duckdb

# Helper columns the account context subtracts (the lead's own SQO / WON by as_of).
OWN_REACHED_SQO = "_own_reached_sqo"
OWN_REACHED_WON = "_own_reached_won"


def build_funnel_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int,
                          lead_age_days: pd.Series) -> pd.DataFrame:
    """Funnel-state features per spine row (index 0..n-1), plus ``_own_reached_*`` helper columns.

    Without a stage_history table the state is unknown (NaN), not "MCL".
    """
    ranks = " ".join(f"WHEN {STAGES.index(stage)} THEN {rank}" for rank, stage in enumerate(FUNNEL_ORDER))
    query = f"""
        WITH visible AS (
            SELECT s.row, s.as_of, h.t, h.code, CASE h.code {ranks} END AS rank
            FROM spine s JOIN stages h ON h.lead = s.lead AND {visible_sql('h.t', 's.as_of')}
        )
        SELECT row,
               arg_max(code, CAST(t AS HUGEINT) * 16 + coalesce(code, 15)) AS current_code,
               any_value(as_of) - max(t) AS age_current,
               max(rank) AS highest_rank,
               count(*) FILTER (WHERE code = {STAGES.index('RECYCLED')}) AS n_recycles,
               count(*) FILTER (WHERE code IN ({STAGES.index('SQO')}, {STAGES.index('WON')})) > 0 AS reached_sqo,
               count(*) FILTER (WHERE code = {STAGES.index('WON')}) > 0 AS reached_won
        FROM visible GROUP BY row
    """
    raw = con.execute(query).df()
    rows = raw["row"].to_numpy(dtype=np.int64)
    stage_names = np.asarray(STAGES + ("MCL",), dtype=object)  # unknown stage text reads as MCL
    funnel_names = np.asarray(FUNNEL_ORDER, dtype=object)

    current = np.full(n_rows, "MCL", dtype=object)
    current[rows] = stage_names[raw["current_code"].to_numpy(dtype="float64", na_value=len(STAGES)).astype(int)]
    days_in = lead_age_days.to_numpy(dtype="float64").copy()
    days_in[rows] = raw["age_current"].to_numpy(dtype="float64") / NS_PER_DAY
    highest = np.zeros(n_rows, dtype=np.int64)
    highest[rows] = raw["highest_rank"].to_numpy(dtype="float64", na_value=0).astype(np.int64)
    recycles = np.zeros(n_rows)
    recycles[rows] = raw["n_recycles"].to_numpy(dtype="float64")
    own_sqo = np.zeros(n_rows)
    own_sqo[rows] = raw["reached_sqo"].to_numpy(dtype="float64")
    own_won = np.zeros(n_rows)
    own_won[rows] = raw["reached_won"].to_numpy(dtype="float64")
    frame = pd.DataFrame({
        "current_stage": current,
        "days_in_current_stage": days_in,
        "highest_stage": funnel_names[highest],
        "n_recycles": recycles,
        OWN_REACHED_SQO: own_sqo,
        OWN_REACHED_WON: own_won,
    })
    if not has_table(tables, "stage_history"):
        frame["current_stage"] = np.nan
        frame["highest_stage"] = np.nan
        frame[["days_in_current_stage", "n_recycles", OWN_REACHED_SQO, OWN_REACHED_WON]] = np.nan
    return frame


# Where a lead stands at as_of, for deciding what it may be scored for (one definition for training,
# the scorer, the rules and the report): ``closed`` positions get no probability, ``sqo`` no p_sqo.
POSITIONS = ("open", "sqo", "won", "lost", "disqualified")
CLOSED_STAGES = ("WON", "LOST", "DISQUALIFIED")


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
