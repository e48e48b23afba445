"""Spark local mode: `mlflow.pyfunc.spark_udf` on a Parquet feature file answers like the batch scorer.

Needs the `spark` extra (pyspark, about 520 MB) and Java 17: the full run and CI install it; without
pyspark the test is skipped.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from leadscore.features.frames_io import write_frame


@pytest.mark.slow
def test_spark_udf_scores_a_parquet_feature_file_like_the_batch_scorer(serving_world, tmp_path, restore_mlflow_uris):
    pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e '.[spark]')")
    import mlflow
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, struct

    _, scores, features = serving_world.scored_sample(20)
    path = write_frame(features, tmp_path / "features.parquet")  # what `leadscore features --out` writes

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master("local[2]").appName("leadscore-spark-udf-test")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        frame = spark.read.parquet(str(path))
        model_uri = f"models:/{serving_world.sqo.name}/{serving_world.sqo.version}"
        udf = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local")
        inputs = udf.metadata.get_input_schema().input_names()
        answered = frame.withColumn("answer", udf(struct(*[col(name) for name in inputs]))).select("answer.*")
        answer = answered.toPandas()
    finally:
        spark.stop()

    answer = answer.set_index("lead_id").loc[scores["lead_id"].tolist()].reset_index()
    np.testing.assert_array_equal(answer["p"].to_numpy(dtype=float), scores["p_sqo"].to_numpy(dtype=float))
    assert answer["score"].tolist() == scores["score"].tolist()
    for column in ("grade", "reasons_positive", "reasons_negative", "reasons"):
        assert answer[column].tolist() == scores[column].tolist(), column
