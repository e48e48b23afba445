"""The command line's arguments: no abbreviations on any parser, usage errors exit 2, ``--version``, help for all."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

import pytest

from leadscore.cli import build_parser, main


def _sub_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _complete_argv(name: str, sub: argparse.ArgumentParser) -> list[str]:
    """``name`` with a value for every required argument, so only what is appended can fail to parse."""
    argv = [name]
    for action in sub._actions:
        if not action.option_strings and action.nargs is None:
            argv.append("x")
        elif action.option_strings and action.required:
            argv += [action.option_strings[0], str(action.choices[0]) if action.choices else "1"]
    return argv


def _abbreviation(sub: argparse.ArgumentParser) -> tuple[argparse.Action, str] | None:
    """A long option of ``sub`` cut by one letter that no other option of ``sub`` starts with."""
    options = [o for a in sub._actions for o in a.option_strings]
    for action in sub._actions:
        for option in action.option_strings:
            cut = option[:-1]
            if option.startswith("--") and len(cut) > 3 and [o for o in options if o.startswith(cut)] == [option]:
                return action, cut
    return None


def test_complete_arguments_parse_so_the_abbreviation_check_below_means_something() -> None:
    parser = build_parser()
    for name, sub in _sub_parsers().items():
        assert parser.parse_args(_complete_argv(name, sub)).command == name


@pytest.mark.parametrize("name", sorted(_sub_parsers()))
def test_no_sub_command_takes_an_abbreviated_option(name: str, capsys) -> None:
    sub = _sub_parsers()[name]
    found = _abbreviation(sub)
    assert found is not None, f"{name} has no long option to abbreviate"
    action, cut = found
    argv = _complete_argv(name, sub) + [cut] + ([] if action.nargs == 0 else ["1"])
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert f"unrecognized arguments: {cut}" in capsys.readouterr().err


def test_sinc_is_not_since_it_is_a_usage_error_exiting_2(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leadscore.cli", "score", str(tmp_path), "--out", str(tmp_path / "s.csv"),
         "--sinc", "2025-01-01"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "unrecognized arguments: --sinc" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "s.csv").exists()


def test_a_missing_required_option_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "export"])
    assert exit_.value.code == 2
    assert "--target" in capsys.readouterr().err


def test_version_prints_the_installed_distributions_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"leadscore {metadata.version('leadscore')}\n"


def test_every_argument_of_every_command_has_help_text() -> None:
    parsers = {"leadscore": build_parser(), **_sub_parsers()}
    missing = [
        f"{name} {action.option_strings[0] if action.option_strings else action.dest}"
        for name, parser in parsers.items()
        for action in parser._actions
        if not (action.help or "").strip()
    ]
    assert missing == []


def test_os_errors_become_one_sentence_naming_the_path_and_a_full_disk_is_found_behind_wrappers() -> None:
    import errno
    import os
    import sqlite3

    from leadscore.cli import os_error_sentence

    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/srv/share/scores.csv")
    assert os_error_sentence(denied) == ("Permission denied: /srv/share/scores.csv; check that path and its "
                                         "permissions, then run the command again.")
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as inner:
            raise RuntimeError("(raised by the MLflow store)") from inner
    except RuntimeError as wrapped:
        assert os_error_sentence(wrapped) == "the disk is full; free some space, then run the command again."
    assert os_error_sentence(ValueError("a bug")) is None
