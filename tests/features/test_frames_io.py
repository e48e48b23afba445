"""The one writer of result files: permissions, CSV cells a spreadsheet would run, Parquet timestamps, leftovers."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from leadscore.features.frames_io import (
    STALE_AFTER_SECONDS,
    read_frame,
    remove_stale_temporaries,
    write_frame,
    write_text,
)

FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+2", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]


def _frame() -> pd.DataFrame:
    n = len(FORMULAS) + 2
    return pd.DataFrame({
        "lead_id": pd.array([*FORMULAS, "L1", "'quoted"], dtype="str"),
        "campaign": pd.Categorical(["@spring"] * (n - 1) + [None]),
        "note": pd.Series(["-x", "1", None, "ok", "=1", "a", "b", "c"], dtype=object),
        "p": [-0.5] * n,
        "as_of": pd.Timestamp("2025-01-01T12:00:00.123456789Z"),
    })


def _csv_cells(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_text_cells_a_spreadsheet_would_run_get_a_quote_and_numbers_stay_numbers(tmp_path: Path) -> None:
    target = write_frame(_frame(), tmp_path / "out.csv")
    rows = _csv_cells(target)
    assert [r["lead_id"] for r in rows] == ["'" + f for f in FORMULAS] + ["L1", "''quoted"]
    assert {r["campaign"] for r in rows} == {"'@spring", ""}
    assert [r["note"] for r in rows] == ["'-x", "1", "", "ok", "'=1", "a", "b", "c"]
    assert {r["p"] for r in rows} == {"-0.5"}


def test_reading_a_csv_output_back_gives_the_true_values(tmp_path: Path) -> None:
    frame = _frame()
    back = read_frame(write_frame(frame, tmp_path / "out.csv"))
    assert back["lead_id"].tolist() == frame["lead_id"].tolist()
    assert back["note"].fillna("").tolist() == ["-x", "1", "", "ok", "=1", "a", "b", "c"]


def test_parquet_keeps_the_true_values(tmp_path: Path) -> None:
    frame = _frame()
    back = pd.read_parquet(write_frame(frame, tmp_path / "out.parquet"))
    assert back["lead_id"].tolist() == frame["lead_id"].tolist()
    assert back["campaign"].astype("str").tolist()[0] == "@spring"


def test_parquet_timestamps_are_microseconds_in_utc(tmp_path: Path) -> None:
    schema = pq.read_schema(write_frame(_frame(), tmp_path / "out.parquet"))
    assert schema.field("as_of").type == pa.timestamp("us", tz="UTC")
    assert pd.read_parquet(tmp_path / "out.parquet")["as_of"].iloc[0] == pd.Timestamp("2025-01-01T12:00:00.123456Z")


def test_a_new_output_follows_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        frame_file = write_frame(_frame(), tmp_path / "new.csv")
        page = write_text("<p>hi</p>", tmp_path / "new.html")
    finally:
        os.umask(previous)
    assert (frame_file.stat().st_mode & 0o777) == 0o640
    assert (page.stat().st_mode & 0o777) == 0o640


def test_overwriting_an_output_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "shared.csv"
    target.write_text("old\n")
    target.chmod(0o664)
    previous = os.umask(0o077)
    try:
        write_frame(_frame(), target)
    finally:
        os.umask(previous)
    assert (target.stat().st_mode & 0o777) == 0o664
    assert target.read_text().startswith("lead_id,")


WRITER = """
import sys, time
from leadscore.features.frames_io import write_atomic

def write(tmp):
    open(tmp, "w").write("half a file")
    print(tmp, flush=True)
    time.sleep(600)

write_atomic(sys.argv[1], write)
"""


def test_the_next_write_removes_what_a_writer_killed_with_sigkill_left_behind(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    leftover = Path(writer.stdout.readline().strip())
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    assert leftover.exists() and leftover.name.startswith(".scores.csv.")
    write_frame(_frame(), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


def test_a_live_writers_temporary_file_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        in_progress = Path(writer.stdout.readline().strip())
        write_frame(_frame(), target)
        assert in_progress.exists()
    finally:
        writer.kill()
        writer.wait(timeout=30)
        writer.stdout.close()


def test_a_temporary_file_from_another_host_is_stale_only_after_an_hour_untouched(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    elsewhere = tmp_path / f".scores.csv.not-{socket.gethostname()}-1.abcd1234.tmp"
    older_leadscore = tmp_path / ".scores.csv.k2j4h5g6.tmp"
    other_target = tmp_path / ".rules.csv.x-1.abcd1234.tmp"
    for path in (elsewhere, older_leadscore, other_target):
        path.write_text("partial")
    assert remove_stale_temporaries(target) == []
    long_ago = time.time() - STALE_AFTER_SECONDS - 60
    for path in (elsewhere, older_leadscore, other_target):
        os.utime(path, (long_ago, long_ago))
    assert sorted(p.name for p in remove_stale_temporaries(target)) == sorted([elsewhere.name, older_leadscore.name])
    assert other_target.exists()


FOLDER_USER = """
import sys, tempfile, time
from leadscore.features.frames_io import process_temporary_folder
with process_temporary_folder("train") as folder:
    inner = tempfile.mkdtemp()  # a library's own temporary folder lands inside
    print(folder, inner, flush=True)
    time.sleep(600)
"""


def test_a_killed_commands_temporary_folder_is_removed_by_the_next_command_and_a_live_ones_kept(tmp_path: Path,
                                                                                               monkeypatch) -> None:
    import tempfile

    from leadscore.features.frames_io import process_temporary_folder, remove_stale_temporary_folders

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    users = [subprocess.Popen([sys.executable, "-c", FOLDER_USER], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "TMPDIR": str(tmp_path)}) for _ in range(2)]
    try:
        folders = []
        for user in users:
            folder, inner = map(Path, user.stdout.readline().split())
            assert inner.parent == folder and folder.parent == tmp_path
            folders.append(folder)
        users[0].send_signal(signal.SIGKILL)
        users[0].wait(timeout=30)
        someone_elses = tmp_path / "leadscore-copy-rose37d1"  # not named by leadscore's rule: never touched
        someone_elses.mkdir()
        with process_temporary_folder("score") as mine:
            assert tempfile.gettempdir() == str(mine)
            assert not folders[0].exists() and folders[1].exists() and someone_elses.exists()
        assert not mine.exists() and tempfile.gettempdir() == str(tmp_path)
        assert remove_stale_temporary_folders(tmp_path) == []
    finally:
        for user in users:
            user.kill()
            user.wait(timeout=30)
            user.stdout.close()
