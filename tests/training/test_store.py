"""The shared local store: alias changes take turns under the store's lock and never tell an untrue story."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from leadscore.training.config import config_from_dict
from leadscore.training.registry import (
    CHALLENGER,
    CHAMPION,
    AliasAssignment,
    alias_version,
    apply_gates,
    assign_alias,
)
from leadscore.training.store import local_database, store_lock

PASSING = apply_gates(
    pd.DataFrame({"roc_auc": [0.9], "ece": [0.01], "auc_gain_over_rules": [0.1]}, index=["model", "rules"]).assign(
        roc_auc=[0.9, 0.8]),
    config_from_dict({}).gates,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A fresh SQLite store for this module (creating one costs seconds)."""
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


@pytest.fixture
def registry(store, request, tmp_path):
    """The store's URI, a client, and a registered model of this test's own with three versions, no alias."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    client = MlflowClient()
    name = f"leadscore-{request.node.name.replace('_', '-')[:60]}"
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, source=(tmp_path / "model").as_uri())
    return store, client, name


def test_the_gates_used_here_pass() -> None:
    assert PASSING.passed


def test_the_lock_file_lies_beside_a_local_database(tmp_path) -> None:
    assert local_database(f"sqlite:///{tmp_path}/mlflow.db") == tmp_path / "mlflow.db"
    assert local_database("http://tracking.example:5000") is None


def test_an_older_version_never_takes_challenger_from_a_newer_one_and_says_so(registry) -> None:
    _, client, name = registry
    assert assign_alias(name, 1, PASSING, client) == AliasAssignment(CHAMPION)
    assert assign_alias(name, 3, PASSING, client) == AliasAssignment(CHALLENGER)
    late = assign_alias(name, 2, PASSING, client)
    assert late == AliasAssignment(None, f"version 3, registered after it, already holds {CHALLENGER}")
    assert (alias_version(name, CHAMPION, client), alias_version(name, CHALLENGER, client)) == (1, 3)


def test_a_newer_challenger_says_which_version_it_replaced(registry) -> None:
    _, client, name = registry
    assign_alias(name, 1, PASSING, client)
    assign_alias(name, 2, PASSING, client)
    assert assign_alias(name, 3, PASSING, client) == AliasAssignment(CHALLENGER, "replacing version 2")


def test_alias_changes_wait_for_the_store_lock(registry) -> None:
    uri, client, name = registry
    outcome = {}
    with store_lock(uri):
        worker = threading.Thread(target=lambda: outcome.update(got=assign_alias(name, 1, PASSING, client)))
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive() and alias_version(name, CHAMPION, client) is None
    worker.join(timeout=30)
    assert outcome["got"] == AliasAssignment(CHAMPION) and alias_version(name, CHAMPION, client) == 1
