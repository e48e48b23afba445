"""Evaluation on the test window: the same metrics for the model, the logistic baseline and the rules.

Definitions (they decide what the numbers mean):

- **Point metrics** (ROC AUC, PR AUC, log loss, Brier, ECE, lift in the top decile) use every test
  snapshot. ROC and PR AUC rank by each method's own score (for the rules, the points themselves).
- **Expected calibration error** uses equal-mass bins: snapshots sorted by predicted probability are cut
  into ``ece_bins`` groups of (nearly) equal size, and ECE = sum over bins of
  (bin size / n) × |mean predicted − observed rate|. Equal-mass bins keep every bin populated when
  the base rate is low, where equal-width bins would put almost all leads in the first bin.
- **Capacity metrics** (SQOs captured in the top K, capture rate) count each lead once: they use each
  test lead's *earliest* test snapshot, the moment sales decides whether to work a new lead. K is
  ``capacity_fraction`` of those leads (at least 1). Ties in a score at the K-th place are shared
  in expectation (a tied group straddling the cut contributes its positives pro rata), so integer
  rule points are not favoured or penalised by an arbitrary tie order.
- **One implementation**: ROC AUC, captured-at-K, capacity K and ECE come from
  :mod:`leadscore.scorers.ranking`, which the marketing report uses too, so the numbers logged to
  MLflow and the report's numbers are computed the same way. The names are re-exported here for the
  callers of this module.
- **Rules' calibration metrics** use the points mapped to a probability by isotonic regression
  fitted on the development rows at the scoring moments (``p_rules``); their ranking metrics use the raw points.
- **Bootstrap confidence intervals** (95%) resample *leads* with replacement (all of a lead's
  snapshots together), seeded, with the same resamples for every method so differences are paired.
  They are basic (reverse-percentile) intervals, ``2 θ - q97.5 .. 2 θ - q2.5``: ECE is biased upward
  on small windows and a resample more so, and the basic interval corrects for that bias where the
  plain percentile interval would call a perfectly calibrated model miscalibrated half the time on 800
  leads. The gates judge these intervals (:mod:`leadscore.training.registry`).
- **The moment of scoring.** A model is used when a lead is scored, usually at capture: the headline
  metrics are on the test snapshots at ``evaluation.moments_days`` (default: offset 0, at capture).
  Pooled snapshots weeks after capture are flattered by lead age (a lead open after 60 days rarely
  converts) and are only shown per offset, beside the headline (:func:`evaluate_by_offset`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.scorers.ranking import (
    capacity_k,
    captured_at_k,
    expected_calibration_error,
    missing_ranks_last,
    rank_groups,
    roc_auc,
    weighted_auc,
)
from leadscore.training.calibration import EPS

# What a model must beat: the rules, and when the rules tie, a logistic regression on the columns known at
# capture (``pipeline.fit_floor``); gains over them are paired bootstrap differences.
BASELINES = ("rules", "floor")


@dataclass(frozen=True)
class Scorer:
    """How a method is judged: the column that ranks and the column that is a probability (if any)."""

    name: str
    rank_column: str
    probability_column: str | None


def lift_at_fraction(label: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Positive rate among the top ``fraction`` by score divided by the overall positive rate."""
    label = np.asarray(label, dtype=float)
    if len(label) == 0 or label.sum() == 0:
        return float("nan")
    k = max(1.0, fraction * len(label))
    return float(captured_at_k(label, score, k) / k / label.mean())


def point_metrics(label: np.ndarray, score: np.ndarray, p: np.ndarray | None, ece_bins: int) -> dict[str, float]:
    """ROC AUC, PR AUC and lift from the ranking score; log loss, Brier and ECE from the probability."""
    from sklearn.metrics import average_precision_score

    label = np.asarray(label, dtype=float)
    score = np.asarray(score, dtype=float)
    two_classes = len(np.unique(label)) == 2
    out = {
        "roc_auc": roc_auc(label, score),
        "pr_auc": float(average_precision_score(label, missing_ranks_last(score))) if two_classes else float("nan"),
        "lift_top_decile": lift_at_fraction(label, score, 0.1),
    }
    if p is None:
        out.update(log_loss=float("nan"), brier=float("nan"), ece=float("nan"), mean_p=float("nan"))
    else:
        q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
        out.update(
            log_loss=float(-np.mean(label * np.log(q) + (1 - label) * np.log(1 - q))),
            brier=float(np.mean((np.asarray(p, dtype=float) - label) ** 2)),
            ece=expected_calibration_error(label, np.asarray(p, dtype=float), ece_bins),
            mean_p=float(np.mean(p)),
        )
    return out


def earliest_snapshot_per_lead(test: pd.DataFrame) -> pd.DataFrame:
    """Each lead's earliest test snapshot (ties by as_of broken by row order): the capacity view."""
    ordered = test.sort_values(["lead_id", "as_of"], kind="stable")
    return ordered.drop_duplicates("lead_id", keep="first").reset_index(drop=True)


def evaluate_scorers(
    test: pd.DataFrame,
    scorers: list[Scorer],
    capacity_fraction: float = 0.1,
    n_bootstrap: int = 200,
    ece_bins: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """One row of test-window metrics per scorer, with bootstrap CIs for ROC AUC and captured-at-K.

    Parameters
    ----------
    test
        Test snapshots with ``lead_id``, ``as_of``, ``label`` and each scorer's columns.
    scorers
        The methods to compare; see :class:`Scorer`.

    Returns
    -------
    DataFrame
        Indexed by scorer name: ``n_rows, n_positive, positive_rate, roc_auc, pr_auc, log_loss, brier,
        ece, mean_p, lift_top_decile, n_leads, capacity_k, n_positive_leads, captured_at_k,
        capture_rate_at_k`` and ``*_ci_low`` / ``*_ci_high`` for ``roc_auc``, ``ece`` and
        ``captured_at_k``; with a ``rules`` (``floor``) scorer, ``auc_gain_over_rules`` (``_floor``) and its
        interval.
    """
    label = test["label"].to_numpy(dtype=float)
    leads = earliest_snapshot_per_lead(test)
    lead_label = leads["label"].to_numpy(dtype=float)
    k = float(capacity_k(len(leads), capacity_fraction))
    records = {}
    for scorer in scorers:
        p = None if scorer.probability_column is None else test[scorer.probability_column].to_numpy(dtype=float)
        row = {"n_rows": len(test), "n_positive": int(label.sum()), "positive_rate": float(label.mean())}
        row.update(point_metrics(label, test[scorer.rank_column].to_numpy(dtype=float), p, ece_bins))
        captured = captured_at_k(lead_label, leads[scorer.rank_column].to_numpy(dtype=float), k)
        row.update(
            n_leads=len(leads),
            capacity_k=k,
            n_positive_leads=int(lead_label.sum()),
            captured_at_k=captured,
            capture_rate_at_k=captured / lead_label.sum() if lead_label.sum() else float("nan"),
        )
        records[scorer.name] = row
    metrics = pd.DataFrame.from_dict(records, orient="index")
    if n_bootstrap > 0:
        intervals = bootstrap_intervals(test, leads, scorers, k, n_bootstrap, seed, metrics, ece_bins)
        metrics = metrics.join(intervals)
    return metrics


def _basic_interval(estimate: float, draws: list[float]) -> tuple[float, float]:
    """The basic bootstrap 95% interval ``(2 θ - q97.5, 2 θ - q2.5)`` (NaN draws ignored)."""
    values = np.asarray(draws, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0 or np.isnan(estimate):
        return float("nan"), float("nan")
    return float(2 * estimate - np.percentile(values, 97.5)), float(2 * estimate - np.percentile(values, 2.5))


def bootstrap_intervals(
    test: pd.DataFrame,
    leads: pd.DataFrame,
    scorers: list[Scorer],
    k: float,
    n_bootstrap: int,
    seed: int,
    estimates: pd.DataFrame | None = None,
    ece_bins: int = 20,
) -> pd.DataFrame:
    """95% basic bootstrap intervals of ROC AUC, ECE, captured-at-K and the AUC gain over each baseline.

    Each resample draws leads with replacement; a lead drawn twice counts twice in every view. The
    same draws serve every scorer, so the gain over the rules is a paired difference. ``estimates``
    holds each scorer's point estimates (the intervals are centred on them).
    """
    lead_codes, lead_index = pd.factorize(test["lead_id"], sort=True)
    lead_position = pd.Index(lead_index).get_indexer(leads["lead_id"])
    label = test["label"].to_numpy(dtype=float)
    lead_label = leads["label"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    n_leads = len(lead_index)
    draws = [np.bincount(rng.integers(0, n_leads, n_leads), minlength=n_leads) for _ in range(n_bootstrap)]
    auc_draws: dict[str, list[float]] = {}
    out = {}
    for scorer in scorers:
        order, group = rank_groups(test[scorer.rank_column].to_numpy(dtype=float))
        lead_score = leads[scorer.rank_column].to_numpy(dtype=float)
        p = None if scorer.probability_column is None else test[scorer.probability_column].to_numpy(dtype=float)
        aucs, captures, eces = [], [], []
        for lead_weight in draws:
            row_weight = lead_weight[lead_codes].astype(float)
            aucs.append(weighted_auc(label, order, group, row_weight))
            captures.append(captured_at_k(lead_label, lead_score, k, lead_weight[lead_position].astype(float)))
            if p is not None:
                rows = np.repeat(np.arange(len(label)), lead_weight[lead_codes])
                eces.append(expected_calibration_error(label[rows], p[rows], ece_bins))
        auc_draws[scorer.name] = aucs
        point = estimates.loc[scorer.name] if estimates is not None else None
        intervals = {
            "roc_auc": _basic_interval(float(point["roc_auc"]) if point is not None else float(np.nanmean(aucs)), aucs),
            "captured_at_k": _basic_interval(float(point["captured_at_k"]) if point is not None else float(np.mean(captures)),
                                             captures),
        }
        if p is not None:
            intervals["ece"] = _basic_interval(float(point["ece"]) if point is not None else float(np.mean(eces)), eces)
        out[scorer.name] = {f"{name}_ci_{side}": value for name, (low, high) in intervals.items()
                            for side, value in (("low", low), ("high", high))}
    for baseline in BASELINES:
        if baseline not in auc_draws or estimates is None or baseline not in estimates.index:
            continue
        for scorer in scorers:
            if scorer.name in BASELINES:
                continue
            gain = float(estimates.loc[scorer.name, "roc_auc"] - estimates.loc[baseline, "roc_auc"])
            differences = list(np.asarray(auc_draws[scorer.name]) - np.asarray(auc_draws[baseline]))
            low, high = _basic_interval(gain, differences)
            out[scorer.name].update({f"auc_gain_over_{baseline}": gain, f"auc_gain_over_{baseline}_ci_low": low,
                                     f"auc_gain_over_{baseline}_ci_high": high})
    return pd.DataFrame.from_dict(out, orient="index")


def at_moments(scored: pd.DataFrame, moments_days: tuple[int, ...] | list[int]) -> pd.DataFrame:
    """The snapshots taken at the moments a model is used (``offset_days`` among ``moments_days``)."""
    if "offset_days" not in scored.columns:
        return scored
    return scored[scored["offset_days"].isin(list(moments_days))].reset_index(drop=True)


def evaluate_by_offset(scored: pd.DataFrame, scorers: list[Scorer], ece_bins: int = 20) -> pd.DataFrame:
    """Per snapshot offset, and pooled, the point metrics of each scorer: where lead age flatters a model."""
    records = []
    groups = [(str(int(o)), part) for o, part in scored.groupby("offset_days", sort=True)] if "offset_days" in scored else []
    for offset, part in [*groups, ("pooled", scored)]:
        label = part["label"].to_numpy(dtype=float)
        for scorer in scorers:
            p = None if scorer.probability_column is None else part[scorer.probability_column].to_numpy(dtype=float)
            metrics = point_metrics(label, part[scorer.rank_column].to_numpy(dtype=float), p, ece_bins)
            records.append({"offset": offset, "method": scorer.name, "n_rows": len(part), "n_positive": int(label.sum()),
                            "roc_auc": metrics["roc_auc"], "log_loss": metrics["log_loss"], "ece": metrics["ece"]})
    return pd.DataFrame.from_records(records)


def evaluate_slices(test: pd.DataFrame, scorers: list[Scorer], slice_columns: list[str], ece_bins: int = 10) -> pd.DataFrame:
    """ROC AUC and calibration-in-the-large per value of each slice column (e.g. channel, region).

    Missing slice values form their own ``(missing)`` slice so that every test snapshot is counted
    in each slicing. AUC is NaN for a slice with a single class.
    """
    records = []
    for column in slice_columns:
        if column not in test.columns:
            continue
        values = test[column].astype("str").fillna("(missing)")
        for value, part in test.groupby(values.to_numpy(), sort=True):
            label = part["label"].to_numpy(dtype=float)
            record = {
                "slice": column,
                "value": value,
                "n_rows": len(part),
                "n_positive": int(label.sum()),
                "positive_rate": float(label.mean()),
            }
            for scorer in scorers:
                record[f"{scorer.name}_roc_auc"] = roc_auc(label, part[scorer.rank_column].to_numpy(dtype=float))
                if scorer.probability_column is not None:
                    record[f"{scorer.name}_mean_p"] = float(part[scorer.probability_column].mean())
            records.append(record)
    return pd.DataFrame.from_records(records)


def format_metrics(metrics: pd.DataFrame, moment: str = "at capture") -> str:
    """The metrics table as fixed-width text, one column per method, for the command line.

    AUC and captured-at-K carry their bootstrap intervals when present; metrics a method does not
    have (calibration of raw points) read ``n/a``.
    """

    def number(value: float, digits: int) -> str:
        return "n/a" if pd.isna(value) else f"{value:.{digits}f}"

    def with_ci(row: pd.Series, name: str, digits: int) -> str:
        text = number(row[name], digits)
        low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
        if low is not None and pd.notna(low):
            text += f" [{low:.{digits}f}, {high:.{digits}f}]"
        return text

    lines = {
        "ROC AUC [95% CI]": lambda r: with_ci(r, "roc_auc", 3),
        "PR AUC": lambda r: number(r["pr_auc"], 3),
        "log loss": lambda r: number(r["log_loss"], 4),
        "Brier": lambda r: number(r["brier"], 4),
        "ECE": lambda r: number(r["ece"], 4),
        "mean p / observed": lambda r: f"{number(r['mean_p'], 4)} / {r['positive_rate']:.4f}",
        "lift top decile": lambda r: number(r["lift_top_decile"], 2),
        "captured in top K [95% CI]": lambda r: with_ci(r, "captured_at_k", 1),
        "capture rate at K": lambda r: number(r["capture_rate_at_k"], 3),
    }
    first = metrics.iloc[0]
    header = (
        f"test window {moment}: {int(first['n_rows']):,} snapshots ({int(first['n_positive']):,} positive); capacity "
        f"K = {int(first['capacity_k']):,} of {int(first['n_leads']):,} leads (earliest snapshot each, "
        f"{int(first['n_positive_leads']):,} positive)"
    )
    cells = [[""] + list(metrics.index)] + [[label] + [fmt(row) for _, row in metrics.iterrows()] for label, fmt in lines.items()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join([header, *rendered])


def format_by_offset(by_offset: pd.DataFrame) -> str:
    """ROC AUC per snapshot offset and pooled, one column per method: what lead age does to the numbers."""
    if by_offset.empty:
        return ""
    table = by_offset.set_index(["offset", "method"])["roc_auc"].unstack()
    counts = by_offset.drop_duplicates("offset").set_index("offset")[["n_rows", "n_positive"]]
    order = [o for o in by_offset["offset"].unique()]
    methods = list(dict.fromkeys(by_offset["method"]))
    header = f"{'offset (days)':<14}{'snapshots':>10}{'positive':>9}  " + "  ".join(f"{m:>9}" for m in methods)
    lines = ["ROC AUC by snapshot offset (pooled is never the headline: lead age flatters it)", header]
    for offset in order:
        cells = "  ".join(f"{table.loc[offset, m]:>9.3f}" if pd.notna(table.loc[offset, m]) else f"{'n/a':>9}" for m in methods)
        lines.append(f"{offset:<14}{int(counts.loc[offset, 'n_rows']):>10,}{int(counts.loc[offset, 'n_positive']):>9,}  {cells}")
    return "\n".join(lines)
