"""The model's input: the feature spec's columns in order, categoricals fixed to the training categories.

Training encodes its frames with this same function, so training and serving cannot disagree on how a
value reaches the model. :func:`spec_matrix` is the same encoding as the float matrix LightGBM makes of
an encoded frame, for predicting: building a categorical frame only for LightGBM to take it apart again
cost more than the prediction itself on a few leads.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from leadscore.features.building.columns import FeatureColumns


def category_codes(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Position of each value among ``categories``, compared as text; -1 for a missing or unseen value.

    Looked up in Arrow: a pandas index lookup costs a quarter of a millisecond per column even for one lead.
    """
    text = pa.array((values if values.dtype == "str" else values.astype("str")).array)
    found = pc.index_in(text, value_set=_category_values(tuple(categories), text.type))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def numeric_values(values: pd.Series) -> pd.Series:
    """A numeric feature as float64 (text that is no number becomes missing)."""
    return values if values.dtype == "float64" else pd.to_numeric(values, errors="coerce").astype("float64")


def _check_columns(features: pd.DataFrame | FeatureColumns, spec_features: list[dict]) -> None:
    names = features.columns if isinstance(features, pd.DataFrame) else features
    missing = [f["name"] for f in spec_features if f["name"] not in names]
    if missing:
        raise KeyError(f"input lacks feature column(s) the model needs: {missing}")


def column_codes(features: pd.DataFrame | FeatureColumns, name: str, categories: Sequence[str]) -> np.ndarray:
    """:func:`category_codes` of one column of built features (a frame, or the kernel's columns)."""
    if isinstance(features, pd.DataFrame):
        return category_codes(features[name], categories)
    category = features.categories[name]
    position: dict[str, int] = {}
    for i, c in enumerate(categories):
        position.setdefault(c, i)
    recode = np.array([position.get(v, -1) for v in category.values] + [-1], dtype=np.int64)
    return recode[category.codes]


def column_numbers(features: pd.DataFrame | FeatureColumns, name: str) -> np.ndarray:
    """One numeric column of built features as float64 (NaN where missing)."""
    if isinstance(features, pd.DataFrame):
        return numeric_values(features[name]).to_numpy(dtype=np.float64, na_value=np.nan)
    return features.numbers[name]


def encode_features(features: pd.DataFrame, spec_features: list[dict]) -> pd.DataFrame:
    """Spec columns in order; categoricals as ``category`` with the training categories, numbers as float.

    Categorical values are compared as text, and a value not seen in training becomes missing
    (explicitly: pandas would refuse unknown categories), which LightGBM treats as missing.

    Raises
    ------
    KeyError
        If ``features`` lacks a column the spec names.

    Examples
    --------
    >>> spec = [{"name": "channel", "kind": "categorical", "categories": ["email", "linkedin"]},
    ...         {"name": "n_visits", "kind": "numeric"}]
    >>> encoded = encode_features(pd.DataFrame({"n_visits": [3, None], "channel": ["linkedin", "tiktok"]}), spec)
    >>> encoded["channel"].tolist(), encoded["n_visits"].tolist()
    (['linkedin', nan], [3.0, nan])
    """
    _check_columns(features, spec_features)
    out = {}
    for f in spec_features:
        column = features[f["name"]]
        if f["kind"] == "categorical":
            _, dtype = _categories(tuple(f["categories"]))
            out[f["name"]] = pd.Categorical.from_codes(category_codes(column, f["categories"]), dtype=dtype)
        else:
            out[f["name"]] = numeric_values(column)
    return pd.DataFrame(out, index=features.index)


def spec_matrix(features: pd.DataFrame | FeatureColumns, spec_features: list[dict],
                  category_orders: Sequence[Sequence[str]] | None = None) -> np.ndarray:
    """:func:`encode_features` as the float64 matrix LightGBM feeds its trees: codes for categories, NaN for missing.

    ``category_orders`` are the categories a booster was trained with, one list per categorical spec
    feature in spec order (``Booster.pandas_categorical``); a category is coded by its place there, as
    LightGBM re-codes an encoded frame whose categories it lists in another order. Default: the spec's.

    Examples
    --------
    >>> spec = [{"name": "channel", "kind": "categorical", "categories": ["email", "linkedin"]},
    ...         {"name": "n_visits", "kind": "numeric"}]
    >>> spec_matrix(pd.DataFrame({"n_visits": [3, None], "channel": ["linkedin", "tiktok"]}), spec).tolist()
    [[1.0, 3.0], [nan, nan]]
    """
    _check_columns(features, spec_features)
    if not isinstance(features, pd.DataFrame):
        return _columns_matrix(features, spec_features, category_orders)
    n = len(features)
    out = np.empty((n, len(spec_features)), dtype=np.float64)
    numeric = [j for j, f in enumerate(spec_features) if f["kind"] != "categorical"]
    floats = []
    if isinstance(features, pd.DataFrame):
        dtypes = features.dtypes.to_dict()
        floats = [j for j in numeric if dtypes[spec_features[j]["name"]] == "float64"]
    if floats:
        # One gather for the float columns (the built features' form) instead of one Series each.
        out[:, floats] = features[[spec_features[j]["name"] for j in floats]].to_numpy(dtype=np.float64)
    for j in numeric:
        if j not in floats:
            out[:, j] = column_numbers(features, spec_features[j]["name"])
    categorical = [j for j, f in enumerate(spec_features) if f["kind"] == "categorical"]
    if category_orders is not None and len(category_orders) != len(categorical):
        raise ValueError(f"{len(category_orders)} category lists for {len(categorical)} categorical features")
    for k, j in enumerate(categorical):
        spec_categories = tuple(spec_features[j]["categories"])
        codes = column_codes(features, spec_features[j]["name"], spec_categories)
        if category_orders is not None and tuple(category_orders[k]) != spec_categories:
            position: dict[str, int] = {}
            for i, c in enumerate(category_orders[k]):
                position.setdefault(c, i)
            recode = np.array([position.get(c, -1) for c in spec_categories] + [-1], dtype=np.int64)
            codes = recode[codes]  # -1 (missing) picks the trailing -1
        out[:, j] = np.where(codes < 0, np.nan, codes)
    return out


def _columns_matrix(features: FeatureColumns, spec_features: list[dict],
                    category_orders: Sequence[Sequence[str]] | None) -> np.ndarray:
    """:func:`spec_matrix` of the kernel's columns: the same codes, read without a frame."""
    out = np.empty((features.n, len(spec_features)), dtype=np.float64)
    numeric = [j for j, f in enumerate(spec_features) if f["kind"] != "categorical"]
    if numeric:
        features.numbers_into(out, numeric, [spec_features[j]["name"] for j in numeric])
    categorical = [j for j, f in enumerate(spec_features) if f["kind"] == "categorical"]
    if category_orders is not None and len(category_orders) != len(categorical):
        raise ValueError(f"{len(category_orders)} category lists for {len(categorical)} categorical features")
    for k, j in enumerate(categorical):
        spec_categories = tuple(spec_features[j]["categories"])
        order = tuple(category_orders[k]) if category_orders is not None else spec_categories
        code_of = _booster_codes(spec_categories, order)
        category = features.categories[spec_features[j]["name"]]
        recode = np.array([code_of.get(v, np.nan) for v in category.values] + [np.nan])
        out[:, j] = recode[category.codes]  # -1 (missing) picks the trailing NaN
    return out


@lru_cache(maxsize=1024)
def _booster_codes(spec_categories: tuple[str, ...], order: tuple[str, ...]) -> dict[str, float]:
    """Each spec category's code in the booster's ``order`` (first place; unseen ones are missing)."""
    position: dict[str, int] = {}
    for i, c in enumerate(order):
        position.setdefault(c, i)
    codes: dict[str, float] = {}
    for c in spec_categories:
        if c not in codes and c in position:
            codes[c] = float(position[c])
    return codes


@lru_cache(maxsize=1024)
def _category_values(categories: tuple[str, ...], type: pa.DataType) -> pa.Array:
    return pa.array(categories, type=type)


@lru_cache(maxsize=1024)
def _categories(categories: tuple[str, ...]) -> tuple[pd.Index, pd.CategoricalDtype]:
    """A spec's categories as a lookup index and a dtype, built once per model (scoring one lead at a time
    would otherwise rebuild them for every request)."""
    return pd.Index(categories), pd.CategoricalDtype(list(categories))
