"""Give the UCI bank-marketing file what every lead export has and it lacks: an id and a contact time.

    python docs/bank-marketing/add_ids_and_dates.py bank-additional-full.csv bank-export/contacts.csv

``bank-additional-full.csv`` (Moro et al., 2014) has one row per client contacted in a campaign, in date
order from May 2008 to November 2010, with the month of the last contact but no year, no day and no id.
This script adds ``contact_id`` and ``contacted_at``: a new year starts whenever the month goes
backwards, and each month's rows are spread over its days in file order. Nothing else is changed; the
mapping file beside it (``mapping.yaml``) says what leadscore reads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def add_ids_and_dates(source: str | Path, target: str | Path) -> None:
    """Read the UCI file at ``source`` (``;``-separated) and write it with an id and a contact time to ``target``."""
    bank = pd.read_csv(source, sep=";")
    number = bank["month"].map({m: i for i, m in enumerate(MONTHS, 1)}).to_numpy()
    year = 2008 + np.concatenate([[0], np.cumsum(np.diff(number) < 0)])
    first = pd.to_datetime(pd.DataFrame({"year": year, "month": number, "day": 1}))
    rank = bank.groupby([year, number]).cumcount().to_numpy()
    size = bank.groupby([year, number])["month"].transform("size").to_numpy()
    bank.insert(0, "contact_id", [f"B{i:06d}" for i in range(len(bank))])
    bank.insert(1, "contacted_at", first + pd.to_timedelta(rank / size * first.dt.days_in_month, unit="D"))
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    bank.to_csv(target, index=False)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python add_ids_and_dates.py bank-additional-full.csv OUT/contacts.csv")
    add_ids_and_dates(sys.argv[1], sys.argv[2])
