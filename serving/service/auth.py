"""API keys: where they come from and how a request's key is checked.

Keys come from ``LEADSCORE_API_KEYS`` (comma-separated) and/or a file (one key per line; blank lines and
``#`` comments skipped), never from versioned configuration. A request carries its key as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Keys are compared with
:func:`hmac.compare_digest` against every configured key (no early exit), so the time taken says
nothing about how much of a key was right. Keys are never logged.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from leadscore.features.errors import LeadscoreError

KEYS_VARIABLE = "LEADSCORE_API_KEYS"
MIN_KEY_LENGTH = 16


def load_api_keys(keys_file: str | os.PathLike | None = None, environ: dict[str, str] | None = None) -> tuple[bytes, ...]:
    """Every configured key, from the environment variable and the file.

    Raises
    ------
    LeadscoreError
        When the file cannot be read, or a key is shorter than :data:`MIN_KEY_LENGTH` characters.
    """
    environ = os.environ if environ is None else environ
    keys = [k.strip() for k in environ.get(KEYS_VARIABLE, "").split(",") if k.strip()]
    if keys_file is not None:
        try:
            lines = Path(keys_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise LeadscoreError(f"--api-keys-file {keys_file} could not be read ({exc.__class__.__name__}); "
                                 "give a UTF-8 text file with one key per line.") from None
        keys += [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    short = [k for k in keys if len(k) < MIN_KEY_LENGTH]
    if short:
        raise LeadscoreError(f"{len(short)} API key(s) are shorter than {MIN_KEY_LENGTH} characters; use long random "
                             "keys, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.")
    return tuple(k.encode("utf-8") for k in dict.fromkeys(keys))


def presented_key(authorization: str | None, api_key: str | None) -> bytes | None:
    """The key a request presents (``Authorization: Bearer …`` first, else ``X-API-Key``), or None."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip().encode("utf-8", "surrogateescape")
    if api_key and api_key.strip():
        return api_key.strip().encode("utf-8", "surrogateescape")
    return None


def key_is_valid(presented: bytes | None, keys: tuple[bytes, ...]) -> bool:
    """Whether ``presented`` is one of ``keys``, compared in constant time against all of them.

    Examples
    --------
    >>> keys = (b"a" * 20, b"b" * 20)
    >>> key_is_valid(b"b" * 20, keys), key_is_valid(b"b" * 19, keys), key_is_valid(None, keys)
    (True, False, False)
    """
    if presented is None:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented, key)
    return found
