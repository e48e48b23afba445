"""Wide outcome columns as stage entries: "Became a Customer Date" and "Converted = 1" become stage_history rows.

Flat CRM exports carry the funnel as columns of the contacts file, not as a table of transitions. The
mapping's ``stage_dates`` names, per stage, a date column (one entry per non-empty date) and
``reached`` a column whose listed values say a stage was reached at a time the export does not give.
Such an entry has an empty ``entered_at``: it counts as reached after capture for labels, and no
feature, rule or status can ever see it (the point-in-time rule never admits a row without a time).
A lead with a dated entry for a stage gets no undated one for the same stage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.reading.coerce import as_text, parse_timestamps
from leadscore.features.reading.findings import Finding, error, row_examples
from leadscore.features.reading.mapping import TableMapping
from leadscore.features.timestamps import UTC_DTYPE


def _find_column(frame: pd.DataFrame, name: str) -> str | None:
    if name in frame.columns:
        return name
    folded = [c for c in frame.columns if str(c).strip().casefold() == name.strip().casefold()]
    return folded[0] if len(folded) == 1 else None


def _missing_column(key: str, name: str, frame: pd.DataFrame) -> Finding:
    return error(
        "stage_history", None, "mapping_column_missing",
        f"The mapping names export column {name!r} under stage_history.{key}, but the export has no such column.",
        f"Fix the name under stage_history.{key} in the mapping file (the export's columns are: "
        f"{', '.join(map(str, frame.columns[:15]))}).",
    )


def stage_entries_from_wide(
    frame: pd.DataFrame, section: TableMapping, date_order: str | None = None
) -> tuple[pd.DataFrame, list[Finding]]:
    """Stage entries (``lead_id``, ``stage``, ``entered_at``) read from a wide export's outcome columns.

    Parameters
    ----------
    frame
        The export with its id column already named ``lead_id``; its index is each row's position
        in the user's file, and the entries keep it (so findings point at the user's rows).
    section
        The mapping's ``stage_history`` section (``stage_dates`` and ``reached``).
    date_order
        ``day_first`` or ``month_first`` for slashed dates, from the mapping file.

    Examples
    --------
    >>> from leadscore.features.reading.mapping import ReachedRule
    >>> flat = pd.DataFrame({"lead_id": ["a", "b", "c"], "Won On": ["2024-02-01", None, None],
    ...                      "Converted": ["1", "yes", "0"]})
    >>> section = TableMapping(stage_dates={"WON": "Won On"},
    ...                        reached={"WON": ReachedRule(column="Converted", values=["1", "Yes"])})
    >>> entries, _ = stage_entries_from_wide(flat, section)
    >>> entries.assign(entered_at=entries["entered_at"].dt.date).values.tolist()
    [['a', 'WON', datetime.date(2024, 2, 1)], ['b', 'WON', NaT]]
    """
    findings: list[Finding] = []
    lead_id = frame["lead_id"] if "lead_id" in frame.columns else pd.Series(None, index=frame.index, dtype="str")
    pieces: list[pd.DataFrame] = []
    dated: dict[str, np.ndarray] = {}
    for stage, name in section.stage_dates.items():
        column = _find_column(frame, name)
        if column is None:
            findings.append(_missing_column("stage_dates", name, frame))
            continue
        parsed, failed, note = parse_timestamps(frame[column], date_order)
        if failed.any():
            findings.append(error(
                "stage_history", "entered_at", "bad_timestamp",
                f"{int(failed.sum())} value(s) of {name!r} (the {stage} date) are not readable timestamps and were read as empty.",
                "Write dates as ISO-8601 (2024-03-05 or 2024-03-05T14:00:00Z), or fix the rows shown.",
                n_rows=int(failed.sum()), examples=row_examples(frame.index, failed, frame[column]),
            ))
        if note:
            findings.append(error(
                "stage_history", "entered_at", "ambiguous_dates", f"{name!r}: {note}, so leadscore will not guess.",
                "Add `date_order: day_first` (or `month_first`) at the top of the mapping file, or write ISO-8601 dates.",
            ))
        present = parsed.notna().to_numpy()
        dated[stage] = dated.get(stage, np.zeros(len(frame), dtype=bool)) | present
        pieces.append(pd.DataFrame({"lead_id": lead_id[present], "stage": stage, "entered_at": parsed[present]}))
    for stage, rule in section.reached.items():
        column = _find_column(frame, rule.column)
        if column is None:
            findings.append(_missing_column("reached", rule.column, frame))
            continue
        wanted = {value.strip().casefold() for value in rule.values}
        text = as_text(frame[column])
        hit = text.str.casefold().isin(wanted).fillna(False).to_numpy(dtype=bool) & ~dated.get(
            stage, np.zeros(len(frame), dtype=bool))
        pieces.append(pd.DataFrame({
            "lead_id": lead_id[hit], "stage": stage,
            "entered_at": pd.Series(pd.NaT, index=frame.index[hit], dtype=UTC_DTYPE),
        }))
    if not pieces:
        return pd.DataFrame({"lead_id": pd.Series(dtype="str"), "stage": pd.Series(dtype="str"),
                             "entered_at": pd.Series(dtype=UTC_DTYPE)}), findings
    entries = pd.concat(pieces)
    return entries.astype({"entered_at": UTC_DTYPE}), findings
