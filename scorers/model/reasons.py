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


def _feature_values(features: pd.DataFrame | FeatureColumns, name: str, rows: np.ndarray) -> list:
    """The values of one feature at ``rows`` as Python objects, None where missing."""
    if isinstance(features, pd.DataFrame):
        raw = features[name].iloc[rows]
        missing = raw.isna().to_numpy()
        out = raw.astype(object).to_numpy()
        return [None if m else v for v, m in zip(out, missing, strict=True)]
    if name in features.numbers:
        numbers = features.numbers[name][rows]
        return [None if v != v else v for v in numbers.tolist()]
    category = features.categories[name]
    codes = category.codes[rows]
    return [category.values[c] if c >= 0 else None for c in codes.tolist()]


def reason_texts(
    features: pd.DataFrame | FeatureColumns,
    values: np.ndarray,
    spec_features: list[dict],
    n_reasons: int = N_REASONS,
    min_effect: float = MIN_EFFECT,
    stories: tuple[list[str], list[np.ndarray]] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """The reasons of a batch of leads: positive, negative and combined, one string per lead.

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
    from leadscore.scorers.model.contributions import lead_story_feature, sum_by_story

    _, sums = sum_by_story(values, spec_features, stories)
    speaker = lead_story_feature(values, sums, spec_features, stories)
    positive, negative = pick_reasons(sums, n_reasons, min_effect)
    picked = np.hstack([positive, negative])  # n × 2k story positions
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
        raw = _feature_values(features, names[j], rows)
        distinct: dict[object, int] = {}
        codes = [-1 if v is None else distinct.setdefault(v, len(distinct)) for v in raw]
        phrases = np.array([*_phrase_uniques(spec, spec_features[j], list(distinct)), phrase_missing(spec)],
                           dtype=object)
        words[rows, slots] = phrases[codes]

    # Absent reasons are always the last ones of their direction (strongest first).
    rows = words.tolist()
    up = [SEPARATOR.join(w for w in row[:n_reasons] if w is not None) for row in rows]
    down = [SEPARATOR.join(w for w in row[n_reasons:] if w is not None) for row in rows]
    return up, down, join_directions(up, down)


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
