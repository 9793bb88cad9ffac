"""extract.py: one test per extraction pattern, on invented sentences (never the corpus)."""

from __future__ import annotations

import pytest

from monitor.extract import extract, figures_in, numbers, sentences
from monitor.models import Hit, Item, Match
from monitor.story import Story

NK = ["North Korean", "North Korea", "N Korean", "Pyongyang", "DPRK"]
OTHERS = ["Russian", "Russia", "Ukrainian", "Ukraine", "US", "U.S.", "American", "South Korean"]
NOUNS = ["troops", "soldiers", "soldier", "forces", "special forces", "servicemen", "personnel", "men"]


def make_story() -> Story:
    return Story.model_validate({
        "id": "nk",
        "title": "North Korean troops in Russia",
        "concepts": [{"id": "nk", "required": True, "weight": 40, "terms": ["North Korea", "North Korean"]}],
        "actors": [
            {"id": "peskov", "name": "Dmitry Peskov", "aliases": ["Peskov", "Kremlin spokesman"]},
            {"id": "kremlin", "name": "Kremlin", "kind": "institution"},
            {"id": "kirby", "name": "John Kirby", "aliases": ["Kirby"]},
            {"id": "zakharova", "name": "Maria Zakharova", "aliases": ["Zakharova"]},
            {"id": "nis", "name": "National Intelligence Service", "kind": "institution",
             "aliases": ["NIS", "South Korea's spy agency", "South Korean intelligence"]},
            {"id": "pentagon", "name": "Pentagon", "kind": "institution"},
            {"id": "nato", "name": "NATO", "kind": "institution"},
            {"id": "rutte", "name": "Mark Rutte", "aliases": ["Rutte", "NATO chief"]},
            {"id": "blinken", "name": "Antony Blinken", "aliases": ["Blinken"]},
            {"id": "zelensky", "name": "Volodymyr Zelensky", "aliases": ["Zelensky", "Zelenskyy"]},
        ],
        "claims": [
            {"id": "troops_in_russia", "description": "North Korea sent troops to Russia",
             "terms": ["troops to Russia", "troops in Russia", "troop reports"],
             "denial_terms": ["misinformation", "fake", "hype"]},
            {"id": "denial", "description": "Moscow dismisses the reports", "terms": ["misinformation", "fake"]},
        ],
        "figures": [
            {"id": "nk_casualties", "description": "killed, wounded, captured", "nouns": [*NOUNS, "casualties"],
             "context": ["killed", "wounded", "captured", "casualties", "dead"], "subjects": NK, "other_subjects": OTHERS},
            {"id": "nk_troops_in_kursk", "description": "in Kursk", "nouns": NOUNS, "context": ["Kursk"],
             "subjects": NK, "other_subjects": OTHERS},
            {"id": "nk_troops_in_russia", "description": "in Russia", "nouns": NOUNS,
             "subjects": NK, "other_subjects": OTHERS},
        ],
    })


STORY = make_story()


def run(title: str, text: str = "", match: Match | None = None):
    item = Item(feed_url="https://example.org/rss", id="1", title=title, text=text,
                link="https://example.org/a", published=None)
    return extract(item, match or Match("nk", True, 90, 75), STORY)


def speakers(title: str, text: str = "") -> list[str]:
    return [s.actor for s in run(title, text)[0]]


def figs(sentence: str) -> list[tuple[int, str, str | None]]:
    return [(f.value, f.kind, f.qualifier) for f in run("", sentence)[1]]


# ---------------------------------------------------------------- statements


@pytest.mark.parametrize("verb", ["said", "says", "told reporters", "warned", "denied", "dismissed",
                                  "called", "confirmed", "claimed", "described", "believes"])
def test_reported_speech_verbs(verb):
    st, _ = run("", f"Peskov {verb} that the North Korean troop reports were wrong.")
    assert [s.actor for s in st] == ["peskov"]
    assert "North Korean troop reports were wrong" in st[0].text


def test_direct_quote_after_speaker():
    st, _ = run("", "Kirby said: “We believe North Korean soldiers are training in the far east.”")
    assert st[0].actor == "kirby"
    assert "North Korean soldiers are training in the far east" in st[0].text


def test_quote_first_then_speaker():
    st, _ = run("", "“North Korean units could move west soon,” Kirby explained.")
    assert st[0].actor == "kirby"
    assert st[0].text.startswith("“North Korean units could move west soon")


def test_inverted_headline_says_actor():
    st, _ = run("North Korea moves more soldiers east, says NIS")
    assert [s.actor for s in st] == ["nis"]
    assert st[0].text == "North Korea moves more soldiers east"


def test_trailing_speaker_with_day():
    st, _ = run("", "North Korea has moved another brigade to the border, the Pentagon said on Monday.")
    assert st[0].actor == "pentagon"
    assert st[0].text == "North Korea has moved another brigade to the border"


def test_trailing_speaker_followed_by_apposition():
    st, _ = run("", "North Korea has troops in Russia, the Pentagon said Tuesday, a sharp escalation.")
    assert st[0].actor == "pentagon"
    assert st[0].text == "North Korea has troops in Russia"


def test_according_to():
    st, _ = run("", "North Korean troops reached the front line, according to South Korean intelligence.")
    assert st[0].actor == "nis"
    assert st[0].text == "North Korean troops reached the front line"


def test_spokesperson_of_an_actor():
    st, _ = run("", "The Kremlin's spokesman said North Korean troop reports were fake.")
    assert [s.actor for s in st] == ["kremlin"]


def test_appositive_between_speaker_and_verb():
    st, _ = run("", "Maria Zakharova, a spokeswoman for the foreign ministry, called the North Korean troop reports hype.")
    assert st[0].actor == "zakharova"


def test_headline_clause_colon_actor():
    st, _ = run("Thousands of North Korean soldiers in Russia: NATO chief")
    assert st[0].actor == "rutte"
    assert st[0].text == "Thousands of North Korean soldiers in Russia"


def test_headline_quote_colon_actor_verb():
    st, _ = run("'A matter for us alone': Peskov responds to North Korea questions")
    assert st[0].actor == "peskov"
    assert st[0].text == "A matter for us alone"


def test_nominal_confirmation():
    st, _ = run("", "Blinken's confirmation that North Korean soldiers are in Kursk alarmed Kyiv.")
    assert st[0].actor == "blinken"


def test_coordinated_speakers():
    assert speakers("NATO, Pentagon confirm North Korean troops in Russia") == ["nato", "pentagon"]


def test_nested_verb_belongs_to_the_first_speaker():
    # "Zelensky said Kirby warned": one statement, Zelensky's
    assert speakers("", "Zelensky said that Kirby warned about North Korean soldiers.") == ["zelensky"]


def test_off_story_statement_is_ignored():
    assert speakers("Peskov says the summit was a success") == []


def test_text_sentence_inherits_the_title_story():
    assert speakers("North Korean troops reach Kursk", "Rutte said the move was a dangerous expansion.") == ["rutte"]


def test_denial_records_stance_on_the_denied_claim():
    st, _ = run("Kremlin calls North Korean troop reports 'misinformation'")
    assert (st[0].actor, st[0].claim, st[0].stance) == ("kremlin", "troops_in_russia", "denies")


def test_confirmation_stance():
    st, _ = run("Pentagon confirms North Korean troops in Russia")
    assert (st[0].claim, st[0].stance) == ("troops_in_russia", "confirms")


def test_not_deny_is_no_denial():
    st, _ = run("Peskov does not deny North Korean troops in Russia")
    assert st[0].stance is None
    assert st[0].text.startswith("does not deny")


def test_matcher_hits_are_used_when_present():
    title = "North Korean troops in Russia, says Moscow's man"
    start = title.index("Moscow's man")
    hit = Hit("actor", "peskov", "Moscow's man", "Moscow's man", "title", start, len(title), 95.0)
    st, _ = run(title, match=Match("nk", True, 90, 75, hits=(hit,)))
    assert [s.actor for s in st] == ["peskov"]


def test_uncounted_matcher_hit_is_ignored():
    title = "North Korea sends troops, says Kirby"
    start = title.index("Kirby")
    hit = Hit("actor", "kirby", "Kirby", "Kirby", "title", start, start + 5, 100.0, counted=False)
    st, _ = run(title, match=Match("nk", True, 90, 75, hits=(hit,)))
    assert st == []


# ---------------------------------------------------------------- figures


@pytest.mark.parametrize("text, value", [
    ("1,500 North Korean troops", 1500),
    ("10 000 North Korean troops", 10000),
    ("1500 North Korean troops", 1500),
    ("12k North Korean troops", 12000),
    ("1.5 thousand North Korean troops", 1500),
    ("ten thousand North Korean troops", 10000),
    ("two thousand five hundred North Korean troops", 2500),
    ("twenty-five North Korean soldiers", 25),
])
def test_number_forms(text, value):
    assert figs(f"Officials say {text} are in Russia.") == [(value, "nk_troops_in_russia", "exact")]


@pytest.mark.parametrize("text, low, high", [
    ("10,000-12,000", 10000, 12000),
    ("10,000 to 12,000", 10000, 12000),
    ("between 10,000 and 12,000", 10000, 12000),
    ("10-12k", 10000, 12000),
    ("10 to 12 thousand", 10000, 12000),
])
def test_ranges(text, low, high):
    (f,) = run("", f"Seoul estimates {text} North Korean soldiers are in Russia.")[1]
    assert (f.value, f.high) == (low, high)


@pytest.mark.parametrize("qualifier, expected", [
    ("about", "about"), ("around", "about"), ("roughly", "about"), ("nearly", "about"),
    ("an estimated", "about"), ("at least", "at least"), ("no fewer than", "at least"),
    ("up to", "up to"), ("as many as", "up to"), ("more than", "more than"), ("over", "more than"),
])
def test_qualifiers(qualifier, expected):
    assert figs(f"North Korea sent {qualifier} 3,000 troops to Russia.") == [(3000, "nk_troops_in_russia", expected)]


def test_figure_kinds_by_context_in_the_clause():
    assert figs("About 8,000 North Korean soldiers are in Russia's Kursk region.") == [(8000, "nk_troops_in_kursk", "about")]
    assert figs("North Korea has sent 10,000 troops to Russia, and some went to Kursk.") == [
        (10000, "nk_troops_in_russia", "exact")]
    assert figs("Ukraine said 200 North Korean soldiers were killed near Kursk.") == [(200, "nk_casualties", "exact")]
    assert figs("Kyiv said it captured two North Korean soldiers.") == [(2, "nk_casualties", "exact")]
    assert figs("North Korea sent 10,000 troops to Russia and most are now in Kursk.") == [
        (10000, "nk_troops_in_russia", "exact")]


@pytest.mark.parametrize("sentence", [
    "On October 23, North Korean troops arrived in Russia.",
    "North Korean troops arrived on 23 October in Russia.",
    "In 2024 North Korean troops arrived in Russia.",
    "A 20-year-old North Korean soldier was seen in Russia.",
    "North Korea paid $500 million to Russia for troops.",
    "Support for sending North Korean troops fell to 30% in Russia.",
    "Russia has lost 600,000 troops, and now gets help from North Korea.",
    "The 1,000 Russian soldiers near Kursk were joined by North Koreans.",
    "North Korea launched 12 missiles toward the sea.",
    "A strike killed 12 in Kharkiv as North Korean troops arrived in Russia.",
    "North Korea sent troops to Russia, including 500 officers.",
])
def test_not_figures(sentence):
    assert figs(sentence) == []


def test_nation_of_the_speaker_does_not_rule_a_figure_out():
    _, f = run("", "South Korea's spy agency said 1,500 troops had left North Korea for Russia.")
    assert [(x.value, x.source) for x in f] == [(1500, "nis")]


def test_subject_from_the_title():
    _, f = run("North Korea sends troops to Russia", "The first 1,500 troops arrived in Russia this week.")
    assert [x.value for x in f] == [1500]


def test_source_is_the_speaker():
    _, f = run("", "North Korea has sent about 10,000 troops to Russia, the Pentagon said.")
    assert [(x.value, x.qualifier, x.source) for x in f] == [(10000, "about", "pentagon")]


def test_same_figure_in_title_and_text_once():
    _, f = run("Up to 12,000 North Korean troops in Russia",
               "Up to 12,000 North Korean troops are in Russia, NIS said.")
    assert [(x.value, x.source) for x in f] == [(12000, "nis")]


def test_of_them_and_strong():
    assert figs("North Korea sent 10,000 troops to Russia; 8,000 of them are in Kursk.") == [
        (10000, "nk_troops_in_russia", "exact"), (8000, "nk_troops_in_kursk", "exact")]
    assert figs("An 11,000-strong North Korean force is in Kursk.") == [(11000, "nk_troops_in_kursk", "exact")]


def test_numbers_skip_dates_and_years():
    assert [n.value for n in numbers("On Oct. 31, 2024, 3,000 men left.")] == [3000]


def test_sentences_keep_abbreviations_together():
    parts = sentences("The U.S. said so. Gen. Park agreed. Then Oct. 31 came.")
    assert [s.text for s in parts] == ["The U.S. said so.", "Gen. Park agreed.", "Then Oct. 31 came."]


def test_figures_in_is_usable_alone():
    (f,) = figures_in("More than 11,000 North Korean troops are in Kursk.", STORY, "zelensky")
    assert (f.value, f.kind, f.qualifier, f.source) == (11000, "nk_troops_in_kursk", "more than", "zelensky")
