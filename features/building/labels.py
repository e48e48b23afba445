"""Labels and labeled training sets: snapshots of each lead at offsets after capture, with their outcome.

The data contract's labels: for a lead observed at ``as_of`` with horizon H days,

- ``sqo`` = 1 if the lead *first* enters SQO or WON in ``(as_of, as_of + H]`` (a WON without a recorded
  SQO still counts: the deal was qualified on its way to being won);
- ``won`` = 1 if it first enters WON in ``(as_of, as_of + H]``.

The first entry is what counts, so a lead that reached SQO, was recycled and re-entered SQO later is
positive only if the first entry falls in the window. A stage entry without a time (a flat export's
"Converted" flag, see :mod:`leadscore.features.reading.outcomes`) counts as reached after capture and
within any horizon: the lead is positive at capture, and a later snapshot cannot be labelled (was it
reached before that as_of or after?), so it is left out as ``outcome_time_unknown``. When a target has
such outcomes, :func:`build_training_set` uses at-capture snapshots only, and says so: later snapshots of
the other leads alone would teach the model that older leads never convert. A row is left out, and counted, when its as_of is
after the data's end (nothing to observe yet), when the lead had already reached the target by as_of
(it is no longer a lead to score for it), or when ``as_of + H`` is after the data's end (censored:
the window is not fully observed, and a 0 there would be a guess). In that order: a row is counted
under the first reason that applies.

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
from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import check_spine
from leadscore.features.tables import Tables, has_table, positions
from leadscore.features.timestamps import NS_PER_DAY, to_epoch_ns

logger = logging.getLogger(__name__)

Target = Literal["sqo", "won"]
DEFAULT_HORIZON_DAYS: dict[str, int] = {"sqo": 90, "won": 180}
DEFAULT_OFFSETS_DAYS = (0, 7, 14, 30, 60)
TARGET_STAGES: dict[str, tuple[str, ...]] = {"sqo": ("SQO", "WON"), "won": ("WON",)}
# Snapshot statuses in the order they are decided; "ok" rows are training rows.
STATUSES = ("unknown_lead_id", "captured_at_missing", "not_yet_observable", "already_reached", "outcome_time_unknown",
            "censored", "ok")
ROW_COLUMNS = ("lead_id", "as_of", "offset_days", "captured_at", "label")


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


def label_snapshots(tables: Tables, spine: pd.DataFrame, target: Target, horizon_days: int | None = None) -> pd.DataFrame:
    """Label and status of each (lead_id, as_of) row, for training sets and for backtests.

    Parameters
    ----------
    tables
        The export; it must include stage_history.
    spine
        ``lead_id`` and ``as_of`` rows (any as_of: offsets after capture, or one global moment).
    target, horizon_days
        ``sqo`` (default horizon 90 days) or ``won`` (180 days).

    Returns
    -------
    pandas.DataFrame
        Spine-aligned: ``lead_id``, ``as_of``, ``status`` (see :data:`STATUSES`), ``label`` (Int8: 0/1 for
        ``ok`` rows, missing otherwise), ``first_target_at`` (the lead's first target entry, if any) and
        ``horizon_end_at`` (``as_of + H``).
    """
    horizon = _check_target(target, horizon_days)
    if not has_table(tables, "stage_history"):
        raise LeadscoreError("labels need the stage_history table (funnel transitions); the export has none.")
    spine = check_spine(spine)
    first = first_target_entry(tables, target)
    at = positions(spine["lead_id"], pd.Series(first.index, dtype="str"))
    first_ns = np.append(first.to_numpy(dtype="int64"), np.iinfo(np.int64).max)[np.where(at >= 0, at, len(first))]
    reached_ever = at >= 0
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    end_ns = as_of_ns + horizon * NS_PER_DAY
    data_end_ns = int(to_epoch_ns(pd.Series([tables.data_end])).iloc[0])

    lead_pos = positions(spine["lead_id"], tables.leads["lead_id"])
    slot = np.where(lead_pos >= 0, lead_pos, len(tables.leads))
    captured_ns = to_epoch_ns(tables.leads["captured_at"])
    captured = np.append(captured_ns.notna().to_numpy(), False)[slot]
    at_capture = np.append(captured_ns.to_numpy(dtype="int64", na_value=0), 0)[slot] == as_of_ns
    unknown_time = positions(spine["lead_id"], pd.Series(unknown_time_targets(tables, target), dtype="str")) >= 0
    status = np.select(
        [lead_pos < 0, ~captured, as_of_ns > data_end_ns, reached_ever & (first_ns <= as_of_ns),
         unknown_time & ~at_capture, end_ns > data_end_ns],
        list(STATUSES[:6]),
        default="ok",
    )
    # an outcome at an unknown time counts as reached after capture, within any horizon
    positive = (reached_ever & (first_ns > as_of_ns) & (first_ns <= end_ns)) | (unknown_time & at_capture)
    label = pd.array(np.where(status == "ok", positive.astype(np.int8), 0), dtype="Int8")
    label[status != "ok"] = pd.NA
    first_at = pd.Series(pd.to_datetime(np.where(reached_ever, first_ns, np.iinfo(np.int64).min), utc=True))
    return pd.DataFrame({
        "lead_id": spine["lead_id"],
        "as_of": spine["as_of"],
        "status": pd.array(status, dtype="str"),
        "label": label,
        "first_target_at": first_at.astype("datetime64[ns, UTC]"),
        "horizon_end_at": pd.Series(pd.to_datetime(end_ns, utc=True)).astype("datetime64[ns, UTC]"),
    })


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

    ``n_candidates = n_rows + n_captured_at_missing + n_not_yet_observable + n_already_reached
    + n_outcome_time_unknown + n_censored``.
    """
    records = []
    for offset in [*offsets, None]:
        part = snapshots if offset is None else snapshots[snapshots["offset_days"] == offset]
        status = part["status"]
        n_rows = int((status == "ok").sum())
        n_positive = int(part["label"].fillna(0).astype("int64").sum())
        records.append({
            "offset": "total" if offset is None else str(offset),
            "n_candidates": len(part),
            "n_rows": n_rows,
            "n_positive": n_positive,
            "positive_rate": n_positive / n_rows if n_rows else float("nan"),
            "n_censored": int((status == "censored").sum()),
            "n_already_reached": int((status == "already_reached").sum()),
            "n_outcome_time_unknown": int((status == "outcome_time_unknown").sum()),
            "n_not_yet_observable": int((status == "not_yet_observable").sum()),
            "n_captured_at_missing": int((status == "captured_at_missing").sum()),
        })
    summary = pd.DataFrame(records)
    summary["offset"] = summary["offset"].astype("str")
    return summary


def build_training_set(
    tables: Tables,
    target: Target,
    offsets_days: Sequence[int] = DEFAULT_OFFSETS_DAYS,
    horizon_days: int | None = None,
    own: list[dict] | None = None,
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

    Returns
    -------
    rows, summary
        ``rows``: ``lead_id, as_of, offset_days, captured_at, label`` (int8) then every catalogue
        feature, ordered by as_of then lead_id, only rows with status ``ok``. ``summary``: one row per
        offset plus ``total`` with ``n_candidates``, ``n_rows``, ``n_positive``, ``positive_rate`` and
        each exclusion (``n_censored``, ``n_already_reached``, ``n_outcome_time_unknown``,
        ``n_not_yet_observable``, ``n_captured_at_missing``), which add up to ``n_candidates``. When the
        target has outcomes at an unknown time, only at-capture snapshots are built and
        ``summary.attrs["note"]`` says so.
    """
    horizon = _check_target(target, horizon_days)
    offsets = _check_offsets(offsets_days)
    note = ""
    n_unknown = len(unknown_time_targets(tables, target)) if has_table(tables, "stage_history") else 0
    if n_unknown and offsets != (0,):
        note = (f"{n_unknown:,} lead(s) reached {target.upper()} at an unknown time, so only at-capture snapshots "
                f"are used (offset 0 instead of {', '.join(map(str, offsets))}): later snapshots cannot be labelled.")
        logger.info("%s training set: %s", target, note)
        offsets = (0,)
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
    labels = label_snapshots(tables, candidates[["lead_id", "as_of"]], target, horizon)
    candidates["status"] = labels["status"].to_numpy()
    candidates["label"] = labels["label"].array
    summary = summarize_snapshots(candidates, offsets)
    summary.attrs["note"] = note

    kept = candidates[candidates["status"] == "ok"].sort_values(["as_of", "lead_id", "offset_days"], kind="stable")
    kept = kept.reset_index(drop=True)
    logger.debug("building features for %d %s training rows", len(kept), target)
    features = build_features(tables, kept[["lead_id", "as_of"]], own=own)
    columns = {name: kept[name] for name in ROW_COLUMNS}
    columns["label"] = kept["label"].astype("int8")
    columns.update({name: features[name] for name in features.columns if name not in ("lead_id", "as_of")})
    del features
    rows = pd.DataFrame(columns, copy=False)  # one block per column: no second copy of a large frame
    total = summary.iloc[-1]
    logger.debug(
        "%s training set: %d rows, %d positive; left out %d censored, %d already reached, %d not yet observable",
        target, total["n_rows"], total["n_positive"], total["n_censored"], total["n_already_reached"],
        total["n_not_yet_observable"],
    )
    return rows, summary
