"""An honest model: the better candidate serves, metrics and gates at the moment of scoring, evidence-based gates.

Training-set-shaped frames with a known signal (no feature builder needed), so each property is shown
on data built to make it true or false.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from leadscore.scorers.model.artifacts import BOOSTER_FILE, LINEAR_FILE, read_model, write_model
from leadscore.scorers.model.reasons import phrase_reasons
from leadscore.training.config import GradesConfig, config_from_dict
from leadscore.training.metrics import Scorer, evaluate_scorers
from leadscore.training.pipeline import fit_models
from leadscore.training.registry import CHALLENGER, CHAMPION, alias_version, apply_gates, assign_alias
from leadscore.training.spec import derive_grade_cuts
from leadscore.training.split import split_by_time
from leadscore.training.stage import tree_gain
from leadscore.training.tracking import moment_prefix, run_metrics

HORIZON_DAYS = 30
FAST = {"lightgbm": {"num_threads": 1}, "evaluation": {"n_bootstrap": 50}, "split": {"plan": "test_gap"}}


def linear_world(n_leads: int = 1500, n_features: int = 30, seed: int = 0) -> tuple[pd.DataFrame, list[dict]]:
    """Many weak, additive signals on few leads: a regularised linear model's home ground, not the trees'."""
    rng = np.random.default_rng(seed)
    captured = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 500, n_leads)), unit="D")
    X = rng.normal(size=(n_leads, n_features))
    weights = rng.normal(0, 0.35, n_features)
    label = (rng.random(n_leads) < 1 / (1 + np.exp(-(-1.2 + X @ weights)))).astype("int8")
    features = [{"name": f"x{j:02d}", "kind": "numeric", "group": "export", "story": f"x{j:02d}",
                 "description": f"signal {j}", "template": f"Signal {j}: {{value:.2f}}",
                 "source": {"table": "leads", "column": f"X {j}", "kind": "number"}} for j in range(n_features)]
    rows = pd.DataFrame({"lead_id": [f"L{i:05d}" for i in range(n_leads)], "as_of": captured, "offset_days": 0,
                         "captured_at": captured, "label": label})
    for j in range(n_features):
        rows[f"x{j:02d}"] = X[:, j]
    rows["rule_score"] = np.round(X[:, 0] * 10)
    return rows, features


def snapshot_world(n_leads: int = 3000, seed: int = 1) -> tuple[pd.DataFrame, list[dict]]:
    """Visits known only after capture decide the outcome: a model that shines pooled and is blind at capture."""
    rng = np.random.default_rng(seed)
    captured = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 600, n_leads)), unit="D")
    will = rng.random(n_leads) < 0.15
    parts = []
    for offset in (0, 7, 14, 30):
        visits = np.where(offset == 0, 0.0, rng.poisson(np.where(will, 3.0, 0.3) * offset / 7)).astype(float)
        parts.append(pd.DataFrame({"lead_id": [f"L{i:05d}" for i in range(n_leads)], "as_of": captured + pd.Timedelta(days=offset),
                                   "offset_days": offset, "captured_at": captured, "label": will.astype("int8"),
                                   "n_visits": visits, "noise": rng.normal(size=n_leads)}))
    rows = pd.concat(parts, ignore_index=True)
    rows["rule_score"] = rows["noise"].round(1)
    features = [{"name": "n_visits", "kind": "numeric", "group": "engagement", "story": "visits"},
                {"name": "noise", "kind": "numeric", "group": "fit", "story": "noise"}]
    return rows, features


def fit(rows: pd.DataFrame, features: list[dict], overrides: dict | None = None):
    config = config_from_dict({**FAST, **(overrides or {})})
    split = split_by_time(rows, HORIZON_DAYS, config.split)
    return fit_models(split, features, "sqo", HORIZON_DAYS, config, "test", None, labelled=rows), config


def test_the_linear_model_serves_where_it_must_win_and_explains_exactly(tmp_path) -> None:
    rows, features = linear_world()
    trained, _ = fit(rows, features)
    kinds = trained.stages["sqo"].kinds
    assert kinds["logistic"].log_loss < kinds["lightgbm"].log_loss
    assert trained.serving_kind == "logistic" and trained.model.kind == "logistic"
    assert "logistic regression, clearly the better calibrated out-of-fold log loss over the folds" in trained.serving_reason
    # stored as data: JSON coefficients, no booster, no pickle; read back it predicts and explains the same
    written = write_model(trained.model, tmp_path / "model")
    assert set(written) == {"feature_spec", "calibration", "linear", "held_out"}
    assert (tmp_path / "model" / LINEAR_FILE).is_file() and not (tmp_path / "model" / BOOSTER_FILE).exists()
    assert not list((tmp_path / "model").glob("*.pkl"))
    json.loads((tmp_path / "model" / LINEAR_FILE).read_text())
    again = read_model(tmp_path / "model")
    sample = rows.head(200)
    np.testing.assert_allclose(again.predict(sample), trained.model.predict(sample), rtol=0, atol=1e-12)
    explained = again.explain(sample)
    np.testing.assert_allclose(explained.base_value + explained.values.sum(axis=1), again.margin(sample), atol=1e-10)
    reasons = phrase_reasons(sample, explained.values, again.spec_features)
    assert reasons["reasons_positive"].str.startswith("Signal ").any()
    assert reasons["reasons_negative"].str.startswith("Signal ").any()


def test_the_trees_serve_where_they_rank_and_calibrate_better_over_the_folds_and_say_by_how_much() -> None:
    # An interaction no additive model can draw: the trees must serve, with the evidence in the sentence.
    rows, features = linear_world(n_leads=4000, n_features=4, seed=3)
    x0, x1 = rows["x00"].to_numpy(), rows["x01"].to_numpy()
    rows["label"] = (np.random.default_rng(3).random(len(rows)) < np.where(x0 * x1 > 0, 0.6, 0.05)).astype("int8")
    trained, _ = fit(rows, features, {"model": {"refit": False}})
    kinds = trained.stages["sqo"].kinds
    assert trained.serving_kind == "lightgbm"
    gain, low, _ = tree_gain(kinds)
    assert low > 0 and "LightGBM, clearly the better calibrated out-of-fold log loss" in trained.serving_reason
    assert f"+{gain:.5f}" in trained.serving_reason
    # every development lead past the first block was judged out of fold, not one calibration window
    judged = kinds["lightgbm"].lead_log_loss.index
    past_first = trained.window_frames["train"].query("fold > 0")["lead_id"].unique()
    assert set(judged) == set(past_first)
    # the folds' AUCs are printed for both kinds
    assert "AUC by fold" in trained.serving_reason and len(kinds["logistic"].fold_auc) == 4
    # No signal at all: whichever kind serves, the interval of its gain says it is noise.
    rows, features = linear_world(n_leads=600, n_features=4, seed=5)
    rows["label"] = (np.random.default_rng(5).random(len(rows)) < 0.2).astype("int8")
    trained, _ = fit(rows, features, {"model": {"refit": False}})
    assert "clearly" not in trained.serving_reason


def test_lightgbm_serves_only_above_the_configured_improvement() -> None:
    rows, features = linear_world(n_leads=4000, n_features=4, seed=3)
    x0, x1 = rows["x00"].to_numpy(), rows["x01"].to_numpy()
    rows["label"] = (np.random.default_rng(3).random(len(rows)) < np.where(x0 * x1 > 0, 0.6, 0.05)).astype("int8")
    trained, _ = fit(rows, features, {"model": {"refit": False, "min_improvement": 1.0}})
    assert trained.serving_kind == "logistic" and "not above model.min_improvement 1" in trained.serving_reason


def test_the_config_can_name_the_model_that_serves() -> None:
    rows, features = linear_world(n_leads=800)
    trained, _ = fit(rows, features, {"model": {"kind": "lightgbm", "refit": False}})
    assert trained.serving_kind == "lightgbm" and trained.model.kind == "lightgbm"
    assert "as the training config names it" in trained.serving_reason


def test_metrics_are_at_capture_with_the_pooled_figures_beside_and_named_by_moment() -> None:
    rows, features = snapshot_world()
    trained, _ = fit(rows, features)
    at_capture = trained.metrics.loc["model", "roc_auc"]
    by_offset = trained.metrics_by_offset.set_index(["offset", "method"])["roc_auc"]
    assert int(trained.metrics.loc["model", "n_rows"]) == int((trained.scored["offset_days"] == 0).sum())
    assert at_capture < 0.6 < 0.8 < by_offset[("pooled", "model")]  # later snapshots flatter the pooled figure
    assert by_offset[("0", "model")] == pytest.approx(at_capture)
    names = run_metrics(trained)
    assert moment_prefix([0]) == "at_capture" and "at_capture.model.roc_auc" in names
    assert "offset_30d.model.roc_auc" in names and "pooled.model.roc_auc" in names
    assert "model.roc_auc" not in names  # no unqualified headline


def test_a_model_that_passes_pooled_but_fails_at_capture_does_not_become_challenger(tmp_path) -> None:
    import mlflow
    from mlflow import MlflowClient

    rows, features = snapshot_world()
    trained, config = fit(rows, features)
    pooled = apply_gates(trained.metrics_by_offset.query("offset == 'pooled'").set_index("method")
                         .rename(index={"model": "model"}).assign(ece=0.0), config.gates)
    assert pooled.checks[0].passed  # judged pooled, the AUC gate would pass
    decision = apply_gates(trained.metrics, config.gates)
    assert not decision.passed and "min_auc" in [c.name for c in decision.checks if not c.passed]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("leadscore-sqo")
    for _ in range(2):
        client.create_model_version("leadscore-sqo", source=(tmp_path / "m").as_uri())
    client.set_registered_model_alias("leadscore-sqo", CHAMPION, "1")
    assert assign_alias("leadscore-sqo", 2, decision, client).alias is None
    assert (alias_version("leadscore-sqo", CHAMPION, client), alias_version("leadscore-sqo", CHALLENGER, client)) == (1, None)
    assert client.get_model_version("leadscore-sqo", "2").tags["leadscore.gate"] == "failed"
    mlflow.set_tracking_uri(mlflow.get_tracking_uri())  # leave the global store as it was


def calibration_gate_pass_rate(n_windows: int, seed: int) -> float:
    """Share of test windows (800 leads, 10% positives, a perfectly calibrated model) passing the ECE gate."""
    rng = np.random.default_rng(seed)
    gates = config_from_dict({}).gates
    passed = 0
    for w in range(n_windows):
        p = rng.beta(0.8, 7.2, 800)
        label = (rng.random(800) < p).astype(int)
        frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(800)], "as_of": pd.Timestamp("2025-01-01", tz="UTC"),
                              "label": label, "p": p})
        metrics = evaluate_scorers(frame, [Scorer("model", "p", "p")], n_bootstrap=100, seed=w)
        passed += next(c for c in apply_gates(metrics, gates).checks if c.name == "max_ece").passed
    return passed / n_windows


def test_a_perfectly_calibrated_model_passes_the_calibration_gate_95_percent_of_the_time() -> None:
    assert calibration_gate_pass_rate(40, seed=0) >= 0.95


@pytest.mark.slow
def test_a_perfectly_calibrated_model_passes_the_calibration_gate_on_200_windows() -> None:
    assert calibration_gate_pass_rate(200, seed=1) >= 0.95


def test_a_badly_calibrated_model_fails_the_calibration_gate() -> None:
    rng = np.random.default_rng(5)
    p = rng.beta(0.8, 7.2, 800)
    label = (rng.random(800) < p).astype(int)
    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(800)], "as_of": pd.Timestamp("2025-01-01", tz="UTC"),
                          "label": label, "p": np.clip(p * 2.5, 0, 1)})
    metrics = evaluate_scorers(frame, [Scorer("model", "p", "p")], n_bootstrap=100, seed=0)
    assert not next(c for c in apply_gates(metrics, config_from_dict({}).gates).checks if c.name == "max_ece").passed


@pytest.mark.parametrize("p", [
    np.array([0.01] * 80 + [0.2] * 15 + [0.6] * 5),  # three calibrated steps
    np.array([0.0] * 95 + [0.05] * 5),                 # a floor at zero
    np.repeat(np.linspace(0.01, 0.5, 4), 25),          # four ties
])
def test_grade_cuts_stay_distinct_and_never_sit_at_the_lowest_probability(p: np.ndarray) -> None:
    cuts = derive_grade_cuts(p, GradesConfig())
    assert cuts["A"] > cuts["B"] > cuts["C"] > p.min()
    assert (p >= cuts["A"]).mean() > 0  # someone is graded A


def test_the_refit_model_learns_from_every_labelled_lead_and_keeps_the_held_out_figures() -> None:
    rows, features = linear_world(n_leads=1200)
    refit, _ = fit(rows, features)
    held_out, _ = fit(rows, features, {"model": {"refit": False}})
    pd.testing.assert_frame_equal(refit.metrics, held_out.metrics)  # the reported figures are the evaluation's
    # every labelled snapshot, those the gap before the test window dropped included
    assert refit.facts["refit.n_rows"] == len(rows) > len(refit.window_frames["train"]) + len(refit.window_frames["test"])
    assert refit.spec["refit"] and not held_out.spec["refit"]
    assert refit.spec["trained_on_captured_to"] > held_out.spec["trained_on_captured_to"]
    assert not np.allclose(refit.model.linear.coef, held_out.model.linear.coef)
    assert refit.model.held_out is not None and len(refit.model.held_out) == int(refit.metrics.loc["model", "n_rows"])


def test_when_the_rules_give_every_lead_the_same_points_the_gate_judges_against_a_floor_that_ranks() -> None:
    rows, features = linear_world(n_leads=1500)
    rows["rule_score"] = 0.0  # a flat export: no rule ever fires
    trained, config = fit(rows, features, {"model": {"refit": False}})
    metrics = trained.metrics
    assert metrics.loc["rules", "roc_auc"] == 0.5 and "floor" in metrics.index
    assert metrics.loc["floor", "roc_auc"] > 0.6  # it ranks: a logistic regression on the columns known at capture
    assert "auc_gain_over_floor" in metrics.columns
    gate = apply_gates(metrics, config.gates)
    check = next(c for c in gate.checks if c.name.startswith("beats_"))
    assert check.name == "beats_floor" and "the floor (a logistic regression on the columns known at capture" in check.description
    assert "columns known at capture" in metrics.attrs["floor"]
    # a model clearly worse than the floor fails it, though it beats the tied rules
    worse = metrics.copy()
    worse.loc["model", ["auc_gain_over_floor", "auc_gain_over_floor_ci_low", "auc_gain_over_floor_ci_high"]] = [-0.2, -0.3, -0.1]
    assert not next(c for c in apply_gates(worse, config.gates).checks if c.name == "beats_floor").passed
