"""Real servers for the service tests: uvicorn on a free loopback port, in a thread or as `leadscore serve`.

``service`` serves the ``serving_world`` champions (in a thread of this process, so it starts in a
moment) behind one API key; ``Served.post`` sends a body with that key.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

API_KEY = "test-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Served:
    """A running server: its base URL and the key it accepts."""

    url: str
    key: str = API_KEY

    def post(self, body: object, path: str = "/v1/score", headers: dict | None = None, **kwargs):
        import requests

        sent = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        if isinstance(body, bytes | str) or hasattr(body, "__next__"):
            return requests.post(self.url + path, data=body, headers={"Content-Type": "application/json", **sent},
                                 timeout=120, **kwargs)
        return requests.post(self.url + path, json=body, headers=sent, timeout=120, **kwargs)

    def get(self, path: str, **kwargs):
        import requests

        return requests.get(self.url + path, timeout=30, **kwargs)


class ThreadServer:
    """uvicorn serving ``app`` in a daemon thread until :meth:`stop`."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return Served(f"http://127.0.0.1:{self.port}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_app(world, max_body_bytes: int = 1_000_000, max_leads: int = 1_000, context=None, require_key: bool = True,
             loaded: bool = True):
    import mlflow

    from leadscore.scorers.rules import load_rules
    from leadscore.serving.service.app import ServiceConfig, create_app
    from leadscore.serving.service.follower import ModelFollower

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(world.tracking_uri)
    mlflow.set_registry_uri(world.tracking_uri)
    try:
        follower = ModelFollower("models:/leadscore-sqo@champion", "models:/leadscore-won@champion", 3600)
        if loaded:
            follower.refresh()
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    config = ServiceConfig(rules=load_rules(None), api_keys=(API_KEY.encode(),), require_key=require_key,
                           max_body_bytes=max_body_bytes, max_leads=max_leads)
    return create_app(config, follower, context)


@pytest.fixture(scope="session")
def service(serving_world):
    server = ThreadServer(make_app(serving_world))
    served = server.start()
    yield served
    server.stop()


def serve_command(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, Served]:
    """``leadscore serve`` as a user starts it, on a free port; returns once /ready answers 200."""
    import requests

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "leadscore.cli", "serve", "--port", str(port), *args],
                               env={**os.environ, **env}, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    served = Served(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"leadscore serve exited {process.returncode}: {process.stderr.read()[-2000:]}")
        try:
            if requests.get(served.url + "/ready", timeout=2).status_code == 200:
                return process, served
        except requests.RequestException:  # serve listens before its models are loaded: a read may time out
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("leadscore serve did not become ready in 120 s")


@pytest.fixture
def start_service(serving_world):
    """A factory: ``start_service(max_body_bytes=…, max_leads=…, context=…)`` serves until the test ends."""
    servers: list[ThreadServer] = []

    def start(**options) -> Served:
        server = ThreadServer(make_app(serving_world, **options))
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def serve_app():
    """A factory: ``serve_app(app)`` serves any ASGI app (built by the test) until the test ends."""
    servers: list[ThreadServer] = []

    def start(app: object) -> Served:
        server = ThreadServer(app)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def run_serve(tmp_path):
    """A factory: ``run_serve(args, env)`` starts `leadscore serve` and returns ``(process, Served)``; stopped at the end."""
    processes: list[subprocess.Popen] = []

    def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Served]:
        process, served = serve_command(args, env, tmp_path)
        processes.append(process)
        return process, served

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
