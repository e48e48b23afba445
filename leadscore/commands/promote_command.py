"""``leadscore promote``: move ``champion`` to the challenger only if it is not worse on the latest data.

Both models are loaded from the registry and evaluated on the same, newest test window: the current
export (DATA, else the one the challenger was trained on) split exactly as the challenger's training
config says. The comparison is printed and written on both versions as tags; the exit code is 0
whether or not the alias moved, since "not promoted" is a valid outcome, not an error.
"""

from __future__ import annotations

import argparse


def _version_exists(client, name: str, version: int) -> bool:  # noqa: ANN001
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from features.errors import LeadscoreError
    from features.validation import load_tables
    from leadscore.tracking import configure_tracking
    from training.config import config_from_dict
    from training.metrics import format_metrics
    from training.pipeline import evaluate_versions
    from training.registry import (
        CHALLENGER,
        CHAMPION,
        alias_version,
        decide_promotion,
        move_champion,
        tag_comparison,
    )
    from training.tracking import download_run_config, registered_model_name

    store = configure_tracking()
    client = MlflowClient()
    name = registered_model_name(args.target)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        raise LeadscoreError(
            f"no registered model {name} in the MLflow store {store}; train one with "
            f"`leadscore train DATA --target {args.target}` first."
        ) from exc
    challenger = args.version if args.version is not None else alias_version(name, CHALLENGER, client)
    champion = alias_version(name, CHAMPION, client)
    if challenger is None:
        print(f"{name}: no challenger to promote (champion is version {champion}); nothing changed.")
        return 0
    if not _version_exists(client, name, challenger):
        raise LeadscoreError(f"{name} has no version {challenger} in the MLflow store {store}.")
    if champion == challenger:
        print(f"{name}: version {challenger} is already the champion; nothing changed.")
        return 0
    if champion is None:
        move_champion(name, challenger, client)
        print(f"{name}: no champion yet, so version {challenger} becomes champion directly.")
        return 0

    run_id = client.get_model_version(name, str(challenger)).run_id
    tags = client.get_run(run_id).data.tags if run_id else {}
    data = getattr(args, "data", None) or tags.get("leadscore.data_source")
    if not data:
        raise LeadscoreError(f"{name} version {challenger} does not record its training data; pass DATA to evaluate on.")
    mapping = getattr(args, "mapping", None) or (None if getattr(args, "data", None) else tags.get("leadscore.mapping"))
    data_end = getattr(args, "data_end", None) or (None if getattr(args, "data", None) else tags.get("leadscore.data_end"))
    config = config_from_dict(download_run_config(run_id) or {}, source=f"{name} version {challenger}'s config")
    tables = load_tables(data, mapping, data_end)
    uris = {"challenger": f"models:/{name}/{challenger}", "champion": f"models:/{name}/{champion}"}
    comparison = evaluate_versions(tables, args.target, uris, config)
    decision = decide_promotion(comparison, config.gates)

    evaluated_on = f"{tables.source} (data end {tables.data_end:%Y-%m-%d %H:%M} UTC)"
    tag_comparison(name, challenger, "challenger", comparison.loc["challenger"], evaluated_on, client)
    tag_comparison(name, champion, "champion", comparison.loc["champion"], evaluated_on, client)
    print(f"{name}: challenger version {challenger} against champion version {champion} on {evaluated_on}")
    print(format_metrics(comparison.rename(index={"challenger": f"v{challenger} challenger", "champion": f"v{champion} champion"})))
    if decision.promote:
        move_champion(name, challenger, client)
        print(f"promoted: version {challenger} is now champion ({decision.reason}).")
    else:
        print(f"not promoted: version {champion} stays champion ({decision.reason}).")
    return 0
