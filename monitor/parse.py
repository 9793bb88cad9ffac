"""bytes + headers -> list[Item]. feedparser on bytes, never on a URL (no network here).

Before feedparser sees a body:
- JSON Feed (https://jsonfeed.org), which feedparser 6 ignores, is parsed here instead;
- the bytes are decoded and repaired to UTF-8: a byte-order mark wins over any declaration
  (UTF-16/32 included); one invalid byte in a UTF-8 feed would make feedparser re-decode the
  whole document in another encoding (mojibake everywhere), so a few bad bytes are replaced, and
  a body that is mostly not UTF-8 although declared so (windows-1251 served as UTF-8) is
  re-detected with charset-normalizer;
- character references to what XML forbids (`&#xD800;` surrogates, `&#0;`, past U+10FFFF) become
  U+FFFD: feedparser's loose parser crashes on a surrogate, losing the whole feed;
- the decoded document is scanned once (`_scan`, a regex tokenizer, CDATA skipped): any entity
  declaration is refused (feedparser's loose parser would expand a "billion laughs" document
  into gigabytes; checking after decoding catches UTF-16 and declarations after a long prolog),
  as is nesting deeper than MAX_DEPTH or more than MAX_ELEMENTS elements (feedparser needs
  ~30 us and ~400 bytes per element: a 7 MB document nested a million deep took 30 s and
  460 MB), and a tag over MAX_TAG bytes or MAX_ATTRIBUTES attributes (feedparser is quadratic
  in attributes: 32,000 on one tag took 25 s); past MAX_ITEMS entries the document is cut
  after the last whole entry;
- an HTML page is reported as such, and XML that is not RSS/Atom/RDF as "not a feed".
A document cut short (its root element never closed: a dropped connection, a half-written
file) keeps only its complete entries and raises PartialFeed with them, so nothing complete is
lost and the failure is still reported. Any other exception inside the parser becomes a
FeedError (reason `parser_failed`), never a traceback in the poll.

Items: stable ids from the guid, else the canonical link, else a hash of title + text; links
lose tracking parameters (utm_*, fbclid, ...) and are kept only when http(s); titles are capped
at MAX_TITLE and texts at MAX_TEXT characters; a published date more than a day in the future
is treated as unknown (None).
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from . import entries
from .errors import FeedError
from .models import Item

log = logging.getLogger(__name__)
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
MAX_ITEMS = 2_000  # entries kept per fetch, first ones first (feeds list the newest first)
MAX_DEPTH = 256  # element nesting; real feeds (XHTML content included) stay under ~50
MAX_ELEMENTS = 300_000  # ~10 s of feedparser time
MAX_TAG = 65_536  # bytes in one start tag
MAX_ATTRIBUTES = 512  # "=" in one start tag (2,000 attributes: 0.2 s; 8,000: 1.5 s)
FUTURE_SLACK = timedelta(days=1)
_CAPS = {"max_entries": MAX_ITEMS, "max_depth": MAX_DEPTH, "max_elements": MAX_ELEMENTS, "max_tag": MAX_TAG,
         "max_attributes": MAX_ATTRIBUTES}
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
# greedy inside a tag ([^<>]*, self-closing read from the match's end): a lazy one keeps a
# backtracking record per byte, 150 MB for a 6 MB tag
_TOKEN = re.compile(rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|<[!?][^<>]*>?|<(/?)([A-Za-z_][\w.:-]*)[^<>]*>", re.S)
_ENTRY = {b"item", b"entry"}
_VOID = {b"br", b"img", b"hr", b"meta", b"input", b"wbr", b"col", b"area", b"base", b"embed", b"param", b"source", b"track"}
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_XML_DECL_ENC = re.compile(rb"^(\s*<\?xml[^>]*?encoding=[\"'])([A-Za-z0-9_.:-]+)([\"'])")
_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9_.:-]+)", re.I)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html)[\s>]", re.I | re.S)


class PartialFeed(FeedError):
    """The document is broken (cut short) but some entries are whole: `items` keeps them."""

    def __init__(self, url: str, message: str, title: str, items: list[Item], reason: str):
        super().__init__(url, message, reason=reason)
        self.title = title
        self.items = items


def parse(feed_url: str, body: bytes, headers: dict[str, str] | None = None, base_url: str | None = None) -> tuple[str, list[Item]]:
    """Parse a feed body into (feed title, items). Raises FeedError when it is not a feed."""
    title, items, _ = parse_new(feed_url, body, headers, base_url)
    return title, items


def parse_new(feed_url: str, body: bytes, headers: dict[str, str] | None = None, base_url: str | None = None,
              known: frozenset[str] | None = None) -> tuple[str, list[Item], tuple[str, ...] | None]:
    """As parse(), but with `known` (digests of entries seen in earlier polls, see entries.py) the
    entries it names are skipped, not parsed: (title, items of the other entries, the digest of
    every entry of this document, or None when the document was parsed whole, unsplit)."""
    try:
        return _parse(feed_url, body, headers or {}, base_url, known)
    except FeedError:
        raise
    except Exception as exc:  # RecursionError, MemoryError, a feedparser bug: one line, not a traceback
        log.debug("parser failed feed=%s", feed_url, exc_info=True)
        raise FeedError(feed_url, f"the parser failed on this body ({type(exc).__name__}: {str(exc)[:200]}). Hint: a malformed feed; if it opens fine elsewhere, please report it", reason="parser_failed") from exc


def _parse(feed_url: str, body: bytes, headers: dict[str, str], base_url: str | None,
           known: frozenset[str] | None) -> tuple[str, list[Item], tuple[str, ...] | None]:
    if not body or not body.strip():
        raise FeedError(feed_url, "empty body: the server answered with nothing. Hint: check the URL", reason="empty")
    hdrs = {k.lower(): v for k, v in headers.items()}
    ctype = hdrs.get("content-type", "")
    if _is_json(body, ctype):
        return (*parse_json_feed(feed_url, body), None)
    raw, body = body, _CHARREF.sub(_fix_charref, to_utf8(body, headers))
    location = base_url or feed_url
    # Only the entries not seen before go to feedparser (entries.py), when splitting is safe;
    # split() applies _scan's caps to the whole document, _scan then guards what feedparser reads.
    split = entries.split(body, **_CAPS) if known is not None and b"base=" not in body else None
    digests, fresh = None, 0
    if split is not None:
        body, digests, fresh = split.subset(location, known or frozenset())
    shape = _scan(feed_url, body)
    if shape.cut is not None:
        log.warning("feed cut feed=%s kept=%d reason=over MAX_ITEMS", feed_url, MAX_ITEMS)
        body = body[:shape.cut] + shape.closing
    if _HTML_START.match(body[:4096]):
        raise FeedError(feed_url, "not a feed: the server sent an HTML page. Hint: find the page's RSS/Atom link and use that URL", reason="html")
    hdrs["content-type"] = "application/xml; charset=utf-8"
    hdrs.pop("content-location", None)  # the server's own, perhaps relative or hostile: not used
    # Relative links and guids are resolved against the feed's address (Content-Location), which
    # costs feedparser a urljoin per element (~25% of its time). Most feeds have none, so the
    # document is parsed without it first, and again with it only when an entry's link or id
    # comes out relative, or when an xml:base may need it: the same result either way.
    needs_base = b"base=" in body
    parsed = _feedparser(body, hdrs, location if needs_base else None)
    if not needs_base and _relative_refs(parsed.entries, location):
        parsed = _feedparser(body, hdrs, location)
    if digests is not None and (parsed.get("bozo") or len(parsed.entries) != fresh
                                or not (parsed.entries or parsed.get("version"))):
        return _parse(feed_url, raw, headers, base_url, None)  # read otherwise than expat did: whole, then
    if not parsed.entries and (not parsed.get("version") or (parsed.get("bozo") and not parsed.feed.get("title"))):
        raise _not_a_feed(feed_url, body, ctype, parsed.get("bozo_exception"))
    title = html_to_text(parsed.feed.get("title", ""))
    if shape.truncated:
        items = [_item(feed_url, title, e) for e in parsed.entries[:shape.entries]]
        message = (f"the document is cut short (its root element is never closed; {len(items)} complete "
                   f"entries kept). Hint: a dropped connection or a half-written file; it will be retried")
        raise PartialFeed(feed_url, message, title, items, reason="truncated")
    items = [_item(feed_url, title, e) for e in parsed.entries]
    return title, items, digests


def _feedparser(body: bytes, headers: dict[str, str], location: str | None):  # type: ignore[no-untyped-def]
    import io

    import feedparser

    headers = {**headers, "content-location": location} if location else headers
    # resolve_relative_uris=False: links (and xml:base) are still resolved; this only skips
    # rewriting URLs inside HTML content, which we reduce to plain text anyway (4x faster).
    # A stream, never bytes: feedparser would try bytes as a file name first.
    return feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False)


def _relative_refs(entries: list, location: str) -> bool:
    """Would resolving against `location` change any entry's link or id (feedparser's rule)?"""
    return any(value and urljoin(location, value) != value
               for e in entries for value in (e.get("link"), e.get("id")))


def _not_a_feed(feed_url: str, body: bytes, ctype: str, cause: object) -> FeedError:
    if "html" in ctype.lower() or re.search(rb"<(html|body|head)[\s>]", body[:4096], re.I):
        return FeedError(feed_url, "not a feed: the server sent an HTML page. Hint: find the page's RSS/Atom link and use that URL", reason="html")
    what = f"{cause}" if cause else "XML without an RSS, Atom or RDF root element"
    return FeedError(feed_url, f"not a feed: {what}. Hint: check that the URL serves RSS, Atom or JSON Feed", reason="garbage")


_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")


def _fix_charref(m: re.Match) -> bytes:
    code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
    allowed = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF
    return m.group(0) if allowed else b"&#xFFFD;"


class _Shape:
    """What `_scan` found: whole entries, where to cut past MAX_ITEMS, whether it was cut short."""

    def __init__(self) -> None:
        self.entries = 0
        self.cut: int | None = None
        self.closing = b""
        self.truncated = False


def _scan(feed_url: str, body: bytes) -> _Shape:
    """One pass over the tags (CDATA skipped): refuse entities and absurd shapes; count entries."""
    shape = _Shape()
    stack: list[bytes] = []
    elements = 0
    root_seen = False
    for m in _TOKEN.finditer(body):
        name = m.group(2)
        if name is None:  # comment, CDATA, declaration or processing instruction
            if not m.group(0).startswith(b"<![CDATA[") and _ENTITY_DECL.search(m.group(0)):
                raise FeedError(feed_url, "refused: the document declares XML entities (entity-expansion attack or XXE). Hint: this is not a normal feed", reason="xml_entities")
            continue
        if root_seen and not stack:
            continue  # after the root element: trailing junk, ignored by the parsers too
        name = name.lower()
        if m.group(1):  # end tag: close it and anything left open inside it (HTML-style)
            if name in stack:
                while stack.pop() != name:
                    pass
                if name.rpartition(b":")[2] in _ENTRY:
                    shape.entries += 1
                    if shape.entries == MAX_ITEMS:
                        shape.cut = m.end()
                        shape.closing = b"".join(b"</" + n + b">" for n in reversed(stack))
                        return shape
            continue
        elements += 1
        root_seen = True
        if len(m.group(0)) > MAX_TAG or m.group(0).count(b"=") > MAX_ATTRIBUTES:
            raise FeedError(feed_url, f"refused: a <{name.decode('ascii', 'replace')[:40]}> tag of {len(m.group(0)):,} bytes / {m.group(0).count(b'='):,} attributes (a parser attack?). Hint: this is not a normal feed", reason="too_complex")
        if elements > MAX_ELEMENTS:
            raise FeedError(feed_url, f"refused: over {MAX_ELEMENTS:,} XML elements (a parser attack?). Hint: this is not a normal feed", reason="too_large")
        if m.group(0).endswith(b"/>") or name in _VOID:
            continue
        stack.append(name)
        if len(stack) > MAX_DEPTH:
            raise FeedError(feed_url, f"refused: elements nested over {MAX_DEPTH} deep (a parser attack?). Hint: this is not a normal feed", reason="too_deep")
    shape.truncated = bool(stack)
    return shape


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
    for bom, codec in _BOMS:  # a byte-order mark (or UTF-16 "<?") outranks any declaration
        if body.startswith(bom):
            return codec
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
    first = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return first == b"{" or (first != b"<" and "json" in content_type.lower())


def parse_json_feed(feed_url: str, body: bytes) -> tuple[str, list[Item]]:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1)."""
    import json

    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:  # RecursionError: [[[[... nested past the stack
        raise FeedError(feed_url, f"not a feed: invalid JSON ({str(exc)[:200]}). Hint: check that the URL serves RSS, Atom or JSON Feed", reason="garbage") from exc
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")) or not isinstance(doc.get("items"), list):
        raise FeedError(feed_url, "not a feed: JSON without a JSON Feed 'version' and 'items'. Hint: check that the URL serves RSS, Atom or JSON Feed", reason="garbage")
    title = html_to_text(_text(doc.get("title")))
    items = []
    for e in doc["items"][:MAX_ITEMS]:
        if not isinstance(e, dict):
            continue
        authors = e.get("authors") if isinstance(e.get("authors"), list) else []
        authors = authors or ([e["author"]] if isinstance(e.get("author"), dict) else [])
        entry = {  # every field type-checked: JSON may put a number, list or null anywhere
            "id": _text(e.get("id"), numbers=True), "title": _text(e.get("title")), "link": _text(e.get("url")) or None,
            "summary": _text(e.get("content_html")) or _text(e.get("content_text")) or _text(e.get("summary")),
            "authors": [{"name": _text(a.get("name"))} for a in authors if isinstance(a, dict)],
            "published": _text(e.get("date_published")) or _text(e.get("date_modified")),
        }
        items.append(_item(feed_url, title, entry))
    return title, items


def _text(value: object, numbers: bool = False) -> str:
    """A JSON value as text: strings as they are, numbers only where asked (ids), else ''."""
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


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
