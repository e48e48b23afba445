"""The rules engine as it was before the per-lead kernel (DuckDB), kept only to prove the kernel gives the
same points (tests/scorers/rules/test_rules_kernel_agrees.py). Deleted with that comparison.

Rule-based points for every (lead_id, as_of) row, computed a whole column at a time.

Fit rules are evaluated once per distinct lead on its own and its account's attributes; behaviour and
negative event rules on the events each spine row may see, which the point-in-time rule of
:mod:`leadscore.features.pit` decides (``occurred_at <= as_of``, in its SQL form :func:`~leadscore.features.pit.visible_sql`),
so the rules can never read the future any more than the features can. Per-rule points are kept
sparse (only the rows where a rule fired), so a million leads with twenty million events fit the
30-second budget of ``bench/rules.py``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from legacy_duckdb_builder import is_free_mail, parse_job_titles  # the persona parser as it was

from leadscore.features.building.stages import funnel_position
from leadscore.features.contract import EVENT_CHANNELS, EVENT_TYPES, PAGE_TYPES
from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import check_spine
from leadscore.features.tables import Tables, positions
from leadscore.features.timestamps import NS_PER_DAY
from leadscore.scorers.rules.config import (
    FIELDS,
    MAX_EMAIL_STEP,
    AllOf,
    AnyOf,
    BehaviourRule,
    Condition,
    DepartmentIn,
    EventFilter,
    FieldTest,
    FitRule,
    FreeMail,
    MelEmail,
    NegativeRule,
    Not,
    RulesConfig,
    SeniorityIn,
    TitleContainsAny,
)

logger = logging.getLogger(__name__)

NAT_NS = np.iinfo(np.int64).min  # how pandas stores NaT in int64
GRADES = ("cold", "warm", "hot")
RULE_STAGES = ("MCL", "MEL", "MQL", "SQL")
CLOSED_GRADE = "closed"
CLOSED_STAGES = ("WON", "LOST", "DISQUALIFIED")


def _arrow_strings(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The values as Arrow strings (zero-copy for pandas' Arrow-backed ``str`` columns)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(values.astype("str").array)


def _codes(values: pd.Series | pa.Array | pa.ChunkedArray, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Vocabulary position of each value as int16; -1 for missing or outside the vocabulary."""
    strings = _arrow_strings(values)
    found = pc.index_in(strings, value_set=pa.array(vocabulary, type=strings.type))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16)


def _utc_ns(values: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (int64) of a UTC timestamp column, whatever its stored unit."""
    return pd.to_datetime(values, utc=True).dt.as_unit("ns").array.asi8


# --------------------------------------------------------------------------------------------------
# Fit: who the lead is
# --------------------------------------------------------------------------------------------------
class _LeadAttributes:
    """Lead and account attributes of the leads at ``positions``, read lazily and cached per field.

    Only the columns some condition names are ever taken from the (possibly wide) leads table.
    """

    def __init__(self, leads: pd.DataFrame, positions: np.ndarray, accounts: pd.DataFrame) -> None:
        self._leads = leads
        self._positions = positions
        self.n = len(positions)
        self._accounts = accounts
        self._account_pos: np.ndarray | None = None
        self._cache: dict[str, object] = {}

    def _lead_column(self, name: str) -> pd.Series:
        return self._leads[name].take(self._positions).reset_index(drop=True)

    def _column(self, name: str) -> pd.Series:
        if FIELDS[name].table == "leads":
            return self._lead_column(name)
        if self._account_pos is None:
            self._accounts = self._accounts.drop_duplicates("account_id", keep="last").reset_index(drop=True)
            self._account_pos = positions(self._lead_column("account_id"), self._accounts["account_id"])
        column = self._accounts[name]
        if len(column) == 0:
            return pd.Series(None, index=range(self.n), dtype=column.dtype)
        taken = column.take(np.maximum(self._account_pos, 0)).reset_index(drop=True)
        return taken.where(self._account_pos >= 0)

    def text(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes, normalised distinct values): text compared without case or surrounding spaces."""
        key = f"text:{name}"
        if key not in self._cache:
            codes, uniques = pd.factorize(self._column(name), use_na_sentinel=True)
            normal = pd.Series(uniques, dtype="str").str.strip().str.casefold()
            self._cache[key] = (codes, normal.to_numpy(dtype=object, na_value=""))
        return self._cache[key]  # type: ignore[return-value]

    def number(self, name: str) -> np.ndarray:
        key = f"number:{name}"
        if key not in self._cache:
            values = pd.to_numeric(self._column(name), errors="coerce")
            self._cache[key] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return self._cache[key]  # type: ignore[return-value]

    def boolean(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(value, missing) as two bool arrays."""
        key = f"bool:{name}"
        if key not in self._cache:
            values = self._column(name).astype("boolean")
            missing = values.isna().to_numpy()
            self._cache[key] = (values.fillna(False).to_numpy(dtype=bool), missing)
        return self._cache[key]  # type: ignore[return-value]

    def persona(self) -> pd.DataFrame:
        if "persona" not in self._cache:
            self._cache["persona"] = parse_job_titles(self._lead_column("job_title"))
        return self._cache["persona"]  # type: ignore[return-value]

    def free_mail(self) -> pd.Series:
        if "free_mail" not in self._cache:
            self._cache["free_mail"] = is_free_mail(self._lead_column("email_domain"))
        return self._cache["free_mail"]  # type: ignore[return-value]


def _match_text(attrs: _LeadAttributes, test: FieldTest) -> np.ndarray:
    codes, uniques = attrs.text(test.field)
    present = pd.Series(uniques, dtype="str").str.len().to_numpy() > 0
    if test.op == "is_missing":
        hit_unique = ~present
        missing_hit = True
        return np.append(hit_unique, missing_hit)[codes] == test.value
    if test.op in ("equals", "in"):
        hit_unique = np.isin(uniques, np.array(test.value, dtype=object))
    elif test.op == "not_in":
        hit_unique = present & ~np.isin(uniques, np.array(test.value, dtype=object))
    else:  # contains_any
        pattern = "|".join(map(re.escape, test.value))
        hit_unique = pd.Series(uniques, dtype="str").str.contains(pattern, regex=True).to_numpy(dtype=bool, na_value=False)
    return np.append(hit_unique & present, False)[codes]


def _match_number(values: np.ndarray, op: str, value: object) -> np.ndarray:
    if op == "is_missing":
        return np.isnan(values) == value
    with np.errstate(invalid="ignore"):
        if op == "equals":
            return values == value
        if op == "between":
            low, high = value  # type: ignore[misc]
            return (values >= low) & (values < high)
        if op == "greater_than":
            return values > value
        if op == "greater_or_equal":
            return values >= value
        if op == "less_than":
            return values < value
        return values <= value


def evaluate_condition(condition: Condition, attrs: _LeadAttributes) -> np.ndarray:
    """Boolean array: which leads meet ``condition`` (a missing value never matches, except is_missing)."""
    if isinstance(condition, AllOf):
        out = np.ones(attrs.n, dtype=bool)
        for item in condition.items:
            out &= evaluate_condition(item, attrs)
        return out
    if isinstance(condition, AnyOf):
        out = np.zeros(attrs.n, dtype=bool)
        for item in condition.items:
            out |= evaluate_condition(item, attrs)
        return out
    if isinstance(condition, Not):
        return ~evaluate_condition(condition.item, attrs)
    if isinstance(condition, TitleContainsAny):
        return _match_text(attrs, FieldTest("job_title", "contains_any", condition.words))
    if isinstance(condition, SeniorityIn):
        return attrs.persona()["seniority"].isin(condition.values).to_numpy(dtype=bool)
    if isinstance(condition, DepartmentIn):
        return attrs.persona()["department"].isin(condition.values).to_numpy(dtype=bool)
    if isinstance(condition, FreeMail):
        flags = attrs.free_mail()
        return (flags == condition.flag).fillna(False).to_numpy(dtype=bool)
    kind = FIELDS[condition.field].kind
    if kind == "text":
        return _match_text(attrs, condition)
    if kind == "number":
        return _match_number(attrs.number(condition.field), condition.op, condition.value)
    values, missing = attrs.boolean(condition.field)
    if condition.op == "is_missing":
        return missing == condition.value
    return ~missing & (values == condition.value)


# --------------------------------------------------------------------------------------------------
# Behaviour: what the lead did, from the events each spine row may see
# --------------------------------------------------------------------------------------------------
class _VisibleEvents:
    """Events visible to spine rows (``occurred_at <= as_of``), as flat arrays.

    ``row`` is the spine row, ``source`` the event's position in ``tables.events``. Events are indexed
    by type once, so a rule touches only the events of its types; page type, channel and e-mail step
    codes are looked up only for the events a rule selects.
    """

    def __init__(self, events: pd.DataFrame, row: np.ndarray, source: np.ndarray, event: np.ndarray,
                 age_days: np.ndarray, day: np.ndarray) -> None:
        self._events = events
        self.row = row
        self.source = source
        self.event = event
        self.age_days = age_days
        self.day = day
        # Codes are small ints, so the stable sort is a radix sort: one pass instead of a mask per rule.
        self._by_type = np.argsort(event, kind="stable")
        self._type_bounds = np.searchsorted(event[self._by_type], np.arange(len(EVENT_TYPES) + 1))

    def of_types(self, event_types: list[str]) -> np.ndarray:
        """Positions of the visible events of these types."""
        codes = sorted(EVENT_TYPES.index(t) for t in event_types)
        return np.concatenate([self._by_type[self._type_bounds[c]:self._type_bounds[c + 1]] for c in codes])

    @cached_property
    def _page_codes(self) -> np.ndarray:
        return _codes(self._events["page_type"], PAGE_TYPES)

    @cached_property
    def _channel_codes(self) -> np.ndarray:
        return _codes(self._events["channel"], EVENT_CHANNELS)

    @cached_property
    def _step_codes(self) -> np.ndarray:
        """E-mail step per source event, ``MAX_EMAIL_STEP + 1`` where missing or out of range."""
        step = pd.to_numeric(self._events["email_step"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        valid = (step >= 1) & (step <= MAX_EMAIL_STEP)  # NaN compares False
        return np.where(valid, step, MAX_EMAIL_STEP + 1).astype(np.int16)

    def page(self, index: np.ndarray) -> np.ndarray:
        return self._page_codes[self.source[index]]

    def channel(self, index: np.ndarray) -> np.ndarray:
        return self._channel_codes[self.source[index]]

    def step(self, index: np.ndarray) -> np.ndarray:
        return self._step_codes[self.source[index]]


def _lookup(values: np.ndarray, wanted: list[str] | None, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Whether each code (-1 = missing) is one of ``wanted``; None wants everything."""
    if wanted is None:
        return np.ones(len(values), dtype=bool)
    table = np.zeros(len(vocabulary) + 1, dtype=bool)
    for name in wanted:
        table[vocabulary.index(name)] = True
    return table[values]


def _select(events: _VisibleEvents, event_types: list[str], page_types: list[str] | None = None,
            channels: list[str] | None = None, steps: list[int] | None = None,
            within_days: float | None = None) -> np.ndarray:
    """Positions of the visible events that pass an event filter."""
    index = events.of_types(event_types)
    keep = np.ones(len(index), dtype=bool)
    if page_types is not None:
        keep &= _lookup(events.page(index), page_types, PAGE_TYPES)
    if channels is not None:
        keep &= _lookup(events.channel(index), channels, EVENT_CHANNELS)
    if steps is not None:
        table = np.zeros(MAX_EMAIL_STEP + 2, dtype=bool)
        table[steps] = True
        keep &= table[events.step(index)]
    if within_days is not None:
        keep &= events.age_days[index] <= within_days
    return index[keep]


def _distinct_days(rows: np.ndarray, days: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (row, UTC day) pairs: their rows and, per pair, the largest weight (the day's latest event)."""
    if len(rows) == 0:
        return rows, np.zeros(0)
    span = int(days.max() - days.min()) + 1
    key = rows * span + (days - days.min())
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    pair_rows = key_sorted[starts] // span
    if weights is None:
        return pair_rows, np.ones(len(starts))
    return pair_rows, np.maximum.reduceat(weights[order], starts)


def _score_event_rule(rule: BehaviourRule | NegativeRule, events: _VisibleEvents, n: int,
                      half_life_days: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(points, count) per spine row for one event rule, after repeat mode, min_count, decay and cap."""
    spec: EventFilter = rule.event  # type: ignore[assignment]
    index = _select(events, spec.event_type, spec.page_type, spec.channel, spec.email_step, spec.within_days)
    rows = events.row[index]
    weight = None
    if rule.decay and half_life_days is not None:
        weight = np.exp2(-events.age_days[index] / half_life_days)
    if rule.repeat == "per_day":
        rows, weight = _distinct_days(rows, events.day[index], weight)
    count = np.bincount(rows, minlength=n)
    if weight is None:
        factor = (count > 0).astype(np.float64) if rule.repeat == "once" else count.astype(np.float64)
    elif rule.repeat == "once":
        # The most recent matching event is the one worth most after decay.
        factor = np.zeros(n)
        np.maximum.at(factor, rows, weight)
    else:
        factor = np.bincount(rows, weights=weight, minlength=n)
    factor[count < spec.min_count] = 0.0
    points = rule.points * factor
    if rule.cap is not None:
        points = np.sign(points) * np.minimum(np.abs(points), rule.cap)
    return points, count


def _mel_email(email: MelEmail, events: _VisibleEvents, n: int) -> np.ndarray:
    """MEL by the nurture sequence, counting distinct e-mails (steps) per row, one step at a time."""
    sequence = [*email.first_steps, *email.later_steps]
    index = _select(events, ["email_sent", "email_open", "email_click"], steps=sequence, within_days=email.within_days)
    rows, steps, kind = events.row[index], events.step(index), events.event[index]
    clicked_events = kind == EVENT_TYPES.index("email_click")
    opened_events = clicked_events | (kind == EVENT_TYPES.index("email_open"))

    n_sent, n_opened, n_clicked = (np.zeros(n, dtype=np.int64) for _ in range(3))
    first_opened, later_opened = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for step in sequence:
        at = steps == step
        # Any event of a step proves it was sent; a click proves it was opened.
        n_sent += np.bincount(rows[at], minlength=n) > 0
        opened = np.bincount(rows[at & opened_events], minlength=n) > 0
        n_opened += opened
        n_clicked += np.bincount(rows[at & clicked_events], minlength=n) > 0
        if step in email.first_steps:
            first_opened |= opened
        else:
            later_opened |= opened
    denominator = np.maximum(n_sent, 1)
    # A small tolerance keeps 2 of 5 opened (exactly 40%) on the right side of a 0.4 threshold.
    return (
        first_opened
        & later_opened
        & (n_opened >= email.min_opens)
        & (n_opened / denominator >= email.min_open_rate - 1e-9)
        & (n_clicked / denominator >= email.min_click_rate - 1e-9)
        & (n_sent > 0)
    )


def _mel(config: RulesConfig, events: _VisibleEvents, n: int) -> np.ndarray:
    """The worked example's MEL rule per spine row: either the e-mail branch or the visits branch."""
    holds = np.zeros(n, dtype=bool)
    if config.mel is None:
        return holds
    if config.mel.email is not None:
        holds |= _mel_email(config.mel.email, events, n)
    visits = config.mel.visits
    if visits is not None:
        index = _select(events, visits.event_types, visits.page_types, within_days=visits.within_days)
        day_rows, _ = _distinct_days(events.row[index], events.day[index], None)
        holds |= np.bincount(day_rows, minlength=n) >= visits.min_distinct_days
    return holds


def _needed_event_types(config: RulesConfig) -> list[str]:
    needed: set[str] = set()
    for _, _, rule in config.rules():
        if isinstance(rule, BehaviourRule | NegativeRule) and rule.event is not None:
            needed.update(rule.event.event_type)
    if config.mel is not None:
        if config.mel.email is not None:
            needed.update(("email_sent", "email_open", "email_click"))
        if config.mel.visits is not None:
            needed.update(config.mel.visits.event_types)
    return [t for t in EVENT_TYPES if t in needed]


def _visible_events(tables: Tables, spine: pd.DataFrame, known: np.ndarray, event_types: list[str]) -> _VisibleEvents:
    """Events the rules read, limited to what each spine row may see (``occurred_at <= as_of``).

    The join runs in an in-process DuckDB with :func:`leadscore.features.pit.visible_sql`, the SQL form of
    :func:`leadscore.features.pit.join_as_of`'s rule (the pit tests hold the two equal), on epoch nanoseconds.
    Measured on 1M leads and 20M events, hashing the string ids and joining in pandas took about 12 s
    of CPU; DuckDB does both in about 3. Only the lead key, the time and the event's position travel
    through the join; event codes are looked up afterwards by position.
    """
    events = tables.events
    event = _codes(events["event_type"], EVENT_TYPES)
    wanted = ", ".join(str(EVENT_TYPES.index(t)) for t in event_types) or "-1"
    occurred = _utc_ns(events["occurred_at"])
    position = np.int32 if len(events) < 2**31 else np.int64
    events_side = pa.table({
        "lead_id": _arrow_strings(events["lead_id"]),
        # A missing time stays null, so visible_sql can refuse it (NaT would read as the int64 minimum).
        "occurred_at": pa.array(occurred, mask=occurred == NAT_NS),
        "event": event.astype(np.int8),
        "event_row": np.arange(len(events), dtype=position),
    })
    rows = np.flatnonzero(known)
    spine_side = pa.table({
        "lead_id": _arrow_strings(spine["lead_id"]).take(pa.array(rows)),
        "as_of": spine["as_of"].array.asi8[rows],
        "row": rows.astype(np.int64),
    })
    # A private connection on 2 threads (the machine's budget); row order matters to no aggregation below.
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    try:
        con.register("spine_side", spine_side)
        con.register("events_side", events_side)
        visible = con.sql(
            "SELECT s.row, e.event_row, e.event, e.occurred_at, s.as_of - e.occurred_at AS age_ns "
            "FROM spine_side AS s JOIN events_side AS e ON e.lead_id = s.lead_id "
            f"WHERE e.event IN ({wanted}) AND (e.occurred_at IS NOT NULL AND e.occurred_at <= s.as_of)"
        ).to_arrow_table()
    finally:
        con.close()

    def column(name: str) -> np.ndarray:
        return visible[name].to_numpy()

    return _VisibleEvents(
        events,
        row=column("row"),
        source=column("event_row"),
        event=column("event").astype(np.int16),
        age_days=column("age_ns") / NS_PER_DAY,
        day=column("occurred_at") // NS_PER_DAY,
    )


# --------------------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------------------
def _format_points(values: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """(codes, texts): "+25", "-10", "+12.5", one decimal at most, formatted once per distinct value."""
    codes, uniques = pd.factorize(np.round(values, 1))
    return codes, pa.array([f"{u:+.1f}".removesuffix(".0") for u in uniques], type=pa.string())


def _reasons(n: int, rows: np.ndarray, rule_index: np.ndarray, points: np.ndarray, counts: np.ndarray,
             labels: list[str], repeats: list[bool]) -> pa.Array:
    """Per row, the rules that fired with their points, largest first, joined by "; "."""
    shown = np.round(points, 1) != 0
    rows, rule_index, points, counts = rows[shown], rule_index[shown], points[shown], counts[shown]
    # Largest shown points first, equal points in the file's order: one int64 key. The entries arrive
    # as one ascending run per rule, which the stable sort (timsort) merges instead of sorting afresh.
    tenths = np.round(np.abs(points) * 10).astype(np.int64)
    top = int(tenths.max(initial=0))
    width = (top + 1) * len(labels)
    if n * width < 2**62:
        order = np.argsort(rows * width + (top - tenths) * len(labels) + rule_index, kind="stable")
    else:
        order = np.lexsort((rule_index, -tenths, rows))
    rows, rule_index, points, counts = rows[order], rule_index[order], points[order], counts[order]
    # "Product page visit ×3": the count is shown for rules that repeat, and only when above one.
    repeat = np.array(repeats, dtype=bool)[rule_index] & (counts > 1)
    width = int(counts.max(initial=0)) + 1
    key_codes, key_uniques = pd.factorize(rule_index.astype(np.int64) * width + np.where(repeat, counts, 0))
    prefixes = pa.array(
        [labels[k // width] + (f" ×{k % width}" if k % width else "") for k in key_uniques], type=pa.string()
    )
    point_codes, point_texts = _format_points(points)
    texts = pc.binary_join_element_wise(
        prefixes.take(pa.array(key_codes)), point_texts.take(pa.array(point_codes)), " "
    )
    offsets = np.zeros(n + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(rows, minlength=n))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), texts)
    return pc.binary_join(lists, "; ")


@dataclass
class _Fired:
    """Sparse per-rule results: one entry per (spine row, rule) that gave points."""

    rows: np.ndarray
    rule_index: np.ndarray
    points: np.ndarray
    counts: np.ndarray


def _rule_points(config: RulesConfig, attrs: _LeadAttributes, inverse: np.ndarray, known_rows: np.ndarray,
                 events: _VisibleEvents | None, n: int) -> _Fired:
    """Every rule's points per spine row, with groups resolved (only a group's best rule counts)."""
    parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
    grouped: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for index, (_, _, rule) in enumerate(config.rules()):
        if getattr(rule, "when", None) is not None:
            hit = evaluate_condition(rule.when, attrs)
            points = np.zeros(n)
            points[known_rows] = np.where(hit, rule.points, 0.0)[inverse]
            count = (points != 0).astype(np.int64)
        else:
            points, count = _score_event_rule(rule, events, n, config.decay.half_life_days)  # type: ignore[arg-type]
        if rule.group is not None:
            grouped.setdefault(rule.group, []).append((index, points, count))
            continue
        fired = np.flatnonzero(points)
        parts.append((fired, index, points[fired], count[fired]))
    for members in grouped.values():
        best = np.abs(np.vstack([points for _, points, _ in members])).argmax(axis=0)
        for k, (index, points, count) in enumerate(members):
            fired = np.flatnonzero((best == k) & (points != 0))
            parts.append((fired, index, points[fired], count[fired]))
    if not parts:
        return _Fired(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64))
    return _Fired(
        rows=np.concatenate([p[0] for p in parts]),
        rule_index=np.concatenate([np.full(len(p[0]), p[1]) for p in parts]),
        points=np.concatenate([p[2] for p in parts]),
        counts=np.concatenate([p[3] for p in parts]),
    )


def _labels(codes: np.ndarray, names: tuple[str, ...], present: np.ndarray) -> pd.arrays.ArrowStringArray:
    """``names[codes]`` as a ``str`` array, null where not ``present``, built in Arrow."""
    taken = pa.array(list(names), type=pa.large_string()).take(pa.array(codes, mask=~present))
    return pd.array(taken, dtype="str")


def score_rules(tables: Tables, spine: pd.DataFrame, config: RulesConfig) -> pd.DataFrame:
    """Rule-based points for each spine row, using only data at or before its as_of.

    Parameters
    ----------
    tables
        The export in contract form.
    spine
        Rows of ``lead_id`` and ``as_of``; the output keeps their order, one row each.
    config
        Rules from :func:`leadscore.scorers.rules.load_rules`.

    Returns
    -------
    pandas.DataFrame
        ``lead_id``, ``as_of``, ``rule_score`` (points, one decimal), ``rule_grade`` (cold / warm /
        hot), ``rule_stage`` (MCL / MEL / MQL / SQL: SQL and MQL by score threshold, MEL by the MEL
        rule) and ``rule_reasons`` (the rules that fired with their points, largest first, e.g.
        "Company >1,000 employees +30; Demo request +25"). A row whose lead is not in the export, or
        was captured after the row's as_of, has a null score, grade, stage and reasons: the scorer
        gives it a status.

    Notes
    -----
    Behaviour points decay as ``points × 0.5 ** (age_days / half_life_days)`` with the age measured
    from as_of; fit points never decay. ``cap`` applies after decay.
    """
    spine = check_spine(spine)
    n = len(spine)
    leads = tables.leads
    lead_ids = leads["lead_id"].astype("str").reset_index(drop=True)
    duplicated = lead_ids.duplicated()
    if duplicated.any():
        raise LeadscoreError(
            f"leads: lead_id must be unique, but {int(duplicated.sum())} rows repeat an id "
            f"(first: {lead_ids[duplicated].iloc[0]!r})."
        )
    as_of_ns = spine["as_of"].array.asi8
    pos = positions(spine["lead_id"], lead_ids)
    # A trailing slot for ids not in the export; NaT capture times read as the int64 minimum, i.e.
    # "known since always" (make_spine reports those leads before they get here).
    captured_ns = np.append(_utc_ns(leads["captured_at"]), np.iinfo(np.int64).max)
    known = (pos >= 0) & (captured_ns[pos] <= as_of_ns)
    n_not_yet = int(((pos >= 0) & ~known).sum())
    if (pos < 0).any() or n_not_yet:
        logger.info("rules: %d rows of unknown leads and %d rows before their lead's capture get no score",
                    int((pos < 0).sum()), n_not_yet)

    # Fit rules once per distinct lead, then spread to its spine rows.
    distinct, inverse = np.unique(pos[known], return_inverse=True)
    attrs = _LeadAttributes(leads, distinct, tables.accounts)
    known_rows = np.flatnonzero(known)

    rules = config.rules()
    labels = [rule.display(rule_id) for _, rule_id, rule in rules]
    repeats = [not isinstance(rule, FitRule) and getattr(rule, "repeat", "once") != "once" for _, _, rule in rules]
    events = None
    if any(getattr(rule, "event", None) is not None for _, _, rule in rules) or config.mel is not None:
        events = _visible_events(tables, spine, known, _needed_event_types(config))
    fired = _rule_points(config, attrs, inverse, known_rows, events, n)

    score = np.round(np.bincount(fired.rows, weights=fired.points, minlength=n), 1) + 0.0  # no -0.0
    # Grades and stages read the rounded score, the number the user sees next to them.
    grade = np.select([score >= config.grades.hot, score >= config.grades.warm], [2, 1], 0)
    mel = _mel(config, events, n) if events is not None else np.zeros(n, dtype=bool)
    stage = np.select([score >= config.stages.sql, score >= config.stages.mql, mel], [3, 2, 1], 0)
    reasons = _reasons(n, fired.rows, fired.rule_index, fired.points, fired.counts, labels, repeats)
    reasons = pc.if_else(pa.array(known), reasons, pa.scalar(None, type=reasons.type))
    # A lead closed at its as_of (funnel_position, the one definition) keeps its points, graded closed.
    position = funnel_position(tables, spine)
    closed_at = _codes(pd.Series(np.asarray(position, dtype=object), dtype="str").str.upper(), CLOSED_STAGES)
    closed = known & (closed_at >= 0)
    grade = np.where(closed, len(GRADES), grade)
    stage = np.where(closed, len(RULE_STAGES) + closed_at, stage)
    return pd.DataFrame({
        "lead_id": spine["lead_id"],
        "as_of": spine["as_of"],
        "rule_score": np.where(known, score, np.nan),
        "rule_grade": _labels(grade, (*GRADES, CLOSED_GRADE), known),
        "rule_stage": _labels(stage, (*RULE_STAGES, *CLOSED_STAGES), known),
        "rule_reasons": pd.array(reasons, dtype="str"),
    })
