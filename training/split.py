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

   - Before every window named in ``horizon_gap_before`` (default: the test window) the gap is the
     **label horizon** plus ``extra_gap_days``: every label of the earlier windows was known before
     the first test lead arrived, exactly as for a model put live at that moment. Nothing the model,
     its early stopping or its calibration learnt can come from outcomes inside the test period.
   - Before the other windows the gap is ``extra_gap_days`` (default 0): their as_of ranges do not
     overlap, but a label may end inside the next window. Validation only picks the number of trees
     and calibration fits a one- or two-parameter map, so the leak is time trend at most, while a
     full horizon gap at every boundary would cost three horizons of history (on 18 months of data
     with a 90-day SQO horizon, the training window would keep about six weeks of leads). Name
     ``validation`` and ``calibration`` in ``horizon_gap_before`` to get the strict rule anyway.
3. **Fractions are shares of leads, allocated newest first**: the test window takes the newest
   ``test_fraction`` of labelled leads; then the calibration window takes its share of the leads that
   still have snapshots after the gap, and so on. Allocating from the newest end keeps the test
   window at its requested size; the older windows shrink by what the gaps remove.

The test window loses nothing to gaps (censoring at the data's end is done when labels are built).
Ties in ``captured_at`` at a boundary go to the newer window, so a boundary is a point in time.
"""

from __future__ import annotations

import logging

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


def gap_before(window: str, horizon_days: int, config: SplitConfig) -> pd.Timedelta:
    """Gap between ``window``'s start and the last as_of kept in the window before it."""
    days = config.extra_gap_days + (horizon_days if window in config.horizon_gap_before else 0)
    return pd.Timedelta(days=days)


def find_window_starts(rows: pd.DataFrame, horizon_days: int, config: SplitConfig) -> dict[str, pd.Timestamp]:
    """Capture-time start of the validation, calibration and test windows (see the module rule).

    Parameters
    ----------
    rows
        Labelled snapshots with ``lead_id``, ``captured_at`` and ``as_of``.
    horizon_days
        The label horizon, the gap before the windows in ``config.horizon_gap_before``.
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
        pool = pool[older & (pool["as_of"] + gap_before(window, horizon_days, config) <= start)]
    return {w: starts[w] for w in WINDOWS[1:]}


def assign_windows(
    rows: pd.DataFrame, starts: dict[str, pd.Timestamp], horizon_days: int, config: SplitConfig
) -> tuple[pd.Series, pd.Series]:
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
        limit = starts[later] - gap_before(later, horizon_days, config)
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
        Label horizon of the target: the gap before the windows in ``config.horizon_gap_before``.
    config
        Window fractions and gaps.

    Returns
    -------
    split_rows, summary
        ``split_rows`` is ``rows`` without the gap-dropped snapshots plus ``window``; ``summary`` has
        one row per window: leads, rows, positives, rows dropped by the gap and the capture / as_of
        ranges, so that nothing is left out without being counted.

    Raises
    ------
    LeadscoreError
        When the history is too short for four windows with gaps, or a column is missing.
    """
    missing = [c for c in ("lead_id", "as_of", "captured_at", "label") if c not in rows.columns]
    if missing:
        raise LeadscoreError(f"training set: missing column(s) {missing} needed to split by time.")
    if rows.empty:
        raise LeadscoreError("training set: no labelled snapshots to split (all censored or already converted?).")
    starts = find_window_starts(rows, horizon_days, config)
    window, kept = assign_windows(rows, starts, horizon_days, config)
    labelled = rows.assign(window=window)
    summary = summarise_split(labelled, kept)
    empty = summary.loc[summary["n_rows"] == 0, "window"].tolist()
    if empty:
        raise LeadscoreError(
            f"training set: the {', '.join(empty)} window(s) have no snapshots left after the gaps between "
            "windows; bring a longer history or change the split fractions."
        )
    n_dropped = int((~kept).sum())
    if n_dropped:
        log.info("split: %d of %d snapshots dropped by the gaps between windows", n_dropped, len(rows))
    out = labelled[kept.to_numpy()].reset_index(drop=True)
    return out, summary


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
