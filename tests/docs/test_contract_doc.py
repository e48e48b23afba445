"""docs/data-contract.md states the plausible maximum of every number column exactly as the contract declares it."""

from __future__ import annotations

import re
from pathlib import Path

from leadscore.features.contract import TABLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-contract.md"


def test_the_documented_plausible_maxima_are_the_contracts():
    rows = re.findall(r"^\| (\w+)\.(\w+) \| ([\d,]+) \| (.+) \|$", DOC.read_text(), flags=re.M)
    documented = {(table, column): (int(maximum.replace(",", "")), why) for table, column, maximum, why in rows}
    declared = {(t.name, c.name): (int(c.plausible_max), c.plausible_why) for t in TABLES.values() for c in t.columns
                if c.plausible_max is not None}
    assert documented == declared
    assert {(t.name, c.name) for t in TABLES.values() for c in t.columns if c.kind == "number"} == set(declared)
