"""The long-running service: APScheduler 3.x wiring and clean shutdown.

- One job per feed at its interval with jitter; `max_instances=1` (no overlapping runs of the
  same feed) and `coalesce=True` (misfires run once). The first poll of each feed happens at
  start, spread over the jitter.
- A delivery job sends due notifications every `DELIVERY_EVERY` seconds (and retries).
- A config watcher reloads `config/` when a file changes: a valid edit is adopted without a
  restart (jobs added/removed/rescheduled); an invalid one is logged with the same messages as
  `monitor validate` and the service keeps the last good config.
- A daily job prunes old non-relevant items (service.retention_days), and the rows of workers
  not seen for WORKER_MEMORY (a killed worker never retires its own).
- Feed polls run on their own pool of `service.workers` threads, so a slow feed never delays
  delivery or the config watcher; a reload that changes `workers` swaps in a new pool.
- SIGTERM/SIGINT stop the scheduler without waiting for fetches in flight; a fetch cut short
  leaves nothing half-written (each poll is one transaction).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import signal
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from . import config as config_mod
from . import logs, notify
from .config import Config, Feed
from .errors import ConfigError, MonitorError, StoreError
from .notify import Notifier
from .pipeline import Pipeline
from .store import open_store

if TYPE_CHECKING:
    from .web import WebServer

log = logging.getLogger(__name__)

DELIVERY_EVERY = 10.0
WORKER_MEMORY = timedelta(days=1)  # how long `monitor status` lists a worker that stopped beating
CONFIG_CHECK_EVERY = 5.0
HEARTBEAT_EVERY = 10.0
HEARTBEAT_STALE = 120.0
_POOL_IDS = itertools.count(1)  # executor aliases of resized poll pools


def heartbeat_path(cfg: Config) -> Path:
    return cfg.state_dir / "heartbeat"


def lock_path(cfg: Config) -> Path:
    return Path(f"{cfg.database}.service.lock")


def lock_state(cfg: Config) -> IO[str] | None:
    """Hold an exclusive flock on `<database>.service.lock` for the life of this process (the
    kernel releases it when the process ends, even by SIGKILL); MonitorError if another service
    holds it. Two services on one store would each alert what the other already did."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no guard
        return None
    path = lock_path(cfg)
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        pid = f.read().strip() or "?"
        f.close()
        raise MonitorError(f"{cfg.state_dir}: another `monitor run` (pid {pid}) is already using this state "
                           f"directory (lock {path}). Hint: stop it first, or give this one its own --state") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def health(cfg: Config) -> str | None:
    """None when a service on this state dir beat recently, else the reason.

    The heartbeat file holds "TIME PID HOST" and, on a second line, what is wrong (the store
    refuses writes) when the service runs but is unhealthy; a clean stop removes it. A stale one
    whose process is gone (same host) means "not running"; only a live process that stopped
    beating is "stuck"."""
    path = heartbeat_path(cfg)
    try:
        lines = path.read_text().splitlines()
        parts = lines[0].split()
        beat = datetime.fromisoformat(parts[0])
    except FileNotFoundError:
        return f"not running: no heartbeat in {path}. Hint: start `monitor run` on this state dir"
    except (OSError, ValueError, IndexError) as exc:
        return f"not running: cannot read the heartbeat {path}: {getattr(exc, 'strerror', None) or exc}"
    age = (datetime.now(timezone.utc) - beat).total_seconds()
    pid = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    here = len(parts) > 2 and parts[2] == socket.gethostname()
    if pid is not None and here and not _alive(pid):
        return f"not running: process {pid} that wrote {path} is gone (last heartbeat {age:.0f}s ago)"
    if age > HEARTBEAT_STALE:
        who = f"process {pid} " if pid is not None and here else ""
        return f"last heartbeat {age:.0f}s ago: the service {who}is stuck or its store is not writable"
    if len(lines) > 1 and lines[1].strip():
        return lines[1].strip()
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class Service:
    def __init__(self, cfg: Config, config_arg: str | None = None, state_arg: str | None = None,
                 web: str | None = None):
        self.cfg = cfg
        self.web_address, self.web = web, None  # "HOST:PORT" of the dashboard (web.py), off if None
        self.args = (config_arg, state_arg)
        self.store = open_store(cfg.database, lease=cfg.service.lease)
        # one service per SQLite store: a second one is refused here; on PostgreSQL any number of
        # workers share the store, each feed polled by the one that takes its lease (store_pg.py)
        self.state_lock = None if self.store.shared else lock_state(cfg)
        if self.store.shared:  # the heartbeat file's directory (SQLite's store made it)
            with contextlib.suppress(OSError):
                cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.store_beat = datetime.min.replace(tzinfo=timezone.utc)  # last Store.beat (PostgreSQL)
        self.pipeline = Pipeline(cfg, self.store)
        self.notifier = Notifier(cfg, self.store)
        # Feed polls run on their own pool of `workers` threads (resized on reload); delivery,
        # the config watcher and pruning on "default", so slow feeds never hold them up.
        self.polls = ThreadPoolExecutor(cfg.service.workers)
        self.polls_alias = "polls"
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(3), self.polls_alias: self.polls},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )
        self.stopped = threading.Event()
        self.config_stamp = _stamp(cfg.config_dir)
        self.heartbeat = datetime.min.replace(tzinfo=timezone.utc)
        self.started = datetime.max.replace(tzinfo=timezone.utc)  # set by start(): /healthz counts the heartbeat's age from then
        self.heartbeat_error: str | None = None
        self.store_problem: str | None = None  # the last store write's error, until one succeeds
        self.store_lock = threading.Lock()
        self.unsaved: set[str] = set()  # feeds whose last poll the store refused: polled again when it accepts writes

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.started = datetime.now(timezone.utc)
        web = self._web_server() if self.web_address else None  # binds now: a busy port fails first
        for feed in self.cfg.feeds:
            self._schedule(feed)
        self.scheduler.add_job(self._deliver, "interval", seconds=DELIVERY_EVERY, id="deliver",
                               next_run_time=datetime.now(timezone.utc))
        self.scheduler.add_job(self._watch_config, "interval", seconds=CONFIG_CHECK_EVERY, id="config")
        self.scheduler.add_job(self._prune, "interval", hours=24, id="prune",
                               next_run_time=datetime.now(timezone.utc) + timedelta(minutes=1))
        self.scheduler.start()
        if web is not None:
            web.start()
            self.web = web
            log.info("dashboard listening url=%s", web.url)
        log.info("service started feeds=%d stories=%d targets=%d state=%s",
                 len(self.cfg.feeds), len(self.cfg.stories), len(self.cfg.notify.targets), self.cfg.state_dir)

    def run_forever(self) -> None:
        """Block until SIGTERM/SIGINT, then shut down cleanly."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: self.stopped.set())
        self.start()
        while not self.stopped.wait(1.0):
            self.beat()
            self.beat_store()
        self.stop()

    def beat(self) -> None:
        """Write state/heartbeat every few seconds: the time, and what is wrong if anything
        (`monitor health` and `monitor status` read it). A heartbeat that cannot be written is
        logged once; the service goes on (only `monitor health` is blind then)."""
        now = datetime.now(timezone.utc)
        if (now - self.heartbeat).total_seconds() < HEARTBEAT_EVERY:
            return
        self.heartbeat = now
        self._retry_unsaved()
        problem = self.alive()
        try:
            heartbeat_path(self.cfg).write_text(f"{now.isoformat(timespec='seconds')} {os.getpid()} {socket.gethostname()}\n"
                                               + (f"{problem}\n" if problem else ""))
        except OSError as exc:
            if self.heartbeat_error is None:
                log.error("cannot write the heartbeat file %s: %s; the service goes on, but `monitor health` "
                          "will report it as not running. Hint: remove or fix %s", heartbeat_path(self.cfg),
                          exc.strerror or exc, heartbeat_path(self.cfg))
            self.heartbeat_error = str(exc)
            return
        if self.heartbeat_error is not None:
            log.info("heartbeat file written again path=%s", heartbeat_path(self.cfg))
            self.heartbeat_error = None

    def beat_store(self) -> None:
        """PostgreSQL: this worker's row in `workers` and its leases and delivery claims renewed,
        three times per lease, so they expire only when it stops beating (dead, or cut off)."""
        now = datetime.now(timezone.utc)
        if not self.store.shared or (now - self.store_beat).total_seconds() < max(1.0, self.cfg.service.lease / 3):
            return
        self.store_beat = now
        try:
            self.store.beat(self.store_problem)
        except StoreError as exc:
            self._store_failed(exc)

    def stop(self) -> None:
        log.info("service stopping")
        self.scheduler.shutdown(wait=False)
        if self.web is not None:
            self.web.stop()
        self.pipeline.close()
        with contextlib.suppress(StoreError):  # PostgreSQL: our feeds to the other workers now
            self.store.retire()
        with contextlib.suppress(OSError):  # `monitor health` then says "not running", not "stuck"
            heartbeat_path(self.cfg).unlink(missing_ok=True)
        if self.state_lock is not None:
            self.state_lock.close()  # releases the flock
        log.info("service stopped")

    def _web_server(self) -> "WebServer":
        from .web import WebServer, create_app, parse_address

        host, port = parse_address(self.web_address or "")
        return WebServer(create_app(self.store, lambda: self.cfg, self.alive), host, port)

    def alive(self) -> str | None:
        """None when healthy, else the reason (for /healthz): this process's scheduler, its
        store connection, and its own heartbeat (each worker answers for itself)."""
        if not self.scheduler.running:
            return "scheduler not running"
        age = (datetime.now(timezone.utc) - max(self.heartbeat, self.started)).total_seconds()
        if age > HEARTBEAT_STALE:
            return f"no heartbeat for {age:.0f}s: this worker's main loop is stuck"
        return self.store_problem or self.store.writable()

    def _store_failed(self, exc: StoreError) -> None:
        """A write the store refused: logged once per episode, reported by /healthz and status."""
        with self.store_lock:
            first, self.store_problem = self.store_problem is None, str(exc)
        if first:
            log.error("store not writable: polls and delivery results are not saved until it is; "
                      "the service keeps running and nothing stored is lost: %s", exc)
        else:
            log.debug("store still not writable: %s", exc)

    def _retry_unsaved(self) -> None:
        """When the store is refusing writes, probe it; once a probe write succeeds, poll again
        at once the feeds whose write failed (their write decides: no flapping on the probe)."""
        if self.store_problem is None or not self.unsaved or self.store.writable() is not None:
            return
        with self.store_lock:
            urls, self.unsaved = self.unsaved, set()
        for url in urls:
            job = self.scheduler.get_job(f"feed:{url}")
            if job is not None:
                job.modify(next_run_time=datetime.now(timezone.utc))

    def _store_ok(self) -> None:
        with self.store_lock:
            was, self.store_problem = self.store_problem, None
        if was is not None:
            log.warning("store writable again; polling and delivering as usual")
            self.heartbeat = datetime.min.replace(tzinfo=timezone.utc)  # say so in the heartbeat now

    # ------------------------------------------------------------ jobs

    def _schedule(self, feed: Feed) -> None:
        if not feed.enabled:
            return
        jitter = self.cfg.service.jitter
        first = datetime.now(timezone.utc) + timedelta(seconds=random.uniform(0, min(jitter, 5)))
        self.scheduler.add_job(self._poll, "interval", args=[feed.url], id=f"feed:{feed.url}",
                               executor=self.polls_alias, seconds=self.cfg.interval(feed), jitter=jitter or None,
                               next_run_time=first, replace_existing=True)

    def _poll(self, url: str) -> None:
        feed = self.cfg.feed(url)
        if feed is None:
            return
        try:
            if self.store.shared and not self.store.claim_feed(url, self._min_gap(feed)):
                return  # another worker polls it (or did, less than an interval ago)
            self.pipeline.poll(feed)
        except StoreError as exc:  # full disk, read-only file: the feed is polled again next time
            self._store_failed(exc)  # (on PostgreSQL its lease stays ours until then, or expires)
            with self.store_lock:
                self.unsaved.add(url)
            return
        except Exception:  # a bug, not a feed failure: loud, but the other feeds go on
            log.exception("poll crashed feed=%s (this is a bug; please report it)", url)
            self._release(url)
            return
        self._release(url)
        self._store_ok()
        self._deliver()

    def _min_gap(self, feed: Feed) -> float:
        """How long after a poll's claim the feed is due again for any worker: its interval less
        the jitter (APScheduler's fires are that far apart at least) and a second of slack."""
        return max(0.0, self.cfg.interval(feed) - self.cfg.service.jitter - 1.0)

    def _release(self, url: str) -> None:
        if self.store.shared:
            try:
                self.store.release_feed(url)
            except StoreError as exc:  # the lease expires by itself
                self._store_failed(exc)

    def _deliver(self) -> None:
        try:
            self.notifier.deliver_due()
        except StoreError as exc:
            self._store_failed(exc)
        except Exception:
            log.exception("delivery crashed (this is a bug; deliveries stay queued)")

    def _prune(self) -> None:
        cutoff = datetime.now(timezone.utc) - timedelta(days=self.cfg.service.retention_days)
        try:
            n = self.store.prune(cutoff.isoformat(timespec="seconds"))
            # a killed worker never retires: its row goes once unseen for a day (`monitor status`
            # shows it as stopped or dead until then)
            w = self.store.forget_workers((datetime.now(timezone.utc) - WORKER_MEMORY).isoformat(timespec="seconds"))
        except StoreError as exc:
            self._store_failed(exc)
            return
        log.info("store pruned items=%d older_than=%s workers=%d", n, cutoff.date(), w)

    def _watch_config(self) -> None:
        stamp = _stamp(self.cfg.config_dir)
        if stamp == self.config_stamp:
            return
        self.config_stamp = stamp
        try:
            new = notify.load_checked(*self.args)
        except ConfigError as exc:
            for line in exc.problems:
                log.error("config rejected, keeping the last good one: %s", line)
            return
        self._adopt(new)

    def _adopt(self, new: Config) -> None:
        old = {f.url: (f, self.cfg.interval(f)) for f in self.cfg.feeds}
        if new.service.workers != self.cfg.service.workers:
            self._resize_polls(new.service.workers)
        if new.web != self.cfg.web:
            log.warning("config web.listen changed: restart the service to apply it")
        self.cfg = new
        try:
            self.pipeline.reconfigure(new)
        except StoreError as exc:  # adopted all the same: a feed's row is written at its first poll
            self._store_failed(exc)
        self.notifier.reconfigure(new)
        logs.REDACTOR.update([*new.secrets, *notify.secret_values(new)])
        for job in self.scheduler.get_jobs():
            feed = new.feed(job.id[5:]) if job.id.startswith("feed:") else None
            if job.id.startswith("feed:") and (feed is None or not feed.enabled):
                job.remove()
        for feed in new.feeds:
            if old.get(feed.url) != (feed, new.interval(feed)):
                self._schedule(feed)
        log.info("config reloaded feeds=%d stories=%d targets=%d",
                 len(new.feeds), len(new.stories), len(new.notify.targets))
        for note in new.notes:
            log.warning("config note: %s", note)
        for line in new.warnings:  # settings that can never apply, as `monitor validate` warns
            log.warning("config warning: %s", line)
        if not new.notify.targets:
            log.warning("no notification targets: alerts are stored but sent nowhere")

    def _resize_polls(self, workers: int) -> None:
        """A new pool of `workers` threads for the feed jobs (APScheduler cannot resize a pool in
        place); polls already running or queued on the old one finish there, then it goes."""
        old, old_alias = self.polls, self.polls_alias
        self.polls, self.polls_alias = ThreadPoolExecutor(workers), f"polls-{next(_POOL_IDS)}"
        self.scheduler.add_executor(self.polls, self.polls_alias)
        for job in self.scheduler.get_jobs():
            if job.id.startswith("feed:"):
                job.modify(executor=self.polls_alias)
        self.scheduler.remove_executor(old_alias, shutdown=False)
        old.shutdown(wait=False)
        log.info("config workers applied workers=%d", workers)


def _stamp(directory: Path) -> tuple:
    files = sorted([directory / config_mod.SERVICE_FILE, *(directory / config_mod.STORIES_DIR).glob("*.toml")])
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append((str(f), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(f), None, None))
    return tuple(out)
