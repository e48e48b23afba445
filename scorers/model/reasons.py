"""Reasons in words: the stories that pushed a lead's probability up or down, with the lead's own values.

A reason is a story (``leadscore.features.building.catalogue``: several features telling one story) whose summed exact
SHAP contribution is among the lead's three largest in its direction. It is phrased through the
catalogue's words for the story's feature that pushed hardest for that lead, with that lead's value:
"4 pricing-page visits in the last 30 days", "Company size 320 employees", "Captured today".

Only what a person can act on is offered as a reason (the probability itself is never changed):

- a value the model never saw in training (a new category; a missing value where training had none)
  is no reason: the model treated it as unknown, so its push says nothing about the lead;
- a calendar feature (capture month, weekday) is no reason unless the model's spec states why the
  calendar matters (``calendar_cause``, written by the leakage audit): "Captured in June" tells sales
  nothing about the lead;
- missing values read alike ("Industry: not given"), and a phrase said once per lead: features with
  one source ("Job title: not given" for seniority, department and title) are not repeated.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.building.catalogue import (
    CATALOGUE,
    FeatureSpec,
    phrase,
    phrase_missing,
    phrase_number,
)

N_REASONS = 3
# A story must move the log-odds by at least this much to be called a reason: smaller pushes are
# rounding noise to a reader (0.01 log-odds moves a 5% probability by 0.05 percentage points).
MIN_EFFECT = 0.01
SEPARATOR = "; "
# The combined ``reasons`` column: "up: a; b | down: c". Words, not "+ a; - c": a cell starting with
# "+", "-", "=" or "@" is a formula to a spreadsheet (CSV injection).
UP_LABEL, DOWN_LABEL, DIRECTIONS_SEPARATOR = "up: ", "down: ", " | "


@functools.cache
def _catalogue_specs() -> dict[str, FeatureSpec]:
    return {spec.name: spec for spec in CATALOGUE}


def _feature_words(model_feature: dict, catalogue: dict[str, FeatureSpec]) -> FeatureSpec:
    """How to phrase one model feature: the catalogue's words, the words the model carries for a feature of
    the export's own columns ("Lead Source: {value}"), or at least its name and value."""
    name = model_feature["name"]
    if name in catalogue:
        return catalogue[name]
    if model_feature.get("template"):
        return FeatureSpec(name=name, description=model_feature.get("description") or name,
                           group=model_feature.get("group", ""), kind=model_feature.get("kind", "numeric"),
                           story=model_feature.get("story") or name, template=model_feature["template"],
                           calendar=bool(model_feature.get("calendar", False)))
    return FeatureSpec(name=name, description=name, group="", kind="numeric", story=name, template=f"{name}: {{value}}")


def is_calendar_without_cause(model_feature: dict, words: FeatureSpec) -> bool:
    """A calendar feature whose model spec states no cause (``calendar_cause``): never a reason."""
    return words.calendar and not str(model_feature.get("calendar_cause") or "").strip()


def _unseen(features: pd.DataFrame, model_feature: dict) -> np.ndarray | None:
    """Rows whose value of this feature the model never saw in training (None: no such row possible).

    A category outside the spec's ``categories``, and a missing value when the spec records that
    training had none (``seen_missing: false``; models that do not record it accept missing values).
    """
    column = features[model_feature["name"]]
    unseen = None
    if model_feature.get("kind") == "categorical" and model_feature.get("categories") is not None:
        known = column.notna().to_numpy()
        if known.any():
            categories = pa.array(list(model_feature["categories"]), type=pa.large_string())
            text = pa.array(column.astype("str").array, type=pa.large_string())
            found = pc.is_in(text, value_set=categories).to_numpy(zero_copy_only=False)
            unseen = known & ~found
    if model_feature.get("seen_missing") is False:
        missing = column.isna().to_numpy()
        unseen = missing if unseen is None else unseen | missing
    return unseen if unseen is not None and unseen.any() else None


def reason_values(features: pd.DataFrame, values: np.ndarray, spec_features: list[dict]) -> np.ndarray:
    """The contributions reasons are chosen from: those of values that are no reason set to zero.

    ``values`` itself is left alone (it is the model's exact answer); a copy is made only when a
    feature or a row has to be left out.
    """
    catalogue = _catalogue_specs()
    out = values
    for j, model_feature in enumerate(spec_features):
        if is_calendar_without_cause(model_feature, _feature_words(model_feature, catalogue)):
            rows: np.ndarray | slice | None = slice(None)
        else:
            rows = _unseen(features, model_feature)
        if rows is None:
            continue
        if out is values:
            out = np.array(values, dtype=np.float64, copy=True)
        out[rows, j] = 0.0
    return out


def _phrase_uniques(spec: FeatureSpec, model_feature: dict, values: list) -> list[str]:
    """Phrases for distinct non-missing values of one feature (the hot loop of phrasing a batch)."""
    if spec.kind == "numeric" and model_feature.get("kind") != "categorical":
        try:
            return [phrase_number(spec, float(v)) for v in values]
        except (ValueError, TypeError):
            pass
    return [phrase(spec, v) for v in values]


def pick_reasons(story_sums: np.ndarray, n_reasons: int = N_REASONS,
                 min_effect: float = MIN_EFFECT) -> tuple[np.ndarray, np.ndarray]:
    """Story positions of each lead's strongest positive and negative stories, strongest first.

    Returns two ``n × n_reasons`` integer arrays; -1 where a lead has fewer stories beyond
    ``min_effect`` in that direction.
    """
    n, n_stories = story_sums.shape
    k = min(n_reasons, n_stories)
    out = []
    for sign in (1.0, -1.0):
        signed = story_sums * sign
        if n_stories > k:
            candidates = np.argpartition(-signed, k - 1, axis=1)[:, :k]
        else:
            candidates = np.broadcast_to(np.arange(n_stories), (n, n_stories))
        values = np.take_along_axis(signed, candidates, axis=1)
        # strongest first; equal strengths in story order, so the choice never depends on the batch
        order = np.take_along_axis(candidates, np.lexsort((candidates, -values), axis=1), axis=1)
        strength = np.take_along_axis(signed, order, axis=1)
        picked = np.where(strength >= min_effect, order, -1)
        if k < n_reasons:
            picked = np.hstack([picked, np.full((n, n_reasons - k), -1, dtype=picked.dtype)])
        out.append(picked.astype(np.int64))
    return out[0], out[1]


def phrase_reasons(
    features: pd.DataFrame,
    values: np.ndarray,
    spec_features: list[dict],
    n_reasons: int = N_REASONS,
    min_effect: float = MIN_EFFECT,
) -> pd.DataFrame:
    """The reasons columns for a batch of leads.

    Parameters
    ----------
    features
        The built features (``leadscore.features.building.builder.build_features``), one row per lead, same order as ``values``.
    values
        Exact SHAP contributions, ``n × len(spec_features)`` (:func:`leadscore.scorers.model.contributions.explain_margin`).
    spec_features
        The model spec's features (name, kind, story, categories, ``seen_missing``, ``calendar_cause``):
        what the model never saw, and calendar features without a cause, are no reasons (see the
        module docstring).

    Returns
    -------
    pandas.DataFrame
        ``reasons_positive`` and ``reasons_negative`` (up to ``n_reasons`` phrases each, strongest first,
        joined with "; ") and ``reasons`` (both: "up: a; b | down: c", either part left out when it has no
        phrase, empty when neither has), indexed like ``features``.
    """
    from leadscore.scorers.model.contributions import lead_story_feature, sum_by_story

    values = reason_values(features, values, spec_features)
    _, sums = sum_by_story(values, spec_features)
    speaker = lead_story_feature(values, sums, spec_features)
    positive, negative = pick_reasons(sums, n_reasons, min_effect)
    picked = np.hstack([positive, negative])  # n × 2k story positions
    feature_at = np.where(picked >= 0, np.take_along_axis(speaker, picked.clip(0), axis=1), -1)
    words = np.full(picked.shape, None, dtype=object)
    catalogue = _catalogue_specs()
    names = [f["name"] for f in spec_features]
    rows_all, slots_all = np.nonzero(feature_at >= 0)
    features_all = feature_at[rows_all, slots_all]
    for j in np.unique(features_all):
        at = features_all == j
        rows, slots = rows_all[at], slots_all[at]
        name = names[j]
        spec = _feature_words(spec_features[j], catalogue)
        raw = features[name].iloc[rows].reset_index(drop=True)
        missing = raw.isna().to_numpy()
        texts = np.empty(len(rows), dtype=object)
        texts[missing] = phrase_missing(spec)
        if (~missing).any():
            codes, uniques = pd.factorize(raw[~missing].astype(object))
            texts[~missing] = np.array(_phrase_uniques(spec, spec_features[j], list(uniques)), dtype=object)[codes]
        words[rows, slots] = texts
    words = _said_once(words, np.abs(np.take_along_axis(sums, picked.clip(0), axis=1)), n_reasons)

    # Absent reasons are always the last ones of their direction (strongest first), so joining in
    # order with a separator before every present phrase but the first gives "a; b; c" or "a" alike.
    up = _join_in_order([words[:, k] for k in range(n_reasons)])
    down = _join_in_order([words[:, n_reasons + k] for k in range(n_reasons)])
    return pd.DataFrame({
        "reasons_positive": pd.array(up, dtype="str"),
        "reasons_negative": pd.array(down, dtype="str"),
        "reasons": pd.array(join_directions(up, down), dtype="str"),
    }, index=features.index)


def _said_once(words: np.ndarray, strength: np.ndarray, n_reasons: int) -> np.ndarray:
    """Each phrase once per lead: of two slots with the same words the weaker goes, then each
    direction's phrases close up, strongest first ("Job title: not given" from seniority, department
    and title alike is said once; so is "Company: not given" from several account stories).
    """
    n_slots = words.shape[1]
    present = words != None  # noqa: E711 (element-wise on an object array)
    dropped = np.zeros(words.shape, dtype=bool)
    for a in range(n_slots):
        for b in range(a + 1, n_slots):
            same = present[:, a] & present[:, b] & ~dropped[:, a] & ~dropped[:, b] & (words[:, a] == words[:, b])
            if not same.any():
                continue
            weaker_is_a = strength[:, a] < strength[:, b]
            dropped[same & weaker_is_a, a] = True
            dropped[same & ~weaker_is_a, b] = True
    if not dropped.any():
        return words
    out = np.where(dropped, None, words)
    for start in (0, n_reasons):
        block = out[:, start:start + n_reasons]
        order = np.argsort(block == None, axis=1, kind="stable")  # noqa: E711
        out[:, start:start + n_reasons] = np.take_along_axis(block, order, axis=1)
    return out


def join_directions(up: pa.Array, down: pa.Array) -> pa.Array:
    """The combined ``reasons`` cell from the two directions' phrases: "up: a; b | down: c".

    Either part is left out when it is empty; both empty gives "".

    Examples
    --------
    >>> import pyarrow as pa
    >>> join_directions(pa.array(["a; b", "", ""]), pa.array(["c", "c", ""])).to_pylist()
    ['up: a; b | down: c', 'down: c', '']
    """
    has_up, has_down = pc.not_equal(up, ""), pc.not_equal(down, "")
    labelled_up = pc.if_else(has_up, _concat(UP_LABEL, up), "")
    labelled_down = pc.if_else(has_down, _concat(DOWN_LABEL, down), "")
    between = pc.if_else(pc.and_(has_up, has_down), DIRECTIONS_SEPARATOR, "")
    return _concat(_concat(labelled_up, between), labelled_down)


def _concat(left: pa.Array | str, right: pa.Array | str) -> pa.Array:
    """Element-wise string concatenation (null if either side is null)."""
    return pc.binary_join_element_wise(left, right, "")


def _join_in_order(columns: list[np.ndarray]) -> pa.Array:
    """Join phrase columns (``None`` = absent, only ever after the present ones) with the separator."""
    joined = None
    for k, column in enumerate(columns):
        piece = pa.array(column, type=pa.string())
        if k > 0:
            piece = _concat(SEPARATOR, piece)
        piece = pc.fill_null(piece, "")
        joined = piece if joined is None else _concat(joined, piece)
    return joined


def feature_words(model_feature: dict) -> FeatureSpec:
    """How one model feature (its spec entry) is phrased: the catalogue's words, or those the model carries."""
    return _feature_words(model_feature, _catalogue_specs())
