"""Exact SHAP contributions of the SQO model per lead, and their sums per story.

Contributions are path-dependent TreeSHAP values on the raw log-odds margin: for every lead,
``base_value + sum(contributions) == margin`` exactly (up to float rounding). Interventional SHAP is
not used: it is wrong on LightGBM's native categorical splits (library-notes). The numbers come from
:mod:`leadscore.scorers.model.treeshap` (the same values as LightGBM's ``pred_contrib``, several times faster), or from
``Booster.predict(pred_contrib=True)`` when a model's trees are too deep for its tables. Either way every
batch is checked: on a sample of its rows the reconstructed margin must equal
``Booster.predict(raw_score=True)``.

Several features often tell one story (``n_pricing_views_7d``, ``_30d`` and ``_90d`` are all
"pricing_interest"); a reason is a story, so contributions are summed per story (the model spec's
``story`` of each feature) before the top ones are picked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numba
import numpy as np
import pandas as pd


class TreeModel(Protocol):
    """What :func:`explain_margin` needs of a model (:class:`~leadscore.scorers.model.artifacts.LeadscoreModel`)."""

    booster: Any
    target: str

    def compiled_trees(self) -> Any: ...

logger = logging.getLogger(__name__)

# Largest |margin difference| tolerated between the contributions' sum and LightGBM's own prediction.
MARGIN_TOLERANCE = 1e-6
# Rows per batch whose margin is checked against LightGBM (evenly spaced; every row of smaller batches).
CHECK_ROWS = 4096
# Fewer rows than this are predicted and explained on the calling thread (see raw_margin).
SERIAL_ROWS = 2048


@dataclass(frozen=True)
class Contributions:
    """Exact SHAP values of a batch of leads on the log-odds margin.

    Attributes
    ----------
    values
        ``n × n_features`` contributions, columns in ``feature_names`` order.
    base_value
        The model's expected margin (the same for every lead).
    margin
        Raw log-odds per lead, ``base_value + values.sum(axis=1)``.
    feature_names
        The booster's feature order.
    method
        ``"tables"`` (leadscore.scorers.model.treeshap) or ``"lightgbm"`` (``pred_contrib``).
    """

    values: np.ndarray
    base_value: float
    margin: np.ndarray
    feature_names: list[str]
    method: str


def booster_matrix(booster: object, encoded: pd.DataFrame) -> np.ndarray:
    """What LightGBM feeds its trees for ``encoded``: float64, categoricals as codes, NaN for missing.

    Categorical columns are re-coded against the categories the booster was trained with
    (``booster.pandas_categorical``), exactly as ``Booster.predict`` does for a pandas frame.
    """
    names = list(booster.feature_name())
    if list(encoded.columns) != names:
        raise ValueError(f"encoded columns do not match the booster's features ({len(encoded.columns)} vs {len(names)})")
    trained = getattr(booster, "pandas_categorical", None) or []
    categorical = [c for c in names if isinstance(encoded[c].dtype, pd.CategoricalDtype)]
    if trained and len(trained) != len(categorical):
        raise ValueError(f"the booster has {len(trained)} categorical features, the input {len(categorical)}")
    out = np.empty((len(encoded), len(names)), dtype=np.float64)
    cat_index = {name: i for i, name in enumerate(categorical)}
    for j, name in enumerate(names):
        column = encoded[name]
        if name in cat_index:
            if trained and list(column.cat.categories) != list(trained[cat_index[name]]):
                column = column.cat.set_categories(trained[cat_index[name]])
            codes = column.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _threads(n_rows: int) -> dict[str, int]:
    return {"num_threads": 1} if n_rows < SERIAL_ROWS else {}


def raw_margin(booster: Any, X: np.ndarray) -> np.ndarray:
    """``booster.predict(X, raw_score=True)``, on the calling thread alone for fewer than :data:`SERIAL_ROWS` rows.

    Waking LightGBM's threads costs little on an idle machine, but on busy cores (the HTTP service's
    workers fill them all) a woken thread waits its turn for a core: measured on 2 busy cores, one lead
    took 8 ms on the default threads and 0.06 ms on one. Rows are predicted independently, so the
    thread count never changes a number.
    """
    return np.asarray(booster.predict(X, raw_score=True, **_threads(len(X))), dtype=np.float64)


def explain_margin(model: TreeModel, encoded: pd.DataFrame | np.ndarray, check: bool = True) -> Contributions:
    """Exact path-dependent SHAP contributions of ``model`` for the encoded rows.

    Parameters
    ----------
    model
        A model (:class:`leadscore.scorers.model.artifacts.LeadscoreModel`).
    encoded
        ``model.encode(features)``, or the booster's matrix of them (``model.matrix(features)``).
    check
        Compare the reconstructed margin with ``Booster.predict(raw_score=True)`` on up to
        :data:`CHECK_ROWS` evenly spaced rows; on a mismatch the batch is recomputed with LightGBM's own
        TreeSHAP (and the mismatch logged as an error), so a reason is never shown for a number the
        model did not produce.
    """
    booster = model.booster
    X = encoded if isinstance(encoded, np.ndarray) else booster_matrix(booster, encoded)
    compiled = model.compiled_trees() if len(X) else None
    method = "lightgbm"
    if compiled is not None:
        from leadscore.scorers.model.treeshap import explain_matrix

        full, margin = explain_matrix(compiled, X, parallel=len(X) >= SERIAL_ROWS)
        method = "tables"
    else:
        full = np.asarray(booster.predict(X, pred_contrib=True, **_threads(len(X))), dtype=np.float64).reshape(len(X), -1)
        margin = full.sum(axis=1)
    if check and len(X):
        rows = np.unique(np.linspace(0, len(X) - 1, min(len(X), CHECK_ROWS)).astype(np.int64))
        reference = raw_margin(booster, X[rows])
        error = float(np.max(np.abs(reference - full[rows].sum(axis=1))))
        if error > MARGIN_TOLERANCE:
            if method == "lightgbm":
                raise RuntimeError(f"LightGBM's contributions miss its own margin by {error:.3g}")
            logger.error("fast TreeSHAP differs from LightGBM by %.3g on the %s model; using pred_contrib", error,
                         model.target)
            full = np.asarray(booster.predict(X, pred_contrib=True, **_threads(len(X))),
                              dtype=np.float64).reshape(len(X), -1)
            margin = full.sum(axis=1)
            method = "lightgbm"
    n_features = X.shape[1]
    base = float(full[0, n_features]) if len(full) else 0.0
    names = getattr(model, "feature_names", None) or list(booster.feature_name())  # the spec's: the booster's, checked
    return Contributions(values=full[:, :n_features], base_value=base, margin=margin, feature_names=list(names),
                         method=method)


def story_members(spec_features: list[dict]) -> tuple[list[str], list[np.ndarray]]:
    """Stories in first-seen order and, for each, the positions of its features in the spec.

    A feature without a story is its own story (its name).
    """
    stories: list[str] = []
    members: dict[str, list[int]] = {}
    for i, feature in enumerate(spec_features):
        story = feature.get("story") or feature["name"]
        if story not in members:
            stories.append(story)
            members[story] = []
        members[story].append(i)
    return stories, [np.asarray(members[s], dtype=np.int64) for s in stories]


def _flat(members: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Story members as one array and each story's start in it."""
    start = np.zeros(len(members) + 1, dtype=np.int64)
    start[1:] = np.cumsum([len(m) for m in members])
    flat = np.concatenate(members).astype(np.int64) if members else np.zeros(0, dtype=np.int64)
    return start, flat


@numba.njit(inline="always")
def _story_row(values: np.ndarray, i: int, start: np.ndarray, flat: np.ndarray, sums: np.ndarray,
               speaker: np.ndarray) -> None:
    for s in range(len(start) - 1):
        total = 0.0  # in member order: numpy's own sum for stories of fewer than eight features
        for m in range(start[s], start[s + 1]):
            total += values[i, flat[m]]
        sums[i, s] = total
        best = flat[start[s]]
        sign = 1.0 if total >= 0 else -1.0
        for m in range(start[s] + 1, start[s + 1]):
            if values[i, flat[m]] * sign > values[i, best] * sign:
                best = flat[m]
        speaker[i, s] = best


@numba.njit(cache=True)
def _stories_serial(values, start, flat, sums, speaker):
    for i in range(values.shape[0]):
        _story_row(values, i, start, flat, sums, speaker)


@numba.njit(parallel=True, cache=True)
def _stories_parallel(values, start, flat, sums, speaker):
    for i in numba.prange(values.shape[0]):
        _story_row(values, i, start, flat, sums, speaker)


def story_sums(values: np.ndarray, members: tuple[list[str], list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per lead and story (``members``: :func:`story_members`): the summed contribution, and the spec position
    of the feature that speaks for the story (the member pushing hardest in the direction of the sum, so the
    words match the sign of the reason; the first such member on a tie)."""
    start, flat = _flat(members[1])
    values = np.ascontiguousarray(values, dtype=np.float64)
    sums = np.empty((values.shape[0], len(members[1])))
    speaker = np.empty((values.shape[0], len(members[1])), dtype=np.int64)
    run = _stories_parallel if values.shape[0] >= SERIAL_ROWS else _stories_serial
    run(values, start, flat, sums, speaker)
    return sums, speaker


def sum_by_story(values: np.ndarray, spec_features: list[dict],
                 members: tuple[list[str], list[np.ndarray]] | None = None) -> tuple[list[str], np.ndarray]:
    """Contributions summed per story: ``(stories, n × n_stories)``; each sum is its members' exact sum.

    ``members`` is :func:`story_members` of ``spec_features`` when the caller keeps it.
    """
    members = members or story_members(spec_features)
    return members[0], story_sums(values, members)[0]


def lead_story_feature(values: np.ndarray, story_sums_: np.ndarray, spec_features: list[dict],
                       members: tuple[list[str], list[np.ndarray]] | None = None) -> np.ndarray:
    """For each lead and story, the spec position of the feature that speaks for the story (:func:`story_sums`)."""
    return story_sums(values, members or story_members(spec_features))[1]


@numba.njit(inline="always")
def _pick_row(sums: np.ndarray, i: int, k: int, min_effect: float, out: np.ndarray) -> None:
    n_stories = sums.shape[1]
    for direction in range(2):
        sign = 1.0 if direction == 0 else -1.0
        last_value = np.inf
        last_story = -1
        for r in range(k):
            best = -1
            best_value = -np.inf
            for s in range(n_stories):
                value = sums[i, s] * sign
                # the next strongest after the one taken last; equal strengths in story order
                after = value < last_value or (value == last_value and s > last_story)
                if after and (best < 0 or value > best_value):
                    best = s
                    best_value = value
            if best < 0 or not best_value >= min_effect:
                for rest in range(r, k):
                    out[i, direction * k + rest] = -1
                break
            out[i, direction * k + r] = best
            last_value = best_value
            last_story = best


@numba.njit(cache=True)
def _picks_serial(sums, k, min_effect, out):
    for i in range(sums.shape[0]):
        _pick_row(sums, i, k, min_effect, out)


@numba.njit(parallel=True, cache=True)
def _picks_parallel(sums, k, min_effect, out):
    for i in numba.prange(sums.shape[0]):
        _pick_row(sums, i, k, min_effect, out)


def strongest_stories(story_sums_: np.ndarray, n_reasons: int, min_effect: float) -> np.ndarray:
    """Per lead, ``n_reasons`` story positions pushing up, then ``n_reasons`` pushing down, strongest first
    (equal strengths in story order); -1 where fewer stories move the log-odds by at least ``min_effect``."""
    sums = np.ascontiguousarray(story_sums_, dtype=np.float64)
    out = np.empty((sums.shape[0], 2 * n_reasons), dtype=np.int64)
    run = _picks_parallel if sums.shape[0] >= SERIAL_ROWS else _picks_serial
    run(sums, n_reasons, float(min_effect), out)
    return out
