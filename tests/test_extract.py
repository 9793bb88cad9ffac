"""extract.py: one test per extraction pattern, on invented sentences (never the corpus)."""

from __future__ import annotations

import pytest

from monitor.extract import extract, sentences
from monitor.figures import figures_in, numbers
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


@pytest.mark.parametrize("verb", ["praised", "hails", "welcomed", "criticised", "applauds", "commended", "proposes",
                                  "cheers", "reacts to"])
def test_verbs_of_praise_and_blame_report_speech(verb):
    """"Zelensky hails ...": an evaluation said aloud is a statement like "says"."""
    st, _ = run(f"Zelensky {verb} South Korea's response to the North Korean troop reports")
    assert [s.actor for s in st] == ["zelensky"]
    assert st[0].text.startswith("South Korea's response")


@pytest.mark.parametrize("sent", [
    "Zelensky, European leaders condemn North Korean troop deployment to Russia",
    "Zelensky and other leaders on Monday condemned the North Korean troop deployment to Russia.",
])
def test_an_opening_actor_speaks_with_untracked_co_subjects(sent):
    assert speakers(sent) == ["zelensky"]


def test_an_actor_inside_the_predicate_does_not_speak_for_its_co_subject():
    """"Russia hosts Zelensky and officials said": Zelensky does not open the sentence."""
    assert "zelensky" not in speakers("Kyiv welcomes the troop reports about Zelensky and officials said North Korean troops left.")


def test_a_relative_clause_speaks_for_the_sentences_subject_only():
    """"Supporters of Zelensky ... what they describe": the supporters describe, not Zelensky."""
    assert speakers("", "Supporters of Zelensky are planning what they describe as a rally against North Korean troops.") == []


def test_direct_quote_after_speaker():
    st, _ = run("", "Kirby said: “We believe North Korean soldiers are training in the far east.”")
    assert st[0].actor == "kirby"
    assert "North Korean soldiers are training in the far east" in st[0].text


def test_quote_first_then_speaker():
    st, _ = run("", "“North Korean units could move west soon,” Kirby explained.")
    assert st[0].actor == "kirby"
    assert st[0].text.startswith("“North Korean units could move west soon")


@pytest.mark.parametrize("text", [
    "“We will respond,” Kirby said of the North Korean troops sent to Russia.",  # "of ...": the topic, longer
    "“We will respond,” Kirby told reporters on Monday about the North Korean troops in Russia.",
    "“We will respond,” said Kirby, speaking of the North Korean troops in Russia.",  # inverted, then more
])
def test_a_quote_before_its_speaker_is_the_statement_whatever_follows_the_verb(text):
    st, _ = run("", text)
    assert [s.actor for s in st] == ["kirby"]
    assert st[0].text.startswith("“We will respond")


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


def test_an_actor_named_for_a_subject_is_the_figures_subject():
    """"North Korea's leader has sent ..." counts North Korean troops: the mention names a subject
    (a mention naming none, or an other subject, stays the speaker's: see the test above)."""
    data = make_story().model_dump()
    data["actors"].append({"id": "kim", "name": "Kim Jong Un", "aliases": ["North Korea's leader"]})
    story = Story.model_validate(data)
    item = Item(feed_url="https://example.org/rss", id="1", title="Troops update", link="https://example.org/a",
                text="North Korea's leader has sent 10,000 troops to Russia, officials said.", published=None)
    _, f = extract(item, Match("nk", True, 90, 75), story)
    assert [(x.kind, x.value) for x in f] == [("nk_troops_in_russia", 10000)]


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


# ---------------------------------------------------------------- speakers (other:NAME)

SPEAKING = Story.model_validate({**STORY.model_dump(), "speakers": [
    {"name": "US government", "aliases": ["US", "U.S.", "United States", "Washington", "US officials"],
     "actors": ["kirby", "pentagon", "blinken"]},
    {"name": "South Korean government", "aliases": ["South Korea", "Seoul", "South Korean officials"],
     "actors": ["nis"]},
    {"name": "Ukrainian government", "aliases": ["Ukraine", "Kyiv"], "actors": ["zelensky"]},
]})
US, SK, UA = "other:US government", "other:South Korean government", "other:Ukrainian government"


def said(title: str, text: str = "", story: Story = SPEAKING) -> list[tuple[str, str]]:
    item = Item(feed_url="https://example.org/rss", id="1", title=title, text=text,
                link="https://example.org/a", published=None)
    return [(s.actor, s.text) for s in extract(item, Match("nk", True, 90, 75), story)[0]]


@pytest.mark.parametrize("title, text, actor, words", [
    ("Seoul demands North Korean soldiers leave the front at once", "", SK,
     "North Korean soldiers leave the front at once"),                                    # forward
    ("North Korea moves more soldiers east, says South Korea", "", SK, "North Korea moves more soldiers east"),  # inverted
    ("", "North Korea has moved a brigade to the border, the United States said on Monday.", US,
     "North Korea has moved a brigade to the border"),                                    # trailing
    ("North Korean soldiers are at the front, U.S. confirms", "", US, "North Korean soldiers are at the front"),
    ("U.S. Confirms North Korean Soldiers Are At The Front", "", US, "North Korean Soldiers Are At The Front"),
    ("", "South Korea's foreign ministry warned that North Korean pilots are training in the east.", SK,
     "North Korean pilots are training in the east"),                                     # 's body
    ("", "North Korean engineers are building barracks near the front, according to US officials.", US,
     "North Korean engineers are building barracks near the front"),                      # according to
    ("North Korean units reach the front: Kyiv", "", UA, "North Korean units reach the front"),  # headline
    ("Washington warns North Korean soldiers will be targets", "", US, "North Korean soldiers will be targets"),
])
def test_speaker_is_attributed_by_every_pattern(title, text, actor, words):
    got = said(title, text)
    assert [a for a, _ in got] == [actor]
    assert words in got[0][1]


def test_told_whom_is_not_the_statement():
    assert said("", "South Korea told Russia's ambassador they would answer North Korean troop moves.") == [
        (SK, "they would answer North Korean troop moves")]
    assert said("", "Kirby told reporters that North Korean soldiers are in Russia.") == [
        ("kirby", "North Korean soldiers are in Russia")]


def test_a_story_without_speakers_attributes_nothing_to_them():
    assert said("Seoul demands North Korean soldiers leave the front at once", story=STORY) == []


@pytest.mark.parametrize("sentence", [
    "North Korean soldiers are fighting in Ukraine, officials said.",               # a place, not a speaker
    "North Korean soldiers captured in Ukraine said they were told it was training.",
    "Two North Korean soldiers sent to Russia told reporters they were tricked.",
    "The Washington Post reported that North Korean soldiers are near the front.",  # a longer name
    "North Korean soldiers were sent to help Ukraine's enemy, reports said.",
    "Kim's South Korea policy is failing, North Korean defectors said.",
])
def test_a_place_or_a_longer_name_is_no_speaker(sentence):
    assert [a for a, _ in said("", sentence) if a.startswith("other:")] == []


def test_tracked_actor_in_the_same_sentence_wins():
    assert [a for a, _ in said("", "The US and NATO confirmed North Korean soldiers are in Russia.")] == ["nato"]
    assert [a for a, _ in said("", "NATO and the US confirmed North Korean soldiers are in Russia.")] == ["nato"]
    assert [a for a, _ in said("", "Washington believes North Korean soldiers are in Russia, Blinken said.")] == [
        "blinken"]
    assert [a for a, _ in said("", "Kirby said the US believes North Korean soldiers are in Russia.")] == ["kirby"]
    assert [a for a, _ in said("", "South Korea's spy agency said North Korean soldiers are in Russia.")] == ["nis"]


def test_a_speakers_own_actor_in_the_item_takes_its_statement_and_figures():
    item = Item(feed_url="https://example.org/rss", id="1", link="https://example.org/a", published=None,
                title="South Korea says 2,000 North Korean soldiers are in Russia",
                text="South Korea's spy agency said the soldiers would soon be sent to the front.")
    st, fig = extract(item, Match("nk", True, 90, 75), SPEAKING)
    assert [s.actor for s in st] == ["nis"]
    assert [(f.value, f.source) for f in fig] == [(2000, "nis")]
    # not its own actor: both speak
    assert [a for a, _ in said("US says North Korean soldiers are in Russia",
                               "South Korea's spy agency said North Korean soldiers are in Russia.")] == [US, "nis"]


def test_speaker_figure_source_and_a_tracked_source_wins_over_it():
    item = Item(feed_url="https://example.org/rss", id="1", link="https://example.org/a", published=None,
                title="Seoul says 3,000 North Korean soldiers are in Russia",
                text="About 3,000 North Korean soldiers are in Russia, Blinken said.")
    _, fig = extract(item, Match("nk", True, 90, 75), SPEAKING)
    assert [(f.value, f.source) for f in fig] == [(3000, "blinken")]
    _, fig = extract(Item(feed_url="", id="2", title="Seoul says 3,000 North Korean soldiers are in Russia", text="",
                          link=None, published=None), Match("nk", True, 90, 75), SPEAKING)
    assert [(f.value, f.source) for f in fig] == [(3000, SK)]


def test_speakers_never_make_an_item_relevant_nor_are_matched_actors():
    from pathlib import Path

    from monitor.config import load_story
    from monitor.match import match

    shipped = load_story(Path(__file__).parent.parent / "config" / "stories" / "nk-troops-kursk.toml")
    assert shipped.speakers, "the shipped story declares speakers"
    bare = Story.model_validate({**shipped.model_dump(), "speakers": []})
    items = [("US and South Korea say Ukraine and Russia talk in Washington and Seoul", ""),
             ("Seoul says North Korea launched a missile, US confirms", "Washington and Kyiv condemned it."),
             ("North Korean troops arrive in Russia, U.S. says", "Ukraine warned of North Korean soldiers at the front.")]
    for title, text in items:
        item = Item(feed_url="", id=title, title=title, text=text, link=None, published=None)
        with_sp, without = match(item, shipped), match(item, bare)
        assert (with_sp.relevant, with_sp.score, with_sp.actors) == (without.relevant, without.score, without.actors)
        assert not any(a.startswith("other:") for a in with_sp.actors)
    assert [match(Item(feed_url="", id=t, title=t, text=x, link=None, published=None), shipped).relevant
            for t, x in items] == [False, False, True]
    item = Item(feed_url="", id="3", title=items[2][0], text=items[2][1], link=None, published=None)
    m = match(item, shipped)
    assert m.actors == () and [s.actor for s in extract(item, m, shipped)[0]] == [
        "other:US government", "other:Ukrainian government"]


def test_speaker_alert_renders_the_name_without_other_prefix():
    from monitor import notify, report
    from monitor.novelty import normalise, statement_alert

    item = Item(feed_url="https://example.org/rss", id="1", link="https://example.org/a", published=None,
                title="North Korean soldiers are at the front, U.S. confirms", text="", feed_title="Example News")
    (st,), _ = extract(item, Match("nk", True, 90, 75), SPEAKING)
    alert = statement_alert(SPEAKING, item, st, normalise(st.text))
    assert alert.actor == US and alert.key.startswith("nk:statement:other:US government:")
    title, body = notify.render(alert, "text", names={a.id: a.name for a in SPEAKING.actors})
    assert title.startswith("New statement: US government: North Korean soldiers are at the front")
    assert "Said by: US government" in body.splitlines()
    assert "other:" not in title + body
    fig = {"value": 3000, "kind": "nk_troops_in_russia", "qualifier": "at least", "source": US}
    _, body = notify.render(alert.__class__(**{**alert.__dict__, "kind": "figure", "data": {
        "figure": fig, "previous": {**fig, "value": 1500, "date": "2024-10-18", "outlet": "Example"}}}), "text")
    assert "Given by: US government" in body and "(US government, 2024-10-18, Example)" in body
    (timeline,) = report.timelines([{"data": {"statement": alert.data["statement"]}, "actor": US}], SPEAKING)
    assert timeline.name == "US government"


def test_backtest_label_other_name_matches_a_speaker_by_name_or_alias():
    from monitor.backtest import _label_actor

    assert _label_actor("other:Ukraine", [SPEAKING]) == UA
    assert _label_actor("other:ukrainian GOVERNMENT", [SPEAKING]) == UA
    assert _label_actor("other:Seoul", [SPEAKING]) == SK
    assert _label_actor("other:Kirby", [SPEAKING]) == "kirby"                  # a tracked actor first
    assert _label_actor("other:House Intelligence chair", [SPEAKING]) == "other:House Intelligence chair"


# ---------------------------------------------------------------- casualty measures and coordinated lists

MEASURES = {
    "killed": ["killed", "dead", "died"],
    "wounded": ["wounded", "injured"],
    "captured": ["captured", "captures", "prisoners"],
    "casualties": ["casualties", "killed or wounded", "killed and wounded"],
}


def measured_story() -> Story:
    data = make_story().model_dump()
    data["figures"][0]["measures"] = MEASURES
    return Story.model_validate(data)


MEASURED = measured_story()


def measured(sent: str) -> list[tuple[int, str, str | None, str]]:
    return [(f.value, f.kind, f.measure, f.qualifier) for f in figures_in(sent, MEASURED, None)]


@pytest.mark.parametrize("sent, want", [
    ("Ukraine said 200 North Korean soldiers were killed near Kursk.", [(200, "nk_casualties", "killed", "exact")]),
    ("Kyiv said it captured two North Korean soldiers.", [(2, "nk_casualties", "captured", "exact")]),
    # the predicate wins over a word before the noun: wounded soldiers who were captured
    ("Zelensky said two wounded North Korean soldiers were captured in the Kursk region.",
     [(2, "nk_casualties", "captured", "exact")]),
    ("About 3,000 North Korean soldiers have been killed or wounded.", [(3000, "nk_casualties", "casualties", "about")]),
    ("Seoul counts 1,100 North Korean casualties.", [(1100, "nk_casualties", "casualties", "exact")]),
])
def test_casualty_figures_say_what_they_measure(sent, want):
    assert measured(sent) == want


def test_a_kind_without_measures_has_none():
    assert [f.measure for f in figures_in("Ukraine said 200 North Korean soldiers were killed.", STORY, None)] == [None]
    assert [f.measure for f in figures_in("11,000 North Korean troops are in Kursk.", MEASURED, None)] == [None]


@pytest.mark.parametrize("sent, want", [
    ("Seoul's spy agency: at least 100 North Korean troops killed, 1,000 wounded",
     [(100, "nk_casualties", "killed", "at least"), (1000, "nk_casualties", "wounded", "exact")]),
    ("The NIS said at least 100 North Korean soldiers had been killed and about 1,000 wounded fighting Ukraine.",
     [(100, "nk_casualties", "killed", "at least"), (1000, "nk_casualties", "wounded", "about")]),
    ("Some 300 North Korean troops were killed in fighting, 2,700 injured and 2 captured.",
     [(300, "nk_casualties", "killed", "about"), (2700, "nk_casualties", "wounded", "exact"),
      (2, "nk_casualties", "captured", "exact")]),
])
def test_a_coordinated_list_shares_the_counted_noun(sent, want):
    assert measured(sent) == want


@pytest.mark.parametrize("sent, want", [
    ("12 killed in a strike on Kharkiv, officials said.", []),
    # the same measure again is another event, not a breakdown
    ("At least 100 North Korean soldiers were killed in Kursk, and 12 killed in a strike on Kharkiv.",
     [(100, "nk_casualties", "killed", "at least")]),
    # a noun of its own: not the North Korean soldiers
    ("At least 100 North Korean soldiers were killed, 12 wounded civilians were evacuated.",
     [(100, "nk_casualties", "killed", "at least")]),
    # not right after the measure word: another clause
    ("100 North Korean soldiers were killed as Russian shelling of Kharkiv left 12 wounded.",
     [(100, "nk_casualties", "killed", "exact")]),
    ("Russia lost 1,200 soldiers killed and 3,000 wounded near Kursk.", []),
])
def test_numbers_that_do_not_share_the_noun(sent, want):
    assert measured(sent) == want


def test_extract_keeps_one_figure_per_kind_value_and_measure():
    item = Item(feed_url="https://example.org/rss", id="1", link="https://example.org/a", published=None,
                title="NIS: 100 North Korean troops killed, 100 wounded",
                text="The NIS said 100 North Korean soldiers were killed and 100 wounded.")
    _, figures = extract(item, Match("nk", True, 90, 75), MEASURED)
    assert sorted((f.value, f.measure, f.source) for f in figures) == [(100, "killed", "nis"), (100, "wounded", "nis")]


@pytest.mark.parametrize("text", [
    "The US said", "the us said", "Bus drivers in Russia", "North  Korea's troops", "north korean troops",
    "N.Korean forces", "Pyongyang’s envoy", "DPRKs", "dprk", "U.S. officials", "nothing here", "",
])
def test_one_search_for_many_terms_finds_what_each_term_finds(text):
    """The combined patterns (a speed-up) agree with the word-bounded, case rules of each term."""
    from monitor.extract import _alias_re, _any_re, _finditer_at, _has, _has_any

    terms = [*NK, *OTHERS, "North Korea's troops"]
    for some in (terms, terms[:1], OTHERS[4:6], []):
        assert _has_any(text, some) == any(_has(text, t) for t in some)
    starts = [m.start() for m in _any_re(terms).finditer(text)]
    for t in terms:
        assert [m.span() for m in _finditer_at(_alias_re(t), text, starts)] == \
            [m.span() for m in _alias_re(t).finditer(text)]


def test_the_per_story_pattern_cache_lets_old_stories_go():
    """A config reload makes new story objects: the cache of the old ones stays bounded."""
    from monitor import extract as ex

    for _ in range(200):
        ex._on_story("North Korean troops in Kursk", STORY.model_copy(deep=True))
    assert len(ex._ON_STORY_CACHE) <= 64


# ---------------------------------------------------------------- any story: topic prefixes, generic speakers

FLOOD = Story.model_validate({
    "id": "floods", "title": "Floods in Valencia",
    "concepts": [{"id": "floods", "required": True, "weight": 100, "terms": ["floods", "flood", "Valencia"]}],
    "actors": [{"id": "sanchez", "name": "Pedro Sánchez", "aliases": ["Sánchez", "Sanchez", "Spanish PM"]}],
    "speakers": [
        {"name": "Spanish government", "aliases": ["Spain", "Madrid", "the government", "Spanish army"],
         "actors": ["sanchez"]},
        {"name": "rescue services", "aliases": ["rescuers", "the authorities", "authorities"]},
    ],
    "figures": [{"id": "missing", "description": "missing", "nouns": ["people"], "context": ["missing"],
                 "subjects": ["Valencia"]}],
})
SPAIN, RESCUE = "other:Spanish government", "other:rescue services"


def flood(title: str, text: str = "") -> list[tuple[str, str, str]]:
    return [(a, t.strip("'"), why.split(":")[0]) for a, t, why in
            ((s.actor, s.text, s.why) for s in extract(Item(
                feed_url="https://example.org/rss", id="1", title=title, text=text, link="https://example.org/a",
                published=None), Match("floods", True, 90, 75), FLOOD)[0])]


@pytest.mark.parametrize("title", [
    "Spain floods: Sánchez sends 10,000 troops",       # TOPIC: ACTOR does something
    "Spain Floods: Sánchez Sends Troops To Valencia",  # the same in Title Case
    "Spain floods: 89 still missing",                   # TOPIC: event, the topic names a speaker
    "Valencia floods: Spain counts the cost",
    "Spain: rescuers find more bodies after the floods",  # a place before the colon
])
def test_a_topic_prefix_is_no_statement_nor_speaker(title):
    assert flood(title) == []


def test_a_topic_prefix_leaves_the_real_statement():
    assert flood("Spain floods: Sánchez says 10,000 troops will reach Valencia") == [
        ("sanchez", "10,000 troops will reach Valencia", "forward")]


@pytest.mark.parametrize("title, who, words", [
    ("Toll from the Valencia floods rises again: Sánchez", "sanchez", "Toll from the Valencia floods rises again"),
    ("Spanish PM Sánchez: 'we will rebuild every town the flood hit'", "sanchez", "we will rebuild every town the flood hit"),
    ("Spain: 'we will rebuild every town the flood hit'", SPAIN, "we will rebuild every town the flood hit"),
])
def test_name_tags_in_headlines_still_speak(title, who, words):
    assert flood(title) == [(who, words, "headline")]


def test_generic_speakers_are_attributed_like_governments():
    assert flood("Valencia floods", "Rescuers said 89 people are still missing in Valencia.") == [
        (RESCUE, "89 people are still missing in Valencia", "forward")]
    assert flood("Valencia floods", "Amid the floods, the authorities say they have evacuated 2,000 residents.") == [
        (RESCUE, "they have evacuated 2,000 residents", "forward")]


def test_a_figure_under_a_topic_prefix_has_no_speaker_as_source():
    item = Item(feed_url="https://example.org/rss", id="1", title="Spain floods: 89 people still missing in Valencia",
                text="", link="https://example.org/a", published=None)
    _, figures = extract(item, Match("floods", True, 90, 75), FLOOD)
    assert [(f.value, f.source) for f in figures] == [(89, None)]


@pytest.mark.parametrize("text", [
    "The Spanish army accused of arriving too late in the flooded towns of Valencia.",
    "More rain hit Valencia, said to be the worst floods in decades, Madrid.",
    "Sánchez is said to have visited the floods in Valencia.",
])
def test_a_passive_reporting_verb_has_no_speaker(text):
    assert flood("Valencia floods", text) == []


def test_a_pronoun_after_that_is_the_speaker_again():
    assert flood("Valencia floods", "The government released video that it claimed shows the floods in Valencia.") == [
        (SPAIN, "shows the floods in Valencia", "forward")]


def test_participle_reporting_verbs():
    assert flood("Valencia floods", "Rain went on, with Sánchez announcing that 10,000 troops will go to Valencia.") == [
        ("sanchez", "10,000 troops will go to Valencia", "forward")]


def test_a_reporting_verb_after_a_first_predicate_is_the_subjects():
    assert flood("Video: Spanish army reaches Valencia and tells residents to stay home") == [
        (SPAIN, "residents to stay home", "forward")]
    # not the subject: a name inside another's clause is no speaker of the second verb
    assert flood("Valencia floods", "Rescuers condemned Spanish army delays in Valencia and called for more boats.") == [
        (RESCUE, "Spanish army delays in Valencia and called for more boats", "forward")]


def test_an_actor_named_between_a_number_and_its_noun_does_not_hide_the_noun():
    """"40 Wagner fighters": the actor's name is masked for speakers, the fighters are still counted."""
    story = Story.model_validate({
        "id": "mali", "title": "Fighting in Mali",
        "actors": [{"id": "wagner", "name": "Wagner", "kind": "institution"}],
        "figures": [{"id": "deaths", "description": "fighters killed", "nouns": ["fighters"],
                     "verbs": ["killed", "kill", "kills"], "subjects": ["Mali"]}],
    })
    item = Item(feed_url="https://example.org/rss", id="1", title="",
                text="An air strike in northern Mali killed 40 Wagner fighters.", link="https://example.org/m",
                published=None)
    _, figures = extract(item, Match("mali", True, 90, 75), story)
    assert [(f.kind, f.value) for f in figures] == [("deaths", 40)]


@pytest.mark.parametrize("sent, who", [
    ("NIS assesses the damage after North Korean troops were hit in Kursk", []),
    ("Zelensky observed a minute of silence for the North Korean troops' victims", []),
    ("NIS assesses that North Korean troops are training in Russia", ["nis"]),
    ("NIS assessed North Korea has sent 3,000 troops to Russia", ["nis"]),
    ("NIS assessed the troops are training near Kursk, North Korean defectors say", ["nis"]),
])
def test_assess_and_observe_report_only_with_a_clause(sent, who):
    """"assesses the damage" is a deed; "assesses that ..." or "assessed X has ..." reports."""
    assert speakers(sent) == who


def test_the_institutions_head_noun_after_its_name_speaks_for_it():
    """"South Korea's spy agency ... The agency said": the definite head noun is the institution again."""
    text = "South Korea's spy agency briefed lawmakers on Monday. The agency said North Korean troops are in Russia."
    st, _ = run("Seoul briefs lawmakers", text)
    assert [(s.actor, s.text) for s in st] == [("nis", "North Korean troops are in Russia")]
    # in one sentence, as news writes it: "targets that the agency says belong to ..."
    assert speakers("", "South Korea's spy agency watched sites that the agency says hold North Korean troops.") == ["nis"]
    # never named before: no one to refer to
    assert speakers("", "The agency said North Korean troops are in Russia.") == []


@pytest.mark.parametrize("sent, who", [
    ("Kirby promised North Korean troops in Russia would be watched.", ["kirby"]),
    ("Peskov is saying the North Korean troop reports are fake.", ["peskov"]),
    ("The Kremlin's spokesman, Peskov, dismissed the North Korean troop reports as fake.", ["peskov"]),
    ("Peskov was told North Korean troops are in Russia.", []),  # passive: he did not speak
    ("Kirby is called a hawk on North Korean troops in Russia.", []),
])
def test_progressive_promised_and_a_name_in_apposition_report(sent, who):
    assert speakers("", sent) == who


def test_a_possessive_assessment_of_something_is_no_statement():
    """"the NIS's assessment of North Korean plans" names a document; "assessment that ..." says something."""
    assert speakers("", "Lawmakers read NIS's assessment of North Korean troops in Russia.") == []
    assert speakers("", "Lawmakers read NIS's assessment that North Korean troops are in Russia.") == ["nis"]


def test_the_same_words_found_for_two_actors_go_to_the_exact_alias():
    """"Iran's Foreign Ministry" is one actor's alias and near another's ("Iran's foreign minister")."""
    title = "South Korean intelligence says North Korean troops are in Russia"
    hits = [Hit("actor", "nis", "South Korean intelligence", "South Korean intelligence", "title", 0, 25, 100.0),
            Hit("actor", "kirby", "South Korean intel chief", "South Korean intelligence", "title", 0, 25, 90.0)]
    for order in (hits, hits[::-1]):
        st, _ = run(title, "", Match("nk", True, 90, 75, hits=tuple(order)))
        assert [s.actor for s in st] == ["nis"]


@pytest.mark.parametrize("title, who", [
    ("Kirby ‘deeply concerned’ about North Korean troops in Russia", ["kirby"]),
    ("Zelensky 'alarmed' by North Korean troops in Kursk", ["zelensky"]),
    ("Zelensky ‘peace plan’ rejected as North Korean troops arrive", []),  # a quoted name, then a verb
])
def test_headline_actor_quote_preposition(title, who):
    """"Biden 'deeply concerned' about ...": the quote right after the name is what they said."""
    st, _ = run(title)
    assert [s.actor for s in st] == who
    if who:
        assert st[0].text.strip("‘’'").startswith(("deeply concerned", "alarmed"))
