"""The logged MLflow model answers like the batch scorer: lead_id, probability, score, grade and reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.building.builder import build_features
from leadscore.features.building.spine import make_spine
from leadscore.features.building.stages import funnel_position
from leadscore.scorers.rules import load_rules
from leadscore.serving.score import model_vocabulary, score_leads


def _features_and_scores(world):
    """Every 25th lead, open, at SQO or closed at the data's end: the rows `leadscore features` writes (with
    ``funnel_position``) and the batch scorer's rows for them."""
    tables = world.tables
    spine, _ = make_spine(tables, leads=pd.DataFrame({"lead_id": tables.leads["lead_id"].iloc[::25]}))
    scores, _ = score_leads(tables, world.sqo, world.won, load_rules(None), leads=spine)
    features = build_features(tables, spine, vocabulary=model_vocabulary(world.sqo, world.won))
    features.insert(2, "funnel_position", funnel_position(tables, spine).array)
    return features, scores


def _missing_as_empty(values: pd.Series) -> list:
    """Missing numbers and texts alike as "" (the pyfunc's texts are empty where the scorer's are missing)."""
    return ["" if pd.isna(v) else v for v in values.tolist()]


def test_the_pyfunc_answers_every_row_as_the_batch_scorer_does_closed_and_sqo_leads_included(
    serving_world, restore_mlflow_uris,
) -> None:
    import mlflow

    mlflow.set_tracking_uri(serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    features, scores = _features_and_scores(serving_world)
    assert set(features["funnel_position"]) >= {"open", "sqo", "won", "lost"}
    pyfunc = mlflow.pyfunc.load_model(f"models:/{serving_world.sqo.name}/{serving_world.sqo.version}")
    answer = pyfunc.predict(features)
    assert list(answer.columns) == ["lead_id", "p_raw", "p", "score", "grade", "reasons_positive",
                                    "reasons_negative", "reasons", "status"]
    assert answer["lead_id"].tolist() == scores["lead_id"].tolist()
    assert answer["status"].tolist() == scores["status"].tolist()
    # a customer, a lost or disqualified lead and a lead already at SQO get no p_sqo, as in the batch
    np.testing.assert_array_equal(answer["p"].to_numpy(dtype=float), scores["p_sqo"].to_numpy(dtype=float))
    for column in ("score", "grade", "reasons_positive", "reasons_negative", "reasons"):
        assert _missing_as_empty(answer[column]) == _missing_as_empty(scores[column]), column
    won = mlflow.pyfunc.load_model(f"models:/{serving_world.won.name}/{serving_world.won.version}")
    chained = won.predict(features)
    assert list(chained.columns) == [*answer.columns[:-1], "p_given_sqo", "status"]
    # the chain: p = p_sqo x q with the SQO link the WON model carries (here the served SQO model), so an open
    # lead gets the scorer's p_win; a lead already at SQO gets q as calibrated on open opportunities; a
    # closed lead none
    np.testing.assert_allclose(chained["p"].to_numpy(dtype=float), scores["p_win"].to_numpy(dtype=float), rtol=1e-12)
    at_sqo = (features["funnel_position"] == "sqo").to_numpy()
    assert at_sqo.any() and np.isfinite(chained["p"].to_numpy(dtype=float)[at_sqo]).all()
    assert (chained["p"].fillna(0) <= answer["p"].fillna(1) + 1e-12).all()


def test_a_feature_file_without_funnel_position_is_answered_as_open_leads(serving_world, restore_mlflow_uris) -> None:
    import mlflow

    mlflow.set_tracking_uri(serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    features, scores = _features_and_scores(serving_world)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{serving_world.sqo.name}/{serving_world.sqo.version}")
    answer = pyfunc.predict(features.drop(columns="funnel_position"))
    assert (answer["status"] == "ok").all() and answer["p"].notna().all()
    is_open = (scores["status"] == "ok").to_numpy()
    np.testing.assert_array_equal(answer["p"].to_numpy()[is_open], scores["p_sqo"].to_numpy()[is_open])


def test_a_funnel_position_that_is_no_position_is_refused_naming_the_column_and_rows(serving_world) -> None:
    from leadscore.scorers.model.answer import answer_features

    features, _ = _features_and_scores(serving_world)
    features.loc[[1, 4], "funnel_position"] = "customer"
    with pytest.raises(ValueError, match=r"funnel_position: 2 rows .*row 2 'customer', row 5 'customer'"):
        answer_features(serving_world.sqo.model, features)


def test_integer_feature_columns_are_accepted_and_read_as_numbers(serving_world, restore_mlflow_uris) -> None:
    import mlflow

    mlflow.set_tracking_uri(serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    features, _ = _features_and_scores(serving_world)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{serving_world.sqo.name}/{serving_world.sqo.version}")
    counts = [c for c in features.columns if c.startswith("n_") and features[c].notna().all()
              and (features[c] % 1 == 0).all() and features[c].max() > 1]
    assert len(counts) >= 3
    as_integers = features.astype({c: "int64" for c in counts})
    pd.testing.assert_frame_equal(pyfunc.predict(as_integers), pyfunc.predict(features))
    signature = pyfunc.metadata.get_input_schema()
    assert signature.optional_input_names() == ["lead_id", "funnel_position"]


def test_rows_of_closed_leads_only_and_no_rows_are_answered_without_asking_the_model(serving_world) -> None:
    # A Spark partition may hold only customers, or nothing at all.
    from leadscore.scorers.model.answer import answer_features

    features, _ = _features_and_scores(serving_world)
    features["funnel_position"] = "won"
    for model in (serving_world.sqo.model, serving_world.won.model):
        closed = answer_features(model, features)
        assert len(closed) == len(features) and closed["p"].isna().all() and closed["score"].isna().all()
        assert (closed["status"] == "closed: won").all() and (closed["grade"] == "").all()
        empty = answer_features(model, features.iloc[:0])
        assert len(empty) == 0 and list(empty.columns) == list(closed.columns)


def test_a_frame_whose_index_repeats_is_answered_row_by_row_in_its_order(serving_world) -> None:
    # pd.concat of two feature files repeats the index; closed leads among them must not shift any answer.
    from leadscore.scorers.model.answer import answer_features

    features, scores = _features_and_scores(serving_world)
    twice = pd.concat([features, features.iloc[::-1]])
    assert twice.index.duplicated().any() and (twice["funnel_position"] != "open").any()
    answer = answer_features(serving_world.sqo.model, twice)
    assert answer.index.equals(twice.index)
    expected = pd.concat([scores, scores.iloc[::-1]])
    assert answer["lead_id"].tolist() == expected["lead_id"].tolist()
    assert answer["status"].tolist() == expected["status"].tolist()
    np.testing.assert_array_equal(answer["p"].to_numpy(dtype=float), expected["p_sqo"].to_numpy(dtype=float))
