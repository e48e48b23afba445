"""Compiled code cached on disk is compiled again when any source it was built from changes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CALLER = textwrap.dedent("""
    import numba
    import callee
    from leadscore.features.compiled import fingerprint

    def _drivers(source):
        @numba.njit(cache=True)
        def run():
            _ = source
            return callee.value()
        return run

    print(_drivers(fingerprint(callee))())
""")


def _run(folder: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(folder)}
    done = subprocess.run([sys.executable, str(folder / "caller.py")], env=env, capture_output=True, text=True,
                          check=True, timeout=300)
    return done.stdout.strip()


def test_a_cached_entry_point_runs_the_changed_code_of_a_function_in_another_module(tmp_path: Path) -> None:
    (tmp_path / "caller.py").write_text(CALLER)
    callee = tmp_path / "callee.py"
    callee.write_text("import numba\n\n@numba.njit\ndef value():\n    return 1\n")
    assert _run(tmp_path) == "1"
    assert _run(tmp_path) == "1"  # from the cache
    callee.write_text("import numba\n\n@numba.njit\ndef value():\n    return 2\n")
    assert _run(tmp_path) == "2"


def test_the_kernels_entry_points_are_cached_under_their_sources_fingerprint() -> None:
    from leadscore.features import contract, pit
    from leadscore.features.building import account, catalogue, engagement, kernel, stages, staging
    from leadscore.features.compiled import fingerprint
    from leadscore.scorers.rules import config, events

    expected = fingerprint(pit, contract, catalogue, staging, engagement, stages, account, kernel)
    for driver in (kernel._ROWS_PARALLEL, kernel._ROWS_SERIAL):
        assert [c.cell_contents for c in driver.py_func.__closure__] == [expected]
    expected = fingerprint(pit, contract, staging, engagement, config, events)
    for driver in (events._ROWS_PARALLEL, events._ROWS_SERIAL):
        assert [c.cell_contents for c in driver.py_func.__closure__] == [expected]
