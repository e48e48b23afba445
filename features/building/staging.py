"""The export staged once as the feature kernel reads it: integer codes, epoch-ns times, rows grouped by lead.

Every feature family, the rules and the scorer read a :class:`Staged` export, made once per build (a
million leads or the one lead of an HTTP request alike) by :func:`stage_tables` from typed
:class:`~leadscore.features.tables.Tables`, or by :func:`stage_columns` from columns a caller already
holds (the service's request). Nothing is re-hashed per chunk: a chunk of the scorer is a range of
integer positions into these arrays.

Layout (``n`` leads in ``tables.leads`` order, their position is the lead's key):

``captured``, ``account``, ``account_row``, ``senior``
    per lead: capture time, a dense account code shared by the leads of one ``account_id`` (-1 none),
    the row of that account in ``tables.accounts`` (-1: not there), director level or above;
``event_start`` + ``event_t``, ``event_code``, ``event_page``, ``event_channel``, ``event_step``
    a lead's dated events are ``event_start[i]:event_start[i + 1]``, sorted by time (ties in export
    order); ``event_code`` is :func:`event_code`; orphans, undated rows and event types outside the
    contract are left out (they can never count);
``stage_start`` + ``stage_t``, ``stage_code``
    dated stage entries per lead, sorted by time then :data:`~leadscore.features.contract.STAGES` order
    (an unknown stage text codes as :data:`UNKNOWN_STAGE`, after every known one);
``member_start`` + ``members``
    each account code's leads (positions, ascending);
``tech_start`` + ``tech_t``, ``tech_id``, ``tech_category``
    technologies per account code sorted by technology then time, an undated one first
    (:data:`~leadscore.features.pit.NULL_TIME`);
``deal_*``
    opportunities matched to an account code: by their own ``account_id``, or (naming none) by their
    lead's account; see :mod:`leadscore.features.building.account`.

Times are epoch nanoseconds with :data:`~leadscore.features.pit.NULL_TIME` for "no time", compared
by :func:`leadscore.features.pit.visible`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
import pyarrow as pa

from leadscore.features.building.catalogue import TECHNOLOGY_CATEGORIES
from leadscore.features.building.text import Text, as_arrow, is_valid, lookup, respell, text_codes
from leadscore.features.contract import EVENT_CHANNELS, EVENT_TYPES, PAGE_TYPES, STAGES
from leadscore.features.pit import NULL_TIME

logger = logging.getLogger(__name__)

# Event codes: the EVENT_TYPES index for every type but page views, which are split by page type:
# PAGE_VIEW_BASE + the PAGE_TYPES index, PAGE_VIEW_BASE + len(PAGE_TYPES) for a missing or unknown page.
PAGE_VIEW_BASE = len(EVENT_TYPES)
N_EVENT_CODES = PAGE_VIEW_BASE + len(PAGE_TYPES) + 1
UNKNOWN_STAGE = 15  # after every STAGES index: at one instant an unknown stage text is the latest entry
STAGE_TEXTS = STAGES
OUTCOME_WON, OUTCOME_LOST, OUTCOME_OTHER = 0, 1, 2

LEAD_TEXT = ("lead_id", "account_id", "channel", "campaign", "job_title", "country", "email_domain")
LEAD_FLAGS = ("email_consent",)
ACCOUNT_TEXT = ("account_id", "industry", "hq_country", "region", "business_model", "company_stage",
                "digital_transformation")
ACCOUNT_NUMBERS = ("employees", "annual_revenue_usd", "branch_count", "paying_customers")
ACCOUNT_FLAGS = ("is_public", "has_cdo")


def event_code(event_type: str, page_type: str | None = None) -> int:
    """The integer code of an event: its EVENT_TYPES index, page views split by page type (module docstring)."""
    if event_type == "page_view":
        return PAGE_VIEW_BASE + (PAGE_TYPES.index(page_type) if page_type in PAGE_TYPES else len(PAGE_TYPES))
    return EVENT_TYPES.index(event_type)


def code_mask(event_types: tuple[str, ...] | list[str], page_types: tuple[str, ...] | None = None) -> int:
    """A bit mask of event codes (bit ``code`` set): these types, page views only of ``page_types`` when given."""
    mask = 0
    for event_type in event_types:
        if event_type == "page_view":
            pages = page_types if page_types is not None else (*PAGE_TYPES, None)
            for page in pages:
                mask |= 1 << event_code("page_view", page)
        else:
            mask |= 1 << event_code(event_type)
    return mask


# --------------------------------------------------------------------------------------------------
# Columns: what staging reads, from pandas frames or from a request's values
# --------------------------------------------------------------------------------------------------
Columns = dict[str, object]
"""One table's columns: text as :data:`~leadscore.features.building.text.Text` (Arrow strings, or a list), times as
int64 epoch ns (``NULL_TIME`` for none), numbers as float64 (NaN), yes/no as float64 (1.0 / 0.0 / NaN); ``n``
holds the row count."""


def event_codes(event_type: Text, page_type: Text) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`event_code` per event, -1 for a type outside the contract; PAGE_TYPES index per event, -1 none)."""
    kind = lookup(event_type, EVENT_TYPES)
    page = lookup(page_type, PAGE_TYPES)
    code = np.where(kind == EVENT_TYPES.index("page_view"),
                    PAGE_VIEW_BASE + np.where(page >= 0, page, len(PAGE_TYPES)), kind)
    return code.astype(np.int8), page.astype(np.int8)


# --------------------------------------------------------------------------------------------------
# Grouping rows by an integer key, in numba: a counting sort, then times within each group
# --------------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def group_rows(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, order): rows with key ``g`` are ``order[starts[g]:starts[g + 1]]``, in their original order.

    Keys outside ``0..n_groups - 1`` are left out. A counting sort: linear, and stable.
    """
    starts = np.zeros(n_groups + 1, dtype=np.int64)
    for key in keys:
        if 0 <= key < n_groups:
            starts[key + 1] += 1
    for g in range(n_groups):
        starts[g + 1] += starts[g]
    fill = starts[:-1].copy()
    order = np.empty(starts[n_groups], dtype=np.int64)
    for row in range(len(keys)):
        key = keys[row]
        if 0 <= key < n_groups:
            order[fill[key]] = row
            fill[key] += 1
    return starts, order


@numba.njit(inline="always")
def _sort_group(lo: int, hi: int, order: np.ndarray, primary: np.ndarray, secondary: np.ndarray) -> None:
    if hi - lo < 2:
        return
    if hi - lo <= 32:  # insertion sort: stable, and fast on the few rows a lead usually has
        for i in range(lo + 1, hi):
            row = order[i]
            j = i - 1
            while j >= lo and (primary[order[j]] > primary[row] or
                               (primary[order[j]] == primary[row] and secondary[order[j]] > secondary[row])):
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = row
    else:
        part = order[lo:hi].copy()
        part = part[np.argsort(secondary[part], kind="mergesort")]
        order[lo:hi] = part[np.argsort(primary[part], kind="mergesort")]


@numba.njit(parallel=True, cache=True)
def _sort_within_groups_parallel(starts: np.ndarray, order: np.ndarray, primary: np.ndarray,
                                 secondary: np.ndarray) -> None:
    for g in numba.prange(len(starts) - 1):
        _sort_group(starts[g], starts[g + 1], order, primary, secondary)


@numba.njit(cache=True)
def _sort_within_groups_serial(starts: np.ndarray, order: np.ndarray, primary: np.ndarray,
                               secondary: np.ndarray) -> None:
    for g in range(len(starts) - 1):
        _sort_group(starts[g], starts[g + 1], order, primary, secondary)


def sort_within_groups(starts: np.ndarray, order: np.ndarray, primary: np.ndarray, secondary: np.ndarray) -> None:
    """Sort ``order`` within each group by ``(primary, secondary)`` of the rows it names, ties kept in place.

    Across the cores for many rows; on the calling thread for a few (a request's), where waking threads
    costs more than the sort.
    """
    run = _sort_within_groups_parallel if len(order) >= 4096 else _sort_within_groups_serial
    run(starts, order, primary, secondary)


def grouped(keys: np.ndarray, n_groups: int, primary: np.ndarray | None = None,
            secondary: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`group_rows`, then sorted within each group by ``primary`` then ``secondary`` when given."""
    starts, order = group_rows(np.ascontiguousarray(keys, dtype=np.int64), n_groups)
    if primary is not None:
        second = np.zeros(len(keys), dtype=np.int64) if secondary is None else secondary.astype(np.int64)
        sort_within_groups(starts, order, np.ascontiguousarray(primary, dtype=np.int64), second)
    return starts, order


# --------------------------------------------------------------------------------------------------
# The staged export
# --------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Staged:
    """One export as the kernel reads it (see the module docstring for every array)."""

    n_leads: int
    lead_ids: Text
    captured: np.ndarray
    account: np.ndarray
    account_row: np.ndarray
    account_row_last: np.ndarray
    n_accounts: int
    event_start: np.ndarray
    event_t: np.ndarray
    event_code: np.ndarray
    event_page: np.ndarray
    event_channel: np.ndarray
    event_step: np.ndarray
    stage_start: np.ndarray
    stage_t: np.ndarray
    stage_code: np.ndarray
    member_start: np.ndarray
    members: np.ndarray
    tech_start: np.ndarray
    tech_t: np.ndarray
    tech_id: np.ndarray
    tech_category: np.ndarray
    deal_start: np.ndarray
    deal_lead: np.ndarray
    deal_by_lead: np.ndarray
    deal_lead_captured: np.ndarray
    deal_created: np.ndarray
    deal_closed: np.ndarray
    deal_outcome: np.ndarray
    leads: Columns
    accounts: Columns
    present: frozenset[str]
    orphans: dict[str, int] = field(default_factory=dict)
    source: object = None
    _kept: dict = field(default_factory=dict, repr=False)

    def kept(self, key: object, make: Callable[[], object]) -> object:
        """``make()`` the first time ``key`` is asked for, the same value afterwards (whole-table work, once)."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    def has(self, table: str) -> bool:
        """Whether the export brought ``table`` (absent tables give unknown features, not zeros)."""
        return table in self.present

    def positions(self, lead_ids: Text) -> np.ndarray:
        """Each id's lead position (first occurrence), -1 where unknown."""
        if isinstance(self.lead_ids, list) and not isinstance(lead_ids, list):
            lead_ids = as_arrow(lead_ids).to_pylist()
        return lookup(lead_ids, self.lead_ids)

    @property
    def senior(self) -> np.ndarray:
        """Per lead: director level or above (the buying committee's senior members)."""
        from leadscore.features.building.persona import SENIOR_LEVELS, SENIORITIES

        def make() -> np.ndarray:
            seniority, _ = self.persona
            levels = np.array([s in SENIOR_LEVELS for s in SENIORITIES] + [False])
            return levels[seniority]

        return self.kept("senior", make)

    @property
    def persona(self) -> tuple[np.ndarray, np.ndarray]:
        """Per lead: SENIORITIES and DEPARTMENTS codes parsed from the job title (-1 where none)."""
        from leadscore.features.building.persona import persona_codes

        return self.kept("persona", lambda: persona_codes(self.leads["job_title"]))


def stage_columns(tables: dict[str, Columns], present: frozenset[str], source: object = None) -> Staged:
    """Stage an export given as :data:`Columns` per contract table (leads required; others may be missing)."""
    leads = tables["leads"]
    accounts = tables.get("accounts") or _empty_columns("accounts")
    n = int(leads["n"])
    lead_ids = leads["lead_id"]
    captured = np.asarray(leads["captured_at"], dtype=np.int64)

    lead_account = leads["account_id"]
    account, account_ids = text_codes(lead_account)
    n_accounts = len(account_ids)
    account_vocabulary = account_ids if isinstance(lead_account, list) else pa.array(account_ids, type=pa.string())
    account_table_ids = accounts["account_id"]
    account_row = lookup(lead_account, account_table_ids)
    # The rules read an account's last row when an id repeats (a later row corrects an earlier one).
    n_rows = len(account_table_ids)
    reversed_row = lookup(lead_account, account_table_ids[::-1]) if n_rows else account_row
    account_row_last = np.where(reversed_row >= 0, n_rows - 1 - reversed_row, -1)

    orphans: dict[str, int] = {}
    events = tables.get("events") or _empty_columns("events")
    event_lead = lookup(events["lead_id"], lead_ids)
    event_t = np.asarray(events["occurred_at"], dtype=np.int64)
    code, page = event_codes(events["event_type"], events["page_type"])
    orphans["events"] = int(((event_lead < 0) & (event_t != NULL_TIME)).sum())
    n_undated = int((event_t == NULL_TIME).sum())
    n_unknown_type = int(((code < 0) & (event_t != NULL_TIME)).sum())
    if n_unknown_type:
        logger.warning("%d events have an event_type outside the contract; they are left out", n_unknown_type)
    keep = (event_t != NULL_TIME) & (code >= 0)
    event_start, order = grouped(np.where(keep, event_lead, -1), n, event_t)
    channel = lookup(events["channel"], EVENT_CHANNELS).astype(np.int8)
    step = np.asarray(events["email_step"], dtype=np.float64)

    stages = tables.get("stage_history") or _empty_columns("stage_history")
    stage_lead = lookup(stages["lead_id"], lead_ids)
    stage_t = np.asarray(stages["entered_at"], dtype=np.int64)
    stage_code = lookup(stages["stage"], STAGES)
    stage_code = np.where(stage_code >= 0, stage_code, UNKNOWN_STAGE).astype(np.int8)
    orphans["stage_history"] = int(((stage_lead < 0) & (stage_t != NULL_TIME)).sum())
    n_undated += int((stage_t == NULL_TIME).sum())
    if n_undated:
        logger.warning("%d events or stage entries have no timestamp; they are never visible", n_undated)
    stage_start, stage_order = grouped(np.where(stage_t != NULL_TIME, stage_lead, -1), n, stage_t, stage_code)

    member_start, members = grouped(account, n_accounts)

    techs = tables.get("technographics") or _empty_columns("technographics")
    tech_account = lookup(techs["account_id"], account_vocabulary)
    tech_id, _ = respell("technology", techs["technology"])
    tech_id = np.where(tech_id >= 0, tech_id, np.iinfo(np.int32).max)  # a missing technology is one technology
    category_codes, categories = respell("category", techs["category"])
    tech_category = np.append(lookup(categories, TECHNOLOGY_CATEGORIES), -1)[category_codes]
    tech_t = np.asarray(techs["first_seen_at"], dtype=np.int64)
    tech_start, tech_order = grouped(tech_account, n_accounts, tech_id, tech_t)

    opps = tables.get("opportunities") or _empty_columns("opportunities")
    deal_lead = lookup(opps["lead_id"], lead_ids)
    named = is_valid(opps["account_id"])
    deal_account = lookup(opps["account_id"], account_vocabulary)
    deal_lead_account = np.where(deal_lead >= 0, np.append(account, -1)[deal_lead], -1)
    # A deal naming an account belongs to it; one naming none, to its lead's account (once captured).
    by_lead = ~named
    deal_key = np.where(named, deal_account, deal_lead_account)
    deal_start, deal_order = grouped(deal_key, n_accounts)
    outcome = lookup(opps["outcome"], ("won", "lost"))
    outcome = np.where(outcome >= 0, outcome, OUTCOME_OTHER)

    staged = Staged(
        n_leads=n, lead_ids=lead_ids, captured=captured, account=account, account_row=account_row,
        account_row_last=account_row_last, n_accounts=n_accounts,
        event_start=event_start, event_t=event_t[order], event_code=code[order], event_page=page[order],
        event_channel=channel[order], event_step=step[order],
        stage_start=stage_start, stage_t=stage_t[stage_order], stage_code=stage_code[stage_order],
        member_start=member_start, members=members,
        tech_start=tech_start, tech_t=tech_t[tech_order], tech_id=tech_id[tech_order].astype(np.int64),
        tech_category=tech_category[tech_order].astype(np.int8),
        deal_start=deal_start, deal_lead=deal_lead[deal_order], deal_by_lead=by_lead[deal_order],
        deal_lead_captured=np.where(deal_lead >= 0, np.append(captured, NULL_TIME)[deal_lead], NULL_TIME)[deal_order],
        deal_created=np.asarray(opps["created_at"], dtype=np.int64)[deal_order],
        deal_closed=np.asarray(opps["closed_at"], dtype=np.int64)[deal_order],
        deal_outcome=outcome[deal_order].astype(np.int8),
        leads=leads, accounts=accounts, present=present, orphans=orphans, source=source,
    )
    return staged


def _empty_columns(table: str) -> Columns:
    from leadscore.features.contract import TABLES

    out: Columns = {"n": 0}
    for column in TABLES[table].columns:
        if column.kind == "timestamp":
            out[column.name] = np.zeros(0, dtype=np.int64)
        elif column.kind in ("number", "bool"):
            out[column.name] = np.zeros(0, dtype=np.float64)
        else:
            out[column.name] = []
    return out


# --------------------------------------------------------------------------------------------------
# From typed values (a request read without pandas)
# --------------------------------------------------------------------------------------------------
def record_columns(table: str, rows: list[dict]) -> Columns:
    """Rows of typed values as :data:`Columns`: text as ``str``, times as epoch ns (int), numbers as float,
    yes/no as bool; ``None`` (or a missing key) for no value."""
    from leadscore.features.contract import TABLES

    out: Columns = {"n": len(rows)}
    for column in TABLES[table].columns:
        values = [row.get(column.name) for row in rows]
        if column.kind == "timestamp":
            out[column.name] = np.array([NULL_TIME if v is None else v for v in values], dtype=np.int64)
        elif column.kind in ("number", "bool"):
            out[column.name] = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        else:
            out[column.name] = values
    return out


def stage_records(tables: dict[str, list[dict]], present: frozenset[str] | None = None) -> Staged:
    """Stage an export given as typed rows per table (:func:`record_columns`); ``present`` defaults to the tables given."""
    columns = {name: record_columns(name, rows) for name, rows in tables.items()}
    return stage_columns(columns, frozenset(tables) if present is None else present)


# --------------------------------------------------------------------------------------------------
# From typed pandas frames (the batch path)
# --------------------------------------------------------------------------------------------------
def frame_columns(frame: object, table: str) -> Columns:
    """A typed contract frame (``Tables``) as :data:`Columns`; text stays in Arrow, without a copy."""
    import pandas as pd

    from leadscore.features.contract import TABLES
    from leadscore.features.timestamps import to_epoch_ns

    assert isinstance(frame, pd.DataFrame)
    out: Columns = {"n": len(frame)}
    for column in TABLES[table].columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        if column.kind == "timestamp":
            out[column.name] = to_epoch_ns(values).to_numpy(dtype="int64", na_value=NULL_TIME)
        elif column.kind == "number":
            out[column.name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        elif column.kind == "bool":
            out[column.name] = values.astype("boolean").astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        elif isinstance(values.dtype, pd.CategoricalDtype):  # dictionary-encoded: its codes, never a string per row
            codes = values.cat.codes.to_numpy()
            out[column.name] = pa.DictionaryArray.from_arrays(
                pa.array(codes, mask=codes < 0), pa.array(values.cat.categories.astype("str").tolist(), type=pa.string()))
        else:
            text = values if values.dtype == "str" else values.astype("str")
            out[column.name] = pa.array(text.array)
    return out


def stage_tables(tables: object) -> Staged:
    """Stage typed :class:`~leadscore.features.tables.Tables` (the export reader's or the generator's)."""
    from leadscore.features.contract import TABLE_NAMES
    from leadscore.features.tables import has_table

    present = frozenset(name for name in TABLE_NAMES if has_table(tables, name))
    columns = {name: frame_columns(tables.table(name), name)
               for name in ("leads", "accounts", "events", "stage_history", "technographics", "opportunities")}
    return stage_columns(columns, present, source=tables)
