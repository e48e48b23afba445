"""Benchmark: `leadscore features --engine spark` in Spark local mode against the local builder, same export.

Run ``python bench/spark_features.py`` (``--leads`` to scale, default 100,000 with 20 events each; needs the
``spark`` extra and Java 17). It writes a contract-shaped export (``bench_features``'s generator) as Parquet
files, then times ``leadscore features EXPORT --out ...`` both ways, every lead at the data's end, each in
a fresh process so neither warms the other; Spark runs ``local[N]`` on ``--cores`` (default: all) and its
start-up is counted, as a user meets it. The rows are checked equal.

Spark does not make one machine faster: it is the way to build features when the events no longer fit in
one machine's memory. This measures what the move costs on one machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

SPARK_RUN = """
import os, sys
from pyspark.sql import SparkSession
os.environ["PYSPARK_PYTHON"] = sys.executable
SparkSession.builder.master(sys.argv[1]).config("spark.ui.enabled", "false").config(
    "spark.sql.shuffle.partitions", sys.argv[2]).config("spark.driver.memory", "4g").getOrCreate()
from leadscore.cli import main
sys.exit(main(sys.argv[3:]))
"""


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    import pandas as pd
    from bench_features import make_bench_tables

    from leadscore.features.frames_io import write_frame

    with tempfile.TemporaryDirectory(prefix="leadscore-bench-spark-") as tmp:
        export = Path(tmp) / "export"
        print(f"writing {args.leads:,} leads with {args.leads * args.events_per_lead:,} events as Parquet ...",
              file=sys.stderr, flush=True)
        tables = make_bench_tables(args.leads, args.leads * args.events_per_lead, args.seed)
        for name in ("leads", "accounts", "technographics", "events", "stage_history", "opportunities"):
            write_frame(tables.table(name), export / f"{name}.parquet")
        data_end = tables.data_end.isoformat()
        del tables
        local_out, spark_out = Path(tmp) / "local.parquet", Path(tmp) / "spark.parquet"
        common = ["features", str(export), "--data-end", data_end]
        print("local builder ...", file=sys.stderr, flush=True)
        local = timed([sys.executable, "-m", "leadscore.cli", *common, "--out", str(local_out)])
        print(f"Spark local[{args.cores}] ...", file=sys.stderr, flush=True)
        spark = timed([sys.executable, "-c", SPARK_RUN, f"local[{args.cores}]", str(2 * args.cores), *common,
                       "--engine", "spark", "--out", str(spark_out)])
        a = pd.read_parquet(local_out).sort_values("lead_id").reset_index(drop=True)
        b = pd.read_parquet(spark_out).sort_values("lead_id").reset_index(drop=True)
        b["as_of"] = pd.to_datetime(b["as_of"], utc=True)
        a["as_of"] = pd.to_datetime(a["as_of"], utc=True)
        same = all(((a[c].isna() & b[c].isna()) | (a[c].astype(object) == b[c].astype(object))).all() for c in a.columns)
        print(f"\n{args.leads:,} leads, {args.leads * args.events_per_lead:,} events, {os.cpu_count()} cores; "
              f"machine load average {os.getloadavg()[0]:.1f}")
        print(f"local builder (leadscore features): {local:.1f} s = {args.leads / local:,.0f} leads/s")
        print(f"Spark local[{args.cores}] (leadscore features --engine spark, start-up included): {spark:.1f} s = "
              f"{args.leads / spark:,.0f} leads/s; x{spark / local:.1f} the local builder")
        print(f"rows identical: {'yes' if same and len(a) == len(b) else 'NO'} ({len(a):,} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
