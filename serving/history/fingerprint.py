"""What identifies a scoring run: the export's content, the request, the models, the rules.

Two runs with the same key would write the same rows, so the store keeps the first and skips the
other. The export fingerprint hashes the tables as read (after the mapping), so the same data gives
the same fingerprint whether it came as CSV, Parquet or DuckDB, and one changed cell changes it.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from leadscore.features.contract import TABLE_NAMES
from leadscore.features.tables import Tables


def _hash_frame(digest: hashlib._Hash, frame: pd.DataFrame) -> None:
    """Columns, types, row count and two order-free sums of the rows' 64-bit hashes (DuckDB, all cores)."""
    import duckdb

    digest.update(json.dumps([[str(c), str(frame[c].dtype)] for c in frame.columns]).encode())
    digest.update(len(frame).to_bytes(8, "little"))
    if not len(frame) or not len(frame.columns):
        return
    con = duckdb.connect()
    try:
        con.register("frame", frame.reset_index(drop=True))
        columns = ", ".join(f'"{str(c).replace(chr(34), chr(34) * 2)}"' for c in frame.columns)
        # Row order carries no meaning in an export; xor and a wrapped sum of row hashes ignore it, and
        # repeated rows still count (the sum).
        xor, total = con.execute(
            f"SELECT bit_xor(h), sum(h::HUGEINT) % 18446744073709551616 FROM (SELECT hash({columns}) AS h FROM frame)"
        ).fetchone()
    finally:
        con.close()
    digest.update(f"{xor}:{total}".encode())


def export_fingerprint(tables: Tables) -> str:
    """SHA-256 over every table's columns, types and row hashes, and the data's end."""
    digest = hashlib.sha256()
    for name in TABLE_NAMES:
        digest.update(name.encode())
        _hash_frame(digest, tables.table(name))
    digest.update(str(tables.data_end).encode())
    return digest.hexdigest()


def request_fingerprint(scores: pd.DataFrame) -> str:
    """SHA-256 of the requested (lead_id, as_of) rows (as a set): which leads the run scored, when."""
    digest = hashlib.sha256()
    _hash_frame(digest, scores.loc[:, ["lead_id", "as_of"]])
    return digest.hexdigest()


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text (and equal hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run_key(parts: dict[str, object]) -> str:
    """SHA-256 of what decides a run's rows (export, request, models, rules, grade cuts)."""
    return text_hash(canonical_json(parts))
