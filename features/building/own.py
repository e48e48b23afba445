"""Features from the export's own columns, point in time, described like the catalogue's built-ins.

A value of the leads or accounts table has no timestamp of its own: it is taken as known at capture,
which the spine guarantees is at or before as_of (the leakage audit judges whether that holds). A
timestamp column becomes "days from that moment to as_of", and only when the moment is at or before
as_of (missing otherwise, so a date written later never leaks). A category keeps its values held by at
least max(30, 1%) of the leads captured by as_of (accounts: of all accounts), others read "other".

A model records each own feature as a spec entry (:func:`own_feature_specs`): its name, kind, the
export column it reads (``source``) and its words (``template``), so scoring an export that lacks the
column, or brings an unseen value, behaves as for a built-in (missing / new value).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.building.columns import Category, FeatureColumns
from leadscore.features.building.profile import bound_account_codes, lead_category
from leadscore.features.building.staging import Staged
from leadscore.features.building.text import text_codes
from leadscore.features.reading.own_columns import OwnColumn, type_column
from leadscore.features.tables import Tables
from leadscore.features.timestamps import NS_PER_DAY, UTC_DTYPE, to_epoch_ns

GROUP = "export"
FEATURE_KINDS = {"number": "numeric", "category": "categorical", "yes_no": "flag", "timestamp": "numeric"}
DTYPES = {"number": "float64", "yes_no": "boolean", "timestamp": UTC_DTYPE, "category": "str"}


def own_feature_spec(column: OwnColumn) -> dict:
    """The model spec entry of one usable own column (name, kind, words, where its values come from)."""
    header = column.column
    templates = {
        "number": f"{header}: {{value:,.6g}}",
        "category": f"{header}: {{value}}",
        "yes_no": f"{header}: {{value}}",
        "timestamp": f"{header}: {{value:,.0f}} days ago",
    }
    described = {
        "number": "a number", "category": "a category (rare values grouped as 'other')", "yes_no": "yes / no",
        "timestamp": "days from this date to as_of (missing when the date is after as_of)",
    }
    return {
        "name": column.feature,
        "kind": FEATURE_KINDS[column.kind],
        "group": GROUP,
        "story": column.feature,
        "description": f"The export's own column {header!r} of {column.table}: {described[column.kind]}.",
        "template": templates[column.kind],
        "source": {"table": column.table, "column": header, "kind": column.kind},
    }


def own_feature_specs(tables: Tables) -> list[dict]:
    """Spec entries of every usable own column of ``tables`` (``Tables.own_columns``)."""
    return [own_feature_spec(c) for c in tables.own_columns if c.used]


def vocabulary(spec: dict) -> frozenset[str]:
    """A model's categories of one feature: kept whatever their count in the export being scored."""
    return frozenset(spec.get("categories") or ())


def _column(frame: pd.DataFrame, header: str) -> pd.Series | None:
    if header in frame.columns:
        return frame[header]
    folded = [c for c in frame.columns if str(c).strip().casefold() == header.strip().casefold()]
    return frame[folded[0]] if len(folded) == 1 else None


def typed_own_column(values: pd.Series | None, kind: str, n: int, date_order: str | None,
           categories: list[str] | None = None) -> pd.Series:
    """The column in the model's kind (reading typed it; an export that reads otherwise is converted here).

    Reading infers each export's kinds afresh, so a scoring export may have typed a column otherwise than
    the training export did: a count whose values are all 0 or 1 (a batch of new leads) reads as yes/no.
    Such a yes/no column is turned back into what the model knows, 1 / 0 for a number, and for a category
    the model's own spelling of yes and no (its ``categories``), not the text "True" / "False".
    """
    if values is None:
        return pd.Series(pd.array([None] * n, dtype=DTYPES[kind]))
    if str(values.dtype) == DTYPES[kind] and kind != "category":  # text is read again: a request may send "Select"
        return values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(values.dtype) and kind in ("number", "category"):
        flags = values.astype("boolean").reset_index(drop=True)
        if kind == "number":
            return flags.astype("Float64").astype("float64")
        words = pd.Series(categories or [], dtype="str")
        read = type_column(words, "yes_no")
        spelled = {flag: next((w for w, r in zip(words, read, strict=True) if pd.notna(r) and bool(r) == flag),
                              str(flag)) for flag in (True, False)}
        return pd.Series(flags.map(spelled, na_action="ignore"), dtype="str")
    return type_column(values, kind, date_order).astype(DTYPES[kind]).reset_index(drop=True)


def own_features(staged: Staged, date_order: str | None, lead_pos: np.ndarray, as_of_ns: np.ndarray,
                 specs: list[dict], out: FeatureColumns) -> None:
    """Own-column features per row into ``out``, one column per spec entry.

    The columns are read from the pandas frames the export was staged from (``staged.source``); a
    column is typed, and a category's values indexed, once per staged export, not once per chunk.
    """
    tables = staged.source
    leads = tables.leads.reset_index(drop=True) if tables is not None else None
    accounts = tables.accounts.reset_index(drop=True) if tables is not None else None
    n = len(lead_pos)
    row_account = staged.account_row[lead_pos]
    for spec in specs:
        source = spec["source"]
        kind = source["kind"]
        frame = leads if source["table"] == "leads" else accounts
        key = (source["table"], source["column"], kind, tuple(spec.get("categories") or ()))

        def typed(frame: pd.DataFrame | None = frame, spec: dict = spec, kind: str = kind) -> pd.Series:
            if frame is None:
                return typed_own_column(None, kind, 0, date_order)
            return typed_own_column(_column(frame, spec["source"]["column"]), kind, len(frame), date_order,
                                    spec.get("categories"))

        if source["table"] == "leads":
            at, missing = lead_pos, np.zeros(n, dtype=bool)
        else:
            at, missing = np.where(row_account >= 0, row_account, 0), row_account < 0
        if kind == "category":
            def text(typed: Callable = typed) -> tuple[np.ndarray, list[str]]:
                return text_codes(pa.array(typed().astype("str").array))

            if source["table"] == "leads":
                column = lead_category(staged, ("own", key), text, lead_pos, as_of_ns, vocabulary(spec))
            else:
                bounded = staged.kept(("own account category", key, vocabulary(spec)),
                                      lambda text=text, spec=spec: bound_account_codes(*text(), vocabulary(spec)))
                column = Category(np.append(bounded.codes, -1)[np.where(missing, len(bounded.codes), at)],
                                  bounded.values)
            out.category(spec["name"], Category(np.where(missing, -1, column.codes), column.values))
            continue
        values = staged.kept(("typed", key), typed)
        if len(values) == 0:
            out.number(spec["name"], np.full(n, np.nan))
            continue
        if kind == "timestamp":
            stamps = staged.kept(("epoch", key), lambda values=values: to_epoch_ns(values))
            moment = stamps.to_numpy(dtype="int64", na_value=0)[at]
            visible = stamps.notna().to_numpy()[at] & (moment <= as_of_ns)  # a date after as_of is not known yet
            number = np.where(visible, (as_of_ns - moment) / NS_PER_DAY, np.nan)
        elif kind == "yes_no":
            number = values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)[at]
        else:
            number = values.to_numpy(dtype="float64", na_value=np.nan)[at]
        out.number(spec["name"], np.where(missing, np.nan, number))
