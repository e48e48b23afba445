"""The monitor's MLflow edge: what each model version recorded at training, and how it aged since.

Read, per version: its training run's test interval of AUC at the scoring moment (the metric
``at_<moment>.model.roc_auc_ci_low`` training logs) and its training reference
(``monitoring/training_reference.json``, :mod:`leadscore.scorers.monitoring.reference`). A version trained
before training logged references gets one rebuilt from the export (:func:`rebuild_reference`), said so.

Written, per run of the monitor: one MLflow run in the active experiment (the command uses
``leadscore-monitor``) holding the whole result as ``monitor.json``, the figures of each matured cohort
as metrics logged against the model version that made the predictions (MLflow's logged model of that
version, so the model's page shows how it aged), and on each version the latest verdict as tags
(``leadscore.monitor.*``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.building.labels import DEFAULT_OFFSETS_DAYS, label_snapshots
from leadscore.features.tables import Tables
from leadscore.scorers.monitoring.reference import ARTIFACT_PATH, TrainingReference, reference_from_export
from leadscore.serving.loading import ScoringModel
from leadscore.serving.monitor.verdict import MonitorResult, result_record

log = logging.getLogger(__name__)

HEADLINE_AUC_LOW = re.compile(r"^at_[a-z0-9_]+\.model\.roc_auc_ci_low$")
LOGGED_MODEL_SOURCE = re.compile(r"^models:/(?P<id>m-[0-9a-f]+)$")


@dataclass(frozen=True)
class VersionFacts:
    """What one registered version recorded at training (None where it recorded nothing)."""

    version: str
    run_id: str | None
    model_id: str | None
    auc_floor: float | None
    reference: TrainingReference | None


def version_facts(name: str, version: str) -> VersionFacts:
    """The test interval's low end and the training reference of ``name`` version ``version``."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        registered = client.get_model_version(name, str(version))
    except MlflowException:
        return VersionFacts(str(version), None, None, None, None)
    run_id = registered.run_id
    auc_floor = None
    reference = None
    if run_id:
        metrics = client.get_run(run_id).data.metrics
        lows = [value for key, value in metrics.items() if HEADLINE_AUC_LOW.match(key)]
        auc_floor = float(lows[0]) if lows else None
        try:
            reference = TrainingReference.from_json(mlflow.artifacts.load_dict(f"runs:/{run_id}/{ARTIFACT_PATH}"))
        except (MlflowException, OSError, ValueError, KeyError) as exc:
            log.info("%s version %s has no training reference (%s)", name, version, exc)
    return VersionFacts(str(version), run_id, logged_model_id(registered), auc_floor, reference)


def logged_model_id(registered: object) -> str | None:
    """The MLflow logged model behind a registered version: its ``model_id``, or the one its source names
    (a version registered from ``models:/m-…`` records the link only there)."""
    found = getattr(registered, "model_id", None)
    if found:
        return found
    match = LOGGED_MODEL_SOURCE.match(str(getattr(registered, "source", "") or ""))
    return match["id"] if match else None


def chain_sqo_horizon(model: ScoringModel) -> int | None:
    """A WON model's chain SQO horizon (its label: a win whose SQO falls within it); None for an SQO model."""
    days = (model.model.chain or {}).get("sqo_horizon_days")
    return int(days) if days is not None else None


def rebuild_reference(tables: Tables, model: ScoringModel, seed: int = 0) -> TrainingReference | None:
    """A training reference rebuilt from this export, for a version trained before references were logged.

    The snapshots the version could have learnt from: leads captured within its training windows (all of
    them when it was refit on all labelled data, else all but the test window), at its snapshot offsets,
    labelled by its data's end (:func:`leadscore.scorers.monitoring.reference.reference_from_export`
    sketches a random share of them). None when the model's spec records no windows or they hold no lead here.
    """
    spec = model.spec
    windows = spec.get("windows") or {}
    learnt = [w for name, w in windows.items() if spec.get("refit") or name != "test"]
    starts = [pd.Timestamp(w["captured_from"]) for w in learnt if w.get("captured_from")]
    ends = [pd.Timestamp(w["captured_to"]) for w in learnt if w.get("captured_to")]
    if not starts or not ends:
        return None
    leads = tables.leads
    inside = leads[(leads["captured_at"] >= min(starts)) & (leads["captured_at"] <= max(ends))]
    offsets = [int(o) for o in spec.get("offsets_days") or DEFAULT_OFFSETS_DAYS]
    spine = pd.concat([pd.DataFrame({"lead_id": inside["lead_id"].astype("str").to_numpy(),
                                     "as_of": inside["captured_at"] + pd.Timedelta(days=o), "offset_days": o})
                       for o in offsets], ignore_index=True)
    data_end = min(pd.Timestamp(spec["data_end"]), tables.data_end) if spec.get("data_end") else tables.data_end
    spine = spine[spine["as_of"] <= data_end].reset_index(drop=True)
    if not len(spine):
        return None
    labels = label_snapshots(tables, spine[["lead_id", "as_of"]], model.target, spec.get("horizon_days"),
                             chain_sqo_horizon(model))
    spine = spine[(labels["status"] == "ok").to_numpy()]
    if not len(spine):
        return None
    origin = (f"rebuilt from this export's leads captured {min(starts):%Y-%m-%d} to {max(ends):%Y-%m-%d}: "
              "the version was trained before training references were logged")
    return reference_from_export(tables, model.model, spine, origin=origin, seed=seed)


def _cohort_metrics(result: MonitorResult, version: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for cohort in result.matured:
        if cohort.version != version or cohort.figures is None:
            continue
        f = cohort.figures
        for name, value in (("leads", f.n), ("predicted", f.predicted), ("observed", f.observed), ("auc", f.auc),
                            ("ece", f.ece), ("calibration_slope", f.slope), ("calibration_intercept", f.intercept),
                            ("alarm", float(cohort.alarm))):
            if value is not None and np.isfinite(value):
                out[f"monitor.cohort_{cohort.month}.{name}"] = float(value)
    return out


def log_monitor(result: MonitorResult, facts: dict[str, VersionFacts]) -> str:
    """Log the result as one MLflow run in the active experiment; returns the run's id (see the module docstring)."""
    import mlflow
    from mlflow import MlflowClient

    recommendation, reason = result.recommendation
    tags = {"leadscore.target": result.target, "leadscore.model": result.model_name,
            "leadscore.model_version": result.version, "leadscore.data_end": result.data_end.isoformat(),
            "leadscore.recommendation": recommendation}
    client = MlflowClient()
    with mlflow.start_run(run_name=f"monitor {result.model_name} v{result.version}", tags=tags) as run:
        mlflow.log_dict(result_record(result), "monitor.json")
        mlflow.log_text(reason, "recommendation.txt")
        drift = result.drift
        if drift is not None:
            alarms = [row for row in drift.rows if row.alarm]
            mlflow.log_metrics({"monitor.drift.features_alarmed": float(len(alarms)),
                                "monitor.drift.leads": float(drift.n_leads)})
        for version, fact in facts.items():
            metrics = _cohort_metrics(result, version)
            if metrics:
                mlflow.log_metrics(metrics, model_id=fact.model_id)
            if fact.run_id is None:
                continue
            version_tags = {"leadscore.monitor.run_id": run.info.run_id,
                            "leadscore.monitor.data_end": result.data_end.isoformat()}
            mine = [c for c in result.matured if c.version == version]
            version_tags["leadscore.monitor.matured_cohorts"] = str(len(mine))
            version_tags["leadscore.monitor.alarms"] = ", ".join(c.month for c in mine if c.alarm) or "none"
            if version == result.version:
                version_tags["leadscore.monitor.recommendation"] = f"{recommendation}: {reason}"[:5000]
            for key, value in version_tags.items():
                client.set_model_version_tag(result.model_name, version, key, value)
        return run.info.run_id
