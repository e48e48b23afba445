"""The mapping file applied to one raw table, before types: names, constants, own value maps, wide outcomes.

Each step answers one way real exports differ from the contract: columns named otherwise (``columns``),
a contract column the export lacks altogether (``constants``), a form's placeholder in one of the
export's own columns (``values`` keyed by the export's header), and the funnel held as wide columns of
a contacts file (``stage_dates`` / ``reached``, see :mod:`leadscore.features.reading.outcomes`).
"""

from __future__ import annotations

import pandas as pd

from leadscore.features.contract import TABLES
from leadscore.features.reading.coerce import as_text
from leadscore.features.reading.findings import Finding, warning
from leadscore.features.reading.mapping import NULL_TARGETS, MappingFile, TableMapping, rename_columns
from leadscore.features.reading.outcomes import stage_entries_from_wide


def _column_named(frame: pd.DataFrame, name: str) -> str | None:
    if name in frame.columns:
        return name
    folded = [c for c in frame.columns if str(c).strip().casefold() == name.strip().casefold()]
    return folded[0] if len(folded) == 1 else None


def map_own_values(frame: pd.DataFrame, table: str, section: TableMapping) -> tuple[pd.DataFrame, list[Finding]]:
    """Apply ``values`` entries keyed by the export's own headers (not contract columns) to their text.

    A source value matches exactly, else trimmed and case-folded; ``~`` (or null) means "no value".

    Examples
    --------
    >>> frame = pd.DataFrame({"Lead Source": ["Google", "select", None]})
    >>> section = TableMapping(values={"Lead Source": {"Select": "~"}})
    >>> map_own_values(frame, "leads", section)[0]["Lead Source"].tolist()
    ['Google', nan, nan]
    """
    findings: list[Finding] = []
    contract = set(TABLES[table].column_names)
    out = frame
    for header, pairs in section.values.items():
        if header in contract:
            continue
        column = _column_named(frame, header)
        if column is None:
            findings.append(warning(
                table, header, "mapping_column_missing",
                f"The mapping maps values of {header!r} under {table}.values, but the {table} export has no such column.",
                f"Fix the name under {table}.values in the mapping file, or remove the entry.",
            ))
            continue
        exact = {source: (None if target.strip().lower() in NULL_TARGETS else target) for source, target in pairs.items()}
        folded = {source.strip().casefold(): target for source, target in exact.items()}
        text = as_text(out[column])
        codes, uniques = pd.factorize(text)
        mapped = [exact[u] if u in exact else folded.get(str(u).strip().casefold(), u) for u in uniques]
        values = pd.array(mapped + [None], dtype="str")[codes]  # code -1 (missing) picks the trailing None
        out = out.assign(**{column: pd.Series(values, index=out.index)})
    return out, findings


def add_constants(frame: pd.DataFrame, section: TableMapping) -> pd.DataFrame:
    """The ``constants`` as columns holding one value (as text, typed later like any cell) for every row."""
    if not section.constants:
        return frame
    return frame.assign(**{name: pd.Series(value, index=frame.index, dtype="str") for name, value in section.constants.items()})


def shape_table(name: str, frame: pd.DataFrame, mapping: MappingFile | None) -> tuple[pd.DataFrame, list[Finding]]:
    """One raw table with the mapping applied: contract names, constants, own value maps, wide outcomes.

    The result still holds text (or the file's own types); coercion comes next.
    """
    section = mapping.table(name) if mapping else None
    renamed, findings = rename_columns(frame, name, section)
    if section is None:
        return renamed, findings
    renamed = add_constants(renamed, section)
    renamed, mapped = map_own_values(renamed, name, section)
    findings += mapped
    if section.is_wide:
        entries, wide = stage_entries_from_wide(renamed, section, mapping.date_order if mapping else None)
        return entries.sort_index(kind="stable"), findings + wide
    return renamed, findings
