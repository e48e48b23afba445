"""The training reference: what the data a model learnt from looked like, feature by feature, kept with it.

Input drift means "the leads scored now do not look like the leads the model learnt from", so the
monitor needs the second half of that sentence long after the training data is gone. Training writes it
beside every model as a compact sketch (``monitoring/training_reference.json`` in the training run):
for each feature the model reads, and for its score, a histogram of the training snapshots:

- numbers (flags included): bins cut at the deciles of the training values (equal values merged, so
  a count that is mostly 0 gets a bin of its own for 0), plus a bin for missing values, with the sum
  of the values so a mean can be quoted;
- categories: the :data:`MAX_CATEGORIES` most frequent training values, one bin for every other
  value (a category never seen in training lands there) and one for missing. Where the feature builder
  groups rare values as "other", a value the training snapshots never held counts as "other" too: the
  builder keeps a value as itself once enough leads hold it, so a longer history names values that a
  shorter one called "other", and that is not a change in the leads.

**As the scorer sees them.** The sketched snapshots' features are built the way the scorer builds them
(:func:`reference_from_export`: the model's own categories kept, :func:`~leadscore.features.building.
builder.build_features`' ``vocabulary``), not read from the training rows: a training row calls a job
title "other" while fewer than 30 leads held it by its as_of, which the scorer never does for a title
the model knows, and a monitor comparing the two would see that difference every day, in every export.

**Per snapshot age.** A lead looks different at capture and 30 days later (engagement counts grow with
age), and training learns from snapshots at several ages (``training_set.offsets_days``), so the counts
are kept per age. A scored lead is compared with the training snapshots of its own age
(:meth:`TrainingReference.offset_slot`: scored from that many days after capture to one day later), and
a window of scored leads with the mixture of ages it holds, so re-scoring old leads never reads as drift.

The sketch is a few kilobytes whatever the training set's size, and holds no lead's values: only
counts per bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadscore.features.building.profile import OTHER as BUILDER_OTHER

if TYPE_CHECKING:
    from leadscore.features.tables import Tables
    from leadscore.scorers.model.artifacts import LeadscoreModel

FORMAT = "leadscore-training-reference/2"
"""/2: a chained WON model's score sketch is of p_win (/1 sketched q); a /1 reference is rebuilt from the export."""
ARTIFACT_PATH = "monitoring/training_reference.json"  # where training logs it, inside the run's artifacts
N_QUANTILE_BINS = 10
MAX_CATEGORIES = 30
OTHER = "(other)"
RARE = BUILDER_OTHER  # what the feature builder calls a value too rare to be named
MISSING = "(missing)"
SCORE = "score"  # the sketch of the model's probability, beside the features
AGE_TOLERANCE_DAYS = 1.0
MAX_SNAPSHOTS = 20_000  # snapshots sketched, drawn at random (seeded) from larger training sets


@dataclass
class FeatureSketch:
    """One feature's histogram in the training snapshots, per snapshot age.

    Attributes
    ----------
    name, kind
        The feature and ``numeric`` (numbers and flags) or ``categorical``.
    edges
        Numbers: the upper edges of the value bins but the last (a value ``v`` falls in the first bin
        whose edge is ``>= v``, or the last bin).
    categories
        Categories: the values with a bin of their own.
    counts
        ``n_ages × n_bins`` training snapshots per bin; the last bin holds the missing values and, for
        categories, the one before it every other value.
    sums
        Numbers: per age, the sum of the non-missing values (for the mean); empty for categories.
    """

    name: str
    kind: str
    edges: list[float]
    categories: list[str]
    counts: np.ndarray
    sums: np.ndarray

    @property
    def n_bins(self) -> int:
        return self.counts.shape[1]

    def bin_of(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """The bin of each value (missing values in the last bin)."""
        if self.kind == "categorical":
            text = pd.Series(values, dtype="object").reset_index(drop=True)
            known = text.notna().to_numpy()
            bins = np.full(len(text), len(self.categories) + 1, dtype=np.int64)
            found = pd.Index(self.categories, dtype="object").get_indexer(text[known].astype("str").to_numpy(dtype=object))
            unseen = self.categories.index(RARE) if RARE in self.categories else len(self.categories)
            bins[known] = np.where(found >= 0, found, unseen)
            return bins
        x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bins = np.searchsorted(np.asarray(self.edges, dtype=float), x, side="left")
        return np.where(np.isnan(x), len(self.edges) + 1, bins).astype(np.int64)

    def bin_labels(self) -> list[str]:
        """Each bin in words (``<= 0``, ``(0, 3]``, ``> 9``, a category, ``(other)``, ``(missing)``)."""
        if self.kind == "categorical":
            return [*self.categories, OTHER, MISSING]
        if not self.edges:
            return ["any value", MISSING]
        edges = [f"{e:.4g}" for e in self.edges]
        labels = [f"<= {edges[0]}"] + [f"({a}, {b}]" for a, b in zip(edges, edges[1:], strict=False)] + [f"> {edges[-1]}"]
        return [*labels, MISSING]

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "edges": self.edges, "categories": self.categories,
                "counts": self.counts.astype(int).tolist(), "sums": [float(s) for s in self.sums]}

    @classmethod
    def from_json(cls, data: dict) -> FeatureSketch:
        return cls(name=data["name"], kind=data["kind"], edges=[float(e) for e in data["edges"]],
                   categories=[str(c) for c in data["categories"]],
                   counts=np.asarray(data["counts"], dtype=np.int64), sums=np.asarray(data.get("sums", []), dtype=float))


def _numeric_sketch(name: str, values: np.ndarray, ages: np.ndarray, n_ages: int) -> FeatureSketch:
    known = values[~np.isnan(values)]
    if len(known):
        quantiles = np.quantile(known, np.arange(1, N_QUANTILE_BINS) / N_QUANTILE_BINS, method="lower")
        edges = [float(e) for e in np.unique(quantiles)]
    else:
        edges = []
    sketch = FeatureSketch(name, "numeric", edges, [], np.zeros((n_ages, len(edges) + 2), dtype=np.int64),
                           np.zeros(n_ages))
    bins = sketch.bin_of(values)
    for age in range(n_ages):
        mine = ages == age
        sketch.counts[age] = np.bincount(bins[mine], minlength=sketch.n_bins)
        sketch.sums[age] = float(np.nansum(values[mine]))
    return sketch


def _categorical_sketch(name: str, values: pd.Series, ages: np.ndarray, n_ages: int) -> FeatureSketch:
    text = values.astype("object").where(values.notna())
    frequent = text.dropna().astype("str").value_counts(sort=True)
    # most frequent first, ties by name, so the same data always gives the same bins
    ranked = sorted(frequent.items(), key=lambda item: (-item[1], item[0]))
    categories = [value for value, _ in ranked[:MAX_CATEGORIES]]
    sketch = FeatureSketch(name, "categorical", [], categories,
                           np.zeros((n_ages, len(categories) + 2), dtype=np.int64), np.zeros(0))
    bins = sketch.bin_of(text)
    for age in range(n_ages):
        sketch.counts[age] = np.bincount(bins[ages == age], minlength=sketch.n_bins)
    return sketch


@dataclass
class TrainingReference:
    """The sketches of one model's training snapshots (see the module docstring).

    Attributes
    ----------
    offsets_days
        The snapshot ages training used, in days after capture (the rows of every sketch's counts).
    features
        One sketch per feature the model reads, by name, in the model's order.
    score
        The sketch of the model's probability on the same snapshots.
    origin
        How the reference was made: ``training`` (logged by training) or a sentence saying it was rebuilt.
    """

    offsets_days: list[int]
    features: dict[str, FeatureSketch]
    score: FeatureSketch
    origin: str = "training"

    @property
    def n_rows(self) -> np.ndarray:
        """Training snapshots per age."""
        return self.score.counts.sum(axis=1)

    def offset_slot(self, age_days: np.ndarray) -> np.ndarray:
        """Each scored lead's training age: the offset it was scored at (up to one day later), else -1."""
        age = np.asarray(age_days, dtype=float)
        slot = np.full(len(age), -1, dtype=np.int64)
        for k, offset in enumerate(self.offsets_days):
            slot[(age >= offset) & (age < offset + AGE_TOLERANCE_DAYS) & (slot < 0)] = k
        return slot

    def to_json(self) -> dict:
        return {"format": FORMAT, "offsets_days": list(self.offsets_days), "origin": self.origin,
                "features": [sketch.to_json() for sketch in self.features.values()],
                "score": self.score.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> TrainingReference:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a training reference of format {FORMAT}: {data.get('format')!r}")
        features = [FeatureSketch.from_json(f) for f in data["features"]]
        return cls(offsets_days=[int(o) for o in data["offsets_days"]], features={f.name: f for f in features},
                   score=FeatureSketch.from_json(data["score"]), origin=data.get("origin", "training"))


def build_reference(frame: pd.DataFrame, spec_features: list[dict], p: np.ndarray,
                    origin: str = "training") -> TrainingReference:
    """The training reference of ``frame`` (snapshots with ``offset_days`` and the model's feature columns).

    Parameters
    ----------
    frame
        The snapshots the model learnt from, one row each, with ``offset_days`` (days after capture).
    spec_features
        The model's feature spec entries (name and kind); categoricals are sketched as categories,
        everything else as numbers.
    p
        The model's probability for each row.
    """
    offsets = sorted(int(o) for o in pd.unique(frame["offset_days"]))
    ages = np.searchsorted(np.asarray(offsets), frame["offset_days"].to_numpy(dtype=np.int64))
    n_ages = len(offsets)
    features = {}
    for feature in spec_features:
        name = feature["name"]
        if feature.get("kind") == "categorical":
            features[name] = _categorical_sketch(name, frame[name], ages, n_ages)
        else:
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            features[name] = _numeric_sketch(name, values, ages, n_ages)
    score = _numeric_sketch(SCORE, np.asarray(p, dtype=float), ages, n_ages)
    return TrainingReference(offsets_days=offsets, features=features, score=score, origin=origin)


def mixture_mean(sketch: FeatureSketch, weights: np.ndarray) -> float:
    """The mean of a numeric feature in training, its ages mixed by ``weights`` (NaN with no known value)."""
    known = sketch.counts[:, :-1].sum(axis=1)
    per_age = np.divide(sketch.sums, known, out=np.full(len(known), np.nan), where=known > 0)
    usable = (weights > 0) & np.isfinite(per_age)
    if not usable.any():
        return math.nan
    return float((weights[usable] * per_age[usable]).sum() / weights[usable].sum())


def reference_from_export(tables: Tables, model: LeadscoreModel, snapshots: pd.DataFrame, origin: str = "training",
                          seed: int = 0) -> TrainingReference:
    """The reference of ``model`` over ``snapshots`` of ``tables``, their features built as the scorer builds them.

    Parameters
    ----------
    snapshots
        ``lead_id``, ``as_of`` and ``offset_days`` of the snapshots the model learnt from; at most
        :data:`MAX_SNAPSHOTS` of them, drawn at random with ``seed``, are sketched.
    origin
        How the reference was made, said wherever it is used.
    """
    from leadscore.features.building.builder import build_features
    from leadscore.features.building.stages import funnel_position
    from leadscore.scorers.model.answer import probability

    if len(snapshots) > MAX_SNAPSHOTS:
        snapshots = snapshots.sample(n=MAX_SNAPSHOTS, random_state=seed)
    snapshots = snapshots.reset_index(drop=True)
    vocabulary = {f["name"]: frozenset(f.get("categories") or ()) for f in model.spec_features
                  if f.get("kind") == "categorical"}
    features = build_features(tables, snapshots[["lead_id", "as_of"]], own=[f for f in model.spec_features if "source" in f],
                              vocabulary=vocabulary)
    features["offset_days"] = snapshots["offset_days"].to_numpy()
    # The probability the scorer stores: for a chained WON model p_win = p_sqo x q through its SQO link
    # (q alone would sit tens of points above every stored p_win and read as drift on every run).
    at_sqo = (funnel_position(tables, snapshots) == "sqo").to_numpy() if model.chain else None
    return build_reference(features, model.spec_features, probability(model, features, at_sqo=at_sqo), origin=origin)
