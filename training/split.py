"""Split labelled snapshots by time, never at random: rolling-origin folds for choosing, a test window for judging.

The rule
--------
1. **A lead lives in exactly one block**, decided by the lead's ``captured_at``: blocks are consecutive
   capture-time ranges, oldest → newest: the first training block (``fold`` 0), the validation blocks of
   the rolling-origin folds (``fold`` 1..K), then the **test window** (``fold`` -1). All of a lead's
   snapshots go with it, so a lead's day-0 row can never teach the model about its day-30 row elsewhere.
   Every block before the test window is the *development* part (``window`` ``train``).
2. **Rolling origin (expanding window).** Fold k fits on the development rows of the blocks before k
   and predicts block k, as a model put live at block k's start would: every development lead past the
   first block is predicted once, out of fold, by a model that never saw it nor any lead after it. The
   model kind, LightGBM's number of trees, the calibration and the grade cuts are chosen on those
   out-of-fold predictions (``training/stage.py``), so a short export uses every lead whose outcome is
   known to choose; the test window is never seen by any choice and stays the untouched hold-out.
3. **Gaps.** A development row is kept only if ``as_of + gap <= start of the test window``, and a row
   trains fold k only if ``as_of + gap <= start of block k`` (the start is the capture time of the
   block's oldest lead). A gap of the **label horizon** means every label a model learnt from was known
   before the first lead it is judged on arrived; without it the gap is ``extra_gap_days`` (a label may
   end inside the next block: a leak of time trend at most). Dropped snapshots are counted as
   ``n_rows_dropped_by_gap``.

   **The strictest split the data allows** (``plan: auto``, the default): the plans of
   :func:`split_plans` are tried strictest first (a horizon gap before every fold and the test window;
   before the test window only; half a horizon before it; none), each with ``folds`` folds and then fewer,
   and the first that leaves the test window, every validation block and every fold's training rows
   ``min_positives`` positives (and a negative), and the development part ``min_train_share`` of the
   labelled leads, is used and said.
4. **Shares of leads**: the test window takes the newest ``test_fraction`` of labelled leads; of the
   development leads, the first block takes ``first_fold_share`` and the K validation blocks share the
   rest equally. Ties in ``captured_at`` at a boundary go to the newer block, so a boundary is a point in
   time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.training.config import SplitConfig

log = logging.getLogger(__name__)

WINDOWS = ("train", "test")
TEST_FOLD = -1


@dataclass(frozen=True)
class SplitPlan:
    """The gaps of one way to split: days between a block's start and the as_of of the rows before it."""

    name: str
    test_gap_days: int
    fold_gap_days: int
    description: str


def split_plans(horizon_days: int, config: SplitConfig) -> list[SplitPlan]:
    """The plans to try, strictest first (only the configured one unless ``plan`` is ``auto``)."""
    extra = config.extra_gap_days
    plans = [
        SplitPlan("strict", extra + horizon_days, extra + horizon_days,
                  f"a {horizon_days}-day label-horizon gap before every fold and the test window"),
        SplitPlan("test_gap", extra + horizon_days, extra, f"a {horizon_days}-day label-horizon gap before the test window"),
        SplitPlan("half_gap", extra + horizon_days // 2, extra,
                  f"a {horizon_days // 2}-day gap (half the horizon) before the test window"),
        SplitPlan("no_gap", extra, extra, "no gap beyond disjoint as_of ranges"),
    ]
    if config.plan != "auto":
        return [next(replace_description(p, " (configured)") for p in plans if p.name == config.plan)]
    return plans


def replace_description(plan: SplitPlan, suffix: str) -> SplitPlan:
    return SplitPlan(plan.name, plan.test_gap_days, plan.fold_gap_days, plan.description + suffix)


@dataclass(frozen=True)
class Folds:
    """The rolling-origin folds of a split: where each validation block starts and the gap before it."""

    starts: dict[int, pd.Timestamp] = field(default_factory=dict)
    gap: pd.Timedelta = pd.Timedelta(0)

    @property
    def numbers(self) -> list[int]:
        return sorted(self.starts)

    def training(self, rows: pd.DataFrame, k: int) -> np.ndarray:
        """Mask of ``rows`` (split rows) that fold ``k`` may learn from: older blocks, labels known by its start."""
        fold = rows["fold"].to_numpy()
        return (fold >= 0) & (fold < k) & (rows["as_of"] + self.gap <= self.starts[k]).to_numpy()

    def validation(self, rows: pd.DataFrame, k: int) -> np.ndarray:
        """Mask of ``rows`` that fold ``k`` predicts out of fold."""
        return (rows["fold"] == k).to_numpy()


@dataclass
class Split:
    """The labelled snapshots split by time.

    Attributes
    ----------
    rows
        The kept snapshots with ``window`` (``train`` or ``test``) and ``fold`` (0 first block, 1..K the
        validation blocks, -1 the test window).
    summary
        One row per block with its counts and time ranges; ``attrs``: the plan (``plan``,
        ``plan_description``) and why (``why``).
    folds
        The fold boundaries and gap (:class:`Folds`).
    """

    rows: pd.DataFrame
    summary: pd.DataFrame
    folds: Folds

    @property
    def development(self) -> pd.DataFrame:
        return self.rows[self.rows["window"] == "train"].reset_index(drop=True)

    @property
    def test(self) -> pd.DataFrame:
        return self.rows[self.rows["window"] == "test"].reset_index(drop=True)


def _lead_captures(rows: pd.DataFrame) -> np.ndarray:
    return np.sort(rows.groupby("lead_id", sort=False)["captured_at"].first().to_numpy())


def _cut(captures: np.ndarray, n_newest: int) -> pd.Timestamp:
    return pd.Timestamp(captures[len(captures) - n_newest])


def find_blocks(rows: pd.DataFrame, plan: SplitPlan, n_folds: int, config: SplitConfig) -> tuple[pd.Series, np.ndarray, Folds]:
    """Block of each row (see the module rule), whether it survives the test gap, and the folds.

    Raises
    ------
    LeadscoreError
        When there are too few leads for a test window and ``n_folds`` validation blocks.
    """
    captures = _lead_captures(rows)
    n_test = min(max(1, round(len(captures) * config.test_fraction)), len(captures) - 1)
    if len(captures) < 2 or n_test < 1:
        raise LeadscoreError("training set: too few leads to split into a development part and a test window.")
    test_start = _cut(captures, n_test)
    captured = rows["captured_at"]
    in_test = (captured >= test_start).to_numpy()
    kept = in_test | (rows["as_of"] + pd.Timedelta(days=plan.test_gap_days) <= test_start).to_numpy()
    development = rows[~in_test & kept]
    dev_captures = _lead_captures(development) if len(development) else np.array([])
    n_first = round(len(dev_captures) * config.first_fold_share)
    n_rest = len(dev_captures) - n_first
    if n_first < 1 or n_rest < n_folds:
        raise LeadscoreError("training set: too few development leads for the folds.")
    fold = pd.Series(0, index=rows.index, dtype="int64")
    starts: dict[int, pd.Timestamp] = {}
    # validation blocks share the newest development leads equally, oldest block first
    bounds = np.linspace(n_first, len(dev_captures), n_folds + 1).round().astype(int)
    for k in range(1, n_folds + 1):
        starts[k] = pd.Timestamp(dev_captures[bounds[k - 1]])
        fold = fold.mask(captured >= starts[k], k)
    fold = fold.mask(in_test, TEST_FOLD)
    return fold, kept, Folds(starts, pd.Timedelta(days=plan.fold_gap_days))


def _short(label: np.ndarray, min_positives: int) -> bool:
    n_positive = int(label.sum())
    return n_positive < min_positives or n_positive == len(label)


def split_by_time(rows: pd.DataFrame, horizon_days: int, config: SplitConfig) -> Split:
    """Add ``window`` and ``fold`` to the labelled snapshots, dropping the rows the test gap excludes.

    Parameters
    ----------
    rows
        The training set: ``lead_id``, ``as_of``, ``captured_at``, ``label`` and features.
    horizon_days
        Label horizon of the target: the size of a full gap.
    config
        Test share, folds, gaps (or the strictest the data allows) and the positives each block needs.

    Raises
    ------
    LeadscoreError
        When no plan leaves every block enough positives (the message says how many there are and
        where), or a column is missing.
    """
    missing = [c for c in ("lead_id", "as_of", "captured_at", "label") if c not in rows.columns]
    if missing:
        raise LeadscoreError(f"training set: missing column(s) {missing} needed to split by time.")
    if rows.empty:
        raise LeadscoreError("training set: no labelled snapshots to split (all censored or already converted?).")
    rejected: list[str] = []
    plans = split_plans(horizon_days, config)
    label = rows["label"].to_numpy()
    n_labelled_leads = rows["lead_id"].nunique()
    for plan in plans:
        for n_folds in range(config.folds, 0, -1):
            try:
                fold, kept, folds = find_blocks(rows, plan, n_folds, config)
            except LeadscoreError:
                continue
            split_rows = rows.assign(window=np.where(fold == TEST_FOLD, "test", "train"), fold=fold)
            short = []
            if _short(label[(fold == TEST_FOLD).to_numpy()], config.min_positives):
                short.append("the test window")
            for k in folds.numbers:
                if _short(label[folds.validation(split_rows, k) & kept], config.min_positives):
                    short.append(f"fold {k}'s block")
                elif _short(label[folds.training(split_rows, k) & kept], config.min_positives):
                    short.append(f"fold {k}'s training rows")
            if short:
                rejected.append(f"{plan.name} with {n_folds} fold(s): too few positives in {', '.join(short[:2])}")
                continue
            dev_share = split_rows.loc[kept & (fold >= 0).to_numpy(), "lead_id"].nunique() / n_labelled_leads
            if dev_share < config.min_train_share and plan is not plans[-1]:
                rejected.append(f"{plan.name}: the folds would keep {dev_share:.0%} of the labelled leads")
                break
            labelled = split_rows[kept].reset_index(drop=True)
            summary = summarise_split(split_rows, kept)
            folds_text = (f"{n_folds} rolling-origin fold{'s' if n_folds > 1 else ''}"
                          + (f" (fewer than the {config.folds} configured)" if n_folds < config.folds else ""))
            summary.attrs.update(plan=plan.name, plan_description=f"{plan.description}; {folds_text}",
                                 why=("the strictest plan the data allows; rejected " + "; ".join(dict.fromkeys(rejected)))
                                 if rejected else "the strictest plan", n_folds=n_folds)
            n_dropped = int((~kept).sum())
            if n_dropped:
                log.debug("split: %d of %d snapshots dropped by the gap before the test window", n_dropped, len(rows))
            return Split(labelled, summary, folds)
    leads = rows.drop_duplicates("lead_id")
    positives = leads[leads["lead_id"].isin(rows.loc[rows["label"] == 1, "lead_id"])]
    where = (f", captured {positives['captured_at'].min():%Y-%m-%d} to {positives['captured_at'].max():%Y-%m-%d}"
             if len(positives) else "")
    raise LeadscoreError(
        f"training set: {len(positives):,} positive lead(s) among {len(leads):,} labelled leads{where}, too few to give "
        f"the test window and a rolling-origin fold {config.min_positives} positives each under any split "
        f"({'; '.join(dict.fromkeys(rejected[-3:])) or 'too few leads'}); bring a longer history, or lower "
        "split.min_positives in the training config."
    )


def block_name(fold: int) -> str:
    """``first``, ``fold_1`` … or ``test``: a block's name in summaries and MLflow metric names."""
    return "test" if fold == TEST_FOLD else "first" if fold == 0 else f"fold_{fold}"


def summarise_split(split_rows: pd.DataFrame, kept: np.ndarray) -> pd.DataFrame:
    """Per block (oldest first, the test window last) counts and time ranges of the kept rows, and the rows dropped by the gap."""
    records = []
    folds = sorted(f for f in split_rows["fold"].unique() if f >= 0) + [TEST_FOLD]
    for fold in folds:
        in_block = (split_rows["fold"] == fold).to_numpy()
        rows = split_rows[in_block & kept]
        records.append(
            {
                "window": block_name(fold),
                "n_leads": int(rows["lead_id"].nunique()),
                "n_rows": len(rows),
                "n_positive": int(rows["label"].sum()),
                "positive_rate": float(rows["label"].mean()) if len(rows) else float("nan"),
                "n_rows_dropped_by_gap": int((in_block & ~kept).sum()),
                "captured_from": rows["captured_at"].min(),
                "captured_to": rows["captured_at"].max(),
                "as_of_from": rows["as_of"].min(),
                "as_of_to": rows["as_of"].max(),
            }
        )
    return pd.DataFrame.from_records(records)
