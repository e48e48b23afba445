"""Gate messages tell the truth: a version that failed its gates is registered, named, and forced only on request."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from leadscore.cli import main
from leadscore.features.synthetic.demo import generate_demo, write_export


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def failed_version(tmp_path_factory) -> tuple[Path, Path]:
    """An export and a store where leadscore-sqo version 1 failed its gates (an AUC floor of 0.999)."""
    import os

    root = tmp_path_factory.mktemp("gates")
    frames, truth = generate_demo(3000, 4)
    write_export(frames, truth, root / "export", "parquet")
    config = root / "strict.yaml"
    config.write_text("lightgbm: {num_threads: 1}\nevaluation: {n_bootstrap: 20}\nmodel: {refit: false}\n"
                      "gates: {min_auc: 0.999}\n")
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    code, out, _ = run("train", str(root / "export"), "--target", "sqo", "--config", str(config))
    assert code == 0  # a version was registered: that is a successful train, gates or not
    assert "FAIL ROC AUC at capture" in out and "version 1 without an alias" in out and "--version 1 --force" in out
    yield root, root / "export"
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


def test_score_names_the_failed_gate_and_the_forcing_command(failed_version) -> None:
    root, export = failed_version
    code, _, err = run("score", str(export), "--out", str(root / "scores.csv"))
    assert code == 2 and "Traceback" not in err
    assert "no champion because version 1, the newest, failed its gates when it was trained: ROC AUC at capture" in err
    assert "lies wholly below 0.9990" in err and "more data" not in err  # which gate, and why: not a guess
    assert "leadscore promote --target sqo --version 1 --force" in err
    assert "run `leadscore train" not in err  # it was trained: saying so would mislead


def test_promoting_a_gate_failed_version_needs_force_and_records_it(failed_version) -> None:
    from mlflow import MlflowClient

    root, export = failed_version
    code, _, err = run("promote", "--target", "sqo", "--version", "1")
    assert code == 2 and "failed its gates" in err and "--force" in err
    code, out, _ = run("promote", "--target", "sqo", "--version", "1", "--force")
    assert code == 0 and "forced: version 1 is now champion despite failing" in out
    version = MlflowClient().get_model_version_by_alias("leadscore-sqo", "champion")
    assert str(version.version) == "1" and version.tags["leadscore.promote.forced"] == "true"
    code, out, _ = run("score", str(export), "--out", str(root / "scores.csv"))
    assert code == 0 and "leadscore-sqo v1" in out
