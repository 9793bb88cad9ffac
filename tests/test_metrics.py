"""Every metric the README documents moves, scraped from /metrics of a real pipeline and notifier.

Feeds are served on 127.0.0.1 (ok, then 304; a 404 polled until it is failing; a 410; one never
polled); alerts go to a json:// receiver (sent), to a closed port (retrying, then failed) and to
a digest target (held). Counters are process-wide, so the test compares a scrape before with
one after.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx

from monitor import config
from monitor.notify import Notifier
from monitor.pipeline import Pipeline
from monitor.store import Store
from monitor.web import WebServer, create_app

from conftest import make_config, rss
from test_web import STORY, scrape

README = Path(__file__).resolve().parent.parent / "README.md"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def documented_metrics() -> set[str]:
    section = README.read_text().split("**Metrics**", 1)[1].split("- **Logs**", 1)[0]
    return set(re.findall(r"`(monitor_\w+)", section))


def test_every_documented_metric_moves(tmp_path, feed_server, json_receiver):
    news = rss(("m1", "Kirby says 3,000 North Korean troops are in Russia",
                "John Kirby said 3,000 North Korean troops were sent to Russia to join the fighting."),
               ("m2", "Weather", "Rain"))
    ok = feed_server.set("/ok", news, ETag='"v1"')
    down = feed_server.set("/down", "nope", status=404)
    gone = feed_server.set("/gone", "bye", status=410)
    never = feed_server.set("/never", news)
    extra = f"""
    [notify]
    retry_base = "1s"
    retry_max_age = "1h"

    [[notify.targets]]
    name = "hook"
    url = "{json_receiver.url()}"

    [[notify.targets]]
    name = "dead"
    url = "json://127.0.0.1:{closed_port()}/hook"

    [[notify.targets]]
    name = "daily"
    url = "{json_receiver.url('/digest')}"
    mode = "digest"
    digest_every = "24h"
    """
    cfg = config.load(make_config(tmp_path, [ok, down, gone, never], extra=extra, story=STORY), tmp_path / "state")
    store = Store(cfg.database)
    pipe = Pipeline(cfg, store, parse_processes=0)
    notifier = Notifier(cfg, store)
    problem: list[str] = []
    server = WebServer(create_app(store, lambda: cfg, lambda: problem[0] if problem else None), "127.0.0.1", 0)
    server.start()
    feeds = {f.url: f for f in cfg.feeds}
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            before = scrape(client)
            pipe.poll(feeds[ok])
            pipe.poll(feeds[ok], force=True)  # 304
            for _ in range(cfg.service.failing_after):
                pipe.poll(feeds[down], force=True)
            pipe.poll(feeds[gone])
            notifier.deliver_due()  # hook: sent; dead: retrying; daily: held
            store.db.execute("UPDATE deliveries SET created_at = '2000-01-01T00:00:00+00:00', "
                             "next_attempt = '2000-01-01T00:00:00+00:00' WHERE target = 'dead'")
            notifier.deliver_due()  # dead: older than retry_max_age, failed
            problem.append("scheduler not running")
            after = scrape(client)
    finally:
        server.stop()
        pipe.close()
        store.close()

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    def value(name: str, **labels: str) -> float:
        return after[(name, tuple(sorted(labels.items())))]

    moved = set()
    for status in ("ok", "not_modified", "error", "gone"):
        assert delta("monitor_polls_total", status=status) == {"error": 3}.get(status, 1), status
    moved.add("monitor_polls_total")
    assert delta("monitor_poll_failures_total", reason="http_404") == 3
    assert delta("monitor_poll_failures_total", reason="gone") == 1
    moved.add("monitor_poll_failures_total")
    assert delta("monitor_poll_duration_seconds_count") == 6 and delta("monitor_poll_duration_seconds_sum") > 0
    moved.add("monitor_poll_duration_seconds")
    assert delta("monitor_new_items_total") == 2
    assert delta("monitor_relevant_items_total") == 1
    events = {k[1]: v for k, v in after.items() if k[0] == "monitor_events"}
    story_alerts = sum(v for labels, v in events.items() if ("story", "web-story") in labels)
    assert story_alerts >= 2  # a statement and a figure
    assert delta("monitor_alert_events_total") == story_alerts
    moved |= {"monitor_new_items_total", "monitor_relevant_items_total", "monitor_alert_events_total", "monitor_events"}
    assert events[(("kind", "statement"), ("story", "web-story"))] >= 1
    assert events[(("kind", "figure"), ("story", "web-story"))] >= 1
    assert events[(("kind", "feed_failing"), ("story", ""))] == 1
    # each story alert: one sent (hook), one retried then failed (dead), one held (daily)
    assert delta("monitor_delivery_attempts_total", state="sent") == story_alerts
    assert delta("monitor_delivery_attempts_total", state="retrying") == story_alerts
    assert delta("monitor_delivery_attempts_total", state="failed") == story_alerts
    assert delta("monitor_delivery_attempts_total", state="held") == story_alerts
    moved.add("monitor_delivery_attempts_total")
    assert value("monitor_items") == 2 and value("monitor_relevant_items") == 1
    moved |= {"monitor_items", "monitor_relevant_items"}
    for state, n in (("sent", story_alerts), ("failed", story_alerts), ("held", story_alerts), ("pending", 0)):
        assert value("monitor_deliveries", state=state) == n, state
    moved.add("monitor_deliveries")
    for health, n in (("ok", 1), ("failing", 1), ("gone", 1), ("never", 1), ("error", 0)):
        assert value("monitor_feeds", health=health) == n, health
    moved.add("monitor_feeds")
    assert value("monitor_healthy") == 0 and before[("monitor_healthy", ())] == 1
    moved.add("monitor_healthy")
    assert len(json_receiver.posts) == story_alerts

    assert documented_metrics() == moved  # every metric in the README is checked above
