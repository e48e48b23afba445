"""Funnel counts as the worked example tabulates them: leads that reached each stage, and conversions.

A lead "reached" a stage when its history holds that stage or any later forward stage (a WON lead whose
CRM skipped the SQO entry still counts as an SQO), so counts never rise along the funnel and every
stage-to-stage rate is a true conversion rate. The demo, the generator's checks and the report all
read funnel numbers from here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.contract import FUNNEL_ORDER

_RANK = {stage: rank for rank, stage in enumerate(FUNNEL_ORDER)}


def highest_stage_rank(leads: pd.DataFrame, stage_history: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.Series:
    """Per lead (indexed by lead_id) the rank in ``FUNNEL_ORDER`` of the furthest stage reached.

    Every lead counts as an MCL (rank 0) from capture. With ``as_of`` only stage entries at or before
    it count.
    """
    history = stage_history
    if as_of is not None:
        history = history[history["entered_at"] <= as_of]
    ranks = history["stage"].map(_RANK).astype("float64")
    reached = ranks.groupby(history["lead_id"]).max()
    lead_ids = leads["lead_id"]
    out = reached.reindex(lead_ids.to_numpy()).fillna(0).astype("int64")
    out.index = pd.Index(lead_ids.to_numpy(), name="lead_id")
    return out


def summarize_funnel(
    leads: pd.DataFrame,
    stage_history: pd.DataFrame,
    by: str | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Count of leads reaching each stage, % of the previous stage and % of MCL.

    Parameters
    ----------
    leads, stage_history
        Contract frames (``leads`` may be a subset, e.g. one period or one campaign).
    by
        Optional leads column to break the funnel down by (channel, campaign, a region column joined
        in by the caller …). Missing values are shown as "(none)".
    as_of
        Count only stage entries at or before this time.

    Returns
    -------
    pandas.DataFrame
        One row per (group, stage) with columns ``stage``, ``n_leads``, ``pct_of_previous``,
        ``pct_of_mcl`` (percentages 0–100, NaN where the base is zero), plus ``by`` when given.
    """
    rank = highest_stage_rank(leads, stage_history, as_of)
    frame = pd.DataFrame({"rank": rank.to_numpy()})
    if by is not None:
        frame[by] = leads[by].astype("object").fillna("(none)").to_numpy()
        groups = frame.groupby(by, sort=True)
    else:
        groups = [(None, frame)]
    rows = []
    for key, group in groups:
        counts = [(group["rank"] >= _RANK[stage]).sum() for stage in FUNNEL_ORDER]
        for i, stage in enumerate(FUNNEL_ORDER):
            previous = counts[i - 1] if i else np.nan
            row = {
                "stage": stage,
                "n_leads": int(counts[i]),
                "pct_of_previous": 100.0 * counts[i] / previous if i and previous else np.nan,
                "pct_of_mcl": 100.0 * counts[i] / counts[0] if counts[0] else np.nan,
            }
            if by is not None:
                row = {by: key, **row}
            rows.append(row)
    # Named columns even without a row: grouped by ``by``, an empty cohort has no group at all.
    return pd.DataFrame(rows, columns=[*([by] if by is not None else []), "stage", "n_leads", "pct_of_previous", "pct_of_mcl"])


def format_funnel(table: pd.DataFrame) -> str:
    """The funnel table as aligned text, like the worked example's (stage, count, % previous, % MCL)."""
    lines = [f"{'stage':<6} {'count':>9} {'% of previous':>14} {'% of MCL':>9}"]
    for row in table.itertuples(index=False):
        previous = "–" if np.isnan(row.pct_of_previous) else f"{row.pct_of_previous:.1f}%"
        mcl = "–" if np.isnan(row.pct_of_mcl) else f"{row.pct_of_mcl:.1f}%"
        lines.append(f"{row.stage:<6} {row.n_leads:>9,} {previous:>14} {mcl:>9}")
    return "\n".join(lines)
