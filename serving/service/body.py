"""What a request body must be before the schema reads it: JSON, in UTF-8, of whole characters and finite numbers.

A pure ASGI middleware behind the size cap (which has the whole body in hand): a body that is not sent as
JSON gets 415; bytes that are not UTF-8, a lone UTF-16 surrogate (``"\\ud83d"``: half an emoji, what a
JavaScript client sends after cutting a string in the middle of one) and ``NaN``, ``Infinity`` or a number
too large for a double (``1e400``) get 422, each with the path of the field that holds it
(``leads[0].job_title``), as every other refusal. Nothing else is judged here: a body that passes reaches
FastAPI unchanged, and the schema (:mod:`leadscore.serving.service.schema`) checks the rest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

from leadscore.serving.service.limits import Receive, Scope, Send, replaying

JSON_TYPES = ("application/json",)
NOT_JSON = "send the body as JSON with `Content-Type: application/json` (UTF-8)"
NOT_UTF8 = "is not UTF-8 text; send UTF-8"
SURROGATE = "holds half of a character (a lone UTF-16 surrogate, as when a string is cut inside an emoji); " \
            "send whole characters"
NOT_FINITE = "is not a finite number: NaN and Infinity are not JSON, and a number past 1.8e308 fits in none"


def format_path(parts: list[str | int]) -> str:
    """``["leads", 0, "captured_at"]`` as ``leads[0].captured_at`` (``body`` for the whole).

    Examples
    --------
    >>> format_path(["leads", 0, "captured_at"]), format_path([])
    ('leads[0].captured_at', 'body')
    """
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, _, parameters = content_type.partition(";")
    media = media.strip().lower()
    charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in parameters.split(";")
                    if p.strip().lower().startswith("charset=")), "utf-8")
    return (media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))) \
        and charset in ("utf-8", "utf8")


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def problems_in(value: Any, path: list[str | int] | None = None, undecodable: bool = False) -> Iterator[tuple[str, str]]:
    """Every ``(field path, sentence)`` of a parsed body: text with surrogates, numbers that are not finite.

    With ``undecodable``, the body was decoded with ``surrogateescape``: surrogates there are bytes that are
    not UTF-8.

    Examples
    --------
    >>> list(problems_in({"leads": [{"lead_id": "x", "job_title": "CEO \\ud83d", "n": float("nan")}]}))[0][0]
    'leads[0].job_title'
    """
    path = path or []
    if isinstance(value, str):
        if _has_surrogate(value):
            yield format_path(path), NOT_UTF8 if undecodable else SURROGATE
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield format_path(path), NOT_FINITE
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _has_surrogate(key):
                yield format_path(path), f"a field name {NOT_UTF8 if undecodable else SURROGATE}"
                continue
            yield from problems_in(item, [*path, key], undecodable)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from problems_in(item, [*path, position], undecodable)


def body_problems(body: bytes) -> list[tuple[str, str]]:
    """What is wrong with ``body`` before a schema could read it; ``[]`` when nothing is (or it is not JSON at
    all, which the schema's reader says in its own words)."""
    try:
        text, undecodable = body.decode("utf-8"), False
    except UnicodeDecodeError as exc:
        text, undecodable = body.decode("utf-8", errors="surrogateescape"), True
        where = exc.start
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return [("body", f"is not UTF-8 text (byte {where + 1} is not); send UTF-8")] if undecodable else []
    problems = list(dict.fromkeys(problems_in(parsed, undecodable=undecodable)))
    if undecodable and not problems:
        problems = [("body", f"is not UTF-8 text (byte {where + 1} is not); send UTF-8")]
    return problems


async def answer(send: Send, status: int, detail: object) -> None:
    """Send ``{"detail": detail}`` with ``status`` and close the exchange."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class JsonBodyCheck:
    """Refuse bodies that are not JSON (415) or that no JSON schema can read faithfully (422); see the module."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        content_type = next((value.decode("latin-1") for name, value in scope.get("headers", [])
                             if name == b"content-type"), None)
        if not _is_json(content_type):
            await answer(send, 415, [{"loc": "headers.content-type", "msg": NOT_JSON}])
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problems = body_problems(body)
        if problems:
            await answer(send, 422, [{"loc": loc, "msg": msg} for loc, msg in problems])
            return
        await self.app(scope, replaying(body, receive), send)
