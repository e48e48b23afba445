"""Matured cohorts: what each model version predicted then, against what happened since.

**Which predictions are judged.** A lead scored every day would otherwise count thirty times a month,
and a model is judged where it is used (:mod:`leadscore.training.metrics`: at the scoring moment,
usually capture). So each lead counts once per model version: its *first* prediction by that version,
and only when that prediction was made at the moment the model was evaluated for (its spec's
``moments_days``, up to a day later: a daily run scores yesterday's new leads). A lead first scored later
(an old lead in the first run, a lead the runs missed) is left out of the cohorts and counted.

**Cohorts** are calendar months (UTC) of those predictions' ``as_of``. A cohort is *matured* once the
label horizon after its last possible ``as_of`` has passed by the export's end: every lead in it has had
its full horizon to convert. Immature cohorts are shown with their size and mean prediction, never judged.

**The outcome** of a judged prediction is the contract's label at its ``as_of``
(:func:`leadscore.features.building.labels.label_snapshots`): the first entry into the target's stages
within the horizon. A lead that left the export since is counted and left out.

**The alarm.** A matured cohort alarms when its observed rate lies outside the range its own
probabilities allow, or its AUC lies below the model's own test interval, each judged at the level that
keeps the whole family of a version's matured cohorts (two tests each) at ``alpha``
(:mod:`leadscore.scorers.monitoring.cohort_checks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.building.labels import label_snapshots
from leadscore.features.tables import Tables, positions
from leadscore.features.timestamps import NS_PER_DAY, to_epoch_ns
from leadscore.scorers.monitoring.cohort_checks import (
    MIN_CLASS_FOR_AUC,
    CohortFigures,
    bonferroni_level,
    cohort_figures,
)
from leadscore.scorers.monitoring.drift import ALPHA

MOMENT_TOLERANCE_DAYS = 1.0


@dataclass(frozen=True)
class Cohort:
    """One month of one model version's judged predictions.

    ``figures`` is None for an immature cohort; ``why`` says in a sentence why the cohort alarms, holds,
    or is not judged yet.
    """

    version: str
    month: str
    leads: int
    predicted: float
    matured: bool
    matures_on: pd.Timestamp
    figures: CohortFigures | None
    alarm: bool
    why: str


@dataclass(frozen=True)
class JudgedPredictions:
    """The predictions the cohorts judge, and what was left out, counted by reason."""

    rows: pd.DataFrame
    left_out: dict[str, int]


def age_days(tables: Tables, lead_id: pd.Series, as_of: pd.Series) -> np.ndarray:
    """Days from each lead's capture to ``as_of`` (NaN for a lead the export does not hold)."""
    at = positions(lead_id.astype("str"), tables.leads["lead_id"].astype("str"))
    captured = to_epoch_ns(tables.leads["captured_at"]).to_numpy(dtype="float64", na_value=np.nan)
    captured = np.append(captured, np.nan)[np.where(at >= 0, at, len(captured))]
    return (to_epoch_ns(as_of).to_numpy(dtype="float64") - captured) / NS_PER_DAY


def judged_predictions(predictions: pd.DataFrame, tables: Tables, moments_days: list[int]) -> JudgedPredictions:
    """Each lead's first prediction per model version, when it was made at a scoring moment.

    ``predictions`` holds ``lead_id``, ``as_of``, ``p`` and ``model_version`` (rows without a probability
    are not predictions and must be left out by the caller).
    """
    first = (predictions.sort_values(["model_version", "lead_id", "as_of"], kind="stable")
             .drop_duplicates(["model_version", "lead_id"], keep="first").reset_index(drop=True))
    age = age_days(tables, first["lead_id"], first["as_of"])
    at_moment = np.zeros(len(first), dtype=bool)
    for moment in moments_days:
        at_moment |= (age >= moment) & (age < moment + MOMENT_TOLERANCE_DAYS)
    unknown = np.isnan(age)
    left_out = {}
    if unknown.any():
        left_out["lead no longer in the export"] = int(unknown.sum())
    later = ~unknown & ~at_moment
    if later.any():
        left_out["first scored after the scoring moment"] = int(later.sum())
    return JudgedPredictions(first[at_moment].reset_index(drop=True), left_out)


def month_of(as_of: pd.Series) -> pd.Series:
    """``YYYY-MM`` of each moment (UTC)."""
    return as_of.dt.tz_convert("UTC").dt.strftime("%Y-%m")


def matures_on(month: str, horizon_days: int) -> pd.Timestamp:
    """When the last lead a cohort could hold has had its whole horizon: the next month's start plus it."""
    start = pd.Timestamp(f"{month}-01T00:00:00Z")
    return start + pd.DateOffset(months=1) + pd.Timedelta(days=horizon_days)


def _why(f: CohortFigures, outcome: str, auc_floor: float | None) -> str:
    calibration = (f"observed {f.observed:.1%} {outcome}, "
                   + ("outside" if f.calibration_alarm else "within")
                   + f" the {f.predicted_low:.1%}–{f.predicted_high:.1%} its predictions allow (mean {f.predicted:.1%})")
    if not f.auc_judged:
        reason = "no test interval recorded for this version" if auc_floor is None or not np.isfinite(auc_floor) \
            else f"fewer than {MIN_CLASS_FOR_AUC} leads in a class"
        ranking = f"AUC {f.auc:.2f} not judged ({reason})" if np.isfinite(f.auc) else "AUC not judged (one outcome only)"
    elif f.ranking_alarm:
        ranking = f"AUC {f.auc:.2f} (95% {f.auc_low:.2f}–{f.auc_high:.2f}) below the model's test interval, which starts at {f.auc_floor:.2f}"
    else:
        ranking = f"AUC {f.auc:.2f} not below the model's test interval, which starts at {f.auc_floor:.2f}"
    return f"{calibration}; {ranking}"


def version_cohorts(
    judged: pd.DataFrame,
    tables: Tables,
    version: str,
    target: str,
    horizon_days: int,
    auc_floor: float | None,
    alpha: float = ALPHA,
    seed: int = 0,
    sqo_horizon_days: int | None = None,
) -> tuple[list[Cohort], dict[str, int]]:
    """The cohorts of one model version's judged predictions (:func:`judged_predictions`), oldest first.

    Parameters
    ----------
    sqo_horizon_days
        For a WON model: the SQO horizon of its chain (the label it was trained on: a win whose SQO falls
        within it); a cohort matures once both horizons have passed.
    auc_floor
        The low end of the version's test interval of AUC (None: ranking described, not judged).
    alpha
        The chance that any of the version's matured cohorts alarms when nothing changed.

    Returns
    -------
    cohorts, left_out
        The cohorts, and the judged predictions that could not be labelled, counted by reason.
    """
    labels = label_snapshots(tables, judged[["lead_id", "as_of"]], target, horizon_days, sqo_horizon_days)
    rows = judged.assign(label=labels["label"].to_numpy(), status=labels["status"].astype("str").to_numpy(),
                         month=month_of(judged["as_of"]).to_numpy())
    left_out: dict[str, int] = {}

    def leave_out(unlabelled: pd.Series) -> None:
        for status, n in rows.loc[unlabelled[unlabelled].index, "status"].value_counts().items():
            key = f"not labelled ({status.replace('_', ' ')})"
            left_out[key] = left_out.get(key, 0) + int(n)

    never = rows["status"].isin(["unknown_lead_id", "captured_at_missing", "already_reached", "outcome_time_unknown"])
    leave_out(never)
    rows = rows[~never]
    outcome = f"reached {target.upper()} within {horizon_days} days"
    wait_days = max(horizon_days, sqo_horizon_days or 0)
    months = sorted(rows["month"].unique())
    matured = [m for m in months if matures_on(m, wait_days) <= tables.data_end]
    level = bonferroni_level(alpha, 2 * len(matured))
    cohorts: list[Cohort] = []
    for k, month in enumerate(months):
        cohort = rows[rows["month"] == month]
        due = matures_on(month, wait_days)
        if month not in matured:
            cohorts.append(Cohort(str(version), month, len(cohort), float(cohort["p"].mean()), False, due, None,
                                  False, f"matures on {due:%Y-%m-%d}: not every lead has had its {wait_days} days yet"))
            continue
        # Matured, yet a row may have no label: closed before its as_of by an entry written back later,
        # or censored by the export's end. Only labelled rows are judged; the others are counted.
        labelled = cohort["status"] == "ok"
        leave_out(~labelled)
        cohort = cohort[labelled]
        if not len(cohort):
            continue
        figures = cohort_figures(cohort["label"].to_numpy(dtype=float), cohort["p"].to_numpy(dtype=float),
                                 level, auc_floor, seed=seed + k)
        alarm = figures.calibration_alarm or figures.ranking_alarm
        cohorts.append(Cohort(str(version), month, len(cohort), figures.predicted, True, due, figures, alarm,
                              _why(figures, outcome, auc_floor)))
    return cohorts, left_out
