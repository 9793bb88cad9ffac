"""The store's cost per poll on SQLite and on PostgreSQL (a throw-away local cluster, tests/pg.py).

    python bench/store_engines.py [--feeds 300] [--items 50] [--new 2]

For each engine: a first pass (every item new) and a steady pass (--new of --items new per feed),
each poll as the pipeline makes it (`unseen`, then `save_poll` in one transaction; no alerts);
prints ms per poll for both. PostgreSQL runs on loopback with fsync off: the SQL and round trips,
not a disk's flush, which a real server adds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from monitor.models import FeedResult, Item  # noqa: E402
from monitor.store import PollWrite, open_store  # noqa: E402


def items(feed: int, start: int, n: int) -> list[Item]:
    url = f"http://127.0.0.1:1/feed{feed}"
    return [Item(feed_url=url, id=f"{url}#{i}", title=f"Title {feed} {i}", text=f"Some text of item {i} " * 20,
                 link=f"https://example.org/{feed}/{i}", published=datetime(2024, 10, 24, tzinfo=timezone.utc),
                 feed_title=f"Feed {feed}") for i in range(start, start + n)]


def run(database, feeds: int, n: int, new: int) -> tuple[float, float]:
    store = open_store(database)
    out = []
    for offset in (0, new):
        t = time.perf_counter()
        for f in range(feeds):
            got = items(f, offset, n)
            store.save_poll(PollWrite(result=FeedResult(got[0].feed_url, 200, tuple(got)), items=store.unseen(got)))
        out.append((time.perf_counter() - t) / feeds * 1000)
    store.close()
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=300)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--new", type=int, default=2)
    a = ap.parse_args()
    from pg import Cluster

    cluster = Cluster.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [("sqlite", run(Path(tmp) / "m.db", a.feeds, a.items, a.new)),
                    ("postgresql", run(cluster.create_database(), a.feeds, a.items, a.new))]
    finally:
        cluster.stop()
    print(f"{a.feeds} feeds x {a.items} items; steady: {a.new} new per feed; ms per poll (unseen + save_poll)")
    for name, (first, steady) in rows:
        print(f"{name:<12} first pass {first:7.2f} ms   steady pass {steady:7.2f} ms")


if __name__ == "__main__":
    main()
