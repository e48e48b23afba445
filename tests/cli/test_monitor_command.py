"""``leadscore monitor`` as a user runs it: two generated worlds, one changing from January 2026 on.

Each world: ``leadscore generate`` (``--drift-from 2026-01`` for the changed one: leads captured from then
on reach SQO half as often, and a tracking change loses 80% of page views), the export as it was taken at
the end of October 2025 (what a model trained then saw), ``leadscore train`` on it, ``leadscore score``
of every later lead at capture and a week after, kept in the score store, then ``leadscore monitor``.

The generated world's company-level counts and technographics accumulate over its 18 months (a fixed pool
of companies, technologies first seen during the export): they drift in both worlds, as such to-date
counts do in a CRM whose history grows, and the monitor says so. The test's model leaves them out (and
the capture month), so that the control world is truly unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

LEADSCORE = [sys.executable, "-m", "leadscore.cli"]
N_LEADS = 24_000
CUT = pd.Timestamp("2025-10-31T00:00:00Z")
DATA_END = "2026-06-30T00:00:00Z"
CONFIG = """\
features: {exclude: [account, technographic, capture_month]}
training_set: {offsets_days: [0, 7, 30]}
evaluation: {n_bootstrap: 50}
model: {refit: false}
gates: {min_auc: 0.0, max_ece: 1.0, min_auc_gain_over_rules: -1.0}
"""
FIRMOGRAPHIC = ("employees", "annual_revenue_usd", "industry", "region", "country", "business_model",
                "paying_customers", "company_stage", "branch_count", "digital_transformation")
PAGE_VIEWS = ("n_page_views_7d", "n_page_views_30d", "n_page_views_90d")


def _leadscore(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LEADSCORE_STORE"))}
    return subprocess.run([*LEADSCORE, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=1200)


def _ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _build_world(folder: Path, drift: bool) -> dict:
    folder.mkdir()
    _ok(_leadscore("generate", "--leads", str(N_LEADS), "--seed", "3", "--out", "export",
                   *(["--drift-from", "2026-01"] if drift else []), cwd=folder))
    from leadscore.features.pit import cut_frames

    frames = {path.stem: pd.read_parquet(path) for path in (folder / "export").glob("*.parquet")}
    (folder / "october").mkdir()
    for name, frame in cut_frames(frames, CUT).items():
        frame.to_parquet(folder / "october" / f"{name}.parquet", index=False)
    leads = frames["leads"]
    later = leads[leads["captured_at"] > CUT]
    requests = pd.concat([pd.DataFrame({"lead_id": later["lead_id"], "as_of": later["captured_at"] + pd.Timedelta(days=d)})
                          for d in (0, 7)])
    requests[requests["as_of"] <= pd.Timestamp(DATA_END)].to_csv(folder / "requests.csv", index=False)
    (folder / "fast.yaml").write_text(CONFIG)
    _ok(_leadscore("train", "october", "--target", "sqo", "--config", "fast.yaml", cwd=folder))
    _ok(_leadscore("score", "export", "--leads", "requests.csv", "--out", "scores.csv", "--store", "scores.duckdb",
                   "--data-end", DATA_END, cwd=folder))
    monitor = _leadscore("monitor", "export", "--store", "scores.duckdb", "--data-end", DATA_END, "--json", cwd=folder)
    return {"folder": folder, "json": json.loads(_ok(monitor)), "stderr": monitor.stderr}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("monitor-worlds")
    return {"changed": _build_world(root / "changed", drift=True), "control": _build_world(root / "control", drift=False)}


def _cohorts(result: dict) -> dict[str, dict]:
    return {c["cohort"]: c for c in result["cohorts"]}


def _drift(result: dict) -> dict[str, dict]:
    return {row["feature"]: row for row in result["drift"]}


@pytest.mark.slow
def test_the_changed_world_alarms_in_its_changed_matured_months_and_only_there(worlds) -> None:
    cohorts = _cohorts(worlds["changed"]["json"])
    assert [m for m, c in cohorts.items() if c["alarm"]] == ["2026-01", "2026-02", "2026-03"]
    assert all(cohorts[m]["matured"] for m in ("2025-11", "2025-12", "2026-01", "2026-02", "2026-03"))
    assert not any(cohorts[m]["matured"] for m in ("2026-04", "2026-05", "2026-06"))
    january = cohorts["2026-01"]
    assert january["observed"] < january["predicted_range"][0] < january["predicted"]


@pytest.mark.slow
def test_the_changed_world_names_the_lost_page_views_and_not_the_firmographics(worlds) -> None:
    result = worlds["changed"]["json"]
    drift = _drift(result)
    assert all(drift[name]["alarm"] for name in PAGE_VIEWS)
    assert not any(drift[name]["alarm"] for name in FIRMOGRAPHIC if name in drift)
    assert any(sentence.startswith("Web page views of any page type in the last") and "fell by 8" in sentence
               for sentence in result["moved"])


@pytest.mark.slow
def test_the_changed_world_is_to_be_retrained_and_the_unchanged_one_is_ok(worlds) -> None:
    assert worlds["changed"]["json"]["recommendation"] == "retrain"
    control = worlds["control"]["json"]
    assert control["recommendation"] == "ok", control["reason"]
    assert not any(c["alarm"] for c in control["cohorts"]) and not any(row["alarm"] for row in control["drift"])
    assert sum(c["matured"] for c in control["cohorts"]) >= 5


@pytest.mark.slow
def test_the_figures_are_logged_against_the_model_version_they_judge(worlds) -> None:
    import mlflow
    from mlflow import MlflowClient

    from leadscore.serving.monitor.record import logged_model_id

    uri = f"sqlite:///{worlds['changed']['folder'] / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()
    version = client.get_model_version("leadscore-sqo", "1")
    assert version.tags["leadscore.monitor.alarms"] == "2026-01, 2026-02, 2026-03"
    assert version.tags["leadscore.monitor.recommendation"].startswith("retrain: ")
    metrics = {m.key: m.value for m in client.get_logged_model(logged_model_id(version)).metrics}
    assert metrics["monitor.cohort_2026-02.alarm"] == 1.0 and metrics["monitor.cohort_2025-12.alarm"] == 0.0
    runs = mlflow.search_runs(experiment_names=["leadscore-monitor"])
    assert set(runs["tags.leadscore.recommendation"]) == {"retrain"}


@pytest.mark.slow
def test_train_gated_by_the_monitor_trains_only_where_it_recommends_retraining(worlds) -> None:
    control = worlds["control"]["folder"]
    out = _ok(_leadscore("train", "export", "--target", "sqo", "--config", "fast.yaml", "--if-monitor-says-retrain",
                         "--store", "scores.duckdb", "--data-end", DATA_END, cwd=control))
    assert out.startswith("leadscore train --target sqo: not trained: the monitor recommends ok: ")
    changed = worlds["changed"]["folder"]
    out = _ok(_leadscore("train", "export", "--target", "sqo", "--config", "fast.yaml", "--if-monitor-says-retrain",
                         "--store", "scores.duckdb", "--data-end", DATA_END, cwd=changed))
    assert "trained because the monitor recommends retraining: leadscore-sqo version 1" in out
    assert "registered leadscore-sqo version 2: alias challenger" in out


@pytest.mark.slow
def test_the_report_shows_the_model_over_time_from_the_store(worlds) -> None:
    folder = worlds["changed"]["folder"]
    _ok(_leadscore("report", "export", "--store", "scores.duckdb", "--data-end", DATA_END, "--out", "report.html",
                   cwd=folder))
    page = (folder / "report.html").read_text()
    assert 'id="model-over-time"' in page and "Recommendation: retrain." in page
    assert "Web page views of any page type in the last" in page


def test_monitor_without_a_store_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    _ok(_leadscore("generate", "--leads", "200", "--out", "export", cwd=tmp_path))
    done = _leadscore("monitor", "export", "--store", "nowhere.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "leadscore monitor: no score store at nowhere.duckdb: `leadscore score` writes one (--store, "
        "LEADSCORE_STORE, default ./leadscore-scores.duckdb).")
