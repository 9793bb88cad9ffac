"""The pipeline end to end against real feeds on 127.0.0.1 and a real SQLite file."""

from __future__ import annotations

import pytest

from monitor import config
from monitor.pipeline import Pipeline
from monitor.store import Store

from conftest import make_config, rss

FEED_V1 = rss(("a1", "First story", "Some text"), ("a2", "Second story", "<p>More <b>text</b></p>"))
FEED_V2 = rss(("a3", "Third story", "New text"), ("a1", "First story", "Some text"),
              ("a2", "Second story", "<p>More <b>text</b></p>"))


def open_pipeline(tmp_path, urls):
    cfg = config.load(make_config(tmp_path, urls), tmp_path / "state")
    store = Store(cfg.database)
    return cfg, store, Pipeline(cfg, store)


def titles(store):
    return sorted(r["title"] for r in store.query("SELECT title FROM items"))


def test_first_poll_stores_every_item_then_conditional_get_gets_304(tmp_path, feed_server):
    url = feed_server.set("/feed", FEED_V1, ETag='"v1"', Last_Modified="Thu, 24 Oct 2024 10:00:00 GMT")
    cfg, store, pipe = open_pipeline(tmp_path, [url])

    first = pipe.poll(cfg.feeds[0])
    assert (first.status, first.new_items) == ("ok", 2)
    assert titles(store) == ["First story", "Second story"]
    assert store.query("SELECT text FROM items WHERE title = 'Second story'").__next__()["text"] == "More text"

    second = pipe.poll(cfg.feeds[0])
    sent = feed_server.requests_to("/feed")[-1]
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Thu, 24 Oct 2024 10:00:00 GMT"
    assert "story-monitor" in sent["user-agent"]
    assert (second.status, second.new_items) == ("not_modified", 0)
    assert store.feed(url).last_status == 304


def test_changed_feed_stores_only_new_items(tmp_path, feed_server):
    url = feed_server.set("/feed", FEED_V1)
    cfg, store, pipe = open_pipeline(tmp_path, [url])
    pipe.poll(cfg.feeds[0])
    feed_server.set("/feed", FEED_V2)
    second = pipe.poll(cfg.feeds[0])
    assert second.new_items == 1
    assert titles(store) == ["First story", "Second story", "Third story"]
    assert store.feed(url).items == 3


def test_broken_feeds_are_marked_and_the_others_stored(tmp_path, feed_server):
    good = feed_server.set("/good", FEED_V1)
    down = feed_server.set("/down", "oops", status=500)
    garbage = feed_server.set("/garbage", b"\x00\x01 this is not xml at all {", Content_Type="text/plain")
    cfg, store, pipe = open_pipeline(tmp_path, [down, garbage, good])
    results = {s.feed_url: s for s in map(pipe.poll, cfg.feeds)}

    assert results[good].status == "ok" and results[good].new_items == 2
    assert results[down].status == "error" and "500" in results[down].error
    assert results[garbage].status == "error" and "not a feed" in results[garbage].error
    assert store.feed(down).consecutive_errors == 1
    assert "500" in store.feed(down).last_error
    assert titles(store) == ["First story", "Second story"]


def test_failing_feed_backs_off_and_recovers(tmp_path, feed_server):
    url = feed_server.set("/feed", "down", status=503, Retry_After="120")
    cfg, store, pipe = open_pipeline(tmp_path, [url])
    assert pipe.poll(cfg.feeds[0]).status == "error"
    assert pipe.poll(cfg.feeds[0]).status == "skipped"  # Retry-After honoured
    assert len(feed_server.requests_to("/feed")) == 1
    feed_server.set("/feed", FEED_V1)
    assert pipe.poll(cfg.feeds[0], force=True).status == "ok"
    state = store.feed(url)
    assert (state.consecutive_errors, state.last_error, state.next_poll) == (0, None, None)


def test_restart_stores_nothing_twice(tmp_path, feed_server):
    url = feed_server.set("/feed", FEED_V1)  # no ETag: every poll returns the full body
    cfg, store, pipe = open_pipeline(tmp_path, [url])
    pipe.poll(cfg.feeds[0])
    store.close()

    cfg2 = config.load(cfg.config_dir, cfg.state_dir)
    store2 = Store(cfg2.database)
    again = Pipeline(cfg2, store2).poll(cfg2.feeds[0])
    assert again.new_items == 0
    assert titles(store2) == ["First story", "Second story"]


def test_syndicated_link_is_stored_once(tmp_path, feed_server):
    a = feed_server.set("/a", rss(("x1", "Same article", "text")))
    b = feed_server.set("/b", rss(("other-guid", "Same article", "text")).replace(
        "https://news.example.org/other-guid", "https://news.example.org/x1?utm_source=rss"))
    cfg, store, pipe = open_pipeline(tmp_path, [a, b])
    assert [pipe.poll(f).new_items for f in cfg.feeds] == [1, 0]


def test_permanent_redirect_is_remembered_and_410_stops_polling(tmp_path, feed_server):
    new = feed_server.set("/new", FEED_V1)
    old = feed_server.set("/old", "", status=301, Location=new)
    cfg, store, pipe = open_pipeline(tmp_path, [old])
    assert pipe.poll(cfg.feeds[0]).new_items == 2
    assert store.feed(old).moved_to == new
    pipe.poll(cfg.feeds[0])
    assert feed_server.requests_to("/old").__len__() == 1  # second poll went straight to /new

    feed_server.set("/new", "", status=410)
    assert pipe.poll(cfg.feeds[0]).status == "gone"
    assert pipe.poll(cfg.feeds[0], force=True).status == "gone"
    assert len(feed_server.requests_to("/new")) == 3
    assert store.feed(old).gone


def test_a_cookie_set_before_a_redirect_is_sent_on(tmp_path, feed_server):
    """A "set a cookie, then redirect" wall in front of a feed: the cookie goes with the next hop."""
    def feed(h):
        ok = "wall=passed" in (h.headers.get("Cookie") or "")
        body = FEED_V1.encode() if ok else b"no cookie"
        h.send_response(200 if ok else 403)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    feed_server.responses["/feed"] = feed
    wall = feed_server.set("/wall", "", status=302, Location=feed_server.url("/feed"), **{"Set-Cookie": "wall=passed; Path=/"})
    cfg, store, pipe = open_pipeline(tmp_path, [wall])
    summary = pipe.poll(cfg.feeds[0])
    assert (summary.status, summary.new_items) == ("ok", 2), summary


def test_a_proxy_from_the_environment_is_used(tmp_path, feed_server, monkeypatch):
    """HTTP_PROXY is honoured: the feed's host need not resolve, the proxy fetches it."""
    url = "http://feed.story-monitor.invalid/news.xml"
    feed_server.set(url, FEED_V1)  # a proxy is asked for the absolute URL
    monkeypatch.setenv("HTTP_PROXY", feed_server.url("").rstrip("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    cfg, store, pipe = open_pipeline(tmp_path, [url])
    try:
        summary = pipe.poll(cfg.feeds[0])
    finally:
        pipe.close()
    assert (summary.status, summary.new_items) == ("ok", 2), summary
    assert [path for path, _ in feed_server.requests] == [url]


def test_poll_many_with_a_parse_process_stores_like_poll(tmp_path, feed_server):
    urls = [feed_server.set(f"/f{i}", rss((f"g{i}", f"Item {i}", "text"), (f"h{i}", f"Other {i}", "x")), ETag=f'"{i}"')
            for i in range(5)] + [feed_server.set("/broken", "no", status=500)]
    cfg = config.load(make_config(tmp_path, urls), tmp_path / "state")
    store = Store(cfg.database)
    pipe = Pipeline(cfg, store, parse_processes=1)
    try:
        first = pipe.poll_many(list(cfg.feeds), window=2)
        assert [s.feed_url for s in first] == urls  # config order, whatever finished first
        assert [s.new_items for s in first] == [2, 2, 2, 2, 2, 0]
        assert first[-1].status == "error"
        second = pipe.poll_many(list(cfg.feeds), force=True)
        assert [s.status for s in second] == ["not_modified"] * 5 + ["error"]
    finally:
        pipe.close()
    assert len(titles(store)) == 10


def test_a_304_pass_keeps_every_feeds_bookkeeping_in_one_transaction(tmp_path, feed_server):
    """poll_many writes the bookkeeping of its 304s together (one transaction, not one per feed);
    a feed that was alerted as failing still gets its own poll write and its recovery alert."""
    urls = [feed_server.set(f"/f{i}", rss((f"g{i}", f"Item {i}", "text")), ETag=f'"{i}"') for i in range(4)]
    cfg, store, pipe = open_pipeline(tmp_path, urls)
    try:
        pipe.poll_many(list(cfg.feeds))
        store.update_feed(urls[0], failing_alerted=1, consecutive_errors=3, last_error="was down")
        before = {u: store.feed(u) for u in urls}
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        second = pipe.poll_many(list(cfg.feeds), force=True)
        store.conn.set_trace_callback(None)
    finally:
        pipe.close()
    assert [s.status for s in second] == ["not_modified"] * 4
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"] * 2  # the recovery, the rest
    for u in urls:
        after = store.feed(u)
        assert (after.last_status, after.consecutive_errors, after.last_error, after.etag) == (304, 0, None, before[u].etag)
        assert after.last_poll >= before[u].last_poll and after.last_duration is not None
    kinds = [r["kind"] for r in store.query("SELECT kind FROM events")]
    assert kinds == ["feed_recovered"] and not store.feed(urls[0]).failing_alerted


def test_a_dead_parse_process_fails_that_feed_and_a_new_pool_serves_the_next(tmp_path, feed_server):
    import os
    import signal

    url = feed_server.set("/feed", FEED_V1)
    cfg = config.load(make_config(tmp_path, [url]), tmp_path / "state")
    pipe = Pipeline(cfg, Store(cfg.database), parse_processes=1)
    try:
        assert pipe.poll(cfg.feeds[0]).new_items == 2
        for pid in list(pipe.pool._processes):  # the worker dies as the OOM killer would kill it
            os.kill(pid, signal.SIGKILL)
        feed_server.set("/feed", FEED_V2)
        failed = pipe.poll(cfg.feeds[0], force=True)
        assert failed.status == "error" and "parser process died" in failed.error
        assert pipe.poll(cfg.feeds[0], force=True).new_items == 1
    finally:
        pipe.close()


def test_entries_seen_in_the_last_document_are_not_parsed_again_even_after_a_restart(tmp_path, feed_server):
    url = feed_server.set("/feed", FEED_V1)
    cfg, store, pipe = open_pipeline(tmp_path, [url])
    assert pipe.poll(cfg.feeds[0]).new_items == 2
    assert len(store.feed(url).entry_digests.split()) == 2
    pipe.close()
    store.db.execute("DELETE FROM items")  # were the old entries parsed, they would be stored again
    store.db.conn.commit()
    store.close()
    cfg = config.load(cfg.config_dir, cfg.state_dir)  # a restart: what was seen comes from the store
    store = Store(cfg.database)
    pipe = Pipeline(cfg, store)
    feed_server.set("/feed", FEED_V2)
    second = pipe.poll(cfg.feeds[0])
    assert second.new_items == 1
    assert titles(store) == ["Third story"]
    assert len(store.feed(url).entry_digests.split()) == 3
    pipe.close()


def test_a_schema_1_store_gains_the_entry_digests_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE feeds DROP COLUMN entry_digests")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    store = Store(path)
    store.update_feed("https://a.example.org/feed", entry_digests="d1 d2")
    assert store.feed("https://a.example.org/feed").entry_digests == "d1 d2"
    store.close()


def test_a_parse_process_over_its_memory_cap_fails_that_feed_only(tmp_path, feed_server, monkeypatch):
    from monitor import pipeline

    monkeypatch.setattr(pipeline, "PARSE_MEMORY", 100 << 20)
    para = "Officials said the talks would resume next week. " * 20
    huge = rss(("h1", "Huge", para * (9_000_000 // len(para))))  # feedparser needs ~10x: over the cap
    big = feed_server.set("/huge", huge)
    good = feed_server.set("/good", FEED_V1)
    cfg = config.load(make_config(tmp_path, [big, good]), tmp_path / "state")
    pipe = Pipeline(cfg, Store(cfg.database), parse_processes=1)
    try:
        results = pipe.poll_many(list(cfg.feeds))
        assert (results[0].status, pipe.store.feed(big).error_reason) == ("error", "parser_failed"), results[0]
        assert "MemoryError" in results[0].error
        assert (results[1].status, results[1].new_items) == ("ok", 2)
    finally:
        pipe.close()


def test_tls_roots_are_loaded_only_for_https(tmp_path, feed_server):
    """A run over http feeds never builds the TLS context (~20 ms of a command-line 304 pass);
    the first https request builds it, with certifi's roots, and a certificate they do not
    vouch for is a "tls" error."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from monitor.errors import FeedError
    from monitor.fetch import Fetcher

    from hostile_cases import self_signed_cert

    fetcher = Fetcher(timeout=5)
    try:
        result = fetcher.fetch(feed_server.set("/feed", rss(("g1", "A title", "text"))), None, None)
        assert result.body and fetcher._tls is None
        made = self_signed_cert(tmp_path)
        if made is None:
            pytest.skip("no openssl CLI to make a certificate")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*made)

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # the client refusing our certificate is the point

        httpd = Quiet(("127.0.0.1", 0), BaseHTTPRequestHandler)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            with pytest.raises(FeedError) as err:
                fetcher.fetch(f"https://127.0.0.1:{httpd.server_address[1]}/feed", None, None)
        finally:
            httpd.shutdown()
            httpd.server_close()
        assert err.value.reason == "tls"
        assert fetcher._tls is not None and fetcher._tls.cert_store_stats()["x509_ca"] > 100  # certifi's roots
    finally:
        fetcher.close()


def test_at_most_two_large_bodies_are_held_at_once_and_every_slot_comes_back(tmp_path, feed_server):
    """Six feeds of 1.5 MB polled together (window 6): however many arrive at once, at most two
    large bodies are held (fetch.LARGE_AT_ONCE), each until it is parsed and dropped; bodies over
    the cap free their slot at once; afterwards no slot is held and a large feed still fetches."""
    from conftest import wait_for

    big = "Officials said the talks would resume. " * 40_000  # ~1.6 MB
    urls = [feed_server.set(f"/big{i}", rss((f"b{i}", f"Big {i}", big))) for i in range(6)]
    urls += [feed_server.set(f"/huge{i}", rss((f"h{i}", "Huge", big * 3))) for i in range(2)]  # over max_bytes
    cdir = make_config(tmp_path, urls)
    text = (cdir / "monitor.toml").read_text()
    (cdir / "monitor.toml").write_text(text.replace("[service]\n", "[service]\nmax_bytes = 3000000\n", 1))
    cfg = config.load(cdir, tmp_path / "state")
    store = Store(cfg.database)
    pipe = Pipeline(cfg, store, parse_processes=1)
    try:
        got = pipe.poll_many(list(cfg.feeds), window=8)
        assert [s.status for s in got] == ["ok"] * 6 + ["error"] * 2
        assert [s.new_items for s in got[:6]] == [1] * 6
        assert pipe.fetcher.large_peak == 2
        wait_for(lambda: pipe.fetcher.large_held == 0, what="every large-body slot to come back")
        feed_server.set("/big0", rss(("b0-2", "Big again", big)))
        assert pipe.poll(cfg.feeds[0]).new_items == 1
        wait_for(lambda: pipe.fetcher.large_held == 0, what="the slot of a single poll to come back")
    finally:
        pipe.close()


def test_a_large_read_goes_on_without_a_slot_when_none_comes_back(tmp_path, feed_server, caplog):
    """Slots held too long (as if two bodies were kept by mistake) slow a large fetch by half its
    deadline, never stop it: it proceeds without a slot and says so."""
    import asyncio
    import logging
    import time

    from monitor.fetch import Fetcher

    url = feed_server.set("/big", rss(("b", "Big", "Officials said the talks would resume. " * 40_000)))
    fetcher = Fetcher(timeout=2)
    try:
        for _ in range(2):
            asyncio.run_coroutine_threadsafe(fetcher.large_slots.acquire(), fetcher.loop).result(5)
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="monitor.fetch"):
            result = fetcher.fetch(url)
        assert result.status == 200 and len(result.body) > 1_000_000
        assert 0.9 < time.monotonic() - start < 2  # waited half its deadline, then read on
        assert "large body read without a slot" in caplog.text and url in caplog.text
    finally:
        fetcher.close()
