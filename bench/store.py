"""Benchmark: the score store on 1M leads: writing a run, splitting every re-scored lead's change, ``changes``.

Run ``python bench/store.py`` (``--leads`` / ``--events`` to scale). Steps:

1. In a child process: SQO and WON models trained and registered as ``bench/score.py`` does.
2. Contract-shaped tables for ``--leads`` leads (``bench_features``'s generator); the first run scores the
   export cut ``--days`` before its end (:func:`leadscore.features.pit.cut_frames`), the second the whole
   export at its end, both every lead with the scorer's ``on_explained`` hook, each then recorded into a
   fresh DuckDB store (``record_run``), timed stage by stage: ``identify`` (the export's fingerprint),
   ``previous`` (reading the leads' earlier scores), ``split`` (recomputing them on the cut export: the
   data / time / model parts) and ``write`` (the transaction).
3. ``changes`` over the two runs (each lead's latest score against its previous), with ``--min-change``
   0.05 and 0, timed; the store's size per lead.

Targets (issue 20): writing adds at most 15% to ``score``'s time; ``changes`` over 1M leads within 60 s.
The split is reported apart: it recomputes every re-scored lead's features twice on the cut export.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_WRITE_SHARE = 0.15
TARGET_CHANGES_SECONDS = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--train-leads", type=int, default=20_000, help="demo leads the models are trained on")
    parser.add_argument("--days", type=int, default=7, help="days between the two runs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    from leadscore.tracking import quiet_mlflow

    quiet_mlflow()
    with tempfile.TemporaryDirectory(prefix="leadscore-bench-store-") as tmp:
        tmp_path = Path(tmp)
        print(f"training SQO and WON models on {args.train_leads:,} demo leads (child process) ...", file=sys.stderr,
              flush=True)
        child = subprocess.run([sys.executable, str(ROOT / "bench" / "score.py"), "--_train-into", str(tmp_path),
                                "--train-leads", str(args.train_leads), "--seed", str(args.seed)],
                               check=True, capture_output=True, text=True)
        trained = json.loads(child.stdout.strip().splitlines()[-1])
        return run_bench(args, trained, tmp_path)


def run_bench(args: argparse.Namespace, trained: dict, tmp_path: Path) -> int:
    import mlflow
    import pandas as pd
    from bench_features import PeakRss, make_bench_tables

    from leadscore.features.pit import cut_frames
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.history.changes import find_changes
    from leadscore.serving.history.recording import ExplainedRows, current_setup, model_uri, record_run
    from leadscore.serving.history.store import open_store
    from leadscore.serving.loading import load_scoring_model
    from leadscore.serving.score import score_leads

    print(f"making {args.leads:,} leads with {args.events:,} events ...", file=sys.stderr, flush=True)
    tables = make_bench_tables(args.leads, args.events, args.seed)
    t1 = tables.data_end - pd.Timedelta(days=args.days)
    names = ("leads", "accounts", "technographics", "events", "stage_history", "opportunities", "spend")
    first = dataclasses.replace(tables, **cut_frames({n: tables.table(n) for n in names}, t1), data_end=t1)
    mlflow.set_tracking_uri(trained["uri"])
    mlflow.set_registry_uri(trained["uri"])
    sqo = load_scoring_model("models:/leadscore-sqo@champion", target="sqo")
    won = load_scoring_model("models:/leadscore-won@champion", target="won")
    rules = load_rules(None)
    setup = current_setup(sqo, won, rules)
    store_path = tmp_path / "leadscore-scores.duckdb"
    score_leads(tables, sqo, won, rules, leads=pd.DataFrame({"lead_id": tables.leads["lead_id"].iloc[:200]}),
                progress=False)  # warm-up: numba's JIT

    results = []
    for label, export in (("first run", first), ("second run", tables)):
        print(f"{label}: scoring {len(export.leads):,} leads ...", file=sys.stderr, flush=True)
        gc.collect()
        explained = ExplainedRows(sqo)
        with PeakRss() as rss:
            started = time.perf_counter()
            scores, counts = score_leads(export, sqo, won, rules, progress=False, on_explained=explained)
            score_seconds = time.perf_counter() - started
            print(f"{label}: recording ...", file=sys.stderr, flush=True)
            size_before = store_path.stat().st_size if store_path.exists() else 0
            started = time.perf_counter()
            with open_store(str(store_path)) as store:
                recorded = record_run(store, export, scores, explained, setup, sqo.grade_cuts,
                                      pd.Timestamp.now(tz="UTC"), lambda n, v: load_scoring_model(model_uri(n, v)))
            record_seconds = time.perf_counter() - started
        size_after = store_path.stat().st_size
        results.append((label, counts.n_out, score_seconds, record_seconds, recorded, size_after - size_before,
                        rss.peak_gb))
        del scores, explained
    with open_store(str(store_path), read_only=True) as store:
        started = time.perf_counter()
        moved = find_changes(store, min_change=0.05)
        changes_seconds = time.perf_counter() - started
        started = time.perf_counter()
        everyone = find_changes(store, min_change=0.0)
        changes_all_seconds = time.perf_counter() - started

    lines = [f"\n{args.leads:,} leads, {len(tables.events):,} events, {os.cpu_count()} cores, runs {args.days} days apart "
             f"(machine load average {os.getloadavg()[0]:.1f}: other work on the cores slows every figure)"]
    worst_share = 0.0
    for label, n, score_seconds, record_seconds, recorded, size, peak in results:
        s = recorded.seconds
        write = s.get("identify", 0.0) + s.get("write", 0.0)
        share = write / score_seconds
        worst_share = max(worst_share, share)
        lines += [
            f"{label}: score {score_seconds:.1f} s ({n / score_seconds:,.0f} leads/s); store {record_seconds:.1f} s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in s.items()),
            f"  writing (fingerprint + transaction) {write:.1f} s = {n / max(s.get('write', 1e-9), 1e-9):,.0f} rows/s "
            f"written, {share:.1%} of the score's time; {size / n:,.0f} bytes per lead on disk; peak RSS {peak:.2f} GB",
        ]
        if recorded.n_changed:
            lines.append(f"  change split for {recorded.n_changed:,} re-scored leads: {s.get('split', 0.0):.1f} s "
                         f"({s.get('split', 0.0) / score_seconds:.0%} of the score's time)")
    lines += [
        f"changes over the two runs: {changes_seconds:.1f} s ({len(moved):,} leads moved by 0.05 or more); "
        f"with --min-change 0: {changes_all_seconds:.1f} s ({len(everyone):,} leads)",
        "",
        f"target: writing adds <= {TARGET_WRITE_SHARE:.0%} to score's time: "
        f"{'met' if worst_share <= TARGET_WRITE_SHARE else 'MISSED'} ({worst_share:.1%}); changes over "
        f"{args.leads:,} leads <= {TARGET_CHANGES_SECONDS:.0f} s: "
        f"{'met' if max(changes_seconds, changes_all_seconds) <= TARGET_CHANGES_SECONDS else 'MISSED'}",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
