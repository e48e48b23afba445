"""Point-in-time features for a spine of (lead_id, as_of) rows: the same builder for training and scoring.

``build_features`` returns one row per spine row with every catalogue feature.

The export is staged once (:mod:`leadscore.features.building.staging`: integer codes, epoch-ns times,
rows grouped by lead); the event, stage, technology and account families run in the compiled per-lead
kernel (:mod:`leadscore.features.building.kernel`), the profile in numpy
(:mod:`leadscore.features.building.profile`). :func:`build_feature_columns` is that whole computation for
rows of a staged export: the batch scorer calls it per chunk, the HTTP service for the leads of one
request, so a lead's features never depend on the path that built them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from leadscore.features.building import account
from leadscore.features.building.catalogue import CATALOGUE
from leadscore.features.building.columns import Category, FeatureColumns
from leadscore.features.building.kernel import AT, kernel_rows
from leadscore.features.building.own import own_feature_specs, own_features
from leadscore.features.building.profile import profile_features
from leadscore.features.building.staging import Staged, stage_tables
from leadscore.features.contract import FUNNEL_ORDER, STAGES
from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import check_spine
from leadscore.features.tables import Tables, positions
from leadscore.features.timestamps import to_epoch_ns

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 200_000
# Catalogue features that need a table the export may lack: unknown (NaN) without it, never zero.
_NEEDS = {
    "events": {s.name for s in CATALOGUE if s.group in ("engagement", "email")}
    | {n for n in account.ACCOUNT_COLUMNS if "activ" in n or "intent" in n},
    "stage_history": {"days_in_current_stage", "n_recycles"},  # the stages themselves: below
    "technographics": set(account.TECHNOGRAPHIC_COLUMNS),
}
KERNEL_FEATURES = [s.name for s in CATALOGUE if s.name in AT or s.name in ("current_stage", "highest_stage")]
"""The catalogue features the kernel computes, in catalogue order (the rest is the profile's)."""


def output_columns(own: list[dict]) -> list[tuple[str, str]]:
    """``(name, kind)`` of every feature column the builder writes: the catalogue's, then the own ones."""
    return [(s.name, s.kind) for s in CATALOGUE] + [(s["name"], s["kind"]) for s in own]


def empty_features(own: list[dict] | None = None) -> pd.DataFrame:
    """The builder's output for an empty spine: the right columns and dtypes, no rows."""
    columns = {"lead_id": pd.Series(dtype="str"), "as_of": pd.Series(dtype="datetime64[ns, UTC]")}
    for name, kind in output_columns(own or []):
        columns[name] = pd.Series(dtype="str" if kind == "categorical" else "float64")
    return pd.DataFrame(columns)


def kernel_features(staged: Staged, lead_pos: np.ndarray, as_of_ns: np.ndarray) -> FeatureColumns:
    """The catalogue features the per-lead kernel computes (events, funnel, technologies, account), for rows
    of a staged export; unknown (NaN) where the export lacks the table they read."""
    n = len(lead_pos)
    matrix = kernel_rows(staged, lead_pos, as_of_ns)
    for table, names in _NEEDS.items():
        if not staged.has(table):
            for name in names:
                matrix[:, AT[name]] = np.nan
    has_stages = staged.has("stage_history")
    out = FeatureColumns(n)
    for name in KERNEL_FEATURES:
        if name == "current_stage":
            codes = matrix[:, AT["_current_stage_code"]].astype(np.int64) if has_stages else np.full(n, -1)
            out.category(name, Category(codes, list(STAGES)))
        elif name == "highest_stage":
            codes = matrix[:, AT["_highest_stage_code"]].astype(np.int64) if has_stages else np.full(n, -1)
            out.category(name, Category(codes, list(FUNNEL_ORDER)))
        else:
            out.number(name, matrix[:, AT[name]])
            out.block_at[name] = AT[name]
    out.block = matrix
    return out


def build_feature_columns(staged: Staged, lead_pos: np.ndarray, as_of_ns: np.ndarray, own: list[dict] | None = None,
                          vocabulary: dict[str, frozenset[str]] | None = None,
                          date_order: str | None = None) -> FeatureColumns:
    """Every catalogue feature, then the ``own`` features, for rows of a staged export.

    ``lead_pos`` are lead positions in ``staged`` (every one captured by its row's ``as_of_ns``, epoch
    ns); ``vocabulary`` holds per categorical feature the values kept whatever their count (a model's
    categories); ``own`` are spec entries of the export's own columns (their values are read from the
    frames the export was staged from).
    """
    kernel = kernel_features(staged, lead_pos, as_of_ns)
    profile = FeatureColumns(len(lead_pos))
    profile_features(staged, lead_pos, as_of_ns, profile, vocabulary)
    out = combined(kernel, profile)
    if own:
        own_features(staged, date_order, lead_pos, as_of_ns, own, out)
    return out


def combined(kernel: FeatureColumns, profile: FeatureColumns) -> FeatureColumns:
    """The kernel's and the profile's columns together, in catalogue order."""
    out = FeatureColumns(kernel.n, block=kernel.block, block_at=dict(kernel.block_at))
    for spec in CATALOGUE:
        part = profile if spec.name in profile else kernel
        if spec.name in part.numbers:
            out.number(spec.name, part.numbers[spec.name])
        else:
            out.category(spec.name, part.categories[spec.name])
    return out


def build_features(tables: Tables, spine: pd.DataFrame, own: list[dict] | None = None,
                   chunk_rows: int = DEFAULT_CHUNK_ROWS, vocabulary: dict[str, frozenset[str]] | None = None,
                   staged: Staged | None = None) -> pd.DataFrame:
    """Every catalogue feature and the export's own features for each spine row, as of the row's ``as_of``.

    Parameters
    ----------
    tables
        The export; optional tables may be empty (their features are then missing, not zero).
    spine
        ``lead_id`` and ``as_of`` rows, normally from :func:`make_spine` (every lead known and captured
        by its as_of). Rows may repeat a lead at several as_of (training snapshots).
    own
        Spec entries of the export's own columns to build (:mod:`leadscore.features.building.own`); a
        model passes its own list. Default: every usable own column of ``tables``.
    chunk_rows
        Spine rows built at a time; the export is staged once, the per-row work runs per chunk.
    vocabulary
        Per categorical feature, values kept whatever their count in this export: the categories of the
        model that will score the rows (its training leads judged what is common). Empty for training.
    staged
        :func:`~leadscore.features.building.staging.stage_tables` of these very tables, kept by a caller
        that builds several spines over them; staged here otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per spine row, in spine order: ``lead_id``, ``as_of``, the catalogue's features in
        catalogue order, then the own features; numeric and flag columns float64 (NaN where unknown, e.g. firmographics of a
        lead without an account), categorical columns ``str`` with NaN for missing.

    Raises
    ------
    LeadscoreError
        If a spine row names an unknown lead or one captured after its as_of (use :func:`make_spine`).
    """
    spine = check_spine(spine)
    if spine["as_of"].isna().any():
        raise LeadscoreError(f"{int(spine['as_of'].isna().sum())} spine row(s) have no as_of; build the spine with make_spine.")
    own = own_feature_specs(tables) if own is None else list(own)
    if spine.empty:
        return empty_features(own)
    leads = tables.leads
    lead_pos = positions(spine["lead_id"], leads["lead_id"])
    if (lead_pos < 0).any():
        raise LeadscoreError(f"{int((lead_pos < 0).sum())} spine row(s) name a lead_id not in leads; build the spine with make_spine.")
    captured = to_epoch_ns(leads["captured_at"]).to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)[lead_pos]
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    if (captured > as_of_ns).any():
        raise LeadscoreError(
            f"{int((captured > as_of_ns).sum())} spine row(s) have as_of before the lead's capture (or no captured_at); "
            "build the spine with make_spine."
        )
    if staged is None or staged.source is not tables:
        staged = stage_tables(tables)
    for table, n in staged.orphans.items():
        if n:
            logger.warning("%d %s row(s) name a lead_id not in leads; they are left out of every feature", n, table)
    out: FeatureColumns | None = None
    for start in range(0, len(spine), chunk_rows):
        stop = min(start + chunk_rows, len(spine))
        part = build_feature_columns(staged, lead_pos[start:stop], as_of_ns[start:stop], own, vocabulary,
                                     tables.date_order)
        out = _place(out, part, start, len(spine))
    return out.frame(spine["lead_id"], spine["as_of"])


def _place(out: FeatureColumns | None, part: FeatureColumns, start: int, n: int) -> FeatureColumns:
    """Copy a chunk's columns into rows ``start:`` of the whole spine's (allocated at the first chunk)."""
    if out is None:
        if part.n == n:
            return part
        out = FeatureColumns(n, order=list(part.order))
        out.numbers = {name: np.empty(n) for name in part.numbers}
        out.categories = {name: Category(np.empty(n, dtype=np.int64), list(c.values))
                          for name, c in part.categories.items()}
    stop = start + part.n
    for name, values in part.numbers.items():
        out.numbers[name][start:stop] = values
    for name, category in part.categories.items():
        target = out.categories[name]
        codes = category.codes
        if category.values != target.values:  # a value first seen in this chunk: code it in the whole list
            index = {v: i for i, v in enumerate(target.values)}
            remap = np.array([index.setdefault(v, len(index)) for v in category.values] + [-1], dtype=np.int64)
            target.values[:] = list(index)
            codes = remap[codes]
        target.codes[start:stop] = codes
    return out
