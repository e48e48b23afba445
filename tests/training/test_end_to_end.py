"""Training on generated exports: the feature builder, the rules baseline, MLflow and the commands together."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from leadscore.features.building.catalogue import catalogue_hash, feature_names
from leadscore.features.synthetic.demo import DATA_END, generate_demo, write_export
from leadscore.features.tables import make_tables
from leadscore.training.config import config_from_dict
from leadscore.training.oracle import compare_with_truth
from leadscore.training.pipeline import fit_models, learnt_reference, model_features, prepare_training_data

FAST = {"lightgbm": {"num_threads": 1}, "evaluation": {"n_bootstrap": 20}}


def _fit_generated(n_leads: int, seed: int, overrides: dict):
    frames, truth = generate_demo(n_leads, seed)
    tables = make_tables(frames, data_end=DATA_END)
    config = config_from_dict(overrides)
    data = prepare_training_data(tables, "sqo", config)
    _, hash_ = model_features(tables, config)
    trained = fit_models(data.split, data.features, "sqo", data.horizon_days, config, hash_, tables.data_end,
                         labelled=data.labelled)
    trained.audit = data.audit
    return trained, truth, tables


@pytest.fixture(scope="module")
def small():
    return _fit_generated(2000, 3, FAST)


def test_a_small_generated_export_trains_a_model_on_the_whole_catalogue(small) -> None:
    trained, _, _ = small
    kept = [name for name in feature_names() if name not in trained.audit.dropped]
    assert [f["name"] for f in trained.spec["features"]] == kept
    assert trained.spec["catalogue_hash"] == catalogue_hash()
    other = {"lightgbm": "logistic", "logistic": "lightgbm"}[trained.serving_kind]
    assert set(trained.metrics.index) == {"model", other, "rules"}
    assert trained.metrics.loc["model", "roc_auc"] > 0.6  # at capture, before any engagement, on 2,000 leads
    assert trained.scored["rule_score"].notna().all()
    assert trained.scored["channel"].notna().any() and "region" in trained.scored.columns


def test_the_training_reference_sketches_the_learnt_snapshots_per_age_as_the_scorer_builds_them(small) -> None:
    trained, _, tables = small
    reference = learnt_reference(tables, trained, seed=0)
    learnt = pd.concat(trained.window_frames.values(), ignore_index=True)  # refit: every window was learnt from
    assert reference.offsets_days == sorted(learnt["offset_days"].unique().tolist())
    assert reference.n_rows.tolist() == learnt["offset_days"].value_counts().sort_index().tolist()
    assert list(reference.features) == [f["name"] for f in trained.spec["features"]]
    for feature in trained.spec["features"]:
        if feature["kind"] == "categorical":  # a category the model does not know is never a value of its own
            assert set(reference.features[feature["name"]].categories) <= set(feature["categories"])
    # the score is the model's on the same snapshots, rebuilt as the scorer builds them: where a training row
    # grouped a rare value as "other" the scorer may name it, so the means agree closely, not exactly
    assert np.isclose(reference.score.sums.sum() / reference.n_rows.sum(), trained.model.predict(learnt).mean(),
                      rtol=0.1)


@pytest.mark.slow
def test_model_approaches_the_generators_oracle_on_the_test_window() -> None:
    trained, truth, _ = _fit_generated(20_000, 7, {"lightgbm": {"num_threads": 2}})
    truth_check = compare_with_truth(trained.scored, truth, "sqo")
    assert truth_check["n_snapshots"] > 1000
    assert truth_check["model_auc"] <= truth_check["oracle_auc"] + 0.01
    assert truth_check["model_auc"] > truth_check["rules_auc"]
    assert truth_check["mean_abs_error"] < 0.05
    assert trained.metrics.loc["model", "ece"] < 0.02


@pytest.mark.slow
def test_train_twice_then_promote_moves_the_champion_through_the_commands(tmp_path, monkeypatch) -> None:
    from leadscore.cli import main

    frames, truth = generate_demo(4000, 5)
    write_export(frames, truth, tmp_path / "export", "parquet")
    config = tmp_path / "train.yaml"
    config.write_text("lightgbm:\n  num_threads: 1\nevaluation:\n  n_bootstrap: 20\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(list(argv)) == 0
        return out.getvalue()

    first = run("train", str(tmp_path / "export"), "--target", "sqo", "--config", str(config))
    assert "version 1: alias champion" in first and "rules" in first
    second = run("train", str(tmp_path / "export"), "--target", "sqo", "--config", str(config))
    assert "version 2: alias challenger" in second
    promoted = run("promote", "--target", "sqo")
    assert "v2 challenger" in promoted and "v1 champion" in promoted
    assert "promoted: version 2 is now champion" in promoted  # same data and seed: equal, so not worse
    code = (
        "import sys, mlflow\n"
        "m = mlflow.pyfunc.load_model('models:/leadscore-sqo@champion')\n"
        "inner = m.unwrap_python_model().model\n"
        "assert not any(k.startswith('leadscore.training.') and k != 'leadscore.training.logged_model' for k in sys.modules)\n"
        "print(m.metadata.run_id, inner.kind, inner.spec['target'], sorted(inner.spec['grade_cuts']))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ.copy())
    assert loaded.stdout.split()[2:] == ["sqo", "['A',", "'B',", "'C']"]
    nothing = run("promote", "--target", "sqo")
    assert "no challenger" in nothing
