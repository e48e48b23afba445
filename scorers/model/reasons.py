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
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from leadscore.features.building.columns import FeatureColumns

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


def _unseen(features: pd.DataFrame | FeatureColumns, model_feature: dict) -> np.ndarray | None:
    """Rows whose value of this feature the model never saw in training (None: no such row possible).

    A category outside the spec's ``categories``, and a missing value when the spec records that
    training had none (``seen_missing: false``; models that do not record it accept missing values).
    """
    name = model_feature["name"]
    known, found = _known_and_found(features, name, model_feature)
    unseen = None
    if found is not None and known.any():
        unseen = known & ~found
    if model_feature.get("seen_missing") is False:
        unseen = ~known if unseen is None else unseen | ~known
    return unseen if unseen is not None and unseen.any() else None


def _known_and_found(features: pd.DataFrame | FeatureColumns, name: str,
                     model_feature: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """Per row: whether the feature has a value, and (a categorical feature with ``categories`` only)
    whether that value is one of them."""
    categories = model_feature.get("categories")
    check = model_feature.get("kind") == "categorical" and categories is not None
    if isinstance(features, pd.DataFrame):
        column = features[name]
        known = column.notna().to_numpy()
        if not check:
            return known, None
        value_set = pa.array(list(categories), type=pa.large_string())
        text = pa.array(column.astype("str").array, type=pa.large_string())
        return known, pc.is_in(text, value_set=value_set).to_numpy(zero_copy_only=False)
    if name in features.numbers:
        numbers = features.numbers[name]
        known = ~np.isnan(numbers)
        if not check:
            return known, None
        text = pa.array(pd.Series(numbers).astype("str").array, type=pa.large_string())
        value_set = pa.array(list(categories), type=pa.large_string())
        return known, pc.is_in(text, value_set=value_set).to_numpy(zero_copy_only=False)
    category = features.categories[name]
    known = category.codes >= 0
    if not check:
        return known, None
    wanted = set(map(str, categories))
    kept = np.array([str(v) in wanted for v in category.values] + [False], dtype=bool)
    return known, kept[category.codes]


def reason_values(features: pd.DataFrame | FeatureColumns, values: np.ndarray, spec_features: list[dict]) -> np.ndarray:
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
    ``min_effect`` in that direction. Equal strengths go in story order, so the choice never depends on
    the batch.
    """
    from leadscore.scorers.model.contributions import strongest_stories

    picked = strongest_stories(story_sums, n_reasons, min_effect)
    return picked[:, :n_reasons], picked[:, n_reasons:]


def phrase_reasons(
    features: pd.DataFrame | FeatureColumns,
    values: np.ndarray,
    spec_features: list[dict],
    n_reasons: int = N_REASONS,
    min_effect: float = MIN_EFFECT,
) -> pd.DataFrame:
    """The reasons columns for a batch of leads, as a frame indexed like ``features`` (see :func:`reason_texts`)."""
    up, down, both = reason_texts(features, values, spec_features, n_reasons, min_effect)
    return pd.DataFrame({
        "reasons_positive": pd.array(up, dtype="str"),
        "reasons_negative": pd.array(down, dtype="str"),
        "reasons": pd.array(both, dtype="str"),
    }, index=features.index if isinstance(features, pd.DataFrame) else None)


def _feature_values(features: pd.DataFrame | FeatureColumns, name: str, rows: np.ndarray) -> tuple[list, np.ndarray]:
    """The distinct values of one feature at ``rows`` (Python objects) and each row's position among them,
    -1 where the value is missing."""
    if isinstance(features, pd.DataFrame):
        raw = features[name].iloc[rows]
        missing = raw.isna().to_numpy()
        codes, uniques = pd.factorize(raw.astype(object))
        return list(uniques), np.where(missing, -1, codes)
    if name in features.numbers:
        numbers = features.numbers[name][rows]
        missing = np.isnan(numbers)
        uniques, codes = np.unique(np.where(missing, 0.0, numbers), return_inverse=True)
        return uniques.tolist(), np.where(missing, -1, codes)
    category = features.categories[name]
    codes = category.codes[rows]
    used = np.unique(codes[codes >= 0])
    position = np.full(len(category.values) + 1, -1, dtype=np.int64)
    position[used] = np.arange(len(used))
    return [category.values[c] for c in used.tolist()], position[codes]


def reason_texts(
    features: pd.DataFrame | FeatureColumns,
    values: np.ndarray,
    spec_features: list[dict],
    n_reasons: int = N_REASONS,
    min_effect: float = MIN_EFFECT,
    stories: tuple[list[str], list[np.ndarray]] | None = None,
) -> tuple[list[str] | pa.Array, list[str] | pa.Array, list[str] | pa.Array]:
    """The reasons of a batch of leads: positive, negative and combined, one string per lead (lists for a
    few leads, Arrow arrays for many).

    Parameters
    ----------
    features
        The built features (``leadscore.features.building.builder``: a frame or the kernel's columns), one
        row per lead, same order as ``values``.
    values
        Exact SHAP contributions, ``n × len(spec_features)`` (:func:`leadscore.scorers.model.contributions.explain_margin`).
    spec_features
        The model spec's features (name, kind, story, categories, ``seen_missing``, ``calendar_cause``):
        what the model never saw, and calendar features without a cause, are no reasons (see the
        module docstring).
    stories
        :func:`~leadscore.scorers.model.contributions.story_members` of ``spec_features``, when the caller
        keeps it (the HTTP service answers one lead at a time).

    Returns
    -------
    positive, negative, combined
        Up to ``n_reasons`` phrases per direction, strongest first, joined with "; ", and both: "up: a; b |
        down: c", either part left out when it has no phrase, empty when neither has.
    """
    from leadscore.scorers.model.contributions import story_members, story_sums, strongest_stories

    values = reason_values(features, values, spec_features)
    sums, speaker = story_sums(values, stories or story_members(spec_features))
    picked = strongest_stories(sums, n_reasons, min_effect)  # n × 2k story positions
    feature_at = np.where(picked >= 0, np.take_along_axis(speaker, picked.clip(0), axis=1), -1)
    words = np.full(picked.shape, None, dtype=object)
    catalogue = _catalogue_specs()
    names = [f["name"] for f in spec_features]
    rows_all, slots_all = np.nonzero(feature_at >= 0)
    features_all = feature_at[rows_all, slots_all]
    for j in np.unique(features_all):
        at = features_all == j
        rows, slots = rows_all[at], slots_all[at]
        spec = _feature_words(spec_features[j], catalogue)
        distinct, codes = _feature_values(features, names[j], rows)
        phrases = np.array([*_phrase_uniques(spec, spec_features[j], distinct), phrase_missing(spec)], dtype=object)
        words[rows, slots] = phrases[codes]  # -1 (missing) picks the trailing phrase
    words = _said_once(words, np.abs(np.take_along_axis(sums, picked.clip(0), axis=1)), n_reasons)

    # Absent reasons are always the last ones of their direction (strongest first).
    if len(words) >= ARROW_ROWS:
        up_a = _joined_arrow([words[:, k] for k in range(n_reasons)])
        down_a = _joined_arrow([words[:, n_reasons + k] for k in range(n_reasons)])
        return up_a, down_a, _directions_arrow(up_a, down_a)
    rows = words.tolist()
    up = [SEPARATOR.join(w for w in row[:n_reasons] if w is not None) for row in rows]
    down = [SEPARATOR.join(w for w in row[n_reasons:] if w is not None) for row in rows]
    return up, down, join_directions(up, down)


# From this many leads on, phrases are joined in Arrow (a few rows are joined faster in Python; the two
# ways give the same text, tested).
ARROW_ROWS = 2048


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


def join_directions(up: list[str], down: list[str]) -> list[str]:
    """The combined ``reasons`` cell from the two directions' phrases: "up: a; b | down: c".

    Either part is left out when it is empty; both empty gives "".

    Examples
    --------
    >>> join_directions(["a; b", "", ""], ["c", "c", ""])
    ['up: a; b | down: c', 'down: c', '']
    """
    return [(UP_LABEL + u if u else "") + (DIRECTIONS_SEPARATOR if u and d else "") + (DOWN_LABEL + d if d else "")
            for u, d in zip(up, down, strict=True)]


def _joined_arrow(columns: list[np.ndarray]) -> pa.Array:
    """Phrase columns (None = absent, only ever after the present ones) joined with the separator, in Arrow."""
    joined = None
    for k, column in enumerate(columns):
        piece = pa.array(column, type=pa.string())
        if k > 0:
            piece = pc.binary_join_element_wise(SEPARATOR, piece, "")
        piece = pc.fill_null(piece, "")
        joined = piece if joined is None else pc.binary_join_element_wise(joined, piece, "")
    return joined


def _directions_arrow(up: pa.Array, down: pa.Array) -> pa.Array:
    """:func:`join_directions` in Arrow."""
    has_up, has_down = pc.not_equal(up, ""), pc.not_equal(down, "")
    labelled_up = pc.if_else(has_up, pc.binary_join_element_wise(UP_LABEL, up, ""), "")
    labelled_down = pc.if_else(has_down, pc.binary_join_element_wise(DOWN_LABEL, down, ""), "")
    between = pc.if_else(pc.and_(has_up, has_down), DIRECTIONS_SEPARATOR, "")
    return pc.binary_join_element_wise(pc.binary_join_element_wise(labelled_up, between, ""), labelled_down, "")


def feature_words(model_feature: dict) -> FeatureSpec:
    """How one model feature (its spec entry) is phrased: the catalogue's words, or those the model carries."""
    return _feature_words(model_feature, _catalogue_specs())
