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
    """

    spec: dict
    calibration: dict
    booster: Any = None
    linear: LinearModel | None = None
    held_out: pd.DataFrame | None = None
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


def write_model(model: LeadscoreModel, folder: str | Path) -> dict[str, str]:
    """Write ``model``'s files into ``folder``; returns ``{artifact name: path}`` for MLflow."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    spec = {**model.spec, "format": FORMAT, "model_kind": model.kind}
    (target / SPEC_FILE).write_text(json.dumps(spec, indent=1))
    (target / CALIBRATION_FILE).write_text(json.dumps(model.calibration, indent=1))
    if model.linear is not None:
        (target / LINEAR_FILE).write_text(json.dumps(model.linear.to_dict(), indent=1))
    else:
        (target / BOOSTER_FILE).write_text(model.booster.model_to_string())
    name, file = KIND_FILES[model.kind]
    written = {**{n: str(target / f) for n, f in ARTIFACT_NAMES.items()}, name: str(target / file)}
    if model.held_out is not None:
        model.held_out.to_csv(target / HELD_OUT_FILE, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        written["held_out"] = str(target / HELD_OUT_FILE)
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
        frame = pd.read_csv(path, dtype={"lead_id": "str"})
        frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    except (OSError, ValueError, KeyError, UnicodeDecodeError):
        return None
    return frame


def read_model(folder: str | Path, origin: str | None = None) -> LeadscoreModel:
    """Read a model folder written by :func:`write_model`, as data.

    Raises
    ------
    LeadscoreError
        Naming ``origin`` (default: the folder) when a file is missing or unreadable, or the spec
        does not describe a leadscore model.
    """
    source = Path(folder)
    origin = origin or str(source)
    missing = [file for file in ARTIFACT_NAMES.values() if not (source / file).is_file()]
    if not (source / BOOSTER_FILE).is_file() and not (source / LINEAR_FILE).is_file():
        missing.append(f"{BOOSTER_FILE} or {LINEAR_FILE}")
    if missing:
        raise LeadscoreError(f"{origin} is not a leadscore model: it lacks {', '.join(missing)}.")
    spec = _read_json(source / SPEC_FILE, origin)
    if not isinstance(spec.get("features"), list) or not spec["features"]:
        raise LeadscoreError(f"{origin} is not a leadscore model: {SPEC_FILE} lists no features.")
    calibration = _read_json(source / CALIBRATION_FILE, origin)
    held_out = _read_held_out(source / HELD_OUT_FILE)
    if (source / LINEAR_FILE).is_file():
        document = _read_json(source / LINEAR_FILE, origin)
        try:
            linear = LinearModel.from_dict(document)
        except (KeyError, TypeError, ValueError) as exc:
            raise LeadscoreError(f"{origin}: {LINEAR_FILE} is not a leadscore linear model ({exc}).") from None
        if len(linear.coef) != linear.n_columns or len(linear.encoding) != len(spec["features"]):
            raise LeadscoreError(f"{origin}: {LINEAR_FILE} does not match its feature spec.")
        return LeadscoreModel(spec=spec, calibration=calibration, linear=linear, held_out=held_out)
    import lightgbm as lgb

    try:
        booster = lgb.Booster(model_str=(source / BOOSTER_FILE).read_text())
    except (OSError, UnicodeDecodeError, lgb.basic.LightGBMError) as exc:
        raise LeadscoreError(f"{origin}: {BOOSTER_FILE} is not a LightGBM model ({exc}).") from None
    return LeadscoreModel(spec=spec, calibration=calibration, booster=booster, held_out=held_out)


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
