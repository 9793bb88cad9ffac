"""Prometheus metrics: counters the pipeline and the notifier feed, gauges read from the store.

Hooks (one call each, no other coupling):
    pipeline.py   observe_poll(summary, reason)   once per poll of one feed
    notify.py     observe_delivery(state)         once per delivery row whose state changed

Exposed at /metrics (text format 0.0.4) by `web.py`:

    monitor_polls_total{status}                 ok | not_modified | error | gone | flooded
    monitor_poll_failures_total{reason}         timeout, dns, http_404, parse, ... (FeedError.reason)
    monitor_poll_duration_seconds               histogram of fetch + analysis + store, per poll
    monitor_new_items_total                     items first seen by this process
    monitor_relevant_items_total                of which relevant to a story
    monitor_alert_events_total                  story alert events (statements, figures) created
    monitor_delivery_attempts_total{state}      delivery outcomes: sent, retrying, failed, held
    monitor_items / monitor_relevant_items      stored, read from the store at scrape time
    monitor_events{story,kind}                  alert events stored
    monitor_deliveries{state}                   the outbox by state (pending, retrying, sent, failed, held)
    monitor_feeds{health}                       configured feeds: ok, error (retrying), failing, gone, never
    monitor_healthy                             1 when the scheduler runs and the store is writable

Counters live for the process (they restart at 0, as Prometheus expects); the stored counts
survive restarts. The registry is our own, not prometheus_client's global one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from .store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REGISTRY = CollectorRegistry(auto_describe=True)

POLLS = Counter("monitor_polls", "Polls of one feed, by outcome.", ["status"], registry=REGISTRY)
FAILURES = Counter("monitor_poll_failures", "Failed polls, by reason.", ["reason"], registry=REGISTRY)
DURATION = Histogram("monitor_poll_duration_seconds", "Time to poll one feed: fetch, parse, match, store.",
                     buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY)
NEW_ITEMS = Counter("monitor_new_items", "New items stored.", registry=REGISTRY)
RELEVANT = Counter("monitor_relevant_items", "New items relevant to a story.", registry=REGISTRY)
ALERTS = Counter("monitor_alert_events", "Story alert events created (new statements, new figures).", registry=REGISTRY)
DELIVERIES = Counter("monitor_delivery_attempts", "Delivery outcomes, by resulting state.", ["state"], registry=REGISTRY)

for _status in ("ok", "not_modified", "error", "gone", "flooded"):
    POLLS.labels(_status)
for _state in ("sent", "retrying", "failed", "held"):
    DELIVERIES.labels(_state)


def observe_poll(summary: Any, reason: str | None = None) -> None:
    """Count one poll (a pipeline.PollSummary); `reason` is the FeedResult's failure key."""
    POLLS.labels(summary.status).inc()
    if summary.status == "skipped":
        return
    if summary.status in ("error", "gone"):
        FAILURES.labels(reason or summary.status).inc()
    DURATION.observe(summary.duration)
    NEW_ITEMS.inc(summary.new_items)
    RELEVANT.inc(summary.relevant)
    ALERTS.inc(summary.alerts)


def observe_delivery(state: str, n: int = 1) -> None:
    """Count `n` deliveries that reached `state` (sent, retrying, failed, held)."""
    if n:
        DELIVERIES.labels(state).inc(n)


class StoreCollector:
    """Gauges computed from the store when Prometheus scrapes."""

    def __init__(self, store: "Store", alive: Callable[[], str | None] | None = None,
                 feeds: Callable[[], set[str]] | None = None, failing_after: Callable[[], int] | None = None):
        self.store, self.alive = store, alive
        self.feeds = feeds
        self.failing_after = failing_after or (lambda: 3)

    def collect(self) -> Iterator[Metric]:
        counts = self.store.counts()
        yield _gauge("monitor_items", "Items stored.", counts["items"])
        yield _gauge("monitor_relevant_items", "Stored items relevant to a story.", counts["relevant"])
        events = GaugeMetricFamily("monitor_events", "Alert events stored.", labels=["story", "kind"])
        for row in self.store.query("SELECT story, kind, COUNT(*) AS n FROM events GROUP BY story, kind"):
            events.add_metric([row["story"], row["kind"]], row["n"])
        yield events
        deliveries = GaugeMetricFamily("monitor_deliveries", "Deliveries in the outbox, by state.", labels=["state"])
        by_state = {"pending": 0, "retrying": 0, "sent": 0, "failed": 0, "held": 0, **self.store.delivery_counts()}
        for state, n in sorted(by_state.items()):
            deliveries.add_metric([state], n)
        yield deliveries
        yield self._feeds()
        if self.alive is not None:
            yield _gauge("monitor_healthy", "1 when the scheduler runs and the store is writable.",
                         0 if self.alive() else 1)

    def _feeds(self) -> Metric:
        configured = self.feeds() if self.feeds else None
        health = {"ok": 0, "error": 0, "failing": 0, "gone": 0, "never": 0}
        for f in self.store.feeds():
            if configured is not None and f.url not in configured:
                continue
            key = "gone" if f.gone else "never" if not f.last_poll else \
                "failing" if f.consecutive_errors >= self.failing_after() else "error" if f.consecutive_errors else "ok"
            health[key] += 1
        fam = GaugeMetricFamily("monitor_feeds", "Configured feeds, by health.", labels=["health"])
        for key, n in health.items():
            fam.add_metric([key], n)
        return fam


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def exposition(collector: StoreCollector | None = None) -> bytes:
    """The /metrics body: process counters, then the store's gauges."""
    out = generate_latest(REGISTRY)
    if collector is not None:
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(collector)
        out += generate_latest(scrape)
    return out
