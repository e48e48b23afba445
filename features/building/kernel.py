"""The per-lead feature kernel: every event, stage, technology and account feature of a spine row, in numba.

One compiled function computes a row from the :class:`~leadscore.features.building.staging.Staged`
export: its lead's engagement (:func:`~leadscore.features.building.engagement.engagement_row`), funnel
(:func:`~leadscore.features.building.stages.funnel_row`), its account's technologies and buying
committee (:mod:`leadscore.features.building.account`). The same function runs for the one lead of an
HTTP request (on the calling thread) and for a million leads of an export (across the cores), so a lead's
features cannot depend on the path that built them.

The buying committee is summed once per distinct (account, as_of) before the rows subtract their own
lead (:func:`~leadscore.features.building.account.committee_totals`).
"""

from __future__ import annotations

import sys

import numba
import numpy as np

from leadscore.features import contract, pit
from leadscore.features.building import account as _account
from leadscore.features.building import catalogue, staging
from leadscore.features.building import engagement as _engagement
from leadscore.features.building import stages as _stages
from leadscore.features.building.staging import Staged
from leadscore.features.compiled import fingerprint

COLUMNS = _engagement.COLUMNS + _stages.COLUMNS + _account.TECHNOGRAPHIC_COLUMNS + _account.ACCOUNT_COLUMNS
"""The kernel's output columns, in order (names starting with ``_`` are helpers, not features)."""
AT = {name: i for i, name in enumerate(COLUMNS)}
_E = len(_engagement.COLUMNS)
_F = _E + len(_stages.COLUMNS)
_T = _F + len(_account.TECHNOGRAPHIC_COLUMNS)
_OWN = np.array([AT[n] for n in ("n_activities_30d", "n_activities_90d", _engagement.OWN_HIGH_INTENT_90D,
                                 _stages.OWN_REACHED_SQO, _stages.OWN_REACHED_WON)], dtype=np.int64)
# Rows at or above this count run across the cores; fewer run on the calling thread (waking numba's
# threads costs more than a few rows, and on busy cores a woken thread waits its turn).
PARALLEL_ROWS = 512


@numba.njit(inline="always")
def _row(i: int, lead: int, as_of: int, totals: np.ndarray, captured: np.ndarray, account: np.ndarray,
         senior: np.ndarray, event_start: np.ndarray, event_t: np.ndarray, event_code: np.ndarray,
         event_step: np.ndarray, stage_start: np.ndarray, stage_t: np.ndarray, stage_code: np.ndarray,
         tech_start: np.ndarray, tech_t: np.ndarray, tech_id: np.ndarray, tech_category: np.ndarray,
         deal_start: np.ndarray, deal_lead: np.ndarray, deal_by_lead: np.ndarray, deal_lead_captured: np.ndarray,
         deal_created: np.ndarray, deal_closed: np.ndarray, deal_outcome: np.ndarray, has_events: bool,
         has_stages: bool, out: np.ndarray) -> None:
    row = out[i]
    _engagement.engagement_row(event_t, event_code, event_step, event_start[lead], event_start[lead + 1], as_of,
                               row[0:_E])
    _stages.funnel_row(stage_t, stage_code, stage_start[lead], stage_start[lead + 1], as_of, captured[lead],
                       row[_E:_F])
    a = account[lead]
    if a < 0:
        for k in range(_F, row.shape[0]):
            row[k] = np.nan
        return
    _account.technographic_row(tech_t, tech_id, tech_category, tech_start[a], tech_start[a + 1], as_of, row[_F:_T])
    deals = np.empty(4)
    _account.deals_row(lead, as_of, deal_start[a], deal_start[a + 1], deal_lead, deal_by_lead, deal_lead_captured,
                       deal_created, deal_closed, deal_outcome, deals)
    events = 1.0 if has_events else 0.0
    stages = 1.0 if has_stages else 0.0
    _account.account_row(totals, deals, senior[lead], events * row[_OWN[0]], events * row[_OWN[1]],
                         events * row[_OWN[2]], stages * row[_OWN[3]], stages * row[_OWN[4]], row[_T:])


def _drivers(source: str) -> tuple:
    """The parallel and the serial driver, cached under the fingerprint ``source`` (:mod:`leadscore.features.compiled`)."""

    @numba.njit(parallel=True, cache=True)
    def rows_parallel(lead_pos, as_of, row_group, group_account, group_as_of, captured, account, senior, event_start,
                       event_t, event_code, event_step, stage_start, stage_t, stage_code, member_start, members,
                       tech_start, tech_t, tech_id, tech_category, deal_start, deal_lead, deal_by_lead,
                       deal_lead_captured, deal_created, deal_closed, deal_outcome, has_events, has_stages, out):
        _ = source  # the sources' fingerprint: a closure value, so part of numba's cache key
        totals = np.empty((len(group_account), 8))
        for g in numba.prange(len(group_account)):
            _account.committee_totals(group_account[g], group_as_of[g], member_start, members, captured, senior,
                                      event_start, event_t, event_code, stage_start, stage_t, stage_code, totals[g])
        for i in numba.prange(len(lead_pos)):
            _row(i, lead_pos[i], as_of[i], totals[max(row_group[i], 0)], captured, account, senior, event_start, event_t,
                 event_code, event_step, stage_start, stage_t, stage_code, tech_start, tech_t, tech_id, tech_category,
                 deal_start, deal_lead, deal_by_lead, deal_lead_captured, deal_created, deal_closed, deal_outcome,
                 has_events, has_stages, out)

    @numba.njit(cache=True)
    def rows_serial(lead_pos, as_of, row_group, group_account, group_as_of, captured, account, senior, event_start,
                     event_t, event_code, event_step, stage_start, stage_t, stage_code, member_start, members,
                     tech_start, tech_t, tech_id, tech_category, deal_start, deal_lead, deal_by_lead,
                     deal_lead_captured, deal_created, deal_closed, deal_outcome, has_events, has_stages, out):
        _ = source  # the sources' fingerprint: a closure value, so part of numba's cache key
        totals = np.empty((max(len(group_account), 1), 8))
        for g in range(len(group_account)):
            _account.committee_totals(group_account[g], group_as_of[g], member_start, members, captured, senior,
                                      event_start, event_t, event_code, stage_start, stage_t, stage_code, totals[g])
        for i in range(len(lead_pos)):
            _row(i, lead_pos[i], as_of[i], totals[max(row_group[i], 0)], captured, account, senior, event_start, event_t,
                 event_code, event_step, stage_start, stage_t, stage_code, tech_start, tech_t, tech_id, tech_category,
                 deal_start, deal_lead, deal_by_lead, deal_lead_captured, deal_created, deal_closed, deal_outcome,
                 has_events, has_stages, out)

    return rows_parallel, rows_serial


_ROWS_PARALLEL, _ROWS_SERIAL = _drivers(fingerprint(pit, contract, catalogue, staging, _engagement, _stages, _account,
                                                    sys.modules[__name__]))


def account_groups(account: np.ndarray, as_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's (account, as_of) group (-1 without an account), and each group's account and as_of."""
    n = len(account)
    row_group = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(account >= 0)
    if len(rows) == 0:
        return row_group, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = rows[np.lexsort((as_of[rows], account[rows]))]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (account[order[1:]] != account[order[:-1]]) | (as_of[order[1:]] != as_of[order[:-1]])
    number = np.cumsum(new) - 1
    row_group[order] = number
    firsts = order[new]
    return row_group, account[firsts].astype(np.int64), as_of[firsts].astype(np.int64)


def kernel_rows(staged: Staged, lead_pos: np.ndarray, as_of_ns: np.ndarray) -> np.ndarray:
    """:data:`COLUMNS` for spine rows (lead positions in ``staged``, as_of in epoch ns): an ``n × len(COLUMNS)`` matrix.

    Technographic and account columns are NaN for a lead without an account; whether a table was in
    the export at all is for the caller (:mod:`leadscore.features.building.builder`) to apply.
    """
    lead_pos = np.ascontiguousarray(lead_pos, dtype=np.int64)
    as_of_ns = np.ascontiguousarray(as_of_ns, dtype=np.int64)
    out = np.empty((len(lead_pos), len(COLUMNS)), dtype=np.float64)
    if len(lead_pos) == 0:
        return out
    row_group, group_account, group_as_of = account_groups(staged.account[lead_pos], as_of_ns)
    s = staged
    run = _ROWS_PARALLEL if len(lead_pos) >= PARALLEL_ROWS else _ROWS_SERIAL
    run(lead_pos, as_of_ns, row_group, group_account, group_as_of, s.captured, s.account, s.senior, s.event_start,
        s.event_t, s.event_code, s.event_step, s.stage_start, s.stage_t, s.stage_code, s.member_start, s.members,
        s.tech_start, s.tech_t, s.tech_id, s.tech_category, s.deal_start, s.deal_lead, s.deal_by_lead,
        s.deal_lead_captured, s.deal_created, s.deal_closed, s.deal_outcome, s.has("events"), s.has("stage_history"),
        out)
    return out
