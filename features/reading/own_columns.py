"""The export's own columns: which of them can be features, of what kind, and why the others cannot.

Every column of ``leads`` and ``accounts`` that the mapping does not turn into a contract column, that
is not excluded (``features.exclude``) and that is not an outcome (``stage_dates`` / ``reached``) is a
candidate feature. Its kind is inferred from its values:

- **yes_no**: at most two distinct values, all of them yes/no words (yes, no, true, false, 1, 0, y, n);
- **number**: (nearly) every value a finite number;
- **timestamp**: (nearly) every value a date; used as "days from that moment to as_of", and only when
  the moment is at or before as_of;
- **category**: anything else, with rare values grouped when features are built.

A web form's placeholder ("Select", "--", "Please choose", "N/A" …: the first option of a drop-down that
nobody changed) is no answer, whatever the column: it reads as missing before the kind is inferred.

Identifier-like and personal columns never become features, and are listed with the reason: values
unique per lead, e-mail addresses, names, phone numbers, addresses, and free text. So are columns with
no value or one value for every row.

Reading types the usable columns once (numbers as float, yes/no as boolean, timestamps as UTC), so
building features, at training and at scoring, only looks them up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from leadscore.features.contract import TABLES
from leadscore.features.reading.coerce import (
    NULL_TOKENS,
    as_text,
    parse_booleans,
    parse_numbers,
    parse_timestamps,
)
from leadscore.features.reading.findings import Finding, error
from leadscore.features.reading.mapping import FALSE_WORDS, TRUE_WORDS
from leadscore.features.tables import ColumnNotes

OwnKind = Literal["number", "category", "yes_no", "timestamp"]
OWN_TABLES = ("leads", "accounts")
SAMPLE = 5_000
# Share of the sampled values that must read as numbers / dates for the column to be that kind.
NUMBER_SHARE = 0.98
DATE_SHARE = 0.95
MIN_ROWS_FOR_UNIQUE = 50
FREE_TEXT_LENGTH = 40
# Headers that name personal data: words anywhere in the header, or the whole header.
PERSONAL_WORDS = re.compile(
    r"\b(phone|mobile|cell ?phone|telephone|fax|whatsapp|first ?name|last ?name|full ?name|surname|given ?name|"
    r"street|address|postcode|post ?code|zip|zip ?code|ssn|passport|birth ?date|date of birth|dob)\b"
)
PERSONAL_HEADERS = frozenset({"name", "contact name", "lead name", "person", "email", "e-mail",
                              "email address", "e-mail address", "mail", "tel"})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")
DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
# What a date in any layout coercion reads looks like, checked before the (costlier) parse.
DATE_SHAPE = re.compile(r"^(?:\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4}|[A-Za-z]{3,9}\.? \d{1,2}, \d{4}"
                        r"|[A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{4})")


# A form's "no answer": compared with blanks, dashes, dots and brackets at either end removed, case-folded.
PLACEHOLDERS = frozenset({
    "", "select", "select one", "select an option", "select option", "please select", "please select one",
    "please select an option", "choose", "choose one", "choose an option", "please choose", "please choose one",
    "please choose an option", "pick one", "please pick one", "not selected", "none selected", "no selection",
    "n/a", "n / a", "#n/a",
})
PLACEHOLDER_ENDS = " \t-_.*()[]<>"


def is_placeholder(value: str) -> bool:
    """Whether ``value`` is a form's placeholder (see :data:`PLACEHOLDERS`).

    Examples
    --------
    >>> [is_placeholder(v) for v in ("Select", " --Select-- ", "Please choose...", "--", "N/A", "NA", "Other")]
    [True, True, True, True, True, False, False]
    """
    return value.strip(PLACEHOLDER_ENDS).casefold() in PLACEHOLDERS


def without_placeholders(text: pd.Series) -> pd.Series:
    """``text`` (trimmed text, see ``as_text``) with form placeholders as missing; judged once per distinct value."""
    distinct = text.dropna().unique()
    found = [v for v in distinct if is_placeholder(str(v))]
    return text.mask(text.isin(found)) if found else text


@dataclass(frozen=True)
class OwnColumn:
    """One of the export's own columns of ``leads`` or ``accounts``, and what leadscore makes of it.

    Attributes
    ----------
    table, column
        Where it is (``leads`` / ``accounts``) and its header as the export writes it.
    kind
        The inferred kind, or None when the column cannot be a feature.
    n_distinct, share_missing
        Distinct non-missing values and the share of rows without a value.
    why
        Empty when usable; else why it is not a feature, in a few words.
    feature
        The feature's name (``own_<header as a name>``) when usable.
    """

    table: str
    column: str
    kind: OwnKind | None
    n_distinct: int
    share_missing: float
    why: str = ""
    feature: str | None = None

    @property
    def used(self) -> bool:
        return self.kind is not None


def feature_name(table: str, column: str, taken: set[str]) -> str:
    """``own_<header as a name>`` (``own_account_…`` for accounts), unique among ``taken``.

    Examples
    --------
    >>> feature_name("leads", "Lead Source", set()), feature_name("accounts", "Total Visits (30d)", set())
    ('own_lead_source', 'own_account_total_visits_30d')
    """
    slug = "_".join(re.findall(r"[a-z0-9]+", column.lower())) or "column"
    base = f"own_{'account_' if table == 'accounts' else ''}{slug}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _personal(column: str, text: pd.Series) -> str:
    """Why the values or the header say personal data, else "".

    The patterns run on the distinct values, weighted by how often each occurs: a category of twenty
    values is twenty regex matches, not thousands.
    """
    header = " ".join(column.lower().replace("_", " ").split())
    counts = text.value_counts()
    distinct = pd.Series(counts.index.astype(str), dtype="str")
    weight = counts.to_numpy(dtype=float) / counts.sum()

    def share(mask: pd.Series) -> float:
        return float((mask.to_numpy(dtype=bool, na_value=False) * weight).sum())

    if share(distinct.str.match(EMAIL.pattern)) > 0.5:
        return "e-mail addresses (personal data)"
    digits = distinct.str.count(r"\d")
    phone = distinct.str.match(PHONE.pattern) & (digits >= 7) & ~distinct.str.match(DATE_LIKE.pattern)
    if share(phone) > 0.8 and not distinct.str.fullmatch(r"[\d.]+").all():
        return "phone numbers (personal data)"
    if header in PERSONAL_HEADERS or PERSONAL_WORDS.search(header):
        return "personal data, by its name (a name, e-mail, phone or address)"
    return ""


def infer_kind(column: str, values: pd.Series, n_rows: int) -> tuple[OwnKind | None, str, int]:
    """``(kind, why_not, n_distinct)`` of one column from its values (see the module docstring)."""
    present = values.dropna()
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        return ("timestamp" if len(present) else None), ("" if len(present) else "no value in any row"), present.nunique()
    text = without_placeholders(as_text(values)) if not pd.api.types.is_bool_dtype(values.dtype) else values.astype("str")
    text = text.dropna()
    n_distinct = int(text.nunique())
    if len(text) == 0:
        return None, "no value in any row", 0
    if n_distinct == 1:
        return None, "one value for every row", 1
    sample = text.sample(SAMPLE, random_state=0) if len(text) > SAMPLE else text
    words = {w.lower().removesuffix(".0") for w in sample.unique()}
    if pd.api.types.is_bool_dtype(values.dtype) or (n_distinct <= 2 and words <= TRUE_WORDS | FALSE_WORDS):
        return "yes_no", "", n_distinct
    personal = _personal(column, sample)
    if personal:
        return None, personal, n_distinct
    unique = n_distinct == len(text) and len(text) >= MIN_ROWS_FOR_UNIQUE
    # "n/a", "NULL" … are no value in a number or date column (coercion reads them so), not a sign of text.
    valued = sample[~sample.str.lower().isin(NULL_TOKENS)]
    numbers, failed = parse_numbers(valued)
    if len(valued) and (~failed & numbers.notna().to_numpy()).mean() >= NUMBER_SHARE:
        whole = np.all(np.mod(numbers.dropna().to_numpy(), 1) == 0)
        if unique and whole:
            return None, "unique whole numbers for every lead (an identifier)", n_distinct
        return "number", "", n_distinct
    if sample.str.len().median() > FREE_TEXT_LENGTH:
        return None, "free text", n_distinct
    # Dates before the uniqueness test: a "Last Activity Date" with a time of day differs on every row
    # and is still a moment, not an identifier.
    if len(valued) and valued.str.match(DATE_SHAPE.pattern).mean() >= DATE_SHARE:
        parsed, _, _ = parse_timestamps(valued)
        if parsed.notna().mean() >= DATE_SHARE:
            return "timestamp", "", n_distinct
    if unique:
        return None, "a different value for every lead (an identifier)", n_distinct
    if n_distinct > max(100, 0.5 * len(text)):
        return None, f"identifier-like ({n_distinct:,} distinct values among {len(text):,})", n_distinct
    return "category", "", n_distinct


def type_column(values: pd.Series, kind: OwnKind, date_order: str | None = None) -> pd.Series:
    """The column in its kind's dtype: float64, boolean, UTC timestamps or text; unreadable values missing."""
    if kind == "number":
        return parse_numbers(values)[0].astype("float64")
    if kind == "yes_no":
        return parse_booleans(values)[0].astype("boolean")
    if kind == "timestamp":
        return parse_timestamps(values, date_order)[0]
    return without_placeholders(as_text(values)).astype("str")


def describe_own_columns(frames: dict[str, pd.DataFrame], notes: dict[str, ColumnNotes]) -> list[OwnColumn]:
    """Every own column of ``leads`` and ``accounts`` with its kind, or why it is not a feature."""
    out: list[OwnColumn] = []
    taken: set[str] = set()
    for table in OWN_TABLES:
        frame = frames.get(table)
        if frame is None:
            continue
        note = notes.get(table, ColumnNotes())
        contract = set(TABLES[table].column_names)
        for column in frame.columns:
            if column in contract or str(column).endswith(" (unmapped)"):
                continue
            values = frame[column]
            if pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype):
                values = without_placeholders(as_text(values))
            share_missing = float(values.isna().mean()) if len(values) else 1.0
            if column in note.excluded:
                kind, why, n_distinct = None, "excluded in the mapping file (features.exclude)", int(values.nunique())
            elif column in note.outcomes:
                kind, why, n_distinct = None, "an outcome (read by stage_dates / reached)", int(values.nunique())
            else:
                kind, why, n_distinct = infer_kind(str(column), values, len(frame))
            out.append(OwnColumn(table, str(column), kind, int(n_distinct), share_missing, why,
                                 feature_name(table, str(column), taken) if kind else None))
    return out


def type_own_columns(frames: dict[str, pd.DataFrame], own: list[OwnColumn], date_order: str | None) -> list[Finding]:
    """Type the usable own columns in place (each frame's column replaced by its typed form).

    Returns an ``ambiguous_dates`` error for each own date column whose day/month order only a guess
    could settle (no ``date_order`` in the mapping), as for the contract's columns: a guess would
    silently move 3 April to 4 March, and every "days before as_of" with it.
    """
    findings: list[Finding] = []
    for item in own:
        if item.kind is None:
            continue
        frame = frames[item.table]
        if item.kind == "timestamp":
            parsed, _, note = parse_timestamps(frame[item.column], date_order)
            if note:
                findings.append(error(
                    item.table, item.column, "ambiguous_dates",
                    f"{item.table}.{item.column}: {note}, so leadscore will not guess.",
                    "Add `date_order: day_first` (or `month_first`) at the top of the mapping file, or write ISO-8601 "
                    f"dates in {item.column!r}.",
                ))
            frame[item.column] = parsed
        else:
            frame[item.column] = type_column(frame[item.column], item.kind, date_order)
    return findings


def own_column_records(own: list[OwnColumn] | tuple[OwnColumn, ...]) -> list[dict]:
    """The own columns as JSON-ready records (``leadscore validate --json``)."""
    return [
        {"table": c.table, "column": c.column, "kind": c.kind, "n_distinct": c.n_distinct,
         "share_missing": round(c.share_missing, 4), "used": c.used, "why": c.why or None, "feature": c.feature}
        for c in own
    ]


def format_own_columns(own: list[OwnColumn] | tuple[OwnColumn, ...]) -> str:
    """The "features from your export" section: column, kind, distinct values, share missing, used or why not."""
    if not own:
        return "features from your export: none (leads and accounts hold only contract columns)"
    width = min(40, max(len(c.column) for c in own))
    n_used = sum(c.used for c in own)
    lines = [f"features from your export: {n_used} of {len(own)} columns used",
             f"  {'column':<{width}}  {'table':<8}  {'kind':<9}  {'distinct':>8}  {'missing':>7}  used"]
    for c in own:
        name = c.column if len(c.column) <= width else c.column[: width - 1] + "…"
        used = "yes" if c.used else f"no: {c.why}"
        lines.append(f"  {name:<{width}}  {c.table:<8}  {c.kind or '-':<9}  {c.n_distinct:>8,}  "
                     f"{c.share_missing:>7.0%}  {used}")
    return "\n".join(lines)
