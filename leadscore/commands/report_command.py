"""``leadscore report``: the marketing report (funnel KPIs, model against rules, latest scores) as HTML.

Section 2 needs a registered SQO model. Without one the report is still written, and section 2 says
how to train one, because the funnel KPIs alone are worth sharing on day one. With a score store
(``--store``) the page adds the model over time: what ``leadscore monitor`` finds there for the SQO model.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from leadscore.features.errors import LeadscoreError

if TYPE_CHECKING:
    from leadscore.serving.loading import ScoringModel
    from leadscore.serving.report.comparison import ModelUnavailable

log = logging.getLogger(__name__)


def _load_sqo_model(uri: str) -> tuple[ScoringModel | None, ModelUnavailable | None]:
    """The SQO model at ``uri``, or ``None`` and what section 2 should say instead (the page words it)."""
    from leadscore.features.remote import redact
    from leadscore.serving.loading import load_scoring_model
    from leadscore.serving.report.comparison import ModelUnavailable
    from leadscore.tracking import configure_tracking, default_tracking_uri

    try:
        # A store that cannot be reached costs the report its model section, not the funnel KPIs.
        configure_tracking()
        return load_scoring_model(uri), None
    except LeadscoreError as exc:
        log.warning("no SQO model for the report's comparison: %s", exc)
        return None, ModelUnavailable(uri=uri, store=redact(default_tracking_uri()), error=redact(exc))


def _monitor(tables, store: str):
    """What ``leadscore monitor`` finds in ``store`` for the SQO model (not logged: the report only reads),
    or None, said on stderr, when the store holds nothing to judge."""
    import sys

    from leadscore.serving.monitor.run import monitor_export

    try:
        return monitor_export(tables, store, "sqo")[0]
    except LeadscoreError as exc:
        sys.stderr.write(f"leadscore report: the Model over time section is left out: {exc}\n")
        return None


def run(args: argparse.Namespace) -> int:
    """Write the report for ``args.data`` to ``args.out`` and print its path."""
    from leadscore.features.frames_io import PAGE_SUFFIXES, check_output, read_frame
    from leadscore.features.reading.validation import load_tables
    from leadscore.features.timestamps import to_moment
    from leadscore.inputs import command_inputs
    from leadscore.serving.report.page import write_report
    from leadscore.serving.report.scores_summary import check_scores

    check_output(args.out, PAGE_SUFFIXES, inputs=command_inputs(args))
    if args.capacity is not None and args.capacity < 1:
        raise LeadscoreError(f"--capacity must be a positive number of leads, not {args.capacity}.")
    rules_config = None
    if args.rules:
        from leadscore.scorers.rules import load_rules

        rules_config = load_rules(args.rules)
    scores = check_scores(read_frame(args.scores), args.scores) if args.scores else None
    tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    as_of = to_moment(args.as_of, "--as-of", tables.data_end, tables.date_order) if args.as_of else None
    if as_of is not None and as_of > tables.data_end:
        raise LeadscoreError(
            f"--as-of {as_of:%Y-%m-%d %H:%M} is after the data's end ({tables.data_end:%Y-%m-%d %H:%M} UTC); "
            "a report can only look back."
        )
    sqo_model, note = _load_sqo_model(args.model_sqo)
    monitor = _monitor(tables, args.store) if args.store else None
    path = write_report(
        tables, args.out, scores=scores, sqo_model=sqo_model, rules_config=rules_config, as_of=as_of,
        capacity=args.capacity, model_note=note, store=args.store, monitor=monitor,
    )
    print(path)  # the command's result goes to stdout
    return 0
