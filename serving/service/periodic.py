"""Work repeated in the background: the model follower's registry poll and the export's reload.

One daemon thread per loop, stopped by an event so that :meth:`Periodic.stop` returns at once rather than
after a sleep. A failure of one round is logged and the loop goes on: what was loaded keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    """Call ``work`` every ``seconds`` in a daemon thread named ``name``, from :meth:`start` to :meth:`stop`.

    ``seconds`` of 0 or less never starts the thread (the work is done once, by the caller, or never).

    Examples
    --------
    >>> import threading
    >>> done = threading.Event()
    >>> loop = Periodic("example", 0.01, done.set)
    >>> loop.start(); done.wait(5); loop.stop()
    True
    """

    def __init__(self, name: str, seconds: float, work: Callable[[], object]) -> None:
        self.name = name
        self.seconds = seconds
        self.work = work
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.work()
            except Exception:  # the thread must outlive any surprise; what is loaded keeps serving
                logger.exception("%s failed", self.name)

    def start(self) -> None:
        if self._thread is None and self.seconds > 0:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
