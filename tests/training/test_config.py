"""Training configuration: shipped defaults, strict validation, partial overrides."""

from __future__ import annotations

import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.training.config import config_from_dict, config_to_dict, load_config


def test_shipped_defaults_keep_the_model_cheap_to_explain() -> None:
    config = load_config()
    assert config.lightgbm.num_leaves <= 15
    assert config.lightgbm.max_depth <= 5
    assert config.lightgbm.max_trees <= 300
    assert 0.05 <= config.lightgbm.learning_rate <= 0.1


def test_a_partial_file_overrides_only_its_keys(tmp_path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("lightgbm:\n  num_leaves: 7\nseed: 11\n")
    config = load_config(path)
    assert config.lightgbm.num_leaves == 7
    assert config.seed == 11
    assert config.lightgbm.max_depth == load_config().lightgbm.max_depth


def test_an_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(LeadscoreError, match=r"lightgbm\.learning_rat"):
        config_from_dict({"lightgbm": {"learning_rat": 0.1}})


def test_a_retired_split_key_says_what_replaced_it() -> None:
    with pytest.raises(LeadscoreError, match=r"split\.train_fraction is no longer a training setting .*split\.folds"):
        config_from_dict({"split": {"train_fraction": 0.7}})


def test_grade_shares_must_leave_room_for_grade_d() -> None:
    with pytest.raises(LeadscoreError, match="grades"):
        config_from_dict({"grades": {"a_fraction": 0.5, "b_fraction": 0.3, "c_fraction": 0.2}})


def test_unknown_calibration_method_is_refused() -> None:
    with pytest.raises(LeadscoreError, match="calibration.methods"):
        config_from_dict({"calibration": {"methods": ["beta"]}})


def test_invalid_yaml_is_a_user_error(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("lightgbm: [unclosed\n")
    with pytest.raises(LeadscoreError, match="not valid YAML"):
        load_config(path)


def test_config_round_trips_through_its_plain_form() -> None:
    config = config_from_dict({"training_set": {"offsets_days": [0, 3]}})
    assert config_from_dict(config_to_dict(config)) == config


def test_a_local_sqlite_store_keeps_its_artifacts_beside_the_database(tmp_path) -> None:
    from leadscore.training.tracking import local_artifact_location

    location = local_artifact_location(f"sqlite:///{tmp_path}/mlflow.db")
    assert location == (tmp_path / "mlartifacts").as_uri()
    assert local_artifact_location("http://mlflow.example:5000") is None
