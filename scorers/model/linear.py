"""The logistic-regression model as data: an explicit encoding, coefficients and exact contributions.

Small real exports often favour a regularised linear model over boosted trees, so a leadscore model may
be either. Everything it needs to predict is JSON (``linear.json``), never a pickle:

- numeric and yes/no features: a value is clipped to the training range (a line fitted on leads up to
  60 days old says nothing of one 500 days old), the training median fills a missing value, then
  ``(x - mean) / scale`` with the training mean and standard deviation; a 0/1 "missing" column is
  added when training saw missing values;
- categorical features: one 0/1 column per category held by at least ``min_frequency`` training rows,
  one for every rarer or unseen value ("other") and one for missing.

Contributions are exact: with ``X`` the encoded rows, ``w`` the coefficients and ``r`` the mean encoded
training row (the reference), feature ``f`` contributes ``sum over its columns j of w_j (X_j - r_j)`` to
the margin, and ``intercept + w . r`` is the base value, so base + contributions = margin for every lead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from leadscore.features.building.columns import FeatureColumns

OTHER = "__other__"
MISSING = "__missing__"


@dataclass(frozen=True)
class LinearModel:
    """A fitted logistic regression over :func:`fit_encoding`'s columns.

    Attributes
    ----------
    encoding
        Per feature, how it becomes columns (see :func:`fit_encoding`).
    coef, intercept
        The coefficients, one per encoded column in encoding order, and the intercept.
    reference
        The mean of each encoded column over the training rows (the contributions' reference).
    """

    encoding: list[dict]
    coef: np.ndarray
    intercept: float
    reference: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict:
        """The model as JSON-ready data (``linear.json``)."""
        return {"encoding": self.encoding, "coef": [float(c) for c in self.coef], "intercept": float(self.intercept),
                "reference": [float(r) for r in self.reference]}

    @classmethod
    def from_dict(cls, data: dict) -> LinearModel:
        return cls(encoding=list(data["encoding"]), coef=np.asarray(data["coef"], dtype=float),
                   intercept=float(data["intercept"]), reference=np.asarray(data["reference"], dtype=float))

    @property
    def n_columns(self) -> int:
        return sum(len(_column_names(e)) for e in self.encoding)

    def encode(self, features: pd.DataFrame | FeatureColumns) -> np.ndarray:
        """The encoded matrix (rows of ``features`` × encoded columns), float64."""
        return encode_matrix(features, self.encoding)

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Raw log-odds of encoded rows."""
        return X @ self.coef + self.intercept

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """``(per-feature contributions n × n_features, base value, margin)`` of encoded rows; exact."""
        weighted = (X - self.reference) * self.coef
        sizes = [len(_column_names(e)) for e in self.encoding]
        bounds = np.cumsum([0, *sizes])
        values = np.add.reduceat(weighted, bounds[:-1], axis=1) if weighted.shape[1] else np.zeros((len(X), 0))
        base = float(self.intercept + self.reference @ self.coef)
        return values, base, base + values.sum(axis=1)


def _column_names(entry: dict) -> list[str]:
    if entry["kind"] == "categorical":
        return [*entry["categories"], OTHER, MISSING]
    return ["value", MISSING] if entry["missing_column"] else ["value"]


def fit_encoding(train: pd.DataFrame, spec_features: list[dict], min_frequency: int) -> list[dict]:
    """How each feature becomes columns, learnt from the training rows only.

    Examples
    --------
    >>> rows = pd.DataFrame({"n": [1.0, 3.0, None], "c": ["a", "a", "b"]})
    >>> enc = fit_encoding(rows, [{"name": "n", "kind": "numeric"}, {"name": "c", "kind": "categorical"}], 2)
    >>> enc[0]["median"], enc[0]["missing_column"], enc[1]["categories"]
    (2.0, True, ['a'])
    """
    encoding = []
    for feature in spec_features:
        column = train[feature["name"]]
        if feature["kind"] == "categorical":
            counts = column.dropna().astype("str").value_counts()
            kept = sorted(counts.index[counts >= min_frequency].tolist())
            encoding.append({"name": feature["name"], "kind": "categorical", "categories": kept})
            continue
        values = pd.to_numeric(column, errors="coerce").astype("float64")
        known = values.notna().any()
        median = float(values.median()) if known else 0.0
        filled = values.fillna(median)
        scale = float(filled.std(ddof=0)) if len(filled) else 0.0
        encoding.append({"name": feature["name"], "kind": feature["kind"], "median": median, "mean": float(filled.mean()),
                         "scale": scale if scale > 0 else 1.0, "missing_column": bool(values.isna().any()),
                         "low": float(values.min()) if known else median, "high": float(values.max()) if known else median})
    return encoding


def encode_matrix(features: pd.DataFrame | FeatureColumns, encoding: list[dict]) -> np.ndarray:
    """Rows of ``features`` as the encoded matrix (a feature the frame lacks reads as missing).

    Filled in place, one feature's columns at a time: a million rows of a few hundred columns are
    written once, never stacked from copies.
    """
    from leadscore.scorers.model.encoding import column_codes, column_numbers

    frame = isinstance(features, pd.DataFrame)
    n = len(features) if frame else features.n
    sizes = [len(_column_names(entry)) for entry in encoding]
    matrix = np.zeros((n, sum(sizes)))
    at = 0
    for entry, size in zip(encoding, sizes, strict=True):
        block = matrix[:, at:at + size]
        at += size
        present = entry["name"] in (features.columns if frame else features)
        if entry["kind"] == "categorical":
            vocabulary = entry["categories"]
            if not present:
                codes, missing = np.full(n, -1, dtype=np.int64), np.ones(n, dtype=bool)
            elif frame:
                text = features[entry["name"]].astype("str")
                codes = pd.Index(vocabulary, dtype="str").get_indexer(text).astype(np.int64) if vocabulary \
                    else np.full(n, -1, dtype=np.int64)
                missing = text.isna().to_numpy()
            else:
                codes = column_codes(features, entry["name"], vocabulary)
                missing = features.categories[entry["name"]].codes < 0
            known = codes >= 0
            block[np.flatnonzero(known), codes[known]] = 1.0
            block[~known & ~missing, len(vocabulary)] = 1.0
            block[missing, len(vocabulary) + 1] = 1.0
        else:
            values = column_numbers(features, entry["name"]) if present else np.full(n, np.nan)
            missing = np.isnan(values)
            if "low" in entry:  # models written before the training range was kept are read as they were
                values = np.clip(values, entry["low"], entry["high"])
            block[:, 0] = (np.where(missing, entry["median"], values) - entry["mean"]) / entry["scale"]
            if entry["missing_column"]:
                block[:, 1] = missing
    return matrix
