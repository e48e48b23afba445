"""The README works as written: its command blocks run, in order, in a fresh folder, as a newcomer copies them.

Every ```bash block runs unless the line before it says it needs a running server. ``make demo`` runs the
Makefile's own recipe for it (``leadscore demo``), ``source .venv/bin/activate`` is this interpreter's folder on
``PATH``, and ``make test`` is this suite. Each command must exit 0, write the ``--out`` it names, say every
phrase its comment quotes ("rows out"), and keep stderr for people (``leadscore: ...`` lines only). At the
end, ``make clean`` must remove everything the commands left. The demo's output is checked as a newcomer
reads it (:func:`check_the_demo_a_newcomer_sees`).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_RUN = "<!-- not run by tests/docs/test_readme.py"
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```bash\n(?P<body>.*?)```", re.DOTALL)


@dataclass
class Command:
    line: str
    comment: str

    @property
    def quoted(self) -> list[str]:
        """What the comment says the command prints: the phrases in double quotes."""
        return re.findall(r'"([^"]+)"', self.comment)

    @property
    def output(self) -> str | None:
        words = shlex.split(self.line)
        return words[words.index("--out") + 1] if "--out" in words else None


def readme_commands(text: str) -> list[Command]:
    """The commands of the README's runnable bash blocks, in order (continued lines joined, comments apart)."""
    commands = []
    for block in BLOCK.finditer(text):
        if block.group("before").startswith(NOT_RUN):
            continue
        for line in block.group("body").replace("\\\n", " ").splitlines():
            code, _, comment = line.partition("  #")
            if code.strip() and not code.lstrip().startswith("#"):  # a comment line shows output, runs nothing
                commands.append(Command(" ".join(code.split()), comment.strip()))
    return commands


def make_recipe(target: str) -> str:
    """The command the Makefile runs for ``target`` (its one recipe line), as typed with the venv active."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(rf"^{target}:.*\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe, f"no recipe for {target} in the Makefile"
    return recipe.group(1).replace("$(BIN)/", "")


def test_the_readme_blocks_are_what_this_test_runs() -> None:
    commands = [c.line for c in readme_commands((ROOT / "README.md").read_text())]
    assert commands[:3] == ["make demo", "make test", "source .venv/bin/activate"]
    assert make_recipe("demo") == "leadscore demo"
    assert not any(c.startswith("leadscore serve") or c.startswith("curl") for c in commands)  # those need a server
    assert sum(c.startswith("leadscore ") for c in commands) >= 15


def check_the_demo_a_newcomer_sees(out: str, folder: Path) -> None:
    """What a newcomer's first `make demo` must show (the default 20,000 leads, seed 7): every step, every
    output, both models champion with every gate passed, reasons in words, coherent probabilities, and the
    models in ./mlflow.db where every other command looks."""
    workdir = folder / "demo-workspace"
    for step in ("1/6 generate", "2/6 validate", "3/6 funnel", "4/6 train the SQO", "4/6 train the WON", "5/6 score",
                 "6/6 marketing report"):
        assert step in out
    assert (folder / "mlflow.db").exists() and not (workdir / "mlflow.db").exists()  # ./mlflow.db, the default
    assert "mlflow ui --backend-store-uri sqlite:///mlflow.db" in out
    assert (workdir / "report.html").stat().st_size > 10_000 and "report.html" in out
    assert "registered leadscore-sqo version 1: alias champion" in out
    assert "registered leadscore-won version 1: alias champion" in out
    assert out.count("gates at capture: passed") == 2 and "FAIL" not in out and "did not pass its gates" not in out
    assert "p_win = p_sqo x q" in out
    top = out[out.index("5/6 score"):out.index("6/6 marketing report")]
    assert "      why: " in top and not [line for line in top.splitlines() if line.rstrip().endswith(":")]  # no blank reasons
    scores = pd.read_csv(workdir / "scores.csv", dtype={"lead_id": "str"})
    assert len(scores) > 0 and scores["lead_id"].is_unique
    assert "ok" in set(scores["status"]) and set(scores["status"]) <= {"ok", "reached SQO", "closed: won", "closed: lost",
                                                                      "closed: disqualified"}
    is_open = scores["status"] == "ok"
    assert scores.loc[is_open, "p_sqo"].between(0, 1).all() and scores.loc[~is_open, "p_sqo"].isna().all()
    both = scores.dropna(subset=["p_sqo", "p_win"])
    assert len(both) and (both["p_win"] <= both["p_sqo"]).all()


@pytest.mark.slow
def test_every_readme_command_runs_in_order_on_the_samples_it_names_and_make_clean_removes_what_they_leave(
        tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_"))}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    ran = []
    for command in readme_commands((ROOT / "README.md").read_text()):
        line = command.line
        if line in ("make test", "source .venv/bin/activate"):
            continue  # this suite itself; the venv's folder is on PATH already
        if line == "make demo":
            line = make_recipe("demo")
        started = time.monotonic()
        done = subprocess.run(line, shell=True, cwd=tmp_path, env=environment, capture_output=True, text=True,
                              timeout=900)
        ran.append(f"exit {done.returncode} in {time.monotonic() - started:.1f} s: {line}")
        said = done.stdout + done.stderr
        assert done.returncode == 0, f"{line}\n{said[-3000:]}"
        for phrase in command.quoted:
            assert phrase in said, f"{line}: the README says it prints {phrase!r}\n{said[-3000:]}"
        if command.output:
            written = tmp_path / command.output
            assert written.exists() and (any(written.iterdir()) if written.is_dir() else written.stat().st_size), line
        developer_lines = [x for x in done.stderr.splitlines() if x.strip() and not x.startswith("leadscore: ")]
        assert not developer_lines, f"{line}: stderr is for people\n" + "\n".join(developer_lines[:10])
        reprs = [x for x in done.stderr.splitlines() if re.search(r"[{\[]'", x)]  # a Python dict or list shown
        assert not reprs, f"{line}: stderr shows Python reprs\n" + "\n".join(reprs[:10])
        if command.line == "make demo":
            check_the_demo_a_newcomer_sees(done.stdout, tmp_path)
    print("\n".join(ran))

    subprocess.run(["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "clean"], cwd=tmp_path, check=True,
                   capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
