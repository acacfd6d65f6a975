"""The demo data: copied from the source article where the article speaks, marked illustrative where it does not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.demo import demo_document, load_demo
from app.service import CommitmentService
from app.settings import Settings
from domain.agreement import agreement_id

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "seed" / "industry-day-agreements.ar.txt"
DEMO_REFS = ["made-in-morocco", "industrial-innovation-support", "mta-contract-programme", "pharma-local-manufacturing",
             "rail-test-platform"]
ARABIC_LETTER = re.compile(r"[\u0621-\u064A]")
LATIN_NOTE = re.compile(r"\s*\([a-z][^()]*\)$")
"""A trailing note for non-Arabic readers, such as "(annex signed 2025-11-03)"."""
FACT_FIELDS = ("beneficiaries", "fund", "purpose", "reason", "instrument")
"""Fields of the article's own facts (the annex) whose Arabic part must be the article's words."""


@pytest.fixture(scope="module")
def article() -> str:
    if not SEED.is_file():
        pytest.skip(f"the source article is not beside this clone ({SEED}); a user's clone has no ../shared")
    return SEED.read_text(encoding="utf-8")


def arabic_phrases(text: str) -> list[str]:
    """The Arabic words of a value: the part before a ` / ` translation, without a trailing Latin note."""
    arabic = LATIN_NOTE.sub("", text.split(" / ", maxsplit=1)[0]).strip()
    return [arabic] if ARABIC_LETTER.search(arabic) else []


def article_wording(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, phrase) for every Arabic title, party name, occasion and fact of the article in the data file."""
    for agreement in document["agreements"]:
        sign = agreement["sign"]
        ref = sign["ref"]
        for part in sign["title"]["ar"].split(": "):
            yield f"{ref} title", part
        for party in sign["parties"]:
            yield f"{ref} party {party['short_name']}", party["name"]["ar"]
        for phrase in arabic_phrases(sign["occasion"]):
            yield f"{ref} occasion", phrase
        for step in agreement["events"]:
            if step["illustrative"]:
                continue
            for name in FACT_FIELDS:
                values = step["body"].get(name, [])
                for value in [values] if isinstance(values, str) else values:
                    for phrase in arabic_phrases(value):
                        yield f"{ref} {step['command']} {name}", phrase


def test_every_arabic_name_and_title_is_copied_from_the_article(article: str) -> None:
    wording = list(article_wording(demo_document()))
    assert len(wording) >= 5 + 22 + 5  # titles, the 22 party names of the five agreements, occasions
    missing = [(where, phrase) for where, phrase in wording if phrase not in article]
    assert missing == []


def test_the_arabic_wording_check_would_catch_a_changed_letter(article: str) -> None:
    document = demo_document()
    document["agreements"][4]["sign"]["parties"][1]["name"]["ar"] = "المكتب الوطني للسكك الحديديه"  # ة -> ه
    assert [(w, p) for w, p in article_wording(document) if p not in article] == [
        ("rail-test-platform party ONCF", "المكتب الوطني للسكك الحديديه")]


def test_every_title_and_party_name_is_trilingual() -> None:
    for agreement in demo_document()["agreements"]:
        sign = agreement["sign"]
        for names in [sign["title"], *(p["name"] for p in sign["parties"])]:
            assert set(names) == {"ar", "fr", "en"}
            assert ARABIC_LETTER.search(names["ar"])
            assert not ARABIC_LETTER.search(names["fr"] + names["en"])


def test_the_data_file_says_which_dates_are_illustrative() -> None:
    document = demo_document()
    assert "illustrative" in document["about"]
    article_dates = {"2025-11-03", "2028-12-31"}  # the signing day (seed README) and the end of the 2026-2028 extension
    for agreement in document["agreements"]:
        sign = agreement["sign"]
        assert sign["signed_on"] == sign["starts_on"] == sign["effective_on"] == "2025-11-03"
        assert agreement["illustrative_sign_fields"] == ["ends_on"]
        for step in agreement["events"]:
            assert isinstance(step["illustrative"], bool)
            dates = {v for k, v in step["body"].items() if k in ("due_on", "completed_on", "value_date", "effective_on",
                                                                  "ends_on")}
            if not step["illustrative"]:
                assert dates <= article_dates, step
    facts = [(a["sign"]["ref"], s["command"]) for a in document["agreements"] for s in a["events"] if not s["illustrative"]]
    assert facts == [("industrial-innovation-support", "extend"), ("industrial-innovation-support", "add_beneficiaries"),
                     ("industrial-innovation-support", "allocate_funding")]


def test_the_annex_carries_the_articles_extension_beneficiaries_and_funding() -> None:
    [annex] = [a for a in demo_document()["agreements"] if a["sign"]["ref"] == "industrial-innovation-support"]
    extend, beneficiaries, funding = (s["body"] for s in annex["events"][:3])
    assert extend["ends_on"] == "2028-12-31"
    assert [b.split(" / ")[1] for b in beneficiaries["beneficiaries"]] == ["startups", "video-game companies"]
    assert (funding["amount"], funding["currency"], funding["fiscal_years"]) == ("900000000", "MAD", [2026, 2027, 2028])
    assert [p["short_name"] for p in annex["sign"]["parties"]] == ["MIC", "MJCC", "MIN-BUDGET", "MAROC-PME", "CGEM"]


@pytest.fixture
def service(database_url: str) -> Iterator[CommitmentService]:
    service = CommitmentService(Settings(database_url=database_url))
    yield service
    service.close()


def test_the_demo_loads_the_five_agreements_once(service: CommitmentService) -> None:
    results = load_demo(service)
    position = service.max_position()
    assert service.refs() == DEMO_REFS
    assert position == len(results)
    assert load_demo(service) == results
    assert service.max_position() == position

    rail = service.agreement("rail-test-platform")
    assert rail.id == agreement_id("rail-test-platform")
    overdue = [m for m in rail.milestones if rail.is_overdue(m, date(2026, 11, 29))]
    assert overdue == ["feasibility-study", "site-designation"]
    annex = service.show("industrial-innovation-support")
    assert (annex["term"]["ends_on"], annex["funding"]["MAD"]["allocated"]) == ("2028-12-31", "900000000")
    for ref in DEMO_REFS:
        assert len(service.agreement(ref).milestones) >= 3
