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
``edtech``
    ``Leads.csv``: the lead export of an online-course company, in the shape of the public "X Education"
    lead-scoring file: one row per lead, a ``Converted`` flag, form answers full of "Select"
    placeholders, web behaviour at capture, and what the sales team and the CRM wrote after capture
    (:func:`make_edtech_export`).

The signal lives in the export's own columns, known at capture ("Lead Source", "TotalVisits", the
occupation question of the form …), and so do the leaks real exports carry (``leaks=True``): a sales
status tag and a quality rating filled in after the first call, a page-view counter measured on the day
of the export, a "last activity" date that is usually the sales call itself. A ``collection_start``
leaves deals before that day unrecorded, the data-collection artefact calendar features would learn.
Every column's meaning is known here (``FlatExport.honest`` and ``FlatExport.post_contact``), so tests
and ``bench/flat_audit.py`` can check that leadscore uses the honest ones and leaves the others out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from leadscore.features.frames_io import write_atomic, write_csv, write_text
from leadscore.features.timestamps import NS_PER_DAY

Shape = Literal["hubspot", "converted", "deals", "edtech"]
SHAPES = ("hubspot", "converted", "deals", "edtech")
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
    """A generated flat export: its files (name -> frame), the mapping a user would write, and the truth.

    ``honest`` names the export's own columns known at capture (form answers, source, web behaviour at
    capture), ``post_contact`` those written after capture (the planted leaks).
    """

    files: dict[str, pd.DataFrame]
    mapping: str
    truth: pd.DataFrame
    honest: tuple[str, ...] = ()
    post_contact: tuple[str, ...] = ()

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
    if shape == "edtech":
        return make_edtech_export(n_leads, seed, months, leaks, collection_start)
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
    honest = ("Lead Origin", "Lead Source", "Do Not Email", "TotalVisits", "Total Time Spent on Website",
              "Page Views Per Visit", "What is your current occupation", "Specialization", "City")
    leaked = ("Tags", "Lead Quality", "Number of Pageviews", "Last Activity Date") if leaks else ()
    if shape == "hubspot":
        contacts = pd.DataFrame({"Record ID": ids, "Create Date": _dates(captured), **own})
        stage = np.where(observed, "customer", np.where(mql_ns != np.iinfo(np.int64).min, "marketingqualifiedlead", "lead"))
        if leaks:
            contacts["Lifecycle Stage"] = stage
        contacts["Became a Marketing Qualified Lead Date"] = _dates(mql_ns)
        contacts["Became an Opportunity Date"] = _dates(sqo_ns)
        contacts["Became a Customer Date"] = _dates(won_text_ns)
        return FlatExport({"contacts.csv": contacts}, MAPPINGS["hubspot"], truth, honest,
                          leaked + (("Lifecycle Stage",) if leaks else ()))
    if shape == "converted":
        leads = pd.DataFrame({"Prospect ID": ids, "Created On": _dates(captured, with_time=False), **own,
                              "Converted": observed.astype(int)})
        return FlatExport({"leads.csv": leads}, MAPPINGS["converted"], truth, honest, leaked)
    leads = pd.DataFrame({"mql_id": ids, "first_contact_date": _dates(captured, with_time=False), **own})
    won = observed
    deals = pd.DataFrame({"mql_id": ids[won], "won_date": _dates(won_ns[won]),
                          "business_segment": rng.choice(["pet", "car_accessories", "health_beauty"], int(won.sum()))})
    return FlatExport({"leads.csv": leads, "closed_deals.csv": deals}, MAPPINGS["deals"], truth, honest, leaked)


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


# --------------------------------------------------------------------------------------------------
# The edtech shape: an online-course company's lead export (the public "X Education" file's columns).
# Each table: value -> (share, effect on the log-odds of converting). None is an empty cell.

EDTECH_ORIGINS = {"Landing Page Submission": (0.53, 0.0), "API": (0.385, -0.2), "Lead Add Form": (0.078, 2.6),
                  "Lead Import": (0.007, -1.0)}
# Where the lead came from, given its origin (an ad form's leads come from referrals and a partner site).
EDTECH_SOURCES = {
    "Landing Page Submission": {"Google": 0.40, "Direct Traffic": 0.38, "Organic Search": 0.17, "Referral Sites": 0.025,
                                "google": 0.005, "bing": 0.005, "Social Media": 0.005, "Click2call": 0.01},
    "API": {"Olark Chat": 0.48, "Google": 0.24, "Direct Traffic": 0.14, "Organic Search": 0.10, "Referral Sites": 0.02,
            "Live Chat": 0.01, "Press_Release": 0.01},
    "Lead Add Form": {"Reference": 0.74, "Welingak Website": 0.24, "Click2call": 0.02},
    "Lead Import": {"Facebook": 0.95, "google": 0.05},
}
EDTECH_SOURCE_EFFECTS = {"Google": 0.1, "Direct Traffic": -0.2, "Organic Search": 0.0, "Olark Chat": -0.6,
                         "Reference": 0.6, "Welingak Website": 1.6, "Referral Sites": -0.3, "Facebook": -0.4,
                         "google": 0.0, "bing": -0.5, "Social Media": 0.0, "Click2call": 0.5, "Live Chat": 0.3,
                         "Press_Release": 0.0}
EDTECH_OCCUPATIONS = {"Unemployed": (0.606, 0.0), None: (0.203, -1.5), "Select": (0.087, -1.5),
                      "Working Professional": (0.076, 2.4), "Student": (0.023, -0.2), "Other": (0.002, 0.4),
                      "Housewife": (0.002, 2.0), "Businessman": (0.001, 0.4)}
EDTECH_SPECIALIZATIONS = {"Select": (0.21, -0.35), None: (0.156, -0.2), "Finance Management": (0.106, 0.15),
                          "Human Resource Management": (0.092, 0.15), "Marketing Management": (0.091, 0.25),
                          "Operations Management": (0.054, 0.15), "Business Administration": (0.044, 0.05),
                          "IT Projects Management": (0.04, 0.0), "Supply Chain Management": (0.038, 0.05),
                          "Banking, Investment And Insurance": (0.037, 0.2), "Travel and Tourism": (0.022, -0.2),
                          "Media and Advertising": (0.022, 0.0), "International Business": (0.019, -0.1),
                          "Healthcare Management": (0.017, 0.3), "Hospitality Management": (0.012, -0.1),
                          "E-COMMERCE": (0.012, 0.0), "Retail Management": (0.011, -0.2),
                          "Rural and Agribusiness": (0.008, 0.1), "E-Business": (0.006, -0.2),
                          "Services Excellence": (0.004, -0.3)}
EDTECH_HEARD = {"Select": (0.546, 0.0), None: (0.239, -0.1), "Online Search": (0.087, 0.05),
                "Word Of Mouth": (0.038, 0.3), "Student of SomeSchool": (0.034, -0.3), "Other": (0.02, 0.0),
                "Multiple Sources": (0.016, 0.0), "Advertisements": (0.008, 0.1), "Social Media": (0.007, -0.1),
                "Email": (0.003, 0.0), "SMS": (0.002, 0.0)}
EDTECH_CITIES = {"Mumbai": (0.349, 0.0), "Select": (0.243, -0.15), None: (0.154, -0.1),
                 "Thane & Outskirts": (0.081, 0.05), "Other Cities": (0.074, 0.0),
                 "Other Cities of Maharashtra": (0.049, 0.05), "Other Metro Cities": (0.041, 0.0),
                 "Tier II Cities": (0.009, -0.1)}
EDTECH_COUNTRIES = {"India": (0.70, 0.0), None: (0.26, -0.2), "United States": (0.008, -0.2),
                    "United Arab Emirates": (0.006, 0.0), "Singapore": (0.003, 0.1), "Saudi Arabia": (0.002, -0.2),
                    "United Kingdom": (0.0015, 0.0), "Australia": (0.0013, 0.0), "Qatar": (0.001, -0.5),
                    "Bahrain": (0.0008, 0.5), "unknown": (0.0005, 0.0), "Other": (0.0249, 0.0)}
# What the sales team and the CRM wrote after capture, by outcome: value -> (share among converted, among others).
EDTECH_TAGS = {
    "Will revert after reading the email": (0.62, 0.03), "Closed by Horizzon": (0.16, 0.002), "Busy": (0.04, 0.04),
    "Lost to EINS": (0.03, 0.03), "Ringing": (0.03, 0.32), "Interested in other courses": (0.01, 0.13),
    "Already a student": (0.003, 0.13), "switched off": (0.01, 0.065), "Not doing further education": (0.002, 0.045),
    "Interested  in full time MBA": (0.005, 0.035), "Graduation in progress": (0.02, 0.03),
    "invalid number": (0.002, 0.025), "Diploma holder (Not Eligible)": (0.002, 0.02),
    "wrong number given": (0.002, 0.014), "opp hangup": (0.008, 0.01), "number not provided": (0.002, 0.008),
    "in touch with EINS": (0.005, 0.002), "Want to take admission but has financial problems": (0.005, 0.002),
    "Still Thinking": (0.005, 0.004), "Shall take in the next coming month": (0.005, 0.002),
    "Lateral student": (0.005, 0.001), "Interested in Next batch": (0.005, 0.001),
    "Recognition issue (DEC approval)": (0.001, 0.001),
}
EDTECH_QUALITY = {"High in Relevance": (0.30, 0.05), "Might be": (0.42, 0.30), "Not Sure": (0.17, 0.30),
                  "Low in Relevance": (0.08, 0.15), "Worst": (0.03, 0.20)}
EDTECH_LAST_ACTIVITY = {"SMS Sent": (0.50, 0.18), "Email Opened": (0.30, 0.40), "Had a Phone Conversation": (0.04, 0.002),
                        "Page Visited on Website": (0.05, 0.08), "Olark Chat Conversation": (0.02, 0.15),
                        "Converted to Lead": (0.02, 0.06), "Email Link Clicked": (0.03, 0.03),
                        "Email Bounced": (0.005, 0.05), "Form Submitted on Website": (0.015, 0.015),
                        "Unreachable": (0.005, 0.013), "Unsubscribed": (0.005, 0.008), "Approached upfront": (0.01, 0.0),
                        "View in browser link Clicked": (0.0, 0.002)}
EDTECH_NOTABLE = {"SMS Sent": (0.46, 0.11), "Modified": (0.20, 0.46), "Email Opened": (0.28, 0.31),
                  "Page Visited on Website": (0.02, 0.04), "Olark Chat Conversation": (0.005, 0.03),
                  "Email Link Clicked": (0.02, 0.02), "Email Bounced": (0.002, 0.01), "Unsubscribed": (0.003, 0.006),
                  "Unreachable": (0.004, 0.003), "Had a Phone Conversation": (0.006, 0.001)}
EDTECH_PROFILES = {"Potential Lead": (0.42, 0.05), "Other Leads": (0.04, 0.06), "Student of SomeSchool": (0.002, 0.045),
                   "Lateral Student": (0.005, 0.0005), "Dual Specialization Student": (0.005, 0.0005)}
EDTECH_HONEST = ("Lead Origin", "Lead Source", "Do Not Email", "Do Not Call", "TotalVisits", "Total Time Spent on Website",
                 "Page Views Per Visit", "Country", "Specialization", "How did you hear about X Education",
                 "What is your current occupation", "What matters most to you in choosing a course", "Search",
                 "Newspaper Article", "X Education Forums", "Digital Advertisement", "Through Recommendations", "City",
                 "A free copy of Mastering The Interview")
EDTECH_POST_CONTACT = ("Last Activity", "Tags", "Lead Quality", "Lead Profile", "Asymmetrique Activity Index",
                       "Asymmetrique Profile Index", "Asymmetrique Activity Score", "Asymmetrique Profile Score",
                       "Last Notable Activity")


def _draw(rng: np.random.Generator, table: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Values drawn by their shares, and each row's effect on the log-odds (a table of (share, effect))."""
    values = list(table)
    shares = np.array([table[v][0] for v in values], dtype=float)
    pick = rng.choice(len(values), n, p=shares / shares.sum())
    drawn = np.empty(n, dtype=object)
    drawn[:] = [values[i] for i in pick]
    return drawn, np.array([table[v][1] for v in values])[pick]


def _by_outcome(rng: np.random.Generator, table: dict, outcome: np.ndarray) -> np.ndarray:
    """Values drawn from the converted leads' shares where ``outcome``, else from the others'."""
    values = np.array(list(table), dtype=object)
    out = np.empty(len(outcome), dtype=object)
    for flag, column in ((True, 0), (False, 1)):
        shares = np.array([table[v][column] for v in values], dtype=float)
        rows = outcome == flag
        out[rows] = values[rng.choice(len(values), int(rows.sum()), p=shares / shares.sum())]
    return out


def _yes_no(rng: np.random.Generator, share_yes: float, n: int) -> np.ndarray:
    return np.where(rng.random(n) < share_yes, "Yes", "No").astype(object)


def make_edtech_export(
    n_leads: int,
    seed: int,
    months: int = 18,
    leaks: bool = True,
    collection_start: pd.Timestamp | None = None,
) -> FlatExport:
    """An online-course company's lead export with a ``Converted`` flag (the edtech shape).

    At capture a lead fills in a form (occupation, specialization, city, how they heard of the company:
    drop-downs whose first option "Select" often stays), comes from an origin and a source, and has
    browsed the site (visits, time spent, pages per visit). Those columns are known at capture
    (:data:`EDTECH_HONEST`); with an unobserved part they decide whether the lead converts. Then the
    sales team calls and the CRM records, and the export, taken in one go, holds what they wrote by
    then (:data:`EDTECH_POST_CONTACT`): tags after the call, a quality rating by the lead's owner,
    the last activity and last notable activity at the export, a lead profile and the company's
    activity and profile scores. Leads captured shortly before the export are not worked yet: those
    fields are blank more often, and conversions after the export are not in it.
    """
    rng = np.random.default_rng(seed)
    span_ns = int(months * 30.4 * NS_PER_DAY)
    captured = np.sort(START.value + rng.integers(0, span_ns, n_leads))
    data_end_ns = START.value + span_ns
    origin, origin_effect = _draw(rng, EDTECH_ORIGINS, n_leads)
    source = np.empty(n_leads, dtype=object)
    for name, table in EDTECH_SOURCES.items():
        rows = origin == name
        source[rows] = rng.choice(list(table), int(rows.sum()), p=np.array(list(table.values())) / sum(table.values()))
    source[rng.random(n_leads) < 0.004] = None
    source_effect = np.array([EDTECH_SOURCE_EFFECTS.get(s, 0.0) for s in source])
    occupation, occupation_effect = _draw(rng, EDTECH_OCCUPATIONS, n_leads)
    unanswered = pd.isna(occupation) | (occupation == "Select")
    specialization, specialization_effect = _draw(rng, EDTECH_SPECIALIZATIONS, n_leads)
    heard, heard_effect = _draw(rng, EDTECH_HEARD, n_leads)
    city, city_effect = _draw(rng, EDTECH_CITIES, n_leads)
    country, country_effect = _draw(rng, EDTECH_COUNTRIES, n_leads)
    # The same form page asks what matters most: skipped with the occupation question.
    matters = np.where(unanswered & (rng.random(n_leads) < 0.95) | (rng.random(n_leads) < 0.01), None,
                       np.where(rng.random(n_leads) < 0.999, "Better Career Prospects", "Flexibility & Convenience"))
    do_not_email = rng.random(n_leads) < 0.079
    # Web behaviour before the form was sent: ad-form and chat leads often never browsed the site.
    browsed = rng.random(n_leads) < np.select([origin == "Lead Add Form", origin == "API", origin == "Lead Import"],
                                              [0.05, 0.55, 0.1], 0.97)
    visits = np.where(browsed, 1 + rng.poisson(2.5, n_leads), 0).astype(float)
    time_spent = np.where(browsed, np.round(rng.gamma(1.3, 430, n_leads) * (0.6 + 0.4 * rng.random(n_leads))), 0.0)
    per_visit = np.where(browsed, np.round(np.minimum(visits, 1 + rng.gamma(1.8, 0.9, n_leads)), 2), 0.0)
    free_copy = (origin == "Landing Page Submission") & (rng.random(n_leads) < 0.55)
    logit = -1.9 + 1.3 * (origin_effect + source_effect + occupation_effect + specialization_effect + heard_effect
                          + city_effect + country_effect - 1.1 * do_not_email + 0.05 * np.minimum(visits, 10)
                          + 0.0034 * np.minimum(time_spent, 1800) - 0.1 * free_copy) + rng.normal(0, 0.3, n_leads)
    converts = rng.random(n_leads) < 1 / (1 + np.exp(-logit))
    converted_at = captured + (rng.gamma(2.0, 9.0, n_leads) * NS_PER_DAY).astype(np.int64)
    recorded = np.ones(n_leads, dtype=bool) if collection_start is None else captured >= pd.Timestamp(collection_start).value
    observed = converts & (converted_at <= data_end_ns) & recorded
    uncounted = rng.random(n_leads) < 0.015  # the site's counters failed for a few leads
    own: dict[str, np.ndarray] = {
        "Lead Number": np.arange(660_000, 660_000 + n_leads)[rng.permutation(n_leads)],
        "Lead Origin": origin,
        "Lead Source": source,
        "Do Not Email": np.where(do_not_email, "Yes", "No").astype(object),
        "Do Not Call": _yes_no(rng, 0.0003, n_leads),
        "TotalVisits": np.where(uncounted, np.nan, visits),
        "Total Time Spent on Website": time_spent,
        "Page Views Per Visit": np.where(uncounted, np.nan, per_visit),
        "Country": country,
        "Specialization": specialization,
        "How did you hear about X Education": heard,
        "What is your current occupation": occupation,
        "What matters most to you in choosing a course": matters,
        "Search": _yes_no(rng, 0.0015, n_leads),
        "Newspaper Article": _yes_no(rng, 0.0003, n_leads),
        "X Education Forums": _yes_no(rng, 0.0002, n_leads),
        "Digital Advertisement": _yes_no(rng, 0.0005, n_leads),
        "Through Recommendations": _yes_no(rng, 0.0008, n_leads),
        "City": city,
        "A free copy of Mastering The Interview": np.where(free_copy, "Yes", "No").astype(object),
    }
    if leaks:
        own.update(_edtech_after_capture(rng, captured, data_end_ns, observed, unanswered))
    ids = np.array([f"{int(a):08x}-{int(b):04x}-4{int(c):03x}-{int(d):04x}" for a, b, c, d in
                    zip(rng.integers(0, 2**32, n_leads), rng.integers(0, 2**16, n_leads), rng.integers(0, 2**12, n_leads),
                        rng.integers(0, 2**16, n_leads), strict=True)], dtype=object)
    leads = pd.DataFrame({"Prospect ID": ids, "Created On": _dates(captured), **own, "Converted": observed.astype(int)})
    order = ["Prospect ID", "Lead Number", "Created On", "Lead Origin", "Lead Source", "Do Not Email", "Do Not Call",
             "Converted", *[c for c in leads.columns if c not in ("Prospect ID", "Lead Number", "Created On", "Lead Origin",
                                                                   "Lead Source", "Do Not Email", "Do Not Call", "Converted")]]
    truth = pd.DataFrame({"lead_id": ids, "converted": converts, "observed": observed,
                          "captured_at": pd.to_datetime(captured, utc=True), "logit": logit})
    return FlatExport({"Leads.csv": leads[order]}, EDTECH_MAPPING, truth, EDTECH_HONEST,
                      EDTECH_POST_CONTACT if leaks else ())


def _edtech_after_capture(rng: np.random.Generator, captured: np.ndarray, data_end_ns: int, converted: np.ndarray,
                          unanswered: np.ndarray) -> dict[str, np.ndarray]:
    """What sales and the CRM wrote after capture, as it stands at the export."""
    n = len(captured)
    # The first call comes a few days after capture: a lead captured after the export's last days is not called yet.
    called = captured + (rng.gamma(1.5, 3.0, n) * NS_PER_DAY).astype(np.int64) <= data_end_ns
    worked = called & (converted | (rng.random(n) < 0.9))
    tags = _by_outcome(rng, EDTECH_TAGS, converted)
    tags[~worked | (rng.random(n) < np.where(converted, 0.12, 0.5))] = None
    quality = _by_outcome(rng, EDTECH_QUALITY, converted)
    quality[~worked | (rng.random(n) >= np.where(converted, 0.74, 0.38))] = None
    last = _by_outcome(rng, EDTECH_LAST_ACTIVITY, converted & called)
    last[rng.random(n) < 0.011] = None
    notable = _by_outcome(rng, EDTECH_NOTABLE, converted & called)
    profile = _by_outcome(rng, EDTECH_PROFILES, converted)
    no_profile = ~worked | (rng.random(n) < np.where(converted, 0.35, 0.8))
    profile[no_profile] = np.where(rng.random(int(no_profile.sum())) < 0.6, "Select", None)
    # The company's scoring tool, run on worked leads: activity after capture, profile from the form and the call.
    scored = worked & (rng.random(n) < 0.58)
    activity = np.clip(np.round(14 + 0.8 * converted - 0.4 * unanswered + rng.normal(0, 1.2, n)), 7, 18)
    profile_score = np.clip(np.round(16 + 0.9 * converted - 0.8 * unanswered + rng.normal(0, 1.8, n)), 11, 20)

    def index(score: np.ndarray, high: float, low: float) -> np.ndarray:
        return np.where(score >= high, "01.High", np.where(score <= low, "03.Low", "02.Medium")).astype(object)

    def blank(values: np.ndarray) -> np.ndarray:
        out = np.array([f"{v:.0f}" if isinstance(v, float) else v for v in values], dtype=object)
        out[~scored] = None
        return out

    return {
        "Last Activity": last,
        "Tags": tags,
        "Lead Quality": quality,
        "Lead Profile": profile,
        "Asymmetrique Activity Index": blank(index(activity, 16, 12)),
        "Asymmetrique Profile Index": blank(index(profile_score, 17, 11)),
        "Asymmetrique Activity Score": blank(activity),
        "Asymmetrique Profile Score": blank(profile_score),
        "Last Notable Activity": notable,
    }


EDTECH_MAPPING = """# An online-course company's lead export: one row per lead, a Converted flag, no outcome dates.
leads:
  file: Leads.csv
  columns: {Prospect ID: lead_id, Created On: captured_at}
  constants: {channel: other}
stage_history:
  file: Leads.csv
  columns: {Prospect ID: lead_id}
  reached:
    WON: {column: Converted, values: ["1"]}
"""
