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


def cut_frames(frames: dict[str, pd.DataFrame], moment: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The export as it would have been taken at ``moment``: everything learnt after it deleted.

    Leads captured later, events, stage entries, technologies first seen later and opportunities created
    later are deleted; opportunities closed later are reopened (``closed_at`` null, outcome ``open``);
    stage entries reached at an unknown time are deleted (nothing says they had happened by then); the
    export's own date columns of leads and accounts holding a later date are emptied. Static fields
    (a lead's job title, an account's size) stay as they are: the cut cannot know their earlier values.

    Features at ``as_of <= moment`` are the same on the cut and on the whole export (tested in
    ``tests/point_in_time``); features of the cut at a later ``as_of`` are "the same data seen later".
    """
    moment = pd.Timestamp(moment)
    out = dict(frames)

    def before(frame: pd.DataFrame, column: str, unknown_kept: bool = False) -> pd.DataFrame:
        times = frame[column]
        keep = (times <= moment).fillna(False)
        if unknown_kept:
            keep = keep | times.isna()
        return frame[keep.to_numpy(dtype=bool)]

    if "leads" in frames:
        out["leads"] = before(frames["leads"], "captured_at")
    if "events" in frames:
        out["events"] = before(frames["events"], "occurred_at")
    if "stage_history" in frames:
        out["stage_history"] = before(frames["stage_history"], "entered_at")
    if "technographics" in frames:
        out["technographics"] = before(frames["technographics"], "first_seen_at", unknown_kept=True)
    if "opportunities" in frames:
        opps = before(frames["opportunities"], "created_at").copy()
        later = (opps["closed_at"].notna() & (opps["closed_at"] > moment)).to_numpy(dtype=bool)
        if later.any():
            opps.loc[later, "closed_at"] = pd.NaT
            opps.loc[later, "outcome"] = "open"
        out["opportunities"] = opps
    for name, contract_time in (("leads", "captured_at"), ("accounts", None)):
        if name not in out:
            continue
        frame = out[name]
        later_dates = [c for c in frame.columns if c != contract_time
                       and isinstance(frame[c].dtype, pd.DatetimeTZDtype) and (frame[c] > moment).any()]
        if later_dates:
            frame = frame.copy()
            for column in later_dates:
                frame[column] = frame[column].where(~(frame[column] > moment))
            out[name] = frame
    return {name: frame.reset_index(drop=True) for name, frame in out.items()}
