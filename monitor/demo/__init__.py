"""`monitor demo`: the whole product on bundled sample feeds, offline, in under a minute.

    sample feeds   harbor-wire.xml, daily-meridian.xml, eastbound-dispatch.xml (beside this file),
                   written for the demo: a few days of a developing story, with a syndicated
                   repeat and some off-topic items; the story is story.toml
    feed server    a Starlette app on 127.0.0.1 (port 0) serves each feed as it stood at the end
                   of the replayed day (items published later are left out), and receives the
                   demo's notifications at /inbox (an Apprise `json://` target)
    replay         day by day: the real Pipeline polls every feed (fetch over HTTP, parse, match,
                   extract, novelty, store), the real Notifier delivers to /inbox, and each new
                   alert is handed back rendered by notify.render() as the text a target gets
    dashboard      the same web app as `monitor run --web`, over the demo's store

Everything lives in a temporary directory (or --state DIR) that is removed at the end.
"""

from __future__ import annotations

import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email.utils import parsedate_to_datetime
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .. import config as config_mod
from .. import notify
from ..models import Alert
from ..notify import Notifier
from ..pipeline import Pipeline, PollSummary
from ..store import Store
from ..web import WebServer, create_app, parse_address

FEEDS = ("harbor-wire.xml", "daily-meridian.xml", "eastbound-dispatch.xml")
STORY = "story.toml"
INBOX = "demo-inbox"


def sample(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def _published(item: ET.Element) -> datetime:
    return parsedate_to_datetime(item.findtext("pubDate") or "").astimezone(timezone.utc)


def feed_until(body: bytes, cutoff: datetime) -> bytes:
    """The feed as it stood at `cutoff`: items published later are removed."""
    root = ET.fromstring(body)
    channel = root.find("channel")
    assert channel is not None, "demo feeds are RSS 2.0"
    for item in channel.findall("item"):
        if _published(item) > cutoff:
            channel.remove(item)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def days() -> list[date]:
    """The days the sample feeds cover, in order: one replay step each."""
    out = {_published(i).date() for name in FEEDS for i in ET.fromstring(sample(name)).iter("item")}
    return sorted(out)


class SampleFeeds:
    """The sample feeds over HTTP on 127.0.0.1, as of `cutoff`; notifications land in `inbox`."""

    def __init__(self) -> None:
        self.cutoff = datetime.min.replace(tzinfo=timezone.utc)
        self.inbox: list[bytes] = []
        app = Starlette(routes=[Route("/feeds/{name}", self._feed), Route("/inbox", self._receive, methods=["POST"])])
        self.server = WebServer(app, "127.0.0.1", 0)
        self.server.start()

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def _feed(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in FEEDS:
            return PlainTextResponse("not found\n", 404)
        return Response(feed_until(sample(name), self.cutoff), media_type="application/rss+xml; charset=utf-8")

    async def _receive(self, request: Request) -> Response:
        self.inbox.append(await request.body())
        return PlainTextResponse("ok\n")

    def close(self) -> None:
        self.server.stop()


@dataclass
class Day:
    day: date
    polls: list[PollSummary]
    alerts: list[tuple[Alert, str, str]] = field(default_factory=list)  # (alert, title, body as sent)


class Demo:
    def __init__(self, state_dir: Path | None = None):
        self.own_dir = state_dir is None
        self.root = Path(tempfile.mkdtemp(prefix="monitor-demo-")) if state_dir is None else Path(state_dir)
        self.feeds = SampleFeeds()
        cdir = self.root / "config"
        (cdir / "stories").mkdir(parents=True, exist_ok=True)
        (cdir / "stories" / "demo.toml").write_bytes(sample(STORY))
        lines = ['[service]\npoll_interval = "15m"\njitter = "0s"\ntimeout = "10s"\n']
        lines += [f'[[feeds]]\nurl = "{self.feeds.url("/feeds/" + name)}"\n' for name in FEEDS]
        lines.append(f'[[notify.targets]]\nname = "{INBOX}"\nurl = "json://127.0.0.1:{self.feeds.server.port}/inbox"\n'
                     'rate_limit = 1000\n')
        (cdir / config_mod.SERVICE_FILE).write_text("\n".join(lines), encoding="utf-8")
        self.cfg = config_mod.load(cdir, self.root / "state")
        self.store = Store(self.cfg.database)
        self.pipeline = Pipeline(self.cfg, self.store)
        self.notifier = Notifier(self.cfg, self.store)
        self.web: WebServer | None = None
        self.seen: set[str] = set()

    def replay(self) -> Iterator[Day]:
        """Poll every feed as of the end of each sample day; yield what that day brought."""
        for day in days():
            self.feeds.cutoff = datetime.combine(day, time.max, timezone.utc)
            polls = [self.pipeline.poll(feed, force=True) for feed in self.cfg.feeds]
            self.notifier.deliver_due(wait=5.0)
            out = Day(day, polls)
            for alert in self.store.alerts():
                if alert.key not in self.seen:
                    self.seen.add(alert.key)
                    out.alerts.append((alert, *notify.render(alert, "text", names=self.notifier.names)))
            yield out

    def serve(self, address: str) -> WebServer:
        """Start the dashboard on `address`, or on a free port if that one is taken."""
        host, port = parse_address(address)
        app = create_app(self.store, lambda: self.cfg)
        try:
            self.web = WebServer(app, host, port)
        except OSError:
            self.web = WebServer(app, host, 0)
        self.web.start()
        return self.web

    def close(self) -> None:
        if self.web is not None:
            self.web.stop()
        self.feeds.close()
        self.pipeline.close()
        self.store.close()
        if self.own_dir:
            shutil.rmtree(self.root, ignore_errors=True)
