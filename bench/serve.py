"""Benchmark: `leadscore serve` on loopback beside a bare FastAPI + LightGBM floor, single-lead requests with 20 events.

Run ``python bench/serve.py`` (``--minutes`` of soak per server, default 4, in ``--rounds`` alternations so
both meet the same machine load). Steps:

1. In a child process: train SQO and WON models with the shipped training defaults on a demo export and
   register them as ``champion`` in a temporary MLflow store (``bench/score.py``'s ``train_models``).
2. A pool of request bodies: demo leads, each sent with its account, its stage history and exactly 20
   events dated before ``as_of`` (its own events, topped up with page views), as a CRM webhook would.
3. Two servers on 127.0.0.1, each with ``--workers`` processes (default 2): ``leadscore serve`` with an API
   key, and the floor (``bench/floor_app.py``: FastAPI reading the same body and predicting one row with
   the same SQO booster). ``--clients`` threads (default 8) each send one request after another on a
   kept-alive connection, round-robin over the pool; each server gets a warm-up, then the rounds
   alternate between them. Latency is measured per request at the client; the servers' RSS (all their
   processes) is sampled every 5 s.

Reported per server: p50 / p90 / p99 latency, requests per second, errors, RSS; and leadscore's ratios to
the floor. Targets (issue 23) on 2 cores: p50 <= 10 ms, p99 <= 30 ms, >= 250 requests/s with reasons and rule
points, no error, RSS flat within +-10 %. Only loopback addresses are used, and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

TARGET_P50_MS = 10.0
TARGET_P99_MS = 30.0
TARGET_RPS = 250.0
RSS_TOLERANCE = 0.10
EVENTS_PER_REQUEST = 20
WARM_UP_SECONDS = 15
KEY = "bench-key-0123456789abcdef0123"


def request_pool(n_bodies: int, seed: int) -> list[bytes]:
    """JSON bodies of one lead each with its account, stage history and exactly 20 events before as_of."""
    import numpy as np
    import pandas as pd

    from leadscore.features.synthetic.demo import DATA_END, generate_demo

    frames, _ = generate_demo(max(4 * n_bodies, 2_000), seed + 1)
    rng = np.random.default_rng(seed)
    leads = frames["leads"]
    leads = leads[leads["captured_at"] < DATA_END - pd.Timedelta(days=21)]
    chosen = leads.sample(n=min(n_bodies, len(leads)), random_state=seed)
    events_by_lead = dict(tuple(frames["events"].groupby("lead_id")))
    stages_by_lead = dict(tuple(frames["stage_history"].groupby("lead_id")))
    accounts = frames["accounts"].set_index("account_id", drop=False)

    def records(frame: pd.DataFrame) -> list[dict]:
        return json.loads(frame.to_json(orient="records", date_format="iso"))

    bodies = []
    for lead in chosen.itertuples(index=False):
        events = events_by_lead.get(lead.lead_id, frames["events"].iloc[:0])
        events = events[events["occurred_at"] <= DATA_END].head(EVENTS_PER_REQUEST)
        missing = EVENTS_PER_REQUEST - len(events)
        if missing:
            span = (DATA_END - lead.captured_at).total_seconds()
            offsets = np.sort(rng.uniform(0, span, missing))
            events = pd.concat([events, pd.DataFrame({
                "lead_id": lead.lead_id,
                "occurred_at": [lead.captured_at + pd.Timedelta(seconds=float(s)) for s in offsets],
                "event_type": "page_view",
                "page_type": rng.choice(["home", "product", "pricing", "blog", "docs"], missing),
                "channel": "organic",
            })], ignore_index=True)
        lead_frame = chosen[chosen["lead_id"] == lead.lead_id]
        body = {"as_of": DATA_END.isoformat(), "leads": records(lead_frame), "events": records(events),
                "stage_history": records(stages_by_lead.get(lead.lead_id, frames["stage_history"].iloc[:0]))}
        if isinstance(lead.account_id, str) and lead.account_id in accounts.index:
            body["accounts"] = records(accounts.loc[[lead.account_id]])
        bodies.append(json.dumps(body).encode())
    return bodies


def server_rss_bytes(pid: int) -> int:
    """RSS of ``pid`` and its children (uvicorn's worker processes)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, what: str) -> None:
    import requests

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{what} exited: {server.stderr.read()[-2000:]}")
        try:
            if requests.get(url + "/ready", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} was not ready within 300 s")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def load(port: int, bodies: list[bytes], clients: int, seconds: float, headers: dict) -> list[tuple[float, int]]:
    """``clients`` threads posting bodies round-robin for ``seconds``: (latency s, status) per request."""
    import http.client

    results: list[tuple[float, int]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        done: list[tuple[float, int]] = []
        i = offset
        while time.monotonic() < stop_at:
            body = bodies[i % len(bodies)]
            i += clients
            t = time.perf_counter()
            try:
                connection.request("POST", "/v1/score", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            done.append((time.perf_counter() - t, status))
        connection.close()
        with lock:
            results.extend(done)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 90)
    return results


class Soak:
    """One server's requests and RSS samples over the rounds."""

    def __init__(self, name: str, pid: int) -> None:
        self.name = name
        self.pid = pid
        self.results: list[tuple[float, int]] = []
        self.seconds = 0.0
        self.rss: list[int] = []

    def run(self, port: int, bodies: list[bytes], clients: int, seconds: float, headers: dict) -> None:
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(5):
                self.rss.append(server_rss_bytes(self.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        self.results += load(port, bodies, clients, seconds, headers)
        self.seconds += time.monotonic() - started
        sampler_stop.set()
        sampler.join()

    def figures(self, np) -> dict:
        latencies = np.array([s for s, _ in self.results]) * 1000
        errors = sum(1 for _, c in self.results if c != 200)
        p50, p90, p99 = (float(np.percentile(latencies, q)) for q in (50, 90, 99))
        rss = self.rss or [0]
        quarter = max(1, len(rss) // 4)
        start, end = float(np.mean(rss[:quarter])), float(np.mean(rss[-quarter:]))
        return {"p50_ms": round(p50, 2), "p90_ms": round(p90, 2), "p99_ms": round(p99, 2),
                "requests_per_second": round(len(self.results) / self.seconds, 1), "requests": len(self.results),
                "errors": errors, "rss_start_mb": round(start / 2**20), "rss_end_mb": round(end / 2**20),
                "rss_peak_mb": round(max(rss) / 2**20), "rss_drift": round(end / start - 1, 3) if start else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="soak per server, over all rounds (default 4)")
    parser.add_argument("--rounds", type=int, default=4, help="alternations between the two servers (default 4)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="server processes of each server (default 2)")
    parser.add_argument("--bodies", type=int, default=200, help="distinct single-lead requests sent round-robin")
    parser.add_argument("--train-leads", type=int, default=20_000, help="demo leads the models are trained on")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--_trained", dest="trained", help=argparse.SUPPRESS)  # bench/score.py's JSON: reuse its store
    args = parser.parse_args(argv)

    import numpy as np

    with tempfile.TemporaryDirectory(prefix="leadscore-bench-serve-") as tmp:
        if args.trained:
            trained = json.loads(Path(args.trained).read_text())
        else:
            print(f"training SQO and WON models on {args.train_leads:,} demo leads (child process) ...",
                  file=sys.stderr, flush=True)
            child = subprocess.run([sys.executable, str(ROOT / "bench" / "score.py"), "--_train-into", tmp,
                                    "--train-leads", str(args.train_leads), "--seed", str(args.seed)],
                                   check=True, capture_output=True, text=True)
            trained = json.loads(child.stdout.strip().splitlines()[-1])
        booster_file = Path(tmp) / "sqo-booster.txt"
        subprocess.run([sys.executable, "-c", SAVE_BOOSTER, trained["uri"], str(booster_file)], check=True,
                       capture_output=True)
        bodies = request_pool(args.bodies, args.seed)
        env = {**os.environ, "MLFLOW_TRACKING_URI": trained["uri"], "LEADSCORE_API_KEYS": KEY}
        ours_port, floor_port = free_port(), free_port()
        ours = subprocess.Popen([sys.executable, "-m", "leadscore.cli", "serve", "--host", "127.0.0.1", "--port",
                                 str(ours_port), "--workers", str(args.workers)], env=env, cwd=tmp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        floor = subprocess.Popen([sys.executable, str(ROOT / "bench" / "floor_app.py"), str(booster_file), "--port",
                                  str(floor_port), "--workers", str(args.workers)], cwd=tmp,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_ready(f"http://127.0.0.1:{ours_port}", ours, "leadscore serve")
            wait_ready(f"http://127.0.0.1:{floor_port}", floor, "the floor app")
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
            servers = [(Soak("floor", floor.pid), floor_port), (Soak("leadscore", ours.pid), ours_port)]
            for _, port in servers:
                load(port, bodies, args.clients, WARM_UP_SECONDS, headers)  # warm-up, not counted
            per_round = 60 * args.minutes / max(1, args.rounds)
            for _ in range(max(1, args.rounds)):
                for soak, port in servers:
                    soak.run(port, bodies, args.clients, per_round, headers)
            return report(args, servers, bodies, trained, np)
        finally:
            stop(ours)
            stop(floor)


SAVE_BOOSTER = """
import sys, mlflow
from leadscore.serving.loading import load_scoring_model
mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1])
load_scoring_model("models:/leadscore-sqo@champion").booster.save_model(sys.argv[2])
"""


def report(args: argparse.Namespace, servers: list, bodies: list[bytes], trained: dict, np) -> int:
    floor, ours = (soak.figures(np) for soak, _ in servers)
    shapes = trained["shapes"]
    lines = [
        f"\n{args.workers} worker(s) per server, {args.clients} concurrent clients on loopback, {os.cpu_count()} cores; "
        f"single-lead requests with {EVENTS_PER_REQUEST} events each, {len(bodies)} distinct bodies round-robin; "
        f"{args.minutes:g} min per server in {args.rounds} alternating rounds after a {WARM_UP_SECONDS} s warm-up",
        f"SQO model: {shapes['sqo']['n_trees']} trees x {shapes['sqo']['num_leaves']} leaves; WON: "
        f"{shapes['won']['n_trees']} trees",
    ]
    for name, figures in (("floor (FastAPI + LightGBM, one row)", floor),
                          ("leadscore serve (features, p_sqo + exact reasons, p_win, rule points)", ours)):
        lines += [
            f"{name}: p50 {figures['p50_ms']:.1f} ms, p90 {figures['p90_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
            f"{figures['requests_per_second']:.0f} requests/s, {figures['requests']:,} requests, {figures['errors']} error(s); "
            f"RSS {figures['rss_start_mb']} -> {figures['rss_end_mb']} MB ({figures['rss_drift']:+.1%})",
        ]
    ratios = {"p50": ours["p50_ms"] / floor["p50_ms"], "p99": ours["p99_ms"] / floor["p99_ms"],
              "throughput": ours["requests_per_second"] / floor["requests_per_second"]}
    lines += [
        f"leadscore / floor: p50 x{ratios['p50']:.2f}, p99 x{ratios['p99']:.2f}, throughput x{ratios['throughput']:.2f}",
        f"machine load average at the end: {os.getloadavg()[0]:.1f} (other work on the cores slows every figure)",
        "",
        f"targets: p50 <= {TARGET_P50_MS:.0f} ms: {'met' if ours['p50_ms'] <= TARGET_P50_MS else 'MISSED'}; "
        f"p99 <= {TARGET_P99_MS:.0f} ms: {'met' if ours['p99_ms'] <= TARGET_P99_MS else 'MISSED'}; "
        f">= {TARGET_RPS:.0f} requests/s: {'met' if ours['requests_per_second'] >= TARGET_RPS else 'MISSED'}; "
        f"no error: {'met' if ours['errors'] == 0 else 'MISSED'}; RSS within +-{RSS_TOLERANCE:.0%}: "
        f"{'met' if abs(ours['rss_drift']) <= RSS_TOLERANCE else 'MISSED'}",
    ]
    print("\n".join(lines))
    print(json.dumps({"floor": floor, "leadscore": ours, "ratios": {k: round(v, 2) for k, v in ratios.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
