"""Rule-based points scoring, as marketing defines it, from a YAML file a marketer can read and edit.

Both training (the rules baseline every model must beat) and serving (rule points next to the model's
probability) use it.
"""

from leadscore.scorers.rules.config import DEFAULT_RULES_PATH, RulesConfig, load_rules, parse_rules
from leadscore.scorers.rules.engine import score_rules

__all__ = ["DEFAULT_RULES_PATH", "RulesConfig", "load_rules", "parse_rules", "score_rules"]
