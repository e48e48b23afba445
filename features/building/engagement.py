"""What the lead did: engagement counts over windows, recency, frequency, momentum and nurture e-mail.

A spine row sees its lead's events with ``occurred_at <= as_of`` (:func:`leadscore.features.pit.visible`).
A window of ``w`` days is ``as_of - w days < occurred_at <= as_of``, so an event exactly at as_of is in
every window.

"Activity" is what the lead initiated: every event but ``email_sent`` (our action) and ``unsubscribe``
(counted on its own). "High intent" is a pricing or contact page view, any form submit, a demo request,
a trial start or a booked meeting.

"Active days" are distinct 24-hour periods counted back from as_of (so a 30-day window holds exactly
30 of them, whatever the time of day of as_of). E-mail rates are over distinct nurture steps (a step
number is rounded to the nearest whole, halves to even); steps are tracked as bits 0-63, which covers any
real sequence.

:func:`engagement_row` computes one row from its lead's events (sorted by time, see
:mod:`leadscore.features.building.staging`) in one pass; the kernel (:mod:`leadscore.features.building.kernel`)
runs it for one lead of a request and for a million leads alike.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from leadscore.features.building.staging import code_mask
from leadscore.features.contract import EVENT_TYPES
from leadscore.features.pit import visible_end
from leadscore.features.timestamps import NS_PER_DAY

ACTIVITY = code_mask([t for t in EVENT_TYPES if t not in ("email_sent", "unsubscribe")])
HIGH_INTENT = code_mask(["page_view"], ("pricing", "contact")) | code_mask(
    ["form_submit", "demo_request", "trial_start", "meeting_booked"])
EMAIL = code_mask(["email_sent", "email_open", "email_click"])
OPENED = code_mask(["email_open", "email_click"])  # a click implies an open
CLICKED = code_mask(["email_click"])
SENT = code_mask(["email_sent"])
# Columns other families read but the catalogue does not list (the account context subtracts them).
OWN_HIGH_INTENT_90D = "_own_high_intent_90d"


def _counts() -> tuple[tuple[str, int, int], ...]:
    """(column, event code mask, window in days, 0 for "to date") of every count."""
    counts: list[tuple[str, int, int]] = []
    for w in (7, 30, 90):
        counts.append((f"n_activities_{w}d", ACTIVITY, w))
    counts.append(("n_activities_to_date", ACTIVITY, 0))
    for w in (7, 30, 90):
        counts.append((f"n_page_views_{w}d", code_mask(["page_view"]), w))
    for w in (7, 30, 90):
        counts.append((f"n_pricing_views_{w}d", code_mask(["page_view"], ("pricing",)), w))
    for page, windows in (("product", (30, 90)), ("contact", (30, 90)), ("docs", (90,)), ("careers", (90,))):
        for w in windows:
            counts.append((f"n_{page}_views_{w}d", code_mask(["page_view"], (page,)), w))
    per_type = (
        ("form_submits", "form_submit", (30, 90)), ("content_downloads", "content_download", (30, 90)),
        ("webinar_registers", "webinar_register", (90,)), ("webinar_attends", "webinar_attend", (90,)),
        ("demo_requests", "demo_request", (30, 90)), ("trial_starts", "trial_start", (90,)),
        ("meetings_booked", "meeting_booked", (90,)), ("ad_clicks", "ad_click", (30,)),
    )
    for name, event_type, windows in per_type:
        for w in windows:
            counts.append((f"n_{name}_{w}d", code_mask([event_type]), w))
    counts += [
        ("n_emails_sent_to_date", SENT, 0),
        ("n_email_opens_30d", code_mask(["email_open"]), 30),
        ("n_email_clicks_30d", CLICKED, 30),
        (OWN_HIGH_INTENT_90D, HIGH_INTENT, 90),
        ("_n_activities_37d", ACTIVITY, 37),  # the trend's last 7 days plus the 30 before
        ("_n_opens", code_mask(["email_open"]), 0),
        ("_n_clicks", CLICKED, 0),
        ("_n_unsubscribes", code_mask(["unsubscribe"]), 0),
    ]
    return tuple(counts)


COUNTS = _counts()
# Smallest age of an event of these codes, in days: missing where there is none.
RECENCY = (("days_since_last_activity", ACTIVITY), ("days_since_last_high_intent", HIGH_INTENT),
           ("days_since_last_email_open", OPENED))
DERIVED = ("n_active_days_30d", "n_active_days_90d", "activity_trend_7d", "max_email_step_sent", "email_open_rate",
           "email_click_rate", "is_unsubscribed")
COLUMNS = tuple(name for name, _, _ in COUNTS) + tuple(name for name, _ in RECENCY) + DERIVED
"""The columns :func:`engagement_row` writes, in this order (helpers start with ``_``)."""

_COUNT_MASKS = np.array([mask for _, mask, _ in COUNTS], dtype=np.int64)
_COUNT_WINDOWS = np.array([w * NS_PER_DAY for _, _, w in COUNTS], dtype=np.int64)
_RECENCY_MASKS = np.array([mask for _, mask in RECENCY], dtype=np.int64)
_AT = {name: i for i, name in enumerate(COLUMNS)}
_N_COUNTS, _N_RECENCY = len(COUNTS), len(RECENCY)
_ACT7, _ACT37 = _AT["n_activities_7d"], _AT["_n_activities_37d"]
_SENT, _OPENS, _CLICKS, _UNSUB = _AT["n_emails_sent_to_date"], _AT["_n_opens"], _AT["_n_clicks"], _AT["_n_unsubscribes"]
_DERIVED = _N_COUNTS + _N_RECENCY
_DAY = NS_PER_DAY


@numba.njit(inline="always")
def _step_bit(step: float) -> int:
    """The nurture step's bit (0-63), -1 for none: the step rounded to the nearest whole, halves to even."""
    if not (step >= 0.0 and step < 64.0):  # NaN fails both
        return -1
    bit = int(np.rint(step))
    return bit if bit < 64 else -1


@numba.njit(inline="always")
def popcount(mask: np.uint64) -> int:
    """How many bits of ``mask`` are set (the e-mail steps and days a mask holds; the rules count them too)."""
    count = 0
    while mask:
        mask &= mask - np.uint64(1)
        count += 1
    return count


@numba.njit
def engagement_row(t: np.ndarray, code: np.ndarray, step: np.ndarray, lo: int, hi: int, as_of: int,
                   out: np.ndarray) -> None:
    """Write :data:`COLUMNS` of one spine row into ``out`` from its lead's events ``lo:hi`` (sorted by time)."""
    n_counts = _COUNT_MASKS.shape[0]
    for k in range(n_counts):
        out[k] = 0.0
    n_recency = _RECENCY_MASKS.shape[0]
    min_age = np.full(n_recency, -1, dtype=np.int64)
    days_lo = np.uint64(0)
    days_hi = np.uint64(0)
    steps_sent = np.uint64(0)
    steps_opened = np.uint64(0)
    steps_clicked = np.uint64(0)
    max_step = -np.inf
    end = visible_end(t, lo, hi, as_of)
    for j in range(lo, end):
        age = as_of - t[j]
        bit = np.int64(1) << np.int64(code[j])
        for k in range(n_counts):
            if _COUNT_MASKS[k] & bit and (_COUNT_WINDOWS[k] == 0 or age < _COUNT_WINDOWS[k]):
                out[k] += 1.0
        for k in range(n_recency):
            if _RECENCY_MASKS[k] & bit and (min_age[k] < 0 or age < min_age[k]):
                min_age[k] = age
        if ACTIVITY & bit:
            day = age // _DAY
            if day < 64:
                days_lo |= np.uint64(1) << np.uint64(day)
            elif day < 90:
                days_hi |= np.uint64(1) << np.uint64(day - 64)
        if EMAIL & bit:
            s = step[j]
            if SENT & bit and s > max_step:  # NaN compares False: a step-less e-mail has no step
                max_step = s
            b = _step_bit(s)
            if b >= 0:
                flag = np.uint64(1) << np.uint64(b)
                steps_sent |= flag
                if OPENED & bit:
                    steps_opened |= flag
                if CLICKED & bit:
                    steps_clicked |= flag
    for k in range(n_recency):
        out[n_counts + k] = np.nan if min_age[k] < 0 else np.float64(min_age[k]) / _DAY
    base = n_counts + n_recency
    out[base] = popcount(days_lo & np.uint64((1 << 30) - 1))
    out[base + 1] = popcount(days_lo) + popcount(days_hi)
    n7 = out[_ACT7]
    out[base + 2] = n7 - (out[_ACT37] - n7) * 7 / 30
    out[base + 3] = np.nan if math.isinf(max_step) else max_step  # none sent (or an infinite step)
    sent = out[_SENT]
    n_steps = popcount(steps_sent)
    if n_steps > 0:
        out[base + 4] = popcount(steps_opened) / n_steps
        out[base + 5] = popcount(steps_clicked) / n_steps
    elif sent > 0:  # exports without step numbers: rates by event counts
        out[base + 4] = min(1.0, out[_OPENS] / sent)
        out[base + 5] = min(1.0, out[_CLICKS] / sent)
    else:
        out[base + 4] = np.nan
        out[base + 5] = np.nan
    out[base + 6] = 1.0 if out[_UNSUB] > 0 else 0.0
