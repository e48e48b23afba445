"""``leadscore serve``: the HTTP scoring service (``leadscore.serving.service``), run by uvicorn.

Reads and checks everything a user typed first (keys, rules, grades, mapping, the export), then loads the
``champion`` models, starts following the registry and serves until interrupted.

Authentication is on unless ``--no-auth``, which is accepted only on a loopback host: leads are personal
data, and a service reachable from other machines without a key would hand them to anyone who asks.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import socket

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LISTEN_BACKLOG = 2048  # uvicorn's default
ARGV_VARIABLE = "LEADSCORE_SERVE_ARGV"  # how `--workers N` hands the options to each worker process


def check_options(args: argparse.Namespace) -> tuple[bytes, ...]:
    """The API keys, after refusing unsafe or impossible options in one sentence each."""
    from leadscore.features.errors import LeadscoreError
    from leadscore.serving.service.auth import KEYS_VARIABLE, load_api_keys

    keys = load_api_keys(args.api_keys_file)
    if args.no_auth:
        if not is_loopback(args.host):
            raise LeadscoreError(f"--no-auth serves without keys, so only on a loopback host (127.0.0.1), not "
                                 f"{args.host}: give keys in {KEYS_VARIABLE} or --api-keys-file instead.")
    elif not keys:
        raise LeadscoreError(f"no API key: set {KEYS_VARIABLE} (comma-separated) or --api-keys-file FILE, "
                             "or pass --no-auth to serve on 127.0.0.1 without keys.")
    if args.max_body_bytes < 1_000 or args.max_leads < 1 or args.workers < 1 or args.concurrency < 1:
        raise LeadscoreError("--max-body-bytes must be at least 1000; --max-leads, --workers and --concurrency at least 1.")
    if not (0 < args.header_timeout <= 300 and 0 < args.body_timeout <= 300 and 0 < args.keep_alive <= 300):
        raise LeadscoreError("--header-timeout, --body-timeout and --keep-alive take seconds above 0 and at most 300.")
    if args.max_connections is not None and args.max_connections < 1:
        raise LeadscoreError("--max-connections must be at least 1.")
    return keys


def build_service(args: argparse.Namespace, keys: tuple[bytes, ...]) -> object:
    """The ASGI app with its export loaded and its models following the registry (threads started)."""
    from leadscore.features.reading.mapping import load_mapping
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.score import parse_grade_points
    from leadscore.serving.service.app import ServiceConfig, create_app
    from leadscore.serving.service.context import ExportContext
    from leadscore.serving.service.follower import ModelFollower
    from leadscore.serving.service.scoring import warm_up
    from leadscore.tracking import configure_tracking

    grade_cuts = parse_grade_points(args.grades) if args.grades else None
    rules = load_rules(args.rules)
    mapping = load_mapping(args.mapping) if args.mapping else None
    store = configure_tracking()
    log.info("models from the MLflow store %s", store)
    context = None
    if args.data:
        context = ExportContext(args.data, args.mapping, args.data_end, args.reload_minutes)
        context.load()
    follower = ModelFollower(args.model_sqo, args.model_won, args.poll_seconds,
                             warm_up=lambda models: warm_up(models, rules, grade_cuts))
    follower.refresh()  # says which models serve, or why none does yet (/ready answers 503 until one does)
    config = ServiceConfig(rules=rules, api_keys=keys, require_key=not args.no_auth, max_body_bytes=args.max_body_bytes,
                           max_leads=args.max_leads, grade_cuts=grade_cuts, mapping=mapping,
                           concurrency=args.concurrency)
    app = create_app(config, follower, context)
    follower.start()
    if context is not None:
        context.start()
    return app


def app_from_environment() -> object:
    """uvicorn's factory in each `--workers` process: the options the command was given, read again."""
    import json
    import os

    from leadscore.cli import build_parser
    from leadscore.stderr import setup_stderr

    args = build_parser().parse_args(json.loads(os.environ[ARGV_VARIABLE]))
    setup_stderr(args.verbose)  # for the worker's lifetime
    return build_service(args, check_options(args))


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: any free one), or one sentence saying why it cannot be.

    It listens at once, so the address printed next accepts connections (they wait for the server to take them).
    """
    from leadscore.features.errors import LeadscoreError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = "another program is listening there" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise LeadscoreError(f"cannot listen on {host}:{port}: {why}; choose another --port (or --host).") from None
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket, as a browser or curl on this machine would write it."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def connection_limits(args: argparse.Namespace) -> object:
    """What a client may hold of a worker (``--header-timeout``, ``--body-timeout``, ``--max-connections``)."""
    from leadscore.serving.service.connections import ConnectionLimits, default_max_connections

    return ConnectionLimits(header_seconds=args.header_timeout, body_seconds=args.body_timeout,
                            max_connections=args.max_connections or default_max_connections())


def run(args: argparse.Namespace) -> int:
    from leadscore.serving.service.connections import run_server

    keys = check_options(args)
    sock = listen(args.host, args.port)  # before the slow loading: a busy port is said at once
    url = base_url(sock)
    if args.no_auth:
        log.warning("--no-auth: every local process may score leads without a key")
    # Our logging decides what reaches stderr (log_config=None): uvicorn's own lines only with --verbose.
    options = {"log_config": None, "log_level": "info" if args.verbose else "warning", "access_log": args.verbose,
               "timeout_graceful_shutdown": 10, "timeout_keep_alive": args.keep_alive}
    limits = connection_limits(args)
    if args.workers > 1:
        import json
        import os
        import sys

        # Each worker process builds its own service (export, models, follower) from the same options, and
        # uvicorn binds the address again for them (SO_REUSEADDR), so this socket only proved it is free (and,
        # for --port 0, chose the port).
        port = sock.getsockname()[1]
        sock.close()
        os.environ[ARGV_VARIABLE] = json.dumps(sys.argv[1:])
        log.info("starting %d workers on %s (each loads the models; %s/ready answers 200 once they serve); "
                 "API docs at %s/docs; Ctrl+C stops", args.workers, url, url, url)
        run_server("leadscore.commands.serve_command:app_from_environment", limits, factory=True,
                   workers=args.workers, host=args.host, port=port, **options)
        return 0
    app = build_service(args, keys)
    log.info("listening on %s: POST %s/v1/score; API docs at %s/docs; Ctrl+C stops", url, url, url)
    run_server(app, limits, sockets=[sock], **options)
    return 0
