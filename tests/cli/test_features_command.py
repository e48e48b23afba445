"""``leadscore features`` and ``leadscore training-set`` end to end on a tiny CSV export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.features.building.catalogue import feature_names

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2025-01-01T00:00:00Z")


def iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_export(folder: Path, cut_at: pd.Timestamp | None = None) -> Path:
    """Six leads over 200 days; with ``cut_at``, the export as it would have been taken then."""
    folder.mkdir(parents=True)
    leads = pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(6)],
        "account_id": ["A1", "A1", "A2", None, "A2", "A1"],
        "captured_at": [T0 + d * DAY for d in (0, 5, 20, 40, 90, 150)],
        "channel": ["linkedin", "email", "facebook", "organic", "email", "linkedin"],
        "campaign": ["spring", "spring", None, "fall", "fall", "spring"],
        "job_title": ["CFO", "IT Manager", "Accountant", "", "VP Sales", "Head of Finance"],
        "country": ["US", "US", "GB", "IL", "GB", "US"],
        "email_domain": ["acme.com", "acme.com", "gmail.com", None, "beta.io", "acme.com"],
        "email_consent": [True, True, False, True, True, True],
    })
    accounts = pd.DataFrame({"account_id": ["A1", "A2"], "industry": ["software", "retail"], "employees": [300, 40],
                             "region": ["us_east", "europe"]})
    events = pd.DataFrame({
        "lead_id": ["L0", "L0", "L1", "L2", "L4", "L5", "L0"],
        "occurred_at": [T0 + d * DAY for d in (1, 30, 6, 25, 95, 151, 100)],
        "event_type": ["page_view", "demo_request", "email_open", "page_view", "form_submit", "page_view", "page_view"],
        "page_type": ["pricing", None, None, "blog", "contact", "pricing", "product"],
        "email_step": [None, None, 1, None, None, None, None],
    })
    stages = pd.DataFrame({
        "lead_id": ["L0", "L0", "L0", "L1", "L2", "L3", "L4", "L4", "L5"],
        "stage": ["MCL", "MQL", "SQO", "MCL", "MCL", "MCL", "MCL", "WON", "MCL"],
        "entered_at": [T0 + d * DAY for d in (0, 10, 45, 5, 20, 40, 90, 130, 150)],
    })
    opportunities = pd.DataFrame({"opportunity_id": ["O1"], "lead_id": ["L4"], "account_id": ["A2"],
                                  "created_at": [T0 + 100 * DAY], "closed_at": [T0 + 130 * DAY], "outcome": ["won"],
                                  "amount_usd": [5000.0]})
    if cut_at is not None:
        leads = leads[leads["captured_at"] <= cut_at]
        events = events[events["occurred_at"] <= cut_at]
        stages = stages[stages["entered_at"] <= cut_at]
        opportunities = opportunities[opportunities["created_at"] <= cut_at].copy()
        later = opportunities["closed_at"] > cut_at
        opportunities.loc[later, "outcome"] = "open"
        opportunities["closed_at"] = opportunities["closed_at"].where(~later)
    for name, frame in (("leads", leads), ("accounts", accounts), ("events", events), ("stage_history", stages),
                        ("opportunities", opportunities)):
        frame = frame.copy()
        for column in frame.columns:
            if column.endswith("_at"):
                frame[column] = frame[column].map(lambda v: iso(v) if pd.notna(v) else "")
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_features_list_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["features", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in feature_names())
    assert f"{len(feature_names())} built-in features" in out


def test_features_writes_one_row_per_lead_at_the_data_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_export(tmp_path / "export")
    out_file = tmp_path / "features.csv"
    assert main(["features", str(data), "--out", str(out_file), "--data-end", "2025-08-01T00:00:00Z"]) == 0
    written = pd.read_csv(out_file)
    assert list(written.columns) == ["lead_id", "as_of", "funnel_position", *feature_names()]
    assert written["lead_id"].tolist() == [f"L{i}" for i in range(6)]
    # where each lead stands at the data's end: L0 at SQO, L4 a customer, the others open
    assert written["funnel_position"].tolist() == ["sqo", "open", "open", "open", "won", "open"]
    assert written.set_index("lead_id").loc["L0", "n_account_leads"] == 2
    assert "rows written: 6" in capsys.readouterr().out


def test_features_with_a_leads_file_reports_rows_it_cannot_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_export(tmp_path / "export")
    request = tmp_path / "request.csv"
    pd.DataFrame({"lead_id": ["L0", "L5", "nobody"], "as_of": ["2025-01-31T00:00:00Z", "2025-01-31T00:00:00Z", ""]}).to_csv(
        request, index=False)
    out_file = tmp_path / "features.parquet"
    assert main(["features", str(data), "--out", str(out_file), "--leads", str(request)]) == 0
    written = pd.read_parquet(out_file)
    assert written["lead_id"].tolist() == ["L0"]
    assert written.loc[0, "n_demo_requests_30d"] == 1.0  # the demo request on day 30 is within the window
    out = capsys.readouterr().out
    assert "not built: 2 rows" in out and "captured after as_of 1" in out and "unknown lead_id 1" in out


def test_a_leads_file_reads_its_as_of_by_the_exports_date_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_export(tmp_path / "export")
    request = tmp_path / "request.csv"
    out_file = tmp_path / "features.parquet"
    # 03/04 and 05/04 read both ways: refused in one sentence, as in an export, never guessed.
    pd.DataFrame({"lead_id": ["L0", "L1"], "as_of": ["03/04/2025", "05/04/2025"]}).to_csv(request, index=False)
    assert main(["features", str(data), "--out", str(out_file), "--leads", str(request)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("leadscore features: the leads file's as_of column: dates such as '03/04/2025' could be read")
    assert len(err.strip().splitlines()) == 1 and not out_file.exists()
    # 13/04 can only be day first, so the whole column is: 3 April and 13 April, not 4 March.
    pd.DataFrame({"lead_id": ["L0", "L1"], "as_of": ["03/04/2025", "13/04/2025"]}).to_csv(request, index=False)
    assert main(["features", str(data), "--out", str(out_file), "--leads", str(request)]) == 0
    written = pd.read_parquet(out_file)
    assert written["as_of"].dt.strftime("%Y-%m-%d").tolist() == ["2025-04-03", "2025-04-13"]


def test_features_output_is_identical_on_the_export_cut_at_as_of(tmp_path: Path) -> None:
    as_of = T0 + 100 * DAY
    outputs = []
    for name, cut in (("full", None), ("cut", as_of)):
        data = write_export(tmp_path / name, cut_at=cut)
        out_file = tmp_path / f"{name}.csv"
        assert main(["features", str(data), "--out", str(out_file), "--as-of", iso(as_of)]) == 0
        outputs.append(out_file.read_bytes())
    assert outputs[0] == outputs[1]
    assert len(pd.read_csv(tmp_path / "full.csv")) == 5  # L5 is captured after as_of


def test_training_set_writes_labeled_rows_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_export(tmp_path / "export")
    out_file = tmp_path / "train.parquet"
    code = main(["training-set", str(data), "--target", "sqo", "--out", str(out_file), "--offsets", "0,7",
                 "--horizon-days", "60", "--data-end", "2025-08-01T00:00:00Z"])
    assert code == 0
    rows = pd.read_parquet(out_file)
    assert list(rows.columns[:5]) == ["lead_id", "as_of", "offset_days", "captured_at", "label"]
    positives = rows.loc[rows["label"] == 1, ["lead_id", "offset_days"]].values.tolist()
    assert sorted(positives) == [["L0", 0], ["L0", 7], ["L4", 0], ["L4", 7]]
    out = capsys.readouterr().out
    assert "rows written:" in out and "total" in out and "n_censored" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["training-set", "{data}", "--target", "sqo", "--out", "{tmp}/t.csv", "--offsets", "0,x"], "--offsets"),
        (["features", "{data}"], "--out"),
        (["features", "{data}", "--out", "{tmp}/f.csv", "--as-of", "soon"], "--as-of"),
        (["features", "{data}", "--out", "{tmp}/f.txt"], ".csv or .parquet"),
    ],
)
def test_commands_reject_bad_arguments_with_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          argv: list[str], message: str) -> None:
    data = write_export(tmp_path / "export")
    args = [a.format(data=data, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
