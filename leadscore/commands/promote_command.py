"""``leadscore promote``: move ``champion`` to the challenger only if it is not worse on the latest data.

Both models are loaded from the registry and evaluated on the same, newest test window: the current
export (DATA, else the one the challenger was trained on) split exactly as the challenger's training
config says. The comparison is printed and written on both versions as tags; the exit code is 0
whether or not the alias moved, since "not promoted" is a valid outcome, not an error. The procedure
itself is :func:`leadscore.training.promotion.promote_challenger`, shared with the retraining notebook.
"""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from leadscore.features.errors import LeadscoreError
    from leadscore.features.remote import redact
    from leadscore.tracking import configure_tracking
    from leadscore.training.metrics import format_metrics
    from leadscore.training.promotion import promote_challenger
    from leadscore.training.tracking import registered_model_name

    store = configure_tracking()
    client = MlflowClient()
    name = registered_model_name(args.target)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        raise LeadscoreError(
            f"no registered model {name} in the MLflow store {redact(store)}; train one with "
            f"`leadscore train DATA --target {args.target}` first."
        ) from exc
    tables = None
    if getattr(args, "data", None):
        from leadscore.features.reading.validation import load_tables

        tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    # The config is always the challenger's own, so the test window is split as its training split it.
    if args.force and args.version is None:
        raise LeadscoreError("--force needs --version N: say which version to make champion.")
    outcome = promote_challenger(tables, args.target, None, args.version, client, force=args.force)
    if outcome.comparison is not None:
        print(
            f"{name}: challenger version {outcome.challenger} against champion version {outcome.champion} "
            f"on {outcome.evaluated_on}"
        )
        labels = {"challenger": f"v{outcome.challenger} challenger", "champion": f"v{outcome.champion} champion"}
        print(format_metrics(outcome.comparison.rename(index=labels)))
    print(outcome.message)
    return 0
