"""The README's ``make test`` passes on a machine without the browser binaries; CI, which requires them,
does not let them go.

Runs pytest itself on the browser tests with the binaries pointed at paths that do not exist (both, as on a
fresh machine that has only Python and pip, or one of them), whatever the developer's machine has.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TESTS = "tests/serving/report/test_browser.py"
# One test that runs anyway, as in the whole suite (pytest exits 5 when it ran nothing at all).
OTHER_TEST = "tests/layout/test_fresh_machine.py::test_ci_entry_point_requires_the_browser"
INSTALL = "sudo apt-get install chromium chromium-driver"


def _pytest_with(tmp_path: Path, present: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess:
    """pytest on the browser tests with only the binaries named in ``present`` found (stand-ins in ``tmp_path``)."""
    environment = {k: v for k, v in os.environ.items() if k != "LEADSCORE_REQUIRE_BROWSER"}
    for name, variable in (("chromium", "LEADSCORE_CHROMIUM"), ("chromedriver", "LEADSCORE_CHROMEDRIVER")):
        path = tmp_path / (name if name in present else f"no-{name}")
        if name in present:
            path.write_text("#!/bin/sh\nexit 1\n")
            path.chmod(0o755)
        environment[variable] = str(path)
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", BROWSER_TESTS, OTHER_TEST],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("present", "missing"), [((), "chromium and chromedriver"), (("chromedriver",), "chromium"),
                                                  (("chromium",), "chromedriver")])
def test_without_a_browser_binary_its_tests_are_left_out_with_one_line_saying_how_to_install(
        tmp_path, present, missing) -> None:
    done = _pytest_with(tmp_path, present)
    assert done.returncode == 0, done.stdout + done.stderr
    hints = [line for line in done.stdout.splitlines() if INSTALL in line]
    assert hints == [f"2 browser tests left out: {missing} not found; to run them: {INSTALL}"]
    assert "1 passed, 2 deselected" in done.stdout


def test_ci_makes_a_missing_browser_a_failure(tmp_path) -> None:
    done = _pytest_with(tmp_path, LEADSCORE_REQUIRE_BROWSER="1")
    assert done.returncode != 0
    assert "chromium and chromedriver not found" in done.stdout and INSTALL in done.stdout


def test_ci_entry_point_requires_the_browser() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "export LEADSCORE_REQUIRE_BROWSER=1" in script and "apt-get install -y -q chromium chromium-driver" in script
