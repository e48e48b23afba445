"""The monitor end to end: the score store and the model registry in, a :class:`MonitorResult` out.

Shared by ``leadscore monitor``, ``leadscore train --if-monitor-says-retrain`` and ``leadscore report
--store``: the stored predictions of the target (:mod:`~leadscore.serving.monitor.stored`), every
version behind them loaded from the registry with what it recorded at training
(:mod:`~leadscore.serving.monitor.record`), the feature values of the latest window, then
:func:`~leadscore.serving.monitor.judge.judge_model`.
"""

from __future__ import annotations

from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import Tables
from leadscore.serving.history.store import open_store
from leadscore.serving.loading import load_scoring_model
from leadscore.serving.monitor.judge import judge_model
from leadscore.serving.monitor.record import VersionFacts, version_facts
from leadscore.serving.monitor.stored import read_predictions, read_window_features
from leadscore.serving.monitor.verdict import MonitorResult
from leadscore.serving.monitor.window import window_bounds


def monitor_export(tables: Tables, store_target: str, target: str, seed: int = 0
                   ) -> tuple[MonitorResult, dict[str, VersionFacts]]:
    """Judge ``target``'s model on ``tables`` from the store at ``store_target``; the result and each version's record.

    MLflow must be configured (``leadscore.tracking.configure_tracking``).
    """
    with open_store(store_target, read_only=True) as store:
        predictions = read_predictions(store, target)
        models, not_loaded = {}, {}
        for version in predictions.rows["model_version"].unique():
            try:
                models[str(version)] = load_scoring_model(f"models:/{predictions.model_name}/{version}", target=target)
            except LeadscoreError as exc:
                if str(version) == predictions.current:
                    raise LeadscoreError(f"the store's latest {target} scores came from {predictions.model_name} "
                                         f"version {version}, which cannot be loaded: {exc}") from exc
                not_loaded[str(version)] = int((predictions.rows["model_version"] == version).sum())
        since, _ = window_bounds(predictions.rows, predictions.current)
        features = read_window_features(store, target, predictions.model_name, predictions.current, since)
    rows = predictions.rows[predictions.rows["model_version"].isin(list(models))]
    facts = {version: version_facts(predictions.model_name, version) for version in models}
    result = judge_model(tables, rows, features, models, predictions.current, facts, str(tables.source), seed=seed)
    for version, n in not_loaded.items():
        result.left_out[f"predictions of version {version}, no longer in the registry"] = n
    for name, n in predictions.other_models.items():
        result.left_out[f"predictions of another model ({name})"] = n
    return result, facts
