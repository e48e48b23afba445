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
from leadscore.scorers.model.answer import chained_probability
from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.scorers.model.calibration import sigmoid
from leadscore.scorers.monitoring.reference import TrainingReference, reference_from_export
from leadscore.training.audit import AuditResult, audit_features, format_audit
from leadscore.training.calibration import map_rule_scores
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
from leadscore.training.registry import GateDecision, apply_gates, assign_alias
from leadscore.training.spec import build_model_spec, derive_grade_cuts, with_audit_notes
from leadscore.training.split import Split, split_by_time
from leadscore.training.stage import MIN_PAST_ROWS, Stage, fit_stage, refit_stage
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
        lines = [f"model that serves: {trained.serving_reason}", *trained.chain_lines]
        lines += [f"  note: {note}" for note in trained.notes]
        if spec.get("refit"):
            lines.append(f"  refit on all {int(facts.get('refit.n_rows', 0)):,} labelled snapshots after evaluation "
                         f"(mean |change in p| on the test window {facts.get('refit.mean_abs_p_change_test', 0):.4f}); "
                         "the figures below are the held-out evaluation's")
        lines += [format_metrics(trained.metrics, moment)]
        if trained.metrics.attrs.get("floor"):
            lines.append(f"  floor: {trained.metrics.attrs['floor']} (the rules give (almost) every lead the same points "
                         "and rank no better than chance, so beating them is no evidence: the model is judged against "
                         "this floor instead)")
        lines += ["", format_by_offset(trained.metrics_by_offset), ""]
        if trained.audit is not None:
            lines += [format_audit(trained.audit), ""]
        comparison = ", ".join(f"{row.method} {row.cv_log_loss:.5f}" for row in trained.calibration_comparison.itertuples())
        lines.append(f"calibration: {trained.calibration['method']}, fitted on the out-of-fold predictions "
                     f"(held-out log loss: {comparison or 'nothing to calibrate'})")
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
        lines.append(f"blocks: {windows}")
        lines.append("grade cuts (calibrated p, from out-of-fold probabilities): "
                     + ", ".join(f"{k} >= {v:.4f}" for k, v in spec["grade_cuts"].items()))
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


def add_rules_baseline(scored: pd.DataFrame, reference: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """``scored`` plus the rules' points (``rule_score``) and their probability map (``p_rules``).

    The map (isotonic, so it keeps the rules' ranking) is fitted on ``reference``: development rows at
    the scoring moments, which the test window's leads are not among.
    """
    rule_score = test["rule_score"].astype("float64").to_numpy()
    known = reference[reference["rule_score"].notna()]
    p_rules = map_rule_scores(known["rule_score"].astype("float64").to_numpy(), known["label"].to_numpy(), rule_score)
    return scored.assign(rule_score=rule_score, p_rules=p_rules)


def rules_rank_nothing(headline: pd.DataFrame, metrics: pd.DataFrame) -> bool:
    """Whether beating the rules would be no evidence: they give every lead the same points, or their AUC's
    95% interval reaches 0.5 (a flat export where a rule fires for a few leads only)."""
    if headline["rule_score"].dropna().nunique() <= 1:
        return True
    rules = metrics.loc["rules"]
    low = rules.get("roc_auc_ci_low")
    return bool((low if low is not None and pd.notna(low) else rules["roc_auc"]) <= 0.5)


def fit_floor(development: pd.DataFrame, test: pd.DataFrame, features: list[dict], config: TrainConfig
              ) -> tuple[np.ndarray, str] | None:
    """A floor that ranks when the rules cannot: a logistic regression on the columns known at capture.

    Fitted on the development rows at the scoring moments (fit, persona, acquisition and the export's
    own columns; no engagement or funnel history), it is what any model should at least match. Returns
    its probabilities on ``test`` and its description, or ``None`` when no such column is used.
    """
    from leadscore.training.fit import fit_logistic

    chosen = [f for f in features if f.get("group") in CAPTURE_TIME_GROUPS and f["name"] != "lead_age_days"]
    rows = at_moments(development, config.evaluation.moments_days)
    if not chosen or rows["label"].nunique() < 2:
        return None
    spec = fix_feature_spec(rows, chosen)
    floor = LeadscoreModel(spec={"features": spec}, calibration={"method": "none"},
                           linear=fit_logistic(rows, spec, config.logistic))
    return floor.predict(test), f"a logistic regression on the {len(spec)} columns known at capture"


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


def _moment_mask(rows: pd.DataFrame, moments: tuple[int, ...]) -> np.ndarray:
    if "offset_days" not in rows.columns:
        return np.ones(len(rows), dtype=bool)
    return rows["offset_days"].isin(list(moments)).to_numpy()


def _at_sqo(rows: pd.DataFrame) -> np.ndarray:
    return rows["at_sqo"].to_numpy(dtype=bool) if "at_sqo" in rows.columns else np.zeros(len(rows), dtype=bool)


@dataclass
class Chain:
    """How a WON model's probability is made: p_win = p_sqo × q (see ``leadscore.scorers.model.answer``).

    Attributes
    ----------
    sqo
        The SQO link, chosen and fitted over the folds on the WON training set's open rows.
    sqo_horizon_days
        The SQO horizon q is conditional on.
    covers_past_sqo
        Whether q is calibrated for leads already at SQO (its ``past_sqo`` map), so the scorer gives an open
        opportunity its chance of winning.
    learns_past_sqo
        Whether q learnt from leads already at SQO (enough of their snapshots).
    """

    sqo: Stage
    sqo_horizon_days: int
    covers_past_sqo: bool
    learns_past_sqo: bool = False

    def spec(self, stage: Stage, horizon_days: int) -> dict:
        """The model spec's ``chain`` entry."""
        out = {
            "given": "sqo",
            "sqo_horizon_days": int(self.sqo_horizon_days),
            "covers_past_sqo": bool(self.covers_past_sqo),
            "q": stage.kind,
            "meaning": (f"q = P(first WON within {horizon_days} days | SQO within {self.sqo_horizon_days} days, or "
                        f"already at SQO); p_win = p_sqo x q"),
        }
        if stage.constant is not None:
            out["why"] = stage.reason
        return out


def chain_words(chain: Chain | None, stage: Stage, horizon_days: int) -> list[str]:
    """What the chain is, in the train summary's words."""
    if chain is None:
        return []
    lines = [f"p_win = p_sqo x q, q = P(win within {horizon_days} days | SQO within {chain.sqo_horizon_days} days): "
             "p_win <= p_sqo for every lead, both calibrated"]
    if stage.constant is not None:
        lines.append(f"  q is 1: {stage.reason} (an export that records only WON counts a win as its SQO), so p_win = "
                     f"p_sqo: the chance of a win within {min(horizon_days, chain.sqo_horizon_days)} days")
    lines.append(f"  the SQO link: {chain.sqo.summary()}")
    if chain.covers_past_sqo:
        past = "p_win is q calibrated on open opportunities (their out-of-fold predictions)"
    elif stage.constant is not None:
        past = "no p_win (every SQO is a win here: a lead at SQO has already won)"
    elif not chain.learns_past_sqo:
        past = f"no p_win (fewer than {MIN_PAST_SQO_ROWS} snapshots of open opportunities to learn from)"
    else:
        past = f"no p_win (fewer than {MIN_PAST_ROWS} out-of-fold predictions of open opportunities with both outcomes)"
    lines.append(f"  leads already at SQO: {past}")
    return lines


# Feature groups known when a lead is captured: the ranking floor's columns (fit_floor).
CAPTURE_TIME_GROUPS = ("fit", "persona", "acquisition", "export")
# Fewer rows of leads already at SQO and q does not cover them.
MIN_PAST_SQO_ROWS = 20


def fit_models(
    split: Split,
    features: list[dict],
    target: str,
    horizon_days: int,
    config: TrainConfig,
    catalogue_hash: str = "",
    data_end: pd.Timestamp | None = None,
    progress: Progress | None = None,
    labelled: pd.DataFrame | None = None,
    sqo_horizon_days: int | None = None,
) -> TrainedModels:
    """Choose and fit over the folds, evaluate on the test window at the moment of scoring, refit on all.

    Parameters
    ----------
    split
        :func:`leadscore.training.split.split_by_time`'s split: labelled snapshots with ``window``,
        ``fold`` and ``offset_days``. A ``rule_score`` column (points at each row's as_of) on the
        development rows at the scoring moments and the test window adds the rules baseline;
        ``channel`` / ``region`` columns are used for slices. For ``won``, ``reached_sqo`` and ``at_sqo``
        (``leadscore.features.building.labels``) make the chain.
    features
        Spec entries ``{name, kind, group, story, ...}`` of the feature columns, in model order.
    labelled
        Every labelled snapshot, those the test gap dropped included: what the refit learns from
        (default: the split's rows).
    sqo_horizon_days
        For ``won``: the SQO horizon of the chain (default 90).
    progress
        Where to report each step (default: nowhere).
    """
    progress = progress or Progress.off()
    started = time.perf_counter()
    evaluation = config.evaluation
    moments = tuple(evaluation.moments_days)
    development, test = split.development, split.test
    require_both_classes(test, "test")
    dev_moment = _moment_mask(development, moments)
    dev_at_sqo = _at_sqo(development)
    chained = target == "won"
    progress.step(f"fitting LightGBM and logistic regression on {len(split.folds.numbers)} rolling-origin folds of "
                  f"{len(development):,} snapshots, calibrating out of fold")
    chain = None
    if chained:
        sqo_horizon = sqo_horizon_days or default_horizon_days("sqo")
        sqo_stage = fit_stage("SQO", development, split.folds, features, config, label="reached_sqo",
                              population=~dev_at_sqo, judged=dev_moment)
        population = development["reached_sqo"].to_numpy() == 1
        learns_past_sqo = int((population & dev_at_sqo).sum()) >= MIN_PAST_SQO_ROWS
        if not learns_past_sqo:
            population &= ~dev_at_sqo
        # q is chosen and calibrated where the product is used (the scoring moments); for leads already at
        # SQO it gets a map of its own, learnt on their out-of-fold predictions, when there are enough
        stage = fit_stage("a win given SQO", development, split.folds, features, config, population=population,
                          judged=dev_moment, base_rate=True, past=population & dev_at_sqo)
        chain = Chain(sqo_stage, sqo_horizon, "past_sqo" in stage.model.calibration, learns_past_sqo)
    else:
        stage = fit_stage(target.upper(), development, split.folds, features, config, judged=dev_moment)
    kind = stage.kind
    others = [k for k in stage.kinds if k != kind]
    fitted_at = time.perf_counter()

    progress.step(f"evaluating on the test window ({len(test):,} snapshots, {evaluation.n_bootstrap} bootstraps)")
    keep = ["lead_id", "as_of", "captured_at", "offset_days", "label"] + [c for c in ("channel", "region") if c in test]
    scored = test.loc[:, [c for c in keep if c in test.columns]].copy()
    test_at_sqo = _at_sqo(test)
    model = stage.model
    if chain is not None:
        p_sqo_test = chain.sqo.p(test)
        model = LeadscoreModel(spec={**model.spec, "chain": chain.spec(stage, horizon_days)},
                               calibration=model.calibration, booster=model.booster, linear=model.linear,
                               stage=chain.sqo.model)

        def p_of(kind_: str | None = None) -> np.ndarray:
            q_model = stage.kinds[kind_ or stage.kind].model if stage.kinds else stage.model
            margin = q_model.margin(test)
            return chained_probability(model, q_model.calibrate(margin), p_sqo_test, test_at_sqo,
                                       q_model.calibrate_past_sqo(margin))
    else:
        def p_of(kind_: str | None = None) -> np.ndarray:
            return stage.p(test, kind_)
    scored["p_raw"] = sigmoid(model.margin(test))
    scored["p_model"] = p_of()
    scorers = [Scorer("model", "p_model", "p_model")]
    for other in others:
        scored[f"p_{other}"] = p_of(other)
        scorers.append(Scorer(other, f"p_{other}", f"p_{other}"))
    headline_mask = _moment_mask(test, moments)
    floor_note = ""
    if "rule_score" in test.columns:
        reference = development[dev_moment & ~dev_at_sqo]
        scored = add_rules_baseline(scored, reference, test)
        scorers.append(Scorer("rules", "rule_score", "p_rules"))
        floor = fit_floor(development[~dev_at_sqo], test, features, config)
        if floor is not None:
            scored["p_floor"], floor_note = floor
            scorers.append(Scorer("floor", "p_floor", "p_floor"))
    headline = at_moments(scored, moments)
    if headline["label"].nunique() < 2:
        raise LeadscoreError(
            f"training set: the test window has {int(headline['label'].sum())} positive(s) among {len(headline)} "
            f"snapshots at the scoring moments {list(moments)} (days after capture); both outcomes "
            "are needed to judge the model where it is used."
        )
    metrics = evaluate_scorers(headline, scorers, evaluation.capacity_fraction, evaluation.n_bootstrap,
                               evaluation.ece_bins, config.seed)
    if floor_note and not rules_rank_nothing(headline, metrics):
        # the rules rank: they are the baseline, and the floor is left out of the figures
        scorers = [s for s in scorers if s.name != "floor"]
        metrics = metrics.drop(index="floor").drop(columns=[c for c in metrics.columns if "_over_floor" in c])
        scored, headline, floor_note = scored.drop(columns="p_floor"), headline.drop(columns="p_floor"), ""
    metrics.attrs["floor"] = floor_note
    by_offset = evaluate_by_offset(scored, scorers, evaluation.ece_bins)
    slices = evaluate_slices(headline, scorers, list(evaluation.slices))
    held_out = held_out_rows(model, at_moments(test, moments), headline, test_at_sqo[headline_mask])
    evaluated_at = time.perf_counter()

    progress.step("measuring exact SHAP reasons" + (" and refitting on all labelled data" if config.model.refit else ""))
    sample = test.sample(n=min(SHAP_SAMPLE_ROWS, len(test)), random_state=config.seed).reset_index(drop=True)
    contributions, shap_rows_per_second, shap_rows_per_cpu_second = measure_contributions(model, sample)
    importance = pd.DataFrame({"feature": model.feature_names,
                               "mean_abs_contribution": np.abs(contributions[:, :-1]).mean(axis=0)}).sort_values(
        "mean_abs_contribution", ascending=False, ignore_index=True)

    # grade cuts: out-of-fold probabilities at the scoring moments (and the test window's, with a refit)
    oof_p = stage.oof_p()
    if chain is not None:
        oof_p = np.where(dev_at_sqo, np.nan, chain.sqo.oof_p() * oof_p)
    graded = oof_p[dev_moment & ~np.isnan(oof_p)]
    if not len(graded):
        graded = model.predict(at_moments(development, moments)) if chain is None else scored["p_model"].to_numpy()
    if config.model.refit:
        graded = np.concatenate([graded, headline["p_model"].to_numpy()])
    grade_cuts = derive_grade_cuts(graded, config.grades)

    served, refit = model, {}
    all_rows = (split.rows if labelled is None else labelled).reset_index(drop=True)
    learnt_from = split.rows if config.model.refit else development
    if config.model.refit:
        all_at_sqo = _at_sqo(all_rows)
        test_moment = headline_mask
        if chain is not None:
            sqo_link, _ = refit_stage(chain.sqo, development, all_rows, ~all_at_sqo, test, ~test_at_sqo,
                                      test_moment, features, config)
            population = all_rows["reached_sqo"].to_numpy() == 1
            test_population = test["reached_sqo"].to_numpy() == 1
            if not chain.learns_past_sqo:
                population, test_population = population & ~all_at_sqo, test_population & ~test_at_sqo
            q, _ = refit_stage(stage, development, all_rows, population, test, test_population, test_moment,
                               features, config, test_at_sqo)
            served = LeadscoreModel(spec={**q.spec, "chain": model.chain}, calibration=q.calibration,
                                    booster=q.booster, linear=q.linear, stage=sqo_link)
        else:
            served, _ = refit_stage(stage, development, all_rows, np.ones(len(all_rows), dtype=bool), test,
                                    np.ones(len(test), dtype=bool), test_moment, features, config)
        p_refit = served.predict(test)
        if chain is not None:
            p_refit = chained_probability(served, p_refit, p_sqo_test, test_at_sqo,
                                          served.calibrate_past_sqo(served.margin(test)))
        refit_test = at_moments(scored.assign(p_refit=p_refit), moments)
        refit = {"refit.n_rows": len(all_rows),
                 "refit.mean_abs_p_change_test": float(np.mean(np.abs(refit_test["p_refit"] - refit_test["p_model"]))),
                 "refit.test_roc_auc_in_sample": roc_auc(refit_test["label"].to_numpy(), refit_test["p_refit"].to_numpy())}
        learnt_from = all_rows
    spec = build_model_spec(
        target=target,
        horizon_days=horizon_days,
        offsets_days=list(config.training_set.offsets_days),
        features=served.spec_features,
        grade_cuts=grade_cuts,
        split_summary=split.summary,
        catalogue_hash=catalogue_hash,
        data_end=data_end,
        calibration_method=served.calibration["method"],
    )
    spec.update(model_kind=kind, moments_days=list(moments), refit=bool(config.model.refit),
                trained_on_captured_to=_iso_max(learnt_from["captured_at"]))
    if chain is not None:
        spec["chain"] = chain.spec(stage, horizon_days)
        stage_link = served.stage
        stage_link.spec.update(target="sqo", horizon_days=int(chain.sqo_horizon_days), catalogue_hash=catalogue_hash,
                               model_kind=chain.sqo.kind)
    stages = {"sqo": chain.sqo, "q": stage} if chain is not None else {target: stage}
    fitted = stage.fitted or next((s.fitted for s in stages.values() if s.fitted is not None), None)
    facts = {
        "model.ece_uncalibrated": expected_calibration_error(headline["label"].to_numpy(), headline["p_raw"].to_numpy(),
                                                             evaluation.ece_bins) if chain is None else float("nan"),
        "model.shap_rows_per_second": shap_rows_per_second,
        "model.shap_rows_per_cpu_second": shap_rows_per_cpu_second,
        "seconds.fit": fitted_at - started,
        "seconds.evaluate": evaluated_at - fitted_at,
        "seconds.refit": time.perf_counter() - evaluated_at,
        **cv_facts(stages),
        **refit,
    }
    if fitted is not None:
        facts.update({"model.n_trees": fitted.n_trees, "model.best_iteration": fitted.best_iteration})
    for name, fit in stage.kinds.items():
        facts[f"model.validation_log_loss.{name}"] = fit.log_loss
    if chain is not None:
        facts.update(q_facts(test, stage, headline_mask, test_at_sqo, evaluation.ece_bins))
    return TrainedModels(
        model=LeadscoreModel(spec=spec, calibration=served.calibration, booster=served.booster, linear=served.linear,
                             held_out=held_out, stage=served.stage),
        serving_kind=kind,
        serving_reason=stage.summary(),
        stages=stages,
        calibration_comparison=stage.served.calibration_comparison if stage.served else pd.DataFrame(
            columns=["method", "cv_log_loss", "chosen"]),
        fitted=fitted,
        scored=scored,
        scored_features=test,
        metrics=metrics,
        metrics_by_offset=by_offset,
        slices=slices,
        split_summary=split.summary,
        importance=importance,
        shap_contributions=contributions,
        shap_encoded=model.encode(sample),
        window_frames={"train": development, "test": test},
        facts=facts,
        facts_text={"feature_list_hash": feature_list_hash(served.spec_features)},
        chain_lines=chain_words(chain, stage, horizon_days),
        notes=[n for s in stages.values() for n in s.notes],
    )


def cv_facts(stages: dict[str, Stage]) -> dict[str, float]:
    """Per stage and kind: the out-of-fold log loss and ROC AUC per fold (``cv.<stage>.<kind>.*``)."""
    out = {}
    for name, stage in stages.items():
        for kind, fit in stage.kinds.items():
            out[f"cv.{name}.{kind}.log_loss"] = fit.log_loss
            for k, auc in fit.fold_auc.items():
                out[f"cv.{name}.{kind}.roc_auc_fold_{k}"] = auc
    return out


def q_facts(test: pd.DataFrame, stage: Stage, headline: np.ndarray, at_sqo: np.ndarray, ece_bins: int) -> dict[str, float]:
    """q's own quality on the test window: among leads reaching SQO at the scoring moments, and among open opportunities."""
    out = {}
    reached = test["reached_sqo"].to_numpy() == 1
    for name, rows in (("q.at_capture", reached & headline & ~at_sqo), ("q.past_sqo", at_sqo)):
        label = test.loc[rows, "label"].to_numpy()
        if len(label) and 0 < label.sum() < len(label):
            model = stage.model
            p = model.calibrate_past_sqo(model.margin(test[rows])) if name == "q.past_sqo" else model.predict(test[rows])
            if np.isnan(p).all():
                continue
            out[f"{name}.roc_auc"] = roc_auc(label, p)
            out[f"{name}.ece"] = expected_calibration_error(label, p, ece_bins)
            out[f"{name}.n_rows"] = float(len(label))
    return out


def held_out_rows(model: LeadscoreModel, features: pd.DataFrame, scored: pd.DataFrame,
                  at_sqo: np.ndarray | None = None) -> pd.DataFrame:
    """The test window at the scoring moment as the evaluated model saw it: outcome, p, reasons, rule points.

    Kept with the model (``held_out.csv``) so the report can judge a model refit on all data against the
    rules on leads it did not train on, with the evaluated model's own reasons.
    """
    from leadscore.scorers.model.answer import answer

    answered = answer(model, features, at_sqo=at_sqo)
    out = pd.DataFrame({
        "lead_id": scored["lead_id"].astype("str").to_numpy(),
        "as_of": scored["as_of"].to_numpy(),
        "label": scored["label"].astype("int64").to_numpy(),
        "p": answered["p"].to_numpy(),
        "reasons_positive": answered["reasons_positive"].to_numpy(),
        "reasons_negative": answered["reasons_negative"].to_numpy(),
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


def add_rule_scores(rows: pd.DataFrame, tables: Tables, rules_path: str | None, part: np.ndarray) -> pd.DataFrame:
    """Add ``rule_score`` (the marketing points at each row's as_of) to the rows where ``part`` holds."""
    from leadscore.scorers.rules import load_rules, score_rules

    spine = rows.loc[part, ["lead_id", "as_of"]].drop_duplicates(ignore_index=True)
    scores = score_rules(tables, spine, load_rules(rules_path))
    scores = scores.loc[:, ["lead_id", "as_of", "rule_score"]].drop_duplicates(["lead_id", "as_of"])
    out = rows.merge(scores, on=["lead_id", "as_of"], how="left", validate="many_to_one")
    n_missing = int(out.loc[part, "rule_score"].isna().sum())
    if n_missing:
        log.warning("rules: %d snapshot(s) got no rule score; they rank last for the rules baseline", n_missing)
    return out


@dataclass
class PreparedData:
    """A training set audited and split: what :func:`fit_models` needs, and what it says about the data.

    Attributes
    ----------
    split
        The labelled snapshots split by time (:class:`~leadscore.training.split.Split`), with rule points and
        slice columns.
    labelled
        Every labelled snapshot (the refit learns from them all, those the test gap dropped included).
    training_summary
        The training set's counts per offset (``attrs["note"]``: what was left out and why).
    horizon_days, sqo_horizon_days
        The label horizon, and for ``won`` the SQO horizon of the chain.
    features
        Spec entries of the features the model may use after the audit.
    audit
        The leakage audit of every candidate (``None`` when not run).
    """

    split: Split
    labelled: pd.DataFrame
    training_summary: pd.DataFrame
    horizon_days: int
    sqo_horizon_days: int | None
    features: list[dict]
    audit: AuditResult | None

    @property
    def split_rows(self) -> pd.DataFrame:
        return self.split.rows


def prepare_training_data(tables: Tables, target: str, config: TrainConfig, audit: bool = True,
                          progress: Progress | None = None) -> PreparedData:
    """Training set for ``target``, audited for leaks, split by time, with rule scores and slice columns."""
    from leadscore.features.building.labels import build_training_set

    progress = progress or Progress.off()
    progress.step(f"building the {target} training set from {len(tables.leads):,} leads")
    horizon_days = config.training_set.horizon_days or default_horizon_days(target)
    sqo_horizon = (config.training_set.sqo_horizon_days or default_horizon_days("sqo")) if target == "won" else None
    features, _ = model_features(tables, config)
    rows, training_summary = build_training_set(
        tables, target, offsets_days=tuple(config.training_set.offsets_days), horizon_days=horizon_days,
        own=[f for f in features if "source" in f], sqo_horizon_days=sqo_horizon,
    )
    progress.step(f"auditing {len(features)} candidate features for leaks")
    result = None
    if audit and len(rows):
        open_rows = rows[~_at_sqo(rows)]
        result = audit_features(open_rows, features, tables, config.audit, config.seed)
        features = with_audit_notes([f for f in features if f["name"] not in set(result.dropped)], result)
        if result.dropped:
            left_out = result.table.loc[~result.table["used"].astype(bool), "column"]
            log.warning("the leakage audit left out %s (why: the audit printed with the results)", ", ".join(left_out))
    progress.step("splitting by time and scoring the rules baseline")
    split = split_by_time(rows, horizon_days, config.split)
    moments = tuple(config.evaluation.moments_days)
    scored_by_rules = (split.rows["window"] == "test").to_numpy() | _moment_mask(split.rows, moments)
    split.rows = add_rule_scores(split.rows, tables, config.rules_path, scored_by_rules)
    split.rows = add_slice_columns(split.rows, tables, tuple(config.evaluation.slices))
    return PreparedData(split, rows, training_summary, horizon_days, sqo_horizon, features, result)


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


def learnt_reference(tables: Tables, trained: TrainedModels, seed: int) -> TrainingReference:
    """The training reference of the model that serves: its features and probability in the snapshots it
    learnt from (every labelled window after a refit, else all but the test window), built as the scorer
    builds them, per snapshot age; logged beside the model for ``leadscore monitor``."""
    learnt = [frame for window, frame in trained.window_frames.items() if trained.spec.get("refit") or window != "test"]
    snapshots = pd.concat([frame[["lead_id", "as_of", "offset_days"]] for frame in learnt], ignore_index=True)
    return reference_from_export(tables, trained.model, snapshots, seed=seed)


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
    trained = fit_models(data.split, data.features, target, data.horizon_days, config, hash_, tables.data_end,
                         progress, labelled=data.labelled, sqo_horizon_days=data.sqo_horizon_days)
    trained.training_summary = data.training_summary
    trained.audit = data.audit
    if data.audit is not None:
        trained.model.spec["audit"] = data.audit.records()
    trained.facts["seconds.build_training_set"] = built_at - started
    reference_started = time.perf_counter()
    trained.reference = learnt_reference(tables, trained, config.seed)
    trained.facts["seconds.training_reference"] = time.perf_counter() - reference_started
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
