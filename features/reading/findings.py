"""What reading and validating an export reports: one :class:`Finding` per problem, with where and how to fix.

Reading (``sources``), the mapping (``mapping``), type coercion (``coerce``) and the contract rules
(``validation``) all report through this one shape, so the command line, the JSON output and the
``ContractError`` raised by ``load_tables`` show every problem the same way. It lives in its own small
module because every one of those steps produces findings and ``validation`` imports the others.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Severity = Literal["error", "warning"]
MAX_EXAMPLES = 5
# An example shows the offending value, not a row: long text is cut to this many characters.
EXAMPLE_CHARS = 60
# Findings about the export as a whole (not one table) carry this table name.
EXPORT = "export"


@dataclass
class Finding:
    """One problem found in an export.

    Attributes
    ----------
    severity
        ``"error"``: the data is unusable or wrong until fixed (``leadscore validate`` exits 1).
        ``"warning"``: worth knowing, never blocks.
    table
        Contract table the problem is in, or ``"export"`` for the export as a whole.
    column
        Contract column (or the export's own column name, where it has no contract name), else None.
    rule
        Short code of the broken rule, e.g. ``"missing_column"``, ``"duplicate_id"``.
    n_rows
        How many rows are affected (0 where the problem is not about rows).
    examples
        At most five ``{"row": <1-based data row number, header excluded>, "value": ...}``: the
        offending value, cut to ``EXAMPLE_CHARS``, never the whole row.
    message
        What is wrong, in one sentence.
    fix
        How to fix it, in one sentence.
    counts
        Where the problem is a set of values (unknown categories), every one of them with its row count;
        the text report summarises, ``--json`` lists them all.
    """

    severity: Severity
    table: str
    column: str | None
    rule: str
    n_rows: int
    examples: list[dict[str, Any]]
    message: str
    fix: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def where(self) -> str:
        """``table.column`` (or just ``table``) for messages."""
        return f"{self.table}.{self.column}" if self.column else self.table

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, keys in the documented order."""
        return asdict(self)


def error(table: str, column: str | None, rule: str, message: str, fix: str, n_rows: int = 0,
          examples: list[dict[str, Any]] | None = None, counts: dict[str, int] | None = None) -> Finding:
    """An error finding (keyword-light constructor so call sites read like the report)."""
    return Finding("error", table, column, rule, int(n_rows), examples or [], message, fix, dict(counts or {}))


def warning(table: str, column: str | None, rule: str, message: str, fix: str, n_rows: int = 0,
            examples: list[dict[str, Any]] | None = None, counts: dict[str, int] | None = None) -> Finding:
    """A warning finding: reported, never blocking."""
    return Finding("warning", table, column, rule, int(n_rows), examples or [], message, fix, dict(counts or {}))


def plain_value(value: Any) -> Any:
    """A JSON-ready form of one cell: None for missing, ISO text for times, Python scalars otherwise."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def short_text(value: Any, limit: int = EXAMPLE_CHARS) -> str:
    """``value`` as text of at most ``limit`` characters, an ellipsis marking a cut.

    Examples
    --------
    >>> short_text("x" * 50, 10)
    'xxxxxxxxx…'
    """
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def row_examples(frame_index: pd.Index, mask: np.ndarray | pd.Series, values: pd.Series | Sequence[Any]) -> list[dict[str, Any]]:
    """Up to five ``{"row", "value"}`` examples where ``mask`` holds, long text cut short.

    ``frame_index`` carries each row's 0-based position in the user's file (readers keep it through
    every step), so the reported row number is the one the user sees in their own file.
    """
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))[:MAX_EXAMPLES]
    values_list = values.iloc[positions] if isinstance(values, pd.Series) else [values[i] for i in positions]
    return [
        {"row": int(frame_index[p]) + 1, "value": _short_value(plain_value(v))}
        for p, v in zip(positions, list(values_list), strict=True)
    ]


def _short_value(value: Any) -> Any:
    return short_text(value) if isinstance(value, str) else value


def count_by_severity(findings: Sequence[Finding]) -> tuple[int, int]:
    """``(n_errors, n_warnings)``."""
    n_errors = sum(f.is_error for f in findings)
    return n_errors, len(findings) - n_errors
