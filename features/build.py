"""Point-in-time features for a spine of (lead_id, as_of) rows: the same builder for training and scoring.

``make_spine`` turns a request (every lead at one as_of, or a leads file with per-lead as_of) into the
rows that can be built and the rows that cannot, with a reason each, so a caller can answer for every
lead it was asked about. ``build_features`` returns one row per spine row with every catalogue feature.

Each family lives in its own module (``build_profile``, ``build_engagement``, ``build_funnel``,
``build_account``). Event, stage, technology and opportunity aggregations run in an in-process DuckDB
connection created here and closed at the end; the frames going in and out are pandas. Every
aggregation reads only rows that :func:`features.pit.visible_sql` admits, the SQL form of
:func:`features.pit.join_as_of`'s ``<= as_of`` rule, on epoch-nanosecond integers.

Measured by ``bench/bench_features.py`` on 2 cores, 1M leads and 20M events: the whole single-as_of
build in about 21 s at 5.3 GB peak RSS (3.1 GB of it the data itself); the event aggregation alone in
DuckDB about 19 s against about 59 s (and 7.7 GB) for the same aggregation in plain pandas.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.catalogue import CATALOGUE
from features.contract import EVENT_TYPES, PAGE_TYPES, STAGES
from features.errors import LeadscoreError
from features.persona import parse_job_titles
from features.pit import check_spine, to_epoch_ns
from features.tables import Tables

if TYPE_CHECKING:
    import duckdb

logger = logging.getLogger(__name__)

EXCLUSION_REASONS = ("unknown_lead_id", "as_of_unparseable", "captured_at_missing", "captured_after_as_of")
SENIOR_LEVELS = ("c_level", "vp", "director")
NS_PER_DAY = 86_400 * 10**9


def parse_timestamp(value: object, what: str) -> pd.Timestamp:
    """One user-given timestamp as UTC (naive values are read as UTC); ``LeadscoreError`` if unreadable."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise LeadscoreError(f"{what} {value!r} is not a timestamp; use ISO-8601 such as 2024-06-30T00:00:00Z.") from exc
    if pd.isna(stamp):
        raise LeadscoreError(f"{what} is empty; use ISO-8601 such as 2024-06-30T00:00:00Z.")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def positions(values: pd.Series, index_values: pd.Series) -> np.ndarray:
    """Position of each value in ``index_values`` (first occurrence), -1 where absent or missing.

    Hashed in Arrow: ``Index.get_indexer`` on millions of Arrow-backed string ids is an order of
    magnitude slower.
    """
    left = pa.array(values.astype("str").array)
    right = pa.array(index_values.astype("str").array)
    return pc.index_in(left, value_set=right).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _parse_as_of_column(raw: pd.Series) -> pd.Series:
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(raw.dtype):
        return pd.Series(pd.to_datetime(raw, utc=True), index=raw.index).astype("datetime64[ns, UTC]")
    text = raw.astype("str").str.strip()
    text = text.where(text.str.len() > 0)
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    return pd.Series(parsed, index=raw.index).astype("datetime64[ns, UTC]")


def make_spine(
    tables: Tables,
    as_of: pd.Timestamp | str | None = None,
    leads: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (lead_id, as_of) rows to build, and the requested rows that cannot be built, with a reason.

    Parameters
    ----------
    tables
        The export.
    as_of
        One moment for every row (default: ``tables.data_end``, scoring "now" on this export).
    leads
        Optional request: a frame with ``lead_id`` and an optional ``as_of`` per row (for backtests);
        a missing or blank ``as_of`` takes the global one. Without it, every lead of the export.

    Returns
    -------
    spine, excluded
        ``spine`` has ``lead_id`` and ``as_of`` (UTC) in request order. ``excluded`` has ``lead_id``,
        ``as_of`` and ``reason``: ``unknown_lead_id`` (not in leads), ``as_of_unparseable``,
        ``captured_at_missing`` or ``captured_after_as_of`` (the lead did not exist yet, so nothing
        about it may be known). Together they hold every requested row exactly once.

    Raises
    ------
    LeadscoreError
        If ``as_of`` is not a timestamp or ``leads`` has no ``lead_id`` column.
    """
    global_as_of = tables.data_end if as_of is None else parse_timestamp(as_of, "as_of")
    if leads is None:
        lead_id = tables.leads["lead_id"].astype("str").reset_index(drop=True)
        stamps = pd.Series(global_as_of, index=lead_id.index).astype("datetime64[ns, UTC]")
        unparseable = np.zeros(len(lead_id), dtype=bool)
    else:
        if "lead_id" not in leads.columns:
            raise LeadscoreError(f"the leads file has no lead_id column (it has {', '.join(map(str, leads.columns))}).")
        request = leads.reset_index(drop=True)
        lead_id = request["lead_id"].astype("str").str.strip()
        if "as_of" in request.columns:
            raw = request["as_of"]
            parsed = _parse_as_of_column(raw)
            blank = raw.isna() | (raw.astype("str").str.strip().str.len() == 0)
            unparseable = (parsed.isna() & ~blank).to_numpy()
            stamps = parsed.where(~blank, global_as_of).astype("datetime64[ns, UTC]")
        else:
            stamps = pd.Series(global_as_of, index=lead_id.index).astype("datetime64[ns, UTC]")
            unparseable = np.zeros(len(lead_id), dtype=bool)

    pos = positions(lead_id, tables.leads["lead_id"])
    lead_captured = to_epoch_ns(tables.leads["captured_at"])
    known = np.append(lead_captured.notna().to_numpy(), False)
    captured = np.append(lead_captured.to_numpy(dtype="int64", na_value=0), 0)
    slot = np.where(pos >= 0, pos, len(captured) - 1)
    as_of_ns = to_epoch_ns(stamps).to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)
    reason = np.select(
        [pos < 0, unparseable, ~known[slot], captured[slot] > as_of_ns],
        list(EXCLUSION_REASONS),
        default="",
    )
    keep = reason == ""
    spine = pd.DataFrame({"lead_id": lead_id[keep].to_numpy(), "as_of": stamps[keep].array}).reset_index(drop=True)
    spine["lead_id"] = spine["lead_id"].astype("str")
    excluded = pd.DataFrame({
        "lead_id": lead_id[~keep].to_numpy(),
        "as_of": stamps[~keep].array,
        "reason": pd.array(reason[~keep], dtype="str"),
    }).reset_index(drop=True)
    excluded["lead_id"] = excluded["lead_id"].astype("str")
    if len(excluded):
        counts = excluded["reason"].value_counts().to_dict()
        logger.warning("%d of %d requested rows cannot be built: %s", len(excluded), len(lead_id), counts)
    return spine, excluded


def connect_duckdb() -> duckdb.DuckDBPyConnection:
    """A private in-process DuckDB connection on 2 threads (the machine's budget), never a global one."""
    import duckdb

    con = duckdb.connect(database=":memory:")
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    return con


def has_table(tables: Tables, name: str) -> bool:
    """Whether the export brought ``name``: absent tables give unknown (NaN) features, not zeros.

    ``present`` decides when it is filled in (a table present but empty means "nothing happened");
    otherwise any row counts as presence.
    """
    return name in tables.present if tables.present else len(tables.table(name)) > 0


def empty_features() -> pd.DataFrame:
    """The builder's output for an empty spine: the right columns and dtypes, no rows."""
    columns = {"lead_id": pd.Series(dtype="str"), "as_of": pd.Series(dtype="datetime64[ns, UTC]")}
    for spec in CATALOGUE:
        columns[spec.name] = pd.Series(dtype="str" if spec.kind == "categorical" else "float64")
    return pd.DataFrame(columns)


PAGE_VIEW_CODE = 100  # page views are coded 100 + the PAGE_TYPES index, 100 + len(PAGE_TYPES) if unknown


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


class _Clock:
    """Logs how long each feature family took (``-v`` shows where a slow build spends its time)."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.start = time.perf_counter()

    def lap(self, family: str, result: pd.DataFrame) -> pd.DataFrame:
        now = time.perf_counter()
        logger.info("%s features for %d rows: %.2f s", family, self.n_rows, now - self.start)
        self.start = now
        return result


def build_features(tables: Tables, spine: pd.DataFrame, chunk_rows: int = 1_000_000) -> pd.DataFrame:
    """Every catalogue feature for each spine row, from data at or before the row's ``as_of``.

    Parameters
    ----------
    tables
        The export; optional tables may be empty (their features are then missing, not zero).
    spine
        ``lead_id`` and ``as_of`` rows, normally from :func:`make_spine` (every lead known and captured
        by its as_of). Rows may repeat a lead at several as_of (training snapshots).
    chunk_rows
        Spine rows aggregated at a time; the export is loaded once, the per-row work runs per chunk.

    Returns
    -------
    pandas.DataFrame
        One row per spine row, in spine order: ``lead_id``, ``as_of``, then the catalogue's features in
        catalogue order; numeric and flag columns float64 (NaN where unknown, e.g. firmographics of a
        lead without an account), categorical columns ``str`` with NaN for missing.

    Raises
    ------
    LeadscoreError
        If a spine row names an unknown lead or one captured after its as_of (use :func:`make_spine`).
    """
    from features.build_account import build_account_features, build_technographic_features
    from features.build_engagement import build_engagement_features
    from features.build_funnel import build_funnel_features
    from features.build_profile import build_profile_features

    spine = check_spine(spine)
    if spine["as_of"].isna().any():
        raise LeadscoreError(f"{int(spine['as_of'].isna().sum())} spine row(s) have no as_of; build the spine with make_spine.")
    if spine.empty:
        return empty_features()
    leads = tables.leads
    lead_pos = positions(spine["lead_id"], leads["lead_id"])
    if (lead_pos < 0).any():
        raise LeadscoreError(f"{int((lead_pos < 0).sum())} spine row(s) name a lead_id not in leads; build the spine with make_spine.")
    captured = to_epoch_ns(leads["captured_at"]).to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)[lead_pos]
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    if (captured > as_of_ns).any():
        raise LeadscoreError(
            f"{int((captured > as_of_ns).sum())} spine row(s) have as_of before the lead's capture (or no captured_at); "
            "build the spine with make_spine."
        )

    persona = parse_job_titles(leads["job_title"].reset_index(drop=True))
    senior = persona["seniority"].isin(SENIOR_LEVELS).to_numpy()
    output = _Output(spine)
    con = connect_duckdb()
    try:
        orphans = load_into_duckdb(con, tables, senior)
        for table, n in orphans.items():
            if n:
                logger.warning("%d %s row(s) name a lead_id not in leads; they are left out of every feature", n, table)
        # Chunks bound the intermediate memory of long spines (training snapshots) to one chunk's worth.
        for start in range(0, len(spine), chunk_rows):
            stop = min(start + chunk_rows, len(spine))
            part_spine = spine.iloc[start:stop].reset_index(drop=True)
            n = stop - start
            set_spine(con, lead_pos[start:stop], as_of_ns[start:stop])
            clock = _Clock(n)
            profile = clock.lap("profile", build_profile_features(tables, part_spine, lead_pos[start:stop], persona))
            technographic = clock.lap("technographic", build_technographic_features(con, tables, n))
            engagement = clock.lap("engagement", build_engagement_features(con, tables, n))
            funnel = clock.lap("funnel", build_funnel_features(con, tables, n, lead_age_days=profile["lead_age_days"]))
            own = pd.concat([engagement, funnel], axis=1)
            account = clock.lap("account", build_account_features(con, tables, n, own=own, own_senior=senior[lead_pos[start:stop]]))
            output.fill(start, [profile, technographic, engagement, funnel, account])
    finally:
        con.close()
    return output.frame()


class _Output:
    """The builder's result, filled chunk by chunk into final arrays (no second copy of a large frame)."""

    def __init__(self, spine: pd.DataFrame) -> None:
        self.spine = spine
        n = len(spine)
        self.numbers = {s.name: np.empty(n) for s in CATALOGUE if s.kind != "categorical"}
        self.texts: dict[str, list[pa.Array]] = {s.name: [] for s in CATALOGUE if s.kind == "categorical"}

    def fill(self, start: int, parts: list[pd.DataFrame]) -> None:
        available = {name: part[name] for part in parts for name in part.columns}
        for name, target in self.numbers.items():
            values = pd.to_numeric(available[name]).to_numpy(dtype="float64", na_value=np.nan)
            target[start:start + len(values)] = values
        for name, pieces in self.texts.items():
            text = available[name]
            text = text if text.dtype == "str" else text.astype("str")
            pieces.append(pa.array(text.array).cast(pa.large_string()))

    def frame(self) -> pd.DataFrame:
        columns: dict[str, object] = {
            "lead_id": self.spine["lead_id"].astype("str").reset_index(drop=True),
            "as_of": self.spine["as_of"].reset_index(drop=True),
        }
        for spec in CATALOGUE:
            if spec.kind == "categorical":
                chunked = pa.chunked_array(self.texts[spec.name], type=pa.large_string())
                columns[spec.name] = pd.Series(pd.arrays.ArrowStringArray(chunked), dtype="str")
            else:
                columns[spec.name] = self.numbers[spec.name]
        # copy=False keeps one block per column: consolidating would copy the whole frame once more.
        return pd.DataFrame(columns, copy=False)
