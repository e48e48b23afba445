"""A lead's model inputs and exact contributions as two short lists of 32-bit floats.

The run's ``features`` column (JSON) says what each position holds: the SQO model's spec features in
order, and for a categorical feature the values its codes stand for (the model's categories first, then
values met in this run: a code is a position in that list; missing is NaN). Kept this way a lead's
explanation costs 8 bytes per model feature before the database compresses it, and a later run can
say which inputs moved and by how much (:mod:`leadscore.serving.history.split`); monitoring reads the
same lists for input drift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def layout_of(spec_features: list[dict]) -> list[dict]:
    """The positions of a model's stored vectors: name and kind, and a categorical's known values."""
    out = []
    for feature in spec_features:
        entry = {"name": feature["name"], "kind": feature.get("kind", "numeric")}
        for words in ("template", "description", "story", "group"):  # an export's own column says how to phrase it
            if feature.get("template") and feature.get(words):
                entry[words] = feature[words]
        if entry["kind"] == "categorical":
            entry["values"] = [str(v) for v in (feature.get("categories") or [])]
        out.append(entry)
    return out


def encode_values(features: pd.DataFrame, layout: list[dict], grow: bool = True) -> np.ndarray:
    """``n × len(layout)`` float32 values; categories as codes into each entry's ``values``.

    With ``grow`` a value not yet in ``values`` is appended (the run's dictionary grows as chunks come);
    without, it is coded -1 (a value the stored run never held: it differs from every stored code).
    """
    out = np.empty((len(features), len(layout)), dtype=np.float32)
    for j, entry in enumerate(layout):
        column = features[entry["name"]]
        if entry["kind"] != "categorical":
            out[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        text = column.astype("object").where(column.notna(), None)
        missing = text.isna().to_numpy()
        known = entry["values"]
        codes = pd.Index(known, dtype="object").get_indexer(text).astype(np.float32)
        unknown = (codes < 0) & ~missing
        if unknown.any() and grow:
            known.extend(str(v) for v in pd.unique(text[unknown]))
            codes = pd.Index(known, dtype="object").get_indexer(text).astype(np.float32)
        codes[missing] = np.nan
        out[:, j] = codes
    return out


def decode_value(entry: dict, value: float) -> object:
    """One stored value back as the feature's value (a category's text; None when missing)."""
    if value is None or np.isnan(value):
        return None
    if entry["kind"] == "categorical":
        values = entry.get("values") or []
        code = int(value)
        return values[code] if 0 <= code < len(values) else None
    return float(f"{float(value):.7g}")  # a float32's digits, not its binary tail


def list_column(matrix: np.ndarray | None, present: np.ndarray) -> pa.Array:
    """A ``list<float32>`` column: row ``i`` is ``matrix[k]`` for the ``k``-th present row, null elsewhere."""
    n = len(present)
    width = 0 if matrix is None else matrix.shape[1]
    counts = np.where(present, width, 0)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    flat = np.zeros(0, dtype=np.float32) if matrix is None else np.ascontiguousarray(matrix, dtype=np.float32).ravel()
    mask = pa.array(~present) if n else None
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.float32()), mask=mask)


def matrix_of(column: pd.Series | list, width: int) -> np.ndarray:
    """Stored lists back as an ``n × width`` float32 matrix (rows without a list are NaN)."""
    out = np.full((len(column), width), np.nan, dtype=np.float32)
    for i, values in enumerate(column):
        if values is not None and len(values) == width:
            out[i] = np.asarray(values, dtype=np.float32)
    return out


def same_rows(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Per row: every value equal, NaN equal to NaN."""
    equal = (left == right) | (np.isnan(left) & np.isnan(right))
    return equal.all(axis=1)
