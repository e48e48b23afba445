"""Where MLflow keeps runs and registered models: the environment decides, else a local store here.

The default is the backend the installed MLflow recommends, a SQLite database ``mlflow.db`` in the
working directory (artifacts beside it in ``mlartifacts/``); ``MLFLOW_TRACKING_URI`` overrides it.
Training, promotion, scoring, the report and the notebooks all call :func:`configure_tracking`, so they
agree on one store. Nothing is set at import.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_tracking_uri(workdir: str | os.PathLike | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<workdir>/mlflow.db``."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    base = Path(workdir or Path.cwd()).resolve()
    return f"sqlite:///{base / 'mlflow.db'}"


# Quiet defaults for a command-line tool; a user's own environment settings win.
_MLFLOW_ENV_DEFAULTS = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # progress bars would interleave with our output
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_DISABLE_TELEMETRY": "true",  # leads data is sensitive; nothing leaves the machine unasked
}


def quiet_mlflow() -> None:
    """MLflow's quiet defaults for a command-line tool, whether or not MLflow is imported yet.

    MLflow reads ``MLFLOW_LOGGING_LEVEL`` once, when first imported; a command that imported it before
    calling this would otherwise print MLflow's INFO lines (its database set-up, for one) among ours.
    """
    user_level = os.environ.get("MLFLOW_LOGGING_LEVEL")
    for name, value in _MLFLOW_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if user_level is None:
        import logging

        logging.getLogger("mlflow").setLevel(_MLFLOW_ENV_DEFAULTS["MLFLOW_LOGGING_LEVEL"])
        logging.getLogger("alembic").setLevel(_MLFLOW_ENV_DEFAULTS["MLFLOW_LOGGING_LEVEL"])


def configure_tracking(workdir: str | os.PathLike | None = None) -> str:
    """Point MLflow (tracking and registry) at the store, set up, and return its URI.

    A fresh local store is created here, under the store's lock
    (:func:`leadscore.training.store.set_up_store`), so commands started together never race through
    MLflow's schema migrations.
    """
    quiet_mlflow()
    import mlflow

    from leadscore.training.store import set_up_store

    uri = default_tracking_uri(workdir)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    set_up_store(uri)
    return uri
