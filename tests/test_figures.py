"""figures.py and the figure series of novelty.py, on sentences of other stories written for these
tests (floods, an earthquake, a labour strike, an election): the grammar must not be one story's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitor.figures import figures_in, numbers
from monitor.models import Figure, Item
from monitor.novelty import Ledger, decide
from monitor.story import Story

SPAIN = ["Spain", "Spanish", "Valencia"]
PEOPLE = ["people", "residents", "victims", "civilians"]

FLOODS = Story.model_validate({
    "id": "floods", "title": "Floods in Spain",
    "figures": [
        {"id": "toll", "description": "people killed by the floods", "series": "cumulative",
         "nouns": PEOPLE, "verbs": ["killed", "kill", "kills", "died", "dead", "deaths"],
         "heads": ["death toll", "toll"], "subjects": SPAIN, "other_subjects": ["France", "Portugal"]},
        {"id": "missing", "description": "people missing", "nouns": PEOPLE,
         "verbs": ["missing", "unaccounted for"], "subjects": SPAIN},
        {"id": "casualties", "description": "killed or wounded", "nouns": PEOPLE,
         "verbs": ["killed or wounded", "killed or injured"], "subjects": SPAIN},
        {"id": "injured", "description": "people injured", "nouns": PEOPLE, "verbs": ["injured", "hurt"]},
        {"id": "troops", "description": "soldiers deployed", "nouns": ["troops", "soldiers"],
         "verbs": ["deployed", "sent", "sends", "deploys"]},
    ],
})


def figs(sent: str, story: Story = FLOODS, title_subject: bool = False) -> list[tuple[str, int, str | None]]:
    return [(f.kind, f.value, f.qualifier) for f in figures_in(sent, story, None, title_subject)]


# ---------------------------------------------------------------- shapes of news writing


@pytest.mark.parametrize("sent, want", [
    # a head noun before the number, through a verb or preposition
    ("Spain floods: death toll rises to 158", [("toll", 158, "exact")]),
    ("Spanish flood toll tops 200", [("toll", 200, "more than")]),
    ("Spanish flood toll passes 200 as rain eases", [("toll", 200, "more than")]),
    ("Rescuers in Valencia raised the death toll to 205 on Friday.", [("toll", 205, "exact")]),
    ("The death toll in Spain rose from 150 to 158.", [("toll", 158, "exact")]),
    ("The death toll in Spain rose by 12 to 158 on Friday.", [("toll", 158, "exact")]),  # 12: by how much
    ("The death toll in Spain rose by 12 on Friday.", []),  # a difference, not a count
    ("The death toll in Valencia since October 2024 has risen to 217.", [("toll", 217, "exact")]),
    ("The death toll to date stands at 300, officials in Valencia said.", [("toll", 300, "exact")]),
    ("The number of soldiers in Valencia fell from 8,500 to 7,000.", [("troops", 7000, "exact")]),  # down too
    ("Spain's floods have left a death toll of 211.", [("toll", 211, "exact")]),
    ("In Spain, the number of missing stands at 89.", [("missing", 89, "exact")]),
    ("The number of people killed in the floods in Spain has risen to 217.", [("toll", 217, "exact")]),
    ("Spain flood deaths rise to 211", [("toll", 211, "exact")]),
    ("The toll stood at 95 on Wednesday night, Spanish officials said.", [("toll", 95, "exact")]),
    # the number's predicate before it
    ("Floods kill at least 95 in Spain", [("toll", 95, "at least")]),
    ("Floods in Spain killed more than 200 people.", [("toll", 200, "more than")]),
    ("Spain sends a couple thousand troops to Valencia.", [("troops", 2000, "about")]),
    # the number's predicate after it, through auxiliaries
    ("In Valencia, as many as 30 have been killed or wounded.", [("casualties", 30, "up to")]),
    ("Another 1,000 injured in Spain.", [("injured", 1000, "exact")]),
    ("Some 1,000 troops were deployed in Valencia.", [("troops", 1000, "about")]),
    ("Spanish floods: 89 still missing", [("missing", 89, "exact")]),
    ("At least 158 deaths in Valencia, officials say.", [("toll", 158, "at least")]),
])
def test_shapes(sent, want):
    assert figs(sent) == want


@pytest.mark.parametrize("sent, want", [
    # the kind follows each number's own predicate, not the first kind in file order
    ("At least 95 people killed and dozens missing in Spanish floods.", [("toll", 95, "at least")]),
    ("Spain: 89 missing after floods that killed 217", [("missing", 89, "exact"), ("toll", 217, "exact")]),
    ("The floods, which killed 95 people in Spain, also left 30 people missing.",
     [("toll", 95, "exact"), ("missing", 30, "exact")]),
])
def test_the_kind_follows_the_numbers_own_predicate(sent, want):
    assert figs(sent) == want


@pytest.mark.parametrize("sent, want", [
    # a place after the number: an unknown place is a local count, not a cumulative total
    ("Two died in Letur, officials in Spain said.", []),
    # a place that is another's rules the number out
    ("Spain's floods killed 12 people in France.", []),
    # the agent before a verb is not whose the count is: a subject after it decides
    ("Storms from France killed 12 people in Spain.", [("toll", 12, "exact")]),
    # an adjective is not a place
    ("Another 30 people were killed in Spanish floods on Tuesday.", [("toll", 30, "exact")]),
    # a number alone takes its subject from its own part of the sentence, not another number's noun
    ("Floods killed 100 Spanish residents in Valencia, and 12 died in a landslide.", [("toll", 100, "exact")]),
    # a place after a list is the whole list's
    ("At least 45 were killed and 70 injured in a landslide near Valencia.",
     [("toll", 45, "at least"), ("injured", 70, "exact")]),
    ("At least 45 were killed and 70 injured in a landslide near Lisbon.", [("injured", 70, "exact")]),
])
def test_places_and_subjects(sent, want):
    assert figs(sent) == want


@pytest.mark.parametrize("sent, want", [
    # a number alone whose subject comes after it, in its own clause
    ("At least 40 killed in Spanish floods.", [("toll", 40, "at least")]),
    ("At least 40 killed in landslides on Valencia's coast.", [("toll", 40, "at least")]),
    ("At least 40 killed in landslides on the coast of Portugal.", []),
    # a month or a day is not a place: no local count
    ("Floods killed 95 people in October, Spanish officials said.", [("toll", 95, "exact")]),
    # "among those killed" is a part of a figure given elsewhere, not another figure
    ("Floods killed 95 people in Valencia; 12 residents were among the dead.", [("toll", 95, "exact")]),
    ("Officials in Valencia say 12 residents and three tourists were among those killed.", []),
    # an aside between the count and its verb: the verb is still the count's
    ("At least 20 people, including 13 residents, were killed in Valencia.", [("toll", 20, "at least")]),
    ("In Valencia, 20 people, mostly elderly residents, died.", [("toll", 20, "exact")]),
])
def test_subject_after_a_lone_number_times_and_parts(sent, want):
    assert figs(sent) == want


@pytest.mark.parametrize("sent, want", [
    ("Spain's death toll from the storm that also hit Portugal rose to 217.", [("toll", 217, "exact")]),  # Spain's
    ("France's death toll from the storm rose to 12.", []),  # an other subject's head
])
def test_the_owner_of_a_head_is_its_subject(sent, want):
    assert figs(sent) == want


def test_a_change_from_a_grouped_number_keeps_its_clause():
    """The comma of "2,350" ends no clause: a kind whose `context` sits before the change still takes it."""
    overall = Story.model_validate({"id": "q", "title": "Quake", "figures": [
        {"id": "toll", "description": "killed since the quake", "series": "cumulative", "nouns": PEOPLE,
         "heads": ["death toll"], "context": ["overall"]}]})
    assert figs("The overall death toll rose from 2,350 to 2,412 on Sunday.", overall) == [("toll", 2412, "exact")]


def test_a_part_after_including_is_no_figure_of_its_own():
    troops = Story.model_validate({"id": "t", "title": "T", "figures": [
        {"id": "troops", "description": "soldiers", "nouns": ["troops", "soldiers", "officers"]}]})
    assert figs("Spain has 12,000 soldiers there, including 500 officers.", troops) == [("troops", 12000, "exact")]


def test_a_number_left_out_says_why():
    misses: list[tuple[str, str]] = []
    assert figures_in("Floods destroyed 300 homes; in Portugal, 12 people were killed.", FLOODS, None,
                      misses=misses) == []
    (n300, why300), (n12, why12) = misses
    assert (n300, n12) == ("300", "12")
    assert why300.startswith("no kind's noun, verb or head")
    assert why12.startswith("toll: verb after “killed” ties it, but the clause does not make it about its subjects")


def test_a_kind_without_subjects_takes_a_count_anywhere():
    assert figs("Another 1,000 injured in Portugal.") == [("injured", 1000, "exact")]


def test_a_verb_before_a_noun_is_an_adjective():
    """'12 injured horses were evacuated': the number counts horses, not a kind's noun."""
    assert figs("In Spain, 12 injured horses were evacuated.") == []
    assert figs("In Spain, 12 injured residents were evacuated.") == [("injured", 12, "exact")]


@pytest.mark.parametrize("text, value, qualifier", [
    ("a couple thousand", 2000, "about"),
    ("a couple of hundred", 200, "about"),
    ("some 1,000", 1000, "about"),
    ("a dozen", 12, "exact"),
    ("twenty-five", 25, "exact"),
])
def test_spelled_and_vague_quantities(text, value, qualifier):
    (n,) = numbers(f"They counted {text} people.")
    assert (n.value, n.qualifier) == (value, qualifier)


@pytest.mark.parametrize("text", ["dozens", "hundreds", "thousands", "several", "a few", "scores"])
def test_vague_words_are_not_figures(text):
    """No value a reader could compare: "dozens missing" is not a figure."""
    assert numbers(f"Floods in Spain left {text} missing.") == []


def test_each_figure_says_which_rule_tied_it():
    (toll, missing) = figures_in("Spain: death toll rises to 158 as 89 remain missing", FLOODS, None)
    assert toll.rule == "head “death toll” -> toll (cumulative)"
    assert missing.rule == "verb after “missing” -> missing (level)"


# ---------------------------------------------------------------- other stories

QUAKE = Story.model_validate({
    "id": "quake", "title": "Earthquake",
    "figures": [
        {"id": "quake_toll", "description": "killed", "series": "cumulative", "nouns": ["people"],
         "verbs": ["killed", "dead", "died"], "heads": ["death toll"], "subjects": ["Turkey", "Turkish"],
         "other_subjects": ["Syria", "Syrian"]},
        {"id": "rescued", "description": "pulled alive from rubble", "nouns": ["people", "survivors"],
         "verbs": ["rescued", "pulled alive"], "subjects": ["Turkey", "Turkish"]},
    ],
})
STRIKE = Story.model_validate({
    "id": "strike", "title": "Nurses' strike",
    "figures": [{"id": "strikers", "description": "nurses on strike", "nouns": ["nurses", "workers"],
                 "verbs": ["walked out", "went on strike", "on strike", "joined the strike"]}],
})
ELECTION = Story.model_validate({
    "id": "vote", "title": "Election",
    "figures": [{"id": "seats", "description": "seats won by the ruling party", "nouns": ["seats"],
                 "verbs": ["won", "wins", "secured"], "subjects": ["ruling party", "Labour"],
                 "other_subjects": ["opposition", "Conservatives"]}],
})


@pytest.mark.parametrize("story, sent, want", [
    (QUAKE, "The earthquake killed at least 2,000 people in Turkey and hundreds more in Syria.",
     [("quake_toll", 2000, "at least")]),
    (QUAKE, "The Turkish death toll climbed to 4,500 on Tuesday.", [("quake_toll", 4500, "exact")]),
    (QUAKE, "In Syria, 800 people died.", []),
    # a subject inside the head is the number's, whatever nation comes after it
    (QUAKE, "The number of Turkish people killed near the Syrian border has risen to 4,000.",
     [("quake_toll", 4000, "exact")]),
    (QUAKE, "Turkish crews say 120 survivors were pulled alive overnight.", [("rescued", 120, "exact")]),
    (STRIKE, "More than 20,000 nurses went on strike on Monday.", [("strikers", 20000, "more than")]),
    (STRIKE, "About 5,000 workers walked out at dawn.", [("strikers", 5000, "about")]),
    (ELECTION, "Labour won 412 seats while the Conservatives secured 121 seats.", [("seats", 412, "exact")]),
])
def test_other_stories(story, sent, want):
    assert figs(sent, story) == want


# ---------------------------------------------------------------- series (novelty.py)

T0 = datetime(2024, 10, 30, 8, 0, tzinfo=timezone.utc)


def series_story(series: str) -> Story:
    return Story.model_validate({"id": "s", "title": "S", "figures": [
        {"id": "k", "label": "Count", "description": "d", "nouns": ["people"], "series": series}]})


def fig(value: int, qualifier: str = "exact", source: str | None = None) -> Figure:
    return Figure(kind="k", value=value, sentence=f"{value} people", qualifier=qualifier, source=source)


def alerts(story: Story, values: list[tuple[float, Figure]]) -> list[str]:
    """The alert titles, feeding one item per (hours after T0, figure)."""
    ledger = Ledger.from_story(story)
    out = []
    for i, (hours, f) in enumerate(values):
        it = Item(feed_url="https://o.example/rss", id=f"i{i}", title="t", text="", link=f"https://o.example/{i}",
                  published=T0 + timedelta(hours=hours), feed_title="O")
        out += [a.title for a in decide(ledger, story, it, [], [f]).new]
    return out


def test_a_cumulative_total_ignores_stale_rounded_down_and_subtotal_values():
    story = series_story("cumulative")
    got = alerts(story, [(0, fig(158)), (5, fig(222)), (30, fig(200, "more than")), (31, fig(155)), (40, fig(230))])
    assert got == ["Count: 158", "Count: 222, up from 158 (Oct 30)", "Count: 230, up from 222 (Oct 30)"]


def test_a_level_reports_every_new_value_up_or_down():
    story = series_story("level")
    got = alerts(story, [(0, fig(10000)), (100, fig(8000))])
    assert got == ["Count: 10,000", "Count: 8,000, down from 10,000 (Oct 30)"]


@pytest.mark.parametrize("sent, word", [
    ("Spain sent another 1,500 soldiers to Valencia.", "another"),
    ("A further 300 soldiers were sent to Valencia on Monday.", "a further"),
    ("Spain sent 2,000 more soldiers to Valencia.", "more"),
])
def test_an_addition_to_a_level_or_total_is_a_series_of_its_own(sent, word):
    (f,) = figures_in(sent, FLOODS, None)
    assert (f.kind, f.measure) == ("troops", "added") and f"an addition (“{word}”)" in f.rule


def test_another_after_a_first_number_starts_a_group_not_an_addition():
    got = figures_in("Floods in Spain killed 12 people and another 30 were injured.", FLOODS, None)
    assert [(f.kind, f.value, f.measure) for f in got] == [("toll", 12, None), ("injured", 30, None)]


def test_an_addition_is_news_of_its_own_and_moves_no_level():
    """'another 1,500' after 10,000 is no fall to 1,500; the next level is compared with 10,000;
    another 1,500 days later is another addition (an addition is news per event, as per_event)."""
    story = series_story("level")
    added = Figure(kind="k", value=1500, sentence="another 1,500 people", measure="added")
    got = alerts(story, [(0, fig(10000)), (5, added), (6, added), (100, fig(11500)), (120, added)])
    assert got == ["Count: 10,000", "Count (added): 1,500", "Count: 11,500, up from 10,000 (Oct 30)",
                   "Count (added): 1,500"]


def test_a_per_event_count_is_news_per_event_and_once_per_event():
    story = series_story("per_event")
    got = alerts(story, [(0, fig(3)), (2, fig(3)), (5, fig(12)), (72, fig(3))])
    assert got == ["Count: 3", "Count: 12", "Count: 3"]  # no "down from": other events differ


def test_a_cumulative_disagreement_is_shown_as_such():
    story = series_story("cumulative")
    got = alerts(story, [(0, fig(2000, source="other:Ministry")), (3, fig(2500, source="other:Militia"))])
    assert got[1] == "Count: 2,500 (Militia), up from 2,000 (Ministry, Oct 30) — sources disagree: 2,000 (Ministry, Oct 30)"


# ---------------------------------------------------------------- the dashboard's chart (report.py)


def chart_of(series: str, points: list[tuple[int, int, str]]):
    """The chart of one kind from figure events (hour, value, source)."""
    from monitor.report import charts

    story = Story.model_validate({"id": "s", "title": "S", "actors": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
                                  "figures": [{"id": "k", "description": "d", "series": series}]})
    events = [{"kind": "figure", "published": (T0 + timedelta(hours=h)).isoformat(), "outlet": "O", "link": None,
               "title": "t", "data": {"figure": {"kind": "k", "value": v, "qualifier": "exact", "source": src}}}
              for h, v, src in points]
    (chart,) = charts(events, story)
    return chart


def test_a_cumulative_chart_shows_the_highest_total_and_one_rising_line():
    c = chart_of("cumulative", [(0, 158, "a"), (5, 222, "b"), (9, 200, "a")])
    assert c.latest.value == 222  # not the later, lower mention
    assert len(c.lines) == 1 and len(c.lines[0].split()) == 3  # 158, step, 222: the 200 does not pull it down


def test_a_level_chart_draws_one_line_per_source():
    c = chart_of("level", [(0, 10000, "a"), (5, 12000, "b"), (9, 11000, "a")])
    assert c.latest.value == 11000
    assert [len(line.split()) for line in c.lines] == [3, 1]  # a: 10,000 -> 11,000; b: 12,000 alone


def test_a_per_event_chart_joins_no_events():
    c = chart_of("per_event", [(0, 3, "a"), (5, 45, "b")])
    assert c.lines == [] and c.latest.value == 45


def test_per_event_decisions_survive_a_restart():
    """The ledger rebuilt from stored alerts (per-event keys carry the day) decides the same."""
    story = series_story("per_event")
    ledger = Ledger.from_story(story)
    stored = []
    for i, hours in enumerate((0, 72)):
        it = Item(feed_url="https://o.example/rss", id=f"i{i}", title="t", text="", link=f"https://o.example/{i}",
                  published=T0 + timedelta(hours=hours), feed_title="O")
        stored += decide(ledger, story, it, [], [fig(3)]).new
    assert [a.key for a in stored] == ["s:figure:k:3@2024-10-30", "s:figure:k:3@2024-11-02"]
    again = Ledger.from_alerts(story, stored)
    it = Item(feed_url="https://o.example/rss", id="i9", title="t", text="", link="https://o.example/9",
              published=T0 + timedelta(hours=75), feed_title="O")
    d = decide(again, story, it, [], [fig(3)])
    assert d.new == [] and d.repeats == ["s:figure:k:3@2024-11-02"]
