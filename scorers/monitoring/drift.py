"""Input drift: do the leads scored lately look like the leads the model learnt from? Feature by feature.

**The statistic** is the population stability index over the training reference's bins
(:mod:`leadscore.scorers.monitoring.reference`): ``PSI = sum_i (a_i - e_i) ln(a_i / e_i)``, ``a`` the
window's shares, ``e`` the training shares mixed over the window's snapshot ages, both smoothed by half a
lead per bin so an empty bin does not make it infinite.

**The threshold** is not a fixed cut-off. A fixed "PSI > 0.1" fires most of the time on identical data
at 100 leads, because PSI is biased upward by sampling noise that shrinks as the window grows. So each
feature's threshold is set from what PSI does under no change *at that window's size*: a parametric
bootstrap draws ``N_SIMULATIONS`` windows of the same size and references of the training's size from
the training shares (mixed as the window's ages mix), and computes PSI each time. The threshold sits at the level
``alpha / (features judged)`` of that null distribution (Bonferroni over the features, so that on an
unchanged world the whole table alarms with probability at most ``alpha``, 1% by default, and each
stable feature far less). Levels that far in the tail are beyond a few thousand draws, so the tail past
the 95th simulated percentile is fitted as exponential (peaks over a threshold) and extrapolated;
``bench/monitor_false_alarms.py`` measures the rate this gives (see the README).

**In words**, a feature that alarms is said as its mean (numbers), the share of its most-changed
category (categories) or the share missing moved, in the catalogue's own description of the feature:
"Web page views of any page type in the last 30 days: fell by 81% since 1 March 2026 (0.9 per lead
against 4.6 in training)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.scorers.monitoring.reference import (
    OTHER,
    SCORE,
    FeatureSketch,
    TrainingReference,
    mixture_mean,
)

ALPHA = 0.01  # the chance of any alarm when nothing changed: the matured cohorts and the drift window alike
N_SIMULATIONS = 4000
SMOOTHING = 0.5
TAIL_START = 0.95
# Features whose values follow the window's place in the calendar (a month-long window holds one month,
# and four or five of each weekday)
# differs from training by construction: shown, never judged.
CALENDAR_FEATURES = ("capture_month", "capture_weekday")


def smoothed_shares(counts: np.ndarray) -> np.ndarray:
    """Shares of ``counts`` (last axis) with half a count added to every bin."""
    counts = np.asarray(counts, dtype=float)
    return (counts + SMOOTHING) / (counts.sum(axis=-1, keepdims=True) + SMOOTHING * counts.shape[-1])


def psi(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Population stability index between share vectors (last axis); both must be positive.

    Examples
    --------
    >>> float(psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])))
    0.0
    >>> round(float(psi(np.array([0.9, 0.1]), np.array([0.5, 0.5]))), 3)
    0.879
    """
    return ((actual - expected) * np.log(actual / expected)).sum(axis=-1)


def expected_shares(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The training shares of each bin, each age smoothed, mixed by the window's share of each age."""
    weights = np.asarray(weights, dtype=float)
    return (smoothed_shares(counts) * (weights / weights.sum())[..., :, None]).sum(axis=-2)


def null_threshold(counts: np.ndarray, window_per_age: np.ndarray, level: float, rng: np.random.Generator,
                   n_simulations: int = N_SIMULATIONS) -> float:
    """The PSI a window of this size and age mix exceeds with probability ``level`` when nothing changed.

    Windows of the window's size and references of the training's are drawn from the training shares
    mixed as the window's ages mix; the threshold is the ``1 - level`` quantile of their PSI, read from
    the simulations when they reach that far and else from an exponential tail fitted beyond the
    ``TAIL_START`` quantile.
    """
    used = np.flatnonzero(np.asarray(window_per_age) > 0)  # ages the window holds: the others weigh nothing
    counts = np.asarray(counts, dtype=np.int64)[used]
    weights = np.asarray(window_per_age, dtype=float)[used]
    weights /= weights.sum()
    mixed = expected_shares(counts, weights)
    mixed /= mixed.sum()
    # The window in one draw from the mixed shares: a sum of per-age draws varies no more than that, so
    # the threshold errs high. The training side in one draw of the size whose sampling noise matches the
    # mixture's, sum_k w_k^2 / m_k (the training count is usually many times the window's, so this part is small).
    window = rng.multinomial(int(np.sum(window_per_age)), mixed, size=n_simulations)
    reference_size = max(1, int(round(1.0 / np.sum(weights ** 2 / np.maximum(counts.sum(axis=1), 1)))))
    reference = rng.multinomial(reference_size, mixed, size=n_simulations)
    simulated = psi(smoothed_shares(window), smoothed_shares(reference))
    if level * n_simulations >= 20:
        return float(np.quantile(simulated, 1.0 - level))
    start = float(np.quantile(simulated, TAIL_START))
    excess = simulated[simulated > start] - start
    scale = float(excess.mean()) if len(excess) else 0.0
    return start + scale * math.log((1.0 - TAIL_START) / level)


@dataclass(frozen=True)
class FeatureWords:
    """How a feature is said: the subject its sentence starts with, its kind (``numeric``, ``flag`` or
    ``categorical``) and its story (features telling one story are said once)."""

    subject: str
    kind: str
    story: str


@dataclass(frozen=True)
class FeatureDrift:
    """One row of the drift table: the feature, its PSI and threshold, whether it alarms, and in words."""

    feature: str
    psi: float
    threshold: float
    alarm: bool
    judged: bool
    n: int
    moved: str
    story: str


def judge_drift(reference: TrainingReference, window: pd.DataFrame, slots: np.ndarray, since: pd.Timestamp,
                words: dict[str, FeatureWords] | None = None, alpha: float = ALPHA, seed: int = 0
                ) -> list[FeatureDrift]:
    """The drift table of ``window`` against ``reference``: every feature the model reads, then the score.

    Parameters
    ----------
    window
        The scored leads of the window, one row each: a column per feature (the values the model read)
        and ``score`` (the probability it gave).
    slots
        Each row's training age (:meth:`TrainingReference.offset_slot`); rows at no training age must be
        left out by the caller.
    since
        The window's first moment, for the sentences.
    words
        Per feature, how to say it (:class:`FeatureWords`); default: its name, its sketch's kind, a
        story of its own.
    alpha
        The chance that the table alarms at all when nothing changed (Bonferroni over the judged rows).
    seed
        Seeds the null simulations (one stream per feature, so a feature's threshold does not depend on
        the others).
    """
    words = words or {}
    slots = np.asarray(slots, dtype=np.int64)
    n_ages = len(reference.offsets_days)
    per_age = np.bincount(slots, minlength=n_ages)
    sketches = [*reference.features.values(), reference.score]
    judged = [s.name for s in sketches if s.name not in CALENDAR_FEATURES]
    level = alpha / max(1, len(judged))
    streams = np.random.SeedSequence(seed).spawn(len(sketches))
    rows = []
    for sketch, stream in zip(sketches, streams, strict=True):
        values = window[sketch.name] if sketch.name in window else pd.Series([None] * len(window), dtype="object")
        counts = np.bincount(sketch.bin_of(values), minlength=sketch.n_bins)
        value = float(psi(smoothed_shares(counts), expected_shares(sketch.counts, per_age)))
        is_judged = sketch.name in judged and len(window) > 0
        threshold = null_threshold(sketch.counts, per_age, level, np.random.default_rng(stream)) if is_judged \
            else float("nan")
        alarm = bool(is_judged and value > threshold)
        said = words.get(sketch.name, FeatureWords(sketch.name, sketch.kind, sketch.name))
        moved = describe_move(sketch, values, counts, per_age, since, said.subject, said.kind) if alarm else ""
        rows.append(FeatureDrift(sketch.name, value, threshold, alarm, is_judged, int(len(window)), moved, said.story))
    return rows


def _since(moment: pd.Timestamp) -> str:
    return f"since {moment.day} {moment:%B %Y}"


def _relative(before: float, after: float) -> str:
    if before == 0:
        return f"rose from 0 to {after:.3g}" if after > 0 else "stayed at 0"
    ratio = after / before
    if ratio >= 2:
        return f"rose {ratio:.1f}-fold"
    if ratio >= 1:
        return f"rose by {ratio - 1:.0%}"
    return f"fell by {1 - ratio:.0%}"


def describe_move(sketch: FeatureSketch, values: pd.Series, counts: np.ndarray, per_age: np.ndarray,
                  since: pd.Timestamp, subject: str, kind: str) -> str:
    """How a drifted feature moved, in one sentence: its share missing when that moved most, else its mean
    (numbers whose mean moved by a tenth or more), its share of yes (flags), or the bin that adds most to
    its PSI (values training never held named)."""
    expected = expected_shares(sketch.counts, per_age)
    shares = counts / max(1, counts.sum())
    missing_now, missing_then = float(shares[-1]), float(expected[-1])
    when = _since(since)
    if np.abs(shares - expected).argmax() == len(shares) - 1 and sketch.kind != "categorical":
        return f"{subject}: missing for {missing_now:.0%} of leads {when}, against {missing_then:.0%} in training"
    if sketch.kind == "numeric":
        numbers = pd.to_numeric(pd.Series(values), errors="coerce")
        now = float(numbers.mean()) if numbers.notna().any() else math.nan
        then = mixture_mean(sketch, per_age.astype(float))
        if kind == "flag" and np.isfinite(now) and np.isfinite(then):
            return f"{subject}: yes for {now:.0%} of leads {when}, against {then:.0%} in training"
        if np.isfinite(now) and np.isfinite(then) and (then == 0 or abs(now / then - 1) >= 0.1):
            if sketch.name == SCORE:
                return f"{subject}: {_relative(then, now)} {when} (mean {now:.1%} against {then:.1%} in training)"
            return f"{subject}: {_relative(then, now)} {when} ({now:.3g} per lead against {then:.3g} in training)"
    contribution = (shares - expected) * np.log(np.maximum(shares, 1e-12) / expected)
    if sketch.kind != "categorical":
        contribution = contribution[:-1]  # the missing bin was said above when it moved most
    top = int(np.argmax(contribution))
    label = sketch.bin_labels()[top]
    if label == OTHER:
        known = pd.Series(values, dtype="object").dropna().astype("str")
        new = known[~known.isin(sketch.categories)].value_counts().head(3)
        named = ", ".join(f"{value} {n / max(1, counts.sum()):.0%}" for value, n in new.items())
        return (f"{subject}: values the training data did not hold for {shares[top]:.0%} of leads {when}"
                + (f" ({named})" if named else ""))
    return f"{subject}: {label} for {shares[top]:.0%} of leads {when}, against {expected[top]:.0%} in training"
