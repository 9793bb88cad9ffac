"""bytes + headers -> list[Item]. feedparser on bytes, never on a URL (no network here).

Stable ids: the entry's guid, else its canonical link, else a hash of title + text.
Links lose tracking parameters (utm_*, fbclid, ...) and are kept only when http(s).
"""

from __future__ import annotations

import calendar
import hashlib
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import FeedError
from .models import Item

_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|mc_cid|mc_eid|ocid|cmpid|at_\w+|traffic_source|ns_\w+|s_cid|CMP|xtor|rss|ito)$", re.I)
_SPACE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "section", "article"}
    _SKIP = {"script", "style", "template", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(value: str | None) -> str:
    """Strip tags, decode entities, collapse whitespace."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return _SPACE.sub(" ", value).strip()
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return _SPACE.sub(" ", "".join(parser.parts)).strip()


def canonical_link(link: str | None, base: str | None = None) -> str | None:
    """Drop tracking parameters and fragments; None unless http(s)."""
    if not link:
        return None
    link = link.strip()
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)[\s>]", re.I | re.S)


def parse(feed_url: str, body: bytes, headers: dict[str, str] | None = None, base_url: str | None = None) -> tuple[str, list[Item]]:
    """Parse a feed body into (feed title, items). Raises FeedError when it is not a feed."""
    import io

    import feedparser

    if not body or not body.strip():
        raise FeedError(feed_url, "empty body: the server answered with nothing. Hint: check the URL", reason="empty")
    if _ENTITY_DECL.search(body[:65536]):
        raise FeedError(feed_url, "refused: the document declares XML entities (entity-expansion attack or XXE). Hint: this is not a normal feed", reason="xml_entities")
    if _HTML_START.match(body[:4096]):
        raise FeedError(feed_url, "not a feed: the server sent an HTML page. Hint: find the page's RSS/Atom link and use that URL", reason="html")
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    hdrs["content-location"] = base_url or feed_url
    parsed = feedparser.parse(io.BytesIO(body), response_headers=hdrs, sanitize_html=False, resolve_relative_uris=True)
    if not parsed.entries and parsed.get("bozo") and not parsed.feed.get("title"):
        cause = parsed.get("bozo_exception")
        raise FeedError(feed_url, f"not a feed: {cause or 'unrecognised body'}. Hint: check that the URL serves RSS or Atom", reason="garbage")
    title = html_to_text(parsed.feed.get("title", ""))
    items = [_item(feed_url, title, e) for e in parsed.entries]
    return title, items


def _item(feed_url: str, feed_title: str, e: dict) -> Item:
    title = html_to_text(e.get("title", ""))
    text = html_to_text(_content(e))
    link = canonical_link(e.get("link"))
    guid = (e.get("id") or "").strip()
    if not guid:
        guid = link or "sha1:" + hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
    authors = tuple(a.get("name", "") for a in e.get("authors", []) if a.get("name")) or (
        (e["author"],) if e.get("author") else ())
    return Item(feed_url=feed_url, id=guid[:2000], title=title, text=text, link=link,
                published=_published(e), authors=authors, feed_title=feed_title)


def _content(e: dict) -> str:
    summary = e.get("summary", "") or ""
    contents = e.get("content") or []
    full = max((c.get("value", "") for c in contents), key=len, default="")
    return full if len(full) > len(summary) else summary


def _published(e: dict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = e.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
            except (OverflowError, ValueError, OSError):
                return None
    return None
