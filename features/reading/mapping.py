"""The mapping file: how an export's own names and values translate to the data contract.

A user whose CRM calls the lead "Lead ID" and the stage "Marketing Qualified" writes a small YAML file
instead of editing the export (raw data stays immutable). See ``docs/mapping-example.yaml``::

    data_end: "2024-06-30T00:00:00Z"     # optional: when the export was taken
    leads:
      file: crm_leads_2024.csv           # optional: the file (or DuckDB table) holding this table
      delimiter: ";"                     # optional: otherwise sniffed from , ; tab |
      encoding: cp1252                   # optional: otherwise UTF-8 / UTF-16 with BOM
      columns:                           # export column -> contract column
        Lead ID: lead_id
        Created Date: captured_at
      values:                            # per column (contract or the export's own): export value -> value
        channel:
          LinkedIn Ads: linkedin
        Lead Source: {Select: ~}         # a form's placeholder is no value
      constants: {email_consent: "true"} # a contract column the export lacks, one value for every row
      features:                          # leads and accounts: the export's own columns as features
        exclude: [Email, First Name]     # never read as features
        known_at_capture: [Industry]     # the user vouches: set when the lead was created
        calendar_causes:                 # a calendar feature kept, and used as a reason, with its cause
          capture_month: "Budgets open in January: leads captured in Q1 buy sooner."
    stage_history:
      file: crm_leads_2024.csv           # a file may be named again as another table's source
      columns: {Lead ID: lead_id}
      stage_dates: {MQL: Became an MQL Date, WON: Became a Customer Date}   # wide dates -> stage entries
      reached:                           # a stage reached at an unknown time after capture
        WON: {column: Converted, values: ["1", "yes"]}

The full list of keys, with the data-contract spec's meaning, is in ``docs/mapping-example.yaml``.
Every scalar is read as text (YAML's ``yes`` stays the string "yes", ``007`` keeps its zeros), so
what the user types is matched literally; ``~`` or ``null`` as a target value means "no value".
Unknown keys, columns that are not in the contract and values outside a closed vocabulary are
errors naming the key path, raised when the file is loaded, long before any data is read.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from leadscore.features.contract import STAGES, TABLE_NAMES, TABLES
from leadscore.features.errors import LeadscoreError
from leadscore.features.reading.findings import Finding, error
from leadscore.features.timestamps import to_utc

# The built-in features that read the calendar at capture: a model may use them only where the outcome
# does not drift over the months, and they are reasons only with a cause the mapping file states.
CALENDAR_FEATURES = ("capture_month", "capture_weekday")
NULL_TARGETS = frozenset({"~", "null", "none", ""})
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def normalize_label(value: str) -> str:
    """The form category values are compared in: trimmed, case-folded, spaces and dashes as ``_``.

    So "LinkedIn", " linkedin " and "Google Search" match the contract's ``linkedin`` and
    ``google_search`` without a mapping entry.
    """
    return "_".join(value.strip().casefold().replace("-", " ").split())


class FeatureColumns(BaseModel):
    """Which of the export's own columns may be features (``leads`` and ``accounts`` only)."""

    model_config = ConfigDict(extra="forbid")

    exclude: list[str] = []
    known_at_capture: list[str] = []
    # A built-in calendar feature (capture month, weekday) -> the sentence that says why the calendar
    # matters to this business; without one, the outcome's drift over the months drops it and it is never a reason.
    calendar_causes: dict[str, str] = {}


class ReachedRule(BaseModel):
    """A column whose listed values say a stage was reached, at an unknown time after capture."""

    model_config = ConfigDict(extra="forbid")

    column: str
    values: list[str]

    @field_validator("values")
    @classmethod
    def _some_values(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one value that means the stage was reached, e.g. [\"1\", \"yes\"]")
        return value


class TableMapping(BaseModel):
    """How one contract table appears in the export."""

    model_config = ConfigDict(extra="forbid")

    file: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    columns: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    constants: dict[str, str] = {}
    features: FeatureColumns | None = None
    stage_dates: dict[str, str] = {}
    reached: dict[str, ReachedRule] = {}

    @property
    def is_wide(self) -> bool:
        """Stage entries come from wide outcome columns (``stage_dates`` / ``reached``)."""
        return bool(self.stage_dates or self.reached)

    @property
    def outcome_columns(self) -> list[str]:
        """The export columns ``stage_dates`` and ``reached`` read: outcomes, never features."""
        return [*self.stage_dates.values(), *(rule.column for rule in self.reached.values())]

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = DELIMITER_NAMES.get(value.lower(), value)
        if len(value) != 1:
            raise ValueError(f"must be one character such as ',' ';' '|' or 'tab', not {value!r}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"{value!r} is not an encoding Python knows (e.g. utf-8, cp1252, latin-1, utf-16)") from None


class MappingFile(BaseModel):
    """The whole mapping file: optional ``data_end`` and ``date_order``, one optional section per table."""

    model_config = ConfigDict(extra="forbid")

    data_end: str | None = None
    date_order: Literal["day_first", "month_first"] | None = None
    leads: TableMapping | None = None
    accounts: TableMapping | None = None
    technographics: TableMapping | None = None
    events: TableMapping | None = None
    stage_history: TableMapping | None = None
    opportunities: TableMapping | None = None
    spend: TableMapping | None = None

    def table(self, name: str) -> TableMapping:
        """The section for ``name`` (an empty one when the file does not mention the table)."""
        return getattr(self, name) or TableMapping()

    def value_maps(self, name: str) -> dict[str, dict[str, str | None]]:
        """Per column of ``name`` (contract or the export's own): export value -> value (None: no value).

        An entry keyed by the export's header of a column mapped to a contract column (``Do Not Email``
        mapped to ``email_consent``) is the contract column's.
        """
        section = self.table(name)
        renamed = {source: target for source, target in section.columns.items()
                   if target.strip().lower() not in NULL_TARGETS}
        return {
            renamed.get(column, column): {source: (None if target.strip().lower() in NULL_TARGETS else target)
                                          for source, target in pairs.items()}
            for column, pairs in section.values.items()
        }


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _check_against_contract(mapping: MappingFile) -> list[str]:
    """Problems pydantic cannot see: names and values that are not in the contract."""
    problems: list[str] = []
    for name in TABLE_NAMES:
        section = getattr(mapping, name)
        if section is None:
            continue
        spec = TABLES[name]
        targets: dict[str, str] = {}
        for source, target in section.columns.items():
            if target.strip().lower() in NULL_TARGETS:
                continue  # "not a contract column": the export's own column, even if its name says otherwise
            if target not in spec.column_names:
                problems.append(
                    f"{name}.columns.{source!r} maps to {target!r}, which is not a {name} contract column "
                    f"(one of: {', '.join(spec.column_names)})"
                )
            elif target in targets:
                problems.append(f"{name}.columns: both {targets[target]!r} and {source!r} map to {target!r}")
            targets[target] = source
        for column, pairs in section.values.items():
            if column not in spec.column_names:
                continue  # the export's own column: its values are mapped as typed, checked when read
            kind = spec.column(column).kind
            if kind in ("timestamp", "number"):
                problems.append(f"{name}.values.{column}: value maps apply to text columns, not {kind} columns")
                continue
            allowed = spec.column(column).allowed
            closed = allowed is not None and not spec.column(column).open_vocabulary
            canonical = {normalize_label(a) for a in allowed} if closed and allowed else set()
            for source, target in pairs.items():
                if target.strip().lower() in NULL_TARGETS:
                    continue
                if closed and normalize_label(target) not in canonical:
                    problems.append(
                        f"{name}.values.{column}.{source!r} maps to {target!r}, which is not an allowed {column} "
                        f"(one of: {', '.join(allowed or ())})"
                    )
                if kind == "bool" and target.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
                    problems.append(f"{name}.values.{column}.{source!r} maps to {target!r}; use true or false")
        problems.extend(_check_new_keys(name, section))
    if mapping.data_end is not None:
        try:
            to_utc(mapping.data_end, "data_end", mapping.date_order)
        except LeadscoreError as exc:
            problems.append(str(exc).rstrip("."))
    return problems


def _check_new_keys(name: str, section: TableMapping) -> list[str]:
    """Where ``constants``, ``features``, ``stage_dates`` and ``reached`` may stand, and what they may name."""
    problems: list[str] = []
    spec = TABLES[name]
    for column, value in section.constants.items():
        if column not in spec.column_names:
            problems.append(f"{name}.constants.{column}: {column!r} is not a {name} contract column "
                            f"(one of: {', '.join(spec.column_names)})")
        elif column in section.columns.values():
            problems.append(f"{name}.constants.{column}: {column} is already mapped from an export column under "
                            f"{name}.columns; keep one of the two")
        elif spec.column(column).allowed and not spec.column(column).open_vocabulary and normalize_label(value) not in {
                normalize_label(a) for a in spec.column(column).allowed}:
            problems.append(f"{name}.constants.{column}: {value!r} is not an allowed {column} "
                            f"(one of: {', '.join(spec.column(column).allowed or ())})")
    if section.features is not None and name not in ("leads", "accounts"):
        problems.append(f"{name}.features: the export's own columns are features only under leads and accounts")
    if section.features is not None:
        for feature, cause in section.features.calendar_causes.items():
            if feature not in CALENDAR_FEATURES:
                problems.append(f"{name}.features.calendar_causes.{feature}: not a calendar feature (one of: "
                                f"{', '.join(CALENDAR_FEATURES)})")
            elif len(cause.split()) < 3:
                problems.append(f"{name}.features.calendar_causes.{feature}: say in a sentence why the calendar "
                                "matters, e.g. \"Budgets open in January: leads captured in Q1 buy sooner.\"")
    if (section.stage_dates or section.reached) and name != "stage_history":
        key = "stage_dates" if section.stage_dates else "reached"
        problems.append(f"{name}.{key}: wide outcome columns become stage entries only under stage_history")
    for key, stages in (("stage_dates", section.stage_dates), ("reached", section.reached)):
        for stage in stages:
            if stage not in STAGES:
                problems.append(f"{name}.{key}.{stage}: {stage!r} is not a stage (one of: {', '.join(STAGES)})")
    if section.is_wide and ({"stage", "entered_at"} & (set(section.columns.values()) | set(section.constants))):
        problems.append("stage_history: give stage entries either as columns (stage, entered_at) or as "
                        "stage_dates / reached, not both")
    return problems


def load_mapping(path: str | os.PathLike) -> MappingFile:
    """Read and check a mapping file; raise :class:`LeadscoreError` naming every bad key path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
    >>> _ = p.write_text("stage_history:\\n  values:\\n    stage:\\n      Marketing Qualified: MQL\\n")
    >>> load_mapping(p).value_maps("stage_history")
    {'stage': {'Marketing Qualified': 'MQL'}}
    """
    source = Path(path)
    if not source.is_file():
        raise LeadscoreError(f"mapping file {source} does not exist.")
    try:
        # BaseLoader keeps every scalar as text: "yes", "007" and "2024-06-30" stay what the user typed.
        raw = yaml.load(source.read_text(encoding="utf-8-sig"), Loader=yaml.BaseLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LeadscoreError(f"mapping file {source} is not valid UTF-8 YAML: {' '.join(str(exc).split())}") from None
    if raw is None or raw == "":
        raw = {}
    if not isinstance(raw, dict):
        raise LeadscoreError(f"mapping file {source} must be a YAML mapping with table names as keys.")
    try:
        mapping = MappingFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{_key_path(err['loc'])}: {what}")
        raise LeadscoreError(f"mapping file {source}: {'; '.join(problems)}.") from None
    problems = _check_against_contract(mapping)
    if problems:
        raise LeadscoreError(f"mapping file {source}: {'; '.join(problems)}.")
    return mapping


def rename_columns(frame: pd.DataFrame, table: str, section: TableMapping | None) -> tuple[pd.DataFrame, list[Finding]]:
    """Give the export's columns their contract names.

    Mapped names are matched exactly first, then trimmed and case-insensitively; after that any column
    whose trimmed, case-folded name is a contract column (``Lead_ID``) takes the contract name (the
    result's ``attrs["matched_by_name"]`` lists them; ``attrs["headers"]`` gives each renamed column's
    header in the export). A column mapped to ``~`` is not a contract column
    whatever its name: it stays the export's own, as ``<name> (export)``. A mapped column missing from
    the export, or two columns claiming one contract name, is an error. Columns with no contract name
    are kept as they are.
    """
    findings: list[Finding] = []
    spec = TABLES[table]
    by_folded: dict[str, list[str]] = {}
    for column in frame.columns:
        by_folded.setdefault(str(column).strip().casefold(), []).append(column)
    renames: dict[str, str] = {}
    for source, target in (section.columns if section else {}).items():
        if target.strip().lower() in NULL_TARGETS:
            target = f"{source} (export)"
        if source in frame.columns:
            renames[source] = target
        elif len(by_folded.get(source.strip().casefold(), [])) == 1:
            renames[by_folded[source.strip().casefold()][0]] = target
        else:
            findings.append(
                error(
                    table, target, "mapping_column_missing",
                    f"The mapping names export column {source!r} for {table}.{target}, but the {table} export has no such column.",
                    f"Fix the name under {table}.columns in the mapping file (the export's columns are: "
                    f"{', '.join(map(str, frame.columns[:15]))}).",
                )
            )
    claimed = set(renames.values())
    by_name: list[str] = []
    for column in frame.columns:
        folded = str(column).strip().casefold()
        if column in renames or folded not in spec.column_names:
            continue
        if folded in claimed:
            first = next(s for s, t in renames.items() if t == folded)
            findings.append(
                error(
                    table, folded, "duplicate_column",
                    f"Both {first!r} and {column!r} supply {table}.{folded}; {column!r} was set aside.",
                    "Remove one of them from the export, or map one to another contract column in the mapping file.",
                )
            )
            renames[column] = f"{column} (unmapped)"
            continue
        claimed.add(folded)
        renames[column] = folded
        by_name.append(folded)
    renamed = frame.rename(columns=renames)
    renamed.attrs["matched_by_name"] = by_name
    renamed.attrs["headers"] = {str(target): str(source) for source, target in renames.items()}  # contract name -> header
    return renamed, findings
