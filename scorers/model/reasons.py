"""Reasons in words: the stories that pushed a lead's probability up or down, with the lead's own values.

A reason is a story (``leadscore.features.building.catalogue``: several features telling one story) whose summed exact
SHAP contribution is among the lead's three largest in its direction. It is phrased through the
catalogue ``template`` of the story's feature that pushed hardest for that lead, with that lead's
value: "4 pricing-page visits in the last 30 days", "Company size 320 employees". Missing values are
said plainly ("Company size unknown", "No activity yet"), and a category the model never saw in
training is named and flagged, since the model treated it as unknown.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.building.catalogue import CATALOGUE, FeatureSpec, agree_number, phrase

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
# Where a missing value has a meaning of its own (the catalogue descriptions say so), say it.
MISSING_PHRASES = {
    "days_since_last_activity": "No activity yet",
    "days_since_last_high_intent": "No high-intent action yet",
    "days_since_last_email_open": "Never opened an e-mail",
    "email_open_rate": "No nurture e-mails sent yet",
    "email_click_rate": "No nurture e-mails sent yet",
    "max_email_step_sent": "No nurture e-mails sent yet",
    "n_recycles": "Recycles unknown",
}
UNSEEN_NOTE = " (new value, not seen in training)"


_CATALOGUE_SPECS: dict[str, FeatureSpec] = {spec.name: spec for spec in CATALOGUE}


def _feature_words(model_feature: dict, catalogue: dict[str, FeatureSpec]) -> FeatureSpec:
    """How to phrase one model feature: the catalogue's words, the words the model carries for a feature of
    the export's own columns ("Lead Source: {value}"), or at least its name and value."""
    name = model_feature["name"]
    if name in catalogue:
        return catalogue[name]
    if model_feature.get("template"):
        return FeatureSpec(name=name, description=model_feature.get("description") or name,
                           group=model_feature.get("group", ""), kind=model_feature.get("kind", "numeric"),
                           story=model_feature.get("story") or name, template=model_feature["template"])
    return FeatureSpec(name=name, description=name, group="", kind="numeric", story=name, template=f"{name}: {{value}}")


def phrase_missing(spec: FeatureSpec) -> str:
    """Words for an unknown value: the catalogue's own meaning where it has one, else "<subject> unknown".

    The subject is the template's text before the value ("Company size {value} employees" gives
    "Company size unknown"); templates starting with the value fall back to the description.
    """
    if spec.name in MISSING_PHRASES:
        return MISSING_PHRASES[spec.name]
    prefix = spec.template.split("{", 1)[0].strip().rstrip("$").strip()
    if prefix.endswith(":"):
        return f"{prefix} unknown"
    if prefix and not re.search(r"\b(for|of|on|in|through|a)$", prefix):
        return f"{prefix} unknown"
    subject = re.sub(r"\s*\(.*?\)", "", spec.description).rstrip(".")
    return f"{subject}: unknown"


def phrase_value(spec: FeatureSpec, value: object, unseen: bool = False) -> str:
    """One feature value of one lead in words (see the module docstring)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return phrase_missing(spec)
    text = phrase(spec, value)
    return text + UNSEEN_NOTE if unseen else text


def _phrase_uniques(spec: FeatureSpec, model_feature: dict, values: list) -> list[str]:
    """Phrases for distinct non-missing values of one feature (the hot loop of phrasing a batch)."""
    if spec.kind == "numeric" and model_feature.get("kind") != "categorical":
        template = spec.template.format
        try:
            texts = [template(value=v) for v in values]
            # Only a text holding "1 " can need a singular noun: the regex runs on those alone.
            return [agree_number(text) if "1 " in text else text for text in texts]
        except (ValueError, TypeError):
            return [phrase_value(spec, v) for v in values]
    categories = set(model_feature.get("categories") or ())
    unseen = model_feature.get("kind") == "categorical"
    return [phrase_value(spec, v, unseen and str(v) not in categories) for v in values]


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
        The model spec's features (name, kind, story, categories: a category not among them was
        unknown to the model and is flagged as new).
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

    sums, speaker = story_sums(values, stories or story_members(spec_features))
    picked = strongest_stories(sums, n_reasons, min_effect)  # n × 2k story positions
    feature_at = np.where(picked >= 0, np.take_along_axis(speaker, picked.clip(0), axis=1), -1)
    words = np.full(picked.shape, None, dtype=object)
    catalogue = _CATALOGUE_SPECS
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
