"""Compiled per-lead code cached on disk, compiled again whenever a source it was built from changes.

The feature kernel and the rules' event pass are numba functions calling functions of other modules.
numba caches a function's machine code next to its own source file and checks only that file, so a
caller would keep running a changed callee's old code. The cached entry points therefore take a
:func:`fingerprint` of every module their code comes from as a closure value, which numba includes in
its cache key: any change to any of those sources (an edit, an upgrade of leadscore) compiles them
afresh, and an unchanged install loads them in milliseconds.
"""

from __future__ import annotations

import hashlib
import inspect
from types import ModuleType


def fingerprint(*modules: ModuleType) -> str:
    """A digest of the source files of ``modules`` (the code a compiled entry point is built from)."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()
