"""Figures logged with each training run: calibration, ROC, PR, gain against the rules, SHAP, importance.

Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas, never through
``pyplot``: no global backend is switched, no window can open, and nothing leaks between figures when
training runs inside a notebook or a server. Each function writes one PNG and returns its path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.scorers.ranking import (
    calibration_bins,
    gain_curve,
    missing_ranks_last,
    roc_auc,
    roc_curve,
)

COLOURS = {"model": "#1f5fa8", "logistic": "#e08a1e", "lightgbm": "#8e44ad", "rules": "#5a9e44", "floor": "#b03a2e",
           "random": "#888888"}


def _figure(width: float = 6.0, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot(1, 1, 1)


def _save(figure, path: str | os.PathLike) -> Path:
    target = Path(path)
    figure.tight_layout()
    figure.savefig(target)
    return target


def plot_calibration(test: pd.DataFrame, probability_columns: dict[str, str], path: str | os.PathLike, n_bins: int = 20) -> Path:
    """Reliability diagram: mean predicted vs observed rate in equal-mass bins, one line per method."""
    figure, ax = _figure()
    label = test["label"].to_numpy(dtype=float)
    top = 0.0
    for name, column in probability_columns.items():
        bins = calibration_bins(label, test[column].to_numpy(dtype=float), n_bins)
        top = max(top, bins["mean_predicted"].max(), bins["observed_rate"].max())
        ax.plot(bins["mean_predicted"], bins["observed_rate"], marker="o", markersize=3, label=name, color=COLOURS.get(name))
    ax.plot([0, top], [0, top], linestyle="--", color=COLOURS["random"], label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration on the test window")
    ax.legend()
    return _save(figure, path)


def plot_roc(test: pd.DataFrame, rank_columns: dict[str, str], path: str | os.PathLike) -> Path:
    """ROC curves of every method on the test window (the same points and AUC as the metrics table)."""
    figure, ax = _figure()
    label = test["label"].to_numpy()
    for name, column in rank_columns.items():
        score = test[column].to_numpy(dtype=float)
        fpr, tpr = roc_curve(label, score)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(label, score):.3f})", color=COLOURS.get(name))
    ax.plot([0, 1], [0, 1], linestyle="--", color=COLOURS["random"])
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the test window")
    ax.legend(loc="lower right")
    return _save(figure, path)


def plot_precision_recall(test: pd.DataFrame, rank_columns: dict[str, str], path: str | os.PathLike) -> Path:
    """Precision-recall curves of every method, with the base rate as reference."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    figure, ax = _figure()
    label = test["label"].to_numpy()
    for name, column in rank_columns.items():
        score = missing_ranks_last(test[column].to_numpy(dtype=float))
        precision, recall, _ = precision_recall_curve(label, score)
        ap = average_precision_score(label, score)
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})", color=COLOURS.get(name))
    ax.axhline(label.mean(), linestyle="--", color=COLOURS["random"], label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on the test window")
    ax.legend(loc="upper right")
    return _save(figure, path)



def plot_gain(leads: pd.DataFrame, rank_columns: dict[str, str], capacity_fraction: float, path: str | os.PathLike) -> Path:
    """Cumulative gain, one snapshot per lead: how many positives each method finds as sales works down its list."""
    figure, ax = _figure()
    label = leads["label"].to_numpy(dtype=float)
    for name, column in rank_columns.items():
        x, y = gain_curve(label, leads[column].to_numpy(dtype=float))
        ax.plot(x, y, label=name, color=COLOURS.get(name))
    ax.plot([0, 1], [0, 1], linestyle="--", color=COLOURS["random"], label="random")
    ax.axvline(capacity_fraction, linestyle=":", color="black", label=f"capacity {capacity_fraction:.0%}")
    ax.set(xlabel="share of leads worked (best first)", ylabel="share of positives captured", title="Gain: model against rules")
    ax.legend(loc="lower right")
    return _save(figure, path)


def plot_shap_summary(contributions: np.ndarray, encoded: pd.DataFrame, path: str | os.PathLike, max_features: int = 15) -> Path:
    """Beeswarm-style SHAP summary: each dot one snapshot, colour its feature value (rank within feature).

    ``contributions`` are the serving model's exact contributions (features then the base value column):
    TreeSHAP for LightGBM, coefficient times deviation for the logistic regression; categorical values
    are coloured by category code, missing values in grey.
    """
    values = contributions[:, :-1]
    names = list(encoded.columns)
    order = np.argsort(-np.abs(values).mean(axis=0))[:max_features][::-1]
    figure, ax = _figure(7.0, 0.35 * len(order) + 1.5)
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        column = encoded.iloc[:, j]
        raw = column.cat.codes.replace(-1, np.nan).to_numpy(dtype=float) if isinstance(column.dtype, pd.CategoricalDtype) else column.to_numpy(dtype=float)
        colour = pd.Series(raw).rank(pct=True).to_numpy()
        jitter = rng.uniform(-0.3, 0.3, len(raw))
        known = ~np.isnan(colour)
        ax.scatter(values[~known, j], row + jitter[~known], s=4, color="#bbbbbb", alpha=0.6)
        ax.scatter(values[known, j], row + jitter[known], s=4, c=colour[known], cmap="coolwarm", vmin=0, vmax=1, alpha=0.7)
    ax.set_yticks(range(len(order)), [names[j] for j in order])
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set(xlabel="contribution to the log-odds", title="Exact contributions (colour: feature value low→high)")
    return _save(figure, path)


def plot_feature_importance(importance: pd.DataFrame, path: str | os.PathLike, max_features: int = 25) -> Path:
    """Horizontal bars of the mean |exact contribution| per feature (``feature``, ``mean_abs_contribution``)."""
    top = importance.sort_values("mean_abs_contribution", ascending=False).head(max_features).iloc[::-1]
    figure, ax = _figure(7.0, 0.3 * len(top) + 1.5)
    ax.barh(top["feature"], top["mean_abs_contribution"], color=COLOURS["model"])
    ax.set(xlabel="mean |contribution| to the log-odds", title="Feature importance (exact contributions)")
    return _save(figure, path)
