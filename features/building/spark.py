"""Features on Spark: the per-lead kernel run per account across a cluster, for exports that outgrow one machine.

``leadscore features DATA --engine spark`` builds the rows ``leadscore features`` builds, the same values,
with the events and stage history read and aggregated by Spark:

- the driver reads leads, accounts, technographics and opportunities through the export reader (mapping
  file, coercion, contract checks) and computes what only needs them: fit, persona, acquisition and the
  export's own columns, whose rare-value bounds count over the whole leads table;
- Spark reads the events and stage_history files (CSV or Parquet, or a folder of Parquet parts) and types
  every batch with the same reader (:func:`~leadscore.features.reading.shaping.shape_table` and
  :func:`~leadscore.features.reading.coerce.coerce_table`), then puts each account's leads, their events
  and stage entries, the account's technologies and deals in one group (a lead without an account is a
  group of its own) and runs :func:`~leadscore.features.building.builder.kernel_features` on every group
  (``groupBy(key).applyInPandas``): a lead's engagement, funnel and buying-committee features read
  nothing outside its account's group;
- the two halves are joined by row and written as Parquet by Spark (microsecond timestamps, which every
  Spark version reads).

The events and stage history are checked against the contract only batch by batch (their types and
values); run ``leadscore validate`` on a sample of them for the cross-table checks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadscore.features.building.builder import KERNEL_FEATURES, kernel_features
from leadscore.features.building.columns import FeatureColumns
from leadscore.features.building.own import own_feature_specs, own_features
from leadscore.features.building.profile import profile_features
from leadscore.features.building.stages import POSITION_COLUMN, POSITIONS, staged_position
from leadscore.features.building.staging import stage_columns, stage_tables
from leadscore.features.contract import FUNNEL_ORDER, STAGES
from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import NULL_TIME
from leadscore.features.reading.sources import CSV_SUFFIXES, PARQUET_SUFFIXES, table_for_name
from leadscore.features.timestamps import to_epoch_ns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from leadscore.features.reading.mapping import MappingFile
    from leadscore.features.tables import Tables

logger = logging.getLogger(__name__)

SPARK_TABLES = ("events", "stage_history")
"""The tables Spark reads; the driver reads the others."""
# One long table for the groups: what each kind of row carries in the shared columns.
SPINE, LEAD, EVENT, STAGE, TECH, DEAL = range(6)
GROUP_COLUMNS = ("key", "kind", "row", "lead_id", "account_id", "t", "t2", "text1", "text2", "text3", "number")


def for_spark(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text as Python strings (None for missing): PySpark does not take pandas' Arrow-backed text."""
    out = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype == "str" or column.dtype == object:
            out[name] = pd.Series(column.astype(object).where(column.notna(), None).to_numpy(dtype=object), dtype=object)
        else:
            out[name] = column.reset_index(drop=True)
    return pd.DataFrame(out)


def table_files(folder: Path, mapping: MappingFile | None) -> dict[str, Path]:
    """The file (or folder of Parquet parts) of each Spark table in the export folder."""
    found: dict[str, Path] = {}
    for name in SPARK_TABLES:
        wanted = mapping.table(name).file if mapping else None
        if wanted:
            found[name] = Path(wanted) if Path(wanted).is_absolute() else folder / wanted
    for entry in sorted(folder.iterdir()):
        table = table_for_name(entry.name)
        if table in SPARK_TABLES and table not in found:
            found[table] = entry
    return found


def _typed_batches(table: str, mapping: MappingFile | None) -> object:
    """A ``mapInPandas`` function typing raw batches of ``table`` with the export reader, to compact columns."""
    def typed(batches):
        from leadscore.features.reading.coerce import coerce_table
        from leadscore.features.reading.shaping import shape_table

        for raw in batches:
            shaped, _ = shape_table(table, raw, mapping)
            frame = coerce_table(table, shaped, mapping.value_maps(table) if mapping else None,
                                 mapping.date_order if mapping else None).frame
            if table == "events":
                yield for_spark(pd.DataFrame({
                    "lead_id": frame["lead_id"].astype("str"),
                    "t": to_epoch_ns(frame["occurred_at"]).astype("Int64"),
                    "event_type": frame["event_type"].astype("str"),
                    "page_type": frame["page_type"].astype("str") if "page_type" in frame else None,
                    "channel": frame["channel"].astype("str") if "channel" in frame else None,
                    "step": frame["email_step"].astype("float64") if "email_step" in frame else np.nan,
                }))
            else:
                yield for_spark(pd.DataFrame({
                    "lead_id": frame["lead_id"].astype("str"),
                    "t": to_epoch_ns(frame["entered_at"]).astype("Int64"),
                    "stage": frame["stage"].astype("str"),
                }))
    return typed


def read_spark_table(spark: SparkSession, path: Path, table: str, mapping: MappingFile | None) -> DataFrame:
    """``table`` read by Spark from ``path`` and typed batch by batch (see the module docstring)."""
    name = path.name.lower()
    if path.is_dir() or name.endswith(PARQUET_SUFFIXES):
        raw = spark.read.parquet(str(path))
        # Nanosecond timestamps read as long (Spark has no such type): back to text the reader parses.
        from pyspark.sql import functions as F
        from pyspark.sql.types import LongType, TimestampNTZType, TimestampType

        for field in raw.schema.fields:
            if field.name in ("occurred_at", "entered_at") and isinstance(field.dataType, LongType):
                raw = raw.withColumn(field.name, F.timestamp_micros(F.col(field.name) / 1000).cast("string"))
            elif isinstance(field.dataType, TimestampType | TimestampNTZType):
                raw = raw.withColumn(field.name, F.date_format(F.col(field.name), "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"))
    elif name.endswith(CSV_SUFFIXES):
        raw = spark.read.option("header", True).option("inferSchema", False).csv(str(path))
    else:
        raise LeadscoreError(f"{path}: --engine spark reads {table} from CSV or Parquet files.")
    raw = raw.select([raw[c].cast("string").alias(c) for c in raw.columns])
    schema = ("lead_id string, t long, event_type string, page_type string, channel string, step double"
              if table == "events" else "lead_id string, t long, stage string")
    return raw.mapInPandas(_typed_batches(table, mapping), schema)


def _group_rows(frames: dict[str, pd.DataFrame], present: frozenset[str]) -> pd.DataFrame:
    """The kernel's catalogue features of one group's spine rows (the ``applyInPandas`` function's body)."""
    def text(frame: pd.DataFrame, column: str) -> list:
        return frame[column].astype(object).where(frame[column].notna(), None).tolist()

    def times(frame: pd.DataFrame, column: str) -> np.ndarray:
        return frame[column].to_numpy(dtype="float64", na_value=np.nan).astype("float64")

    def ns(frame: pd.DataFrame, column: str) -> np.ndarray:
        values = frame[column]
        return values.to_numpy(dtype="int64", na_value=NULL_TIME) if len(values) else np.zeros(0, dtype=np.int64)

    leads, events, stages = frames[LEAD], frames[EVENT], frames[STAGE]
    techs, deals, spine = frames[TECH], frames[DEAL], frames[SPINE]
    columns = {
        "leads": {"n": len(leads), "lead_id": text(leads, "lead_id"), "account_id": text(leads, "account_id"),
                  "captured_at": ns(leads, "t"), "job_title": text(leads, "text1")},
        "events": {"n": len(events), "lead_id": text(events, "lead_id"), "occurred_at": ns(events, "t"),
                   "event_type": text(events, "text1"), "page_type": text(events, "text2"),
                   "channel": text(events, "text3"), "email_step": times(events, "number")},
        "stage_history": {"n": len(stages), "lead_id": text(stages, "lead_id"), "stage": text(stages, "text1"),
                          "entered_at": ns(stages, "t")},
        "technographics": {"n": len(techs), "account_id": text(techs, "account_id"), "technology": text(techs, "text1"),
                           "category": text(techs, "text2"), "first_seen_at": ns(techs, "t")},
        "opportunities": {"n": len(deals), "opportunity_id": text(deals, "text1"), "lead_id": text(deals, "lead_id"),
                          "account_id": text(deals, "account_id"), "created_at": ns(deals, "t"),
                          "closed_at": ns(deals, "t2"), "outcome": text(deals, "text2")},
    }
    staged = stage_columns(columns, present)
    lead_pos, as_of = staged.positions(text(spine, "lead_id")), ns(spine, "t")
    features = kernel_features(staged, lead_pos, as_of)
    out = {"row": spine["row"].to_numpy(dtype="int64"), POSITION_COLUMN: staged_position(staged, lead_pos, as_of)}
    for name in KERNEL_FEATURES:
        if name in features.numbers:
            out[name] = features.numbers[name]
        else:  # as codes: PySpark cannot hand pandas 3's text back from a grouped function
            out[name] = features.categories[name].codes
    return pd.DataFrame(out)


def _output_schema() -> str:
    parts = ["row long", f"{POSITION_COLUMN} long"]
    for name in KERNEL_FEATURES:
        parts.append(f"`{name}` {'long' if name in STAGE_VALUES else 'double'}")
    return ", ".join(parts)


STAGE_VALUES = {"current_stage": STAGES, "highest_stage": FUNNEL_ORDER}
"""The kernel's categorical features, and the values their codes name."""
CODED = {**STAGE_VALUES, POSITION_COLUMN: POSITIONS}
"""Every text column the grouped function hands back as codes, and the values the codes name."""


def _key(account_id: pd.Series, lead_id: pd.Series) -> pd.Series:
    """The group of a lead: its account, or the lead alone."""
    return ("A:" + account_id.astype("str")).where(account_id.notna(), "L:" + lead_id.astype("str"))


def build_features_spark(spark: SparkSession, tables: Tables, spark_tables: dict[str, DataFrame], spine: pd.DataFrame,
                         own: list[dict] | None = None,
                         vocabulary: dict[str, frozenset[str]] | None = None) -> DataFrame:
    """Every catalogue feature and the export's own features for each spine row, as a Spark DataFrame.

    ``tables`` holds the driver's tables (leads, accounts, technographics, opportunities; its events and
    stage_history are empty, its ``present`` says which tables the export has), ``spark_tables`` the events
    and stage_history as :func:`read_spark_table` reads them, ``spine`` the rows (``make_spine``); ``own`` and
    ``vocabulary`` as for :func:`~leadscore.features.building.builder.build_features`. The result has
    ``lead_id``, ``as_of``, where the lead stands (``funnel_position``, as ``leadscore features`` writes it)
    and the features in the local builder's order, one row per spine row, in spine order.
    """
    from pyspark.sql import functions as F

    own = own_feature_specs(tables) if own is None else list(own)
    staged = stage_tables(tables)
    lead_pos = staged.positions(list(spine["lead_id"].astype("str")))
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    profile = FeatureColumns(len(spine))
    profile_features(staged, lead_pos, as_of_ns, profile, vocabulary)
    if own:
        own_features(staged, tables.date_order, lead_pos, as_of_ns, own, profile)
    profile_frame = profile.frame(spine["lead_id"], spine["as_of"]).assign(row=np.arange(len(spine), dtype=np.int64))

    leads = tables.leads
    keys = pd.DataFrame({"lead_id": leads["lead_id"].astype("str"), "key": _key(leads["account_id"], leads["lead_id"])})
    present = frozenset(tables.present)

    def block(kind: int, **columns: object) -> pd.DataFrame:
        n = len(next(iter(columns.values())))
        frame = pd.DataFrame({c: columns.get(c, [None] * n) for c in GROUP_COLUMNS if c != "kind"})
        frame["kind"] = kind
        return frame

    def ns(values: pd.Series) -> pd.Series:
        return to_epoch_ns(values).astype("Int64")

    driver_rows = pd.concat([
        block(SPINE, key=keys["key"].to_numpy()[lead_pos], row=np.arange(len(spine)), lead_id=spine["lead_id"].astype("str"),
              t=pd.array(as_of_ns, dtype="Int64")),
        block(LEAD, key=keys["key"], lead_id=keys["lead_id"], account_id=leads["account_id"].astype("str"),
              t=ns(leads["captured_at"]), text1=leads["job_title"].astype("str")),
        block(TECH, key="A:" + tables.technographics["account_id"].astype("str"), account_id=tables.technographics["account_id"],
              text1=tables.technographics["technology"].astype("str"), text2=tables.technographics["category"].astype("str"),
              t=ns(tables.technographics["first_seen_at"])),
        _deal_block(tables, keys, block, ns),
    ], ignore_index=True)
    # Long columns never null: Spark hands nullable longs to pandas as float64, which cannot hold epoch ns.
    driver_rows["row"] = pd.to_numeric(driver_rows["row"]).fillna(-1).astype("int64")
    for column in ("t", "t2"):
        driver_rows[column] = pd.to_numeric(driver_rows[column]).astype("Int64").fillna(NULL_TIME).astype("int64")
    driver_rows["number"] = pd.to_numeric(driver_rows["number"], errors="coerce").astype("float64")
    schema = ("key string, kind int, row long, lead_id string, account_id string, t long, t2 long, text1 string, "
              "text2 string, text3 string, number double")
    ordered = driver_rows.loc[:, list(GROUP_COLUMNS)].astype({"kind": "int32"})
    union = spark.createDataFrame(for_spark(ordered), schema=schema)
    lead_keys = spark.createDataFrame(for_spark(keys), schema="lead_id string, key string")
    null = F.lit(None)
    no_row, no_time = F.lit(-1).cast("long"), F.lit(NULL_TIME).cast("long")
    time = F.coalesce(F.col("t"), no_time).alias("t")
    if "events" in spark_tables:
        events = spark_tables["events"].join(F.broadcast(lead_keys), "lead_id")
        union = union.unionByName(events.select(
            "key", F.lit(EVENT).alias("kind"), no_row.alias("row"), "lead_id", null.cast("string").alias("account_id"),
            time, no_time.alias("t2"), F.col("event_type").alias("text1"), F.col("page_type").alias("text2"),
            F.col("channel").alias("text3"), F.col("step").alias("number")))
    if "stage_history" in spark_tables:
        stages = spark_tables["stage_history"].join(F.broadcast(lead_keys), "lead_id")
        union = union.unionByName(stages.select(
            "key", F.lit(STAGE).alias("kind"), no_row.alias("row"), "lead_id",
            null.cast("string").alias("account_id"), time, no_time.alias("t2"), F.col("stage").alias("text1"),
            null.cast("string").alias("text2"), null.cast("string").alias("text3"), null.cast("double").alias("number")))

    def per_group(frame: pd.DataFrame) -> pd.DataFrame:
        kinds = frame["kind"].to_numpy()
        parts = {kind: frame[kinds == kind].reset_index(drop=True) for kind in range(6)}
        if not len(parts[SPINE]):  # an account none of whose leads is asked for
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" or c in CODED else "float64")
                                 for c in ["row", POSITION_COLUMN, *KERNEL_FEATURES]})
        return _group_rows(parts, present)

    kernel = union.groupBy("key").applyInPandas(per_group, schema=_output_schema())
    for name, values in CODED.items():
        code = F.col(f"`{name}`")
        kernel = kernel.withColumn(name, F.when(code >= 0, F.element_at(F.array(*map(F.lit, values)), (code + 1).cast("int"))))
    profile_df = spark.createDataFrame(for_spark(profile_frame))
    joined = profile_df.join(kernel, "row", "left").orderBy("row")
    order = ["lead_id", "as_of", *[s for s in profile_frame.columns if s not in ("lead_id", "as_of", "row")]]
    names = [n for n in _catalogue_order(own) if n in order or n in KERNEL_FEATURES]
    return joined.select("lead_id", "as_of", POSITION_COLUMN, *[F.col(f"`{n}`") for n in names])


def _catalogue_order(own: list[dict]) -> list[str]:
    from leadscore.features.building.builder import output_columns

    return [name for name, _ in output_columns(own)]


def _deal_block(tables: Tables, keys: pd.DataFrame, block: object, ns: object) -> pd.DataFrame:
    """Deals keyed by their account: their own, or (naming none) their lead's, when that lead has one."""
    deals = tables.opportunities
    lead_key = keys.drop_duplicates("lead_id").set_index("lead_id")["key"]
    via_lead = deals["lead_id"].astype("str").map(lead_key)
    key = ("A:" + deals["account_id"].astype("str")).where(deals["account_id"].notna(),
                                                           via_lead.where(via_lead.str.startswith("A:", na=False)))
    return block(DEAL, key=key, lead_id=deals["lead_id"].astype("str"), account_id=deals["account_id"].astype("str"),
                 t=ns(deals["created_at"]), t2=ns(deals["closed_at"]), text1=deals["opportunity_id"].astype("str"),
                 text2=deals["outcome"].astype("str"))[lambda frame: frame["key"].notna()]


def read_export_spark(spark: SparkSession, path: str, mapping_path: str | None = None, data_end: str | None = None,
                      allow_files_outside: bool = False) -> tuple[Tables, dict[str, DataFrame]]:
    """The export split for Spark: the driver's tables (validated) and the events and stage history as Spark reads them.

    Without a data end given (``--data-end`` or the mapping file's), the data's end is the latest timestamp
    in leads, events and stage_history, never after now, as for the local reader.
    """
    import dataclasses

    from pyspark.sql import functions as F

    from leadscore.features.reading.mapping import load_mapping
    from leadscore.features.reading.validation import load_tables

    folder = Path(path)
    if not folder.is_dir():
        raise LeadscoreError(f"{folder}: --engine spark reads an export folder of CSV or Parquet files, not a single file.")
    mapping = load_mapping(mapping_path) if mapping_path else None
    files = table_files(folder, mapping)
    spark_tables = {name: read_spark_table(spark, file, name, mapping) for name, file in files.items()}
    tables = load_tables(path, mapping_path, data_end, allow_files_outside=allow_files_outside,
                         skip=frozenset(SPARK_TABLES))
    tables = dataclasses.replace(tables, present=frozenset(tables.present) | frozenset(files))
    if data_end is None and not (mapping and mapping.data_end) and spark_tables:
        latest = [frame.agg(F.max("t")).collect()[0][0] for frame in spark_tables.values()]
        known = [pd.Timestamp(t, tz="UTC") for t in latest if t is not None]
        end = max(known) if known else tables.data_end
        now = pd.Timestamp.now(tz="UTC")
        if end > now:  # as the local reader: a future timestamp never becomes the data's end
            logger.warning("the latest timestamp in events and stage_history (%s) is in the future, so the data's end "
                           "was set to now (%s UTC); fix those timestamps, or give the data's end with --data-end.",
                           end.isoformat(), f"{now:%Y-%m-%d %H:%M}")
            end = now
        if end > tables.data_end:
            tables = dataclasses.replace(tables, data_end=end)
    return tables, spark_tables


def spark_session(app_name: str = "leadscore-features") -> SparkSession:
    """The active Spark session, or a local one on every core (``spark-submit`` and clusters pass their own)."""
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (SparkSession.builder.appName(app_name)
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            .config("spark.sql.legacy.parquet.nanosAsLong", "true")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate())
