"""novelty.py: one alert per novelty across outlets, known facts, restarts, disagreement."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitor.extract import extract
from monitor.models import Alert, Figure, Item, Match, Statement
from monitor.novelty import Ledger, decide, figure_key
from monitor.story import Story

T0 = datetime(2024, 11, 1, 9, 0, tzinfo=timezone.utc)
NK = ["North Korean", "North Korea"]
NOUNS = ["troops", "soldiers"]


def make_story(**known) -> Story:
    return Story.model_validate({
        "id": "nk",
        "title": "North Korean troops in Russia",
        "concepts": [{"id": "nk", "required": True, "weight": 40, "terms": ["North Korea", "North Korean"]}],
        "actors": [
            {"id": "peskov", "name": "Dmitry Peskov", "aliases": ["Peskov"]},
            {"id": "blinken", "name": "Antony Blinken", "aliases": ["Blinken"]},
            {"id": "zelensky", "name": "Volodymyr Zelensky", "aliases": ["Zelensky"]},
            {"id": "nis", "name": "NIS", "kind": "institution"},
        ],
        "claims": [{"id": "troops_in_russia", "description": "North Korea sent troops to Russia",
                    "terms": ["troops in Russia", "troop reports"], "denial_terms": ["misinformation"]}],
        "figures": [
            {"id": "nk_troops_in_kursk", "label": "NK troops in Kursk", "description": "in Kursk",
             "nouns": NOUNS, "context": ["Kursk"], "subjects": NK, "other_subjects": ["Russian"]},
            {"id": "nk_troops_in_russia", "label": "NK troops in Russia", "description": "in Russia",
             "nouns": NOUNS, "subjects": NK, "other_subjects": ["Russian"]},
        ],
        "known": known,
    })


STORY = make_story()


def item(n: int, title: str, text: str = "", outlet: str = "Outlet", hours: float = 0) -> Item:
    return Item(feed_url=f"https://{outlet.lower()}.example/rss", id=f"i{n}", title=title, text=text,
                link=f"https://{outlet.lower()}.example/{n}", published=T0 + timedelta(hours=hours),
                feed_title=outlet)


def feed(ledger: Ledger, story: Story, it: Item):
    statements, figures = extract(it, Match(story.id, True, 90, 75), story)
    return decide(ledger, story, it, statements, figures)


def test_one_alert_for_a_statement_repeated_across_outlets_reworded():
    ledger = Ledger.from_story(STORY)
    first = feed(ledger, STORY, item(1, "Peskov calls North Korean troop reports 'misinformation'", outlet="Reuters"))
    again = feed(ledger, STORY, item(2, "Kremlin's Peskov dismisses North Korean troop reports as misinformation",
                                     outlet="AP", hours=5))
    assert [a.kind for a in first.new] == ["statement"]
    assert first.new[0].title.startswith("Dmitry Peskov: ")
    assert first.new[0].title.endswith("— via Reuters")
    assert first.new[0].data["statement"]["stance"] == "denies"
    assert again.new == [] and again.repeats == [first.new[0].key]


def test_different_statement_by_same_actor_days_later_is_new():
    ledger = Ledger.from_story(STORY)
    feed(ledger, STORY, item(1, "Zelensky says North Korean soldiers are training in Russia"))
    later = feed(ledger, STORY, item(2, "Zelensky says first clash with North Korean soldiers took place",
                                     hours=24 * 5))
    assert [a.actor for a in later.new] == ["zelensky"]


def test_same_statement_by_another_actor_is_new():
    ledger = Ledger.from_story(STORY)
    feed(ledger, STORY, item(1, "Blinken says North Korean troops in Russia"))
    d = feed(ledger, STORY, item(2, "Zelensky says North Korean troops in Russia", hours=1))
    assert [a.actor for a in d.new] == ["zelensky"]


def test_one_alert_for_a_figure_across_outlets_and_qualifiers():
    ledger = Ledger.from_story(STORY)
    d1 = feed(ledger, STORY, item(1, "Blinken says 8,000 North Korean soldiers in Kursk", outlet="BBC"))
    d2 = feed(ledger, STORY, item(2, "About 8,000 North Korean troops in Kursk region", outlet="NPR", hours=3))
    (fig,) = [a for a in d1.new if a.kind == "figure"]
    assert fig.key == figure_key("nk", "nk_troops_in_kursk", 8000, None)
    assert fig.data["figure"]["source"] == "blinken"
    assert [a for a in d2.new if a.kind == "figure"] == []
    assert fig.key in d2.repeats


def test_figure_alert_says_previous_value_and_who_gave_it():
    ledger = Ledger.from_story(STORY)
    feed(ledger, STORY, item(1, "Blinken says 8,000 North Korean soldiers in Kursk", hours=-24))
    d = feed(ledger, STORY, item(2, "Zelensky says 11,000 North Korean troops in Kursk", hours=24 * 5))
    (fig,) = [a for a in d.new if a.kind == "figure"]
    assert fig.title == "NK troops in Kursk: 11,000 (Volodymyr Zelensky), up from 8,000 (Antony Blinken, Oct 31)"
    assert fig.data["previous"]["value"] == 8000 and fig.data["previous"]["source"] == "blinken"
    assert fig.data["disagreement"] == []


def test_different_values_within_days_disagree_with_both_sources():
    ledger = Ledger.from_story(STORY)
    feed(ledger, STORY, item(1, "NIS says 10,000 North Korean troops in Russia", outlet="BBC"))
    d = feed(ledger, STORY, item(2, "Zelensky says 12,000 North Korean troops in Russia", outlet="Sky", hours=30))
    (fig,) = [a for a in d.new if a.kind == "figure"]
    assert "sources disagree: 10,000 (NIS, Nov 1)" in fig.title
    assert fig.data["disagreement"][0]["source"] == "nis"
    assert fig.data["disagreement"][0]["link"] == "https://bbc.example/1"
    assert fig.link == "https://sky.example/2"


def test_known_facts_are_not_new():
    story = make_story(
        figures=[{"kind": "nk_troops_in_russia", "value": 3000, "qualifier": "at least", "source": "nis"}],
        statements=[{"actor": "peskov", "text": "North Korean troop reports are misinformation",
                     "claim": "troops_in_russia", "stance": "denies"}],
    )
    ledger = Ledger.from_story(story)
    d = feed(ledger, story, item(1, "Peskov dismisses North Korean troop reports",
                                 "At least 3,000 North Korean troops are in Russia."))
    assert d.new == []
    assert d.repeats == []
    assert figure_key("nk", "nk_troops_in_russia", 3000, None) in d.known
    assert len(d.known) == 2


def test_ledger_rebuilt_from_alerts_gives_no_realert():
    ledger = Ledger.from_story(STORY)
    first = feed(ledger, STORY, item(1, "Blinken says 8,000 North Korean soldiers in Kursk"))
    stored: list[Alert] = list(first.new)  # what the store keeps across a restart
    assert {a.kind for a in stored} == {"statement", "figure"}
    rebuilt = Ledger.from_alerts(STORY, stored)
    d = feed(rebuilt, STORY, item(2, "Blinken: about 8,000 North Korean soldiers in Kursk", hours=2))
    assert d.new == []
    assert sorted(d.repeats) == sorted(a.key for a in stored)


def test_keys_are_stable_across_runs():
    keys = []
    for _ in range(2):
        d = feed(Ledger.from_story(STORY), STORY, item(1, "Blinken says 8,000 North Korean soldiers in Kursk"))
        keys.append([a.key for a in d.new])
    assert keys[0] == keys[1]


def test_several_statements_by_one_actor_in_one_item_are_one_alert():
    ledger = Ledger.from_story(STORY)
    d = feed(ledger, STORY, item(1, "Zelensky says North Korean troops in Russia",
                                 "Zelensky said the soldiers from North Korea would fight soon."))
    assert [a.actor for a in d.new if a.kind == "statement"] == ["zelensky"]


def test_decide_on_plain_statements_and_figures():
    ledger = Ledger.from_story(STORY)
    it = item(1, "t")
    st = Statement("peskov", "reports are misinformation", "Peskov: reports are misinformation",
                   "troops_in_russia", "denies")
    fig = Figure("nk_troops_in_russia", 10000, "s", qualifier="up to", source=None)
    d = decide(ledger, STORY, it, [st], [fig])
    assert [a.kind for a in d.new] == ["statement", "figure"]
    assert d.new[1].title == "NK troops in Russia: up to 10,000"
    assert d.new[1].data["previous"] is None
    assert decide(ledger, STORY, item(2, "t"), [st], [fig]).new == []


def test_backtest_replays_events_in_published_order_and_counts_duplicates(tmp_path):
    import json
    from pathlib import Path

    from monitor import backtest as bt
    from monitor.config import load_story

    story = load_story(Path(__file__).parent.parent / "config" / "stories" / "nk-troops-kursk.toml")
    rows = [  # invented items; the later one is listed first
        {"link": "https://b.example/2", "title": "Blinken: about 8,000 North Korean soldiers in Russia's Kursk region",
         "description": "", "published": "2024-11-01T12:00:00+00:00", "feed_title": "B"},
        {"link": "https://a.example/1", "title": "Blinken says 8,000 North Korean troops in Russia's Kursk region",
         "description": "", "published": "2024-11-01T09:00:00+00:00", "feed_title": "A"},
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    items = bt.read_items(path)
    records = bt.run(items, [story])
    assert records[1]["figures"] == [{"value": 8000, "kind": "nk_troops_in_kursk", "qualifier": "exact",
                                      "source": "blinken"}]
    assert records[1]["statements"][0]["actor"] == "blinken"
    events = bt.alert_events(items, [story], records)
    assert [(e["kind"], e["link"]) for e in events] == [("statement", "https://a.example/1"),
                                                        ("figure", "https://a.example/1")]
    assert events[1]["figure"]["previous"] is None
    labels = {r["link"]: {"link": r["link"], "relevant": True, "statement": {"by": "blinken", "gist": "8,000 in Kursk"},
                          "figures": [{"value": 8000, "what": "nk_troops_in_kursk"}]} for r in rows}
    m = bt.extraction_metrics(items, records, events, labels, [story])
    assert (m["figures"]["precision"], m["figures"]["recall"]) == (1.0, 1.0)
    assert (m["statements"]["precision"], m["statements"]["recall"]) == (1.0, 1.0)
    assert m["duplicates"] == 0
    assert len(bt.duplicates(events + events, labels, [story])) == 2


# ---------------------------------------------------------------- casualty measures

MEASURES = {"killed": ["killed", "dead"], "wounded": ["wounded", "injured"],
            "captured": ["captured", "captures"], "casualties": ["casualties", "killed or wounded"]}


def casualty_story(**known) -> Story:
    data = make_story(**known).model_dump()
    data["figures"].insert(0, {
        "id": "nk_casualties", "label": "NK casualties", "description": "killed, wounded or captured",
        "nouns": [*NOUNS, "casualties"], "context": ["killed", "wounded", "captured", "captures", "casualties"],
        "subjects": NK, "other_subjects": ["Russian"], "measures": MEASURES})
    return Story.model_validate(data)


CASUALTIES = casualty_story()
CAPTURED = "Ukraine captures two North Korean soldiers, Zelensky says"
NIS_TOLL = "NIS: at least 100 North Korean troops killed, 1,000 wounded"


def figure_alerts(d) -> list[Alert]:
    return [a for a in d.new if a.kind == "figure"]


def test_figures_of_different_measures_have_no_previous_value_or_disagreement():
    ledger = Ledger.from_story(CASUALTIES)
    (two,) = figure_alerts(feed(ledger, CASUALTIES, item(1, CAPTURED)))
    assert two.title == "NK casualties (captured): 2 (Volodymyr Zelensky)"
    killed, wounded = figure_alerts(feed(ledger, CASUALTIES, item(2, NIS_TOLL, hours=24)))
    assert killed.title == "NK casualties (killed): at least 100 (NIS)"
    assert wounded.title == "NK casualties (wounded): 1,000 (NIS)"
    for a, measure in ((two, "captured"), (killed, "killed"), (wounded, "wounded")):
        assert a.data["figure"]["kind"] == "nk_casualties" and a.data["figure"]["measure"] == measure
        assert a.data["previous"] is None and a.data["disagreement"] == []
    assert killed.key == figure_key("nk", "nk_casualties", 100, None, "killed") == "nk:figure:nk_casualties:killed:100"


def test_previous_value_and_disagreement_within_one_measure():
    ledger = Ledger.from_story(CASUALTIES)
    feed(ledger, CASUALTIES, item(1, CAPTURED))
    feed(ledger, CASUALTIES, item(2, NIS_TOLL, hours=24))
    (fig,) = figure_alerts(feed(ledger, CASUALTIES, item(3, "Zelensky says 200 North Korean soldiers killed",
                                                         hours=30)))
    assert fig.title == ("NK casualties (killed): 200 (Volodymyr Zelensky), up from at least 100 (NIS, Nov 2)"
                         " — sources disagree: at least 100 (NIS, Nov 2)")
    assert fig.data["previous"]["value"] == 100
    assert [d["value"] for d in fig.data["disagreement"]] == [100]


def test_same_value_of_another_measure_is_new_and_the_same_measure_is_not():
    ledger = Ledger.from_story(CASUALTIES)
    feed(ledger, CASUALTIES, item(1, "NIS says 100 North Korean soldiers killed"))
    (wounded,) = figure_alerts(feed(ledger, CASUALTIES, item(2, "NIS says 100 North Korean soldiers wounded")))
    assert wounded.data["figure"]["measure"] == "wounded"
    d = feed(ledger, CASUALTIES, item(3, "Zelensky: 100 North Korean troops killed", hours=2))
    assert figure_alerts(d) == [] and figure_key("nk", "nk_casualties", 100, None, "killed") in d.repeats


def test_ledger_rebuilt_from_alerts_keeps_measures():
    ledger = Ledger.from_story(CASUALTIES)
    stored = feed(ledger, CASUALTIES, item(1, NIS_TOLL)).new
    rebuilt = Ledger.from_alerts(CASUALTIES, stored)
    assert figure_alerts(feed(rebuilt, CASUALTIES, item(2, NIS_TOLL, hours=1))) == []
    (fig,) = figure_alerts(feed(rebuilt, CASUALTIES, item(3, "Zelensky says 1,200 North Korean soldiers wounded",
                                                          hours=2)))
    assert fig.data["previous"]["value"] == 1000  # the wounded figure, not the killed one


def test_known_figure_with_a_measure():
    story = casualty_story(figures=[{"kind": "nk_casualties", "value": 100, "measure": "killed", "source": "nis"}])
    d = feed(Ledger.from_story(story), story, item(1, NIS_TOLL))
    assert figure_key("nk", "nk_casualties", 100, None, "killed") in d.known
    assert [a.data["figure"]["measure"] for a in figure_alerts(d)] == ["wounded"]


def test_kinds_without_measures_keep_their_keys_and_data():
    (fig,) = figure_alerts(feed(Ledger.from_story(CASUALTIES), CASUALTIES,
                                item(1, "Blinken says 8,000 North Korean soldiers in Kursk")))
    assert fig.key == "nk:figure:nk_troops_in_kursk:8000" and "measure" not in fig.data["figure"]


def test_measure_is_shown_by_notify_and_charted_apart():
    from monitor import notify, report

    ledger = Ledger.from_story(CASUALTIES)
    alerts = feed(ledger, CASUALTIES, item(1, CAPTURED)).new + feed(ledger, CASUALTIES, item(2, NIS_TOLL)).new
    killed = next(a for a in alerts if a.data.get("figure", {}).get("measure") == "killed")
    title, body = notify.render(killed, "text")
    assert "NK casualties (killed): at least 100" in title
    assert "Figure: at least 100 killed" in body.splitlines()
    events = [{"kind": a.kind, "data": a.data, "title": a.title, "published": a.published.isoformat(),
               "outlet": a.outlet, "link": a.link} for a in alerts if a.kind == "figure"]
    charts = report.charts(events, CASUALTIES)
    assert [(c.kind, c.label, [p.value for p in c.points]) for c in charts] == [
        ("nk_casualties-captured", "NK casualties (captured)", [2]),
        ("nk_casualties-killed", "NK casualties (killed)", [100]),
        ("nk_casualties-wounded", "NK casualties (wounded)", [1000]),
    ]


# ---------------------------------------------------------------- known statements: speakers, claims over time

SPEAKING = make_story(statements=[{"actor": "other:Seoul", "text": "North Korean troops are training in Russia's far east"}])
SPEAKING = Story.model_validate({**SPEAKING.model_dump(), "speakers": [
    {"name": "South Korean government", "aliases": ["South Korea", "Seoul"]}]})


def test_a_known_statement_may_name_a_speaker_by_any_of_its_names():
    ledger = Ledger.from_story(SPEAKING)
    d = feed(ledger, SPEAKING, item(1, "North Korean troops are training in Russia's far east, South Korea says"))
    assert [a.kind for a in d.new] == [] and len(d.known) == 1
    d = feed(ledger, SPEAKING, item(2, "Seoul warns North Korean soldiers will reach the front by December", hours=2))
    assert [a.actor for a in d.new] == ["other:South Korean government"]


def denial(date: str | None) -> Story:
    return make_story(statements=[{"actor": "peskov", "text": "North Korean troop reports are misinformation",
                                   "claim": "troops_in_russia", "stance": "denies"} | ({"date": date} if date else {})])


def test_a_known_claim_covers_restatements_for_days_not_for_ever():
    story = denial("2024-11-01")
    ledger = Ledger.from_story(story)
    assert feed(ledger, story, item(1, "Peskov dismisses North Korean troop reports", hours=40)).new == []
    later = feed(ledger, story, item(2, "Peskov again rejects North Korean troop reports", hours=24 * 10))
    assert [a.actor for a in later.new] == ["peskov"]


def test_an_undated_known_claim_counts_from_the_first_alert_and_survives_a_restart():
    story = denial(None)
    ledger = Ledger.from_story(story)
    first = feed(ledger, story, item(1, "Zelensky says North Korean troops in Russia"))
    assert feed(ledger, story, item(2, "Peskov dismisses North Korean troop reports", hours=24)).new == []
    rebuilt = Ledger.from_alerts(story, list(first.new))
    for led in (ledger, rebuilt):
        d = feed(led, story, item(3, "Peskov again rejects North Korean troop reports", hours=24 * 5))
        assert [a.actor for a in d.new] == ["peskov"]
