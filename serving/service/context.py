"""The service's export (``--data``): history and account context for the leads it already knows.

A CRM often sends only what changed (a new lead, today's events); the export holds the rest. For the
leads of a request that the export knows, the service scores over their *neighbourhood*: the requested
leads and every export lead of the same accounts (account-context features read a lead's colleagues),
with all their events, stage history, opportunities, accounts and technographics, merged with what the
request sends:

- a lead or account the request sends overrides the export's row field by field (a field sent as null
  keeps the export's value);
- event, stage and opportunity rows are added to the export's, a request row identical to an export
  row counting once.

The neighbourhood is what the batch scorer reads for these leads, except that a category the models never
learnt is judged common or rare among the neighbourhood's leads, not the whole export's (the models'
own categories are kept whatever their count).

The export is read once at start (strictly: an export with errors stops the service) and again every
``reload_minutes`` in the background; a reload that fails is logged and the loaded export keeps serving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.building.own import typed_own_column
from leadscore.features.contract import PANDAS_DTYPES, TABLE_NAMES, TABLES
from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import Tables, make_tables
from leadscore.serving.service.periodic import Periodic
from leadscore.serving.service.request_tables import RequestTables

logger = logging.getLogger(__name__)

UTC = PANDAS_DTYPES["timestamp"]
# A request's rows that say something happened to a lead, and when.
LEAD_MOMENTS = {"leads": ("captured_at",), "events": ("occurred_at",), "stage_history": ("entered_at",),
                "opportunities": ("created_at", "closed_at")}


class _Groups:
    """Row positions of a frame grouped by an integer code (rows with code -1 belong to no group)."""

    def __init__(self, codes: np.ndarray, n_groups: int) -> None:
        keep = np.flatnonzero(codes >= 0)
        order = keep[np.argsort(codes[keep], kind="stable")]
        self.order = order
        self.starts = np.searchsorted(codes[order], np.arange(n_groups + 1))

    def rows(self, groups: np.ndarray) -> np.ndarray:
        groups = np.unique(groups[groups >= 0])
        if len(groups) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.sort(np.concatenate([self.order[self.starts[g]:self.starts[g + 1]] for g in groups]))


def _codes(values: pd.Series, index: pd.Index) -> np.ndarray:
    return index.get_indexer(pd.Index(values.astype("str"))) if len(values) else np.zeros(0, dtype=np.int64)


@dataclass
class _Snapshot:
    """One loaded export with its lookups."""

    tables: Tables
    loaded_at: pd.Timestamp
    lead_index: pd.Index
    account_index: pd.Index
    leads_by_account: _Groups
    events_by_lead: _Groups
    stages_by_lead: _Groups
    opportunities_by_lead: _Groups
    opportunities_by_account: _Groups
    technographics_by_account: _Groups

    @classmethod
    def of(cls, tables: Tables) -> _Snapshot:
        leads, accounts = tables.leads, tables.accounts
        lead_index = pd.Index(leads["lead_id"].astype("str"))
        account_ids = pd.concat([accounts["account_id"], leads["account_id"],
                                 tables.opportunities["account_id"], tables.technographics["account_id"]])
        account_index = pd.Index(account_ids.dropna().astype("str").unique())
        n_leads, n_accounts = len(lead_index), len(account_index)

        def by_lead(frame: pd.DataFrame) -> _Groups:
            return _Groups(_codes(frame["lead_id"], lead_index), n_leads)

        def by_account(frame: pd.DataFrame) -> _Groups:
            return _Groups(_codes(frame["account_id"], account_index), n_accounts)

        return cls(tables=tables, loaded_at=pd.Timestamp.now(tz="UTC"), lead_index=lead_index,
                   account_index=account_index, leads_by_account=by_account(leads),
                   events_by_lead=by_lead(tables.events), stages_by_lead=by_lead(tables.stage_history),
                   opportunities_by_lead=by_lead(tables.opportunities),
                   opportunities_by_account=by_account(tables.opportunities),
                   technographics_by_account=by_account(tables.technographics))


def _override(sent: pd.DataFrame, known: pd.DataFrame, key: str, own: dict[str, str], date_order: str | None) -> pd.DataFrame:
    """``sent``'s rows with their nulls filled from the export's row of the same ``key`` (``known``, aligned)."""
    out = sent.copy()
    for column in known.columns:
        theirs = known[column].reset_index(drop=True)
        if column in own:
            kind = own[column]
            theirs = typed_own_column(theirs, kind, len(theirs), date_order)
            if column in out.columns:
                out[column] = typed_own_column(out[column].reset_index(drop=True), kind, len(out), date_order)
        if column not in out.columns:
            out[column] = theirs.to_numpy() if len(out) else theirs.iloc[:0].to_numpy()
            continue
        if column == key:
            continue
        ours = out[column].reset_index(drop=True)
        out[column] = ours.where(ours.notna(), theirs.astype(ours.dtype) if ours.dtype != theirs.dtype else theirs).array
    return out


def _stack(export_rows: pd.DataFrame, sent: pd.DataFrame | None, table: str) -> pd.DataFrame:
    """Export rows, then the request's, a request row identical to an export row (contract columns) once."""
    if sent is None or sent.empty:
        return export_rows.reset_index(drop=True)
    both = pd.concat([export_rows, sent], ignore_index=True)
    columns = [c for c in TABLES[table].column_names if c in both.columns]
    repeated = both.duplicated(subset=columns, keep="first").to_numpy().copy()
    repeated[: len(export_rows)] = False  # the export's own repeats are the export's business
    return both.loc[~repeated].reset_index(drop=True)


def _rows_or_nulls(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """Row ``positions[i]`` of ``frame`` as row ``i`` (index 0..n-1), all nulls where the position is -1."""
    rows = frame.take(np.where(positions >= 0, positions, 0)).reset_index(drop=True) if len(frame) else \
        frame.reindex(range(len(positions))).reset_index(drop=True)
    found = positions >= 0
    if found.all():
        return rows
    return rows.where(np.repeat(found[:, None], rows.shape[1], axis=1), other=None)


def _complete(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """``frame`` with every contract column (a request leaves out the columns it does not fill)."""
    missing = {c.name: pd.Series(None, index=frame.index, dtype=PANDAS_DTYPES[c.kind])
               for c in TABLES[table].columns if c.name not in frame.columns}
    return frame.assign(**missing) if missing else frame


class ExportContext:
    """The loaded export, reloaded every ``reload_minutes``; :meth:`merge` builds a request's tables from it."""

    def __init__(self, path: str, mapping_path: str | None = None, data_end: str | None = None,
                 reload_minutes: float = 15.0) -> None:
        self.path = path
        self.mapping_path = mapping_path
        self.data_end = data_end
        self.reload_minutes = reload_minutes
        self.snapshot: _Snapshot | None = None
        self.last_error: str | None = None
        self.last_reload_at: pd.Timestamp | None = None
        self._reloads = Periodic("leadscore-export-reload", reload_minutes * 60, self.reload)

    def load(self) -> None:
        """Read the export (strictly) and swap it in; raises :class:`LeadscoreError` when it cannot be used."""
        from leadscore.features.reading.validation import load_tables

        started = time.perf_counter()
        snapshot = _Snapshot.of(load_tables(self.path, self.mapping_path, self.data_end))
        self.snapshot = snapshot  # one assignment: a request merges with the old export or the new one
        logger.info("export %s loaded: %s leads, %s events in %.1f s", self.path, f"{len(snapshot.tables.leads):,}",
                    f"{len(snapshot.tables.events):,}", time.perf_counter() - started)

    def describe(self) -> dict[str, object]:
        """What ``/ready`` says of the export: its data end, when it was loaded, how the last reload went.

        Fixed words and moments only: a reload's error text (paths, values) goes to the log, never here.
        """
        snapshot = self.snapshot
        if snapshot is None:
            return {"loaded": False}
        described: dict[str, object] = {
            "loaded": True, "n_leads": len(snapshot.tables.leads), "data_end": snapshot.tables.data_end.isoformat(),
            "loaded_at": snapshot.loaded_at.isoformat(), "reload_minutes": self.reload_minutes}
        if self.last_reload_at is not None:
            described["last_reload"] = {"at": self.last_reload_at.isoformat(), "ok": self.last_error is None}
        if self.last_error is not None:
            described["reload_failed"] = ("the last reload failed (the service log says why); the export loaded at "
                                          f"{snapshot.loaded_at.isoformat()} keeps serving")
        return described

    def reload(self) -> None:
        """:meth:`load` again; on failure the loaded export keeps serving and ``last_error`` says why (for the log)."""
        self.last_reload_at = pd.Timestamp.now(tz="UTC")
        try:
            self.load()
            self.last_error = None
        except (LeadscoreError, OSError) as exc:
            self.last_error = str(exc)
            logger.warning("export reload failed (the loaded one keeps serving): %s", exc)
        except Exception as exc:
            self.last_error = type(exc).__name__
            logger.error("export reload failed (the loaded one keeps serving): %s", type(exc).__name__)

    def start(self) -> None:
        """Reload every ``reload_minutes`` in a daemon thread until :meth:`stop` (never when 0)."""
        self._reloads.start()

    def stop(self) -> None:
        self._reloads.stop()

    def requested_leads(self, read: RequestTables, as_of_given: bool) -> pd.DataFrame:
        """The request's leads with the moment each is scored at and where what is known about it ends.

        A lead the export knows is known up to the export's data end, or up to the latest moment the request
        itself sends about it when that is later (a CRM sending today's events); it is scored there unless
        the request gives an ``as_of``, and a given ``as_of`` after that end gets the batch scorer's status
        ``as_of after the data's end``, as ``leadscore score`` on the same export would. A lead the export
        does not know is all in the request: scored at the request's moment, as without ``--data``.

        Returns a frame of ``lead_id``, ``as_of`` and ``data_end`` (missing for leads the export does not know).
        """
        snapshot = self.snapshot
        if snapshot is None:
            raise LeadscoreError("the service's export is not loaded yet")
        lead_ids = read.lead_ids.astype("str").reset_index(drop=True)
        known = snapshot.lead_index.get_indexer(pd.Index(lead_ids)) >= 0
        export_end = snapshot.tables.data_end
        latest = pd.Series(export_end, index=pd.Index(lead_ids[known].unique()), dtype=UTC)
        for table, columns in LEAD_MOMENTS.items():
            frame = read.frames.get(table)
            if frame is None or frame.empty:
                continue
            for column in columns:
                if column not in frame.columns:
                    continue
                moments = frame.loc[frame[column] <= read.as_of, ["lead_id", column]].dropna()
                newest = moments.groupby(moments["lead_id"].astype("str"))[column].max()
                newest = newest.reindex(latest.index).astype(UTC)
                latest = latest.where(~(newest > latest).fillna(False), newest)
        data_end = pd.Series(pd.NaT, index=lead_ids.index, dtype=UTC)
        data_end[known] = latest.reindex(lead_ids[known]).to_numpy()
        as_of = pd.Series(read.as_of, index=lead_ids.index, dtype=UTC)
        if not as_of_given:
            as_of = as_of.where(~known, data_end)
        return pd.DataFrame({"lead_id": lead_ids, "as_of": as_of, "data_end": data_end})

    def merge(self, read: RequestTables, data_end: pd.Timestamp | None = None) -> Tables:
        """The request's tables merged with the export's neighbourhood of its leads (module docstring).

        ``data_end`` is the merged tables' end (default: the request's ``as_of``).
        """
        snapshot = self.snapshot
        if snapshot is None:
            raise LeadscoreError("the service's export is not loaded yet")
        export = snapshot.tables
        sent = {name: _complete(frame, name) for name, frame in read.frames.items()}
        sent_leads = sent["leads"]
        lead_pos = snapshot.lead_index.get_indexer(pd.Index(sent_leads["lead_id"].astype("str")))
        known = lead_pos >= 0
        export_account = export.leads["account_id"].to_numpy(dtype=object, na_value=None)
        account_ids = [a if a is not None and not pd.isna(a) else (export_account[p] if p >= 0 else None)
                       for a, p in zip(sent_leads["account_id"].to_numpy(dtype=object, na_value=None), lead_pos,
                                       strict=True)]
        if "accounts" in sent:
            account_ids += list(sent["accounts"]["account_id"].to_numpy(dtype=object, na_value=None))
        account_codes = snapshot.account_index.get_indexer(pd.Index([a for a in account_ids if a is not None],
                                                                    dtype=object).astype("str"))
        neighbours = np.union1d(lead_pos[known], snapshot.leads_by_account.rows(account_codes))
        sent_ids = set(sent_leads["lead_id"].astype("str"))
        others = export.leads.take(neighbours)
        others = others.loc[~others["lead_id"].astype("str").isin(sent_ids).to_numpy()]

        own_leads = read.own.get("leads", {})
        known_rows = _rows_or_nulls(export.leads, lead_pos)
        leads = pd.concat([_override(sent_leads, known_rows, "lead_id", own_leads, export.date_order),
                           others], ignore_index=True) if known.any() else pd.concat([sent_leads, others],
                                                                                     ignore_index=True)
        frames: dict[str, pd.DataFrame] = {"leads": leads}

        lead_groups = np.union1d(lead_pos[known], neighbours)
        frames["events"] = _stack(export.events.take(snapshot.events_by_lead.rows(lead_groups)),
                                  sent.get("events"), "events")
        frames["stage_history"] = _stack(export.stage_history.take(snapshot.stages_by_lead.rows(lead_groups)),
                                         sent.get("stage_history"), "stage_history")
        opportunity_rows = np.union1d(snapshot.opportunities_by_lead.rows(lead_groups),
                                      snapshot.opportunities_by_account.rows(account_codes))
        frames["opportunities"] = _stack(export.opportunities.take(opportunity_rows), sent.get("opportunities"),
                                         "opportunities")
        frames["technographics"] = _stack(
            export.technographics.take(snapshot.technographics_by_account.rows(account_codes)),
            sent.get("technographics"), "technographics")

        export_accounts = export.accounts
        account_pos = pd.Index(export_accounts["account_id"].astype("str")).get_indexer(
            pd.Index(snapshot.account_index.take(account_codes[account_codes >= 0])))
        accounts = export_accounts.take(np.unique(account_pos[account_pos >= 0]))
        if "accounts" in sent and len(sent["accounts"]):
            sent_accounts = sent["accounts"]
            pos = pd.Index(accounts["account_id"].astype("str")).get_indexer(
                pd.Index(sent_accounts["account_id"].astype("str")))
            matched = _rows_or_nulls(accounts, pos)
            merged = _override(sent_accounts, matched, "account_id", read.own.get("accounts", {}), export.date_order)
            rest = accounts.loc[~accounts["account_id"].astype("str").isin(set(sent_accounts["account_id"].astype("str")))
                                .to_numpy()]
            accounts = pd.concat([merged, rest], ignore_index=True)
        frames["accounts"] = accounts.reset_index(drop=True)
        frames["spend"] = export.spend
        present = {name for name in TABLE_NAMES if name in export.present or name in sent}
        tables = make_tables(frames, data_end=read.as_of if data_end is None else data_end,
                             source=f"<request + {export.source}>",
                             column_notes=export.column_notes, date_order=export.date_order,
                             own_columns=export.own_columns)
        return Tables(**{name: tables.table(name) for name in TABLE_NAMES}, data_end=tables.data_end,
                      present=frozenset(present), source=tables.source, column_notes=tables.column_notes,
                      date_order=tables.date_order, own_columns=tables.own_columns)
