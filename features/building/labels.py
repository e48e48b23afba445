"""Labels and labeled training sets: snapshots of each lead at offsets after capture, with their outcome.

The data contract's labels: for a lead observed at ``as_of`` with horizon H days,

- ``sqo`` = 1 if the lead *first* enters SQO or WON in ``(as_of, as_of + H]`` (a WON without a recorded
  SQO still counts: the deal was qualified on its way to being won);
- ``won`` = 1 if it first enters WON in ``(as_of, as_of + H]`` **and** reaches SQO within the SQO horizon
  (``(as_of, as_of + H_sqo]``, 90 days by default) or is already at SQO at as_of. A win counts only with its
  SQO inside the SQO horizon, so that P(won) = P(sqo) × P(won | sqo) exactly: the WON model is trained as
  the second link of that chain, ``q = P(won | sqo)`` on the rows whose ``reached_sqo`` is 1, and serving
  multiplies it by the SQO model's probability (``leadscore.scorers.model.answer``), so p_win <= p_sqo for
  every lead by construction. A lead already at SQO at as_of (an open opportunity) is a row of the WON
  training set too (``at_sqo``), which is how the WON model can give an open opportunity its chance of
  winning. An export that records only WON (a Converted flag, a closed-deals file) has no SQO apart from
  the wins, so every SQO there is a win and q is 1.

The first entry is what counts, so a lead that reached SQO, was recycled and re-entered SQO later is
positive only if the first entry falls in the window. A stage entry without a time (a flat export's
"Converted" flag, see :mod:`leadscore.features.reading.outcomes`) counts as reached after capture and
within any horizon: the lead is positive at capture, and a later snapshot cannot be labelled (was it
reached before that as_of or after?), so it is left out as ``outcome_time_unknown``.

A row is left out, and counted, under the first of these that applies (:data:`STATUSES`): its as_of is
after the data's end (nothing to observe yet); the lead had already reached the target by as_of (it is no
longer a lead to score for it); the lead is closed at as_of (its latest stage is LOST or DISQUALIFIED:
:func:`leadscore.features.building.stages.funnel_position`, the scorer's own definition, gives a closed
lead no probability, so it is no training row either: its 0 would teach the model about leads it is never
asked about); its outcome time is unknown; its horizon starts before the export's outcome records do
(:func:`late_outcome_records`); or ``as_of + H`` is after the data's end (censored: the window is not
fully observed, and a 0 there would be a guess; for ``won``, both horizons must have passed, or only the
shorter when the export records no SQO apart from its wins, each win being its own SQO).

:func:`build_training_set` uses at-capture snapshots only, and says so, when the target has outcomes at
an unknown time (later snapshots of the other leads alone would teach the model that older leads never
convert) or when nothing in the export can change a lead's features after capture
(:func:`after_capture_rows`: a flat file, where later snapshots repeat the capture row with an older
age and dilute the at-capture fit).

Features come from :func:`leadscore.features.building.builder.build_features` on the same (lead_id, as_of) rows, so a
training row and a scoring row are built by one function.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from leadscore.features.building.builder import build_features
from leadscore.features.building.stages import funnel_position
from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import check_spine
from leadscore.features.tables import Tables, has_table, positions
from leadscore.features.timestamps import NS_PER_DAY, to_epoch_ns

logger = logging.getLogger(__name__)

Target = Literal["sqo", "won"]
DEFAULT_HORIZON_DAYS: dict[str, int] = {"sqo": 90, "won": 180}
DEFAULT_OFFSETS_DAYS = (0, 7, 14, 30, 60)
TARGET_STAGES: dict[str, tuple[str, ...]] = {"sqo": ("SQO", "WON"), "won": ("WON",)}
# Stage entries after capture that change no kept row's features: the outcomes (a row past them is no
# longer a training row) and the closing stages (a closed lead is no training row either).
ENDING_STAGES = ("SQO", "WON", "LOST", "DISQUALIFIED")
# Snapshot statuses in the order they are decided; "ok" rows are training rows.
STATUSES = ("unknown_lead_id", "captured_at_missing", "not_yet_observable", "already_reached", "closed",
            "outcome_time_unknown", "before_outcome_records", "censored", "ok")
ROW_COLUMNS = ("lead_id", "as_of", "offset_days", "captured_at", "label")
# The WON training set's extra columns: the chain's condition and where the lead stands.
CHAIN_COLUMNS = ("reached_sqo", "at_sqo")
# Outcome records start late when leads captured well before the first outcome would have given this
# few outcomes by chance at the later rate: (1 - rate) ** n_early below it.
LATE_RECORDS_P = 1e-3


def _check_target(target: str, horizon_days: int | None) -> int:
    if target not in TARGET_STAGES:
        raise LeadscoreError(f"target must be 'sqo' or 'won', not {target!r}.")
    horizon = DEFAULT_HORIZON_DAYS[target] if horizon_days is None else int(horizon_days)
    if horizon <= 0:
        raise LeadscoreError(f"the label horizon must be a positive number of days, not {horizon_days}.")
    return horizon


def first_target_entry(tables: Tables, target: Target) -> pd.Series:
    """Per lead (index ``lead_id``) the first ``entered_at`` of the target's stages, as epoch ns (Int64).

    Leads whose only target entries have no time are absent (see :func:`unknown_time_targets`).
    """
    history = tables.stage_history
    hits = history[history["stage"].isin(TARGET_STAGES[target])]
    entered = to_epoch_ns(hits["entered_at"])
    first = entered.groupby(hits["lead_id"].astype("str").to_numpy()).min()
    return first.dropna().astype("Int64")


def unknown_time_targets(tables: Tables, target: Target) -> pd.Index:
    """Leads that reached the target at an unknown time after capture and have no timed target entry."""
    history = tables.stage_history
    hits = history[history["stage"].isin(TARGET_STAGES[target])]
    undated = pd.Index(hits.loc[hits["entered_at"].isna(), "lead_id"].astype("str").unique())
    return undated.difference(first_target_entry(tables, target).index)


class _Lookup:
    """Per spine row: a lead's first timed entry of a target (or "never") and whether it has an undated one."""

    NEVER = np.iinfo(np.int64).max

    def __init__(self, tables: Tables, spine: pd.DataFrame, target: Target) -> None:
        first = first_target_entry(tables, target)
        at = positions(spine["lead_id"], pd.Series(first.index, dtype="str"))
        self.first_ns = np.append(first.to_numpy(dtype="int64"), self.NEVER)[np.where(at >= 0, at, len(first))]
        self.ever = at >= 0
        self.unknown_time = positions(spine["lead_id"], pd.Series(unknown_time_targets(tables, target), dtype="str")) >= 0

    def reached_by(self, ns: np.ndarray) -> np.ndarray:
        return self.ever & (self.first_ns <= ns)

    def within(self, as_of_ns: np.ndarray, end_ns: np.ndarray) -> np.ndarray:
        return self.ever & (self.first_ns > as_of_ns) & (self.first_ns <= end_ns)


def label_snapshots(tables: Tables, spine: pd.DataFrame, target: Target, horizon_days: int | None = None,
                    sqo_horizon_days: int | None = None, records_start: pd.Timestamp | None = None) -> pd.DataFrame:
    """Label and status of each (lead_id, as_of) row, for training sets and for backtests.

    Parameters
    ----------
    tables
        The export; it must include stage_history.
    spine
        ``lead_id`` and ``as_of`` rows (any as_of: offsets after capture, or one global moment).
    target, horizon_days
        ``sqo`` (default horizon 90 days) or ``won`` (180 days).
    sqo_horizon_days
        For ``won``: the SQO horizon a win's SQO must fall in (default 90 days; see the module docstring).
    records_start
        Rows whose horizon starts before this moment are left out (``before_outcome_records``; see
        :func:`late_outcome_records`).

    Returns
    -------
    pandas.DataFrame
        Spine-aligned: ``lead_id``, ``as_of``, ``status`` (see :data:`STATUSES`), ``label`` (Int8: 0/1 for
        ``ok`` rows, missing otherwise), ``first_target_at`` (the lead's first target entry, if any) and
        ``horizon_end_at`` (``as_of + H``); for ``won`` also ``reached_sqo`` (Int8: at SQO by as_of or
        reaching it within the SQO horizon; the chain's condition) and ``at_sqo`` (bool: already at SQO).
    """
    horizon = _check_target(target, horizon_days)
    if not has_table(tables, "stage_history"):
        raise LeadscoreError("labels need the stage_history table (funnel transitions); the export has none.")
    spine = check_spine(spine)
    chained = target == "won"
    sqo_horizon = _check_target("sqo", sqo_horizon_days) if chained else horizon
    goal = _Lookup(tables, spine, target)
    sqo = _Lookup(tables, spine, "sqo") if chained else goal
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    end_ns = as_of_ns + horizon * NS_PER_DAY
    sqo_end_ns = as_of_ns + sqo_horizon * NS_PER_DAY
    data_end_ns = int(to_epoch_ns(pd.Series([tables.data_end])).iloc[0])
    start_ns = -np.inf if records_start is None else int(to_epoch_ns(pd.Series([records_start])).iloc[0])

    lead_pos = positions(spine["lead_id"], tables.leads["lead_id"])
    slot = np.where(lead_pos >= 0, lead_pos, len(tables.leads))
    captured_ns = to_epoch_ns(tables.leads["captured_at"])
    captured = np.append(captured_ns.notna().to_numpy(), False)[slot]
    at_capture = np.append(captured_ns.to_numpy(dtype="int64", na_value=0), 0)[slot] == as_of_ns
    # A win counts with its SQO inside the SQO horizon, so the label is known once both horizons have
    # passed; when the export records no SQO apart from the wins, a win is its own SQO and the label is
    # known at the shorter of the two.
    wins_are_the_sqos = chained and not tables.stage_history["stage"].isin(["SQO"]).any()
    observed_until_ns = (np.minimum if wins_are_the_sqos else np.maximum)(end_ns, sqo_end_ns)
    position = funnel_position(tables, spine.reset_index(drop=True)).to_numpy()
    closed = np.isin(position, ("lost", "disqualified"))
    unknown_time = goal.unknown_time | (sqo.unknown_time if chained else False)
    status = np.select(
        [lead_pos < 0, ~captured, as_of_ns > data_end_ns, goal.reached_by(as_of_ns), closed,
         unknown_time & ~at_capture, as_of_ns < start_ns, observed_until_ns > data_end_ns],
        list(STATUSES[:8]),
        default="ok",
    )
    # an outcome at an unknown time counts as reached after capture, within any horizon
    hit = goal.within(as_of_ns, end_ns) | (goal.unknown_time & at_capture)
    at_sqo = sqo.reached_by(as_of_ns) if chained else np.zeros(len(spine), dtype=bool)
    reached_sqo = at_sqo | sqo.within(as_of_ns, sqo_end_ns) | (sqo.unknown_time & at_capture) | (
        goal.unknown_time & at_capture)
    positive = hit & reached_sqo if chained else hit
    ok = status == "ok"

    def flags(values: np.ndarray) -> pd.arrays.IntegerArray:
        out = pd.array(np.where(ok, values.astype(np.int8), 0), dtype="Int8")
        out[~ok] = pd.NA
        return out

    first_at = pd.Series(pd.to_datetime(np.where(goal.ever, goal.first_ns, np.iinfo(np.int64).min), utc=True))
    out = pd.DataFrame({
        "lead_id": spine["lead_id"],
        "as_of": spine["as_of"],
        "status": pd.array(status, dtype="str"),
        "label": flags(positive),
        "first_target_at": first_at.astype("datetime64[ns, UTC]"),
        "horizon_end_at": pd.Series(pd.to_datetime(end_ns, utc=True)).astype("datetime64[ns, UTC]"),
    })
    if chained:
        out["reached_sqo"] = flags(reached_sqo)
        out["at_sqo"] = at_sqo & ok
    return out


def late_outcome_records(tables: Tables, target: Target, horizon_days: int | None = None) -> tuple[pd.Timestamp | None, str]:
    """The moment the export's outcome records of ``target``'s kind seem to start, when that is late; and why.

    A real export may record outcomes only from some date on (a deals file kept from the day a CRM was
    adopted, a Converted flag filled in from some month on): leads captured long before its first outcome
    then look as if none converted. The records are judged to start late when the leads that could not
    have shown a recorded outcome (their whole at-capture horizon ends before the first dated outcome;
    for outcomes without a date, captured before the first lead that has one) are so many that, at the
    outcome rate of the later leads, seeing none of them convert has a probability below
    :data:`LATE_RECORDS_P`. That first outcome (or first converted lead's capture) is then the start: rows
    whose horizon starts before it are left out (``before_outcome_records``). ``(None, "")`` when the
    records do not start late.
    """
    horizon = _check_target(target, horizon_days)
    if not has_table(tables, "stage_history"):
        return None, ""
    leads = tables.leads.assign(lead_id=tables.leads["lead_id"].astype("str"))
    captured = to_epoch_ns(leads["captured_at"]).to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(captured)
    data_end_ns = int(to_epoch_ns(pd.Series([tables.data_end])).iloc[0])
    horizon_ns = horizon * NS_PER_DAY
    dated = first_target_entry(tables, target)
    first = dated.reindex(leads["lead_id"].to_numpy()).to_numpy(dtype="float64", na_value=np.nan)
    captured_int = to_epoch_ns(leads["captured_at"])
    undated = leads["lead_id"].isin(unknown_time_targets(tables, target)).to_numpy()
    found = []
    if (~np.isnan(first)).any():  # dated outcomes: the window of a lead captured at c is (c, c + H]
        start_ns = int(dated.min())
        early = known & (captured + horizon_ns < start_ns)
        later = known & (captured >= start_ns) & (captured + horizon_ns <= data_end_ns)
        hit = (first > captured) & (first <= captured + horizon_ns)
        found.append((start_ns, early, later, hit, " or ".join(TARGET_STAGES[target]) + " is recorded"))
    if undated.any():  # outcomes without a date: a converted lead is flagged whenever it converted
        start_ns = int(captured_int[undated & known].min())
        early = known & (captured < start_ns)
        later = known & (captured >= start_ns) & (captured + horizon_ns <= data_end_ns)
        found.append((start_ns, early, later, undated, "lead is flagged as converted"))
    late = []
    for start_ns, early, later, hit, what in found:
        n_early = int(early.sum())
        rate = float(hit[later].mean()) if later.any() else 0.0
        if n_early and rate > 0 and (1 - rate) ** n_early < LATE_RECORDS_P:
            late.append((start_ns, n_early, rate, what))
    if not late:
        return None, ""
    start_ns, n_early, rate, what = max(late)
    start = pd.Timestamp(int(start_ns), tz="UTC")
    return start, (f"no {what} before {start:%Y-%m-%d} though {n_early:,} leads were captured before it could show "
                   f"(about {rate * n_early:,.0f} would have converted at the later rate of {rate:.1%}): the outcome "
                   "records seem to start then, so snapshots before it are left out of training and calibration")


def after_capture_rows(tables: Tables) -> int:
    """How many dated rows of the export could change a lead's features after its capture.

    Events and technographics or opportunities dated after the first capture, and stage entries after their
    lead's capture other than the outcomes and closing stages (:data:`ENDING_STAGES`: a row past them is
    no training row). Zero for a flat file (one row per contact, outcome dates only): every later
    snapshot would repeat the capture row with an older age.
    """
    leads = tables.leads
    captured = to_epoch_ns(leads["captured_at"])
    if captured.notna().sum() == 0:
        return 0
    first_capture = int(captured.min())
    n = 0
    for table, column in (("events", "occurred_at"), ("technographics", "first_seen_at"),
                          ("opportunities", "created_at")):
        if has_table(tables, table):
            n += int((to_epoch_ns(tables.table(table)[column]) > first_capture).sum())
    if has_table(tables, "stage_history"):
        history = tables.stage_history
        history = history[~history["stage"].isin(ENDING_STAGES)]
        lead_captured = captured.to_numpy(dtype="float64", na_value=np.nan)
        pos = positions(history["lead_id"], leads["lead_id"])
        own_capture = np.append(lead_captured, np.nan)[np.where(pos >= 0, pos, len(leads))]
        n += int((to_epoch_ns(history["entered_at"]).to_numpy(dtype="float64", na_value=np.nan) > own_capture).sum())
    return n


def _check_offsets(offsets_days: Sequence[int]) -> tuple[int, ...]:
    try:
        offsets = tuple(int(o) for o in offsets_days)
    except (TypeError, ValueError) as exc:
        raise LeadscoreError(f"offsets must be whole days, e.g. 0,7,14,30,60 (got {offsets_days!r}).") from exc
    if not offsets or any(o < 0 for o in offsets) or len(set(offsets)) != len(offsets):
        raise LeadscoreError(f"offsets must be distinct non-negative whole days, e.g. 0,7,14,30,60 (got {list(offsets_days)}).")
    return tuple(sorted(offsets))


def summarize_snapshots(snapshots: pd.DataFrame, offsets: Sequence[int]) -> pd.DataFrame:
    """Per offset and in total: candidates, every exclusion, rows and positives; the counts reconcile.

    ``n_candidates = n_rows`` plus one ``n_<status>`` column per exclusion of :data:`STATUSES`
    (``n_unknown_lead_id`` is never a training candidate and is not listed).
    """
    records = []
    for offset in [*offsets, None]:
        part = snapshots if offset is None else snapshots[snapshots["offset_days"] == offset]
        status = part["status"]
        n_rows = int((status == "ok").sum())
        n_positive = int(part["label"].fillna(0).astype("int64").sum())
        record = {
            "offset": "total" if offset is None else str(offset),
            "n_candidates": len(part),
            "n_rows": n_rows,
            "n_positive": n_positive,
            "positive_rate": n_positive / n_rows if n_rows else float("nan"),
        }
        record.update({f"n_{name}": int((status == name).sum()) for name in reversed(STATUSES[1:-1])})
        records.append(record)
    summary = pd.DataFrame(records)
    summary["offset"] = summary["offset"].astype("str")
    return summary


def build_training_set(
    tables: Tables,
    target: Target,
    offsets_days: Sequence[int] = DEFAULT_OFFSETS_DAYS,
    horizon_days: int | None = None,
    own: list[dict] | None = None,
    sqo_horizon_days: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labeled point-in-time snapshots of every lead at each offset after its capture.

    Parameters
    ----------
    tables
        The export (stage_history required).
    target
        ``sqo`` or ``won``.
    offsets_days
        Snapshot moments in whole days after ``captured_at`` (0 = at capture). Several offsets per lead
        teach the model how a lead looks at different ages, as scoring will meet it.
    horizon_days
        Label window; default 90 for sqo, 180 for won.
    own
        The export's own features to build (default: every usable own column, see ``build_features``).
    sqo_horizon_days
        For ``won``: the SQO horizon of the chain (default 90; see the module docstring).

    Returns
    -------
    rows, summary
        ``rows``: ``lead_id, as_of, offset_days, captured_at, label`` (int8), for ``won`` also
        ``reached_sqo`` (int8) and ``at_sqo`` (bool), then every catalogue feature, ordered by as_of then
        lead_id, only rows with status ``ok``. ``summary``: one row per offset plus ``total`` with
        ``n_candidates``, ``n_rows``, ``n_positive``, ``positive_rate`` and each exclusion (``n_censored``,
        ``n_already_reached``, ``n_closed``, ...), which add up to ``n_candidates``.
        ``summary.attrs["note"]`` says in words what was left out and why: at-capture snapshots only (a
        flat file, or outcomes at an unknown time), outcome records that start late.
    """
    horizon = _check_target(target, horizon_days)
    offsets = _check_offsets(offsets_days)
    notes = []
    n_unknown = len(unknown_time_targets(tables, target)) if has_table(tables, "stage_history") else 0
    if offsets != (0,):
        if n_unknown:
            notes.append(f"{n_unknown:,} lead(s) reached {target.upper()} at an unknown time, so only at-capture "
                         f"snapshots are used (offset 0 instead of {', '.join(map(str, offsets))}): later snapshots "
                         "cannot be labelled.")
        elif after_capture_rows(tables) == 0:
            notes.append("nothing in the export changes after a lead's capture (no activity, no stage entry besides "
                         "the outcomes), so only at-capture snapshots are used (offset 0 instead of "
                         f"{', '.join(map(str, offsets))}): later ones would repeat them with an older age.")
        if notes:
            logger.info("%s training set: %s", target, notes[-1])
            offsets = (0,)
    records_start, why = late_outcome_records(tables, target, horizon) if has_table(tables, "stage_history") else (None, "")
    if target == "won":
        sqo_start, sqo_why = late_outcome_records(tables, "sqo", sqo_horizon_days)
        if sqo_start is not None and (records_start is None or sqo_start > records_start):
            records_start, why = sqo_start, sqo_why
    leads = tables.leads.reset_index(drop=True)
    captured = pd.Series(pd.to_datetime(leads["captured_at"], utc=True)).astype("datetime64[ns, UTC]")
    # A lead without a capture time cannot be placed in time; the status below counts it.
    placeholder = captured.fillna(tables.data_end)
    frames = []
    for offset in offsets:
        frames.append(pd.DataFrame({
            "lead_id": leads["lead_id"].astype("str"),
            "as_of": placeholder + pd.Timedelta(days=offset),
            "offset_days": np.int64(offset),
            "captured_at": captured,
        }))
    candidates = pd.concat(frames, ignore_index=True)
    labels = label_snapshots(tables, candidates[["lead_id", "as_of"]], target, horizon, sqo_horizon_days, records_start)
    candidates["status"] = labels["status"].to_numpy()
    candidates["label"] = labels["label"].array
    summary = summarize_snapshots(candidates, offsets)
    if records_start is not None:
        n_before = int(summary.iloc[-1]["n_before_outcome_records"])
        notes.append(f"{why} ({n_before:,} snapshots).")
        logger.info("%s training set: %s", target, notes[-1])
    summary.attrs["note"] = " ".join(notes)
    summary.attrs["records_start"] = records_start

    ok = (candidates["status"] == "ok").to_numpy()
    kept = candidates[ok]
    extra = {name: labels.loc[ok, name].to_numpy() for name in CHAIN_COLUMNS if name in labels}
    order = np.lexsort((kept["offset_days"].to_numpy(), kept["lead_id"].to_numpy(), kept["as_of"].to_numpy()))
    kept = kept.iloc[order].reset_index(drop=True)
    logger.debug("building features for %d %s training rows", len(kept), target)
    features = build_features(tables, kept[["lead_id", "as_of"]], own=own)
    columns = {name: kept[name] for name in ROW_COLUMNS}
    columns["label"] = kept["label"].astype("int8")
    if extra:
        columns["reached_sqo"] = pd.Series(extra["reached_sqo"][order].astype("int8"), index=kept.index)
        columns["at_sqo"] = pd.Series(extra["at_sqo"][order].astype(bool), index=kept.index)
    columns.update({name: features[name] for name in features.columns if name not in ("lead_id", "as_of")})
    del features
    rows = pd.DataFrame(columns, copy=False)  # one block per column: no second copy of a large frame
    total = summary.iloc[-1]
    logger.debug(
        "%s training set: %d rows, %d positive; left out %d censored, %d already reached, %d closed, %d not yet observable",
        target, total["n_rows"], total["n_positive"], total["n_censored"], total["n_already_reached"], total["n_closed"],
        total["n_not_yet_observable"],
    )
    return rows, summary
