"""A leadscore model as files of data, and the object that predicts, explains and phrases with it.

A model folder holds:

``feature_spec.json``
    ``{"format", "target", "horizon_days", "features": [{"name", "kind", "group", "story",
    "categories"?}], "grade_cuts", "catalogue_hash", ...}``: the exact inputs in order, each
    categorical's training categories (an unseen category becomes missing), grade cut points.
``calibration.json``
    the probability map (:mod:`leadscore.scorers.model.calibration`).
``booster.txt`` (a LightGBM model) or ``linear.json`` (a logistic regression)
    the LightGBM booster in LightGBM's own text format, or the linear model's encoding and
    coefficients (:mod:`leadscore.scorers.model.linear`); either predicts the raw log-odds margin.
``held_out.csv`` (optional)
    the held-out evaluation: the test-window leads at the scoring moment with their outcome, the
    probability and reasons of the model as evaluated (before any refit on all data) and the rule
    points, so the report can judge the model on leads it did not train on.
``sqo_stage.*`` (a chained WON model only)
    the WON model is the second link of a chain, ``q = P(win | SQO)`` (its spec's ``chain``), and serving
    multiplies it by the SQO model's probability; the SQO link it was trained with is kept beside it
    under this prefix (the same three files), so the logged pyfunc can answer P(win) on its own.

Both kinds predict, explain exactly and phrase their reasons the same way. Reading a folder parses
these as data; nothing in it is executed, so a model store a user can write to cannot run code where
scoring runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from leadscore.features.errors import LeadscoreError
from leadscore.features.frames_io import read_frame, write_frame
from leadscore.scorers.model.calibration import apply_calibration
from leadscore.scorers.model.encoding import encode_features, spec_matrix
from leadscore.scorers.model.linear import LinearModel

if TYPE_CHECKING:
    from leadscore.scorers.model.contributions import Contributions

FORMAT = "leadscore-model/2"
SPEC_FILE = "feature_spec.json"
CALIBRATION_FILE = "calibration.json"
BOOSTER_FILE = "booster.txt"
LINEAR_FILE = "linear.json"
HELD_OUT_FILE = "held_out.csv"
# The SQO link a chained WON model carries: its files under this prefix, its MLflow artifacts under this name prefix.
STAGE_PREFIX = "sqo_stage."
STAGE_ARTIFACT = "sqo_stage_"
# The artifact names MLflow records for the files (``artifacts=`` of the logged pyfunc); one of the
# last two is there, by the model's kind.
ARTIFACT_NAMES = {"feature_spec": SPEC_FILE, "calibration": CALIBRATION_FILE}
KIND_FILES = {"lightgbm": ("booster", BOOSTER_FILE), "logistic": ("linear", LINEAR_FILE)}


@dataclass(eq=False)
class LeadscoreModel:
    """A calibrated lead-scoring model with its feature spec.

    Attributes
    ----------
    spec
        The ``feature_spec.json`` document.
    calibration
        The ``calibration.json`` document.
    booster
        A ``lightgbm.Booster`` predicting the raw log-odds margin (a LightGBM model).
    linear
        A :class:`~leadscore.scorers.model.linear.LinearModel` (a logistic-regression model).
    held_out
        The held-out evaluation rows (``held_out.csv``), when training recorded them.
    stage
        For a chained WON model (``spec["chain"]``): the SQO model it was trained with (``sqo_stage.*``).
    """

    spec: dict
    calibration: dict
    booster: Any = None
    linear: LinearModel | None = None
    held_out: pd.DataFrame | None = None
    stage: LeadscoreModel | None = None
    _compiled: Any = field(default=None, repr=False)
    _compiled_ready: bool = field(default=False, repr=False)
    _category_orders: list[list[str]] | None = field(default=None, repr=False)
    _orders_ready: bool = field(default=False, repr=False)

    @property
    def kind(self) -> str:
        """``lightgbm`` or ``logistic``."""
        return "logistic" if self.linear is not None else "lightgbm"

    @property
    def size(self) -> str:
        """The model's size in words, for logs."""
        if self.linear is not None:
            return f"logistic regression over {self.linear.n_columns} encoded columns"
        return f"LightGBM, {self.booster.num_trees()} trees"

    @property
    def target(self) -> str:
        return str(self.spec.get("target", ""))

    @property
    def chain(self) -> dict | None:
        """For a chained WON model, what its probability is conditional on (``given``, ``sqo_horizon_days``,
        ``covers_past_sqo``, ...); ``None`` for a model whose probability stands alone."""
        chain = self.spec.get("chain")
        return dict(chain) if isinstance(chain, dict) else None

    @property
    def spec_features(self) -> list[dict]:
        return list(self.spec["features"])

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.spec["features"]]

    @property
    def grade_cuts(self) -> dict[str, float] | None:
        cuts = self.spec.get("grade_cuts")
        return {k: float(cuts[k]) for k in ("A", "B", "C")} if cuts else None

    def encode(self, features: pd.DataFrame) -> pd.DataFrame:
        """The booster's input frame for built features (unseen categories become missing)."""
        return encode_features(features, self.spec["features"])

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The booster's input for built features: what LightGBM makes of :meth:`encode`'s frame, made directly."""
        if not self._orders_ready:
            names = list(self.booster.feature_name())
            if names != self.feature_names:
                raise ValueError(f"the booster's features do not match its spec ({len(names)} vs "
                                 f"{len(self.feature_names)})")
            # LightGBM codes a category by its place in the training frame's categories, which it keeps.
            trained = getattr(self.booster, "pandas_categorical", None) or []
            self._category_orders = [list(c) for c in trained] if trained else None
            self._orders_ready = True
        return spec_matrix(features, self.spec["features"], self._category_orders)

    def margin(self, features: pd.DataFrame) -> np.ndarray:
        """Raw log-odds for built feature rows."""
        if self.linear is not None:
            return self.linear.margin(self.linear.encode(features))
        from leadscore.scorers.model.contributions import raw_margin

        return raw_margin(self.booster, self.matrix(features))

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from raw log-odds margins."""
        return apply_calibration(self.calibration, margin)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities for built feature rows (no reasons)."""
        return self.calibrate(self.margin(features))

    def calibrate_past_sqo(self, margin: np.ndarray) -> np.ndarray:
        """For a chained WON model's q: probabilities for leads already at SQO, from the map learnt on them
        (``calibration["past_sqo"]``); missing when the model has none."""
        past = self.calibration.get("past_sqo")
        return apply_calibration(past, margin) if past else np.full(len(np.asarray(margin)), np.nan)

    def compiled_trees(self) -> Any:
        """The booster compiled for fast exact TreeSHAP, once; ``None`` when its trees are too deep."""
        if not self._compiled_ready:
            from leadscore.scorers.model.treeshap import compile_booster

            self._compiled = compile_booster(self.booster)
            self._compiled_ready = True
        return self._compiled

    def explain(self, features: pd.DataFrame) -> Contributions:
        """Exact per-feature contributions to the margin for built feature rows (spec feature order)."""
        from leadscore.scorers.model.contributions import Contributions, explain_margin

        if self.linear is not None:
            values, base, margin = self.linear.contributions(self.linear.encode(features))
            return Contributions(values=values, base_value=base, margin=margin, feature_names=self.feature_names,
                                 method="linear")
        return explain_margin(self, self.matrix(features))


def write_model(model: LeadscoreModel, folder: str | Path, prefix: str = "") -> dict[str, str]:
    """Write ``model``'s files into ``folder`` (names prefixed by ``prefix``); returns ``{artifact name: path}`` for MLflow."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    artifact = STAGE_ARTIFACT if prefix else ""
    spec = {**model.spec, "format": FORMAT, "model_kind": model.kind}
    (target / f"{prefix}{SPEC_FILE}").write_text(json.dumps(spec, indent=1))
    (target / f"{prefix}{CALIBRATION_FILE}").write_text(json.dumps(model.calibration, indent=1))
    if model.linear is not None:
        (target / f"{prefix}{LINEAR_FILE}").write_text(json.dumps(model.linear.to_dict(), indent=1))
    else:
        (target / f"{prefix}{BOOSTER_FILE}").write_text(model.booster.model_to_string())
    name, file = KIND_FILES[model.kind]
    written = {**{artifact + n: str(target / f"{prefix}{f}") for n, f in ARTIFACT_NAMES.items()},
               artifact + name: str(target / f"{prefix}{file}")}
    if model.held_out is not None:
        write_frame(model.held_out, target / f"{prefix}{HELD_OUT_FILE}")
        written[artifact + "held_out"] = str(target / f"{prefix}{HELD_OUT_FILE}")
    if model.stage is not None:
        written.update(write_model(model.stage, target, STAGE_PREFIX))
    return written


def _read_json(path: Path, origin: str) -> dict:
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeadscoreError(f"{origin}: {path.name} is not a readable JSON document ({exc}).") from None
    if not isinstance(document, dict):
        raise LeadscoreError(f"{origin}: {path.name} must hold a JSON object.")
    return document


def _read_held_out(path: Path) -> pd.DataFrame | None:
    """The held-out evaluation rows, as data; None when the model has none or the file is unreadable."""
    if not path.is_file():
        return None
    try:
        frame = read_frame(path)
        frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    except (LeadscoreError, OSError, ValueError, KeyError, UnicodeDecodeError):
        return None
    return frame


def read_model(folder: str | Path, origin: str | None = None, prefix: str = "") -> LeadscoreModel:
    """Read a model folder written by :func:`write_model`, as data (with its SQO link, for a chained model).

    Raises
    ------
    LeadscoreError
        Naming ``origin`` (default: the folder) when a file is missing or unreadable, or the spec
        does not describe a leadscore model.
    """
    source = Path(folder)
    origin = origin or str(source)
    missing = [prefix + file for file in ARTIFACT_NAMES.values() if not (source / f"{prefix}{file}").is_file()]
    if not (source / f"{prefix}{BOOSTER_FILE}").is_file() and not (source / f"{prefix}{LINEAR_FILE}").is_file():
        missing.append(f"{prefix}{BOOSTER_FILE} or {prefix}{LINEAR_FILE}")
    if missing:
        raise LeadscoreError(f"{origin} is not a leadscore model: it lacks {', '.join(missing)}.")
    spec = _read_json(source / f"{prefix}{SPEC_FILE}", origin)
    if not isinstance(spec.get("features"), list) or not spec["features"]:
        raise LeadscoreError(f"{origin} is not a leadscore model: {prefix}{SPEC_FILE} lists no features.")
    calibration = _read_json(source / f"{prefix}{CALIBRATION_FILE}", origin)
    held_out = _read_held_out(source / f"{prefix}{HELD_OUT_FILE}")
    stage = None
    if not prefix and (source / f"{STAGE_PREFIX}{SPEC_FILE}").is_file():
        stage = read_model(source, origin, STAGE_PREFIX)
    if (source / f"{prefix}{LINEAR_FILE}").is_file():
        document = _read_json(source / f"{prefix}{LINEAR_FILE}", origin)
        try:
            linear = LinearModel.from_dict(document)
        except (KeyError, TypeError, ValueError) as exc:
            raise LeadscoreError(f"{origin}: {prefix}{LINEAR_FILE} is not a leadscore linear model ({exc}).") from None
        if len(linear.coef) != linear.n_columns or len(linear.encoding) != len(spec["features"]):
            raise LeadscoreError(f"{origin}: {prefix}{LINEAR_FILE} does not match its feature spec.")
        return LeadscoreModel(spec=spec, calibration=calibration, linear=linear, held_out=held_out, stage=stage)
    import lightgbm as lgb

    try:
        booster = lgb.Booster(model_str=(source / f"{prefix}{BOOSTER_FILE}").read_text())
    except (OSError, UnicodeDecodeError, lgb.basic.LightGBMError) as exc:
        raise LeadscoreError(f"{origin}: {prefix}{BOOSTER_FILE} is not a LightGBM model ({exc}).") from None
    return LeadscoreModel(spec=spec, calibration=calibration, booster=booster, held_out=held_out, stage=stage)


def read_logged_model(folder: str | Path, origin: str) -> tuple[LeadscoreModel, str | None]:
    """Read a model MLflow logged (``MLmodel`` plus the data files it names), as data; and its run id.

    Only the files :func:`write_model` writes are read, from where ``MLmodel`` lists them inside
    ``folder``; the pyfunc's code is never imported.

    Raises
    ------
    LeadscoreError
        When ``folder`` holds no MLflow model or one whose ``MLmodel`` does not list leadscore's files.
    """
    local = Path(folder).resolve()
    try:
        mlmodel = yaml.safe_load((local / "MLmodel").read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LeadscoreError(f"{origin} is not an MLflow model (no readable MLmodel file: {exc}).") from None
    flavor = (mlmodel.get("flavors") or {}).get("python_function") or {} if isinstance(mlmodel, dict) else {}
    artifacts = flavor.get("artifacts") or {}
    names = [*ARTIFACT_NAMES, "linear" if "linear" in artifacts else "booster"]
    paths = {name: (artifacts.get(name) or {}).get("path") for name in names}
    if not all(isinstance(p, str) for p in paths.values()) or len({str(Path(p).parent) for p in paths.values()}) != 1:
        raise LeadscoreError(f"{origin} is not a leadscore model (its MLmodel does not list a booster, calibration "
                             "and feature spec).")
    data = (local / Path(paths["feature_spec"]).parent).resolve()
    if not data.is_relative_to(local):
        raise LeadscoreError(f"{origin}: its MLmodel points outside the model folder; refusing to read it.")
    run_id = mlmodel.get("run_id")
    return read_model(data, origin=origin), (str(run_id) if run_id else None)
