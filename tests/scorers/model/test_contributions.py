"""Contributions per lead and per story: exact sums, the right speaker, LightGBM's own view of the input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.scorers.model.contributions import (
    booster_matrix,
    explain_margin,
    lead_story_feature,
    story_members,
    sum_by_story,
)

SPEC = [
    {"name": "n_pricing_views_7d", "kind": "numeric", "story": "pricing_interest"},
    {"name": "employees", "kind": "numeric", "story": "company_size"},
    {"name": "n_pricing_views_30d", "kind": "numeric", "story": "pricing_interest"},
    {"name": "employees_band", "kind": "categorical", "story": "company_size"},
    {"name": "channel", "kind": "categorical", "story": "channel"},
    {"name": "n_pricing_views_90d", "kind": "numeric", "story": "pricing_interest"},
    {"name": "orphan", "kind": "numeric", "story": ""},
]


def test_group_sums_equal_the_sum_of_their_members() -> None:
    values = np.random.default_rng(0).normal(size=(50, len(SPEC)))
    stories, sums = sum_by_story(values, SPEC)
    assert stories == ["pricing_interest", "company_size", "channel", "orphan"]
    np.testing.assert_allclose(sums[:, 0], values[:, [0, 2, 5]].sum(axis=1))
    np.testing.assert_allclose(sums[:, 1], values[:, [1, 3]].sum(axis=1))
    np.testing.assert_allclose(sums[:, 2], values[:, 4])
    # every contribution lands in exactly one story
    np.testing.assert_allclose(sums.sum(axis=1), values.sum(axis=1))


def test_a_story_is_phrased_by_the_member_pushing_hardest_in_its_direction() -> None:
    values = np.zeros((2, len(SPEC)))
    # lead 0: the pricing story is positive overall (0.8): its most positive member (7d) speaks, not the
    # member with the largest absolute push (90d, against the story's direction)
    values[0, [0, 2, 5]] = [0.9, 0.5, -0.6]
    # lead 1: pricing story negative overall; the most negative member speaks
    values[1, [0, 2, 5]] = [0.1, -0.4, -0.2]
    _, sums = sum_by_story(values, SPEC)
    speaker = lead_story_feature(values, sums, SPEC)
    assert speaker[0, 0] == 0 and speaker[1, 0] == 2
    assert speaker[0, 2] == 4  # a one-feature story speaks for itself
    _, members = story_members(SPEC)
    assert [m.tolist() for m in members] == [[0, 2, 5], [1, 3], [4], [6]]


def _categorical_model() -> tuple[object, pd.DataFrame]:
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    n = 1500
    X = pd.DataFrame({
        "x": rng.normal(size=n),
        "c": pd.Categorical(rng.choice(["a", "b", "c", "d"], n), categories=["a", "b", "c", "d"]),
    })
    y = ((X["c"].isin(["b", "d"])) ^ (X["x"] > 0.5)).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "min_data_in_leaf": 10, "min_data_per_group": 10,
                         "verbosity": -1, "num_threads": 1}, lgb.Dataset(X, y), num_boost_round=15)
    return booster, X


def test_the_booster_matrix_recodes_categories_the_way_lightgbm_does() -> None:
    booster, X = _categorical_model()
    # same values, categories declared in another order (and one unseen category): LightGBM re-codes by name
    shuffled = X.assign(c=pd.Categorical(X["c"].astype(str), categories=["d", "zz", "c", "b", "a"]))
    M = booster_matrix(booster, shuffled)
    np.testing.assert_array_equal(M[:, 1], X["c"].cat.codes.to_numpy().astype(float))
    np.testing.assert_allclose(booster.predict(M, raw_score=True), booster.predict(shuffled, raw_score=True))


def test_spec_matrix_is_what_lightgbm_makes_of_the_encoded_frame() -> None:
    from leadscore.scorers.model.encoding import encode_features, spec_matrix

    booster, X = _categorical_model()
    spec = [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical", "categories": ["a", "b", "c", "d"]}]
    # built features: text categories, one the model never saw, one missing; numbers with a gap
    features = pd.DataFrame({"x": X["x"].to_numpy(), "c": pd.array(X["c"].astype(str).to_numpy(), dtype="str")})
    features.loc[3, "c"] = "zz"
    features.loc[5, "c"] = None
    features.loc[7, "x"] = np.nan
    encoded = encode_features(features, spec)
    expected = booster_matrix(booster, encoded)
    np.testing.assert_array_equal(spec_matrix(features, spec, booster.pandas_categorical), expected)
    np.testing.assert_array_equal(spec_matrix(features, spec), expected)
    # a booster that lists the categories in another order codes them by its own order
    reordered = [["d", "c", "b", "a"]]
    np.testing.assert_array_equal(spec_matrix(features, spec, reordered)[:, 1],
                                  np.array([{"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0}.get(v, np.nan)
                                            for v in features["c"].astype(object)]))
    assert np.array_equal(booster.predict(expected, raw_score=True), booster.predict(encoded, raw_score=True))


def test_a_few_rows_get_the_same_margin_on_one_thread_as_on_all() -> None:
    from leadscore.scorers.model.contributions import SERIAL_ROWS, raw_margin

    booster, X = _categorical_model()
    M = booster_matrix(booster, X)
    assert len(M) < SERIAL_ROWS
    np.testing.assert_array_equal(raw_margin(booster, M[:3]), booster.predict(M[:3], raw_score=True))
    big = np.tile(M, (SERIAL_ROWS // len(M) + 1, 1))
    np.testing.assert_array_equal(raw_margin(booster, big)[: len(M)], raw_margin(booster, M))


class _Model:
    """The slice of leadscore.scorers.model.artifacts.LeadscoreModel that explain_margin uses."""

    target = "sqo"

    def __init__(self, booster: object, compiled: object) -> None:
        self.booster = booster
        self._compiled = compiled

    def compiled_trees(self) -> object:
        return self._compiled


def test_explain_margin_reconstructs_the_margin_with_either_method() -> None:
    from leadscore.scorers.model.treeshap import compile_booster

    booster, X = _categorical_model()
    for compiled, method in ((compile_booster(booster), "tables"), (None, "lightgbm")):
        result = explain_margin(_Model(booster, compiled), X)
        assert result.method == method
        np.testing.assert_allclose(result.base_value + result.values.sum(axis=1), booster.predict(X, raw_score=True),
                                   rtol=0, atol=1e-9)
        np.testing.assert_allclose(result.margin, booster.predict(X, raw_score=True), rtol=0, atol=1e-12)


def test_explain_margin_never_returns_contributions_that_miss_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import leadscore.scorers.model.treeshap as treeshap
    from leadscore.scorers.model.treeshap import compile_booster

    booster, X = _categorical_model()
    real = treeshap.explain_matrix

    def broken(compiled: object, matrix: np.ndarray, parallel: bool = True) -> tuple[np.ndarray, np.ndarray]:
        values, margin = real(compiled, matrix, parallel)
        values[:, 0] += 0.01
        return values, margin

    monkeypatch.setattr(treeshap, "explain_matrix", broken)
    result = explain_margin(_Model(booster, compile_booster(booster)), X)
    assert result.method == "lightgbm"
    np.testing.assert_allclose(result.values, booster.predict(X, pred_contrib=True)[:, :-1], rtol=0, atol=1e-12)
