"""Flat CRM exports as users bring them: one contacts file with its own columns, outcome flags, deals apart.

Three shapes (``bring-your-own-data.md``), each written with the mapping file a user would write:

``hubspot``
    ``contacts.csv``: one row per contact with "Create Date", "Became a … Date" columns for MQL,
    opportunity (SQO) and customer (WON), a lifecycle stage, CRM counters and form answers.
``converted``
    ``leads.csv``: one row per lead with a creation date, a ``Converted`` flag and no outcome dates
    (a spreadsheet handed over by sales ops).
``deals``
    ``leads.csv`` plus ``closed_deals.csv`` keyed by lead, with a won date and no stage column.

The signal lives in the export's own columns, known at capture ("Lead Source", "TotalVisits", the
occupation question of the form …), and so do the leaks real exports carry (``leaks=True``): a sales
status tag and a quality rating filled in after the first call, a page-view counter measured on the day
of the export, a "last activity" date that is usually the sales call itself. A ``collection_start``
leaves deals before that day unrecorded, the data-collection artefact calendar features would learn.
Every column's meaning is known here, so tests can check that leadscore uses the honest ones and
catches the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from leadscore.features.frames_io import write_atomic, write_csv, write_text
from leadscore.features.timestamps import NS_PER_DAY

Shape = Literal["hubspot", "converted", "deals"]
SHAPES = ("hubspot", "converted", "deals")
START = pd.Timestamp("2024-01-01T00:00:00Z")
SOURCES = {"Google": 0.0, "Direct Traffic": -0.3, "Olark Chat": -0.8, "Organic Search": 0.1, "Reference": 2.0,
           "Welingak Website": 2.4, "Referral Sites": -0.2, "Facebook": -0.6}
SOURCE_SHARES = (0.30, 0.26, 0.18, 0.12, 0.06, 0.02, 0.03, 0.03)
ORIGINS = {"Landing Page Submission": 0.0, "API": -0.4, "Lead Add Form": 1.6, "Lead Import": -0.9}
ORIGIN_SHARES = (0.52, 0.38, 0.08, 0.02)
OCCUPATIONS = {"Unemployed": -0.2, "Working Professional": 2.3, "Student": -0.4, "Housewife": 1.2,
               "Businessman": 0.6, "Other": 0.0, "Select": -0.9}
OCCUPATION_SHARES = (0.55, 0.08, 0.03, 0.01, 0.01, 0.02, 0.30)
SPECIALIZATIONS = ("Select", "Finance Management", "Human Resource Management", "Marketing Management",
                   "Operations Management", "Business Administration", "IT Projects Management")
CITIES = ("Mumbai", "Select", "Thane & Outskirts", "Other Cities", "Other Metro Cities", "Tier II Cities")
FIRST_NAMES = ("Asha", "Ravi", "Maya", "John", "Lena", "Omar", "Priya", "Tom", "Ana", "Ken")
TAGS_WON = ("Closed by Horizzon", "Will revert after reading the email", "Lost to EINS")
TAGS_LOST = ("Ringing", "Interested in other courses", "Already a student", "switched off", "Not doing further education")


@dataclass(frozen=True)
class FlatExport:
    """A generated flat export: its files (name -> frame), the mapping a user would write, and the truth."""

    files: dict[str, pd.DataFrame]
    mapping: str
    truth: pd.DataFrame

    def write(self, folder: str | Path) -> Path:
        """Write the files (CSV) and ``mapping.yaml`` into ``folder``; returns the folder."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        for name, frame in self.files.items():
            write_atomic(target / name, lambda tmp, frame=frame: write_csv(frame, tmp))
        write_text(self.mapping, target / "mapping.yaml")
        return target


def _dates(ns: np.ndarray, with_time: bool = True) -> np.ndarray:
    stamps = pd.to_datetime(ns, utc=True)
    text = stamps.strftime("%Y-%m-%d %H:%M:%S" if with_time else "%Y-%m-%d").to_numpy(dtype=object)
    text[np.isnan(ns.astype("float64")) | (ns == np.iinfo(np.int64).min)] = None
    return text


def make_flat_export(
    n_leads: int,
    seed: int,
    shape: Shape = "hubspot",
    months: int = 18,
    leaks: bool = True,
    collection_start: pd.Timestamp | None = None,
) -> FlatExport:
    """A flat export of ``n_leads`` leads captured over ``months`` months from 2024-01-01.

    Parameters
    ----------
    shape
        ``hubspot``, ``converted`` or ``deals`` (see the module docstring).
    leaks
        Add the columns a real export leaks through (a status tag and a quality rating written by sales,
        a page-view counter and a last-activity date measured at the export).
    collection_start
        Outcomes before this moment were never recorded (converted leads captured earlier look lost).
    """
    rng = np.random.default_rng(seed)
    span_ns = int(months * 30.4 * NS_PER_DAY)
    start_ns = START.value
    captured = np.sort(start_ns + rng.integers(0, span_ns, n_leads))
    data_end_ns = start_ns + span_ns
    source = rng.choice(len(SOURCES), n_leads, p=np.array(SOURCE_SHARES) / sum(SOURCE_SHARES))
    origin = rng.choice(len(ORIGINS), n_leads, p=np.array(ORIGIN_SHARES) / sum(ORIGIN_SHARES))
    occupation = rng.choice(len(OCCUPATIONS), n_leads, p=np.array(OCCUPATION_SHARES) / sum(OCCUPATION_SHARES))
    visits = rng.poisson(3.0, n_leads) * (rng.random(n_leads) > 0.1)
    time_on_site = np.round(rng.gamma(1.5, 300, n_leads) * (visits > 0))
    do_not_email = rng.random(n_leads) < 0.08
    logit = (-2.2 + np.array(list(SOURCES.values()))[source] + np.array(list(ORIGINS.values()))[origin]
             + np.array(list(OCCUPATIONS.values()))[occupation] + 0.12 * np.minimum(visits, 10)
             + 0.0011 * time_on_site - 0.9 * do_not_email + rng.normal(0, 0.6, n_leads))
    converts = rng.random(n_leads) < 1 / (1 + np.exp(-logit))
    # Conversion comes a few weeks after capture; what happens after the export is not in it.
    won_ns = captured + (rng.gamma(2.0, 12.0, n_leads) * NS_PER_DAY).astype(np.int64)
    # The opportunity opens on the way to the win; each is recorded when it happened by the export.
    sqo_at = captured + ((won_ns - captured) * 0.6).astype(np.int64)
    recorded = np.ones(n_leads, dtype=bool) if collection_start is None else captured >= pd.Timestamp(collection_start).value
    observed = converts & (won_ns <= data_end_ns) & recorded
    opportunity = converts & (sqo_at <= data_end_ns) & recorded
    mql_ns = np.where(opportunity | (rng.random(n_leads) < 0.2),
                      captured + (rng.gamma(1.2, 3.0, n_leads) * NS_PER_DAY).astype(np.int64), np.iinfo(np.int64).min)
    mql_ns = np.where(mql_ns > data_end_ns, np.iinfo(np.int64).min, mql_ns)
    sqo_ns = np.where(opportunity, sqo_at, np.iinfo(np.int64).min)
    won_text_ns = np.where(observed, won_ns, np.iinfo(np.int64).min)

    ids = np.array([f"{100000 + i}" for i in range(n_leads)], dtype=object)
    own = {
        "Lead Origin": np.array(list(ORIGINS))[origin],
        "Lead Source": np.array(list(SOURCES))[source],
        "Do Not Email": np.where(do_not_email, "Yes", "No"),
        "TotalVisits": visits.astype(float),
        "Total Time Spent on Website": time_on_site,
        "Page Views Per Visit": np.round(np.where(visits > 0, rng.gamma(2.0, 1.2, n_leads), 0.0), 2),
        "What is your current occupation": np.array(list(OCCUPATIONS))[occupation],
        "Specialization": rng.choice(SPECIALIZATIONS, n_leads),
        "City": rng.choice(CITIES, n_leads),
        "Email": np.array([f"lead{i}@example.org" for i in range(n_leads)], dtype=object),
        "First Name": rng.choice(FIRST_NAMES, n_leads),
        "Phone": np.array([f"+91 98{rng.integers(10**7, 10**8)}" for _ in range(n_leads)], dtype=object),
    }
    if leaks:
        age_days = (data_end_ns - captured) / NS_PER_DAY
        own["Tags"] = np.where(observed, rng.choice(TAGS_WON, n_leads, p=(0.7, 0.25, 0.05)),
                               rng.choice(TAGS_LOST, n_leads))
        own["Lead Quality"] = np.where(observed, rng.choice(["High in Relevance", "Might be"], n_leads, p=(0.8, 0.2)),
                                       rng.choice(["Not Sure", "Worst", "Low in Relevance", "Might be"], n_leads))
        own["Number of Pageviews"] = (visits + rng.poisson(0.05 * age_days * (1 + 2 * observed))).astype(float)
        last_ns = captured + (rng.uniform(0, 1, n_leads) * (data_end_ns - captured)).astype(np.int64)
        own["Last Activity Date"] = _dates(np.where(observed, won_ns - NS_PER_DAY, last_ns))
    truth = pd.DataFrame({"lead_id": ids, "converted": converts, "observed": observed,
                          "captured_at": pd.to_datetime(captured, utc=True)})
    if shape == "hubspot":
        contacts = pd.DataFrame({"Record ID": ids, "Create Date": _dates(captured), **own})
        stage = np.where(observed, "customer", np.where(mql_ns != np.iinfo(np.int64).min, "marketingqualifiedlead", "lead"))
        if leaks:
            contacts["Lifecycle Stage"] = stage
        contacts["Became a Marketing Qualified Lead Date"] = _dates(mql_ns)
        contacts["Became an Opportunity Date"] = _dates(sqo_ns)
        contacts["Became a Customer Date"] = _dates(won_text_ns)
        return FlatExport({"contacts.csv": contacts}, MAPPINGS["hubspot"], truth)
    if shape == "converted":
        leads = pd.DataFrame({"Prospect ID": ids, "Created On": _dates(captured, with_time=False), **own,
                              "Converted": observed.astype(int)})
        return FlatExport({"leads.csv": leads}, MAPPINGS["converted"], truth)
    leads = pd.DataFrame({"mql_id": ids, "first_contact_date": _dates(captured, with_time=False), **own})
    won = observed
    deals = pd.DataFrame({"mql_id": ids[won], "won_date": _dates(won_ns[won]),
                          "business_segment": rng.choice(["pet", "car_accessories", "health_beauty"], int(won.sum()))})
    return FlatExport({"leads.csv": leads, "closed_deals.csv": deals}, MAPPINGS["deals"], truth)


def _leads_section(file: str, lead_id: str, created: str, extra_values: str = "") -> str:
    """The leads part of the mapping a user writes for these exports (form placeholders mean no answer)."""
    return f"""leads:
  file: {file}
  columns: {{{lead_id}: lead_id, {created}: captured_at, What is your current occupation: job_title}}
  constants: {{channel: other}}
  values:
{extra_values}    What is your current occupation: {{Select: ~}}
    Specialization: {{Select: ~}}
    City: {{Select: ~}}
  features:
    exclude: [Email, First Name, Phone]
"""


MAPPINGS = {
    "hubspot": "# A HubSpot contacts export: leads and their funnel dates in one file.\n"
               + _leads_section("contacts.csv", "Record ID", "Create Date", '    Do Not Email: {Yes: "true", No: "false"}\n')
               + """stage_history:
  file: contacts.csv
  columns: {Record ID: lead_id}
  stage_dates:
    MQL: Became a Marketing Qualified Lead Date
    SQO: Became an Opportunity Date
    WON: Became a Customer Date
""",
    "converted": "# A flat lead file with a Converted flag and no outcome dates.\n"
                 + _leads_section("leads.csv", "Prospect ID", "Created On")
                 + """stage_history:
  file: leads.csv
  columns: {Prospect ID: lead_id}
  reached:
    WON: {column: Converted, values: ["1"]}
""",
    "deals": "# Leads, and closed deals in their own file with a won date and no stage column.\n"
             + _leads_section("leads.csv", "mql_id", "first_contact_date")
             + """stage_history:
  file: closed_deals.csv
  columns: {mql_id: lead_id, won_date: entered_at}
  constants: {stage: WON}
""",
}
