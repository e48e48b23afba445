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


def configure_tracking(workdir: str | os.PathLike | None = None) -> str:
    """Point MLflow (tracking and registry) at the store; returns its URI."""
    for name, value in _MLFLOW_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    import mlflow

    uri = default_tracking_uri(workdir)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri
