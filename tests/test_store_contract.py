"""One suite, both engines: every public store method behaves the same on SQLite (store.py) and on
PostgreSQL (store_pg.py, a real server from tests/pg.py), plus what only several workers on
PostgreSQL need (leases, delivery claims, a conflicting event key, a dropped connection)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from monitor.errors import StoreError
from monitor.models import Alert, FeedResult, Item, Match
from monitor.store import PollWrite, StaleLedger, open_store

FEED = "http://127.0.0.1:1/feed"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    """What `open_store` takes: a fresh SQLite file, or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "monitor.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(database):
    s = open_store(database, lease=60)
    yield s
    s.close()


def iso(delta: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=delta)).isoformat(timespec="seconds")


def item(n: int, link: bool = True, feed: str = FEED) -> Item:
    return Item(feed_url=feed, id=f"g{n}", title=f"Title {n}", text=f"Text {n}",
                link=f"https://example.org/{n}" if link else None,
                published=datetime(2024, 10, 24, n % 24, tzinfo=timezone.utc), authors=("A",), feed_title="Feed")


def relevant(story: str = "s") -> Match:
    return Match(story=story, relevant=True, score=90, threshold=75, actors=("kirby",))


def alert(key: str, it: Item | None, story: str = "s") -> Alert:
    return Alert(key=key, story=story, kind="statement", title=f"t {key}", body="b", link=it.link if it else None,
                 outlet="Feed", item_id=it.id if it else None, feed_url=FEED, actor="kirby", data={"n": 1})


def write(store, items, matches=None, alerts=(), repeats=(), deliveries=(), mark=None, status=200, error=None):
    return store.save_poll(PollWrite(result=FeedResult(FEED, status, tuple(items), error=error),
                                     items=store.unseen(items), matches=matches or {}, alerts=list(alerts),
                                     repeats=list(repeats), deliveries=list(deliveries), events_mark=mark))


def test_feeds_sync_update_and_read(store):
    store.sync_feeds([(FEED, "Feed"), ("http://127.0.0.1:1/b", "")])
    store.sync_feeds([(FEED, "")])  # an empty title keeps the stored one
    assert store.feed(FEED).title == "Feed"
    store.update_feed(FEED, etag='"e1"', consecutive_errors=2, gone=1)
    st = store.feed(FEED)
    assert (st.etag, st.consecutive_errors, st.gone) == ('"e1"', 2, True)
    assert [f.url for f in store.feeds()] == sorted([FEED, "http://127.0.0.1:1/b"])
    assert [f.url for f in store.feeds([FEED, FEED])] == [FEED]
    assert store.feed("http://127.0.0.1:1/none").title == ""  # unknown: a blank state


def test_save_poll_items_matches_events_sources_deliveries(store):
    its = [item(n) for n in range(4)] + [item(9, link=False)]
    mark = write(store, its, matches={"g0": [relevant()]}, alerts=[alert("k0", its[0])],
                 repeats=[("k0", its[1])], deliveries=[("k0", "t1"), ("k0", "t2")], mark=store.events_mark())
    assert mark == store.events_mark() and mark > 0
    assert store.counts() == {"items": 5, "relevant": 1, "events": 1}
    assert store.story_counts() == {"s": {"relevant": 1, "events": 1}}
    assert store.unseen(its + [item(5)]) == [item(5)]
    assert store.find_item("https://example.org/2").id == "g2"
    assert [r["item_id"] for r in store.items(relevant_only=True)] == ["g0"]
    assert [r["item_id"] for r in store.items(story="s")] == ["g0"]
    assert len(store.items(limit=3)) == 3
    ev = store.events()[0]
    assert (ev["key"], ev["sources"], ev["data"]) == ("k0", 2, {"n": 1})
    assert {s["link"] for s in ev["source_list"]} == {"https://example.org/0", "https://example.org/1"}
    assert [d["target"] for d in ev["deliveries"]] == ["t1", "t2"]
    assert store.event("k0")["title"] == "t k0" and store.event("nope") is None
    assert [a.key for a in store.alerts("s")] == ["k0"] and store.alerts("other") == []
    assert store.delivery_alerts(["k0"])["k0"][1] == 2
    st = store.feed(FEED)
    assert (st.items, st.last_status, st.consecutive_errors) == (5, 200, 0)
    write(store, [], status=500, error="boom")
    assert (store.feed(FEED).consecutive_errors, store.feed(FEED).last_error) == (1, "boom")


def test_stale_ledger_and_alerts_after(database, store):
    mark = store.events_mark()
    other = open_store(database)  # another process
    try:
        other.save_alerts([alert("k1", None)], [("k1", "t1")])
        with pytest.raises(StaleLedger):
            write(store, [item(1)], matches={"g1": [relevant()]}, alerts=[alert("k2", item(1))], mark=mark)
        assert store.counts()["items"] == 0  # nothing of the stale poll was written
        assert [a.key for a in store.alerts_after(mark)] == ["k1"]
        new = write(store, [item(1)], matches={"g1": [relevant()]}, alerts=[alert("k2", item(1))],
                    mark=store.events_mark())
        assert [a.key for a in store.alerts_after(mark)] == ["k1", "k2"] and store.alerts_after(new) == []
    finally:
        other.close()


def test_deliveries_outbox(store):
    write(store, [item(1)], alerts=[alert("k1", item(1))], deliveries=[("k1", "a"), ("k1", "b")])
    due = store.due_deliveries(at=iso(1))
    assert [d["target"] for d in due] == ["a", "b"] and len(store.pending_deliveries()) == 2
    a, b = due
    store.mark_deliveries([(a["id"], {"state": "sending"})])
    store.mark_delivery(a["id"], state="sent", sent_at=iso(), attempts=1)
    store.mark_delivery(b["id"], state="failed", last_error="nope", attempts=3)
    assert store.delivery_counts() == {"sent": 1, "failed": 1}
    assert store.sent_since("a", iso(-60)) == 1 and store.instant_sent_since("a", iso(-60)) == 1
    assert [f["target"] for f in store.failed_deliveries()] == ["b"]
    rep = store.target_report()
    assert rep["a"]["states"] == {"sent": 1} and rep["b"]["last_error"] == "nope"
    assert store.requeue_failed("b") == 1 and store.delivery_counts() == {"sent": 1, "pending": 1}


def test_release_claims_sends_orphans_again(store):
    write(store, [item(1)], alerts=[alert("k1", item(1))], deliveries=[("k1", "a"), ("k1", "b")])
    a, b = store.due_deliveries(at=iso(1))
    store.mark_deliveries([(a["id"], {"state": "sending"}), (b["id"], {"state": "sending"})])
    assert store.release_claims([b["id"]], iso()) == 1  # `keep`: outcomes still held in memory
    assert {d["id"]: d["state"] for d in store.query("SELECT id, state FROM deliveries")} == {
        a["id"]: "retrying", b["id"]: "sending"}
    assert store.release_claims([b["id"]], iso()) == 0


def test_prune_keeps_events_and_relevant(store):
    write(store, [item(1), item(2), item(3)], matches={"g1": [relevant()]}, alerts=[alert("k3", item(3))])
    assert store.prune(iso(3600)) == 1  # g2 only: g1 relevant, g3 an event's source
    assert store.counts()["items"] == 2 and store.prune(iso(-3600)) == 0


def test_schema_version_read_only_and_writable(database, store):
    assert store.writable() is None
    store.migrate()  # again: nothing to do
    ro = open_store(database, read_only=True)
    try:
        assert ro.counts() == {"items": 0, "relevant": 0, "events": 0}
    finally:
        ro.close()


def test_query_and_metrics_shape(store):
    write(store, [item(1)], alerts=[alert("k1", item(1))])
    rows = list(store.query("SELECT story, kind, COUNT(*) AS n FROM events GROUP BY story, kind"))
    assert rows == [{"story": "s", "kind": "statement", "n": 1}]


def test_worker_contract(database, store):
    """claim_feed / release_feed / beat / workers / leases: one worker per feed on PostgreSQL;
    on SQLite (one service per file) every claim is granted and nothing is listed."""
    other = open_store(database, lease=60)
    try:
        assert store.claim_feed(FEED, min_gap=600)
        store.beat("a problem")
        if not store.shared:
            assert other.claim_feed(FEED) and store.workers() == [] and store.leases() == []
            return
        assert not other.claim_feed(FEED)  # held by `store`
        assert store.claim_feed(FEED, min_gap=600)  # our own: a failed save polled again
        assert store.leases() == [{"url": FEED, "owner": store.worker_id, "until": store.leases()[0]["until"]}]
        assert [(w["id"], w["problem"]) for w in store.workers()] == [(store.worker_id, "a problem")]
        store.release_feed(FEED)
        assert store.leases() == []
        assert store.claim_feed("http://127.0.0.1:1/other")
        store.retire()  # a clean stop: its leases free, its row gone
        assert store.leases() == [] and store.workers() == []
        assert not other.claim_feed(FEED, min_gap=600)  # polled moments ago: not due
        assert other.claim_feed(FEED, min_gap=0)
    finally:
        other.close()


# ---------------------------------------------------------------- PostgreSQL only: several workers


@pytest.fixture
def two(pg_url):
    a, b = open_store(pg_url, lease=60), open_store(pg_url, lease=60)
    yield a, b
    a.close()
    b.close()


def test_expired_lease_is_taken_over(pg_url):
    dead, alive = open_store(pg_url, lease=-1), open_store(pg_url, lease=60)
    try:
        assert dead.claim_feed(FEED)  # lease -1 s: expired already, as if its worker died
        assert alive.claim_feed(FEED, min_gap=0)
        assert alive.leases()[0]["owner"] == alive.worker_id
    finally:
        dead.close()
        alive.close()


def test_a_worker_whose_clock_runs_fast_takes_no_live_lease_or_claim(two):
    """Leases and claims are stamped by the server's clock: a host ten minutes fast does not see
    another worker's live lease (60 s) as expired, nor its delivery claim."""
    a, fast = two
    fast._local = lambda: datetime.now(timezone.utc) + timedelta(minutes=10)
    fast.beat()  # measures the skew, as every heartbeat does
    assert abs(fast.clock() - a.clock()) < timedelta(seconds=5)
    assert a.claim_feed(FEED)
    assert not fast.claim_feed(FEED, min_gap=0)
    write(a, [item(1)], alerts=[alert("k1", item(1))], deliveries=[("k1", "t")])
    assert len(a.due_deliveries(at=iso(1))) == 1
    assert fast.due_deliveries(at=iso(1)) == []
    assert [w["id"] for w in fast.workers()] == [fast.worker_id]  # its beat: now by the server, not +10 min
    assert datetime.fromisoformat(fast.workers()[0]["seen_at"]) < datetime.now(timezone.utc) + timedelta(minutes=1)


def test_workers_unseen_for_long_are_forgotten(two):
    """A killed worker never retires: the daily prune drops its row, and only rows unseen since
    the cutoff (a live worker's next beat would bring its row back anyway)."""
    a, b = two
    a.beat()
    b.beat()
    assert a.forget_workers(iso(-3600)) == 0 and len(a.workers()) == 2
    assert a.forget_workers(iso(3600)) == 2 and a.workers() == []
    b.beat()
    assert [w["id"] for w in a.workers()] == [b.worker_id]


def test_each_delivery_is_handed_to_one_worker(two):
    a, b = two
    write(a, [item(1)], alerts=[alert("k1", item(1))], deliveries=[("k1", f"t{n}") for n in range(6)])
    got_a = a.due_deliveries(at=iso(1), limit=4)
    got_b = b.due_deliveries(at=iso(1))
    assert len(got_a) == 4 and len(got_b) == 2
    assert not {d["id"] for d in got_a} & {d["id"] for d in got_b}
    assert [d["id"] for d in b.due_deliveries(at=iso(1))] == [d["id"] for d in got_b]  # its own stay its own
    assert [d["id"] for d in a.due_deliveries(at=iso(1))] == [d["id"] for d in got_a]  # b's are not a's
    assert {d["claimed_by"] for d in got_a} == {a.worker_id}


def test_sending_rows_of_a_dead_worker_are_released_after_expiry(pg_url):
    dead, alive = open_store(pg_url, lease=-1), open_store(pg_url, lease=60)
    try:
        write(dead, [item(1)], alerts=[alert("k1", item(1))], deliveries=[("k1", "t")])
        (row,) = dead.due_deliveries(at=iso(1))
        dead.mark_deliveries([(row["id"], {"state": "sending"})])
        assert alive.release_claims([], iso()) == 1  # its claim expired: sent again
        assert [d["id"] for d in alive.due_deliveries(at=iso(1))] == [row["id"]]
        alive.mark_deliveries([(row["id"], {"state": "sending"})])
        assert dead.release_claims([], iso()) == 0  # a live worker's row is not taken
    finally:
        dead.close()
        alive.close()


def test_conflicting_event_key_is_a_repeat_without_deliveries(two):
    a, b = two
    write(a, [item(1)], alerts=[alert("k1", item(1))], deliveries=[("k1", "t")])
    # b decided without the check (events_mark None, the pipeline's last attempt): the key decides
    write(b, [item(2)], alerts=[alert("k1", item(2))], deliveries=[("k1", "t2")], mark=None)
    assert a.counts()["events"] == 1 and a.event("k1")["sources"] == 2
    assert [d["target"] for d in a.pending_deliveries()] == ["t"]


def test_dropped_connection_is_recovered(pg_cluster, pg_url):
    store = open_store(pg_url)
    try:
        write(store, [item(1)])
        pg_cluster.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           f"WHERE datname = '{pg_url.rsplit('/', 1)[1]}' AND pid <> pg_backend_pid()")
        write(store, [item(2)])  # the pool lends a checked connection: nothing lost
        assert store.counts()["items"] == 2
    finally:
        store.close()


def test_unreachable_database_is_a_store_error_without_the_password(pg_cluster):
    url = pg_cluster.url("postgres").replace(pg_cluster.password, "wrong-secret-1234")
    with pytest.raises(StoreError) as err:
        open_store(url)
    assert "wrong-secret-1234" not in str(err.value) and "****" in str(err.value)
    assert "password authentication failed" in str(err.value)
