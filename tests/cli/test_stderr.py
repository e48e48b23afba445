"""stderr is for people: one plain `leadscore: ...` line per step or problem; --verbose gives the developer log."""

from __future__ import annotations

import io
import logging
import warnings

from leadscore.stderr import setup_stderr


def _what_stderr_shows(verbose: bool) -> str:
    """Everything a command may log, as stderr shows it with or without ``--verbose``."""
    screen = io.StringIO()
    restore = setup_stderr(verbose, screen)
    try:
        _say_everything()
    finally:
        restore()
    return screen.getvalue()


def _say_everything() -> None:
    ours = logging.getLogger("leadscore.serving.score")
    ours.debug("seconds per stage: {'read': 0.1}")
    ours.info("577 leads captured since 2026-06-15 23:59 UTC")
    ours.warning("no lead was captured since 2026-07-01")
    logging.getLogger("otherlib.store").warning("Registered Model with name=leadscore-sqo not found")
    logging.getLogger("otherlib.store").error("the database is locked")
    warnings.warn("a library's deprecation", FutureWarning, stacklevel=1)


def test_without_verbose_each_line_is_leadscores_plain_sentence() -> None:
    assert _what_stderr_shows(verbose=False).splitlines() == [
        "leadscore: 577 leads captured since 2026-06-15 23:59 UTC",
        "leadscore: no lead was captured since 2026-07-01",
        "leadscore: otherlib: the database is locked",  # another library only when it fails, and says who
    ]


def test_verbose_gives_the_developer_log_with_levels_names_and_library_lines() -> None:
    text = _what_stderr_shows(verbose=True)
    for expected in ("DEBUG leadscore.serving.score: seconds per stage", "INFO leadscore.serving.score: 577 leads",
                     "WARNING otherlib.store: Registered Model", "ERROR otherlib.store: the database is locked",
                     "FutureWarning: a library's deprecation"):
        assert expected in text


def test_a_multi_line_message_stays_one_line_and_logging_is_put_back_afterwards() -> None:
    screen = io.StringIO()
    before = (list(logging.getLogger().handlers), logging.getLogger("leadscore").level)
    restore = setup_stderr(False, screen)
    logging.getLogger("leadscore.x").warning("first part\n   second part")
    restore()
    logging.getLogger("leadscore.x").warning("after the command")
    assert screen.getvalue() == "leadscore: first part second part\n"
    assert (list(logging.getLogger().handlers), logging.getLogger("leadscore").level) == before


def test_verbose_is_accepted_after_the_command_too() -> None:
    from leadscore.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["score", "DATA", "--out", "s.csv", "--verbose"]).verbose is True
    assert parser.parse_args(["-v", "score", "DATA", "--out", "s.csv"]).verbose is True
    assert parser.parse_args(["score", "DATA", "--out", "s.csv"]).verbose is False
