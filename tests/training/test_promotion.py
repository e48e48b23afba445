"""``promote_challenger``: every branch of the promotion procedure on a real (temporary) MLflow registry.

The versions are bare registry entries and the evaluation is replaced by a fixed comparison table, so
these tests check the procedure (which versions are judged, which aliases move, which tags are written)
in well under a second; the real evaluation of logged models is covered by the slow end-to-end test of
``leadscore promote`` and by the retraining notebook's test.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import make_tables
from leadscore.training.config import config_from_dict
from leadscore.training.promotion import promote_challenger
from leadscore.training.registry import CHALLENGER, CHAMPION, alias_version

NAME = "leadscore-sqo"
CONFIG = config_from_dict({"gates": {"max_ece": 0.05, "promote_auc_tolerance": 0.01}})
TABLES = make_tables({}, data_end="2025-03-01", source="test-export")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """One temporary MLflow store for the module (creating a SQLite store costs about a second)."""
    import mlflow
    from mlflow import MlflowClient

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    uri = f"sqlite:///{tmp_path_factory.mktemp('promotion') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


@pytest.fixture(scope="module")
def model_files(serving_world, tmp_path_factory) -> Path:
    """A real logged model's files (the serving world's SQO champion), for versions a promotion may load."""
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    try:
        return Path(mlflow.artifacts.download_artifacts("models:/leadscore-sqo@champion",
                                                        dst_path=str(tmp_path_factory.mktemp("model-files"))))
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


@pytest.fixture
def client(registry, model_files):
    """``leadscore-sqo`` registered afresh with versions 1 and 2 (readable model files) and no alias."""
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):
        registry.delete_registered_model(NAME)
    registry.create_registered_model(NAME)
    for _ in range(2):
        registry.create_model_version(NAME, source=model_files.as_uri())
    return registry


@pytest.fixture
def unreadable_version(client, model_files, tmp_path) -> int:
    """Version 3, whose files are there but hold no model (its booster or coefficients overwritten)."""
    import shutil

    broken = tmp_path / "broken-model"
    shutil.copytree(model_files, broken)
    for name in ("booster.txt", "linear.json"):
        for path in broken.rglob(name):
            path.write_text("not a model\n")
    return int(client.create_model_version(NAME, source=broken.as_uri()).version)


def _aliases(client) -> tuple[int | None, int | None]:
    return alias_version(NAME, CHAMPION, client), alias_version(NAME, CHALLENGER, client)


def _no_evaluation(*args, **kwargs):
    raise AssertionError("nothing should have been evaluated")


def test_without_a_champion_the_challenger_becomes_champion_without_evaluation(client, monkeypatch) -> None:
    monkeypatch.setattr("leadscore.training.promotion.evaluate_versions", _no_evaluation)
    client.set_registered_model_alias(NAME, CHALLENGER, "1")
    # No tables, no config and no lineage on the version: none is needed to fill an empty champion seat.
    outcome = promote_challenger(None, "sqo", None, client=client)
    assert (outcome.challenger, outcome.champion, outcome.promoted, outcome.comparison) == (1, None, True, None)
    assert "no champion yet" in outcome.message
    assert _aliases(client) == (1, None)


def test_no_challenger_or_the_champion_itself_changes_nothing(client, monkeypatch) -> None:
    monkeypatch.setattr("leadscore.training.promotion.evaluate_versions", _no_evaluation)
    client.set_registered_model_alias(NAME, CHAMPION, "1")
    nothing = promote_challenger(None, "sqo", None, client=client)
    assert (nothing.challenger, nothing.champion, nothing.promoted) == (None, 1, False)
    assert "no challenger to promote (champion is version 1)" in nothing.message
    same = promote_challenger(None, "sqo", None, challenger=1, client=client)
    assert not same.promoted and "already the champion" in same.message
    assert _aliases(client) == (1, None)


def test_an_unknown_version_is_a_user_error(client) -> None:
    with pytest.raises(LeadscoreError, match="has no version 7"):
        promote_challenger(TABLES, "sqo", CONFIG, challenger=7, client=client)


@pytest.mark.parametrize(
    ("auc_drop", "promoted"),
    [(0.0, True), (0.005, True), (0.03, False)],
    ids=["equal", "within-tolerance", "worse"],
)
def test_champion_moves_only_to_a_challenger_that_is_not_worse(client, monkeypatch, auc_drop, promoted) -> None:
    judged = {}

    def evaluate(tables, target, uris, config):
        judged.update(tables=tables, target=target, uris=uris, config=config)
        return pd.DataFrame(
            {"roc_auc": [0.80 - auc_drop, 0.80, 0.70], "ece": [0.01, 0.01, float("nan")],
             "captured_at_k": [0.5, 0.5, 0.4], "log_loss": [0.3, 0.3, float("nan")]},
            index=["challenger", "champion", "rules"],
        )

    monkeypatch.setattr("leadscore.training.promotion.evaluate_versions", evaluate)
    client.set_registered_model_alias(NAME, CHAMPION, "1")
    client.set_registered_model_alias(NAME, CHALLENGER, "2")
    outcome = promote_challenger(TABLES, "sqo", CONFIG, client=client)

    assert judged == {"tables": TABLES, "target": "sqo", "config": CONFIG,
                      "uris": {"challenger": f"models:/{NAME}/2", "champion": f"models:/{NAME}/1"}}
    assert (outcome.challenger, outcome.champion, outcome.promoted) == (2, 1, promoted)
    assert outcome.decision.promote is promoted and list(outcome.comparison.index) == ["challenger", "champion", "rules"]
    assert outcome.message.startswith("promoted: version 2" if promoted else "not promoted: version 1 stays")
    assert _aliases(client) == ((2, None) if promoted else (1, 2))
    # Whichever way it went, both versions carry the comparison and the window it was made on.
    for version, role in ((2, "challenger"), (1, "champion")):
        tags = client.get_model_version(NAME, str(version)).tags
        assert tags["leadscore.promote.role"] == role
        assert tags["leadscore.promote.test_window"] == outcome.evaluated_on
        assert "test-export" in outcome.evaluated_on and "2025-03-01" in outcome.evaluated_on
    assert float(client.get_model_version(NAME, "2").tags["leadscore.promote.roc_auc"]) == pytest.approx(0.80 - auc_drop)


@pytest.mark.parametrize("force", [True, False])
def test_a_version_whose_files_are_not_a_model_never_becomes_champion_even_forced(client, unreadable_version,
                                                                                  monkeypatch, force) -> None:
    monkeypatch.setattr("leadscore.training.promotion.evaluate_versions", _no_evaluation)
    if force:
        client.set_registered_model_alias(NAME, CHAMPION, "1")
    with pytest.raises(LeadscoreError, match=f"{NAME} version {unreadable_version} cannot be read as a leadscore "
                                             "model .*; champion stays where it is"):
        promote_challenger(None, "sqo", None, challenger=unreadable_version, client=client, force=force)
    assert _aliases(client)[0] == (1 if force else None)
