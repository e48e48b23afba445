"""A model store that cannot be reached is one sentence and exit 2 for every command that needs it, with the store's
password replaced by ``***``; no traceback, no password, anywhere: messages, logs (``-v``), tracebacks of bugs.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

import pytest

SECRET = "s3cretPW"


@pytest.fixture(scope="module")
def unreachable_store() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://alice:{SECRET}@127.0.0.1:{port}"


COMMANDS = {
    "score": ["score", "no-such-export", "--out", "scores.csv"],
    "serve": ["serve", "--port", "1"],
    "train": ["train", "no-such-export", "--target", "sqo"],
    "promote": ["promote", "--target", "sqo"],
}


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unreachable_store_is_one_sentence_exit_2_and_never_its_password(command, verbose, unreachable_store,
                                                                           tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": unreachable_store, "LEADSCORE_API_KEYS": "k" * 20}
    argv = [sys.executable, "-m", "leadscore.cli", *(["-v"] if verbose else []), *COMMANDS[command]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    shown = unreachable_store.replace(SECRET, "***")
    assert SECRET not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr or verbose
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.splitlines()[-1]
    assert last == (f"leadscore {command}: the model store {shown} cannot be reached: the connection was refused; "
                    "check MLFLOW_TRACKING_URI (and the server, if it is one), then run the command again.")
    if not verbose:
        assert done.stderr.splitlines() == [last]


def test_the_report_without_a_reachable_store_is_written_and_says_so_without_the_password(unreachable_store,
                                                                                        tmp_path):
    from leadscore.features.synthetic.demo import generate_demo, write_export

    frames, truth = generate_demo(300, seed=2)
    write_export(frames, truth, tmp_path / "export", "parquet")
    env = {**os.environ, "MLFLOW_TRACKING_URI": unreachable_store}
    done = subprocess.run([sys.executable, "-m", "leadscore.cli", "report", "export", "--out", "report.html"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "report.html").read_text()
    assert SECRET not in page + done.stderr and "Traceback" not in done.stderr
    assert "cannot be reached" in page and unreachable_store.replace(SECRET, "***") in page


def test_a_bugs_traceback_still_shows_but_without_the_password(monkeypatch, capsys):
    from leadscore.cli import main
    from leadscore.commands import validate_command

    def broken(args):
        raise RuntimeError(f"could not talk to postgresql://svc:{SECRET}@db.internal/mlflow")

    monkeypatch.setattr(validate_command, "run", broken)
    assert main(["validate", "x"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "postgresql://svc:***@db.internal/mlflow" in err and SECRET not in err


def test_log_records_and_their_tracebacks_lose_every_password(capsys):
    from leadscore.features.remote import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test-redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ConnectionError(f"https://bob:{SECRET}@mlflow.example/api failed")
        except ConnectionError:
            logger.exception("store %s down", f"mysql://root:{SECRET}@db/x?password={SECRET}&sslmode=require")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert SECRET not in err
    assert "mysql://root:***@db/x?password=***&sslmode=require" in err and "https://bob:***@mlflow.example" in err


@pytest.mark.parametrize("text, shown", [
    ("http://alice:pw@host:5000/path", "http://alice:***@host:5000/path"),
    ("postgresql+psycopg2://:p%40ss@db/mlflow", "postgresql+psycopg2://:***@db/mlflow"),
    ("s3://bucket/key?X-Amz-Signature=abc&X-Amz-Date=1", "s3://bucket/key?X-Amz-Signature=***&X-Amz-Date=1"),
    ("https://acct.blob.core.windows.net/c?sv=2020&sig=abc%3D", "https://acct.blob.core.windows.net/c?sv=2020&sig=***"),
    ("sqlite:////home/me/mlflow.db", "sqlite:////home/me/mlflow.db"),
    ("write to user@example.com at http://host/x", "write to user@example.com at http://host/x"),
])
def test_only_the_secret_part_of_a_uri_is_replaced(text, shown):
    from leadscore.features.remote import redact

    assert redact(text) == shown
