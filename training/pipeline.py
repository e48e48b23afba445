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
from leadscore.features.progress import Progress
from leadscore.features.reading.mapping import CALENDAR_FEATURES
from leadscore.features.tables import Tables
from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.scorers.model.calibration import sigmoid
from leadscore.training.audit import AuditResult, audit_features, format_audit
from leadscore.training.calibration import map_rule_scores
from leadscore.training.candidates import KINDS, choose_serving, fit_candidates
from leadscore.training.config import TrainConfig
from leadscore.training.fit import fix_feature_spec
from leadscore.training.metrics import (
    Scorer,
    at_moments,
    evaluate_by_offset,
    evaluate_scorers,
    evaluate_slices,
    expected_calibration_error,
    format_by_offset,
    format_metrics,
    roc_auc,
)
from leadscore.training.refit import refit_on_all
from leadscore.training.registry import GateDecision, apply_gates, assign_alias
from leadscore.training.spec import build_model_spec, derive_grade_cuts, with_audit_notes
from leadscore.training.split import WINDOWS, split_by_time
from leadscore.training.tracking import log_training_run, registered_model_name
from leadscore.training.trained import TrainedModels

log = logging.getLogger(__name__)

SHAP_SAMPLE_ROWS = 5000
# The steps train_model reports (the command adds one before them: reading the export).
TRAIN_STEPS = 7


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
    alias_note: str = ""

    @property
    def metrics(self) -> pd.DataFrame:
        return self.trained.metrics

    def summary(self) -> str:
        """What the command line prints: the headline at the moment of scoring first, then how it was made."""
        trained = self.trained
        facts = trained.facts
        spec = trained.spec
        moment = moment_words(spec.get("moments_days", [0]))
        lines = [f"model that serves: {trained.serving_reason}"]
        if spec.get("refit"):
            lines.append(f"  refit on all {int(facts.get('refit.n_rows', 0)):,} labelled snapshots after evaluation "
                         f"(mean |change in p| on the test window {facts.get('refit.mean_abs_p_change_test', 0):.4f}); "
                         "the figures below are the held-out evaluation's")
        lines += [format_metrics(trained.metrics, moment), "", format_by_offset(trained.metrics_by_offset), ""]
        if trained.audit is not None:
            lines += [format_audit(trained.audit), ""]
        comparison = ", ".join(f"{row.method} {row.cv_log_loss:.5f}" for row in trained.calibration_comparison.itertuples())
        lines.append(f"calibration: {trained.calibration['method']} (held-out log loss: {comparison})")
        lines.append(f"model: {trained.model.size}; exact contributions {facts['model.shap_rows_per_second']:,.0f} rows/s "
                     f"({facts['model.shap_rows_per_cpu_second']:,.0f} per CPU-second)")
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
            if trained.training_summary.attrs.get("note"):
                lines.append(f"  {trained.training_summary.attrs['note']}")
        split = trained.split_summary
        plan = split.attrs.get("plan_description")
        if plan:
            lines.append(f"split: {plan} ({split.attrs.get('why')})")
        windows = "; ".join(
            f"{r.window} {r.n_leads:,} leads / {r.n_rows:,} rows / {r.n_positive:,} positive "
            f"({r.n_rows_dropped_by_gap:,} dropped by gap)"
            for r in split.itertuples()
        )
        lines.append(f"windows: {windows}")
        lines.append("grade cuts (calibrated p): " + ", ".join(f"{k} >= {v:.4f}" for k, v in spec["grade_cuts"].items()))
        failed = [c for c in self.gate.checks if not c.passed]
        lines.append(f"gates {moment}: " + ("passed" if self.gate.passed else f"FAILED ({len(failed)} of {len(self.gate.checks)})"))
        lines.extend(f"  {'ok  ' if c.passed else 'FAIL'} {c.description}" for c in self.gate.checks)
        lines.append(f"run {self.run_id} in experiment {self.experiment}")
        if self.alias:
            note = f" ({self.alias_note})" if self.alias_note else ""
            lines.append(f"registered {self.model_name} version {self.model_version}: alias {self.alias}{note}")
        elif self.gate.passed:
            lines.append(f"registered {self.model_name} version {self.model_version} without an alias: "
                         f"{self.alias_note}")
        else:
            lines.append(f"registered {self.model_name} version {self.model_version} without an alias: it failed a gate, "
                         "so it serves nowhere (force it with "
                         f"`leadscore promote --target {self.target} --version {self.model_version} --force`)")
        return "\n".join(lines)


def moment_words(moments_days: tuple[int, ...] | list[int]) -> str:
    """The scoring moments in words: "at capture", "at 7 days", "at capture and 7 days"."""
    words = ["capture" if m == 0 else f"{m} days" for m in moments_days]
    return "at " + " and ".join(words)


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


def measure_contributions(model: LeadscoreModel, sample: pd.DataFrame) -> tuple[np.ndarray, float, float]:
    """The serving model's exact contributions for ``sample`` (features then the base value), and their cost.

    This is the cost serving pays per lead for exact reasons; it is measured on the trained model so a
    configuration that makes the model too big to explain shows up at training time.

    Returns
    -------
    contributions, rows_per_second, rows_per_cpu_second
        Wall-clock throughput, and throughput per second of CPU time, which does not depend on how busy
        the machine is.
    """
    started, started_cpu = time.perf_counter(), time.process_time()
    explained = model.explain(sample)
    elapsed = max(time.perf_counter() - started, 1e-9)
    elapsed_cpu = max(time.process_time() - started_cpu, 1e-9)
    contributions = np.column_stack([explained.values, np.full(len(sample), explained.base_value)])
    return contributions, len(sample) / elapsed, len(sample) / elapsed_cpu


def fit_models(
    split_rows: pd.DataFrame,
    features: list[dict],
    target: str,
    horizon_days: int,
    config: TrainConfig,
    split_summary: pd.DataFrame,
    catalogue_hash: str = "",
    data_end: pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> TrainedModels:
    """Fit both candidates, calibrate, pick the one that serves, evaluate at the moment of scoring, refit.

    Parameters
    ----------
    split_rows
        Output of :func:`leadscore.training.split.split_by_time`: labelled snapshots with ``window``
        and ``offset_days``. A ``rule_score`` column (points at each row's as_of) on the calibration and
        test windows adds the rules baseline; ``channel`` / ``region`` columns are used for slices.
    features
        Spec entries ``{name, kind, group, story, ...}`` of the feature columns, in model order.
    progress
        Where to report each step (default: nowhere).
    """
    progress = progress or Progress.off()
    started = time.perf_counter()
    windows = {w: split_rows[split_rows["window"] == w].reset_index(drop=True) for w in WINDOWS}
    for window, frame in windows.items():
        require_both_classes(frame, window)
    train, calibration_rows, test = windows["train"], windows["calibration"], windows["test"]

    spec_features = fix_feature_spec(train, features)
    progress.step(f"fitting LightGBM and logistic regression on {len(train):,} snapshots, then calibrating")
    candidates = fit_candidates(windows, spec_features, config)
    kind, reason = choose_serving(candidates, config)
    serving, other = candidates[kind], candidates[next(k for k in KINDS if k != kind)]
    fitted_at = time.perf_counter()

    progress.step(f"evaluating on the test window ({len(test):,} snapshots, {config.evaluation.n_bootstrap} bootstraps)")
    keep = ["lead_id", "as_of", "captured_at", "offset_days", "label"] + [c for c in ("channel", "region") if c in test]
    scored = test.loc[:, [c for c in keep if c in test.columns]].copy()
    margin_test = serving.model.margin(test)
    scored["p_raw"] = sigmoid(margin_test)
    scored["p_model"] = serving.model.calibrate(margin_test)
    scored[f"p_{other.kind}"] = other.p(test)
    scorers = [Scorer("model", "p_model", "p_model"), Scorer(other.kind, f"p_{other.kind}", f"p_{other.kind}")]
    if "rule_score" in test.columns:
        scored = add_rules_baseline(scored, calibration_rows, test)
        scorers.append(Scorer("rules", "rule_score", "p_rules"))
    evaluation = config.evaluation
    headline = at_moments(scored, evaluation.moments_days)
    if headline["label"].nunique() < 2:
        raise LeadscoreError(
            f"training set: the test window has {int(headline['label'].sum())} positive(s) among {len(headline)} "
            f"snapshots at the scoring moments {list(evaluation.moments_days)} (days after capture); both outcomes "
            "are needed to judge the model where it is used."
        )
    metrics = evaluate_scorers(headline, scorers, evaluation.capacity_fraction, evaluation.n_bootstrap,
                               evaluation.ece_bins, config.seed)
    by_offset = evaluate_by_offset(scored, scorers, evaluation.ece_bins)
    slices = evaluate_slices(headline, scorers, list(evaluation.slices))
    held_out = held_out_rows(serving.model, at_moments(test, evaluation.moments_days), headline)
    calibration_at = at_moments(calibration_rows, evaluation.moments_days)
    grade_cuts = derive_grade_cuts(serving.p(calibration_at if len(calibration_at) else calibration_rows), config.grades)
    evaluated_at = time.perf_counter()

    progress.step("measuring exact SHAP reasons" + (" and refitting on all labelled data" if config.model.refit else ""))
    sample = test.sample(n=min(SHAP_SAMPLE_ROWS, len(test)), random_state=config.seed).reset_index(drop=True)
    contributions, shap_rows_per_second, shap_rows_per_cpu_second = measure_contributions(serving.model, sample)
    importance = pd.DataFrame({"feature": serving.model.feature_names,
                               "mean_abs_contribution": np.abs(contributions[:, :-1]).mean(axis=0)}).sort_values(
        "mean_abs_contribution", ascending=False, ignore_index=True)

    model, refit = serving.model, {}
    if config.model.refit:
        all_rows = split_rows.reset_index(drop=True)
        model, grade_cuts, out_of_fold = refit_on_all(
            all_rows, features, kind, serving.model.calibration["method"],
            candidates["lightgbm"].fitted.best_iteration, config)
        refit_test = at_moments(scored.assign(p_refit=model.predict(test)), evaluation.moments_days)
        refit = {"refit.n_rows": len(all_rows),
                 "refit.mean_abs_p_change_test": float(np.mean(np.abs(refit_test["p_refit"] - refit_test["p_model"]))),
                 "refit.test_roc_auc_in_sample": roc_auc(refit_test["label"].to_numpy(), refit_test["p_refit"].to_numpy())}
    spec = build_model_spec(
        target=target,
        horizon_days=horizon_days,
        offsets_days=list(config.training_set.offsets_days),
        features=model.spec_features,
        grade_cuts=grade_cuts,
        split_summary=split_summary,
        catalogue_hash=catalogue_hash,
        data_end=data_end,
        calibration_method=model.calibration["method"],
    )
    # the leads the model that serves learnt from end here: all labelled leads after a refit, else the
    # calibration window (the test window stays held out)
    learnt_from = split_rows if config.model.refit else split_rows[split_rows["window"] != "test"]
    spec.update(model_kind=kind, moments_days=list(evaluation.moments_days), refit=bool(config.model.refit),
                trained_on_captured_to=_iso_max(learnt_from["captured_at"]))
    fitted = candidates["lightgbm"].fitted
    facts = {
        "model.n_trees": fitted.n_trees,
        "model.best_iteration": fitted.best_iteration,
        "model.validation_log_loss.lightgbm": candidates["lightgbm"].validation_log_loss,
        "model.validation_log_loss.logistic": candidates["logistic"].validation_log_loss,
        "model.ece_uncalibrated": expected_calibration_error(headline["label"].to_numpy(), headline["p_raw"].to_numpy(),
                                                             evaluation.ece_bins),
        "model.shap_rows_per_second": shap_rows_per_second,
        "model.shap_rows_per_cpu_second": shap_rows_per_cpu_second,
        "seconds.fit": fitted_at - started,
        "seconds.evaluate": evaluated_at - fitted_at,
        "seconds.refit": time.perf_counter() - evaluated_at,
        **refit,
    }
    return TrainedModels(
        model=LeadscoreModel(spec=spec, calibration=model.calibration, booster=model.booster, linear=model.linear,
                             held_out=held_out),
        serving_kind=kind,
        serving_reason=reason,
        candidates=candidates,
        calibration_comparison=serving.calibration_comparison,
        fitted=fitted,
        scored=scored,
        scored_features=test,
        metrics=metrics,
        metrics_by_offset=by_offset,
        slices=slices,
        split_summary=split_summary,
        importance=importance,
        shap_contributions=contributions,
        shap_encoded=serving.model.encode(sample),
        window_frames=windows,
        facts=facts,
        facts_text={"feature_list_hash": feature_list_hash(model.spec_features)},
    )


def held_out_rows(model: LeadscoreModel, features: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The test window at the scoring moment as the evaluated model saw it: outcome, p, reasons, rule points.

    Kept with the model (``held_out.csv``) so the report can judge a model refit on all data against the
    rules on leads it did not train on, with the evaluated model's own reasons.
    """
    from leadscore.scorers.model.reasons import phrase_reasons

    reasons = phrase_reasons(features, model.explain(features).values, model.spec_features)
    out = pd.DataFrame({
        "lead_id": scored["lead_id"].astype("str").to_numpy(),
        "as_of": scored["as_of"].to_numpy(),
        "label": scored["label"].astype("int64").to_numpy(),
        "p": scored["p_model"].to_numpy(),
        "reasons_positive": reasons["reasons_positive"].to_numpy(),
        "reasons_negative": reasons["reasons_negative"].to_numpy(),
    })
    if "rule_score" in scored:
        out["rule_score"] = scored["rule_score"].to_numpy()
    return out


def _iso_max(values: pd.Series) -> str | None:
    latest = values.max()
    return None if pd.isna(latest) else pd.Timestamp(latest).isoformat()


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
    from leadscore.scorers.rules import load_rules, score_rules

    part = rows["window"].isin(windows)
    spine = rows.loc[part, ["lead_id", "as_of"]].drop_duplicates(ignore_index=True)
    scores = score_rules(tables, spine, load_rules(rules_path))
    scores = scores.loc[:, ["lead_id", "as_of", "rule_score"]].drop_duplicates(["lead_id", "as_of"])
    out = rows.merge(scores, on=["lead_id", "as_of"], how="left", validate="many_to_one")
    n_missing = int(out.loc[part.to_numpy(), "rule_score"].isna().sum())
    if n_missing:
        log.warning("rules: %d snapshot(s) got no rule score; they rank last for the rules baseline", n_missing)
    return out


@dataclass
class PreparedData:
    """A training set audited and split: what :func:`fit_models` needs, and what it says about the data.

    Attributes
    ----------
    split_rows, split_summary, training_summary
        The labelled snapshots with their window, the split's counts (``attrs``: the plan and why), and
        the training set's counts per offset (``attrs["note"]``: at-capture only, and why).
    horizon_days
        The label horizon.
    features
        Spec entries of the features the model may use after the audit.
    audit
        The leakage audit of every candidate (``None`` when not run).
    """

    split_rows: pd.DataFrame
    split_summary: pd.DataFrame
    training_summary: pd.DataFrame
    horizon_days: int
    features: list[dict]
    audit: AuditResult | None


def prepare_training_data(tables: Tables, target: str, config: TrainConfig, audit: bool = True,
                          progress: Progress | None = None) -> PreparedData:
    """Training set for ``target``, audited for leaks, split by time, with rule scores and slice columns."""
    from leadscore.features.building.labels import build_training_set

    progress = progress or Progress.off()
    progress.step(f"building the {target} training set from {len(tables.leads):,} leads")
    horizon_days = config.training_set.horizon_days or default_horizon_days(target)
    features, _ = model_features(tables, config)
    rows, training_summary = build_training_set(
        tables, target, offsets_days=tuple(config.training_set.offsets_days), horizon_days=horizon_days,
        own=[f for f in features if "source" in f],
    )
    progress.step(f"auditing {len(features)} candidate features for leaks")
    result = None
    if audit and len(rows):
        result = audit_features(rows, features, tables, config.audit, config.seed)
        features = with_audit_notes([f for f in features if f["name"] not in set(result.dropped)], result)
        if result.dropped:
            left_out = result.table.loc[~result.table["used"].astype(bool), "column"]
            log.warning("the leakage audit left out %s (why: the audit printed with the results)", ", ".join(left_out))
    progress.step("splitting by time and scoring the rules baseline")
    split_rows, split_summary = split_by_time(rows, horizon_days, config.split)
    split_rows = add_rule_scores(split_rows, tables, config.rules_path, ("calibration", "test"))
    split_rows = add_slice_columns(split_rows, tables, tuple(config.evaluation.slices))
    return PreparedData(split_rows, split_summary, training_summary, horizon_days, features, result)


def model_features(tables: Tables, config: TrainConfig) -> tuple[list[dict], str]:
    """Spec entries of the features a model may use, and the catalogue hash.

    The catalogue's built-ins less those ``config.features.exclude`` names (or whose group it names) and
    the calendar features the mapping file excludes (``features.exclude: [capture_month]``: its capture
    times were built from a post-contact date), then the export's usable own columns unless
    ``config.features.own_columns`` is off.
    """
    from leadscore.features.building.catalogue import CATALOGUE, catalogue_hash
    from leadscore.features.building.own import GROUP, own_feature_specs

    dropped = set(config.features.exclude)
    for note in tables.column_notes.values():  # the mapping may leave out a calendar feature built from its dates
        dropped |= set(note.excluded) & set(CALENDAR_FEATURES)
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
    progress: Progress | None = None,
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
    progress
        Where to report each of the :data:`TRAIN_STEPS` steps (``leadscore train`` passes one).
    """
    started = time.perf_counter()
    data = prepare_training_data(tables, target, config, progress=progress)
    built_at = time.perf_counter()
    _, hash_ = model_features(tables, config)
    trained = fit_models(data.split_rows, data.features, target, data.horizon_days, config, data.split_summary, hash_,
                         tables.data_end, progress)
    trained.training_summary = data.training_summary
    trained.audit = data.audit
    if data.audit is not None:
        trained.model.spec["audit"] = data.audit.records()
    trained.facts["seconds.build_training_set"] = built_at - started
    gate = apply_gates(trained.metrics, config.gates, moment_words(config.evaluation.moments_days))
    run_id, version = log_training_run(trained, config, experiment, lineage, progress)
    name = registered_model_name(target)
    assignment = assign_alias(name, version, gate)
    return TrainResult(
        target=target,
        experiment=experiment,
        run_id=run_id,
        model_name=name,
        model_version=version,
        alias=assignment.alias,
        gate=gate,
        trained=trained,
        alias_note=assignment.note,
    )
