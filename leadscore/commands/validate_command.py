"""``leadscore validate DATA``: check an export against the data contract and say what to fix.

Prints each table's row count and every finding (severity, table, column, rule, rows, examples,
fix), a summary, and the export's own columns ("features from your export": kind, distinct values,
share missing, used or why not); ``--json`` prints the same as one JSON object. Exits 1 when any error was
found, else 0: warnings never block.
"""

from __future__ import annotations

import argparse
import json

from leadscore.features.contract import TABLE_NAMES
from leadscore.features.reading.findings import count_by_severity
from leadscore.features.reading.own_columns import format_own_columns, own_column_records
from leadscore.features.reading.validation import format_findings, read_export


def run(args: argparse.Namespace) -> int:
    tables, findings = read_export(args.data, args.mapping, args.data_end, allow_files_outside=args.allow_files_outside)
    n_rows = {name: (len(tables.table(name)) if name in tables.present else None) for name in TABLE_NAMES}
    n_errors, n_warnings = count_by_severity(findings)
    # Without a readable timestamp or a given data end, the Tables' data end is a placeholder: not shown.
    data_end = None if any(f.rule == "data_end_unknown" for f in findings) else tables.data_end
    if args.json:
        report = {
            "source": str(args.data),
            "data_end": data_end.isoformat() if data_end is not None else None,
            "tables": n_rows,
            "findings": [f.to_dict() for f in findings],
            "own_columns": own_column_records(tables.own_columns),
            "n_errors": n_errors,
            "n_warnings": n_warnings,
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        end_text = f"{data_end:%Y-%m-%d %H:%M:%S} UTC" if data_end is not None else "unknown"
        print(f"Export: {args.data}   (data end {end_text})")
        print(format_findings(findings, n_rows))
        print(format_own_columns(tables.own_columns))
    return 1 if n_errors else 0
