"""Training as a fixed sequence of steps: training set → split → fit → calibrate → evaluate → log → gate.

:func:`fit_models` is the pure part (frames in, fitted and evaluated models out, no MLflow) so it can
be tested on tiny frames; :func:`train_model` composes it with the feature builder, the rules baseline,
MLflow tracking and the registry's gates. Promotion, which re-evaluates
registered versions, sits above this module and the registry (``promotion.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.features.model.artifacts import LeadscoreModel
from leadscore.features.model.calibration import apply_calibration, sigmoid
from leadscore.features.tables import Tables
from leadscore.training.calibration import map_rule_scores, select_calibration
from leadscore.training.config import TrainConfig
from leadscore.training.fit import (
    encode_features,
    fit_lightgbm,
    fit_logistic,
    fix_feature_spec,
    predict_logistic,
    predict_margin,
)
from leadscore.training.metrics import (
    Scorer,
    evaluate_scorers,
    evaluate_slices,
    expected_calibration_error,
    format_metrics,
)
from leadscore.training.registry import GateDecision, apply_gates, assign_alias
from leadscore.training.spec import build_model_spec, derive_grade_cuts
from leadscore.training.split import WINDOWS, split_by_time
from leadscore.training.tracking import log_training_run, registered_model_name
from leadscore.training.trained import TrainedModels

log = logging.getLogger(__name__)

SHAP_SAMPLE_ROWS = 5000


@dataclass
class TrainResult:
    """What ``leadscore train`` reports: where the model went and how it compares."""

    target: str
    experiment: str
    run_id: str
    model_name: str
    model_version: int
    alias: str | None
    gate: GateDecision
    trained: TrainedModels

    @property
    def metrics(self) -> pd.DataFrame:
        return self.trained.metrics

    def summary(self) -> str:
        """What the command line prints: metrics against the baselines, calibration, gates, where it went."""
        trained = self.trained
        facts = trained.facts
        lines = [format_metrics(trained.metrics), ""]
        comparison = ", ".join(
            f"{row.method} {row.cv_log_loss:.5f}" for row in trained.calibration_comparison.itertuples()
        )
        lines.append(f"calibration: {trained.calibration['method']} (held-out log loss: {comparison})")
        lines.append(
            f"model: {int(facts['model.n_trees'])} trees (at most {trained.fitted.params['num_leaves']} leaves, "
            f"depth {trained.fitted.params['max_depth']}); exact SHAP {facts['model.shap_rows_per_second']:,.0f} rows/s "
            f"({facts['model.shap_rows_per_cpu_second']:,.0f} per CPU-second)"
        )
        if trained.training_summary is not None and len(trained.training_summary):
            total = trained.training_summary.iloc[-1]
            left_out = ", ".join(
                f"{column.removeprefix('n_').replace('_', ' ')} {int(total[column]):,}"
                for column in trained.training_summary.columns
                if column.startswith("n_") and column not in ("n_candidates", "n_rows", "n_positive")
            )
            lines.append(
                f"training set: {int(total['n_rows']):,} of {int(total['n_candidates']):,} candidate snapshots "
                f"({int(total['n_positive']):,} positive); left out: {left_out}"
            )
        split = trained.split_summary
        windows = "; ".join(
            f"{r.window} {r.n_leads:,} leads / {r.n_rows:,} rows ({r.n_rows_dropped_by_gap:,} dropped by gap)"
            for r in split.itertuples()
        )
        lines.append(f"split: {windows}")
        lines.append("grade cuts (calibrated p): " + ", ".join(f"{k} >= {v:.3f}" for k, v in trained.spec["grade_cuts"].items()))
        lines.append(f"gates: {'passed' if self.gate.passed else 'FAILED'}")
        lines.extend(f"  {'ok  ' if c.passed else 'FAIL'} {c.description}" for c in self.gate.checks)
        alias = f"alias {self.alias}" if self.alias else "no alias (failed a gate)"
        lines.append(f"run {self.run_id} in experiment {self.experiment}")
        lines.append(f"registered {self.model_name} version {self.model_version}: {alias}")
        return "\n".join(lines)


def default_horizon_days(target: str) -> int:
    """The contract's label horizon (``leadscore.features.building.labels``): SQO 90 days, WON 180 days."""
    from leadscore.features.building.labels import DEFAULT_HORIZON_DAYS

    if target not in DEFAULT_HORIZON_DAYS:
        raise LeadscoreError(f"unknown target {target!r}; use sqo or won.")
    return DEFAULT_HORIZON_DAYS[target]


def feature_list_hash(spec_features: list[dict]) -> str:
    """Digest of the model's inputs (names, kinds, categories in order): equal hashes, same inputs."""
    payload = [[f["name"], f["kind"], f.get("categories")] for f in spec_features]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def require_both_classes(frame: pd.DataFrame, window: str) -> None:
    n_positive = int(frame["label"].sum())
    if n_positive == 0 or n_positive == len(frame):
        raise LeadscoreError(
            f"training set: the {window} window has {n_positive} positive(s) among {len(frame)} snapshots; "
            "both outcomes are needed to train and judge a model (bring more history or change the split)."
        )


def add_rules_baseline(scored: pd.DataFrame, calibration_rows: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """``scored`` plus the rules' points (``rule_score``) and their probability map (``p_rules``)."""
    rule_score = test["rule_score"].astype("float64").to_numpy()
    p_rules = map_rule_scores(
        calibration_rows["rule_score"].astype("float64").to_numpy(), calibration_rows["label"].to_numpy(), rule_score
    )
    return scored.assign(rule_score=rule_score, p_rules=p_rules)


def measure_contributions(
    booster: object, encoded: pd.DataFrame, num_threads: int
) -> tuple[np.ndarray, float, float]:
    """Exact TreeSHAP contributions (LightGBM ``pred_contrib``) and what they cost.

    This is the cost serving pays per lead for exact reasons; it is measured on the trained model so a
    configuration that makes the model too big to explain shows up at training time.

    Returns
    -------
    contributions, rows_per_second, rows_per_cpu_second
        Wall-clock throughput with ``num_threads`` threads, and throughput per second of CPU time,
        which does not depend on how busy the machine is (``num_threads`` free cores give about
        ``num_threads`` times it).
    """
    started, started_cpu = time.perf_counter(), time.process_time()
    contributions = np.asarray(booster.predict(encoded, pred_contrib=True, num_threads=num_threads))
    elapsed = max(time.perf_counter() - started, 1e-9)
    elapsed_cpu = max(time.process_time() - started_cpu, 1e-9)
    return contributions, len(encoded) / elapsed, len(encoded) / elapsed_cpu


def fit_models(
    split_rows: pd.DataFrame,
    features: list[dict],
    target: str,
    horizon_days: int,
    config: TrainConfig,
    split_summary: pd.DataFrame,
    catalogue_hash: str = "",
    data_end: pd.Timestamp | None = None,
) -> TrainedModels:
    """Fit LightGBM and the logistic baseline, calibrate, derive grades and evaluate on the test window.

    Parameters
    ----------
    split_rows
        Output of :func:`leadscore.training.split.split_by_time`: labelled snapshots with ``window``. A
        ``rule_score`` column (points at each row's as_of) on the calibration and test windows adds the
        rules baseline; ``channel`` / ``region`` columns are used for slices.
    features
        Spec entries ``{name, kind, group, story}`` of the feature columns, in model order.
    """
    started = time.perf_counter()
    windows = {w: split_rows[split_rows["window"] == w].reset_index(drop=True) for w in WINDOWS}
    for window, frame in windows.items():
        require_both_classes(frame, window)
    train, validation, calibration_rows, test = (windows[w] for w in WINDOWS)

    spec_features = fix_feature_spec(train, features)
    fitted = fit_lightgbm(train, validation, spec_features, config.lightgbm, config.seed)
    logistic = fit_logistic(train, spec_features, config.logistic)
    fitted_at = time.perf_counter()

    margin_calibration = predict_margin(fitted.booster, calibration_rows, spec_features)
    calibration, comparison = select_calibration(
        margin_calibration, calibration_rows["label"].to_numpy(), calibration_rows["lead_id"], config.calibration, config.seed
    )
    grade_cuts = derive_grade_cuts(apply_calibration(calibration, margin_calibration), config.grades)

    margin_test = predict_margin(fitted.booster, test, spec_features)
    keep = ["lead_id", "as_of", "captured_at", "label"] + [c for c in ("channel", "region") if c in test.columns]
    scored = test.loc[:, keep].copy()
    scored["p_raw"] = sigmoid(margin_test)
    scored["p_model"] = apply_calibration(calibration, margin_test)
    scored["p_logistic"] = predict_logistic(logistic, test, spec_features)
    scorers = [Scorer("model", "p_model", "p_model"), Scorer("logistic", "p_logistic", "p_logistic")]
    if "rule_score" in test.columns:
        scored = add_rules_baseline(scored, calibration_rows, test)
        scorers.append(Scorer("rules", "rule_score", "p_rules"))
    evaluation = config.evaluation
    metrics = evaluate_scorers(
        scored, scorers, evaluation.capacity_fraction, evaluation.n_bootstrap, evaluation.ece_bins, config.seed
    )
    slices = evaluate_slices(scored, scorers, list(evaluation.slices))
    evaluated_at = time.perf_counter()

    booster = fitted.booster
    importance = pd.DataFrame(
        {
            "feature": booster.feature_name(),
            "gain": booster.feature_importance("gain"),
            "n_splits": booster.feature_importance("split"),
        }
    ).sort_values("gain", ascending=False, ignore_index=True)
    sample = test.sample(n=min(SHAP_SAMPLE_ROWS, len(test)), random_state=config.seed)
    shap_encoded = encode_features(sample, spec_features)
    contributions, shap_rows_per_second, shap_rows_per_cpu_second = measure_contributions(
        booster, shap_encoded, config.lightgbm.num_threads
    )

    spec = build_model_spec(
        target=target,
        horizon_days=horizon_days,
        offsets_days=list(config.training_set.offsets_days),
        features=spec_features,
        grade_cuts=grade_cuts,
        split_summary=split_summary,
        catalogue_hash=catalogue_hash,
        data_end=data_end,
        calibration_method=calibration["method"],
    )
    facts = {
        "model.n_trees": fitted.n_trees,
        "model.best_iteration": fitted.best_iteration,
        "model.validation_log_loss": fitted.validation_log_loss,
        "model.ece_uncalibrated": expected_calibration_error(test["label"].to_numpy(), scored["p_raw"].to_numpy(), evaluation.ece_bins),
        "model.shap_rows_per_second": shap_rows_per_second,
        "model.shap_rows_per_cpu_second": shap_rows_per_cpu_second,
        "seconds.fit": fitted_at - started,
        "seconds.evaluate": evaluated_at - fitted_at,
    }
    return TrainedModels(
        model=LeadscoreModel(spec=spec, calibration=calibration, booster=booster),
        calibration_comparison=comparison,
        fitted=fitted,
        logistic=logistic,
        scored=scored,
        scored_features=test,
        metrics=metrics,
        slices=slices,
        split_summary=split_summary,
        importance=importance,
        shap_contributions=contributions,
        shap_encoded=shap_encoded,
        window_frames=windows,
        facts=facts,
        facts_text={"feature_list_hash": feature_list_hash(spec_features)},
    )


def add_slice_columns(rows: pd.DataFrame, tables: Tables, slices: tuple[str, ...]) -> pd.DataFrame:
    """Add ``channel`` (from leads) and ``region`` (from the lead's account) where rows lack them.

    These are static attributes, not as_of-dependent, and are used only to slice evaluation.
    """
    out = rows
    if "channel" in slices and "channel" not in out.columns:
        channel = tables.leads.set_index("lead_id")["channel"]
        out = out.assign(channel=out["lead_id"].map(channel))
    if "region" in slices and "region" not in out.columns:
        account = out["lead_id"].map(tables.leads.set_index("lead_id")["account_id"])
        region = tables.accounts.drop_duplicates("account_id").set_index("account_id")["region"]
        out = out.assign(region=account.map(region))
    return out


def add_rule_scores(rows: pd.DataFrame, tables: Tables, rules_path: str | None, windows: tuple[str, ...]) -> pd.DataFrame:
    """Add ``rule_score`` (the marketing points at each row's as_of) to the rows of ``windows``."""
    from leadscore.features.rules import load_rules, score_rules

    part = rows["window"].isin(windows)
    spine = rows.loc[part, ["lead_id", "as_of"]].drop_duplicates(ignore_index=True)
    scores = score_rules(tables, spine, load_rules(rules_path))
    scores = scores.loc[:, ["lead_id", "as_of", "rule_score"]].drop_duplicates(["lead_id", "as_of"])
    out = rows.merge(scores, on=["lead_id", "as_of"], how="left", validate="many_to_one")
    n_missing = int(out.loc[part.to_numpy(), "rule_score"].isna().sum())
    if n_missing:
        log.warning("rules: %d snapshot(s) got no rule score; they rank last for the rules baseline", n_missing)
    return out


def build_and_split(
    tables: Tables, target: str, config: TrainConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """Training set for ``target``, split by time, with rule scores and slice columns.

    Returns
    -------
    split_rows, split_summary, training_summary, horizon_days
    """
    from leadscore.features.building.labels import build_training_set

    horizon_days = config.training_set.horizon_days or default_horizon_days(target)
    features, _ = model_features(tables, config)
    rows, training_summary = build_training_set(
        tables, target, offsets_days=tuple(config.training_set.offsets_days), horizon_days=horizon_days,
        own=[f for f in features if "source" in f],
    )
    split_rows, split_summary = split_by_time(rows, horizon_days, config.split)
    split_rows = add_rule_scores(split_rows, tables, config.rules_path, ("calibration", "test"))
    split_rows = add_slice_columns(split_rows, tables, tuple(config.evaluation.slices))
    return split_rows, split_summary, training_summary, horizon_days


def model_features(tables: Tables, config: TrainConfig) -> tuple[list[dict], str]:
    """Spec entries of the features a model may use, and the catalogue hash.

    The catalogue's built-ins less those ``config.features.exclude`` names (or whose group it names),
    then the export's usable own columns unless ``config.features.own_columns`` is off.
    """
    from leadscore.features.building.catalogue import CATALOGUE, catalogue_hash
    from leadscore.features.building.own import GROUP, own_feature_specs

    dropped = set(config.features.exclude)
    features = [
        {"name": f.name, "kind": f.kind, "group": f.group, "story": f.story}
        for f in CATALOGUE if f.name not in dropped and f.group not in dropped
    ]
    if config.features.own_columns and GROUP not in dropped:
        features += own_feature_specs(tables)
    return features, catalogue_hash()


def train_model(
    tables: Tables,
    target: str,
    config: TrainConfig,
    experiment: str,
    lineage: dict[str, str] | None = None,
) -> TrainResult:
    """Train, evaluate, log, register and gate one model for ``target`` on the export in ``tables``.

    The MLflow store must already be configured (``leadscore.tracking.configure_tracking``).

    Parameters
    ----------
    tables
        The export in contract form.
    target
        ``sqo`` or ``won``.
    config
        Training configuration (``leadscore.training.config.load_config``).
    experiment
        MLflow experiment name, e.g. ``leadscore-sqo``.
    lineage
        Where the data came from, kept as run tags (see ``leadscore.training.tracking.log_training_run``).
    """
    started = time.perf_counter()
    split_rows, split_summary, training_summary, horizon_days = build_and_split(tables, target, config)
    built_at = time.perf_counter()
    features, hash_ = model_features(tables, config)
    trained = fit_models(split_rows, features, target, horizon_days, config, split_summary, hash_, tables.data_end)
    trained.training_summary = training_summary
    trained.facts["seconds.build_training_set"] = built_at - started
    gate = apply_gates(trained.metrics, config.gates)
    run_id, version = log_training_run(trained, config, experiment, lineage)
    name = registered_model_name(target)
    alias = assign_alias(name, version, gate)
    return TrainResult(
        target=target,
        experiment=experiment,
        run_id=run_id,
        model_name=name,
        model_version=version,
        alias=alias,
        gate=gate,
        trained=trained,
    )
