"""Reading an export as it is: a folder of CSV/Parquet files or a DuckDB file -> raw frames per table.

This is the file and database edge of validation. It decides which file holds which contract table,
how a CSV is delimited and encoded, and turns every way a file can be unreadable into a
:class:`~leadscore.features.reading.findings.Finding` naming the table, never a traceback. It does no type
coercion: CSV columns come back as text (so an id "000123" keeps its zeros), Parquet and DuckDB
columns keep their own types; ``coerce`` makes them contract dtypes.

Every frame's index is the row's 0-based position among the data rows of the user's file (header
excluded), and stays so through mapping and coercion: a finding's example row is then the row the
user finds in their own file, even after malformed rows were set aside.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.contract import TABLE_NAMES
from leadscore.features.errors import LeadscoreError
from leadscore.features.frames_io import Input
from leadscore.features.reading.findings import EXPORT, MAX_EXAMPLES, Finding, error, short_text, warning
from leadscore.features.reading.mapping import MappingFile, load_mapping

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv.gz", ".tsv.gz", ".txt.gz", ".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
DELIMITERS = (",", ";", "\t", "|")
SPREADSHEET_SUFFIXES = ("xlsx", "xls", "xlsm", "ods", "numbers")
SAMPLE_BYTES = 256 * 1024
# Byte-order marks, longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class RawTable:
    """One contract table as found in the export, before renaming and coercion."""

    name: str
    frame: pd.DataFrame
    origin: str


@dataclass
class RawExport:
    """Everything read from an export: the tables found and the problems met while reading."""

    kind: Literal["folder", "duckdb", "none"]
    tables: dict[str, RawTable] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def delimiter_label(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def table_for_name(name: str) -> str | None:
    """The contract table a file or folder name stands for (``Leads.CSV`` -> ``leads``), else None."""
    lowered = name.lower()
    for suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if lowered.endswith(suffix):
            lowered = lowered[: -len(suffix)]
            break
    return lowered if lowered in TABLE_NAMES else None


def _is_ignored(name: str) -> bool:
    # Convention: "_truth/", ".DS_Store", "_SUCCESS" are the tool's or the OS's, not the user's data; a
    # mapping file kept beside the tables is the user's configuration, not a table.
    return name.startswith(("_", ".")) or name.lower().endswith((".yaml", ".yml"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------------
# Arrow -> pandas


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas frame from an Arrow table without losing ids or precision.

    Integers become nullable ``Int64`` (a float64 detour would turn id 123 into "123.0" and lose
    digits above 2**53); dates become timestamps and decimals floats, which coercion expects.
    """
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = column.type
        if pa.types.is_date(kind):
            column = column.cast(pa.timestamp("s"))
        elif pa.types.is_decimal(kind):
            column = column.cast(pa.float64())
        elif pa.types.is_string_view(kind):
            column = column.cast(pa.string())
        columns.append(column)
    table = pa.table(columns, names=table.column_names)

    def types_mapper(kind: pa.DataType) -> object | None:
        if pa.types.is_integer(kind):
            return pd.Int64Dtype()
        if pa.types.is_boolean(kind):
            return pd.BooleanDtype()
        return None

    return table.to_pandas(types_mapper=types_mapper, self_destruct=True, split_blocks=True)


def dedupe_columns(names: list[str], table: str, origin: str) -> tuple[list[str], list[Finding]]:
    """Unique, non-empty column names; a repeated or blank header is an error naming the file."""
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    out: list[str] = []
    for position, raw in enumerate(names, start=1):
        name = str(raw).strip() or f"unnamed_{position}"
        if name in seen:
            seen[name] += 1
            findings.append(
                error(
                    table, name, "duplicate_column",
                    f"{origin} has the column {name!r} {seen[name]} times; only the first is read as {name!r}.",
                    "Remove or rename the repeated column in the export.",
                )
            )
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out, findings


# --------------------------------------------------------------------------------------------------
# CSV


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _detect_bom(sample: bytes) -> str | None:
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    return None


def _encoding_guess(bad_bytes: bytes) -> tuple[str, str]:
    """``(codec, label)`` the undecodable bytes most likely come from."""
    if bad_bytes.count(0) > len(bad_bytes) // 4:
        return "utf-16", "UTF-16 without a byte-order mark"
    try:
        bad_bytes.decode("cp1252")
        return "cp1252", "Windows-1252 (cp1252, the Latin-1 superset Excel writes)"
    except UnicodeDecodeError:
        return "latin-1", "Latin-1 (ISO-8859-1)"


def _field_at(line: bytes, offset: int) -> str:
    """The field of a raw CSV line holding byte ``offset``, readable and short: the value, never the row.

    Fields are cut at any of the usual delimiters (the file's own is not known yet), so the rest of the
    row, with whatever personal data it holds, stays out of the findings.
    """
    start = max((line.rfind(bytes([d]), 0, offset) for d in b",;\t|"), default=-1) + 1
    ends = [i for i in (line.find(bytes([d]), offset) for d in b",;\t|\r\n") if i >= 0]
    field = line[start : min(ends, default=len(line))]
    return short_text(field.decode("cp1252", errors="replace").strip().strip('"'))


def diagnose_encoding(path: Path, table: str, encoding: str = "utf-8") -> Finding:
    """Scan ``path`` for rows that are not valid ``encoding`` and say which encoding they look like.

    Only runs once a read has already failed, so a full scan is affordable; its count and example
    rows let the user find the rows an editor would otherwise show as mojibake.
    """
    n_bad = 0
    examples: list[dict[str, object]] = []
    bad_bytes = bytearray()
    with _open_binary(path) as handle:
        for line_number, line in enumerate(handle):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as exc:
                n_bad += 1
                if len(bad_bytes) < 4096:
                    bad_bytes += line[exc.start : exc.end + 8]
                if len(examples) < MAX_EXAMPLES:
                    examples.append({"row": line_number, "value": _field_at(line, exc.start)})
    if n_bad == 0:  # the decoder failed on a sequence split across lines; still not this encoding
        bad_bytes = bytearray(b"\x00\x00")
    codec, label = _encoding_guess(bytes(bad_bytes))
    declared = "UTF-8" if encoding.replace("_", "-").lower() in {"utf-8", "utf8"} else encoding
    # UTF-16 without a mark is valid UTF-8 byte by byte: only its NUL bytes give it away, in no row in particular.
    which = f"{n_bad} row(s) hold bytes that are not" if n_bad else "NUL bytes run between its characters"
    return error(
        table, None, "bad_encoding",
        f"{path.name} is not valid {declared}: {which}; it looks like {label}.",
        f"Re-export {path.name} as UTF-8, or add `encoding: {codec}` under `{table}:` in the mapping file.",
        n_rows=n_bad,
        examples=examples,
    )


def sniff_delimiter(text: str) -> str:
    """The delimiter among , ; tab | that splits the sample into the most, consistent, fields.

    A delimiter whose every sampled record has the header's field count (> 1) wins, the widest one
    first; without one, the delimiter that splits the header widest is used so the read reports the
    inconsistent rows rather than guessing silently.
    """
    best: tuple[bool, int, int] = (False, 0, 0)
    chosen = ","
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            counts = [len(record) for record in csv.reader(io.StringIO(text), delimiter=delimiter)][:200]
        except csv.Error:  # a quoted cell holding a line break, split by another delimiter: not this one
            continue
        counts = [c for c in counts if c > 0]
        if len(counts) > 1:
            counts = counts[:-1]  # the sample may cut the last record short
        if not counts:
            continue
        consistent = counts[0] > 1 and all(c == counts[0] for c in counts)
        score = (consistent, counts[0], -rank)
        if score > best:
            best, chosen = score, delimiter
    return chosen


def _csv_sample(path: Path) -> tuple[bytes, bool]:
    with _open_binary(path) as handle:
        sample = handle.read(SAMPLE_BYTES)
        complete = len(sample) < SAMPLE_BYTES or not handle.read(1)
    return sample, complete


def read_csv_table(
    path: Path, table: str, delimiter: str | None = None, encoding: str | None = None
) -> tuple[pd.DataFrame | None, list[Finding]]:
    """Read one CSV (optionally gzipped) with every column as text.

    Returns ``(None, findings)`` when the file cannot be used at all (empty, undecodable, wrongly
    delimited, unreadable); malformed rows (a wrong number of fields) are set aside and reported as
    an error while the rest is read, so the other checks still run.
    """
    import pyarrow.csv as pacsv

    name = path.name
    try:
        sample, complete = _csv_sample(path)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return None, [error(table, None, "unreadable_file", f"{name} could not be read: {_first_line(exc)}.",
                            f"Re-export {name} as plain or gzipped CSV.")]
    if not sample.strip():
        return None, [error(table, None, "empty_file", f"{name} is empty: it has no header and no rows.",
                            f"Re-export the {table} table with its header row, or remove the empty file.")]

    if sample.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):  # zip (xlsx) or OLE (xls) signatures
        return None, [error(table, None, "unreadable_file", f"{name} is a spreadsheet workbook or archive, not CSV text.",
                            f"Save it from the spreadsheet program as CSV UTF-8 named {table}.csv.")]
    bom = _detect_bom(sample)
    codec = encoding or bom or "utf-8"
    if encoding is None and bom is None:
        if sample.count(0) > len(sample) // 8:
            return None, [diagnose_encoding(path, table)]
        try:
            codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        except UnicodeDecodeError:
            return None, [diagnose_encoding(path, table)]
    try:
        text = sample.decode(codec) if complete else codecs.getincrementaldecoder(codec)().decode(sample)
    except UnicodeDecodeError:
        return None, [diagnose_encoding(path, table, codec)]
    text = text.removeprefix("\ufeff")
    if not complete:  # drop the record the sample cut short
        text = text[: text.rfind("\n") + 1] or text

    skip_rows = 0
    first_line = text.split("\n", 1)[0].strip()
    if first_line.lower().startswith("sep=") and len(first_line) == 5:  # Excel's delimiter hint line
        delimiter = delimiter or first_line[4]
        skip_rows = 1
        text = text.split("\n", 1)[1] if "\n" in text else ""
    if not text.strip():
        return None, [error(table, None, "empty_file", f"{name} is empty: it has no header and no rows.",
                            f"Re-export the {table} table with its header row, or remove the empty file.")]
    delimiter = delimiter or sniff_delimiter(text)
    records = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(records)
    names, findings = dedupe_columns(header, table, name)

    if len(names) == 1:
        others = [d for d in DELIMITERS if d != delimiter and d in names[0]]
        if others:
            return None, [
                error(
                    table, None, "wrong_delimiter",
                    f"{name} read with delimiter {delimiter_label(delimiter)} has a single column {short_text(names[0], 60)!r}; "
                    f"it looks {delimiter_label(others[0])}-delimited.",
                    f"Set `delimiter: {others[0]!r}` under `{table}:` in the mapping file, or re-export {name} "
                    f"delimited by {delimiter_label(delimiter)}.",
                )
            ]
    if complete and sum(1 for _ in records) == 0:
        return pd.DataFrame({n: pd.Series(dtype="str") for n in names}), findings

    bad_rows: list[tuple[int | None, int, int, str]] = []
    # Arrow reads UTF-8 natively (a UTF-8 byte-order mark included); anything else is transcoded.
    arrow_codec = "utf8" if codecs.lookup(codec).name == "utf-8" else codec

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        bad_rows.clear()
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=skip_rows + 1, encoding=arrow_codec, use_threads=use_threads
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.large_string() for n in names},  # pandas "str" holds large_string: no copy
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    try:
        arrow = read(use_threads=True)
        if bad_rows:  # only a single-threaded read knows the line numbers of malformed rows
            arrow = read(use_threads=False)
    except UnicodeDecodeError:
        return None, [diagnose_encoding(path, table, codec)]
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            return None, [diagnose_encoding(path, table, codec)]
        return None, [*findings, error(table, None, "unreadable_file", f"{name} could not be read as CSV: {_first_line(exc)}.",
                                       f"Re-export {name} as CSV with one header row.")]
    except Exception as exc:
        return None, [*findings, error(table, None, "unreadable_file", f"{name} could not be read as CSV: {_first_line(exc)}.",
                                       f"Re-export {name} as CSV with one header row.")]

    frame = arrow_to_frame(arrow)
    del arrow
    if bad_rows:
        n_lines_before_data = skip_rows + 1
        positions = [n - n_lines_before_data - 1 for n, *_ in bad_rows if n is not None]
        if len(positions) == len(bad_rows):
            total = len(frame) + len(bad_rows)
            frame.index = pd.Index(np.setdiff1d(np.arange(total), np.asarray(positions)))
        expected = bad_rows[0][1]
        got = sorted({actual for _, _, actual, _ in bad_rows})
        hint = ""
        sample_text = bad_rows[0][3]
        others = [d for d in DELIMITERS if d != delimiter and d in sample_text]
        if others:
            hint = f"; they may be {delimiter_label(others[0])}-delimited"
        findings.append(
            error(
                table, None, "inconsistent_fields",
                f"{len(bad_rows)} row(s) of {name} have {', '.join(map(str, got))} field(s) instead of the header's "
                f"{expected} (delimiter {delimiter_label(delimiter)}){hint}; they were left out of every check.",
                f"Re-export {name} with one delimiter throughout and quote values that contain it.",
                n_rows=len(bad_rows),
                # The row number and its field count, never the row's text: it holds names and e-mail addresses.
                examples=[
                    {"row": (n - n_lines_before_data if n is not None else None), "value": f"{actual} fields"}
                    for n, _, actual, _ in bad_rows[:MAX_EXAMPLES]
                ],
            )
        )
    return frame, findings


def read_parquet_table(path: Path, table: str) -> tuple[pd.DataFrame | None, list[Finding]]:
    """Read one Parquet file (or a folder of Parquet parts, as Spark writes) keeping its types."""
    import pyarrow.parquet as pq

    if path.is_file() and path.stat().st_size == 0:
        return None, [error(table, None, "empty_file", f"{path.name} is empty (0 bytes).",
                            f"Re-export the {table} table, or remove the empty file.")]
    try:
        arrow = pq.read_table(path)
    except Exception as exc:
        return None, [error(table, None, "unreadable_file", f"{path.name} could not be read as Parquet: {_first_line(exc)}.",
                            f"Re-export {path.name} as Parquet (or CSV named {table}.csv).")]
    names, findings = dedupe_columns(arrow.column_names, table, path.name)
    return arrow_to_frame(arrow.rename_columns(names)), findings


def read_file_table(path: Path, table: str, delimiter: str | None, encoding: str | None) -> tuple[pd.DataFrame | None, list[Finding]]:
    """Read a table from a file or Parquet folder, choosing the reader by name (CSV unless Parquet).

    Whatever a user's file does to a parser (a 3 MB "field", NUL bytes, a truncated gzip) ends as an
    ``unreadable_file`` finding naming the table; the traceback goes to the debug log only.
    """
    try:
        return _read_file_table(path, table, delimiter, encoding)
    except Exception as exc:
        logger.debug("reading %s failed", path, exc_info=True)
        return None, [error(table, None, "unreadable_file", f"{path.name} could not be read: {_first_line(exc)}.",
                            f"Re-export the {table} table as CSV (UTF-8, one header row) or Parquet.")]


def _read_file_table(path: Path, table: str, delimiter: str | None, encoding: str | None) -> tuple[pd.DataFrame | None, list[Finding]]:
    lowered = path.name.lower()
    if path.is_dir() or lowered.endswith(PARQUET_SUFFIXES):
        return read_parquet_table(path, table)
    if path.stat().st_size == 0:
        return None, [error(table, None, "empty_file", f"{path.name} is empty (0 bytes).",
                            f"Re-export the {table} table with its header row, or remove the empty file.")]
    return read_csv_table(path, table, delimiter=delimiter, encoding=encoding)


# --------------------------------------------------------------------------------------------------
# Folder and DuckDB exports


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies inside ``folder`` once ``..`` and symbolic links are resolved."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def is_table_file(name: str) -> bool:
    """Whether reading an export folder takes an entry of this name for a table (``Leads.CSV``, ``events.parquet``)."""
    return not _is_ignored(name) and table_for_name(name) is not None


def export_inputs(path: str | os.PathLike, mapping_path: str | os.PathLike | None = None) -> list[Input]:
    """What reading the export at ``path`` reads, as :class:`~leadscore.features.frames_io.Input` for outputs to avoid.

    A folder's tables and any name the reader would take for one (``opportunities.parquet`` written into
    the folder becomes its opportunities table on the next read), every file the mapping names, the
    mapping file itself; a DuckDB file. What does not exist (yet) or cannot be read is left to the read
    that follows: this only keeps an output off the inputs.
    """
    source = Path(path)
    inputs: list[Input] = []
    if mapping_path:
        inputs.append(Input(Path(mapping_path), "is the mapping file this command reads"))
    if source.is_dir():
        for entry in sorted(source.iterdir()):
            if is_table_file(entry.name):
                inputs.append(Input(entry, f"is the {table_for_name(entry.name)} table of the export {source}, "
                                           "which this command reads"))
        inputs.append(Input(source, f"is named after a table, so the next read of the export {source} would take it "
                                    "for one", inside=is_table_file))
    elif source.exists():
        inputs.append(Input(source, "is the export this command reads"))
        return inputs
    if mapping_path and Path(mapping_path).is_file():
        try:
            mapping = load_mapping(mapping_path)
        except LeadscoreError:
            return inputs  # the command reports a broken mapping file once it reads it
        for name in TABLE_NAMES:
            wanted = mapping.table(name).file
            if wanted:
                target = Path(wanted) if Path(wanted).is_absolute() else source / wanted
                inputs.append(Input(target, f"is the file the mapping reads as the {name} table"))
    return inputs


def read_folder(folder: Path, mapping: MappingFile | None = None, allow_files_outside: bool = False,
                skip: frozenset[str] = frozenset()) -> RawExport:
    """Read every contract table found in ``folder``; report unknown entries as warnings.

    A file the mapping names must lie inside ``folder`` (``../`` and links resolved), so a mapping file
    from elsewhere cannot make leadscore read, and echo into its findings, any file the user can read;
    ``allow_files_outside`` (``--allow-files-outside``) reads such a file on purpose.
    """
    export = RawExport(kind="folder")
    chosen: dict[str, Path] = {}
    explicit: set[Path] = set()
    for name in TABLE_NAMES:
        wanted = mapping.table(name).file if mapping else None
        if wanted is None:
            continue
        target = Path(wanted) if Path(wanted).is_absolute() else folder / wanted
        if not allow_files_outside and not is_inside(target, folder):
            # Refused before looking at it: whether such a file exists is none of the findings' business.
            export.findings.append(
                error(name, None, "file_outside_export",
                      f"The mapping names {short_text(wanted)!r} as the {name} table, which is outside the export folder "
                      f"{short_text(folder, 80)}; it was not read.",
                      f"Put the file in the export folder and name it relative to it under `{name}: file:`, or pass "
                      "--allow-files-outside to read it where it is.")
            )
            continue
        if not target.exists():
            export.findings.append(
                error(name, None, "mapping_file_missing",
                      f"The mapping names {short_text(wanted)!r} as the {name} table, but {short_text(target, 80)} does not exist.",
                      f"Fix `file:` under `{name}:` in the mapping file (paths are relative to {folder}).")
            )
            continue
        chosen[name] = target
        explicit.add(target.resolve())

    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if _is_ignored(entry.name):
            continue
        table = table_for_name(entry.name)
        if entry.is_dir() and not entry.name.lower().endswith(PARQUET_SUFFIXES) and table is not None:
            table = table if any(entry.glob("*.parquet")) else None
        if entry.resolve() in explicit:
            # Named by the mapping for some table (stage_history: file: leads.csv); its own name still
            # makes it the table it is named after when no other file holds that table.
            if table is not None and table not in chosen:
                chosen[table] = entry
            continue
        if table is None:
            stem, dot, suffix = entry.name.lower().partition(".")
            if dot and suffix in SPREADSHEET_SUFFIXES:
                fix = f"Save it from the spreadsheet program as CSV UTF-8 ({stem}.csv); workbooks are not read."
            else:
                fix = ("If it holds a contract table, name it <table>.csv or <table>.parquet (tables: "
                       f"{', '.join(TABLE_NAMES)}) or give it under `file:` in the mapping file.")
            export.findings.append(
                warning(EXPORT, None, "unknown_file", f"{entry.name} is not named after a contract table and was not read.", fix)
            )
            continue
        if table in chosen:
            if mapping and mapping.table(table).file:
                export.findings.append(
                    warning(table, None, "ignored_file",
                            f"{entry.name} was not read: the mapping file names {chosen[table].name} as the {table} table.",
                            f"Remove {entry.name} from the export if it is stale.")
                )
            else:
                export.findings.append(
                    error(table, None, "duplicate_table",
                          f"Both {chosen[table].name} and {entry.name} hold the {table} table.",
                          f"Keep one of them, or choose one with `file:` under `{table}:` in the mapping file.")
                )
            continue
        chosen[table] = entry

    # A file named as the source of several tables (a flat contacts export holding leads and their
    # stage dates) is read once; each table gets its own shallow copy of the frame.
    read: dict[tuple[Path, str | None, str | None], pd.DataFrame | None] = {}
    for table in TABLE_NAMES:
        if table not in chosen or table in skip:  # skipped: another engine reads it (``--engine spark``)
            continue
        section = mapping.table(table) if mapping else None
        path = chosen[table]
        key = (path.resolve(), section.delimiter if section else None, section.encoding if section else None)
        if key not in read:
            logger.debug("reading %s from %s", table, path)
            frame, findings = read_file_table(path, table, key[1], key[2])
            export.findings.extend(findings)
            read[key] = frame
        if read[key] is not None:
            export.tables[table] = RawTable(table, read[key].copy(deep=False), str(path))
    return export


def read_duckdb(path: Path, mapping: MappingFile | None = None) -> RawExport:
    """Read the contract tables (case-insensitive names, or as the mapping names them) from a DuckDB file."""
    import duckdb

    export = RawExport(kind="duckdb")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except Exception as exc:
        export.kind = "none"
        export.findings.append(
            error(EXPORT, None, "unreadable_export", f"{path.name} could not be opened as a DuckDB database: {_first_line(exc)}.",
                  "Point leadscore at a DuckDB database file, or at a folder of CSV/Parquet files named after the tables.")
        )
        return export
    try:
        listed = con.sql(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY table_schema <> 'main', table_schema, table_name"
        ).fetchall()
        by_lower: dict[str, tuple[str, str]] = {}
        for schema, name in listed:
            by_lower.setdefault(name.lower(), (schema, name))
            by_lower.setdefault(f"{schema}.{name}".lower(), (schema, name))
        chosen: dict[str, tuple[str, str]] = {}
        for table in TABLE_NAMES:
            wanted = (mapping.table(table).file if mapping else None) or table
            if wanted.lower() in by_lower:
                chosen[table] = by_lower[wanted.lower()]
            elif wanted != table:
                export.findings.append(
                    error(table, None, "mapping_file_missing",
                          f"The mapping names {wanted!r} as the {table} table, but {path.name} has no such table.",
                          f"Fix `file:` under `{table}:` in the mapping file (tables in the file: "
                          f"{', '.join(n for _, n in listed) or 'none'}).")
                )
        used = set(chosen.values())
        for schema, name in listed:
            if (schema, name) not in used and not _is_ignored(name):
                export.findings.append(
                    warning(EXPORT, None, "unknown_table", f"Table {schema}.{name} in {path.name} is not a contract table and was not read.",
                            f"If it holds a contract table, rename it to one of {', '.join(TABLE_NAMES)} or name it under `file:` in the mapping file.")
                )
        for table, (schema, name) in chosen.items():
            try:
                arrow = con.sql(f'SELECT * FROM "{schema}"."{name}"').to_arrow_table()
            except Exception as exc:
                export.findings.append(
                    error(table, None, "unreadable_file", f"Table {name} in {path.name} could not be read: {_first_line(exc)}.",
                          f"Recreate {name} with plain column types (text, numbers, timestamps, booleans).")
                )
                continue
            names, findings = dedupe_columns(arrow.column_names, table, f"{path.name}:{name}")
            export.findings.extend(findings)
            export.tables[table] = RawTable(table, arrow_to_frame(arrow.rename_columns(names)), f"{path}:{name}")
    finally:
        con.close()
    return export


def read_source(path: str | os.PathLike, mapping: MappingFile | None = None, allow_files_outside: bool = False,
                skip: frozenset[str] = frozenset()) -> RawExport:
    """Read an export (folder or DuckDB file) into raw frames plus the problems met reading it.

    Never raises for bad data; the caller checks that ``path`` exists. ``allow_files_outside``: see
    :func:`read_folder`; ``skip`` names tables of a folder not to read (another engine reads them).
    """
    source = Path(path)
    if source.is_dir():
        return read_folder(source, mapping, allow_files_outside, skip)
    lowered = source.name.lower()
    try:
        with open(source, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        return RawExport("none", findings=[error(EXPORT, None, "unreadable_export", f"{source} could not be read: {_first_line(exc)}.",
                                                 "Check the path and its permissions.")])
    if head.startswith(b"SQLite format 3"):
        return RawExport("none", findings=[
            error(EXPORT, None, "unreadable_export", f"{source.name} is a SQLite database, not DuckDB.",
                  "Export the tables to a DuckDB file or to a folder of CSV/Parquet files named after the tables.")])
    if lowered.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES) and not lowered.endswith(DUCKDB_SUFFIXES):
        return RawExport("none", findings=[
            error(EXPORT, None, "not_an_export", f"{source.name} is a single file; an export is a folder of tables or a DuckDB file.",
                  f"Put {source.name} in a folder as <table>{Path(lowered).suffix} (e.g. leads.csv) and point at the folder.")])
    return read_duckdb(source, mapping)
