"""No command writes over what it reads: an output naming a table of the export (any format, through a link
or ``..``), a file the mapping reads, the ``--leads`` list or the model store is refused before the work, in one
sentence and exit 2, and the input keeps every byte. ``generate`` replaces an existing export only when told.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from leadscore.cli import main
from leadscore.features.synthetic.demo import generate_demo, write_export
from leadscore.features.synthetic.flat import make_flat_export

WRITERS = {
    "score": ["score", "{data}"],
    "features": ["features", "{data}"],
    "rules": ["rules", "{data}"],
    "training-set": ["training-set", "{data}", "--target", "sqo"],
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    frames, truth = generate_demo(300, seed=5)
    folders = {}
    for fmt in ("csv", "parquet"):
        folders[fmt] = tmp_path_factory.mktemp(fmt) / "export"
        write_export(frames, truth, folders[fmt], fmt)
    folders["flat"] = make_flat_export(300, 5, "hubspot").write(tmp_path_factory.mktemp("flat") / "contacts-export")
    return folders


@pytest.fixture(autouse=True)
def _local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(argv: list[str], watched: Path, capsys) -> str:
    """Run ``argv``; assert exit 2 with one line on stderr and ``watched`` untouched; return the line."""
    before = _digest(watched) if watched.is_file() else None
    code = main(argv)
    err = capsys.readouterr().err.splitlines()
    assert code == 2, err
    assert len(err) == 1, err
    assert (_digest(watched) if watched.is_file() else None) == before
    return err[0]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_an_output_naming_a_table_of_the_export_is_refused_and_the_table_kept(command, fmt, exports, capsys):
    export = exports[fmt]
    for table in ("leads", "events"):
        target = export / f"{table}.{fmt}"
        argv = [a.format(data=export) for a in WRITERS[command]] + ["--out", str(target)]
        line = _refused(argv, target, capsys)
        assert line == (f"leadscore {command}: {target} is the {table} table of the export {export}, which this "
                        "command reads; choose another output.")


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_an_output_reaching_a_table_through_a_link_or_dot_dot_is_refused(command, exports, tmp_path, capsys):
    export = exports["csv"]
    link = tmp_path / "scores.csv"
    link.symlink_to(export / "leads.csv")
    for out in (link, export / "sub" / ".." / "leads.csv"):
        argv = [a.format(data=export) for a in WRITERS[command]] + ["--out", str(out)]
        assert "is the leads table of the export" in _refused(argv, export / "leads.csv", capsys)
    assert link.is_symlink()


def test_an_output_the_next_read_would_take_for_a_table_is_refused(exports, capsys):
    export = exports["parquet"]
    target = export / "Opportunities.csv"  # the export has none yet; this name would become its table
    line = _refused(["features", str(export), "--out", str(target)], target, capsys)
    assert line.endswith("is named after a table, so the next read of the export "
                         f"{export} would take it for one; choose another output.")
    assert not target.exists()


def test_an_output_beside_the_tables_under_another_name_is_written(exports, capsys):
    export = exports["parquet"]
    assert main(["rules", str(export), "--out", str(export / "rules-today.csv")]) == 0
    assert (export / "rules-today.csv").is_file()
    (export / "rules-today.csv").unlink()


@pytest.mark.parametrize("command", ["score", "features", "rules"])
def test_the_leads_list_given_as_the_output_is_refused_and_kept(command, exports, tmp_path, capsys):
    leads = tmp_path / "list.csv"
    leads.write_text("lead_id\nL1\nL2\n")
    argv = [a.format(data=exports["csv"]) for a in WRITERS[command]] + ["--leads", str(leads), "--out", str(leads)]
    assert _refused(argv, leads, capsys) == (f"leadscore {command}: {leads} is the --leads file this command reads; "
                                             "choose another output.")


def test_a_file_the_mapping_reads_is_refused_as_an_output(exports, capsys):
    flat = exports["flat"]
    target = flat / "contacts.csv"
    line = _refused(["rules", str(flat), "--mapping", str(flat / "mapping.yaml"), "--out", str(target)], target, capsys)
    assert line == f"leadscore rules: {target} is the file the mapping reads as the leads table; choose another output."


def test_the_model_store_is_never_an_output(exports, tmp_path, capsys):
    database = tmp_path / "mlflow.db"
    database.write_bytes(b"SQLite format 3\x00 a store")
    (tmp_path / "mlartifacts").mkdir()
    line = _refused(["score", str(exports["csv"]), "--out", str(tmp_path / "mlartifacts" / "x.csv")],
                    database, capsys)
    assert line.endswith("is in the MLflow model store's artifact folder; choose another output.")
    line = _refused(["generate", "--leads", "50", "--format", "duckdb", "--out", str(database)], database, capsys)
    assert line == f"leadscore generate: {database} is the MLflow model store's database; choose another output."


def test_a_store_named_by_mlflow_tracking_uri_is_never_an_output(exports, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "stores" / "team.db"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"SQLite format 3\x00 a store")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere}")
    line = _refused(["generate", "--leads", "50", "--format", "duckdb", "--out", str(elsewhere)], elsewhere, capsys)
    assert "is the MLflow model store's database" in line


@pytest.mark.parametrize("shape", ["contract", "hubspot"])
def test_generate_refuses_a_folder_holding_an_export_unless_told_to_overwrite(shape, exports, tmp_path, capsys):
    target = tmp_path / "real-export"
    source = exports["csv"] if shape == "contract" else exports["flat"]
    target.mkdir()
    for entry in source.iterdir():
        if entry.is_file():
            (target / entry.name).write_bytes(entry.read_bytes())
    watched = target / ("leads.csv" if shape == "contract" else "contacts.csv")
    argv = ["generate", "--leads", "40", "--shape", shape, "--out", str(target)]
    if shape == "contract":
        argv += ["--format", "csv"]
    line = _refused(argv, watched, capsys)
    assert line.startswith(f"leadscore generate: {target} already holds an export (")
    assert line.endswith("); choose another --out, or give --overwrite to replace it with generated data.")
    before = _digest(watched)
    assert main([*argv, "--overwrite"]) == 0
    assert _digest(watched) != before


def test_generate_refuses_an_existing_duckdb_export_unless_told_to_overwrite(tmp_path, capsys):
    target = tmp_path / "crm.duckdb"
    assert main(["generate", "--leads", "40", "--format", "duckdb", "--out", str(target)]) == 0
    capsys.readouterr()
    line = _refused(["generate", "--leads", "40", "--format", "duckdb", "--out", str(target)], target, capsys)
    assert line.startswith(f"leadscore generate: {target} already holds an export (crm.duckdb)")
    assert main(["generate", "--leads", "40", "--seed", "1", "--format", "duckdb", "--out", str(target),
                 "--overwrite"]) == 0


@pytest.mark.parametrize("where", ["default", "environment"])
def test_the_score_store_is_never_an_output(where, tmp_path, monkeypatch, capsys):
    store = tmp_path / ("leadscore-scores.duckdb" if where == "default" else "team-scores.duckdb")
    if where == "environment":
        monkeypatch.setenv("LEADSCORE_STORE", str(store))
    store.write_bytes(b"DUCK every earlier run's scores")
    line = _refused(["generate", "--leads", "40", "--format", "duckdb", "--out", str(store)], store, capsys)
    assert line == (f"leadscore generate: {store} is the score store, which keeps every earlier run's scores; "
                    "choose another output.")
