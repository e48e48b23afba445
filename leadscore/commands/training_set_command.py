"""``leadscore training-set``: labeled point-in-time snapshots for one target, with a reconciled summary.

Snapshots of every lead at each offset after capture (:func:`leadscore.features.building.labels.build_training_set`);
censored rows, leads already past the target and snapshots after the data's end are left out and
counted per offset, so the summary accounts for every candidate.
"""

from __future__ import annotations

import argparse
import sys

from leadscore.features.errors import LeadscoreError


def parse_offsets(text: str) -> list[int]:
    """``"0,7,14"`` -> ``[0, 7, 14]``; ``LeadscoreError`` naming the bad part otherwise."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    offsets = []
    for part in parts:
        if not part.isdigit():
            raise LeadscoreError(f"--offsets takes whole days separated by commas, e.g. 0,7,14,30,60; {part!r} is not one.")
        offsets.append(int(part))
    if not offsets:
        raise LeadscoreError("--offsets is empty; give whole days separated by commas, e.g. 0,7,14,30,60.")
    return offsets


def run(args: argparse.Namespace) -> int:
    from leadscore.features.building.labels import DEFAULT_HORIZON_DAYS, build_training_set
    from leadscore.features.frames_io import check_output, write_frame
    from leadscore.features.reading.validation import load_tables
    from leadscore.inputs import command_inputs

    check_output(args.out, inputs=command_inputs(args))
    offsets = parse_offsets(args.offsets)
    tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    rows, summary = build_training_set(tables, args.target, offsets, args.horizon_days)
    write_frame(rows, args.out)

    horizon = args.horizon_days or DEFAULT_HORIZON_DAYS[args.target]
    total = summary.iloc[-1]
    lines = [
        f"training set {args.target}: horizon {horizon} days, offsets {','.join(map(str, sorted(offsets)))} days, "
        f"data end {tables.data_end:%Y-%m-%d %H:%M} UTC",
        f"rows written: {int(total['n_rows']):,} ({int(total['n_positive']):,} positive) -> {args.out}",
        summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
