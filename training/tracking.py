"""The MLflow edge of training: one run per training with params, metrics, artifacts, lineage and the model.

Everything that talks to MLflow while training lives here (the registry's aliases and gates live in
``registry.py``). The tracking store is whatever the caller configured (``leadscore.tracking.
configure_tracking`` in the commands, a temporary store in tests); nothing is set at import.

The model is logged as "models from code": ``training/logged_model.py`` is copied into the model and
executed on load, with three artifacts (``booster.txt``, ``calibration.json``, ``feature_spec.json``),
an explicit signature (:func:`model_signature`: a signature inferred from ``category`` columns breaks
pyfunc scoring, and a declared double refuses integer counts), an input example and explicit pip requirements (inferring
them costs seconds per run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import subprocess
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml

from leadscore.features.errors import disk_full_cause
from leadscore.features.frames_io import write_frame
from leadscore.features.progress import Progress
from leadscore.features.remote import redact
from leadscore.scorers.monitoring.reference import ARTIFACT_PATH as REFERENCE_ARTIFACT
from leadscore.training import plots
from leadscore.training.config import TrainConfig, config_to_dict
from leadscore.training.metrics import at_moments, earliest_snapshot_per_lead
from leadscore.training.store import local_database

if TYPE_CHECKING:
    from leadscore.scorers.model.artifacts import LeadscoreModel
    from leadscore.training.trained import TrainedModels

log = logging.getLogger(__name__)

LOGGED_MODEL_PATH = Path(__file__).with_name("logged_model.py")
MODEL_LIBRARIES = ("mlflow", "lightgbm", "pandas", "numpy", "pyarrow", "numba")
REPORTED_LIBRARIES = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "shap")


def registered_model_name(target: str) -> str:
    """``leadscore-sqo`` or ``leadscore-won``: the registry name of a target's model."""
    return f"leadscore-{target}"


def library_versions(names: tuple[str, ...] = REPORTED_LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries that decide a model's numbers."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def git_commit() -> str:
    """The commit of the code that trained (with ``-dirty`` for local changes), or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def flatten(mapping: dict, prefix: str = "") -> dict[str, str]:
    """Nested config as ``{"lightgbm.num_leaves": "15", ...}`` for MLflow params."""
    out = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return out


def model_signature(model: LeadscoreModel) -> object:
    """The pyfunc's signature: ``lead_id`` and ``funnel_position`` (both optional) and the features in, the
    scorer's answer and each row's status out.

    Categorical features are strings. Numeric features are declared ``Any``: MLflow refuses to cast an
    int64 column to a declared double ("Can not safely convert int64 to float64"), yet counts arrive as
    integers from a user's own frame or a Spark ``LongType`` column; MLflow's ``AnyType`` is its way of
    saying a column may hold several types, and the model reads them as numbers itself
    (:func:`leadscore.scorers.model.answer.feature_frame`). The score is declared ``double`` though it is a
    whole number: it is missing for a lead at SQO or closed, and Spark's ``spark_udf`` casts a ``long`` output
    to numpy's int64, which holds no missing value ("cannot convert NA to integer").
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    from leadscore.scorers.model.answer import CHAIN_COLUMN
    from leadscore.scorers.status import POSITION_COLUMN

    spec_features = model.spec_features
    inputs = Schema(
        [ColSpec("string", "lead_id", required=False), ColSpec("string", POSITION_COLUMN, required=False)]
        + [ColSpec("string" if f["kind"] == "categorical" else AnyType(), f["name"]) for f in spec_features]
    )
    outputs = Schema([
        ColSpec("string", "lead_id"), ColSpec("double", "p_raw"), ColSpec("double", "p"), ColSpec("double", "score"),
        ColSpec("string", "grade"), ColSpec("string", "reasons_positive"), ColSpec("string", "reasons_negative"),
        ColSpec("string", "reasons"), *([ColSpec("double", CHAIN_COLUMN)] if model.chain else []),
        ColSpec("string", "status"),
    ])
    return ModelSignature(inputs=inputs, outputs=outputs)


def spec_input_example(spec_features: list[dict]) -> pd.DataFrame:
    """One row in the signature's types when no real rows are at hand: a known category, else 0."""
    return pd.DataFrame({
        f["name"]: [str((f.get("categories") or ["unknown"])[0])] if f["kind"] == "categorical" else [0.0]
        for f in spec_features
    })


def model_input_example(frame: pd.DataFrame, spec_features: list[dict], n_rows: int = 5) -> pd.DataFrame:
    """A few rows in the signature's types: categoricals as text (None when missing), numbers as float."""
    sample = frame.head(n_rows)
    out = {}
    for f in spec_features:
        column = sample[f["name"]]
        if f["kind"] == "categorical":
            out[f["name"]] = column.astype("str").astype("object").where(column.notna(), None)
        else:
            out[f["name"]] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(out).reset_index(drop=True)


def moment_prefix(moments_days: list[int] | tuple[int, ...]) -> str:
    """The metric-name prefix of the scoring moments: ``at_capture``, ``at_7d``, ``at_capture_7d``."""
    return "at_" + "_".join("capture" if m == 0 else f"{m}d" for m in moments_days)


def run_metrics(trained: TrainedModels) -> dict[str, float]:
    """Flat MLflow metrics whose names say the moment.

    ``at_capture.<scorer>.<metric>`` for the headline (the scoring moments), ``offset_<n>d.<scorer>.<metric>``
    and ``pooled.<scorer>.<metric>`` for the per-offset table, plus training facts.
    """
    out: dict[str, float] = {}
    prefix = moment_prefix(trained.spec.get("moments_days", [0]))
    for scorer, row in trained.metrics.iterrows():
        for metric, value in row.items():
            if pd.notna(value):
                out[f"{prefix}.{scorer}.{metric}"] = float(value)
    for row in trained.metrics_by_offset.itertuples():
        moment = "pooled" if row.offset == "pooled" else f"offset_{row.offset}d"
        for metric in ("roc_auc", "log_loss", "ece"):
            value = getattr(row, metric)
            if pd.notna(value):
                out[f"{moment}.{row.method}.{metric}"] = float(value)
    for name, value in trained.facts.items():
        if isinstance(value, int | float | np.integer | np.floating) and pd.notna(value):
            out[name] = float(value)
    for row in trained.calibration_comparison.itertuples():
        if np.isfinite(row.cv_log_loss):
            out[f"calibration.cv_log_loss.{row.method}"] = float(row.cv_log_loss)
    for row in trained.split_summary.itertuples():
        out[f"split.{row.window}.n_rows"] = float(row.n_rows)
        out[f"split.{row.window}.n_rows_dropped_by_gap"] = float(row.n_rows_dropped_by_gap)
    return out




def write_run_artifacts(trained: TrainedModels, config: TrainConfig, folder: Path) -> list[Path]:
    """Figures and tables of one training, written to ``folder``."""
    scored = at_moments(trained.scored, trained.spec.get("moments_days", [0]))
    others = [name for name in trained.metrics.index if name not in ("model", "rules")]
    probability = {"model": "p_model", **{other: f"p_{other}" for other in others}}
    rank = dict(probability)
    if "rule_score" in scored.columns:
        probability["rules"] = "p_rules"
        rank["rules"] = "rule_score"
    leads = earliest_snapshot_per_lead(scored)
    paths = [
        plots.plot_calibration(scored, probability, folder / "calibration_curve.png", config.evaluation.ece_bins),
        plots.plot_roc(scored, rank, folder / "roc_curve.png"),
        plots.plot_precision_recall(scored, rank, folder / "pr_curve.png"),
        plots.plot_gain(leads, rank, config.evaluation.capacity_fraction, folder / "gain_model_vs_rules.png"),
        plots.plot_shap_summary(trained.shap_contributions, trained.shap_encoded, folder / "shap_summary.png"),
        plots.plot_feature_importance(trained.importance, folder / "feature_importance.png"),
        write_frame(trained.metrics.rename_axis("scorer").reset_index(), folder / "metrics_at_scoring_moment.csv"),
        write_frame(trained.metrics_by_offset, folder / "metrics_by_offset.csv"),
        write_frame(trained.slices, folder / "metrics_by_slice.csv"),
        write_frame(trained.split_summary, folder / "split_summary.csv"),
        write_frame(trained.calibration_comparison, folder / "calibration_comparison.csv"),
        write_frame(cv_table(trained), folder / "cv_folds.csv"),
        write_frame(trained.importance, folder / "feature_importance.csv"),
    ]
    if trained.training_summary is not None:
        paths.append(write_frame(trained.training_summary, folder / "training_set_summary.csv"))
    if trained.audit is not None:
        table = trained.audit.table.assign(evidence=trained.audit.table["evidence"].map(json.dumps))
        paths.append(write_frame(table, folder / "audit.csv"))
        audit_json = folder / "audit.json"
        audit_json.write_text(json.dumps(trained.audit.records(), indent=1))
        paths.append(audit_json)
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    paths.append(config_path)
    return paths


def cv_table(trained: TrainedModels) -> pd.DataFrame:
    """Per stage, kind and fold: the out-of-fold ROC AUC, and the kind's calibrated log loss over the folds."""
    records = [{"stage": name, "kind": kind, "fold": fold, "roc_auc": auc, "log_loss": fit.log_loss,
                "served": kind == stage.kind}
               for name, stage in trained.stages.items() for kind, fit in stage.kinds.items()
               for fold, auc in fit.fold_auc.items()]
    return pd.DataFrame.from_records(records, columns=["stage", "kind", "fold", "roc_auc", "log_loss", "served"])


def frame_digest(frame: pd.DataFrame) -> str:
    """Content hash of every row and column of ``frame`` (same data, same digest)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    columns = "|".join(map(str, frame.columns)).encode()
    return hashlib.sha256(hashed.tobytes() + columns).hexdigest()[:16]


def log_datasets(trained: TrainedModels, target: str, source: str | None) -> None:
    """Dataset lineage: one MLflow dataset per window (source, content digest, schema, counts).

    Logged as metadata-only datasets: ``mlflow.data.from_pandas`` would infer the schema and a digest
    by walking every cell in Python (about 45 s for 250,000 snapshot rows), while the digest here
    hashes the whole frame vectorised and the schema comes from a sample of rows.
    """
    import warnings

    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():
        # MLflow warns that a local path resolves to one of two identical source classes, that a
        # schema has integer columns, and (inside schema inference) about pandas 4; none concerns lineage.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        if source and Path(source).exists():
            dataset_source = resolve_dataset_source(Path(source).resolve().as_uri())
        else:
            dataset_source = CodeDatasetSource(tags={"leadscore.data_source": source or "<memory>"})
        for window, frame in trained.window_frames.items():
            schema = mlflow.models.infer_signature(frame.head(1000)).inputs
            dataset = MetaDataset(
                dataset_source, name=f"leadscore-{target}-{window}", digest=frame_digest(frame), schema=schema
            )
            counts = {
                "n_rows": str(len(frame)),
                "n_leads": str(frame["lead_id"].nunique()),
                "n_positive": str(int(frame["label"].sum())),
            }
            mlflow.log_input(dataset, context=window, tags=counts)


def local_artifact_location(tracking_uri: str) -> str | None:
    """``<folder of the database>/mlartifacts`` for a local SQLite store, else None (the store decides).

    MLflow would put a SQLite store's artifacts in ``./mlruns`` of whatever directory a command runs
    from, scattering one store's models over several folders; keeping them beside the database keeps
    a store in one place that can be moved or deleted whole.
    """
    database = local_database(tracking_uri)
    if database is None:
        return None
    return (database.parent / "mlartifacts").resolve().as_uri()


def use_experiment(name: str) -> None:
    """Make ``name`` the active experiment, creating it (artifacts beside a local store) when missing."""
    import mlflow

    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=local_artifact_location(mlflow.get_tracking_uri()))
    mlflow.set_experiment(name)


PROCESS_TAG = "leadscore.process"  # who runs a training: see process_identity
FAILED_TAG = "leadscore.failed_because"


def _proc_field(path: str, index: int | None = None) -> str | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    if index is None:
        return text
    # /proc/<pid>/stat: the command name in parentheses may hold spaces; fields after it are numbered from 3
    fields = text.rpartition(")")[2].split()
    return fields[index - 3] if len(fields) > index - 3 else None


def process_identity(pid: int | None = None) -> dict[str, str]:
    """This process as a later one can recognise it: host, pid and (on Linux) the boot and its start tick.

    The pid alone is not enough: after a reboot, or many processes later, the same number names another.
    """
    import os
    import socket

    pid = os.getpid() if pid is None else pid
    identity = {"host": socket.gethostname(), "pid": str(pid)}
    boot = _proc_field("/proc/sys/kernel/random/boot_id")
    started = _proc_field(f"/proc/{pid}/stat", 22)
    if boot and started:
        identity.update(boot=boot, started=started)
    return identity


def process_is_gone(identity: dict[str, str]) -> bool:
    """Whether the process ``identity`` names has ended; ``False`` when that cannot be known (another host)."""
    import os
    import socket

    if identity.get("host") != socket.gethostname() or not str(identity.get("pid", "")).isdigit():
        return False
    if identity.get("boot") and identity["boot"] != _proc_field("/proc/sys/kernel/random/boot_id"):
        return True  # the machine restarted since
    pid = int(identity["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return bool(identity.get("started")) and identity["started"] != _proc_field(f"/proc/{pid}/stat", 22)


def fail_abandoned_runs(client=None) -> list[str]:
    """Mark FAILED the RUNNING training runs whose ``leadscore train`` process is gone; returns their ids.

    A train killed outright (``kill -9``, the machine stopping) cannot end its run, which would show as
    RUNNING forever in the MLflow UI. Each run records the process that trains it (:data:`PROCESS_TAG`);
    the next train ends those whose process has gone, with a tag saying why. Runs of another host, of a
    train still running, or started by other tools are left alone.
    """
    import json

    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = client or MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    if not experiments:
        return []
    ended = []
    for run in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000):
        try:
            identity = json.loads(run.data.tags.get(PROCESS_TAG, ""))
        except ValueError:
            continue
        if not isinstance(identity, dict) or not process_is_gone(identity):
            continue
        client.set_tag(run.info.run_id, FAILED_TAG,
                       f"its leadscore train (process {identity.get('pid')} on {identity.get('host')}) stopped without "
                       f"ending it; marked FAILED by a later train")
        client.set_terminated(run.info.run_id, "FAILED")
        ended.append(run.info.run_id)
        log.warning("run %s was left RUNNING by a train that was stopped; it is now marked FAILED", run.info.run_id)
    return ended


def _end_failed_run(run_id: str, exc: BaseException) -> None:
    """End a run its training could not finish as FAILED, saying why, even on a full disk.

    ``mlflow.start_run``'s block tries first; when the disk is full that write fails too, so this one
    removes the files the run wrote to a local store (worthless: it registered nothing) to make room and
    tries again. A run still RUNNING after that is ended by the next train (:func:`fail_abandoned_runs`).
    """
    import shutil
    from urllib.parse import unquote, urlparse

    from mlflow import MlflowClient

    client = MlflowClient()
    full = disk_full_cause(exc) is not None
    why = "the disk was full" if full else f"the training stopped ({type(exc).__name__})"

    def end(note: str) -> None:
        client.set_tag(run_id, FAILED_TAG, note)
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, "FAILED")

    try:
        end(why)
        return
    except Exception:
        log.info("could not end run %s as FAILED", run_id, exc_info=True)
        if not full:
            return
    try:
        run = client.get_run(run_id)
        places = [run.info.artifact_uri] + [m.artifact_location for m in client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'")]
        for place in places:
            location = urlparse(place)
            if location.scheme in ("", "file"):
                shutil.rmtree(unquote(location.path), ignore_errors=True)
        end(f"{why}; its files were removed to make room to record this")
    except Exception:
        log.info("run %s stays RUNNING until the next train ends it", run_id, exc_info=True)


def log_training_run(
    trained: TrainedModels,
    config: TrainConfig,
    experiment: str,
    lineage: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> tuple[str, int]:
    """Log one training as an MLflow run, log the model and register it; returns (run id, version).

    A run that fails, or whose process is stopped by a signal the command line turns into an
    exception (``leadscore.cli``), ends FAILED, never RUNNING forever: ``mlflow.start_run``'s block ends
    it so on any exception.

    Parameters
    ----------
    trained
        The fitted and evaluated models from :func:`leadscore.training.pipeline.fit_models`.
    config
        The configuration the training used (logged as params and as ``config.yaml``).
    experiment
        MLflow experiment name (created if missing).
    lineage
        Where the data came from (``data_source``, ``mapping``, ``data_end``, ``allow_files_outside``), logged as run tags so
        ``leadscore promote`` can re-read the same export.
    progress
        Where to report the logging step (default: nowhere).
    """

    target = trained.spec["target"]
    use_experiment(experiment)
    params = flatten(config_to_dict(config), "config.")
    params.update({f"lib.{k}": v for k, v in library_versions().items()})
    params.update(
        {
            "target": target,
            "horizon_days": str(trained.spec["horizon_days"]),
            "catalogue_hash": trained.spec["catalogue_hash"],
            "feature_list_hash": trained.facts_text["feature_list_hash"],
            "n_features": str(len(trained.spec["features"])),
            "calibration_method": trained.calibration["method"],
            "data_end": str(trained.spec["data_end"]),
            "git_commit": git_commit(),
            "model_kind": trained.serving_kind,
            "model_choice": trained.serving_reason[:500],
            "split.plan": str(trained.split_summary.attrs.get("plan", "")),
            "split.plan_why": str(trained.split_summary.attrs.get("why", ""))[:500],
            "evaluation.moment": moment_prefix(trained.spec.get("moments_days", [0])),
        }
    )
    for window, facts in trained.spec["windows"].items():
        params[f"window.{window}.captured"] = f"{facts['captured_from']} .. {facts['captured_to']}"
        params[f"window.{window}.as_of"] = f"{facts['as_of_from']} .. {facts['as_of_to']}"
    tags = {"leadscore.target": target, PROCESS_TAG: json.dumps(process_identity())}
    tags.update({f"leadscore.{k}": str(v) for k, v in (lineage or {}).items() if v is not None})
    # Nothing the run keeps may carry a credential (a path or URI a user typed with a password in it).
    tags = {key: redact(value) for key, value in tags.items()}
    params = {key: redact(value) for key, value in params.items()}
    progress = progress or Progress.off()
    run_ids: list[str] = []
    try:
        return _log_run(trained, config, target, tags, params, lineage, progress, run_ids)
    except BaseException as exc:
        if run_ids:
            _end_failed_run(run_ids[0], exc)
        raise


def _log_run(trained: TrainedModels, config: TrainConfig, target: str, tags: dict[str, str], params: dict[str, str],
             lineage: dict[str, str] | None, progress: Progress, run_ids: list[str]) -> tuple[str, int]:
    """:func:`log_training_run`'s run itself; the id goes into ``run_ids`` as soon as it exists."""
    import mlflow

    with mlflow.start_run(tags=tags) as run, tempfile.TemporaryDirectory(prefix="leadscore-train-") as tmp:
        run_ids.append(run.info.run_id)
        progress.step(f"logging run {run.info.run_id}, its figures and the model to MLflow")
        folder = Path(tmp)
        mlflow.log_params(params)
        mlflow.log_metrics(run_metrics(trained))
        artifacts_folder = folder / "evaluation"
        artifacts_folder.mkdir()
        for path in write_run_artifacts(trained, config, artifacts_folder):
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        log_datasets(trained, target, (lineage or {}).get("data_source"))
        if trained.reference is not None:
            mlflow.log_dict(trained.reference.to_json(), REFERENCE_ARTIFACT)
        info = log_model(
            trained.model,
            input_example=model_input_example(trained.scored_features, trained.spec["features"]),
            registered_model_name=registered_model_name(target),
        )
        version = int(info.registered_model_version)
        log.debug("logged run %s, registered %s version %d", run.info.run_id, registered_model_name(target), version)
        return run.info.run_id, version


def log_model(
    model: LeadscoreModel,
    input_example: pd.DataFrame | None = None,
    registered_model_name: str | None = None,
) -> object:
    """Log ``model`` in the active MLflow run, the one way a leadscore model is logged; its ``ModelInfo``.

    The model's data files (:func:`leadscore.scorers.model.artifacts.write_model`) go in as the
    pyfunc's artifacts, ``logged_model.py`` as its code ("models from code"), with an explicit signature
    from the feature spec and explicit pip requirements (inferring them costs seconds). Training, the
    tests and the benchmarks all log through here, so they exercise the model production logs.
    """
    import mlflow

    from leadscore.scorers.model.artifacts import write_model

    if input_example is None:
        input_example = spec_input_example(model.spec_features)
    with tempfile.TemporaryDirectory(prefix="leadscore-model-") as tmp:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(LOGGED_MODEL_PATH),
            artifacts=write_model(model, Path(tmp)),
            signature=model_signature(model),
            input_example=input_example,
            pip_requirements=[f"{name}=={version}" for name, version in library_versions(MODEL_LIBRARIES).items()],
        )
    if registered_model_name is not None:
        # Registered here rather than by log_model, which prints "Successfully registered model ..." and
        # "Created version ..." among the command's own output: the same registration, said by us.
        with quiet_mlflow_messages():
            version = mlflow.register_model(f"runs:/{info.run_id}/model", registered_model_name)
        info.registered_model_version = int(version.version)
    return info


@contextlib.contextmanager
def quiet_mlflow_messages() -> Iterator[None]:
    """Silence MLflow's own messages while the block runs: its ``eprint`` lines and its log records below
    ERROR (registering says the run "has no artifacts at artifact path 'model'", which is how MLflow 3
    stores every logged model). Errors still raise."""
    from mlflow.utils.logging_utils import disable_logging, enable_logging

    mlflow_log = logging.getLogger("mlflow")
    level = mlflow_log.level
    mlflow_log.setLevel(logging.ERROR)
    disable_logging()
    try:
        yield
    finally:
        enable_logging()
        mlflow_log.setLevel(level)


def download_run_config(run_id: str) -> dict | None:
    """The ``config.yaml`` a run logged, as a mapping (``None`` when the run has none)."""
    import mlflow

    try:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="evaluation/config.yaml")
    except Exception as exc:
        log.warning("run %s has no readable evaluation/config.yaml (%s); using the shipped defaults", run_id, exc)
        return None
    return yaml.safe_load(Path(local).read_text())

