"""`monitor demo`: the bundled sample story through the real pipeline, notifier and dashboard."""

from __future__ import annotations

import re
import time

import httpx

from monitor.demo import FEEDS, Demo, days, feed_until, sample

from conftest import monitor_cmd


def test_demo_command_replays_the_story_and_prints_each_alert():
    start = time.monotonic()
    result = monitor_cmd("demo", "--exit", timeout=60)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert elapsed < 60, f"the demo took {elapsed:.0f}s; a newcomer should see it all in under a minute"
    assert "=== Fri 18 Oct 2024: 3 feeds polled" in out
    # alerts as a target would get them: new figures and new statements, day by day
    assert "[figure] New figure: NK troops in Russia: about 1,500 (National Intelligence Service)" in out
    assert "[statement] New statement: Dmitry Peskov:" in out
    assert re.search(r"\[figure\] New figure: NK troops in Kursk: 8,000", out)
    assert out.index("about 1,500") < out.index("8,000")  # in the order the story developed
    # the syndicated NATO report is alerted once, not once per outlet
    assert out.count("[statement] New statement: Mark Rutte:") == 1
    # as a live target prints them: actors and claims by name, never by config id
    assert "Said by: Dmitry Peskov" in out and "Given by: National Intelligence Service" in out
    assert "Claim: North Korea has sent troops to Russia." in out
    assert not re.search(r"(Said by|Given by): [a-z_]+\n", out) and "(nis," not in out
    summary = re.search(r"(\d+) alerts from 3 feeds; (\d+) notifications delivered", out)
    assert summary and int(summary.group(1)) >= 10 and summary.group(1) == summary.group(2)


def test_sample_feeds_grow_day_by_day():
    assert len(days()) >= 3
    first, last = days()[0], days()[-1]
    from datetime import datetime, time as dtime, timezone

    early = feed_until(sample(FEEDS[0]), datetime.combine(first, dtime.max, timezone.utc))
    late = feed_until(sample(FEEDS[0]), datetime.combine(last, dtime.max, timezone.utc))
    assert early.count(b"<item>") < late.count(b"<item>") == sample(FEEDS[0]).count(b"<item>")


def test_demo_dashboard_shows_the_replayed_story(tmp_path):
    demo = Demo(tmp_path / "demo")
    try:
        replayed = list(demo.replay())
        web = demo.serve("127.0.0.1:0")
        with httpx.Client(base_url=web.url, timeout=10) as client:
            story = client.get("/").text
            alerts = client.get("/alerts").text
            feeds = client.get("/feeds").text
    finally:
        demo.close()
    assert sum(len(d.alerts) for d in replayed) >= 10
    values = re.findall(r'<circle[^>]*data-value="(\d+)"', story)
    assert {"1500", "3000", "10000", "8000", "11000"} <= set(values)
    for name in ("National Intelligence Service", "John Kirby", "Dmitry Peskov", "Maria Zakharova", "Mark Rutte"):
        assert f"<h3>{name} <small>" in story
    assert "North Korean troops are in the Kursk region." in story
    assert '<span class="state sent">sent</span> demo-inbox' in alerts
    assert alerts.count('data-state="failed"') == 0
    assert feeds.count('data-status="ok"') == 3
    assert (tmp_path / "demo" / "state" / "monitor.db").exists()  # --state keeps the store
