"""Tie-aware ranking and calibration metrics: the one implementation behind MLflow and the report.

Training (``leadscore.training.metrics``) logs the model's headline numbers to MLflow and the marketing report
(``leadscore.serving.report.compare``) shows them to marketing. Both must mean the same thing down to the last
digit, so both call the functions here. Plain numpy and pandas, no scikit-learn: the
report must not need it, and the bootstrap calls these hundreds of times where scikit-learn's per-call
checks would dominate.

Three conventions decide what the numbers mean:

- **Ties are shared pro rata.** Rule points are coarse, so hundreds of leads can share the score at the
  edge of a capacity K. Taking some of them in file order would credit a method with whatever the
  order happens to give. Instead every count "in the top K" takes the tied group straddling the cut in
  proportion: the *expected* count of a random choice among the tied leads. Curves (gain, ROC) have
  one point per distinct score, joined by straight lines, which is the same expectation drawn.
  ROC AUC counts a tied (positive, negative) pair as one half, the Mann–Whitney convention.
- **Missing scores rank last**, below every known score (a lead nobody could score is worked last),
  rather than being dropped, which would silently change the population.
- **Calibration bins hold equal numbers of rows** (ordered by predicted probability): with a low base
  rate, equal-width bins would put nearly every lead in the first bin and leave the rest empty.

Rows may carry a ``weight`` (a multiplicity: bootstrap resamples draw a lead 0, 1, 2… times); a weight
of 2 gives exactly the result of the row appearing twice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def missing_ranks_last(score: np.ndarray) -> np.ndarray:
    """``score`` as floats with missing values replaced by a value below every known score.

    Examples
    --------
    >>> missing_ranks_last(np.array([3.0, np.nan, -2.0])).tolist()
    [3.0, -3.0, -2.0]
    """
    score = np.asarray(score, dtype=float)
    known = np.isfinite(score)
    if known.all():
        return score
    floor = score[known].min() - 1.0 if known.any() else 0.0
    return np.where(known, score, floor)


def rank_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-first order of ``score`` (missing last) and each ordered row's tie group, numbered from 0.

    The tie groups are what every metric here is computed on. Returning them lets a caller that scores
    the same rows under many weightings (a bootstrap) sort once and reuse them with :func:`weighted_auc`.
    The sort is stable, but no metric depends on the order within a group.

    Examples
    --------
    >>> order, group = rank_groups(np.array([1.0, 3.0, 1.0]))
    >>> order.tolist(), group.tolist()
    ([1, 0, 2], [0, 1, 1])
    """
    score = missing_ranks_last(score)
    order = np.argsort(-score, kind="stable")
    ordered = score[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]] if len(ordered) else np.zeros(0, dtype=bool)
    return order, np.cumsum(starts) - 1


def _group_totals(
    label: np.ndarray, order: np.ndarray, group: np.ndarray, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted rows and weighted positives of each tie group, best group first."""
    label = np.asarray(label, dtype=float)
    weight = np.ones_like(label) if weight is None else np.asarray(weight, dtype=float)
    n_groups = int(group[-1]) + 1 if len(group) else 0
    group_weight = np.bincount(group, weights=weight[order], minlength=n_groups)
    group_positive = np.bincount(group, weights=(weight * label)[order], minlength=n_groups)
    return group_weight, group_positive


def weighted_auc(label: np.ndarray, order: np.ndarray, group: np.ndarray, weight: np.ndarray | None = None) -> float:
    """ROC AUC from a precomputed :func:`rank_groups`, ties counted half, rows weighted.

    The probability that a random positive outscores a random negative, a tied pair counting 1/2 (the
    expected outcome of breaking the tie at random). Equal to scikit-learn's ``roc_auc_score`` with
    ``sample_weight``, without its per-call overhead, which matters for hundreds of bootstrap
    resamples on a large test window. NaN when either class has no weight.
    """
    total, positive = _group_totals(label, order, group, weight)
    negative = total - positive
    n_positive, n_negative = positive.sum(), negative.sum()
    if n_positive <= 0 or n_negative <= 0:
        return float("nan")
    # Negatives in the groups after this one score lower; groups come best first.
    below = n_negative - np.cumsum(negative)
    return float((positive * (below + 0.5 * negative)).sum() / (n_positive * n_negative))


def roc_auc(label: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> float:
    """ROC AUC of ``score`` (missing ranks last), ties counted half, optionally weighted; NaN with one class.

    Examples
    --------
    >>> roc_auc(np.array([1, 0, 1, 0]), np.array([3.0, 2.0, 2.0, 1.0]))
    0.875
    """
    order, group = rank_groups(score)
    return weighted_auc(label, order, group, weight)


def cumulative_hits(
    label: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows taken and positives captured working down the ranking, one point per distinct score.

    Returns ``(n_taken, n_hits)``, both starting at 0 and ending at (all rows, all positives), weighted
    when ``weight`` is given. Between two points the expected count when part of a tied group is taken
    lies on the straight line, which is why the points sit only at the ends of tie groups.

    Examples
    --------
    >>> n_taken, n_hits = cumulative_hits(np.array([1, 0, 1, 0]), np.array([3.0, 2.0, 2.0, 1.0]))
    >>> n_taken.tolist(), n_hits.tolist()
    ([0.0, 1.0, 3.0, 4.0], [0.0, 1.0, 2.0, 2.0])
    """
    group_weight, group_positive = _group_totals(label, *rank_groups(score), weight)
    return np.r_[0.0, np.cumsum(group_weight)], np.r_[0.0, np.cumsum(group_positive)]


def captured_at_k(label: np.ndarray, score: np.ndarray, k: float, weight: np.ndarray | None = None) -> float:
    """Expected positives among the top ``k`` by ``score``, the tie group at the cut shared pro rata.

    A tied group straddling the cut contributes its positives in proportion to the part of it that fits
    (``k`` may be fractional), so coarse integer rule points are neither favoured nor penalised by an
    arbitrary tie order. ``k`` beyond the rows takes everything; ``weight`` gives each row a
    multiplicity (bootstrap resamples); missing scores rank last.

    Examples
    --------
    >>> captured_at_k(np.array([1, 0, 1, 0]), np.array([3.0, 2.0, 2.0, 1.0]), k=2)
    1.5
    """
    group_weight, group_positive = _group_totals(label, *rank_groups(score), weight)
    before = np.cumsum(group_weight) - group_weight
    share = np.divide(k - before, group_weight, out=np.zeros_like(group_weight), where=group_weight > 0)
    return float((np.clip(share, 0.0, 1.0) * group_positive).sum())


def capacity_k(n_leads: int, share: float = 0.10) -> int:
    """K, the leads sales can work: ``share`` of the leads rounded, at least one (none without leads).

    Examples
    --------
    >>> capacity_k(1000), capacity_k(4, 0.05), capacity_k(0)
    (100, 1, 0)
    """
    return max(1, round(share * n_leads)) if n_leads else 0


def gain_curve(label: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gain: share of rows worked best first (x) against share of positives captured (y).

    Both run from 0 to 1 (y stays 0 without positives), one point per distinct score joined by straight
    lines: the expected curve when ties are broken at random. Missing scores rank last.

    Examples
    --------
    >>> x, y = gain_curve(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.5, 0.4]))
    >>> x.tolist(), y.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 1.0, 1.0, 1.0])
    """
    n_taken, n_hits = cumulative_hits(label, score)
    total = n_hits[-1]
    return n_taken / max(n_taken[-1], 1.0), (n_hits / total if total else np.zeros_like(n_hits))


def roc_curve(label: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC points ``(fpr, tpr)`` from (0, 0) to (1, 1), one per distinct score, ties as straight lines.

    The area under these points is :func:`roc_auc`. A rate whose class is absent is NaN: the curve is
    undefined there, and drawing a made-up one is the caller's choice.

    Examples
    --------
    >>> fpr, tpr = roc_curve(np.array([1, 0, 1, 0]), np.array([3.0, 2.0, 2.0, 1.0]))
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    n_taken, n_hits = cumulative_hits(label, score)
    n_misses = n_taken - n_hits

    def rate(count: np.ndarray) -> np.ndarray:
        return count / count[-1] if count[-1] > 0 else np.full_like(count, np.nan)

    return rate(n_misses), rate(n_hits)


def calibration_bins(label: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against observed rate in ``n_bins`` equal-count bins.

    Rows sorted by ``p`` (stable) are cut into ``min(n_bins, rows)`` groups whose sizes differ by at
    most one, so every bin, and every point of a reliability plot, rests on the same number of rows
    even when predictions are skewed towards 0. Returns ``bin`` (from 1), ``n_rows``,
    ``mean_predicted`` and ``observed_rate`` (probabilities 0–1); no rows give no bins.

    Examples
    --------
    >>> calibration_bins(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.3, 0.7]), n_bins=2)
       bin  n_rows  mean_predicted  observed_rate
    0    1       2             0.2            0.0
    1    2       2             0.8            1.0
    """
    label = np.asarray(label, dtype=float)
    p = np.asarray(p, dtype=float)
    chunks = np.array_split(np.argsort(p, kind="stable"), min(n_bins, len(p))) if len(p) else []
    return pd.DataFrame(
        {
            "bin": np.arange(1, len(chunks) + 1, dtype="int64"),
            "n_rows": np.array([len(chunk) for chunk in chunks], dtype="int64"),
            "mean_predicted": np.array([p[chunk].mean() for chunk in chunks], dtype=float),
            "observed_rate": np.array([label[chunk].mean() for chunk in chunks], dtype=float),
        }
    )


def expected_calibration_error(label: np.ndarray, p: np.ndarray, n_bins: int = 20) -> float:
    """ECE over :func:`calibration_bins`: the row-weighted mean of |mean predicted − observed rate|.

    Equal-count bins keep the estimate stable at a low base rate (see :func:`calibration_bins`). NaN
    without rows.

    Examples
    --------
    >>> expected_calibration_error(np.array([0, 1, 0, 1]), np.array([0.0, 1.0, 0.0, 1.0]), n_bins=2)
    0.0
    """
    bins = calibration_bins(label, p, n_bins)
    if bins.empty:
        return float("nan")
    gap = (bins["mean_predicted"] - bins["observed_rate"]).abs()
    return float((bins["n_rows"] * gap).sum() / bins["n_rows"].sum())
