"""The mapping file applied to one raw table, before types: names, constants, own value maps, wide outcomes.

Each step answers one way real exports differ from the contract: columns named otherwise (``columns``),
a contract column the export lacks altogether (``constants``), a form's placeholder in one of the
export's own columns (``values`` keyed by the export's header), and the funnel held as wide columns of
a contacts file (``stage_dates`` / ``reached``, see :mod:`leadscore.features.reading.outcomes`).
"""

from __future__ import annotations

import re

import pandas as pd

from leadscore.features.contract import TABLES
from leadscore.features.reading.coerce import as_text
from leadscore.features.reading.findings import Finding, error, warning
from leadscore.features.reading.mapping import (
    FALSE_WORDS,
    NULL_TARGETS,
    TRUE_WORDS,
    MappingFile,
    TableMapping,
    rename_columns,
)
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
    mapped_headers = set(section.columns)
    for header, pairs in section.values.items():
        if header in contract or header in mapped_headers:
            continue  # a contract column's values (by its contract or its export name): coercion maps them
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


def add_constants(frame: pd.DataFrame, section: TableMapping, table: str = "") -> tuple[pd.DataFrame, list[Finding]]:
    """The ``constants`` as columns holding one value (as text, typed later like any cell) for every row.

    A constant is for a contract column the export lacks. Where the export has the column after all
    (taken by its header, ``Channel`` for ``channel``), its values are not dropped silently: the column
    is set aside as ``<header> (unmapped)`` and an error says to keep one of the two.
    """
    if not section.constants:
        return frame, []
    findings: list[Finding] = []
    renames: dict[str, str] = {}
    for name in section.constants:
        if name in frame.columns:
            header = str(frame.attrs.get("headers", {}).get(name, name))
            renames[name] = f"{header} (unmapped)"
            findings.append(error(
                table, name, "duplicate_column",
                f"Both the export's column {header!r} (taken as {table}.{name} by its name) and the mapping's "
                f"constant supply {table}.{name}; the constant was used and {header!r} was set aside.",
                f"Remove {name} from `{table}: constants:`, or keep {header!r} as the export's own column with "
                f"`{table}: columns: {{{header}: ~}}` in the mapping file.",
            ))
    out = frame.rename(columns=renames) if renames else frame
    return out.assign(**{name: pd.Series(value, index=out.index, dtype="str")
                         for name, value in section.constants.items()}), findings


def check_name_matches(frame: pd.DataFrame, table: str) -> list[Finding]:
    """Warn where a column took a text contract column's name by its header alone but holds numbers.

    The bank file's ``campaign`` (a count of calls) is not a campaign name; matching it silently
    would turn a number into a category.
    """
    findings: list[Finding] = []
    for column in frame.attrs.get("matched_by_name", []):
        spec = TABLES[table].column(column)
        if spec.kind not in ("string", "category") or spec.name.endswith("_id"):
            continue
        text = as_text(frame[column]).dropna()
        if len(text) == 0:
            continue
        numeric = pd.to_numeric(text.head(20_000), errors="coerce").notna().mean()
        if numeric >= 0.95:
            examples = ", ".join(map(str, text.drop_duplicates().head(3)))
            findings.append(warning(
                table, column, "matched_by_name",
                f"The export's column {column!r} was taken as {table}.{column} because of its name, but it holds "
                f"numbers (e.g. {examples}), not a {column.replace('_', ' ')} as the contract means it.",
                f"If it is something else (a count, a score), keep it as the export's own column with "
                f"`{table}: columns: {{{column}: ~}}` in the mapping file.",
            ))
    return findings


NEGATION = re.compile(
    r"\b(?:do ?n[o']?t|dont|opt(?:ed)?[ -]?out|optout|unsubscribe[d]?|no|not|non|without|never)\b")
# "Email consent (Yes/No)" names the values a column holds, not a negation.
VALUE_NAMES = re.compile(r"\b(?:yes|y|true)\s*/\s*(?:no|n|false)\b")


def _header_words(header: str) -> str:
    """A header as lower-case words: CRM API names split ("HasOptedOutOfEmail" -> "has opted out of email")."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", header)
    return VALUE_NAMES.sub(" ", spaced.lower().replace("_", " ").replace("-", " "))


def check_opposite_meaning(section: TableMapping, table: str) -> list[Finding]:
    """Warn where a yes/no column whose header says the opposite is mapped to a contract yes/no as it is.

    "Do Not Email = Yes" mapped to ``email_consent`` would read as consent; a value map that swaps
    yes and no (``values: {email_consent: {Yes: "false", No: "true"}}``) says the user meant it.
    """
    findings: list[Finding] = []
    for source, target in section.columns.items():
        if target not in TABLES[table].column_names or TABLES[table].column(target).kind != "bool":
            continue
        if not NEGATION.search(_header_words(source)):
            continue
        pairs = {k.strip().lower(): v.strip().lower() for k, v in section.values.get(target, {}).items()}
        if any(k in TRUE_WORDS and v in FALSE_WORDS for k, v in pairs.items()):  # Yes, Y, true, 1 … read as false
            continue
        findings.append(warning(
            table, target, "opposite_meaning",
            f"The mapping maps {source!r} to {table}.{target} as it is, but its name says the opposite "
            f"(\"Yes\" in {source!r} would read as {target} = true).",
            f"Swap the values with `{table}: values: {{{target}: {{Yes: \"false\", No: \"true\"}}}}`, "
            "or map a column that means the same.",
        ))
    return findings


def shape_table(name: str, frame: pd.DataFrame, mapping: MappingFile | None) -> tuple[pd.DataFrame, list[Finding]]:
    """One raw table with the mapping applied: contract names, constants, own value maps, wide outcomes.

    The result still holds text (or the file's own types); coercion comes next.
    """
    section = mapping.table(name) if mapping else None
    renamed, findings = rename_columns(frame, name, section)
    findings += check_name_matches(renamed, name)
    if section is None:
        return renamed, findings
    findings += check_opposite_meaning(section, name)
    renamed, constant = add_constants(renamed, section, name)
    findings += constant
    renamed, mapped = map_own_values(renamed, name, section)
    findings += mapped
    if section.is_wide:
        entries, wide = stage_entries_from_wide(renamed, section, mapping.date_order if mapping else None)
        return entries.sort_index(kind="stable"), findings + wide
    return renamed, findings
