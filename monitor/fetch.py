"""The only feed network code (httpx): conditional GET, timeouts, size and redirect caps.

- Conditional GET: the feed's remembered ETag / Last-Modified go out as If-None-Match /
  If-Modified-Since; a 304 comes back as a FetchResult with `body=None`.
- Timeouts: `connect_timeout` to connect, and a hard total deadline for the whole fetch
  (httpx has none of its own: a server trickling a byte every few seconds would otherwise
  never time out), enforced by running the request under `asyncio.wait_for`.
- Size: at most `max_bytes` of *decoded* body (a gzip bomb is cut off as it expands).
- Redirects: at most `max_redirects`; a chain made only of 301/308 is a permanent move and is
  reported as `final_url` so the caller can remember the new address.
- Failures raise FeedError with a short stable `reason` (dns, connect, timeout, tls, http_404,
  too_large, redirects, ...) for metrics and backoff; 429/503 carry Retry-After in seconds.
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
from datetime import datetime, timezone

import httpx

from . import __version__
from .errors import FeedError
from .models import FetchResult

USER_AGENT = f"story-monitor/{__version__} (+https://github.com/story-monitor/story-monitor)"
ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"


class Fetcher:
    """One httpx.AsyncClient on a private event loop thread, shared by every feed.

    `fetch()` is a plain blocking call, safe from any thread; inside, `asyncio.wait_for` puts a
    hard deadline on the whole exchange (connect, headers, body): a stuck or trickling server is
    cancelled at `timeout`, its connection closed, and nothing keeps running in the background.
    """

    def __init__(self, timeout: float = 30, connect_timeout: float = 10, max_bytes: int = 10_000_000,
                 max_redirects: int = 5, user_agent: str = USER_AGENT, max_connections: int = 100):
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fetch-loop", daemon=True)
        self.thread.start()
        self.client = self._call(self._make_client(connect_timeout, max_redirects, user_agent, max_connections))

    async def _make_client(self, connect_timeout: float, max_redirects: int, user_agent: str,
                           max_connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            follow_redirects=True,
            max_redirects=max_redirects,
            timeout=httpx.Timeout(self.timeout, connect=min(connect_timeout, self.timeout)),
            headers={"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        )

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self.loop.is_running():
            self._call(self.client.aclose())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)

    def fetch(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """Blocking; safe from any thread. Raises FeedError."""
        return self._call(self.fetch_async(url, etag, last_modified))

    async def fetch_async(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        start = time.monotonic()
        try:
            return await asyncio.wait_for(self._get(url, etag, last_modified, start), self.timeout)
        except FeedError:
            raise
        except (asyncio.TimeoutError, httpx.TimeoutException) as exc:
            raise FeedError(url, f"timed out after {self.timeout:g}s ({type(exc).__name__}). Hint: the server is slow or stuck; raise service.timeout if it is just slow", reason="timeout") from exc
        except httpx.TooManyRedirects as exc:
            raise FeedError(url, f"too many redirects (a loop?): {exc}. Hint: open the URL in a browser and use where it ends up", reason="redirects") from exc
        except httpx.ConnectError as exc:
            raise _connect_error(url, exc) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise FeedError(url, f"HTTP error: {type(exc).__name__}: {exc}", reason="http") from exc

    async def _get(self, url: str, etag: str | None, last_modified: str | None, start: float) -> FetchResult:
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        async with self.client.stream("GET", url, headers=headers) as resp:
            moved = _permanent_target(resp)
            if resp.status_code == 304:
                return FetchResult(url, 304, None, dict(resp.headers), etag, last_modified, moved,
                                   time.monotonic() - start)
            _check_status(url, resp)
            body = await self._read(url, resp)
            return FetchResult(url, resp.status_code, body, dict(resp.headers), resp.headers.get("etag"),
                               resp.headers.get("last-modified"), moved, time.monotonic() - start)

    async def _read(self, url: str, resp: httpx.Response) -> bytes:
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FeedError(url, f"response of {int(declared):,} bytes is over the {self.max_bytes:,}-byte cap. Hint: raise service.max_bytes if this feed is really that large", reason="too_large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():  # decoded: the cap holds for gzip bombs too
            size += len(chunk)
            if size > self.max_bytes:
                raise FeedError(url, f"body over the {self.max_bytes:,}-byte cap (after decompression). Hint: raise service.max_bytes if this feed is really that large", reason="too_large")
            chunks.append(chunk)
        return b"".join(chunks)


def _permanent_target(resp: httpx.Response) -> str | None:
    if resp.history and all(r.status_code in (301, 308) for r in resp.history):
        return str(resp.url)
    return None


def _check_status(url: str, resp: httpx.Response) -> None:
    code = resp.status_code
    if 200 <= code < 300:
        return
    if code == 410:
        raise FeedError(url, "HTTP 410 Gone: the publisher removed this feed; polling stopped. Hint: remove it from config/monitor.toml or find its new address", status=code, reason="gone")
    if code in (429, 503):
        after = retry_after(resp.headers.get("retry-after"))
        wait = f"; retrying after {after:.0f}s as asked" if after else ""
        raise FeedError(url, f"HTTP {code} {resp.reason_phrase}{wait}", status=code, reason=f"http_{code}", retry_after=after)
    hint = {404: "check the URL in config/monitor.toml", 401: "the feed needs credentials", 403: "the server refuses us; check the URL"}.get(code, "the server failed; it will be retried")
    raise FeedError(url, f"bad HTTP status {code} {resp.reason_phrase}: {hint}", status=code, reason=f"http_{code}")


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _connect_error(url: str, exc: httpx.ConnectError) -> FeedError:
    text = str(exc)
    low = text.lower()
    if "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low or "name resolution" in low:
        return FeedError(url, f"DNS lookup failed ({text}). Hint: check the host name in the URL", reason="dns")
    if "certificate" in low or "ssl" in low or "tls" in low:
        return FeedError(url, f"TLS error ({text}). Hint: the server's certificate is invalid", reason="tls")
    return FeedError(url, f"cannot connect ({text}). Hint: the server is down or the port is wrong", reason="connect")
