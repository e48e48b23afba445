"""Job titles → seniority and department; free-mail domains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.building.persona import DEPARTMENTS, SENIORITIES, is_free_mail, parse_job_titles

CASES = [
    ("CFO", "c_level", "finance"),
    ("cfo", "c_level", "finance"),
    ("C.F.O.", "c_level", "finance"),
    ("Chief Financial Officer", "c_level", "finance"),
    ("CIO", "c_level", "it"),
    ("Chief Information Officer", "c_level", "it"),
    ("Director, Information Systems", "director", "it"),
    ("CISO", "c_level", "it"),
    ("Chief Information Security Officer", "c_level", "it"),
    ("CTO & Co-Founder", "c_level", "it"),
    ("CEO", "c_level", "executive"),
    ("Co-founder and CEO", "c_level", "executive"),
    ("President", "c_level", "executive"),
    ("Owner", "c_level", "executive"),
    ("Managing Director", "c_level", "executive"),
    ("CMO", "c_level", "marketing"),
    ("Chief Revenue Officer", "c_level", "sales"),
    ("Chief People Officer", "c_level", "executive"),
    ("VP Finance", "vp", "finance"),
    ("vp it", "vp", "it"),
    ("V.P. Engineering", "vp", "it"),
    ("Vice President of Sales", "vp", "sales"),
    ("Vice-President, Marketing", "vp", "marketing"),
    ("SVP, Sales", "vp", "sales"),
    ("EVP Fin", "vp", "finance"),
    ("Director of Finance", "director", "finance"),
    ("Finance Director", "director", "finance"),
    ("Dir. IT", "director", "it"),
    ("Sr. Dir. of FP&A", "director", "finance"),
    ("Head of Marketing", "director", "marketing"),
    ("Head of IT Security", "director", "it"),
    ("Senior Director, Demand Generation", "director", "marketing"),
    ("IT Manager", "manager", "it"),
    ("IT Mgr", "manager", "it"),
    ("Sr Mgr, Demand Gen", "manager", "marketing"),
    ("Accounting Manager", "manager", "finance"),
    ("Financial Controller", "manager", "finance"),
    ("Account Manager", "manager", "sales"),
    ("Team Lead - Data", "manager", "it"),
    ("Product Owner", "manager", "other"),
    ("HR Manager", "manager", "other"),
    ("Accountant", "individual_contributor", "finance"),
    ("Accounts Payable Specialist", "individual_contributor", "finance"),
    ("Senior Software Engineer", "individual_contributor", "it"),
    ("Sr. Network Administrator", "individual_contributor", "it"),
    ("Account Executive", "individual_contributor", "sales"),
    ("SDR", "individual_contributor", "sales"),
    ("Lead Generation Specialist", "individual_contributor", "marketing"),
    ("Content Writer", "individual_contributor", "marketing"),
    ("Executive Assistant to the CEO", "individual_contributor", "executive"),
    ("Office Assistant", "individual_contributor", "other"),
    ("Nurse", "individual_contributor", "other"),
    ("Marketing Intern", "student_intern", "marketing"),
    ("Finance Intern (summer)", "student_intern", "finance"),
    ("Student", "student_intern", "other"),
    ("IT Apprentice", "student_intern", "it"),
    ("  MARKETING   DIRECTOR  ", "director", "marketing"),
    ("Geschäftsführer", "c_level", "executive"),
]


@pytest.mark.parametrize(("title", "seniority", "department"), CASES)
def test_parse_job_titles_reads_common_variants(title: str, seniority: str, department: str) -> None:
    parsed = parse_job_titles(pd.Series([title]))
    assert (parsed.loc[0, "seniority"], parsed.loc[0, "department"]) == (seniority, department)


def test_parse_job_titles_gives_null_for_empty_titles_only() -> None:
    titles = pd.Series([None, "", "   ", "Analyst", np.nan, "-", "n/a"], dtype="object")
    parsed = parse_job_titles(titles)
    assert parsed["seniority"].isna().tolist() == [True, True, True, False, True, True, False]
    assert parsed["department"].isna().tolist() == [True, True, True, False, True, True, False]


def test_parse_job_titles_is_index_aligned_and_typed() -> None:
    titles = pd.Series(["CFO", "IT Manager", None], index=[10, 3, 7], dtype="str")
    parsed = parse_job_titles(titles)
    assert parsed.index.tolist() == [10, 3, 7]
    assert parsed.loc[3, "seniority"] == "manager"
    assert str(parsed["seniority"].dtype) == "str" and str(parsed["department"].dtype) == "str"


def test_parse_job_titles_repeated_titles_parse_like_single_ones() -> None:
    rng = np.random.default_rng(3)
    titles = pd.Series(rng.choice([c[0] for c in CASES], 500))
    parsed = parse_job_titles(titles)
    expected = {c[0]: (c[1], c[2]) for c in CASES}
    got = list(zip(parsed["seniority"], parsed["department"], strict=True))
    assert got == [expected[t] for t in titles]


def test_parse_job_titles_values_stay_in_vocabulary() -> None:
    rng = np.random.default_rng(5)
    words = ["chief", "vp", "head", "of", "it", "sales", "x", "intern", "lead", "data", "&", "-", "Dir."]
    titles = pd.Series([" ".join(rng.choice(words, rng.integers(1, 5))) for _ in range(300)])
    parsed = parse_job_titles(titles)
    assert set(parsed["seniority"].dropna()) <= set(SENIORITIES)
    assert set(parsed["department"].dropna()) <= set(DEPARTMENTS)
    has_word = titles.str.contains(r"[a-z]", regex=True)
    assert parsed["seniority"].notna().tolist() == has_word.tolist()
    assert parsed["department"].notna().tolist() == has_word.tolist()


def test_is_free_mail_flags_consumer_domains_and_keeps_missing_unknown() -> None:
    domains = pd.Series(["gmail.com", "Yahoo.co.uk", "acme.com", None, "bob@Hotmail.fr", "outlook.acme.com", "", "walla.co.il"])
    flags = is_free_mail(domains)
    assert flags.dtype == "boolean"
    assert flags.tolist() == [True, True, False, pd.NA, True, False, pd.NA, True]


def test_titles_parsed_a_few_at_a_time_and_remembered_equal_a_large_batch_parse() -> None:
    from leadscore.features.synthetic.demo import generate_demo

    titles = generate_demo(3000, 5)[0]["leads"]["job_title"]
    known = titles.dropna().unique().tolist()
    distinct = pd.Series(list(dict.fromkeys(known + [t.upper() for t in known] + [f"Sr. {t}" for t in known])),
                         dtype="str")
    assert len(distinct) > 256  # above the size remembered: parsed as one batch
    batch = parse_job_titles(distinct)
    one_by_one = pd.concat([parse_job_titles(distinct.iloc[[i]]) for i in range(len(distinct))])
    pd.testing.assert_frame_equal(one_by_one, batch)
    again = parse_job_titles(distinct.iloc[:50])  # remembered now
    pd.testing.assert_frame_equal(again, batch.iloc[:50])
