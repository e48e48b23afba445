"""Progress of long tasks: a bar on a terminal, log lines now and then otherwise, nothing on stdout."""

from __future__ import annotations

import io
import logging
import time

import pytest

from leadscore.features.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_redrawn_with_the_step_and_the_bar(caplog) -> None:
    screen = Terminal()
    with caplog.at_level(logging.INFO, logger="leadscore.progress"), \
            Progress("score", total=200, unit="leads", steps=2, stream=screen) as progress:
        progress.step("building features")
        progress.advance(50)
        progress.step("phrasing reasons")
        progress.advance(150)
    drawn = screen.getvalue()
    assert "\n" not in drawn.rstrip("\n") and drawn.endswith("\n")  # one line, finished once
    frames = [frame.rstrip() for frame in drawn.rstrip("\n").split("\r") if frame]
    assert any(f.startswith("leadscore: score: step 1/2 building features [######..................]  25% 50/200 leads (")
               for f in frames)
    assert frames[-1].startswith("leadscore: score: step 2/2 phrasing reasons [########################] 100% 200/200 leads (")
    assert caplog.records == []  # a bar, not log lines


def test_elsewhere_each_step_is_a_log_line_and_a_long_step_says_it_is_still_going(caplog) -> None:
    silent = io.StringIO()
    with caplog.at_level(logging.INFO, logger="leadscore.progress"):
        with Progress("train --target sqo", steps=2, stream=silent, every=0.1) as progress:
            progress.step("building the training set")
            time.sleep(0.45)
            progress.step("fitting")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "train --target sqo: step 1/2 building the training set (0 s so far)"
    assert any(m.startswith("train --target sqo: step 1/2 building the training set, ") and m.endswith("so far")
               for m in messages[1:-2])
    assert messages[-2].startswith("train --target sqo: step 2/2 fitting (")
    assert messages[-1] == "train --target sqo: done in 0 s"
    assert silent.getvalue() == ""


def test_a_task_that_fails_says_it_stopped_not_that_it_is_done(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="leadscore.progress"), pytest.raises(RuntimeError):
        with Progress("generate", terminal=False) as progress:
            progress.step("drawing leads")
            raise RuntimeError("boom")
    assert caplog.records[-1].getMessage() == "generate: stopped after 0 s"


def test_a_disabled_progress_reports_nothing(caplog) -> None:
    screen = Terminal()
    with caplog.at_level(logging.INFO, logger="leadscore.progress"):
        with Progress("score", total=10, enabled=False, stream=screen) as progress:
            progress.step("x")
            progress.advance(10)
        Progress.off().step("y")
    assert screen.getvalue() == "" and caplog.records == []
