"""The dashboard, /healthz and /metrics: a Starlette app served by uvicorn in a thread.

    /                   the first story's page (figures chart, statements by actor, claims)
    /story/{id}         one story's page;  /story/{id}/report.html  the same as one file
    /alerts             recent alert events and every delivery's state (sent, retrying, failed, why)
    /feeds              every feed's health: last poll, status, error, backoff, items
    /healthz            200 "ok" when the scheduler runs and the store is writable, else 503 + reason
    /metrics            Prometheus text format (see metrics.py)
    /static/...         the stylesheet and the small live-refresh script; nothing from a CDN

Off by default: `monitor run --web 127.0.0.1:8080` (or MONITOR_WEB) turns it on; an address
without a host binds to loopback only. Pages read the store under its lock from Starlette's
thread pool; the scheduler's threads are never blocked by a slow browser.

Every page is sent with a Content-Security-Policy that allows only our own scripts and styles,
so even a feed title that slipped through escaping could not run code or load anything.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import metrics
from .report import ENV, render_story, safe_link, story_view

if TYPE_CHECKING:
    from .config import Config
    from .store import FeedState, Store

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store"}
DEFAULT_HOST = "127.0.0.1"


def parse_address(text: str) -> tuple[str, int]:
    """'127.0.0.1:8080', '[::1]:8080', ':8080' or '8080' -> (host, port); no host means loopback."""
    raw = text.strip()
    host, sep, port = raw.rpartition(":")
    if not sep:
        host, port = "", raw
    host = host.strip("[]") or DEFAULT_HOST
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT like 127.0.0.1:8080, got {text!r}")
    return host, int(port)


# ---------------------------------------------------------------- views


@dataclass
class FeedRow:
    url: str
    title: str
    status: str  # ok | not modified | error | backoff | failing | gone | moved | disabled | never polled
    tone: str  # good | warn | bad | idle
    state: "FeedState"
    interval: float
    enabled: bool


def feed_rows(store: "Store", cfg: "Config", now: datetime | None = None) -> list[FeedRow]:
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    states = {f.url: f for f in store.feeds()}
    from .store import FeedState

    rows = []
    for feed in cfg.feeds:
        s = states.get(feed.url) or FeedState(url=feed.url)
        status, tone = _feed_status(s, feed.enabled, stamp, cfg.service.failing_after)
        rows.append(FeedRow(feed.url, feed.title or s.title, status, tone, s, cfg.interval(feed), feed.enabled))
    return rows


def _feed_status(s: "FeedState", enabled: bool, now: str, failing_after: int) -> tuple[str, str]:
    if s.gone:
        return "gone", "bad"
    if not enabled:
        return "disabled", "idle"
    if not s.last_poll:
        return "never polled", "idle"
    if s.consecutive_errors:
        if s.consecutive_errors >= failing_after:
            return "failing", "bad"
        return ("backoff", "warn") if s.next_poll and s.next_poll > now else ("error", "warn")
    if s.error_reason == "flood":
        return "flooded", "warn"
    if s.moved_to:
        return "moved", "warn"
    return ("not modified", "good") if s.last_status == 304 else ("ok", "good")


def alert_rows(store: "Store", limit: int = 100) -> list[dict]:
    rows = store.events(limit=limit)
    for r in rows:
        r["link"] = safe_link(r.get("link"))
        r["when"] = r["created_at"]  # the page's order: newest alert first (store.events)
    return rows


# ---------------------------------------------------------------- the app


def create_app(store: "Store", config: Callable[[], "Config"], alive: Callable[[], str | None] | None = None) -> Starlette:
    """The dashboard over `store`; `config()` gives the current config (it can be reloaded);
    `alive()` is the service's health check (None = healthy); without it only the store is checked."""
    check = alive or store.writable
    collector = metrics.StoreCollector(store, check, lambda: {f.url for f in config().feeds},
                                       lambda: config().service.failing_after)

    def nav() -> list[tuple[str, str]]:
        stories = [(f"/story/{s.id}", s.title) for s in config().stories]
        return [*stories, ("/alerts", "Alerts"), ("/feeds", "Feeds")]

    def find_story(story_id: str | None) -> Any:
        stories = config().stories
        if story_id is None:
            return stories[0] if stories else None
        return next((s for s in stories if s.id == story_id), None)

    def story_page(request: Request) -> Response:
        story = find_story(request.path_params.get("story"))
        if story is None:
            return _page("error.html", 404, title="Not found", message="No such story in the configuration.", nav=nav())
        return HTMLResponse(render_story(story_view(store, story), nav=nav()), headers=HEADERS)

    def story_report(request: Request) -> Response:
        story = find_story(request.path_params["story"])
        if story is None:
            return PlainTextResponse("no such story\n", 404)
        headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{story.id}-report.html"'}
        return HTMLResponse(render_story(story_view(store, story), standalone=True), headers=headers)

    def alerts_page(request: Request) -> Response:
        return _page("alerts.html", title="Alerts", events=alert_rows(store), nav=nav())

    def feeds_page(request: Request) -> Response:
        return _page("feeds.html", title="Feeds", feeds=feed_rows(store, config()), nav=nav())

    def healthz(request: Request) -> Response:
        problem = check()
        if problem:
            return PlainTextResponse(f"unhealthy: {problem}\n", 503, headers={"Cache-Control": "no-store"})
        return PlainTextResponse("ok\n", headers={"Cache-Control": "no-store"})

    def metrics_page(request: Request) -> Response:
        return Response(metrics.exposition(collector), media_type=metrics.CONTENT_TYPE)

    return Starlette(routes=[
        Route("/", story_page),
        Route("/story/{story}", story_page),
        Route("/story/{story}/report.html", story_report),
        Route("/alerts", alerts_page),
        Route("/feeds", feeds_page),
        Route("/healthz", healthz),
        Route("/metrics", metrics_page),
        Mount("/static", StaticFiles(packages=[("monitor", "static")]), name="static"),
    ])


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("standalone", False)
    context.setdefault("page", template.removesuffix(".html"))
    return HTMLResponse(ENV.get_template(template).render(**context), status, headers=HEADERS)


# ---------------------------------------------------------------- the server thread


class WebServer:
    """uvicorn in a daemon thread on a socket bound here (so a busy port fails at start, in the
    caller, and port 0 works). `start()` returns once it accepts connections."""

    def __init__(self, app: Any, host: str = DEFAULT_HOST, port: int = 0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}. Hint: {_bind_hint(exc, host, port)}") from exc
        self.host, self.port = host, self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start on {self.url}")
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()


def _bind_hint(exc: OSError, host: str, port: int) -> str:
    """What to do about a failed bind: the port is the problem only when it is in use or privileged."""
    import errno

    if exc.errno == errno.EADDRINUSE:
        return f"another program uses port {port}; choose another --web port (e.g. {host}:8081) or stop it"
    if exc.errno == errno.EACCES and port < 1024:
        return f"ports below 1024 need privileges; use a port above 1024 (--web {host}:8080)"
    return (f"{host!r} is not an address of this machine; use 127.0.0.1 (this machine only) or "
            f"0.0.0.0 (every interface, e.g. in a container): --web 127.0.0.1:{port or 8080}")


def probe(address: str, timeout: float = 5.0) -> str | None:
    """GET /healthz of a running service: None when healthy, else the reason (`monitor health`)."""
    host, port = parse_address(address)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1" if host != "::" else "::1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own loopback URL
            return None if resp.status == 200 else f"{url}: HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"{url}: {exc.read().decode('utf-8', 'replace').strip() or exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}: is `monitor run --web {address}` running?"
