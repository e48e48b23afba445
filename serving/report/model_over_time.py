"""The report's "Model over time" section, computed: the monitor's result as the tables the page lays out.

From :class:`leadscore.serving.monitor.verdict.MonitorResult` (what ``leadscore monitor`` prints): the
cohorts (predicted with the range it allows, observed with its interval, AUC, ECE, the verdict and why),
the drift table (the features that alarmed, then the closest to their thresholds) and the features that
moved in words, and the recommendation with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leadscore.serving.monitor.verdict import MonitorResult, result_record

N_STABLE_SHOWN = 8


@dataclass(frozen=True)
class ModelOverTime:
    """What the section shows."""

    model: str
    recommendation: str
    reason: str
    alpha: float
    cohorts: pd.DataFrame
    n_matured: int
    drift: pd.DataFrame
    n_drift_judged: int
    moved: list[str]
    window: str
    notes: list[str]


def summarize_model_over_time(result: MonitorResult) -> ModelOverTime:
    """The section's tables from a monitor result."""
    record = result_record(result)
    rows = []
    for cohort in record["cohorts"]:
        low, high = cohort.get("predicted_range") or (None, None)
        olow, ohigh = cohort.get("observed_interval") or (None, None)
        rows.append({"cohort": cohort["cohort"], "version": cohort["model_version"], "leads": cohort["leads"],
                     "matured": cohort["matured"], "predicted": cohort["predicted"], "predicted_low": low,
                     "predicted_high": high, "observed": cohort["observed"], "observed_low": olow,
                     "observed_high": ohigh, "auc": cohort["auc"], "ece": cohort["ece"], "alarm": cohort["alarm"],
                     "verdict": ("alarm" if cohort["alarm"] else "held") if cohort["matured"] else "not matured",
                     "why": cohort["why"]})
    cohorts = pd.DataFrame(rows, columns=["cohort", "version", "leads", "matured", "predicted", "predicted_low",
                                          "predicted_high", "observed", "observed_low", "observed_high", "auc", "ece",
                                          "alarm", "verdict", "why"])
    numbers = ["predicted", "predicted_low", "predicted_high", "observed", "observed_low", "observed_high", "auc", "ece"]
    cohorts[numbers] = cohorts[numbers].astype(float)  # None (not matured, not judged) as NaN: charts need numbers
    cohorts = cohorts.astype({"matured": bool, "alarm": bool})
    drift = pd.DataFrame(record["drift"], columns=["feature", "psi", "threshold", "alarm", "judged", "moved"])
    drift = drift.astype({"alarm": bool, "judged": bool})  # an empty table (drift not judged) stays a table
    judged = drift[drift["judged"]]
    closest = (judged[~judged["alarm"]].assign(_r=judged["psi"] / judged["threshold"])
               .sort_values("_r", ascending=False).drop(columns="_r").head(N_STABLE_SHOWN))
    shown = pd.concat([judged[judged["alarm"]], closest])
    window = record["window"]
    window_text = "" if window is None else (
        f"{window['leads']:,} leads scored by version {window['model_version']} from {window['since'][:10]} to "
        f"{window['until'][:10]}, against the training reference ({window['reference']})")
    notes = [note for note in (record["drift_note"],) if note]
    if record["left_out"]:
        notes.append("Left out of the cohorts: " + ", ".join(f"{reason} {n:,}" for reason, n in record["left_out"].items()) + ".")
    return ModelOverTime(
        model=f"{result.model_name} version {result.version}", recommendation=record["recommendation"],
        reason=record["reason"], alpha=result.alpha, cohorts=cohorts, n_matured=int(cohorts["matured"].sum()),
        drift=shown.reset_index(drop=True), n_drift_judged=len(judged), moved=record["moved"], window=window_text,
        notes=notes)
