"""The demo generator's engagement events: the nurture e-mails and everything a lead does on the web.

Events are *emissions*: their rates depend on the lead's latent traits and on the funnel state it is
in, never the other way round, so the truth computed by ``leadscore.features.synthetic.funnel`` stays exact.
They carry the signal a model can learn:

- volume follows intent and the activity profile (fading interest after capture, a later buying
  window), so recent engagement means a live buyer;
- the mix follows intent, the buying window and the stage: pricing, contact, demo and trial for
  buyers; blog and careers for students; heavy product and pricing views but no forms for competitors;
- after a lead advances (MQL, SAL, SQL, SQO) it engages more and differently (meetings, pricing,
  trials), as in real life, so features that peek past their as_of look too good;
- transitions leave traces at or after the moment they happen (a contact form on becoming an MQL, a
  meeting after SAL), never before, so nothing before a snapshot foretells a later move.

The nurture sequence is the worked example's: e-mails 1 and 2 to every lead with consent, e-mails 3-5
only to those who opened e-mail 1 or 2 before e-mail 3 goes out; an unsubscribe stops later e-mails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore.features.contract import EVENT_CHANNELS, EVENT_TYPES, LEAD_CHANNELS, PAGE_TYPES
from leadscore.features.synthetic.funnel import (
    DISQ,
    DORMANT,
    LOST,
    MEL,
    MQL,
    RECYCLED,
    SAL,
    SQL,
    SQO_H,
    SQO_L,
    SQO_W,
    STATES,
    WON,
)
from leadscore.features.synthetic.world import (
    JUNK_COMPETITOR,
    JUNK_STUDENT,
    NS_PER_DAY,
    NS_PER_SECOND,
    People,
)

ET = {name: i for i, name in enumerate(EVENT_TYPES)}
PT = {name: i for i, name in enumerate(PAGE_TYPES)}
CH = {name: i for i, name in enumerate(EVENT_CHANNELS)}

# Touch kinds: (event_type, page_type or None, base weight).
TOUCHES = (
    ("page_view", "home", 14.0), ("page_view", "product", 10.0), ("page_view", "pricing", 2.5),
    ("page_view", "contact", 1.2), ("page_view", "blog", 16.0), ("page_view", "docs", 3.0),
    ("page_view", "careers", 2.0), ("page_view", "other", 6.0), ("form_submit", "contact", 0.4),
    ("content_download", None, 3.5), ("webinar_register", None, 1.3), ("demo_request", None, 0.25),
    ("trial_start", None, 0.15), ("ad_click", None, 8.0), ("meeting_booked", None, 0.03),
)
_KIND = {(t[0], t[1]): i for i, t in enumerate(TOUCHES)}


def _mult(**kw: float) -> np.ndarray:
    m = np.ones(len(TOUCHES))
    for key, value in kw.items():
        event, _, page = key.partition("__")
        m[_KIND[(event, page or None)]] = value
    return m


# Mix multipliers by stage group, intent tier, buying window and junk kind.
STAGE_GROUP = np.zeros(len(STATES), dtype=np.int64)
STAGE_GROUP[[MQL, SAL]] = 1
STAGE_GROUP[[SQL, SQO_W, SQO_L, SQO_H]] = 2
STAGE_GROUP[WON] = 3
STAGE_GROUP[[LOST, DISQ]] = 4
STAGE_MIX = (
    _mult(),
    _mult(page_view__pricing=2.0, page_view__contact=2.0, page_view__product=1.5, demo_request=3.0, meeting_booked=20.0, ad_click=0.6),
    _mult(page_view__pricing=3.5, page_view__product=1.8, page_view__docs=2.0, trial_start=8.0, meeting_booked=40.0, demo_request=2.0, ad_click=0.4, page_view__blog=0.6),
    _mult(page_view__docs=6.0, page_view__pricing=0.5, page_view__careers=1.0, meeting_booked=5.0, ad_click=0.2, content_download=0.5, webinar_register=1.5),
    _mult(page_view__pricing=0.4, page_view__contact=0.3, demo_request=0.1, form_submit__contact=0.2, page_view__blog=1.4),
)
INTENT_MIX = (
    _mult(page_view__pricing=0.4, page_view__contact=0.4, form_submit__contact=0.3, demo_request=0.2, page_view__blog=1.3, page_view__careers=1.5, trial_start=0.3),
    _mult(),
    _mult(page_view__product=1.5, page_view__pricing=2.5, page_view__contact=2.0, form_submit__contact=2.5, content_download=1.3, webinar_register=1.5, demo_request=3.0, trial_start=2.0),
)
WINDOW_MIX = (
    _mult(),
    _mult(page_view__pricing=2.2, page_view__contact=1.8, form_submit__contact=2.0, demo_request=2.5, page_view__product=1.4, trial_start=1.8, page_view__blog=0.8),
)
JUNK_MIX = (
    _mult(),
    _mult(page_view__careers=6.0, page_view__blog=2.0, content_download=2.0, page_view__pricing=0.3, demo_request=0.1, meeting_booked=0.0, trial_start=0.3, form_submit__contact=0.3),
    _mult(page_view__pricing=4.0, page_view__product=3.0, page_view__docs=3.0, form_submit__contact=0.1, demo_request=0.5, meeting_booked=0.0, trial_start=1.5, ad_click=0.3),
)

# Engagement per day relative to the lead's base rate: multiplier on the activity profile, and a level
# that does not fade (sales processes keep a lead busy whatever its marketing interest).
ACTIVITY_MULT = np.ones(len(STATES))
ACTIVITY_MULT[[MEL, MQL, SAL, SQL, SQO_W, SQO_L, SQO_H]] = (1.4, 2.0, 2.6, 3.0, 3.4, 3.0, 3.4)
ACTIVITY_MULT[[WON, LOST, RECYCLED, DORMANT, DISQ]] = (0.8, 0.4, 0.6, 0.4, 0.25)
STAGE_LEVEL = np.zeros(len(STATES))
STAGE_LEVEL[[MQL, SAL, SQL, SQO_W, SQO_L, SQO_H, WON]] = (0.12, 0.3, 0.4, 0.45, 0.35, 0.45, 0.08)
BASE_RATE, BACKGROUND = 0.47, 0.02
WEEKEND_KEEP = 0.45
TOUCH_CHUNK = 400_000  # spell pieces per chunk (about two million touches)

# Nurture sequence: days after capture of e-mails 2-5 (e-mail 1 goes out minutes after capture), open
# and click-given-open intercepts, calibrated so open and click rates match the worked example.
EMAIL_SEND_DAYS = (0.0, 3.0, 7.5, 12.0, 18.0)
EMAIL_OPEN_C = (-0.6, -1.0, -0.95, -1.27, -1.47)
EMAIL_CLICK_C = (-1.65, -1.65, -1.45, -1.7, -2.15)
UNSUBSCRIBE_RATE = 0.01

# Event channel mix (paid, organic, direct, social, email) by the lead's acquisition channel group.
CHANNEL_MIX_SOCIAL = (0.22, 0.25, 0.20, 0.23, 0.10)
CHANNEL_MIX_SEARCH = (0.30, 0.40, 0.20, 0.03, 0.07)
CHANNEL_MIX_OTHER = (0.15, 0.35, 0.30, 0.08, 0.12)


@dataclass
class EventArrays:
    """Events as parallel arrays: lead number, time (ns), codes (-1 = null, email_step 0 = null)."""

    lead: np.ndarray
    time_ns: np.ndarray
    event_type: np.ndarray
    page_type: np.ndarray
    email_step: np.ndarray
    channel: np.ndarray

    def __len__(self) -> int:
        return len(self.lead)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _events(lead, time_ns, event_type, page_type=-1, email_step=0, channel=-1) -> EventArrays:
    n = len(lead)

    def full(v, dtype):
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

    return EventArrays(
        lead=np.asarray(lead, dtype=np.int32), time_ns=np.asarray(time_ns, dtype=np.int64),
        event_type=full(event_type, np.int8), page_type=full(page_type, np.int8),
        email_step=full(email_step, np.int8), channel=full(channel, np.int8),
    )


def concat_events(parts: list[EventArrays]) -> EventArrays:
    return EventArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("lead", "time_ns", "event_type", "page_type", "email_step", "channel")))


def draw_nurture_emails(people: People, data_end_ns: int, rng: np.random.Generator) -> EventArrays:
    """The five-step nurture sequence for leads with e-mail consent, with opens, clicks, unsubscribes."""
    leads = np.flatnonzero(people.email_consent)
    m = len(leads)
    captured = people.captured_ns[leads]
    intent, resp = people.intent[leads], people.responsiveness[leads]
    unsubscribed_at = np.full(m, np.iinfo(np.int64).max)
    opened_early = np.full(m, np.iinfo(np.int64).max)  # first open of e-mail 1 or 2
    parts = []
    for step, day in enumerate(EMAIL_SEND_DAYS, start=1):
        if step == 1:
            sent_at = captured + rng.integers(60, 1800, m) * NS_PER_SECOND
        else:
            base = captured + int(day * NS_PER_DAY)
            hour = rng.normal(14.0, 1.5, m) % 24
            sent_at = base - base % NS_PER_DAY + (hour * 3600).astype(np.int64) * NS_PER_SECOND
            sent_at = np.where(sent_at <= base, sent_at + NS_PER_DAY, sent_at)
        gets = (sent_at < unsubscribed_at) & (sent_at <= data_end_ns)
        if step >= 3:
            gets &= opened_early < sent_at
        idx = np.flatnonzero(gets)
        parts.append(_events(leads[idx], sent_at[idx], ET["email_sent"], email_step=step, channel=CH["email"]))
        opens = idx[rng.random(len(idx)) < _sigmoid(EMAIL_OPEN_C[step - 1] + 1.0 * resp[idx])]
        lag = np.exp(rng.normal(np.log(0.15), 1.1, len(opens))) * NS_PER_DAY
        opened_at = sent_at[opens] + lag.astype(np.int64)
        if step <= 2:
            opened_early[opens] = np.minimum(opened_early[opens], opened_at)
        keep = opened_at <= data_end_ns
        parts.append(_events(leads[opens[keep]], opened_at[keep], ET["email_open"], email_step=step, channel=CH["email"]))
        clicks = rng.random(len(opens)) < _sigmoid(EMAIL_CLICK_C[step - 1] + 0.5 * intent[opens])
        clicked_at = opened_at[clicks] + rng.integers(20, 1800, int(clicks.sum())) * NS_PER_SECOND
        keep = clicked_at <= data_end_ns
        parts.append(_events(leads[opens[clicks][keep]], clicked_at[keep], ET["email_click"], email_step=step, channel=CH["email"]))
        quits = idx[rng.random(len(idx)) < np.minimum(UNSUBSCRIBE_RATE * np.exp(-0.5 * intent[idx]), 0.05)]
        quit_at = sent_at[quits] + (np.exp(rng.normal(np.log(0.2), 1.0, len(quits))) * NS_PER_DAY).astype(np.int64)
        unsubscribed_at[quits] = np.minimum(unsubscribed_at[quits], quit_at)
    done = np.flatnonzero(unsubscribed_at <= data_end_ns)
    parts.append(_events(leads[done], unsubscribed_at[done], ET["unsubscribe"], channel=CH["email"]))
    return concat_events(parts)


def _spell_pieces(
    people: People, lead: np.ndarray, start_ns: np.ndarray, state: np.ndarray, data_end_ns: int
) -> tuple[np.ndarray, ...]:
    """Cut each lead's stage spells at its buying-window edges: (lead, a, b, state, window flag) in days."""
    order = np.lexsort((start_ns, lead))
    lead, start_ns, state = lead[order], start_ns[order], state[order]
    end_ns = np.empty_like(start_ns)
    end_ns[:-1] = start_ns[1:]
    last_of_lead = np.ones(len(lead), dtype=bool)
    last_of_lead[:-1] = lead[1:] != lead[:-1]
    end_ns[last_of_lead] = data_end_ns
    captured = people.captured_ns[lead]
    a = (start_ns - captured) / NS_PER_DAY
    b = (end_ns - captured) / NS_PER_DAY
    ws, we = people.window_start_days[lead], people.window_start_days[lead] + people.window_days[lead]
    has_window = people.window_strength[lead] > 0
    cuts = (
        (a, np.where(has_window, np.minimum(b, ws), b), False, np.ones(len(lead), dtype=bool)),
        (np.maximum(a, ws), np.minimum(b, we), True, has_window),
        (np.maximum(a, we), b, False, has_window),
    )
    out = []
    for lo, hi, in_window, applies in cuts:
        keep = applies & (hi > lo)
        out.append((lead[keep], lo[keep], hi[keep], state[keep], np.full(int(keep.sum()), in_window)))
    return tuple(np.concatenate([o[k] for o in out]) for k in range(5))


def draw_web_touches(
    people: People, spell_lead: np.ndarray, spell_start_ns: np.ndarray, spell_state: np.ndarray,
    data_end_ns: int, rng: np.random.Generator,
) -> EventArrays:
    """Web visits, downloads, webinars, demo requests, trials, ad clicks and meetings, as Poisson streams.

    Drawn in chunks of spell pieces so that a million leads never hold every intermediate at once.
    """
    lead, a, b, state, in_window = _spell_pieces(people, spell_lead, spell_start_ns, spell_state, data_end_ns)
    parts = []
    for lo in range(0, len(lead), TOUCH_CHUNK):
        chunk = slice(lo, lo + TOUCH_CHUNK)
        parts.append(_draw_touch_chunk(people, lead[chunk], a[chunk], b[chunk], state[chunk], in_window[chunk], data_end_ns, rng))
    touches = concat_events(parts) if parts else _events(np.zeros(0), np.zeros(0), 0)

    # Webinar attendance follows registration, more often for buyers.
    reg = np.flatnonzero(touches.event_type == ET["webinar_register"])
    attends = reg[rng.random(len(reg)) < _sigmoid(-0.3 + 0.6 * people.intent[touches.lead[reg]])]
    attend_at = touches.time_ns[attends] + rng.integers(NS_PER_DAY // NS_PER_SECOND, 10 * NS_PER_DAY // NS_PER_SECOND, len(attends)) * NS_PER_SECOND
    ok = attend_at <= data_end_ns
    attended = _events(touches.lead[attends[ok]], attend_at[ok], ET["webinar_attend"], channel=CH["direct"])
    return concat_events([touches, attended])


def _draw_touch_chunk(
    people: People, lead: np.ndarray, a: np.ndarray, b: np.ndarray, state: np.ndarray, in_window: np.ndarray,
    data_end_ns: int, rng: np.random.Generator,
) -> EventArrays:
    tau = people.tau_days[lead]
    junk = people.junk[lead]
    base = BASE_RATE * np.exp(0.5 * people.intent[lead] + 0.1 * people.fit[lead]) * np.where(junk == JUNK_COMPETITOR, 1.5, np.where(junk == JUNK_STUDENT, 1.2, 1.0))
    decay_mass = base * ACTIVITY_MULT[state] * tau * (np.exp(-a / tau) - np.exp(-b / tau))
    level = ACTIVITY_MULT[state] * np.where(in_window, people.window_strength[lead], 0.0) + STAGE_LEVEL[state] + BACKGROUND
    n_decay = rng.poisson(decay_mass)
    n_level = rng.poisson(base * level * (b - a))
    pieces = np.arange(len(lead), dtype=np.int32)
    piece = np.concatenate([np.repeat(pieces, n_decay), np.repeat(pieces, n_level)])
    u = rng.random(len(piece))
    k = len(piece) - int(n_level.sum())
    pa, pb, pt = a[piece], b[piece], tau[piece]
    days = np.empty(len(piece))
    ea, eb = np.exp(-pa[:k] / pt[:k]), np.exp(-pb[:k] / pt[:k])
    days[:k] = -pt[:k] * np.log(ea - u[:k] * (ea - eb))
    days[k:] = pa[k:] + u[k:] * (pb[k:] - pa[k:])
    del pa, pb, pt, ea, eb
    t_lead = lead[piece]
    time_ns = people.captured_ns[t_lead] + (days * NS_PER_DAY).astype(np.int64)
    del days
    time_ns -= time_ns % NS_PER_SECOND
    weekday = (time_ns // NS_PER_DAY + 3) % 7
    keep = ((weekday < 5) | (rng.random(len(piece)) < WEEKEND_KEEP)) & (time_ns <= data_end_ns)
    piece, t_lead, time_ns = piece[keep], t_lead[keep], time_ns[keep]

    intent = people.intent[t_lead]
    tier = np.where(intent < -0.4, 0, np.where(intent < 0.6, 1, 2))
    klass = ((STAGE_GROUP[state[piece]] * 3 + tier) * 2 + in_window[piece]) * 3 + people.junk[t_lead]
    kind = np.empty(len(piece), dtype=np.int64)
    u = rng.random(len(piece))
    base_w = np.array([t[2] for t in TOUCHES])
    for c in np.unique(klass):
        members = np.flatnonzero(klass == c)
        rest, j = divmod(int(c), 3)
        rest, w = divmod(rest, 2)
        g, i = divmod(rest, 3)
        weights = base_w * STAGE_MIX[g] * INTENT_MIX[i] * WINDOW_MIX[w] * JUNK_MIX[j]
        kind[members] = np.searchsorted(np.cumsum(weights / weights.sum()), u[members], side="right").clip(0, len(TOUCHES) - 1)
    touches = _events(
        t_lead, time_ns,
        np.array([ET[t[0]] for t in TOUCHES], dtype=np.int8)[kind],
        np.array([PT[t[1]] if t[1] else -1 for t in TOUCHES], dtype=np.int8)[kind],
    )
    touches.channel = _touch_channels(people, touches, rng)
    return touches


# Acquisition channel -> event-channel mix: 0 other, 1 social, 2 search.
_CHANNEL_GROUP = np.array([1 if c in ("linkedin", "facebook", "tiktok") else 2 if c == "google_search" else 0 for c in LEAD_CHANNELS])


def _touch_channels(people: People, events: EventArrays, rng: np.random.Generator) -> np.ndarray:
    group = _CHANNEL_GROUP[people.channel[events.lead]]
    u = rng.random(len(events))
    channel = np.empty(len(events), dtype=np.int8)
    for g, mix in enumerate((CHANNEL_MIX_OTHER, CHANNEL_MIX_SOCIAL, CHANNEL_MIX_SEARCH)):
        members = group == g
        channel[members] = np.searchsorted(np.cumsum(mix) / np.sum(mix), u[members], side="right").clip(0, len(EVENT_CHANNELS) - 1)
    social = group == 1
    ads = events.event_type == ET["ad_click"]
    channel[ads] = np.where(social[ads] & (rng.random(int(ads.sum())) < 0.8), CH["social"], CH["paid"])
    meetings = events.event_type == ET["meeting_booked"]
    channel[meetings] = np.where(rng.random(int(meetings.sum())) < 0.7, CH["direct"], CH["email"])
    channel[rng.random(len(events)) < 0.04] = -1
    return channel


def draw_transition_traces(
    people: People, move_lead: np.ndarray, move_ns: np.ndarray, move_state: np.ndarray,
    data_end_ns: int, rng: np.random.Generator,
) -> EventArrays:
    """Events that accompany a stage change, stamped at or after it (never before: no foretelling)."""
    parts = []

    def add(mask: np.ndarray, p: float, max_lag_s: int, event_type: str, page_type: str | None = None, channel: str = "direct") -> None:
        idx = np.flatnonzero(mask)
        idx = idx[rng.random(len(idx)) < p]
        at = move_ns[idx] + rng.integers(0, max_lag_s, len(idx)) * NS_PER_SECOND
        ok = at <= data_end_ns
        parts.append(_events(move_lead[idx[ok]], at[ok], ET[event_type], PT[page_type] if page_type else -1, channel=CH[channel]))

    mql = move_state == MQL
    trigger = rng.random(len(move_state))
    add(mql & (trigger < 0.45), 1.0, 1200, "form_submit", "contact", "organic")
    add(mql & (trigger >= 0.45) & (trigger < 0.65), 1.0, 1200, "demo_request", None, "organic")
    add(mql & (trigger >= 0.65) & (trigger < 0.9), 1.0, 1200, "content_download", None, "paid")
    add(move_state == SAL, 0.65, 2 * 86_400, "meeting_booked")
    sqo = np.isin(move_state, (SQO_W, SQO_L, SQO_H))
    add(sqo, 0.7, 4 * 86_400, "meeting_booked")
    add(sqo, 0.25, 6 * 86_400, "trial_start", None, "direct")
    add(sqo, 0.6, 3 * 86_400, "page_view", "pricing", "direct")
    add(move_state == WON, 0.8, 5 * 86_400, "page_view", "docs", "direct")
    return concat_events(parts)

