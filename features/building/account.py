"""The lead's company: its technology stack and its buying committee, as known at as_of.

Technographics: a technology counts when its ``first_seen_at <= as_of``, or when the vendor gave no
date (a dateless fact is taken as known all along, :func:`leadscore.features.pit.visible_or_dateless`).
Technologies are told apart by their trimmed, lower-case name; categories by their lower-case text.

The buying committee is summed once per distinct (account, as_of) (:func:`committee_totals`) and then
the row's own lead is subtracted, so "other leads" costs one pass per account rather than one per pair
of leads. Another lead counts only once captured by as_of, and only its events, stage entries and deals
at or before as_of. A deal's existence is known from ``created_at``; its outcome only from ``closed_at``
(an opportunity closed won after as_of was, at as_of, simply open). Deals attached to the row's own
lead are left out: that is the lead's own funnel, not its company's history. A deal naming no account
belongs to its lead's account, once that lead is captured (before, the export cut at as_of would not
know the lead, so neither would the row).
"""

from __future__ import annotations

import numba
import numpy as np

from leadscore.features.building.catalogue import TECHNOLOGY_CATEGORIES
from leadscore.features.building.engagement import ACTIVITY, HIGH_INTENT
from leadscore.features.building.staging import OUTCOME_LOST, OUTCOME_WON
from leadscore.features.contract import STAGES
from leadscore.features.pit import NULL_TIME, visible, visible_end, visible_or_dateless
from leadscore.features.timestamps import NS_PER_DAY

TECHNOGRAPHIC_COLUMNS = ("n_technologies", "n_technologies_new_90d") + tuple(f"has_{c}" for c in TECHNOLOGY_CATEGORIES)
TOTALS = ("n_leads", "n_senior", "a30", "a90", "h90", "active30", "sqo_leads", "won_leads")
"""Per (account, as_of): its leads captured by then (the row's own lead among them), and their sums."""
DEALS = ("n_deals", "n_won", "n_lost", "n_open")
ACCOUNT_COLUMNS = ("n_account_leads", "n_account_senior_leads", "n_account_active_leads_30d", "n_account_activities_30d",
                   "n_account_activities_90d", "n_account_high_intent_90d", "account_had_sqo", "account_had_won",
                   "account_had_lost_deal", "n_account_open_opportunities")
_N_CATEGORIES = len(TECHNOLOGY_CATEGORIES)
_SQO, _WON = STAGES.index("SQO"), STAGES.index("WON")
_DAY = NS_PER_DAY


@numba.njit
def technographic_row(t: np.ndarray, tech: np.ndarray, category: np.ndarray, lo: int, hi: int, as_of: int,
                      out: np.ndarray) -> None:
    """Write :data:`TECHNOGRAPHIC_COLUMNS` from the account's technologies ``lo:hi`` (by technology, then time).

    A technology's first row is its earliest sighting (an undated one sorts first): it is known at as_of
    exactly when that row is, and it is new when that sighting is dated within the last 90 days.
    """
    for k in range(2 + _N_CATEGORIES):
        out[k] = 0.0
    for j in range(lo, hi):
        if not visible_or_dateless(t[j], as_of):
            continue
        if j == lo or tech[j] != tech[j - 1]:
            out[0] += 1.0
            if t[j] != NULL_TIME and t[j] > as_of - 90 * _DAY:
                out[1] += 1.0
        if category[j] >= 0:
            out[2 + category[j]] = 1.0


@numba.njit
def committee_totals(account: int, as_of: int, member_start: np.ndarray, members: np.ndarray,
                     captured: np.ndarray, senior: np.ndarray, event_start: np.ndarray, event_t: np.ndarray,
                     event_code: np.ndarray, stage_start: np.ndarray, stage_t: np.ndarray, stage_code: np.ndarray,
                     out: np.ndarray) -> None:
    """Write :data:`TOTALS` of one (account, as_of): its leads captured by as_of and what they did in 30 / 90 days."""
    for k in range(8):
        out[k] = 0.0
    for m in range(member_start[account], member_start[account + 1]):
        lead = members[m]
        if not visible(captured[lead], as_of):
            continue
        out[0] += 1.0
        if senior[lead]:
            out[1] += 1.0
        lo, hi = event_start[lead], event_start[lead + 1]
        end = visible_end(event_t, lo, hi, as_of)
        a30 = 0
        a90 = 0
        h90 = 0
        for j in range(end - 1, lo - 1, -1):
            if not event_t[j] > as_of - 90 * _DAY:
                break
            bit = np.int64(1) << np.int64(event_code[j])
            if ACTIVITY & bit:
                a90 += 1
                if event_t[j] > as_of - 30 * _DAY:
                    a30 += 1
                if HIGH_INTENT & bit:
                    h90 += 1
        out[2] += a30
        out[3] += a90
        out[4] += h90
        if a30 > 0:
            out[5] += 1.0
        reached_sqo = False
        reached_won = False
        lo, hi = stage_start[lead], stage_start[lead + 1]
        for j in range(lo, visible_end(stage_t, lo, hi, as_of)):
            if stage_code[j] == _SQO or stage_code[j] == _WON:
                reached_sqo = True
            if stage_code[j] == _WON:
                reached_won = True
        if reached_sqo:
            out[6] += 1.0
        if reached_won:
            out[7] += 1.0


@numba.njit
def deals_row(lead: int, as_of: int, lo: int, hi: int, deal_lead: np.ndarray, by_lead: np.ndarray,
              lead_captured: np.ndarray, created: np.ndarray, closed: np.ndarray, outcome: np.ndarray,
              out: np.ndarray) -> None:
    """Write :data:`DEALS` of one row from its account's deals ``lo:hi``, the row's own lead's left out."""
    for k in range(4):
        out[k] = 0.0
    for j in range(lo, hi):
        if by_lead[j] and not visible(lead_captured[j], as_of):
            continue
        if not visible(created[j], as_of) or deal_lead[j] == lead:
            continue
        out[0] += 1.0
        if visible(closed[j], as_of):
            if outcome[j] == OUTCOME_WON:
                out[1] += 1.0
            elif outcome[j] == OUTCOME_LOST:
                out[2] += 1.0
        else:
            out[3] += 1.0


@numba.njit(inline="always")
def _zero_nan(value: float) -> float:
    return 0.0 if np.isnan(value) else value


@numba.njit
def account_row(totals: np.ndarray, deals: np.ndarray, own_senior: bool, own_a30: float, own_a90: float,
                own_h90: float, own_sqo: float, own_won: float, out: np.ndarray) -> None:
    """Write :data:`ACCOUNT_COLUMNS`: the (account, as_of) totals less the row's own lead, and its deals."""
    own_a30 = _zero_nan(own_a30)
    out[0] = totals[0] - 1.0
    out[1] = totals[1] - (1.0 if own_senior else 0.0)
    out[2] = totals[5] - (1.0 if own_a30 > 0 else 0.0)
    out[3] = totals[2] - own_a30
    out[4] = totals[3] - _zero_nan(own_a90)
    out[5] = totals[4] - _zero_nan(own_h90)
    other_sqo = totals[6] - _zero_nan(own_sqo)
    other_won = totals[7] - _zero_nan(own_won)
    out[6] = 1.0 if (other_sqo > 0 or deals[0] > 0) else 0.0
    out[7] = 1.0 if (other_won > 0 or deals[1] > 0) else 0.0
    out[8] = 1.0 if deals[2] > 0 else 0.0
    out[9] = deals[3]
