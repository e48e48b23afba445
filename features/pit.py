"""Point-in-time joins: the one place that decides which rows a (lead_id, as_of) row may see.

Feast's invariant, without Feast: every feature, label-free rule and account context is computed from
rows whose timestamp is at or before the spine row's ``as_of``. Keeping the comparison here means a
leak can only be introduced (or fixed) in one place.
"""

from __future__ import annotations

import pandas as pd

SPINE_COLUMNS = ("lead_id", "as_of")


def check_spine(spine: pd.DataFrame) -> pd.DataFrame:
    """Return ``spine`` with a string ``lead_id`` and a UTC ``as_of``; raise on missing columns."""
    missing = [c for c in SPINE_COLUMNS if c not in spine.columns]
    if missing:
        raise ValueError(f"spine is missing column(s) {missing}; it needs lead_id and as_of")
    out = spine.loc[:, list(SPINE_COLUMNS)].copy()
    out["lead_id"] = out["lead_id"].astype("str")
    out["as_of"] = pd.to_datetime(out["as_of"], utc=True).astype("datetime64[ns, UTC]")
    return out.reset_index(drop=True)


def join_as_of(
    spine: pd.DataFrame,
    frame: pd.DataFrame,
    time_column: str,
    key: str = "lead_id",
    spine_key: str | None = None,
) -> pd.DataFrame:
    """Rows of ``frame`` visible to each spine row: same key and ``time_column <= as_of``.

    Returns ``frame``'s columns plus ``row`` (the spine row's position) and ``as_of``. Rows with a
    null timestamp are never visible (their time is unknown, so they cannot be proven to precede as_of).
    An event exactly at ``as_of`` is visible: as_of is the moment of scoring, and what happened at that
    moment is known.
    """
    spine_key = spine_key or key
    left = pd.DataFrame({"row": range(len(spine)), spine_key: spine[spine_key].to_numpy(), "as_of": spine["as_of"].to_numpy()})
    joined = left.merge(frame, left_on=spine_key, right_on=key, how="inner", sort=False)
    joined = joined[joined[time_column].notna() & (joined[time_column] <= joined["as_of"])]
    return joined.reset_index(drop=True)
