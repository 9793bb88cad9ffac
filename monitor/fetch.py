"""The only feed network code (aiohttp): conditional GET, timeouts, size and redirect caps.

- Client: one aiohttp ClientSession on a private event loop thread. aiohttp parses HTTP in C
  (llhttp): a 304 costs ~0.2 ms of CPU where httpx spent 2-7 ms in its connection pool
  (bench/cycle.py; the 304 pass is nothing but this).
- Conditional GET: the feed's remembered ETag / Last-Modified go out as If-None-Match /
  If-Modified-Since; a 304 comes back as a FetchResult with `body=None`.
- Timeouts: `connect_timeout` to connect, and a hard total deadline for the whole fetch
  (a server trickling a byte every few seconds never trips a per-read timeout), enforced by
  running the request under `asyncio.wait_for`.
- Size: at most `max_bytes` of *decoded* body. The body is read raw (auto_decompress=False) and
  inflated here, at most `max_bytes` at a time (zlib `max_length`): a 2 KB gzip-of-gzip
  ("Content-Encoding: gzip, gzip") expands to 1 GB in one call of an ordinary decoder.
- Memory: at most LARGE_AT_ONCE bodies of LARGE_BODY bytes or more are held at once, however
  many feeds are fetched together: a read that grows past LARGE_BODY waits for a slot (the wait
  counts against its deadline; after half of it the read goes on without one, and says so), and
  the slot is free again when the FetchResult holding the body is gone (parsed and dropped), or
  at once when the read fails.
- Redirects: followed here, at most `max_redirects`, never reading a redirect's body; a loop is
  named as such; only http(s) targets are followed. A chain made only of 301/308 is a permanent
  move and is reported as `final_url` so the caller can remember the new address.
- Failures raise FeedError with a short stable `reason` (dns, connect, timeout, tls, http_404,
  too_large, redirects, protocol, ...) for metrics and backoff; 429/503 carry Retry-After in seconds.
- Cookies are kept per site, as a browser does (a "set a cookie, then redirect to the same page"
  wall must not look like a redirect loop); HTTP_PROXY / HTTPS_PROXY / NO_PROXY, as set when the
  service starts, are honoured (as httpx did by default); response header lines may be up to
  64 KiB (big CSP and cookie headers exist).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import socket
import ssl
import threading
import time
import urllib.request
import weakref
import zlib
from datetime import datetime, timezone

import aiohttp
import certifi
from yarl import URL

from . import __version__
from .errors import FeedError
from .models import LARGE_BODY, FetchResult

log = logging.getLogger(__name__)

USER_AGENT = f"story-monitor/{__version__} (+https://github.com/story-monitor/story-monitor)"
ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
HEADER_LIMIT = 65_536  # bytes in one response header line
LARGE_AT_ONCE = 2  # large bodies held at once (one parsing while the next is read: workers.py parses one at a time)


class Fetcher:
    """One aiohttp.ClientSession on a private event loop thread, shared by every feed.

    `fetch()` is a plain blocking call, safe from any thread; inside, `asyncio.wait_for` puts a
    hard deadline on the whole exchange (connect, headers, body): a stuck or trickling server is
    cancelled at `timeout`, its connection closed, and nothing keeps running in the background.
    """

    def __init__(self, timeout: float = 30, connect_timeout: float = 10, max_bytes: int = 10_000_000,
                 max_redirects: int = 5, user_agent: str = USER_AGENT, max_connections: int = 100):
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._tls: ssl.SSLContext | None = None  # built at the first https request (_tls_context)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fetch-loop", daemon=True)
        self.thread.start()
        self.session = self._call(self._make_session(user_agent, max_connections))
        self.large_slots = asyncio.Semaphore(LARGE_AT_ONCE)  # used on self.loop only (bound at first use)
        self.large_held = self.large_peak = 0  # large bodies held now, and the most held at once

    async def _make_session(self, user_agent: str, max_connections: int) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            # every https request carries certifi's roots (_tls_context)
            connector=aiohttp.TCPConnector(limit=max_connections, ttl_dns_cache=300),
            headers={"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
            auto_decompress=False,  # inflated in _read, never past the cap
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # unsafe: also for feeds addressed by IP
            timeout=aiohttp.ClientTimeout(total=None),  # the deadline is asyncio.wait_for's
            # proxies from the environment; aiohttp then looks them up (and ~/.netrc) on every
            # request, 0.6 ms of CPU a 304: only when some are set when the service starts
            trust_env=bool(urllib.request.getproxies()),
            max_line_size=HEADER_LIMIT, max_field_size=HEADER_LIMIT,
        )

    def _tls_context(self) -> ssl.SSLContext:
        """certifi's roots, as httpx (our client before) and requests use: the same feeds verify
        on every OS, whether or not it has a CA store Python can find. Built at the first https
        request, not at start: loading the roots costs ~20 ms, and a run polling only http feeds
        (or a 304 pass from the command line) need not pay it."""
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=certifi.where())
        return self._tls

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def configure(self, timeout: float, connect_timeout: float, max_bytes: int, max_redirects: int) -> None:
        """Adopt new limits (a config reload) for the fetches that start from now on."""
        self.timeout, self.max_bytes, self.max_redirects = timeout, max_bytes, max_redirects
        self.connect_timeout = min(connect_timeout, timeout)

    def close(self) -> None:
        if self.loop.is_running():
            self._call(self.session.close())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)

    def fetch(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """Blocking; safe from any thread. Raises FeedError."""
        future = asyncio.run_coroutine_threadsafe(self.fetch_async(url, etag, last_modified), self.loop)
        try:  # the deadline is enforced on the loop; this one only guards against a stopped loop
            return future.result(self.timeout + 10)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise FeedError(url, f"timed out after {self.timeout:g}s (fetch loop not answering). Hint: restart the service", reason="timeout") from exc

    async def fetch_async(self, url: str, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        start = time.monotonic()
        try:
            return await asyncio.wait_for(self._get(url, etag, last_modified, start), self.timeout)
        except FeedError:
            raise
        except aiohttp.ConnectionTimeoutError as exc:
            raise FeedError(url, f"could not connect within {self.connect_timeout:g}s. Hint: the server is down or unreachable", reason="timeout") from exc
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise FeedError(url, f"timed out after {self.timeout:g}s ({type(exc).__name__}). Hint: the server is slow or stuck; raise service.timeout if it is just slow", reason="timeout") from exc
        except aiohttp.ClientConnectorError as exc:
            raise _connect_error(url, exc) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError,
                aiohttp.ClientOSError) as exc:
            raise FeedError(url, f"the server broke the HTTP exchange: {_describe(exc)}. Hint: usually a server crash or a cut connection; it will be retried", reason="protocol") from exc
        except (aiohttp.ClientError, ValueError) as exc:  # InvalidURL and the like
            raise FeedError(url, f"HTTP error: {type(exc).__name__}: {_describe(exc)}. Hint: it will be retried; check the URL if it persists", reason="http") from exc
        except Exception as exc:  # not expected: keep the poll alive, say what it was
            log.debug("fetch failed unexpectedly feed=%s", url, exc_info=True)
            raise FeedError(url, f"unexpected {type(exc).__name__} while fetching: {exc}. Hint: this may be a bug; please report it with the feed URL", reason="fetch_failed") from exc

    async def _get(self, url: str, etag: str | None, last_modified: str | None, start: float) -> FetchResult:
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        hops: list[tuple[int, str]] = []  # (status, url) of each redirect followed
        current = URL(url)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout)
        while True:
            tls = self._tls_context() if current.scheme == "https" else True
            resp = await self.session.get(current, headers=headers, allow_redirects=False, timeout=timeout, ssl=tls)
            try:
                location = resp.headers.get("location") if resp.status in _REDIRECTS else None
                if location:
                    hops.append((resp.status, str(current)))
                    current = self._next_hop(url, current, location, hops)
                    continue
                moved = str(current) if hops and all(code in (301, 308) for code, _ in hops) else None
                if resp.status == 304:
                    return FetchResult(url, 304, None, dict(resp.headers), etag, last_modified, moved,
                                       time.monotonic() - start)
                _check_status(url, resp)
                body, large = await self._read(url, resp)
                result = FetchResult(url, resp.status, body, dict(resp.headers), resp.headers.get("etag"),
                                     resp.headers.get("last-modified"), moved, time.monotonic() - start)
                if large:  # the slot goes with the body: free when nothing holds this result any more
                    weakref.finalize(result, self._free_large_soon)
                return result
            finally:
                resp.release()  # back to the pool when the body was read; closed when it was not

    def _next_hop(self, url: str, current: URL, location: str, hops: list[tuple[int, str]]) -> URL:
        try:
            target = current.join(URL(location.strip()))
        except ValueError as exc:
            raise FeedError(url, f"redirected to an invalid address {location[:200]!r}. Hint: the server is misconfigured; find the feed's real address", reason="redirects") from exc
        if target.scheme not in ("http", "https") or not target.host:
            raise FeedError(url, f"redirected to a non-http(s) address {str(target)[:200]!r}. Hint: the server is misconfigured; find the feed's real address", reason="redirects")
        chain = " -> ".join([u for _, u in hops] + [str(target)])
        if str(target) in {u for _, u in hops}:
            raise FeedError(url, f"redirect loop: {chain[:500]}. Hint: the server is misconfigured; open the URL in a browser and use where it ends up", reason="redirects")
        if len(hops) > self.max_redirects:
            raise FeedError(url, f"too many redirects (over {self.max_redirects}): {chain[:500]}. Hint: use the address it ends up at", reason="redirects")
        return target

    async def _read(self, url: str, resp: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        """The decoded body, and whether it holds a large-body slot (to be freed with the body)."""
        declared = resp.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FeedError(url, f"response of {int(declared):,} bytes is over the {self.max_bytes:,}-byte cap. Hint: raise service.max_bytes if this feed is really that large", reason="too_large")
        decoder = _Decoder(url, resp.headers.get("content-encoding", ""), self.max_bytes)
        chunks: list[bytes] = []
        raw = size = 0
        large = asked = False  # asked: for a slot once, whether it came or not
        try:
            async for chunk in resp.content.iter_any():  # raw: inflated below, never more than the cap
                raw += len(chunk)
                if raw > self.max_bytes:
                    raise FeedError(url, f"body over the {self.max_bytes:,}-byte cap. Hint: raise service.max_bytes if this feed is really that large", reason="too_large")
                chunks.append(decoder.decode(chunk))
                size += len(chunks[-1])
                if size >= LARGE_BODY and not asked:
                    large, asked = await self._take_large(url), True
            chunks.append(decoder.flush())
            if len(chunks[-1]) + size >= LARGE_BODY and not asked:
                large = await self._take_large(url)
            return b"".join(chunks), large
        except BaseException:  # failed, cut short or cancelled: the slot is free at once
            if large:
                self._free_large()
            raise

    async def _take_large(self, url: str) -> bool:
        """A large-body slot (True), or, after half the deadline without one, none (False): the
        read goes on, so slots held too long (a body kept by mistake) slow fetches, never stop them."""
        try:
            await asyncio.wait_for(self.large_slots.acquire(), self.timeout / 2)
        except asyncio.TimeoutError:
            log.warning("large body read without a slot feed=%s held=%d waited=%.0fs: the other large bodies "
                        "were still being parsed", url, self.large_held, self.timeout / 2)
            return False
        self.large_held += 1
        self.large_peak = max(self.large_peak, self.large_held)
        return True

    def _free_large(self) -> None:  # on the loop
        self.large_held -= 1
        self.large_slots.release()

    def _free_large_soon(self) -> None:
        """From whichever thread drops the last reference to a large FetchResult."""
        try:
            self.loop.call_soon_threadsafe(self._free_large)
        except RuntimeError:  # the loop is closed: nothing waits for the slot any more
            pass


_REDIRECTS = (301, 302, 303, 307, 308)


class _Decoder:
    """Content-Encoding (identity, gzip, deflate, stacked) inflated to at most `limit` bytes.

    Each layer gets `max_length` = what is left of the cap, plus one byte to notice going over.
    A layer's output is never larger than the body it produces after the layers below, give or
    take a few bytes of framing, so capping every layer at `limit` caps the memory too.
    """

    def __init__(self, url: str, header: str, limit: int):
        self.url, self.limit = url, limit
        names = [n.strip().lower() for n in header.split(",") if n.strip()]
        names = [n for n in names if n != "identity"]
        unknown = [n for n in names if n not in ("gzip", "x-gzip", "deflate")]
        if unknown:
            raise FeedError(url, f"unsupported Content-Encoding {header!r} (we ask for gzip or deflate only). Hint: the server ignores Accept-Encoding; report it to the publisher", reason="encoding")
        if len(names) > 3:
            raise FeedError(url, f"Content-Encoding {header!r} stacks {len(names)} compressions (a decompression bomb?). Hint: this is not a normal feed", reason="encoding")
        self.layers = [_Inflater(n) for n in reversed(names)]  # the last applied is undone first
        self.sizes = [0] * len(self.layers)

    def decode(self, data: bytes) -> bytes:
        for i in range(len(self.layers)):
            data = self._feed(i, data)
        return data  # identity: the raw size is already capped

    def flush(self) -> bytes:
        out = b""
        for i, layer in enumerate(self.layers):  # what a layer still holds goes down the chain
            try:
                tail = layer.flush()
            except zlib.error as exc:
                raise self._invalid(layer, exc) from exc
            self._count(i, tail)
            for j in range(i + 1, len(self.layers)):
                tail = self._feed(j, tail)
            out += tail
        return out

    def _feed(self, i: int, data: bytes) -> bytes:
        try:
            out = self.layers[i].feed(data, self.limit - self.sizes[i] + 1)
        except zlib.error as exc:
            raise self._invalid(self.layers[i], exc) from exc
        self._count(i, out)
        return out

    def _count(self, i: int, data: bytes) -> None:
        self.sizes[i] += len(data)
        if self.sizes[i] > self.limit:
            raise FeedError(self.url, f"body over the {self.limit:,}-byte cap after decompression (a gzip bomb?). Hint: raise service.max_bytes if this feed is really that large", reason="too_large")

    def _invalid(self, layer: "_Inflater", exc: zlib.error) -> FeedError:
        return FeedError(self.url, f"the body is not valid {layer.name} data although the server said so ({exc}). Hint: a broken server or proxy; it will be retried", reason="encoding")


class _Inflater:
    """One gzip/deflate layer; several gzip members in a row are read one after the other."""

    def __init__(self, name: str):
        self.name = "gzip" if name == "x-gzip" else name
        self.first = True
        self.members = 1
        self.d = self._new()

    def _new(self, raw: bool = False) -> "zlib._Decompress":
        if self.name == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)

    def feed(self, data: bytes, max_length: int) -> bytes:
        out = b""
        while data and max_length > len(out):
            try:
                out += self.d.decompress(data, max_length - len(out))
            except zlib.error:
                if self.members > 1:
                    break  # trailing garbage after a gzip member: ignored, as browsers do
                if not (self.first and self.name == "deflate"):
                    raise
                self.d = self._new(raw=True)  # "deflate" sent without its zlib header
                out += self.d.decompress(data, max_length - len(out))
            self.first = False
            if self.d.unconsumed_tail:  # stopped at max_length: over the cap
                break
            data = self.d.unused_data if self.d.eof else b""
            if data:
                if self.name != "gzip":
                    break  # trailing garbage after a deflate stream: ignored
                self.d = self._new()  # the next gzip member
                self.members += 1
        return out

    def flush(self) -> bytes:
        return self.d.flush()


def _check_status(url: str, resp: aiohttp.ClientResponse) -> None:
    code = resp.status
    if 200 <= code < 300:
        return
    if code == 410:
        raise FeedError(url, "HTTP 410 Gone: the publisher removed this feed; polling stopped. Hint: remove it from config/monitor.toml or find its new address", status=code, reason="gone")
    if code in (429, 503):
        after = retry_after(resp.headers.get("retry-after"))
        wait = f" (Retry-After: {after:.0f}s)" if after is not None else ""
        raise FeedError(url, f"HTTP {code} {resp.reason or ''}{wait}. Hint: the server is busy or rate-limits us; the next poll waits as asked (at most a day)", status=code, reason=f"http_{code}", retry_after=after)
    hint = {404: "check the URL in config/monitor.toml", 401: "the feed needs credentials", 403: "the server refuses us; check the URL"}.get(code, "the server failed; it will be retried")
    raise FeedError(url, f"bad HTTP status {code} {resp.reason or ''}. Hint: {hint}", status=code, reason=f"http_{code}")


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (the caller caps it)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), RETRY_AFTER_LIMIT)  # 10**400 is a float overflow, not a wait
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()), RETRY_AFTER_LIMIT)


RETRY_AFTER_LIMIT = 30 * 86400.0  # the pipeline caps lower still; this keeps the number sane


def _connect_error(url: str, exc: aiohttp.ClientConnectorError) -> FeedError:
    text = _describe(exc)
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(exc.os_error, socket.gaierror):
        return FeedError(url, f"DNS lookup failed ({text}). Hint: check the host name in the URL", reason="dns")
    if isinstance(exc, aiohttp.ClientSSLError) or isinstance(exc.os_error, ssl.SSLError):
        return FeedError(url, f"TLS error ({text}). Hint: the server's certificate is invalid", reason="tls")
    return FeedError(url, f"cannot connect ({text}). Hint: the server is down or the port is wrong", reason="connect")


def _describe(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]
