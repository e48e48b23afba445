"""The FastAPI application: ``POST /v1/score``, ``/health``, ``/ready`` and the OpenAPI document.

Layers, outermost first: the API-key guard (401 before the body is read), the body size cap (413), the
body's encoding (:mod:`~leadscore.serving.service.body`: 415 when it is not JSON, 422 for bytes that are not
UTF-8, lone surrogates, NaN or Infinity), then FastAPI, which validates the body against
:class:`~leadscore.serving.service.schema.ScoreRequest`.
Every refusal is JSON with the field path and one sentence (``{"detail": [{"loc", "msg"}]}``); nothing
internal (no traceback, no exception text) ever reaches a caller, and an unexpected failure is a 500
whose log line names the exception class and where it happened, never the request's values.

Logs hold counts, timings and model versions, never a lead's fields or id.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadscore.features.errors import LeadscoreError
from leadscore.scorers.rules import RulesConfig
from leadscore.serving.service.auth import key_is_valid, presented_key
from leadscore.serving.service.body import JsonBodyCheck, format_path
from leadscore.serving.service.docs import add_docs, is_docs_path
from leadscore.serving.service.limits import BodySizeLimit
from leadscore.serving.service.request_tables import RequestRefused
from leadscore.serving.service.schema import ProblemAnswer, ScoreAnswer, ScoreRequest
from leadscore.serving.service.scoring import ModelSet, score_request

if TYPE_CHECKING:
    from leadscore.features.reading.mapping import MappingFile
    from leadscore.serving.service.context import ExportContext
    from leadscore.serving.service.follower import ModelFollower

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_MAX_LEADS = 1_000
PUBLIC_PATHS = frozenset({"/health", "/ready", "/openapi.json"})  # and the documentation pages (docs.py)
UNION_TAGS = frozenset({"str", "int", "float", "bool", "none"})
NEEDS_KEY = "a valid API key is needed: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"


@dataclass
class ServiceConfig:
    """What the service was started with (``leadscore serve``'s options, already read and checked)."""

    rules: RulesConfig
    api_keys: tuple[bytes, ...] = ()
    require_key: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_leads: int = DEFAULT_MAX_LEADS
    grade_cuts: dict[str, float] | None = None
    mapping: MappingFile | None = None
    # Requests scored at once in this process: scoring is CPU-bound Python, so more threads than cores only
    # queue on the interpreter lock; the rest wait their turn here (parsing and answering stay concurrent).
    concurrency: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class ApiKeyGuard:
    """Pure ASGI: every path outside :data:`PUBLIC_PATHS` needs a valid key, checked before the body is read."""

    def __init__(self, app: Any, keys: tuple[bytes, ...], enabled: bool = True) -> None:
        self.app = app
        self.keys = keys
        self.enabled = enabled

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not self.enabled or path in PUBLIC_PATHS or is_docs_path(path):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        api_key = headers.get(b"x-api-key", b"").decode("latin-1") or None
        if key_is_valid(presented_key(authorization, api_key), self.keys):
            await self.app(scope, receive, send)
            return
        response = JSONResponse({"detail": NEEDS_KEY}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


# Documentation only: ApiKeyGuard enforces the keys; these put the two ways to send one in the OpenAPI document.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


def field_path(loc: tuple | list) -> str:
    """``("body", "leads", 0, "captured_at")`` as ``leads[0].captured_at``.

    Examples
    --------
    >>> field_path(("body", "leads", 0, "captured_at", "str")), field_path(("body",))
    ('leads[0].captured_at', 'body')
    """
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    if len(parts) > 1 and parts[-1] in UNION_TAGS:
        parts = parts[:-1]
    return format_path(parts)


def validation_problems(errors: list[dict]) -> list[dict[str, str]]:
    """FastAPI's validation errors as ``{"loc", "msg"}``: paths, plain sentences, never the values sent."""
    by_path: dict[str, list[dict]] = {}
    for error in errors:
        by_path.setdefault(field_path(error.get("loc", ())), []).append(error)
    problems = []
    for path, group in by_path.items():
        kind = group[0].get("type", "")
        if kind == "json_invalid":
            msg = "the body is not valid JSON"
            path = "body"
        elif kind == "missing" and path == "body":
            msg = "a JSON object is needed: {\"leads\": [...]}"
        elif len(group) > 1:
            msg = "must be a single value (text, number, true/false or null)"
        elif kind == "extra_forbidden":
            msg = "is not a field of the request (as_of, leads, accounts, technographics, events, stage_history, " \
                  "opportunities)"
        else:
            msg = str(group[0].get("msg", "is not valid")).removeprefix("Value error, ")
        problems.append({"loc": path, "msg": msg})
    return problems


def _where(exc: BaseException) -> str:
    """The innermost place in leadscore's own code the exception passed (else the innermost of all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "site-packages" not in f.filename and "/lib/python" not in f.filename]
    frame = (own or frames or [None])[-1]
    return f"{frame.filename}:{frame.lineno}" if frame is not None else "?"


def _internal_error(exc: BaseException) -> JSONResponse:
    logger.error("request failed: %s at %s", type(exc).__name__, _where(exc))
    return JSONResponse({"detail": "internal error; the service log names where"}, status_code=500)


def create_app(config: ServiceConfig, follower: ModelFollower, context: ExportContext | None = None) -> Any:
    """The ASGI application (FastAPI wrapped in the key guard and the size cap)."""
    import threading
    from importlib import metadata

    slots = threading.BoundedSemaphore(max(1, config.concurrency))
    app = FastAPI(
        title="leadscore",
        version=metadata.version("leadscore"),
        description="Calibrated probabilities of reaching SQO and of winning, with reasons in words and the rule "
                    "points marketing uses, for leads sent in the data contract's terms.",
        docs_url=None,  # served by add_docs from installed assets: FastAPI's own pages load them from a CDN
        redoc_url=None,
    )
    add_docs(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_problems(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(exc)

    @app.get("/health", summary="The process is up")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Models are loaded (503 until they are)",
             responses={503: {"description": "no model loaded yet"}})
    def ready() -> JSONResponse:
        # Public: fixed sentences, versions and moments only, never an exception's text, a path or a URI.
        models = follower.current
        body: dict[str, Any] = {"ready": models is not None,
                                "models": models.versions() if models is not None else None}
        if context is not None:
            body["export"] = context.describe()
        if models is None:
            body["why"] = follower.last_error or "loading the models"
        if follower.refused is not None:
            body["refused"] = follower.refused
        return JSONResponse(body, status_code=200 if models is not None else 503)

    @app.post(
        "/v1/score",
        summary="Score leads: one answer per lead sent, in order",
        response_model=None,
        dependencies=[Security(_bearer), Security(_api_key)],
        responses={
            200: {"model": ScoreAnswer, "description": "one row per lead sent, in request order"},
            401: {"model": ProblemAnswer, "description": "no valid API key"},
            413: {"model": ProblemAnswer, "description": "body or lead count over the service's limits"},
            422: {"model": ProblemAnswer, "description": "the body breaks the data contract"},
            503: {"model": ProblemAnswer, "description": "no model loaded yet"},
        },
    )
    def score(body: ScoreRequest) -> JSONResponse:
        models: ModelSet | None = follower.current  # one read: this request uses one consistent pair
        if models is None:
            return JSONResponse({"detail": "no model loaded yet; see /ready"}, status_code=503)
        if len(body.leads) > config.max_leads:
            return JSONResponse({"detail": f"{len(body.leads):,} leads sent; at most {config.max_leads:,} per request"},
                                status_code=413)
        started = time.perf_counter()
        try:
            with slots:
                answer, counts = score_request(body, models, config.rules, config.grade_cuts, config.mapping, context)
        except RequestRefused as exc:
            logger.debug("refused a request: %d problem(s)", len(exc.problems))
            return JSONResponse({"detail": [{"loc": loc, "msg": msg} for loc, msg in exc.problems]}, status_code=422)
        except LeadscoreError as exc:
            return JSONResponse({"detail": [{"loc": "body", "msg": str(exc)}]}, status_code=422)
        except Exception as exc:  # answered here, so no server log prints its message (it may quote a value)
            return _internal_error(exc)
        logger.debug("scored %d lead(s), %d ok, in %.1f ms with %s", counts.n_in, counts.n_ok,
                    1000 * (time.perf_counter() - started), models.versions())
        return JSONResponse(answer)

    guarded = BodySizeLimit(JsonBodyCheck(app), config.max_body_bytes)
    outer = ApiKeyGuard(guarded, config.api_keys, enabled=config.require_key)
    outer.fastapi = app  # type: ignore[attr-defined]  # tests and tools reach the FastAPI object here
    return outer
