"""What the score store says was predicted: every stored probability of one target, and the latest inputs.

Reads the score store's tables (:mod:`leadscore.serving.history.schema`) with plain SQL, the same in
DuckDB and PostgreSQL. The predictions are light (lead, moment, probability, model version) and read
whole; the feature values, stored per lead as a list of 32-bit floats in each run's ``features`` order
(:mod:`leadscore.serving.history.vectors`), are read only for the drift window and decoded column by
column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.errors import LeadscoreError
from leadscore.serving.history.store import ScoreStore, describe_target

# target -> (probability column, model name column, model version column)
TARGET_COLUMNS = {"sqo": ("p_sqo", "model_sqo", "model_sqo_version"),
                  "won": ("p_win", "model_won", "model_won_version")}


@dataclass(frozen=True)
class StoredPredictions:
    """A target's stored predictions: ``lead_id``, ``as_of``, ``p``, ``model_version``, ``run_id``, in run order.

    ``model_name`` is the registered model behind the latest stored scores and ``current`` its version
    there; ``other_models`` counts predictions by other model names (left out).
    """

    model_name: str
    current: str
    rows: pd.DataFrame
    other_models: dict[str, int]


def _as_text(values: pd.Series) -> pd.Series:
    return values.astype("object").where(values.notna(), None).map(lambda v: None if v is None else str(v))


def read_predictions(store: ScoreStore, target: str) -> StoredPredictions:
    """Every stored prediction of ``target`` by the model behind the latest run that made one."""
    p, name, version = TARGET_COLUMNS[target]
    rows = store.query(
        f"SELECT s.lead_id, s.as_of, s.{p} AS p, r.{name} AS model_name, r.{version} AS model_version, "
        "s.run_id, r.started_at FROM lead_scores s JOIN scoring_runs r ON r.run_id = s.run_id "
        f"WHERE s.{p} IS NOT NULL AND s.as_of IS NOT NULL AND r.{name} IS NOT NULL")
    if rows.empty:
        raise LeadscoreError(f"the score store {describe_target(store.target)} holds no p_{target} yet: store scores "
                             f"with `leadscore score EXPORT --out scores.csv` (add --store to use this store), then "
                             "monitor once their horizon has passed.")
    rows["as_of"] = pd.to_datetime(rows["as_of"], utc=True)
    rows["started_at"] = pd.to_datetime(rows["started_at"], utc=True)
    rows["model_name"] = _as_text(rows["model_name"])
    rows["model_version"] = _as_text(rows["model_version"])
    rows["lead_id"] = rows["lead_id"].astype("str")
    latest = rows.sort_values(["started_at", "as_of"], kind="stable").iloc[-1]
    model_name, current = str(latest["model_name"]), str(latest["model_version"])
    mine = rows["model_name"] == model_name
    others = rows.loc[~mine, "model_name"].value_counts().to_dict()
    columns = ["lead_id", "as_of", "p", "model_version", "run_id", "started_at"]
    # In run order (SQL gives none): a lead scored twice at one moment keeps its latest run wherever one is kept.
    mine_rows = rows.loc[mine, columns].sort_values(["started_at", "run_id"], kind="stable")
    return StoredPredictions(model_name, current, mine_rows.reset_index(drop=True),
                             {str(k): int(v) for k, v in others.items()})


def _decode(layout: list[dict], matrix: np.ndarray) -> dict[str, object]:
    """Stored vectors back as the feature columns (categories as their text, missing as None / NaN)."""
    out: dict[str, object] = {}
    for j, entry in enumerate(layout):
        column = matrix[:, j].astype(np.float64)
        if entry.get("kind") != "categorical":
            out[entry["name"]] = column
            continue
        values = np.asarray([*entry.get("values", []), None], dtype=object)
        codes = np.where(np.isnan(column), -1, column).astype(np.int64)
        codes = np.where((codes >= 0) & (codes < len(values) - 1), codes, len(values) - 1)
        out[entry["name"]] = values[codes]
    return out


def read_window_features(store: ScoreStore, target: str, model_name: str, version: str,
                         since: pd.Timestamp) -> pd.DataFrame:
    """The feature values stored with ``version``'s scores after ``since``: ``lead_id``, ``as_of``, a column
    per stored feature (the SQO model's inputs, whichever target is monitored); the latest run wins when
    one lead was scored at one moment twice."""
    _, name, version_column = TARGET_COLUMNS[target]
    runs = store.query(f"SELECT run_id, started_at, features FROM scoring_runs WHERE {name} = ? AND "
                       f"CAST({version_column} AS VARCHAR) = ?", [model_name, str(version)])
    parts = []
    for run in runs.sort_values("started_at").itertuples():
        layout = json.loads(run.features) if run.features else []
        if not layout:
            continue
        table = _arrow(store, "SELECT lead_id, as_of, feature_values FROM lead_scores WHERE run_id = ? AND as_of > ? "
                              "AND feature_values IS NOT NULL", [run.run_id, since])
        if not table.num_rows:
            continue
        flat = table.column("feature_values").combine_chunks()
        matrix = flat.flatten().to_numpy(zero_copy_only=False).reshape(table.num_rows, len(layout))
        frame = pd.DataFrame({"lead_id": table.column("lead_id").to_pandas().astype("str"),
                              "as_of": pd.to_datetime(table.column("as_of").to_pandas(), utc=True),
                              **_decode(layout, matrix)})
        parts.append(frame)
    if not parts:
        return pd.DataFrame({"lead_id": pd.Series(dtype="str"), "as_of": pd.Series(dtype="datetime64[ns, UTC]")})
    features = pd.concat(parts, ignore_index=True)
    return features.drop_duplicates(["lead_id", "as_of"], keep="last").reset_index(drop=True)


def _arrow(store: ScoreStore, sql: str, params: list) -> pa.Table:
    """A query's result as Arrow (DuckDB hands it over directly; other stores through pandas)."""
    if hasattr(store, "query_arrow"):
        return store.query_arrow(sql, params)
    return pa.Table.from_pandas(store.query(sql, params), preserve_index=False)
