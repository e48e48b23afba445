"""Benchmark: point-in-time features for 1M leads and 20M events, and training snapshots on the same data.

Run ``python bench/bench_features.py`` (``--leads`` / ``--events`` to scale). It makes its own contract-shaped
data with numpy (seconds, not the demo generator's minutes), then times, each with peak RSS sampled by a
background thread:

1. the single-as_of build (``make_spine`` + ``build_features``) for every lead: the issue's target is at
   most 30 s wall and 6 GB peak RSS on 2 cores;
2. the event aggregation of that build done in plain pandas (the same windows and counts), against the
   DuckDB aggregation the builder uses;
3. the training set (snapshots at 0, 7, 14, 30, 60 days with SQO labels).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leadscore.features.contract import EVENT_TYPES, LEAD_CHANNELS, PAGE_TYPES
from leadscore.features.tables import Tables, make_tables

DAY_NS = 86_400 * 10**9
START = pd.Timestamp("2024-01-01", tz="UTC")
SPAN_DAYS = 540

TITLES = (
    "CFO", "VP Finance", "Director of Finance", "Finance Manager", "Accountant", "Controller", "CIO", "IT Manager",
    "Head of IT", "Software Engineer", "CMO", "Marketing Manager", "Marketing Intern", "Sales Director",
    "Account Executive", "CEO", "Founder", "Sr. Dir. of FP&A", "Analyst", "Student",
)
DOMAINS = ("gmail.com", "acme.com", "yahoo.com", "corp.example", "bigco.io", "hotmail.com", "firm.net")
INDUSTRIES = ("software", "retail", "finance", "healthcare", "manufacturing", "media", "education", "logistics")
TECHS = (("salesforce", "crm"), ("hubspot", "marketing_automation"), ("netsuite", "erp"), ("stripe", "billing"),
         ("aws", "cloud"), ("looker", "analytics"), ("okta", "security"), ("sap", "erp"))
EVENT_P = np.array([25, 12, 3, 45, 2, 3, 1, 1, 0.5, 0.3, 6, 0.2, 1.0])


def _str(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="str")


def _coded(codes: np.ndarray, categories: tuple | np.ndarray, missing: np.ndarray | None = None,
           compact: bool = False) -> pd.Series:
    """A "str" column from integer codes: Arrow decodes 20M codes in seconds, numpy unicode takes minutes.

    ``compact`` keeps it a pandas categorical instead (codes and the distinct values, no string per row).
    """
    if compact:
        codes = np.where(missing, -1, codes) if missing is not None else codes
        return pd.Series(pd.Categorical.from_codes(codes.astype(np.int32), categories=pd.Index(categories, dtype="str")))
    indices = pa.array(codes.astype(np.int32), mask=missing)
    text = pa.DictionaryArray.from_arrays(indices, pa.array(np.asarray(categories, dtype=str))).cast(pa.string())
    return pd.Series(text, dtype="str")


def make_bench_tables(n_leads: int, n_events: int, seed: int = 0, compact: bool = False) -> Tables:
    """Contract-shaped random tables: fast, not realistic, but with the real cardinalities and shapes.

    ``compact`` makes the events' and stage entries' text columns (lead_id, types, stage) pandas
    categoricals, as a dictionary-encoded Parquet file reads: the same values in a fraction of the memory,
    for exports of several million leads. Events are made in slices, so generating them never holds more
    than a slice's temporaries.
    """
    rng = np.random.default_rng(seed)
    n_accounts = max(1, n_leads // 5)
    lead_ids = np.char.add("L", np.arange(n_leads).astype(str))
    account_ids = np.char.add("A", np.arange(n_accounts).astype(str))
    captured_ns = START.value + rng.integers(0, SPAN_DAYS * DAY_NS, n_leads)
    has_account = rng.random(n_leads) < 0.9
    lead_account = np.where(has_account, account_ids[rng.integers(0, n_accounts, n_leads)], None)
    leads = pd.DataFrame({
        "lead_id": _str(lead_ids),
        "account_id": pd.Series(lead_account, dtype="str"),
        "captured_at": pd.to_datetime(captured_ns, utc=True),
        "channel": _str(rng.choice(LEAD_CHANNELS, n_leads)),
        "campaign": _str(np.char.add("cmp", rng.zipf(1.6, n_leads).clip(max=5000).astype(str))),
        "job_title": _str(rng.choice(TITLES, n_leads)),
        "country": _str(rng.choice(["US", "GB", "DE", "IL", "FR", "CA", "IN"], n_leads)),
        "email_domain": _str(rng.choice(DOMAINS, n_leads)),
        "email_consent": pd.array(rng.random(n_leads) < 0.8, dtype="boolean"),
    })
    accounts = pd.DataFrame({
        "account_id": _str(account_ids),
        "industry": _str(rng.choice(INDUSTRIES, n_accounts)),
        "employees": rng.lognormal(5, 1.5, n_accounts).round(),
        "annual_revenue_usd": rng.lognormal(16, 2, n_accounts),
        "hq_country": _str(rng.choice(["US", "GB", "IL"], n_accounts)),
        "region": _str(rng.choice(["us_east", "us_west", "europe", "israel", "apac"], n_accounts)),
        "branch_count": rng.integers(0, 20, n_accounts).astype(float),
        "business_model": _str(rng.choice(["b2b", "b2c", "b2b2c"], n_accounts)),
        "paying_customers": rng.lognormal(7, 2, n_accounts).round(),
        "is_public": pd.array(rng.random(n_accounts) < 0.1, dtype="boolean"),
        "company_stage": _str(rng.choice(["startup", "scaleup", "enterprise"], n_accounts)),
        "has_cdo": pd.array(rng.random(n_accounts) < 0.3, dtype="boolean"),
        "digital_transformation": _str(rng.choice(["none", "in_progress", "done"], n_accounts)),
    })
    n_tech = n_accounts * 3
    tech_pick = rng.integers(0, len(TECHS), n_tech)
    tech_seen = START.value + rng.integers(-200 * DAY_NS, SPAN_DAYS * DAY_NS, n_tech)
    technographics = pd.DataFrame({
        "account_id": _str(account_ids[rng.integers(0, n_accounts, n_tech)]),
        "technology": _str(np.array([t for t, _ in TECHS])[tech_pick]),
        "category": _str(np.array([c for _, c in TECHS])[tech_pick]),
        "first_seen_at": pd.to_datetime(np.where(rng.random(n_tech) < 0.2, np.iinfo(np.int64).min, tech_seen), utc=True),
    })
    # Events cluster on active leads and follow capture within ~120 days.
    weights = rng.pareto(1.5, n_leads) + 0.1
    cumulative = np.cumsum(weights / weights.sum())
    del weights
    owner = np.empty(n_events, dtype=np.int32)
    occurred_ns = np.empty(n_events, dtype=np.int64)
    event_type = np.empty(n_events, dtype=np.int8)
    page = np.empty(n_events, dtype=np.int8)
    step = np.empty(n_events, dtype=np.float64)
    channel = np.empty(n_events, dtype=np.int8)
    p_event = EVENT_P / EVENT_P.sum()
    page_events = [EVENT_TYPES.index("page_view"), EVENT_TYPES.index("form_submit")]
    email_events = [EVENT_TYPES.index(t) for t in ("email_sent", "email_open", "email_click")]
    for start in range(0, n_events, 5_000_000):
        stop = min(start + 5_000_000, n_events)
        m = stop - start
        who = np.searchsorted(cumulative, rng.random(m)).clip(max=n_leads - 1)
        owner[start:stop] = who
        occurred_ns[start:stop] = captured_ns[who] + (rng.exponential(40, m) * DAY_NS).astype(np.int64) - 3 * DAY_NS
        kind = rng.choice(len(EVENT_TYPES), m, p=p_event)
        event_type[start:stop] = kind
        is_page = np.isin(kind, page_events)
        page[start:stop] = np.where(is_page, rng.integers(0, len(PAGE_TYPES), m), -1)
        step[start:stop] = np.where(np.isin(kind, email_events), rng.integers(1, 6, m), np.nan)
        channel[start:stop] = rng.integers(0, 5, m)
    del cumulative
    events = pd.DataFrame({
        "lead_id": _coded(owner, lead_ids, compact=compact),
        "occurred_at": pd.to_datetime(occurred_ns, utc=True),
        "event_type": _coded(event_type, EVENT_TYPES, compact=compact),
        "page_type": _coded(np.maximum(page, 0), PAGE_TYPES, missing=page < 0, compact=compact),
        "email_step": step,
        "channel": _coded(channel, ("paid", "organic", "email", "direct", "social"), compact=compact),
    })
    del owner, occurred_ns, event_type, page, step, channel
    # Stage history: every lead is an MCL; some climb the funnel.
    reach = rng.geometric(0.45, n_leads).clip(max=7)
    rows = np.repeat(np.arange(n_leads), reach)
    step = np.concatenate([np.arange(k) for k in reach]) if n_leads else np.array([], int)
    stages = np.array(["MCL", "MEL", "MQL", "SAL", "SQL", "SQO", "WON"])
    entered_ns = captured_ns[rows] + (step * rng.exponential(15, len(rows)) * DAY_NS).astype(np.int64)
    stage_history = pd.DataFrame({
        "lead_id": _coded(rows, lead_ids, compact=compact),
        "stage": _coded(step, stages, compact=compact),
        "entered_at": pd.to_datetime(entered_ns, utc=True),
    })
    n_opp = int((reach >= 6).sum())
    opp_leads = np.flatnonzero(reach >= 6)
    created_ns = captured_ns[opp_leads] + rng.integers(10, 120, n_opp) * DAY_NS
    closed = rng.random(n_opp) < 0.6
    opportunities = pd.DataFrame({
        "opportunity_id": _str(np.char.add("O", np.arange(n_opp).astype(str))),
        "lead_id": _str(lead_ids[opp_leads]),
        "account_id": pd.Series(lead_account[opp_leads], dtype="str"),
        "created_at": pd.to_datetime(created_ns, utc=True),
        "closed_at": pd.to_datetime(np.where(closed, created_ns + 60 * DAY_NS, np.iinfo(np.int64).min), utc=True),
        "outcome": _str(np.where(closed, np.where(rng.random(n_opp) < 0.35, "won", "lost"), "open")),
        "amount_usd": rng.lognormal(10, 1, n_opp),
    })
    frames = {
        "leads": leads, "accounts": accounts, "technographics": technographics, "events": events,
        "stage_history": stage_history, "opportunities": opportunities,
    }
    return make_tables(frames, data_end=START + pd.Timedelta(days=SPAN_DAYS + 60))


class PeakRss:
    """Samples this process's resident memory every 50 ms; ``peak_gb`` after the block."""

    def __enter__(self) -> PeakRss:
        self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def peak_gb(self) -> float:
        return self.peak / 1e9


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def aggregate_events_pandas(events: pd.DataFrame, spine: pd.DataFrame) -> pd.DataFrame:
    """The builder's event aggregation written in plain pandas (merge, filter, groupby), for comparison.

    Same visibility rule and windows; counts per event type and page over 7/30/37/90 days and to date,
    recency, distinct active 24-hour periods and nurture steps. Not used by the product.
    """
    left = pd.DataFrame({"lead_id": spine["lead_id"], "as_of": spine["as_of"], "row": np.arange(len(spine))})
    joined = events[["lead_id", "occurred_at", "event_type", "page_type", "email_step"]].merge(left, on="lead_id")
    joined = joined[joined["occurred_at"] <= joined["as_of"]]
    age = (joined["as_of"] - joined["occurred_at"]).to_numpy().astype("int64")
    kind = joined["event_type"].where(joined["event_type"] != "page_view", "page_view:" + joined["page_type"].fillna("?"))
    frame = pd.DataFrame({"row": joined["row"].to_numpy(), "kind": kind.to_numpy(), "age": age,
                          "step": joined["email_step"].to_numpy()})
    for w in (7, 30, 37, 90):
        frame[f"c{w}"] = age < w * DAY_NS
    per_kind = frame.groupby(["row", "kind"], sort=False).agg(
        c7=("c7", "sum"), c30=("c30", "sum"), c37=("c37", "sum"), c90=("c90", "sum"), c_all=("age", "size"),
        min_age=("age", "min"), max_step=("step", "max"),
    )
    wide = per_kind.unstack("kind", fill_value=0)
    is_activity = ~frame["kind"].isin(["email_sent", "unsubscribe"])
    recent = frame[is_activity & (frame["age"] < 90 * DAY_NS)]
    periods = pd.DataFrame({"row": recent["row"], "period": recent["age"] // DAY_NS}).drop_duplicates()
    active_90d = periods.groupby("row").size()
    active_30d = periods[periods["period"] < 30].groupby("row").size()
    email = frame[frame["kind"].isin(["email_sent", "email_open", "email_click"]) & frame["step"].notna()]
    steps = email.groupby("row")["step"].nunique()
    out = pd.DataFrame(index=pd.RangeIndex(len(spine)))
    activity_kinds = [k for k in wide["c30"].columns if k not in ("email_sent", "unsubscribe")]
    for w in (7, 30, 90):
        out[f"n_activities_{w}d"] = wide[f"c{w}"][activity_kinds].sum(axis=1)
        pricing = [k for k in wide[f"c{w}"].columns if k == "page_view:pricing"]
        out[f"n_pricing_views_{w}d"] = wide[f"c{w}"][pricing].sum(axis=1)
    out["last_activity_age"] = wide["min_age"][activity_kinds].where(wide["c_all"][activity_kinds] > 0).min(axis=1)
    out["n_active_days_30d"] = active_30d
    out["n_active_days_90d"] = active_90d
    out["n_steps_sent"] = steps
    return out.fillna(0)


def aggregate_events_duckdb(tables: Tables, spine: pd.DataFrame) -> pd.DataFrame:
    """The builder's own event aggregation alone: load into DuckDB, then the engagement family."""
    from leadscore.features.building.engagement import build_engagement_features
    from leadscore.features.building.staging import connect_duckdb, load_into_duckdb, set_spine
    from leadscore.features.tables import positions
    from leadscore.features.timestamps import to_epoch_ns

    con = connect_duckdb()
    try:
        lead_pos = positions(spine["lead_id"], tables.leads["lead_id"])
        load_into_duckdb(con, tables, np.zeros(len(tables.leads), dtype=bool))
        set_spine(con, lead_pos, to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64"))
        return build_engagement_features(con, tables, len(spine))
    finally:
        con.close()


def timed(label: str, fn: Callable[[], object], results: list[dict]) -> object:
    gc.collect()
    with PeakRss() as rss:
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
    results.append({"step": label, "seconds": round(seconds, 1), "peak_rss_gb": round(rss.peak_gb, 2)})
    print(f"{label}: {seconds:.1f} s, peak RSS {rss.peak_gb:.2f} GB", file=sys.stderr, flush=True)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args(argv)

    from leadscore.features.building.builder import build_features
    from leadscore.features.building.labels import build_training_set
    from leadscore.features.building.spine import make_spine

    results: list[dict] = []
    tables = timed("make data (numpy)", lambda: make_bench_tables(args.leads, args.events), results)
    spine, excluded = make_spine(tables)
    features = timed("build_features, one as_of, all leads", lambda: build_features(tables, spine), results)
    print(f"  {len(features):,} rows x {features.shape[1] - 2} features; {len(excluded):,} excluded", file=sys.stderr)
    del features
    timed("event aggregation, DuckDB (load + engagement)", lambda: aggregate_events_duckdb(tables, spine), results)
    timed("event aggregation, plain pandas", lambda: aggregate_events_pandas(tables.events, spine), results)
    if not args.skip_training:
        rows, summary = timed("training set sqo, offsets 0/7/14/30/60", lambda: build_training_set(tables, "sqo"), results)
        print(summary.to_string(index=False), file=sys.stderr)
        del rows
    print(f"\n{args.leads:,} leads, {len(tables.events):,} events, {os.cpu_count()} cores")
    print(pd.DataFrame(results).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
