"""The logged MLflow model answers like the batch scorer: lead_id, probability, score, grade and reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.building.builder import build_features
from leadscore.features.building.spine import make_spine
from leadscore.features.building.stages import funnel_position
from leadscore.scorers.rules import load_rules
from leadscore.serving.score import model_vocabulary, score_leads


def _features_and_scores(world):
    """Every 25th lead still open or at SQO at the data's end: the pyfunc answers for any feature row, the
    scorer gives p_sqo to open leads only and p_win to open leads and (the WON model covering them) to open
    opportunities."""
    tables = world.tables
    spine, _ = make_spine(tables, leads=pd.DataFrame({"lead_id": tables.leads["lead_id"].iloc[::25]}))
    spine = spine[funnel_position(tables, spine).isin(["open", "sqo"]).to_numpy()].reset_index(drop=True)
    scores, _ = score_leads(tables, world.sqo, world.won, load_rules(None), leads=spine)
    features = build_features(tables, spine, vocabulary=model_vocabulary(world.sqo, world.won))
    return features, scores


def test_the_pyfunc_answers_with_the_scorers_probability_score_grade_and_reasons(
    serving_world, restore_mlflow_uris,
) -> None:
    import mlflow

    mlflow.set_tracking_uri(serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    features, scores = _features_and_scores(serving_world)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{serving_world.sqo.name}/{serving_world.sqo.version}")
    answer = pyfunc.predict(features)  # what `leadscore features` writes: lead_id, as_of and the features
    assert list(answer.columns) == ["lead_id", "p_raw", "p", "score", "grade", "reasons_positive",
                                    "reasons_negative", "reasons"]
    assert answer["lead_id"].tolist() == scores["lead_id"].tolist()
    is_open = (scores["status"] == "ok").to_numpy()
    np.testing.assert_array_equal(answer["p"].to_numpy()[is_open], scores["p_sqo"].to_numpy()[is_open])
    assert scores.loc[~is_open, "p_sqo"].isna().all()  # the scorer: a lead at SQO gets no p_sqo
    assert answer["score"][is_open].tolist() == scores["score"][is_open].tolist()
    for column in ("grade", "reasons_positive", "reasons_negative", "reasons"):
        assert answer[column][is_open].tolist() == scores[column][is_open].tolist(), column
    won = mlflow.pyfunc.load_model(f"models:/{serving_world.won.name}/{serving_world.won.version}")
    chained = won.predict(features)
    assert list(chained.columns) == [*answer.columns, "p_given_sqo"]
    # the chain: p = p_sqo x q with the SQO link the WON model carries (here the served SQO model), so an open
    # lead gets the scorer's p_win; a lead already at SQO gets q as calibrated on open opportunities
    at_sqo = (funnel_position(serving_world.tables, scores[["lead_id", "as_of"]]) == "sqo").to_numpy()
    assert at_sqo.any() and (~at_sqo).any()
    np.testing.assert_allclose(chained["p"].to_numpy()[~at_sqo], scores["p_win"].to_numpy()[~at_sqo], rtol=1e-12)
    won_model = serving_world.won.model
    past = won_model.calibrate_past_sqo(won_model.margin(features))  # q calibrated on open opportunities
    np.testing.assert_allclose(past[at_sqo], scores["p_win"].to_numpy()[at_sqo], rtol=1e-12)
    assert (chained["p"] <= answer["p"] + 1e-12).all()


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
    assert signature.optional_input_names() == ["lead_id"]
