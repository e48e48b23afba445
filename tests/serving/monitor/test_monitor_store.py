"""``leadscore monitor`` on a real score store, for models that recorded nothing at training.

The shared store world's models were logged without a training run (no test interval, no training
reference, no training windows): the monitor still judges their matured cohorts' calibration, describes
their ranking without judging it, and says why input drift is not judged. A reference can be rebuilt
from the export for a model whose spec names its training windows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.serving.loading import ScoringModel
from leadscore.serving.monitor.record import rebuild_reference


@pytest.fixture(scope="module")
def monitored(store_world, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    folder = tmp_path_factory.mktemp("monitored")
    store = str(folder / "scores.duckdb")
    leads = store_world.frames["leads"]
    requests = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": leads["captured_at"]})
    requests.to_csv(folder / "at-capture.csv", index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store_world.tracking_uri)
        assert store_world.score(store_world.second, store, folder / "scores.csv", "--leads",
                                 str(folder / "at-capture.csv")) == 0
        assert main(["monitor", str(store_world.second), "--store", store, "--json"]) == 0
        assert main(["monitor", str(store_world.second), "--store", store]) == 0
    return store_world, store, folder


def test_the_cohorts_of_a_model_without_a_training_record_are_judged_on_calibration_alone(monitored, capsys) -> None:
    world, store, _ = monitored
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", world.tracking_uri)
        assert main(["monitor", str(world.second), "--store", store, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    matured = [c for c in result["cohorts"] if c["matured"]]
    assert len(matured) >= 10 and sum(c["leads"] for c in result["cohorts"]) == len(world.frames["leads"])
    assert all(c["auc_floor"] is None and "no test interval recorded for this version" in c["why"] for c in matured)
    assert result["drift"] == [] and "no training reference and none could be rebuilt" in result["drift_note"]
    assert result["recommendation"] in ("ok", "retrain", "watch") and result["reason"]


def test_the_printout_says_what_it_could_not_judge(monitored, capsys) -> None:
    world, store, _ = monitored
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", world.tracking_uri)
        assert main(["monitor", str(world.second), "--store", store]) == 0
    out = capsys.readouterr().out
    assert "drift: leadscore-sqo version 1 has no training reference" in out
    assert out.splitlines()[-2].startswith("recommendation: ")
    assert "logged to MLflow: run " in out.splitlines()[-1]


def test_a_reference_is_rebuilt_from_the_export_for_a_model_that_names_its_training_windows(serving_world) -> None:
    model = serving_world.sqo
    captured = serving_world.tables.leads["captured_at"]
    spec = {**model.spec, "offsets_days": [0, 30], "data_end": serving_world.tables.data_end.isoformat(),
            "windows": {"train": {"captured_from": captured.min().isoformat(),
                                  "captured_to": (captured.min() + pd.Timedelta(days=200)).isoformat()}}}
    windowed = ScoringModel(model.uri, model.name, model.version,
                            type(model.model)(spec=spec, calibration=model.model.calibration, booster=model.booster))
    reference = rebuild_reference(serving_world.tables, windowed)
    assert reference is not None and reference.origin.startswith("rebuilt from this export's leads captured")
    assert reference.offsets_days == [0, 30] and set(reference.features) == set(model.feature_names)
    n_rows = reference.n_rows
    assert n_rows[0] > 0 and np.all(n_rows <= (captured <= captured.min() + pd.Timedelta(days=200)).sum())
    assert rebuild_reference(serving_world.tables, model) is None  # no windows recorded: nothing to rebuild from


def test_the_report_shows_the_model_over_time_even_when_drift_could_not_be_judged(monitored, tmp_path) -> None:
    world, store, _ = monitored
    out = tmp_path / "report.html"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", world.tracking_uri)
        assert main(["report", str(world.second), "--out", str(out), "--store", store]) == 0
    page = out.read_text()
    assert "5. Model over time" in page and "has no training reference and none could be rebuilt" in page
