"""The store stays fast and keeps what matters: every query it makes uses an index, and pruning
(service.retention_days) never deletes events, relevant items or items an event points at."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from monitor.models import Alert, FeedResult, Item, Match
from monitor.store import PollWrite, Store

FEED = "http://127.0.0.1:1/feed"
# Tables that grow with time; a full scan of one of them is a query that gets slower every day.
GROWING = ("items", "matches", "event_sources", "deliveries")


def item(n: int, link: bool = True) -> Item:
    return Item(feed_url=FEED, id=f"g{n}", title=f"Title {n}", text=f"Text {n}",
                link=f"https://example.org/{n}" if link else None,
                published=datetime(2024, 10, 24, tzinfo=timezone.utc), authors=("A",), feed_title="Feed")


def relevant(story: str = "s") -> Match:
    return Match(story=story, relevant=True, score=90, threshold=75, actors=("zelensky",))


def alert(key: str, it: Item | None) -> Alert:
    return Alert(key=key, story="s", kind="figure", title="t", body="b", link=it.link if it else None,
                 outlet="Feed", item_id=it.id if it else None, feed_url=FEED)


def poll(store: Store, items: list[Item], matches: dict | None = None, alerts: list[Alert] = (),
         repeats: list = (), deliveries: list = ()) -> None:
    store.save_poll(PollWrite(result=FeedResult(FEED, 200, tuple(items)), items=store.unseen(items),
                              matches=matches or {}, alerts=list(alerts), repeats=list(repeats),
                              deliveries=list(deliveries)))


def set_fetched(store: Store, ids: list[str], when: str) -> None:
    with store.lock, store.db.atomic():
        for i in ids:
            store.db.execute("UPDATE items SET fetched_at = ? WHERE item_id = ?", [when, i])


def test_every_query_uses_an_index(tmp_path):
    store = Store(tmp_path / "m.db")
    its = [item(n) for n in range(6)] + [item(99, link=False)]
    poll(store, its, matches={"g0": [relevant()], "g1": [relevant()]},
         alerts=[alert("k0", its[0])], repeats=[("k0", its[1])], deliveries=[("k0", "t1")])
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:  # every public method, as the service, the CLI, the dashboard and /metrics call them
        store.sync_feeds([(FEED, "Feed")])
        store.feed(FEED), store.feeds(), store.feeds([FEED]), store.unseen(its + [item(7)]), store.find_item("https://example.org/1")
        store.items(), store.items(story="s"), store.items(relevant_only=True)
        poll(store, [item(8)], matches={"g8": [relevant()]}, alerts=[alert("k8", item(8))],
             repeats=[("k0", item(8))], deliveries=[("k8", "t1")])
        store.update_feed(FEED, title="x")
        store.save_polls([PollWrite(result=FeedResult(FEED, 304, not_modified=True))])
        store.save_alerts([alert("ops", None)], [("ops", "t2")])
        store.alerts("s"), store.events(), store.event("k0")
        due = store.due_deliveries()
        store.pending_deliveries(), store.mark_delivery(due[0]["id"], state="sent", sent_at="2024-10-24T00:00:00+00:00")
        store.mark_deliveries([(due[0]["id"], {"attempts": 1})])
        store.sent_since("t1", "2024-01-01"), store.instant_sent_since("t1", "2024-01-01")
        store.failed_deliveries(), store.delivery_counts(), store.delivery_alerts(["k0", "k8"]), store.target_report()
        store.story_counts(), store.counts(), store.prune("2000-01-01T00:00:00+00:00")
        list(store.query("SELECT story, kind, COUNT(*) AS n FROM events GROUP BY story, kind"))  # metrics.py
    finally:
        store.db.conn.set_trace_callback(None)
    slow = []
    for sql in {s for s in statements if re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT)", s, re.I)}:
        plan = [row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}")]
        newest_first = "ORDER BY items.id DESC LIMIT" in sql and not any("TEMP B-TREE" in p for p in plan)
        for step in plan:  # (walking the rowid backwards to a LIMIT reads only what it returns)
            m = re.match(r"SCAN (\w+)", step)
            if m and m.group(1) in GROWING and "INDEX" not in step and not (newest_first and m.group(1) == "items"):
                slow.append(f"{sql}\n    {step}")
    assert not slow, "queries that scan a growing table:\n" + "\n".join(slow)


def test_prune_keeps_events_relevant_items_and_event_sources(tmp_path):
    store = Store(tmp_path / "m.db")
    its = [item(n) for n in range(5)]
    # g0 relevant with an event; g1 not relevant but the source of a repeat; g2 not relevant but
    # named by an event (an operator or stray event); g3, g4 plain non-relevant items.
    poll(store, its, matches={"g0": [relevant()]}, alerts=[alert("k0", its[0])], repeats=[("k0", its[1])])
    with store.lock, store.db.atomic():
        store.db.execute("INSERT INTO event_sources (event, item, link, outlet, seen_at) "
                         "SELECT 'k0', id, 'https://x/other', '', '2024' FROM items WHERE item_id = 'g2'")
    set_fetched(store, ["g0", "g1", "g2", "g3"], "2020-01-01T00:00:00+00:00")  # old; g4 stays new

    assert store.prune("2024-01-01T00:00:00+00:00") == 1  # g3 only: old and nothing points at it
    left = {r["item_id"] for r in store.query("SELECT item_id FROM items")}
    assert left == {"g0", "g1", "g2", "g4"}
    assert [e["key"] for e in store.query("SELECT key FROM events")] == ["k0"]
    assert store.counts()["relevant"] == 1
    assert len(list(store.query("SELECT * FROM matches"))) == 1
    # A pruned item's GUID is unknown again: if the feed still lists it, it is stored anew.
    assert [i.id for i in store.unseen(its)] == ["g3"]


def test_unseen_batches_agree_with_item_by_item_rules(tmp_path):
    store = Store(tmp_path / "m.db")
    poll(store, [item(1), item(2, link=False)])
    same_text_new_guid = Item(feed_url=FEED, id="other", title="Title 2", text="Text 2", link=None, published=None)
    moved_link = Item(feed_url="http://elsewhere/feed", id="x", title="t", text="u", link="https://example.org/1", published=None)
    briefing = Item(feed_url=FEED, id="b2", title="Title 1", text="Text 1", link="https://example.org/1b", published=None)
    fresh = [item(n) for n in range(3, 1200)]  # more than one IN (...) chunk
    got = store.unseen([item(1), same_text_new_guid, moved_link, briefing, *fresh, item(3)])
    assert [i.id for i in got] == ["b2", *[f"g{n}" for n in range(3, 1200)]]


@pytest.mark.parametrize("n", [0, 1, 501])
def test_save_poll_counts_new_items(tmp_path, n):
    store = Store(tmp_path / "m.db")
    its = [item(i) for i in range(n)]
    poll(store, its, matches={"g0": [relevant()]} if n else {})
    poll(store, its)  # nothing new the second time
    assert store.feed(FEED).items == n
    assert store.counts()["items"] == n
