"""`monitor db copy` moves an installation without losing a row (events, sources, items, matches,
feed state, pending and failed deliveries), in one transaction, refusing a non-empty target
unless told; `monitor db migrate` says what it did; a password in a location is never printed."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from conftest import make_config, monitor_cmd
from monitor import dbcopy
from monitor.models import Alert, FeedResult, Item, Match
from monitor.store import PollWrite, Store

FEED = "http://127.0.0.1:1/feed"


def _item(n: int) -> Item:
    return Item(feed_url=FEED, id=f"g{n}", title=f"Title {n}", text=f"Text {n} with 'quotes' and ünïcode",
                link=f"https://example.org/{n}" if n % 3 else None,
                published=datetime(2024, 10, 24, n % 24, tzinfo=timezone.utc), authors=("A", "B"), feed_title="Feed")


def _alert(key: str, it: Item) -> Alert:
    return Alert(key=key, story="s", kind="figure", title=f"t {key}", body="b", link=it.link, outlet="Feed",
                 item_id=it.id, feed_url=FEED, data={"value": 1000, "unit": "troops"})


def filled_store(path) -> Store:
    """A store as a running service leaves it: feed state, items (relevant or not), matches,
    events with a repeat source, and deliveries sent, pending, retrying and failed."""
    store = Store(path)
    items = [_item(n) for n in range(12)]
    match = Match(story="s", relevant=True, score=91.5, threshold=75, actors=("kirby",), claims=("c1",))
    alerts = [_alert(f"k{n}", items[n]) for n in (1, 2, 4, 5)]
    store.save_poll(PollWrite(
        result=FeedResult(FEED, 200, tuple(items), etag='"v1"', last_modified="Thu, 24 Oct 2024 10:00:00 GMT"),
        items=store.unseen(items), matches={it.id: [match] for it in items[:6]}, alerts=alerts,
        repeats=[("k1", items[3])], deliveries=[(a.key, t) for a in alerts for t in ("slack", "mail")],
        feed_update={"entry_digests": "aa bb cc"}))
    store.update_feed(FEED, consecutive_errors=2, last_error="boom", next_poll="2024-10-24T11:00:00+00:00")
    due = store.due_deliveries()
    store.mark_delivery(due[0]["id"], state="sent", sent_at="2024-10-24T10:00:00+00:00", attempts=1)
    store.mark_delivery(due[1]["id"], state="failed", attempts=8, last_error="HTTP 500")
    store.mark_delivery(due[2]["id"], state="retrying", attempts=2, next_attempt="2024-10-24T12:00:00+00:00")
    return store


def table_rows(path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in Store.COPY_TABLES}
    finally:
        conn.close()


def test_copy_sqlite_to_sqlite_keeps_every_row_and_the_store_works_on(tmp_path):
    src, dst = tmp_path / "old.db", tmp_path / "new" / "monitor.db"
    filled_store(src).close()
    res = monitor_cmd("db", "copy", "--from", f"sqlite:{src}", "--to", f"sqlite:{dst}")
    assert res.returncode == 0, res.stderr
    assert "in one transaction; rows checked" in res.stdout
    assert "  deliveries     8" in res.stdout and "  events         4" in res.stdout
    before, after = table_rows(src), table_rows(dst)
    assert all(before[t] for t in Store.COPY_TABLES)  # every table had something to copy
    assert after == before
    new = Store(dst)  # the copy is a working store: novelty, dedupe and the outbox carry on
    assert new.unseen([_item(n) for n in range(13)]) == [_item(12)]
    assert [a.key for a in new.alerts()] == ["k1", "k2", "k4", "k5"]
    assert new.events_mark() == 4
    assert sorted((d["state"], d["attempts"]) for d in new.pending_deliveries()) == \
        sorted([("pending", 0)] * 5 + [("retrying", 2)])
    assert new.failed_deliveries()[0]["last_error"] == "HTTP 500"
    assert new.feed(FEED).etag == '"v1"' and new.feed(FEED).consecutive_errors == 2


def test_copy_refuses_a_target_that_holds_rows_and_force_replaces_them(tmp_path):
    src, dst = tmp_path / "old.db", tmp_path / "new.db"
    filled_store(src).close()
    assert monitor_cmd("db", "copy", "--from", str(src), "--to", f"sqlite:{dst}").returncode == 0
    again = monitor_cmd("db", "copy", "--from", f"sqlite:{src}", "--to", f"sqlite:{dst}")
    assert again.returncode == 2
    assert f"{dst} is not empty (1 feeds, 12 items, 6 matches, 4 events, 5 event_sources, 8 deliveries); " \
           "nothing was copied. Hint: copy into a new database, or add --force" in again.stderr
    assert "Traceback" not in again.stderr
    forced = monitor_cmd("db", "copy", "--from", f"sqlite:{src}", "--to", f"sqlite:{dst}", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "replaced 1 feeds, 12 items" in forced.stdout
    assert table_rows(dst) == table_rows(src)  # replaced, not doubled


class FailingSource(Store):
    """A real store whose reading breaks after the first tables (a disk error mid-copy)."""

    def copy_rows(self, table, columns, batch=2000):
        if table == "deliveries":
            raise OSError(5, "Input/output error")
        yield from super().copy_rows(table, columns, batch)


def test_a_copy_that_fails_midway_writes_nothing(tmp_path):
    filled_store(tmp_path / "old.db").close()
    source = FailingSource.read_only(tmp_path / "old.db")
    target = Store(tmp_path / "new.db")
    with pytest.raises(Exception, match="Input/output error"):
        dbcopy.copy(source, target, str(tmp_path / "old.db"), str(tmp_path / "new.db"))
    assert target.copy_counts() == dict.fromkeys(Store.COPY_TABLES, 0)


def test_copy_from_a_missing_store_says_what_to_give(tmp_path):
    res = monitor_cmd("db", "copy", "--from", f"sqlite:{tmp_path}/nope.db", "--to", f"sqlite:{tmp_path}/new.db")
    assert res.returncode == 2
    assert f"{tmp_path}/nope.db: no store here. Hint: give the SQLite file `monitor run` uses" in res.stderr
    assert not (tmp_path / "nope.db").exists()


def test_a_password_in_a_location_is_never_printed(tmp_path):
    filled_store(tmp_path / "old.db").close()
    res = monitor_cmd("db", "copy", "--from", f"sqlite:{tmp_path}/old.db",
                      "--to", "postgresql://monitor:s3cret-pw@127.0.0.1:9/monitor?password=s3cret-pw")
    assert res.returncode != 0
    assert "s3cret-pw" not in res.stdout + res.stderr
    assert "postgresql://monitor:****@127.0.0.1:9/monitor?password=****" in res.stderr


@pytest.mark.parametrize("location, shown", [
    ("postgresql://u:pw@db:5432/m", "postgresql://u:****@db:5432/m"),
    ("postgres://u@db/m?password=pw&sslmode=require", "postgres://u@db/m?password=****&sslmode=require"),
    ("postgresql://db/m", "postgresql://db/m"),
    ("sqlite:/srv/state/monitor.db", "sqlite:/srv/state/monitor.db"),
])
def test_redact(location, shown):
    assert dbcopy.redact(location) == shown


def test_db_migrate_says_what_it_did(tmp_path):
    cdir = make_config(tmp_path, [FEED])
    args = ["--config", str(cdir), "--state", str(tmp_path / "state")]
    first = monitor_cmd("db", "migrate", *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"{tmp_path}/state/monitor.db: created the schema (version 2)\n"
    assert monitor_cmd("db", "migrate", *args).stdout.endswith("schema already at version 2; nothing to do\n")
    conn = sqlite3.connect(tmp_path / "state" / "monitor.db")  # as version 1 left it
    conn.execute("ALTER TABLE feeds DROP COLUMN entry_digests")
    conn.execute("PRAGMA user_version=1")
    conn.close()
    old = monitor_cmd("db", "migrate", *args)
    assert old.stdout.endswith("migrated the schema from version 1 to 2\n"), old.stderr
    assert "entry_digests" in Store(tmp_path / "state" / "monitor.db").copy_columns("feeds")


# ---------------------------------------------------------------- to PostgreSQL and back (a real server)


def test_copy_to_postgresql_and_back_loses_nothing(tmp_path, pg_url):
    from monitor.store_pg import PostgresStore

    src, back = tmp_path / "old.db", tmp_path / "back.db"
    filled_store(src).close()
    there = monitor_cmd("db", "copy", "--from", f"sqlite:{src}", "--to", pg_url)
    assert there.returncode == 0, there.stderr
    password = pg_url.split(":")[2].split("@")[0]
    assert password not in there.stdout + there.stderr and "monitor:****@127.0.0.1" in there.stdout
    pg = PostgresStore(pg_url)  # a working store: novelty, dedupe, the outbox and new ids carry on
    try:
        assert pg.unseen([_item(n) for n in range(13)]) == [_item(12)]
        assert [a.key for a in pg.alerts()] == ["k1", "k2", "k4", "k5"]
        assert pg.events_mark() == 4
        assert sorted(d["state"] for d in pg.pending_deliveries()) == ["pending"] * 5 + ["retrying"]
        pg.save_poll(PollWrite(result=FeedResult(FEED, 200, (_item(12),)), items=[_item(12)],
                               alerts=[_alert("k12", _item(12))], deliveries=[("k12", "slack")]))
        assert pg.events_mark() == 5 and pg.counts()["items"] == 13  # the id sequences continue after the copy
    finally:
        pg.close()
    home = monitor_cmd("db", "copy", "--from", pg_url, "--to", f"sqlite:{back}")
    assert home.returncode == 0, home.stderr
    before, after = table_rows(src), table_rows(back)
    for table in Store.COPY_TABLES:
        added = 1 if table in ("items", "events", "deliveries") else 0  # the poll made on PostgreSQL
        assert len(after[table]) == len(before[table]) + added, table
        assert set(before[table]) <= set(after[table]) or table == "feeds", table  # every row, byte for byte
    assert [a.key for a in Store(back).alerts()] == ["k1", "k2", "k4", "k5", "k12"]  # in the order stored


def test_copy_into_a_postgresql_that_holds_rows_is_refused_then_forced(tmp_path, pg_url):
    filled_store(tmp_path / "a.db").close()
    assert monitor_cmd("db", "copy", "--from", str(tmp_path / "a.db"), "--to", pg_url).returncode == 0
    again = monitor_cmd("db", "copy", "--from", str(tmp_path / "a.db"), "--to", pg_url)
    assert again.returncode == 2 and "is not empty (1 feeds, 12 items" in again.stderr
    forced = monitor_cmd("db", "copy", "--from", str(tmp_path / "a.db"), "--to", pg_url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "  items          12" in forced.stdout


def test_db_migrate_on_postgresql(tmp_path, pg_url, monkeypatch):
    password = pg_url.split(":")[2].split("@")[0]
    monkeypatch.setenv("TEST_PG_PASSWORD", password)
    cdir = make_config(tmp_path, [FEED], extra=f'\n[service]\n')  # database set below, through ${ENV}
    text = (cdir / "monitor.toml").read_text().replace(
        "[service]\n", f'[service]\ndatabase = "{pg_url.replace(password, "${TEST_PG_PASSWORD}")}"\n', 1)
    (cdir / "monitor.toml").write_text(text.replace("\n[service]\n", "\n"))
    args = ["--config", str(cdir), "--state", str(tmp_path / "state")]
    first = monitor_cmd("db", "migrate", *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.endswith(": created the schema (version 1)\n") and "monitor:****@" in first.stdout
    assert password not in first.stdout + first.stderr
    assert monitor_cmd("db", "migrate", *args).stdout.endswith("schema already at version 1; nothing to do\n")
