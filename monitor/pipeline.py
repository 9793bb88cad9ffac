"""One poll of one feed: fetch -> parse -> match -> extract -> novelty -> store (alert queued).

This module reads as the table of contents of the service. Fetching runs in parallel across
feeds; everything after the fetch (matching, the novelty ledger, the store transaction) runs
under one lock, so the ledger in memory and the events in the store always agree.

Per-feed backoff: after a failure the next poll waits `interval * 2**(errors-1)`, capped at
`service.max_backoff`, or the server's Retry-After if it gave one (honoured up to
RETRY_AFTER_MAX or max_backoff, whichever is longer: a hostile "Retry-After: 99999999999" must
not silence a feed for ever). A 410 stops polling the feed; a permanent redirect (301/308) is
remembered and used from then on. Every failure is one log line with its stable `reason`; a
document cut short still stores its whole entries (parse.PartialFeed) and counts as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from typing import TYPE_CHECKING, Any

from .config import Config, Feed
from .errors import FeedError
from .fetch import Fetcher
from .models import LARGE_BODY, Alert, FeedResult, FetchResult, Item
from .store import FeedState, PollWrite, StaleLedger, Store

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from . import novelty

log = logging.getLogger(__name__)

RETRY_AFTER_MAX = 24 * 3600.0
STALE_RETRIES = 3  # polls decided again when another process stored events in between (then stored as is)
PARSE_MEMORY = 320 << 20  # address space of one parse process (workers.py); idle, it uses ~40 MB


@dataclass(frozen=True)
class PollSummary:
    feed_url: str
    status: str  # "ok" | "not_modified" | "error" | "skipped" | "gone" | "flooded" (a cap held items back)
    new_items: int = 0
    relevant: int = 0
    alerts: int = 0
    error: str | None = None
    duration: float = 0.0


class Pipeline:
    def __init__(self, cfg: Config, store: Store, fetcher: Fetcher | None = None,
                 parse_processes: int | None = None, metrics: bool = True):
        self.cfg = cfg
        # Prometheus counters (metrics.py) for the service's /metrics; `monitor check` has no
        # /metrics to serve and passes False: nor does it import prometheus_client (~15 ms).
        self.metrics = metrics
        self.store = store
        s = cfg.service
        self.fetcher = fetcher or Fetcher(s.timeout, s.connect_timeout, s.max_bytes, s.max_redirects)
        self.lock = threading.Lock()
        self.processes = processes = s.parse_processes if parse_processes is None else parse_processes
        self.pool: ProcessPoolExecutor | None = None  # started with the first body to parse
        self._pool_lock = threading.Lock()
        self._large = threading.Semaphore(1)  # bodies over models.LARGE_BODY are parsed one at a time
        # threads that hand bodies to the pool and wait; with no pool they parse themselves, and
        # holding the GIL, one thread is all that can use (a second one only adds switching)
        self._parse_executor = ThreadPoolExecutor(max(1, processes * 2), thread_name_prefix="parse")
        store.sync_feeds((f.url, f.title) for f in cfg.feeds)
        # Built from the stored events when a poll first has new items, not at start: a `monitor
        # check` that only gets 304s never reads them (nor imports matching and extraction).
        self._ledgers: dict[str, novelty.Ledger] | None = None
        self.events_mark: int | None = None  # the newest stored event the ledgers know of

    @property
    def ledgers(self) -> dict[str, novelty.Ledger]:
        if self._ledgers is None:
            self._ledgers = self._load_ledgers()
        return self._ledgers

    def close(self) -> None:
        self.fetcher.close()
        self._parse_executor.shutdown(wait=False, cancel_futures=True)
        if self.pool:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def reconfigure(self, cfg: Config) -> None:
        """Adopt a new, already validated config (stories, feeds, targets)."""
        with self.lock:
            self.cfg = cfg
            s = cfg.service
            self.fetcher.configure(s.timeout, s.connect_timeout, s.max_bytes, s.max_redirects)
            self._ledgers = None  # rebuilt for the new stories when a poll next needs them
            self.store.sync_feeds((f.url, f.title) for f in cfg.feeds)  # last: it may fail (StoreError)

    def _load_ledgers(self) -> dict[str, novelty.Ledger]:
        from . import novelty

        self.events_mark = self.store.events_mark()  # before reading: what comes after is learnt later
        return {s.id: novelty.Ledger.from_alerts(s, self.store.alerts(s.id)) for s in self.cfg.stories}

    def _catch_up(self) -> None:
        """Learn the events another process (`monitor check` beside `monitor run`) stored since:
        the store, not this process's memory, judges what is new. One indexed query per poll."""
        if self._ledgers is None:  # not built yet: built from the store when first needed
            return
        for alert in self.store.alerts_after(self.events_mark):
            if alert.story in self.ledgers:
                self.ledgers[alert.story].learn(alert)
        self.events_mark = self.store.events_mark()

    # ------------------------------------------------------------ one feed

    def poll(self, feed: Feed, force: bool = False) -> PollSummary:
        """Poll one feed now (the service's per-feed job)."""
        start = time.monotonic()
        state = self.store.feed(feed.url)
        skip = self._skip(feed, state, force)
        if skip:
            return skip
        url = state.moved_to or feed.url
        try:
            got = self.fetcher.fetch(url, state.etag, state.last_modified)
        except FeedError as exc:
            got = exc
        result, items = self._parse(feed, state, got)
        return self._finish(feed, state, result, items, start)

    def poll_many(self, feeds: list[Feed], force: bool = False, window: int = 64) -> list[PollSummary]:
        """Poll many feeds at once (`monitor check`): fetches run concurrently on the fetcher's
        event loop, parsing in the process pool when there is one, and each feed's results are
        stored as soon as they are parsed. At most `window` feeds are in flight, which bounds memory.
        A 304 of a healthy feed has nothing to match, alert or store but its bookkeeping (when
        polled, status, duration): those are written together at the end, in one transaction."""
        states = {f.url: f for f in self.store.feeds(f.url for f in feeds)}
        out: list[PollSummary] = []
        quiet: list[tuple[PollWrite, float]] = []
        done: queue.SimpleQueue[Future] = queue.SimpleQueue()  # futures as they complete, in order
        pending: dict[Future, tuple[Feed, FeedState, float]] = {}

        def complete_one() -> None:
            future = done.get()
            feed, state, start = pending.pop(future)
            result, items = future.result()
            if result.not_modified and not state.failing_alerted:  # no recovery alert to raise either
                write = PollWrite(result=result, feed_update=self._feed_update(feed, state, result))
                quiet.append((write, time.monotonic() - start))
            else:
                out.append(self._finish(feed, state, result, items, start))

        for feed in feeds:
            state = states.get(feed.url) or FeedState(url=feed.url)
            skip = self._skip(feed, state, force)
            if skip:
                out.append(skip)
                continue
            if len(pending) >= window:
                complete_one()
            future = self._fetch_then_parse(feed, state)
            pending[future] = (feed, state, time.monotonic())
            future.add_done_callback(done.put)
        while pending:
            complete_one()
        out += self._save_quiet(quiet)
        order = {f.url: i for i, f in enumerate(feeds)}
        return sorted(out, key=lambda s: order[s.feed_url])

    def _save_quiet(self, quiet: list[tuple[PollWrite, float]]) -> list[PollSummary]:
        if not quiet:
            return []
        with self.lock:
            self.store.save_polls([w for w, _ in quiet])
        summaries = []
        for write, duration in quiet:
            summaries.append(self._summary(write.result, write, duration))
            _log_poll(summaries[-1])
            self._observe(summaries[-1], write.result.reason)
        return summaries

    def _fetch_then_parse(self, feed: Feed, state: FeedState) -> Future:
        """A future of (FeedResult, items): fetch on the event loop, then parse off this thread."""
        out: Future = Future()
        url = state.moved_to or feed.url
        fetched = asyncio.run_coroutine_threadsafe(
            self.fetcher.fetch_async(url, state.etag, state.last_modified), self.fetcher.loop)

        def parsed(f: Future) -> None:
            try:
                out.set_result(self._parse(feed, state, f.exception() or f.result()))
            except BaseException as exc:  # a bug: surface it through the future
                out.set_exception(exc)

        def fetched_done(f: Future) -> None:
            if not f.cancelled() and f.exception() is None and f.result().body is not None:
                self._parse_executor.submit(parsed, f)
            else:  # a 304 or a failure: nothing to parse, settled at once (one thread hop less)
                parsed(f)

        fetched.add_done_callback(fetched_done)
        return out

    def _skip(self, feed: Feed, state: FeedState, force: bool) -> PollSummary | None:
        if state.gone:
            return PollSummary(feed.url, "gone", error=state.last_error)
        if not force and state.next_poll and state.next_poll > _now_iso():
            log.debug("feed skipped status=backoff feed=%s until=%s", feed.url, state.next_poll)
            return PollSummary(feed.url, "skipped")
        return None

    def _parse(self, feed: Feed, state: FeedState, got: FetchResult | BaseException) -> tuple[FeedResult, list[Item]]:
        """FetchResult (or the fetch's FeedError) -> FeedResult and items. Parsing runs in the
        process pool when the pipeline has one (feedparser is pure Python: a second core helps)."""
        url = state.moved_to or feed.url
        moved = None
        if not isinstance(got, BaseException) and got.body is None:  # a 304: nothing to parse
            moved = got.final_url if got.final_url and got.final_url != url else None
            return FeedResult(feed.url, got.status, not_modified=True, etag=state.etag,
                              last_modified=state.last_modified, moved_to=moved, elapsed=got.elapsed), []
        from . import parse  # with the first body or failure: a pass of 304s never imports the parser

        try:
            if isinstance(got, BaseException):
                raise got
            moved = got.final_url if got.final_url and got.final_url != url else None
            # entries already seen in the last document are not parsed again (entries.py)
            known = frozenset((state.entry_digests or "").split())
            args = (feed.url, got.body, got.headers, got.final_url or url, known)
            title, items, digests = self._parse_body(*args)
            if title and not feed.title and title != state.title:
                self.store.update_feed(feed.url, title=title)
            return FeedResult(feed.url, got.status, tuple(items), etag=got.etag, last_modified=got.last_modified,
                              moved_to=moved, elapsed=got.elapsed, digests=digests), items
        except parse.PartialFeed as exc:  # whole entries of a cut-short document: kept, failure reported
            return FeedResult(feed.url, got.status, tuple(exc.items), error=str(exc), moved_to=moved,
                              reason=exc.reason, elapsed=got.elapsed), list(exc.items)
        except FeedError as exc:
            return FeedResult(feed.url, exc.status, error=str(exc), gone=exc.reason == "gone",
                              retry_after=exc.retry_after, reason=exc.reason), []

    def _parse_body(self, *args: Any) -> tuple[str, list[Item], tuple[str, ...] | None]:
        from . import parse, workers

        if self.processes <= 0:
            return parse.parse_new(*args)
        from concurrent.futures.process import BrokenProcessPool

        with self._pool_lock:
            if self.pool is None:
                self.pool = _process_pool(self.processes)
            pool = self.pool
        # At most one large body is in a parse process at a time: memory stays bounded by one
        # large document (workers.py), however many the feeds send at once.
        large = len(args[1]) >= LARGE_BODY
        try:
            with self._large if large else contextlib.nullcontext():
                out, warnings = pool.submit(workers.parse, *args).result()
        except BrokenProcessPool:  # a worker died (killed, out of memory): start a new pool
            log.error("parse process died; starting a new pool feed=%s", args[0])
            with self._pool_lock:
                if self.pool is pool:
                    self.pool = _process_pool(self.processes)
            raise FeedError(str(args[0]), "the parser process died on this feed (out of memory?); "
                            "it will be retried. Hint: lower service.max_bytes", reason="parser_died") from None
        parse.replay(warnings)  # logged here: our format and redaction, and once per service
        if isinstance(out, BaseException):
            raise out
        return out  # type: ignore[return-value]

    def _finish(self, feed: Feed, state: FeedState, result: FeedResult, items: list[Item], start: float) -> PollSummary:
        """Match, extract, decide novelty and store the poll: one transaction, under the lock."""
        with self.lock:
            for attempt in range(STALE_RETRIES + 1):
                self._catch_up()
                write = self._analyse(result, items)
                write.feed_update = self._feed_update(feed, state, result)
                write.alerts += self._health_alerts(state, result, write)
                write.alerts += self._flood_alerts(state, write)
                write.deliveries = _route(write.alerts, self.cfg)
                write.events_mark = self.events_mark if attempt < STALE_RETRIES else None
                try:
                    self.events_mark = self.store.save_poll(write)
                    break
                except StaleLedger:  # another process stored events meanwhile: decide again knowing them
                    self._ledgers = None
                except Exception:
                    self._ledgers = None  # the ledger saw alerts the store did not keep: rebuilt from the store
                    raise
        summary = self._summary(result, write, time.monotonic() - start)
        _log_poll(summary, result.reason or ("flood" if write.flood else None))
        self._observe(summary, result.reason)
        return summary

    def _observe(self, summary: PollSummary, reason: str | None) -> None:
        if self.metrics:
            from . import metrics

            metrics.observe_poll(summary, reason)

    def _analyse(self, result: FeedResult, items: list[Item]) -> PollWrite:
        s = self.cfg.service
        unseen = self.store.unseen(items) if items else []
        write = PollWrite(result=result, items=unseen[:s.max_new_items])
        flood: list[str] = []
        unjudged = 0
        if items and len(items) >= _max_items():
            flood.append(f"the document has {_max_items():,} entries or more; only the first {_max_items():,} are read")
        if len(unseen) > s.max_new_items:
            flood.append(f"{len(unseen):,} new items, {s.max_new_items:,} stored (service.max_new_items), "
                         "the rest at the next polls")
        if write.items:  # imported on first use: a pass of 304s never needs them
            from . import extract, match, novelty
        for item in write.items:
            for story in self.cfg.stories:
                m = match.match(item, story, detail=False)
                if not m.relevant:
                    continue
                write.matches.setdefault(item.id, []).append(m)
                if len(write.alerts) >= s.max_alerts:  # flooding: stored and matched, not alerted
                    unjudged += 1
                    continue
                statements, figures = extract.extract(item, m, story)
                decision = novelty.decide(self.ledgers[story.id], story, item, statements, figures)
                write.alerts += decision.new
                write.repeats += [(key, item) for key in decision.repeats]
        if unjudged:
            flood.append(f"{unjudged:,} relevant items not checked for news after {s.max_alerts} alerts "
                         "(service.max_alerts)")
        write.flood = "flooded: " + "; ".join(flood) if flood else None
        return write

    def _flood_alerts(self, state: FeedState, write: PollWrite) -> list[Alert]:
        """A poll that hit a cap: the feed's status says so (not "ok"), an operator alert goes out
        once per episode, and items held back by max_new_items are fetched again next time."""
        if write.flood is None:
            return []
        if write.result.error is None:  # an error's own message wins
            write.feed_update.update(error_reason="flood", last_error=write.flood)
        if "max_new_items" in write.flood:  # keep the old validators: no 304 next time
            # nor the entries' digests: the held-back entries must be parsed again (entries.py)
            write.feed_update.update(etag=state.etag, last_modified=state.last_modified,
                                     entry_digests=state.entry_digests)
        from . import notify

        alert = notify.feed_flood_alert(state, write.result.feed_url, write.flood)
        return [alert] if alert else []

    def _feed_update(self, feed: Feed, state: FeedState, r: FeedResult) -> dict:
        cols: dict = {"error_reason": r.reason}
        if r.moved_to:
            cols["moved_to"] = r.moved_to
            log.warning("feed moved permanently feed=%s to=%s", feed.url, r.moved_to)
        if r.gone:
            cols["gone"] = 1
        if r.error is None:
            cols["next_poll"] = None
            if not r.not_modified:  # stored with this poll's items: "seen" survives a restart
                cols["entry_digests"] = " ".join(r.digests) if r.digests else None
            return cols
        errors = state.consecutive_errors + 1
        interval = self.cfg.interval(feed)
        wait = min(self.cfg.service.max_backoff, interval * 2 ** min(errors - 1, 32))  # no float overflow after months
        if r.retry_after is not None:
            wait = min(max(r.retry_after, 1.0), max(RETRY_AFTER_MAX, self.cfg.service.max_backoff))
        cols["next_poll"] = _iso(datetime.now(timezone.utc) + timedelta(seconds=wait - 1))
        return cols

    def _health_alerts(self, state: FeedState, r: FeedResult, write: PollWrite) -> list[Alert]:
        if r.error is None and not state.failing_alerted:
            return []  # a healthy poll of a healthy feed: no alert (notify.feed_health_alert's rule)
        from . import notify

        alert = notify.feed_health_alert(state, r, self.cfg.service.failing_after)
        if alert is None:
            return []
        write.feed_update["failing_alerted"] = 1 if alert.kind == "feed_failing" else 0
        return [alert]

    @staticmethod
    def _summary(r: FeedResult, w: PollWrite, duration: float) -> PollSummary:
        if r.error:
            status = "gone" if r.gone else "error"
        else:
            status = "not_modified" if r.not_modified else "ok"
        story_alerts = sum(1 for a in w.alerts if a.kind in ("statement", "figure"))
        if w.flood and not r.error:
            status = "flooded"
        return PollSummary(r.feed_url, status, len(w.items), len(w.matches), story_alerts, r.error or w.flood, duration)


def _route(alerts: list[Alert], cfg: Config) -> list[tuple[str, str]]:
    """(event key, target id) of every delivery the alerts make (notify imported only for alerts)."""
    if not alerts:
        return []
    from . import notify

    return [(a.key, t) for a in alerts for t in notify.route(a, cfg.notify.targets)]


def _max_items() -> int:
    from . import parse

    return parse.MAX_ITEMS


def _process_pool(processes: int) -> ProcessPoolExecutor:
    from . import workers

    return workers.process_pool(processes, PARSE_MEMORY)  # spawned; ignore Ctrl-C, exit when we die, capped


def _log_poll(s: PollSummary, reason: str | None = None) -> None:
    if s.error:
        log.warning("feed polled status=%s feed=%s new=%d reason=%s duration=%.2fs error=%r",
                    s.status, s.feed_url, s.new_items, reason or "error", s.duration, s.error)
    else:
        log.info("feed polled status=%s feed=%s new=%d relevant=%d alerts=%d duration=%.2fs",
                 s.status, s.feed_url, s.new_items, s.relevant, s.alerts, s.duration)


def _now_iso() -> str:
    return _iso(datetime.now(timezone.utc))


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")
