"""Where MLflow keeps runs and registered models: the environment decides, else a local store here.

The default is the backend the installed MLflow recommends, a SQLite database ``mlflow.db`` in the
working directory (artifacts beside it in ``mlartifacts/``); ``MLFLOW_TRACKING_URI`` overrides it.
Training, promotion, scoring, the report and the notebooks all call :func:`configure_tracking`, so they
agree on one store. Nothing is set at import.
"""

from __future__ import annotations

import logging
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


def _from_mlflow(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while MLflow talked to its store (a frame of MLflow's code, or its exception)."""
    import traceback

    from leadscore.features.errors import causes

    return any(type(cause).__module__.startswith("mlflow")
               or any("/mlflow/" in frame.filename for frame in traceback.extract_tb(cause.__traceback__))
               for cause in causes(exc))


def unreachable_store_sentence(exc: BaseException, uri: str | None = None) -> str | None:
    """One sentence for a model store that cannot be reached (credentials hidden), else ``None``.

    Without ``uri``, only a failure raised while MLflow talked to its store counts, judged on the store
    MLflow is pointed at.
    """
    from leadscore.features.remote import unreachable_sentence

    if uri is None:
        if not _from_mlflow(exc):
            return None
        import mlflow

        uri = mlflow.get_tracking_uri()
    return unreachable_sentence(exc, uri)


def _check_reachable(uri: str) -> None:
    """Connect once to an HTTP tracking server, so a server that is down costs seconds, not MLflow's minutes of retries."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.create_connection((parts.hostname, port), timeout=10):
        pass


def configure_tracking(workdir: str | os.PathLike | None = None) -> str:
    """Point MLflow (tracking and registry) at the store, set up, and return its URI.

    A fresh local store is created here, under the store's lock
    (:func:`leadscore.training.store.set_up_store`), so commands started together never race through
    MLflow's schema migrations. A store that cannot be reached (a tracking server down, a wrong password,
    a database file that cannot be opened) is one sentence with the password hidden.

    Raises
    ------
    LeadscoreError
        When the store cannot be reached.
    """
    quiet_mlflow()
    import mlflow

    from leadscore.features.errors import LeadscoreError
    from leadscore.training.store import set_up_store

    uri = default_tracking_uri(workdir)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        _check_reachable(uri)
        set_up_store(uri)
    except Exception as exc:
        sentence = unreachable_store_sentence(exc, uri)
        if sentence is None:
            raise
        logging.getLogger(__name__).debug("the model store failed", exc_info=True)  # --verbose, credentials hidden
        raise LeadscoreError(sentence) from None
    return uri
