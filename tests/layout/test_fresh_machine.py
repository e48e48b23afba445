"""The README's ``make test`` passes on a machine without Chromium; CI, which requires it, does not let it go.

Runs pytest itself on the browser tests with the binaries pointed at a path that does not exist, as on a
fresh machine that has only Python and pip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TESTS = "tests/serving/report/test_browser.py"
# One test that runs anyway, as in the whole suite (pytest exits 5 when it ran nothing at all).
OTHER_TEST = "tests/layout/test_fresh_machine.py::test_ci_entry_point_requires_the_browser"


def _pytest_without_a_browser(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "LEADSCORE_REQUIRE_BROWSER"}
    environment.update(LEADSCORE_CHROMIUM=str(tmp_path / "no-chromium"), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", BROWSER_TESTS, OTHER_TEST], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_without_chromium_the_browser_tests_are_left_out_with_one_line_saying_how_to_install(tmp_path) -> None:
    done = _pytest_without_a_browser(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    hints = [line for line in done.stdout.splitlines() if "apt-get install chromium chromium-driver" in line]
    assert hints == ["2 browser tests left out: chromium not found; to run them: "
                     "sudo apt-get install chromium chromium-driver"]
    assert "1 passed, 2 deselected" in done.stdout


def test_ci_makes_a_missing_browser_a_failure(tmp_path) -> None:
    done = _pytest_without_a_browser(tmp_path, LEADSCORE_REQUIRE_BROWSER="1")
    assert done.returncode != 0
    assert "chromium not found" in done.stdout and "sudo apt-get install chromium chromium-driver" in done.stdout


def test_ci_entry_point_requires_the_browser() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "export LEADSCORE_REQUIRE_BROWSER=1" in script and "apt-get install -y -q chromium chromium-driver" in script
