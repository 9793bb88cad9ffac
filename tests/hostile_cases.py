"""Hostile feeds and flaky servers (issue 6): the case table, shared by tests/test_hostile.py and
bench/hostile.py so the cases are written once.

Every case drives the real code (the Pipeline, or the Service for config reloads) against real
servers on 127.0.0.1 and a real SQLite file, and returns one line saying what happened; a wrong
outcome raises AssertionError. Memory is measured in a child process (`poll_in_child`: the
child's peak RSS over its own baseline, after imports), time with a small configured timeout.
No case touches the network: DNS failures use the reserved `.invalid` domain (RFC 2606).
"""

from __future__ import annotations

import gzip
import json
import logging
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import MINI_STORY, FeedServer, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_STORY = ROOT / "config" / "stories" / "nk-troops-kursk.toml"
MB = 1 << 20


# ---------------------------------------------------------------- harness


@dataclass
class Case:
    group: str
    name: str
    run: Callable[["Ctx"], str]
    doc: str = ""


CASES: list[Case] = []


def case(group: str) -> Callable:
    def register(fn: Callable[["Ctx"], str]) -> Callable[["Ctx"], str]:
        CASES.append(Case(group, fn.__name__.removeprefix("case_"), fn, (fn.__doc__ or "").strip()))
        return fn
    return register


@dataclass
class Ctx:
    """One case's world: a temp dir, a FeedServer, and everything to close afterwards."""

    tmp: Path
    server: FeedServer
    closers: list[Callable[[], None]] = field(default_factory=list)
    rigs: int = 0

    def rig(self, urls: list[str], story: str = MINI_STORY, **service: object) -> "Rig":
        self.rigs += 1
        rig = Rig(self.tmp / f"rig{self.rigs}", urls, story, service)
        self.closers.append(rig.close)
        return rig

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                pass


def write_config(base: Path, urls: list[str], story: str = MINI_STORY, **service: object) -> Path:
    cdir = base / "config"
    (cdir / "stories").mkdir(parents=True, exist_ok=True)
    svc = {"poll_interval": "1h", "jitter": "0s", "timeout": "5s", **service}
    lines = ["[service]"] + [f"{k} = {json.dumps(v)}" for k, v in svc.items()]
    lines += [f'\n[[feeds]]\nurl = "{u}"' for u in urls]
    (cdir / "monitor.toml").write_text("\n".join(lines) + "\n")
    (cdir / "stories" / "story.toml").write_text(story)
    return cdir


class Rig:
    """config + Store + Pipeline for some feed URLs."""

    def __init__(self, base: Path, urls: list[str], story: str, service: dict):
        from monitor import config
        from monitor.pipeline import Pipeline
        from monitor.store import Store

        self.cdir = write_config(base, urls, story, **service)
        self.cfg = config.load(self.cdir, base / "state")
        self.store = Store(self.cfg.database)
        self.pipe = Pipeline(self.cfg, self.store)

    def poll(self, i: int = 0, force: bool = True):  # -> PollSummary
        return self.pipe.poll(self.cfg.feeds[i], force=force)

    def timed_poll(self, i: int = 0) -> tuple[object, float]:
        start = time.monotonic()
        s = self.poll(i)
        return s, time.monotonic() - start

    def state(self, i: int = 0):  # -> FeedState
        return self.store.feed(self.cfg.feeds[i].url)

    def items(self) -> list[dict]:
        return list(self.store.query("SELECT * FROM items ORDER BY id"))

    def story_events(self) -> list[dict]:
        return [e for e in self.store.events(1000) if e["kind"] in ("statement", "figure")]

    def close(self) -> None:
        self.pipe.close()
        self.store.close()


def expect_error(rig: Rig, reason: str, i: int = 0) -> str:
    """One poll: assert it failed with `reason`, stored nothing, and recorded the failure."""
    s = rig.poll(i)
    st = rig.state(i)
    assert s.status in ("error", "gone"), f"expected an error ({reason}), got status={s.status} new={s.new_items}"
    assert st.error_reason == reason, f"expected reason {reason}, got {st.error_reason}: {st.last_error}"
    assert st.last_error and "Hint:" in st.last_error, f"last_error without a hint: {st.last_error!r}"
    assert st.consecutive_errors >= 1 and st.next_poll, "failure not counted for backoff"
    assert not rig.items(), f"stored {len(rig.items())} items from a failed poll"
    return st.last_error.split(": ", 1)[1][:110]


def poll_in_child(ctx: Ctx, url: str, **service: object) -> dict:
    """Poll `url` once in a child process: its peak RSS during the poll over its RSS before, in MB."""
    cdir = write_config(ctx.tmp / f"child{len(ctx.closers)}", [url], **service)
    ctx.closers.append(lambda: None)
    proc = subprocess.run([sys.executable, __file__, "child", str(cdir), str(cdir.parent / "state")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"child failed (rc={proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> int:
    """Start measuring the peak from now: Linux resets VmHWM on "5" > /proc/self/clear_refs.
    Returns the RSS now (KB). Elsewhere the peak so far, which can only under-report growth."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS") or 0
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak() -> int:
    return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(cdir: str, sdir: str) -> None:
    import feedparser  # noqa: F401 - imported before the baseline, like in a running service

    from monitor import config
    from monitor.pipeline import Pipeline
    from monitor.store import Store

    cfg = config.load(cdir, sdir)
    store = Store(cfg.database)
    pipe = Pipeline(cfg, store)
    base = _reset_peak()
    start = time.monotonic()
    s = pipe.poll(cfg.feeds[0], force=True)
    took = time.monotonic() - start
    peak = _peak()
    st = store.feed(cfg.feeds[0].url)
    titles = [r["title"] for r in store.query("SELECT title FROM items")]
    print(json.dumps({"status": s.status, "reason": st.error_reason, "error": st.last_error, "items": len(titles),
                      "title_len": max(map(len, titles), default=0), "rss_mb": (peak - base) / 1024,
                      "base_mb": base / 1024, "peak_mb": peak / 1024, "seconds": took}))
    pipe.close()


# ---------------------------------------------------------------- servers and bodies


def head(h: BaseHTTPRequestHandler, status: int = 200, **headers: str) -> None:
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k.replace("_", "-"), v)
    h.end_headers()


def stream(h: BaseHTTPRequestHandler, chunks, delay: float = 0.0, limit: float = 20.0) -> None:
    """Write chunks until they run out, the client hangs up, or `limit` seconds pass."""
    end = time.monotonic() + limit
    try:
        for chunk in chunks:
            if time.monotonic() > end:
                return
            h.wfile.write(chunk)
            h.wfile.flush()
            if delay:
                time.sleep(delay)
    except OSError:
        pass  # the fetcher hung up: what we want


def silence(h: BaseHTTPRequestHandler, limit: float = 10.0) -> None:
    """Hold the connection open without sending anything until the client goes or `limit`."""
    h.connection.settimeout(limit)
    try:
        h.connection.recv(1)
    except OSError:
        pass


def rss_doc(items: str, title: str = "Hostile", extra_head: str = "", decl: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return f'{decl}{extra_head}<rss version="2.0"><channel><title>{title}</title><link>https://ex.org/</link>{items}</channel></rss>'


def item(guid: str | None, title: str, text: str = "text", link: str | None = None, date: str | None = "Thu, 24 Oct 2024 10:00:00 GMT") -> str:
    out = "<item>"
    out += f"<guid isPermaLink=\"false\">{guid}</guid>" if guid is not None else ""
    out += f"<title>{title}</title><description>{text}</description>"
    out += f"<link>{link}</link>" if link else ""
    out += f"<pubDate>{date}</pubDate>" if date else ""
    return out + "</item>"


GOOD = rss_doc(item("g1", "First", link="https://news.example.org/1") + item("g2", "Second", link="https://news.example.org/2"))

LOL = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
       + "".join(f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10))
       + ']><rss version="2.0"><channel><title>&lol9;</title><item><guid>x</guid><title>&lol9;</title>'
       '<description>&lol9;</description></item><item><guid>ok</guid><title>Ordinary item</title></item></channel></rss>')
STRAY_ENTITY = '<?xml version="1.0"?><rss version="2.0"><!ENTITY a "b"><channel><title>&a;</title></channel></rss>'


def expect_kept(rig: Rig, title: str = "Ordinary item") -> str:
    """One poll of a feed with declarations: ok, its ordinary item kept, nothing expanded."""
    s = rig.poll()
    titles = [r["title"] for r in rig.items()]
    assert s.status == "ok" and title in titles, (s, titles)
    longest = max(len(r["title"]) + len(r["text"]) for r in rig.items())
    assert longest < 200, f"an entity was expanded: {longest} characters"
    return f"declarations dropped, never expanded; {len(titles)} items kept"


@lru_cache(maxsize=None)
def gzip_bomb(gigabytes: float = 0.25) -> bytes:
    """~1 KB per MB of zeros: 250 KB on the wire that inflates to 256 MB, 25 times the cap."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MB)
    return b"".join([c.compress(zeros) for _ in range(int(1024 * gigabytes))] + [c.flush()])


def self_signed_cert(directory: Path) -> tuple[Path, Path] | None:
    if not shutil.which("openssl"):
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    proc = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                           "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], capture_output=True, timeout=60)
    return (cert, key) if proc.returncode == 0 else None


class Skip(Exception):
    """The case cannot run here (a tool is missing); says why."""


# ---------------------------------------------------------------- XML attacks


@case("xml")
def case_billion_laughs(ctx: Ctx) -> str:
    """Entity expansion (billion laughs): the declarations are dropped before parsing, never
    expanded; the ordinary item is kept, memory flat."""
    url = ctx.server.set("/lol", LOL)
    r = poll_in_child(ctx, url)
    assert (r["status"], r["items"]) == ("ok", 2) and r["title_len"] < 100, r
    assert r["rss_mb"] < 50, f"peak RSS grew {r['rss_mb']:.0f} MB"
    return f"declarations dropped in {r['seconds']:.2f}s, 2 items kept, peak RSS +{r['rss_mb']:.1f} MB over {r['base_mb']:.0f}"


@case("xml")
def case_billion_laughs_utf16(ctx: Ctx) -> str:
    """The same attack in UTF-16 (the entity declarations are not ASCII bytes on the wire)."""
    body = LOL.replace('version="1.0"?', 'version="1.0" encoding="utf-16"?').encode("utf-16")
    rig = ctx.rig([ctx.server.set("/lol16", body, Content_Type="application/xml")])
    return expect_kept(rig)


@case("xml")
def case_entities_after_long_prolog(ctx: Ctx) -> str:
    """Entity declarations after a 100 KB comment (past any fixed-size sniffing window)."""
    body = LOL.replace("<!DOCTYPE", "<!--" + "x" * 100_000 + "-->\n<!DOCTYPE")
    rig = ctx.rig([ctx.server.set("/lolfar", body)])
    return expect_kept(rig)


@case("xml")
def case_quadratic_blowup(ctx: Ctx) -> str:
    """One 50 KB entity referenced 5,000 times (quadratic blowup): never expanded, the item kept."""
    body = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + "x" * 50_000 + '">]>'
            + rss_doc(item("q", "&a;" * 5000 + "Ordinary item"), decl=""))
    rig = ctx.rig([ctx.server.set("/quad", body)])
    return expect_kept(rig)


@case("xml")
def case_external_entity_xxe(ctx: Ctx) -> str:
    """External entities naming a local file and a URL: dropped; nothing read, nothing fetched."""
    body = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY f SYSTEM "file:///etc/passwd">'
            f'<!ENTITY u SYSTEM "{ctx.server.url("/xxe")}">]>' + rss_doc(item("x", "Ordinary item&f;", "&u;"), decl=""))
    rig = ctx.rig([ctx.server.set("/xxe-feed", body)])
    out = expect_kept(rig)
    assert not any("root:" in r["title"] + r["text"] for r in rig.items()), "a local file was read"
    assert not ctx.server.requests_to("/xxe"), "the parser fetched the external entity"
    return "no file read, no request made: " + out


@case("xml")
def case_stray_entity_declaration(ctx: Ctx) -> str:
    """An entity declaration outside a DOCTYPE (after the root element starts): refused."""
    rig = ctx.rig([ctx.server.set("/stray", STRAY_ENTITY)])
    return expect_error(rig, "xml_entities")


@case("xml")
def case_external_dtd_not_fetched(ctx: Ctx) -> str:
    """A DOCTYPE naming an external DTD (RSS 0.91 feeds have one) parses, and the DTD is never fetched."""
    dtd = ctx.server.set("/evil.dtd", '<!ENTITY title "pwned">', Content_Type="application/xml-dtd")
    body = rss_doc(item("d1", "Plain title", link="https://news.example.org/d1"),
                   extra_head=f'<!DOCTYPE rss SYSTEM "{dtd}">')
    rig = ctx.rig([ctx.server.set("/dtd-feed", body)])
    s = rig.poll()
    assert s.status == "ok" and [i["title"] for i in rig.items()] == ["Plain title"], (s, rig.items())
    assert not ctx.server.requests_to("/evil.dtd"), "the parser fetched the external DTD"
    return "parsed (1 item), external DTD never requested"


@case("xml")
def case_deeply_nested(ctx: Ctx) -> str:
    """A million nested elements inside an item: that item dropped quickly, the others kept, memory flat."""
    n = 1_000_000
    body = rss_doc(item("ok1", "Ordinary item") + "<item><title>deep</title><description>" + "<a>" * n + "</a>" * n
                   + "</description></item>" + item("ok2", "Another item"))
    r = poll_in_child(ctx, ctx.server.set("/deep", body))
    assert (r["status"], r["items"]) == ("ok", 2), r
    assert r["seconds"] < 5 and r["rss_mb"] < 150, r
    return f"deep item dropped, 2 kept in {r['seconds']:.2f}s, peak RSS +{r['rss_mb']:.1f} MB over {r['base_mb']:.0f} (feedparser alone: 30 s, 460 MB)"


@case("xml")
def case_deeply_nested_outside_entries(ctx: Ctx) -> str:
    """Nesting past the cap in the channel itself (no entry to drop): refused."""
    body = rss_doc("<image>" + "<a>" * 1000 + "</a>" * 1000 + "</image>" + item("ok1", "Ordinary item"))
    rig = ctx.rig([ctx.server.set("/deep-head", body)])
    return expect_error(rig, "too_deep")


@case("xml")
def case_many_items(ctx: Ctx) -> str:
    """300,000 tiny items in 10 MB: the first MAX_ITEMS are read, service.max_new_items of them
    stored, the feed reported as flooded (not ok), the poll stays short."""
    from monitor.parse import MAX_ITEMS

    body = rss_doc("".join(f"<item><guid>m{i}</guid><title>t{i}</title></item>" for i in range(300_000)))
    rig = ctx.rig([ctx.server.set("/many", body)], max_bytes=20_000_000)
    s, took = rig.timed_poll()
    cap = rig.cfg.service.max_new_items
    assert s.status == "flooded" and s.new_items == cap and f"first {MAX_ITEMS:,} are read" in s.error, s
    assert took < 30, f"poll took {took:.1f}s"
    return f"read the first {MAX_ITEMS} of 300,000 items, stored {s.new_items} (flooded) in {took:.1f}s"


@case("xml")
def case_attribute_flood(ctx: Ctx) -> str:
    """One tag with 500,000 attributes (feedparser is quadratic in them: 32,000 took 25 s)."""
    body = rss_doc("<item " + " ".join(f'a{i}="x"' for i in range(500_000)) + "><title>x</title></item>")
    rig = ctx.rig([ctx.server.set("/attrs", body)], max_bytes=20_000_000)
    s, took = rig.timed_poll()
    assert rig.state().error_reason == "too_complex" and took < 3, (rig.state().last_error, took)
    return f"refused too_complex in {took:.2f}s"


# ---------------------------------------------------------------- size


def _fifty_mb(h: BaseHTTPRequestHandler, declare: bool) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    if declare:
        h.send_header("Content-Length", str(50 * MB))
    else:
        h.send_header("Connection", "close")
    h.end_headers()
    chunk = b"<item><title>padding</title></item>" * 1800  # ~64 KB
    stream(h, [b'<rss version="2.0"><channel>'] + [chunk] * 820)


@case("size")
def case_fifty_mb_declared(ctx: Ctx) -> str:
    """A 50 MB body with Content-Length: refused from the header, nothing read."""
    ctx.server.responses["/50mb"] = lambda h: _fifty_mb(h, True)
    rig = ctx.rig([ctx.server.url("/50mb")])
    s, took = rig.timed_poll()
    assert rig.state().error_reason == "too_large" and took < 2, (s, took)
    return f"too_large in {took:.2f}s: {rig.state().last_error.split(': ', 1)[1][:70]}"


@case("size")
def case_fifty_mb_streamed(ctx: Ctx) -> str:
    """A 50 MB body without Content-Length (read until close): cut at max_bytes, memory bounded."""
    ctx.server.responses["/50mb-stream"] = lambda h: _fifty_mb(h, False)
    r = poll_in_child(ctx, ctx.server.url("/50mb-stream"))
    assert (r["status"], r["reason"], r["items"]) == ("error", "too_large", 0), r
    assert r["rss_mb"] < 100, f"peak RSS grew {r['rss_mb']:.0f} MB"
    return f"too_large after 10 MB in {r['seconds']:.2f}s, peak RSS +{r['rss_mb']:.1f} MB over {r['base_mb']:.0f}"


@case("size")
def case_gzip_bomb(ctx: Ctx) -> str:
    """250 KB of gzip that inflates to 256 MB: cut at max_bytes while inflating, memory bounded."""
    url = ctx.server.set("/bomb", gzip_bomb(), Content_Encoding="gzip")
    r = poll_in_child(ctx, url)
    assert (r["status"], r["reason"]) == ("error", "too_large"), r
    assert r["rss_mb"] < 100, f"peak RSS grew {r['rss_mb']:.0f} MB"
    return f"too_large in {r['seconds']:.2f}s, peak RSS +{r['rss_mb']:.1f} MB over {r['base_mb']:.0f} (httpx alone: +130 MB)"


@case("size")
def case_gzip_bomb_stacked(ctx: Ctx) -> str:
    """gzip-of-gzip ("Content-Encoding: gzip, gzip"): under 1 KB on the wire, 256 MB inflated."""
    url = ctx.server.set("/bomb2", gzip.compress(gzip_bomb(), 9), Content_Encoding="gzip, gzip")
    r = poll_in_child(ctx, url)
    assert (r["status"], r["reason"]) == ("error", "too_large"), r
    assert r["rss_mb"] < 100, f"peak RSS grew {r['rss_mb']:.0f} MB"
    return f"too_large in {r['seconds']:.2f}s, peak RSS +{r['rss_mb']:.1f} MB over {r['base_mb']:.0f} (httpx alone: +2 GB)"


@case("size")
def case_gzip_ok(ctx: Ctx) -> str:
    """A normal gzip-encoded feed (and one in two gzip members) still parses."""
    one = ctx.server.set("/gz", gzip.compress(GOOD.encode()), Content_Encoding="gzip")
    half = len(GOOD) // 2
    two = ctx.server.set("/gz2", gzip.compress(GOOD[:half].encode()) + gzip.compress(GOOD[half:].encode()),
                         Content_Encoding="gzip")
    rig = ctx.rig([one, two])
    a, b = rig.poll(0), rig.poll(1)
    assert a.status == "ok" and a.new_items == 2 and b.status == "ok", (a, b)
    return "gzip and two-member gzip parsed"


@case("size")
def case_one_mb_title(ctx: Ctx) -> str:
    """A 1 MB title and a 5 MB description: stored, capped to MAX_TITLE / MAX_TEXT characters."""
    from monitor.parse import MAX_TEXT, MAX_TITLE

    body = rss_doc(item("big", "T" * MB, "D " * (2 * MB), link="https://news.example.org/big"))
    r = poll_in_child(ctx, ctx.server.set("/bigtitle", body))
    assert r["status"] == "ok" and r["items"] == 1 and r["title_len"] == MAX_TITLE, r
    rig = ctx.rig([ctx.server.url("/bigtitle")])
    rig.poll()
    [row] = rig.items()
    assert len(row["title"]) == MAX_TITLE and len(row["text"]) <= MAX_TEXT, (len(row["title"]), len(row["text"]))
    return f"stored with title {MAX_TITLE} and text {len(row['text'])} chars, peak RSS +{r['rss_mb']:.1f} MB over {r['base_mb']:.0f}"


# ---------------------------------------------------------------- slow or stuck servers

TIMEOUT = 1.5


def _timed_out(ctx: Ctx, path: str, handler: Callable[[BaseHTTPRequestHandler], None]) -> str:
    ctx.server.responses[path] = handler
    rig = ctx.rig([ctx.server.url(path)], timeout=f"{TIMEOUT}s")
    s, took = rig.timed_poll()
    assert rig.state().error_reason == "timeout", (s, rig.state().last_error)
    assert took < TIMEOUT + 1.0, f"took {took:.2f}s with a {TIMEOUT}s timeout"
    return f"timeout after {took:.2f}s (limit {TIMEOUT}s)"


@case("slow")
def case_headers_then_silence(ctx: Ctx) -> str:
    """Status and headers, then nothing."""
    def handler(h: BaseHTTPRequestHandler) -> None:
        head(h, 200, Content_Type="application/rss+xml", Content_Length="5000")
        silence(h)
    return _timed_out(ctx, "/silent", handler)


@case("slow")
def case_body_never_ends(ctx: Ctx) -> str:
    """A body trickling one byte every 50 ms for ever (each read is quick: no read timeout fires)."""
    def handler(h: BaseHTTPRequestHandler) -> None:
        head(h, 200, Content_Type="application/rss+xml", Connection="close")
        stream(h, iter(lambda: b" ", None), delay=0.05)
    return _timed_out(ctx, "/trickle", handler)


@case("slow")
def case_headers_trickle(ctx: Ctx) -> str:
    """Headers sent one byte at a time, never finished."""
    def handler(h: BaseHTTPRequestHandler) -> None:
        data = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000
        stream(h, (data[i:i + 1] for i in range(len(data))), delay=0.05)
    return _timed_out(ctx, "/slow-headers", handler)


@case("slow")
def case_accepts_never_answers(ctx: Ctx) -> str:
    """A listening socket that never accepts nor reads (the kernel completes the handshake)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    ctx.closers.append(sock.close)
    rig = ctx.rig([f"http://127.0.0.1:{sock.getsockname()[1]}/feed"], timeout=f"{TIMEOUT}s")
    s, took = rig.timed_poll()
    assert rig.state().error_reason == "timeout", rig.state().last_error
    assert took < TIMEOUT + 1.0, f"took {took:.2f}s"
    return f"timeout after {took:.2f}s (limit {TIMEOUT}s)"


# ---------------------------------------------------------------- HTTP


@case("http")
def case_http_404(ctx: Ctx) -> str:
    """404: an error with a hint, counted for backoff."""
    rig = ctx.rig([ctx.server.set("/missing", "nope", status=404)])
    return expect_error(rig, "http_404")


@case("http")
def case_http_500(ctx: Ctx) -> str:
    """500: an error, retried later."""
    rig = ctx.rig([ctx.server.set("/boom", "oops", status=500)])
    return expect_error(rig, "http_500")


@case("http")
def case_http_410_gone(ctx: Ctx) -> str:
    """410: the feed is marked gone and never requested again."""
    rig = ctx.rig([ctx.server.set("/gone", "", status=410)])
    out = expect_error(rig, "gone")
    assert rig.state().gone and rig.poll().status == "gone"
    assert len(ctx.server.requests_to("/gone")) == 1, "polled a gone feed again"
    return "gone, not polled again: " + out


@case("http")
def case_http_429_retry_after(ctx: Ctx) -> str:
    """429 with Retry-After: 120 — the next poll waits 120 s, the scheduled poll before that is skipped."""
    rig = ctx.rig([ctx.server.set("/429", "slow down", status=429, Retry_After="120")], poll_interval="60s")
    expect_error(rig, "http_429")
    wait = (datetime.fromisoformat(rig.state().next_poll) - datetime.now(timezone.utc)).total_seconds()
    assert 110 < wait <= 120, wait
    assert rig.poll(force=False).status == "skipped" and len(ctx.server.requests_to("/429")) == 1
    return f"next poll in {wait:.0f}s (asked 120, interval 60), poll before then skipped"


@case("http")
def case_http_503_retry_after_date(ctx: Ctx) -> str:
    """503 with an HTTP-date Retry-After one hour ahead."""
    when = format_datetime(datetime.now(timezone.utc) + timedelta(hours=1), usegmt=True)
    rig = ctx.rig([ctx.server.set("/503", "down", status=503, Retry_After=when)], poll_interval="60s")
    expect_error(rig, "http_503")
    wait = (datetime.fromisoformat(rig.state().next_poll) - datetime.now(timezone.utc)).total_seconds()
    assert 3500 < wait <= 3600, wait
    return f"next poll in {wait:.0f}s (Retry-After: {when})"


@case("http")
def case_http_retry_after_absurd(ctx: Ctx) -> str:
    """Retry-After: 10^20 seconds (or garbage): capped at a day, no overflow."""
    rig = ctx.rig([ctx.server.set("/429x", "", status=429, Retry_After="9" * 20),
                   ctx.server.set("/429y", "", status=429, Retry_After="soon-ish")], poll_interval="60s")
    expect_error(rig, "http_429", 0)
    wait = (datetime.fromisoformat(rig.state(0).next_poll) - datetime.now(timezone.utc)).total_seconds()
    assert wait <= 24 * 3600, wait
    assert rig.poll(1).status == "error" and rig.state(1).next_poll
    return f"capped: next poll in {wait / 3600:.1f} h; garbage Retry-After ignored"


@case("http")
def case_http_301_308_remembered(ctx: Ctx) -> str:
    """301 and 308 are permanent: the new URL is remembered and used directly from then on."""
    new = ctx.server.set("/new", GOOD)
    a = ctx.server.set("/old301", "", status=301, Location="/new")
    b = ctx.server.set("/old308", "", status=308, Location=new)
    rig = ctx.rig([a, b])
    assert rig.poll(0).new_items == 2 and rig.state(0).moved_to == new, rig.state(0)
    assert rig.poll(1).status == "ok" and rig.state(1).moved_to == new, rig.state(1)
    rig.poll(0), rig.poll(1)
    assert len(ctx.server.requests_to("/old301")) == 1 and len(ctx.server.requests_to("/old308")) == 1
    return "both remembered; second polls went straight to /new"


@case("http")
def case_http_302_not_remembered(ctx: Ctx) -> str:
    """302 is temporary: followed, not remembered."""
    ctx.server.set("/tmp-target", GOOD)
    rig = ctx.rig([ctx.server.set("/tmp302", "", status=302, Location="/tmp-target")])
    assert rig.poll().new_items == 2 and rig.state().moved_to is None
    rig.poll()
    assert len(ctx.server.requests_to("/tmp302")) == 2
    return "followed, not remembered"


@case("http")
def case_redirect_loop(ctx: Ctx) -> str:
    """/a -> /b -> /a: named as a loop."""
    ctx.server.set("/loop-b", "", status=301, Location="/loop-a")
    rig = ctx.rig([ctx.server.set("/loop-a", "", status=302, Location="/loop-b")])
    out = expect_error(rig, "redirects")
    assert "loop" in out, out
    return out


@case("http")
def case_redirect_chain_too_long(ctx: Ctx) -> str:
    """Twenty redirects in a row (max_redirects = 5)."""
    for i in range(20):
        ctx.server.set(f"/hop{i}", "", status=307, Location=f"/hop{i + 1}")
    rig = ctx.rig([ctx.server.url("/hop0")])
    out = expect_error(rig, "redirects")
    assert len(ctx.server.requests) <= 7, len(ctx.server.requests)
    return out


@case("http")
def case_redirect_to_other_scheme(ctx: Ctx) -> str:
    """A redirect to file:///etc/passwd is not followed."""
    rig = ctx.rig([ctx.server.set("/to-file", "", status=301, Location="file:///etc/passwd")])
    return expect_error(rig, "redirects")


@case("http")
def case_redirect_body_bomb(ctx: Ctx) -> str:
    """A 301 whose body is a gzip bomb: the redirect is followed without reading its body."""
    ctx.server.set("/after-bomb", GOOD)
    url = ctx.server.set("/redir-bomb", gzip_bomb(), status=302, Content_Encoding="gzip", Location="/after-bomb")
    r = poll_in_child(ctx, url)
    assert r["status"] == "ok" and r["items"] == 2, r
    assert r["rss_mb"] < 60, f"peak RSS grew {r['rss_mb']:.0f} MB"
    return f"followed in {r['seconds']:.2f}s, peak RSS +{r['rss_mb']:.1f} MB over {r['base_mb']:.0f} (httpx alone reads it: +2 GB)"


@case("http")
def case_tls_self_signed(ctx: Ctx) -> str:
    """HTTPS with a self-signed certificate: a TLS error, not a crash."""
    made = self_signed_cert(ctx.tmp)
    if made is None:
        raise Skip("no openssl CLI to make a certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*made)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            head(self, 200, Content_Length=str(len(GOOD)))
            self.wfile.write(GOOD.encode())

        def log_message(self, *args: object) -> None:
            pass

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # the client refusing our certificate is the point

    httpd = Quiet(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    ctx.closers.append(lambda: (httpd.shutdown(), httpd.server_close()))
    rig = ctx.rig([f"https://127.0.0.1:{httpd.server_address[1]}/feed"], timeout="5s")
    return expect_error(rig, "tls")


@case("http")
def case_dns_failure(ctx: Ctx) -> str:
    """A host in the reserved .invalid domain (never resolves)."""
    rig = ctx.rig(["http://feed.story-monitor.invalid/rss"])
    return expect_error(rig, "dns")


@case("http")
def case_connection_refused(ctx: Ctx) -> str:
    """Nothing listens on the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    rig = ctx.rig([f"http://127.0.0.1:{port}/feed"])
    return expect_error(rig, "connect")


@case("http")
def case_connection_cut_mid_body(ctx: Ctx) -> str:
    """Content-Length 10,000, 200 bytes sent, then the connection closes."""
    def handler(h: BaseHTTPRequestHandler) -> None:
        head(h, 200, Content_Type="application/rss+xml", Content_Length="10000")
        h.wfile.write(GOOD.encode()[:200])
        h.close_connection = True
    ctx.server.responses["/cut"] = handler
    rig = ctx.rig([ctx.server.url("/cut")])
    return expect_error(rig, "protocol")


@case("http")
def case_not_http_at_all(ctx: Ctx) -> str:
    """The server answers with something that is not HTTP."""
    def handler(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        h.close_connection = True
    ctx.server.responses["/ssh"] = handler
    rig = ctx.rig([ctx.server.url("/ssh")])
    return expect_error(rig, "protocol")


@case("http")
def case_bad_content_encoding(ctx: Ctx) -> str:
    """Content-Encoding: gzip on a body that is not gzip; and an encoding we never asked for."""
    rig = ctx.rig([ctx.server.set("/notgz", GOOD, Content_Encoding="gzip"),
                   ctx.server.set("/br", b"\x0b\x02\x80", Content_Encoding="br")])
    out = expect_error(rig, "encoding", 0)
    rig.poll(1)
    assert rig.state(1).error_reason == "encoding", rig.state(1).last_error
    return out


# ---------------------------------------------------------------- backoff and reporting


@case("backoff")
def case_backoff_exponential_capped_reset(ctx: Ctx) -> str:
    """Consecutive failures wait 1, 2, 4, 8 intervals up to max_backoff; a success resets it all."""
    url = ctx.server.set("/flaky", "down", status=500)
    rig = ctx.rig([url], poll_interval="60s", max_backoff="5m")
    waits = []
    for _ in range(5):
        rig.poll()
        waits.append(round((datetime.fromisoformat(rig.state().next_poll) - datetime.now(timezone.utc)).total_seconds()))
    assert [w // 10 * 10 for w in waits] == [50, 110, 230, 290, 290], waits
    rig.store.update_feed(url, consecutive_errors=5000)  # a feed dead for months
    rig.poll()
    assert rig.state().consecutive_errors == 5001
    ctx.server.set("/flaky", GOOD)
    assert rig.poll(force=False).status == "skipped"
    assert rig.poll().status == "ok"
    st = rig.state()
    assert (st.consecutive_errors, st.next_poll, st.last_error, st.error_reason) == (0, None, None, None), st
    return f"waits {waits} s (interval 60, cap 300); 5001 errors no overflow; reset on success"


@case("backoff")
def case_one_log_line_per_failure(ctx: Ctx) -> str:
    """Each failing poll logs exactly one line with its reason, and no traceback."""
    urls = [ctx.server.set("/l404", "", status=404), ctx.server.set("/lhtml", "<!doctype html><html></html>"),
            ctx.server.set("/llol", STRAY_ENTITY), "http://x.invalid/feed", ctx.server.set("/lempty", "")]
    rig = ctx.rig(urls)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        for i in range(len(urls)):
            rig.poll(i)
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    mine = [r for r in records if r.name.startswith("monitor")]
    assert not [r for r in records if r.exc_info], "a traceback was logged"
    failures = [r.getMessage() for r in mine if r.levelno >= logging.WARNING]
    assert len(failures) == len(urls), failures
    reasons = [m.split("reason=")[1].split()[0] for m in failures]
    assert reasons == ["http_404", "html", "xml_entities", "dns", "empty"], reasons
    return f"{len(failures)} lines, reasons {reasons}, no traceback"


@case("backoff")
def case_status_shows_reason(ctx: Ctx) -> str:
    """`monitor status` (table and --json) shows each failing feed's error and reason."""
    urls = [ctx.server.set("/s404", "", status=404), ctx.server.set("/sgone", "", status=410), ctx.server.set("/sok", GOOD)]
    rig = ctx.rig(urls)
    for i in range(3):
        rig.poll(i)
    rig.close()
    args = [sys.executable, "-m", "monitor", "status", "--config", str(rig.cdir), "--state", str(rig.cdir.parent / "state")]
    table = subprocess.run(args, capture_output=True, text=True, timeout=60)
    js = subprocess.run(args + ["--json"], capture_output=True, text=True, timeout=60)
    assert table.returncode == 0 and js.returncode == 0, table.stderr + js.stderr
    feeds = {f["url"]: f for f in json.loads(js.stdout)["feeds"]}
    assert feeds[urls[0]]["error_reason"] == "http_404" and feeds[urls[1]]["gone"], feeds
    assert "bad HTTP status 404" in table.stdout and "[gone]" in table.stdout, table.stdout
    return "table shows the 404 error and [gone]; --json has error_reason"


# ---------------------------------------------------------------- bodies


@case("body")
def case_empty_body(ctx: Ctx) -> str:
    """A 200 with an empty body is an error, not zero items."""
    rig = ctx.rig([ctx.server.set("/empty", "")])
    return expect_error(rig, "empty")


@case("body")
def case_truncated_xml(ctx: Ctx) -> str:
    """A document cut mid-item: the whole items are stored, the failure reported, the cut item
    is stored whole once the full document comes back."""
    full = rss_doc(item("t1", "One", "first", "https://news.example.org/t1")
                   + item("t2", "Two", "second, and a long text that is cut", "https://news.example.org/t2"))
    cut = full[:full.index("and a long")]
    rig = ctx.rig([ctx.server.set("/trunc", cut)])
    s = rig.poll()
    st = rig.state()
    assert s.status == "error" and st.error_reason == "truncated", (s, st)
    assert [i["title"] for i in rig.items()] == ["One"], rig.items()
    ctx.server.set("/trunc", full)
    assert rig.poll().new_items == 1
    assert rig.items()[1]["text"] == "second, and a long text that is cut"
    return "kept 1 whole item of 2, reason truncated; the cut one stored whole on the next poll"


@case("body")
def case_html_instead_of_feed(ctx: Ctx) -> str:
    """An HTML page (with and without a doctype, served as RSS)."""
    rig = ctx.rig([ctx.server.set("/html", "<!DOCTYPE html><html><head><title>Home</title></head><body>hi</body></html>",
                                  Content_Type="text/html"),
                   ctx.server.set("/html2", "\n<html>\n<head><title>Oops</title></head><body><p>Not found</p></body></html>")])
    out = expect_error(rig, "html", 0)
    rig.poll(1)
    assert rig.state(1).error_reason == "html", rig.state(1).last_error
    return out


@case("body")
def case_xml_that_is_not_a_feed(ctx: Ctx) -> str:
    """Well-formed XML that is not RSS/Atom (an API error document) is 'not a feed', not zero items."""
    rig = ctx.rig([ctx.server.set("/apierr", '<?xml version="1.0"?><error><code>403</code><message>quota</message></error>')])
    return expect_error(rig, "garbage")


@case("body")
def case_binary_garbage(ctx: Ctx) -> str:
    """Random bytes (a JPEG served as a feed)."""
    rig = ctx.rig([ctx.server.set("/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 40)])
    return expect_error(rig, "garbage")


@case("body")
def case_windows1251_served_as_utf8(ctx: Ctx) -> str:
    """windows-1251 bytes with charset=utf-8 in the header: re-detected, Cyrillic intact."""
    title = "Северокорейские войска в Курской области"
    body = rss_doc(item("ru1", title, "Министерство обороны сообщило о переброске войск", "https://ria.example/1"),
                   decl='<?xml version="1.0" encoding="utf-8"?>').encode("windows-1251")
    rig = ctx.rig([ctx.server.set("/cp1251", body, Content_Type="application/rss+xml; charset=utf-8")])
    assert rig.poll().status == "ok"
    got = rig.items()[0]["title"]
    assert got == title, got
    return f"title read as {got!r}"


@case("body")
def case_invalid_utf8_byte(ctx: Ctx) -> str:
    """One invalid byte in a UTF-8 feed: replaced; every other character intact (no mojibake)."""
    body = rss_doc(item("u1", "Café in Zürich — naïve", "Bad byte here: \x00END", "https://news.example.org/u1")).encode()
    body = body.replace(b"\x00", b"\xff")
    rig = ctx.rig([ctx.server.set("/badutf8", body)])
    assert rig.poll().status == "ok"
    row = rig.items()[0]
    assert row["title"] == "Café in Zürich — naïve" and row["text"] == "Bad byte here: \ufffdEND", row
    return f"title {row['title']!r}, text {row['text']!r}"


@case("body")
def case_utf16_with_bom(ctx: Ctx) -> str:
    """A UTF-16 feed with a byte-order mark (and a header that says utf-8)."""
    body = rss_doc(item("w1", "Grüße aus Köln", "x", "https://news.example.org/w1"),
                   decl='<?xml version="1.0" encoding="utf-16"?>').encode("utf-16")
    rig = ctx.rig([ctx.server.set("/utf16", body, Content_Type="text/xml; charset=utf-8")])
    assert rig.poll().status == "ok" and rig.items()[0]["title"] == "Grüße aus Köln", rig.items()
    return "parsed, title intact"


@case("body")
def case_json_feed(ctx: Ctx) -> str:
    """JSON Feed 1.1: items, links, dates and authors."""
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "JSON news", "items": [
        {"id": "j1", "url": "https://news.example.org/j1?utm_source=x", "title": "JSON one",
         "content_html": "<p>Hello <b>world</b></p>", "date_published": "2024-10-24T10:00:00Z",
         "authors": [{"name": "Ann"}]},
        {"id": 2, "title": None, "content_text": "no title", "url": ["not", "a", "string"], "date_published": 12},
        "not an object"]}
    rig = ctx.rig([ctx.server.set("/feed.json", json.dumps(doc), Content_Type="application/feed+json")])
    assert rig.poll().status == "ok"
    a, b = rig.items()
    assert (a["title"], a["text"], a["link"], a["published"]) == ("JSON one", "Hello world", "https://news.example.org/j1",
                                                               "2024-10-24T10:00:00+00:00"), a
    assert (b["item_id"], b["title"], b["link"], b["published"]) == ("2", "", None, None), b
    return "2 items; wrong-typed fields ignored, not crashed on"


@case("body")
def case_json_hostile(ctx: Ctx) -> str:
    """JSON nested 100,000 deep, and JSON that is not a JSON Feed."""
    rig = ctx.rig([ctx.server.set("/deep.json", '{"version":"https://jsonfeed.org/version/1","items":' + "[" * 100_000 + "]" * 100_000 + "}",
                                  Content_Type="application/json"),
                   ctx.server.set("/other.json", '{"status": "ok", "data": []}', Content_Type="application/json")])
    out = expect_error(rig, "garbage", 0)
    rig.poll(1)
    assert rig.state(1).error_reason == "garbage"
    return out


@case("body")
def case_rss10_rdf(ctx: Ctx) -> str:
    """RSS 1.0 (RDF) with dc:date and dc:creator."""
    body = """<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://ex.org/"><title>RDF</title><link>https://ex.org/</link><description>x</description></channel>
<item rdf:about="https://ex.org/r1"><title>RDF item</title><link>https://ex.org/r1</link>
<dc:date>2024-10-24T10:00:00+02:00</dc:date><dc:creator>Ann Writer</dc:creator></item></rdf:RDF>"""
    rig = ctx.rig([ctx.server.set("/rdf", body, Content_Type="application/rdf+xml")])
    assert rig.poll().status == "ok"
    row = rig.items()[0]
    assert (row["title"], row["link"], row["published"]) == ("RDF item", "https://ex.org/r1", "2024-10-24T08:00:00+00:00"), row
    return "parsed: title, link, date (UTC), author"


@case("body")
def case_atom_xml_base(ctx: Ctx) -> str:
    """Atom with xml:base on feed and entry, relative links; RSS with a root-relative link."""
    atom = """<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://ex.org/blog/"><title>Atom</title>
<entry xml:base="2024/"><title>Entry</title><link href="posts/1"/><id>urn:uuid:1</id><updated>2024-10-17T10:00:00Z</updated></entry>
<entry><title>Entry 2</title><link rel="alternate" href="../about/2"/><id>urn:uuid:2</id><updated>2024-10-17T10:00:00Z</updated></entry></feed>"""
    rss = rss_doc(item("rel1", "Relative", link="/news/rel1"))
    rig = ctx.rig([ctx.server.set("/atom", atom, Content_Type="application/atom+xml"), ctx.server.set("/feeds/rel", rss)])
    rig.poll(0), rig.poll(1)
    links = [r["link"] for r in rig.items()]
    assert links == ["https://ex.org/blog/2024/posts/1", "https://ex.org/about/2", ctx.server.url("/news/rel1")], links
    return f"links {links}"


@case("body")
def case_javascript_links(ctx: Ctx) -> str:
    """javascript:, &#106;avascript:, data: and relative-to-nothing links are never emitted."""
    atom = """<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><title>E1</title><link href="&#106;avascript:alert(1)"/><id>e1</id></entry>
<entry><title>E2</title><link href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;"/><id>e2</id></entry></feed>"""
    rss = rss_doc(item("j1", "R1", link="javascript:alert(document.cookie)") + item("j2", "R2", link=" JaVaScRiPt:alert(1)"))
    rig = ctx.rig([ctx.server.set("/js-atom", atom, Content_Type="application/atom+xml"), ctx.server.set("/js-rss", rss)])
    rig.poll(0), rig.poll(1)
    links = [(r["title"], r["link"]) for r in rig.items()]
    assert len(links) == 4 and all(link is None for _, link in links), links
    return "4 items stored, no link on any"


# ---------------------------------------------------------------- items


@case("items")
def case_duplicate_guids(ctx: Ctx) -> str:
    """One GUID on three different articles and on a copy of one: each article stored, the copy once."""
    body = rss_doc(item("dup", "First article", link="https://news.example.org/a")
                   + item("dup", "Second article", link="https://news.example.org/b")
                   + item("dup", "Third article", "other text")
                   + item("dup", "First article", link="https://news.example.org/a"))
    rig = ctx.rig([ctx.server.set("/dups", body)])
    assert rig.poll().new_items == 3
    assert [r["title"] for r in rig.items()] == ["First article", "Second article", "Third article"]
    assert rig.poll().new_items == 0
    return "each article stored once"


@case("items")
def case_no_guid_no_link(ctx: Ctx) -> str:
    """Items with neither GUID nor link get a stable content id: stored once across polls."""
    body = rss_doc(item(None, "Anonymous one", "text one") + item(None, "Anonymous two", "text two"))
    rig = ctx.rig([ctx.server.set("/anon", body)])
    assert rig.poll().new_items == 2 and rig.poll().new_items == 0
    ids = [r["item_id"][:5] for r in rig.items()]
    assert ids == ["sha1:", "sha1:"], ids
    return "2 stored with sha1 ids, 0 on the second poll"


ALERT_TEXT = ("Pentagon spokesman John Kirby said on Monday that about 10,000 North Korean troops have been "
              "sent to Russia and are moving toward the Kursk region to fight Ukraine.")


@case("items")
def case_changing_guids_do_not_realert(ctx: Ctx) -> str:
    """The same article under a new GUID on every fetch (with its link, and without one): no new
    item, no second alert event."""
    story = SHIPPED_STORY.read_text() if SHIPPED_STORY.exists() else MINI_STORY
    title = "North Korean troops head for Kursk, Pentagon says"
    ctx.server.set("/rot-link", rss_doc(item("rot-1", title, ALERT_TEXT, "https://news.example.org/kursk")))
    ctx.server.set("/rot-nolink", rss_doc(item("rot-a", title + " (wire)", ALERT_TEXT)))
    rig = ctx.rig([ctx.server.url("/rot-link"), ctx.server.url("/rot-nolink")], story=story)
    rig.poll(0), rig.poll(1)
    items, events = len(rig.items()), len(rig.story_events())
    for n in range(2, 5):
        ctx.server.set("/rot-link", rss_doc(item(f"rot-{n}", title, ALERT_TEXT, "https://news.example.org/kursk?utm_source=rss")))
        ctx.server.set("/rot-nolink", rss_doc(item(f"rot-{'abcd'[n - 1]}", title + " (wire)", ALERT_TEXT)))
        assert rig.poll(0).new_items == 0 and rig.poll(1).new_items == 0
    assert len(rig.items()) == items == 2, rig.items()
    assert len(rig.story_events()) == events, [e["title"] for e in rig.story_events()]
    return f"{items} items and {events} alert event(s) after the first poll; unchanged after 3 more with new GUIDs"


@case("items")
def case_same_title_new_link_is_new(ctx: Ctx) -> str:
    """A recurring title ("Morning briefing") with a new GUID and a new link each day is a new item."""
    rig = ctx.rig([ctx.server.set("/brief", rss_doc(item("b1", "Morning briefing", "", "https://news.example.org/brief/1")))])
    rig.poll()
    ctx.server.set("/brief", rss_doc(item("b2", "Morning briefing", "", "https://news.example.org/brief/2")))
    assert rig.poll().new_items == 1
    return "both days stored"


@case("items")
def case_dates_future_garbage_missing(ctx: Ctx) -> str:
    """A date in 2099, a garbage date, a missing one, and an absurd year: all stored, date None."""
    body = rss_doc(item("d1", "Future", link="https://n.example/1", date="Thu, 01 Jan 2099 00:00:00 GMT")
                   + item("d2", "Garbage", link="https://n.example/2", date="yesterday-ish, around noon")
                   + item("d3", "Missing", link="https://n.example/3", date=None)
                   + item("d4", "Year 99999", link="https://n.example/4", date="Mon, 01 Jan 99999 00:00:00 GMT")
                   + item("d5", "Fine", link="https://n.example/5"))
    rig = ctx.rig([ctx.server.set("/dates", body)])
    assert rig.poll().new_items == 5
    dates = {r["title"]: r["published"] for r in rig.items()}
    assert dates == {"Future": None, "Garbage": None, "Missing": None, "Year 99999": None,
                     "Fine": "2024-10-24T10:00:00+00:00"}, dates
    return "5 stored; only the real date kept"


@case("items")
def case_invalid_character_references(ctx: Ctx) -> str:
    """&#xD800; (a surrogate), &#0; and &#99999999999; in an item: feedparser's loose parser
    crashes on the surrogate; here they become U+FFFD and the other items are kept."""
    body = rss_doc(item("c1", "Bad &#xD800; &#0; &#99999999999; refs &#x41;", "text &#xDFFF;", "https://n.example/c1")
                   + item("c2", "Good one", link="https://n.example/c2"))
    rig = ctx.rig([ctx.server.set("/charrefs", body)])
    assert rig.poll().new_items == 2, rig.state().last_error
    titles = [r["title"] for r in rig.items()]
    assert titles == ["Bad \ufffd \ufffd \ufffd refs A", "Good one"], titles
    return f"2 stored; titles {titles}"


@case("items")
def case_failures_in_parse_process_pool(ctx: Ctx) -> str:
    """With service.parse_processes = 1, parse failures cross the process boundary intact
    (FeedError pickles with its reason; a cut-short feed keeps its whole entries)."""
    rig = ctx.rig([ctx.server.set("/pool-html", "<!doctype html><html></html>"), ctx.server.set("/pool-cut", GOOD[:-30]),
                   ctx.server.set("/pool-ok", GOOD)], parse_processes=1)
    rig.poll(0), rig.poll(1), rig.poll(2)
    reasons = [rig.state(i).error_reason for i in range(3)]
    assert reasons == ["html", "truncated", None], reasons
    assert [r["title"] for r in rig.items()] == ["First", "Second"], rig.items()  # the cut feed's whole entry, then the new one
    return f"reasons {reasons}; items stored {len(rig.items())}"


# ---------------------------------------------------------------- config hot reload


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _service(ctx: Ctx, urls: list[str]):  # -> (Service, config dir, records)
    from monitor import config, service

    cdir = write_config(ctx.tmp / "svc", urls, poll_interval="1s", min_interval="1s")
    service.CONFIG_CHECK_EVERY = 0.2
    cfg = config.load(cdir, ctx.tmp / "svc" / "state")
    svc = service.Service(cfg, str(cdir), str(ctx.tmp / "svc" / "state"))
    records = _Records()
    logging.getLogger("monitor").addHandler(records)
    level = logging.getLogger("monitor").level
    logging.getLogger("monitor").setLevel(logging.INFO)
    svc.start()

    def stop() -> None:
        svc.stop()
        svc.store.close()
        logging.getLogger("monitor").removeHandler(records)
        logging.getLogger("monitor").setLevel(level)
    ctx.closers.append(stop)
    return svc, cdir, records


def _edit(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@case("config")
def case_config_reload_valid(ctx: Ctx) -> str:
    """A valid edit (a feed added) is picked up by the running service without a restart."""
    a, b = ctx.server.set("/svc-a", GOOD), ctx.server.set("/svc-b", GOOD)
    svc, cdir, records = _service(ctx, [a])
    wait_for(lambda: ctx.server.requests_to("/svc-a"), 10, "the first poll of feed a")
    text = (cdir / "monitor.toml").read_text()
    _edit(cdir / "monitor.toml", text + f'\n[[feeds]]\nurl = "{b}"\n')
    wait_for(lambda: ctx.server.requests_to("/svc-b"), 10, "a poll of the feed added while running")
    assert any(line.startswith("config reloaded feeds=2") for line in records.lines), records.lines
    return "feed added while running was polled; 'config reloaded feeds=2' logged"


@case("config")
def case_config_reload_invalid(ctx: Ctx) -> str:
    """An invalid edit is rejected with the same messages as `monitor validate`; the service keeps
    polling on the last good config, then adopts the fixed file."""
    a = ctx.server.set("/svc-keep", GOOD)
    svc, cdir, records = _service(ctx, [a])
    wait_for(lambda: ctx.server.requests_to("/svc-keep"), 10, "the first poll")
    good = (cdir / "monitor.toml").read_text()
    bad = good.replace('timeout = "5s"', 'timeout = "soon"') + '\n[[feeds]]\nurl = "htp://broken"\n'
    _edit(cdir / "monitor.toml", bad)
    validate = subprocess.run([sys.executable, "-m", "monitor", "validate", "--config", str(cdir), "--state",
                               str(cdir.parent / "state")], capture_output=True, text=True, timeout=60)
    expected = [line.removeprefix("error: ") for line in validate.stderr.splitlines() if line.startswith("error: ")]
    assert validate.returncode == 2 and len(expected) == 2, validate.stderr
    wait_for(lambda: sum("config rejected" in line for line in records.lines) >= 2, 10, "the rejection log lines")
    logged = [line.split("keeping the last good one: ", 1)[1] for line in records.lines if "config rejected" in line]
    assert logged == expected, (logged, expected)
    before = len(ctx.server.requests_to("/svc-keep"))
    wait_for(lambda: len(ctx.server.requests_to("/svc-keep")) > before + 1, 10, "polls going on with the old config")
    assert svc.cfg.service.timeout == 5 and svc.scheduler.running
    _edit(cdir / "monitor.toml", good.replace('timeout = "5s"', 'timeout = "7s"'))
    wait_for(lambda: svc.cfg.service.timeout == 7, 10, "the fixed config to be adopted")
    assert svc.pipeline.fetcher.timeout == 7, "the fetcher kept the old timeout"
    return f"rejected with the {len(expected)} `monitor validate` lines; kept polling; fixed file adopted (timeout 7s reaches the fetcher)"


# ---------------------------------------------------------------- running


def run_case(c: Case, tmp: Path) -> tuple[str, str]:
    """('pass' | 'fail' | 'skip', what happened) for one case in its own temp dir and server."""
    server = FeedServer()
    server.httpd.handle_error = lambda request, address: None  # clients hanging up on purpose
    ctx = Ctx(tmp, server)
    try:
        return "pass", c.run(ctx)
    except Skip as exc:
        return "skip", str(exc)
    except AssertionError as exc:
        return "fail", f"{exc}"[:500]
    except Exception as exc:
        return "fail", f"crashed: {type(exc).__name__}: {exc}"[:500]
    finally:
        ctx.close()
        server.close()


def main(argv: list[str]) -> int:
    logging.getLogger().addHandler(logging.NullHandler())  # the cases' own log lines stay quiet
    only = set(argv)
    passed = failed = 0
    for c in CASES:
        if only and c.name not in only and c.group not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
            start = time.monotonic()
            verdict, what = run_case(c, Path(tmp))
        passed += verdict == "pass"
        failed += verdict == "fail"
        print(f"{verdict.upper():4} {c.group:7} {c.name:36} {time.monotonic() - start:5.1f}s  {what}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    _child(sys.argv[2], sys.argv[3])
