"""``leadscore score DATA --out FILE``: calibrated probabilities, reasons in words and rule points per lead.

Loads the registered SQO and WON models from the MLflow store (``leadscore.tracking``), reads the export,
scores every requested lead (all leads at the data's end by default, ``--since`` the new MCLs, ``--leads``
a file of lead_id and optional per-lead as_of), writes one row per requested lead (chunk by chunk, the
file appearing whole at the end) and prints how the counts reconcile.
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


def run(args: argparse.Namespace) -> int:
    from leadscore.features.errors import LeadscoreError
    from leadscore.features.frames_io import check_output, read_frame
    from leadscore.features.reading.validation import load_tables
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.loading import load_scoring_model
    from leadscore.serving.score import parse_grade_points, write_scores
    from leadscore.tracking import configure_tracking

    # Check what the user typed before the slow steps.
    check_output(args.out)
    grade_cuts = parse_grade_points(args.grades) if args.grades else None
    rules_config = load_rules(args.rules)
    request = read_frame(args.leads) if args.leads else None
    if request is not None and args.since:
        raise LeadscoreError("--since and --leads cannot be combined: filter the leads file instead.")

    store = configure_tracking()
    log.info("MLflow store: %s", store)
    sqo_model = load_scoring_model(args.model_sqo, target="sqo")
    try:
        won_model = load_scoring_model(args.model_won, target="won")
    except LeadscoreError as exc:
        # The WON model is optional when the user did not ask for one: score, leaving p_win empty.
        if args.model_won != DEFAULT_WON_URI:
            raise
        log.warning("%s Scoring without it: p_win stays empty.", exc)
        won_model = None
    tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    path, counts = write_scores(
        tables, sqo_model, won_model, rules_config, args.out,
        as_of=args.as_of, leads=request, since=args.since, grade_cuts=grade_cuts,
    )
    won_text = f"{won_model.name} v{won_model.version} (p_win)" if won_model else "no WON model (p_win empty)"
    lines = [
        counts.summary(),
        f"models: {sqo_model.name} v{sqo_model.version} (p_sqo, score, grade, reasons), " + won_text,
        "grades: " + ", ".join(f"{g} {n:,}" for g, n in counts.grades.items()),
        *own_column_lines(counts.own_columns),
        f"written: {path}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
