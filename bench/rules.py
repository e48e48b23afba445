"""Benchmark: rule points for 1M leads with ~20M events at one as_of (budget: 30 s on 2 cores).

Makes its own contract-typed export with numpy and Arrow (ids and categories as Arrow strings, as a
Parquet or CSV reader would give them), then times :func:`leadscore.scorers.rules.score_rules` with the shipped
default rules. Prints leads/s and peak RSS; exits non-zero when over budget.

    .venv/bin/python bench/rules.py [--leads 1000000] [--events 20000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.contract import EVENT_CHANNELS, PAGE_TYPES
from leadscore.features.tables import make_tables
from leadscore.scorers.rules import load_rules, score_rules

BUDGET_SECONDS = 30.0
AS_OF = pd.Timestamp("2025-01-01", tz="UTC")
TITLES = (
    "IT Security Manager", "CISO", "VP Engineering", "Director of IT", "Network Engineer", "CFO", "Controller",
    "Marketing Intern", "Marketing Manager", "Sales Director", "Software Developer", "Head of Finance",
    "Student", "CEO", "Accountant", "Systems Administrator", "Product Manager", "Office Manager", None,
)
# (event_type, share of events): roughly what a B2B marketing stack logs.
EVENT_MIX = (
    ("email_sent", 0.30), ("email_open", 0.18), ("email_click", 0.04), ("page_view", 0.40),
    ("form_submit", 0.02), ("content_download", 0.03), ("webinar_register", 0.01), ("webinar_attend", 0.005),
    ("demo_request", 0.003), ("unsubscribe", 0.002), ("ad_click", 0.01),
)


def _strings(values: tuple | list, codes: np.ndarray) -> pd.Series:
    """Arrow-backed ``str`` column of ``values[codes]`` without building Python strings per row."""
    return pd.Series(pd.array(pa.array(list(values), type=pa.large_string()).take(pa.array(codes)), dtype="str"))


def make_export(n_leads: int, n_events: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    n_accounts = max(n_leads // 5, 1)
    lead_ids = pa.array(np.char.add("L", np.arange(n_leads).astype(str)), type=pa.large_string())
    account_ids = pa.array(np.char.add("A", np.arange(n_accounts).astype(str)), type=pa.large_string())
    leads = pd.DataFrame({
        "lead_id": pd.Series(pd.array(lead_ids, dtype="str")),
        "account_id": pd.Series(pd.array(account_ids.take(pa.array(rng.integers(0, n_accounts, n_leads))), dtype="str")),
        "captured_at": AS_OF - pd.to_timedelta(rng.uniform(1, 365, n_leads), unit="D"),
        "job_title": _strings(TITLES, rng.integers(0, len(TITLES), n_leads)),
        "email_domain": _strings(("acme.com", "gmail.com", "corp.io", "outlook.com"), rng.integers(0, 4, n_leads)),
    })
    accounts = pd.DataFrame({
        "account_id": pd.Series(pd.array(account_ids, dtype="str")),
        "employees": np.round(rng.lognormal(5, 1.5, n_accounts)),
        "industry": _strings(("software", "retail", "manufacturing", "fintech"), rng.integers(0, 4, n_accounts)),
        "region": _strings(("us_east", "us_west", "europe", "apac"), rng.integers(0, 4, n_accounts)),
        "branch_count": rng.integers(0, 6, n_accounts).astype(np.float64),
    })
    names = [name for name, _ in EVENT_MIX]
    share = np.array([s for _, s in EVENT_MIX])
    kind = rng.choice(len(names), n_events, p=share / share.sum())
    is_page = np.isin(kind, [names.index("page_view"), names.index("form_submit")])
    page = np.where(is_page, rng.integers(0, len(PAGE_TYPES), n_events), -1)
    is_email = kind <= names.index("email_click")
    step = np.where(is_email, rng.integers(1, 6, n_events), np.nan)
    page_values = pa.array(list(PAGE_TYPES), type=pa.large_string()).take(pa.array(page, mask=page < 0))
    events = pd.DataFrame({
        "lead_id": pd.Series(pd.array(lead_ids.take(pa.array(rng.integers(0, n_leads, n_events))), dtype="str")),
        "occurred_at": AS_OF - pd.to_timedelta(rng.integers(0, 400 * 86_400, n_events), unit="s"),
        "event_type": _strings(names, kind),
        "page_type": pd.Series(pd.array(page_values, dtype="str")),
        "email_step": step,
        "channel": _strings(EVENT_CHANNELS, rng.integers(0, len(EVENT_CHANNELS), n_events)),
    })
    return make_tables({"leads": leads, "accounts": accounts, "events": events}, data_end=AS_OF)


def _current_rss_gb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    args = parser.parse_args()

    started = time.perf_counter()
    tables = make_export(args.leads, args.events)
    made = time.perf_counter() - started
    spine = pd.DataFrame({"lead_id": tables.leads["lead_id"], "as_of": AS_OF})
    config = load_rules()
    data_gb = _current_rss_gb()

    started, cpu_started = time.perf_counter(), time.process_time()
    scores = score_rules(tables, spine, config)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    load = os.getloadavg()[0]

    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"data: {args.leads:,} leads, {len(tables.events):,} events, made in {made:.1f} s")
    print(f"score_rules: {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU, {len(scores) / seconds:,.0f} leads/s, "
          f"peak RSS {peak_gb:.2f} GB, of which {data_gb:.2f} GB held the generated data before scoring "
          f"(1-min load average {load:.1f} on {os.cpu_count()} cores)")
    print("grades:", scores["rule_grade"].value_counts().to_dict())
    print("stages:", scores["rule_stage"].value_counts().to_dict())
    print("example:", scores.loc[scores["rule_score"].idxmax(), "rule_reasons"])
    within = seconds <= BUDGET_SECONDS
    print(f"budget {BUDGET_SECONDS:.0f} s: {'ok' if within else 'OVER'}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
