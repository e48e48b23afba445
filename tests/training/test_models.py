"""Fitting, logging and registering on a small training-set-shaped frame (no feature builder needed).

The frame has the training set's shape (lead_id, as_of, captured_at, label, a few numeric, flag and
categorical features, rule points) with a known signal, so model behaviour can be asserted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.training.config import config_from_dict
from leadscore.training.pipeline import fit_models
from leadscore.training.registry import (
    CHALLENGER,
    CHAMPION,
    AliasAssignment,
    alias_version,
    apply_gates,
    assign_alias,
    decide_promotion,
    move_champion,
)
from leadscore.training.split import split_by_time
from leadscore.training.tracking import log_training_run, registered_model_name

HORIZON_DAYS = 60
FEATURES = [
    {"name": "channel", "kind": "categorical", "group": "acquisition", "story": "channel"},
    {"name": "employees", "kind": "numeric", "group": "fit", "story": "company_size"},
    {"name": "is_public", "kind": "flag", "group": "fit", "story": "public_company"},
    {"name": "n_visits_30d", "kind": "numeric", "group": "engagement", "story": "web_visits"},
]
RAW_CONFIG = {
    "lightgbm": {"num_threads": 1},
    "evaluation": {"n_bootstrap": 20},
    "gates": {"min_auc": 0.6, "max_ece": 0.08},
}
CONFIG = config_from_dict(RAW_CONFIG)


def make_training_rows(n_leads: int = 2500, seed: int = 0) -> pd.DataFrame:
    """Snapshots at 0, 7 and 30 days over two years; visits, size and LinkedIn raise the odds."""
    rng = np.random.default_rng(seed)
    captured = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 720, n_leads)), unit="D")
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i:05d}" for i in range(n_leads)],
            "captured_at": captured,
            "channel": rng.choice(["linkedin", "email", "organic", "event"], n_leads),
            "employees": rng.lognormal(5, 1.5, n_leads),
            "is_public": rng.integers(0, 2, n_leads).astype(float),
        }
    )
    parts = []
    for offset in (0, 7, 30):
        part = leads.assign(as_of=leads["captured_at"] + pd.Timedelta(days=offset), offset_days=offset)
        part["n_visits_30d"] = rng.poisson(1 + offset / 10, n_leads).astype(float)
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    rows["employees"] = rows["employees"].mask(rng.random(len(rows)) < 0.1)
    rows["channel"] = rows["channel"].mask(rng.random(len(rows)) < 0.05)
    logit = (
        -3.7
        + 0.6 * rows["n_visits_30d"]
        + 0.3 * np.log1p(rows["employees"].fillna(100))
        + rows["channel"].map({"linkedin": 0.8, "event": 0.4}).fillna(0.0)
    )
    rows["label"] = (rng.random(len(rows)) < 1 / (1 + np.exp(-logit))).astype("int8")
    # The rules see the visits and a size threshold, but not the channel: a weaker baseline.
    rows["rule_score"] = 5.0 * rows["n_visits_30d"] + 20.0 * (rows["employees"] > 1000)
    columns = ["lead_id", "as_of", "offset_days", "captured_at", "label"] + [f["name"] for f in FEATURES] + ["rule_score"]
    return rows[columns]


def train(rows: pd.DataFrame, config=CONFIG):
    return fit_models(split_by_time(rows, HORIZON_DAYS, config.split), FEATURES, "sqo", HORIZON_DAYS, config,
                      "test-catalogue", None, labelled=rows)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return make_training_rows()


@pytest.fixture(scope="module")
def trained(rows):
    return train(rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A temporary MLflow store for this module, also visible to subprocesses through the environment."""
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


def test_same_data_config_and_seed_give_identical_metrics_and_trees(rows, trained) -> None:
    again = train(rows)
    pd.testing.assert_frame_equal(trained.metrics, again.metrics)
    assert trained.fitted.booster.model_to_string() == again.fitted.booster.model_to_string()
    assert trained.calibration == again.calibration


def test_model_shape_stays_within_the_explanation_budget(trained) -> None:
    dump = trained.fitted.booster.dump_model()

    def depth(node: dict) -> int:
        return 0 if "leaf_value" in node else 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    assert 1 <= len(dump["tree_info"]) <= CONFIG.lightgbm.max_trees
    assert max(t["num_leaves"] for t in dump["tree_info"]) <= CONFIG.lightgbm.num_leaves
    assert max(depth(t["tree_structure"]) for t in dump["tree_info"]) <= CONFIG.lightgbm.max_depth
    assert trained.facts["model.shap_rows_per_second"] > 0


def test_categories_are_fixed_from_the_development_rows_only_and_the_refit_learns_the_newest() -> None:
    rows = make_training_rows(seed=1)
    late = rows["captured_at"] >= rows["captured_at"].quantile(0.9)
    rows.loc[late & (rows["channel"] == "event"), "channel"] = "podcast"
    evaluated = train(rows, config_from_dict({**RAW_CONFIG, "model": {"refit": False}}))
    channel = next(f for f in evaluated.spec["features"] if f["name"] == "channel")
    assert "podcast" not in channel["categories"]
    assert channel["categories"] == sorted(channel["categories"])
    # refit on every labelled lead after evaluation, the model that serves knows the newest channel
    refit = train(rows)
    assert "podcast" in next(f for f in refit.spec["features"] if f["name"] == "channel")["categories"]


def test_feature_spec_has_what_serving_needs(trained) -> None:
    spec = json.loads(json.dumps(trained.spec))
    assert spec["target"] == "sqo" and spec["horizon_days"] == HORIZON_DAYS
    assert spec["catalogue_hash"] == "test-catalogue"
    assert [f["name"] for f in spec["features"]] == [f["name"] for f in FEATURES]
    assert all(("categories" in f) == (f["kind"] == "categorical") for f in spec["features"])
    cuts = spec["grade_cuts"]
    assert 1 > cuts["A"] > cuts["B"] > cuts["C"] > 0
    assert list(spec["windows"]) == ["first", "fold_1", "fold_2", "fold_3", "fold_4", "test"]


def test_model_beats_the_weaker_rules_on_a_learnable_signal(trained) -> None:
    metrics = trained.metrics  # at capture, where the model is used
    assert metrics.loc["model", "roc_auc"] > metrics.loc["rules", "roc_auc"]
    assert metrics.loc["model", "roc_auc"] > 0.6
    assert metrics.loc["model", "ece"] < 0.08
    pooled = trained.metrics_by_offset.set_index(["offset", "method"]).loc[("pooled", "model"), "roc_auc"]
    assert pooled > 0.7  # later snapshots carry more visits, so pooled figures look better


def test_gates_fail_a_model_that_does_not_beat_the_rules() -> None:
    metrics = pd.DataFrame({"roc_auc": [0.80, 0.82], "ece": [0.01, np.nan]}, index=["model", "rules"])
    decision = apply_gates(metrics, CONFIG.gates)
    assert not decision.passed
    assert [c.name for c in decision.checks if not c.passed] == ["beats_rules"]


def test_gates_fail_a_model_without_a_rules_baseline() -> None:
    decision = apply_gates(pd.DataFrame({"roc_auc": [0.9], "ece": [0.01]}, index=["model"]), CONFIG.gates)
    assert not decision.passed


def test_promotion_refuses_a_worse_or_miscalibrated_challenger() -> None:
    gates = CONFIG.gates
    table = pd.DataFrame({"roc_auc": [0.78, 0.80], "ece": [0.01, 0.01]}, index=["challenger", "champion"])
    assert not decide_promotion(table, gates).promote
    table.loc["challenger", "roc_auc"] = 0.80 - gates.promote_auc_tolerance / 2
    assert decide_promotion(table, gates).promote
    table.loc["challenger", "ece"] = gates.max_ece + 0.01
    assert not decide_promotion(table, gates).promote


def test_first_passing_version_is_champion_the_next_challenger_failures_get_none(store, trained) -> None:
    name = registered_model_name("sqo")
    passing = apply_gates(trained.metrics, CONFIG.gates)
    _, first = log_training_run(trained, CONFIG, "leadscore-sqo-test")
    assert assign_alias(name, first, passing).alias == CHAMPION
    strict = config_from_dict({"gates": {"min_auc": 0.999}})
    _, second = log_training_run(trained, strict, "leadscore-sqo-test")
    assert assign_alias(name, second, apply_gates(trained.metrics, strict.gates)).alias is None
    assert (alias_version(name, CHAMPION), alias_version(name, CHALLENGER)) == (first, None)
    assert assign_alias(name, second, passing) == AliasAssignment(CHALLENGER)
    assert (alias_version(name, CHAMPION), alias_version(name, CHALLENGER)) == (first, second)
    move_champion(name, second)
    assert (alias_version(name, CHAMPION), alias_version(name, CHALLENGER)) == (second, None)


def test_logged_model_loads_in_a_process_without_training_code(store, trained, tmp_path) -> None:
    name = registered_model_name("won")
    won = LeadscoreModel(spec=dict(trained.spec, target="won"), calibration=trained.calibration,
                         booster=trained.model.booster, linear=trained.model.linear)
    _, version = log_training_run(dataclasses.replace(trained, model=won), CONFIG, "leadscore-won-test")
    sample = trained.scored_features.head(200)
    sample.to_parquet(tmp_path / "sample.parquet")
    code = (
        "import sys, mlflow, pandas as pd\n"
        f"m = mlflow.pyfunc.load_model('models:/{name}/{version}')\n"
        f"frame = pd.read_parquet({str(tmp_path / 'sample.parquet')!r})\n"
        "out = m.predict(frame)\n"
        "inner = m.unwrap_python_model().model\n"
        "assert inner.kind in ('lightgbm', 'logistic') and inner.spec['target'] == 'won'\n"
        "assert not any(k.startswith('leadscore.training.') and k != 'leadscore.training.logged_model'\n"
        "               for k in sys.modules), sorted(sys.modules)\n"
        f"out.to_parquet({str(tmp_path / 'out.parquet')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=os.environ.copy(), capture_output=True)
    predicted = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_allclose(predicted["p"].to_numpy(), won.predict(sample), rtol=1e-9)


def test_renaming_leads_does_not_change_their_probability(store, trained) -> None:
    from leadscore.scorers.model.encoding import encode_features

    sample = trained.scored_features.head(50)
    renamed = sample.assign(lead_id=[f"other-{i}" for i in range(len(sample))])
    booster = trained.fitted.booster
    spec = trained.spec["features"]
    np.testing.assert_array_equal(
        booster.predict(encode_features(sample, spec)), booster.predict(encode_features(renamed, spec))
    )


def test_the_train_summary_names_methods_calibration_gates_and_alias(trained) -> None:
    from leadscore.training.pipeline import TrainResult

    result = TrainResult(
        target="sqo",
        experiment="leadscore-sqo",
        run_id="abc123",
        model_name="leadscore-sqo",
        model_version=4,
        alias=None,
        gate=apply_gates(trained.metrics, config_from_dict({"gates": {"min_auc": 0.999}}).gates),
        trained=trained,
    )
    text = result.summary()
    other = {"lightgbm": "logistic", "logistic": "lightgbm"}[trained.serving_kind]
    assert text.splitlines()[0].startswith("model that serves: ")
    assert any(line.split() == ["model", other, "rules"] for line in text.splitlines())
    assert f"calibration: {trained.calibration['method']}" in text
    assert "FAIL ROC AUC at capture" in text and "gates at capture: FAILED" in text
    assert "version 4 without an alias" in text and "--version 4 --force" in text
    assert "dropped by gap" in text and "ROC AUC by snapshot offset" in text
