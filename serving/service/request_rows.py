"""A request's rows read into typed values without pandas, when every value reads unambiguously.

Most requests a CRM sends are plain: ISO-8601 times, numbers, true/false, categories in (any case of) the
contract's spelling, ids that match across the tables. For those, :func:`read_plain_request` gives the
values the export reader (:mod:`leadscore.serving.service.request_tables`, through
:func:`leadscore.features.reading.coerce.coerce_table`) would give, in microseconds instead of
milliseconds, as typed rows the feature kernel stages directly
(:func:`leadscore.features.building.staging.stage_records`).

It never refuses a request and never guesses: on anything it does not read exactly as the export reader
would (another date layout, a value outside a closed vocabulary, a negative count, a repeated id, a row
naming a lead the request does not send, whitespace other than ASCII blanks, a null where the contract
needs a value, the export's own columns the models read) it returns None, and the request goes the
export reader's way, which decides and explains. Tests hold the two ways to identical answers.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import date

from leadscore.features.contract import TABLES, Column
from leadscore.features.reading.coerce import NULL_TOKENS
from leadscore.features.reading.mapping import FALSE_WORDS, TRUE_WORDS, normalize_label
from leadscore.serving.service.request_tables import cell_text
from leadscore.serving.service.schema import REQUEST_TABLES, ScoreRequest

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?"
)
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ASCII_BLANKS = " \t\n\r\f\v"
_EPOCH = date(1970, 1, 1).toordinal()
_NS = 1_000_000_000


class NotPlain(Exception):
    """A value the plain reader does not read exactly as the export reader would: use that reader."""


@dataclass
class PlainRequest:
    """A request's rows as typed values (text, epoch ns, float, bool; None for none), its moment and leads."""

    tables: dict[str, list[dict]]
    as_of_ns: int
    lead_ids: list[str]


def parse_timestamp(text: str) -> int:
    """An ISO-8601 moment as epoch nanoseconds (naive read as UTC), or :class:`NotPlain`.

    Examples
    --------
    >>> parse_timestamp("1970-01-02T00:00:01.5+01:00")
    82801500000000
    """
    match = _ISO.fullmatch(text)
    if match is None:
        raise NotPlain
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH
    except ValueError:
        raise NotPlain from None
    h, m, s = int(hour or 0), int(minute or 0), int(second or 0)
    if h > 23 or m > 59 or s > 59 or not 1678 <= int(year) <= 2261:
        raise NotPlain
    shift = 0
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:])
        if oh > 23 or om > 59:
            raise NotPlain
        shift = (1 if offset[0] == "+" else -1) * (oh * 3600 + om * 60)
    nanos = int((fraction or "").ljust(9, "0"))
    return ((days * 86400 + h * 3600 + m * 60 + s - shift) * _NS) + nanos


def _text(value: object) -> str | None:
    """The cell as the export reader's trimmed text (None when empty)."""
    text = cell_text(value)
    if text is None:
        return None
    trimmed = text.strip(_ASCII_BLANKS)
    if trimmed and (trimmed[0].isspace() or trimmed[-1].isspace()):
        raise NotPlain  # Unicode blanks: trimmed by Arrow's rules, which Python's do not always match
    return trimmed or None


def _value(column: Column, raw: object, canonical: dict[str, str] | None) -> object:
    text = _text(raw)
    kind = column.kind
    if text is None:
        return None
    if kind in ("id", "string"):
        return text
    if kind == "category":
        if canonical is None:
            return text
        found = canonical.get(normalize_label(text))
        if found is None and not column.open_vocabulary:
            raise NotPlain  # outside the contract: the export reader refuses and says why
        return found if found is not None else text.strip()
    if text.casefold() in NULL_TOKENS:
        return None
    if kind == "timestamp":
        return parse_timestamp(text)
    if kind == "number":
        if _NUMBER.fullmatch(text) is None:
            raise NotPlain
        number = float(text)
        if not math.isfinite(number) or (column.non_negative and number < 0):
            raise NotPlain
        return number
    if kind == "bool":
        word = text.lower().removesuffix(".0")
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise NotPlain
    raise NotPlain  # months: not a request table's


def _canonical(column: Column) -> dict[str, str] | None:
    return {normalize_label(a): a for a in column.allowed} if column.allowed else None


# Per table: each column, its contract spellings, and whether the export reader refuses a row without it
# (a lead without captured_at is answered per lead instead).
_COLUMNS = {table: [(c, _canonical(c), not c.nullable and (table, c.name) != ("leads", "captured_at"))
                    for c in TABLES[table].columns] for table in REQUEST_TABLES}


def _rows(table: str, rows: list[dict]) -> list[dict]:
    out = []
    columns = _COLUMNS[table]
    for row in rows:
        typed = {}
        for column, canonical, required in columns:
            raw = row.get(column.name)
            value = None if raw is None else _value(column, raw, canonical)
            if value is None and required:
                raise NotPlain  # the export reader refuses a missing required value
            typed[column.name] = value
        out.append(typed)
    for column, _, _ in columns:
        if column.unique:
            ids = [row[column.name] for row in out if row[column.name] is not None]
            if len(set(ids)) != len(ids):
                raise NotPlain
    return out


def read_plain_request(request: ScoreRequest, spec_features: list[dict], mapping: object | None = None,
                       now_ns: int | None = None) -> PlainRequest | None:
    """The request's typed rows, or None when it is not plain (see the module docstring).

    ``spec_features`` are the models' features (a model reading the export's own columns sends the
    request the export reader's way); ``mapping`` the service's mapping file (its value maps and own
    columns are the export reader's to apply).
    """
    if mapping is not None or any("source" in feature for feature in spec_features):
        return None
    try:
        as_of = parse_timestamp(_text(request.as_of) or "") if request.as_of is not None else (
            now_ns if now_ns is not None else time.time_ns())
        tables: dict[str, list[dict]] = {}
        for table in REQUEST_TABLES:
            rows = getattr(request, table)
            if rows is None:
                continue
            tables[table] = _rows(table, [{**row.__dict__, **(row.__pydantic_extra__ or {})} for row in rows])
    except NotPlain:
        return None
    lead_ids = [row["lead_id"] for row in tables["leads"]]
    known = set(lead_ids)
    for table in ("events", "stage_history", "opportunities"):
        if any(row["lead_id"] is not None and row["lead_id"] not in known for row in tables.get(table, ())):
            return None  # strays, or ids written differently: the export reader judges which
    if "accounts" in tables:
        accounts = {row["account_id"] for row in tables["accounts"]}
        for table in ("leads", "technographics", "opportunities"):
            if any(row["account_id"] is not None and row["account_id"] not in accounts for row in tables.get(table, ())):
                return None
    return PlainRequest(tables, as_of, lead_ids)
