"""Errors a user can cause: the command line prints their message in one sentence and exits non-zero."""

from __future__ import annotations


class LeadscoreError(Exception):
    """A problem with the user's input or configuration, stated so the user knows what to fix."""


class ContractError(LeadscoreError):
    """The export breaks the data contract; ``findings`` lists every problem found."""

    def __init__(self, message: str, findings: list | None = None) -> None:
        super().__init__(message)
        self.findings = findings or []
