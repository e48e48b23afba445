"""What a caller without a key learns from ``/ready``: fixed sentences (no champion yet, the store cannot be reached, a
champion refused, a reload that failed), versions and moments, never an exception's text, a path or a store's URI.
And the service and the batch scorer agree on time for the leads the service's export knows.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

SECRET = "s3cretPW"
# Anything that would say where the service keeps its files or how it reaches its store.
INTERNALS = re.compile(r"/tmp/|/home/|\.db\b|sqlite|http://|Traceback|Error\b|" + SECRET)


def _ready(serve_app, follower, context=None) -> tuple[int, dict]:
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.service.app import ServiceConfig, create_app

    served = serve_app(create_app(ServiceConfig(rules=load_rules(None), require_key=False), follower, context))
    answer = served.get("/ready")
    assert not INTERNALS.search(answer.text), answer.text
    return answer.status_code, answer.json()


def _follower():
    from leadscore.serving.service.follower import ModelFollower

    return ModelFollower("models:/leadscore-sqo@champion", "models:/leadscore-won@champion", 3600)


def _point_mlflow_at(uri: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def test_ready_says_there_is_no_champion_yet_in_a_fixed_sentence(tmp_path, restore_mlflow_uris, serve_app):
    from leadscore.training.store import set_up_store

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    set_up_store(store)
    _point_mlflow_at(store)
    follower = _follower()
    follower.refresh()
    status, body = _ready(serve_app, follower)
    assert (status, body["ready"], body["why"]) == (503, False, "no champion for leadscore-sqo yet")


def test_ready_says_the_store_cannot_be_reached_and_never_its_address(restore_mlflow_uris, monkeypatch, serve_app):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    _point_mlflow_at(f"http://alice:{SECRET}@127.0.0.1:{port}")
    follower = _follower()
    follower.refresh()
    status, body = _ready(serve_app, follower)
    assert (status, body["why"]) == (503, "the model store cannot be reached")


def test_a_champion_that_cannot_be_read_is_refused_and_ready_says_so_while_the_old_one_serves(
        serving_world, tmp_path, restore_mlflow_uris, serve_app):
    import mlflow
    from mlflow import MlflowClient

    from leadscore.training.tracking import log_model

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _point_mlflow_at(store)
    mlflow.set_experiment("leadscore-refused")
    with mlflow.start_run():
        good = int(log_model(serving_world.sqo.model, registered_model_name="leadscore-sqo").registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias("leadscore-sqo", "champion", str(good))
    follower = _follower()
    assert follower.refresh()
    files = Path(mlflow.artifacts.download_artifacts(f"models:/leadscore-sqo/{good}", dst_path=str(tmp_path / "v")))
    broken = tmp_path / "broken"
    shutil.copytree(files, broken)
    for path in [*broken.rglob("booster.txt"), *broken.rglob("linear.json")]:
        path.write_text("not a model\n")
    bad = int(client.create_model_version("leadscore-sqo", broken.as_uri()).version)
    client.set_registered_model_alias("leadscore-sqo", "champion", str(bad))
    assert not follower.refresh()
    status, body = _ready(serve_app, follower)
    assert status == 200 and body["models"]["sqo"] == {"name": "leadscore-sqo", "version": str(good)}
    assert body["refused"]["why"] == (f"refused leadscore-sqo version {bad}: its files cannot be read as a leadscore "
                                      "model, or it did not score a test lead")
    assert pd.Timestamp(body["refused"]["at"]).tzinfo is not None


@pytest.fixture
def world_export(serving_world, tmp_path) -> Path:
    from leadscore.features.synthetic.demo import write_export

    folder = tmp_path / "export"
    write_export(serving_world.frames, serving_world.truth, folder, "parquet")
    return folder


def test_ready_shows_the_exports_data_end_and_a_failed_reload_in_fixed_words(serving_world, world_export,
                                                                            restore_mlflow_uris, serve_app):
    from leadscore.serving.service.context import ExportContext

    _point_mlflow_at(serving_world.tracking_uri)
    follower = _follower()
    follower.refresh()
    context = ExportContext(str(world_export), data_end=serving_world.tables.data_end.isoformat(), reload_minutes=0)
    context.load()
    _, body = _ready(serve_app, follower, context)
    assert pd.Timestamp(body["export"]["data_end"]) == serving_world.tables.data_end
    assert "reload_failed" not in body["export"]
    (world_export / "leads.parquet").write_bytes(b"not parquet")
    context.reload()
    _, body = _ready(serve_app, follower, context)
    assert body["export"]["last_reload"]["ok"] is False
    assert body["export"]["reload_failed"].startswith("the last reload failed (the service log says why); the export "
                                                      "loaded at ")
    assert pd.Timestamp(body["export"]["data_end"]) == serving_world.tables.data_end  # the loaded one serves on


def test_a_lead_the_export_knows_is_scored_at_the_exports_data_end_as_the_batch_scorer_scores_it(
        serving_world, world_export, start_service, restore_mlflow_uris):
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.score import score_leads
    from leadscore.serving.service.context import ExportContext

    tables = serving_world.tables
    end = tables.data_end
    context = ExportContext(str(world_export), data_end=end.isoformat(), reload_minutes=0)
    context.load()
    served = start_service(context=context)
    known = tables.leads["lead_id"].iloc[-40]
    _point_mlflow_at(serving_world.tracking_uri)
    batch, _ = score_leads(tables, serving_world.sqo, serving_world.won, load_rules(None),
                           leads=pd.DataFrame({"lead_id": [known]}), progress=False)

    rows = served.post({"leads": [{"lead_id": known}]}).json()["scores"]  # no as_of: "now", months after the end
    assert pd.Timestamp(rows[0]["as_of"]) == end and rows[0]["status"] == batch["status"].iloc[0] == "ok"
    assert rows[0]["p_sqo"] == batch["p_sqo"].iloc[0] and rows[0]["reasons"] == batch["reasons"].iloc[0]

    later = (end + pd.Timedelta(days=30)).isoformat()
    new = {"lead_id": "brand-new", "captured_at": (end + pd.Timedelta(days=29)).isoformat(), "channel": "email"}
    rows = served.post({"as_of": later, "leads": [{"lead_id": known}, new]}).json()["scores"]
    assert [r["status"] for r in rows] == ["as_of after the data's end", "ok"]
    assert rows[0]["p_sqo"] is None

    # What the CRM sends about a known lead after the export's end extends what is known of it.
    event_at = end + pd.Timedelta(days=3)
    rows = served.post({"leads": [{"lead_id": known}], "events": [
        {"lead_id": known, "occurred_at": event_at.isoformat(), "event_type": "demo_request"}]}).json()["scores"]
    assert pd.Timestamp(rows[0]["as_of"]) == event_at and rows[0]["status"] == "ok"
    assert json.dumps(rows)  # plain JSON values
