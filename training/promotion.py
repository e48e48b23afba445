"""Promotion: judge the challenger and the champion on the same, latest test window, then move ``champion``.

It sits above the pipeline (which builds and splits the data the same way training did) and the
registry (aliases, gates, tags): the one promotion procedure behind ``leadscore promote`` and the
retraining notebook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.features.remote import redact
from leadscore.features.tables import Tables
from leadscore.scorers.model.answer import probability
from leadscore.scorers.model.logged import load_logged_model
from leadscore.training.config import TrainConfig, config_from_dict
from leadscore.training.metrics import Scorer, at_moments, evaluate_scorers
from leadscore.training.pipeline import add_rules_baseline, prepare_training_data, require_both_classes
from leadscore.training.registry import (
    CHALLENGER,
    CHAMPION,
    PromotionDecision,
    alias_version,
    decide_promotion,
    failed_gates,
    move_champion,
    registry_client,
    tag_comparison,
)
from leadscore.training.tracking import download_run_config, registered_model_name

log = logging.getLogger(__name__)


def evaluate_versions(
    tables: Tables,
    target: str,
    model_uris: dict[str, str],
    config: TrainConfig,
) -> pd.DataFrame:
    """Evaluate registered models and the rules side by side on the latest test window of ``tables``.

    The current data is split with ``config``'s split exactly as training does, so every model is
    judged on the same newest leads, at the moment of scoring (``evaluation.moments_days``). Each model
    is read from the store as data (as serving reads it) and scored on the test window's features.

    Parameters
    ----------
    model_uris
        ``{label: "models:/leadscore-sqo/3"}`` for each model to compare.

    Returns
    -------
    DataFrame
        Test-window metrics per model label and ``rules`` (see ``leadscore.training.metrics``).
    """
    split = prepare_training_data(tables, target, config, audit=False).split
    moments = config.evaluation.moments_days
    test = at_moments(split.test, moments)
    reference = at_moments(split.development, moments)
    require_both_classes(test, "test")
    at_sqo = test["at_sqo"].to_numpy(dtype=bool) if "at_sqo" in test.columns else None
    scored = test.loc[:, ["lead_id", "as_of", "label"]].copy()
    scorers = []
    for label, uri in model_uris.items():
        model, _ = load_logged_model(uri)
        try:
            # a chained WON model answers p_sqo x q with the SQO link it was trained with, as its pyfunc does
            scored[f"p_{label}"] = probability(model, test, at_sqo=at_sqo)
        except (KeyError, ValueError) as exc:
            raise LeadscoreError(f"{uri}: cannot score the current data ({exc}).") from exc
        scorers.append(Scorer(label, f"p_{label}", f"p_{label}"))
    scored = add_rules_baseline(scored, reference, test)
    scorers.append(Scorer("rules", "rule_score", "p_rules"))
    evaluation = config.evaluation
    return evaluate_scorers(scored, scorers, evaluation.capacity_fraction, evaluation.n_bootstrap, evaluation.ece_bins, config.seed)


@dataclass(frozen=True)
class PromotionOutcome:
    """What :func:`promote_challenger` found and did, for a command or a notebook to show.

    Attributes
    ----------
    name
        The registered model, e.g. ``leadscore-sqo``.
    challenger, champion
        The versions judged; ``champion`` is the one that held the alias *before* the call.
    comparison
        Test-window metrics of ``challenger``, ``champion`` and ``rules`` (``None`` when nothing had to
        be compared: no challenger, no champion, or the challenger already is the champion).
    decision
        :func:`decide_promotion`'s verdict on ``comparison`` (``None`` when nothing was compared).
    promoted
        Whether ``champion`` now points at the challenger because of this call.
    message
        One sentence saying what happened and why.
    evaluated_on
        The export and data end both versions were judged on (``None`` when nothing was compared).
    """

    name: str
    challenger: int | None
    champion: int | None
    comparison: pd.DataFrame | None
    decision: PromotionDecision | None
    promoted: bool
    message: str
    evaluated_on: str | None = None


def _version_run_id(name: str, version: int, client) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version)).run_id
    except MlflowException as exc:
        raise LeadscoreError(f"{name} has no version {version} in the MLflow store {redact(client.tracking_uri)}.") from exc


def check_readable(name: str, version: int) -> None:
    """Refuse a version whose files cannot be read as a leadscore model: ``--force`` overrides judgement, not
    that; a champion nothing can load would leave every scorer and the service without a model."""
    try:
        load_logged_model(f"models:/{name}/{version}")
    except LeadscoreError as exc:
        raise LeadscoreError(f"{name} version {version} cannot be read as a leadscore model ({str(exc).rstrip('.')}); champion "
                             "stays where it is: train a new version, or promote another one.") from exc


def _training_export(name: str, version: int, run_id: str | None, client) -> Tables:
    """The export ``version`` was trained on, read again as its run's lineage tags recorded it."""
    from leadscore.features.reading.validation import load_tables

    tags = client.get_run(run_id).data.tags if run_id else {}
    data = tags.get("leadscore.data_source")
    if not data:
        raise LeadscoreError(
            f"{name} version {version} does not record its training data; pass the export to evaluate on "
            "(DATA for `leadscore promote`)."
        )
    return load_tables(data, tags.get("leadscore.mapping"), tags.get("leadscore.data_end"),
                       allow_files_outside=tags.get("leadscore.allow_files_outside") == "true")


def promote_challenger(
    tables: Tables | None,
    target: str,
    config: TrainConfig | None,
    challenger: int | None = None,
    client=None,
    force: bool = False,
) -> PromotionOutcome:
    """Move ``champion`` to the challenger if it is not worse on the latest data; say what happened.

    The one promotion procedure behind ``leadscore promote`` and the retraining notebook. With no
    challenger there is nothing to do; with no champion yet, the challenger becomes champion directly
    (there is nothing to be worse than); when the challenger already is the champion, nothing changes.
    Otherwise both versions are loaded from the registry and evaluated on the same, newest test window
    (:func:`leadscore.training.pipeline.evaluate_versions`), the metrics are written on both as tags whatever the
    outcome, and ``champion`` moves only if :func:`decide_promotion` says the challenger is not worse.
    "Not promoted" is a valid outcome, not an error.

    Parameters
    ----------
    tables
        The export to judge both versions on; ``None`` reads again the export the challenger was
        trained on (its run's lineage tags). Read only when a comparison is needed.
    target
        ``sqo`` or ``won``; the registered model is ``leadscore-<target>``.
    config
        Split, gates and evaluation settings; ``None`` takes the configuration the challenger was
        trained with (its run's ``config.yaml``), so the test window is the one its training used.
    challenger
        The version to promote; ``None`` takes the version holding the ``challenger`` alias.
    client
        An ``MlflowClient``; ``None`` uses the configured store.
    force
        Make ``challenger`` champion whatever its gates and the comparison say; recorded on the version
        (``leadscore.promote.forced``). Without it, a version that failed its gates is refused.

    Raises
    ------
    LeadscoreError
        When ``challenger`` names a version that does not exist or failed its gates (without ``force``),
        or the export to judge on is not given and the challenger's run does not record it.
    """
    client = client or registry_client()
    name = registered_model_name(target)
    champion = alias_version(name, CHAMPION, client)
    if challenger is None:
        challenger = alias_version(name, CHALLENGER, client)
    if challenger is None:
        holder = f"champion is version {champion}" if champion is not None else "no champion either"
        message = f"{name}: no challenger to promote ({holder}); nothing changed."
        return PromotionOutcome(name, None, champion, None, None, False, message)
    run_id = _version_run_id(name, challenger, client)
    failed = failed_gates(name, challenger, client)
    if force:
        check_readable(name, challenger)
        move_champion(name, challenger, client)
        client.set_model_version_tag(name, str(challenger), "leadscore.promote.forced", "true")
        client.set_model_version_tag(name, str(challenger), "leadscore.promote.role", "champion (forced)")
        why = f" despite failing {'; '.join(failed)}" if failed else ""
        message = f"forced: version {challenger} is now champion{why} (recorded on the version)."
        return PromotionOutcome(name, challenger, champion, None, None, True, message)
    if failed:
        raise LeadscoreError(
            f"{name} version {challenger} failed its gates ({'; '.join(failed)}); promote it anyway with "
            f"`leadscore promote --target {target} --version {challenger} --force`, or train a better one."
        )
    if champion == challenger:
        message = f"{name}: version {challenger} is already the champion; nothing changed."
        return PromotionOutcome(name, challenger, champion, None, None, False, message)
    if champion is None:
        check_readable(name, challenger)
        move_champion(name, challenger, client)
        message = f"{name}: no champion yet, so version {challenger} becomes champion directly."
        return PromotionOutcome(name, challenger, None, None, None, True, message)

    if config is None:
        config = config_from_dict(download_run_config(run_id) or {}, source=f"{name} version {challenger}'s config")
    if tables is None:
        tables = _training_export(name, challenger, run_id, client)
    uris = {"challenger": f"models:/{name}/{challenger}", "champion": f"models:/{name}/{champion}"}
    comparison = evaluate_versions(tables, target, uris, config)
    decision = decide_promotion(comparison, config.gates)
    evaluated_on = f"{tables.source} (data end {tables.data_end:%Y-%m-%d %H:%M} UTC)"
    tag_comparison(name, challenger, "challenger", comparison.loc["challenger"], evaluated_on, client)
    tag_comparison(name, champion, "champion", comparison.loc["champion"], evaluated_on, client)
    if decision.promote:
        move_champion(name, challenger, client)
        message = f"promoted: version {challenger} is now champion ({decision.reason})."
    else:
        message = f"not promoted: version {champion} stays champion ({decision.reason})."
    log.debug("%s: %s", name, message)  # the command prints it
    return PromotionOutcome(name, challenger, champion, comparison, decision, decision.promote, message, evaluated_on)
