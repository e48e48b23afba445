"""Layout rules of STYLE.md: import direction, no shadowing, lazy heavy imports, packaging guardrails."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "training", "serving", "leadscore")
# Which top-level packages each package may import.
ALLOWED = {
    "features": set(),
    "training": {"features"},
    "serving": {"features"},
    "leadscore": {"features", "training", "serving"},
}
HEAVY = ("mlflow", "lightgbm", "shap")


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_one_direction(package: str) -> None:
    forbidden = set(PACKAGES) - ALLOWED[package] - {package}
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_top_levels(path) & forbidden)
        for path in _python_files(package)
        if _imported_top_levels(path) & forbidden
    }
    assert offenders == {}, f"{package} may import only {sorted(ALLOWED[package])}: {offenders}"


def test_tests_folder_has_no_init_files_that_would_shadow_packages() -> None:
    inits = [str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("__init__.py")]
    assert inits == []


def test_no_module_outside_its_package_is_named_like_a_package() -> None:
    shadows = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in {".venv", ".git", "build", "dist"} or any(p.endswith(".egg-info") for p in parts):
            continue
        if path.suffix in {".py", ".ipynb"} and path.stem in PACKAGES:
            shadows.append(str(path.relative_to(ROOT)))
        if path.is_dir() and path.name in PACKAGES and path.parent != ROOT:
            shadows.append(str(path.relative_to(ROOT)))
    assert shadows == []


def test_packaging_guardrails_are_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    assert set(setuptools["packages"]["find"]["include"]) >= {f"{p}*" for p in PACKAGES}
    assert setuptools["package-dir"] == {"": "."}
    assert "--import-mode=importlib" in config["tool"]["pytest"]["ini_options"]["addopts"]
    assert config["project"]["scripts"]["leadscore"] == "leadscore.cli:main"
    assert config["project"]["name"] == "leadscore"


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from leadscore.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY + ('pandas',)!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_features_package_imports_no_model_library_at_import() -> None:
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts) for p in _python_files("features") if p.name != "__init__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
