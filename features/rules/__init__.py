"""Rule-based points scoring, as marketing defines it, from a YAML file a marketer can read and edit.

Both training (the rules baseline every model must beat) and serving (rule points next to the model's
probability) use it, so it lives in ``features`` and imports nothing outside it.
"""

from leadscore.features.rules.config import DEFAULT_RULES_PATH, RulesConfig, load_rules, parse_rules
from leadscore.features.rules.engine import score_rules

__all__ = ["DEFAULT_RULES_PATH", "RulesConfig", "load_rules", "parse_rules", "score_rules"]
