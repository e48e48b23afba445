"""Loading registered models: name and version travel with the model, missing models say what to do."""

from __future__ import annotations

import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.serving.loading import load_scoring_model


@pytest.fixture
def in_world_store(serving_world):
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    yield serving_world
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


def test_an_alias_resolves_to_the_registered_name_and_version(serving_world) -> None:
    assert (serving_world.sqo.name, serving_world.sqo.version, serving_world.sqo.target) == ("leadscore-sqo", "1", "sqo")
    assert serving_world.sqo.feature_names == [f["name"] for f in serving_world.sqo.spec["features"]]
    assert set(serving_world.sqo.grade_cuts) == {"A", "B", "C"}


def test_a_numbered_version_loads_the_same_model(in_world_store) -> None:
    model = load_scoring_model("models:/leadscore-won/1")
    assert (model.name, model.version, model.target) == ("leadscore-won", "1", "won")
    assert model.booster.model_to_string() == in_world_store.won.booster.model_to_string()


def test_a_missing_model_says_to_train_one_first(in_world_store) -> None:
    with pytest.raises(LeadscoreError, match=r"no model at models:/leadscore-won@challenger .*"
                                             r"run `leadscore train DATA --target won` first"):
        load_scoring_model("models:/leadscore-won@challenger")


def test_a_model_for_the_other_target_is_refused(in_world_store) -> None:
    with pytest.raises(LeadscoreError, match="predicts won, not sqo"):
        load_scoring_model("models:/leadscore-won@champion", target="sqo")
