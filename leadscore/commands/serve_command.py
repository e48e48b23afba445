"""``leadscore serve``: the HTTP scoring service (``leadscore.serving.service``), run by uvicorn.

Reads and checks everything a user typed first (keys, rules, grades, mapping, the export), then loads the
``champion`` models, starts following the registry and serves until interrupted.

Authentication is on unless ``--no-auth``, which is accepted only on a loopback host: leads are personal
data, and a service reachable from other machines without a key would hand them to anyone who asks.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging

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
    log.info("MLflow store: %s", store)
    context = None
    if args.data:
        context = ExportContext(args.data, args.mapping, args.data_end, args.reload_minutes)
        context.load()
    follower = ModelFollower(args.model_sqo, args.model_won, args.poll_seconds,
                             warm_up=lambda models: warm_up(models, rules, grade_cuts))
    follower.refresh()
    if follower.current is None:
        log.warning("no model to serve yet (%s); /ready answers 503 until the registry has one",
                    follower.last_error)
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
    from leadscore.features.remote import redact_logging

    args = build_parser().parse_args(json.loads(os.environ[ARGV_VARIABLE]))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    redact_logging()
    return build_service(args, check_options(args))


def connection_limits(args: argparse.Namespace) -> object:
    """What a client may hold of a worker (``--header-timeout``, ``--body-timeout``, ``--max-connections``)."""
    from leadscore.serving.service.connections import ConnectionLimits, default_max_connections

    return ConnectionLimits(header_seconds=args.header_timeout, body_seconds=args.body_timeout,
                            max_connections=args.max_connections or default_max_connections())


def run(args: argparse.Namespace) -> int:
    from leadscore.serving.service.connections import run_server, service_log_config

    keys = check_options(args)
    if args.no_auth:
        log.warning("--no-auth: every local process may score leads without a key")
    level = "info" if args.verbose else "warning"
    options = {"host": args.host, "port": args.port, "log_level": level, "log_config": service_log_config(level),
               "access_log": args.verbose, "timeout_graceful_shutdown": 10, "timeout_keep_alive": args.keep_alive}
    limits = connection_limits(args)
    if args.workers > 1:
        import json
        import os
        import sys

        # Each worker process builds its own service (export, models, follower) from the same options.
        os.environ[ARGV_VARIABLE] = json.dumps(sys.argv[1:])
        run_server("leadscore.commands.serve_command:app_from_environment", limits, factory=True,
                   workers=args.workers, **options)
        return 0
    run_server(build_service(args, keys), limits, **options)
    return 0
