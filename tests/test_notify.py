"""Notifications end to end: real SMTP and json:// receivers on 127.0.0.1, a real SQLite outbox.

Time is injected (`Notifier(clock=...)`) so backoff, digests and quiet hours are checked by
moving a clock, never by sleeping.
"""

from __future__ import annotations

import hashlib

import os
import threading
from datetime import datetime, timedelta, timezone

import pytest

from monitor import config, notify
from monitor.config import Target
from monitor.models import Alert, FeedResult
from monitor.notify import Notifier
from monitor.store import FeedState, PollWrite, Store

from conftest import make_config, monitor_cmd, wait_for

HOSTILE = "<!channel> @here <script>alert(1)</script>"


class Clock:
    def __init__(self) -> None:
        # Two seconds ahead of the wall clock: the store stamps rows queued during the test with
        # the real time (to the second), and they must be due at the clock's "now" even when a
        # second boundary passes between making the clock and queueing.
        self.now = datetime.now(timezone.utc) + timedelta(seconds=2)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def setup(tmp_path, targets: str, notify_opts: str = 'retry_base = "30s"\nretry_cap = "5m"\n'):
    cdir = make_config(tmp_path, [], extra=f"\n[notify]\n{notify_opts}\n{targets}")
    cfg = config.load(cdir, tmp_path / "state")
    return cfg, Store(cfg.database)


def target(url: str, name: str = "", **opts: object) -> str:
    lines = [f'url = "{url}"'] + ([f'name = "{name}"'] if name else [])
    for k, v in opts.items():
        lines.append(f"{k} = {v!r}".replace("'", '"') if not isinstance(v, int) else f"{k} = {v}")
    return "[[notify.targets]]\n" + "\n".join(lines) + "\n"


def alert(n: int, **kw: object) -> Alert:
    fields: dict = dict(key=f"k{n}", story="test-story", kind="statement", title=f"Kirby says thing {n}",
                        body=f"Statement number {n}.", link=f"https://news.example.org/{n}",
                        outlet="Example News", actor="kirby")
    fields.update(kw)
    return Alert(**fields)


def queue(cfg, store, alerts) -> None:
    store.save_alerts(alerts, [(a.key, t) for a in alerts for t in notify.route(a, cfg.notify.targets)])


def states(store) -> list[tuple[str, str, int]]:
    return [(r["event"], r["state"], r["attempts"]) for r in store.query("SELECT * FROM deliveries ORDER BY id")]


def visible(text: str) -> str:
    return text.replace(notify.ZWJ, "")


# ---------------------------------------------------------------- rendering (pure)


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_render_neutralises_mentions_and_markup_but_keeps_the_words(fmt):
    a = alert(1, title=f"Kim: {HOSTILE}", body=f"He said <@U123> &lt;!everyone&gt; [click](http://evil.example) {HOSTILE}",
              outlet="Evil <b>News</b>")
    title, body = notify.render(a, fmt)
    for text in (title, body):
        for live in ("<!channel>", "@here", "<script>", "<@U123>", "&lt;!everyone", "<b>News"):
            assert live not in text
    if fmt == "markdown":
        assert "[click](http://evil.example)" not in body and r"\[click\](http://evil.example)" in body
    assert visible(title) == f"New statement: Kim: {HOSTILE}"
    assert "https://news.example.org/1" in body  # our own link survives
    if fmt == "html":
        assert "&lt;‍script&gt;" in body and '<a href="https://news.example.org/1">' in body


def test_render_figure_shows_value_previous_and_source():
    sentence = "About 11,000 North Korean soldiers are in Kursk, Kirby said."
    a = alert(2, kind="figure", title="North Korean troops in Kursk: about 11,000 (John Kirby), up from 10,000",
              body=f"North Korean troops ...\nSentence: {sentence}",
              data={"figure": {"value": 11000, "high": None, "kind": "troops", "qualifier": "about",
                               "source": "kirby", "sentence": sentence},
                    "previous": {"value": 10000, "high": None, "qualifier": None, "source": "pentagon",
                                 "date": "2024-10-28", "outlet": "Reuters", "link": "https://r.example/1"}})
    title, body = notify.render(a, "text", sources=3, names={"kirby": "John Kirby"})
    assert title == "New figure: North Korean troops in Kursk: about 11,000 (John Kirby), up from 10,000"
    assert body.startswith(f"New figure\n\n{sentence}\n")
    for line in ("Figure: about 11,000", "Given by: John Kirby", "Previous: 10,000 (pentagon, 2024-10-28, Reuters)",
                 "Outlet: Example News", "Reported by: 3 outlets"):
        assert line in body.splitlines()


def test_render_statement_says_who_said_what():
    a = alert(4, title="John Kirby: troops are in Kursk — via Example News", body="John Kirby: troops are in Kursk\n...",
              data={"statement": {"actor": "kirby", "text": "troops are in Kursk", "sentence": "Kirby said troops are in Kursk.",
                                  "claim": "troops_in_kursk", "stance": "confirms"}})
    title, body = notify.render(a, "text", names={"kirby": "John Kirby"})
    assert title == "New statement: John Kirby: troops are in Kursk — via Example News"
    assert body.splitlines()[:3] == ["New statement", "", "troops are in Kursk"]
    for line in ("Said by: John Kirby", "Sentence: Kirby said troops are in Kursk.", "Claim: troops_in_kursk (confirms)",
                 "Read the article at Example News: https://news.example.org/4"):
        assert line in body.splitlines()


def test_long_text_is_cut_on_a_word_with_an_ellipsis():
    title, body = notify.render(alert(3, title="word " * 100, body="lorem ipsum " * 200), "text")
    assert len(title) <= notify.TITLE_MAX and title.endswith("…") and "wor…" not in title
    assert "lorem ipsum lorem" in body and len(body) < notify.TEXT_MAX + 400


def test_only_http_links_are_links():
    assert notify.safe_link("javascript:alert(1)") is None
    assert notify.safe_link("https://x.example/a b<c>\"") == "https://x.example/a%20b%3Cc%3E%22"


# ---------------------------------------------------------------- routing and operator alerts (pure)


def test_route_filters_by_story_kind_actor_and_sends_feed_health_only_to_ops():
    targets = [Target(url="json://a/", name="all"), Target(url="json://b/", name="other-story", stories=["other"]),
               Target(url="json://c/", name="figures", kinds=["figure"]),
               Target(url="json://d/", name="kirby", actors=["kirby"]),
               Target(url="json://e/", name="ops", tags=["ops"], kinds=["feed_failing", "feed_recovered"])]
    assert notify.route(alert(1), targets) == ["all", "kirby"]
    assert notify.route(alert(2, kind="figure", actor=None), targets) == ["all", "figures"]
    health = Alert(key="h", story="", kind="feed_failing", title="t", body="b", link=None, outlet="")
    assert notify.route(health, targets) == ["ops"]


def test_feed_health_alerts_once_when_failing_and_once_when_recovered():
    err = FeedResult("https://f.example/rss", error="bad HTTP status 500")
    ok = FeedResult("https://f.example/rss", status=200)
    assert notify.feed_health_alert(FeedState(url=ok.feed_url, consecutive_errors=1), err, 3) is None
    failing = notify.feed_health_alert(FeedState(url=ok.feed_url, consecutive_errors=2), err, 3)
    assert failing.kind == "feed_failing" and "3 errors in a row" in failing.body
    assert notify.feed_health_alert(FeedState(url=ok.feed_url, consecutive_errors=5, failing_alerted=True), err, 3) is None
    recovered = notify.feed_health_alert(FeedState(url=ok.feed_url, consecutive_errors=5, failing_alerted=True), ok, 3)
    assert recovered.kind == "feed_recovered"
    assert notify.feed_health_alert(FeedState(url=ok.feed_url), ok, 3) is None


def test_target_ids_and_masked_urls_never_show_the_secret():
    t = Target(url="json://user:s3cr3tpass@127.0.0.1:9/hook")
    assert "s3cr3tpass" not in notify.target_id(t) and "s3cr3tpass" not in notify.masked(t)
    assert notify.target_id(t) == notify.target_id(Target(url=t.url))
    slack = Target(url="slack://T1234ABCD/B5678EFG/abcdefghijklmnopqrstuvwx/#news")
    assert "abcdefghijklmnopqrstuvwx" not in notify.masked(slack)


def test_check_targets_names_the_bad_url_masked_and_duplicate_names(tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_NOTIFY_URLS", "nope://s3cr3tpass@x")
    cfg, _ = setup(tmp_path, target("json://a.example/", "dup") + target("json://b.example/", "dup"))
    problems = notify.check_targets(cfg)
    assert problems == [
        f"{cfg.config_dir / 'monitor.toml'}: notify.targets[1].name: target name 'dup' is used twice. "
        "Hint: give each target its own name",
        f"MONITOR_NOTIFY_URLS[{hashlib.sha256(b'nope://s3cr3tpass@x').hexdigest()[:8]}]: Apprise cannot use this URL: nope://****. "
        "Hint: check the scheme and its required parts at https://github.com/caronc/apprise/wiki",
    ]


def test_secret_values_cover_tokens_inside_env_target_urls(tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_NOTIFY_URLS", "slack://T1234ABCD/B5678EFG/abcdefghijklmnopqrstuvwx/#news")
    cfg, _ = setup(tmp_path, target("json://user:s3cr3tpass@127.0.0.1:9/hook"))
    hidden = notify.secret_values(cfg)
    assert "abcdefghijklmnopqrstuvwx" in hidden and "s3cr3tpass" in hidden and "hook" not in hidden


# ---------------------------------------------------------------- real receivers


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_bidirectional_controls_never_reach_a_message(fmt):
    title, body = notify.render(alert(1, title=f"Kim \u2067says\u2069 {BIDI}troops", body=f"Quote \u202e{BIDI} end"), fmt)
    for text in (title, body):
        assert not set(BIDI) & set(text), (fmt, text)
    assert "Kim says troops" in title
    digest_title, digest = notify.render_digest([(alert(1, title=f"a{BIDI}b"), 1), (alert(2, body=f"c{BIDI}d"), 1)], fmt)
    assert not set(BIDI) & set(digest + digest_title)


def test_hostile_title_arrives_escaped_at_a_json_receiver(tmp_path, json_receiver):
    cfg, store = setup(tmp_path, target(json_receiver.url(), "hook"))
    queue(cfg, store, [alert(1, title=f"Kim: {HOSTILE}", body=f"Quote: {HOSTILE}")])
    summary = Notifier(cfg, store).deliver_due()
    wait_for(lambda: len(json_receiver.posts) == 1, what="one JSON post")
    post = json_receiver.posts[0]
    for text in (post["title"], post["message"]):
        assert "<!channel>" not in text and "@here" not in text and "<script>" not in text
    assert visible(post["title"]) == f"New statement: Kim: {HOSTILE}"
    assert "Said by: John Kirby" in post["message"].splitlines()
    assert (summary.sent, summary.messages) == (1, 1)
    assert states(store) == [("k1", "sent", 1)]


def test_hostile_title_arrives_escaped_by_email(tmp_path, smtp_server):
    cfg, store = setup(tmp_path, target(smtp_server.url(), "mail"))
    queue(cfg, store, [alert(1, title=f"Kim: {HOSTILE}", body=f"Quote: {HOSTILE}")])
    Notifier(cfg, store).deliver_due()
    wait_for(lambda: len(smtp_server.messages) == 1, what="one email")
    msg = smtp_server.messages[0]
    html_part = msg.get_body(("html",)).get_content()
    plain_part = msg.get_body(("plain",)).get_content()
    assert "&lt;‍script&gt;" in html_part and "<script>" not in html_part
    assert '<a href="https://news.example.org/1">' in html_part
    assert "Read the article at Example News: https://news.example.org/1" in plain_part  # a text reader can follow it
    for text in (str(msg["subject"]), html_part, plain_part):
        assert "<!channel>" not in text and "@here" not in text and "<script>" not in text
    assert visible(str(msg["subject"])) == f"New statement: Kim: {HOSTILE}"


def test_receiver_down_then_up_every_alert_arrives_exactly_once(tmp_path, json_receiver):
    cfg, store = setup(tmp_path, target(json_receiver.url(), "hook"))
    clock = Clock()
    notifier = Notifier(cfg, store, clock)
    queue(cfg, store, [alert(i) for i in range(3)])
    json_receiver.down()

    first = notifier.deliver_due()
    assert (first.sent, first.retrying) == (0, 3)
    assert "Connection error" in first.errors[0]
    assert states(store) == [("k0", "retrying", 1), ("k1", "retrying", 0), ("k2", "retrying", 0)]
    clock.advance(10)
    assert notifier.deliver_due().retrying == 0  # not due before retry_base (30s)
    clock.advance(20)
    notifier.deliver_due()  # still down: second attempt, next wait 60s
    assert states(store)[0] == ("k0", "retrying", 2)
    due = {r["next_attempt"] for r in store.query("SELECT next_attempt FROM deliveries")}
    assert due == {(clock.now + timedelta(seconds=60)).isoformat(timespec="seconds")}  # the others wait with it

    json_receiver.up()
    clock.advance(60)
    assert notifier.deliver_due().sent == 3
    wait_for(lambda: len(json_receiver.posts) == 3, what="three posts after the outage")
    for _ in range(3):
        clock.advance(3600)
        assert notifier.deliver_due().sent == 0
    assert sorted(visible(p["title"]) for p in json_receiver.posts) == [f"New statement: Kirby says thing {i}" for i in range(3)]


def test_a_failing_target_does_not_hold_back_the_others(tmp_path, json_receiver):
    cfg, store = setup(tmp_path, target(json_receiver.url("/ok"), "good") + target("json://127.0.0.1:9/closed", "bad"))
    queue(cfg, store, [alert(1)])
    summary = Notifier(cfg, store).deliver_due()
    wait_for(lambda: len(json_receiver.posts) == 1, what="the good target's post")
    assert (summary.sent, summary.retrying) == (1, 1)
    assert dict(((r["target"], r["state"]) for r in store.query("SELECT * FROM deliveries"))) == {"good": "sent", "bad": "retrying"}


def test_gives_up_after_max_age_and_the_reason_is_kept_without_secrets(tmp_path):
    url = "json://user:s3cr3tpass@127.0.0.1:9/hook"
    cfg, store = setup(tmp_path, target(url), 'retry_base = "10s"\nretry_max_age = "1m"\n')
    clock = Clock()
    notifier = Notifier(cfg, store, clock)
    queue(cfg, store, [alert(1), alert(2)])
    notifier.deliver_due()
    clock.advance(120)
    summary = notifier.deliver_due()
    assert summary.failed == 2
    assert {r["state"] for r in store.query("SELECT state FROM deliveries")} == {"failed"}
    report = store.target_report()
    (tid, rep), = report.items()
    assert rep["states"] == {"failed": 2} and "gave up" in rep["last_error"]
    assert "s3cr3tpass" not in str(report) and "s3cr3tpass" not in str(summary)


def test_an_outage_shows_per_target_in_status_and_failed_deliveries_can_be_sent_again(tmp_path, json_receiver,
                                                                                        monkeypatch):
    from click.testing import CliRunner

    from monitor.cli import cli

    monkeypatch.setenv("HOOK_PASSWORD", "s3cr3tpass")
    port = json_receiver.port
    cfg, store = setup(tmp_path, target(f"json://user:${{HOOK_PASSWORD}}@127.0.0.1:{port}/hook", "hook")
                       + target(json_receiver.url("/other"), "other"), 'retry_base = "10s"\nretry_max_age = "1m"\n')
    dirs = ["--config", str(cfg.config_dir), "--state", str(cfg.state_dir)]
    json_receiver.status = 500  # the target answers with an error: an outage
    clock = Clock()
    notifier = Notifier(cfg, store, clock)
    queue(cfg, store, [alert(1), alert(2)])
    notifier.deliver_due()
    out = CliRunner().invoke(cli, ["status", *dirs]).output
    hook = next(line for line in out.splitlines() if line.startswith("target hook "))
    assert "json://user:****@127.0.0.1" in hook and "retrying 2" in hook and "last sent never" in hook
    assert "next attempt " + (clock.now + timedelta(seconds=10)).isoformat(timespec="seconds") in hook
    assert "last error: " in hook and "500" in hook
    assert "s3cr3tpass" not in out

    clock.advance(120)
    notifier.deliver_due()  # past retry_max_age: failed
    status = CliRunner().invoke(cli, ["status", "--json", *dirs])
    targets = {t["name"]: t for t in __import__("json").loads(status.output)["targets"]}
    assert targets["hook"]["states"] == {"failed": 2} and "gave up" in targets["hook"]["last_error"]
    assert "s3cr3tpass" not in status.output
    assert "monitor notify-retry" in CliRunner().invoke(cli, ["status", *dirs]).output

    json_receiver.status = 200  # the target is back
    bad = CliRunner().invoke(cli, ["notify-retry", "--target", "nope", *dirs])
    assert bad.exit_code == 2 and "no target named 'nope'; targets: hook, other" in bad.output
    done = CliRunner().invoke(cli, ["notify-retry", "--target", "hook", *dirs])
    assert done.exit_code == 0 and "re-queued 2 failed deliveries (target hook)" in done.output
    assert {r["state"] for r in store.query("SELECT state FROM deliveries WHERE target = 'hook'")} == {"pending"}
    assert notifier.deliver_due().sent == 2
    assert sum(p["_path"] == "/hook" for p in json_receiver.posts) == 2
    # the other target's failed deliveries were left alone by --target; without it, every target's
    assert "re-queued 2 failed deliveries (every target)" in CliRunner().invoke(cli, ["notify-retry", *dirs]).output
    assert "no failed deliveries to re-queue" in CliRunner().invoke(cli, ["notify-retry", *dirs]).output


def test_digest_target_gets_one_message_per_period(tmp_path, json_receiver):
    cfg, store = setup(tmp_path, target(json_receiver.url(), "digest", mode="digest", digest_every="1h"))
    clock = Clock()
    notifier = Notifier(cfg, store, clock)
    queue(cfg, store, [alert(i) for i in range(3)])
    assert notifier.deliver_due().held == 3
    boundary = notify._next_boundary(clock.now, 3600)
    clock.now = boundary - timedelta(seconds=1)
    assert notifier.deliver_due().messages == 0
    clock.now = boundary
    summary = notifier.deliver_due()
    assert (summary.sent, summary.messages) == (3, 1)
    wait_for(lambda: len(json_receiver.posts) == 1, what="one digest post")
    post = json_receiver.posts[0]
    assert post["title"] == "Story Monitor: 3 alerts (test-story)"
    assert all(f"Kirby says thing {i}" in post["message"] for i in range(3))


def test_rate_limit_folds_the_excess_into_the_next_digest(tmp_path, json_receiver):
    cfg, store = setup(tmp_path, target(json_receiver.url(), "hook", rate_limit=2, digest_every="10m"))
    clock = Clock()
    notifier = Notifier(cfg, store, clock)
    queue(cfg, store, [alert(i) for i in range(5)])
    first = notifier.deliver_due()
    assert (first.sent, first.held) == (2, 3)
    clock.now = notify._next_boundary(clock.now, 600)
    second = notifier.deliver_due()
    assert (second.sent, second.messages) == (3, 1)
    wait_for(lambda: len(json_receiver.posts) == 3, what="two single posts and one digest")
    every = " ".join(p["title"] + p["message"] for p in json_receiver.posts)
    assert all(every.count(f"Kirby says thing {i}") == 1 for i in range(5))


def test_quiet_hours_hold_then_send_one_digest(tmp_path, json_receiver):
    clock = Clock()
    start, end = clock.now - timedelta(hours=1), clock.now + timedelta(hours=1)
    window = f"{start:%H:%M}-{end:%H:%M}"
    cfg, store = setup(tmp_path, target(json_receiver.url(), "night", quiet_hours=window))
    notifier = Notifier(cfg, store, clock)
    queue(cfg, store, [alert(1), alert(2)])
    assert notifier.deliver_due().held == 2
    clock.advance(1800)
    assert notifier.deliver_due().messages == 0 and json_receiver.posts == []
    clock.now = end.replace(second=0, microsecond=0)
    assert notifier.deliver_due().messages == 1
    wait_for(lambda: len(json_receiver.posts) == 1, what="the digest after quiet hours")
    assert json_receiver.posts[0]["title"].startswith("Story Monitor: 2 alerts")


def test_a_syndicated_repeat_updates_the_event_and_sends_nothing(tmp_path, json_receiver):
    cfg, store = setup(tmp_path, target(json_receiver.url(), "hook"))
    notifier = Notifier(cfg, store)
    queue(cfg, store, [alert(1)])
    notifier.deliver_due()
    from monitor.models import Item
    repeat = Item(feed_url="https://other.example/rss", id="r1", title="Kirby says thing 1", text="...",
                  link="https://other.example/r1", published=None, feed_title="Other Outlet")
    store.save_poll(PollWrite(result=FeedResult(repeat.feed_url, status=200), items=[repeat], repeats=[("k1", repeat)]))
    assert notifier.deliver_due().sent == 0
    assert len(json_receiver.posts) == 1 and store.event("k1")["sources"] == 2


def test_two_deliverers_at_once_send_each_alert_once(tmp_path, json_receiver):
    cfg, store = setup(tmp_path, target(json_receiver.url(), "hook", rate_limit=100))
    queue(cfg, store, [alert(i) for i in range(20)])
    notifiers = [Notifier(cfg, store), Notifier(cfg, Store(cfg.database))]
    threads = [threading.Thread(target=n.deliver_due, kwargs={"wait": 10}) for n in notifiers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: len(json_receiver.posts) == 20, what="20 posts")
    assert len({p["title"] for p in json_receiver.posts}) == 20


def test_monitor_notify_urls_become_targets(tmp_path, json_receiver, monkeypatch):
    monkeypatch.setenv("MONITOR_NOTIFY_URLS", f"{json_receiver.url('/a')}, {json_receiver.url('/b')}")
    cfg, store = setup(tmp_path, "")
    assert len(cfg.notify.targets) == 2
    queue(cfg, store, [alert(1)])
    assert Notifier(cfg, store).deliver_due().sent == 2
    wait_for(lambda: len(json_receiver.posts) == 2, what="one post per env target")
    assert sorted(p["_path"] for p in json_receiver.posts) == ["/a", "/b"]


# ---------------------------------------------------------------- notify-test


def test_notify_test_reports_each_target_with_secrets_masked(tmp_path, json_receiver):
    good, bad = json_receiver.url(), "json://user:s3cr3tpass@127.0.0.1:9/hook"
    cdir = make_config(tmp_path, [], extra=f"\n[notify]\n{target(good, 'good')}{target('${HOOK_URL}', 'bad')}")
    env = {**os.environ, "HOOK_URL": bad}
    res = monitor_cmd("notify-test", "--config", str(cdir), "--state", str(tmp_path / "state"), env=env)
    assert res.returncode == 1, res.stderr
    lines = [line for line in res.stdout.splitlines() if line.startswith(("ok ", "FAILED ", "2 target"))]
    assert lines[0].startswith("ok      json://127.0.0.1:")
    assert lines[1].startswith("FAILED  json://user:****@127.0.0.1:9/hook") and "Connection error" in lines[1]
    assert lines[2] == "2 target(s): 1 accepted, 1 failed"
    assert "s3cr3tpass" not in res.stdout + res.stderr
    wait_for(lambda: len(json_receiver.posts) == 1, what="the test message")
    assert json_receiver.posts[0]["title"] == notify.TEST_TITLE


# ---------------------------------------------------------------- crash: SIGKILL with deliveries pending


def test_sigkill_during_delivery_loses_nothing_and_sends_nothing_twice(tmp_path, json_receiver):
    """Two alerts acknowledged, the third in flight (held unanswered by the receiver) when
    `monitor run` is killed with SIGKILL; after a restart every alert has arrived exactly once."""
    import signal
    import subprocess
    import sys

    cdir = make_config(tmp_path, [], extra=f'\n[notify]\nretry_base = "1s"\n{target(json_receiver.url(), "hook")}')
    cfg = config.load(cdir, tmp_path / "state")
    store = Store(cfg.database)
    queue(cfg, store, [alert(i) for i in range(6)])
    store.close()
    json_receiver.hold_after = 2
    args = [sys.executable, "-m", "monitor", "run", "--config", str(cdir), "--state", str(tmp_path / "state")]
    with (tmp_path / "run1.log").open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: json_receiver.held == 1, 20, "the third delivery to be in flight")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(json_receiver.posts) == 2
    json_receiver.hold_after = None
    json_receiver.release.set()

    with (tmp_path / "run2.log").open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        store = Store(cfg.database)
        wait_for(lambda: store.delivery_counts() == {"sent": 6}, 30, "all six deliveries marked sent")
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    titles = sorted(p["title"] for p in json_receiver.posts)
    assert titles == sorted(f"New statement: Kirby says thing {i}" for i in range(6))


def test_monitor_run_retries_through_an_outage_and_delivers_each_alert_once(tmp_path, json_receiver):
    """The service's periodic delivery job (every 10 s) retries after the receiver comes back."""
    import signal
    import subprocess
    import sys

    cdir = make_config(tmp_path, [], extra=f'\n[notify]\nretry_base = "1s"\n{target(json_receiver.url(), "hook")}')
    cfg = config.load(cdir, tmp_path / "state")
    store = Store(cfg.database)
    queue(cfg, store, [alert(i) for i in range(3)])
    json_receiver.down()
    args = [sys.executable, "-m", "monitor", "run", "--config", str(cdir), "--state", str(tmp_path / "state")]
    with (tmp_path / "run.log").open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: store.delivery_counts() == {"retrying": 3}, 20, "the first attempt to fail")
        json_receiver.up()
        wait_for(lambda: store.delivery_counts() == {"sent": 3}, 30, "all three sent after the outage")
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(p["title"] for p in json_receiver.posts) == [f"New statement: Kirby says thing {i}" for i in range(3)]
    assert "delivery failed target=hook" in (tmp_path / "run.log").read_text()
