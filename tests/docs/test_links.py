"""Every relative link in the repository's Markdown leads somewhere inside the repository.

A link to a file must name one that exists inside the repository (never ``../../shared/...`` beside a
developer's clone); a link to a heading (``README.md#the-funnel-in-words``) must name one the file has,
spelled as GitHub spells heading anchors.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_FOLDERS = {".git", ".venv", "node_modules", "demo-workspace", "mlartifacts", "mlruns", "build", "dist"}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*([^)\s]+)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def markdown_files() -> list[Path]:
    return sorted(
        path for path in ROOT.rglob("*.md")
        if not any(part in SKIPPED_FOLDERS or part.startswith(".") or part.endswith(".egg-info")
                   for part in path.relative_to(ROOT).parts[:-1])
    )


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.

    Examples
    --------
    >>> anchor("Models, configuration, output")
    'models-configuration-output'
    >>> anchor("Quickstart (Python 3.11 and pip, nothing else)")
    'quickstart-python-311-and-pip-nothing-else'
    """
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = CODE.sub("", path.read_text(encoding="utf-8"))
    return {anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)}


def relative_links(path: Path) -> list[str]:
    text = CODE.sub("", path.read_text(encoding="utf-8"))
    found = [m.group(1) for m in LINK.finditer(text)] + [m.group(1) for m in IMAGE.finditer(text)]
    return [link for link in found if not re.match(r"^[a-z][a-z0-9+.-]*:", link, re.IGNORECASE)]


def test_the_markdown_files_are_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in markdown_files()}
    assert {"README.md", "docs/design.md", "docs/data-contract.md", "docs/rules.md", "tests/README.md",
            "notebooks/README.md"} <= names


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    broken = []
    for link in relative_links(path):
        target_text, _, fragment = link.partition("#")
        target = (path.parent / target_text).resolve() if target_text else path
        if not target.is_relative_to(ROOT):
            broken.append(f"{link}: outside the repository")
        elif not target.exists():
            broken.append(f"{link}: no such file")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            broken.append(f"{link}: {target.name} has no heading #{fragment}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)
