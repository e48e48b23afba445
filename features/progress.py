"""Progress of a long task on stderr: a bar on a terminal, a log line now and then otherwise.

``train`` on 20,000 leads works for most of a minute, ``generate`` and ``score`` for seconds to minutes;
a user who sees nothing cannot tell work from a hang. :class:`Progress` reports a task's named steps
and, for counted work (leads scored), how far it got. On a terminal it redraws one line on stderr with
the step, a bar and the time taken; elsewhere (a log file, CI, a pipe) it logs an INFO line through the
``leadscore.progress`` logger when a step starts and, while one runs long, every ``every`` seconds.
stdout stays for results. The command line shows those lines as ``leadscore: ...`` (see
``leadscore/stderr.py``), and a line logged while a bar is drawn is written above it, never into it
(:func:`active_bar`); a library caller (a notebook) sees the lines only if it configures logging.

One small helper used by ``train``, ``score`` and ``generate``: nothing else draws progress.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

log = logging.getLogger("leadscore.progress")

BAR_WIDTH = 24
PREFIX = "leadscore: "
TERMINAL_TICK_SECONDS = 1.0
LOG_EVERY_SECONDS = 15.0


class Progress:
    """Report a task's steps and counted work on stderr (see the module docstring).

    Parameters
    ----------
    task
        What the whole task is, as the user typed it: ``"train --target sqo"``.
    total
        For counted work: how many units in all (``None`` for steps only).
    unit
        The counted unit's plural name (``"leads"``).
    steps
        How many steps the task has, to show ``step 3/8`` (``None``: not shown).
    enabled
        ``False`` reports nothing (``None``, the default, is ``True``).
    terminal
        Draw a bar (``True``) or log lines (``False``); ``None``: a bar when ``stream`` is a terminal.
    stream
        Where the bar goes (default ``sys.stderr``).
    every
        Seconds between log lines while a step runs long (log lines only).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress("score", total=4, unit="leads", terminal=True, stream=out) as progress:
    ...     progress.advance(4)
    >>> out.getvalue().rstrip().rsplit("\\r", 1)[-1].startswith("leadscore: score: [########################] 100% 4/4 leads")
    True
    """

    def __init__(
        self,
        task: str,
        total: int | None = None,
        unit: str = "",
        *,
        steps: int | None = None,
        enabled: bool | None = None,
        terminal: bool | None = None,
        stream: TextIO | None = None,
        every: float = LOG_EVERY_SECONDS,
    ) -> None:
        self.task = task
        self.total = total
        self.unit = unit
        self.steps = steps
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = True if enabled is None else enabled
        self.terminal = _is_terminal(self.stream) if terminal is None else terminal
        self.every = every
        self.started = time.monotonic()
        self.step_started = self.started
        self.step_name = ""
        self.step_number = 0
        self.done = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._last_log = self.started
        self._line_width = 0

    @classmethod
    def off(cls) -> Progress:
        """A progress that reports nothing (the default of library functions)."""
        return cls("", enabled=False)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        self.close(failed=exc_type is not None)

    def step(self, name: str) -> None:
        """Start the next step, ``name`` in words ("fitting LightGBM and logistic regression")."""
        if not self.enabled:
            return
        with self._lock:
            self.step_number += 1
            self.step_name = name
            self.step_started = time.monotonic()
            self._last_log = self.step_started
            if self.terminal:
                self._draw()
            else:
                log.info("%s: %s%s (%s so far)", self.task, self._step_label(), name, _seconds(self.step_started - self.started))
        self._start_ticker()

    def advance(self, n: int = 1) -> None:
        """``n`` more units done."""
        self.update(self.done + n)

    def update(self, done: int) -> None:
        """``done`` units done in all."""
        if not self.enabled:
            return
        with self._lock:
            self.done = done
            if self.terminal:
                self._draw()
            elif time.monotonic() - self._last_log >= self.every or (self.total and done >= self.total):
                self._log_now()
        self._start_ticker()

    def close(self, failed: bool = False) -> None:
        """End the report: the bar's line is finished; the time taken is logged (``failed``: how long it ran)."""
        if not self.enabled or self._stop.is_set():
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        with self._lock:
            if self.terminal:
                self._draw()
                self.stream.write("\n")
                self.stream.flush()
                _set_active(None, self)
            else:
                outcome = "stopped after" if failed else "done in"
                log.info("%s: %s %s", self.task, outcome, _seconds(time.monotonic() - self.started))

    # -- drawing -------------------------------------------------------------------------------

    def _step_label(self) -> str:
        if not self.step_number or not self.step_name:
            return ""
        return f"step {self.step_number}/{self.steps} " if self.steps else f"step {self.step_number} "

    def _counted(self) -> str:
        if self.total is None:
            return ""
        share = self.done / self.total if self.total else 1.0
        filled = int(round(BAR_WIDTH * min(share, 1.0)))
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} {self.done:,}/{self.total:,} {self.unit}".rstrip()

    def clear(self) -> None:
        """Blank the bar's line, so that a log line can take its place (redrawn with :meth:`redraw`)."""
        with self._lock:
            if self._line_width:
                self.stream.write("\r" + " " * self._line_width + "\r")
                self._line_width = 0

    def redraw(self) -> None:
        with self._lock:
            if not self._stop.is_set():
                self._draw()

    def _draw(self) -> None:
        _set_active(self)
        parts = [f"{PREFIX}{self.task}:"]
        if self.step_name:
            parts.append(f"{self._step_label()}{self.step_name}")
        if self.total is not None:
            parts.append(self._counted())
        parts.append(f"({_seconds(time.monotonic() - self.started)})")
        line = " ".join(parts)
        padding = " " * max(0, self._line_width - len(line))
        self._line_width = len(line)
        self.stream.write(f"\r{line}{padding}")
        self.stream.flush()

    def _log_now(self) -> None:
        now = time.monotonic()
        self._last_log = now
        what = f"{self._step_label()}{self.step_name}, " if self.step_name else ""
        counted = f"{self._counted()}, " if self.total is not None else ""
        log.info("%s: %s%s%s so far", self.task, what, counted, _seconds(now - self.started))

    def _start_ticker(self) -> None:
        """Keep the report alive while a step runs long inside one call (fitting, writing)."""
        if self._ticker is not None or self._stop.is_set():
            return
        self._ticker = threading.Thread(target=self._tick, name="leadscore-progress", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        interval = TERMINAL_TICK_SECONDS if self.terminal else self.every
        while not self._stop.wait(interval):
            with self._lock:
                if self._stop.is_set():
                    return
                if self.terminal:
                    self._draw()
                elif time.monotonic() - self._last_log >= self.every:
                    self._log_now()


_active: Progress | None = None


def _set_active(progress: Progress | None, only_if: Progress | None = None) -> None:
    global _active
    if only_if is None or _active is only_if:
        _active = progress


def active_bar() -> Progress | None:
    """The progress bar drawn on a terminal right now, if any: a log handler clears it before writing."""
    return _active


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
