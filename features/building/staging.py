"""Staging for the feature builders: the export loaded once into DuckDB, integer-keyed, and the codes they share.

The builders (``profile``, ``engagement``, ``stages``, ``account``) read these temporary tables; this
module owns their schema, written here once:

``leads(lead, account, captured, senior)``
    one row per lead: its position in ``tables.leads``, a dense account code, capture time, and
    whether its title is director level or above;
``events(lead, t, code, step)``
    visible-able events (a row without a time is dropped: it can never be visible); ``code`` is
    :func:`event_code`, ``lead`` null for an orphan;
``stages(lead, t, code)``
    stage entries with a time; ``code`` the :data:`~leadscore.features.contract.STAGES` index;
``techs(account, technology, category, t)``
    technologies of known accounts, ``t`` null when the vendor gave no date;
``opps(lead, account, named_account, lead_account, lead_captured, created, closed, outcome)``
    deals, with their lead's account for deals that name none;
``spine(row, lead, as_of, account)``
    the chunk of rows being built (:func:`set_spine`).

All times are epoch nanoseconds (:func:`leadscore.features.timestamps.to_epoch_ns`), compared with
:func:`leadscore.features.pit.visible_sql`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.contract import EVENT_TYPES, PAGE_TYPES, STAGES
from leadscore.features.tables import Tables
from leadscore.features.timestamps import to_epoch_ns

if TYPE_CHECKING:
    import duckdb

logger = logging.getLogger(__name__)

PAGE_VIEW_CODE = 100  # page views are coded 100 + the PAGE_TYPES index, 100 + len(PAGE_TYPES) if unknown


_DATABASE: list[duckdb.DuckDBPyConnection] = []  # the process's one in-memory database, opened on first use
_OPENING = threading.Lock()


def connect_duckdb() -> duckdb.DuckDBPyConnection:
    """A private DuckDB connection (2 threads, the machine's budget), never a shared one.

    It is a cursor of the process's one in-memory database: opening a database costs tens of
    milliseconds, more than building a single lead's features, while a cursor costs microseconds. A
    cursor is a connection of its own: its temporary tables and registered frames are private to it
    and go when it is closed, so concurrent builds (the HTTP service's threads) never see each other's.
    """
    import duckdb

    with _OPENING:
        if not _DATABASE:
            database = duckdb.connect(database=":memory:")
            database.execute("SET threads = 2")
            database.execute("SET preserve_insertion_order = false")
            _DATABASE.append(database)
    return _DATABASE[0].cursor()


def event_code(event_type: str, page_type: str | None = None) -> int:
    """The integer code an event gets in DuckDB: its EVENT_TYPES index, page views split by page type."""
    if event_type == "page_view":
        return PAGE_VIEW_CODE + (PAGE_TYPES.index(page_type) if page_type is not None else len(PAGE_TYPES))
    return EVENT_TYPES.index(event_type)


def event_codes(event_types: tuple[str, ...] | list[str], page_types: tuple[str, ...] | None = None) -> str:
    """SQL list of the codes for these event types (page views: only ``page_types`` when given)."""
    codes = []
    for event_type in event_types:
        if event_type == "page_view":
            pages = page_types if page_types is not None else (*PAGE_TYPES, None)
            codes += [event_code("page_view", page) for page in pages]
        else:
            codes.append(event_code(event_type))
    return "(" + ", ".join(str(c) for c in sorted(codes)) + ")"


def encode_events(event_type: pd.Series, page_type: pd.Series) -> np.ndarray:
    """:func:`event_code` for a whole column (int16, -1 for an event type outside the contract).

    Done in Arrow: a SQL ``CASE`` over twenty million strings costs ten times more.
    """
    def lookup(values: pd.Series, vocabulary: tuple[str, ...], missing: int) -> np.ndarray:
        found = pc.index_in(pa.array(values.astype("str").array), value_set=pa.array(vocabulary))
        return found.fill_null(missing).to_numpy(zero_copy_only=False).astype(np.int16)

    kind = lookup(event_type, EVENT_TYPES, -1)
    page = lookup(page_type, PAGE_TYPES, len(PAGE_TYPES))
    return np.where(kind == EVENT_TYPES.index("page_view"), PAGE_VIEW_CODE + page, kind).astype(np.int16)


def _case(column: str, values: tuple[str, ...]) -> str:
    return f"CASE {column} " + " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(values)) + " END"


def load_into_duckdb(con: duckdb.DuckDBPyConnection, tables: Tables, senior: np.ndarray) -> dict[str, int]:
    """Integer-keyed copies of the export in DuckDB; returns the orphan rows (lead_id not in leads).

    Leads get their position as key and accounts a dense code, so every later join is on integers:
    string ids are hashed once here (events: one join of their lead_id against leads), not in every
    aggregation. Tables created: ``leads(lead, account, captured, senior)``, ``events(lead, t, code,
    step)``, ``stages(lead, t, code)``, ``techs(account, technology, category, t)`` and ``opps(lead,
    account, named_account, lead_account, lead_captured, created, closed, outcome)``; times are epoch
    nanoseconds.
    """
    leads = tables.leads.reset_index(drop=True)
    con.register("leads_in", pd.DataFrame({
        "lead": np.arange(len(leads), dtype=np.int64),
        "lead_id": leads["lead_id"].astype("str"),
        "account_id": leads["account_id"].astype("str"),
        "captured": to_epoch_ns(leads["captured_at"]),
        "senior": senior,
    }))
    con.execute("CREATE TEMP TABLE lead_keys AS SELECT lead_id, min(lead) AS lead FROM leads_in GROUP BY lead_id")
    con.execute(
        "CREATE TEMP TABLE account_keys AS SELECT account_id, (row_number() OVER (ORDER BY account_id)) - 1 AS account "
        "FROM (SELECT DISTINCT account_id FROM leads_in WHERE account_id IS NOT NULL)"
    )
    con.execute(
        "CREATE TEMP TABLE leads AS SELECT l.lead, a.account, l.captured, l.senior "
        "FROM leads_in l LEFT JOIN account_keys a ON a.account_id = l.account_id"
    )
    # Rows without a time can never be visible (pit rule); dropping them here lets the big tables travel
    # as plain int64, which DuckDB scans several times faster than nullable integers.
    events = tables.events
    event_t = to_epoch_ns(events["occurred_at"])
    dated = event_t.notna().to_numpy()
    events_in = pd.DataFrame({
        "lead_id": events["lead_id"].astype("str").reset_index(drop=True),
        "t": event_t.to_numpy(dtype="int64", na_value=0),
        "code": encode_events(events["event_type"], events["page_type"]),
        "step": pd.to_numeric(events["email_step"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan),
    })
    con.register("events_in", events_in if dated.all() else events_in[dated].reset_index(drop=True))
    con.execute(
        "CREATE TEMP TABLE events AS SELECT k.lead, e.t, e.code, e.step "
        "FROM events_in e LEFT JOIN lead_keys k ON k.lead_id = e.lead_id"
    )
    stages = tables.stage_history
    stage_t = to_epoch_ns(stages["entered_at"])
    stage_dated = stage_t.notna().to_numpy()
    stages_in = pd.DataFrame({
        "lead_id": stages["lead_id"].astype("str").reset_index(drop=True),
        "stage": stages["stage"].astype("str").reset_index(drop=True),
        "t": stage_t.to_numpy(dtype="int64", na_value=0),
    })
    con.register("stages_in", stages_in[stage_dated].reset_index(drop=True))
    con.execute(
        f"CREATE TEMP TABLE stages AS SELECT k.lead, h.t, {_case('h.stage', STAGES)} AS code "
        "FROM stages_in h LEFT JOIN lead_keys k ON k.lead_id = h.lead_id"
    )
    # Orphans keep a null lead: no join on lead can ever reach them.
    counts = {}
    for name, table in (("events", "events"), ("stage_history", "stages")):
        counts[name] = int(con.execute(f"SELECT count(*) FROM {table} WHERE lead IS NULL").fetchall()[0][0])
    n_unknown_type = int(con.execute("SELECT count(*) FROM events WHERE code < 0").fetchall()[0][0])
    if n_unknown_type:
        logger.warning("%d events have an event_type outside the contract; they are left out", n_unknown_type)
    n_undated = int((~dated).sum() + (~stage_dated).sum())
    if n_undated:
        logger.warning("%d events or stage entries have no timestamp; they are never visible", n_undated)
    techs = tables.technographics
    con.register("techs_in", pd.DataFrame({
        "account_id": techs["account_id"].astype("str"),
        "technology": techs["technology"].astype("str"),
        "category": techs["category"].astype("str"),
        "t": to_epoch_ns(techs["first_seen_at"]),
    }).reset_index(drop=True))
    con.execute(
        "CREATE TEMP TABLE techs AS SELECT a.account, lower(trim(t.technology)) AS technology, "
        "replace(lower(trim(t.category)), ' ', '_') AS category, t.t "
        "FROM techs_in t JOIN account_keys a ON a.account_id = t.account_id"
    )
    opps = tables.opportunities
    con.register("opps_in", pd.DataFrame({
        "lead_id": opps["lead_id"].astype("str"),
        "account_id": opps["account_id"].astype("str"),
        "created": to_epoch_ns(opps["created_at"]),
        "closed": to_epoch_ns(opps["closed_at"]),
        "outcome": opps["outcome"].astype("str"),
    }).reset_index(drop=True))
    # A deal without an account belongs to its lead's account (once that lead is known: see build_account).
    con.execute(
        "CREATE TEMP TABLE opps AS SELECT k.lead, a.account, o.account_id IS NOT NULL AS named_account, "
        "l.account AS lead_account, l.captured AS lead_captured, "
        "o.created, o.closed, o.outcome "
        "FROM opps_in o LEFT JOIN lead_keys k ON k.lead_id = o.lead_id LEFT JOIN leads l ON l.lead = k.lead "
        "LEFT JOIN account_keys a ON a.account_id = o.account_id"
    )
    for name in ("leads_in", "events_in", "stages_in", "techs_in", "opps_in"):
        con.unregister(name)
    return counts


def set_spine(con: duckdb.DuckDBPyConnection, lead_pos: np.ndarray, as_of_ns: np.ndarray) -> None:
    """(Re)create ``spine(row, lead, as_of, account)`` for one chunk of rows, numbered from 0."""
    con.register("spine_in", pd.DataFrame({
        "row": np.arange(len(lead_pos), dtype=np.int64), "lead": lead_pos.astype(np.int64), "as_of": as_of_ns,
    }))
    con.execute("DROP TABLE IF EXISTS spine")
    con.execute("CREATE TEMP TABLE spine AS SELECT s.row, s.lead, s.as_of, l.account FROM spine_in s JOIN leads l USING (lead)")
    con.unregister("spine_in")
