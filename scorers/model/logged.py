"""Reading a logged model back from the MLflow store, as data: the one reader training and serving share.

The model's files are downloaded and parsed by :func:`leadscore.scorers.model.artifacts.read_logged_model`;
the pyfunc's code beside them is never run. Serving (``leadscore.serving.loading``) adds the registry's
name and version and what to do when a model is missing; training's promotion re-reads registered
versions through the same function, so both judge exactly the model that serves.
"""

from __future__ import annotations

import logging
import tempfile

from leadscore.features.errors import LeadscoreError
from leadscore.features.remote import redact
from leadscore.scorers.model.artifacts import LeadscoreModel, read_logged_model

log = logging.getLogger(__name__)


class NoModelAt(LeadscoreError):
    """There is no model at ``uri`` in the MLflow store ``store``."""

    def __init__(self, uri: str, store: str) -> None:
        self.uri, self.store = uri, store
        super().__init__(f"no model at {uri} in the MLflow store {redact(store)}.")


def load_logged_model(uri: str) -> tuple[LeadscoreModel, str | None]:
    """The model logged at ``uri`` (``models:/…``, ``runs:/…`` or a path) and the run that logged it.

    Raises
    ------
    NoModelAt
        When the store holds nothing at ``uri`` (the message names the store).
    LeadscoreError
        When what is there is not a leadscore model.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="leadscore-model-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
        except (MlflowException, OSError) as exc:
            log.debug("loading %s failed: %s", uri, exc)
            raise NoModelAt(uri, mlflow.get_tracking_uri()) from exc
        return read_logged_model(local, origin=uri)
