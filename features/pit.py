"""Point-in-time joins: the one place that decides which rows a (lead_id, as_of) row may see.

Feast's invariant, without Feast: every feature, label-free rule and account context is computed from
rows whose timestamp is at or before the spine row's ``as_of``. Keeping the comparison here means a
leak can only be introduced (or fixed) in one place.

The rule exists in two forms that tests hold equal: :func:`join_as_of` for pandas frames, and
:func:`visible`, the same comparison compiled for the feature kernel, the rules and every other
per-lead loop. Both compare timestamps as int64 nanoseconds since the epoch in UTC
(:func:`leadscore.features.timestamps.to_epoch_ns`), so no time zone or timestamp unit can shift a row
across ``as_of``; a missing time is :data:`NULL_TIME` in the kernel's arrays.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from leadscore.features.timestamps import UTC_DTYPE

SPINE_COLUMNS = ("lead_id", "as_of")
NULL_TIME = np.iinfo(np.int64).min  # "no time" in epoch-nanosecond arrays (pandas stores NaT the same way)


def check_spine(spine: pd.DataFrame) -> pd.DataFrame:
    """Return ``spine`` with a string ``lead_id`` and a UTC ``as_of``; raise on missing columns."""
    missing = [c for c in SPINE_COLUMNS if c not in spine.columns]
    if missing:
        raise ValueError(f"spine is missing column(s) {missing}; it needs lead_id and as_of")
    out = spine.loc[:, list(SPINE_COLUMNS)].copy()
    out["lead_id"] = out["lead_id"].astype("str")
    out["as_of"] = pd.to_datetime(out["as_of"], utc=True).astype(UTC_DTYPE)
    return out.reset_index(drop=True)


def join_as_of(
    spine: pd.DataFrame,
    frame: pd.DataFrame,
    time_column: str,
    key: str = "lead_id",
    spine_key: str | None = None,
    null_visible: bool = False,
) -> pd.DataFrame:
    """Rows of ``frame`` visible to each spine row: same key and ``time_column <= as_of``.

    Returns ``frame``'s columns plus ``row`` (the spine row's position) and ``as_of``. Rows with a
    null timestamp are not visible (their time is unknown, so they cannot be proven to precede as_of),
    unless ``null_visible``: a dateless fact that is not an event, such as a technology an enrichment
    vendor lists without a first-seen date, is taken as known all along.
    An event exactly at ``as_of`` is visible: as_of is the moment of scoring, and what happened at that
    moment is known.
    """
    spine_key = spine_key or key
    left = pd.DataFrame({"row": range(len(spine)), spine_key: spine[spine_key].to_numpy(), "as_of": spine["as_of"].array})
    joined = left.merge(frame, left_on=spine_key, right_on=key, how="inner", sort=False)
    known = joined[time_column].notna()
    before = known & (joined[time_column] <= joined["as_of"])
    joined = joined[(before | ~known) if null_visible else before]
    return joined.reset_index(drop=True)


@numba.njit(inline="always")
def visible(t: int, as_of: int) -> bool:
    """:func:`join_as_of`'s rule on epoch nanoseconds: a time at or before ``as_of``; ``NULL_TIME`` never is.

    Examples
    --------
    >>> visible(5, 5), visible(6, 5), visible(NULL_TIME, 5)
    (True, False, False)
    """
    return t != NULL_TIME and t <= as_of


@numba.njit(inline="always")
def visible_or_dateless(t: int, as_of: int) -> bool:
    """:func:`join_as_of` with ``null_visible``: a dateless fact (``NULL_TIME``) is known all along.

    Examples
    --------
    >>> visible_or_dateless(NULL_TIME, 5), visible_or_dateless(6, 5)
    (True, False)
    """
    return t == NULL_TIME or t <= as_of


@numba.njit(inline="always")
def visible_end(times: np.ndarray, lo: int, hi: int, as_of: int) -> int:
    """Where the rows of ``times[lo:hi]`` (ascending, no ``NULL_TIME``) stop being :func:`visible` at ``as_of``.

    A binary search with :func:`visible` as its test, so the kernel's "rows up to as_of" is this rule.
    """
    while lo < hi:
        middle = (lo + hi) // 2
        if visible(times[middle], as_of):
            lo = middle + 1
        else:
            hi = middle
    return lo
