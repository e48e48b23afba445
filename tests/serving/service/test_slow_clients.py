"""`leadscore serve` bounds what slow, idle or hostile clients hold: connections that never finish their headers or
body are closed once the deadline passes (408 when a request had begun), idle keep-alive connections too, and
past the per-worker cap the connection idle longest makes room, so hundreds of half-open connections never stop
``/health`` or scoring. An API key sent in the query string never reaches the access log (``-v``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

HEADER_SECONDS = 2
CAP = 100
KEY = "slow-client-key-0123456789"


@pytest.fixture(scope="module")
def server(serving_world, tmp_path_factory):
    """`leadscore -v serve` with short deadlines and a cap of 100 connections; its log file beside it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "leadscore.cli", "-v", "serve", "--port", str(port), "--header-timeout",
             str(HEADER_SECONDS), "--body-timeout", str(HEADER_SECONDS), "--keep-alive", "1", "--max-connections",
             str(CAP)],
            env={**os.environ, "MLFLOW_TRACKING_URI": serving_world.tracking_uri, "LEADSCORE_API_KEYS": KEY},
            stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if requests.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # the socket listens before the models are loaded
                pass
            time.sleep(0.2)
        yield port, url, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _closed_by_server(connection: socket.socket) -> tuple[bool, bytes]:
    """Whether the server closed ``connection`` (after whatever it sent, returned too)."""
    connection.setblocking(False)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
        return True, received
    except BlockingIOError:
        return False, received
    except OSError:
        return True, received


def test_hundreds_of_half_open_connections_never_stop_health_and_are_closed_after_the_deadline(server):
    port, url, _ = server
    half_open = []
    for _ in range(3 * CAP):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the blank line that ends the headers never comes
        half_open.append(connection)
    started = time.monotonic()
    assert requests.get(url + "/health", timeout=5).json() == {"status": "ok"}
    answer = requests.post(url + "/v1/score", json={"leads": [{"lead_id": "x", "captured_at": "2025-01-01"}]},
                           headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert answer.status_code == 200 and time.monotonic() - started < 30
    evicted = sum(_closed_by_server(c)[0] for c in half_open)
    assert evicted >= 2 * CAP - 5  # past the cap, the oldest idle ones made room
    time.sleep(HEADER_SECONDS + 1.5)
    results = [_closed_by_server(c) for c in half_open]
    assert all(closed for closed, _ in results)
    assert sum(data.startswith(b"HTTP/1.1 408 ") for _, data in results) >= CAP - 5
    for connection in half_open:
        connection.close()


def test_a_body_that_stops_arriving_gets_408_and_the_connection_closed(server):
    port, _, _ = server
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 500\r\n\r\n{\"leads\"")
        time.sleep(HEADER_SECONDS + 1.5)
        closed, data = _closed_by_server(connection)
    assert closed and data.startswith(b"HTTP/1.1 408 ")


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(server):
    port, _, _ = server
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        closed, data = _closed_by_server(connection)
        assert not closed and data.startswith(b"HTTP/1.1 200 ")
        time.sleep(2)
        assert _closed_by_server(connection)[0]


def test_an_api_key_sent_in_the_query_string_stays_out_of_the_access_log(server):
    _, url, log = server
    answer = requests.post(url + f"/v1/score?api_key={KEY}&x=1", json={"leads": [{"lead_id": "x"}]}, timeout=60)
    assert answer.status_code == 401
    time.sleep(0.5)
    text = Path(log).read_text()
    assert '"POST /v1/score?api_key=***&x=*** HTTP/1.1" 401' in text
    assert KEY not in text
