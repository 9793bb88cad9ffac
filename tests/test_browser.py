"""A real browser: headless Chromium loads the dashboard from the service on 127.0.0.1 and the
report file, through the Chrome DevTools protocol (websocket-client; no browser download).

Checks the rendered DOM, as a person would see it: every chart drawn with a size, its points
styled (the stylesheet applied), the feed's title shown as text and not run, no console error
(a 404 asset, a CSP refusal, a script exception); saves a screenshot of each page (in the
test's tmp dir, and in $MONITOR_SCREENSHOTS if set).

Skipped when Chromium is not installed (.ci/run installs Debian's `chromium`).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor import config
from monitor.report import report
from monitor.store import Store
from monitor.web import WebServer, create_app

from conftest import make_config
from test_web import EVIL_TITLE, FEED, STORY, fill

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")
websocket = pytest.importorskip("websocket", reason="websocket-client is not installed (pip install -e '.[test]')")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1280,1800"]

CHARTS_JS = """(() => [...document.querySelectorAll('svg.chart')].map(c => {
  const box = c.getBoundingClientRect();
  const points = [...c.querySelectorAll('circle.point')];
  return {width: box.width, height: box.height, values: points.map(p => p.dataset.value),
          drawn: points.length > 0 && points.every(p => { const r = p.getBoundingClientRect(); return r.width > 0 && r.height > 0; }),
          fill: points.length ? getComputedStyle(points[0]).fill : ''};
}))()"""


class Browser:
    """One headless Chromium and one page, driven over the DevTools websocket."""

    def __init__(self, profile: Path, timeout: float = 30.0):
        self.timeout = timeout
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stderr], daemon=True).start()
        port = None
        deadline = time.monotonic() + timeout
        while port is None:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.close()
                raise AssertionError(f"chromium did not start its DevTools endpoint within {timeout}s") from None
            if m := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
                port = int(m.group(1))
        pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=timeout).json()
        page = next(p for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)

    def load(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not finish loading within {self.timeout}s")
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions, failed loads and CSP refusals since the last load."""
        self.call("Runtime.evaluate", expression="1")  # drain what arrived so far
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("text", "exception"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"{p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png",
                                                    captureBeyondViewport=True)["data"]))
        if os.environ.get("MONITOR_SCREENSHOTS"):
            shutil.copy(path, Path(os.environ["MONITOR_SCREENSHOTS"]) / path.name)
        return path

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.call("Browser.close")
        except Exception:  # the browser may already be gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


@pytest.fixture
def filled(tmp_path):
    cfg = config.load(make_config(tmp_path, [FEED], story=STORY), tmp_path / "state")
    store = Store(cfg.database)
    fill(store)
    yield cfg, store
    store.close()


def check_page(browser: Browser, shot: Path) -> list[dict]:
    charts = browser.evaluate(CHARTS_JS)
    assert charts, "no chart on the page"
    for c in charts:
        assert c["drawn"] and c["width"] > 300 and c["height"] > 100, c
        assert c["fill"] not in ("", "rgb(0, 0, 0)"), f"the stylesheet was not applied: {c}"
    text = browser.evaluate("document.body.innerText")
    assert EVIL_TITLE in text  # shown as text...
    assert browser.evaluate("document.querySelectorAll('script:not([src])').length") == 0  # ...never run
    assert browser.errors() == []
    assert browser.screenshot(shot).stat().st_size > 10_000
    return charts


def test_dashboard_in_chromium(browser, filled, tmp_path):
    cfg, store = filled
    server = WebServer(create_app(store, lambda: cfg), "127.0.0.1", 0)
    server.start()
    try:
        for path in ("/", "/alerts", "/feeds"):
            browser.load(f"{server.url}{path}")
            assert browser.errors() == [], path
            browser.screenshot(tmp_path / f"dashboard{path.replace('/', '-') or '-story'}.png")
        browser.load(f"{server.url}/")
        charts = check_page(browser, tmp_path / "dashboard.png")
        assert charts[0]["values"] == ["1500", "3000", "10000"]
        assert browser.evaluate("document.getElementById('live').className") == "live on"  # app.js ran
        assert browser.evaluate("[...document.querySelectorAll('.actor h3')].map(h => h.firstChild.textContent.trim())") \
            == ["John Kirby", "Dmitry Peskov"]
    finally:
        server.stop()


def test_report_file_in_chromium(browser, filled, tmp_path):
    cfg, store = filled
    out = tmp_path / "report.html"
    out.write_text(report(store, cfg.stories[0]), encoding="utf-8")
    browser.load(out.as_uri())
    charts = check_page(browser, tmp_path / "report.png")
    assert charts[0]["values"] == ["1500", "3000", "10000"]
    assert browser.evaluate("document.scripts.length") == 0
    requests = [e for e in browser.events if e.get("method") == "Page.frameRequestedNavigation"]
    assert requests == []


WIDTH_JS = """(() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
  wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
          && !e.closest('.scroll')).slice(0, 5).map(e => e.tagName + '.' + e.className)}))()"""


@pytest.mark.parametrize("width", [400, 1400])
def test_no_page_is_wider_than_the_window(browser, filled, tmp_path, width):
    """On a phone (400 px) and a desktop (1400 px) no page scrolls sideways: wide tables scroll
    in their own box."""
    cfg, store = filled
    store.update_feed("https://wire.example.org/rss", last_error="https://wire.example.org/rss: " + "x" * 300,
                      consecutive_errors=1, last_poll="2024-10-28T10:00:00+00:00", last_status=500)
    browser.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
    server = WebServer(create_app(store, lambda: cfg), "127.0.0.1", 0)
    server.start()
    report_file = tmp_path / "report.html"
    report_file.write_text(report(store, cfg.stories[0]), encoding="utf-8")
    try:
        for url in (f"{server.url}/", f"{server.url}/alerts", f"{server.url}/feeds", report_file.as_uri()):
            browser.load(url)
            got = browser.evaluate(WIDTH_JS)
            browser.screenshot(tmp_path / f"w{width}-{url.rsplit('/', 1)[1] or 'story'}.png")
            assert got["inner"] == width and got["scroll"] <= got["inner"], (url, got)
    finally:
        server.stop()
