"""Shared test helpers: real servers on 127.0.0.1, real SQLite files, waits with deadlines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/pg.py, importable as `pg`

import pytest

DATA = Path(__file__).parent / "data"


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    """Poll `condition` until truthy; fail naming what we waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    """Serves what the test set at each path and records every request (method, path, headers).

    ETag and Last-Modified are honoured like a real server: when the request's If-None-Match
    equals the response's ETag, the answer is 304 with no body.
    """

    def __init__(self) -> None:
        self.responses: dict[str, Response | Callable[[BaseHTTPRequestHandler], None]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                resp = server.responses.get(self.path)
                if callable(resp):
                    resp(self)
                    return
                if resp is None:
                    resp = Response(b"not found", 404)
                etag = resp.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                self.wfile.write(resp.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set(self, path: str, body: bytes | str = b"", status: int = 200, **headers: str) -> str:
        if isinstance(body, str):
            body = body.encode()
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        headers.setdefault("Content-Type", "application/rss+xml; charset=utf-8")
        self.responses[path] = Response(body, status, headers)
        return self.url(path)

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server():
    server = FeedServer()
    yield server
    server.close()


def rss(*items: tuple[str, str, str], title: str = "Test feed") -> str:
    """A small RSS 2.0 document from (guid, title, description) triples."""
    body = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>https://news.example.org/{g}</link>"
        f"<description>{d}</description><pubDate>Thu, 24 Oct 2024 10:00:00 GMT</pubDate></item>"
        for g, t, d in items
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'


MINI_STORY = """
id = "test-story"
title = "North Korean troops in Russia"
topic = ["North Korean troops", "North Korean soldiers"]

[[actors]]
id = "kirby"
name = "John Kirby"
aliases = ["John Kirby", "Kirby"]
ambiguous = ["Kirby"]
"""


def make_config(tmp_path: Path, feeds: list[str], extra: str = "", story: str = MINI_STORY) -> Path:
    """A config dir with the given feed URLs and a one-actor story."""
    cdir = tmp_path / "config"
    (cdir / "stories").mkdir(parents=True)
    lines = ['[service]\npoll_interval = "1h"\njitter = "0s"\ntimeout = "5s"\n']
    lines += [f'[[feeds]]\nurl = "{u}"\n' for u in feeds]
    (cdir / "monitor.toml").write_text("\n".join(lines) + textwrap.dedent(extra))
    (cdir / "stories" / "test.toml").write_text(story)
    return cdir


def monitor_cmd(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process."""
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


# ---------------------------------------------------------------- notification receivers (tests/test_notify.py)


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 on a free port, in a thread; keeps what it got.

    aiosmtpd's Controller cannot take port 0 (aio-libs/aiosmtpd#388), so the server runs on our
    own loop. Apprise 2.3 refuses `bot@127.0.0.1` as a sender, so the URL names a `from=`.
    """

    def __init__(self) -> None:
        import asyncio

        from aiosmtpd.smtp import SMTP

        self.messages: list = []  # email.message.EmailMessage, parsed with the default policy
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                import email
                from email import policy

                outer.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(
            self.loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def url(self, to: str = "ops@example.org") -> str:
        return f"mailto://bot@127.0.0.1:{self.port}?to={to}&from=bot@example.org"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    yield server
    server.close()


class JsonReceiver:
    """A webhook on 127.0.0.1 that records the JSON bodies Apprise's json:// plugin POSTs.

    `down()` closes the port (connection refused, like a receiver that is not running) and
    `up()` listens on the same port again; `status` makes it answer with an error instead.
    """

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        self.hold_after: int | None = None  # answer this many posts, then hold the next ones unanswered
        self.held = 0
        self.release = threading.Event()  # set it to let held posts go (answered 503, never recorded)
        self.port = 0
        self.httpd: ThreadingHTTPServer | None = None
        self.up()

    def up(self) -> None:
        import json

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hold_after is not None and len(receiver.posts) >= receiver.hold_after:
                    receiver.held += 1
                    receiver.release.wait(60)
                    self.send_error(503)
                    return
                if receiver.status == 200:
                    receiver.posts.append({**json.loads(body), "_path": self.path})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def down(self) -> None:
        self.release.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"


@pytest.fixture
def json_receiver():
    receiver = JsonReceiver()
    yield receiver
    receiver.down()


# ---------------------------------------------------------------- PostgreSQL (tests/pg.py)


@pytest.fixture(scope="session")
def pg_cluster():
    """One throw-away PostgreSQL cluster for the session. Without server binaries or psycopg the
    PG tests are skipped with the reason, except under CI (CI=true), where they fail: CI can
    never pass without having run them."""
    import os

    from pg import Cluster, find_bin

    problem = None
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        problem = "psycopg / psycopg-pool not installed (pip install -e '.[test]')"
    if problem is None and find_bin() is None:
        problem = "no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)"
    if problem:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"PostgreSQL tests cannot run under CI: {problem}")
        pytest.skip(f"PostgreSQL tests skipped: {problem}")
    cluster = Cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh, empty database on the session's cluster: its postgresql:// URL."""
    return pg_cluster.create_database()
