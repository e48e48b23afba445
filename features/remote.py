"""Stores leadscore talks to but does not own (an MLflow tracking server, a database): what may be said about them.

A store's URI may carry a password (``http://user:password@host``, ``postgresql://user:password@db/mlflow``,
``?password=…`` or a signed URL's ``sig=…``). :func:`redact` replaces every such secret by ``***`` in any
text, and :class:`RedactingFilter` does it for every log record (message and traceback), so a
credential never reaches a terminal, a log file or an MLflow run. :func:`unreachable_reason` tells a
store that cannot be reached (refused, unknown host, timed out, credentials refused, a database file
that cannot be opened) from other failures, so a command can say so in one sentence instead of a
traceback.

Light on purpose: it imports no client library; exceptions are recognised by their standard bases
and names.
"""

from __future__ import annotations

import errno
import logging
import re
import socket

from leadscore.features.errors import causes

MASK = "***"
# scheme://user:password@ (the user may be empty); the password is whatever stands before the @.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s/]+|[^@\s]+?)@")
# ?password=… and the query parameters signed URLs and cloud stores carry their secrets in.
_QUERY = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pwd|pass|token|access_token|auth|secret|client_secret|api_key|apikey|key"
    r"|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|sas)=)(?P<secret>[^&#\s'\"]+)",
    re.IGNORECASE,
)


def redact(text: object) -> str:
    """``text`` with every password in a URI replaced by ``***``.

    Examples
    --------
    >>> redact("MLflow store: http://alice:s3cret@mlflow.example:5000/ (down)")
    'MLflow store: http://alice:***@mlflow.example:5000/ (down)'
    >>> redact("postgresql://:p%40ss@db/mlflow?sslmode=require&password=x")
    'postgresql://:***@db/mlflow?sslmode=require&password=***'
    >>> redact("sqlite:////home/me/mlflow.db and user@example.com stay")
    'sqlite:////home/me/mlflow.db and user@example.com stay'
    """
    text = str(text)
    if "@" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    return _QUERY.sub(lambda m: m["head"] + MASK, text)


class RedactingFilter(logging.Filter):
    """A handler filter: every record's message, and its traceback, with credentials replaced (:func:`redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_HTTP_STATUS = re.compile(r"\b(?:error code|status code|status)[ :=]*(?P<code>[45]\d\d)\b", re.IGNORECASE)


def unreachable_reason(exc: BaseException) -> str | None:
    """Why the store behind ``exc`` cannot be reached, in a few words; ``None`` when ``exc`` is another failure.

    Examples
    --------
    >>> unreachable_reason(ConnectionRefusedError(111, "Connection refused"))
    'the connection was refused'
    >>> unreachable_reason(ValueError("a bug")) is None
    True
    """
    for cause in causes(exc):
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "the connection was refused"
        if isinstance(cause, socket.gaierror):
            return "its host name is unknown"
        if isinstance(cause, TimeoutError | socket.timeout):
            return "it did not answer in time"
    for cause in causes(exc):
        text = str(cause)
        status = _HTTP_STATUS.search(text)
        if status and status["code"] in ("401", "403"):
            return f"it refused the credentials (HTTP {status['code']})"
        if "Max retries exceeded" in text or "Failed to establish a new connection" in text:
            return "the connection failed"
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "its host name is unknown"
        if "unable to open database file" in text or "could not connect to server" in text \
                or "Connection refused" in text:
            return "it cannot be opened" if "database file" in text else "the connection was refused"
        if type(cause).__name__ in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "ProxyError",
                                    "NewConnectionError", "MaxRetryError"):
            return "the connection failed"
    return None


def unreachable_sentence(exc: BaseException, uri: str) -> str | None:
    """One sentence for the model store at ``uri`` failing with ``exc`` when it cannot be reached (password
    hidden), else ``None``."""
    reason = unreachable_reason(exc)
    if reason is None:
        return None
    return (f"the model store {redact(uri)} cannot be reached: {reason}; check MLFLOW_TRACKING_URI (and the "
            "server, if it is one), then run the command again.")
