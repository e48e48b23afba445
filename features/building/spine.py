"""The rows to build: a request (every lead at one as_of, or a leads file with per-lead as_of) as a spine.

``make_spine`` splits a request into the ``(lead_id, as_of)`` rows that can be built and the rows that
cannot, with a reason each, so a caller can answer for every lead it was asked about.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import NULL_TIME
from leadscore.features.tables import Tables, positions
from leadscore.features.timestamps import UTC_DTYPE, to_epoch_ns, to_moment, to_utc_column

logger = logging.getLogger(__name__)

# Why a requested row cannot be built, and the words a reader sees (the scorer's status column, the log).
EXCLUSION_REASONS = {
    "unknown_lead_id": "unknown lead_id",
    "as_of_unparseable": "as_of unreadable",
    "as_of_after_data_end": "as_of after the data's end",
    "captured_at_missing": "no captured_at",
    "captured_after_as_of": "captured after as_of",
}


def exclusion_reasons(lead_pos: np.ndarray, captured: np.ndarray, as_of_ns: np.ndarray, data_end_ns: int | np.ndarray,
                      unparseable: np.ndarray) -> np.ndarray:
    """Why each requested row cannot be built (one of :data:`EXCLUSION_REASONS`), "" where it can.

    ``lead_pos`` are positions among the leads (-1 unknown), ``captured`` every lead's capture time
    (epoch ns, ``NULL_TIME`` for none), ``as_of_ns`` each row's moment (an unreadable one is marked in
    ``unparseable``; its value is then ignored). The service judges a request's leads with this too.
    """
    captured = np.append(captured, 0)
    slot = np.where(lead_pos >= 0, lead_pos, len(captured) - 1)
    known = captured[slot] != NULL_TIME
    # An unreadable as_of has its own reason, which comes first.
    after_end = ~unparseable & (as_of_ns > data_end_ns)
    return np.select(
        [lead_pos < 0, unparseable, after_end, ~known, captured[slot] > as_of_ns],
        list(EXCLUSION_REASONS),
        default="",
    )


def judge_request(
    tables: Tables,
    as_of: pd.Timestamp | str | None = None,
    leads: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every requested row in request order with its moment and why it cannot be built ("" when it can).

    Returns a frame of ``lead_id``, ``as_of`` (UTC; NaT where unreadable) and ``reason`` (one of
    :data:`EXCLUSION_REASONS`, or ""); see :func:`make_spine` for the parameters.
    """
    global_as_of = tables.data_end if as_of is None else to_moment(as_of, "as_of", tables.data_end, tables.date_order)
    if global_as_of > tables.data_end:
        raise LeadscoreError(
            f"as_of {global_as_of:%Y-%m-%d %H:%M} is after the data's end ({tables.data_end:%Y-%m-%d %H:%M} UTC): "
            "nothing is known about that moment; give an earlier --as-of, or the export's real end with --data-end."
        )
    if leads is None:
        lead_id = tables.leads["lead_id"].astype("str").reset_index(drop=True)
        stamps = pd.Series(global_as_of, index=lead_id.index).astype(UTC_DTYPE)
        unparseable = np.zeros(len(lead_id), dtype=bool)
    else:
        if "lead_id" not in leads.columns:
            raise LeadscoreError(f"the leads file has no lead_id column (it has {', '.join(map(str, leads.columns))}).")
        request = leads.reset_index(drop=True)
        lead_id = request["lead_id"].astype("str").str.strip()
        if "as_of" in request.columns:
            raw = request["as_of"]
            parsed = to_utc_column(raw, "the leads file's as_of column", tables.date_order)
            blank = raw.isna() | (raw.astype("str").str.strip().str.len() == 0)
            unparseable = (parsed.isna() & ~blank).to_numpy()
            stamps = parsed.where(~blank, global_as_of).astype(UTC_DTYPE)
        else:
            stamps = pd.Series(global_as_of, index=lead_id.index).astype(UTC_DTYPE)
            unparseable = np.zeros(len(lead_id), dtype=bool)

    end_ns = np.full(len(lead_id), tables.data_end.as_unit("ns").value, dtype=np.int64)
    if leads is not None and "data_end" in leads.columns:
        # A row's own data end, when what is known about its lead ends earlier than the tables' (the
        # service: a lead of its export is known up to the export's end, whatever the request's moment).
        own_end = to_epoch_ns(to_utc_column(leads["data_end"].reset_index(drop=True)))
        end_ns = np.minimum(end_ns, own_end.to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max))
    pos = positions(lead_id, tables.leads["lead_id"])
    captured = to_epoch_ns(tables.leads["captured_at"]).to_numpy(dtype="int64", na_value=NULL_TIME)
    as_of_ns = to_epoch_ns(stamps).to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)
    reason = exclusion_reasons(pos, captured, as_of_ns, end_ns, unparseable)
    return pd.DataFrame({
        "lead_id": pd.array(lead_id.to_numpy(), dtype="str"),
        "as_of": stamps.reset_index(drop=True).array,
        "reason": pd.array(reason, dtype="str"),
    })


def make_spine(
    tables: Tables,
    as_of: pd.Timestamp | str | None = None,
    leads: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (lead_id, as_of) rows to build, and the requested rows that cannot be built, with a reason.

    Parameters
    ----------
    tables
        The export.
    as_of
        One moment for every row (default: ``tables.data_end``, scoring "now" on this export).
    leads
        Optional request: a frame with ``lead_id`` and an optional ``as_of`` per row (for backtests);
        a missing or blank ``as_of`` takes the global one. Without it, every lead of the export. An
        optional ``data_end`` per row ends what is known about that row's lead before the tables' end (a
        later ``as_of`` is ``as_of_after_data_end`` for that row alone).

    Returns
    -------
    spine, excluded
        ``spine`` has ``lead_id`` and ``as_of`` (UTC) in request order. ``excluded`` has ``lead_id``,
        ``as_of`` and ``reason``: ``unknown_lead_id`` (not in leads), ``as_of_unparseable`` (out of
        pandas' range too: the 1677-01-01 and 9999-12-31 placeholders CRMs write),
        ``as_of_after_data_end`` (features there would treat the unrecorded days as days of silence: a
        guess), ``captured_at_missing`` or ``captured_after_as_of`` (the lead did not exist yet, so
        nothing about it may be known). Together they hold every requested row exactly once.

    Raises
    ------
    LeadscoreError
        If ``as_of`` is not a timestamp or is after the data's end, or ``leads`` has no ``lead_id`` column.
    """
    judged = judge_request(tables, as_of, leads)
    keep = (judged["reason"] == "").to_numpy()
    spine = judged.loc[keep, ["lead_id", "as_of"]].reset_index(drop=True)
    excluded = judged.loc[~keep].reset_index(drop=True)
    if len(excluded):
        counts = excluded["reason"].value_counts()
        why = ", ".join(f"{n:,} {EXCLUSION_REASONS.get(reason, reason)}" for reason, n in counts.items())
        # The commands report these on stdout with their own rows' fate (a status, "not built").
        logger.debug("%s of %s requested rows cannot be built (%s)", f"{len(excluded):,}", f"{len(judged):,}", why)
    return spine, excluded
