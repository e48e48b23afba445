"""The model registry's rules: quality gates, the ``challenger`` / ``champion`` aliases, promotion.

A newly registered version gets ``challenger`` only if it passes every gate of the config (minimum
AUC, maximum ECE, and beating the rules' AUC by a margin) on its test window; the first passing version
of a model becomes ``champion`` directly. ``champion`` moves later only through
:func:`decide_promotion`, after both models were judged on the same, latest test window: the
challenger must not be worse (AUC not lower than the champion's by more than a tolerance) and must
keep its calibration within the gate. Every decision is written on the versions as tags, so the
MLflow UI shows why a version holds (or does not hold) an alias. :func:`promote_challenger` is that
whole procedure, shared by ``leadscore promote`` and the retraining notebook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from features.errors import LeadscoreError
from training.config import GatesConfig

if TYPE_CHECKING:
    from features.tables import Tables
    from training.config import TrainConfig

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class GateCheck:
    """One gate: the measured value, the threshold and whether it passed."""

    name: str
    value: float
    threshold: float
    passed: bool
    description: str


@dataclass(frozen=True)
class GateDecision:
    """All gate checks of one version; it passes only if every check does."""

    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [c.description for c in self.checks if not c.passed]


def apply_gates(metrics: pd.DataFrame, gates: GatesConfig) -> GateDecision:
    """Judge the model's test-window metrics (``metrics.loc["model"]``) against the configured gates.

    A missing rules baseline fails the "beats rules" gate: a model that cannot be shown to beat the
    points marketing trusts today must not be promoted on faith.
    """
    model = metrics.loc["model"]
    auc, ece = float(model["roc_auc"]), float(model["ece"])
    checks = [
        GateCheck("min_auc", auc, gates.min_auc, bool(auc >= gates.min_auc), f"ROC AUC {auc:.4f} >= {gates.min_auc:.4f}"),
        GateCheck("max_ece", ece, gates.max_ece, bool(ece <= gates.max_ece), f"ECE {ece:.4f} <= {gates.max_ece:.4f}"),
    ]
    if "rules" in metrics.index and pd.notna(metrics.loc["rules", "roc_auc"]):
        needed = float(metrics.loc["rules", "roc_auc"]) + gates.min_auc_gain_over_rules
        checks.append(
            GateCheck("beats_rules", auc, needed, bool(auc >= needed), f"ROC AUC {auc:.4f} >= rules AUC + margin {needed:.4f}")
        )
    else:
        checks.append(GateCheck("beats_rules", auc, float("nan"), False, "no rules baseline to beat was evaluated"))
    return GateDecision(tuple(checks))


def _client():  # noqa: ANN202 (MlflowClient, imported lazily)
    from mlflow import MlflowClient

    return MlflowClient()


def alias_version(name: str, alias: str, client=None) -> int | None:  # noqa: ANN001
    """The version number holding ``alias`` on registered model ``name``, or ``None``."""
    from mlflow.exceptions import MlflowException

    client = client or _client()
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def tag_gate_decision(name: str, version: int, decision: GateDecision, client=None) -> None:  # noqa: ANN001
    """Write the gate outcome and each check on the model version."""
    client = client or _client()
    client.set_model_version_tag(name, str(version), "leadscore.gate", "passed" if decision.passed else "failed")
    for check in decision.checks:
        client.set_model_version_tag(
            name, str(version), f"leadscore.gate.{check.name}", f"{'pass' if check.passed else 'FAIL'}: {check.description}"
        )


def assign_alias(name: str, version: int, decision: GateDecision, client=None) -> str | None:  # noqa: ANN001
    """Give a newly registered version its alias: ``champion`` if first to pass, ``challenger`` if it
    passes, none if it fails a gate. Returns the alias set (or ``None``)."""
    client = client or _client()
    tag_gate_decision(name, version, decision, client)
    if not decision.passed:
        log.info("%s version %d failed the gates: %s", name, version, "; ".join(decision.failures))
        return None
    if alias_version(name, CHAMPION, client) is None:
        client.set_registered_model_alias(name, CHAMPION, str(version))
        return CHAMPION
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return CHALLENGER


@dataclass(frozen=True)
class PromotionDecision:
    """Whether ``champion`` moves to the challenger, and the sentence saying why."""

    promote: bool
    reason: str


def decide_promotion(comparison: pd.DataFrame, gates: GatesConfig) -> PromotionDecision:
    """Compare ``comparison.loc["challenger"]`` with ``comparison.loc["champion"]`` (same test window).

    The challenger is promoted when its AUC is not lower than the champion's by more than
    ``promote_auc_tolerance`` and its ECE is within ``max_ece``.
    """
    challenger = comparison.loc["challenger"]
    champion = comparison.loc["champion"]
    auc_floor = float(champion["roc_auc"]) - gates.promote_auc_tolerance
    if float(challenger["roc_auc"]) < auc_floor:
        return PromotionDecision(
            False,
            f"challenger AUC {challenger['roc_auc']:.4f} is below the champion's {champion['roc_auc']:.4f} "
            f"minus the tolerance {gates.promote_auc_tolerance:.4f}",
        )
    if float(challenger["ece"]) > gates.max_ece:
        return PromotionDecision(
            False, f"challenger ECE {challenger['ece']:.4f} exceeds the calibration gate {gates.max_ece:.4f}"
        )
    return PromotionDecision(
        True,
        f"challenger AUC {challenger['roc_auc']:.4f} vs champion {champion['roc_auc']:.4f} "
        f"(tolerance {gates.promote_auc_tolerance:.4f}) and ECE {challenger['ece']:.4f} <= {gates.max_ece:.4f}",
    )


def tag_comparison(name: str, version: int, role: str, metrics: pd.Series, evaluated_on: str, client=None) -> None:  # noqa: ANN001
    """Record a promotion evaluation's metrics on a version (``leadscore.promote.*`` tags)."""
    client = client or _client()
    for metric in ("roc_auc", "ece", "captured_at_k", "log_loss"):
        if metric in metrics.index and pd.notna(metrics[metric]):
            client.set_model_version_tag(name, str(version), f"leadscore.promote.{metric}", f"{float(metrics[metric]):.6f}")
    client.set_model_version_tag(name, str(version), "leadscore.promote.role", role)
    client.set_model_version_tag(name, str(version), "leadscore.promote.test_window", evaluated_on)


def move_champion(name: str, version: int, client=None) -> None:  # noqa: ANN001
    """Point ``champion`` at ``version``; drop ``challenger`` if it pointed there."""
    client = client or _client()
    client.set_registered_model_alias(name, CHAMPION, str(version))
    if alias_version(name, CHALLENGER, client) == version:
        client.delete_registered_model_alias(name, CHALLENGER)


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


def _version_run_id(name: str, version: int, client) -> str | None:  # noqa: ANN001
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version)).run_id
    except MlflowException as exc:
        raise LeadscoreError(f"{name} has no version {version} in the MLflow store {client.tracking_uri}.") from exc


def _training_export(name: str, version: int, run_id: str | None, client) -> Tables:  # noqa: ANN001
    """The export ``version`` was trained on, read again as its run's lineage tags recorded it."""
    from features.validation import load_tables

    tags = client.get_run(run_id).data.tags if run_id else {}
    data = tags.get("leadscore.data_source")
    if not data:
        raise LeadscoreError(
            f"{name} version {version} does not record its training data; pass the export to evaluate on "
            "(DATA for `leadscore promote`)."
        )
    return load_tables(data, tags.get("leadscore.mapping"), tags.get("leadscore.data_end"))


def promote_challenger(
    tables: Tables | None,
    target: str,
    config: TrainConfig | None,
    challenger: int | None = None,
    client=None,  # noqa: ANN001 (MlflowClient, imported lazily)
) -> PromotionOutcome:
    """Move ``champion`` to the challenger if it is not worse on the latest data; say what happened.

    The one promotion procedure behind ``leadscore promote`` and the retraining notebook. With no
    challenger there is nothing to do; with no champion yet, the challenger becomes champion directly
    (there is nothing to be worse than); when the challenger already is the champion, nothing changes.
    Otherwise both versions are loaded from the registry and evaluated on the same, newest test window
    (:func:`training.pipeline.evaluate_versions`), the metrics are written on both as tags whatever the
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

    Raises
    ------
    LeadscoreError
        When ``challenger`` names a version that does not exist, or the export to judge on is not
        given and the challenger's run does not record it.
    """
    from training.config import config_from_dict
    from training.pipeline import evaluate_versions
    from training.tracking import download_run_config, registered_model_name

    client = client or _client()
    name = registered_model_name(target)
    champion = alias_version(name, CHAMPION, client)
    if challenger is None:
        challenger = alias_version(name, CHALLENGER, client)
    if challenger is None:
        message = f"{name}: no challenger to promote (champion is version {champion}); nothing changed."
        return PromotionOutcome(name, None, champion, None, None, False, message)
    run_id = _version_run_id(name, challenger, client)
    if champion == challenger:
        message = f"{name}: version {challenger} is already the champion; nothing changed."
        return PromotionOutcome(name, challenger, champion, None, None, False, message)
    if champion is None:
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
    log.info("%s: %s", name, message)
    return PromotionOutcome(name, challenger, champion, comparison, decision, decision.promote, message, evaluated_on)
