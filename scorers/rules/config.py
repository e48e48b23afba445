"""The rules YAML: its schema, a closed vocabulary of conditions, and loading with one clear error.

Marketing edits this file by hand, so every mistake must come back as one sentence that names the key
path ("rules.yaml: behaviour.demo_request.points: must be a number") instead of a traceback or, worse,
a rule that silently never fires. Unknown keys, event types, page types, fields and operators are
errors; nothing in the file is ever evaluated as code. Conditions are compiled here into small frozen
objects (:class:`FieldTest`, :class:`AnyOf` …) that :mod:`leadscore.scorers.rules.engine` evaluates over whole
columns at once.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from leadscore.features.building.persona import DEPARTMENTS, SENIORITIES
from leadscore.features.contract import EVENT_CHANNELS, EVENT_TYPES, PAGE_TYPES, TABLES
from leadscore.features.errors import LeadscoreError

DEFAULT_RULES_PATH = Path(__file__).with_name("default.yaml")

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
PageType = Literal[PAGE_TYPES]  # type: ignore[valid-type]
EventChannel = Literal[EVENT_CHANNELS]  # type: ignore[valid-type]
Repeat = Literal["once", "per_occurrence", "per_day"]

PAGE_EVENT_TYPES = ("page_view", "form_submit")
EMAIL_EVENT_TYPES = ("email_sent", "email_open", "email_click")
# E-mail steps are held as bits of one integer per lead for the MEL rule.
MAX_EMAIL_STEP = 62


# --------------------------------------------------------------------------------------------------
# Compiled conditions on who the lead is (lead and account attributes, persona from the job title)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """A lead or account attribute a condition may test, with its contract kind and vocabulary."""

    name: str
    table: str
    kind: Literal["text", "number", "bool"]
    allowed: tuple[str, ...] | None = None


def _field_specs() -> dict[str, FieldSpec]:
    kinds = {"id": "text", "string": "text", "category": "text", "number": "number", "bool": "bool"}
    skip = {"lead_id", "account_id", "captured_at"}
    specs: dict[str, FieldSpec] = {}
    for table in ("leads", "accounts"):
        for column in TABLES[table].columns:
            if column.name in skip or column.kind not in kinds:
                continue
            closed = column.allowed if column.allowed and not column.open_vocabulary else None
            specs[column.name] = FieldSpec(column.name, table, kinds[column.kind], closed)  # type: ignore[arg-type]
    return specs


FIELDS: dict[str, FieldSpec] = _field_specs()
TEXT_OPERATORS = ("equals", "in", "not_in", "contains_any", "is_missing")
NUMBER_OPERATORS = ("equals", "between", "greater_than", "greater_or_equal", "less_than", "less_or_equal", "is_missing")
BOOL_OPERATORS = ("equals", "is_missing")
OPERATORS = {"text": TEXT_OPERATORS, "number": NUMBER_OPERATORS, "bool": BOOL_OPERATORS}
SPECIAL_CONDITIONS = ("any_of", "not", "title_contains_any", "seniority_in", "department_in", "free_mail")


@dataclass(frozen=True)
class FieldTest:
    """``field`` compared with ``value`` by ``op``; a missing value never matches except ``is_missing``.

    Text comparisons ignore case and surrounding spaces. ``between`` is ``[low, high)``: inclusive low,
    exclusive high, so adjacent bands ("200–1,000" and "over 1,000") never overlap.
    """

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class TitleContainsAny:
    """The raw job title contains any of ``words`` (case-insensitive substring)."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class SeniorityIn:
    """Seniority parsed from the job title by :func:`leadscore.features.building.persona.parse_job_titles`."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class DepartmentIn:
    """Department parsed from the job title by :func:`leadscore.features.building.persona.parse_job_titles`."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class FreeMail:
    """The e-mail domain is (``flag`` true) or is not a free consumer mail provider."""

    flag: bool


@dataclass(frozen=True)
class AllOf:
    """Every item holds (the keys of one ``when`` mapping)."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one item holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The item does not hold."""

    item: Condition


Condition = FieldTest | TitleContainsAny | SeniorityIn | DepartmentIn | FreeMail | AllOf | AnyOf | Not


class _ConditionError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _unknown(name: str, known: typing.Iterable[str], what: str, known_as: str = "known") -> str:
    known = list(known)
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {name!r}{hint}; {known_as}: {', '.join(known)}"


def _text_list(raw: Any, path: str, allowed: tuple[str, ...] | None = None, what: str = "value") -> tuple[str, ...]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values:
        raise _ConditionError(path, "must be a non-empty list of text values")
    out = []
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise _ConditionError(_join(path, i), "must be non-empty text")
        value = value.strip().casefold()
        if allowed is not None and value not in allowed:
            raise _ConditionError(_join(path, i), _unknown(value, allowed, what))
        out.append(value)
    return tuple(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _compile_field(name: str, raw: Any, path: str) -> Condition:
    spec = FIELDS[name]
    allowed_ops = OPERATORS[spec.kind]
    if not isinstance(raw, dict) or not raw:
        example = {"text": "{in: [software, saas]}", "number": "{greater_than: 1000}", "bool": "{equals: true}"}
        raise _ConditionError(path, f"must map an operator to a value, e.g. {name}: {example[spec.kind]}")
    tests: list[Condition] = []
    for op, value in raw.items():
        op_path = _join(path, str(op))
        if op not in allowed_ops:
            raise _ConditionError(op_path, _unknown(op, allowed_ops, "operator", f"a {spec.kind} field takes"))
        if op == "is_missing":
            if not isinstance(value, bool):
                raise _ConditionError(op_path, "must be true or false")
        elif spec.kind == "text":
            value = _text_list(value, op_path, spec.allowed, f"{name} value")
            if op == "equals" and len(value) != 1:
                raise _ConditionError(op_path, "must be one text value (use `in` for several)")
        elif spec.kind == "bool":
            if not isinstance(value, bool):
                raise _ConditionError(op_path, "must be true or false")
        elif op == "between":
            if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
                raise _ConditionError(op_path, "must be a list of two numbers [low, high] (low inclusive, high exclusive)")
            if value[0] >= value[1]:
                raise _ConditionError(op_path, f"low {value[0]} must be below high {value[1]}")
            value = (float(value[0]), float(value[1]))
        else:
            if not _is_number(value):
                raise _ConditionError(op_path, "must be a number")
            value = float(value)
        tests.append(FieldTest(name, op, value))
    return tests[0] if len(tests) == 1 else AllOf(tuple(tests))


def compile_condition(raw: Any, path: str = "when") -> Condition:
    """Compile one ``when`` mapping (all keys must hold) into a :data:`Condition`.

    Raises
    ------
    _ConditionError
        With the key path below ``path`` and one sentence; :func:`parse_rules` turns it into a
        :class:`~leadscore.features.errors.LeadscoreError`.
    """
    if not isinstance(raw, dict) or not raw:
        raise _ConditionError(path, "must be a mapping of conditions, e.g. {department_in: [it]}")
    items: list[Condition] = []
    for key, value in raw.items():
        key_path = _join(path, str(key))
        if key == "any_of":
            if not isinstance(value, list) or not value:
                raise _ConditionError(key_path, "must be a non-empty list of condition mappings")
            items.append(AnyOf(tuple(compile_condition(v, _join(key_path, i)) for i, v in enumerate(value))))
        elif key == "not":
            items.append(Not(compile_condition(value, key_path)))
        elif key == "title_contains_any":
            items.append(TitleContainsAny(_text_list(value, key_path)))
        elif key == "seniority_in":
            items.append(SeniorityIn(_text_list(value, key_path, SENIORITIES, "seniority")))
        elif key == "department_in":
            items.append(DepartmentIn(_text_list(value, key_path, DEPARTMENTS, "department")))
        elif key == "free_mail":
            if not isinstance(value, bool):
                raise _ConditionError(key_path, "must be true or false")
            items.append(FreeMail(value))
        elif key in FIELDS:
            items.append(_compile_field(str(key), value, key_path))
        else:
            raise _ConditionError(key_path, _unknown(key, [*SPECIAL_CONDITIONS, *FIELDS], "condition or field"))
    return items[0] if len(items) == 1 else AllOf(tuple(items))


def condition_fields(condition: Condition) -> set[str]:
    """Names of the lead/account fields and derived attributes a condition reads."""
    if isinstance(condition, FieldTest):
        return {condition.field}
    if isinstance(condition, AllOf | AnyOf):
        return set().union(*(condition_fields(c) for c in condition.items))
    if isinstance(condition, Not):
        return condition_fields(condition.item)
    if isinstance(condition, TitleContainsAny):
        return {"job_title"}
    if isinstance(condition, SeniorityIn | DepartmentIn):
        return {"persona"}
    return {"email_domain"}


def _validate_when(raw: Any) -> Condition:
    if isinstance(raw, AllOf | AnyOf | Not | FieldTest | TitleContainsAny | SeniorityIn | DepartmentIn | FreeMail):
        return raw
    try:
        return compile_condition(raw, "")
    except _ConditionError as exc:
        raise PydanticCustomError("condition", "{message}", {"message": exc.message, "path": exc.path}) from None


When = Annotated[Any, PlainValidator(_validate_when)]


# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------
class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


class EventFilter(_Section):
    """Which events a behaviour (or negative) rule counts, all at or before as_of.

    ``within_days`` keeps events with ``as_of - within_days <= occurred_at <= as_of``. ``min_count``
    is the number of matching events (matching days under ``repeat: per_day``) needed before the rule
    fires at all.
    """

    event_type: list[EventType]
    page_type: list[PageType] | None = None
    channel: list[EventChannel] | None = None
    email_step: list[Annotated[int, Field(ge=1, le=MAX_EMAIL_STEP)]] | None = None
    within_days: Annotated[float, Field(gt=0)] | None = None
    min_count: Annotated[int, Field(ge=1)] = 1

    @field_validator("event_type", "page_type", "channel", "email_step", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _check_applies(self) -> EventFilter:
        if self.page_type and not set(self.event_type) <= set(PAGE_EVENT_TYPES):
            raise ValueError("page_type applies only to page_view and form_submit events")
        if self.email_step and not set(self.event_type) <= set(EMAIL_EVENT_TYPES):
            raise ValueError("email_step applies only to email_sent, email_open and email_click events")
        return self


class _Rule(_Section):
    label: str | None = None
    group: str | None = None

    def display(self, rule_id: str) -> str:
        """The words used for this rule in ``rule_reasons``."""
        return self.label or rule_id.replace("_", " ").capitalize()


class FitRule(_Rule):
    """Points for who the lead is; fit points never decay.

    ``group``: of the rules sharing a group that fire for a lead, only the one with the most points
    counts (one job-role score per lead, not the sum of every role description it matches).
    """

    points: Annotated[float, Field(ge=0)]
    when: When


class _EventRule(_Rule):
    repeat: Repeat = "once"
    cap: Annotated[float, Field(gt=0)] | None = None
    decay: bool = True


class BehaviourRule(_EventRule):
    """Points for what the lead did, from events at or before as_of.

    ``repeat``: ``once`` (the most recent matching event), ``per_occurrence`` (every event) or
    ``per_day`` (every distinct UTC day with a matching event). ``cap``: the most points the rule gives
    after decay. ``decay``: whether the points fade with the configured half-life.
    """

    points: Annotated[float, Field(ge=0)]
    event: EventFilter


class NegativeRule(_EventRule):
    """Points taken off, either for who the lead is (``when``) or for what it did (``event``)."""

    points: Annotated[float, Field(lt=0)]
    when: When | None = None
    event: EventFilter | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> NegativeRule:
        if (self.when is None) == (self.event is None):
            raise ValueError("needs exactly one of `when` (who the lead is) or `event` (what it did)")
        if self.when is not None:
            extra = sorted({"repeat", "cap", "decay"} & self.model_fields_set)
            if extra:
                verb = "applies" if len(extra) == 1 else "apply"
                raise ValueError(f"{', '.join(extra)} {verb} only to `event` rules, not to `when` rules")
        return self


class Decay(_Section):
    """Behaviour points × 0.5 ** (age_days / half_life_days) at as_of; null turns decay off."""

    half_life_days: Annotated[float, Field(gt=0)] | None = 30.0


class Grades(_Section):
    """Temperature bands: hot at or above ``hot``, warm at or above ``warm``, else cold."""

    hot: float = 70.0
    warm: float = 40.0

    @model_validator(mode="after")
    def _ordered(self) -> Grades:
        if self.warm >= self.hot:
            raise ValueError(f"warm ({self.warm:g}) must be below hot ({self.hot:g})")
        return self


class Stages(_Section):
    """Score thresholds for MQL and SQL (SQL 70: the worked example's threshold after review)."""

    mql: float = 60.0
    sql: float = 70.0

    @model_validator(mode="after")
    def _ordered(self) -> Stages:
        if self.sql < self.mql:
            raise ValueError(f"sql ({self.sql:g}) must not be below mql ({self.mql:g})")
        return self


Step = Annotated[int, Field(ge=1, le=MAX_EMAIL_STEP)]
Rate = Annotated[float, Field(ge=0, le=1)]


class MelEmail(_Section):
    """MEL by the nurture sequence: opened one of ``first_steps`` and one of ``later_steps``.

    Rates are per lead over the distinct sequence e-mails it received (an opened or clicked e-mail
    counts as received even when the export lacks its ``email_sent`` row; a click counts as an open).
    """

    first_steps: list[Step] = [1, 2]
    later_steps: list[Step] = [3, 4, 5]
    min_open_rate: Rate = 0.4
    min_opens: Annotated[int, Field(ge=0)] = 2
    min_click_rate: Rate = 0.04
    within_days: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _disjoint(self) -> MelEmail:
        if not self.first_steps or not self.later_steps:
            raise ValueError("first_steps and later_steps must each list at least one e-mail step")
        shared = sorted(set(self.first_steps) & set(self.later_steps))
        if shared:
            raise ValueError(f"e-mail step(s) {shared} are in both first_steps and later_steps")
        return self


class MelVisits(_Section):
    """MEL by repeat visits: relevant pages seen on at least ``min_distinct_days`` separate days."""

    event_types: list[EventType] = ["page_view", "form_submit"]
    page_types: list[PageType] = ["product", "pricing", "contact"]
    min_distinct_days: Annotated[int, Field(ge=1)] = 3
    within_days: Annotated[float, Field(gt=0)] | None = None

    @field_validator("event_types", "page_types", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _page_events(self) -> MelVisits:
        if not set(self.event_types) <= set(PAGE_EVENT_TYPES):
            raise ValueError("event_types may hold only page_view and form_submit (events that have a page type)")
        return self


class MelRule(_Section):
    """The worked example's MEL rule: either branch suffices; a null branch is switched off."""

    email: MelEmail | None = MelEmail()
    visits: MelVisits | None = MelVisits()


class RulesConfig(_Section):
    """A whole rules file. Build it with :func:`load_rules` or :func:`parse_rules`."""

    version: Literal[1] = 1
    name: str | None = None
    decay: Decay = Decay()
    grades: Grades = Grades()
    stages: Stages = Stages()
    mel: MelRule | None = MelRule()
    fit: dict[str, FitRule] = {}
    behaviour: dict[str, BehaviourRule] = {}
    negative: dict[str, NegativeRule] = {}

    @model_validator(mode="after")
    def _unique_names(self) -> RulesConfig:
        seen: dict[str, str] = {}
        for section in ("fit", "behaviour", "negative"):
            for rule_id in getattr(self, section):
                if not rule_id.strip():
                    raise ValueError(f"{section}: a rule needs a non-empty name")
                if rule_id in seen:
                    raise ValueError(f"{section}.{rule_id}: the name is already used in {seen[rule_id]}")
                seen[rule_id] = section
        return self

    def rules(self) -> list[tuple[str, str, FitRule | BehaviourRule | NegativeRule]]:
        """Every rule as ``(section, rule_id, rule)`` in file order."""
        return [(s, rule_id, rule) for s in ("fit", "behaviour", "negative") for rule_id, rule in getattr(self, s).items()]


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that rejects a key given twice (PyYAML would silently keep the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in the same mapping", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _allowed_keys(loc: tuple) -> list[str] | None:
    """The keys the schema allows at the mapping that holds ``loc``'s last key."""
    current: Any = RulesConfig
    for segment in loc[:-1]:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(segment))
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


_TYPE_MESSAGES = {
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "missing": "is required",
}


def _describe(error: dict) -> tuple[str, str]:
    """(key path, message) for one pydantic error."""
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    path = ""
    for segment in loc:
        path = _join(path, segment)
    if kind == "condition":
        if ctx.get("path"):
            path = f"{path}.{ctx['path']}" if not str(ctx["path"]).startswith("[") else f"{path}{ctx['path']}"
        return path, str(ctx["message"])
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc)
        if allowed is not None:
            return path, _unknown(loc[-1], allowed, "key")
        return path, "unknown key"
    if kind == "literal_error":
        value = error.get("input")
        expected = str(ctx.get("expected", "")).replace("'", "")
        what = {"event_type": "event type", "page_type": "page type", "event_types": "event type",
                "page_types": "page type", "channel": "channel", "repeat": "repeat mode"}
        name = next((what[str(s)] for s in reversed(loc) if str(s) in what), "value")
        options = [o.strip() for o in expected.replace(" or ", ", ").split(",") if o.strip()]
        return path, _unknown(value, options, name) if options else f"{value!r} is not allowed"
    if kind == "value_error":
        return path, str(ctx.get("error", error["msg"]))
    if kind in _TYPE_MESSAGES:
        return path, _TYPE_MESSAGES[kind]
    message = error["msg"]
    if message.startswith("Input should be"):
        message = "must be" + message[len("Input should be"):]
    return path, message


def parse_rules(raw: Any, source: str = "rules.yaml") -> RulesConfig:
    """Validate an already-parsed rules mapping; any problem → one :class:`LeadscoreError`.

    The message names ``source`` and the key path of the first problem (and says how many more there
    are), e.g. ``rules.yaml: behaviour.demo_request.points: must be a number``.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise LeadscoreError(f"{source}: the file must hold a mapping (fit:, behaviour:, …), not a {type(raw).__name__}.")
    try:
        return RulesConfig.model_validate(raw)
    except ValidationError as exc:
        # A misspelt key also makes the real key "missing"; the misspelling is the one to report.
        errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] == "missing")
        path, message = _describe(errors[0])
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        where = f"{path}: " if path else ""
        raise LeadscoreError(f"{source}: {where}{message}{more}.") from None


def load_rules(path: str | Path | None = None) -> RulesConfig:
    """Read and validate a rules YAML file; ``None`` gives the shipped, documented ``default.yaml``.

    Raises
    ------
    LeadscoreError
        The file is missing, is not valid YAML, or breaks the schema; the message names the key path.

    Examples
    --------
    >>> config = load_rules()
    >>> config.behaviour["demo_request"].points, config.stages.sql
    (25.0, 70.0)
    """
    source = Path(path) if path is not None else DEFAULT_RULES_PATH
    name = str(path) if path is not None else "default rules"
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LeadscoreError(f"{name}: rules file not found.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LeadscoreError(f"{name}: cannot read the rules file ({exc}).") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise LeadscoreError(f"{name}: not valid YAML{where}: {problem}.") from None
    return parse_rules(raw, name)
