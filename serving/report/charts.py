"""The report's charts: matplotlib figures rendered to inline PNG data URIs a browser shows offline.

Each function takes the numbers it draws (a DataFrame or arrays from
:mod:`~leadscore.serving.report.kpis` and :mod:`~leadscore.serving.report.comparison_summary`) and
returns ``data:image/png;base64,…``. Figures are built on matplotlib's Agg canvas directly, never
through ``pyplot``, so drawing a report neither needs a display nor changes the process-wide backend
or leaks figures, and matplotlib is imported only when a chart is drawn.

Colours stay the same across charts: the model is blue, the rules orange, chance grey.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # matplotlib is imported only when a chart is drawn
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

MODEL_COLOUR = "#1f5fa8"
RULES_COLOUR = "#d9730d"
PREVIOUS_COLOUR = "#a9b8cc"
CHANCE_COLOUR = "#8a8a8a"
GRADE_COLOURS = {"A": "#1a7f37", "B": "#6aa84f", "C": "#e0a800", "D": "#c0392b"}
METHOD_COLOURS = {"model": MODEL_COLOUR, "rules": RULES_COLOUR}
DPI = 110


def _new_figure(width: float = 6.4, height: float = 3.8) -> Figure:
    """A figure on its own Agg canvas: no pyplot state, no display, nothing global."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _style(axes: Axes) -> None:
    axes.spines["top"].set_visible(False)
    axes.spines["right"].set_visible(False)
    axes.grid(axis="both", color="#e6e6e6", linewidth=0.8)
    axes.set_axisbelow(True)


def _to_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _percent_axis(axis: Axis) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def plot_funnel(stages: pd.DataFrame, label_now: str, label_before: str) -> str:
    """Leads reaching each stage this window (dark) and the previous window (light), as bars."""
    figure = _new_figure(6.8, 3.8)
    axes = figure.add_subplot()
    names = stages["stage"].tolist()
    y = np.arange(len(names))
    now = stages["n_leads"].to_numpy(dtype="float64")
    before = stages["n_leads_previous"].to_numpy(dtype="float64")
    axes.barh(y - 0.2, now, height=0.4, color=MODEL_COLOUR, label=label_now)
    axes.barh(y + 0.2, before, height=0.4, color=PREVIOUS_COLOUR, label=label_before)
    for yi, value in zip(y, now, strict=True):
        axes.annotate(f"{value:,.0f}", (value, yi - 0.2), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    axes.set_yticks(y, names)
    axes.invert_yaxis()
    axes.set_xlabel("leads reaching the stage")
    axes.set_title("Funnel: leads reaching each stage")
    axes.set_xlim(0, max(now.max(initial=0), before.max(initial=0), 1) * 1.12)
    _style(axes)
    axes.legend(loc="lower right", frameon=False, fontsize=8)
    return _to_data_uri(figure)


def plot_breakdown(breakdown: pd.DataFrame, by: str, title: str) -> str:
    """Leads captured (MCL) and leads reaching SQO per group, with SQOs per 100 MCL written beside them."""
    figure = _new_figure(6.8, max(2.4, 0.42 * len(breakdown) + 1.2))
    axes = figure.add_subplot()
    groups = breakdown[by].astype(str).tolist()
    y = np.arange(len(groups))
    mcl = breakdown["MCL"].to_numpy(dtype="float64")
    sqo = breakdown["SQO"].to_numpy(dtype="float64")
    axes.barh(y, mcl, height=0.6, color=PREVIOUS_COLOUR, label="captured (MCL)")
    axes.barh(y, sqo, height=0.6, color=MODEL_COLOUR, label="reached SQO")
    for yi, m, s in zip(y, mcl, sqo, strict=True):
        text = f"{s:,.0f} SQO / {m:,.0f} MCL" + (f" = {100 * s / m:.1f}%" if m else "")
        axes.annotate(text, (m, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    axes.set_yticks(y, groups)
    axes.invert_yaxis()
    axes.set_xlim(0, max(mcl.max(initial=0), 1) * 1.45)
    axes.set_xlabel("leads captured in the window")
    axes.set_title(title)
    _style(axes)
    axes.legend(loc="lower right", frameon=False, fontsize=8)
    return _to_data_uri(figure)


def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]]) -> str:
    """ROC curves of each method (``name -> (fpr, tpr, auc)``) against chance."""
    figure = _new_figure(5.2, 4.4)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color=CHANCE_COLOUR, linewidth=1, label="chance (AUC 0.50)")
    for name, (fpr, tpr, auc) in curves.items():
        axes.plot(fpr, tpr, color=METHOD_COLOURS.get(name), linewidth=2, label=f"{name} (AUC {auc:.2f})")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    _percent_axis(axes.xaxis)
    _percent_axis(axes.yaxis)
    axes.set_xlabel("leads that did NOT reach SQO, flagged (false-positive rate)")
    axes.set_ylabel("leads that reached SQO, flagged")
    axes.set_title("Separating future SQOs from the rest (ROC)")
    _style(axes)
    axes.legend(loc="lower right", frameon=False, fontsize=8)
    return _to_data_uri(figure)


def plot_gain(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], capacity_share: float | None = None) -> str:
    """Cumulative gain (``name -> (share of leads, share of SQOs)``) with the capacity marked."""
    figure = _new_figure(5.2, 4.4)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color=CHANCE_COLOUR, linewidth=1, label="random order")
    for name, (x, y) in curves.items():
        axes.plot(x, y, color=METHOD_COLOURS.get(name), linewidth=2, label=name)
    if capacity_share is not None:
        axes.axvline(capacity_share, color="#333333", linewidth=1, linestyle=":")
        axes.annotate(f"capacity\n{capacity_share:.0%} of leads", (capacity_share, 0.04), xytext=(4, 0),
                      textcoords="offset points", fontsize=8)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    _percent_axis(axes.xaxis)
    _percent_axis(axes.yaxis)
    axes.set_xlabel("leads worked, best-scored first")
    axes.set_ylabel("share of all SQOs captured")
    axes.set_title("How many SQOs each ranking finds (gain)")
    _style(axes)
    axes.legend(loc="lower right", frameon=False, fontsize=8)
    return _to_data_uri(figure)


def plot_calibration(calibration: pd.DataFrame) -> str:
    """Mean predicted probability against the observed SQO rate per group, with the ideal diagonal."""
    figure = _new_figure(5.2, 4.4)
    axes = figure.add_subplot()
    values = np.r_[calibration["mean_predicted"].to_numpy(dtype="float64"), calibration["observed_rate"].to_numpy(dtype="float64")]
    top = min(max(float(np.nanmax(values, initial=0.0)), 0.01) * 1.1, 1.0)
    axes.plot([0, top], [0, top], linestyle="--", color=CHANCE_COLOUR, linewidth=1, label="perfectly calibrated")
    axes.plot(calibration["mean_predicted"], calibration["observed_rate"], marker="o", color=MODEL_COLOUR,
              linewidth=2, label="model (groups of equal size)")
    axes.set_xlim(0, top)
    axes.set_ylim(0, top)
    _percent_axis(axes.xaxis)
    _percent_axis(axes.yaxis)
    axes.set_xlabel("predicted chance of SQO (group average)")
    axes.set_ylabel("share that actually reached SQO")
    axes.set_title("Does a predicted 20% mean 20%? (calibration)")
    _style(axes)
    axes.legend(loc="upper left", frameon=False, fontsize=8)
    return _to_data_uri(figure)


def plot_thresholds(review: pd.DataFrame) -> str:
    """SQO rate of the leads passing each rule threshold, next to the model's best leads at that volume."""
    figure = _new_figure(6.4, 3.8)
    axes = figure.add_subplot()
    x = np.arange(len(review))
    axes.bar(x - 0.2, review["sqo_rate_rules"].fillna(0) / 100.0, width=0.4, color=RULES_COLOUR, label="rules: leads passing")
    axes.bar(x + 0.2, review["sqo_rate_model"].fillna(0) / 100.0, width=0.4, color=MODEL_COLOUR,
             label="model: same number of top leads")
    labels = [f"≥ {t:g} points\n{n:,} leads" for t, n in zip(review["threshold"], review["n_pass"], strict=True)]
    axes.set_xticks(x, labels, fontsize=8)
    _percent_axis(axes.yaxis)
    axes.set_ylabel("share that reached SQO")
    axes.set_xlabel("rule threshold (and leads passing it)")
    axes.set_title("Rule thresholds against outcomes")
    _style(axes)
    axes.legend(loc="upper left", frameon=False, fontsize=8)
    return _to_data_uri(figure)


def plot_score_distribution(scores: pd.Series, grades: pd.Series) -> str:
    """Histogram of the 0–100 scores, stacked by grade, and the number of leads per grade."""
    figure = _new_figure(7.6, 3.6)
    left, right = figure.subplots(1, 2, width_ratios=[2.2, 1])
    bins = np.arange(0, 102, 2)
    values = pd.to_numeric(scores, errors="coerce")
    grade_text = grades.astype("object").fillna("(none)").astype(str)
    order = [g for g in GRADE_COLOURS if (grade_text == g).any()] + sorted(set(grade_text) - set(GRADE_COLOURS))
    stacks = [values[(grade_text == g).to_numpy()].dropna().to_numpy() for g in order]
    colours = [GRADE_COLOURS.get(g, CHANCE_COLOUR) for g in order]
    left.hist(stacks, bins=bins, stacked=True, color=colours, label=order)
    left.set_xlabel("score (0–100)")
    left.set_ylabel("leads")
    left.set_title("Scores of the new leads")
    _style(left)
    left.legend(title="grade", frameon=False, fontsize=8)
    counts = [len(s) for s in stacks]
    right.bar(order, counts, color=colours)
    for i, count in enumerate(counts):
        right.annotate(f"{count:,}", (i, count), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8)
    right.set_xlabel("grade")
    right.set_ylabel("leads")
    right.set_title("Leads per grade")
    right.set_ylim(0, max(counts, default=1) * 1.15 + 1)
    _style(right)
    return _to_data_uri(figure)


def plot_velocity(velocity: pd.DataFrame) -> str:
    """Median days per funnel step this window and the previous one."""
    figure = _new_figure(6.4, 3.4)
    axes = figure.add_subplot()
    x = np.arange(len(velocity))
    axes.bar(x - 0.2, velocity["median_days"].fillna(0), width=0.4, color=MODEL_COLOUR, label="this window")
    axes.bar(x + 0.2, velocity["median_days_previous"].fillna(0), width=0.4, color=PREVIOUS_COLOUR, label="previous window")
    axes.set_xticks(x, velocity["step"].tolist(), fontsize=8)
    top = np.nanmax(np.r_[velocity["median_days"].to_numpy(dtype="float64"),
                          velocity["median_days_previous"].to_numpy(dtype="float64"), 1.0])
    axes.set_ylim(0, top * 1.3)
    axes.set_ylabel("median days")
    axes.set_xlabel("funnel step")
    axes.set_title("How long each step takes (median days)")
    _style(axes)
    axes.legend(loc="upper left", ncols=2, frameon=False, fontsize=8)
    return _to_data_uri(figure)


def plot_model_over_time(cohorts: pd.DataFrame) -> str:
    """Per monthly cohort: the mean predicted probability with the range it allows (band), the observed rate
    with its 95% interval (points), and immature cohorts' predictions alone (hollow)."""
    figure = _new_figure(7.2, 3.8)
    axes = figure.add_subplot()
    x = np.arange(len(cohorts))
    matured = cohorts["matured"].to_numpy(dtype=bool)
    predicted = cohorts["predicted"].to_numpy(dtype="float64")
    axes.fill_between(x[matured], cohorts.loc[matured, "predicted_low"], cohorts.loc[matured, "predicted_high"],
                      color=MODEL_COLOUR, alpha=0.15, linewidth=0, label="range the predictions allow")
    axes.plot(x, predicted, color=MODEL_COLOUR, linewidth=2, marker="o", markersize=4, label="predicted (mean)")
    axes.plot(x[~matured], predicted[~matured], linestyle="none", marker="o", markersize=7, markerfacecolor="white",
              color=MODEL_COLOUR, label="not matured yet")
    observed = cohorts.loc[matured, "observed"].to_numpy(dtype="float64")
    errors = np.vstack([observed - cohorts.loc[matured, "observed_low"].to_numpy(dtype="float64"),
                        cohorts.loc[matured, "observed_high"].to_numpy(dtype="float64") - observed])
    alarm = cohorts.loc[matured, "alarm"].to_numpy(dtype=bool)
    colours = np.where(alarm, GRADE_COLOURS["D"], "#222222")
    axes.errorbar(x[matured], observed, yerr=errors, fmt="none", ecolor="#555555", elinewidth=1, capsize=3)
    axes.scatter(x[matured], observed, c=list(colours), zorder=3, s=30, label="observed (red: alarm)")
    axes.set_xticks(x, cohorts["cohort"].tolist(), rotation=45, ha="right", fontsize=8)
    axes.set_ylim(bottom=0)
    _percent_axis(axes.yaxis)
    axes.set_ylabel("share of the cohort's leads")
    axes.set_title("Predicted against what happened, per month of scoring")
    _style(axes)
    axes.legend(loc="upper right", frameon=False, fontsize=8, ncols=2)
    return _to_data_uri(figure)
