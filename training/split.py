"""Split labelled snapshots into train / validation / calibration / test windows by time, never at random.

The rule
--------
1. **A lead lives in exactly one window**, decided by the lead's ``captured_at``: windows are
   consecutive capture-time ranges, oldest → newest: train, validation, calibration, test. All of a
   lead's snapshots go with it, so a lead's day-0 row can never teach the model about its day-30 row
   in another window.
2. **Gaps at each boundary.** A snapshot of window *k* is kept only if

       as_of + gap <= start of window k+1

   where the start is the capture time of window *k+1*'s oldest lead (no as_of of that window is
   earlier). Dropped snapshots are counted as ``n_rows_dropped_by_gap``.

   - A gap of the **label horizon** (plus ``extra_gap_days``) before a window means every label of
     the earlier windows was known before its first lead arrived, exactly as for a model put live at
     that moment: nothing the model, its early stopping or its calibration learnt can come from
     outcomes inside that window.
   - Without it the gap is ``extra_gap_days`` (default 0): the as_of ranges do not overlap, but a
     label may end inside the next window (a leak of time trend at most).

   **The strictest split the data allows** (``horizon_gap_before: null``, the default): the plans of
   :func:`split_plans` are tried strictest first (a horizon gap before validation, calibration and
   test; before the test window only; half a horizon before it; none) and the first one that leaves
   every window ``min_positives`` positives and the training window ``min_train_share`` of the
   labelled leads is used, and said. A full horizon gap at every boundary
   costs three horizons of history, so on a short export (9 months with a 180-day WON horizon) the
   strict plans leave nothing to learn from. A ``horizon_gap_before`` list fixes the gaps instead.
3. **Fractions are shares of leads, allocated newest first**: the test window takes the newest
   ``test_fraction`` of labelled leads; then the calibration window takes its share of the leads that
   still have snapshots after the gap, and so on. Allocating from the newest end keeps the test
   window at its requested size; the older windows shrink by what the gaps remove.

The test window loses nothing to gaps (censoring at the data's end is done when labels are built).
Ties in ``captured_at`` at a boundary go to the newer window, so a boundary is a point in time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.training.config import SplitConfig

log = logging.getLogger(__name__)

WINDOWS = ("train", "validation", "calibration", "test")


def _fractions(config: SplitConfig) -> dict[str, float]:
    return {
        "train": config.train_fraction,
        "validation": config.validation_fraction,
        "calibration": config.calibration_fraction,
        "test": config.test_fraction,
    }


@dataclass(frozen=True)
class SplitPlan:
    """The gaps of one way to split: days between each window's start and the as_of of the window before."""

    name: str
    gap_days: dict[str, int]
    description: str


def split_plans(horizon_days: int, config: SplitConfig) -> list[SplitPlan]:
    """The plans to try, strictest first (only the configured one when ``horizon_gap_before`` is given)."""
    extra = config.extra_gap_days

    def plan(name: str, gaps: dict[str, int], description: str) -> SplitPlan:
        return SplitPlan(name, {w: extra + gaps.get(w, 0) for w in WINDOWS[1:]}, description)

    if config.horizon_gap_before is not None:
        named = ", ".join(config.horizon_gap_before) or "no window"
        return [plan("configured", dict.fromkeys(config.horizon_gap_before, horizon_days),
                     f"a {horizon_days}-day label-horizon gap before {named} (configured)")]
    return [
        plan("strict", dict.fromkeys(WINDOWS[1:], horizon_days),
             f"a {horizon_days}-day label-horizon gap before validation, calibration and test"),
        plan("test_gap", {"test": horizon_days}, f"a {horizon_days}-day label-horizon gap before the test window"),
        plan("half_gap", {"test": horizon_days // 2}, f"a {horizon_days // 2}-day gap (half the horizon) before the test window"),
        plan("no_gap", {}, "no gap beyond disjoint as_of ranges"),
    ]


def gap_before(window: str, plan: SplitPlan) -> pd.Timedelta:
    """Gap between ``window``'s start and the last as_of kept in the window before it."""
    return pd.Timedelta(days=plan.gap_days.get(window, 0))


def find_window_starts(rows: pd.DataFrame, plan: SplitPlan, config: SplitConfig) -> dict[str, pd.Timestamp]:
    """Capture-time start of the validation, calibration and test windows (see the module rule).

    Parameters
    ----------
    rows
        Labelled snapshots with ``lead_id``, ``captured_at`` and ``as_of``.
    plan
        The gaps before each window.
    """
    fractions = _fractions(config)
    pool = rows.loc[:, ["lead_id", "captured_at", "as_of"]]
    starts: dict[str, pd.Timestamp] = {}
    remaining = 1.0
    for window in reversed(WINDOWS[1:]):
        captures = np.sort(pool.groupby("lead_id", sort=False)["captured_at"].first().to_numpy())
        if len(captures) < 2:
            raise LeadscoreError(
                f"training set: too few leads with snapshots left to form the {window} window after the "
                "gaps between windows; bring a longer history or lower the horizon."
            )
        n_window = max(1, round(len(captures) * fractions[window] / remaining))
        n_window = min(n_window, len(captures) - 1)
        start = pd.Timestamp(captures[len(captures) - n_window])
        starts[window] = start
        remaining -= fractions[window]
        older = pool["captured_at"] < start
        pool = pool[older & (pool["as_of"] + gap_before(window, plan) <= start)]
    return {w: starts[w] for w in WINDOWS[1:]}


def assign_windows(rows: pd.DataFrame, starts: dict[str, pd.Timestamp], plan: SplitPlan) -> tuple[pd.Series, pd.Series]:
    """Window of each row's lead, and whether the row survives the gap to the next window.

    Returns
    -------
    window, kept
        Two series aligned with ``rows``: the window name (by ``captured_at``) and a boolean mask.
    """
    captured = rows["captured_at"]
    window = pd.Series("train", index=rows.index, dtype="str")
    for name in WINDOWS[1:]:
        window = window.mask(captured >= starts[name], name)
    kept = pd.Series(True, index=rows.index)
    for earlier, later in zip(WINDOWS[:-1], WINDOWS[1:], strict=True):
        in_earlier = (window == earlier).to_numpy()
        limit = starts[later] - gap_before(later, plan)
        kept = kept.mask(in_earlier, rows["as_of"] <= limit)
    return window, kept.astype(bool)


def split_by_time(
    rows: pd.DataFrame, horizon_days: int, config: SplitConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add a ``window`` column to the labelled snapshots, dropping the rows the gaps exclude.

    Parameters
    ----------
    rows
        The training set: ``lead_id``, ``as_of``, ``captured_at``, ``label`` and features.
    horizon_days
        Label horizon of the target: the size of a full gap.
    config
        Window fractions, gaps (or the strictest the data allows) and the positives each window needs.

    Returns
    -------
    split_rows, summary
        ``split_rows`` is ``rows`` without the gap-dropped snapshots plus ``window``; ``summary`` has
        one row per window: leads, rows, positives, rows dropped by the gap and the capture / as_of
        ranges, so that nothing is left out without being counted. ``summary.attrs`` holds the plan
        used (``plan``, ``plan_description``) and why (``why``).

    Raises
    ------
    LeadscoreError
        When no plan leaves every window enough positives (the message says how many there are and
        where), or a column is missing.
    """
    missing = [c for c in ("lead_id", "as_of", "captured_at", "label") if c not in rows.columns]
    if missing:
        raise LeadscoreError(f"training set: missing column(s) {missing} needed to split by time.")
    if rows.empty:
        raise LeadscoreError("training set: no labelled snapshots to split (all censored or already converted?).")
    rejected: list[str] = []
    for plan in split_plans(horizon_days, config):
        try:
            starts = find_window_starts(rows, plan, config)
        except LeadscoreError:
            rejected.append(f"{plan.name}: too few leads for four windows")
            continue
        window, kept = assign_windows(rows, starts, plan)
        labelled = rows.assign(window=window)
        summary = summarise_split(labelled, kept)
        short = {r.window: r.n_positive for r in summary.itertuples() if r.n_positive < config.min_positives
                 or r.n_positive == r.n_rows}
        if short:
            rejected.append(plan.name + ": " + ", ".join(f"{w} {n} positive(s)" for w, n in short.items()))
            continue
        train_share = summary.iloc[0]["n_leads"] / rows["lead_id"].nunique()
        if train_share < config.min_train_share and plan is not split_plans(horizon_days, config)[-1]:
            rejected.append(f"{plan.name}: the training window would keep {train_share:.0%} of the labelled leads")
            continue
        summary.attrs.update(plan=plan.name, plan_description=plan.description,
                             why=("the strictest plan the data allows; rejected " + "; ".join(rejected)) if rejected
                             else "the strictest plan")
        n_dropped = int((~kept).sum())
        if n_dropped:
            log.debug("split: %d of %d snapshots dropped by the gaps between windows", n_dropped, len(rows))
        return labelled[kept.to_numpy()].reset_index(drop=True), summary
    leads = rows.drop_duplicates("lead_id")
    positives = leads[leads["lead_id"].isin(rows.loc[rows["label"] == 1, "lead_id"])]
    where = (f", captured {positives['captured_at'].min():%Y-%m-%d} to {positives['captured_at'].max():%Y-%m-%d}"
             if len(positives) else "")
    raise LeadscoreError(
        f"training set: {len(positives):,} positive lead(s) among {len(leads):,} labelled leads{where}, too few to give "
        f"each of the four windows {config.min_positives} positives under any split ({'; '.join(rejected)}); "
        "bring a longer history, or lower split.min_positives in the training config."
    )


def summarise_split(labelled: pd.DataFrame, kept: pd.Series) -> pd.DataFrame:
    """Per-window counts and time ranges of the kept rows, plus the rows dropped by the gap."""
    records = []
    for window in WINDOWS:
        in_window = (labelled["window"] == window).to_numpy()
        rows = labelled[in_window & kept.to_numpy()]
        records.append(
            {
                "window": window,
                "n_leads": int(rows["lead_id"].nunique()),
                "n_rows": len(rows),
                "n_positive": int(rows["label"].sum()),
                "positive_rate": float(rows["label"].mean()) if len(rows) else float("nan"),
                "n_rows_dropped_by_gap": int((in_window & ~kept.to_numpy()).sum()),
                "captured_from": rows["captured_at"].min(),
                "captured_to": rows["captured_at"].max(),
                "as_of_from": rows["as_of"].min(),
                "as_of_to": rows["as_of"].max(),
            }
        )
    return pd.DataFrame.from_records(records)
