"""Following the registry: the service scores with the models the ``champion`` alias names, whatever it names.

A background thread asks the registry every ``poll_seconds`` which versions the configured URIs
(``models:/leadscore-sqo@champion``) resolve to. When one moved, it loads the new version as data
(:func:`leadscore.serving.loading.load_scoring_model`), warms it up on a one-lead request (so the first
real request does not pay for compiling its trees) and only then replaces the current pair in one
assignment. A request takes the pair once when it starts, so it is scored by one consistent pair, and
no request waits for or fails on a swap. A version that cannot be loaded is logged and the current pair
keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from leadscore.features.errors import LeadscoreError
from leadscore.serving.loading import (
    ALIAS_URI,
    ScoringModel,
    check_chain,
    load_scoring_model,
    resolve_name_version,
)
from leadscore.serving.service.periodic import Periodic
from leadscore.serving.service.scoring import ModelSet

logger = logging.getLogger(__name__)


def pinned_uri(uri: str) -> tuple[str, str]:
    """``(name@version key, models:/name/version)`` an alias URI resolves to now; other URIs as they are."""
    if ALIAS_URI.match(uri):
        name, version = resolve_name_version(uri)
        return f"{name}/{version}", f"models:/{name}/{version}"
    return uri, uri


class ModelFollower:
    """The current :class:`ModelSet`, refreshed in the background when the registry's aliases move.

    Parameters
    ----------
    sqo_uri, won_uri
        What to follow; ``won_uri`` may name no model yet (``p_win`` stays empty until it does).
    poll_seconds
        How often to ask the registry.
    warm_up
        Called with a freshly loaded pair before it serves (scores a one-lead request).
    """

    def __init__(self, sqo_uri: str, won_uri: str | None, poll_seconds: float = 10.0,
                 warm_up: Callable[[ModelSet], None] | None = None) -> None:
        self.sqo_uri = sqo_uri
        self.won_uri = won_uri
        self.poll_seconds = poll_seconds
        self.warm_up = warm_up
        self.current: ModelSet | None = None
        self.last_error: str | None = None
        self._keys: tuple[str, str | None] | None = None
        self._polls = Periodic("leadscore-model-follower", poll_seconds, self.refresh)

    def _load(self, uri: str, target: str) -> tuple[str, ScoringModel]:
        key, pinned = pinned_uri(uri)
        return key, load_scoring_model(pinned, target=target)

    def refresh(self) -> bool:
        """Load and swap in the versions the URIs name now, if they differ; True when a swap happened."""
        from mlflow.exceptions import MlflowException

        try:
            sqo_key, _ = pinned_uri(self.sqo_uri)
            try:
                won_key = pinned_uri(self.won_uri)[0] if self.won_uri else None
            except (MlflowException, LeadscoreError):
                won_key = None  # no WON champion (yet): score without p_win
            if self._keys == (sqo_key, won_key):
                return False
            current = self.current
            sqo = current.sqo if current is not None and self._keys and self._keys[0] == sqo_key else \
                self._load(self.sqo_uri, "sqo")[1]
            won = None
            if won_key is not None:
                won = current.won if current is not None and self._keys and self._keys[1] == won_key else \
                    self._load(self.won_uri, "won")[1]
            if won is not None:
                try:
                    check_chain(sqo, won)
                except LeadscoreError as exc:  # as `leadscore score` does: serve, with p_win empty
                    logger.warning("%s Serving without it: p_win stays empty.", exc)
                    won = None
            pair = ModelSet(sqo=sqo, won=won)
            if self.warm_up is not None:
                self.warm_up(pair)
        except (MlflowException, LeadscoreError, OSError) as exc:
            why = str(exc)
            if isinstance(exc, MlflowException):
                why = (f"{self.sqo_uri} cannot be read from the MLflow store ({exc.message}); train a model with "
                       "`leadscore train DATA --target sqo` (it is followed as soon as it is registered)")
            if why != self.last_error:  # said once, not at every poll
                keep = "the current ones keep serving" if self.current is not None else "/ready answers 503 meanwhile"
                logger.warning("models not loaded (%s): %s", keep, why)
            self.last_error = why
            return False
        self.current = pair  # one assignment: a request sees the old pair or the new one, never half of each
        self._keys = (sqo_key, won_key)
        self.last_error = None
        logger.info("serving %s", models_in_words(pair))
        return True

    def start(self) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        self._polls.start()

    def stop(self) -> None:
        self._polls.stop()


def models_in_words(pair: ModelSet) -> str:
    """``leadscore-sqo v3 and leadscore-won v2`` (or that p_win stays empty), for the log."""
    sqo = f"{pair.sqo.name} v{pair.sqo.version}"
    if pair.won is None:
        return f"{sqo} (no WON model: p_win stays empty)"
    return f"{sqo} and {pair.won.name} v{pair.won.version}"
