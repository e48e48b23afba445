"""Shared fixtures, and the browser tests' switch.

Tests marked ``browser`` drive headless Chromium through chromedriver. On a machine without them (a
fresh clone needs only Python and pip) they are left out with one line saying how to install them;
with ``LEADSCORE_REQUIRE_BROWSER=1`` (``.ci/run`` sets it) they run and a missing browser fails them.
``LEADSCORE_CHROMIUM`` / ``LEADSCORE_CHROMEDRIVER`` point at binaries outside ``PATH``.

``serving_world``: a real MLflow store (temporary SQLite) holding real small LightGBM models for SQO and
WON, logged exactly as training logs them (``leadscore.training.tracking.log_model``) and
registered as ``leadscore-sqo`` / ``leadscore-won`` with the alias ``champion``, trained on features built
from a small generated export. The WON model is a chain's second link, q = P(win | SQO), carrying the SQO
model as its SQO link, as training makes it. The SQO model is monotone in the engagement features (more activity never
lowers it, more days of silence never raise it), so direction tests check the pipeline, not luck.

``postgres_uri``: a throwaway PostgreSQL 15 server (``initdb`` and ``pg_ctl`` on a temporary folder, a unix
socket only, run as the ``postgres`` user when the tests run as root), one fresh database per test. Tests
marked ``postgres`` are left out with one line when the server binaries are missing, unless
``LEADSCORE_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it). ``LEADSCORE_POSTGRES_BIN`` points elsewhere.

``store_world``: the score store's three runs: an export cut three weeks before the serving world's end
and the whole export (new events in between) on disk, and a second SQO model version registered beside
the champion (the alias left where it was).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SERVING_SEED = 11
SERVING_N_LEADS = 4000
# More engagement may only raise the SQO model's output; more days since an action may only lower it.
MONOTONE_UP_PREFIXES = ("n_activities_", "n_page_views_", "n_pricing_views_", "n_active_days_")
MONOTONE_UP = ("activity_trend_7d",)
MONOTONE_DOWN = ("days_since_last_activity", "days_since_last_high_intent")


BROWSER_INSTALL = "sudo apt-get install chromium chromium-driver"


def browser_binaries_found() -> tuple[dict[str, str], list[str]]:
    """Paths of chromium and chromedriver (environment, else ``PATH``, else /usr/bin), and those missing."""
    paths = {
        name: os.environ.get(variable) or shutil.which(name) or f"/usr/bin/{name}"
        for name, variable in (("chromium", "LEADSCORE_CHROMIUM"), ("chromedriver", "LEADSCORE_CHROMEDRIVER"))
    }
    return paths, [name for name, path in paths.items() if not Path(path).is_file()]


POSTGRES_BIN = "/usr/lib/postgresql/15/bin"
POSTGRES_INSTALL = "sudo apt-get install postgresql-15"


def postgres_bin() -> Path:
    return Path(os.environ.get("LEADSCORE_POSTGRES_BIN") or POSTGRES_BIN)


def _leave_out(config: pytest.Config, items: list[pytest.Item], marker: str, required: str, note: str) -> None:
    """Deselect the tests marked ``marker`` with one summary line, unless the environment variable requires them."""
    marked = [item for item in items if item.get_closest_marker(marker)]
    if not marked or os.environ.get(required) == "1":
        return
    items[:] = [item for item in items if not item.get_closest_marker(marker)]
    config.hook.pytest_deselected(items=marked)
    config.stash.setdefault(_NOTES, []).append(f"{len(marked)} {marker} tests left out: {note}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _, missing = browser_binaries_found()
    if missing:
        _leave_out(config, items, "browser", "LEADSCORE_REQUIRE_BROWSER",
                   f"{' and '.join(missing)} not found; to run them: {BROWSER_INSTALL}")
    if not (postgres_bin() / "pg_ctl").is_file():
        _leave_out(config, items, "postgres", "LEADSCORE_REQUIRE_POSTGRES",
                   f"no PostgreSQL server binaries in {postgres_bin()}; to run them: {POSTGRES_INSTALL}")


_NOTES = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for note in config.stash.get(_NOTES, []):
        terminalreporter.write_line(note)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """A throwaway PostgreSQL server on a unix socket; yields the folder of its socket."""
    import subprocess
    import tempfile

    binaries = postgres_bin()
    if not (binaries / "pg_ctl").is_file():
        pytest.fail(f"no PostgreSQL server binaries in {binaries}: the postgres tests need them; {POSTGRES_INSTALL} "
                    "(.ci/run installs them).")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="leadscore-pg-"))
    root.chmod(0o777)  # the server's user writes its data and socket here
    data, socket = root / "data", root / "socket"
    socket.mkdir()
    socket.chmod(0o777)
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "leadscore", "-A", "trust", "--no-sync", "-E", "UTF8")
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
            f"-k {socket} -c listen_addresses='' -c fsync=off", "start")
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"the throwaway PostgreSQL server did not start: {exc.stderr or exc.stdout}")
    try:
        yield str(socket)
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_uri(postgres_server: str, request: pytest.FixtureRequest) -> str:
    """``postgresql://`` URI of a fresh, empty database on the throwaway server."""
    import re

    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    with psycopg.connect(f"postgresql://leadscore@/postgres?host={postgres_server}", autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}"')
        con.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://leadscore@/{name}?host={postgres_server}"


@pytest.fixture
def browser_binaries() -> dict[str, str]:
    """``{"chromium": path, "chromedriver": path}``; fails the test, saying how to install, when missing."""
    paths, missing = browser_binaries_found()
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: the browser tests need them; {BROWSER_INSTALL} "
                    "(.ci/run installs them).")
    return paths


@dataclass
class ServingWorld:
    """What the serving tests share: the export (frames and tables), the store and the two champion models."""

    frames: dict
    truth: object
    tables: object
    tracking_uri: str
    sqo: object
    won: object

    def scored_sample(self, every: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Every ``every``-th lead still open at the data's end (the leads given both probabilities): its spine,
        the batch scorer's rows and its feature rows as ``leadscore features`` writes them, with MLflow
        pointed at this world's store (use with ``restore_mlflow_uris``)."""
        import mlflow

        from leadscore.features.building.builder import build_features
        from leadscore.features.building.spine import make_spine
        from leadscore.features.building.stages import funnel_position
        from leadscore.scorers.rules import load_rules
        from leadscore.serving.score import model_vocabulary, score_leads

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        spine, _ = make_spine(self.tables, leads=pd.DataFrame({"lead_id": self.tables.leads["lead_id"].iloc[::every]}))
        spine = spine[(funnel_position(self.tables, spine) == "open").to_numpy()].reset_index(drop=True)
        scores, _ = score_leads(self.tables, self.sqo, self.won, load_rules(None), leads=spine)
        features = build_features(self.tables, spine, vocabulary=model_vocabulary(self.sqo, self.won))
        features.insert(2, "funnel_position", funnel_position(self.tables, spine).array)  # as `leadscore features` writes
        return spine, scores, features


def serving_spec_features() -> list[dict]:
    from leadscore.features.building.catalogue import CATALOGUE

    return [{"name": s.name, "kind": s.kind, "group": s.group, "story": s.story} for s in CATALOGUE]


def encode_for_training(rows: pd.DataFrame, spec: list[dict]) -> tuple[pd.DataFrame, list[dict]]:
    """Training's encoding: categories fixed from these rows (sorted text), numbers as float."""
    spec = [dict(f) for f in spec]
    out = {}
    for f in spec:
        column = rows[f["name"]]
        if f["kind"] == "categorical":
            text = column.astype("str")
            f["categories"] = sorted(text.dropna().unique().tolist())
            out[f["name"]] = pd.Categorical(text.where(text.notna()), categories=f["categories"])
        else:
            out[f["name"]] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=rows.index), spec


def train_small_booster(encoded: pd.DataFrame, label: np.ndarray, monotone: list[int] | None = None,
                        n_trees: int = 120, seed: int = SERVING_SEED) -> object:
    import lightgbm as lgb

    params = {
        "objective": "binary", "learning_rate": 0.08, "num_leaves": 15, "max_depth": 5, "min_data_in_leaf": 20,
        "min_data_per_group": 20, "feature_fraction": 0.9, "lambda_l2": 1.0, "num_threads": 1, "seed": seed,
        "deterministic": True, "force_col_wise": True, "verbosity": -1,
    }
    if monotone is not None:
        params["monotone_constraints"] = monotone
        params["monotone_constraints_method"] = "basic"
    return lgb.train(params, lgb.Dataset(encoded, label=label), num_boost_round=n_trees)


def log_registered_model(model: object, name: str) -> int:
    """Log ``model`` exactly as training does (:func:`leadscore.training.tracking.log_model`) and register it."""
    import mlflow

    from leadscore.training.tracking import log_model

    with mlflow.start_run():
        info = log_model(model, registered_model_name=name)
    return int(info.registered_model_version)


def _grade_cuts(p: np.ndarray) -> dict[str, float]:
    return {"A": float(np.quantile(p, 0.9)), "B": float(np.quantile(p, 0.7)), "C": float(np.quantile(p, 0.4))}


@pytest.fixture(scope="session")
def serving_world(tmp_path_factory: pytest.TempPathFactory) -> ServingWorld:
    import mlflow
    from mlflow import MlflowClient

    from leadscore.features.building.catalogue import catalogue_hash
    from leadscore.features.building.labels import build_training_set
    from leadscore.features.synthetic.demo import DATA_END, generate_demo
    from leadscore.features.tables import make_tables
    from leadscore.scorers.model.artifacts import LeadscoreModel
    from leadscore.serving.loading import load_scoring_model

    frames, truth = generate_demo(SERVING_N_LEADS, SERVING_SEED)
    tables = make_tables(frames, data_end=DATA_END)
    root = tmp_path_factory.mktemp("serving-store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        mlflow.set_experiment("leadscore-serving-tests")
        models = {}
        raw = {}
        for target in ("sqo", "won"):
            rows, _ = build_training_set(tables, target, (0, 7, 30, 60))
            if target == "won":  # the chain's second link: q = P(win | SQO), learnt where SQO is reached
                rows = rows[rows["reached_sqo"] == 1]
            encoded, spec_features = encode_for_training(rows, serving_spec_features())
            monotone = None
            if target == "sqo":
                monotone = [
                    1 if f["name"].startswith(MONOTONE_UP_PREFIXES) or f["name"] in MONOTONE_UP
                    else -1 if f["name"] in MONOTONE_DOWN else 0
                    for f in spec_features
                ]
            booster = train_small_booster(encoded, rows["label"].to_numpy(), monotone, 120 if target == "sqo" else 40)
            calibration = {"method": "none"} if target == "sqo" else {
                "method": "sigmoid", "a": 0.95, "b": -0.05, "past_sqo": {"method": "sigmoid", "a": 0.9, "b": 0.4}}
            margin = booster.predict(encoded, raw_score=True)
            p = 1 / (1 + np.exp(-margin)) if target == "sqo" else 1 / (1 + np.exp(-(0.95 * margin - 0.05)))
            spec = {"target": target, "features": spec_features, "grade_cuts": _grade_cuts(p),
                    "catalogue_hash": catalogue_hash(), "horizon_days": 90 if target == "sqo" else 180}
            if target == "won":
                spec["chain"] = {"given": "sqo", "sqo_horizon_days": 90, "covers_past_sqo": True, "q": "model"}
            raw[target] = LeadscoreModel(spec=spec, calibration=calibration, booster=booster,
                                         stage=raw.get("sqo") if target == "won" else None)
            name = f"leadscore-{target}"
            version = log_registered_model(raw[target], name)
            MlflowClient().set_registered_model_alias(name, "champion", version)
            models[target] = load_scoring_model(f"models:/{name}@champion")
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    return ServingWorld(frames=frames, truth=truth, tables=tables, tracking_uri=uri, sqo=models["sqo"], won=models["won"])


@pytest.fixture
def restore_mlflow_uris():
    """Put MLflow's tracking and registry URIs back as they were after a test that points them elsewhere."""
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


STORE_DAYS_BETWEEN = 21


@dataclass
class StoreWorld:
    """Two exports on disk, the moments they were taken, the MLflow store and the second model's URI."""

    first: Path
    second: Path
    t1: pd.Timestamp
    t2: pd.Timestamp
    tracking_uri: str
    model_v2: str
    frames: dict

    def score(self, data: Path, store: str, out: Path, *extra: str, data_end: pd.Timestamp | None = None) -> int:
        from leadscore.cli import main

        args = ["score", str(data), "--out", str(out), "--store", store, *extra]
        if data_end is not None:
            args += ["--data-end", data_end.isoformat()]
        return main(args)


@pytest.fixture(scope="session")
def store_world(serving_world, tmp_path_factory: pytest.TempPathFactory) -> StoreWorld:
    import mlflow

    from leadscore.features.building.catalogue import catalogue_hash
    from leadscore.features.building.labels import build_training_set
    from leadscore.features.pit import cut_frames
    from leadscore.features.synthetic.demo import write_export
    from leadscore.scorers.model.artifacts import LeadscoreModel

    root = tmp_path_factory.mktemp("store-world")
    t2 = serving_world.tables.data_end
    t1 = t2 - pd.Timedelta(days=STORE_DAYS_BETWEEN)
    first, second = root / "first", root / "second"
    write_export(cut_frames(serving_world.frames, t1), serving_world.truth, first)
    write_export(serving_world.frames, serving_world.truth, second)

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    try:
        rows, _ = build_training_set(serving_world.tables, "sqo", (0, 30))
        encoded, spec_features = encode_for_training(rows, serving_spec_features())
        booster = train_small_booster(encoded, rows["label"].to_numpy(), n_trees=60, seed=5)
        p = 1 / (1 + np.exp(-booster.predict(encoded, raw_score=True)))
        cuts = {"A": float(np.quantile(p, 0.9)), "B": float(np.quantile(p, 0.7)), "C": float(np.quantile(p, 0.4))}
        spec = {"target": "sqo", "features": spec_features, "grade_cuts": cuts, "catalogue_hash": catalogue_hash(),
                "horizon_days": 90}
        version = log_registered_model(LeadscoreModel(spec=spec, calibration={"method": "none"}, booster=booster),
                                       "leadscore-sqo")
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    return StoreWorld(first=first, second=second, t1=t1, t2=t2, tracking_uri=serving_world.tracking_uri,
                      model_v2=f"models:/leadscore-sqo/{version}", frames=serving_world.frames)
