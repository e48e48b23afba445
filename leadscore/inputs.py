"""What a command reads, gathered from its options, so that its output never replaces any of it.

Every writing command passes these to :func:`leadscore.features.frames_io.check_output`: the export's
tables (and any name a read of the export folder would take for one), the files its mapping names and
the mapping itself, every file option (``--leads``, ``--config``, ``--rules``, ``--scores``…), and the stores
that outlive a command (the MLflow model store, the score store). Options are found by name on the parsed
arguments, so a command that gains an input option is covered once its name is listed here.

Light on purpose: nothing here imports pandas or MLflow.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from leadscore.features.frames_io import Input

# Options naming a file a command reads, and what an output there would be.
FILE_OPTIONS = {
    "leads": "is the --leads file this command reads",
    "config": "is the --config file this command reads",
    "rules": "is the --rules file this command reads",
    "scores": "is the --scores file this command reads",
    "api_keys_file": "is the --api-keys-file this command reads",
}


def _everything(name: str) -> bool:
    return True


def model_store_inputs() -> list[Input]:
    """The MLflow model store's files when it is local: the database, its lock and its artifact folder.

    A tracking server or database server keeps its own files; a ``file:`` store is a folder.
    """
    from leadscore.tracking import default_tracking_uri
    from leadscore.training.store import local_database

    uri = default_tracking_uri()
    database = local_database(uri)
    if database is not None:
        return [Input(database, "is the MLflow model store's database"),
                Input(Path(f"{database}.lock"), "is the MLflow model store's lock file"),
                Input(database.parent / "mlartifacts", "is in the MLflow model store's artifact folder",
                      inside=_everything)]
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        folder = Path(unquote(parsed.path) if parsed.scheme == "file" else uri)
        return [Input(folder, "is in the MLflow model store's folder", inside=_everything)]
    return []


def score_store_inputs(args: argparse.Namespace) -> list[Input]:
    """The score store's files when it is a local file (``--store``, else ``LEADSCORE_STORE``, else the default)."""
    from leadscore.serving.history.store import is_postgres, store_target

    location = store_target(getattr(args, "store", None))
    if is_postgres(location):
        return []  # a database server keeps its own files
    what = "is the score store, which keeps every earlier run's scores"
    return [Input(Path(location), what), Input(Path(f"{location}.wal"), what)]


def command_inputs(args: argparse.Namespace) -> list[Input]:
    """Everything the command of ``args`` reads (see the module docstring)."""
    from leadscore.features.reading.sources import export_inputs

    inputs: list[Input] = []
    data = getattr(args, "data", None)
    if isinstance(data, str) and data:
        inputs += export_inputs(data, getattr(args, "mapping", None))
    elif getattr(args, "mapping", None):
        inputs.append(Input(Path(args.mapping), "is the mapping file this command reads"))
    for option, what in FILE_OPTIONS.items():
        value = getattr(args, option, None)
        if isinstance(value, str | os.PathLike) and str(value):
            inputs.append(Input(Path(value), what))
    return inputs + model_store_inputs() + score_store_inputs(args)
