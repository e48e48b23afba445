"""The one time vocabulary: how a user's timestamp becomes UTC, and the integer scale times are compared on.

Every command edge (``--as-of``, ``--since``, ``--data-end``), validation, the scorer's per-lead
``as_of`` and the report read a user's moment through :func:`to_utc` (one value) or
:func:`to_utc_column` (a column), with one policy: ISO-8601 first, offsets honoured, naive times read
as UTC (the data contract's rule), and moments outside pandas' nanosecond range (the 1677-01-01 and
9999-12-31 placeholders CRMs write) treated as unreadable rather than crashing a batch.
Inside the builders, times are int64 nanoseconds since the epoch (:func:`to_epoch_ns`), so no time
zone or unit can shift a row across ``as_of``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError

NS_PER_DAY = 86_400 * 10**9
UTC_DTYPE = "datetime64[ns, UTC]"
EXAMPLE = "2024-06-30T00:00:00Z"


def to_utc(value: object, what: str) -> pd.Timestamp:
    """One user-given moment as a UTC timestamp; :class:`LeadscoreError` naming ``what`` if unreadable.

    Examples
    --------
    >>> to_utc("2024-06-30 12:00", "--as-of")
    Timestamp('2024-06-30 12:00:00+0000', tz='UTC')
    >>> to_utc("2024-06-30T12:00:00+02:00", "--as-of")
    Timestamp('2024-06-30 10:00:00+0000', tz='UTC')
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise LeadscoreError(f"{what} is empty; use ISO-8601 such as {EXAMPLE}.")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise LeadscoreError(f"{what} {value!r} is not a timestamp; use ISO-8601 such as {EXAMPLE}.") from None
    if pd.isna(stamp):
        raise LeadscoreError(f"{what} {value!r} is not a timestamp; use ISO-8601 such as {EXAMPLE}.")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    try:
        return stamp.as_unit("ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise LeadscoreError(
            f"{what} {value!r} is outside the years 1677-2262 leadscore can compare; use a real moment such as {EXAMPLE}."
        ) from None


def to_utc_column(raw: pd.Series) -> pd.Series:
    """A column of user moments as ``datetime64[ns, UTC]``; unreadable or out-of-range values become NaT.

    Callers tell "blank" from "unreadable" by comparing with ``raw``'s own missing values.

    Examples
    --------
    >>> to_utc_column(pd.Series(["2024-06-30", "9999-12-31", "soon", None])).isna().tolist()
    [False, True, True, True]
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(raw.dtype):
        parsed = pd.Series(pd.to_datetime(raw, utc=True), index=raw.index)
    else:
        text = raw.astype("str").str.strip()
        text = text.where(text.str.len() > 0)
        parsed = pd.Series(pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601"), index=raw.index)
        retry = parsed.isna() & text.notna()
        if retry.any():
            parsed[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    low, high = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    outside = ((parsed < low) | (parsed > high)).fillna(False).to_numpy(dtype=bool)
    if outside.any():
        parsed = parsed.mask(outside)
    return parsed.astype(UTC_DTYPE)


def to_epoch_ns(values: pd.Series) -> pd.Series:
    """UTC timestamps as nullable int64 nanoseconds since the epoch (``<NA>`` for missing).

    Whatever unit or zone a frame arrived with (pandas 3 may infer microseconds), the comparison with
    ``as_of`` then happens on one integer scale, in pandas and in DuckDB alike.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        # Already timestamps (the contract's form): only the zone and the unit may need fixing.
        stamps = values if isinstance(dtype, pd.DatetimeTZDtype) else values.dt.tz_localize("UTC")
        stamps = stamps.dt.tz_convert("UTC").dt.as_unit("ns")
    else:
        stamps = pd.Series(pd.to_datetime(values, utc=True), index=values.index).astype(UTC_DTYPE)
    ns = stamps.array.asi8
    return pd.Series(pd.arrays.IntegerArray(ns, stamps.isna().to_numpy()), index=values.index, name=values.name)
