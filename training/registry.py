"""The model registry's rules: quality gates, the ``challenger`` / ``champion`` aliases, promotion.

A newly registered version gets ``challenger`` only if it passes every gate of the config (minimum
AUC, maximum ECE, and beating the rules' AUC by a margin) on its test window; the first passing version
of a model becomes ``champion`` directly. ``champion`` moves later only through
:func:`decide_promotion`, after both models were judged on the same, latest test window: the
challenger must not be worse (AUC not lower than the champion's by more than a tolerance) and must
keep its calibration within the gate. Every decision is written on the versions as tags, so the
MLflow UI shows why a version holds (or does not hold) an alias. Promotion itself (judging both
versions on the latest data) is :mod:`leadscore.training.promotion`.

Every alias change reads the aliases, decides and writes under the store's lock
(:func:`leadscore.training.store.store_lock`), so two trainings finishing together cannot both become
champion, an older version never takes ``challenger`` from a newer one, and what a training prints about
its alias is what the registry holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from leadscore.training.config import GatesConfig
from leadscore.training.store import store_lock

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


def _interval(row: pd.Series, name: str) -> tuple[float, float]:
    low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    value = float(row[name]) if name in row.index else float("nan")
    if low is None or pd.isna(low):
        return value, value  # no bootstrap: the point estimate is all the evidence there is
    return float(low), float(high)


def apply_gates(metrics: pd.DataFrame, gates: GatesConfig, moment: str = "at capture") -> GateDecision:
    """Judge the serving model's metrics (``metrics.loc["model"]``, at the moment of scoring) against the gates.

    A gate fails only when the evidence says so: when the bootstrap 95% interval of its metric lies
    wholly past the threshold (an AUC interval wholly below ``min_auc``, an ECE interval wholly above
    ``max_ece``, an interval of the AUC gain over the rules wholly below the margin). A small test
    window gives a wide interval, and a wide interval fails nothing. A missing rules baseline fails
    the "beats rules" gate: a model that cannot be shown to beat the points marketing trusts today
    must not be promoted on faith. When the rules give every lead the same points (or their AUC's interval
    reaches 0.5) beating them proves nothing; the metrics then hold a ``floor`` (a logistic
    regression on the columns known at capture, ``pipeline.fit_floor``) and the gate judges the gain
    over it instead (``beats_floor``), saying so.
    """
    model = metrics.loc["model"]
    auc, ece = float(model["roc_auc"]), float(model["ece"])
    auc_low, auc_high = _interval(model, "roc_auc")
    ece_low, ece_high = _interval(model, "ece")
    checks = [
        GateCheck("min_auc", auc, gates.min_auc, bool(auc_high >= gates.min_auc),
                  f"ROC AUC {moment} {auc:.4f}, 95% interval [{auc_low:.4f}, {auc_high:.4f}] "
                  + (f"reaches {gates.min_auc:.4f}" if auc_high >= gates.min_auc else f"lies wholly below {gates.min_auc:.4f}")),
        GateCheck("max_ece", ece, gates.max_ece, bool(ece_low <= gates.max_ece),
                  # The interval is corrected for ECE's upward bias on small windows, so it may sit below the estimate.
                  f"ECE {moment} {ece:.4f}, bias-corrected 95% interval [{max(ece_low, 0):.4f}, {ece_high:.4f}] "
                  + (f"reaches down to {gates.max_ece:.4f}" if ece_low <= gates.max_ece
                     else f"lies wholly above {gates.max_ece:.4f}")),
    ]
    baseline = "floor" if "floor" in metrics.index else "rules"
    if baseline in metrics.index and pd.notna(metrics.loc[baseline, "roc_auc"]):
        column = f"auc_gain_over_{baseline}"
        gain = float(model.get(column, auc - float(metrics.loc[baseline, "roc_auc"])))
        gain_low, gain_high = _interval(model, column) if column in model.index else (gain, gain)
        margin = gates.min_auc_gain_over_rules
        passed = bool(gain_high >= margin)
        what = ("the rules" if baseline == "rules" else
                "the floor (a logistic regression on the columns known at capture: the rules rank no better than "
                "chance, so beating them is no evidence)")
        checks.append(GateCheck(
            f"beats_{baseline}", gain, margin, passed,
            f"AUC gain over {what} {moment} {gain:+.4f}, 95% interval [{gain_low:+.4f}, {gain_high:+.4f}] "
            + (f"reaches {margin:+.4f}" if passed else f"lies wholly below {margin:+.4f}"),
        ))
    else:
        checks.append(GateCheck("beats_rules", auc, float("nan"), False, "no rules baseline to beat was evaluated"))
    return GateDecision(tuple(checks))


def registry_client():
    from mlflow import MlflowClient

    return MlflowClient()


def alias_lock():
    """The store's lock, held around every read-decide-write of aliases."""
    import mlflow

    return store_lock(mlflow.get_registry_uri())


def alias_version(name: str, alias: str, client=None) -> int | None:
    """The version number holding ``alias`` on registered model ``name``, or ``None``."""
    from mlflow.exceptions import MlflowException

    client = client or registry_client()
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def tag_gate_decision(name: str, version: int, decision: GateDecision, client=None) -> None:
    """Write the gate outcome and each check on the model version."""
    client = client or registry_client()
    client.set_model_version_tag(name, str(version), "leadscore.gate", "passed" if decision.passed else "failed")
    for check in decision.checks:
        client.set_model_version_tag(
            name, str(version), f"leadscore.gate.{check.name}", f"{'pass' if check.passed else 'FAIL'}: {check.description}"
        )


def failed_gates(name: str, version: int, client=None) -> list[str]:
    """The gate checks ``version`` failed when it was trained (its ``leadscore.gate.*`` tags); [] if none."""
    from mlflow.exceptions import MlflowException

    client = client or registry_client()
    try:
        tags = client.get_model_version(name, str(version)).tags
    except MlflowException:
        return []
    return [value.removeprefix("FAIL: ") for key, value in sorted(tags.items())
            if key.startswith("leadscore.gate.") and value.startswith("FAIL")]


@dataclass(frozen=True)
class AliasAssignment:
    """The alias a new version got (``None``: none) and, when there is more to say, why or what it replaced."""

    alias: str | None
    note: str = ""


def assign_alias(name: str, version: int, decision: GateDecision, client=None) -> AliasAssignment:
    """Give a newly registered version its alias: ``champion`` if first to pass, ``challenger`` if it
    passes (unless a newer version already holds it), none if it fails a gate.

    The aliases are read and written under the store's lock, so the answer is what the registry holds.
    """
    client = client or registry_client()
    tag_gate_decision(name, version, decision, client)
    if not decision.passed:
        log.debug("%s version %d failed the gates: %s", name, version, "; ".join(decision.failures))
        return AliasAssignment(None, "it failed a gate")
    with alias_lock():
        if alias_version(name, CHAMPION, client) is None:
            client.set_registered_model_alias(name, CHAMPION, str(version))
            return AliasAssignment(CHAMPION)
        holder = alias_version(name, CHALLENGER, client)
        if holder is not None and holder > version:
            return AliasAssignment(None, f"version {holder}, registered after it, already holds {CHALLENGER}")
        client.set_registered_model_alias(name, CHALLENGER, str(version))
    return AliasAssignment(CHALLENGER, f"replacing version {holder}" if holder is not None else "")


@dataclass(frozen=True)
class PromotionDecision:
    """Whether ``champion`` moves to the challenger, and the sentence saying why."""

    promote: bool
    reason: str


def decide_promotion(comparison: pd.DataFrame, gates: GatesConfig) -> PromotionDecision:
    """Compare ``comparison.loc["challenger"]`` with ``comparison.loc["champion"]`` (same test window).

    The challenger is promoted when its AUC is not lower than the champion's by more than
    ``promote_auc_tolerance`` and its ECE's bootstrap interval reaches below ``max_ece`` (the gate's rule).
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
    ece_low, ece_high = _interval(challenger, "ece")
    if ece_low > gates.max_ece:  # as the gate: only when the evidence says so
        return PromotionDecision(
            False, f"challenger ECE {challenger['ece']:.4f}: its bias-corrected 95% interval [{ece_low:.4f}, {ece_high:.4f}] lies wholly above the "
                   f"calibration gate {gates.max_ece:.4f}"
        )
    return PromotionDecision(
        True,
        f"challenger AUC {challenger['roc_auc']:.4f} vs champion {champion['roc_auc']:.4f} "
        f"(tolerance {gates.promote_auc_tolerance:.4f}) and ECE {challenger['ece']:.4f} <= {gates.max_ece:.4f}",
    )


def tag_comparison(name: str, version: int, role: str, metrics: pd.Series, evaluated_on: str, client=None) -> None:
    """Record a promotion evaluation's metrics on a version (``leadscore.promote.*`` tags)."""
    client = client or registry_client()
    for metric in ("roc_auc", "ece", "captured_at_k", "log_loss"):
        if metric in metrics.index and pd.notna(metrics[metric]):
            client.set_model_version_tag(name, str(version), f"leadscore.promote.{metric}", f"{float(metrics[metric]):.6f}")
    client.set_model_version_tag(name, str(version), "leadscore.promote.role", role)
    client.set_model_version_tag(name, str(version), "leadscore.promote.test_window", evaluated_on)


def move_champion(name: str, version: int, client=None) -> None:
    """Point ``champion`` at ``version``; drop ``challenger`` if it pointed there."""
    client = client or registry_client()
    with alias_lock():
        client.set_registered_model_alias(name, CHAMPION, str(version))
        if alias_version(name, CHALLENGER, client) == version:
            client.delete_registered_model_alias(name, CHALLENGER)
