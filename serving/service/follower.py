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

import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.features.remote import unreachable_reason
from leadscore.serving.loading import (
    ALIAS_URI,
    ScoringModel,
    check_chain,
    failed_name,
    load_scoring_model,
    resolve_name_version,
)
from leadscore.serving.service.periodic import Periodic
from leadscore.serving.service.scoring import ModelSet

logger = logging.getLogger(__name__)

REFUSED_START = "refused"


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
        self.refused: dict[str, object] | None = None
        self._keys: tuple[str, str | None] | None = None
        self._polls = Periodic("leadscore-model-follower", poll_seconds, self.refresh)

    def _load(self, uri: str, target: str) -> tuple[str, ScoringModel]:
        key, pinned = pinned_uri(uri)
        return key, load_scoring_model(pinned, target=target)

    def refresh(self) -> bool:
        """Load and swap in the versions the URIs name now, if they differ; True when a swap happened.

        What went wrong is kept as a fixed sentence (``last_error``: nothing from the exception, whose text
        may hold paths or a store's address); a version that was named but could not serve is kept in
        ``refused`` while the current pair goes on serving.
        """
        from mlflow.exceptions import MlflowException

        sqo_key = won_key = None
        try:
            sqo_key, _ = pinned_uri(self.sqo_uri)
            try:
                won_key = pinned_uri(self.won_uri)[0] if self.won_uri else None
            except (MlflowException, LeadscoreError) as exc:
                if unreachable_reason(exc) is not None:
                    raise
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
        except Exception as exc:
            sentence = self._sentence(exc, sqo_key, won_key)
            if sentence.startswith(REFUSED_START):
                self.refused = {"why": sentence, "at": pd.Timestamp.now(tz="UTC").isoformat()}
            if sentence != self.last_error:  # said once, not at every poll
                keep = "the current ones keep serving" if self.current is not None else "/ready answers 503 meanwhile"
                hint = (" (train one with `leadscore train DATA --target sqo`: it is followed as soon as it is "
                        "registered)") if sentence.startswith("no champion") else ""
                logger.warning("models not loaded (%s): %s%s", keep, sentence, hint)
                logger.debug("the refresh failed: %s", type(exc).__name__, exc_info=True)
            self.last_error = sentence
            return False
        self.current = pair  # one assignment: a request sees the old pair or the new one, never half of each
        self._keys = (sqo_key, won_key)
        self.last_error = None
        self.refused = None
        logger.info("serving %s", models_in_words(pair))
        return True

    def _sentence(self, exc: BaseException, sqo_key: str | None, won_key: str | None) -> str:
        """A fixed sentence for a failed refresh, safe for a caller without a key to read."""
        from mlflow.exceptions import MlflowException

        if unreachable_reason(exc) is not None:
            return "the model store cannot be reached"
        if sqo_key is None:
            name = failed_name(self.sqo_uri)
            if isinstance(exc, MlflowException) and (exc.error_code == "RESOURCE_DOES_NOT_EXIST"
                                                     or "not found" in str(exc)):
                return f"no champion for {name} yet"
            return f"the registry could not say which {name} version to serve"
        held = self._keys or (None, None)
        new = [k for k, old in zip((sqo_key, won_key), held, strict=True) if k is not None and k != old]
        named = " and ".join(k.replace("/", " version ") for k in new or [sqo_key])
        return f"{REFUSED_START} {named}: its files cannot be read as a leadscore model, or it did not score a test lead"

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
