"""Loading the registered models through MLflow: the one edge where serving touches the model store.

Serving never imports training code. It reads what training logged (``training/logged_model.py``: a
pyfunc holding the LightGBM booster, its calibration and its feature spec) through
``mlflow.pyfunc.load_model`` and keeps the registry's name and version next to it, so every output
row can say which model produced it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.errors import LeadscoreError

logger = logging.getLogger(__name__)

# models:/<name>@<alias> or models:/<name>/<version>
ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
TARGETS = ("sqo", "won")


@dataclass(eq=False)
class ScoringModel:
    """A logged leadscore model ready to score, with where it came from.

    Attributes
    ----------
    uri
        The URI it was loaded from (``models:/leadscore-sqo@champion``).
    name, version
        Registered model name and version (for a ``runs:/`` or path URI: the URI and the run id).
    python_model
        The unwrapped ``LeadscoreModel`` (``booster``, ``spec``, ``encode``, ``calibrate``).
    """

    uri: str
    name: str
    version: str
    python_model: Any
    _compiled: Any = field(default=None, repr=False)
    _compiled_ready: bool = field(default=False, repr=False)

    @property
    def booster(self) -> Any:
        return self.python_model.booster

    @property
    def spec(self) -> dict:
        return self.python_model.spec

    @property
    def target(self) -> str:
        return str(self.spec.get("target", ""))

    @property
    def spec_features(self) -> list[dict]:
        return list(self.spec["features"])

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.spec["features"]]

    @property
    def grade_cuts(self) -> dict[str, float] | None:
        cuts = self.spec.get("grade_cuts")
        return {k: float(cuts[k]) for k in ("A", "B", "C")} if cuts else None

    def encode(self, features: pd.DataFrame) -> pd.DataFrame:
        """The booster's input frame, encoded exactly as in training (unseen categories become missing)."""
        return self.python_model.encode(features)

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from raw log-odds margins."""
        return np.asarray(self.python_model.calibrate(np.asarray(margin, dtype=float)), dtype=float)

    def compiled_trees(self) -> Any:
        """The booster compiled for fast exact TreeSHAP (:mod:`serving.treeshap`), once; ``None`` if unfit."""
        if not self._compiled_ready:
            from serving.treeshap import compile_booster

            self._compiled = compile_booster(self.booster)
            self._compiled_ready = True
            if self._compiled is None:
                logger.info("%s v%s: trees too deep for the fast TreeSHAP tables; using LightGBM's", self.name,
                            self.version)
        return self._compiled


def _target_from_uri(uri: str) -> str | None:
    for target in TARGETS:
        if re.search(rf"leadscore-{target}\b", uri):
            return target
    return None


def resolve_name_version(uri: str) -> tuple[str, str]:
    """Registered name and version behind a ``models:/`` URI (aliases resolved in the registry)."""
    from mlflow import MlflowClient

    match = ALIAS_URI.match(uri)
    if match:
        version = MlflowClient().get_model_version_by_alias(match["name"], match["alias"])
        return match["name"], str(version.version)
    match = VERSION_URI.match(uri)
    if match:
        return match["name"], match["version"]
    return uri, ""


def load_scoring_model(uri: str, target: str | None = None) -> ScoringModel:
    """Load a logged leadscore model from the configured MLflow store.

    Parameters
    ----------
    uri
        ``models:/leadscore-sqo@champion``, ``models:/leadscore-sqo/3``, ``runs:/<id>/model`` or a path.
    target
        ``sqo`` or ``won`` when the caller needs that target (checked against the model's spec);
        default: whatever the URI names, if anything.

    Raises
    ------
    LeadscoreError
        If there is no model at ``uri`` (telling the user to run ``leadscore train`` first), if it is not
        a leadscore model, or if it predicts another target than ``target``.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    wanted = target or _target_from_uri(uri)
    train_hint = f"leadscore train DATA --target {wanted or 'sqo'}"
    try:
        loaded = mlflow.pyfunc.load_model(uri)
        name, version = resolve_name_version(uri)
    except (MlflowException, OSError) as exc:
        logger.debug("loading %s failed: %s", uri, exc)
        raise LeadscoreError(
            f"no model at {uri} in the MLflow store {mlflow.get_tracking_uri()}: run `{train_hint}` first "
            f"(or pass the URI of an existing model)."
        ) from exc
    python_model = loaded.unwrap_python_model()
    if not all(hasattr(python_model, a) for a in ("booster", "spec", "encode", "calibrate")):
        raise LeadscoreError(f"{uri} is not a leadscore model (no booster, feature spec and calibration); "
                             f"train one with `{train_hint}`.")
    if not version:
        version = str(getattr(loaded.metadata, "run_id", "") or "")
    model = ScoringModel(uri=uri, name=name, version=version, python_model=python_model)
    if wanted and model.target and model.target != wanted:
        raise LeadscoreError(f"{uri} predicts {model.target}, not {wanted}: pass a {wanted} model.")
    logger.info("loaded %s (%s v%s): %d features, %d trees", uri, name, version, len(model.feature_names),
                model.booster.num_trees())
    return model


def check_model_features(model: ScoringModel, available: list[str], current_hash: str | None = None) -> None:
    """Refuse a model that needs features this version of leadscore does not build.

    A model is tied to the feature catalogue it was trained on (its spec records the catalogue hash).
    When the hashes differ but every feature is still built, scoring goes on with a warning: the
    definitions may have changed, so the model should be retrained.

    Raises
    ------
    LeadscoreError
        Naming the missing feature(s) and the model.
    """
    missing = [name for name in model.feature_names if name not in set(available)]
    trained_hash = model.spec.get("catalogue_hash")
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise LeadscoreError(
            f"the model {model.name} v{model.version} needs feature(s) {shown} that this version of leadscore "
            f"does not build (model catalogue {trained_hash}, current {current_hash}): retrain it with "
            f"`leadscore train DATA --target {model.target or 'sqo'}`."
        )
    if current_hash and trained_hash and trained_hash != current_hash:
        logger.warning("%s v%s was trained on feature catalogue %s, this leadscore builds %s: the features it uses "
                       "still exist but their definitions may differ; retrain it", model.name, model.version,
                       trained_hash, current_hash)
