"""Raw export frames -> contract dtypes, reporting every value that could not be read.

Coercion never drops a row: a value it cannot read becomes null and is counted in a finding with
example rows, so a user sees "3 rows of events.occurred_at are not timestamps" instead of losing
them. Ids stay text (leading zeros kept), timestamps become ``datetime64[ns, UTC]``, numbers
``float64``, booleans pandas ``boolean``; columns outside the contract are kept untouched.

Large exports take a fast path: Arrow casts text to timestamps and numbers in C++ and pandas is
asked only when the fast cast fails (mixed offsets, other date formats, bad values). Text is trimmed
and compared in Arrow too (the same compute functions pandas' ``str`` methods call), wrapped back into
pandas once per column: a single lead posted to the service is read by this module, and wrapping every
step cost more than the steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.contract import NULL_TOKENS, PANDAS_DTYPES, TABLES, Column
from leadscore.features.reading.findings import Finding, error, row_examples, warning
from leadscore.features.reading.mapping import FALSE_WORDS, TRUE_WORDS, normalize_label
from leadscore.features.timestamps import read_moments, within_ns_range

MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
TIMESTAMP_DTYPE = PANDAS_DTYPES["timestamp"]
TEXT_DTYPE = pd.api.types.pandas_dtype(PANDAS_DTYPES["string"])



@dataclass
class Coerced:
    """One table in contract dtypes.

    ``unparsed`` marks, per contract column, the rows that held a value coercion could not read (now
    null), so the null check does not report those rows a second time.
    """

    frame: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    unparsed: dict[str, np.ndarray] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Text helpers


def as_text(values: pd.Series) -> pd.Series:
    """``values`` as pandas ``str`` with surrounding blanks trimmed and empty text as null."""
    return _text_series(_trimmed(values), values)


def _trimmed(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """:func:`as_text` as Arrow strings (``str.strip`` is Arrow's ``utf8_trim_whitespace``)."""
    if values.dtype != "str":
        if pd.api.types.is_float_dtype(values.dtype):
            values = values.map(_float_text, na_action="ignore")
        values = values.astype("str")
    text = pc.utf8_trim_whitespace(_arrow(values))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, type=text.type), text)


def _text_series(text: pa.Array | pa.ChunkedArray, like: pd.Series) -> pd.Series:
    """Arrow strings as a pandas ``str`` Series with ``like``'s index and name."""
    return pd.Series(pd.arrays.ArrowStringArray(text, dtype=TEXT_DTYPE), index=like.index, name=like.name, copy=False)


def _float_text(value: float) -> str:
    # An id column read as float (123.0) because it had gaps: write the integer back.
    return str(int(value)) if float(value).is_integer() else repr(value)


def _null_tokens_masked(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    is_token = pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(NULL_TOKENS), type=text.type))
    return pc.if_else(is_token, pa.scalar(None, type=text.type), text)


def _without_null_tokens(text: pd.Series) -> pd.Series:
    return _text_series(_null_tokens_masked(_arrow(text)), text)


def _arrow(text: pd.Series) -> pa.Array:
    return pa.array(text.array)


def apply_value_map(text: pd.Series, value_map: dict[str, str | None] | None, column: Column) -> pd.Series:
    """Apply the mapping's value map, then give category values their contract spelling.

    Mapping keys match exactly, else after trimming and case-folding. Values of a category with a
    vocabulary are then compared the same way (``"LinkedIn"`` -> ``linkedin``, ``"mql"`` -> ``MQL``),
    so only values that really differ need a mapping entry. Unknown values are kept (trimmed) for
    validation to report.
    """
    canonical = _canonical(column.allowed) if column.allowed else {}
    if not value_map and not canonical:
        return text
    exact = dict(value_map or {})
    folded = {normalize_label(k): v for k, v in exact.items()}
    # Distinct values in order of first appearance, nulls left out: what pandas' factorize gives.
    arrow = _arrow(text)
    distinct = pc.unique(arrow).drop_null()
    uniques = [str(u) for u in distinct.to_pylist()]
    mapped: list[str | None] = []
    for raw in uniques:
        if raw in exact:
            target = exact[raw]
        elif normalize_label(raw) in folded:
            target = folded[normalize_label(raw)]
        else:
            target = raw
        if target is not None and canonical:
            target = canonical.get(normalize_label(target), target.strip())
        mapped.append(target)
    if mapped == uniques:
        return text
    codes = pc.index_in(arrow, value_set=distinct)
    return _text_series(pa.array(mapped, type=arrow.type).take(codes), text)


@lru_cache(maxsize=64)
def _canonical(allowed: tuple[str, ...]) -> dict[str, str]:
    return {normalize_label(a): a for a in allowed}


# --------------------------------------------------------------------------------------------------
# Per kind


def normalize_ids(values: pd.Series) -> pd.Series:
    """Ids as trimmed text; integers keep their digits (no ``123.0``), text keeps leading zeros."""
    return as_text(values)


def parse_timestamps(values: pd.Series, date_order: str | None = None) -> tuple[pd.Series, np.ndarray, str | None]:
    """Parse a column to ``datetime64[ns, UTC]``.

    Returns ``(parsed, failed, note)``: ``failed`` marks values that were present but unreadable
    (now NaT); ``note`` names the day/month order guessed where the data cannot rule out the other
    (only when ``date_order``, ``day_first`` or ``month_first`` from the mapping file, is not given:
    with it, slashed dates are read in that order only). Offsets are honoured and naive times read
    as UTC (the contract's rule).

    Examples
    --------
    >>> dates = pd.Series(["03/04/2025", "05/06/2025"])
    >>> parse_timestamps(dates, "day_first")[0].dt.month.tolist()
    [4, 6]
    >>> parse_timestamps(dates)[2]
    "dates such as '03/04/2025' could be read month first (MM/DD) or day first (DD/MM); nothing in the column rules out either"
    """
    index = values.index
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        aware = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        parsed, outside = within_ns_range(aware)
        return parsed, outside, None
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        # Epoch numbers are ambiguous (seconds? milliseconds?) and rare in exports: report, never guess.
        failed = values.notna().to_numpy()
        return pd.Series(pd.NaT, index=index, dtype=TIMESTAMP_DTYPE), failed, None

    arrow = _trimmed(values)
    for target in (pa.timestamp("ns", tz="UTC"), pa.timestamp("ns")):
        try:
            cast = pc.cast(arrow, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if target.tz is None:  # naive throughout: the contract reads naive times as UTC
            cast = cast.cast(pa.timestamp("ns", tz="UTC"))
        parsed = pd.Series(cast.to_pandas().array, index=index, copy=False)
        if parsed.dtype != TIMESTAMP_DTYPE:
            parsed = parsed.astype(TIMESTAMP_DTYPE)
        return parsed, np.zeros(len(values), dtype=bool), None

    text = _text_series(_null_tokens_masked(arrow), values)
    parsed, note = read_moments(text, date_order)
    failed = (text.notna() & parsed.isna()).to_numpy()
    return parsed, failed, note


def parse_numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a column to ``float64``; ``failed`` marks present but unreadable values (now NaN)."""
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        arrow = _trimmed(values)
        try:
            cast = pc.cast(arrow, pa.float64())
            numbers = pd.Series(cast.to_numpy(zero_copy_only=False), index=values.index)
            failed = np.zeros(len(values), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = _text_series(_null_tokens_masked(arrow), values)
            numbers = pd.to_numeric(text, errors="coerce").astype("float64")
            failed = (text.notna() & numbers.isna()).to_numpy()
    else:
        numbers = pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)
        failed = np.zeros(len(values), dtype=bool)
    infinite = np.isinf(numbers.to_numpy())
    if infinite.any():  # "inf" or 1e400 is no amount or count anyone meant
        numbers = numbers.mask(infinite)
        failed = failed | infinite
    return numbers, failed


def parse_booleans(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse true/false, yes/no, 1/0, t/f, y/n (any case) to pandas ``boolean``."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), np.zeros(len(values), dtype=bool)
    text = as_text(values)
    codes, uniques = pd.factorize(text)
    words = [str(u).lower().removesuffix(".0") for u in uniques]
    mapped = [True if w in TRUE_WORDS else False if w in FALSE_WORDS else None for w in words]
    bad_unique = np.array([m is None and w not in NULL_TOKENS for m, w in zip(mapped, words, strict=True)] + [False])
    result = pd.array(mapped + [None], dtype="boolean")[codes]  # code -1 picks the trailing None
    return pd.Series(result, index=values.index), bad_unique[codes]


def normalize_months(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Months as ``YYYY-MM`` text; typed dates are formatted, other text must already be YYYY-MM."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.strftime("%Y-%m").astype("str"), np.zeros(len(values), dtype=bool)
    text = _without_null_tokens(as_text(values))
    ok = text.str.fullmatch(MONTH_PATTERN.pattern).fillna(False).astype(bool) | text.isna()
    return text, ~ok.to_numpy()


# --------------------------------------------------------------------------------------------------
# Whole table


FIXES = {
    "bad_timestamp": "Write timestamps as ISO-8601 (2024-03-05T14:00:00Z, or 2024-03-05 14:00:00 read as UTC), or fix the rows shown.",
    "bad_number": "Write plain numbers with a dot for decimals and no thousands separators (1234.5), or fix the rows shown.",
    "bad_bool": "Use true/false, yes/no or 1/0, or map the export's words under `values:` in the mapping file.",
    "bad_month": "Write months as YYYY-MM (2024-03).",
}
WHAT = {
    "bad_timestamp": "readable timestamps between the years 1677 and 2262",
    "bad_number": "finite numbers",
    "bad_bool": "booleans",
    "bad_month": "months in YYYY-MM form",
}


def implausible_read_as_missing(table: str, column: Column, numbers: pd.Series,
                                raw: pd.Series) -> tuple[pd.Series, list[Finding]]:
    """``numbers`` with values past the column's plausible maximum (the contract's) read as missing, and the
    warning naming them: such a value is a typo or a unit mix-up, and scored as it is it would speak loudest."""
    above = (numbers > column.plausible_max).fillna(False).to_numpy(dtype=bool)
    if not above.any():
        return numbers, []
    n_above = int(above.sum())
    finding = warning(
        table, column.name, "implausible_value",
        f"{n_above} value(s) of {table}.{column.name} are above {column.plausible_max:,.0f}, which no real one "
        f"reaches ({column.plausible_why}), and were read as missing.",
        "Fix the rows shown (a typo, or a unit mix-up such as cents for dollars); leave a cell empty when the "
        "value is unknown.",
        n_rows=n_above, examples=row_examples(raw.index, above, raw))
    return numbers.mask(above), [finding]


def coerce_column(table: str, column: Column, values: pd.Series, value_map: dict[str, str | None] | None,
                  date_order: str | None = None) -> tuple[pd.Series, np.ndarray, list[Finding]]:
    """One column to its contract dtype: ``(series, unparsed, findings)``.

    Dates whose day/month order the column cannot settle (every value reads both ways) are an error
    unless the mapping file states ``date_order``: a guess would silently move 3 April to 4 March.
    """
    findings: list[Finding] = []
    raw = values
    if value_map or (column.kind == "category"):
        values = apply_value_map(as_text(values), value_map, column) if value_map or column.allowed else as_text(values)
    failed = np.zeros(len(values), dtype=bool)
    rule = None
    if column.kind in ("id", "string", "category"):
        out = normalize_ids(values) if column.kind == "id" else as_text(values)
    elif column.kind == "timestamp":
        out, failed, note = parse_timestamps(values, date_order)
        rule = "bad_timestamp"
        if note:
            findings.append(
                error(table, column.name, "ambiguous_dates", f"{table}.{column.name}: {note}, so leadscore will not guess.",
                      "Add `date_order: day_first` (or `month_first`) at the top of the mapping file, or write "
                      "ISO-8601 timestamps (2024-03-05T14:00:00Z).")
            )
    elif column.kind == "number":
        out, failed = parse_numbers(values)
        rule = "bad_number"
        if column.plausible_max is not None:
            out, implausible = implausible_read_as_missing(table, column, out, raw)
            findings += implausible
    elif column.kind == "bool":
        out, failed = parse_booleans(values)
        rule = "bad_bool"
    else:
        out, failed = normalize_months(values)
        rule = "bad_month"
    if rule and failed.any():
        n_failed = int(failed.sum())
        kept = "were kept as typed" if rule == "bad_month" else "were read as null"
        findings.append(
            error(
                table, column.name, rule,
                f"{n_failed} value(s) of {table}.{column.name} are not {WHAT[rule]} and {kept}.",
                FIXES[rule],
                n_rows=n_failed,
                examples=row_examples(raw.index, failed, raw),
            )
        )
    dtype = PANDAS_DTYPES[column.kind]
    return (out if out.dtype == dtype else out.astype(dtype)), failed, findings


def coerce_table(table: str, frame: pd.DataFrame, value_maps: dict[str, dict[str, str | None]] | None = None,
                 date_order: str | None = None) -> Coerced:
    """Give every contract column of ``frame`` its contract dtype; keep every row and extra column.

    ``frame`` already carries contract column names (see ``mapping.rename_columns``). Contract
    columns come first in contract order, the export's other columns follow unchanged. Absent
    contract columns are not added here: validation reports them and ``make_tables`` fills them.
    """
    spec = TABLES[table]
    result = Coerced(frame=pd.DataFrame())
    # Hold the raw columns one by one and drop each once typed: when the caller keeps no reference to
    # ``frame``, the raw text of a 20M-row table is freed column by column instead of at the end
    # (readers give every column a block of its own).
    index = frame.index
    remaining = dict(frame.items())
    del frame
    columns: dict[str, pd.Series] = {}
    for column in spec.columns:
        if column.name not in remaining:
            continue
        values = remaining.pop(column.name)
        series, failed, findings = coerce_column(table, column, values, (value_maps or {}).get(column.name), date_order)
        del values
        columns[column.name] = series
        result.unparsed[column.name] = failed
        result.findings.extend(findings)
    result.frame = pd.DataFrame({**columns, **remaining}, index=index, copy=False)
    return result
