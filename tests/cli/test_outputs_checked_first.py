"""Every command that writes checks its output before the work: a wrong suffix or a place nobody may write in
costs one sentence and exit 2, never the work and then a traceback.

The export named on each command line does not exist: a command that did any work before checking its
output would fail on the export instead, with another message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.cli import main

# command line before --out, and the output name each command is given: a file for most, a folder for generate
COMMANDS = {
    "score": (["score", "no-such-export"], "scores.csv"),
    "features": (["features", "no-such-export"], "features.csv"),
    "rules": (["rules", "no-such-export"], "rules.parquet"),
    "training-set": (["training-set", "no-such-export", "--target", "sqo"], "rows.parquet"),
    "report": (["report", "no-such-export"], "report.html"),
    "generate": (["generate", "--leads", "200000"], "export"),
}
WRONG_SUFFIX = {"score": "x.xlsx", "features": "x.json", "rules": "x.txt", "training-set": "x", "report": "x.pdf"}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    code = main(argv)
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("command", sorted(WRONG_SUFFIX))
def test_a_wrong_output_suffix_is_refused_before_the_work(command: str, tmp_path: Path, capsys) -> None:
    head, _ = COMMANDS[command]
    code, err = _run([*head, "--out", str(tmp_path / WRONG_SUFFIX[command])], capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"leadscore {command}: {tmp_path / WRONG_SUFFIX[command]}: the file name must end in ")
    assert "no-such-export" not in err[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_under_a_file_is_refused_before_the_work(command: str, tmp_path: Path, capsys) -> None:
    head, name = COMMANDS[command]
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder\n")
    code, err = _run([*head, "--out", str(blocker / "sub" / name)], capsys)
    assert code == 2
    assert err == [f"leadscore {command}: {blocker / 'sub' / name}: {blocker} is a file, so nothing can be written "
                   "under it; choose another path."]
    assert not (tmp_path / "mlflow.db").exists()


@pytest.fixture
def unwritable_folder(tmp_path: Path):
    """A folder this process may not create files in: one made read-only, or, for root (who writes in any
    folder whatever its mode), /sys where the kernel refuses new files."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        yield locked
        locked.chmod(0o755)
        return
    try:
        (Path("/sys") / "leadscore-probe").touch()
    except OSError:
        yield Path("/sys")
        return
    pytest.skip("no folder this root process may not write in")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_in_a_folder_nobody_may_write_in_is_refused_before_the_work(command: str, unwritable_folder: Path,
                                                                            capsys) -> None:
    head, name = COMMANDS[command]
    code, err = _run([*head, "--out", str(unwritable_folder / name)], capsys)
    assert code == 2
    assert len(err) == 1
    assert f"cannot write in {unwritable_folder} (Permission denied); choose a folder you can write to." in err[0]


@pytest.mark.parametrize("command", ["score", "features", "rules", "training-set", "report"])
def test_a_folder_given_as_an_output_file_is_refused_before_the_work(command: str, tmp_path: Path, capsys) -> None:
    head, name = COMMANDS[command]
    folder = tmp_path / name
    folder.mkdir()
    code, err = _run([*head, "--out", str(folder)], capsys)
    assert code == 2 and err == [f"leadscore {command}: {folder} is a folder; give a file name to write to."]


def test_score_with_an_unwritable_output_says_so_in_one_sentence_without_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "scores"
    blocker.write_text("")
    done = subprocess.run([sys.executable, "-m", "leadscore.cli", "score", "no-such-export", "--out",
                           str(blocker / "scores.csv")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"leadscore score: {blocker / 'scores.csv'}: {blocker} is a file, so nothing "
                                        "can be written under it; choose another path."]
    assert done.stdout == ""
