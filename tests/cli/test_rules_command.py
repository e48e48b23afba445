"""``leadscore rules``: spine choice (global as_of or a leads file), output file, counts, user errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import leadscore.commands.rules_command as rules_command
from leadscore.cli import main
from leadscore.features.frames_io import read_frame
from leadscore.features.tables import Tables, make_tables

DATA_END = pd.Timestamp("2024-06-30T00:00:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _export() -> Tables:
    leads = pd.DataFrame({
        "lead_id": pd.Series(["L1", "L2", "L3"], dtype="str"),
        "account_id": pd.Series(["A1", None, None], dtype="str"),
        "captured_at": [DATA_END - 60 * DAY, DATA_END - 30 * DAY, DATA_END - 5 * DAY],
        "job_title": pd.Series(["IT Security Manager", "Marketing Intern", None], dtype="str"),
    })
    accounts = pd.DataFrame({"account_id": pd.Series(["A1"], dtype="str"), "employees": [1500.0]})
    events = pd.DataFrame({
        "lead_id": pd.Series(["L1", "L1"], dtype="str"),
        "occurred_at": [DATA_END - 20 * DAY, DATA_END],
        "event_type": pd.Series(["page_view", "demo_request"], dtype="str"),
        "page_type": pd.Series(["pricing", None], dtype="str"),
    })
    return make_tables({"leads": leads, "accounts": accounts, "events": events}, data_end=DATA_END)


@pytest.fixture
def export(monkeypatch: pytest.MonkeyPatch) -> Tables:
    tables = _export()
    monkeypatch.setattr(rules_command, "_load_tables", lambda args: tables)
    return tables


def test_scores_every_lead_captured_by_the_data_end(export: Tables, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rules.csv"
    assert main(["rules", "export-folder", "--out", str(out)]) == 0
    frame = read_frame(out)
    assert frame["lead_id"].tolist() == ["L1", "L2", "L3"]
    assert frame.loc[0, "rule_stage"] == "SQL" and frame.loc[0, "rule_grade"] == "hot"
    printed = capsys.readouterr().out
    assert "3 leads in the export" in printed
    assert "rows out: 3" in printed
    assert "by grade: hot 1, warm 0, cold 2" in printed
    assert "by stage: SQL 1, MQL 0, MEL 0, MCL 2" in printed


def test_a_closed_lead_keeps_its_points_but_is_never_hot(tmp_path: Path, capsys, monkeypatch) -> None:
    tables = _export()
    history = pd.DataFrame({"lead_id": pd.Series(["L1", "L1", "L2"], dtype="str"),
                            "stage": pd.Series(["SQL", "DISQUALIFIED", "SQO"], dtype="str"),
                            "entered_at": [DATA_END - 10 * DAY, DATA_END - 2 * DAY, DATA_END - 3 * DAY]})
    tables = make_tables({"leads": tables.leads, "accounts": tables.accounts, "events": tables.events,
                          "stage_history": history}, data_end=DATA_END)
    monkeypatch.setattr(rules_command, "_load_tables", lambda args: tables)
    out = tmp_path / "rules.csv"
    assert main(["rules", "export-folder", "--out", str(out)]) == 0
    frame = read_frame(out).set_index("lead_id")
    assert frame.loc["L1", ["rule_grade", "rule_stage", "status"]].tolist() == ["closed", "DISQUALIFIED",
                                                                              "closed: disqualified"]
    assert frame.loc["L1", "rule_score"] >= 70 and "Demo request" in frame.loc["L1", "rule_reasons"]
    assert frame.loc["L2", "status"] == "reached SQO" and frame.loc["L3", "status"] == "ok"
    printed = capsys.readouterr().out
    assert "by grade: hot 0, warm 0, cold 2" in printed
    assert "closed at as_of (graded closed, never hot; points still shown): WON 0, LOST 0, DISQUALIFIED 1" in printed
    # before it was disqualified, the same points read hot
    assert main(["rules", "export-folder", "--out", str(out), "--as-of", (DATA_END - 3 * DAY).isoformat()]) == 0
    assert read_frame(out).set_index("lead_id").loc["L1", "rule_grade"] != "closed"


def test_an_earlier_as_of_leaves_out_later_leads_and_later_events(export: Tables, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rules.parquet"
    as_of = (DATA_END - 10 * DAY).isoformat()
    assert main(["rules", "export-folder", "--out", str(out), "--as-of", as_of]) == 0
    frame = read_frame(out)
    assert frame["lead_id"].tolist() == ["L1", "L2"]
    assert "Demo request" not in frame.loc[0, "rule_reasons"]
    assert "(1 leads not yet captured then" in capsys.readouterr().out


def test_a_leads_file_gives_one_row_per_line_with_its_own_as_of(export: Tables, tmp_path: Path, capsys) -> None:
    leads_file = tmp_path / "leads.csv"
    leads_file.write_text(f"lead_id,as_of\nL1,{(DATA_END - 30 * DAY).isoformat()}\nL1,\nghost,\n")
    out = tmp_path / "rules.csv"
    assert main(["rules", "export-folder", "--out", str(out), "--leads", str(leads_file)]) == 0
    frame = read_frame(out)
    assert frame["lead_id"].tolist() == ["L1", "L1", "ghost"]
    assert frame["status"].tolist() == ["ok", "ok", "unknown lead_id"]  # the scorer's words
    assert frame.loc[0, "rule_score"] < frame.loc[1, "rule_score"]
    assert pd.isna(frame.loc[2, "rule_score"])
    assert "no score: 1 rows (unknown lead_id 1)" in capsys.readouterr().out


def test_user_errors_exit_2_with_one_sentence(export: Tables, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "rules.csv")
    assert main(["rules", "x", "--out", out, "--as-of", "last tuesday"]) == 2
    assert "--as-of 'last tuesday' is not a timestamp" in capsys.readouterr().err

    bad_leads = tmp_path / "leads.csv"
    bad_leads.write_text("id\nL1\n")
    assert main(["rules", "x", "--out", out, "--leads", str(bad_leads)]) == 2
    assert "no lead_id column" in capsys.readouterr().err

    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("behaviour:\n  demo_request:\n    points: lots\n    event: {event_type: demo_request}\n")
    assert main(["rules", "x", "--out", out, "--config", str(bad_rules)]) == 2
    assert "behaviour.demo_request.points: must be a number" in capsys.readouterr().err
    assert not Path(out).exists()
