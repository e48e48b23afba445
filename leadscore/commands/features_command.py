"""``leadscore features``: the point-in-time feature rows the scorer will use, or ``--list`` the catalogue.

Each row also says where its lead stands at its as_of (``funnel_position``: open, sqo, won, lost,
disqualified), so the logged model answers it as the batch scorer would (no probability for a customer).

Rows come from :func:`leadscore.features.building.builder.make_spine` (every lead at one as_of, default the data's end, or a
leads file with per-lead as_of for backtests) and :func:`leadscore.features.building.builder.build_features`. Requested rows
that cannot be built are not written (they have no features) but are counted with their reason.
"""

from __future__ import annotations

import argparse
import sys

from leadscore.features.errors import LeadscoreError


def print_catalogue(own: list[dict] | None = None, not_used: list | None = None) -> None:
    """One line per feature: name, group, kind, description, in column order; the export's own features
    after the built-ins, then the export's columns that are not features and why."""
    from leadscore.features.building.catalogue import CATALOGUE

    rows = [(s.name, s.group, s.kind, s.description) for s in CATALOGUE]
    rows += [(f["name"], f["group"], f["kind"], f["description"]) for f in own or []]
    width = max(len(name) for name, *_ in rows)
    lines = [f"{'name':<{width}}  {'group':<13}  {'kind':<11}  description"]
    lines += [f"{name:<{width}}  {group:<13}  {kind:<11}  {description}" for name, group, kind, description in rows]
    lines.append(f"{len(CATALOGUE)} built-in features" + (f", {len(own)} from your export" if own is not None else ""))
    for column in not_used or []:
        lines.append(f"not a feature: {column.table}.{column.column} ({column.why})")
    sys.stdout.write("\n".join(lines) + "\n")


def run(args: argparse.Namespace) -> int:
    if args.list:
        if not args.data:
            print_catalogue()
            return 0
        from leadscore.features.building.own import own_feature_specs
        from leadscore.features.reading.validation import load_tables

        tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
        print_catalogue(own_feature_specs(tables), [c for c in tables.own_columns if not c.used])
        return 0
    if not args.data:
        raise LeadscoreError("give the export folder or DuckDB file (DATA), or --list to print the catalogue "
                             "(--list DATA adds the export's own columns).")
    if not args.out:
        raise LeadscoreError("give --out FILE (.csv or .parquet) for the feature rows.")
    from leadscore.features.frames_io import check_output, read_frame, write_frame
    from leadscore.inputs import command_inputs

    if getattr(args, "engine", "local") == "spark":
        return run_spark(args)
    check_output(args.out, inputs=command_inputs(args))

    from leadscore.features.building.builder import build_features
    from leadscore.features.building.spine import make_spine
    from leadscore.features.building.stages import POSITION_COLUMN, funnel_position
    from leadscore.features.reading.validation import load_tables
    from leadscore.features.timestamps import to_moment

    tables = load_tables(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    as_of = to_moment(args.as_of, "--as-of", tables.data_end, tables.date_order) if args.as_of else None
    request = read_frame(args.leads) if args.leads else None
    spine, excluded = make_spine(tables, as_of, request)
    features = build_features(tables, spine)
    features.insert(2, POSITION_COLUMN, funnel_position(tables, spine).array)
    write_frame(features, args.out)

    moment = as_of if as_of is not None else tables.data_end
    source = f"{len(request):,} rows requested in {args.leads}" if request is not None else (
        f"every lead captured by {moment:%Y-%m-%d %H:%M} UTC"
    )
    lines = [
        f"features: {len(tables.leads):,} leads in the export; built {source}",
        f"rows written: {len(features):,} x {features.shape[1] - 3} features -> {args.out} (with where each lead "
        f"stands at its as_of: {POSITION_COLUMN})",
    ]
    sys.stdout.write("\n".join([*lines, *not_built_lines(excluded)]) + "\n")
    return 0


def not_built_lines(excluded) -> list[str]:
    """The requested rows that were not built, counted by reason in words (none: no line)."""
    from leadscore.features.building.spine import EXCLUSION_REASONS

    if not len(excluded):
        return []
    reasons = excluded["reason"].value_counts()
    listed = ", ".join(f"{EXCLUSION_REASONS.get(reason, reason)} {count:,}" for reason, count in reasons.items())
    return [f"not built: {len(excluded):,} rows ({listed})"]


def run_spark(args: argparse.Namespace) -> int:
    """``--engine spark``: the same rows, the events and stage history read and aggregated by Spark."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        raise LeadscoreError("--engine spark needs pyspark: pip install 'leadscore[spark]' (and Java 17).")
    from leadscore.features.building.spark import build_features_spark, read_export_spark, spark_session
    from leadscore.features.building.spine import make_spine
    from leadscore.features.frames_io import check_output, read_frame
    from leadscore.features.timestamps import to_moment

    out = check_output(args.out, (".parquet",))
    spark = spark_session()
    tables, spark_tables = read_export_spark(spark, args.data, args.mapping, args.data_end, args.allow_files_outside)
    as_of = to_moment(args.as_of, "--as-of", tables.data_end, tables.date_order) if args.as_of else None
    request = read_frame(args.leads) if args.leads else None
    spine, excluded = make_spine(tables, as_of, request)
    build_features_spark(spark, tables, spark_tables, spine).write.mode("overwrite").parquet(str(out))
    lines = [
        f"features (Spark): {len(tables.leads):,} leads in the export; {len(spine):,} rows built",
        f"rows written: {len(spine):,} -> {out} (a folder of Parquet parts)",
    ]
    sys.stdout.write("\n".join([*lines, *not_built_lines(excluded)]) + "\n")
    return 0
