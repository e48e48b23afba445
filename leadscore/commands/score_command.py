"""``leadscore score DATA --out FILE``: calibrated probabilities, reasons in words and rule points per lead.

Loads the registered SQO and WON models from the MLflow store (``leadscore.tracking``), reads the export,
scores every requested lead (all leads at the data's end by default, ``--since`` the new MCLs, ``--leads``
a file of lead_id and optional per-lead as_of), writes one row per requested lead (chunk by chunk, the
file appearing whole at the end) and prints how the counts reconcile. Every run is also kept in the score
store (``--store``, ``LEADSCORE_STORE``, else ``./leadscore-scores.duckdb``; ``--no-store`` skips it) with
each re-scored lead's change since its previous stored score split into data, time and model
(:mod:`leadscore.serving.history`).
"""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)

DEFAULT_WON_URI = "models:/leadscore-won@champion"


def own_column_lines(shares: dict[str, tuple[float, float]]) -> list[str]:
    """The export's own columns the models use, with how often a value was missing or new at scoring."""
    if not shares:
        return []
    listed = "; ".join(
        f"{column} {missing:.0%} missing" + (f", {unseen:.0%} new values" if unseen else "")
        for column, (missing, unseen) in shares.items()
    )
    return [f"export columns the models use: {listed}"]


def horizon_lines(sqo_model, won_model) -> list[str]:
    """What p_sqo and p_win mean: their horizons, the chain, and who gets a p_win."""
    from leadscore.features.building.labels import DEFAULT_HORIZON_DAYS

    sqo_days = sqo_model.spec.get("horizon_days", DEFAULT_HORIZON_DAYS["sqo"])
    lines = [f"p_sqo: the chance of reaching SQO within {sqo_days} days of as_of"]
    if won_model is None:
        return lines
    from leadscore.scorers.model.answer import covers_past_sqo

    chain = won_model.model.chain or {}
    won_days = won_model.spec.get("horizon_days", DEFAULT_HORIZON_DAYS["won"])
    if chain.get("q") == "constant":
        lines.append(f"p_win = p_sqo: in this export every SQO is a win ({chain.get('why', 'q is 1')}), so p_win is "
                     f"the chance of a win within {min(int(won_days), int(chain.get('sqo_horizon_days', sqo_days)))} days")
    else:
        lines.append(f"p_win = p_sqo x P(win within {won_days} days | SQO within {chain.get('sqo_horizon_days', sqo_days)} "
                     "days): never above p_sqo")
    lines.append("leads already at SQO: " + ("p_win is their chance of winning (q calibrated on open opportunities)"
                                             if covers_past_sqo(won_model.model)
                                             else "no p_win (the WON model is not calibrated for leads past SQO)"))
    return lines


def _store_run(target, tables, scores, explained, sqo_model, won_model, rules_config, grade_cuts, started_at) -> str:
    """Keep the run in the score store; the line the command prints about it."""
    from leadscore.serving.history.recording import current_setup, model_uri, record_run
    from leadscore.serving.history.store import open_store
    from leadscore.serving.loading import load_scoring_model

    cuts = grade_cuts if grade_cuts is not None else sqo_model.grade_cuts
    with open_store(target) as store:
        recorded = record_run(store, tables, scores, explained, current_setup(sqo_model, won_model, rules_config),
                              cuts, started_at, lambda name, version: load_scoring_model(model_uri(name, version)))
    return recorded.summary()


def fill_jump_lines(jumps: dict[str, tuple[float, float]]) -> list[str]:
    """The export's own columns whose fill rate at scoring is far from training's, and what that may mean."""
    return [
        f"fill rate changed: {column} has a value for {now:.0%} of the leads scored but had one for {trained:.0%} "
        "of the leads the model trained on (at capture). A field written after capture is blank for new leads, so "
        "their scores lean on a value they do not have yet: check when it is filled in, and if it is written later, "
        "take it out of features.known_at_capture in the mapping file and retrain."
        for column, (trained, now) in jumps.items()
    ]


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from leadscore.features.errors import LeadscoreError
    from leadscore.features.frames_io import check_output, read_frame
    from leadscore.features.reading.validation import load_tables
    from leadscore.features.timestamps import to_moment
    from leadscore.inputs import command_inputs
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.loading import check_chain, load_scoring_model
    from leadscore.serving.score import parse_grade_points, write_scores
    from leadscore.tracking import configure_tracking

    started_at = pd.Timestamp.now(tz="UTC")
    # Check what the user typed before the slow steps.
    check_output(args.out, inputs=command_inputs(args))
    store_target = None
    if not args.no_store:
        from leadscore.serving.history.store import check_store_target, is_postgres, open_store
        from leadscore.serving.history.store import store_target as pick_store

        store_target = pick_store(args.store)
        check_store_target(store_target, [args.out, args.data, args.leads, args.rules, args.mapping])
        if is_postgres(store_target):  # reachable, and its tables made, before the slow steps
            open_store(store_target).close()
    grade_cuts = parse_grade_points(args.grades) if args.grades else None
    rules_config = load_rules(args.rules)
    request = read_frame(args.leads) if args.leads else None
    if request is not None and args.since:
        raise LeadscoreError("--since and --leads cannot be combined: filter the leads file instead.")

    store = configure_tracking()
    log.info("models from the MLflow store %s", store)
    sqo_model = load_scoring_model(args.model_sqo, target="sqo")
    try:
        won_model = load_scoring_model(args.model_won, target="won")
        check_chain(sqo_model, won_model)
    except LeadscoreError as exc:
        # The WON model is optional when the user did not ask for one: score, leaving p_win empty.
        if args.model_won != DEFAULT_WON_URI:
            raise
        log.warning("%s Scoring without it: p_win stays empty.", exc)
        won_model = None
    tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    as_of = to_moment(args.as_of, "--as-of", tables.data_end, tables.date_order) if args.as_of else None
    since = to_moment(args.since, "--since", tables.data_end, tables.date_order) if args.since else None
    explained = None
    if store_target is not None:
        from leadscore.serving.history.recording import ExplainedRows

        explained = ExplainedRows(sqo_model)
    path, counts, scores = write_scores(
        tables, sqo_model, won_model, rules_config, args.out,
        as_of=as_of, leads=request, since=since, grade_cuts=grade_cuts, on_explained=explained,
        keep=store_target is not None,
    )
    stored = None
    if store_target is not None:
        stored = _store_run(store_target, tables, scores, explained, sqo_model, won_model, rules_config,
                            grade_cuts, started_at)
    won_text = f"{won_model.name} v{won_model.version} (p_win)" if won_model else "no WON model (p_win empty)"
    lines = [
        counts.summary(),
        f"models: {sqo_model.name} v{sqo_model.version} (p_sqo, score, grade, reasons), " + won_text,
        *horizon_lines(sqo_model, won_model),
        "grades: " + ", ".join(f"{g} {n:,}" for g, n in counts.grades.items()),
        *own_column_lines(counts.own_columns),
        *fill_jump_lines(counts.fill_jumps),
        f"written: {path}",
        *([stored] if stored else []),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
