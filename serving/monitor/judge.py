"""Is the model still right? Stored predictions and the export's outcomes in, a :class:`MonitorResult` out.

The composition of the monitor's steps, with no I/O of its own: the predictions each version made
(:mod:`~leadscore.serving.monitor.cohorts`), their matured cohorts judged against what happened, the
latest window's inputs against the training reference (:mod:`~leadscore.serving.monitor.window`), and the
verdict (:mod:`~leadscore.serving.monitor.verdict`). ``leadscore monitor`` reads the store and MLflow,
calls :func:`judge_model`, prints and logs.
"""

from __future__ import annotations

import logging

import pandas as pd

from leadscore.features.tables import Tables
from leadscore.serving.loading import ScoringModel
from leadscore.serving.monitor.cohorts import ALPHA, judged_predictions, version_cohorts
from leadscore.serving.monitor.record import VersionFacts, chain_sqo_horizon, rebuild_reference
from leadscore.serving.monitor.verdict import MonitorResult
from leadscore.serving.monitor.window import WINDOW_DAYS, judge_window

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("lead_id", "as_of", "p", "model_version")


def _add(counts: dict[str, int], more: dict[str, int]) -> None:
    for reason, n in more.items():
        counts[reason] = counts.get(reason, 0) + n


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if str(version).isdigit() else (-1, str(version))


def judge_model(
    tables: Tables,
    scores: pd.DataFrame,
    features: pd.DataFrame,
    models: dict[str, ScoringModel],
    current: str,
    facts: dict[str, VersionFacts],
    source: str,
    window_days: int = WINDOW_DAYS,
    alpha: float = ALPHA,
    seed: int = 0,
) -> MonitorResult:
    """Judge every version's matured cohorts and the current version's latest inputs.

    Parameters
    ----------
    tables
        The export: its outcomes label the predictions, its capture times date them.
    scores
        The stored predictions of one target: ``lead_id``, ``as_of``, ``p`` (the target's probability;
        rows without one are not predictions) and ``model_version``.
    features
        The feature values stored with the current version's latest scores (``lead_id``, ``as_of``, a
        column per feature): :func:`leadscore.serving.monitor.stored.read_window_features`.
    models
        Each version present in ``scores``, loaded (its spec says its horizon, scoring moments, features).
    current
        The version in use: the one behind the latest scores.
    facts
        Each version's training record (:func:`leadscore.serving.monitor.record.version_facts`).
    source
        The export's name, for the result.
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"the stored scores lack {', '.join(missing)}")
    scores = scores[scores["p"].notna()]
    model = models[current]
    cohorts, left_out = [], {}
    for version in sorted(models, key=_version_order):
        rows = scores[scores["model_version"].astype("str") == version]
        if not len(rows):
            continue
        spec = models[version].spec
        judged = judged_predictions(rows, tables, list(spec.get("moments_days", [0])))
        _add(left_out, judged.left_out)
        mine, unlabelled = version_cohorts(judged.rows, tables, version, models[version].target,
                                           int(spec["horizon_days"]), facts[version].auc_floor, alpha, seed,
                                           sqo_horizon_days=chain_sqo_horizon(models[version]))
        cohorts += mine
        _add(left_out, unlabelled)
    cohorts.sort(key=lambda c: (c.month, _version_order(c.version)))

    reference, note = facts[current].reference, ""
    if reference is None:
        reference = rebuild_reference(tables, model, seed)
        note = "" if reference is not None else (
            f"{model.name} version {current} has no training reference and none could be rebuilt from this export "
            "(its training windows hold no leads here): input drift is not judged. Retrain to record one.")
    drift = None
    if reference is not None:
        drift = judge_window(scores, features, tables, reference, current, model.spec_features, model.target,
                             window_days, alpha, seed)
    return MonitorResult(model_name=model.name, version=current, target=model.target,
                         horizon_days=int(model.spec["horizon_days"]), source=source, data_end=tables.data_end,
                         alpha=alpha, cohorts=cohorts, drift=drift, drift_note=note, left_out=left_out)
