"""`leadscore serve` refuses to start unsafely, in one sentence and before loading anything."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _serve(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    environ = {k: v for k, v in os.environ.items() if k != "LEADSCORE_API_KEYS"}
    return subprocess.run([sys.executable, "-m", "leadscore.cli", "serve", *args], capture_output=True, text=True,
                          env={**environ, **(env or {})}, timeout=120)


@pytest.mark.parametrize(("args", "env", "says"), [
    ([], {}, "no API key: set LEADSCORE_API_KEYS"),
    (["--no-auth", "--host", "0.0.0.0"], {}, "only on a loopback host"),
    ([], {"LEADSCORE_API_KEYS": "short"}, "shorter than 16 characters"),
    (["--api-keys-file", "/no/such/keys.txt"], {}, "could not be read"),
])
def test_serve_refuses_to_start_without_keys_or_with_no_auth_off_loopback(args, env, says):
    done = _serve(args, env)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
