"""``leadscore changes``: leads whose p_sqo moved between two stored runs, each move split into data, time
and model, largest first, with the features that moved in words."""

from __future__ import annotations

import argparse
import json
import sys


def run(args: argparse.Namespace) -> int:
    from leadscore.serving.history.changes import feature_layouts, find_changes
    from leadscore.serving.history.store import describe_target, open_store, store_target

    target = store_target(args.store)
    with open_store(target, read_only=True) as store:
        changes = find_changes(store, args.from_run, args.to_run, args.min_change, feature_layouts(store))
    if args.json:
        sys.stdout.write(json.dumps([c.as_json() for c in changes], indent=2, ensure_ascii=False) + "\n")
        return 0
    between = (f"from run {args.from_run} " if args.from_run else "") + (f"to run {args.to_run}" if args.to_run else "")
    between = between.strip() or "since each lead's previous stored score"
    head = (f"{len(changes):,} lead{'s' if len(changes) != 1 else ''} whose p_sqo moved by {args.min_change:g} or more "
            f"{between} ({describe_target(target)}); "
            "each move = data + time + model")
    sys.stdout.write("\n".join([head, *(line for c in changes for line in c.lines())]) + "\n")
    return 0
