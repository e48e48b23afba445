"""Benchmark: the batch scorer with exact SHAP reasons and rule points, from 100k to millions of leads.

Run ``python bench/score.py`` (``--leads 100000,1000000`` for several sizes in one run, ``--events-per-lead``
to scale the events). Steps:

1. In a child process (its memory does not count): generate a demo export, build SQO and WON training
   sets, train LightGBM with the shipped training defaults (``training/default_config.yaml``: 15 leaves,
   depth 5) for the full ``max_trees`` (no early stopping: the slowest model those defaults allow), log
   both exactly as training does and register them in a temporary MLflow store.
2. Per size: contract-shaped tables (``bench_features``'s fast numpy generator; ``--compact`` makes the
   events' text columns categoricals, as a dictionary-encoded Parquet export reads, for sizes that would
   not fit otherwise), the models loaded through MLflow, then timed with peak RSS sampled every 50 ms:
   ``write_scores`` for every lead at the data's end, written to Parquet chunk by chunk, stage by stage;
   and, in the same process on the same events, a DuckDB aggregation of them (counts per lead over three
   windows at the data's end): the floor any per-lead computation over these events pays.
3. With ``--explainers``, on a sample of the same leads and SQO model: ``shap.TreeExplainer.shap_values``,
   LightGBM's ``pred_contrib`` and the scorer's compiled TreeSHAP, timed, checked equal, extrapolated.

Reported per size: leads/s end to end, the seconds per stage, peak RSS, the ratio to the DuckDB floor;
across sizes, the time ratio for each step up in leads (linear: the same as the leads ratio).

Targets (issue 23) on 2 cores: 1M leads with exact reasons and rules in at most 45 s at a peak RSS of at most
3 GB; 4x the leads in at most 4.4x the time from 100k to 4M.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_SECONDS_1M = 45.0
TARGET_PEAK_RSS_GB_1M = 3.0
TARGET_TIME_PER_4X = 4.4


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train_models(store: Path, n_leads: int, seed: int, kind: str = "lightgbm") -> dict:
    """Child-process step: train and register SQO and WON models of ``kind`` with the training defaults."""
    import lightgbm as lgb
    import mlflow
    import numpy as np
    from mlflow import MlflowClient

    from leadscore.features.building.catalogue import CATALOGUE, catalogue_hash
    from leadscore.features.building.labels import build_training_set
    from leadscore.features.synthetic.demo import DATA_END, generate_demo
    from leadscore.features.tables import make_tables
    from leadscore.scorers.model.artifacts import LeadscoreModel
    from leadscore.scorers.model.encoding import encode_features
    from leadscore.training.config import load_config
    from leadscore.training.fit import fit_logistic, fix_feature_spec, lightgbm_params
    from leadscore.training.spec import derive_grade_cuts
    from leadscore.training.tracking import log_model

    config = load_config(None)
    frames, _ = generate_demo(n_leads, seed)
    tables = make_tables(frames, data_end=DATA_END)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("leadscore-bench-score")
    shapes = {}
    for target in ("sqo", "won"):
        rows, _ = build_training_set(tables, target, config.training_set.offsets_days)
        if target == "won":  # the chain's second link: q = P(win | SQO), as training makes it
            rows = rows[rows["reached_sqo"] == 1].reset_index(drop=True)
        spec_features = fix_feature_spec(rows, [{"name": s.name, "kind": s.kind, "group": s.group, "story": s.story}
                                                for s in CATALOGUE])
        spec = {"target": target, "features": spec_features, "catalogue_hash": catalogue_hash(),
                "horizon_days": 90 if target == "sqo" else 180}
        if target == "won":
            spec["chain"] = {"given": "sqo", "sqo_horizon_days": 90, "covers_past_sqo": True, "q": "model"}
        if kind == "logistic":
            linear = fit_logistic(rows, spec_features, config.logistic)
            margin = linear.margin(linear.encode(rows))
            model = LeadscoreModel(spec=spec, calibration={"method": "none"}, linear=linear)
            shapes[target] = {"kind": kind, "n_columns": linear.n_columns, "n_training_rows": len(rows)}
        else:
            encoded = encode_features(rows, spec_features)
            params = lightgbm_params(config.lightgbm, len(rows), config.seed)
            booster = lgb.train(params, lgb.Dataset(encoded, label=rows["label"].to_numpy()),
                                num_boost_round=config.lightgbm.max_trees)
            margin = booster.predict(encoded, raw_score=True)
            model = LeadscoreModel(spec=spec, calibration={"method": "none"}, booster=booster)
            shapes[target] = {"kind": kind, "n_trees": booster.num_trees(), "n_training_rows": len(rows),
                              "num_leaves": params["num_leaves"], "max_depth": params["max_depth"]}
        spec["grade_cuts"] = derive_grade_cuts(1 / (1 + np.exp(-margin)), config.grades)
        with mlflow.start_run():
            info = log_model(model, registered_model_name=f"leadscore-{target}")
        MlflowClient().set_registered_model_alias(f"leadscore-{target}", "champion", info.registered_model_version)
    return {"uri": uri, "shapes": shapes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", default="1000000", help="lead counts, comma-separated (default 1000000)")
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--compact", action="store_true", help="categorical event columns (for millions of leads)")
    parser.add_argument("--train-leads", type=int, default=20_000, help="demo leads the models are trained on")
    parser.add_argument("--explainers", action="store_true", help="compare with shap and pred_contrib on a sample")
    parser.add_argument("--shap-sample", type=int, default=10_000, help="leads explained by shap for the reference")
    parser.add_argument("--chunk-size", type=int, default=None, help="default: the scorer's")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kind", choices=("lightgbm", "logistic"), default="lightgbm", help="the models' kind")
    parser.add_argument("--_train-into", dest="train_into", help=argparse.SUPPRESS)
    parser.add_argument("--_trained", dest="trained", help=argparse.SUPPRESS)  # a previous child's JSON: reuse
    args = parser.parse_args(argv)
    from leadscore.tracking import quiet_mlflow

    quiet_mlflow()  # as the commands are: no artifact download bars among the figures
    if args.train_into:
        sys.stdout.write(json.dumps(train_models(Path(args.train_into), args.train_leads, args.seed, args.kind)) + "\n")
        return 0

    with tempfile.TemporaryDirectory(prefix="leadscore-bench-score-") as tmp:
        tmp_path = Path(tmp)
        if args.trained:
            trained = json.loads(Path(args.trained).read_text())
        else:
            print(f"training {args.kind} SQO and WON models on {args.train_leads:,} demo leads (child process) ...",
                  file=sys.stderr, flush=True)
            started = time.perf_counter()
            child = subprocess.run([sys.executable, __file__, "--_train-into", str(tmp_path), "--train-leads",
                                    str(args.train_leads), "--seed", str(args.seed), "--kind", args.kind],
                                   check=True, capture_output=True, text=True)
            trained = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"  done in {time.perf_counter() - started:.0f} s: {trained['shapes']}", file=sys.stderr, flush=True)
        return run_bench(args, trained, tmp_path)


def duckdb_floor(tables, data_end_ns: int) -> float:
    """Seconds DuckDB takes to aggregate every event per lead over 7, 30 and 90 days up to the data's end."""
    import duckdb
    import pyarrow as pa

    from leadscore.features.timestamps import to_epoch_ns

    events = tables.events
    frame = pa.table({
        "lead_id": pa.array(events["lead_id"].array) if events["lead_id"].dtype == "str" else
        pa.array(events["lead_id"].cat.codes.to_numpy()),
        "t": to_epoch_ns(events["occurred_at"]).to_numpy(dtype="int64", na_value=0),
        "event_type": pa.array(events["event_type"].astype("str").array) if events["event_type"].dtype == "str" else
        pa.array(events["event_type"].cat.codes.to_numpy()),
    })
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        con.register("events", frame)
        day = 86_400 * 10**9
        started = time.perf_counter()
        con.sql(
            f"SELECT lead_id, count(*) FILTER (WHERE t > {data_end_ns - 7 * day}) AS n7, "
            f"count(*) FILTER (WHERE t > {data_end_ns - 30 * day}) AS n30, "
            f"count(*) FILTER (WHERE t > {data_end_ns - 90 * day}) AS n90, count(DISTINCT event_type) AS types, "
            f"max(t) AS last FROM events WHERE t <= {data_end_ns} GROUP BY lead_id"
        ).to_arrow_table()
        return time.perf_counter() - started
    finally:
        con.close()


def run_bench(args: argparse.Namespace, trained: dict, tmp_path: Path) -> int:
    import mlflow
    import pandas as pd
    from bench_features import PeakRss, _rss_bytes, make_bench_tables

    from leadscore.scorers.rules import load_rules
    from leadscore.serving.loading import load_scoring_model
    from leadscore.serving.score import DEFAULT_CHUNK_SIZE, score_leads, write_scores

    mlflow.set_tracking_uri(trained["uri"])
    mlflow.set_registry_uri(trained["uri"])
    sqo = load_scoring_model("models:/leadscore-sqo@champion", target="sqo")
    won = load_scoring_model("models:/leadscore-won@champion", target="won")
    rules = load_rules(None)
    chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    sizes = [int(n) for n in str(args.leads).split(",")]
    results = []
    for n_leads in sizes:
        n_events = n_leads * args.events_per_lead
        print(f"making {n_leads:,} leads with {n_events:,} events ...", file=sys.stderr, flush=True)
        gc.collect()
        tables = make_bench_tables(n_leads, n_events, args.seed, compact=args.compact)
        # Warm-up outside the timing: numba's compiled code, serial and parallel, loads from its cache
        # (is compiled, on a first run).
        started = time.perf_counter()
        for few in (200, 5_000):
            score_leads(tables, sqo, won, rules, leads=pd.DataFrame({"lead_id": tables.leads["lead_id"].iloc[:few]}),
                        progress=False)
        warm_seconds = time.perf_counter() - started
        floor_seconds = duckdb_floor(tables, tables.data_end.as_unit("ns").value)
        gc.collect()
        baseline_gb = _rss_bytes() / 1e9
        print(f"scoring every lead at the data's end (DuckDB floor {floor_seconds:.1f} s) ...", file=sys.stderr,
              flush=True)
        out = tmp_path / "scores.parquet"
        load_before = os.getloadavg()[0]
        cpu_before = _cpu_seconds()
        with PeakRss() as rss:
            started = time.perf_counter()
            _, counts, _ = write_scores(tables, sqo, won, rules, out, chunk_size=chunk_size, progress=False)
            total = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
        seconds = dict(counts.seconds)
        n = counts.n_out
        example = pd.read_parquet(out, columns=["lead_id", "p_sqo", "grade", "reasons", "status"])
        example = example[example["status"] == "ok"].sort_values("p_sqo", ascending=False).iloc[0]
        staged = sum(v for k, v in seconds.items() if k != "total")
        lines = [
            f"\n{n_leads:,} leads, {n_events:,} events{' (categorical text columns)' if args.compact else ''}, "
            f"{os.cpu_count()} cores, chunks of {chunk_size:,}; warm-up {warm_seconds:.1f} s",
            f"end to end (stage the export, features, p_sqo + exact reasons, p_win, rules, Parquet written chunk by "
            f"chunk): {total:.1f} s = {n / total:,.0f} leads/s; {counts.summary()}",
            "seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items() if k != "total")
            + f", other (request, writing) {total - staged:.1f}",
            f"peak RSS while scoring: {rss.peak_gb:.2f} GB (the tables alone: {baseline_gb:.2f} GB)",
            f"DuckDB aggregation of the same events, same process: {floor_seconds:.1f} s; the scorer takes "
            f"x{total / floor_seconds:.1f} of it",
            f"CPU time of this process: {cpu:.0f} s; machine load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after (other work on the 2 cores slows the wall figures)",
            f"example: {example['lead_id']} p_sqo {example['p_sqo']:.1%} grade {example['grade']}: {example['reasons']}",
        ]
        if n_leads == 1_000_000:
            lines.append(f"targets at 1M: <= {TARGET_SECONDS_1M:.0f} s: {'met' if total <= TARGET_SECONDS_1M else 'MISSED'}; "
                         f"peak RSS <= {TARGET_PEAK_RSS_GB_1M:.0f} GB: "
                         f"{'met' if rss.peak_gb <= TARGET_PEAK_RSS_GB_1M else 'MISSED'}")
        print("\n".join(lines), flush=True)
        results.append({"leads": n_leads, "seconds": round(total, 2), "leads_per_second": round(n / total),
                        "peak_rss_gb": round(rss.peak_gb, 2), "tables_gb": round(baseline_gb, 2),
                        "duckdb_floor_seconds": round(floor_seconds, 2), "floor_ratio": round(total / floor_seconds, 1),
                        "stages": {k: round(v, 1) for k, v in seconds.items()}})
        if args.explainers and args.kind == "lightgbm":
            print("\n".join(explainer_comparison(args, tables, sqo, n, trained["shapes"])))
        del tables, example
    if len(results) > 1:
        print("\nscaling:")
        for a, b in zip(results, results[1:], strict=False):
            leads_ratio = b["leads"] / a["leads"]
            time_ratio = b["seconds"] / a["seconds"]
            per_4x = time_ratio ** (np.log(4) / np.log(leads_ratio))
            print(f"  {a['leads']:,} -> {b['leads']:,} leads (x{leads_ratio:g}): time x{time_ratio:.2f}, i.e. "
                  f"x{per_4x:.2f} per 4x the leads (target <= {TARGET_TIME_PER_4X})")
    print(json.dumps(results))
    return 0


def explainer_comparison(args: argparse.Namespace, tables, sqo, n: int, shapes: dict) -> list[str]:
    """The model line, then shap's TreeExplainer, LightGBM's pred_contrib and ours on a sample of leads."""
    import numpy as np
    import pandas as pd
    import shap

    from leadscore.features.building.builder import build_features
    from leadscore.features.building.spine import make_spine
    from leadscore.scorers.model.contributions import booster_matrix, explain_margin

    sample_spine, _ = make_spine(tables, leads=pd.DataFrame({"lead_id": tables.leads["lead_id"].iloc[:args.shap_sample]}))
    encoded = sqo.encode(build_features(tables, sample_spine))
    started = time.perf_counter()
    explainer = shap.TreeExplainer(sqo.booster)
    shap_values = explainer.shap_values(encoded)
    shap_seconds = time.perf_counter() - started
    shap_values = shap_values[1] if isinstance(shap_values, list) else shap_values
    matrix = booster_matrix(sqo.booster, encoded)
    started = time.perf_counter()
    sqo.booster.predict(matrix, pred_contrib=True)
    lightgbm_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = explain_margin(sqo.model, encoded, check=False)
    ours_seconds = time.perf_counter() - started
    max_diff = float(np.max(np.abs(ours.values - shap_values)))
    m = len(encoded)
    return [
        f"SQO model: {shapes['sqo']['n_trees']} trees x {shapes['sqo']['num_leaves']} leaves, max_depth "
        f"{shapes['sqo']['max_depth']} (training defaults, no early stopping); WON: {shapes['won']['n_trees']} trees",
        "",
        f"exact SHAP on {m:,} leads of the same model ({ours.method}): ours {m / ours_seconds:,.0f} leads/s, "
        f"LightGBM pred_contrib {m / lightgbm_seconds:,.0f} leads/s, shap TreeExplainer {m / shap_seconds:,.0f} leads/s",
        f"  extrapolated to {n:,} leads: ours {n * ours_seconds / m:.0f} s, pred_contrib {n * lightgbm_seconds / m:.0f} s, "
        f"shap {n * shap_seconds / m:.0f} s; max |ours - shap| = {max_diff:.2e}",
    ]

if __name__ == "__main__":
    sys.exit(main())
