"""The story page as data and as HTML: shared by the dashboard (`web.py`) and `monitor report`.

Reads only (through `Store`), renders with Jinja2 templates from `monitor/templates/` with
autoescaping on: every piece of feed text (titles, quotes, outlet names, links) reaches the page
escaped, and links are kept only when they are http(s).

The figure chart is an inline SVG computed here (no JavaScript library, no CDN), so the same
markup works in the live dashboard and in the self-contained report file. One chart per figure
kind, and per measure for kinds with measures ("NK casualties (killed)", "... (wounded)"):

    x  the time the figure was published (else when we first stored it), UTC
    y  the value, from 0; a range ("10,000-12,000") is drawn as a bar from low to high
    a  each point links to the article and says the value, qualifier, who gave it and the outlet;
       points carry `data-value`.
    The kind's `series` (story config) decides the line and "latest", as novelty.py decides alerts:
       level        one step line per source (who gave it): sources are not joined into one
                    trend; latest = the most recent value
       cumulative   one step line of the running highest value (a total only rises: a later
                    lower mention does not pull it down); latest = the highest value
       per_event    no line (each point is its own event); latest = the most recent event
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2

from .models import figure_series
from .parse import strip_controls
from .story import Story
from .store import Store

CHART_W, CHART_H = 720, 240
PAD_L, PAD_R, PAD_T, PAD_B = 64, 20, 16, 36
MAX_EVENTS = 5000  # events read for one page; the dashboard of one story stays well below
QUALIFIER_CLASS = {"about": "q-about", "at least": "q-least", "up to": "q-upto", "more than": "q-more", "exact": "q-exact"}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor", "templates"),
        autoescape=jinja2.select_autoescape(["html", "svg"], default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
        finalize=lambda v: strip_controls(v) if isinstance(v, str) else v,  # stored text too
    )
    env.filters["num"] = _num
    env.filters["when"] = _when
    env.filters["safe_link"] = safe_link
    return env



def asset(name: str) -> str:
    """A file of monitor/static/ as text (the report inlines the stylesheet)."""
    return resources.files("monitor").joinpath("static", name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- small helpers


def safe_link(url: Any) -> str | None:
    """The URL if it is http(s), else None: a feed cannot smuggle `javascript:` into a page."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def _num(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else ("" if v is None else str(v))


def _when(v: Any) -> str:
    dt = _parse(v) if not isinstance(v, datetime) else v
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if dt else ""


def _parse(v: Any) -> datetime | None:
    if not v:
        return None
    try:
        dt = datetime.fromisoformat(str(v))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def figure_text(value: Any, high: Any = None, qualifier: str | None = None) -> str:
    """'about 10,000', '10,000–12,000', 'up to 3,000'."""
    text = _num(value) + (f"–{_num(high)}" if high not in (None, "", value) else "")
    return f"{qualifier} {text}" if qualifier and qualifier != "exact" else text


def _figure_data(data: dict) -> dict:
    """Figure details whichever shape the event carries: nested under "figure" or flat."""
    return data.get("figure") if isinstance(data.get("figure"), dict) else data


def _statement_data(data: dict) -> dict:
    return data.get("statement") if isinstance(data.get("statement"), dict) else data


ENV = environment()


# ---------------------------------------------------------------- the view model


@dataclass
class Point:
    when: datetime
    value: int
    high: int | None
    qualifier: str | None
    source: str  # who gave it (actor name), "" if unattributed
    outlet: str
    link: str | None
    title: str
    previous: str = ""
    x: float = 0.0
    y: float = 0.0
    y_high: float | None = None

    @property
    def text(self) -> str:
        return figure_text(self.value, self.high, self.qualifier)

    @property
    def css(self) -> str:
        return QUALIFIER_CLASS.get(self.qualifier or "exact", "q-exact")


@dataclass
class Chart:
    kind: str
    label: str
    points: list[Point]
    width: int = CHART_W
    height: int = CHART_H
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    line: str = ""  # SVG polyline points of the first step line (kept for callers of one line)
    series: str = "level"  # the kind's series: level | cumulative | per_event
    lines: list[str] = field(default_factory=list)  # SVG polyline points, one per step line

    @property
    def latest(self) -> Point:
        """The most recent point; for a cumulative total the highest (then most recent) one."""
        if self.series == "cumulative":
            return max(self.points, key=lambda p: (p.high or p.value, p.value, p.when))
        return self.points[-1]

    @property
    def qualifiers(self) -> list[tuple[str, str]]:
        seen = dict.fromkeys((p.qualifier or "exact") for p in self.points)
        return [(q, QUALIFIER_CLASS.get(q, "q-exact")) for q in seen]


@dataclass
class StatementView:
    when: datetime
    text: str
    claim: str  # the claim's description, "" if none
    stance: str
    outlet: str
    link: str | None
    sources: list[tuple[str, str | None]]  # (outlet, link)
    fetched: bool = False  # the article gave no (valid) date: `when` is when we stored it


@dataclass
class ActorTimeline:
    id: str
    name: str
    statements: list[StatementView]


@dataclass
class ClaimView:
    id: str
    description: str
    items: int  # relevant items that touched the claim
    statements: int
    confirms: int  # statements on the claim that do not deny it: confirmed or asserted
    denies: int
    last: datetime | None


@dataclass
class StoryView:
    id: str
    title: str
    description: str
    charts: list[Chart]
    actors: list[ActorTimeline]
    claims: list[ClaimView]
    coverage: list[dict]  # latest relevant items
    relevant: int
    events: int
    updated: datetime | None
    generated: datetime


def story_view(store: Store, story: Story, now: datetime | None = None) -> StoryView:
    events = [e for e in store.events(limit=MAX_EVENTS) if e["story"] == story.id]
    items = store.items(story=story.id, relevant_only=True, limit=MAX_EVENTS)
    figures = [e for e in events if e["kind"] == "figure"]
    statements = [e for e in events if e["kind"] == "statement"]
    stamps = [t for t in (_parse(e["updated_at"]) for e in events) if t]
    stamps += [t for t in (_parse(i["fetched_at"]) for i in items[:1]) if t]
    return StoryView(
        id=story.id, title=story.title, description=" ".join(story.description.split()),
        charts=charts(figures, story), actors=timelines(statements, story),
        claims=claims(story, items, statements), coverage=_coverage(sorted(items, key=_item_time, reverse=True)[:12]),
        relevant=len(items), events=len(events), updated=max(stamps, default=None),
        generated=now or datetime.now(timezone.utc),
    )


def _event_time(e: dict) -> datetime:
    return _parse(e.get("published")) or _parse(e.get("created_at")) or datetime.now(timezone.utc)


def _actor_name(story: Story, actor_id: Any) -> str:
    if not actor_id:
        return ""
    actor = story.actor(str(actor_id))
    return actor.name if actor else str(actor_id).removeprefix("other:")  # "other:US government"


def charts(events: Iterable[dict], story: Story) -> list[Chart]:
    """One chart per figure kind, and per measure for kinds with measures ("NK casualties (killed)")."""
    by_kind: dict[tuple[str, str], list[Point]] = {}
    for e in events:
        d = _figure_data(e.get("data") or {})
        value = d.get("value")
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        high = d.get("high") if isinstance(d.get("high"), int) else None
        prev = (e.get("data") or {}).get("previous")
        prev_text = figure_text(prev.get("value"), prev.get("high"), prev.get("qualifier")) if isinstance(prev, dict) \
            else _num(prev) if prev is not None else ""
        kind = (str(d.get("kind") or "figure"), str(d.get("measure") or ""))
        by_kind.setdefault(kind, []).append(Point(
            when=_event_time(e), value=value, high=high, qualifier=d.get("qualifier"),
            source=_actor_name(story, d.get("source") or e.get("actor")), outlet=e.get("outlet") or "",
            link=safe_link(e.get("link")), title=e.get("title") or "", previous=prev_text,
        ))
    order = [k.id for k in story.figures]
    kinds = sorted(by_kind, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k))
    out = []
    every = [p.when for pts in by_kind.values() for p in pts]
    for kind, measure in kinds:
        conf = next((k for k in story.figures if k.id == kind), None)
        label = (conf.label or conf.description) if conf else kind
        chart = Chart(f"{kind}-{measure}" if measure else kind, label + (f" ({measure})" if measure else ""),
                      sorted(by_kind[(kind, measure)], key=lambda p: (p.when, p.value)),
                      series=figure_series(conf.series if conf else "level", measure or None))
        _layout(chart, min(every), max(every))  # one time axis for every chart of the story
        out.append(chart)
    return out


def _layout(c: Chart, t_min: datetime, t_max: datetime) -> None:
    """Pixel positions, axis ticks and the step line for one chart over [t_min, t_max]."""
    x0, x1 = PAD_L, c.width - PAD_R
    y0, y1 = c.height - PAD_B, PAD_T
    span = (t_max - t_min).total_seconds()
    if span < 3600:  # one moment: centre it in a day
        t_min, t_max = t_min - timedelta(hours=12), t_max + timedelta(hours=12)
        span = (t_max - t_min).total_seconds()
    top = _nice(max(max(p.high or p.value, p.value) for p in c.points) * 1.1 or 1)

    def px(t: datetime) -> float:
        return round(x0 + (x1 - x0) * 0.04 + (x1 - x0) * 0.92 * (t - t_min).total_seconds() / span, 1)

    def py(v: float) -> float:
        return round(y0 - (y0 - y1) * v / top, 1)

    for p in c.points:
        p.x, p.y = px(p.when), py(p.value)
        p.y_high = py(p.high) if p.high is not None else None
    c.y_ticks = [(py(top * i / 4), _num(int(top * i / 4))) for i in range(5)]
    fmt = "%b %d" if span >= 2 * 86400 else "%b %d %H:%M"
    c.x_ticks = [(px(t_min + timedelta(seconds=span * i / 4)), (t_min + timedelta(seconds=span * i / 4)).strftime(fmt))
                 for i in range(5)]
    c.lines = [_step(pts) for pts in _line_points(c)]
    c.line = c.lines[0] if c.lines else ""


def _line_points(c: Chart) -> list[list[Point]]:
    """The points each step line goes through (see the module docstring)."""
    if c.series == "per_event":
        return []
    if c.series == "cumulative":
        rising: list[Point] = []
        for p in c.points:
            if not rising or p.value > rising[-1].value:
                rising.append(p)
        return [rising]
    by_source: dict[str, list[Point]] = {}
    for p in c.points:
        by_source.setdefault(p.source, []).append(p)
    return list(by_source.values())


def _step(points: list[Point]) -> str:
    """SVG polyline points of a step line through `points` (in time order)."""
    pts: list[str] = []
    for p in points:
        if pts:
            pts.append(f"{p.x},{pts[-1].split(',')[1]}")
        pts.append(f"{p.x},{p.y}")
    return " ".join(pts)


def _nice(v: float) -> float:
    """The smallest 1/2/2.5/5 x 10^n at least v: axis tops people can read."""
    mag = 10 ** math.floor(math.log10(v)) if v > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * mag:
            return m * mag
    return 10 * mag


def timelines(events: Iterable[dict], story: Story) -> list[ActorTimeline]:
    claims = {c.id: c.description for c in story.claims}
    by_actor: dict[str, list[StatementView]] = {}
    for e in events:
        d = _statement_data(e.get("data") or {})
        actor = str(d.get("actor") or e.get("actor") or "")
        sources = [(s.get("outlet") or "", safe_link(s.get("link"))) for s in e.get("source_list", [])]
        by_actor.setdefault(actor, []).append(StatementView(
            when=_event_time(e), text=str(d.get("text") or e.get("title") or ""),
            claim=claims.get(d.get("claim") or "", str(d.get("claim") or "")), stance=str(d.get("stance") or ""),
            outlet=e.get("outlet") or "", link=safe_link(e.get("link")),
            sources=sources or [(e.get("outlet") or "", safe_link(e.get("link")))],
            fetched=not _parse(e.get("published")),
        ))
    # Newest first: each actor's statements, and the actors by their latest statement (ties in
    # config order), so whoever spoke last is on top.
    order = [a.id for a in story.actors]
    for said in by_actor.values():
        said.sort(key=lambda s: s.when, reverse=True)
    actors = sorted(by_actor, key=lambda a: (-by_actor[a][0].when.timestamp(), order.index(a) if a in order else len(order), a))
    return [ActorTimeline(a, _actor_name(story, a) or "(unattributed)", by_actor[a]) for a in actors]


def claims(story: Story, items: list[dict], statements: list[dict]) -> list[ClaimView]:
    import json

    out = []
    for c in story.claims:
        touched = [i for i in items if c.id in json.loads(i.get("claims") or "[]")]
        said = [_statement_data(e.get("data") or {}) for e in statements]
        said = [s for s in said if s.get("claim") == c.id]
        times = [t for t in (_parse(i.get("published") or i.get("fetched_at")) for i in touched) if t]
        out.append(ClaimView(c.id, c.description, len(touched), len(said),
                             sum(1 for s in said if s.get("stance") != "denies"),  # confirmed or asserted
                             sum(1 for s in said if s.get("stance") == "denies"), max(times, default=None)))
    return out


def _item_time(i: dict) -> datetime:
    """An item's time on the page: published, else when it was fetched (shown marked)."""
    return _parse(i.get("published")) or _parse(i.get("fetched_at")) or datetime.min.replace(tzinfo=timezone.utc)


def _coverage(items: list[dict]) -> list[dict]:
    return [{"title": i["title"], "outlet": i.get("feed_title") or urlsplit(i["feed_url"]).netloc,
             "link": safe_link(i.get("link")), "when": _item_time(i), "fetched": not _parse(i.get("published"))}
            for i in items]


# ---------------------------------------------------------------- pages


def render_story(view: StoryView, standalone: bool = False, nav: list[tuple[str, str]] | None = None) -> str:
    """The story page. `standalone`: one self-contained file (inline CSS, no script, no requests)."""
    return ENV.get_template("story.html").render(
        view=view, standalone=standalone, css=asset("style.css") if standalone else "", nav=nav or [],
        page="story", title=view.title,
    )


def report(store: Store, story: Story) -> str:
    """`monitor report`: the story page as one HTML file."""
    return render_story(story_view(store, story), standalone=True)
