"""Exact SHAP: the compiled tables, LightGBM's pred_contrib, the shap package and brute force agree."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from leadscore.scorers.model.treeshap import compile_booster, explain_matrix


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numeric columns with NaN and exact zeros, and categoricals with missing values."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    X.loc[rng.random(n) < 0.15, "x0"] = np.nan
    X.loc[rng.random(n) < 0.25, "x1"] = 0.0
    X["c0"] = pd.Categorical(rng.choice(list("abcdefghij"), n))
    X["c1"] = pd.Categorical(rng.choice(["north", "south", "east"], n))
    X.loc[rng.random(n) < 0.1, "c0"] = np.nan
    signal = (X["x0"].fillna(2.0) + X["x1"] * X["x2"] + X["c0"].isin(list("ace")) * 1.5
              - (X["c1"] == "east") + rng.normal(size=n))
    return X, (signal > 1.0).to_numpy().astype(int)


def _booster(params: dict, seed: int = 0, n: int = 3000, rounds: int = 40) -> tuple[object, pd.DataFrame]:
    import lightgbm as lgb

    X, y = _frame(n, seed)
    base = {"objective": "binary", "num_leaves": 15, "max_depth": 5, "min_data_in_leaf": 10, "min_data_per_group": 10,
            "cat_smooth": 1.0, "learning_rate": 0.1, "verbosity": -1, "num_threads": 1, "seed": seed}
    return lgb.train({**base, **params}, lgb.Dataset(X, y), num_boost_round=rounds), X


def _matrix(booster: object, X: pd.DataFrame) -> np.ndarray:
    from leadscore.scorers.model.contributions import booster_matrix

    return booster_matrix(booster, X)


PARAMS = {
    "depth 5": {},
    "zero as missing": {"zero_as_missing": True},
    "missing off": {"use_missing": False},
    "leaf-wise, deep": {"max_depth": -1, "num_leaves": 31, "min_data_in_leaf": 5},
    "one-hot categoricals": {"max_cat_to_onehot": 16},
}


@pytest.mark.parametrize("params", PARAMS.values(), ids=PARAMS.keys())
def test_compiled_tables_equal_lightgbm_pred_contrib(params: dict) -> None:
    booster, X = _booster(params)
    compiled = compile_booster(booster)
    assert compiled is not None
    contributions, margin = explain_matrix(compiled, _matrix(booster, X))
    expected = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contributions, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(margin, booster.predict(X, raw_score=True), rtol=0, atol=1e-9)


def test_contributions_plus_base_value_reconstruct_the_raw_margin() -> None:
    booster, X = _booster({}, seed=3)
    contributions, _ = explain_matrix(compile_booster(booster), _matrix(booster, X))
    raw = booster.predict(X, raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, rtol=0, atol=1e-9)
    # the base value is the same for every lead: the training-weighted mean margin
    assert np.ptp(contributions[:, -1]) == 0.0


def test_shap_tree_explainer_agrees_with_lightgbm_pred_contrib_on_a_categorical_model() -> None:
    import shap

    booster, X = _booster({}, seed=5, n=2000)
    assert any(s["decision_type"] == "==" for s in _splits(booster.dump_model()["tree_info"][0]["tree_structure"])) \
        or booster.pandas_categorical
    explainer = shap.TreeExplainer(booster)
    values = explainer.shap_values(X)
    values = values[1] if isinstance(values, list) else values
    expected = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(values, expected[:, :-1], rtol=0, atol=1e-6)
    base = explainer.expected_value
    base = base[1] if np.ndim(base) else base
    assert base == pytest.approx(expected[0, -1], abs=1e-6)
    ours, _ = explain_matrix(compile_booster(booster), _matrix(booster, X))
    np.testing.assert_allclose(ours[:, :-1], values, rtol=0, atol=1e-6)


def _splits(node: dict) -> list[dict]:
    if "split_index" not in node:
        return []
    return [node, *_splits(node["left_child"]), *_splits(node["right_child"])]


def _goes_left(node: dict, x: float) -> bool:
    if node["decision_type"] == "==":
        if np.isnan(x) or x < 0:
            return False
        return str(int(x)) in str(node["threshold"]).split("||")
    missing = node["missing_type"]
    if np.isnan(x) and missing != "NaN":
        x = 0.0
    if (missing == "Zero" and x == 0.0) or (missing == "NaN" and np.isnan(x)):
        return bool(node["default_left"])
    return x <= node["threshold"]


def _cover(node: dict) -> float:
    return float(node["internal_count"] if "split_index" in node else node["leaf_count"])


def _value(node: dict, x: np.ndarray, known: frozenset[int]) -> float:
    """Path-dependent expectation E[f | x_S]: follow x on known features, else average by training cover."""
    if "split_index" not in node:
        return float(node["leaf_value"])
    left, right = node["left_child"], node["right_child"]
    if node["split_feature"] in known:
        return _value(left if _goes_left(node, x[node["split_feature"]]) else right, x, known)
    total = _cover(node)
    return (_cover(left) * _value(left, x, known) + _cover(right) * _value(right, x, known)) / total


def test_tables_equal_brute_force_shapley_values_of_the_path_dependent_game() -> None:
    """An independent check: enumerate every coalition of a small model's features."""
    import lightgbm as lgb

    X, y = _frame(600, 9)
    X = X[["x0", "x1", "x2", "c0", "c1"]]
    booster = lgb.train({"objective": "binary", "num_leaves": 6, "max_depth": 4, "min_data_in_leaf": 10,
                         "min_data_per_group": 10, "cat_smooth": 1.0, "verbosity": -1, "num_threads": 1},
                        lgb.Dataset(X, y), num_boost_round=4)
    trees = [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    M = _matrix(booster, X)
    ours, _ = explain_matrix(compile_booster(booster), M)
    n_features = M.shape[1]
    for row in range(0, 60, 7):
        x = M[row]
        phi = np.zeros(n_features)
        for j in range(n_features):
            others = [k for k in range(n_features) if k != j]
            for size in range(n_features):
                weight = math.factorial(size) * math.factorial(n_features - size - 1) / math.factorial(n_features)
                for subset in itertools.combinations(others, size):
                    with_j = frozenset((*subset, j))
                    without = frozenset(subset)
                    phi[j] += weight * sum(_value(t, x, with_j) - _value(t, x, without) for t in trees)
        np.testing.assert_allclose(ours[row, :-1], phi, rtol=0, atol=1e-9)


def test_single_leaf_trees_add_their_value_to_the_margin_only() -> None:
    booster, X = _booster({"min_gain_to_split": 1e9}, rounds=3)
    assert booster.dump_model()["tree_info"][0]["num_leaves"] == 1
    contributions, margin = explain_matrix(compile_booster(booster), _matrix(booster, X))
    np.testing.assert_allclose(margin, booster.predict(X, raw_score=True), rtol=0, atol=1e-12)
    assert np.abs(contributions[:, :-1]).max() == 0.0


def test_trees_too_deep_for_small_tables_decline_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import leadscore.scorers.model.treeshap as treeshap

    booster, _ = _booster({})
    monkeypatch.setattr(treeshap, "MAX_UNIT_BITS", 2)
    assert treeshap.compile_booster(booster) is None


def test_the_serial_kernel_gives_the_parallel_kernels_numbers_bit_for_bit() -> None:
    booster, X = _booster({}, seed=7, n=700)
    compiled = compile_booster(booster)
    parallel = explain_matrix(compiled, _matrix(booster, X), parallel=True)
    serial = explain_matrix(compiled, _matrix(booster, X), parallel=False)
    for a, b in zip(parallel, serial, strict=True):
        np.testing.assert_array_equal(a, b)
