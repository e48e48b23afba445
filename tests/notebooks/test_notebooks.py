"""The notebooks cannot rot: they are committed without outputs, use only leadscore's public names, and
(slow, in CI) run top to bottom on a fresh demo workspace.

Each notebook runs in its own temporary folder, so it creates its own ``.workspace`` (demo export and a
local MLflow store) there: notebook 02 must train its own model, which proves it stands alone.
"""

from __future__ import annotations

import ast
import importlib
import sys
import time
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"01-retrain-and-evaluate.ipynb", "02-predicted-vs-rules.ipynb"}
PACKAGES = ("features", "training", "serving", "leadscore")
# The target is 3 minutes per notebook on 2 cores: measured 48 s and 34 s, and 174 s and 68 s with the
# machine shared at a load of 5. The budget leaves slack for shared CI runners; far beyond it, a notebook has rotted.
BUDGET_SECONDS = 300


def _code_cells(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def _leadscore_imports(source: str) -> list[tuple[str, str]]:
    """``(module, name)`` for every ``from <leadscore package>... import name`` in a cell."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            found.extend((node.module, alias.name) for alias in node.names)
    return found


def test_notebook_folder_holds_the_two_notebooks() -> None:
    assert {path.name for path in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; clear them before committing"
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_only_public_leadscore_names(path: Path) -> None:
    imports = [pair for source in _code_cells(path) for pair in _leadscore_imports(source)]
    assert imports, f"{path.name} uses nothing from leadscore"
    for module_name, name in imports:
        assert not name.startswith("_"), f"{path.name} imports the private {module_name}.{name}"
        module = importlib.import_module(module_name)
        assert hasattr(module, name), f"{path.name} imports {module_name}.{name}, which no longer exists"


@pytest.fixture(scope="session")
def venv_kernel(tmp_path_factory: pytest.TempPathFactory):
    """A ``python3`` kernel spec that runs this interpreter, found before any user or system spec."""
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager

    prefix = tmp_path_factory.mktemp("kernel")
    install(kernel_name="python3", prefix=str(prefix))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable
        yield "python3"


def _execute(path: Path, folder: Path, kernel_name: str) -> tuple[nbformat.NotebookNode, float]:
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, kernel_name=kernel_name, timeout=600, resources={"metadata": {"path": str(folder)}}).execute()
    return notebook, time.perf_counter() - started


def _registry(workspace: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{workspace / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.mark.slow
def test_retrain_notebook_runs_and_leaves_a_champion_and_challenger_history(tmp_path: Path, venv_kernel: str) -> None:
    _, seconds = _execute(NOTEBOOK_DIR / "01-retrain-and-evaluate.ipynb", tmp_path, venv_kernel)
    client = _registry(tmp_path / ".workspace")
    versions = client.search_model_versions("name='leadscore-sqo'")
    assert len(versions) == 2  # the first model and the challenger
    champion = client.get_model_version_by_alias("leadscore-sqo", "champion")
    assert int(champion.version) in {1, 2}
    # The comparison was recorded on both versions, whichever way the decision went.
    assert {v.tags.get("leadscore.promote.role") for v in client.search_model_versions("name='leadscore-sqo'")} == {
        "champion", "challenger"}
    assert seconds < BUDGET_SECONDS, f"took {seconds:.0f} s"


@pytest.mark.slow
def test_rules_notebook_runs_standalone_and_saves_the_edited_rules(tmp_path: Path, venv_kernel: str) -> None:
    from leadscore.scorers.rules import load_rules

    notebook, seconds = _execute(NOTEBOOK_DIR / "02-predicted-vs-rules.ipynb", tmp_path, venv_kernel)
    workspace = tmp_path / ".workspace"
    edited = load_rules(workspace / "my-rules.yaml")
    assert (edited.stages.sql, edited.behaviour["pricing_page_visit"].points) == (80, 20)
    # No model was registered beforehand, so the notebook trained and registered its own champion.
    assert int(_registry(workspace).get_model_version_by_alias("leadscore-sqo", "champion").version) == 1
    printed = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "change stage" in printed
    assert seconds < BUDGET_SECONDS, f"took {seconds:.0f} s"
