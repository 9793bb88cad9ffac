"""The store on PostgreSQL (`database = "postgresql://user:${PGPASSWORD}@host/db"`): the same public
methods and behaviour as `store.Store` (SQLite), plus what several `monitor run` workers on one
database need. The only other place with SQL; needs the `postgres` extra (psycopg 3 and its pool).

Same tables, columns and indexes as store.py's `_SCHEMA` (translated: BIGINT, BIGSERIAL ids), plus
  events.seq      the order events were stored in (SQLite's rowid): `events_mark` / `alerts_after`
  leases          a feed's lease: (url, owner = a worker id, until, claimed_at)
  workers         one row per worker process: id, host, pid, started_at, seen_at, problem
  deliveries      + claimed_by, claim_until: which worker may send a row, and until when
  schema_version  the schema version (SQLite keeps it in PRAGMA user_version)

Several workers, no coordinator of our own:
  - A feed is polled by the worker that takes its lease (`claim_feed`: one conditional UPDATE):
    only when no other worker holds a live one and its last claim is `min_gap` seconds old (the
    service passes about one poll interval), so each due feed is polled by one worker per
    interval. A live worker's `beat` extends its leases; a dead worker's expire after `lease`
    seconds and the next worker whose job fires takes the feed over. Leases, claims and beats
    are stamped by the server's clock (`sync_clock`), not each host's.
  - Novelty is judged against the stored events: a poll that raises alerts takes a transaction
    advisory lock (writers of events one at a time, like SQLite's BEGIN IMMEDIATE) and raises
    StaleLedger when another worker stored events since the poll's `events_mark`, so the pipeline
    decides again knowing them; an event whose key is already stored (ON CONFLICT DO NOTHING)
    is a repeat: attached as a source, no deliveries. Two workers seeing two outlets of one
    statement at once alert once.
  - Deliveries: `due_deliveries` claims the rows it returns for this worker (claimed_by,
    claim_until) with FOR UPDATE SKIP LOCKED, so a row is handed to one worker; `beat` extends
    the claims of a live worker; `release_claims` sends again the rows left `sending` by a worker
    whose claim expired (it died between the claim and recording the outcome). The remaining
    duplicate window: a worker killed (or cut off from the database for longer than `lease`)
    after the target accepted a message and before the outcome was written.

Connections come from a psycopg_pool pool that checks a connection before lending it; a
statement outside a transaction is retried on a dropped connection, and a poll's transaction is
run again (`save_poll`), so a database restart loses no poll. Errors name the database by its
URL with the password masked (`store.redact_url`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from .errors import StoreError
from .store import _INSERT_ITEM, _SCHEMA, PollWrite, StaleLedger, Store, _alert, _iso, fingerprint, redact_url

SCHEMA_VERSION = 1
EVENTS_LOCK = 0x5_70_12  # pg_advisory_xact_lock key: one writer of events at a time
MIGRATE_LOCK = 0x5_70_13  # one process migrating at a time
ATTEMPTS = 3  # a dropped connection: the statement or the poll's transaction is run again

_EXTRA = """
ALTER TABLE events ADD COLUMN IF NOT EXISTS seq BIGSERIAL;
CREATE UNIQUE INDEX IF NOT EXISTS events_seq ON events (seq);
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS claim_until TEXT;
CREATE INDEX IF NOT EXISTS deliveries_claims ON deliveries (claimed_by) WHERE state IN ('sending', 'pending', 'retrying', 'held');
CREATE TABLE IF NOT EXISTS leases (
    url TEXT PRIMARY KEY,
    owner TEXT,
    until TEXT,
    claimed_at TEXT
);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    problem TEXT
)
"""


def _schema() -> list[str]:
    """store.py's schema in PostgreSQL's words, then the tables and columns workers need."""
    sql = _SCHEMA.replace("INTEGER", "BIGINT").replace("BIGINT PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
    sql = sql.replace(" REAL", " DOUBLE PRECISION")
    return [s for s in (sql + ";" + _EXTRA).split(";") if s.strip()]


_MIGRATIONS: dict[int, list[str]] = {}  # version -> statements that bring version-1 to it


def _sql(sql: str) -> str:
    """store.py's SQLite dialect -> PostgreSQL's, for the statements both stores share."""
    sql = sql.replace("%", "%%").replace("?", "%s").replace("+relevant", "relevant")
    sql = sql.replace("MAX(link IS NULL)", "bool_or(link IS NULL)")
    sql = re.sub(r"\browid\b", "seq", sql).replace("published DESC", "published DESC NULLS LAST")  # SQLite's NULL order
    if sql.startswith("INSERT OR IGNORE INTO"):
        body, returning, tail = sql[len("INSERT OR IGNORE INTO"):].partition(" RETURNING ")
        sql = "INSERT INTO" + body + " ON CONFLICT DO NOTHING" + returning + tail
    return sql


class _Dropped(StoreError):
    """The connection to PostgreSQL failed (server restarted, network, backend terminated)."""


class _Result:
    """A finished statement: rows fetched, so its connection can go back to the pool."""

    def __init__(self, cur: psycopg.Cursor):
        self.rowcount = cur.rowcount
        self.columns = [d.name for d in cur.description] if cur.description else []
        self.rows = cur.fetchall() if cur.description else []

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)


class _Db:
    """What store.py's shared methods call on sqlite-utils' Database (execute, query, atomic,
    conn.executemany), over a pool: a transaction keeps one connection for its thread."""

    def __init__(self, pool: ConnectionPool, name: str):
        self.pool = pool
        self.name = name  # the URL, password masked
        self.local = threading.local()
        self.conn = self  # store.py calls db.conn.executemany / db.conn.in_transaction

    @property
    def in_transaction(self) -> bool:
        return getattr(self.local, "conn", None) is not None

    def _error(self, exc: BaseException) -> StoreError:
        if isinstance(exc, psycopg.OperationalError):
            return _Dropped(f"{self.name}: the database connection failed: {str(exc).strip()}. Hint: check that "
                            "PostgreSQL is up and reachable; the service retries and loses nothing meanwhile")
        return StoreError(f"{self.name}: cannot write the store: {str(exc).strip()}. Hint: check the database's "
                          "disk space and that this user may write its tables")

    @contextmanager
    def atomic(self) -> Iterator[None]:
        if self.in_transaction:
            yield
            return
        try:
            with self.pool.connection() as conn, conn.transaction():
                self.local.conn = conn
                try:
                    yield
                finally:
                    self.local.conn = None
        except (psycopg.IntegrityError, psycopg.ProgrammingError, psycopg.DataError):
            raise  # a bug, not the store's state
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def execute(self, sql: str, args: Iterable[Any] = ()) -> _Result:
        sql, args = _sql(sql), list(args)
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            return _Result(conn.execute(sql, args))
        return self._once(lambda c: _Result(c.execute(sql, args)))

    def _once(self, step: Any) -> Any:
        """A statement on its own (committed when the connection goes back), retried when the
        connection turns out dropped: the pool checks the next one it lends."""
        for attempt in range(ATTEMPTS):
            try:
                with self.pool.connection() as c:
                    return step(c)
            except psycopg.OperationalError as exc:
                if attempt == ATTEMPTS - 1:
                    raise self._error(exc) from exc
            except (psycopg.IntegrityError, psycopg.ProgrammingError, psycopg.DataError):
                raise
            except psycopg.Error as exc:
                raise self._error(exc) from exc
        raise AssertionError("unreachable")

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[dict]:
        res = self.execute(sql, args)
        return [dict(zip(res.columns, row)) for row in res.rows]

    def executemany(self, sql: str, rows: list) -> _Result:
        conn = getattr(self.local, "conn", None)
        assert conn is not None, "executemany runs inside atomic()"
        cur = conn.cursor()
        if rows:
            cur.executemany(_sql(sql), rows)
        out = _Result.__new__(_Result)
        out.rowcount, out.columns, out.rows = (cur.rowcount if rows else 0), [], []
        return out

    def close(self) -> None:
        self.pool.close()


class PostgresStore(Store):
    """The store on PostgreSQL; see the module docstring. Thread-safe like Store."""

    shared = True

    def __init__(self, url: str, read_only: bool = False, lease: float = 120.0):
        self.url = url
        self.path = redact_url(url)  # what messages show
        self.lease = lease
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.read_only_mode = read_only
        self.lock = threading.RLock()
        self.skew = timedelta(0)  # the database server's clock minus ours (`sync_clock`)
        kwargs: dict[str, Any] = {"connect_timeout": 10}
        if read_only:
            kwargs["options"] = "-c default_transaction_read_only=on"
        pool = ConnectionPool(url, min_size=1, max_size=4, kwargs=kwargs, open=False,
                              check=ConnectionPool.check_connection, name="monitor")
        # store.py's shared methods run on `self.conn` (sqlite3's execute/executemany) and
        # `self.db` (sqlite-utils' query/atomic): _Db answers both, in PostgreSQL's dialect
        self._db = self.conn = _Db(pool, self.path)  # type: ignore[assignment]
        problem = _connect_problem(url, kwargs)  # one plain connection first: a wrong password fails at once
        if problem is None:
            try:
                pool.open(wait=True, timeout=15)
            except Exception:  # PoolTimeout
                problem = "the connection pool did not open in 15 s"
        if problem is not None:
            pool.close()
            raise StoreError(f"{self.path}: cannot open the store: {problem}. Hint: check the URL, that "
                             "PostgreSQL is up, and the variable that holds the password") from None
        self.sync_clock()
        if read_only:
            version = self._version()
            if version != SCHEMA_VERSION:
                self.close()
                if version == 0:
                    raise ValueError("not a Story Monitor store (no schema)")
                raise ValueError(f"schema version {version}, this program reads {SCHEMA_VERSION}: "
                                 + ("upgrade story-monitor" if version > SCHEMA_VERSION
                                    else "run `monitor check` once to migrate it"))
            return
        self.migrate()

    @classmethod
    def read_only(cls, path: Any) -> "PostgresStore":  # type: ignore[override]
        return cls(str(path), read_only=True)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ schema

    def _version(self) -> int:
        row = self.db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        row = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return (row[0] if row else 0) or 0

    def migrate(self) -> None:
        with self.lock, self.db.atomic():
            self.db.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATE_LOCK])
            version = self._version()
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {version} is newer than this program's "
                                 f"({SCHEMA_VERSION}); upgrade story-monitor")
            if version == SCHEMA_VERSION:
                return
            steps = _schema() if version == 0 else [s for v in range(version + 1, SCHEMA_VERSION + 1)
                                                      for s in _MIGRATIONS[v]]
            for statement in steps:
                self.db.execute(statement)
            self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            self.db.execute("DELETE FROM schema_version")
            self.db.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])

    def writable(self) -> str | None:
        """None when the database accepts a write (made, then rolled back), else the reason."""
        class _Undo(Exception):
            pass

        try:
            with self.lock, self.db.atomic():
                self.db.execute("UPDATE schema_version SET version = version")
                raise _Undo
        except _Undo:
            return None
        except StoreError as exc:
            return f"store not writable: {exc}"

    # ------------------------------------------------------------ workers and leases

    def sync_clock(self) -> None:
        """Leases, claims and heartbeats are stamped with the database server's clock (ours plus
        the skew measured here, at open and at every beat), so workers on hosts whose clocks
        disagree still agree on when a lease expires: a worker whose clock runs minutes fast would
        otherwise take live leases over (a feed polled twice, a delivery sent twice)."""
        before = self._local()
        with self.lock:
            server = self.db.execute("SELECT clock_timestamp()").rows[0][0]
        after = self._local()
        self.skew = server - (before + (after - before) / 2)

    def clock(self) -> datetime:
        return self._local() + self.skew

    def _local(self) -> datetime:
        return datetime.now(timezone.utc)

    def _now(self) -> str:
        return _iso(self.clock())  # type: ignore[return-value]

    def _until(self) -> str:
        return _iso(self.clock() + timedelta(seconds=self.lease))  # type: ignore[return-value]

    def claim_feed(self, url: str, min_gap: float = 0.0) -> bool:
        """See Store.claim_feed: one statement, so two workers cannot both take the lease. Free
        means: no lease, an expired one, or our own (a poll whose save failed, polled again)."""
        stamp = self._now()
        gap = _iso(self.clock() - timedelta(seconds=min_gap))
        with self.lock:
            return bool(self.db.execute(
                "INSERT INTO leases (url, owner, until, claimed_at) VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE "
                "SET owner = excluded.owner, until = excluded.until, claimed_at = excluded.claimed_at "
                "WHERE leases.owner = ? OR ((leases.owner IS NULL OR leases.until < ?) "
                "AND (leases.claimed_at IS NULL OR leases.claimed_at <= ?)) RETURNING url",
                [url, self.worker_id, self._until(), stamp, self.worker_id, stamp, gap]).rows)

    def release_feed(self, url: str) -> None:
        with self.lock:
            self.db.execute("UPDATE leases SET owner = NULL, until = NULL WHERE url = ? AND owner = ?",
                            [url, self.worker_id])

    def beat(self, problem: str | None = None) -> None:
        self.sync_clock()
        stamp, until = self._now(), self._until()
        with self.lock, self.db.atomic():
            self.db.execute(
                "INSERT INTO workers (id, host, pid, started_at, seen_at, problem) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, problem = excluded.problem",
                [self.worker_id, socket.gethostname(), os.getpid(), stamp, stamp, problem])
            self.db.execute("UPDATE leases SET until = ? WHERE owner = ?", [until, self.worker_id])
            self.db.execute("UPDATE deliveries SET claim_until = ? WHERE claimed_by = ? AND claim_until >= ? "
                            "AND state IN ('sending', 'pending', 'retrying', 'held')", [until, self.worker_id, stamp])

    def retire(self) -> None:
        with self.lock, self.db.atomic():
            self.db.execute("UPDATE leases SET owner = NULL, until = NULL WHERE owner = ?", [self.worker_id])
            self.db.execute("UPDATE deliveries SET claimed_by = NULL, claim_until = NULL WHERE claimed_by = ? "
                            "AND state IN ('pending', 'retrying', 'held')", [self.worker_id])
            self.db.execute("DELETE FROM workers WHERE id = ?", [self.worker_id])

    def workers(self) -> list[dict]:
        with self.lock:
            return self.db.query("SELECT id, host, pid, started_at, seen_at, problem FROM workers "
                                 "ORDER BY seen_at DESC, id")

    def leases(self) -> list[dict]:
        with self.lock:
            return self.db.query("SELECT url, owner, until FROM leases WHERE owner IS NOT NULL ORDER BY url")

    def forget_workers(self, seen_before: str) -> int:
        with self.lock:
            return self.db.execute("DELETE FROM workers WHERE seen_at < ?", [seen_before]).rowcount

    # ------------------------------------------------------------ the poll transaction

    def _immediate(self) -> Any:
        """store.py's write transaction: PostgreSQL's row locks do what SQLite's BEGIN IMMEDIATE does."""
        return self.db.atomic()

    def _rows(self, sql: str, args: list[Any]) -> Iterator[dict]:
        return iter(self.db.query(sql, args))

    def save_poll(self, w: PollWrite) -> int:
        """As Store.save_poll; a transaction cut by a dropped connection is run again."""
        return _again(lambda: self._save_poll(w))

    def save_polls(self, writes: list[PollWrite]) -> None:
        """As Store.save_polls; a transaction cut by a dropped connection is run again."""
        _again(lambda: Store.save_polls(self, writes))

    def _save_poll(self, w: PollWrite) -> int:
        r = w.result
        stamp = self._now()
        need = set(w.matches) | {a.item_id for a in w.alerts if a.item_id} | {i.id for _, i in w.repeats}
        with self.lock, self.db.atomic():
            if w.alerts:  # novelty is decided against every stored event: one writer of events at a time
                self.db.execute("SELECT pg_advisory_xact_lock(?)", [EVENTS_LOCK])
                if w.events_mark is not None and self.events_mark() != w.events_mark:
                    raise StaleLedger(r.feed_url)
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
                got = self.db.execute(_INSERT_ITEM + " RETURNING id", row).fetchone()
                if got:
                    rowids[item.id] = got[0]
                    new += 1
            new += self._insert_items(batch)
            self.db.conn.executemany(
                "INSERT INTO matches (item, story, score, actors, claims, hits) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT (item, story) DO UPDATE SET score = excluded.score, actors = excluded.actors, "
                "claims = excluded.claims, hits = excluded.hits",
                [[rowids[item_id], m.story, m.score, json.dumps(list(m.actors)), json.dumps(list(m.claims)),
                  json.dumps([asdict(h) for h in m.hits])]
                 for item_id, matches in w.matches.items() if item_id in rowids for m in matches])
            repeats = set()
            for a in w.alerts:
                if not self._insert_event_new(a, rowids.get(a.item_id or ""), stamp):
                    repeats.add(a.key)  # stored by another worker: a repeat, no deliveries
                    self._add_source(a.key, rowids.get(a.item_id or ""), a.link, a.outlet, stamp)
            for key, item in w.repeats:
                self._add_source(key, rowids.get(item.id), item.link, item.feed_title, stamp)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO deliveries (event, target, next_attempt, created_at) VALUES (?,?,?,?)",
                [[key, target, stamp, stamp] for key, target in w.deliveries if key not in repeats])
            self._update_feed(r, new, stamp, w.feed_update)
            if w.alerts or w.events_mark is None:
                return self.events_mark()
            return w.events_mark  # not checked (no alerts): what others stored since is learnt next poll

    def _insert_event_new(self, a: Any, item_rowid: int | None, stamp: str) -> bool:
        """Insert the event; False when its key is stored already (nothing written)."""
        got = self.db.execute(
            "INSERT INTO events (key, story, kind, title, body, link, outlet, item, feed_url, actor, published, "
            "created_at, updated_at, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO NOTHING "
            "RETURNING key",
            [a.key, a.story, a.kind, a.title, a.body, a.link, a.outlet, item_rowid, a.feed_url,
             a.actor, _iso(a.published), stamp, stamp, json.dumps(a.data, default=str)]).fetchone()
        if got and a.link:
            self.db.execute(
                "INSERT OR IGNORE INTO event_sources (event, item, link, outlet, seen_at) VALUES (?,?,?,?,?)",
                [a.key, item_rowid, a.link, a.outlet, stamp])
        return got is not None

    def save_alerts(self, alerts: list, deliveries: list[tuple[str, str]]) -> None:
        with self.lock, self.db.atomic():
            self.db.execute("SELECT pg_advisory_xact_lock(?)", [EVENTS_LOCK])
            super().save_alerts(alerts, deliveries)

    # ------------------------------------------------------------ deliveries

    def due_deliveries(self, at: str | None = None, limit: int = 500) -> list[dict]:
        """The due rows no other worker holds, claimed for this one (claimed_by, claim_until)."""
        stamp = self._now()
        with self.lock:
            rows = self.db.query(
                "UPDATE deliveries SET claimed_by = ?, claim_until = ? WHERE id IN (SELECT id FROM deliveries "
                "WHERE state IN ('pending', 'retrying', 'held') AND next_attempt <= ? "
                "AND (claimed_by IS NULL OR claimed_by = ? OR claim_until < ?) ORDER BY id LIMIT ? "
                "FOR UPDATE SKIP LOCKED) RETURNING *",
                [self.worker_id, self._until(), at or stamp, self.worker_id, stamp, limit])
        return sorted(rows, key=lambda r: r["id"])

    def release_claims(self, keep: list[int], at: str) -> int:
        """Rows left `sending` by a worker whose claim expired (it died), or by this one and not
        in `keep` (a pass of ours that stopped): due again at `at`."""
        stamp = self._now()
        with self.lock:
            return self.db.execute(
                "UPDATE deliveries SET state = 'retrying', next_attempt = ?, last_error = ?, claimed_by = NULL "
                "WHERE state = 'sending' AND (claim_until < ? OR claimed_by = ?) AND NOT (id = ANY(?::bigint[]))",
                [at, "the process sending it stopped before recording the result; sent again", stamp,
                 self.worker_id, list(keep)]).rowcount

    def target_report(self) -> dict[str, dict[str, Any]]:
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
                    "SELECT DISTINCT ON (target) target, last_error FROM deliveries WHERE last_error IS NOT NULL "
                    "AND state IN ('retrying', 'failed') ORDER BY target, id DESC"):
                out.setdefault(target, dict(empty, states={}))["last_error"] = error
        return out

    # ------------------------------------------------------------ moving an installation (issue 15)
    # `monitor db migrate` and `monitor db copy` (dbcopy.py drives them): the same methods as
    # store.Store's. Columns only a PostgreSQL store has (the order of events, delivery claims)
    # stay behind when copying to SQLite; copied here, events get their `seq` in copy order.

    COPY_LOCAL = {"events": ("seq",), "deliveries": ("claimed_by", "claim_until")}
    _COPY_ORDER = {"feeds": "url", "items": "id", "matches": "item, story", "events": "seq",
                   "event_sources": "event, link", "deliveries": "id"}

    @classmethod
    def schema_version_of(cls, url: str) -> int:
        """The schema version of the database at `url` (0: no schema yet); migrates nothing."""
        problem = _connect_problem(url, {"connect_timeout": 10})
        if problem is not None:
            raise StoreError(f"{redact_url(url)}: cannot open the store: {problem}. Hint: check the URL, that "
                             "PostgreSQL is up, and the variable that holds the password")
        with psycopg.connect(url, connect_timeout=10) as conn:
            if not conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]:
                return 0
            return conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]

    def copy_columns(self, table: str) -> list[str]:
        with self.lock:
            return [r[0] for r in self.db.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ? ORDER BY ordinal_position", [table])]

    @contextmanager
    def copy_snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the database (REPEATABLE READ), even while workers write."""
        with self.lock, self.db.atomic():
            self.db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def copy_rows(self, table: str, columns: list[str], batch: int = 2000) -> Iterator[list[tuple]]:
        """`table`'s rows in batches, through a server-side cursor (inside `copy_snapshot`)."""
        with self.lock:
            cur = self.db.local.conn.cursor(name=f"copy_{table}")
            cur.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {self._COPY_ORDER[table]}")
            while rows := cur.fetchmany(batch):
                yield rows
            cur.close()

    def copy_in(self, tables: Iterable[tuple[str, list[str], Iterable[list[tuple]]]],
                expected: dict[str, int], replace: bool = False) -> dict[str, int]:
        """As Store.copy_in: ONE transaction (COPY FROM STDIN per table), the rows per table
        checked before it commits; the id sequences then continue after the copied ids."""
        with self.lock, self.db.atomic():
            conn = self.db.local.conn
            if replace:
                conn.execute(f"TRUNCATE {', '.join(self.COPY_TABLES)}, leases")
            for table, columns, batches in tables:
                with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for rows in batches:
                        for row in rows:
                            copy.write_row(row)
            for table, column in (("items", "id"), ("deliveries", "id"), ("events", "seq")):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                             f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)")
            got = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in self.COPY_TABLES}
            if got != expected:
                raise StoreError(f"{self.path}: the copy does not add up (expected {expected}, got {got}); "
                                 "nothing was written")
            return got


def _again(step: Any) -> Any:
    """Run a whole transaction again when a dropped connection cut it (ATTEMPTS in all)."""
    for attempt in range(ATTEMPTS):
        try:
            return step()
        except _Dropped:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _connect_problem(url: str, kwargs: dict) -> str | None:
    """Why a connection fails, in psycopg's words, the password masked; None if it works."""
    try:
        psycopg.connect(url, **kwargs).close()
    except psycopg.Error as exc:
        text = str(exc).strip()
        password = re.search(r"://[^:/@]*:([^@]*)@", url)
        return text.replace(password.group(1), "****") if password and password.group(1) else text
    return None
