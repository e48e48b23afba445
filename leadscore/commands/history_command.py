"""``leadscore history LEAD_ID``: a lead's stored scores, oldest first, and what changed between them."""

from __future__ import annotations

import argparse
import json
import sys


def run(args: argparse.Namespace) -> int:
    from leadscore.serving.history.changes import feature_layouts
    from leadscore.serving.history.lead_history import history_lines, lead_history
    from leadscore.serving.history.store import open_store, store_target

    with open_store(store_target(args.store), read_only=True) as store:
        entries = lead_history(store, args.lead_id, feature_layouts(store))
    if args.json:
        sys.stdout.write(json.dumps({"lead_id": args.lead_id, "runs": entries}, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write("\n".join(history_lines(args.lead_id, entries)) + "\n")
    return 0
