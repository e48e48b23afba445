"""``leadscore generate``: write a synthetic export, with its truth beside it.

``--shape contract`` (the default) writes the data contract's tables and prints what it wrote and the
funnel of the matured cohort (leads captured at least 180 days before the data's end), which is what the
demo's calibration targets; ``--drift-from YYYY-MM`` changes its world from that month on
(:mod:`leadscore.features.synthetic.drift`), a test bed for ``leadscore monitor``. ``--shape hubspot|converted|deals`` writes a flat export as users bring
them (a contacts file with its own columns and leaks, a Converted flag, deals in their own file) with
the mapping file a user would write beside it (``leadscore.features.synthetic.flat``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from leadscore.inputs import command_inputs


def existing_export(out: str | Path, fmt: str) -> list[str]:
    """The names in ``out`` that make it an export already: tables, a mapping file, the truth; a DuckDB file."""
    from leadscore.features.reading.sources import is_table_file
    from leadscore.features.synthetic.demo import TRUTH_FOLDER, duckdb_path

    out = Path(out)
    if fmt == "duckdb":
        target = duckdb_path(out)
        return [target.name] if target.exists() else []
    if not out.is_dir():
        return []
    return sorted(entry.name for entry in out.iterdir()
                  if is_table_file(entry.name) or entry.name == TRUTH_FOLDER
                  or entry.name.lower().endswith((".yaml", ".yml")))


def refuse_existing_export(out: str | Path, fmt: str, overwrite: bool) -> None:
    """Refuse an ``--out`` that already holds an export (real data, perhaps) unless ``--overwrite`` says so."""
    from leadscore.features.errors import LeadscoreError

    found = existing_export(out, fmt)
    if found and not overwrite:
        listed = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        raise LeadscoreError(f"{out} already holds an export ({listed}); choose another --out, or give --overwrite to "
                             "replace it with generated data.")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from leadscore.features.errors import LeadscoreError
    from leadscore.features.funnel import format_funnel, summarize_funnel
    from leadscore.features.synthetic.demo import (
        DATA_END,
        GENERATE_STEPS,
        MATURED_DAYS,
        TRUTH_FOLDER,
        check_export_target,
        generate_demo,
        write_export,
    )

    if args.leads < 1:
        raise LeadscoreError(f"--leads must be at least 1, not {args.leads}.")
    if args.seed < 0:
        raise LeadscoreError(f"--seed must be zero or more, not {args.seed}.")
    if args.shape != "contract":
        if args.drift_from:
            raise LeadscoreError("--drift-from changes the contract's world: use it with --shape contract.")
        return write_flat(args)
    from leadscore.features.synthetic.drift import WorldChange

    change = WorldChange(args.drift_from) if args.drift_from else None
    args.format = args.format or "parquet"
    check_export_target(args.out, args.format, command_inputs(args))
    refuse_existing_export(args.out, args.format, args.overwrite)
    from leadscore.features.progress import Progress

    started = time.perf_counter()
    with Progress(f"generate --leads {args.leads}", steps=GENERATE_STEPS + 1) as progress:
        frames, truth = generate_demo(args.leads, args.seed, progress, change=change)
        generated = time.perf_counter() - started
        progress.step(f"writing the tables ({args.format}) to {args.out}")
        written = write_export(frames, truth, args.out, args.format)
    total = time.perf_counter() - started

    lines = [
        f"Generated {args.leads:,} demo leads (seed {args.seed}) in {generated:.1f} s; wrote {args.format} in {total - generated:.1f} s.",
        f"Data end: {DATA_END.isoformat()}",
    ]
    if change is not None:
        lines.append(f"Changed world: {change.sentence()}.")
    for name, frame in frames.items():
        lines.append(f"  {name:<15} {len(frame):>12,} rows  {written[name]}")
    lines.append(f"  {'truth':<15} {len(truth):>12,} rows  {written[TRUTH_FOLDER]}  (beside the export, not part of it)")

    leads = frames["leads"]
    matured = leads[leads["captured_at"] <= DATA_END - pd.Timedelta(days=MATURED_DAYS)]
    lines += ["", f"Funnel of the {len(matured):,} leads captured at least {MATURED_DAYS} days before the data end:"]
    lines.append(format_funnel(summarize_funnel(matured, frames["stage_history"])))
    by_channel = summarize_funnel(matured, frames["stage_history"], by="channel")
    sqo = by_channel[by_channel["stage"] == "SQO"].sort_values("pct_of_mcl", ascending=False)
    shares = matured["channel"].value_counts(normalize=True)
    lines += ["", "SQO rate by acquisition channel:"]
    for row in sqo.itertuples(index=False):
        lines.append(f"  {row.channel:<14} {row.pct_of_mcl:5.1f}% of MCL  ({100 * shares.get(row.channel, 0.0):4.1f}% of leads)")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def write_flat(args: argparse.Namespace) -> int:
    """A flat export of ``args.shape`` with its mapping file, and what to run next."""
    from leadscore.features.errors import LeadscoreError
    from leadscore.features.frames_io import check_output
    from leadscore.features.synthetic.flat import make_flat_export

    if args.format not in (None, "csv"):
        raise LeadscoreError(f"--shape {args.shape} writes CSV files, as CRMs export them: leave --format out.")
    check_output(args.out, folder=True, inputs=command_inputs(args))
    refuse_existing_export(args.out, "csv", args.overwrite)
    export = make_flat_export(args.leads, args.seed, args.shape)
    folder = export.write(args.out)
    lines = [f"Generated a {args.shape} export of {args.leads:,} leads (seed {args.seed}):"]
    lines += [f"  {name:<20} {len(frame):>10,} rows  {folder / name}" for name, frame in export.files.items()]
    lines += [f"  {'mapping.yaml':<20} {'':>10}       {folder / 'mapping.yaml'}",
              f"Next: leadscore validate {folder} --mapping {folder / 'mapping.yaml'}"]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
