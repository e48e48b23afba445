"""``make test`` passes on a machine without PostgreSQL's server binaries, saying so in one line; CI, which
requires them (``.ci/run`` sets ``LEADSCORE_REQUIRE_POSTGRES=1`` and installs them), does not let it go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_TESTS = "tests/serving/history/test_store_backends.py::test_a_writer_killed_during_the_write_leaves_no_partial_run"
OTHER_TEST = "tests/layout/test_fresh_machine_postgres.py::test_ci_entry_point_requires_postgres"


def _pytest_without_postgres(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "LEADSCORE_REQUIRE_POSTGRES"}
    environment.update(LEADSCORE_POSTGRES_BIN=str(tmp_path / "no-postgres"), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", POSTGRES_TESTS, OTHER_TEST], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=300)


def test_without_postgres_its_tests_are_left_out_with_one_line_saying_how_to_install(tmp_path) -> None:
    done = _pytest_without_postgres(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    hints = [line for line in done.stdout.splitlines() if "postgres tests left out" in line]
    assert hints == [f"1 postgres tests left out: no PostgreSQL server binaries in {tmp_path / 'no-postgres'}; "
                     "to run them: sudo apt-get install postgresql-15"]
    assert "2 passed, 1 deselected" in done.stdout  # the DuckDB case still runs


def test_ci_makes_missing_postgres_binaries_a_failure(tmp_path) -> None:
    done = _pytest_without_postgres(tmp_path, LEADSCORE_REQUIRE_POSTGRES="1")
    assert done.returncode != 0
    assert "no PostgreSQL server binaries" in done.stdout


def test_ci_entry_point_requires_postgres() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "export LEADSCORE_REQUIRE_POSTGRES=1" in script and "apt-get install -y -q postgresql-15" in script


def test_ci_entry_point_is_a_script_bash_can_read() -> None:
    """A merge once spliced a comment into the middle of ``.ci/run``: CI failed after 0 s, before any test."""
    done = subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    script = (ROOT / ".ci" / "run").read_text()
    assert script.count("export LEADSCORE_REQUIRE_POSTGRES=1") == 1
    assert script.rstrip().endswith("make test-all")
