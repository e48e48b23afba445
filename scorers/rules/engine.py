"""Rule-based points for (lead_id, as_of) rows: fit rules over lead attributes, event rules per lead.

Fit rules are evaluated once per distinct lead on its own and its account's attributes; behaviour and
negative event rules, and the MEL rule, by the compiled per-lead pass of
:mod:`leadscore.scorers.rules.events` over the events each row may see (``occurred_at <= as_of``,
:func:`leadscore.features.pit.visible`), so the rules can never read the future any more than the
features can. :func:`rule_rows` scores rows of a staged export (the scorer's chunks, the one lead of an
HTTP request) without pandas; :func:`score_rules` is the frame-in, frame-out form.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.building.persona import DEPARTMENTS, SENIORITIES, free_mail_flags
from leadscore.features.building.stages import CLOSED_STAGES, position_codes, staged_position
from leadscore.features.building.staging import Staged, stage_tables
from leadscore.features.building.text import respelled, text_codes
from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import check_spine
from leadscore.features.tables import Tables
from leadscore.features.timestamps import to_epoch_ns
from leadscore.scorers.rules.config import (
    FIELDS,
    AllOf,
    AnyOf,
    Condition,
    DepartmentIn,
    FieldTest,
    FitRule,
    FreeMail,
    Not,
    RulesConfig,
    SeniorityIn,
    TitleContainsAny,
)
from leadscore.scorers.rules.events import EventRules, compile_event_rules, event_rule_rows

logger = logging.getLogger(__name__)

GRADES = ("cold", "warm", "hot")
RULE_STAGES = ("MCL", "MEL", "MQL", "SQL")
# A lead whose latest stage closed it (funnel_position: won, lost, disqualified) is no lead to call:
# its points are still shown, but its grade is "closed" and its stage the one that closed it.
CLOSED_GRADE = "closed"
GRADE_LABELS = (*GRADES, CLOSED_GRADE)
STAGE_LABELS = (*RULE_STAGES, *CLOSED_STAGES)
CHUNK_ROWS = 200_000


# --------------------------------------------------------------------------------------------------
# Fit: who the lead is
# --------------------------------------------------------------------------------------------------
class _LeadAttributes:
    """Lead and account attributes of the staged leads at ``positions``, read lazily and cached per field.

    Only the columns some condition names are ever read. An account id that repeats in the accounts
    table reads its last row.
    """

    def __init__(self, staged: Staged, positions: np.ndarray) -> None:
        self._staged = staged
        self._positions = positions
        self.n = len(positions)
        self._cache: dict[str, object] = {}

    def _column(self, name: str) -> tuple[object, np.ndarray]:
        """The field's whole column and, per lead at ``positions``, its row there (-1: none)."""
        staged = self._staged
        if FIELDS[name].table == "leads":
            return staged.leads[name], self._positions
        return staged.accounts[name], staged.account_row_last[self._positions]

    def text(self, name: str) -> tuple[np.ndarray, list[str]]:
        """(codes, normalised distinct values): text compared without case or surrounding spaces."""
        key = f"text:{name}"
        if key not in self._cache:
            column, rows = self._column(name)
            codes, uniques = text_codes(column)
            taken = np.append(codes, -1)[np.where(rows >= 0, rows, len(codes))]
            self._cache[key] = (taken, [u.casefold() for u in respelled("trim", uniques)])
        return self._cache[key]  # type: ignore[return-value]

    def number(self, name: str) -> np.ndarray:
        key = f"number:{name}"
        if key not in self._cache:
            column, rows = self._column(name)
            self._cache[key] = np.append(np.asarray(column, dtype=np.float64), np.nan)[np.where(rows >= 0, rows,
                                                                                                  len(column))]
        return self._cache[key]  # type: ignore[return-value]

    def boolean(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(value, missing) as two bool arrays."""
        values = self.number(name)
        missing = np.isnan(values)
        return (values == 1.0) & ~missing, missing

    def persona(self) -> tuple[np.ndarray, np.ndarray]:
        """SENIORITIES and DEPARTMENTS codes (-1: none)."""
        seniority, department = self._staged.persona
        return seniority[self._positions], department[self._positions]

    def free_mail(self) -> np.ndarray:
        """1.0 / 0.0 / NaN per lead."""
        flags = self._staged.kept("is_free_mail", lambda: free_mail_flags(self._staged.leads["email_domain"]))
        return flags[self._positions]


@lru_cache(maxsize=4096)
def _text_test(test: FieldTest) -> tuple[frozenset[str], re.Pattern | None]:
    """A text test's values as a set, and its ``contains_any`` pattern (made once per test)."""
    pattern = re.compile("|".join(map(re.escape, test.value))) if test.op == "contains_any" else None
    return frozenset(test.value) if test.op != "is_missing" else frozenset(), pattern


def _match_text(attrs: _LeadAttributes, test: FieldTest) -> np.ndarray:
    codes, uniques = attrs.text(test.field)
    if test.op == "is_missing":  # blank text is missing too
        return np.array([not u for u in uniques] + [True])[codes] == test.value
    values, pattern = _text_test(test)
    if test.op in ("equals", "in"):
        hits = [bool(u) and u in values for u in uniques]
    elif test.op == "not_in":
        hits = [bool(u) and u not in values for u in uniques]
    else:  # contains_any
        hits = [bool(u) and pattern.search(u) is not None for u in uniques]
    return np.array([*hits, False])[codes]


def _match_number(values: np.ndarray, op: str, value: object) -> np.ndarray:
    # A comparison with NaN (a missing value) is False, and numpy says nothing about it.
    if op == "is_missing":
        return np.isnan(values) == value
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


@lru_cache(maxsize=1024)
def _wanted(values: tuple[str, ...], vocabulary: tuple[str, ...]) -> np.ndarray:
    return np.array([v in values for v in vocabulary] + [False])


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
        return _wanted(condition.values, SENIORITIES)[attrs.persona()[0]]
    if isinstance(condition, DepartmentIn):
        return _wanted(condition.values, DEPARTMENTS)[attrs.persona()[1]]
    if isinstance(condition, FreeMail):
        return attrs.free_mail() == (1.0 if condition.flag else 0.0)  # NaN (unknown) matches neither
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
# Putting it together
# --------------------------------------------------------------------------------------------------
def _format_points(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(codes, texts): "+25", "-10", "+12.5", one decimal at most, formatted once per distinct value."""
    uniques, codes = np.unique(np.round(values, 1), return_inverse=True)
    return codes, [f"{u:+.1f}".removesuffix(".0") for u in uniques.tolist()]


def _reasons(n: int, rows: np.ndarray, rule_index: np.ndarray, points: np.ndarray, counts: np.ndarray,
             labels: list[str], repeats: list[bool]) -> list[str]:
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
    key_uniques, key_codes = np.unique(rule_index.astype(np.int64) * width + np.where(repeat, counts, 0),
                                       return_inverse=True)
    prefixes = [labels[k // width] + (f" ×{k % width}" if k % width else "") + " " for k in key_uniques.tolist()]
    point_codes, point_texts = _format_points(points)
    texts = [prefixes[k] + point_texts[p] for k, p in zip(key_codes.tolist(), point_codes.tolist(), strict=True)]
    ends = np.cumsum(np.bincount(rows, minlength=n)).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return ["; ".join(texts[a:b]) for a, b in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class _Compiled:
    """A rules file made ready once: its event rules as arrays, its labels, and how rules add up."""

    config: RulesConfig
    events: EventRules
    labels: list[str]
    repeats: list[bool]
    fit: list[tuple[int, Condition, float]]
    """(rule index, condition, points) of every rule on who the lead is."""
    order: list[int]
    """Rule indexes in the order their points add up: ungrouped rules in file order, then each group's."""
    groups: list[list[int]]
    """Each group's rule indexes (of its rules that fire, only the one worth most counts)."""


_COMPILED: dict[int, _Compiled] = {}


def _compiled(config: RulesConfig) -> _Compiled:
    """A rules file's event rules as arrays, with its labels, made once per loaded file."""
    found = _COMPILED.get(id(config))
    if found is None or found.config is not config:
        rules = config.rules()
        groups: dict[str, list[int]] = {}
        ungrouped = []
        for index, (_, _, rule) in enumerate(rules):
            if rule.group is None:
                ungrouped.append(index)
            else:
                groups.setdefault(rule.group, []).append(index)
        found = _Compiled(
            config, compile_event_rules(config), [rule.display(rule_id) for _, rule_id, rule in rules],
            [not isinstance(rule, FitRule) and getattr(rule, "repeat", "once") != "once" for _, _, rule in rules],
            [(index, rule.when, float(rule.points)) for index, (_, _, rule) in enumerate(rules)
             if getattr(rule, "when", None) is not None],
            ungrouped + [index for members in groups.values() for index in members], list(groups.values()))
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        _COMPILED[id(config)] = found
    return found


def _rule_points(compiled: _Compiled, attrs: _LeadAttributes, inverse: np.ndarray, event_points: np.ndarray,
                 event_counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every rule's points and count per row (``n × rules``), groups resolved (only a group's best rule counts)."""
    n_rules = len(compiled.labels)
    points = np.zeros((n, n_rules))
    counts = np.zeros((n, n_rules), dtype=np.int64)
    points[:, compiled.events.index] = event_points
    counts[:, compiled.events.index] = event_counts
    for index, condition, value in compiled.fit:
        hit = evaluate_condition(condition, attrs)[inverse]
        points[:, index] = np.where(hit, value, 0.0)
        counts[:, index] = hit & (value != 0)
    for members in compiled.groups:
        block = points[:, members]
        best = np.abs(block).argmax(axis=1)
        keep = np.arange(len(members))[None, :] == best[:, None]
        points[:, members] = np.where(keep, block, 0.0)
    return points, counts


@dataclass
class RuleScores:
    """Rule results per row: ``score`` (NaN where not scored), ``grade`` and ``stage`` as codes into
    :data:`GRADE_LABELS` and :data:`STAGE_LABELS` (-1 where not scored), ``reasons`` (None where not scored)."""

    score: np.ndarray
    grade: np.ndarray
    stage: np.ndarray
    reasons: list[str | None]

    @staticmethod
    def text(codes: np.ndarray, names: tuple[str, ...]) -> list[str | None]:
        """``names[codes]``, None where a code is -1."""
        table = [*names, None]
        return [table[c] for c in codes.tolist()]


def rule_rows(staged: Staged, lead_pos: np.ndarray, as_of_ns: np.ndarray, config: RulesConfig,
              position: np.ndarray | None = None) -> RuleScores:
    """Rule points for rows of a staged export (lead positions, -1 for an unknown lead; as_of in epoch ns).

    A row whose lead is unknown, or was captured after its as_of, gets no score (a lead without a
    capture time is taken as known since always: the spine reports those before they get here). A
    lead closed at its as_of keeps its points but is graded ``closed`` with the stage that closed it:
    the rules never call it hot. ``position`` (:data:`~leadscore.features.building.stages.POSITIONS`
    indices per row) when the caller has it, else worked out here.
    """
    n = len(lead_pos)
    captured = np.append(staged.captured, np.iinfo(np.int64).max)
    known = (lead_pos >= 0) & (captured[lead_pos] <= as_of_ns)
    rows = np.flatnonzero(known)
    m = len(rows)
    # Fit rules once per distinct lead, then spread to its rows.
    distinct, inverse = np.unique(lead_pos[rows], return_inverse=True)
    attrs = _LeadAttributes(staged, distinct)
    compiled = _compiled(config)
    event_points, event_counts, mel = event_rule_rows(staged, lead_pos[rows], as_of_ns[rows], compiled.events)
    points, counts = _rule_points(compiled, attrs, inverse, event_points, event_counts, m)
    total = np.zeros(m)
    for index in compiled.order:  # added up in one fixed order, so a row's score never depends on its batch
        total += points[:, index]
    score = np.round(total, 1) + 0.0  # no -0.0
    fired_rows, fired_rules = np.nonzero(points)
    # Grades and stages read the rounded score, the number the user sees next to them.
    grade = np.select([score >= config.grades.hot, score >= config.grades.warm], [2, 1], 0)
    stage = np.select([score >= config.stages.sql, score >= config.stages.mql, mel], [3, 2, 1], 0)
    reasons = _reasons(m, fired_rows, fired_rules, points[fired_rows, fired_rules], counts[fired_rows, fired_rules],
                       compiled.labels, compiled.repeats)
    if position is None:
        position = staged_position(staged, lead_pos[rows], as_of_ns[rows])
    else:
        position = np.asarray(position)[rows]
    closed_at = position - 2  # POSITIONS: open, sqo, then won, lost, disqualified as CLOSED_STAGES
    closed = closed_at >= 0
    grade = np.where(closed, len(GRADES), grade)
    stage = np.where(closed, len(RULE_STAGES) + closed_at, stage)
    if m == n:
        return RuleScores(score, grade, stage, reasons)
    full_score = np.full(n, np.nan)
    full_score[rows] = score
    full_grade = np.full(n, -1, dtype=np.int64)
    full_grade[rows] = grade
    full_stage = np.full(n, -1, dtype=np.int64)
    full_stage[rows] = stage
    full_reasons: list[str | None] = [None] * n
    for row, text in zip(rows.tolist(), reasons, strict=True):
        full_reasons[row] = text
    return RuleScores(full_score, full_grade, full_stage, full_reasons)


def score_rules(tables: Tables, spine: pd.DataFrame, config: RulesConfig, staged: Staged | None = None,
                position: pd.Series | None = None) -> pd.DataFrame:
    """Rule-based points for each spine row, using only data at or before its as_of.

    Parameters
    ----------
    tables
        The export in contract form.
    spine
        Rows of ``lead_id`` and ``as_of``; the output keeps their order, one row each.
    config
        Rules from :func:`leadscore.scorers.rules.load_rules`.
    staged
        :func:`~leadscore.features.building.staging.stage_tables` of ``tables`` when the caller has it.
    position
        Where each spine row's lead stands at its as_of
        (:func:`leadscore.features.building.stages.funnel_position`, aligned with ``spine``), when the
        caller has it already; worked out here otherwise.

    Returns
    -------
    pandas.DataFrame
        ``lead_id``, ``as_of``, ``rule_score`` (points, one decimal), ``rule_grade`` (cold / warm /
        hot), ``rule_stage`` (MCL / MEL / MQL / SQL: SQL and MQL by score threshold, MEL by the MEL
        rule; a lead closed at as_of, won, lost or disqualified, keeps its points but is graded
        ``closed`` with the stage that closed it, ``WON`` / ``LOST`` / ``DISQUALIFIED``: the rules
        never call it hot) and ``rule_reasons`` (the rules that fired with their points, largest first, e.g.
        "Company >1,000 employees +30; Demo request +25"). A row whose lead is not in the export, or
        was captured after the row's as_of, has a null score, grade, stage and reasons: the scorer
        gives it a status.

    Notes
    -----
    Behaviour points decay as ``points × 0.5 ** (age_days / half_life_days)`` with the age measured
    from as_of; fit points never decay. ``cap`` applies after decay.
    """
    spine = check_spine(spine)
    lead_ids = tables.leads["lead_id"].astype("str").reset_index(drop=True)
    duplicated = lead_ids.duplicated()
    if duplicated.any():
        raise LeadscoreError(
            f"leads: lead_id must be unique, but {int(duplicated.sum())} rows repeat an id "
            f"(first: {lead_ids[duplicated].iloc[0]!r})."
        )
    if staged is None or staged.source is not tables:
        staged = stage_tables(tables)
    lead_pos = staged.positions(pa.array(spine["lead_id"].array))
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    n_unknown = int((lead_pos < 0).sum())
    n_not_yet = int(((lead_pos >= 0) & (np.append(staged.captured, 0)[lead_pos] > as_of_ns)).sum())
    if n_unknown or n_not_yet:
        logger.debug("rules: %d rows of unknown leads and %d rows before their lead's capture get no score",
                     n_unknown, n_not_yet)
    codes = None if position is None else position_codes(position)
    parts = [rule_rows(staged, lead_pos[i:i + CHUNK_ROWS], as_of_ns[i:i + CHUNK_ROWS], config,
                       None if codes is None else codes[i:i + CHUNK_ROWS])
             for i in range(0, len(spine), CHUNK_ROWS)] or [rule_rows(staged, lead_pos, as_of_ns, config)]
    score = np.concatenate([p.score for p in parts])
    grade = np.concatenate([p.grade for p in parts])
    stage = np.concatenate([p.stage for p in parts])
    reasons = [text for p in parts for text in p.reasons]
    return pd.DataFrame({
        "lead_id": spine["lead_id"],
        "as_of": spine["as_of"],
        "rule_score": score,
        "rule_grade": pd.array(RuleScores.text(grade, GRADE_LABELS), dtype="str"),
        "rule_stage": pd.array(RuleScores.text(stage, STAGE_LABELS), dtype="str"),
        "rule_reasons": pd.array(reasons, dtype="str"),
    })
