"""stderr is for people: one plain `leadscore: ...` line per step or problem; --verbose gives the developer log."""

from __future__ import annotations

import io
import logging
import warnings

import pytest

from leadscore.stderr import setup_stderr


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("leadscore").level,
             logging.getLogger("py.warnings").level)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("leadscore").setLevel(saved[2])
    logging.getLogger("py.warnings").setLevel(saved[3])
    logging.captureWarnings(False)


def _say_everything() -> None:
    ours = logging.getLogger("leadscore.serving.score")
    ours.debug("seconds per stage: {'read': 0.1}")
    ours.info("577 leads captured since 2026-06-15 23:59 UTC")
    ours.warning("no lead was captured since 2026-07-01")
    logging.getLogger("mlflow.store").warning("Registered Model with name=leadscore-sqo not found")
    logging.getLogger("mlflow.store").error("the database is locked")
    warnings.warn("a library's deprecation", FutureWarning, stacklevel=1)


def test_without_verbose_each_line_is_leadscores_plain_sentence(restore_logging) -> None:
    screen = io.StringIO()
    setup_stderr(False, screen)
    _say_everything()
    assert screen.getvalue().splitlines() == [
        "leadscore: 577 leads captured since 2026-06-15 23:59 UTC",
        "leadscore: no lead was captured since 2026-07-01",
        "leadscore: mlflow: the database is locked",  # another library only when it fails, and says who
    ]


def test_verbose_gives_the_developer_log_with_levels_names_and_library_lines(restore_logging) -> None:
    screen = io.StringIO()
    setup_stderr(True, screen)
    _say_everything()
    text = screen.getvalue()
    for expected in ("DEBUG leadscore.serving.score: seconds per stage", "INFO leadscore.serving.score: 577 leads",
                     "WARNING mlflow.store: Registered Model", "ERROR mlflow.store: the database is locked",
                     "FutureWarning: a library's deprecation"):
        assert expected in text


def test_a_multi_line_message_stays_one_line(restore_logging) -> None:
    screen = io.StringIO()
    setup_stderr(False, screen)
    logging.getLogger("leadscore.x").warning("first part\n   second part")
    assert screen.getvalue() == "leadscore: first part second part\n"


def test_verbose_is_accepted_after_the_command_too() -> None:
    from leadscore.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["score", "DATA", "--out", "s.csv", "--verbose"]).verbose is True
    assert parser.parse_args(["-v", "score", "DATA", "--out", "s.csv"]).verbose is True
    assert parser.parse_args(["score", "DATA", "--out", "s.csv"]).verbose is False
