"""Benchmark: the batch scorer on 1M leads with exact SHAP reasons and rule points, against shap's TreeExplainer.

Run ``python bench/score.py`` (``--leads`` / ``--events`` to scale). Steps:

1. In a child process (its memory does not count): generate a demo export, build SQO and WON training
   sets, train LightGBM with the shipped training defaults (``training/default_config.yaml``: 15 leaves,
   depth 5) for the full ``max_trees`` (no early stopping: the slowest model those defaults allow), log
   both exactly as training does and register them in a temporary MLflow store.
2. Here: contract-shaped tables for ``--leads`` leads and ``--events`` events (``bench_features``'s fast
   numpy generator), the models loaded through MLflow, then timed with peak RSS sampled every 50 ms:
   ``score_leads`` for every lead at the data's end plus the atomic Parquet write, stage by stage.
3. On a sample of the same leads and the same SQO model: ``shap.TreeExplainer.shap_values``, LightGBM's
   ``pred_contrib`` and the scorer's compiled TreeSHAP, timed, checked equal, and extrapolated to all leads.

``--kind logistic`` trains and serves logistic-regression models instead (training picks whichever is
better at capture, so either may serve); step 3, a comparison of tree explainers, is then left out: a
linear model's contributions are exact by construction.

Targets (issue 6): at least 5,000 leads/s end to end including reasons on 2 cores, peak RSS at most 4 GB,
with either model kind serving (issue 13).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_LEADS_PER_SECOND = 5_000
TARGET_PEAK_RSS_GB = 4.0


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
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--train-leads", type=int, default=20_000, help="demo leads the models are trained on")
    parser.add_argument("--shap-sample", type=int, default=10_000, help="leads explained by shap for the reference")
    parser.add_argument("--chunk-size", type=int, default=None, help="default: the scorer's")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kind", choices=("lightgbm", "logistic"), default="lightgbm", help="the models' kind")
    parser.add_argument("--_train-into", dest="train_into", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from leadscore.tracking import quiet_mlflow

    quiet_mlflow()  # as the commands are: no artifact download bars among the figures
    if args.train_into:
        sys.stdout.write(json.dumps(train_models(Path(args.train_into), args.train_leads, args.seed, args.kind)) + "\n")
        return 0

    with tempfile.TemporaryDirectory(prefix="leadscore-bench-score-") as tmp:
        tmp_path = Path(tmp)
        print(f"training {args.kind} SQO and WON models on {args.train_leads:,} demo leads (child process) ...",
              file=sys.stderr, flush=True)
        started = time.perf_counter()
        child = subprocess.run([sys.executable, __file__, "--_train-into", str(tmp_path), "--train-leads",
                                str(args.train_leads), "--seed", str(args.seed), "--kind", args.kind],
                               check=True, capture_output=True, text=True)
        trained = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"  done in {time.perf_counter() - started:.0f} s: {trained['shapes']}", file=sys.stderr, flush=True)
        return run_bench(args, trained, tmp_path)


def run_bench(args: argparse.Namespace, trained: dict, tmp_path: Path) -> int:
    import mlflow
    import pandas as pd
    from bench_features import PeakRss, _rss_bytes, make_bench_tables

    from leadscore.features.frames_io import write_frame
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.loading import load_scoring_model
    from leadscore.serving.score import DEFAULT_CHUNK_SIZE, score_leads

    print(f"making {args.leads:,} leads with {args.events:,} events ...", file=sys.stderr, flush=True)
    tables = make_bench_tables(args.leads, args.events, args.seed)
    mlflow.set_tracking_uri(trained["uri"])
    mlflow.set_registry_uri(trained["uri"])
    sqo = load_scoring_model("models:/leadscore-sqo@champion", target="sqo")
    won = load_scoring_model("models:/leadscore-won@champion", target="won")
    rules = load_rules(None)

    # Warm-up outside the timing: the tables' compilation and numba's JIT (cached on disk after the first run).
    started = time.perf_counter()
    score_leads(tables, sqo, won, rules, leads=pd.DataFrame({"lead_id": tables.leads["lead_id"].iloc[:200]}),
                progress=False)
    warm_seconds = time.perf_counter() - started
    gc.collect()

    chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
    baseline_gb = _rss_bytes() / 1e9
    print("scoring every lead at the data's end ...", file=sys.stderr, flush=True)
    out = tmp_path / "scores.parquet"
    load_before = os.getloadavg()[0]
    cpu_before = _cpu_seconds()
    with PeakRss() as rss:
        started = time.perf_counter()
        scores, counts = score_leads(tables, sqo, won, rules, chunk_size=chunk_size, progress=False)
        scored_at = time.perf_counter()
        write_frame(scores, out)
        total = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    load_after = os.getloadavg()[0]
    seconds = dict(counts.seconds)
    write_seconds = total - (scored_at - started)
    n = counts.n_out
    without_features = total - seconds.get("features", 0.0)
    ok = scores["status"] == "ok"
    print(f"  {counts.summary()}", file=sys.stderr)
    example = scores[ok].sort_values("p_sqo", ascending=False).iloc[0]
    del scores
    gc.collect()

    shapes = trained["shapes"]
    if args.kind == "logistic":
        model_lines = [f"logistic regressions: SQO {shapes['sqo']['n_columns']} encoded columns, WON "
                       f"{shapes['won']['n_columns']}; contributions exact by construction (no explainer to compare)"]
    else:
        model_lines = explainer_comparison(args, tables, sqo, n, shapes)
    lines = [
        f"\n{args.leads:,} leads, {len(tables.events):,} events, {os.cpu_count()} cores, chunks of {chunk_size:,}",
        *model_lines[:1],
        f"warm-up (tables + JIT): {warm_seconds:.1f} s",
        "",
        f"end to end (features, rules, p_sqo + exact reasons, p_win, Parquet write): {total:.1f} s = "
        f"{n / total:,.0f} leads/s",
        f"without feature building: {without_features:.1f} s = {n / without_features:,.0f} leads/s",
        f"CPU time of this process: {cpu:.0f} s ({n / cpu:,.0f} leads per CPU-second); machine load average "
        f"{load_before:.1f} before, {load_after:.1f} after (other work on the 2 cores slows the wall figures)",
        "seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items() if k != "total")
        + f", other (request, chunking, assembly) {seconds['total'] - sum(v for k, v in seconds.items() if k != 'total'):.1f}"
        + f", write {write_seconds:.1f}",
        f"peak RSS while scoring: {rss.peak_gb:.2f} GB (the tables alone: {baseline_gb:.2f} GB)",
        *model_lines[1:],
        "",
        f"example: {example['lead_id']} p_sqo {example['p_sqo']:.1%} grade {example['grade']}: {example['reasons']}",
        "",
        f"target >= {TARGET_LEADS_PER_SECOND:,} leads/s end to end: {'met' if n / total >= TARGET_LEADS_PER_SECOND else 'MISSED'}"
        f"; peak RSS <= {TARGET_PEAK_RSS_GB:.0f} GB: {'met' if rss.peak_gb <= TARGET_PEAK_RSS_GB else 'MISSED'}",
    ]
    print("\n".join(lines))
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
