"""``leadscore train`` and its MLflow store, run as a user runs them: real processes on a generated export.

- Two commands opening a fresh store at once both get past its set-up, which takes turns under a lock;
  two trains started together both succeed, their printed aliases are what the registry holds, and
  later commands work.
- A train stopped by SIGTERM inside its run exits 143 and leaves the run FAILED, not RUNNING.
- A full disk inside the run is one sentence, exit 2, and a FAILED run (on a real, filled file system too).
- A train killed outright leaves its run RUNNING only until the next train, which also removes its temporary folder.
- Train reports progress on stderr and MLflow's own chatter stays out of it.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

LEADSCORE = [sys.executable, "-m", "leadscore.cli"]
# Small and quick, with gates any model of this export passes, so the aliases are what is under test.
FAST_CONFIG = """\
lightgbm: {num_threads: 1}
evaluation: {n_bootstrap: 20}
model: {refit: false}
training_set: {offsets_days: [0, 30]}
gates: {min_auc: 0.0, max_ece: 1.0, min_auc_gain_over_rules: -1.0}
"""
REGISTERED = re.compile(r"^registered (leadscore-\w+) version (\d+)(?:: alias (\w+)| without an alias)", re.M)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``leadscore generate --leads 3000`` and a quick training config beside it."""
    folder = tmp_path_factory.mktemp("generated")
    done = subprocess.run([*LEADSCORE, "generate", "--leads", "3000", "--seed", "4", "--out", str(folder / "export")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (folder / "generate.stderr").write_text(done.stderr)
    (folder / "fast.yaml").write_text(FAST_CONFIG)
    return folder


def test_generate_reports_its_steps_on_stderr_when_it_is_not_a_terminal(export: Path) -> None:
    lines = (export / "generate.stderr").read_text().splitlines()
    assert lines[0].endswith("generate --leads 3000: step 1/5 drawing 3,000 leads and their accounts (0 s so far)")
    assert any("step 5/5 writing the tables (parquet)" in line for line in lines)


def _environment() -> dict[str, str]:
    """The user's environment without a tracking URI: the store is ./mlflow.db of the working folder."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


def _train(export: Path, store: Path, target: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*LEADSCORE, "train", str(export / "export"), "--target", target, "--config", str(export / "fast.yaml")],
        cwd=store, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _runs(store: Path) -> list[str]:
    with sqlite3.connect(store / "mlflow.db") as db:
        return [status for (status,) in db.execute("SELECT status FROM runs")]


def test_two_commands_opening_a_fresh_store_at_the_same_moment_both_get_past_its_set_up(tmp_path: Path) -> None:
    # promote opens the store first thing; on an empty store it ends with one sentence saying to train
    promotes = [subprocess.Popen([*LEADSCORE, "promote", "--target", "sqo"], cwd=tmp_path, env=_environment(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in promotes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 2, err
        assert err.splitlines() == [f"leadscore promote: no registered model leadscore-sqo in the MLflow store "
                                    f"sqlite:///{tmp_path / 'mlflow.db'}; train one with `leadscore train DATA "
                                    "--target sqo` first."]
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert not list(db.execute("SELECT name FROM sqlite_master WHERE name LIKE '_alembic_tmp%'"))


def test_two_trains_started_together_on_a_fresh_store_both_succeed_and_tell_the_truth_about_aliases(
    export: Path, tmp_path: Path,
) -> None:
    trains = [_train(export, tmp_path, "sqo") for _ in range(2)]
    finished = [(p.returncode, *p.communicate(timeout=600)) for p in trains]
    finished = [(p.returncode, out, err) for p, (_, out, err) in zip(trains, finished, strict=True)]
    for code, out, err in finished:
        assert code == 0, err
        assert "Traceback" not in err
        assert "Successfully registered model" not in err + out and "Created version" not in err + out
        # No MLflow chatter, no logger names or levels: each line is leadscore's, for people.
        assert [line for line in err.splitlines() if not line.startswith("leadscore: ")] == []
        assert "leadscore.progress" not in err and "INFO" not in err and "WARNING" not in err
        assert "step 1/8 reading the export" in err and "step 5/8 fitting LightGBM" in err  # progress, on stderr
        assert "leadscore.progress" not in out

    printed = {(name, int(version)): alias for _, out, _ in finished for name, version, alias in REGISTERED.findall(out)}
    assert sorted(printed.values()) == ["challenger", "champion"], [out for _, out, _ in finished]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", registry_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    held = {("leadscore-sqo", int(client.get_model_version_by_alias("leadscore-sqo", alias).version)): alias
            for alias in ("champion", "challenger")}
    assert held == printed

    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        leftovers = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE name LIKE '_alembic_tmp%'")]
    assert leftovers == [] and _runs(tmp_path) == ["FINISHED"] * 2

    scored = subprocess.run([*LEADSCORE, "score", str(export / "export"), "--out", "scores.csv"], cwd=tmp_path,
                            env=_environment(), capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0, scored.stderr
    assert len(pd.read_csv(tmp_path / "scores.csv")) == 3000


def test_a_train_stopped_by_sigterm_inside_its_run_leaves_the_run_failed(export: Path, tmp_path: Path) -> None:
    train = _train(export, tmp_path, "sqo")
    for line in train.stderr:
        if "logging run" in line:  # said once the MLflow run has started
            train.send_signal(signal.SIGTERM)
            break
    out, err = train.communicate(timeout=300)
    assert train.returncode == 128 + signal.SIGTERM, err
    assert err.splitlines()[-1] == "leadscore train: stopped by SIGTERM."
    assert _runs(tmp_path) == ["FAILED"]


def test_a_full_disk_inside_the_run_is_one_sentence_exit_2_and_a_failed_run(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys,
) -> None:
    import mlflow

    from leadscore.cli import main

    def full_disk(self, path_or_buf=None, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write to a handle says it: no file name

    # The run's evaluation tables are the first files written inside the run.
    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("MLFLOW_TRACKING")]:
        monkeypatch.delenv(name)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        code = main(["train", str(export / "export"), "--target", "sqo", "--config", str(export / "fast.yaml")])
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[-1].startswith("leadscore train: the disk is full while writing ")
    assert err[-1].endswith("; free some space, then run the command again.")
    assert _runs(tmp_path) == ["FAILED"]


def _train_in(export: Path, store: Path, temporary: Path) -> subprocess.Popen:
    """``leadscore train`` in ``store`` with ``temporary`` as its temporary folder (TMPDIR)."""
    return subprocess.Popen(
        [*LEADSCORE, "train", str(export / "export"), "--target", "sqo", "--config", str(export / "fast.yaml")],
        cwd=store, env={**_environment(), "TMPDIR": str(temporary)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def _wait_for_the_run(train: subprocess.Popen) -> None:
    for line in train.stderr:
        if "logging run" in line:  # said once the MLflow run has started
            return
    raise AssertionError("the train ended before it logged its run")


@pytest.mark.slow
def test_a_train_killed_outright_is_marked_failed_by_the_next_and_its_temporary_folder_removed(
    export: Path, tmp_path: Path,
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    killed = _train_in(export, tmp_path, temporary)
    _wait_for_the_run(killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert _runs(tmp_path) == ["RUNNING"]
    assert [p for p in temporary.iterdir() if p.name.endswith(f"-{killed.pid}") or f"-{killed.pid}." in p.name]

    later = _train_in(export, tmp_path, temporary)
    out, err = later.communicate(timeout=600)
    assert later.returncode == 0, err
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        rows = dict(db.execute("SELECT r.status, t.value FROM runs r LEFT JOIN tags t ON t.run_uuid = r.run_uuid "
                               "AND t.key = 'leadscore.failed_because'"))
    assert set(rows) == {"FAILED", "FINISHED"}
    assert rows["FAILED"].startswith(f"its leadscore train (process {killed.pid} on ")
    assert list(temporary.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 64 MB file system (tmpfs), which needs a process allowed to mount one (root in a container or CI)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("a real full disk needs permission to mount a tmpfs (root); the in-process variant above runs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_disk_filling_up_while_train_logs_is_one_sentence_no_traceback_and_a_failed_run(
    export: Path, small_disk: Path,
) -> None:
    train = _train_in(export, small_disk, small_disk)
    _wait_for_the_run(train)
    with (small_disk / "filler").open("wb") as filler:  # the disk fills up under the train's feet
        try:
            while True:
                filler.write(b"\0" * (1 << 20))
                filler.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    _, rest = train.communicate(timeout=600)
    assert train.returncode == 2
    assert "Traceback" not in rest and "sqlalchemy" not in rest.lower()
    assert rest.splitlines()[-1].startswith("leadscore train: the disk is full")
    # Ended FAILED at once when removing its own files made room; with the disk still full not even that can be
    # written, and the next train, once there is space, ends it.
    (small_disk / "filler").unlink()
    again = _train_in(export, small_disk, small_disk)
    again.communicate(timeout=600)
    assert again.returncode == 0
    assert sorted(_runs(small_disk)) == ["FAILED", "FINISHED"]
