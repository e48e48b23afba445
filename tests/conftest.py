"""Shared fixtures, and the browser tests' switch.

Tests marked ``browser`` drive headless Chromium through chromedriver. On a machine without them (a
fresh clone needs only Python and pip) they are left out with one line saying how to install them;
with ``LEADSCORE_REQUIRE_BROWSER=1`` (``.ci/run`` sets it) they run and a missing browser fails them.
``LEADSCORE_CHROMIUM`` / ``LEADSCORE_CHROMEDRIVER`` point at binaries outside ``PATH``.

``serving_world``: a real MLflow store (temporary SQLite) holding real small LightGBM models for SQO and
WON, logged exactly as training logs them (``leadscore.training.tracking.log_model``) and
registered as ``leadscore-sqo`` / ``leadscore-won`` with the alias ``champion``, trained on features built
from a small generated export. The SQO model is monotone in the engagement features (more activity never
lowers it, more days of silence never raise it), so direction tests check the pipeline, not luck.
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    browser = [item for item in items if item.get_closest_marker("browser")]
    _, missing = browser_binaries_found()
    if not browser or not missing or os.environ.get("LEADSCORE_REQUIRE_BROWSER") == "1":
        return
    items[:] = [item for item in items if not item.get_closest_marker("browser")]
    config.hook.pytest_deselected(items=browser)
    config.stash[_BROWSER_NOTE] = (
        f"{len(browser)} browser tests left out: {' and '.join(missing)} not found; "
        f"to run them: {BROWSER_INSTALL}"
    )


_BROWSER_NOTE = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _BROWSER_NOTE in config.stash:
        terminalreporter.write_line(config.stash[_BROWSER_NOTE])


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
        the batch scorer's rows and its built features, with MLflow pointed at this world's store (use with
        ``restore_mlflow_uris``)."""
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
        for target in ("sqo", "won"):
            rows, _ = build_training_set(tables, target, (0, 7, 30, 60))
            encoded, spec_features = encode_for_training(rows, serving_spec_features())
            monotone = None
            if target == "sqo":
                monotone = [
                    1 if f["name"].startswith(MONOTONE_UP_PREFIXES) or f["name"] in MONOTONE_UP
                    else -1 if f["name"] in MONOTONE_DOWN else 0
                    for f in spec_features
                ]
            booster = train_small_booster(encoded, rows["label"].to_numpy(), monotone)
            calibration = {"method": "none"} if target == "sqo" else {"method": "sigmoid", "a": 0.95, "b": -0.05}
            margin = booster.predict(encoded, raw_score=True)
            p = 1 / (1 + np.exp(-margin)) if target == "sqo" else 1 / (1 + np.exp(-(0.95 * margin - 0.05)))
            spec = {"target": target, "features": spec_features, "grade_cuts": _grade_cuts(p),
                    "catalogue_hash": catalogue_hash(), "horizon_days": 90 if target == "sqo" else 180}
            name = f"leadscore-{target}"
            version = log_registered_model(LeadscoreModel(spec=spec, calibration=calibration, booster=booster), name)
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
