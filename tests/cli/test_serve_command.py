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


def test_serve_says_where_it_listens_and_where_the_docs_are_then_serves_them_even_before_a_model(tmp_path):
    import os
    import re
    import time

    import requests

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_"))}
    process = subprocess.Popen([sys.executable, "-m", "leadscore.cli", "serve", "--no-auth", "--port", "0",
                                "--poll-seconds", "0.2"],
                               cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("listening on" in line for line in lines):
            line = process.stderr.readline()
            assert line, f"serve stopped: {''.join(lines)}"
            lines.append(line.rstrip("\n"))
        listening = next(line for line in lines if "listening on" in line)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", listening).group(1)
        assert f"API docs at {url}/docs" in listening
        assert all(line.startswith("leadscore: ") for line in lines), lines
        assert any("models not loaded (/ready answers 503 meanwhile)" in line and "leadscore train" in line
                   for line in lines)
        assert requests.get(url + "/docs", timeout=10).status_code == 200
        assert requests.get(url + "/ready", timeout=10).status_code == 503
        time.sleep(2)  # ten polls of the registry, none with a model
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "models not loaded" not in process.stderr.read()  # said once, not at every poll


def test_serve_on_a_busy_port_says_so_in_one_sentence_before_loading_anything():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _serve(["--no-auth", "--port", str(port)])
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"leadscore serve: cannot listen on 127.0.0.1:{port}: another program is "
                                        "listening there; choose another --port (or --host)."]
