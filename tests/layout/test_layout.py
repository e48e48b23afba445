"""Layout rules of STYLE.md: one import name, import direction, no import circles, lazy heavy imports, packaging.

The folders ``features/``, ``scorers/``, ``training/`` and ``serving/`` sit at the repository root and install
as ``leadscore.features``, ``leadscore.scorers``, ``leadscore.training`` and ``leadscore.serving`` (setuptools'
package-dir mapping).
The import graph is read from the source with ``ast``, imports inside functions included, so a circle
cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
import glob
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where each top-level import package's source lives (pyproject's package-dir mapping).
SOURCES = {
    "leadscore": ROOT / "leadscore",
    "leadscore.features": ROOT / "features",
    "leadscore.scorers": ROOT / "scorers",
    "leadscore.training": ROOT / "training",
    "leadscore.serving": ROOT / "serving",
}
# Which parts may import which: features imports none of the others; scorers builds on features; training
# and serving may import both (never each other); the command line (everything else under ``leadscore``)
# may import all.
ALLOWED = {
    "leadscore.features": {"leadscore.features"},
    "leadscore.scorers": {"leadscore.features", "leadscore.scorers"},
    "leadscore.training": {"leadscore.features", "leadscore.scorers", "leadscore.training"},
    "leadscore.serving": {"leadscore.features", "leadscore.scorers", "leadscore.serving"},
    "leadscore": {"leadscore", "leadscore.features", "leadscore.scorers", "leadscore.training", "leadscore.serving"},
}
# Layers inside features: the core modules (contract, tables, time, the atomic writer, ...) import only
# each other; reading builds on the core; building on reading; the generator on the core alone.
FEATURE_LAYERS = {
    "core": {"core"},
    "reading": {"core", "reading"},
    "building": {"core", "reading", "building"},
    "synthetic": {"core", "synthetic"},
}
HEAVY = ("mlflow", "lightgbm", "shap")


def module_files(sources: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> source file, for every ``.py`` under the mapped folders."""
    modules: dict[str, Path] = {}
    for package, folder in sources.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            # a mapped sub-package (leadscore.features) wins over a folder of the same dotted name
            modules.setdefault(name, path)
    return modules


def import_graph(sources: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file (functions and TYPE_CHECKING included)."""
    modules = module_files(sources)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                imported = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            for module in imported:
                # `import a.b.c` names a.b.c; the closest project module it reaches is the target
                while module and module not in modules:
                    module = module.rpartition(".")[0]
                if module and module != name:
                    targets.add(module)
        graph[name] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted: the import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def part_of(module: str) -> str:
    """The part of the project a module belongs to (the longest mapped package prefix)."""
    return max((p for p in SOURCES if module == p or module.startswith(p + ".")), key=len)


def test_no_import_circles_between_modules() -> None:
    assert find_cycles(import_graph(SOURCES)) == []


def test_a_planted_import_circle_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def late():\n    from pkg.sub import b\n    return b\n")
    (package / "sub" / "b.py").write_text("from .. import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("import pkg.a\n")  # imports into the circle, not part of it
    graph = import_graph({"pkg": package})
    assert find_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_imports_follow_the_one_direction() -> None:
    graph = import_graph(SOURCES)
    offenders = {
        module: sorted(t for t in targets if part_of(t) not in ALLOWED[part_of(module)])
        for module, targets in graph.items()
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def feature_layer(module: str) -> str:
    """The layer of a ``leadscore.features`` module: its sub-package, or ``core`` for a top-level module."""
    parts = module.split(".")
    if len(parts) > 3 and parts[2] in FEATURE_LAYERS:
        return parts[2]
    if len(parts) == 3 and (SOURCES["leadscore.features"] / parts[2]).is_dir():
        return parts[2]
    return "core"


def test_feature_sub_packages_build_on_the_core_in_one_direction() -> None:
    graph = import_graph(SOURCES)
    features = {m: t for m, t in graph.items() if part_of(m) == "leadscore.features"}
    assert {feature_layer(m) for m in features} == set(FEATURE_LAYERS)
    offenders = {
        module: sorted(t for t in targets
                       if part_of(t) == "leadscore.features" and feature_layer(t) not in FEATURE_LAYERS[feature_layer(module)])
        for module, targets in features.items()
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_only_leadscore_is_installed_as_a_top_level_import_name(tmp_path: Path) -> None:
    code = (
        "import importlib.util, json\n"
        "from importlib import metadata\n"
        "top = sorted(k for k, v in metadata.packages_distributions().items() if 'leadscore' in v)\n"
        "found = {n: importlib.util.find_spec(n) is not None for n in ('features', 'scorers', 'training', 'serving')}\n"
        "import leadscore.features, leadscore.scorers, leadscore.training, leadscore.serving\n"
        "print(json.dumps([top, found]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == '[["leadscore"], {"features": false, "scorers": false, "training": false, "serving": false}]'


def test_a_users_own_features_training_and_serving_modules_break_nothing(tmp_path: Path) -> None:
    for name in ("features", "scorers", "training", "serving"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}.py was imported')\n")
    export = tmp_path / "export"
    export.mkdir()
    (export / "leads.csv").write_text("lead_id,captured_at,channel\nL1,2024-01-05T10:00:00Z,linkedin\n")
    library = (
        "from leadscore.features.reading.validation import load_tables\n"
        "from leadscore.features.building.builder import build_features\n"
        "from leadscore.features.building.spine import make_spine\n"
        "import leadscore.scorers.model.artifacts, leadscore.training.pipeline, leadscore.serving.score\n"
        "tables = load_tables('export')\n"
        "print(len(build_features(tables, make_spine(tables)[0])))\n"
    )
    out = subprocess.run([sys.executable, "-c", library], capture_output=True, text=True, cwd=tmp_path)
    assert (out.returncode, out.stdout.strip()) == (0, "1"), out.stderr
    # `python -m` puts the working directory first on sys.path, as a notebook kernel does
    cli = subprocess.run([sys.executable, "-m", "leadscore.cli", "validate", "export"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert cli.returncode == 0 and "0 error(s)" in cli.stdout, cli.stderr


def test_tests_folder_has_no_init_files_that_would_shadow_packages() -> None:
    assert [str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("__init__.py")] == []


def test_every_package_folder_is_listed_and_every_package_data_pattern_matches() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"] == {name: str(path.relative_to(ROOT)) for name, path in SOURCES.items()}
    folders = {name for name, path in module_files(SOURCES).items() if path.name == "__init__.py"}
    listed = set(setuptools["packages"])
    assert folders <= listed, f"package folders missing from pyproject's packages: {sorted(folders - listed)}"

    def folder_of(package: str) -> Path:
        part = part_of(package)
        return SOURCES[part].joinpath(*package[len(part) + 1:].split(".")) if package != part else SOURCES[part]

    # a listed package without __init__.py is a data folder (templates) that package-data ships
    for package in listed - folders:
        assert folder_of(package).is_dir() and package in setuptools["package-data"], package
    for package, patterns in setuptools["package-data"].items():
        for pattern in patterns:
            assert glob.glob(str(folder_of(package) / pattern)), f"package-data {package}: {pattern!r} matches nothing"
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
    modules = sorted(m for m in module_files(SOURCES) if part_of(m) == "leadscore.features")
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    assert out.stdout.strip() == "[]"
