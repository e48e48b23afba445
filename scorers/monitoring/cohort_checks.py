"""One cohort of predictions against what happened: is the observed rate what the probabilities promised?

A calibrated probability is a promise that can be checked once its horizon has passed. For a cohort of
``n`` leads predicted ``p_1 … p_n`` the number that convert is, if the promise holds, a sum of
independent Bernoulli draws: a **Poisson-binomial** count. Its distribution is computed exactly here
(the product of the ``n`` polynomials ``(1 - p_i) + p_i z``, multiplied pairwise in a tree, by direct
convolution while short and by FFT beyond), so the range of observed rates the predictions allow is
exact at any cohort size, with no normal approximation for a 100-lead month.

Every figure of a cohort comes with an interval:

- **observed rate**: Wilson 95% interval;
- **predicted**: the mean probability, with the range of observed rates the probabilities imply at the
  level the caller judges at (the monitor passes its family-corrected level, so an observed rate outside
  it *is* the alarm);
- **AUC**: DeLong's variance (midranks, ties counted half, as :func:`leadscore.scorers.ranking.roc_auc`),
  95% interval, and a one-sided p-value against a floor (the low end of the model's own test interval);
- **ECE**: ten equal-count bins (:func:`leadscore.scorers.ranking.expected_calibration_error`), with a
  basic (bias-correcting) Poisson-bootstrap 95% interval, seeded, as training's intervals are basic;
- **calibration intercept** (calibration in the large: ``logit P(y) = a + logit p``; 0 is perfect) and
  **slope** (``logit P(y) = a + b logit p``; 1 is perfect), maximum likelihood with Wald 95% intervals.

The family of cohorts is corrected by Bonferroni (:func:`bonferroni_level`): with ``m`` tests at level
``alpha / m`` each, the chance that any one of them alarms on an unchanged world is at most ``alpha``,
and the shown ranges are exactly the alarm boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from leadscore.scorers.ranking import expected_calibration_error

ECE_BINS = 10
N_BOOTSTRAP = 200
CONFIDENCE = 0.95
MIN_CLASS_FOR_AUC = 5  # positives and negatives a cohort needs before its ranking is judged
_P_CLIP = 1e-6
_DIRECT_LENGTH = 64  # polynomials up to this length are multiplied directly, longer ones by FFT
_NORMAL = NormalDist()  # the standard library's: scipy.stats alone takes seconds to import


def _z(confidence: float) -> float:
    """The normal quantile of a two-sided ``confidence`` interval (1.96 for 95%)."""
    return _NORMAL.inv_cdf(0.5 + confidence / 2.0)


def _expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic function, without overflow on separable cohorts


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, tied values sharing their average rank.

    Examples
    --------
    >>> midranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2.0  # positions start..end-1 are ranks start+1..end
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def poisson_binomial_pmf(p: np.ndarray) -> np.ndarray:
    """P(K = k) for k = 0 … n, where K is the number of successes of independent Bernoulli(p_i).

    Examples
    --------
    >>> poisson_binomial_pmf(np.array([0.5, 0.5])).round(3).tolist()
    [0.25, 0.5, 0.25]
    """
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if len(p) == 0:
        return np.ones(1)
    polys = np.column_stack([1.0 - p, p])
    while len(polys) > 1:
        if len(polys) % 2:
            unit = np.zeros((1, polys.shape[1]))
            unit[0, 0] = 1.0
            polys = np.vstack([polys, unit])
        left, right = polys[0::2], polys[1::2]
        length = polys.shape[1]
        size = 2 * length - 1
        if length <= _DIRECT_LENGTH:
            product = np.zeros((len(left), size))
            for j in range(length):
                product[:, j:j + length] += left[:, j:j + 1] * right
        else:
            n_fft = 1 << (size - 1).bit_length()
            product = np.fft.irfft(np.fft.rfft(left, n_fft, axis=1) * np.fft.rfft(right, n_fft, axis=1), n_fft, axis=1)
            product = product[:, :size]
        # degree never exceeds the number of Bernoulli factors: drop the trailing zero columns
        polys = product[:, : min(size, len(p) + 1)]
    pmf = np.clip(polys[0][: len(p) + 1], 0.0, None)
    return pmf / pmf.sum()


def poisson_binomial_test(p: np.ndarray, k: int) -> float:
    """Two-sided p-value of observing ``k`` successes when each lead converts with its probability ``p_i``.

    Twice the smaller tail, at most 1 (the usual doubling for a discrete count).

    Examples
    --------
    >>> round(poisson_binomial_test(np.full(10, 0.5), 5), 3)
    1.0
    >>> poisson_binomial_test(np.full(100, 0.5), 0) < 1e-20
    True
    """
    return _two_sided(poisson_binomial_pmf(p), k)


def _two_sided(pmf: np.ndarray, k: int) -> float:
    lower = pmf[: k + 1].sum()
    upper = pmf[k:].sum()
    return float(min(1.0, 2.0 * min(lower, upper)))


def poisson_binomial_range(p: np.ndarray, level: float) -> tuple[int, int]:
    """The counts ``[low, high]`` holding all but ``level`` of the Poisson-binomial mass, ``level / 2`` per tail.

    A count outside it has a two-sided p-value below ``level`` (:func:`poisson_binomial_test`).

    Examples
    --------
    >>> poisson_binomial_range(np.full(100, 0.5), 0.05)
    (40, 60)
    """
    return _central_range(poisson_binomial_pmf(p), level)


def _central_range(pmf: np.ndarray, level: float) -> tuple[int, int]:
    cdf = np.cumsum(pmf)
    # low: the smallest k whose lower tail P(K <= k) exceeds level/2; high: the largest k whose upper tail does
    low = int(np.searchsorted(cdf, level / 2.0, side="right"))
    upper_tail = 1.0 - np.r_[0.0, cdf[:-1]]  # P(K >= k)
    high = int(np.flatnonzero(upper_tail > level / 2.0)[-1])
    return low, high


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (NaNs without rows).

    Examples
    --------
    >>> [round(x, 3) for x in wilson_interval(5, 100)]
    [0.022, 0.112]
    """
    if n == 0:
        return float("nan"), float("nan")
    z = _z(confidence)
    phat = k / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends, where rounding would leave 1e-18
    high = 1.0 if k == n else min(1.0, centre + half)
    return float(low), float(high)


def delong_auc(label: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """ROC AUC and its DeLong standard error (ties counted half); NaNs with one class.

    Examples
    --------
    >>> auc, se = delong_auc(np.array([1, 0, 1, 0]), np.array([3.0, 2.0, 2.0, 1.0]))
    >>> auc
    0.875
    """
    label = np.asarray(label, dtype=bool)
    score = np.asarray(score, dtype=float)
    positive, negative = score[label], score[~label]
    m, n = len(positive), len(negative)
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    rank_all = midranks(np.r_[positive, negative])
    rank_positive = midranks(positive)
    rank_negative = midranks(negative)
    # placements: the share of the other class each row outscores (ties half)
    v_positive = (rank_all[:m] - rank_positive) / n
    v_negative = 1.0 - (rank_all[m:] - rank_negative) / m
    auc = float(v_positive.mean())
    variance = (v_positive.var(ddof=1) / m if m > 1 else 0.0) + (v_negative.var(ddof=1) / n if n > 1 else 0.0)
    return auc, float(np.sqrt(variance))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _P_CLIP, 1.0 - _P_CLIP)
    return np.log(p / (1.0 - p))


def _newton_logistic(design: np.ndarray, label: np.ndarray, offset: np.ndarray, start: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """Maximum-likelihood coefficients of a logistic model with an offset, and their covariance; None
    when the fit does not converge (a separable cohort)."""
    beta = start.astype(float)
    for _ in range(100):
        mu = _expit(design @ beta + offset)
        gradient = design.T @ (label - mu)
        hessian = (design * (mu * (1.0 - mu))[:, None]).T @ design
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if np.max(np.abs(step)) < 1e-9:
            if np.max(np.abs(beta)) > 50:
                return None
            return beta, np.linalg.inv(hessian)
    return None


def calibration_line(label: np.ndarray, p: np.ndarray, confidence: float = CONFIDENCE) -> dict[str, float]:
    """Calibration intercept (slope fixed at 1) and slope, with Wald intervals; NaNs with one class.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 20000)
    >>> fit = calibration_line(rng.random(20000) < p, p)
    >>> abs(fit["intercept"]) < 0.05, abs(fit["slope"] - 1) < 0.1
    (True, True)
    """
    label = np.asarray(label, dtype=float)
    nan = {name: float("nan") for name in ("intercept", "intercept_low", "intercept_high", "slope", "slope_low", "slope_high")}
    if len(label) == 0 or label.min() == label.max():
        return nan
    x = _logit(np.asarray(p, dtype=float))
    z = _z(confidence)
    out = dict(nan)
    in_the_large = _newton_logistic(np.ones((len(x), 1)), label, x, np.zeros(1))
    if in_the_large is not None:
        a, covariance = in_the_large
        se = float(np.sqrt(covariance[0, 0]))
        out.update(intercept=float(a[0]), intercept_low=float(a[0] - z * se), intercept_high=float(a[0] + z * se))
    line = _newton_logistic(np.column_stack([np.ones(len(x)), x]), label, np.zeros(len(x)), np.array([0.0, 1.0]))
    if line is not None:
        beta, covariance = line
        se = float(np.sqrt(covariance[1, 1]))
        out.update(slope=float(beta[1]), slope_low=float(beta[1] - z * se), slope_high=float(beta[1] + z * se))
    return out


def ece_interval(label: np.ndarray, p: np.ndarray, seed: int, n_bootstrap: int = N_BOOTSTRAP,
                 n_bins: int = ECE_BINS, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """ECE over equal-count bins and its basic Poisson-bootstrap interval (clipped at 0).

    Each resample weighs every lead by a Poisson(1) draw (the bootstrap's multiplicities, drawn
    independently) and recomputes the equal-count bins on the weights, so a resample costs one pass.
    The interval is basic, ``2 ECE - q_high .. 2 ECE - q_low``: ECE is biased upward on small cohorts,
    and a resample more so.
    """
    label = np.asarray(label, dtype=float)
    p = np.asarray(p, dtype=float)
    n = len(p)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    ece = expected_calibration_error(label, p, n_bins)
    order = np.argsort(p, kind="stable")
    label, p = label[order], p[order]
    rng = np.random.default_rng(seed)
    values = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        weight = rng.poisson(1.0, n).astype(float)
        total = weight.sum()
        if total == 0:
            values[b] = ece
            continue
        before = np.cumsum(weight) - weight
        bins = np.minimum((before / total * n_bins).astype(np.int64), n_bins - 1)
        wp = np.bincount(bins, weights=weight * p, minlength=n_bins)
        wy = np.bincount(bins, weights=weight * label, minlength=n_bins)
        values[b] = float(np.abs(wp - wy).sum() / total)
    tail = (1.0 - confidence) / 2.0
    q_low, q_high = np.quantile(values, [tail, 1.0 - tail])
    return ece, float(max(0.0, 2 * ece - q_high)), float(max(0.0, 2 * ece - q_low))


def bonferroni_level(alpha: float, n_tests: int) -> float:
    """The level each of ``n_tests`` is judged at so that, on an unchanged world, the chance that any one
    alarms is at most ``alpha``.

    Examples
    --------
    >>> bonferroni_level(0.01, 4)
    0.0025
    """
    return alpha / max(1, n_tests)


@dataclass(frozen=True)
class CohortFigures:
    """One cohort's figures (rates and probabilities in 0–1), each with its interval.

    ``predicted_low`` / ``predicted_high`` bound the observed rate the probabilities allow at ``level``;
    ``calibration_p`` is the two-sided Poisson-binomial p-value of the observed count; ``auc_p`` the
    one-sided p-value of the AUC against ``auc_floor`` (NaN when not judged: fewer than
    :data:`MIN_CLASS_FOR_AUC` of either class, or no floor).
    """

    n: int
    n_positive: int
    level: float
    predicted: float
    predicted_low: float
    predicted_high: float
    observed: float
    observed_low: float
    observed_high: float
    calibration_p: float
    auc: float
    auc_low: float
    auc_high: float
    auc_floor: float
    auc_p: float
    ece: float
    ece_low: float
    ece_high: float
    intercept: float
    intercept_low: float
    intercept_high: float
    slope: float
    slope_low: float
    slope_high: float

    @property
    def calibration_alarm(self) -> bool:
        """The observed rate lies outside the range the predictions allow at ``level``."""
        return bool(self.calibration_p < self.level)

    @property
    def ranking_alarm(self) -> bool:
        """The AUC lies below the floor beyond what chance allows at ``level``."""
        return bool(np.isfinite(self.auc_p) and self.auc_p < self.level)

    @property
    def auc_judged(self) -> bool:
        return bool(np.isfinite(self.auc_p))


def cohort_figures(label: np.ndarray, p: np.ndarray, level: float, auc_floor: float | None = None,
                   seed: int = 0) -> CohortFigures:
    """Every figure of one cohort (see the module docstring), judged at ``level``.

    Parameters
    ----------
    label
        1 where the lead reached the outcome within the horizon, else 0.
    p
        The probability each lead was given when it was scored.
    level
        The per-test level (family-corrected by the caller, :func:`bonferroni_level`).
    auc_floor
        The low end of the model's own test interval of AUC; None: the ranking is described, not judged.
    seed
        Seeds the ECE bootstrap.
    """
    label = np.asarray(label, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    n, k = len(label), int(label.sum())
    if n == 0:
        raise ValueError("a cohort needs at least one lead")
    pmf = poisson_binomial_pmf(p)
    low, high = _central_range(pmf, level)
    observed_low, observed_high = wilson_interval(k, n)
    auc, se = delong_auc(label, p)
    z = _z(CONFIDENCE)
    enough = min(k, n - k) >= MIN_CLASS_FOR_AUC
    auc_p = float("nan")
    floor = float("nan") if auc_floor is None else float(auc_floor)
    if enough and np.isfinite(floor) and np.isfinite(se):
        auc_p = float(_NORMAL.cdf((auc - floor) / se)) if se > 0 else float(auc < floor)
    ece, ece_low, ece_high = ece_interval(label, p, seed)
    line = calibration_line(label, p)
    return CohortFigures(
        n=n, n_positive=k, level=float(level),
        predicted=float(p.mean()), predicted_low=low / n, predicted_high=high / n,
        observed=k / n, observed_low=observed_low, observed_high=observed_high,
        calibration_p=_two_sided(pmf, k),
        auc=auc, auc_low=float(auc - z * se) if np.isfinite(se) else float("nan"),
        auc_high=float(auc + z * se) if np.isfinite(se) else float("nan"),
        auc_floor=floor, auc_p=auc_p,
        ece=ece, ece_low=ece_low, ece_high=ece_high,
        **line,
    )
