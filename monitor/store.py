"""The only SQL: schema, migrations and transactions, on SQLite through sqlite-utils (WAL mode).

Tables
  feeds           one row per feed URL: fetch state (ETag, Last-Modified), health, backoff
  items           every stored item, unique by (feed_url, item_id) and by canonical link
  matches         one row per (item, story) that the matcher found relevant
  events          alert events (new statement, new figure, feed health), unique by key
  event_sources   every item that reported an event (syndicated repeats attach here)
  deliveries      the outbox: one row per (event, target) with its delivery state

A poll's items, matches, events and their pending deliveries are written in ONE transaction
(`save_poll`), so a crash never leaves an event without its deliveries or an item without its
match. The schema version lives in `PRAGMA user_version`; `migrate()` brings older files up.

`open_store(database)` is how the rest of the program opens a store: this SQLite `Store`, or for a
postgresql:// URL the `PostgresStore` of store_pg.py (the one other file with SQL), which has the
same public methods and lets several `monitor run` workers share one database.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import lru_cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .errors import StoreError
from .models import Alert, FeedResult, Item, Match

if TYPE_CHECKING:
    import sqlite_utils

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    etag TEXT,
    last_modified TEXT,
    last_poll TEXT,
    last_success TEXT,
    last_status INTEGER,
    last_error TEXT,
    error_reason TEXT,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    items INTEGER NOT NULL DEFAULT 0,
    next_poll TEXT,
    gone INTEGER NOT NULL DEFAULT 0,
    moved_to TEXT,
    failing_alerted INTEGER NOT NULL DEFAULT 0,
    last_duration REAL,
    entry_digests TEXT
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    feed_url TEXT NOT NULL,
    item_id TEXT NOT NULL,
    link TEXT,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    published TEXT,
    authors TEXT NOT NULL DEFAULT '[]',
    feed_title TEXT NOT NULL DEFAULT '',
    fetched_at TEXT NOT NULL,
    relevant INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS items_feed_item ON items (feed_url, item_id);
CREATE UNIQUE INDEX IF NOT EXISTS items_link ON items (link) WHERE link IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_fetched ON items (fetched_at);
CREATE INDEX IF NOT EXISTS items_fingerprint ON items (feed_url, fingerprint);
CREATE INDEX IF NOT EXISTS items_relevant ON items (relevant);
CREATE TABLE IF NOT EXISTS matches (
    item INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    story TEXT NOT NULL,
    score REAL NOT NULL,
    actors TEXT NOT NULL,
    claims TEXT NOT NULL,
    hits TEXT NOT NULL,
    PRIMARY KEY (item, story)
);
CREATE INDEX IF NOT EXISTS matches_story ON matches (story);
CREATE TABLE IF NOT EXISTS events (
    key TEXT PRIMARY KEY,
    story TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT,
    outlet TEXT NOT NULL DEFAULT '',
    item INTEGER,
    feed_url TEXT,
    actor TEXT,
    published TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sources INTEGER NOT NULL DEFAULT 1,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_story ON events (story, created_at);
CREATE INDEX IF NOT EXISTS events_created ON events (created_at);
CREATE TABLE IF NOT EXISTS event_sources (
    event TEXT NOT NULL REFERENCES events (key),
    item INTEGER,
    link TEXT,
    outlet TEXT NOT NULL DEFAULT '',
    seen_at TEXT NOT NULL,
    PRIMARY KEY (event, link)
);
CREATE INDEX IF NOT EXISTS event_sources_item ON event_sources (item);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    event TEXT NOT NULL REFERENCES events (key),
    target TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT,
    digest INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS deliveries_event_target ON deliveries (event, target);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt);
CREATE INDEX IF NOT EXISTS deliveries_target ON deliveries (target, state, sent_at);
"""

_MIGRATIONS: dict[int, str] = {
    # version -> SQL that brings version-1 to version. 1 is the initial schema above.
    # 2: the digests of the entries of a feed's last document (entries.py), space-separated
    2: "ALTER TABLE feeds ADD COLUMN entry_digests TEXT",
}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds") if dt else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


LOCKED_WAIT = 30.0  # seconds a start waits for another process converting a new file to WAL

_F = TypeVar("_F", bound=Callable[..., Any])


def _writes(method: _F) -> _F:
    """A write that the store refuses (full disk, read-only file, lock held past the busy
    timeout) raises StoreError naming the file, the cause and what to do; the transaction was
    rolled back, so nothing already stored is lost."""

    @wraps(method)
    def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (OSError, sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.IntegrityError):  # a bug, not the store's state
                raise
            raise StoreError(f"{self.path}: cannot write the store: {_cause(exc)}. Hint: {_fix(self.path)}") from exc

    return wrapper  # type: ignore[return-value]


def _cause(exc: BaseException) -> str:
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)


def _fix(path: Path) -> str:
    """What to do about a store that cannot be opened or written."""
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is read-only for this user (uid {os.getuid()}): fix its owner or permissions"
    d = path.parent
    while not d.exists() and d != d.parent:
        d = d.parent
    if d.exists() and not os.access(d, os.W_OK):
        return (f"{d} is not writable by this user (uid {os.getuid()}): fix its owner or permissions, "
                "mount its volume read-write, or pass another --state")
    return (f"check that {path.parent} is writable, has free space (df -h {path.parent}) and that "
            "no other program holds the database locked")


def _retry_locked(step: Callable[[], Any], wait: float = LOCKED_WAIT) -> Any:
    """Run `step`, retrying while SQLite says the database is locked (no busy handler there)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass(frozen=True)
class FeedState:
    """What the store remembers about one feed."""

    url: str
    title: str = ""
    etag: str | None = None
    last_modified: str | None = None
    last_poll: str | None = None
    last_success: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    error_reason: str | None = None
    consecutive_errors: int = 0
    items: int = 0
    next_poll: str | None = None
    gone: bool = False
    moved_to: str | None = None
    failing_alerted: bool = False
    last_duration: float | None = None
    entry_digests: str | None = None  # of the last document's entries, space-separated (entries.py)


@dataclass
class PollWrite:
    """Everything one poll of one feed writes, in one transaction."""

    result: FeedResult
    items: list[Item] = field(default_factory=list)
    matches: dict[str, list[Match]] = field(default_factory=dict)  # item.id -> relevant matches
    alerts: list[Alert] = field(default_factory=list)  # new events
    repeats: list[tuple[str, Item]] = field(default_factory=list)  # (event key, item) sources
    deliveries: list[tuple[str, str]] = field(default_factory=list)  # (event key, target id)
    feed_update: dict[str, Any] = field(default_factory=dict)  # extra feeds columns
    events_mark: int | None = None  # the alerts were decided knowing the events up to this mark
    flood: str | None = None  # what a cap held back in this poll (pipeline: max_new_items, max_alerts)


class StaleLedger(Exception):
    """Another process stored events after the poll's novelty was decided: decide again."""


def open_store(database: str | Path, read_only: bool = False, lease: float = 120.0) -> "Store":
    """The store for `database` (config.database): a PostgreSQL URL opens a PostgresStore
    (monitor/store_pg.py, needs the `postgres` extra), anything else the SQLite file. Both have
    the same public methods; `read_only` as in `Store.read_only`. `lease`: PostgreSQL only, how
    long a worker's claims last without a heartbeat (`service.lease`)."""
    if isinstance(database, str) and database.startswith(("postgresql://", "postgres://")):
        try:
            from .store_pg import PostgresStore
        except ImportError as exc:
            raise StoreError(f"{redact_url(database)}: PostgreSQL needs psycopg 3 and psycopg-pool ({exc}). "
                             "Hint: pip install 'story-monitor[postgres]'") from None
        return PostgresStore(database, read_only=read_only, lease=lease)  # type: ignore[return-value]
    return Store.read_only(database) if read_only else Store(database)


def redact_url(url: str) -> str:
    """A database URL fit for a log line or a message: its password replaced by ****."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:****@{host}"))


class Store:
    """A SQLite file opened in WAL mode. Thread-safe: one connection behind a lock.

    Several processes on one store (PostgreSQL, store_pg.py) coordinate through it: `shared` is
    True there, and the service then claims each feed (`claim_feed`) before polling it and beats
    (`beat`). On SQLite one service holds the file (`<db>.service.lock`), so `claim_feed` always
    grants, `beat` does nothing, and `workers()` / `leases()` are empty."""

    shared = False  # several `monitor run` processes may share this store (PostgreSQL)
    worker_id = ""  # this process's id in `workers()` (PostgreSQL)

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._open()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the store: {_cause(exc)}. Hint: {_fix(self.path)}") from None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self.lock = threading.RLock()
        with self.lock:
            _retry_locked(self._enable_wal)  # another process converting a new file: no busy wait
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            self.migrate()

    @property
    def db(self) -> "sqlite_utils.Database":
        """sqlite-utils over the connection, made at first use: what a `monitor check` of 304s
        runs (open, feeds, the polls' bookkeeping, due deliveries) is plain sqlite3 on
        `self.conn`, and importing sqlite-utils would cost that run ~40 ms of its ~0.3 s."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn, execute_plugins=False)
        return self._db

    _db: "sqlite_utils.Database | None" = None

    def _enable_wal(self) -> None:
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.conn.execute("PRAGMA journal_mode=wal")

    def _rows(self, sql: str, args: list[Any]) -> Iterator[dict]:
        """Rows as dicts, as sqlite-utils' `query` gives them (the hot path's reads)."""
        cur = self.conn.execute(sql, args)
        keys = [d[0] for d in cur.description]
        return (dict(zip(keys, row)) for row in cur)

    @classmethod
    def read_only(cls, path: str | Path) -> "Store":
        """Open an existing store for reading only (`monitor status`, `report`, `explain`): never
        creates, migrates or writes a file, so a wrong --state or a backup on a read-only mount
        is safe. Raises FileNotFoundError, or ValueError when the file is not a store.

        A store with a -wal file (a service has it open, or died) is read through its WAL
        (mode=ro); one without is opened immutable, which needs no -shm file and so works in a
        read-only directory, and leaves no sidecar files (owned by whoever ran it) behind."""
        self = cls.__new__(cls)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(str(self.path))
        wal = self.path.with_name(self.path.name + "-wal").exists()
        uri = self.path.resolve().as_uri() + ("?mode=ro" if wal else "?immutable=1")
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if not wal:
                raise ValueError(f"not a Story Monitor store ({exc})") from exc
            conn = sqlite3.connect(self.path.resolve().as_uri() + "?immutable=1", uri=True, check_same_thread=False)
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # the WAL cannot be read here
        if version != SCHEMA_VERSION:
            conn.close()
            if version == 0:
                raise ValueError("not a Story Monitor store (no schema)")
            raise ValueError(f"schema version {version}, this program reads {SCHEMA_VERSION}: "
                             + ("upgrade story-monitor" if version > SCHEMA_VERSION else "open it once with `monitor check` to migrate it"))
        self.conn = conn
        self.lock = threading.RLock()
        return self

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ------------------------------------------------------------ schema

    def migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this program's "
                f"({SCHEMA_VERSION}); upgrade story-monitor"
            )
        if version == SCHEMA_VERSION:
            return
        steps = [_SCHEMA] if version == 0 else [_MIGRATIONS[v] for v in range(version + 1, SCHEMA_VERSION + 1)]
        with self.db.atomic():  # executescript() would commit midway: run statement by statement
            for script in steps:
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def writable(self) -> str | None:
        """None when the store accepts writes, else the reason."""
        try:
            with self.lock, self.db.atomic():  # a real write that needs new pages (16 KiB), then undone
                self.db.execute("CREATE TABLE IF NOT EXISTS _probe (x)")
                self.db.execute("INSERT INTO _probe VALUES (randomblob(16384))")
                self.db.execute("DELETE FROM _probe")
        except sqlite3.Error as exc:
            return f"store not writable: {exc}"
        return None

    # ------------------------------------------------------------ workers and leases (PostgreSQL; no-ops here)

    def claim_feed(self, url: str, min_gap: float = 0.0) -> bool:
        """Take the lease on `url` for this worker, if no other worker holds a live one and no
        poll started less than `min_gap` seconds ago; True if taken (poll it, then
        `release_feed`). One process per SQLite file: always True."""
        return True

    def release_feed(self, url: str) -> None:
        """Give up this worker's lease on `url` (its poll is saved, or failed)."""

    def beat(self, problem: str | None = None) -> None:
        """This worker is alive (its row in `workers()`, with `problem` or None); its live
        leases and delivery claims are extended by the lease length."""

    def retire(self) -> None:
        """This worker stops (a clean shutdown): its leases and its unsent claims are free at
        once, not after they expire, and its row leaves `workers()`."""

    def workers(self) -> list[dict]:
        """Worker rows, newest heartbeat first: {id, host, pid, started_at, seen_at, problem}."""
        return []

    def leases(self) -> list[dict]:
        """Live and expired feed leases: {url, owner, until} (owner = a worker id), by url."""
        return []

    def clock(self) -> datetime:
        """Now, by the clock leases and heartbeats are stamped with (PostgreSQL: the server's)."""
        return datetime.now(timezone.utc)

    def forget_workers(self, seen_before: str) -> int:
        """Drop the rows of workers last seen before `seen_before` (killed ones never retire);
        the number dropped. Their leases expired long ago: the feeds are the others' already."""
        return 0

    # ------------------------------------------------------------ feeds

    @_writes
    def sync_feeds(self, feeds: Iterable[tuple[str, str]]) -> None:
        """Make sure every configured (url, title) has a row."""
        with self.lock, self._immediate():
            self.conn.executemany(
                "INSERT INTO feeds (url, title) VALUES (?, ?) "
                "ON CONFLICT (url) DO UPDATE SET title = excluded.title WHERE excluded.title != ''",
                list(feeds),
            )

    def feed(self, url: str) -> FeedState:
        with self.lock:
            rows = list(self.db.query("SELECT * FROM feeds WHERE url = ?", [url]))
        return _feed_state(rows[0]) if rows else FeedState(url=url)

    def feeds(self, urls: Iterable[str] | None = None) -> list[FeedState]:
        """Every feed's state, or only those of `urls` (those that have a row)."""
        with self.lock:
            if urls is None:
                return [_feed_state(r) for r in self.db.query("SELECT * FROM feeds ORDER BY url")]
            return [_feed_state(r) for chunk in _chunks(list(dict.fromkeys(urls)))
                    for r in self._rows(f"SELECT * FROM feeds WHERE url IN ({_marks(chunk)})", chunk)]

    # ------------------------------------------------------------ items

    def unseen(self, items: Iterable[Item]) -> list[Item]:
        """The items not stored yet, in feed order.

        An item is known when its (feed, id), its canonical link, or (for feeds whose GUIDs
        change on every fetch and that give no link) its title+text fingerprint in the same feed
        is already stored. Two items with the same fingerprint that both have a link, and the
        links differ, are two articles (a daily "Morning briefing" under a new URL): both kept.
        Duplicates within one fetch count once.
        """
        items = list(items)
        prints = [fingerprint(item) for item in items]
        out: list[Item] = []
        seen: set[str] = set()
        fps: dict[str, bool] = {}  # fingerprint in this fetch -> every item with it had a link
        with self.lock:
            ids, links, stored_fps = self._known(items, prints)
        for item, fp in zip(items, prints):
            keys = {f"id:{item.id}"} | ({f"link:{item.link}"} if item.link else set())
            if keys & seen or (fp in fps and not (fps[fp] and item.link)):
                continue
            seen |= keys
            if fp:
                fps[fp] = fps.get(fp, True) and bool(item.link)
            known_fp = (item.feed_url, fp) in stored_fps and (item.link is None or stored_fps[(item.feed_url, fp)])
            if (item.feed_url, item.id) not in ids and item.link not in links and not known_fp:
                out.append(item)
        return out

    def _known(self, items: list[Item], prints: list[str | None]) -> tuple[set, set, dict]:
        """What the store already has of these items, in a few queries per feed (not one per
        item): (feed, id) pairs, links, and (feed, fingerprint) -> some stored row has no link."""
        ids: set[tuple[str, str]] = set()
        links: set[str] = set()
        stored_fps: dict[tuple[str, str], bool] = {}
        by_feed: dict[str, list[tuple[Item, str | None]]] = {}
        for item, fp in zip(items, prints):
            by_feed.setdefault(item.feed_url, []).append((item, fp))
        for url, pairs in by_feed.items():
            for chunk in _chunks(list({i.id for i, _ in pairs})):
                ids.update((url, r[0]) for r in self.conn.execute(
                    f"SELECT item_id FROM items WHERE feed_url = ? AND item_id IN ({_marks(chunk)})", [url, *chunk]))
            for chunk in _chunks(list({fp for _, fp in pairs if fp})):
                stored_fps.update(((url, r[0]), bool(r[1])) for r in self.conn.execute(
                    "SELECT fingerprint, MAX(link IS NULL) FROM items WHERE feed_url = ? "
                    f"AND fingerprint IN ({_marks(chunk)}) GROUP BY fingerprint", [url, *chunk]))
        for chunk in _chunks(list({i.link for i in items if i.link})):
            links.update(r[0] for r in self.conn.execute(f"SELECT link FROM items WHERE link IN ({_marks(chunk)})", chunk))
        return ids, links, stored_fps

    def find_item(self, link: str) -> Item | None:
        with self.lock:
            rows = list(self.db.query("SELECT * FROM items WHERE link = ? LIMIT 1", [link]))
        return _item(rows[0]) if rows else None

    def items(self, story: str | None = None, relevant_only: bool = False, limit: int = 100) -> list[dict]:
        sql = "SELECT items.*, matches.story, matches.score, matches.actors, matches.claims FROM items "
        sql += "JOIN matches ON matches.item = items.id " if relevant_only or story else "LEFT JOIN matches ON matches.item = items.id "
        args: list[Any] = []
        if story:
            sql += "WHERE matches.story = ? "
            args.append(story)
        elif relevant_only:  # walks items_relevant newest first and stops at `limit`
            sql += "WHERE items.relevant = 1 "
        sql += "ORDER BY items.id DESC LIMIT ?"
        args.append(limit)
        with self.lock:
            return list(self.db.query(sql, args))

    # ------------------------------------------------------------ the poll transaction

    @_writes
    def save_poll(self, w: PollWrite) -> int:
        """Items, matches, events, sources, deliveries and feed state: all or nothing. Returns
        the events mark after the write; raises StaleLedger (nothing written) when events were
        stored since `w.events_mark` (by another process), so that no novelty is alerted twice."""
        r = w.result
        stamp = now()
        # Rows are written with executemany, a batch per run of items whose row id nobody needs:
        # one call into SQLite (and one release of the GIL) per batch, not per row. Relevant
        # items, and any item an event or a source points at, are inserted one by one for their id.
        need = set(w.matches) | {a.item_id for a in w.alerts if a.item_id} | {i.id for _, i in w.repeats}
        with self.lock, self._immediate():  # IMMEDIATE: no other writer between the check and the write
            if w.events_mark is not None and self.events_mark() != w.events_mark:
                raise StaleLedger(w.result.feed_url)
            rowids: dict[str, int] = {}
            batch: list[list[Any]] = []
            new = 0
            for item in w.items:
                row = [item.feed_url, item.id, item.link, item.title, item.text, _iso(item.published),
                       json.dumps(list(item.authors)), item.feed_title, stamp,
                       1 if w.matches.get(item.id) else 0, fingerprint(item)]
                if item.id not in need:
                    batch.append(row)
                    continue
                new += self._insert_items(batch)
                batch = []
                cur = self.conn.execute(_INSERT_ITEM, row)
                if cur.rowcount:
                    rowids[item.id] = cur.lastrowid
                    new += 1
            new += self._insert_items(batch)
            self.conn.executemany(
                "INSERT OR REPLACE INTO matches (item, story, score, actors, claims, hits) VALUES (?,?,?,?,?,?)",
                [[rowids[item_id], m.story, m.score, json.dumps(list(m.actors)), json.dumps(list(m.claims)),
                  json.dumps([asdict(h) for h in m.hits])]
                 for item_id, matches in w.matches.items() if item_id in rowids for m in matches])
            for a in w.alerts:
                self._insert_event(a, rowids.get(a.item_id or ""), stamp)
            for key, item in w.repeats:
                self._add_source(key, rowids.get(item.id), item.link, item.feed_title, stamp)
            self.conn.executemany(
                "INSERT OR IGNORE INTO deliveries (event, target, next_attempt, created_at) VALUES (?,?,?,?)",
                [[key, target, stamp, stamp] for key, target in w.deliveries])
            self._update_feed(r, new, stamp, w.feed_update)
            return self.events_mark()

    @contextmanager
    def _immediate(self) -> Iterator[None]:
        """A write transaction that takes SQLite's write lock at BEGIN (waiting its busy timeout)."""
        if self.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.rollback()
            raise

    def events_mark(self) -> int:
        """Where the events table stands (its largest rowid): events after it are new to a reader."""
        with self.lock:
            return self.conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM events").fetchone()[0]

    def alerts_after(self, mark: int) -> list[Alert]:
        """Events stored after `mark`, oldest first (another process's, since our ledger was built)."""
        with self.lock:
            return [_alert(r) for r in self._rows("SELECT * FROM events WHERE rowid > ? ORDER BY rowid", [mark])]

    def _insert_items(self, rows: list[list[Any]]) -> int:
        """Insert item rows in one executemany; the number actually inserted (not ignored)."""
        if not rows:
            return 0
        return self.conn.executemany(_INSERT_ITEM, rows).rowcount

    def _insert_event(self, a: Alert, item_rowid: int | None, stamp: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO events (key, story, kind, title, body, link, outlet, item, feed_url, "
            "actor, published, created_at, updated_at, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [a.key, a.story, a.kind, a.title, a.body, a.link, a.outlet, item_rowid, a.feed_url,
             a.actor, _iso(a.published), stamp, stamp, json.dumps(a.data, default=str)],
        )
        if a.link:
            self.conn.execute(
                "INSERT OR IGNORE INTO event_sources (event, item, link, outlet, seen_at) VALUES (?,?,?,?,?)",
                [a.key, item_rowid, a.link, a.outlet, stamp],
            )

    def _add_source(self, key: str, item_rowid: int | None, link: str | None, outlet: str, stamp: str) -> None:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO event_sources (event, item, link, outlet, seen_at) VALUES (?,?,?,?,?)",
            [key, item_rowid, link or f"item:{item_rowid}", outlet, stamp],
        )
        if cur.rowcount:
            self.conn.execute(
                "UPDATE events SET sources = sources + 1, updated_at = ? WHERE key = ?", [stamp, key]
            )

    @_writes
    def save_polls(self, writes: list[PollWrite]) -> None:
        """The feed bookkeeping of many polls that brought nothing to store (no items, alerts,
        sources or deliveries: a `monitor check`'s 304s) in one transaction, one executemany per
        shape of update: a 304 pass of 300 feeds is 4 statements, not ~2,100 (save_poll each)."""
        if any(w.items or w.matches or w.alerts or w.repeats or w.deliveries for w in writes):
            raise ValueError("save_polls writes feed bookkeeping only; use save_poll for a poll with rows")
        stamp = now()
        updates: dict[str, list[list[Any]]] = {}
        for w in writes:
            sql, args = self._feed_update_sql(w.result, 0, stamp, w.feed_update)
            updates.setdefault(sql, []).append(args)
        with self.lock, self._immediate():
            self.conn.executemany("INSERT OR IGNORE INTO feeds (url) VALUES (?)", [[w.result.feed_url] for w in writes])
            for sql, rows in updates.items():
                self.conn.executemany(sql, rows)

    def _update_feed(self, r: FeedResult, new_items: int, stamp: str, extra: dict[str, Any]) -> None:
        sql, args = self._feed_update_sql(r, new_items, stamp, extra)
        self.conn.execute(f"INSERT OR IGNORE INTO feeds (url) VALUES (?)", [r.feed_url])
        self.conn.execute(sql, args)

    @staticmethod
    def _feed_update_sql(r: FeedResult, new_items: int, stamp: str, extra: dict[str, Any]) -> tuple[str, list[Any]]:
        cols: dict[str, Any] = {"last_poll": stamp, "last_status": r.status, "last_duration": r.elapsed}
        if r.error is None:
            cols.update(last_success=stamp, last_error=None, error_reason=None, consecutive_errors=0)
            if not r.not_modified:
                cols.update(etag=r.etag, last_modified=r.last_modified)
        else:
            cols.update(last_error=r.error)
        cols.update(extra)
        sets = ", ".join(f"{k} = ?" for k in cols)
        args = list(cols.values())
        if r.error is not None:
            sets += ", consecutive_errors = consecutive_errors + 1"
        sets += ", items = items + ?"
        args.append(new_items)
        return f"UPDATE feeds SET {sets} WHERE url = ?", [*args, r.feed_url]

    @_writes
    def update_feed(self, url: str, **cols: Any) -> None:
        with self.lock, self.db.atomic():
            self.db.execute("INSERT OR IGNORE INTO feeds (url) VALUES (?)", [url])
            if cols:
                sets = ", ".join(f"{k} = ?" for k in cols)
                self.db.execute(f"UPDATE feeds SET {sets} WHERE url = ?", [*cols.values(), url])

    @_writes
    def save_alerts(self, alerts: list[Alert], deliveries: list[tuple[str, str]]) -> None:
        """Events outside a poll (operator alerts), with their deliveries, in one transaction."""
        stamp = now()
        with self.lock, self.db.atomic():
            for a in alerts:
                self._insert_event(a, None, stamp)
            for key, target in deliveries:
                self.db.execute(
                    "INSERT OR IGNORE INTO deliveries (event, target, next_attempt, created_at) VALUES (?,?,?,?)",
                    [key, target, stamp, stamp],
                )

    # ------------------------------------------------------------ events

    def alerts(self, story: str | None = None) -> list[Alert]:
        """Stored events as Alerts, oldest first (to rebuild the novelty ledger)."""
        sql, args = "SELECT * FROM events", []
        if story:
            sql += " WHERE story = ?"
            args.append(story)
        sql += " ORDER BY created_at, rowid"
        with self.lock:
            return [_alert(r) for r in self._rows(sql, args)]

    def events(self, limit: int = 50) -> list[dict]:
        """The newest `limit` events, newest first: by when they were raised (created_at), then,
        within one second (one poll), by the article's published time."""
        with self.lock:
            rows = list(self.db.query("SELECT * FROM events ORDER BY created_at DESC, published DESC, rowid DESC "
                                      "LIMIT ?", [limit]))
            for r in rows:
                r["data"] = json.loads(r["data"])
                r["deliveries"] = list(self.db.query(
                    "SELECT target, state, attempts, last_error, sent_at, next_attempt FROM deliveries "
                    "WHERE event = ? ORDER BY target", [r["key"]]))
                r["source_list"] = list(self.db.query(
                    "SELECT link, outlet, seen_at FROM event_sources WHERE event = ? ORDER BY seen_at", [r["key"]]))
        return rows

    def event(self, key: str) -> dict | None:
        with self.lock:
            rows = list(self.db.query("SELECT * FROM events WHERE key = ?", [key]))
        if not rows:
            return None
        rows[0]["data"] = json.loads(rows[0]["data"])
        return rows[0]

    # ------------------------------------------------------------ deliveries (the outbox)

    def due_deliveries(self, at: str | None = None, limit: int = 500) -> list[dict]:
        with self.lock:
            return list(self._rows(
                "SELECT * FROM deliveries WHERE state IN ('pending', 'retrying', 'held') "
                "AND next_attempt <= ? ORDER BY id LIMIT ?", [at or now(), limit]))

    def pending_deliveries(self) -> list[dict]:
        with self.lock:
            return list(self.db.query(
                "SELECT * FROM deliveries WHERE state IN ('pending', 'retrying', 'held') ORDER BY id"))

    @_writes
    def mark_delivery(self, delivery_id: int, **cols: Any) -> None:
        with self.lock, self.db.atomic():
            sets = ", ".join(f"{k} = ?" for k in cols)
            self.db.execute(f"UPDATE deliveries SET {sets} WHERE id = ?", [*cols.values(), delivery_id])

    def sent_since(self, target: str, since: str) -> int:
        with self.lock:
            return self.db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE target = ? AND state = 'sent' AND sent_at >= ?",
                [target, since]).fetchone()[0]

    def failed_deliveries(self, limit: int = 20) -> list[dict]:
        with self.lock:
            return list(self.db.query(
                "SELECT event, target, attempts, last_error, created_at FROM deliveries "
                "WHERE state = 'failed' ORDER BY id DESC LIMIT ?", [limit]))

    def delivery_counts(self) -> dict[str, int]:
        with self.lock:
            return {r[0]: r[1] for r in self.db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state")}

    @_writes
    def release_claims(self, keep: list[int], at: str) -> int:
        """Deliveries left 'sending' (claimed, outcome unknown), except `keep`: due again at `at`."""
        with self.lock:
            ids = [r[0] for r in self.db.execute("SELECT id FROM deliveries WHERE state = 'sending'")]
            ids = [i for i in ids if i not in set(keep)]
            if not ids:
                return 0  # the usual case: no write at all
            with self.db.atomic():
                return sum(self.db.execute(
                    f"UPDATE deliveries SET state = 'retrying', next_attempt = ?, last_error = ? WHERE id IN ({_marks(c)})",
                    [at, "the process sending it stopped before recording the result; sent again", *c]).rowcount
                    for c in _chunks(ids))

    @_writes
    def mark_deliveries(self, updates: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """Update several deliveries in ONE transaction (a digest is sent, or fails, as a whole)."""
        with self.lock, self.db.atomic():
            for delivery_id, cols in updates:
                sets = ", ".join(f"{k} = ?" for k in cols)
                self.db.execute(f"UPDATE deliveries SET {sets} WHERE id = ?", [*cols.values(), delivery_id])

    def instant_sent_since(self, target: str, since: str) -> int:
        """Single messages (not digests) sent to `target` since `since`: the rate limit's count."""
        with self.lock:
            return self.db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE target = ? AND state = 'sent' AND digest = 0 "
                "AND sent_at >= ?", [target, since]).fetchone()[0]

    def delivery_alerts(self, keys: Iterable[str]) -> dict[str, tuple[Alert, int]]:
        """The events behind deliveries, by key: (Alert, number of sources), rendered at send time."""
        keys = list(keys)
        out: dict[str, tuple[Alert, int]] = {}
        with self.lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for row in self.db.query(f"SELECT * FROM events WHERE key IN ({marks})", chunk):
                    out[row["key"]] = (_alert(row), row["sources"])
        return out

    def target_report(self) -> dict[str, dict[str, Any]]:
        """Per target: deliveries by state, last sent, the newest error (masked by notify.py) and
        the next attempt of its retrying deliveries."""
        out: dict[str, dict[str, Any]] = {}
        empty = {"states": {}, "last_sent": None, "last_error": None, "next_attempt": None}
        with self.lock:
            for target, state, n, sent, due in self.db.execute(
                    "SELECT target, state, COUNT(*), MAX(sent_at), MIN(next_attempt) FROM deliveries GROUP BY target, state"):
                rep = out.setdefault(target, dict(empty, states={}))
                rep["states"][state] = n
                rep["last_sent"] = max(filter(None, [rep["last_sent"], sent]), default=None)
                if state == "retrying":
                    rep["next_attempt"] = due
            for target, error in self.db.execute(
                    "SELECT target, last_error FROM deliveries WHERE last_error IS NOT NULL "
                    "AND state IN ('retrying', 'failed') GROUP BY target HAVING id = MAX(id)"):
                out.setdefault(target, dict(empty, states={}))["last_error"] = error
        return out

    def requeue_failed(self, target: str | None = None) -> int:
        """Deliveries that ended `failed` (all, or one target's) are due again now, with a new
        retry_max_age window (their age counts from now): `monitor notify-retry`."""
        stamp = now()
        sql = ("UPDATE deliveries SET state = 'pending', next_attempt = ?, created_at = ?, "
               "last_error = 're-queued by hand; ' || COALESCE(last_error, '') WHERE state = 'failed'")
        args: list[Any] = [stamp, stamp]
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        with self.lock, self.db.atomic():
            return self.db.execute(sql, args).rowcount

    # ------------------------------------------------------------ status

    def story_counts(self) -> dict[str, dict[str, int]]:
        with self.lock:
            out: dict[str, dict[str, int]] = {}
            for story, n in self.db.execute("SELECT story, COUNT(*) FROM matches GROUP BY story"):
                out.setdefault(story, {"relevant": 0, "events": 0})["relevant"] = n
            for story, n in self.db.execute("SELECT story, COUNT(*) FROM events GROUP BY story"):
                out.setdefault(story, {"relevant": 0, "events": 0})["events"] = n
            return out

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {
                "items": self.db.execute("SELECT COUNT(*) FROM items").fetchone()[0],
                "relevant": self.db.execute("SELECT COUNT(*) FROM items WHERE relevant = 1").fetchone()[0],
                "events": self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0],
            }

    @_writes
    def prune(self, older_than: str) -> int:
        """Delete non-relevant items fetched before `older_than`; never events or relevant items."""
        with self.lock, self.db.atomic():
            # "+relevant": the range on items_fetched, not items_relevant (relevant = 0 is most rows)
            cur = self.db.execute(
                "DELETE FROM items WHERE +relevant = 0 AND fetched_at < ? "
                "AND id NOT IN (SELECT item FROM event_sources WHERE item IS NOT NULL)", [older_than])
            return cur.rowcount

    def query(self, sql: str, args: Iterable[Any] = ()) -> Iterator[dict]:
        """Read-only ad-hoc queries for the dashboard."""
        with self.lock:
            return iter(list(self.db.query(sql, list(args))))

    # ------------------------------------------------------------ moving an installation (issue 15)
    # `monitor db migrate` and `monitor db copy` (dbcopy.py drives them): the schema's version,
    # every table's rows in a stable order, and all of them written into another store in ONE
    # transaction. Every store kind has these methods, with the same names and plain values.

    COPY_TABLES = ("feeds", "items", "matches", "events", "event_sources", "deliveries")

    @classmethod
    def schema_version_of(cls, path: str | Path) -> int | None:
        """The schema version of the file at `path` (0: no schema yet), None when there is no
        file; opens nothing for writing."""
        path = Path(path)
        if not path.is_file():
            return None
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()

    def copy_columns(self, table: str) -> list[str]:
        with self.lock:
            return [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]

    def copy_counts(self) -> dict[str, int]:
        """Rows per copied table."""
        with self.lock:
            return {t: self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in self.COPY_TABLES}

    @contextmanager
    def copy_snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the file, even while a service writes to it."""
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield
            finally:
                self.db.conn.rollback()

    def copy_rows(self, table: str, columns: list[str], batch: int = 2000) -> Iterator[list[tuple]]:
        """`table`'s rows (those `columns`), in batches, in the order they were written (rowid:
        events keep their order, which the events mark of the novelty check relies on)."""
        with self.lock:
            cur = self.db.conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
            while rows := cur.fetchmany(batch):
                yield rows

    @_writes
    def copy_in(self, tables: Iterable[tuple[str, list[str], Iterable[list[tuple]]]],
                expected: dict[str, int], replace: bool = False) -> dict[str, int]:
        """Write every (table, columns, batches of rows) in ONE transaction, after deleting what
        the store held when `replace`; the rows per table must then be `expected`, else nothing
        is written (StoreError). Returns the rows per table."""
        with self.lock, self._immediate():
            if replace:
                for table in reversed(self.COPY_TABLES):
                    self.db.execute(f"DELETE FROM {table}")
            for table, columns, batches in tables:
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(columns)})"
                for rows in batches:
                    self.db.conn.executemany(sql, [[_sqlite_value(v) for v in row] for row in rows])
            got = {t: self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in self.COPY_TABLES}
            if got != expected:
                raise StoreError(f"{self.path}: the copy does not add up (expected {expected}, got {got}); "
                                 "nothing was written")
            return got


def _sqlite_value(value: Any) -> Any:
    """A value read from another store kind, as this schema stores it (booleans as 0/1, times
    as ISO text, JSON as text)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


_INSERT_ITEM = ("INSERT OR IGNORE INTO items (feed_url, item_id, link, title, text, published, authors, "
                "feed_title, fetched_at, relevant, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?)")


def _chunks(values: list, size: int = 500) -> Iterator[list]:
    """`values` in slices small enough for one statement's bound parameters (old SQLite: 999)."""
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _marks(values: list) -> str:
    return ",".join("?" * len(values))


@lru_cache(maxsize=2048)  # unseen() and save_poll() ask for the same items, one after the other
def fingerprint(item: Item) -> str | None:
    """Title + start of text, whitespace- and case-folded: the same article under a new GUID."""
    basis = " ".join(f"{item.title}\n{item.text[:1000]}".lower().split())
    return hashlib.sha1(basis.encode()).hexdigest() if basis else None


def _feed_state(row: dict) -> FeedState:
    row = dict(row)
    row["gone"] = bool(row.get("gone"))
    row["failing_alerted"] = bool(row.get("failing_alerted"))
    return FeedState(**row)


def _item(row: dict) -> Item:
    return Item(
        feed_url=row["feed_url"], id=row["item_id"], title=row["title"], text=row["text"],
        link=row["link"], published=_dt(row["published"]), authors=tuple(json.loads(row["authors"])),
        feed_title=row["feed_title"],
    )


def _alert(row: dict) -> Alert:
    return Alert(
        key=row["key"], story=row["story"], kind=row["kind"], title=row["title"], body=row["body"],
        link=row["link"], outlet=row["outlet"], feed_url=row["feed_url"], actor=row["actor"],
        published=_dt(row["published"]), data=json.loads(row["data"]),
    )
