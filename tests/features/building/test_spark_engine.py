"""Spark local mode: `leadscore features --engine spark` writes the local builder's rows, and the logged model's
`spark_udf` answers on them like the batch scorer.

Needs the `spark` extra (pyspark, about 520 MB) and Java 17: the full run and CI install it; without
pyspark the tests are skipped.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e '.[spark]')")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("leadscore-spark-engine-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    yield session
    session.stop()


def run(argv: list[str]) -> str:
    from leadscore.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    assert code == 0, out.getvalue()
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_spark_builds_the_local_builders_rows_on_a_generated_export(spark, tmp_path, fmt: str) -> None:
    from leadscore.features.synthetic.demo import generate_demo, write_export

    frames, truth = generate_demo(1500, 31)
    write_export(frames, truth, tmp_path / "export", fmt=fmt)
    request = frames["leads"][["lead_id", "captured_at"]].iloc[::7].reset_index(drop=True)
    # Several moments per lead (a backtest), some right at capture.
    leads = pd.DataFrame({"lead_id": np.repeat(request["lead_id"].to_numpy(), 2),
                          "as_of": np.ravel(np.column_stack([request["captured_at"],
                                                             request["captured_at"] + pd.Timedelta(days=9)]))})
    leads.to_csv(tmp_path / "leads.csv", index=False)
    export = str(tmp_path / "export")
    run(["features", export, "--out", str(tmp_path / "local.parquet"), "--leads", str(tmp_path / "leads.csv")])
    said = run(["features", export, "--engine", "spark", "--out", str(tmp_path / "spark.parquet"),
                "--leads", str(tmp_path / "leads.csv")])
    local = pd.read_parquet(tmp_path / "local.parquet")
    built = pd.read_parquet(tmp_path / "spark.parquet")
    assert "rows written" in said and len(local) > 300
    assert list(built.columns) == list(local.columns)
    built = built.sort_values(["lead_id", "as_of"]).reset_index(drop=True)
    local = local.sort_values(["lead_id", "as_of"]).reset_index(drop=True)
    for column in local.columns:
        if column == "as_of":
            assert (pd.to_datetime(built[column], utc=True) == pd.to_datetime(local[column], utc=True)).all()
            continue
        got, want = built[column], local[column]
        same = (got.isna() & want.isna()) | (got.astype(object) == want.astype(object))
        assert same.all(), (column, got[~same].head().tolist(), want[~same].head().tolist())


def test_the_scorers_spark_udf_answers_on_spark_built_features_as_the_batch_scorer(spark, serving_world, tmp_path,
                                                                                   restore_mlflow_uris) -> None:
    import mlflow
    from pyspark.sql.functions import col, struct

    from leadscore.features.building.spark import build_features_spark, read_export_spark
    from leadscore.features.building.spine import make_spine
    from leadscore.features.synthetic.demo import DATA_END, write_export
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.score import model_vocabulary, score_leads

    write_export(serving_world.frames, serving_world.truth, tmp_path / "export", fmt="parquet")
    tables, spark_tables = read_export_spark(spark, str(tmp_path / "export"), data_end=DATA_END.isoformat())
    sample = pd.DataFrame({"lead_id": tables.leads["lead_id"].iloc[::40]})
    spine, _ = make_spine(tables, leads=sample)
    features = build_features_spark(spark, tables, spark_tables, spine, own=[],
                                    vocabulary=model_vocabulary(serving_world.sqo, serving_world.won))
    mlflow.set_tracking_uri(serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    udf = mlflow.pyfunc.spark_udf(spark, f"models:/{serving_world.sqo.name}/{serving_world.sqo.version}",
                                  env_manager="local")
    inputs = udf.metadata.get_input_schema().input_names()
    answer = features.withColumn("answer", udf(struct(*[col(name) for name in inputs]))).select("answer.*").toPandas()
    scores, _ = score_leads(serving_world.tables, serving_world.sqo, serving_world.won, load_rules(None), leads=spine,
                            progress=False)
    answer = answer.set_index("lead_id").loc[scores["lead_id"].tolist()].reset_index()
    # closed leads and leads at SQO among them get their status and no p_sqo, as in the batch
    assert set(scores["status"]) > {"ok"}
    assert answer["status"].tolist() == scores["status"].tolist()
    np.testing.assert_array_equal(answer["p"].to_numpy(dtype=float), scores["p_sqo"].to_numpy(dtype=float))
    for column in ("score", "grade", "reasons_positive", "reasons_negative", "reasons"):
        assert _missing_as_empty(answer[column]) == _missing_as_empty(scores[column]), column


def _missing_as_empty(values: pd.Series) -> list:
    """Missing numbers and texts alike as "" (the pyfunc's texts are empty where the scorer's are missing)."""
    return ["" if pd.isna(v) else v for v in values.tolist()]


def test_spark_caps_a_future_data_end_at_now_reads_relative_moments_and_says_why_rows_are_not_built(
        spark, tmp_path, caplog) -> None:
    from leadscore.features.building.spark import read_export_spark
    from leadscore.features.synthetic.demo import generate_demo, write_export

    frames, truth = generate_demo(300, 5)
    write_export(frames, truth, tmp_path / "export", fmt="csv")
    events = pd.read_csv(tmp_path / "export" / "events.csv")
    events.loc[0, "occurred_at"] = "2099-01-01T00:00:00Z"  # a typo in the CRM
    events.to_csv(tmp_path / "export" / "events.csv", index=False)
    with caplog.at_level("WARNING"):
        tables, _ = read_export_spark(spark, str(tmp_path / "export"))
    assert tables.data_end <= pd.Timestamp.now(tz="UTC") and "is in the future" in caplog.text
    leads = pd.DataFrame({"lead_id": [frames["leads"]["lead_id"].iloc[0], "nobody"], "as_of": ["", ""]})
    leads.to_csv(tmp_path / "leads.csv", index=False)
    said = run(["features", str(tmp_path / "export"), "--engine", "spark", "--out", str(tmp_path / "f.parquet"),
                "--as-of", "30d", "--data-end", "2026-06-30"])
    assert "rows written" in said
    said = run(["features", str(tmp_path / "export"), "--engine", "spark", "--out", str(tmp_path / "g.parquet"),
                "--leads", str(tmp_path / "leads.csv"), "--data-end", "2026-06-30"])
    assert "not built: 1 rows" in said and "unknown lead_id 1" in said, said
