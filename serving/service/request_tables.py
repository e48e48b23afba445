"""A request's rows to typed :class:`~leadscore.features.tables.Tables`, read exactly as an export is read.

Every value becomes the text a CSV cell would hold (``543`` and ``"543"`` alike, ``true`` as ``"true"``) and
goes through the export reader's coercion (:func:`leadscore.features.reading.coerce.coerce_table`, with the
mapping file's value maps when the service has one) and its contract checks
(:func:`leadscore.features.reading.validation.check_frames`). What would be an error in an export refuses
the request with a field path (``leads[2].captured_at``) and one sentence; warnings do not.

A table left out of the request is absent (its features unknown, as for an export without it); a table
sent as an empty list is present with no rows ("nothing happened"). A lead without ``captured_at`` is not
refused: like the batch scorer, the service answers it with the status ``no captured_at`` (unless the
service's export knows the lead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadscore.features.contract import TABLES
from leadscore.features.errors import LeadscoreError
from leadscore.features.reading.coerce import coerce_table
from leadscore.features.reading.findings import Finding
from leadscore.features.reading.mapping import MappingFile
from leadscore.features.reading.shaping import map_own_values
from leadscore.features.reading.validation import check_frames
from leadscore.features.timestamps import to_utc
from leadscore.serving.service.schema import REQUEST_TABLES, ScoreRequest

MAX_SHOWN = 40  # characters of a refused value echoed back
ISO_EXAMPLE = "2025-01-06T18:50:49Z"


class RequestRefused(Exception):
    """The request breaks the contract: ``problems`` are ``(field path, sentence)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{loc}: {msg}" for loc, msg in problems))
        self.problems = problems


@dataclass
class RequestTables:
    """A request read: its typed frames (only the tables it sent), its moment and the leads to answer."""

    frames: dict[str, pd.DataFrame]
    as_of: pd.Timestamp
    lead_ids: pd.Series
    own: dict[str, dict[str, str]] = field(default_factory=dict)


def cell_text(value: object) -> str | None:
    """A JSON scalar as the text a CSV cell would hold (``None`` for null).

    Examples
    --------
    >>> [cell_text(v) for v in (543, 5.0, 0.25, True, "2025-01-06", None)]
    ['543', '5', '0.25', 'true', '2025-01-06', None]
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # An integral float is written as its integer (an id 123.0 reads as "123", as in an export).
        return str(int(value)) if math.isfinite(value) and value.is_integer() else repr(value)
    raise TypeError(type(value).__name__)


def own_columns_read(spec_features: list[dict]) -> dict[str, dict[str, str]]:
    """Per table, the export's own columns the models read (header -> kind), from their specs' ``source``."""
    out: dict[str, dict[str, str]] = {}
    for feature in spec_features:
        source = feature.get("source")
        if source:
            out.setdefault(source["table"], {})[source["column"]] = source["kind"]
    return out


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…")


def _sentence(finding: Finding, value: object) -> str:
    column = TABLES[finding.table].column(finding.column) if finding.column in TABLES[finding.table].column_names \
        else None
    rule = finding.rule
    if rule == "bad_timestamp":
        return f"{_shown(value)} is not a timestamp; write ISO-8601 such as {ISO_EXAMPLE}"
    if rule == "bad_number":
        return f"{_shown(value)} is not a finite number"
    if rule == "bad_bool":
        return f"{_shown(value)} is not true/false, yes/no or 1/0"
    if rule in ("null_value", "missing_column"):
        return "is required"
    if rule == "duplicate_id":
        return f"{_shown(value)} appears more than once; {finding.column} must be unique"
    if rule == "unknown_value" and column is not None and column.allowed:
        return f"{_shown(value)} is not one of {', '.join(column.allowed)}"
    if rule == "negative_value":
        return f"{_shown(value)} is negative; it cannot be"
    if rule == "ambiguous_dates":
        return f"these dates read both month first and day first; write ISO-8601 such as {ISO_EXAMPLE}"
    return finding.message


def problems_of(findings: list[Finding], raw: dict[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """The errors among ``findings`` as ``(field path, sentence)``, one per example row."""
    problems: list[tuple[str, str]] = []
    for finding in findings:
        if not finding.is_error:
            continue
        if finding.table == "leads" and finding.column == "captured_at" and finding.rule in ("null_value",
                                                                                           "missing_column"):
            continue  # answered per lead ("no captured_at"), as the batch scorer does
        where = finding.table + (f".{finding.column}" if finding.column else "")
        if not finding.examples:
            problems.append((where, _sentence(finding, None)))
            continue
        for example in finding.examples:
            row = int(example["row"]) - 1
            frame = raw.get(finding.table)
            value = example.get("value")
            if frame is not None and finding.column in frame.columns and 0 <= row < len(frame):
                value = frame[finding.column].iloc[row]
            problems.append((f"{finding.table}[{row}]" + (f".{finding.column}" if finding.column else ""),
                             _sentence(finding, value)))
    return problems


def request_frames(request: ScoreRequest, own: dict[str, dict[str, str]]) -> tuple[dict[str, pd.DataFrame],
                                                                                 list[tuple[str, str]]]:
    """The tables the request sent as frames of text: contract columns, then the own columns models read."""
    frames: dict[str, pd.DataFrame] = {}
    problems: list[tuple[str, str]] = []
    for table in REQUEST_TABLES:
        if getattr(request, table) is None:
            continue
        rows = request.rows(table)
        # A contract column no row fills is left out (``make_tables`` adds it as nulls of its type): reading
        # it would cost as much as reading a filled one. A required one stays, so the checks name it.
        columns = [c.name for c in TABLES[table].columns
                   if (c.required and not c.nullable) or any(row.get(c.name) is not None for row in rows)]
        wanted = own.get(table, {})
        columns += [name for name in wanted if any(name in row for row in rows) and name not in columns]
        data: dict[str, pd.api.extensions.ExtensionArray] = {}
        for name in columns:
            texts: list[str | None] = []
            for position, row in enumerate(rows):
                try:
                    texts.append(cell_text(row.get(name)))
                except TypeError:
                    problems.append((f"{table}[{position}].{name}", "must be a single value (text, number, true/false "
                                                                    "or null)"))
                    texts.append(None)
            data[name] = pd.array(texts, dtype="str")
        frames[table] = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    return frames, problems


def read_request(request: ScoreRequest, spec_features: list[dict], mapping: MappingFile | None = None) -> RequestTables:
    """The request's tables typed and checked like an export's; its ``as_of`` (default: now, UTC).

    Raises
    ------
    RequestRefused
        Naming every field that breaks the contract.
    """
    problems: list[tuple[str, str]] = []
    as_of = pd.Timestamp.now(tz="UTC")
    if request.as_of is not None:
        try:
            as_of = to_utc(request.as_of, "as_of", mapping.date_order if mapping else None)
        except LeadscoreError as exc:
            problems.append(("as_of", str(exc).removeprefix("as_of ").rstrip(".")))
    own = own_columns_read(spec_features)
    raw, cell_problems = request_frames(request, own)
    problems += cell_problems
    date_order = mapping.date_order if mapping else None
    frames: dict[str, pd.DataFrame] = {}
    unparsed: dict[str, dict[str, np.ndarray]] = {}
    findings: list[Finding] = []
    for table, frame in raw.items():
        if mapping is not None and table in own:
            frame, _ = map_own_values(frame, table, mapping.table(table))
        coerced = coerce_table(table, frame, mapping.value_maps(table) if mapping else None, date_order)
        findings += coerced.findings
        frames[table] = coerced.frame
        unparsed[table] = coerced.unparsed
    findings += check_frames(frames, data_end=None, now=as_of, unparsed=unparsed)
    problems += problems_of(findings, raw)
    if problems:
        raise RequestRefused(problems)
    return RequestTables(frames=frames, as_of=as_of, lead_ids=frames["leads"]["lead_id"], own=own)
