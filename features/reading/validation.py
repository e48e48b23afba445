"""Checking an export against the data contract: every rule, as findings a user can act on.

``read_export`` is the one way an export enters leadscore: it reads the files (``sources``), applies
the mapping file (``mapping``), coerces types (``coerce``), checks the contract's rules
(``check_frames``) and assembles :class:`~leadscore.features.tables.Tables`. It never raises for bad data; it
returns what it could read together with the findings. ``load_tables`` is the strict form every
later command uses, and ``leadscore validate`` prints the findings.

Severity: an *error* means the data is unusable or wrong as it stands (a missing leads table, an
unreadable file, duplicate lead ids, values outside a closed vocabulary, unreadable timestamps);
a *warning* is worth knowing but never blocks (orphan events, which later steps leave out and
count, stage entries before capture, timestamps in the future). Orphans stop being strays when half
or more of a table's rows name ids the other table lacks: the two tables write their ids differently,
and that is an error (``ids_do_not_match``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.contract import TABLE_NAMES, TABLES
from leadscore.features.errors import ContractError, LeadscoreError
from leadscore.features.reading.coerce import coerce_table
from leadscore.features.reading.findings import (
    EXPORT,
    Finding,
    count_by_severity,
    error,
    row_examples,
    short_text,
    warning,
)
from leadscore.features.reading.mapping import CALENDAR_FEATURES, MappingFile, load_mapping
from leadscore.features.reading.own_columns import describe_own_columns, type_own_columns
from leadscore.features.reading.shaping import shape_table
from leadscore.features.reading.sources import read_source
from leadscore.features.tables import ColumnNotes, Tables, latest_timestamp, make_tables
from leadscore.features.timestamps import to_utc

__all__ = [
    "Finding",
    "check_frames",
    "format_findings",
    "load_tables",
    "parse_data_end",
    "read_export",
    "validate_export",
]

logger = logging.getLogger(__name__)

# Half or more of a table's rows naming unknown ids is a mismatch, not strays, once there are this many rows.
MIN_ROWS_FOR_MISMATCH = 10
MISMATCH_SAMPLE = 1000  # unknown ids tried for a rewritten form that matches


def parse_data_end(value: str | pd.Timestamp | None, origin: str = "--data-end",
                   date_order: str | None = None) -> pd.Timestamp | None:
    """The user's data end as a UTC timestamp (naive read as UTC); None when not given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_utc(value, origin, date_order)


# --------------------------------------------------------------------------------------------------
# Rules on typed frames


def _missing_table(name: str) -> Finding | None:
    if TABLES[name].required:
        return error(name, None, "missing_table", f"The export has no {name} table, which is required.",
                     f"Add {name}.csv or {name}.parquet to the export folder (or a {name} table to the DuckDB file), "
                     "or name its file under `file:` in the mapping file.")
    if TABLES[name].required_for_training:
        return warning(name, None, "missing_table",
                       f"The export has no {name} table: scoring works without it, but training needs it for labels.",
                       f"Add {name} (lead_id, stage, entered_at) before running `leadscore train`.")
    return None


def _check_columns(name: str, frame: pd.DataFrame) -> list[Finding]:
    findings = []
    optional = []
    for column in TABLES[name].columns:
        if column.name in frame.columns:
            continue
        if column.required:
            findings.append(
                error(name, column.name, "missing_column", f"{name} has no {column.name} column, which is required.",
                      f"Add {column.name} to the {name} export, or map the export's own column to it under "
                      f"`{name}: columns:` in the mapping file.")
            )
        else:
            optional.append(column.name)
    if optional:
        # One line for all of them: a flat export lacks most optional columns, and that is fine.
        listed = ", ".join(optional)
        findings.append(
            warning(name, optional[0] if len(optional) == 1 else None, "missing_column",
                    f"{name} has no {listed} column{'s' if len(optional) > 1 else ''}; optional, filled with nulls.",
                    f"Add them to the {name} export, map the export's own columns to them under `{name}: columns:`, "
                    f"or give one value for every row under `{name}: constants:` in the mapping file.")
        )
    return findings


def _isin(values: pd.Series, known: pd.Series | tuple[str, ...]) -> np.ndarray:
    """``values.isin(known)`` for text, hashed in Arrow: pandas walks a million known ids in Python."""
    array = pa.array(_text(values).array)
    value_set = _vocabulary(known) if isinstance(known, tuple) else _combined(pa.array(_text(known).array)).drop_null()
    return pc.is_in(array, value_set=value_set.cast(array.type)).to_numpy(zero_copy_only=False).astype(bool)


def _combined(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _text(values: pd.Series) -> pd.Series:
    return values if values.dtype == "str" else values.astype("str")


@lru_cache(maxsize=64)
def _vocabulary(allowed: tuple[str, ...]) -> pa.Array:
    return pa.array(allowed, type=pa.large_string())


def _holds(result: object) -> np.ndarray:
    """A comparison's result as a bool array, a missing value as False (it breaks no rule)."""
    if isinstance(result, np.ndarray):
        return result.astype(bool, copy=False)
    return np.asarray(result.to_numpy(dtype=bool, na_value=False))  # an extension array (nullable, Arrow)


def _value_counts_text(values: pd.Series, limit: int = 5) -> str:
    counts = values.value_counts().head(limit)
    text = ", ".join(f"{short_text(value)!r} ({n})" for value, n in counts.items())
    more = values.nunique() - len(counts)
    return text + (f" and {more} more" if more > 0 else "")


def _check_values(name: str, frame: pd.DataFrame, unparsed: dict[str, np.ndarray], now: pd.Timestamp,
                  data_end: pd.Timestamp | None) -> list[Finding]:
    findings: list[Finding] = []
    for column in TABLES[name].columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        where = f"{name}.{column.name}"
        # Rules compare the column's array: on a few rows, each pandas Series step costs more than the check.
        array = values.array
        missing = pd.isna(array)
        if not column.nullable:
            empty = missing & ~unparsed.get(column.name, np.zeros(len(values), dtype=bool))
            if empty.any():
                findings.append(
                    error(name, column.name, "null_value", f"{int(empty.sum())} row(s) of {name} have no {column.name}, which is required.",
                          f"Fill {column.name} in the rows shown or remove those rows from the export.",
                          n_rows=int(empty.sum()), examples=row_examples(frame.index, empty, values))
                )
        if column.unique:
            repeated = values.duplicated(keep=False).to_numpy() & ~missing
            if repeated.any():
                n_ids = values[repeated].nunique()
                findings.append(
                    error(name, column.name, "duplicate_id",
                          f"{n_ids} {column.name} value(s) appear more than once in {name} ({int(repeated.sum())} rows); "
                          f"{column.name} must be unique.",
                          f"Remove or merge the duplicate rows so each {column.name} appears once.",
                          n_rows=int(repeated.sum()), examples=row_examples(frame.index, repeated, values))
                )
        if column.allowed is not None:
            outside = ~_isin(values, column.allowed) & ~missing
            if outside.any():
                make = warning if column.open_vocabulary else error
                first = values[outside].iloc[0]
                kept = "kept as typed" if column.open_vocabulary else "not in the contract"
                findings.append(
                    make(name, column.name, "unknown_value",
                         f"{int(outside.sum())} row(s) of {where} hold values {kept}: {_value_counts_text(values[outside])}.",
                         f"Map them under `{name}: values: {column.name}:` in the mapping file (e.g. {short_text(first)!r}: "
                         f"<one of {', '.join(column.allowed)}>), or fix the export.",
                         n_rows=int(outside.sum()), examples=row_examples(frame.index, outside, values),
                         counts={str(k): int(v) for k, v in values[outside].value_counts().items()})
                )
        if column.non_negative and column.kind == "number":
            negative = _holds(array < 0)
            if negative.any():
                findings.append(
                    error(name, column.name, "negative_value", f"{int(negative.sum())} value(s) of {where} are negative; it cannot be.",
                          "Fix the rows shown (leave a value empty when unknown rather than writing -1).",
                          n_rows=int(negative.sum()), examples=row_examples(frame.index, negative, values))
                )
        if column.kind == "timestamp":
            future = _holds(array > now)
            if future.any():
                findings.append(
                    warning(name, column.name, "future_timestamp",
                            f"{int(future.sum())} value(s) of {where} are in the future (after {now:%Y-%m-%d %H:%M} UTC).",
                            "Check the rows shown; local times written without an offset are read as UTC, so add the offset.",
                            n_rows=int(future.sum()), examples=row_examples(frame.index, future, values))
                )
            if data_end is not None:
                late = _holds(array > data_end) & ~future
                if late.any():
                    findings.append(
                        warning(name, column.name, "after_data_end",
                                f"{int(late.sum())} value(s) of {where} are after the data's end {data_end.isoformat()}, "
                                "when the export was taken.",
                                "Check the data end given (--data-end or data_end in the mapping file); if it is right, fix these rows.",
                                n_rows=int(late.sum()), examples=row_examples(frame.index, late, values))
                    )
    return findings


def _id_forms(values: pd.Series) -> dict[str, pd.Series]:
    """Ids as an export may have rewritten them, per difference each form forgives (vectorised)."""
    text = values.astype("str").str.strip()
    digits = text.str.replace(r"\D", "", regex=True).str.lstrip("0")
    return {
        "leading zeros": text.str.lstrip("0").mask(lambda t: t == "", "0"),
        "letter case or surrounding blanks": text.str.casefold(),
        "a prefix or punctuation around the digits": digits.mask(text.str.fullmatch(r"\D*"), None).mask(
            lambda d: d == "", "0"),
    }


def ids_do_not_match(
    table: str, column: str, target: str, ids: pd.Series, unknown: np.ndarray, known: pd.Series
) -> Finding | None:
    """An error when half or more of ``table``'s rows name ids that ``target`` does not have, else None.

    A few unknown ids are strays (a lead deleted in the CRM) and only worth a warning; half or more
    means the two tables write their ids differently (integers in one file, zero-padded text in the
    other), and every later step would silently see no activity at all. The finding shows one id from
    each side, paired where a rewritten form of the id (zeros, case, a prefix) matches, and says which.
    """
    n_named = int(ids.notna().sum())
    n_unknown = int(unknown.sum())
    if n_named < MIN_ROWS_FOR_MISMATCH or n_unknown * 2 < n_named:
        return None
    known = known.dropna().drop_duplicates()
    strangers = ids[unknown].drop_duplicates().head(MISMATCH_SAMPLE).astype("str").reset_index(drop=True)
    theirs, ours, difference = strangers.iloc[0], str(known.iloc[0]), None
    known_forms = _id_forms(known)
    for kind, their_forms in _id_forms(strangers).items():
        lookup = pd.Series(known.astype("str").to_numpy(), index=known_forms[kind].to_numpy())
        lookup = lookup[lookup.index.notna() & ~lookup.index.duplicated()]
        matched = their_forms.map(lookup)
        if matched.notna().any():
            first = int(np.flatnonzero(matched.notna().to_numpy())[0])
            theirs, ours, difference = strangers.iloc[first], matched.iloc[first], kind
            break
    why = f"; they differ only in {difference}" if difference else ""
    if difference == "leading zeros":
        fix = (f"Write {column} the same way in {table} and {target}: as text with its leading zeros in both "
               "(a spreadsheet or Parquet export may have read one of them as numbers).")
    elif difference:
        fix = f"Write {column} the same way in {table} and {target} (the same field of the same system, unchanged)."
    else:
        fix = (f"Export {table} and {target} from the same system and period, or map the column that holds "
               f"the {target[:-1]} id to {column} under `{table}: columns:` in the mapping file.")
    return error(
        table, column, "ids_do_not_match",
        f"{n_unknown:,} of {n_named:,} rows of {table} ({n_unknown / n_named:.0%}) name a {column} that is not in "
        f"{target}: the ids do not match, e.g. {table} has {short_text(theirs)!r} where {target} has {short_text(ours)!r}{why}.",
        fix, n_rows=n_unknown, examples=row_examples(ids.index, unknown, ids),
    )


def _check_references(frames: dict[str, pd.DataFrame]) -> list[Finding]:
    """Rows pointing at leads or accounts the export does not have, and stages before capture."""
    findings: list[Finding] = []
    leads = frames.get("leads")
    # Against a leads table without ids (header only, or every id missing) every row would be an
    # orphan: the leads table's own error says what is wrong, once.
    if leads is not None and "lead_id" in leads.columns and leads["lead_id"].notna().any():
        known = leads["lead_id"]
        for name in ("events", "stage_history", "opportunities"):
            frame = frames.get(name)
            if frame is None or "lead_id" not in frame.columns or frame.empty:
                continue
            ids = frame["lead_id"]
            orphan = ids.notna().to_numpy() & ~_isin(ids, known)
            mismatch = ids_do_not_match(name, "lead_id", "leads", ids, orphan, known)
            if mismatch is not None:
                findings.append(mismatch)
            elif orphan.any():
                later = "" if name == "opportunities" else "; later steps leave them out and count them"
                findings.append(
                    warning(name, "lead_id", "unknown_lead",
                            f"{int(orphan.sum())} row(s) of {name} belong to {ids[orphan].nunique()} lead_id(s) that are not in leads{later}.",
                            f"Export {name} and leads from the same system and period, or add the missing leads.",
                            n_rows=int(orphan.sum()), examples=row_examples(frame.index, orphan, ids))
                )
        stages = frames.get("stage_history")
        if (stages is not None and not stages.empty and {"lead_id", "entered_at"} <= set(stages.columns)
                and "captured_at" in leads.columns):
            # Each entry's lead's capture time: the first leads row with its id (NaT when none, or no id).
            lead_row = pc.index_in(pa.array(_text(stages["lead_id"]).array),
                                   value_set=_combined(pa.array(_text(known).array)), skip_nulls=True)
            lead_row = lead_row.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            captured_for_row = pd.Series(leads["captured_at"].array.take(lead_row, allow_fill=True), index=stages.index)
            early = _holds(stages["entered_at"].array < captured_for_row.array)
            if early.any():
                shown = pd.Series(None, index=stages.index, dtype=object)
                first = np.flatnonzero(early)[:5]
                stage_names = stages["stage"] if "stage" in stages.columns else pd.Series("?", index=stages.index)
                shown.iloc[first] = [
                    f"{stage_names.iloc[p]} at {stages['entered_at'].iloc[p]:%Y-%m-%d %H:%M}, "
                    f"captured {captured_for_row.iloc[p]:%Y-%m-%d %H:%M}"
                    for p in first
                ]
                findings.append(
                    warning("stage_history", "entered_at", "stage_before_capture",
                            f"{int(early.sum())} stage entries are dated before their lead's captured_at.",
                            "Check the leads' captured_at and the stage dates: a lead enters the funnel when it is captured.",
                            n_rows=int(early.sum()), examples=row_examples(stages.index, early, shown))
                )
    accounts = frames.get("accounts")
    if accounts is not None and "account_id" in accounts.columns and accounts["account_id"].notna().any():
        known = accounts["account_id"]
        for name in ("leads", "technographics", "opportunities"):
            frame = frames.get(name)
            if frame is None or "account_id" not in frame.columns or frame.empty:
                continue
            ids = frame["account_id"]
            unknown = ids.notna().to_numpy() & ~_isin(ids, known)
            mismatch = ids_do_not_match(name, "account_id", "accounts", ids, unknown, known)
            if mismatch is not None:
                findings.append(mismatch)
            elif unknown.any():
                findings.append(
                    warning(name, "account_id", "unknown_account",
                            f"{int(unknown.sum())} row(s) of {name} name {ids[unknown].nunique()} account_id(s) that are not in accounts; "
                            "they get no firmographics.",
                            "Export accounts and the other tables from the same system and period.",
                            n_rows=int(unknown.sum()), examples=row_examples(frame.index, unknown, ids))
                )
    return findings


def _check_unknown_times(frames: dict[str, pd.DataFrame], unparsed: dict[str, dict[str, np.ndarray]]) -> list[Finding]:
    """Stage entries without a time: legal (reached at an unknown time), and said once."""
    findings: list[Finding] = []
    stages = frames.get("stage_history")
    if stages is not None and "entered_at" in stages.columns:
        undated = stages["entered_at"].isna().to_numpy() & ~unparsed.get("stage_history", {}).get("entered_at", np.zeros(len(stages), dtype=bool))
        if undated.any():
            counts = stages.loc[undated, "stage"].value_counts().to_dict() if "stage" in stages.columns else {}
            listed = ", ".join(f"{stage} {n:,}" for stage, n in counts.items())
            findings.append(warning(
                "stage_history", "entered_at", "unknown_time",
                f"{int(undated.sum()):,} stage entries have no time ({listed}): they count as reached after capture "
                "for labels, and no feature, rule or status ever sees them.",
                "Nothing to fix if the export has no dates for them; with dates, map them (stage_dates) instead.",
                n_rows=int(undated.sum()), examples=row_examples(stages.index, undated, stages.get("stage", stages["entered_at"])),
            ))
    return findings


def check_frames(
    frames: dict[str, pd.DataFrame],
    data_end: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
    unparsed: dict[str, dict[str, np.ndarray]] | None = None,
) -> list[Finding]:
    """Check typed frames (contract names and dtypes) against every rule of the contract.

    Parameters
    ----------
    frames
        Contract table name -> frame, as ``coerce_table`` returns them; absent tables are missing keys.
        Example rows are the frame's index + 1 (readers index rows by their position in the file).
    data_end
        The data's end *as given by the user*; timestamps after it are reported. A data end inferred
        from the data cannot be exceeded, so pass None then.
    now
        The present, for timestamps in the future (default: the current time).
    unparsed
        Per table and column, rows whose value coercion could not read: they are already reported,
        so the null check skips them.
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    unparsed = unparsed or {}
    findings: list[Finding] = []
    for name in TABLE_NAMES:
        frame = frames.get(name)
        if frame is None:
            missing = _missing_table(name)
            if missing:
                findings.append(missing)
            continue
        if frame.empty:
            make = error if TABLES[name].required else warning
            findings.append(make(name, None, "empty_table", f"The {name} table has a header but no rows.",
                                 f"Re-export {name} with its rows." if TABLES[name].required
                                 else f"Remove the empty {name} table or export its rows."))
        findings.extend(_check_columns(name, frame))
        findings.extend(_check_values(name, frame, unparsed.get(name, {}), now, data_end))
    findings.extend(_check_references(frames))
    findings.extend(_check_unknown_times(frames, unparsed))
    return findings


# --------------------------------------------------------------------------------------------------
# Public entry points


def _sorted(findings: list[Finding]) -> list[Finding]:
    rank = {name: i for i, name in enumerate((EXPORT, *TABLE_NAMES))}
    return sorted(findings, key=lambda f: (rank.get(f.table, len(rank)), not f.is_error))


def read_export(
    path: str | os.PathLike,
    mapping_path: str | os.PathLike | None = None,
    data_end: str | pd.Timestamp | None = None,
    allow_files_outside: bool = False,
    skip: frozenset[str] = frozenset(),
) -> tuple[Tables, list[Finding]]:
    """Read, map, coerce and check an export; return what could be read, typed, with its findings.

    Never raises for bad data (a missing path, a bad mapping file or an unreadable ``data_end`` are
    :class:`LeadscoreError`: there is nothing to read). Tables that could not be read are empty in
    the result and absent from ``Tables.present``.

    Parameters
    ----------
    path
        A folder of CSV / CSV.gz / Parquet files named after the contract tables, or a DuckDB file.
    mapping_path
        Optional YAML mapping file (see ``leadscore.features.reading.mapping``).
    data_end
        When the export was taken; overrides ``data_end`` in the mapping file. Default: the latest
        timestamp in leads, events and stage_history.
    allow_files_outside
        Read files the mapping names outside the export folder (``--allow-files-outside``); by
        default they are refused with an error.
    skip
        Tables of an export folder not to read here (``--engine spark`` reads events and stage_history);
        they are neither checked nor missing.
    """
    source = Path(path)
    if not source.exists():
        raise LeadscoreError(
            f"{source} does not exist; point leadscore at a folder of CSV/Parquet files named after the tables, or a DuckDB file."
        )
    mapping = load_mapping(mapping_path) if mapping_path is not None else None
    date_order = mapping.date_order if mapping else None
    if data_end is not None:
        end = parse_data_end(data_end, date_order=date_order)
    else:
        end = parse_data_end(mapping.data_end if mapping else None, "data_end in the mapping file", date_order)
    raw = read_source(source, mapping, allow_files_outside, skip)
    findings = list(raw.findings)
    # Where each table was read from, so that a file named for two tables is recognised however it is written.
    origins = {name: os.path.realpath(table.origin) for name, table in raw.tables.items()}
    frames: dict[str, pd.DataFrame] = {}
    unparsed: dict[str, dict[str, np.ndarray]] = {}
    date_order = mapping.date_order if mapping else None
    for name in list(raw.tables):
        table = raw.tables.pop(name)  # let the raw text go as soon as its table is typed (20M-row events)
        shaped, mapped = shape_table(name, table.frame, mapping)
        del table
        findings.extend(mapped)
        # Hand the frame over without keeping a reference, so coercion can free raw columns as it goes.
        handover = [shaped]
        del shaped
        coerced = coerce_table(name, handover.pop(), mapping.value_maps(name) if mapping else None, date_order)
        findings.extend(coerced.findings)
        frames[name] = coerced.frame
        unparsed[name] = coerced.unparsed
    now = pd.Timestamp.now(tz="UTC")
    if raw.kind != "none":
        unreadable = {f.table for f in findings if f.is_error}
        checked = check_frames(frames, data_end=end, now=now, unparsed=unparsed)
        findings.extend(f for f in checked if not (f.rule == "missing_table" and f.table in unreadable | skip))
    if end is None:
        latest = latest_timestamp(frames)
        if latest is None:
            # Today's date in its place would move every label horizon and as_of with the wall clock. Without
            # a leads table, or with a header-only one, an error of its own blocks already: this only informs.
            leads = frames.get("leads")
            if leads is not None:
                findings.append(
                    (error if len(leads) else warning)(EXPORT, None, "data_end_unknown",
                          "No timestamp in leads.captured_at, events.occurred_at or stage_history.entered_at could be read, "
                          "so the data's end (when the export was taken) is unknown: give it with --data-end or data_end in "
                          "the mapping file (today's date in its place would change every run).",
                          "Give it with --data-end TS (e.g. --data-end 2024-06-30) or `data_end:` in the mapping file.")
                )
            end = now  # only so that what was read can be shown: an error keeps every later step from using it
        elif latest > now:
            # A future timestamp (already a warning) must not become the data's end: every label
            # horizon would then look observed. No export can have been taken after now.
            end = now
            findings.append(
                warning(EXPORT, None, "data_end_capped",
                        f"The latest timestamp in leads, events and stage_history ({latest.isoformat()}) is in the future, "
                        f"so the data's end was set to now ({now:%Y-%m-%d %H:%M} UTC).",
                        "Fix the future timestamps reported below, or give the data's end with --data-end.")
            )
    notes, noted = column_notes(mapping, frames, origins)
    findings.extend(noted)
    own = describe_own_columns(frames, notes)
    findings.extend(type_own_columns(frames, own, date_order))
    tables = make_tables({name: frame.reset_index(drop=True) for name, frame in frames.items()}, end, source=str(source),
                         column_notes=notes, date_order=date_order, own_columns=tuple(own))
    return tables, _sorted(findings)


def column_notes(mapping: MappingFile | None, frames: dict[str, pd.DataFrame],
                 origins: dict[str, str] | None = None) -> tuple[dict[str, ColumnNotes], list[Finding]]:
    """What the mapping says of the own columns of leads and accounts; names it gives that are not there.

    ``origins`` (table -> the file or DuckDB table it was read from) tells which tables share a file;
    without it, the mapping's ``file:`` entries are compared as written.
    """
    if mapping is None:
        return {}, []
    history = mapping.table("stage_history")
    notes: dict[str, ColumnNotes] = {}
    findings: list[Finding] = []
    for name in ("leads", "accounts"):
        section = mapping.table(name)
        features = section.features
        # Outcome columns live in this table's frame when stage_history reads the same file: compared by
        # where each was read from, since leads.csv found by its name and `file: ./leads.csv` are one file.
        if origins is not None:
            shares_file = history.is_wide and origins.get("stage_history") is not None and \
                origins.get("stage_history") == origins.get(name)
        else:
            shares_file = history.is_wide and history.file is not None and history.file == section.file
        notes[name] = ColumnNotes(
            excluded=frozenset(features.exclude if features else ()),
            outcomes=frozenset(history.outcome_columns if shares_file else ()),
            known_at_capture=frozenset(features.known_at_capture if features else ()),
            calendar_causes=tuple(features.calendar_causes.items()) if features else (),
        )
        frame = frames.get(name)
        if frame is None or features is None:
            continue
        for key, listed in (("exclude", features.exclude), ("known_at_capture", features.known_at_capture)):
            for column in listed:
                if column not in frame.columns and column not in CALENDAR_FEATURES:
                    findings.append(warning(
                        name, column, "mapping_column_missing",
                        f"The mapping lists {column!r} under {name}.features.{key}, but the {name} export has no such column.",
                        f"Fix the name under {name}.features.{key} in the mapping file (it is matched exactly).",
                    ))
    return notes, findings


def validate_export(
    path: str | os.PathLike,
    mapping_path: str | os.PathLike | None = None,
    data_end: str | pd.Timestamp | None = None,
    allow_files_outside: bool = False,
) -> list[Finding]:
    """Every finding for an export (see :func:`read_export`); an empty list means all is well."""
    return read_export(path, mapping_path, data_end, allow_files_outside)[1]


QUIET_RULES = frozenset({"missing_column"})


def load_tables(
    path: str | os.PathLike,
    mapping_path: str | os.PathLike | None = None,
    data_end: str | pd.Timestamp | None = None,
    strict: bool = True,
    allow_files_outside: bool = False,
    skip: frozenset[str] = frozenset(),
) -> Tables:
    """The export as :class:`Tables` for every later step; warnings go to the log.

    Raises :class:`ContractError` listing the errors when ``strict`` and any error was found; with
    ``strict=False`` the errors are logged and whatever could be read is returned. ``skip``: see
    :func:`read_export`.
    """
    tables, findings = read_export(path, mapping_path, data_end, allow_files_outside, skip)
    errors = [f for f in findings if f.is_error]
    if errors and strict:
        # The first error in its own words (table, column, rows), the others by name only. A table's own
        # error goes first: an export-wide one (no data end) usually follows from it (no readable capture time).
        first = next((f for f in errors if f.table != EXPORT), errors[0])
        rest = [f for f in errors if f is not first]
        others = "; ".join(f"{f.where} {f.rule}" + (f" ({f.n_rows} rows)" if f.n_rows else "") for f in rest[:4])
        if len(rest) > 4:
            others += f" and {len(rest) - 4} more"
        raise ContractError(
            f"{path} breaks the data contract with {len(errors)} error(s): {first.where}: {first.message.rstrip('.')}"
            + (f"; also {others}" if others else "")
            + f"; run `leadscore validate {path}` for details and fixes.",
            findings,
        )
    # One line per problem (each message names its table and column; `leadscore validate` adds the fix). An
    # optional column the export lacks is no problem to act on at every command: `validate` lists those.
    for finding in findings:
        level = logging.DEBUG if finding.rule in QUIET_RULES else logging.ERROR if finding.is_error else logging.WARNING
        logger.log(level, "%s", finding.message)
    return tables


def _format_one(finding: Finding) -> list[str]:
    rows = f"{finding.n_rows} row(s)" if finding.n_rows else ""
    head = f"  {finding.severity.upper():<7} {finding.where}  [{finding.rule}]" + (f"  {rows}" if rows else "")
    lines = [head, f"          {finding.message}"]
    if finding.examples:
        shown = "; ".join(
            (f"row {e['row']}" if e.get("row") is not None else "row ?")
            + (f": {e['value']!r}" if e.get("value") is not None else "")
            for e in finding.examples
        )
        lines.append(f"          e.g. {shown}")
    lines.append(f"          fix: {finding.fix}")
    return lines


def format_findings(findings: Sequence[Finding], n_rows: dict[str, int | None] | None = None) -> str:
    """A human-readable report: per table its row count (when given) and findings, then a summary.

    ``n_rows`` maps table name -> row count, or None for a table the export does not have.
    """
    lines: list[str] = []
    by_table: dict[str, list[Finding]] = {}
    for finding in findings:
        by_table.setdefault(finding.table, []).append(finding)
    tables = [EXPORT] if by_table.get(EXPORT) else []
    tables += list(TABLE_NAMES) if n_rows is not None else [t for t in TABLE_NAMES if t in by_table]
    tables += [t for t in by_table if t not in tables]
    for table in tables:
        listed = by_table.get(table, [])
        if table == EXPORT:
            lines.append("export:")
        elif n_rows is not None:
            count = n_rows.get(table)
            state = "absent" if count is None else f"{count:,} row" + ("" if count == 1 else "s")
            lines.append(f"{table}: {state}" + ("" if listed else ", ok" if count is not None else ""))
        else:
            lines.append(f"{table}:")
        for finding in listed:
            lines.extend(_format_one(finding))
    n_errors, n_warnings = count_by_severity(findings)
    verdict = (
        "the export cannot be used until the errors are fixed." if n_errors
        else "the export follows the data contract" + (" (warnings do not block)." if n_warnings else ".")
    )
    lines.append(f"{n_errors} error(s), {n_warnings} warning(s): {verdict}")
    return "\n".join(lines)
