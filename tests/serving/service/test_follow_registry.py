"""`leadscore serve` follows the registry: moving `champion` swaps the model within 30 s, failing no request."""

from __future__ import annotations

import json
import threading
import time

import pytest

SWITCH_WITHIN_SECONDS = 30
N_CLIENTS = 2


def _log(model, name: str) -> int:
    import mlflow

    from leadscore.training.tracking import log_model

    with mlflow.start_run():
        return int(log_model(model, registered_model_name=name).registered_model_version)


@pytest.mark.slow
def test_moving_the_champion_alias_swaps_models_within_30_s_without_a_failed_request(
    serving_world, tmp_path, restore_mlflow_uris, run_serve,
):
    import mlflow
    import requests
    from mlflow import MlflowClient

    from leadscore.scorers.model.artifacts import LeadscoreModel

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    mlflow.set_experiment("leadscore-follow-test")
    client = MlflowClient()
    for model in (serving_world.sqo, serving_world.won):
        client_version = _log(model.model, model.name)
        client.set_registered_model_alias(model.name, "champion", client_version)

    key = "follow-key-0123456789abcdef"
    _, served = run_serve(["--poll-seconds", "1"], {"MLFLOW_TRACKING_URI": store, "LEADSCORE_API_KEYS": key})
    tables = serving_world.tables
    lead = tables.leads.iloc[[-20]]
    body = {"as_of": tables.data_end.isoformat(),
            "leads": json.loads(lead.to_json(orient="records", date_format="iso")),
            "events": json.loads(tables.events[tables.events["lead_id"] == lead["lead_id"].iloc[0]]
                                 .to_json(orient="records", date_format="iso"))}
    answers: list[tuple[float, int, str | None, float | None]] = []
    stop = threading.Event()

    def hammer() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    response = session.post(served.url + "/v1/score", json=body, timeout=30,
                                            headers={"Authorization": f"Bearer {key}"})
                    row = response.json()["scores"][0] if response.status_code == 200 else {}
                    answers.append((time.monotonic(), response.status_code, row.get("model_version"), row.get("p_sqo")))
                except requests.RequestException as exc:
                    answers.append((time.monotonic(), 0, repr(exc), None))

    clients = [threading.Thread(target=hammer, daemon=True) for _ in range(N_CLIENTS)]
    for client_thread in clients:
        client_thread.start()
    time.sleep(2)
    # A new SQO version: the same trees, another calibration, so its probabilities differ.
    inner = serving_world.sqo.model
    newer = LeadscoreModel(spec=inner.spec, calibration={"method": "sigmoid", "a": 1.3, "b": 0.4}, booster=inner.booster)
    version = _log(newer, "leadscore-sqo")
    assert version == 2
    moved = time.monotonic()
    client.set_registered_model_alias("leadscore-sqo", "champion", version)
    deadline = moved + SWITCH_WITHIN_SECONDS + 5
    while time.monotonic() < deadline:
        switched = [a for a in answers if a[0] > moved and a[2] == "2"]
        if switched and time.monotonic() > switched[0][0] + 2:
            break
        time.sleep(0.2)
    stop.set()
    for client_thread in clients:
        client_thread.join(timeout=60)

    assert len([a for a in answers if a[0] < moved]) >= 2  # requests were in flight before the move
    failed = [a for a in answers if a[1] != 200]
    assert failed == [], failed[:5]
    first_new = min(a[0] for a in answers if a[2] == "2")
    assert first_new - moved <= SWITCH_WITHIN_SECONDS
    after = [a for a in answers if a[0] > first_new + 0.5]
    assert after and {a[2] for a in after} == {"2"}  # no flapping back once swapped
    old_p = {a[3] for a in answers if a[2] == "1"}
    new_p = {a[3] for a in answers if a[2] == "2"}
    assert len(old_p) == 1 and len(new_p) == 1 and old_p != new_p
