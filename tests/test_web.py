"""The dashboard, the report, /healthz and /metrics, from a store filled by a small fixture.

The fixture writes what a few polls would write (items, matches, alert events in novelty's
shape, syndicated repeats, deliveries in every state) through `Store.save_poll`; the pages are
fetched from the real server on 127.0.0.1 and checked for what a person would see.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from monitor import config
from monitor.cli import cli
from monitor.models import Alert, FeedResult, Item, Match
from monitor.pipeline import Pipeline
from monitor.service import Service
from monitor.store import PollWrite, Store
from monitor.web import WebServer, create_app, parse_address

from conftest import make_config, rss, wait_for

STORY = """
id = "web-story"
title = "North Korean troops in Russia"
description = "Troops & reactions."
topic = ["North Korean troops", "North Korean soldiers"]

[[actors]]
id = "kirby"
name = "John Kirby"
aliases = ["Kirby"]

[[actors]]
id = "peskov"
name = "Dmitry Peskov"
aliases = ["Peskov"]

[[claims]]
id = "in_russia"
description = "North Korea has sent troops to Russia."
terms = ["troops to Russia"]

[[claims]]
id = "combat"
description = "They will join the fighting."
terms = ["join the fighting"]

[[figures]]
id = "nk_troops"
label = "NK troops in Russia"
description = "North Korean troops in Russia"
nouns = ["troops"]
subjects = ["North Korean"]
"""

FEED = "https://wire.example.org/rss"
EVIL_TITLE = "Kirby <script>alert('x')</script> & troops"


def when(day: int, hour: int = 10) -> datetime:
    return datetime(2024, 10, day, hour, tzinfo=timezone.utc)


def item(guid: str, title: str, day: int, outlet: str = "Harbor Wire") -> Item:
    return Item(FEED, guid, title, f"{title}. Text.", f"https://wire.example.org/{guid}", when(day), feed_title=outlet)


def figure(it: Item, value: int, qualifier: str, source: str, high: int | None = None) -> Alert:
    return Alert(key=f"fig:{value}", story="web-story", kind="figure", title=f"NK troops in Russia: {value:,} — {it.title}",
                 body=f"figure {value}", link=it.link, outlet=it.feed_title, item_id=it.id, feed_url=FEED,
                 actor=source, published=it.published,
                 data={"figure": {"value": value, "high": high, "kind": "nk_troops", "qualifier": qualifier,
                                  "source": source, "sentence": "..."}, "previous": None})


def statement(it: Item, actor: str, text: str, claim: str | None, stance: str | None) -> Alert:
    return Alert(key=f"st:{it.id}", story="web-story", kind="statement", title=f"{actor}: {text}", body=text,
                 link=it.link, outlet=it.feed_title, item_id=it.id, feed_url=FEED, actor=actor, published=it.published,
                 data={"statement": {"actor": actor, "text": text, "sentence": text, "claim": claim, "stance": stance}})


def match(*claims: str) -> Match:
    return Match(story="web-story", relevant=True, score=90, threshold=75, actors=(), claims=claims)


def poll(store: Store, items: list[Item], alerts: list[Alert], matches: dict | None = None,
         repeats: list | None = None) -> None:
    store.save_poll(PollWrite(
        FeedResult(FEED, 200, tuple(items)), items=items, alerts=alerts, repeats=repeats or [],
        matches=matches if matches is not None else {i.id: [match("in_russia")] for i in items},
        deliveries=[(a.key, t) for a in alerts for t in ("slack", "mail")],
    ))


def fill(store: Store) -> None:
    """Three days of a story: figures 1,500 -> 3,000 -> 10,000-12,000, two actors, a repeat."""
    a, b, c, d = (item("a", "Seoul: 1,500 North Korean troops sent", 18),
                  item("b", EVIL_TITLE, 23),
                  item("c", "Peskov calls it misinformation", 23, outlet="Daily Meridian"),
                  item("d", "Up to 12,000 North Korean troops", 28))
    poll(store, [a], [figure(a, 1500, "about", "nis")])
    poll(store, [b, c], [figure(b, 3000, "at least", "kirby"),
                         statement(b, "kirby", "We see <b>evidence</b> of troops", "in_russia", "confirms"),
                         statement(c, "peskov", "It is misinformation", "in_russia", "denies")],
         matches={"b": [match("in_russia", "combat")], "c": [match("in_russia")]})
    poll(store, [d], [figure(d, 10000, "up to", "", high=12000)])
    syndicated = Item(FEED, "b2", "Repeat", "x", "https://other.example.org/b2", when(24), feed_title="Other Outlet")
    poll(store, [syndicated], [], repeats=[("st:b", syndicated)])
    rows = {(r["event"], r["target"]): r["id"] for r in store.query("SELECT id, event, target FROM deliveries")}
    store.mark_deliveries([
        (rows[("fig:1500", "slack")], {"state": "sent", "sent_at": "2024-10-18T10:01:00+00:00", "attempts": 1}),
        (rows[("fig:3000", "slack")], {"state": "retrying", "attempts": 2, "last_error": "slack: HTTP 503 from hooks.slack.com"}),
        (rows[("fig:3000", "mail")], {"state": "failed", "attempts": 9, "last_error": "gave up after 9 attempts: SMTP refused"}),
    ])


@pytest.fixture
def site(tmp_path):
    cdir = make_config(tmp_path, [FEED, "https://down.example.org/rss"], story=STORY)
    cfg = config.load(cdir, tmp_path / "state")
    store = Store(cfg.database)
    fill(store)
    store.update_feed("https://down.example.org/rss", last_poll="2024-10-28T10:00:00+00:00", last_status=500,
                      last_error="https://down.example.org/rss: bad HTTP status 500", consecutive_errors=1,
                      error_reason="http_500", next_poll="2999-01-01T00:00:00+00:00")
    server = WebServer(create_app(store, lambda: cfg), "127.0.0.1", 0)
    server.start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client, store, cfg
    server.stop()
    store.close()


def test_story_page_shows_figures_actors_and_claims(site):
    client, _, _ = site
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "<h1>North Korean troops in Russia</h1>" in html
    assert "Troops &amp; reactions." in html
    # the chart's data: every figure value, in time order, with its qualifier and who gave it
    chart = re.search(r'<svg class="chart".*?</svg>', html, re.S).group(0)
    assert re.findall(r'data-value="(\d+)"', chart) == ["1500", "3000", "10000"]
    assert 'data-high="12000"' in chart and 'data-qualifier="up to"' in chart
    assert 'data-source="John Kirby"' in chart and 'data-outlet="Harbor Wire"' in chart
    assert '<a href="https://wire.example.org/a"' in chart
    assert "latest: <b>up to 10,000–12,000</b>" in html
    # the timeline: statements grouped by actor, in configured order, with their sources
    actors = re.findall(r'<article class="actor" id="actor-(\w+)"', html)
    assert actors == ["kirby", "peskov"]
    kirby = re.search(r'id="actor-kirby".*?</article>', html, re.S).group(0)
    assert "We see &lt;b&gt;evidence&lt;/b&gt; of troops" in kirby
    assert 'class="stance confirms"' in kirby and "North Korea has sent troops to Russia." in kirby
    assert ">Harbor Wire</a>" in kirby and ">Other Outlet</a>" in kirby  # the syndicated repeat
    # claims and how often each was touched
    assert re.search(r'data-claim="in_russia" data-items="5"', html)
    assert re.search(r'data-claim="combat" data-items="1"', html)


def test_feed_text_is_escaped_everywhere(site):
    client, _, _ = site
    for path in ("/", "/alerts"):
        html = client.get(path).text
        assert "<script>alert" not in html, path
        assert "Kirby &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; troops" in html, path
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]


def test_alerts_page_shows_every_delivery_state_and_why(site):
    client, _, _ = site
    html = client.get("/alerts").text
    row = re.search(r'<tr data-event="fig:3000".*?</tr>', html, re.S).group(0)
    assert re.search(r'data-state="retrying">\s*<span class="state retrying">retrying</span> slack', row)
    assert "slack: HTTP 503 from hooks.slack.com" in row and "attempts 2" in row
    assert re.search(r'<span class="state failed">failed</span> mail', row)
    assert "gave up after 9 attempts: SMTP refused" in row
    sent = re.search(r'<tr data-event="fig:1500".*?</tr>', html, re.S).group(0)
    assert '<span class="state sent">sent</span> slack' in sent and "2024-10-18 10:01 UTC" in sent
    assert '<span class="state pending">pending</span> mail' in sent
    # the statement repeated by another outlet counts 2 sources
    assert re.search(r'data-event="st:b".*?<td class="n">2</td>', html, re.S)


def test_feeds_page_shows_health_backoff_and_errors(site):
    client, _, _ = site
    html = client.get("/feeds").text
    good = re.search(r'<tr data-feed="https://wire.example.org/rss" data-status="(\w+)".*?</tr>', html, re.S)
    assert good.group(1) == "ok" and '<td class="n">5</td>' in good.group(0)  # items stored
    down = re.search(r'<tr data-feed="https://down.example.org/rss" data-status="(\w+)".*?</tr>', html, re.S)
    assert down.group(1) == "backoff"
    assert "bad HTTP status 500" in down.group(0) and "2999-01-01 00:00 UTC" in down.group(0)


def test_static_assets_are_served_locally(site):
    client, _, _ = site
    html = client.get("/").text
    assert not re.search(r'(src|href)="(https?:)?//(?!wire\.example\.org|other\.example\.org)', html)
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/story/nope").status_code == 404


def test_report_is_one_self_contained_file(site, tmp_path):
    _, store, cfg = site
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--config", str(cfg.config_dir), "--state", str(cfg.state_dir),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    html = out.read_text()
    assert re.findall(r'<circle[^>]*data-value="(\d+)"', html) == ["1500", "3000", "10000"]
    assert "<style>" in html and "svg.chart" in html  # the stylesheet is inline
    assert "<script" not in html and 'rel="stylesheet"' not in html
    assert "default-src 'none'" in html  # the browser may fetch nothing
    assert not re.search(r'\b(src|srcset)=', html)
    assert "Kirby &lt;script&gt;" in html and "<script>alert" not in html


def test_report_unknown_story_is_a_usage_error(site, tmp_path):
    _, _, cfg = site
    result = CliRunner().invoke(cli, ["report", "--config", str(cfg.config_dir), "--state", str(cfg.state_dir),
                                      "--out", str(tmp_path / "r.html"), "--story", "nope"])
    assert result.exit_code == 2
    assert "no story 'nope'; configured: web-story" in result.output


def scrape(client: httpx.Client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_count_polls_failures_items_events_and_deliveries(tmp_path, feed_server):
    ok = feed_server.set("/ok", rss(("m1", "North Korean troops seen", "North Korean troops in Russia"),
                                    ("m2", "Weather", "Rain")))
    down = feed_server.set("/down", "nope", status=404)
    cfg = config.load(make_config(tmp_path, [ok, down], story=STORY), tmp_path / "state")
    store = Store(cfg.database)
    pipe = Pipeline(cfg, store)
    server = WebServer(create_app(store, lambda: cfg), "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            before = scrape(client)
            for feed in cfg.feeds:
                pipe.poll(feed)
            after = scrape(client)
            resp = client.get("/metrics")
    finally:
        server.stop()
        pipe.close()

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert delta("monitor_polls_total", status="ok") == 1
    assert delta("monitor_polls_total", status="error") == 1
    assert delta("monitor_poll_failures_total", reason="http_404") == 1
    assert delta("monitor_poll_duration_seconds_count") == 2
    assert delta("monitor_new_items_total") == 2
    assert delta("monitor_relevant_items_total") == 1
    assert after[("monitor_items", ())] == 2 and after[("monitor_relevant_items", ())] == 1
    assert after[("monitor_deliveries", (("state", "failed"),))] == 0
    assert after[("monitor_feeds", (("health", "ok"),))] == 1
    assert after[("monitor_feeds", (("health", "error"),))] == 1
    assert after[("monitor_healthy", ())] == 1


def test_healthz_flips_when_the_store_turns_read_only_and_back(tmp_path, feed_server):
    url = feed_server.set("/feed", rss(("h1", "Nothing", "Nothing")))
    cfg = config.load(make_config(tmp_path, [url], story=STORY), tmp_path / "state")
    service = Service(cfg, web="127.0.0.1:0")
    service.start()
    try:
        with httpx.Client(base_url=service.web.url, timeout=10) as client:
            assert client.get("/healthz").text == "ok\n"
            address = f"127.0.0.1:{service.web.port}"
            assert CliRunner().invoke(cli, ["health", "--config", str(cfg.config_dir), "--web", address]).exit_code == 0

            service.store.db.execute("PRAGMA query_only = ON")  # the store refuses writes
            resp = wait_for(lambda: (r := client.get("/healthz")).status_code == 503 and r, what="/healthz 503")
            assert "store not writable" in resp.text and "readonly" in resp.text
            unhealthy = CliRunner().invoke(cli, ["health", "--config", str(cfg.config_dir), "--web", address])
            assert unhealthy.exit_code == 1 and "store not writable" in unhealthy.output

            service.store.db.execute("PRAGMA query_only = OFF")
            wait_for(lambda: client.get("/healthz").status_code == 200, what="/healthz back to 200")

            service.scheduler.shutdown(wait=False)
            resp = client.get("/healthz")
            assert (resp.status_code, resp.text) == (503, "unhealthy: scheduler not running\n")
    finally:
        service.web.stop()
        service.pipeline.close()


def test_web_address_forms_and_errors(tmp_path):
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address(":8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    cdir = make_config(tmp_path, [FEED], story=STORY)
    result = CliRunner().invoke(cli, ["run", "--config", str(cdir), "--web", "localhost:http"])
    assert result.exit_code == 2
    assert "expected HOST:PORT like 127.0.0.1:8080, got 'localhost:http'" in result.output


def test_a_busy_port_is_reported_before_anything_starts(tmp_path):
    cfg = config.load(make_config(tmp_path, [FEED], story=STORY), tmp_path / "state")
    store = Store(cfg.database)
    taken = WebServer(create_app(store, lambda: cfg), "127.0.0.1", 0)
    taken.start()
    try:
        with pytest.raises(OSError, match=rf"cannot listen on 127.0.0.1:{taken.port}: .*choose another --web port"):
            WebServer(create_app(store, lambda: cfg), "127.0.0.1", taken.port)
    finally:
        taken.stop()


def test_pages_list_alerts_items_and_statements_newest_first(tmp_path):
    """/alerts: newest alert first (when raised; within one poll, by the article's date). Latest
    items: by the article's date, an undated one by when it was fetched, marked. Statements: the
    actor who spoke last first, each actor's newest first. Claims: an assertion confirms."""
    cfg = config.load(make_config(tmp_path, [FEED], story=STORY), tmp_path / "state")
    store = Store(cfg.database)
    a, b, c = item("a", "Kirby on troops", 20), item("b", "Peskov on troops", 25), item("c", "Kirby again", 22)
    undated = Item(FEED, "u", "Undated troops report", "x", "https://wire.example.org/u", None, feed_title="Harbor Wire")
    poll(store, [c, a], [statement(c, "kirby", "They are there", "in_russia", None),
                         statement(a, "kirby", "Troops were sent", "in_russia", "confirms")])
    poll(store, [b, undated], [statement(b, "peskov", "It is misinformation", "in_russia", "denies")])
    store.db.execute("UPDATE events SET created_at = '2024-10-27T12:00:00+00:00' WHERE key IN ('st:a', 'st:c')")
    store.db.execute("UPDATE events SET created_at = '2024-10-28T12:00:00+00:00' WHERE key = 'st:b'")
    store.db.execute("UPDATE items SET fetched_at = '2024-10-26T12:00:00+00:00' WHERE item_id = 'u'")
    server = WebServer(create_app(store, lambda: cfg), "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            alerts, story = client.get("/alerts").text, client.get("/").text
    finally:
        server.stop()
        store.close()
    assert re.findall(r'<tr data-event="([^"]+)"', alerts) == ["st:b", "st:c", "st:a"]
    assert "<th>alerted</th>" in alerts and "published 2024-10-22 10:00 UTC" in alerts
    coverage = re.search(r'<ul class="coverage">.*?</ul>', story, re.S).group(0)
    assert re.findall(r'>([^<>]+)</a></li>', coverage) == ["Undated troops report", "Peskov on troops", "Kirby again",
                                                          "Kirby on troops"]
    assert "2024-10-26 12:00 UTC (fetched)" in coverage
    assert re.findall(r'<article class="actor" id="actor-(\w+)"', story) == ["peskov", "kirby"]  # spoke last
    kirby = re.search(r'id="actor-kirby".*?</article>', story, re.S).group(0)
    assert kirby.index("They are there") < kirby.index("Troops were sent")
    claim = re.search(r'<tr data-claim="in_russia".*?</tr>', story, re.S).group(0)
    assert re.findall(r'<td class="n">(\d+)</td>', claim) == ["4", "3", "2", "1"]  # items, statements, confirms, denies


def test_pages_drop_bidirectional_controls_even_from_stored_text(tmp_path):
    cfg = config.load(make_config(tmp_path, [FEED], story=STORY), tmp_path / "state")
    store = Store(cfg.database)
    sneaky = item("s", "Kirby \u2067says\u2069 \u202etroops\u202c", 24)
    poll(store, [sneaky], [statement(sneaky, "kirby", "We \u2066see\u2069 troops", "in_russia", None)])
    server = WebServer(create_app(store, lambda: cfg), "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            pages = [client.get(path).text for path in ("/", "/alerts")]
    finally:
        server.stop()
        store.close()
    for html in pages:
        assert not re.search("[\u202a-\u202e\u2066-\u2069]", html)
        assert "We see troops" in html
    assert "Kirby says troops" in pages[0]
