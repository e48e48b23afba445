"""How often does ``leadscore monitor`` cry wolf? Its false-alarm rate on unchanged data, by simulation (seeded).

Cohorts: a model whose probabilities are exactly right (each lead converts with its own p, drawn from a
B2B-like Beta(0.6, 12), mean about 5%), its "test interval" of AUC from a simulated test window of 3,000
leads, and six matured monthly cohorts of N leads judged as the monitor judges them (Bonferroni over the
twelve tests at 1%). Drift: a training reference of 20,000 snapshots at three ages over 40 features of
every shape (skewed counts growing with age, long-tailed numbers, flags, categories with rare values,
missing values), and windows of N leads drawn from the same world at the same ages, judged as the
monitor judges them (Bonferroni over the features at 1%). For comparison, the fixed "PSI > 0.1" rule.

Prints, for N in 100, 500 and 5,000: the share of cohorts / features that alarm, and the share of
monitor runs whose recommendation an unchanged world would turn to ``retrain`` (any cohort alarm) or
``watch`` (any feature alarm).

    .venv/bin/python bench/monitor_false_alarms.py [--runs 200] [--sizes 100,500,5000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from leadscore.scorers.monitoring.cohort_checks import bonferroni_level, cohort_figures, delong_auc
from leadscore.scorers.monitoring.drift import expected_shares, judge_drift, psi, smoothed_shares
from leadscore.scorers.monitoring.reference import build_reference

ALPHA = 0.01
N_COHORTS = 6
N_FEATURES = 40
OFFSETS = (0, 7, 30)
TEST_LEADS = 3000
SINCE = pd.Timestamp("2026-01-01T00:00:00Z")


def cohort_false_alarms(n: int, runs: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Per-cohort calibration and ranking alarm rates, and the share of runs with any alarm."""
    level = bonferroni_level(ALPHA, 2 * N_COHORTS)
    calibration = ranking = any_alarm = 0
    for _ in range(runs):
        p_test = rng.beta(0.6, 12, TEST_LEADS)
        auc, se = delong_auc(rng.random(TEST_LEADS) < p_test, p_test)
        floor = auc - 1.96 * se
        alarmed = False
        for _ in range(N_COHORTS):
            p = rng.beta(0.6, 12, n)
            figures = cohort_figures(rng.random(n) < p, p, level, floor, seed=0)
            calibration += figures.calibration_alarm
            ranking += figures.ranking_alarm
            alarmed |= figures.calibration_alarm or figures.ranking_alarm
        any_alarm += alarmed
    cohorts = runs * N_COHORTS
    return calibration / cohorts, ranking / cohorts, any_alarm / runs


def world(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Snapshots of an unchanging world: 40 features of every shape, some growing with the snapshot's age."""
    offset = rng.choice(OFFSETS, n, p=[0.4, 0.35, 0.25])
    age = offset / 30.0
    columns: dict[str, np.ndarray] = {"offset_days": offset}
    for k in range(N_FEATURES):
        shape = k % 5
        if shape == 0:  # a count, mostly zero, growing with age
            values = rng.poisson((0.2 + 0.1 * k / N_FEATURES) * (1 + 4 * age) * rng.gamma(0.7, 1.0, n)).astype(float)
        elif shape == 1:  # a long-tailed amount with some missing
            values = np.round(np.exp(rng.normal(5 + k / 20, 1.5, n)))
            values[rng.random(n) < 0.1] = np.nan
        elif shape == 2:  # a flag
            values = (rng.random(n) < 0.05 + 0.5 * k / N_FEATURES).astype(float)
        elif shape == 3:  # a category with rare values
            values = rng.choice(60, n, p=np.r_[np.full(5, 0.15), np.full(55, 0.25 / 55)]).astype(str).astype(object)
            values[rng.random(n) < 0.03] = None
        else:  # a recency in days, missing when nothing happened yet
            values = rng.exponential(3 + 10 * age)
            values[rng.random(n) < 0.3 / (1 + age)] = np.nan
        columns[f"f{k}"] = values
    columns["score"] = rng.beta(0.6, 12, n)
    return pd.DataFrame(columns)


def drift_false_alarms(n: int, runs: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Per-feature alarm rate, the share of runs with any alarm, and the fixed PSI > 0.1 rule's per-feature rate."""
    spec = [{"name": f"f{k}", "kind": "categorical" if k % 5 == 3 else "numeric"} for k in range(N_FEATURES)]
    training = world(20_000, rng)
    reference = build_reference(training, spec, training["score"].to_numpy())
    features = alarms = fixed = any_alarm = 0
    for run in range(runs):
        window = world(n, rng)
        slots = np.searchsorted(np.asarray(OFFSETS), window["offset_days"].to_numpy())
        rows = judge_drift(reference, window, slots, SINCE, alpha=ALPHA, seed=run)
        per_age = np.bincount(slots, minlength=len(OFFSETS))
        features += len(rows)
        alarms += sum(row.alarm for row in rows)
        any_alarm += any(row.alarm for row in rows)
        for sketch in [*reference.features.values(), reference.score]:
            values = window[sketch.name if sketch.name in window else "score"]
            counts = np.bincount(sketch.bin_of(values), minlength=sketch.n_bins)
            fixed += float(psi(smoothed_shares(counts), expected_shares(sketch.counts, per_age))) > 0.1
    return alarms / features, any_alarm / runs, fixed / features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="simulated monitor runs per size (default 200)")
    parser.add_argument("--sizes", default="100,500,5000", help="cohort and window sizes (default 100,500,5000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"false alarms on unchanged data, {args.runs} simulated monitor runs per size, alpha {ALPHA:.0%} per family")
    print(f"{'N':>6}  {'cohort: calibration':>20} {'ranking':>8} {'any (retrain)':>14}   "
          f"{'feature':>8} {'any (watch)':>12} {'fixed PSI>0.1':>14}  seconds")
    for n in sizes:
        started = time.perf_counter()
        rng = np.random.default_rng([args.seed, n])
        calibration, ranking, retrain = cohort_false_alarms(n, args.runs, rng)
        feature, watch, fixed = drift_false_alarms(n, args.runs, rng)
        print(f"{n:>6,}  {calibration:>20.2%} {ranking:>8.2%} {retrain:>14.2%}   {feature:>8.3%} {watch:>12.2%} "
              f"{fixed:>14.1%}  {time.perf_counter() - started:.0f}")


if __name__ == "__main__":
    main()
