"""Behaviour, negative event and MEL rules per lead, compiled: one pass over the events a row may see.

A rules file's event rules become arrays (:class:`EventRules`, made once per file by
:func:`compile_event_rules`); :func:`event_rule_rows` then scores spine rows of a staged export
(:mod:`leadscore.features.building.staging`) with numba: for one lead of an HTTP request on the calling
thread, for a million leads across the cores, with the same code. Only events at or before as_of count
(:func:`leadscore.features.pit.visible_end`).

Per rule and row the kernel gives the points after repeat mode, ``min_count``, decay and ``cap``, and the
count shown in the reasons (events, or days under ``per_day``); grouping and the score are
:mod:`leadscore.scorers.rules.engine`'s.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numba
import numpy as np

from leadscore.features import contract, pit
from leadscore.features.building import engagement, staging
from leadscore.features.building.engagement import popcount
from leadscore.features.building.staging import PAGE_VIEW_BASE, Staged
from leadscore.features.compiled import fingerprint
from leadscore.features.contract import EVENT_CHANNELS, EVENT_TYPES, PAGE_TYPES
from leadscore.features.pit import visible_end
from leadscore.features.timestamps import NS_PER_DAY
from leadscore.scorers.rules import config
from leadscore.scorers.rules.config import MAX_EMAIL_STEP, BehaviourRule, NegativeRule, RulesConfig

ONCE, PER_OCCURRENCE, PER_DAY = 0, 1, 2
_REPEAT = {"once": ONCE, "per_occurrence": PER_OCCURRENCE, "per_day": PER_DAY}
_PAGE_VIEW = EVENT_TYPES.index("page_view")
_EMAIL = (EVENT_TYPES.index("email_sent"), EVENT_TYPES.index("email_open"), EVENT_TYPES.index("email_click"))
NO_STEP = MAX_EMAIL_STEP + 1  # a missing, fractional-below-1 or out-of-range e-mail step


@dataclass(frozen=True)
class EventRules:
    """A rules file's event rules and MEL rule as arrays (one entry per event rule, in file order).

    Masks are bit sets: ``types`` over EVENT_TYPES positions; ``pages`` over PAGE_TYPES positions and
    ``channels`` over EVENT_CHANNELS positions, -1 for "any" (a filter never matches a missing value);
    ``steps`` over e-mail steps 0..63, 0 for "any". ``within`` is in days (inf: the whole history).
    """

    index: np.ndarray
    types: np.ndarray
    pages: np.ndarray
    channels: np.ndarray
    steps: np.ndarray
    within: np.ndarray
    min_count: np.ndarray
    repeat: np.ndarray
    decay: np.ndarray
    points: np.ndarray
    cap: np.ndarray
    half_life: float
    mel: np.ndarray
    """``[email on, within, min_opens, min_open_rate, min_click_rate, visits on, visit within, min days]``."""
    mel_masks: np.ndarray
    """``[first steps, later steps, visit event types, visit page types]`` as bit masks (uint64)."""


def _bits(positions: list[int] | tuple[int, ...] | None, any_value: int) -> int:
    if positions is None:
        return any_value
    mask = 0
    for p in positions:
        mask |= 1 << p
    return mask


def compile_event_rules(config: RulesConfig) -> EventRules:
    """The arrays :func:`event_rule_rows` reads (see :class:`EventRules`)."""
    rows: list[tuple] = []
    for index, (_, _, rule) in enumerate(config.rules()):
        event = getattr(rule, "event", None)
        if event is None:
            continue
        assert isinstance(rule, BehaviourRule | NegativeRule)
        rows.append((
            index,
            _bits([EVENT_TYPES.index(t) for t in event.event_type], 0),
            _bits(None if event.page_type is None else [PAGE_TYPES.index(p) for p in event.page_type], -1),
            _bits(None if event.channel is None else [EVENT_CHANNELS.index(c) for c in event.channel], -1),
            _bits(event.email_step, 0),
            math.inf if event.within_days is None else float(event.within_days),
            event.min_count, _REPEAT[rule.repeat], bool(rule.decay and config.decay.half_life_days is not None),
            float(rule.points), math.nan if rule.cap is None else float(rule.cap),
        ))
    columns = list(zip(*rows, strict=True)) if rows else [()] * 11
    dtypes = (np.int64, np.int64, np.int64, np.int64, np.uint64, np.float64, np.int64, np.int64, np.bool_,
              np.float64, np.float64)
    arrays = [np.array(c, dtype=d) for c, d in zip(columns, dtypes, strict=True)]
    mel = np.zeros(8)
    masks = np.zeros(4, dtype=np.uint64)
    if config.mel is not None and config.mel.email is not None:
        email = config.mel.email
        mel[0:5] = (1.0, math.inf if email.within_days is None else email.within_days, email.min_opens,
                    email.min_open_rate, email.min_click_rate)
        masks[0:2] = (_bits(email.first_steps, 0), _bits(email.later_steps, 0))
    if config.mel is not None and config.mel.visits is not None:
        visits = config.mel.visits
        mel[5:8] = (1.0, math.inf if visits.within_days is None else visits.within_days, visits.min_distinct_days)
        masks[2:4] = (_bits([EVENT_TYPES.index(t) for t in visits.event_types], 0),
                      _bits([PAGE_TYPES.index(p) for p in visits.page_types], 0))
    half_life = config.decay.half_life_days
    return EventRules(*arrays, half_life=math.nan if half_life is None else float(half_life), mel=mel,
                      mel_masks=masks)


@numba.njit(inline="always")
def _type(code: int) -> int:
    return _PAGE_VIEW if code >= PAGE_VIEW_BASE else code


@numba.njit(inline="always")
def step_code(step: float) -> int:
    """The e-mail step a rule filters on: the whole number of a step in 1..62, :data:`NO_STEP` otherwise."""
    if step >= 1.0 and step <= MAX_EMAIL_STEP:  # NaN fails
        return int(step)
    return NO_STEP


@numba.njit
def _rules_row(t, code, page, channel, step, lo, hi, as_of, types, pages, channels, steps, within, min_count, repeat,
               decay, points, cap, half_life, mel, mel_masks, points_out, counts_out) -> bool:
    """Points and counts of every event rule for one row; returns whether the MEL rule holds."""
    end = visible_end(t, lo, hi, as_of)
    for r in range(len(types)):
        count = 0
        factor = 0.0
        day = np.iinfo(np.int64).min
        day_weight = 0.0
        for j in range(lo, end):
            kind = _type(code[j])
            if not (types[r] >> kind) & 1:
                continue
            if pages[r] != -1 and (page[j] < 0 or not (pages[r] >> page[j]) & 1):
                continue
            if channels[r] != -1 and (channel[j] < 0 or not (channels[r] >> channel[j]) & 1):
                continue
            if steps[r] != 0 and not (steps[r] >> np.uint64(step_code(step[j]))) & np.uint64(1):
                continue
            age_days = (as_of - t[j]) / NS_PER_DAY
            if not age_days <= within[r]:
                continue
            weight = np.exp2(-age_days / half_life) if decay[r] else 1.0
            if repeat[r] == PER_DAY:
                this_day = t[j] // NS_PER_DAY
                if count == 0 or this_day != day:  # events come in time order: a new day starts
                    if count > 0:
                        factor += day_weight
                    count += 1
                    day = this_day
                    day_weight = weight
                elif weight > day_weight:
                    day_weight = weight
            else:
                count += 1
                if repeat[r] == ONCE:
                    if weight > factor:
                        factor = weight
                else:
                    factor += weight
        if repeat[r] == PER_DAY and count > 0:
            factor += day_weight
        if count < min_count[r]:
            factor = 0.0
        value = points[r] * factor
        if not np.isnan(cap[r]):
            value = np.sign(value) * min(abs(value), cap[r])
        points_out[r] = value
        counts_out[r] = count
    return _mel_row(t, code, page, step, lo, end, as_of, mel, mel_masks)


@numba.njit
def _mel_row(t, code, page, step, lo, end, as_of, mel, masks) -> bool:
    """The worked example's MEL rule for one row: the e-mail branch or the visits branch."""
    if mel[0] > 0:
        first, later, within = masks[0], masks[1], mel[1]
        sent = np.uint64(0)
        opened = np.uint64(0)
        clicked = np.uint64(0)
        for j in range(lo, end):
            kind = _type(code[j])
            if kind != _EMAIL[0] and kind != _EMAIL[1] and kind != _EMAIL[2]:
                continue
            s = step_code(step[j])
            flag = np.uint64(1) << np.uint64(s)
            if not flag & (first | later):
                continue
            if not (as_of - t[j]) / NS_PER_DAY <= within:
                continue
            sent |= flag  # any event of a step proves it was sent; a click proves it was opened
            if kind != _EMAIL[0]:
                opened |= flag
            if kind == _EMAIL[2]:
                clicked |= flag
        n_sent, n_opened, n_clicked = popcount(sent), popcount(opened), popcount(clicked)
        denominator = max(n_sent, 1)
        # A small tolerance keeps 2 of 5 opened (exactly 40%) on the right side of a 0.4 threshold.
        if (opened & first and opened & later and n_opened >= mel[2] and n_opened / denominator >= mel[3] - 1e-9
                and n_clicked / denominator >= mel[4] - 1e-9 and n_sent > 0):
            return True
    if mel[5] > 0:
        types, pages, within, needed = masks[2], masks[3], mel[6], mel[7]
        days = 0
        day = np.iinfo(np.int64).min
        for j in range(lo, end):
            if not (types >> np.uint64(_type(code[j]))) & np.uint64(1):
                continue
            if page[j] < 0 or not (pages >> np.uint64(page[j])) & np.uint64(1):
                continue
            if not (as_of - t[j]) / NS_PER_DAY <= within:
                continue
            this_day = t[j] // NS_PER_DAY
            if days == 0 or this_day != day:
                days += 1
                day = this_day
        if days >= needed:
            return True
    return False


def _drivers(source: str) -> tuple:
    """The parallel and the serial driver, cached under the fingerprint ``source`` (:mod:`leadscore.features.compiled`)."""

    @numba.njit(parallel=True, cache=True)
    def rows_parallel(lead_pos, as_of, event_start, t, code, page, channel, step, types, pages, channels, steps, within,
                      min_count, repeat, decay, points, cap, half_life, mel, mel_masks, points_out, counts_out, mel_out):
        _ = source  # the sources' fingerprint: a closure value, so part of numba's cache key
        for i in numba.prange(len(lead_pos)):
            lead = lead_pos[i]
            mel_out[i] = _rules_row(t, code, page, channel, step, event_start[lead], event_start[lead + 1], as_of[i],
                                    types, pages, channels, steps, within, min_count, repeat, decay, points, cap,
                                    half_life, mel, mel_masks, points_out[i], counts_out[i])

    @numba.njit(cache=True)
    def rows_serial(lead_pos, as_of, event_start, t, code, page, channel, step, types, pages, channels, steps, within,
                    min_count, repeat, decay, points, cap, half_life, mel, mel_masks, points_out, counts_out, mel_out):
        _ = source
        for i in range(len(lead_pos)):
            lead = lead_pos[i]
            mel_out[i] = _rules_row(t, code, page, channel, step, event_start[lead], event_start[lead + 1], as_of[i],
                                    types, pages, channels, steps, within, min_count, repeat, decay, points, cap,
                                    half_life, mel, mel_masks, points_out[i], counts_out[i])

    return rows_parallel, rows_serial


_ROWS_PARALLEL, _ROWS_SERIAL = _drivers(fingerprint(pit, contract, staging, engagement, config, sys.modules[__name__]))


PARALLEL_ROWS = 512


def event_rule_rows(staged: Staged, lead_pos: np.ndarray, as_of_ns: np.ndarray,
                    rules: EventRules) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: every event rule's points and count (``n × rules``, in :class:`EventRules` order), and the MEL rule."""
    n = len(lead_pos)
    points_out = np.zeros((n, len(rules.index)))
    counts_out = np.zeros((n, len(rules.index)), dtype=np.int64)
    mel_out = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return points_out, counts_out, mel_out
    s = staged
    run = _ROWS_PARALLEL if n >= PARALLEL_ROWS else _ROWS_SERIAL
    run(np.ascontiguousarray(lead_pos, dtype=np.int64), np.ascontiguousarray(as_of_ns, dtype=np.int64), s.event_start,
        s.event_t, s.event_code, s.event_page, s.event_channel, s.event_step, rules.types, rules.pages, rules.channels,
        rules.steps, rules.within, rules.min_count, rules.repeat, rules.decay, rules.points, rules.cap,
        rules.half_life, rules.mel, rules.mel_masks, points_out, counts_out, mel_out)
    return points_out, counts_out, mel_out
