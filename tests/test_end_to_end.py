"""The whole product, as a user runs it: the shipped story, feeds on 127.0.0.1, `monitor check`,
alerts at a real json:// receiver and a real SMTP server; syndication, restarts, new figures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import make_config, monitor_cmd, rss

ROOT = Path(__file__).parent.parent

RUTTE = ("p1", "NATO's Rutte confirms North Korean troops have been sent to Russia",
         "NATO Secretary General Mark Rutte said on Monday that North Korean troops had been sent to "
         "Russia and that units were deployed to the Kursk region.")
RUTTE_AGAIN = ("p2", "North Korean troops sent to Russia, NATO chief Rutte confirms",
               "Mark Rutte, the NATO secretary general, confirmed North Korean troops have been sent to Russia "
               "and deployed to the Kursk region.")
FIGURE = ("f1", "Pentagon says 10,000 North Korean troops are in Russia",
          "About 10,000 North Korean soldiers have been sent to Russia for training, the Pentagon said.")
FIGURE_UP = ("f2", "Up to 12,000 North Korean troops now in Russia, Pentagon says",
             "The Pentagon said up to 12,000 North Korean soldiers are now in Russia.")
OFF_TOPIC = ("o1", "Putin hosts BRICS summit in Kazan", "Leaders gathered in Kazan for the BRICS summit.")
HOSTILE = ("h1", "<!channel> @here <script>alert(1)</script> Peskov: North Korean troops in Russia are a fake",
           "Kremlin spokesman Dmitry Peskov said claims about North Korean troops in Russia were fake.")


def story_config(tmp_path: Path, feeds: list[str], targets: str) -> Path:
    cdir = make_config(tmp_path, feeds, extra=targets)
    (cdir / "stories" / "test.toml").unlink()
    shutil.copy(ROOT / "config" / "stories" / "nk-troops-kursk.toml", cdir / "stories")
    return cdir


def check(cdir: Path, tmp_path: Path) -> str:
    res = monitor_cmd("check", "--config", str(cdir), "--state", str(tmp_path / "state"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    return res.stdout


def test_one_alert_per_novelty_across_outlets_restarts_and_updates(tmp_path, feed_server, json_receiver):
    a = feed_server.set("/a", rss(RUTTE, OFF_TOPIC, title="Outlet A"))
    b = feed_server.set("/b", rss(RUTTE_AGAIN, title="Outlet B"))
    cdir = story_config(tmp_path, [a, b], f'[[notify.targets]]\nurl = "{json_receiver.url()}"\n')

    check(cdir, tmp_path)
    assert len(json_receiver.posts) == 1, json_receiver.posts  # syndicated: one statement alert
    assert "Rutte" in json_receiver.posts[0]["title"]

    check(cdir, tmp_path)  # a new process on the same state: nothing new, nothing re-sent
    assert len(json_receiver.posts) == 1

    feed_server.set("/a", rss(FIGURE, RUTTE, OFF_TOPIC, title="Outlet A"))
    check(cdir, tmp_path)
    titles = [p["title"] for p in json_receiver.posts]
    figures = [t for t in titles if "10,000" in t and "figure" in t.lower()]
    assert len(figures) == 1, titles

    feed_server.set("/b", rss(FIGURE_UP, RUTTE_AGAIN, title="Outlet B"))
    check(cdir, tmp_path)
    titles = [p["title"] for p in json_receiver.posts]
    up = [t for t in titles if "12,000" in t and "figure" in t.lower()]
    assert len(up) == 1 and "up from 10,000" in up[0], titles  # with the previous value

    status = json.loads(monitor_cmd("status", "--json", "--config", str(cdir), "--state", str(tmp_path / "state")).stdout)
    assert status["stories"]["nk-troops-kursk"]["events"] == len(json_receiver.posts)
    assert status["deliveries"] == {"sent": len(json_receiver.posts)}


def test_hostile_title_arrives_escaped_by_email_and_webhook(tmp_path, feed_server, json_receiver, smtp_server):
    a = feed_server.set("/a", rss(HOSTILE))
    cdir = story_config(tmp_path, [a], f'[[notify.targets]]\nurl = "{json_receiver.url()}"\n'
                                       f'[[notify.targets]]\nurl = "{smtp_server.url()}"\n')
    check(cdir, tmp_path)
    assert len(json_receiver.posts) == 1 and len(smtp_server.messages) == 1
    post = json_receiver.posts[0]["title"] + json_receiver.posts[0]["message"]
    mail = smtp_server.messages[0]
    html = mail.get_body(("html",)).get_content()
    for text in (post, html, str(mail["Subject"])):
        assert "<!channel>" not in text and "@here" not in text and "<script>" not in text
    assert "Peskov" in post
