"""bytes + headers -> list[Item]. feedparser on bytes, never on a URL (no network here).

Before feedparser sees a body:
- a DOCTYPE that declares entities is refused (feedparser's loose parser would expand a
  "billion laughs" document into gigabytes), and an HTML page is reported as such;
- the bytes are decoded and repaired to UTF-8: one invalid byte in a UTF-8 feed would make
  feedparser re-decode the whole document in another encoding (mojibake everywhere), so a few
  bad bytes are replaced, and a body that is mostly not UTF-8 although declared so (windows-1251
  served as UTF-8) is re-detected with charset-normalizer;
- JSON Feed (https://jsonfeed.org), which feedparser 6 ignores, is parsed here.

Items: stable ids from the guid, else the canonical link, else a hash of title + text; links
lose tracking parameters (utm_*, fbclid, ...) and are kept only when http(s); titles are capped
at MAX_TITLE and texts at MAX_TEXT characters; a published date more than a day in the future
is treated as unknown (None).
"""

from __future__ import annotations

import calendar
import hashlib
import re
from datetime import datetime, timedelta, timezone
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


MAX_TITLE = 1_000
MAX_TEXT = 20_000
FUTURE_SLACK = timedelta(days=1)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_XML_DECL_ENC = re.compile(rb"^(\s*<\?xml[^>]*?encoding=[\"'])([A-Za-z0-9_.:-]+)([\"'])")
_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9_.:-]+)", re.I)
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
    if _is_json(body, hdrs.get("content-type", "")):
        return parse_json_feed(feed_url, body)
    hdrs["content-type"] = "application/xml; charset=utf-8"
    hdrs["content-location"] = base_url or feed_url
    body = to_utf8(body, headers or {})
    parsed = feedparser.parse(io.BytesIO(body), response_headers=hdrs, sanitize_html=False, resolve_relative_uris=True)
    if not parsed.entries and parsed.get("bozo") and not parsed.feed.get("title"):
        cause = parsed.get("bozo_exception")
        raise FeedError(feed_url, f"not a feed: {cause or 'unrecognised body'}. Hint: check that the URL serves RSS or Atom", reason="garbage")
    title = html_to_text(parsed.feed.get("title", ""))
    items = [_item(feed_url, title, e) for e in parsed.entries]
    return title, items


def to_utf8(body: bytes, headers: dict[str, str]) -> bytes:
    """Decode with the declared charset (header, then XML declaration), repair, re-encode UTF-8."""
    declared = _declared_charset(body, headers)
    try:
        text = body.decode(declared or "utf-8")
    except LookupError:  # an unknown charset name
        text = body.decode("utf-8", errors="replace")
    except UnicodeDecodeError:
        text = _repair(body, declared or "utf-8")
    data = text.lstrip("\ufeff").encode("utf-8")
    return _XML_DECL_ENC.sub(rb"\1utf-8\3", data, count=1)


def _declared_charset(body: bytes, headers: dict[str, str]) -> str | None:
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    m = _CHARSET.search(ctype)
    if m:
        return m.group(1).lower()
    m = _XML_DECL_ENC.match(body[:200])
    return m.group(2).decode("ascii").lower() if m else None


def _repair(body: bytes, declared: str) -> str:
    """A few bad bytes are replaced; a body mostly in another encoding is re-detected."""
    text = body.decode(declared, errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ch > "\x7f") - bad  # well-formed multi-byte characters
    if good >= bad:  # mostly valid: damaged UTF-8, keep it and replace the bad bytes
        return text
    import charset_normalizer

    best = charset_normalizer.from_bytes(body).best()
    return str(best) if best is not None else text


def _is_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip()[:1] == b"{"


def parse_json_feed(feed_url: str, body: bytes) -> tuple[str, list[Item]]:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1)."""
    import json

    try:
        doc = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise FeedError(feed_url, f"not a feed: invalid JSON ({exc}). Hint: check that the URL serves RSS, Atom or JSON Feed", reason="garbage") from exc
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")) or not isinstance(doc.get("items"), list):
        raise FeedError(feed_url, "not a feed: JSON without a JSON Feed 'version' and 'items'. Hint: check that the URL serves RSS, Atom or JSON Feed", reason="garbage")
    title = html_to_text(str(doc.get("title", "")))
    items = []
    for e in doc["items"]:
        if not isinstance(e, dict):
            continue
        authors = e.get("authors") or ([e["author"]] if isinstance(e.get("author"), dict) else [])
        entry = {
            "id": str(e.get("id", "")), "title": e.get("title", ""), "link": e.get("url"),
            "summary": e.get("content_html") or e.get("content_text") or e.get("summary", ""),
            "authors": [a for a in authors if isinstance(a, dict)],
            "published": e.get("date_published") or e.get("date_modified"),
        }
        items.append(_item(feed_url, title, entry))
    return title, items


def _item(feed_url: str, feed_title: str, e: dict) -> Item:
    title = html_to_text(str(e.get("title", ""))[: MAX_TITLE * 4])[:MAX_TITLE]
    text = html_to_text(_content(e)[: MAX_TEXT * 4])[:MAX_TEXT]
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
    when = None
    if isinstance(e.get("published"), str) and not dict.__contains__(e, "published_parsed"):  # JSON Feed: RFC 3339
        try:
            when = datetime.fromisoformat(e["published"].replace("Z", "+00:00"))
            when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        except ValueError:
            when = None
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(e, key)  # plain dict access: skips feedparser's deprecated key mapping
        if value and when is None:
            try:
                when = datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
            except (OverflowError, ValueError, OSError, TypeError):
                when = None
    if when is not None and when > datetime.now(timezone.utc) + FUTURE_SLACK:
        return None
    return when.astimezone(timezone.utc) if when else None
