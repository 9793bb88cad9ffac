"""The CLI as a user runs it: real child processes, real feeds on 127.0.0.1, real SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import make_config, monitor_cmd, rss, wait_for


def dirs(cdir, tmp_path):
    return ["--config", str(cdir), "--state", str(tmp_path / "state")]


def test_check_polls_three_feeds_and_status_shows_them(tmp_path, feed_server):
    urls = [feed_server.set(f"/f{i}", rss((f"g{i}", f"Item {i}", "text"), (f"h{i}", f"Other {i}", "x")))
            for i in range(3)]
    cdir = make_config(tmp_path, urls)
    res = monitor_cmd("check", *dirs(cdir, tmp_path))
    assert res.returncode == 0, res.stderr
    assert "3 feeds polled: 3 ok, 0 failed; 6 new items" in res.stdout

    table = monitor_cmd("status", *dirs(cdir, tmp_path))
    assert table.returncode == 0, table.stderr
    for url in urls:
        assert url in table.stdout
    data = json.loads(monitor_cmd("status", "--json", *dirs(cdir, tmp_path)).stdout)
    assert {f["url"]: (f["last_status"], f["items"]) for f in data["feeds"]} == {u: (200, 2) for u in urls}


def test_a_check_of_304s_starts_only_what_it_needs(tmp_path, feed_server):
    """`monitor check` when no feed has anything new: no parser, parse pool, matching, extraction, Apprise,
    sqlite-utils or prometheus_client imported (each costs start-up time a 304 pass need not pay)."""
    urls = [feed_server.set(f"/f{i}", rss((f"g{i}", f"Item {i}", "text")), ETag=f'"{i}"') for i in range(2)]
    cdir = make_config(tmp_path, urls)
    assert monitor_cmd("check", *dirs(cdir, tmp_path)).returncode == 0
    heavy = ["monitor.parse", "monitor.workers", "monitor.match", "monitor.extract", "monitor.novelty", "feedparser",
             "apprise", "sqlite_utils", "prometheus_client"]
    code = ("import sys\nfrom monitor.cli import cli\ntry:\n    cli(sys.argv[1:])\nexcept SystemExit as e:\n"
            f"    print('exit', e.code, [m for m in {heavy!r} if m in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code, "check", *dirs(cdir, tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert "2 feeds polled: 2 ok, 0 failed; 0 new items" in res.stdout, res.stderr
    assert res.stdout.strip().endswith("exit 0 []"), res.stdout


def test_check_exits_1_only_when_every_feed_failed(tmp_path, feed_server):
    bad = feed_server.set("/bad", "no", status=500)
    good = feed_server.set("/good", rss(("g", "Item", "text")))
    res = monitor_cmd("check", *dirs(make_config(tmp_path / "a", [bad, good]), tmp_path / "a"))
    assert res.returncode == 0 and "1 failed" in res.stdout
    res = monitor_cmd("check", *dirs(make_config(tmp_path / "b", [bad]), tmp_path / "b"))
    assert res.returncode == 1
    assert "bad HTTP status 500" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr


def test_feeds_add_import_export_keep_comments(tmp_path):
    cdir = make_config(tmp_path, ["https://one.example.org/rss"])
    (cdir / "monitor.toml").write_text("# my comment\n" + (cdir / "monitor.toml").read_text())
    res = monitor_cmd("feeds", "add", "https://two.example.org/feed", "--title", "Two", *dirs(cdir, tmp_path))
    assert res.returncode == 0 and "added https://two.example.org/feed" in res.stdout
    opml = tmp_path / "subs.opml"
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><body><outline text="News">'
                    '<outline text="Three" xmlUrl="https://three.example.org/atom"/>'
                    '<outline text="Two again" xmlUrl="https://two.example.org/feed"/></outline></body></opml>')
    res = monitor_cmd("feeds", "import", str(opml), *dirs(cdir, tmp_path))
    assert "1 feed(s) added, 1 already present" in res.stdout
    assert (cdir / "monitor.toml").read_text().startswith("# my comment")
    listed = monitor_cmd("feeds", "list", *dirs(cdir, tmp_path)).stdout
    assert [line.split("\t")[0] for line in listed.splitlines()] == [
        "https://one.example.org/rss", "https://two.example.org/feed", "https://three.example.org/atom"]
    exported = monitor_cmd("feeds", "export", *dirs(cdir, tmp_path)).stdout
    assert exported.count("<outline ") == 3 and 'xmlUrl="https://three.example.org/atom"' in exported


def test_feeds_add_rejects_a_bad_url(tmp_path):
    cdir = make_config(tmp_path, [])
    res = monitor_cmd("feeds", "add", "not-a-url", *dirs(cdir, tmp_path))
    assert res.returncode == 2 and "not an http(s) URL" in res.stderr


def test_run_polls_and_stops_cleanly_on_sigterm(tmp_path, feed_server):
    url = feed_server.set("/feed", rss(("g1", "Item", "text")))
    cdir = make_config(tmp_path, [url])
    out = tmp_path / "out.log"
    with out.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", *dirs(cdir, tmp_path)],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "feed polled status=ok" in out.read_text(), 20, "the first poll's log line")
        line = next(l for l in out.read_text().splitlines() if "feed polled" in l)
        assert f"feed={url}" in line and "new=1" in line and "duration=" in line
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        assert "service stopped" in out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_run_refuses_invalid_config(tmp_path):
    cdir = make_config(tmp_path, ["gopher://x"])
    res = monitor_cmd("run", *dirs(cdir, tmp_path), timeout=20)
    assert res.returncode == 2
    assert "feeds[0].url" in res.stderr and "nothing was started" in res.stderr
