"""Benchmark: reading a flat CRM export of 1M leads with 40 of its own columns, and building its features.

Run ``python bench/bench_flat_export.py`` (``--leads`` to scale). It writes one ``contacts.csv`` (an id, a
creation date, "Became … Date" outcome columns, and 40 own columns: 15 numbers, 15 categories, 5 yes/no,
5 dates) with a mapping file, then times, each with peak RSS sampled by a background thread:

1. ``load_tables`` through the mapping file: reading, the wide outcome columns, inferring and typing
   the 40 own columns;
2. ``build_features`` for every lead at the data's end, the export's own features included.

Target (issue 12): the whole stays within the feature-build bench's memory target, 6 GB peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_features import PeakRss

TARGET_PEAK_RSS_GB = 6.0
START = pd.Timestamp("2024-01-01T00:00:00Z")
MAPPING = """leads:
  file: contacts.csv
  columns: {Record ID: lead_id, Create Date: captured_at}
  constants: {channel: other}
stage_history:
  file: contacts.csv
  columns: {Record ID: lead_id}
  stage_dates: {MQL: Became an MQL Date, SQO: Became an Opportunity Date, WON: Became a Customer Date}
"""


def write_export(folder: Path, n_leads: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    captured = START.value + np.sort(rng.integers(0, 540 * 86_400 * 10**9, n_leads))

    def dates(ns: np.ndarray, present: np.ndarray) -> np.ndarray:
        text = pd.to_datetime(ns, utc=True).strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object)
        text[~present] = ""
        return text

    columns: dict[str, object] = {"Record ID": np.char.add("C", np.arange(n_leads).astype(str)),
                                  "Create Date": dates(captured, np.ones(n_leads, dtype=bool))}
    for j in range(15):
        columns[f"Number {j}"] = np.round(rng.gamma(2.0, 10.0, n_leads), 1)
    for j in range(15):
        columns[f"Category {j}"] = rng.choice([f"value {k}" for k in range(5 + 3 * j)], n_leads)
    for j in range(5):
        columns[f"Flag {j}"] = rng.choice(["Yes", "No"], n_leads)
    for j in range(5):
        columns[f"Date {j}"] = dates(captured + rng.integers(-30, 30, n_leads) * 86_400 * 10**9, rng.random(n_leads) < 0.8)
    reached = rng.random(n_leads)
    for stage, share, days in (("MQL", 0.3, 5), ("Opportunity", 0.1, 20), ("Customer", 0.03, 60)):
        name = f"Became an {stage} Date" if stage != "Customer" else "Became a Customer Date"
        columns[name] = dates(captured + days * 86_400 * 10**9, reached < share)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(folder / "contacts.csv", index=False)
    (folder / "mapping.yaml").write_text(MAPPING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    from leadscore.features.building.builder import build_features
    from leadscore.features.building.spine import make_spine
    from leadscore.features.reading.validation import load_tables

    with tempfile.TemporaryDirectory(prefix="leadscore-bench-flat-") as tmp:
        folder = Path(tmp) / "export"
        started = time.perf_counter()
        write_export(folder, args.leads)
        print(f"wrote {args.leads:,} contacts with 40 own columns: {time.perf_counter() - started:.1f} s, "
              f"{(folder / 'contacts.csv').stat().st_size / 1e9:.2f} GB", file=sys.stderr)
        gc.collect()
        with PeakRss() as reading:
            started = time.perf_counter()
            tables = load_tables(folder, folder / "mapping.yaml", strict=False)
            read_seconds = time.perf_counter() - started
        used = [c for c in tables.own_columns if c.used]
        with PeakRss() as building:
            started = time.perf_counter()
            spine, _ = make_spine(tables)
            features = build_features(tables, spine)
            build_seconds = time.perf_counter() - started
        peak = max(reading.peak_gb, building.peak_gb)
        print(f"{args.leads:,} leads, {len(used)} of {len(tables.own_columns)} own columns used, "
              f"{len(tables.stage_history):,} stage entries")
        print(f"read + map + type:  {read_seconds:6.1f} s   peak RSS {reading.peak_gb:.2f} GB")
        print(f"build features:     {build_seconds:6.1f} s   peak RSS {building.peak_gb:.2f} GB   "
              f"({len(features):,} rows x {features.shape[1] - 2} features)")
        print(f"peak RSS <= {TARGET_PEAK_RSS_GB:.0f} GB: {'met' if peak <= TARGET_PEAK_RSS_GB else 'MISSED'} ({peak:.2f} GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
