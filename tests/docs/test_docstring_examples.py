"""Every docstring example in the packages runs and prints what it says (numpydoc ``Examples`` sections)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import leadscore

PACKAGES = ("leadscore",)
SKIPPED = {"leadscore.training.logged_model"}  # MLflow's models-from-code file: it registers a model on import


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(leadscore.__path__, "leadscore."):
        names.append(info.name)
    for sub in ("features", "training", "serving"):
        package = importlib.import_module(f"leadscore.{sub}")
        names.append(package.__name__)
        names += [info.name for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return sorted(set(names) - SKIPPED)


MODULES = _modules()


def test_the_packages_hold_docstring_examples() -> None:
    finder = doctest.DocTestFinder()
    n_examples = sum(len(t.examples) for m in MODULES for t in finder.find(importlib.import_module(m)))
    assert n_examples >= 25


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring example(s) in {name} failed"
