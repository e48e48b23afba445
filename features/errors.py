"""Errors a user can cause: the command line prints their message in one sentence and exits non-zero."""

from __future__ import annotations

import errno
from collections.abc import Iterator


class LeadscoreError(Exception):
    """A problem with the user's input or configuration, stated so the user knows what to fix."""


class ContractError(LeadscoreError):
    """The export breaks the data contract; ``findings`` lists every problem found."""

    def __init__(self, message: str, findings: list | None = None) -> None:
        super().__init__(message)
        self.findings = findings or []


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and every exception it was raised from or while handling, innermost last."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def disk_full_cause(exc: BaseException) -> BaseException | None:
    """The full disk anywhere in ``exc``'s chain (MLflow and SQLite wrap it in their own errors), else ``None``."""
    for cause in causes(exc):
        if (isinstance(cause, OSError) and cause.errno == errno.ENOSPC) or "database or disk is full" in str(cause) \
                or "No space left on device" in str(cause):
            return cause
    return None
