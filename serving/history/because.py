"""A stored change in words: its parts, and the features that moved most, phrased as the reasons are.

An item stored with a change is ``[part, feature, effect, value before, value after]``
(:mod:`leadscore.serving.history.split`); a feature is phrased through the reasons' words
(:func:`leadscore.features.building.catalogue.phrase`) with its value after, and its value before in
the same format: "+0.120 from data: 3 pricing-page visits in the last 30 days (was 0)". The model's part
reads "+0.020 from the model: version 4 → 5".
"""

from __future__ import annotations

import re

from leadscore.features.building.catalogue import FeatureSpec, phrase
from leadscore.scorers.model.reasons import feature_words

PART_WORDS = {"data": "from data", "time": "from time", "model": "from the model"}


def value_text(spec: FeatureSpec, value: object) -> str:
    """A value alone, formatted as the feature's template formats it ("0", "12%", "yes", "linkedin")."""
    if value is None:
        return "not given"
    if spec.kind == "flag":
        return "yes" if float(value) >= 0.5 else "no"
    if isinstance(value, str):
        return value.replace("_", " ")
    match = re.search(r"\{value(:[^}]*)?\}", spec.template)
    try:
        return ("{" + (match.group(0)[1:-1] if match else "value") + "}").format(value=value)
    except (ValueError, TypeError):
        return str(value)


_WORDS: dict[tuple[str, str | None], FeatureSpec] = {}


def _words(name: str, entry: dict | None) -> FeatureSpec:
    """The feature's words, worked out once per name and template (a million sentences reuse a few dozen)."""
    key = (name, (entry or {}).get("template"))
    if key not in _WORDS:
        _WORDS[key] = feature_words(entry or {"name": name})
    return _WORDS[key]


def item_sentence(item: list, layout: dict[str, dict] | None = None) -> str:
    """One stored item as a sentence (see the module docstring)."""
    part, name, effect, before, after = item
    lead = f"{effect:+.3f} {PART_WORDS.get(part, part)}: "
    if part == "model":
        old, new = str(before), str(after)
        old_name, _, old_version = old.rpartition(" v")
        new_name, _, new_version = new.rpartition(" v")
        if old_name == new_name and old_version and new_version:
            return lead + f"version {old_version} → {new_version}"
        return lead + f"{old} → {new}"
    spec = _words(name, (layout or {}).get(name))
    if before == after:
        return lead + f"{phrase(spec, after)} (unchanged: it weighs differently beside what changed)"
    return lead + f"{phrase(spec, after)} (was {value_text(spec, before)})"


def parts_text(total: float, parts: dict[str, float | None], digits: int = 3) -> str:
    """"+0.170: data +0.150, time -0.010, model +0.030", the parts rounded so they add up to the rounded total."""
    if any(parts[p] is None for p in parts):
        return f"{total:+.{digits}f} (not split)"
    scale = 10 ** digits
    target = round(total * scale)
    floors = {p: int((v * scale) // 1) for p, v in parts.items()}
    remainders = sorted(parts, key=lambda p: -(parts[p] * scale - floors[p]))
    for p in remainders[: max(0, target - sum(floors.values()))]:
        floors[p] += 1
    shown = ", ".join(f"{p} {floors[p] / scale:+.{digits}f}" for p in parts)
    return f"{target / scale:+.{digits}f}: {shown}"
