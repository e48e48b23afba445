"""Keeping a ``leadscore score`` run in the store: what the scorer explained, the change since each lead's
previous stored score, and the run itself, written in one transaction.

The score command hands :class:`ExplainedRows` to the scorer (its ``on_explained`` hook) and then calls
:func:`record_run`. A run already stored (same export, request, models, rules and grade cuts: its
``run_key``) is not written again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import Tables
from leadscore.scorers.rules import RulesConfig, parse_rules
from leadscore.scorers.status import STATUS_OK
from leadscore.serving.history.fingerprint import (
    canonical_json,
    export_fingerprint,
    request_fingerprint,
    run_key,
    text_hash,
)
from leadscore.serving.history.schema import SCORE_NAMES
from leadscore.serving.history.split import Previous, Setup, split_changes
from leadscore.serving.history.store import ScoreStore, describe_target
from leadscore.serving.history.vectors import encode_values, layout_of, list_column
from leadscore.serving.loading import ScoringModel

logger = logging.getLogger(__name__)

ModelLoader = Callable[[str, str], ScoringModel]


class ExplainedRows:
    """The scorer's ``on_explained`` hook: each scored lead's SQO inputs and contributions, as float32."""

    def __init__(self, sqo_model: ScoringModel) -> None:
        self.layout = layout_of(sqo_model.spec_features)
        self.keys: list[pd.DataFrame] = []
        self.values: list[np.ndarray] = []
        self.contributions: list[np.ndarray] = []

    def __call__(self, spine: pd.DataFrame, features: pd.DataFrame, contributions: np.ndarray) -> None:
        self.keys.append(spine.loc[:, ["lead_id", "as_of"]].reset_index(drop=True))
        self.values.append(encode_values(features, self.layout))
        # 1e-4 of log-odds is far below any phrased effect; rounded, the database compresses them a third smaller
        self.contributions.append(np.round(np.asarray(contributions, dtype=np.float64), 4).astype(np.float32))

    def aligned(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For output ``rows``: whether each was explained, and the explained rows' vectors in order."""
        width = len(self.layout)
        if not self.keys:
            return np.zeros(len(rows), bool), np.zeros((0, width), np.float32), np.zeros((0, width), np.float32)
        keys = pd.concat(self.keys, ignore_index=True)
        index = pd.MultiIndex.from_arrays([keys["lead_id"].astype("str"), pd.to_datetime(keys["as_of"], utc=True)])
        first = ~index.duplicated()
        index = index[first]
        values = np.concatenate(self.values)[first]
        contributions = np.concatenate(self.contributions)[first]
        wanted = pd.MultiIndex.from_arrays([rows["lead_id"].astype("str"), pd.to_datetime(rows["as_of"], utc=True)])
        at = index.get_indexer(wanted)
        present = at >= 0
        return present, values[at[present]], contributions[at[present]]


@dataclass(frozen=True)
class RecordedRun:
    """What the store made of a run: its id, whether it was new, and how many leads' changes were split."""

    run_id: str
    stored: bool
    n_rows: int
    n_changed: int
    n_new: int
    target: str
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.stored:
            return f"score store: this run is already stored as run {self.run_id} in {self.target}; nothing added"
        return (f"score store: run {self.run_id} in {self.target}: {self.n_rows:,} rows; {self.n_changed:,} leads scored "
                f"before, their changes split into data, time and model; {self.n_new:,} scored for the first time")


def rules_json(rules: RulesConfig) -> str:
    return canonical_json(rules.model_dump(mode="json"))


def model_uri(name: str, version: str) -> str:
    """The URI that loads a stored run's model again (a registered version, or the URI it was given as)."""
    if version and version.isdigit() and "/" not in name:
        return f"models:/{name}/{version}"
    return name


def _run_row(tables: Tables, scores: pd.DataFrame, setup: Setup, layout: list[dict], grade_cuts: dict,
             started_at: pd.Timestamp) -> dict:
    as_of = pd.to_datetime(scores["as_of"], utc=True)
    key_parts = {
        "export": export_fingerprint(tables),
        "request": request_fingerprint(scores),
        "sqo": [setup.sqo.name, setup.sqo.version],
        "won": [setup.won.name, setup.won.version] if setup.won is not None else None,
        "rules": setup.rules_hash,
        "grade_cuts": grade_cuts,
    }
    key = run_key(key_parts)
    status = scores["status"].astype("object").fillna("missing")
    try:
        version = metadata.version("leadscore")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "run_id": key[:12], "run_key": key, "started_at": started_at.to_pydatetime(), "written_at": None,
        "as_of": as_of.max().to_pydatetime() if as_of.notna().any() else None,
        "data_end": tables.data_end.to_pydatetime(), "export_source": str(tables.source),
        "export_fingerprint": key_parts["export"], "request_fingerprint": key_parts["request"],
        "model_sqo": setup.sqo.name, "model_sqo_version": setup.sqo.version,
        "model_won": setup.won.name if setup.won is not None else None,
        "model_won_version": setup.won.version if setup.won is not None else None,
        "rules_hash": setup.rules_hash, "rules_config": rules_json(setup.rules), "grade_cuts": canonical_json(grade_cuts),
        "n_leads": len(scores), "n_ok": int((status == STATUS_OK).sum()),
        "counts_by_status": canonical_json({str(k): int(v) for k, v in status.value_counts().items()}),
        "features": canonical_json(layout), "leadscore_version": version,
    }


def previous_scores(store: ScoreStore, lead_ids: list[str]) -> pd.DataFrame:
    """Each lead's latest stored score with a probability (the one a new score's change is measured from)."""
    with store.staged_ids(lead_ids) as staged:
        return store.query(
            "SELECT lead_id, run_id, as_of, p_sqo, rule_score, feature_values, contributions FROM ("
            " SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.lead_id"
            "  ORDER BY s.as_of DESC NULLS LAST, r.started_at DESC, s.run_id DESC) AS latest"
            " FROM lead_scores s JOIN scoring_runs r ON r.run_id = s.run_id"
            f" WHERE s.p_sqo IS NOT NULL AND s.lead_id IN (SELECT lead_id FROM {staged})) t WHERE latest = 1"
        )


def _previous_groups(store: ScoreStore, rows: pd.DataFrame, setup: Setup, load_model: ModelLoader) -> list[Previous]:
    found = previous_scores(store, rows["lead_id"].astype("str").drop_duplicates().tolist())
    if found.empty:
        return []
    runs = store.query("SELECT * FROM scoring_runs").set_index("run_id")
    models: dict[tuple[str, str], ScoringModel | str] = {(setup.sqo.name, setup.sqo.version): setup.sqo}
    if setup.won is not None:
        models[(setup.won.name, setup.won.version)] = setup.won

    def model(name: str | None, version: str | None) -> ScoringModel | str | None:
        if name is None:
            return None
        key = (str(name), str(version or ""))
        if key not in models:
            try:
                models[key] = load_model(*key)
            except LeadscoreError as exc:
                models[key] = f"{name} v{version} can no longer be loaded ({exc})"
        return models[key]

    found["as_of"] = pd.to_datetime(found["as_of"], utc=True)
    groups = []
    for (run_id, as_of), leads in found.groupby(["run_id", "as_of"], sort=True):
        run = runs.loc[run_id]
        sqo, won = model(run["model_sqo"], run["model_sqo_version"]), model(run["model_won"], run["model_won_version"])
        failed = next((m for m in (sqo, won) if isinstance(m, str)), None)
        previous_setup = None
        if failed is None:
            rules = setup.rules if run["rules_hash"] == setup.rules_hash else parse_rules(json.loads(run["rules_config"]))
            previous_setup = Setup(sqo=sqo, won=won, rules=rules, rules_hash=run["rules_hash"])
        groups.append(Previous(run_id=str(run_id), as_of=as_of, setup=previous_setup, layout=json.loads(run["features"]),
                               leads=leads.reset_index(drop=True), note=failed or ""))
    return groups


def record_run(
    store: ScoreStore,
    tables: Tables,
    scores: pd.DataFrame,
    explained: ExplainedRows,
    setup: Setup,
    grade_cuts: dict[str, float],
    started_at: pd.Timestamp,
    load_model: ModelLoader,
) -> RecordedRun:
    """Write one scored run to ``store`` (see the module docstring); returns what was stored.

    ``seconds`` of the result says where the time went: ``identify`` (fingerprints, the run key),
    ``previous`` (reading the leads' previous scores), ``split`` (recomputing the earlier scores'
    parts) and ``write`` (the transaction).
    """
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 3)
        clock = now

    run = _run_row(tables, scores, setup, explained.layout, grade_cuts, started_at)
    target = describe_target(store.target)
    existing = store.run_id_for(run["run_key"])
    lap("identify")
    if existing is not None:
        return RecordedRun(existing, False, len(scores), 0, 0, target, seconds)

    present, values, contributions = explained.aligned(scores)
    scored = present & scores["p_sqo"].notna().to_numpy()
    keep = scored[present]
    values, contributions = values[keep], contributions[keep]
    rows = scores[scored].reset_index(drop=True)
    previous = _previous_groups(store, rows, setup, load_model) if len(rows) else []
    lap("previous")
    changes = split_changes(tables, rows, values, contributions, setup, explained.layout, previous)
    lap("split")

    table = pa.Table.from_pandas(scores.loc[:, [c for c in scores.columns if c in SCORE_NAMES]], preserve_index=False)
    n = len(scores)
    table = table.append_column("run_id", pa.array([run["run_id"]] * n, pa.string()))
    table = table.append_column("feature_values", _spread(values, scored))
    table = table.append_column("contributions", _spread(contributions, scored))
    at = np.full(n, -1, dtype=np.int64)
    at[np.flatnonzero(scored)[changes.index.to_numpy(dtype=np.int64)]] = np.arange(len(changes))
    has = at >= 0
    for column in ("previous_run_id", "change_because"):
        values_of = np.full(n, None, dtype=object)
        values_of[has] = changes[column].to_numpy(dtype=object)[at[has]]
        table = table.append_column(column, pa.array(values_of, pa.string()))
    for column in ("change_data", "change_time", "change_model", "rule_change_data", "rule_change_time",
                   "rule_change_model"):
        numbers = np.full(n, np.nan)
        numbers[has] = changes[column].to_numpy(dtype=float)[at[has]]
        table = table.append_column(column, pa.array(numbers, pa.float64(), from_pandas=True))
    run["written_at"] = pd.Timestamp.now(tz="UTC").to_pydatetime()
    stored = store.write_run(run, table)
    lap("write")
    run_id = run["run_id"] if stored else (store.run_id_for(run["run_key"]) or run["run_id"])
    n_changed = int(has.sum())
    logger.debug("score store: seconds per stage %s", seconds)
    return RecordedRun(run_id, stored, n, n_changed, int(scored.sum()) - n_changed, target, seconds)


def _spread(matrix: np.ndarray, scored: np.ndarray) -> pa.Array:
    return list_column(matrix if len(matrix) else None, scored)


def current_setup(sqo: ScoringModel, won: ScoringModel | None, rules: RulesConfig) -> Setup:
    return Setup(sqo=sqo, won=won, rules=rules, rules_hash=text_hash(rules_json(rules)))
