"""The model's input: the feature spec's columns in order, categoricals fixed to the training categories.

Training encodes its frames with this same function, so training and serving cannot disagree on how a
value reaches the model.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd


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
    missing = [f["name"] for f in spec_features if f["name"] not in features.columns]
    if missing:
        raise KeyError(f"input lacks feature column(s) the model needs: {missing}")
    out = {}
    for f in spec_features:
        column = features[f["name"]]
        if f["kind"] == "categorical":
            index, dtype = _categories(tuple(f["categories"]))
            # Position among the training categories; -1 (missing) for a missing or unseen value.
            codes = index.get_indexer(column.astype("str"))
            out[f["name"]] = pd.Categorical.from_codes(codes, dtype=dtype)
        elif column.dtype == "float64":
            out[f["name"]] = column
        else:
            out[f["name"]] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=features.index)


@lru_cache(maxsize=1024)
def _categories(categories: tuple[str, ...]) -> tuple[pd.Index, pd.CategoricalDtype]:
    """A spec's categories as a lookup index and a dtype, built once per model (scoring one lead at a time
    would otherwise rebuild them for every request)."""
    return pd.Index(categories), pd.CategoricalDtype(list(categories))
