"""``leadscore demo``: the whole product on generated data, the way a newcomer first meets it.

generate → validate → funnel summary → train (SQO and WON) → score the newest MCLs → report. The data,
scores and report land in one work folder; the models go where every other command looks for them (the
MLflow store of :mod:`leadscore.tracking`: ``MLFLOW_TRACKING_URI``, else ``./mlflow.db``), so the
README's next commands (``leadscore score``, ``serve``, ``promote``, ``mlflow ui``) find them with no
set-up. Every path is printed at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

NEW_MCL_DAYS = 14
TOP_LEADS = 10


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def _said(reasons: object) -> str:
    """A lead's reasons for the console; an empty list reads as words, not as a blank."""
    return reasons if isinstance(reasons, str) and reasons else "nothing stands out"


def _done(started: float) -> None:
    print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from leadscore.features.frames_io import check_output
    from leadscore.features.funnel import format_funnel, summarize_funnel
    from leadscore.features.reading.validation import format_findings, read_export
    from leadscore.features.remote import redact
    from leadscore.features.synthetic.demo import generate_demo, write_export
    from leadscore.tracking import configure_tracking

    workdir = check_output(Path(args.workdir).resolve(), folder=True)
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    local_store = os.environ.get("MLFLOW_TRACKING_URI") is None  # read first: setting the URI exports it
    uri = configure_tracking()  # the store every command uses, not one of the demo's own
    started_all = time.perf_counter()

    t = _step(f"1/6 generate {args.leads:,} demo leads (seed {args.seed}) -> {data_dir}")
    frames, truth = generate_demo(args.leads, args.seed)
    write_export(frames, truth, data_dir, "parquet")
    _done(t)

    t = _step("2/6 validate the export against the data contract")
    tables, findings = read_export(data_dir)
    print(format_findings(findings))
    if any(f.severity == "error" for f in findings):
        print("The demo data failed validation; this is a bug in leadscore, please report it.")
        return 1
    _done(t)

    t = _step("3/6 funnel summary (leads reaching each stage, like the worked example)")
    print(format_funnel(summarize_funnel(tables.leads, tables.stage_history)))
    _done(t)

    from leadscore.training.config import load_config
    from leadscore.training.pipeline import train_model

    versions = {}
    for target in ("sqo", "won"):
        t = _step(f"4/6 train the {target.upper()} model (LightGBM and logistic regression, the better one calibrated and tracked in MLflow)")
        result = train_model(tables, target, load_config(None), experiment=f"leadscore-{target}")
        print(result.summary())
        versions[target] = result
        _done(t)

    from leadscore.features.frames_io import write_frame
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.loading import load_scoring_model
    from leadscore.serving.score import score_leads, top_leads

    t = _step(f"5/6 score the MCLs captured in the last {NEW_MCL_DAYS} days")
    since = tables.data_end - pd.Timedelta(days=NEW_MCL_DAYS)
    models = {}
    for target, result in versions.items():
        # A version that failed a gate gets no alias; the demo still shows it, and says so.
        model_uri = (
            f"models:/{result.model_name}@champion"
            if result.alias == "champion"
            else f"models:/{result.model_name}/{result.model_version}"
        )
        if result.alias is None:
            print(f"   note: {result.model_name} v{result.model_version} did not pass its gates; scoring with it anyway")
        models[target] = load_scoring_model(model_uri)
    sqo_model, won_model = models["sqo"], models["won"]
    scores, counts = score_leads(tables, sqo_model, won_model, load_rules(None), since=since)
    scores_path = write_frame(scores, workdir / "scores.csv")
    print(counts.summary())
    top = top_leads(scores, TOP_LEADS)
    for row in top.itertuples(index=False):
        print(
            f"  {row.lead_id}: p_sqo {row.p_sqo:.1%} (score {row.score}, grade {row.grade}) | rules "
            f"{row.rule_score:.0f} pts, {row.rule_grade}, {row.rule_stage}\n"
            f"      why: {_said(row.reasons_positive)}\n"
            f"      against: {_said(row.reasons_negative)}"
        )
    _done(t)

    from leadscore.serving.report.page import write_report

    t = _step("6/6 marketing report (funnel KPIs, model against rules)")
    report_path = write_report(tables, workdir / "report.html", scores=scores, sqo_model=sqo_model)
    _done(t)

    print(f"\nDone in {time.perf_counter() - started_all:.0f} s. Outputs:")
    print(f"  data:    {data_dir}")
    print(f"  scores:  {scores_path}")
    print(f"  report:  {report_path}")
    print(f"  models:  {redact(uri)}  (leadscore-sqo v{versions['sqo'].model_version}, "
          f"leadscore-won v{versions['won'].model_version}; every command reads them from here)")
    if local_store:
        print("  browse:  mlflow ui --backend-store-uri sqlite:///mlflow.db")
    print(f"Next: leadscore score {_shown(data_dir)} --out scores.csv --since 14d")
    return 0


def _shown(path: Path) -> str:
    """``path`` as the user would type it from here (relative when it lies below the working directory)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
