"""The in-memory form of a user's export: one typed pandas frame per contract table.

Every later step (features, labels, rules, training, scoring, report) takes a :class:`Tables`, so
optional tables a user did not bring are present as empty frames with the contract's columns and
dtypes, and the moment the export was taken (``data_end``) is decided once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.contract import PANDAS_DTYPES, TABLE_NAMES, TABLES
from leadscore.features.errors import LeadscoreError
from leadscore.features.timestamps import to_utc


def empty_frame(table: str) -> pd.DataFrame:
    """An empty frame with the contract columns and dtypes of ``table``."""
    spec = TABLES[table]
    return pd.DataFrame({c.name: pd.Series(dtype=PANDAS_DTYPES[c.kind]) for c in spec.columns})


def contract_frame(table: str, data: list[dict] | dict[str, list]) -> pd.DataFrame:
    """A frame with ``table``'s contract columns and dtypes from row dicts or from column lists.

    For small hand-made exports (tests, notebooks, examples): contract columns the data does not
    mention are nulls; timestamps are read as UTC.
    """
    if isinstance(data, dict):
        n_rows = len(next(iter(data.values()))) if data else 0
        column_values = {name: list(values) for name, values in data.items()}
    else:
        n_rows = len(data)
        column_values = {c.name: [row.get(c.name) for row in data] for c in TABLES[table].columns}
    columns = {}
    for column in TABLES[table].columns:
        values = column_values.get(column.name, [None] * n_rows)
        dtype = PANDAS_DTYPES[column.kind]
        if column.kind == "timestamp":
            columns[column.name] = pd.Series(pd.to_datetime(pd.Series(values, dtype=object), utc=True)).astype(dtype)
        elif column.kind == "number":
            columns[column.name] = pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
        else:
            columns[column.name] = pd.Series(values, dtype=object).astype(dtype)
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class ColumnNotes:
    """What the mapping file says about the export's own columns of one table (leads or accounts).

    Attributes
    ----------
    excluded
        ``features.exclude``: never features.
    outcomes
        Columns ``stage_dates`` / ``reached`` read as outcomes: never features.
    known_at_capture
        ``features.known_at_capture``: the user vouches they were set when the lead was created.
    calendar_causes
        ``features.calendar_causes``: calendar feature -> why the calendar matters to this business.
    """

    excluded: frozenset[str] = frozenset()
    outcomes: frozenset[str] = frozenset()
    known_at_capture: frozenset[str] = frozenset()
    calendar_causes: tuple[tuple[str, str], ...] = ()


@dataclass
class Tables:
    """A user's export in contract form.

    Attributes
    ----------
    leads, accounts, technographics, events, stage_history, opportunities, spend
        Typed frames with at least the contract columns (extra user columns are kept).
    data_end
        When the export was taken: given by the user, else the latest timestamp in leads, events
        and stage_history. Labels are censored against it.
    present
        Names of the tables the export actually contained.
    source
        Where the tables were read from, for messages.
    column_notes
        Per table (``leads``, ``accounts``), what the mapping says of the export's own columns.
    date_order
        ``day_first`` / ``month_first`` from the mapping, for the export's own date columns.
    own_columns
        The export's own columns of leads and accounts, each with its inferred kind or why it is not
        a feature (``leadscore.features.reading.own_columns.OwnColumn``); usable ones are typed.
    """

    leads: pd.DataFrame
    accounts: pd.DataFrame
    technographics: pd.DataFrame
    events: pd.DataFrame
    stage_history: pd.DataFrame
    opportunities: pd.DataFrame
    spend: pd.DataFrame
    data_end: pd.Timestamp
    present: frozenset[str] = field(default_factory=frozenset)
    source: str = "<memory>"
    column_notes: dict[str, ColumnNotes] = field(default_factory=dict)
    date_order: str | None = None
    own_columns: tuple = ()

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


def latest_timestamp(frames: dict[str, pd.DataFrame]) -> pd.Timestamp | None:
    """Latest timestamp found in leads, events and stage_history (the contract's default data end)."""
    latest = []
    for name, column in (("leads", "captured_at"), ("events", "occurred_at"), ("stage_history", "entered_at")):
        frame = frames.get(name)
        if frame is not None and column in frame and len(frame):
            value = frame[column].max()
            if pd.notna(value):
                latest.append(value)
    return max(latest) if latest else None


def make_tables(
    frames: dict[str, pd.DataFrame],
    data_end: pd.Timestamp | str | None = None,
    source: str = "<memory>",
    column_notes: dict[str, ColumnNotes] | None = None,
    date_order: str | None = None,
    own_columns: tuple = (),
) -> Tables:
    """Assemble :class:`Tables` from already-typed frames, filling absent tables and columns.

    Frames must already carry contract dtypes (the reader's coercion or the generator produce them);
    missing optional columns are added as nulls so every step sees one shape. Without ``data_end`` the
    data's end is the latest timestamp in leads, events and stage_history; when there is none,
    :class:`LeadscoreError` (today's date would make runs irreproducible).
    """
    present = frozenset(name for name in TABLE_NAMES if frames.get(name) is not None)
    complete: dict[str, pd.DataFrame] = {}
    for name in TABLE_NAMES:
        frame = frames.get(name)
        if frame is None:
            complete[name] = empty_frame(name)
            continue
        frame = frame.copy()
        for column in TABLES[name].columns:
            if column.name not in frame.columns:
                frame[column.name] = pd.Series(None, index=frame.index, dtype=PANDAS_DTYPES[column.kind])
        complete[name] = frame
    if data_end is None:
        end = latest_timestamp(complete)
        if end is None:
            # Never the wall clock: the same export would then give other labels and scores every day.
            raise LeadscoreError(
                "nothing in leads, events or stage_history carries a timestamp, so the data's end is unknown; "
                "give it with --data-end (or data_end in the mapping file)."
            )
    else:
        end = to_utc(data_end, "data_end", date_order)
    return Tables(**complete, data_end=end, present=present, source=source, column_notes=dict(column_notes or {}),
                  date_order=date_order, own_columns=tuple(own_columns))


def has_table(tables: Tables, name: str) -> bool:
    """Whether the export brought ``name``: absent tables give unknown (NaN) features, not zeros.

    ``present`` decides when it is filled in (a table present but empty means "nothing happened");
    otherwise any row counts as presence.
    """
    return name in tables.present if tables.present else len(tables.table(name)) > 0


def positions(values: pd.Series | pa.Array | pa.ChunkedArray, index_values: pd.Series | pa.Array) -> np.ndarray:
    """Position of each value in ``index_values`` (first occurrence), -1 where absent or missing.

    Ids are compared as text, hashed in Arrow: ``Index.get_indexer`` on millions of Arrow-backed string
    ids is an order of magnitude slower.

    Examples
    --------
    >>> positions(pd.Series(["b", "x", None]), pd.Series(["a", "b"])).tolist()
    [1, -1, -1]
    """
    def arrow(column: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        return column if isinstance(column, pa.Array | pa.ChunkedArray) else pa.array(column.astype("str").array)

    found = pc.index_in(arrow(values), value_set=arrow(index_values))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
