"""What a slow, idle or hostile client can hold of the service: bounded time and a bounded number of connections.

uvicorn (its h11 protocol, the one it runs without the optional ``httptools``) closes a keep-alive
connection that stays idle after a response (``timeout_keep_alive``), but a connection that never
finishes its request line and headers, or its body, is kept open forever, before any API key is
checked; and ``limit_concurrency`` counts those connections too, so a few hundred half-open ones would
make every real request a 503. :class:`BoundedH11Protocol` adds what is missing, per connection:

- the request line and headers must arrive within ``header_seconds`` of the connection opening, or of
  the first byte of a further request on a kept-alive connection (a client sending one byte a second
  never gets further); the body within ``body_seconds`` after the headers. Past either, the client gets
  408 (when it had started a request) and the connection is closed;
- at most ``max_connections`` connections per worker: one more closes the connection that has been idle
  longest (a half-open one, or one kept alive between requests), so a flood of idle connections costs
  the flooder its own oldest connections, never the service's answers; when every connection is busy
  with a request, the new one gets 503 and is closed.

The default cap is :data:`MAX_CONNECTIONS`, but at most half the process's open-file limit (each
connection holds a file descriptor; the rest are for the models, the export and the logs).

The access log (``-v``) shows a query string's parameter names but never their values
(:class:`HiddenQueryValues`, put on uvicorn's access logger by the protocol): an API key sent as
``?api_key=…`` stays out of the log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import socket
import sys
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_HEADER_SECONDS = 10.0
DEFAULT_BODY_SECONDS = 30.0
DEFAULT_KEEP_ALIVE_SECONDS = 5
MAX_CONNECTIONS = 200
LIMITS_ATTRIBUTE = "leadscore_connection_limits"  # where the limits ride on uvicorn's Config (pickled to workers)
_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 52\r\nconnection: close\r\n\r\n" \
           b"the request did not arrive in time; send it at once\n"
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 41\r\nretry-after: 1\r\n" \
        b"connection: close\r\n\r\nevery connection is busy; try again soon\n"


def default_max_connections() -> int:
    """:data:`MAX_CONNECTIONS`, or half the open-file limit when that is lower."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft // 2))


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request may take to arrive, and how many connections a worker keeps open."""

    header_seconds: float = DEFAULT_HEADER_SECONDS
    body_seconds: float = DEFAULT_BODY_SECONDS
    max_connections: int = MAX_CONNECTIONS


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with read deadlines and a connection cap (see the module docstring)."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ConnectionLimits = getattr(config, LIMITS_ATTRIBUTE, None) or ConnectionLimits()
        if not any(isinstance(f, HiddenQueryValues) for f in self.access_logger.filters):
            self.access_logger.addFilter(HiddenQueryValues())  # whoever configured the logging
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "headers" or "body" while a deadline runs
        self.last_active = self.loop.time()

    # -- the cap ----------------------------------------------------------------------------------

    def _idle(self) -> bool:
        """No request in progress: half-open, or kept alive between requests."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect("headers")
        if len(self.connections) <= self.limits.max_connections:
            return
        idle = [c for c in self.connections if c is not self and isinstance(c, BoundedH11Protocol) and c._idle()
                and not c.transport.is_closing()]
        if idle:
            oldest = min(idle, key=lambda c: c.last_active)
            oldest._close(b"")
        else:
            self._close(_BUSY)

    # -- the deadlines ----------------------------------------------------------------------------

    def _expect(self, what: str | None) -> None:
        """Run the deadline for ``what`` ("headers", "body"), or none; a deadline already running for it goes on."""
        if what == self._waiting_for:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = what
        if what is not None:
            seconds = self.limits.header_seconds if what == "headers" else self.limits.body_seconds
            self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _follow(self) -> None:
        """Set the deadline for what the connection now waits for from the client."""
        if self.transport is None or self.transport.is_closing():
            self._expect(None)
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._expect("body")
        elif state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
            # Between requests: silence is keep-alive's business; a request begun must arrive in time.
            self._expect("headers" if self.conn.trailing_data[0] or self._waiting_for == "headers" else None)
        else:
            self._expect(None)

    def _too_slow(self) -> None:
        self._deadline = None
        started = self._waiting_for == "body" or bool(self.conn.trailing_data[0])
        self._waiting_for = None
        answer = _TIMEOUT if started and (self.cycle is None or not self.cycle.response_started) else b""
        self._close(answer)

    def _close(self, answer: bytes) -> None:
        self._expect(None)
        if self.transport.is_closing():
            return
        if answer:
            self.transport.write(answer)
        self.transport.close()

    # -- uvicorn's events -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        if self._waiting_for is None and self.conn.their_state is h11.IDLE:
            self._expect("headers")  # the first byte of a request on a kept-alive connection
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        self.last_active = self.loop.time()
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        super().connection_lost(exc)


class HiddenQueryValues(logging.Filter):
    """For uvicorn's access log: the request target's query values replaced by ``***`` (``?api_key=***``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5 and isinstance(record.args[2], str):
            args = list(record.args)
            path, mark, query = args[2].partition("?")
            if mark:
                args[2] = path + mark + re.sub(r"=[^&;]*", "=***", query)
                record.args = tuple(args)
        return True


def run_server(app: Any, limits: ConnectionLimits, sockets: list[socket.socket] | None = None,
               **options: Any) -> None:
    """Serve ``app`` with :class:`BoundedH11Protocol` and ``limits`` (which ``uvicorn.run`` cannot pass on).

    ``app`` is the application (served on ``sockets``, already listening), or with ``workers`` > 1 its
    factory's import string (uvicorn binds ``host:port`` for the workers); each worker reads the limits
    from the configuration uvicorn hands it.
    """
    import uvicorn
    from uvicorn.main import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, http=BoundedH11Protocol, **options)
    setattr(config, LIMITS_ATTRIBUTE, limits)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config=config)
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # the port taken, say: uvicorn has said why
