"""The lead's company: its technology stack and its buying committee, as known at as_of.

Technographics: a technology counts when its ``first_seen_at <= as_of``, or when the vendor gave no
date (a dateless fact is taken as known all along, ``visible_sql(..., null_visible=True)``).

Account context is computed once per distinct (account, as_of) and then the row's own lead is
subtracted, so "other leads" costs one aggregation per account rather than one per pair of leads.
Another lead counts only once captured by as_of, and only its events, stage entries and deals at or
before as_of. A deal's existence is known from ``created_at``; its outcome only from ``closed_at``
(an opportunity closed won after as_of was, at as_of, simply open). Deals attached to the row's own
lead are left out: that is the lead's own funnel, not its company's history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadscore.features.building.catalogue import TECHNOLOGY_CATEGORIES
from leadscore.features.building.engagement import ACTIVITY, HIGH_INTENT, OWN_HIGH_INTENT_90D
from leadscore.features.building.stages import OWN_REACHED_SQO, OWN_REACHED_WON
from leadscore.features.contract import STAGES
from leadscore.features.pit import visible_sql
from leadscore.features.tables import Tables, has_table
from leadscore.features.timestamps import NS_PER_DAY

if TYPE_CHECKING:
    import duckdb



def _per_row(con: duckdb.DuckDBPyConnection, query: str, n_rows: int, columns: list[str], fill: float) -> pd.DataFrame:
    raw = con.execute(query).df()
    rows = raw["row"].to_numpy(dtype=np.int64)
    out = {}
    for name in columns:
        values = np.full(n_rows, fill, dtype="float64")
        values[rows] = raw[name].to_numpy(dtype="float64", na_value=np.nan)
        out[name] = values
    return pd.DataFrame(out)


def _without_account(con: duckdb.DuckDBPyConnection, n_rows: int) -> np.ndarray:
    missing = np.zeros(n_rows, dtype=bool)
    rows = con.execute("SELECT row FROM spine WHERE account IS NULL").df()["row"].to_numpy(dtype=np.int64)
    missing[rows] = True
    return missing


def build_technographic_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int) -> pd.DataFrame:
    """Technology counts and category flags per spine row (index 0..n-1).

    NaN for a lead without an account or an export without technographics; 0 for an account with no
    technology known by as_of.
    """
    flags = ", ".join(f"max(CASE WHEN category = '{c}' THEN 1 ELSE 0 END) AS has_{c}" for c in TECHNOLOGY_CATEGORIES)
    query = f"""
        WITH pairs AS (SELECT DISTINCT account, as_of FROM spine WHERE account IS NOT NULL),
        known AS (
            SELECT p.account, p.as_of, t.technology, t.category, t.t
            FROM pairs p JOIN techs t ON t.account = p.account AND {visible_sql('t.t', 'p.as_of', null_visible=True)}
        ),
        per_tech AS (
            -- the first sighting decides "new"; an undated row means known all along
            SELECT account, as_of, technology, min(coalesce(t, -9223372036854775807)) AS first_seen
            FROM known GROUP BY ALL
        ),
        per_pair AS (
            SELECT account, as_of, count(*) AS n_technologies,
                   count(*) FILTER (WHERE first_seen > as_of - {90 * NS_PER_DAY}) AS n_technologies_new_90d
            FROM per_tech GROUP BY ALL
        ),
        per_category AS (SELECT account, as_of, {flags} FROM known GROUP BY ALL)
        SELECT s.row, c.n_technologies, c.n_technologies_new_90d, {', '.join(f'f.has_{c}' for c in TECHNOLOGY_CATEGORIES)}
        FROM spine s JOIN per_pair c ON c.account = s.account AND c.as_of = s.as_of
        JOIN per_category f ON f.account = s.account AND f.as_of = s.as_of
    """
    columns = ["n_technologies", "n_technologies_new_90d"] + [f"has_{c}" for c in TECHNOLOGY_CATEGORIES]
    frame = _per_row(con, query, n_rows, columns, fill=0.0)
    if not has_table(tables, "technographics"):
        frame.loc[:, :] = np.nan
    else:
        frame.loc[_without_account(con, n_rows), :] = np.nan
    return frame


def build_account_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int, own: pd.DataFrame,
                           own_senior: np.ndarray) -> pd.DataFrame:
    """Buying-committee features per spine row (index 0..n-1), excluding the row's own lead.

    ``own`` holds the row's own engagement and funnel columns (same windows, same visibility), which
    are subtracted from the account totals. NaN for a lead without an account.
    """
    query = f"""
        WITH pairs AS (SELECT DISTINCT account, as_of FROM spine WHERE account IS NOT NULL),
        members AS (
            SELECT p.account, p.as_of, l.lead, l.senior
            FROM pairs p JOIN leads l ON l.account = p.account AND {visible_sql('l.captured', 'p.as_of')}
        ),
        member_counts AS (
            SELECT account, as_of, count(*) AS n_leads, count(*) FILTER (WHERE senior) AS n_senior
            FROM members GROUP BY ALL
        ),
        member_events AS (
            SELECT m.account, m.as_of, m.lead,
                   count(*) FILTER (WHERE e.t > m.as_of - {30 * NS_PER_DAY}) AS a30,
                   count(*) AS a90,
                   count(*) FILTER (WHERE e.code IN {HIGH_INTENT}) AS h90
            FROM members m JOIN events e ON e.lead = m.lead AND {visible_sql('e.t', 'm.as_of')}
                 AND e.t > m.as_of - {90 * NS_PER_DAY} AND e.code IN {ACTIVITY}
            GROUP BY ALL
        ),
        event_counts AS (
            SELECT account, as_of, sum(a30) AS a30, sum(a90) AS a90, sum(h90) AS h90,
                   count(*) FILTER (WHERE a30 > 0) AS active30
            FROM member_events GROUP BY ALL
        ),
        stage_counts AS (
            SELECT m.account, m.as_of,
                   count(DISTINCT m.lead) AS sqo_leads,
                   count(DISTINCT m.lead) FILTER (WHERE h.code = {STAGES.index('WON')}) AS won_leads
            FROM members m JOIN stages h ON h.lead = m.lead AND {visible_sql('h.t', 'm.as_of')}
                 AND h.code IN ({STAGES.index('SQO')}, {STAGES.index('WON')})
            GROUP BY ALL
        )
        SELECT s.row, m.n_leads, m.n_senior,
               coalesce(ev.a30, 0) AS a30, coalesce(ev.a90, 0) AS a90, coalesce(ev.h90, 0) AS h90,
               coalesce(ev.active30, 0) AS active30,
               coalesce(st.sqo_leads, 0) AS sqo_leads, coalesce(st.won_leads, 0) AS won_leads
        FROM spine s
        JOIN member_counts m ON m.account = s.account AND m.as_of = s.as_of
        LEFT JOIN event_counts ev ON ev.account = s.account AND ev.as_of = s.as_of
        LEFT JOIN stage_counts st ON st.account = s.account AND st.as_of = s.as_of
    """
    columns = ["n_leads", "n_senior", "a30", "a90", "h90", "active30", "sqo_leads", "won_leads"]
    totals = _per_row(con, query, n_rows, columns, fill=0.0)

    # A deal's account is its own, else its lead's account once that lead is captured: before that the
    # export (cut at as_of) would not know the lead, so neither would the row.
    deals = f"""
        WITH matched AS (
            SELECT s.row, s.as_of, s.lead AS own_lead, d.lead, d.created, d.closed, d.outcome
            FROM spine s JOIN opps d ON d.account = s.account
            UNION ALL
            SELECT s.row, s.as_of, s.lead AS own_lead, d.lead, d.created, d.closed, d.outcome
            FROM spine s JOIN opps d ON NOT d.named_account AND d.lead_account = s.account
                 AND {visible_sql('d.lead_captured', 's.as_of')}
        )
        SELECT row,
               count(*) AS n_deals,
               count(*) FILTER (WHERE {visible_sql('closed', 'as_of')} AND outcome = 'won') AS n_won,
               count(*) FILTER (WHERE {visible_sql('closed', 'as_of')} AND outcome = 'lost') AS n_lost,
               count(*) FILTER (WHERE NOT {visible_sql('closed', 'as_of')}) AS n_open
        FROM matched
        WHERE {visible_sql('created', 'as_of')} AND (lead IS NULL OR lead <> own_lead)
        GROUP BY row
    """
    deal_counts = _per_row(con, deals, n_rows, ["n_deals", "n_won", "n_lost", "n_open"], fill=0.0)

    def own_value(name: str) -> np.ndarray:
        return np.nan_to_num(own[name].to_numpy(dtype="float64"), nan=0.0)

    own_a30 = own_value("n_activities_30d")
    other_sqo = totals["sqo_leads"].to_numpy() - own_value(OWN_REACHED_SQO)
    other_won = totals["won_leads"].to_numpy() - own_value(OWN_REACHED_WON)
    frame = pd.DataFrame({
        "n_account_leads": totals["n_leads"].to_numpy() - 1,
        "n_account_senior_leads": totals["n_senior"].to_numpy() - own_senior.astype("float64"),
        "n_account_active_leads_30d": totals["active30"].to_numpy() - (own_a30 > 0),
        "n_account_activities_30d": totals["a30"].to_numpy() - own_a30,
        "n_account_activities_90d": totals["a90"].to_numpy() - own_value("n_activities_90d"),
        "n_account_high_intent_90d": totals["h90"].to_numpy() - own_value(OWN_HIGH_INTENT_90D),
        "account_had_sqo": ((other_sqo > 0) | (deal_counts["n_deals"].to_numpy() > 0)).astype("float64"),
        "account_had_won": ((other_won > 0) | (deal_counts["n_won"].to_numpy() > 0)).astype("float64"),
        "account_had_lost_deal": (deal_counts["n_lost"].to_numpy() > 0).astype("float64"),
        "n_account_open_opportunities": deal_counts["n_open"].to_numpy(),
    })
    if not has_table(tables, "events"):
        frame[[c for c in frame.columns if "activ" in c or "intent" in c]] = np.nan
    if not has_table(tables, "events"):
        frame[[c for c in frame.columns if "activ" in c or "intent" in c]] = np.nan
    frame.loc[_without_account(con, n_rows), :] = np.nan
    return frame
