"""The one time vocabulary: how written moments become UTC, and the integer scale times are compared on.

One policy for every moment, the export's and the user's alike (:func:`read_moments`): ISO-8601 first
(offsets honoured, naive times read as UTC, the data contract's rule), then the layouts CRMs and
spreadsheets write (``2025/04/03``, ``03.04.2025``, ``3 Apr 2025``, ``03/04/2025``...). Slashed dates
whose day/month order nothing rules out are never guessed: the mapping file's ``date_order``
(``day_first`` / ``month_first``) settles them, else they are refused. Moments outside pandas'
nanosecond range (the 1677-01-01 and 9999-12-31 placeholders CRMs write) are unreadable, never a crash.

The export's columns are read through :func:`leadscore.features.reading.coerce.parse_timestamps` (a fast
Arrow path in front of :func:`read_moments`); a user's moments through :func:`to_utc` (one value:
``--as-of``, ``--data-end``, the service's ``as_of``), :func:`to_utc_column` (a column: a ``--leads``
file's ``as_of``) and :func:`to_moment` (a command-line option that may also be relative to the data's
end: ``--since 14d``). Inside the builders times are int64 nanoseconds since the epoch
(:func:`to_epoch_ns`, the one conversion), so no time zone or unit can shift a row across ``as_of``.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError

NS_PER_DAY = 86_400 * 10**9
UTC_DTYPE = "datetime64[ns, UTC]"
EXAMPLE = "2024-06-30T00:00:00Z"
ORDER_FIX = ("write ISO-8601 dates (2024-03-05T14:00:00Z), or add `date_order: day_first` (or `month_first`) at "
             "the top of the mapping file")
DATE_ORDERS = {"day_first": "dmy", "month_first": "mdy"}
# Common non-ISO layouts CRMs and spreadsheets write, tried in turn on what ISO-8601 could not read.
# ``order`` says whether a layout puts the month or the day first; one column uses one order only.
DATE_FORMATS: tuple[tuple[str, str | None], ...] = (
    ("%Y/%m/%d %H:%M:%S", None), ("%Y/%m/%d %H:%M", None), ("%Y/%m/%d", None),
    ("%m/%d/%Y %H:%M:%S", "mdy"), ("%m/%d/%Y %H:%M", "mdy"), ("%m/%d/%Y %I:%M:%S %p", "mdy"),
    ("%m/%d/%Y %I:%M %p", "mdy"), ("%m/%d/%Y", "mdy"), ("%m/%d/%y %H:%M", "mdy"), ("%m/%d/%y", "mdy"),
    ("%d/%m/%Y %H:%M:%S", "dmy"), ("%d/%m/%Y %H:%M", "dmy"), ("%d/%m/%Y", "dmy"),
    ("%d/%m/%y %H:%M", "dmy"), ("%d/%m/%y", "dmy"),
    ("%d.%m.%Y %H:%M:%S", None), ("%d.%m.%Y %H:%M", None), ("%d.%m.%Y", None),
    ("%d-%m-%Y %H:%M:%S", None), ("%d-%m-%Y", None),
    ("%d %b %Y %H:%M:%S", None), ("%d %b %Y", None), ("%b %d, %Y %H:%M:%S", None), ("%b %d, %Y", None),
    ("%a, %d %b %Y %H:%M:%S %z", None),
)
FORMAT_SAMPLE = 1000
RELATIVE = re.compile(r"^\s*(\d+)\s*d\s*$", re.IGNORECASE)


def read_moments(text: pd.Series, date_order: str | None = None) -> tuple[pd.Series, str | None]:
    """Written moments (text, nulls where blank) as ``datetime64[ns, UTC]``, NaT where unreadable.

    Returns ``(parsed, note)``: ``note`` says which day/month order was guessed where nothing in
    ``text`` rules out the other (only without ``date_order``; the callers refuse the column then).

    Examples
    --------
    >>> dates = pd.Series(["03/04/2025", "13/04/2025"])
    >>> read_moments(dates)[0].dt.strftime("%d %b").tolist()
    ['03 Apr', '13 Apr']
    >>> read_moments(pd.Series(["03/04/2025"]))[1] is not None
    True
    >>> read_moments(pd.Series(["03/04/2025"]), "month_first")[0].dt.strftime("%d %b").tolist()
    ['04 Mar']
    """
    parsed, _ = within_ns_range(pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce"))
    left = text.notna() & parsed.isna()
    note = None
    if left.any():
        parsed, note = _read_other_formats(text[left], parsed, DATE_ORDERS.get(date_order or ""))
    return parsed, note


def within_ns_range(aware: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """UTC timestamps at nanosecond resolution, and where they were outside 1677-2262 (now NaT)."""
    try:
        return aware.astype(UTC_DTYPE), np.zeros(len(aware), dtype=bool)
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        low, high = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
        outside = ((aware < low) | (aware > high)).fillna(False).to_numpy(dtype=bool)
        return aware.mask(outside).astype(UTC_DTYPE), outside


def _read_other_formats(remaining: pd.Series, parsed: pd.Series, order: str | None = None) -> tuple[pd.Series, str | None]:
    """Fill ``parsed`` from ``remaining`` with the layout that reads most of a sample, repeatedly.

    ``order`` ("dmy" / "mdy") fixes the day/month order of slashed dates; without it the order is
    taken from the data (one order for the whole column), and a note says so when no value rules out
    the other order.
    """
    guessing = order is None
    note = None
    candidates = list(DATE_FORMATS)
    while len(remaining) and candidates:
        sample = pd.Series(remaining.unique()[:FORMAT_SAMPLE], dtype="str")
        scores = [
            (int(pd.to_datetime(sample, format=fmt, utc=True, errors="coerce").notna().sum()), -rank, fmt, fmt_order)
            for rank, (fmt, fmt_order) in enumerate(candidates)
            if order is None or fmt_order in (None, order)
        ]
        best = max(scores, default=(0, 0, "", None))
        n_read, _, fmt, fmt_order = best
        if n_read == 0:
            break
        candidates = [c for c in candidates if c[0] != fmt]
        got, _ = within_ns_range(pd.to_datetime(remaining, format=fmt, utc=True, errors="coerce"))
        ok = got.notna()
        parsed = parsed.copy()
        parsed[ok[ok].index] = got[ok]
        if fmt_order is not None and order is None:
            order = fmt_order
        if fmt_order is not None and guessing and note is None:
            other = fmt.replace("%m/%d", "%D/%M").replace("%d/%m", "%m/%d").replace("%D/%M", "%d/%m")
            read_values = remaining[ok]
            if pd.to_datetime(read_values, format=other, utc=True, errors="coerce").notna().all():
                note = (f"dates such as {read_values.iloc[0]!r} could be read month first (MM/DD) or day first (DD/MM); "
                        "nothing in the column rules out either")
        remaining = remaining[~ok]
    return parsed, note


def to_utc_column(raw: pd.Series, what: str = "as_of", date_order: str | None = None) -> pd.Series:
    """A column of user moments as ``datetime64[ns, UTC]``; unreadable or out-of-range values become NaT.

    Callers tell "blank" from "unreadable" by comparing with ``raw``'s own missing values.

    Raises
    ------
    LeadscoreError
        Naming ``what`` when slashed dates read both ways and ``date_order`` does not say which.

    Examples
    --------
    >>> to_utc_column(pd.Series(["2024-06-30", "9999-12-31", "soon", None])).isna().tolist()
    [False, True, True, True]
    """
    parsed, note = _read_column(raw, date_order)
    if note:
        raise LeadscoreError(f"{what}: {note}, so leadscore will not guess; {ORDER_FIX}.")
    return parsed


def _read_column(raw: pd.Series, date_order: str | None) -> tuple[pd.Series, str | None]:
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(raw.dtype):
        aware = pd.Series(pd.to_datetime(raw, utc=True), index=raw.index)
        return within_ns_range(aware)[0], None
    if pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
        # Epoch numbers are ambiguous (seconds? milliseconds?), as in an export: unreadable, never guessed.
        return pd.Series(pd.NaT, index=raw.index, dtype=UTC_DTYPE), None
    text = raw.astype("str").str.strip()
    text = text.where(raw.notna() & (text.str.len() > 0))
    return read_moments(text, date_order)


def to_utc(value: object, what: str, date_order: str | None = None) -> pd.Timestamp:
    """One user-given moment as a UTC timestamp; :class:`LeadscoreError` naming ``what`` if unreadable.

    Examples
    --------
    >>> to_utc("2024-06-30 12:00", "--as-of")
    Timestamp('2024-06-30 12:00:00+0000', tz='UTC')
    >>> to_utc("2024-06-30T12:00:00+02:00", "--as-of")
    Timestamp('2024-06-30 10:00:00+0000', tz='UTC')
    >>> to_utc("13/04/2025", "--as-of")
    Timestamp('2025-04-13 00:00:00+0000', tz='UTC')
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise LeadscoreError(f"{what} is empty; use ISO-8601 such as {EXAMPLE}.")
    if isinstance(value, dt.datetime | np.datetime64):
        column = pd.Series([pd.Timestamp(value)])
        column = column.dt.tz_localize("UTC") if column.dt.tz is None else column
    else:
        column = pd.Series([str(value)], dtype="str")
    parsed, note = _read_column(column, date_order)
    if note:
        raise LeadscoreError(f"{what} {value!r} could be read month first (MM/DD) or day first (DD/MM), so "
                             f"leadscore will not guess; {ORDER_FIX}.")
    stamp = parsed.iloc[0]
    if pd.isna(stamp):
        raise LeadscoreError(f"{what} {value!r} is not a timestamp between the years 1677 and 2262 that leadscore "
                             f"can compare; use ISO-8601 such as {EXAMPLE}.")
    return stamp


def to_moment(value: object, what: str, data_end: pd.Timestamp, date_order: str | None = None) -> pd.Timestamp:
    """A command-line moment: as :func:`to_utc`, or ``<N>d`` for N days before the data's end.

    ``--since 14d`` means the last 14 days of the export, whenever it was taken.

    Examples
    --------
    >>> to_moment("14d", "--since", pd.Timestamp("2025-07-01 12:00", tz="UTC"))
    Timestamp('2025-06-17 12:00:00+0000', tz='UTC')
    """
    relative = RELATIVE.match(value) if isinstance(value, str) else None
    if relative:
        return data_end - pd.Timedelta(days=int(relative.group(1)))
    return to_utc(value, what, date_order)


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
