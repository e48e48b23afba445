"""Loading registered models: the one edge where serving touches the model store, reading models as data.

Serving never imports training code and never executes code from the store. It downloads the files a
logged model holds (``MLmodel`` and the data artifacts of :mod:`leadscore.scorers.model.artifacts`:
the booster's text, the calibration and the feature spec as JSON), checks that they describe a
leadscore model, and parses them; the pyfunc training logs beside them is for MLflow users who choose
to load it. The registry's name and version stay next to the model, so every output row can say which
model produced it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.features.remote import redact, unreachable_sentence
from leadscore.scorers.model.artifacts import LeadscoreModel

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
    model
        The model itself (spec, calibration, booster; prediction and exact contributions).
    """

    uri: str
    name: str
    version: str
    model: LeadscoreModel

    @property
    def booster(self) -> object:
        return self.model.booster

    @property
    def spec(self) -> dict:
        return self.model.spec

    @property
    def target(self) -> str:
        return self.model.target

    @property
    def spec_features(self) -> list[dict]:
        return self.model.spec_features

    @property
    def feature_names(self) -> list[str]:
        return self.model.feature_names

    @property
    def grade_cuts(self) -> dict[str, float] | None:
        return self.model.grade_cuts

    def encode(self, features: pd.DataFrame) -> pd.DataFrame:
        """The model's input frame, encoded exactly as in training (unseen categories become missing)."""
        return self.model.encode(features)

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from raw log-odds margins."""
        return self.model.calibrate(margin)


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


def failed_name(uri: str) -> str:
    match = ALIAS_URI.match(uri) or VERSION_URI.match(uri)
    return match["name"] if match else uri


def latest_failed_version(uri: str) -> tuple[int, str] | None:
    """For ``models:/<name>@<alias>``: the newest version of ``name`` if it failed its gates, with why.

    Training registers every version and tags its gate outcome (``leadscore.gate``); a version that
    failed gets no alias, so "no champion" usually means "trained, but not good enough yet".
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    match = ALIAS_URI.match(uri)
    if not match:
        return None
    try:
        versions = MlflowClient().search_model_versions(f"name='{match['name']}'")
    except MlflowException:
        return None
    if not versions:
        return None
    latest = max(versions, key=lambda v: int(v.version))
    tags = latest.tags or {}
    if tags.get("leadscore.gate") != "failed":
        return None
    why = "; ".join(v.removeprefix("FAIL: ") for k, v in sorted(tags.items())
                    if k.startswith("leadscore.gate.") and v.startswith("FAIL"))
    return int(latest.version), why


def load_scoring_model(uri: str, target: str | None = None) -> ScoringModel:
    """Load a logged leadscore model from the configured MLflow store, as data.

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
    from leadscore.scorers.model.logged import NoModelAt, load_logged_model

    wanted = target or _target_from_uri(uri)
    try:
        model, run_id = load_logged_model(uri)
    except NoModelAt as exc:
        unreachable = unreachable_sentence(exc.__cause__, exc.store)
        if unreachable is not None:
            raise LeadscoreError(unreachable) from exc
        failed = latest_failed_version(uri)
        if failed is not None:
            number, why = failed
            raise LeadscoreError(
                f"no model at {uri}: {failed_name(uri)} has no champion because version {number}, the newest, failed "
                f"its gates when it was trained: {why}. Scoring with it anyway takes "
                f"`leadscore promote --target {wanted or 'sqo'} --version {number} --force`."
            ) from exc
        raise LeadscoreError(
            f"no model at {uri} in the MLflow store {redact(exc.store)}: run `leadscore train DATA --target {wanted or 'sqo'}` "
            "first (or pass the URI of an existing model)."
        ) from exc
    name, version = resolve_name_version(uri)
    if not version:
        version = str(run_id or "")
    scoring = ScoringModel(uri=uri, name=name, version=version, model=model)
    if wanted and scoring.target and scoring.target != wanted:
        raise LeadscoreError(f"{uri} predicts {scoring.target}, not {wanted}: pass a {wanted} model.")
    logger.debug("loaded %s (%s v%s): %d features, %s", uri, name, version, len(scoring.feature_names), model.size)
    failed = latest_failed_version(uri)
    if failed is not None and str(failed[0]) != version:
        logger.warning("%s version %d, newer than the %s used here (v%s), failed its gates (%s); "
                       "`leadscore promote --target %s --version %d --force` would use it anyway",
                       name, failed[0], uri, version, failed[1], scoring.target or "sqo", failed[0])
    return scoring


def check_chain(sqo_model: ScoringModel, won_model: ScoringModel) -> None:
    """Refuse a WON model whose probability cannot be chained with this SQO model into p_win <= p_sqo.

    A WON model is ``q = P(win | SQO within H days)`` (its spec's ``chain``) and p_win is the SQO model's
    probability times q, which is P(win) only when the SQO model predicts SQO within the same H days.
    A WON model trained before the chain predicts P(win) on its own, which can exceed p_sqo.

    Raises
    ------
    LeadscoreError
        Naming both models and what to retrain.
    """
    chain = won_model.model.chain
    if chain is None:
        raise LeadscoreError(
            f"{won_model.name} v{won_model.version} predicts a win on its own (trained before p_win became p_sqo x "
            f"P(win | SQO)), so its p_win could exceed p_sqo: retrain it with `leadscore train DATA --target won`.")
    sqo_days, given_days = sqo_model.spec.get("horizon_days"), chain.get("sqo_horizon_days")
    if sqo_days is not None and given_days is not None and int(sqo_days) != int(given_days):
        raise LeadscoreError(
            f"{won_model.name} v{won_model.version} is P(win | SQO within {given_days} days) but {sqo_model.name} "
            f"v{sqo_model.version} predicts SQO within {sqo_days} days: their product is no P(win); retrain the WON "
            f"model with training_set.sqo_horizon_days: {sqo_days} in its training config.")


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
    # Own-column features are always buildable: a column the export lacks reads as missing.
    missing = [f["name"] for f in model.spec_features if "source" not in f and f["name"] not in set(available)]
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
