"""The monitor's verdict: retrain, watch or ok, with the reason, and the whole result as text or JSON.

- ``retrain`` when a matured cohort of the version in use alarms: what happened is outside what its
  predictions allowed (calibration) or its ranking fell below its own test interval. The promise the
  model makes has been broken; inputs alone never say that.
- ``watch`` when only inputs drifted (the promises were kept so far, but the leads no longer look like
  the training data), or when only an earlier version's cohorts alarmed.
- ``ok`` otherwise.

The monitor never retrains by itself: teams that retrained automatically on a drift alarm promoted
worse models. ``leadscore train --if-monitor-says-retrain`` is the gate a schedule can use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from leadscore.serving.monitor.cohorts import Cohort
from leadscore.serving.monitor.window import DriftWindow

RETRAIN, WATCH, OK = "retrain", "watch", "ok"


@dataclass(frozen=True)
class MonitorResult:
    """Everything ``leadscore monitor`` found for one target's model."""

    model_name: str
    version: str
    target: str
    horizon_days: int
    source: str
    data_end: pd.Timestamp
    alpha: float
    cohorts: list[Cohort]
    drift: DriftWindow | None
    drift_note: str
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def matured(self) -> list[Cohort]:
        return [c for c in self.cohorts if c.matured]

    @property
    def recommendation(self) -> tuple[str, str]:
        """``(retrain | watch | ok, the reason in a sentence or two)``."""
        current = [c for c in self.matured if c.version == self.version]
        alarms = [c for c in current if c.alarm]
        if alarms:
            months = ", ".join(c.month for c in alarms)
            return RETRAIN, (f"{self.model_name} version {self.version}: {len(alarms)} of its {len(current)} matured "
                             f"cohort(s) broke its promise ({months}); {alarms[0].month}: {alarms[0].why}. "
                             "Retrain on recent data and compare before promoting; the monitor never retrains by itself.")
        older = [c for c in self.matured if c.version != self.version and c.alarm]
        drifted = self.drift.moved if self.drift is not None else []
        if drifted:
            moved = "; ".join(drifted[:3])
            more = f" (and {len(drifted) - 3} more)" if len(drifted) > 3 else ""
            held = (f"its {len(current)} matured cohort(s) held" if current else "no cohort of it has matured yet")
            return WATCH, (f"the inputs moved: {moved}{more}. {held.capitalize()}, so its probabilities kept their "
                           "promise so far; watch the next cohorts before retraining.")
        if older:
            versions = ", ".join(sorted({f"version {c.version} ({c.month})" for c in older}))
            return WATCH, (f"earlier cohorts alarmed under {versions}; version {self.version}, in use now, has "
                           + (f"{len(current)} matured cohort(s), all held." if current else "no matured cohort yet."))
        if not current:
            first = min((c.matures_on for c in self.cohorts if c.version == self.version), default=None)
            when = f" (the first matures on {first:%Y-%m-%d})" if first is not None else ""
            return OK, (f"nothing has alarmed: no cohort of version {self.version} has matured yet{when}, and no "
                        "input moved beyond its threshold.")
        return OK, (f"all {len(current)} matured cohort(s) of version {self.version} held and no input moved beyond "
                    "its threshold.")


def _number(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)


def _pair(low: float, high: float) -> list[float | None] | None:
    pair = [_number(low), _number(high)]
    return None if pair == [None, None] else pair


def cohort_record(cohort: Cohort) -> dict:
    """One cohort as JSON: the issue's keys (``cohort``, ``leads``, ``matured``, ``predicted``, ``observed``,
    ``auc``, ``ece``, ``alarm``, ``why``) and each figure's interval."""
    f = cohort.figures
    record = {
        "cohort": cohort.month, "model_version": cohort.version, "leads": cohort.leads, "matured": cohort.matured,
        "matures_on": cohort.matures_on.strftime("%Y-%m-%d"), "predicted": _number(cohort.predicted),
        "observed": None, "auc": None, "ece": None, "alarm": cohort.alarm, "why": cohort.why,
    }
    if f is not None:
        record.update({
            "predicted_range": _pair(f.predicted_low, f.predicted_high), "observed": _number(f.observed),
            "observed_interval": _pair(f.observed_low, f.observed_high), "positives": f.n_positive,
            "calibration_p_value": _number(f.calibration_p), "level": f.level,
            "auc": _number(f.auc), "auc_interval": _pair(f.auc_low, f.auc_high), "auc_floor": _number(f.auc_floor),
            "auc_p_value": _number(f.auc_p), "ece": _number(f.ece), "ece_interval": _pair(f.ece_low, f.ece_high),
            "calibration_intercept": _number(f.intercept), "intercept_interval": _pair(f.intercept_low, f.intercept_high),
            "calibration_slope": _number(f.slope), "slope_interval": _pair(f.slope_low, f.slope_high),
        })
    return record


def result_record(result: MonitorResult) -> dict:
    """The whole result as JSON (what ``leadscore monitor --json`` prints)."""
    recommendation, reason = result.recommendation
    drift = result.drift
    return {
        "model": {"name": result.model_name, "version": result.version, "target": result.target,
                  "horizon_days": result.horizon_days},
        "export": {"source": result.source, "data_end": result.data_end.isoformat()},
        "alpha": result.alpha,
        "cohorts": [cohort_record(c) for c in result.cohorts],
        "drift": [] if drift is None else [
            {"feature": row.feature, "psi": _number(row.psi), "threshold": _number(row.threshold), "alarm": row.alarm,
             "judged": row.judged, "moved": row.moved or None} for row in drift.rows],
        "moved": [] if drift is None else drift.moved,
        "window": None if drift is None else {
            "model_version": drift.version, "since": drift.since.isoformat(), "until": drift.until.isoformat(),
            "leads": drift.n_leads, "left_out": drift.left_out, "reference": drift.reference_origin},
        "drift_note": result.drift_note or None,
        "left_out": result.left_out,
        "recommendation": recommendation,
        "reason": reason,
    }


def format_result(result: MonitorResult, max_stable: int = 5) -> str:
    """The result as the command prints it: cohorts, drift, recommendation."""
    recommendation, reason = result.recommendation
    lines = [f"{result.model_name} version {result.version} (in use in the latest scores), horizon {result.horizon_days} "
             f"days, export up to {result.data_end:%Y-%m-%d %H:%M} UTC",
             "", f"cohorts (first prediction per lead per version; alarms at {result.alpha:.0%} for each version's family):"]
    header = f"  {'month':<8} {'version':>7} {'leads':>7}  {'predicted (allowed range)':<27} {'observed (95%)':<22} " \
             f"{'AUC (95%)':<18} {'ECE':>6} {'slope':>6}  verdict"
    lines.append(header)
    for c in result.cohorts:
        f = c.figures
        if f is None:
            lines.append(f"  {c.month:<8} {c.version:>7} {c.leads:>7,}  {c.predicted:>6.1%}{'':<21} "
                         f"immature: matures on {c.matures_on:%Y-%m-%d}")
            continue
        allowed = f"{f.predicted:.1%} ({f.predicted_low:.1%}–{f.predicted_high:.1%})"
        observed = f"{f.observed:.1%} ({f.observed_low:.1%}–{f.observed_high:.1%})"
        auc = f"{f.auc:.2f} ({f.auc_low:.2f}–{f.auc_high:.2f})" if math.isfinite(f.auc) else "n/a"
        slope = f"{f.slope:.2f}" if math.isfinite(f.slope) else "n/a"
        lines.append(f"  {c.month:<8} {c.version:>7} {c.leads:>7,}  {allowed:<27} {observed:<22} {auc:<18} "
                     f"{f.ece:>6.3f} {slope:>6}  {'ALARM' if c.alarm else 'held'}")
    for c in result.cohorts:
        if c.alarm:
            lines.append(f"  {c.month} (version {c.version}): {c.why}")
    if result.left_out:
        lines.append("  left out: " + ", ".join(f"{reason_} {n:,}" for reason_, n in result.left_out.items()))
    lines.append("")
    drift = result.drift
    if drift is None:
        lines.append(f"drift: {result.drift_note}")
    else:
        judged = [row for row in drift.rows if row.judged]
        lines.append(f"drift: {drift.n_leads:,} leads scored by version {drift.version} from {drift.since:%Y-%m-%d} to "
                     f"{drift.until:%Y-%m-%d}, against the training reference ({drift.reference_origin}); PSI per "
                     f"feature, thresholds simulated at this size ({len(judged)} judged, {result.alpha:.0%} for the table)")
        shown = drift.alarms + sorted((r for r in judged if not r.alarm), key=lambda r: -r.psi / r.threshold)[:max_stable]
        lines.append(f"  {'feature':<34} {'PSI':>8} {'threshold':>10}  alarm")
        for row in shown:
            lines.append(f"  {row.feature:<34} {row.psi:>8.4f} {row.threshold:>10.4f}  {'ALARM' if row.alarm else ''}")
        n_rest = len(judged) - len(shown)
        if n_rest > 0:
            lines.append(f"  … and {n_rest} more features, all below their thresholds (--json lists every one)")
        if drift.alarms:
            lines.append(f"  what moved ({len(drift.alarms)} features, said once per story):")
            lines.extend(f"    {sentence}" for sentence in drift.moved)
        if drift.left_out:
            lines.append("  left out: " + ", ".join(f"{reason_} {n:,}" for reason_, n in drift.left_out.items()))
        if result.drift_note:
            lines.append(f"  {result.drift_note}")
    lines += ["", f"recommendation: {recommendation}: {reason}"]
    return "\n".join(lines)
