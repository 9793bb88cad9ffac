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
- a DOCTYPE's internal subset (entity declarations) is cut out, with every reference to the
  entities it declared (`_drop_declarations`): nothing is ever expanded (feedparser's loose
  parser would expand a "billion laughs" document into gigabytes) and the feed's ordinary items
  are kept; working on the decoded text catches UTF-16 and declarations after a long prolog;
- the decoded document is scanned once (`_scan`, a regex tokenizer, CDATA skipped): an entity
  declaration left anywhere is refused; an entry nested deeper than MAX_DEPTH is dropped and
  the others kept (deep nesting outside any entry is refused), as are more than MAX_ELEMENTS
  elements (feedparser needs ~30 us and ~400 bytes per element: a 7 MB document nested a
  million deep took 30 s and 460 MB), and a tag over MAX_TAG bytes or MAX_ATTRIBUTES attributes (feedparser is quadratic
  in attributes: 32,000 on one tag took 25 s); past MAX_ITEMS entries the document is cut
  after the last whole entry;
- an HTML page is reported as such, and XML that is not RSS/Atom/RDF as "not a feed".
A document cut short (its root element never closed: a dropped connection, a half-written
file) keeps only its complete entries and raises PartialFeed with them, so nothing complete is
lost and the failure is still reported. Any other exception inside the parser becomes a
FeedError (reason `parser_failed`), never a traceback in the poll.

Items: stable ids from the guid, else the canonical link, else a hash of title + text; a GUID
that one document gives to several different articles is not an id: each of them gets the link
or hash instead (`_distinct_ids`), and the feed is warned about once. Links lose tracking
parameters (utm_*, fbclid, ...) and are kept only when http(s); titles are capped at MAX_TITLE
and texts at MAX_TEXT characters, and lose bidirectional controls (`strip_controls`). A date
that cannot be read, is impossible, disagrees with its own text or is more than a day in the
future is no date (None; the pages show the fetch time instead, marked), with a warning naming
the feed, once (`_published`).

Warnings are logged once per feed (and GUID) for the life of the process (`warn_once`); in a
parse process they are collected and handed back to the service, which logs them through its
own handlers (`parse_in_worker`, `replay`).
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
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
    """Strip tags, decode entities, drop bidirectional controls, collapse whitespace."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return strip_controls(_SPACE.sub(" ", value).strip())
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return strip_controls(_SPACE.sub(" ", "".join(parser.parts)).strip())


# Bidirectional controls (embeddings, overrides, isolates, marks): in feed text they can only
# reorder what a reader sees ("Trojan Source"); dropped from every title and text.
BIDI_CONTROLS = dict.fromkeys([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def strip_controls(text: str) -> str:
    """`text` without bidirectional controls (ASCII text, most of it, is returned as is)."""
    return text if text.isascii() else text.translate(BIDI_CONTROLS)


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
    body = _drop_declarations(feed_url, body)  # a split body has none: split() refuses a DOCTYPE
    shape = _scan(feed_url, body)
    if shape.cut is not None:
        log.warning("feed cut feed=%s kept=%d reason=over MAX_ITEMS", feed_url, MAX_ITEMS)
        body = body[:shape.cut] + shape.closing
    for start, end in reversed(shape.drops):  # entries nested past MAX_DEPTH (all before any cut)
        body = body[:start] + body[end:]
    if shape.drops:
        warn_once((feed_url, "too_deep"), "feed entry dropped feed=%s reason=elements nested over %d deep "
                  "dropped=%d; the other entries are kept", feed_url, MAX_DEPTH, len(shape.drops))
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
        items = _distinct_ids(feed_url, [_item(feed_url, title, e) for e in parsed.entries[:shape.entries]])
        message = (f"the document is cut short (its root element is never closed; {len(items)} complete "
                   f"entries kept). Hint: a dropped connection or a half-written file; it will be retried")
        raise PartialFeed(feed_url, message, title, items, reason="truncated")
    items = _distinct_ids(feed_url, [_item(feed_url, title, e) for e in parsed.entries])
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


_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE\b[^\[<>]*\[", re.I)
_SUBSET_END = re.compile(rb"\]\s*>")
_ELEMENT_START = re.compile(rb"<[A-Za-z_]")
_DECLARED = re.compile(rb"<!ENTITY\s+(?:%\s*)?([A-Za-z_:][\w.:-]*)", re.I)
_REFERENCE = re.compile(rb"&([A-Za-z_:][\w.:-]*);")
_PREDEFINED = {b"amp", b"lt", b"gt", b"quot", b"apos"}


def _drop_declarations(feed_url: str, body: bytes) -> bytes:
    """Remove a DOCTYPE's internal subset (entity and other declarations) before any parser
    sees it, and every reference to an entity it declared: nothing is expanded, the feed's
    ordinary items are kept. The subset runs from `<!DOCTYPE name [` to the last `]>` before
    the root element; a declaration left anywhere after that is refused by `_scan`."""
    m = _DOCTYPE_SUBSET.search(body)
    if m is None:
        return body
    root = _ELEMENT_START.search(body, m.end())
    close = None
    for close in _SUBSET_END.finditer(body, m.end(), root.start() if root else len(body)):
        pass
    if close is None:
        return body
    names = set(_DECLARED.findall(body, m.start(), close.end())) - _PREDEFINED
    body = body[:m.start()] + body[close.end():]
    if names:
        body = _REFERENCE.sub(lambda r: b"" if r.group(1) in names else r.group(0), body)
    warn_once((feed_url, "dtd"), "feed declarations dropped feed=%s entities=%d: a DOCTYPE internal subset "
              "is removed, never expanded, and references to its entities with it", feed_url, len(names))
    return body


class _Shape:
    """What `_scan` found: whole entries, where to cut past MAX_ITEMS, whether it was cut short."""

    def __init__(self) -> None:
        self.entries = 0
        self.cut: int | None = None
        self.closing = b""
        self.truncated = False
        self.drops: list[tuple[int, int]] = []  # (start, end) of entries nested past MAX_DEPTH


def _scan(feed_url: str, body: bytes) -> _Shape:
    """One pass over the tags (CDATA skipped): refuse entities and absurd shapes; count entries."""
    shape = _Shape()
    stack: list[bytes] = []
    starts: list[int] = []  # where each element of `stack` starts
    skip: tuple[int, int] | None = None  # dropping an over-deep entry: (its start, stack depth outside it)
    depth = 0  # nesting inside the entry being dropped, counted, not kept
    elements = 0
    root_seen = False
    for m in _TOKEN.finditer(body):
        name = m.group(2)
        if skip is not None and name is not None:
            if m.group(1):
                depth -= 1
                if depth <= skip[1]:  # the entry closed: cut it out, carry on after it
                    shape.drops.append((skip[0], m.end()))
                    skip = None
            elif not (m.group(0).endswith(b"/>") or name.lower() in _VOID):
                depth += 1
            continue
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
                    starts.pop()
                starts.pop()
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
        starts.append(m.start())
        if len(stack) > MAX_DEPTH:
            entry = next((i for i, n in enumerate(stack) if n.rpartition(b":")[2] in _ENTRY), None)
            if entry is None:
                raise FeedError(feed_url, f"refused: elements nested over {MAX_DEPTH} deep outside any entry (a parser attack?). Hint: this is not a normal feed", reason="too_deep")
            skip, depth = (starts[entry], entry), len(stack)  # the entry is dropped, the rest kept
            del stack[entry:], starts[entry:]
    if skip is not None:  # the document ended inside the dropped entry
        shape.drops.append((skip[0], len(body)))
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
    return title, _distinct_ids(feed_url, items)


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
    guid = (e.get("id") or "").strip() or _fallback_id(link, title, text)
    authors = tuple(a.get("name", "") for a in e.get("authors", []) if a.get("name")) or (
        (e["author"],) if e.get("author") else ())
    return Item(feed_url=feed_url, id=guid[:2000], title=title, text=text, link=link,
                published=_published(e, feed_url), authors=authors, feed_title=feed_title)


def _fallback_id(link: str | None, title: str, text: str) -> str:
    """An item's id when it has no GUID of its own: its link, else a hash of what it says."""
    return link or "sha1:" + hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()


def _distinct_ids(feed_url: str, items: list[Item]) -> list[Item]:
    """Items sharing one GUID in one document but not one article (their links differ, or with no
    link their texts do) each get the id they would have without a GUID, so none is lost as a
    repeat; the feed's reused GUID is warned about once. Copies of one article stay as they are."""
    by_id: dict[str, set] = {}
    for it in items:
        by_id.setdefault(it.id, set()).add(it.link or (it.title, it.text))
    shared = {guid for guid, articles in by_id.items() if len(articles) > 1}
    if not shared:
        return items
    for guid in shared:
        warn_once((feed_url, "guid", guid), "feed reuses a GUID feed=%s guid=%r articles=%d; each is kept "
                  "with its link (or a hash of its text) as its id", feed_url, guid[:200], len(by_id[guid]))
    return [replace(it, id=_fallback_id(it.link, it.title, it.text)[:2000]) if it.id in shared else it
            for it in items]


def _content(e: dict) -> str:
    summary = e.get("summary", "") or ""
    contents = e.get("content") or []
    full = max((c.get("value", "") for c in contents), key=len, default="")
    return full if len(full) > len(summary) else summary


def _published(e: dict, feed_url: str = "") -> datetime | None:
    """The entry's date in UTC; None when it has none, or one we cannot trust: unreadable,
    impossible ("2024-13-45", which feedparser would roll over into January 2025), not matching
    its own text (a Unix time read as a 2017 date) or more than a day ahead. A date given but
    not used is warned about, once per feed: the pages then show when the item was fetched."""
    given = [(k, v) for k in ("published", "updated", "created") if isinstance(v := dict.get(e, k), str) and v.strip()]
    when = None
    for key, raw in given:
        when = _date(e, key, raw)
        if when is not None:
            break
    problem = None if when is not None or not given else "cannot be read"
    if when is not None and when > datetime.now(timezone.utc) + FUTURE_SLACK:
        problem, when = "is more than a day in the future", None
    if problem:
        warn_once((feed_url, "date"), "feed date unusable feed=%s date=%r problem=%s; items without a usable "
                  "date are dated by when they were fetched", feed_url, given[0][1][:80], problem)
    return when.astimezone(timezone.utc) if when else None


_ISO_DATE = re.compile(r"\s*(-?\d{4})-(\d{1,2})-(\d{1,2})")
_NUMBER = re.compile(r"\d+")


def _date(e: dict, key: str, raw: str) -> datetime | None:
    if not dict.__contains__(e, key + "_parsed"):  # JSON Feed: RFC 3339
        try:
            when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    value = dict.get(e, key + "_parsed")  # plain dict access: skips feedparser's deprecated key mapping
    if not value:
        return None
    try:
        when = datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
    except (OverflowError, ValueError, OSError, TypeError):
        return None
    return when if _plausible(raw, when) else None


def _plausible(raw: str, when: datetime) -> bool:
    """Does feedparser's reading of `raw` agree with it? An ISO date must be a real date; any
    other form must carry the year read (or the next or previous one: the time zone)."""
    m = _ISO_DATE.match(raw)
    if m:
        try:
            date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return False
        return True
    years = {when.year + d for d in (-1, 0, 1)}
    return any(int(n) in years or (len(n) == 2 and int(n) in {y % 100 for y in years})
               for n in _NUMBER.findall(raw) if len(n) in (2, 4))


_WARNED: set[tuple] = set()  # what this process has warned about (warn_once), bounded
_WARNED_MAX = 10_000


def _first_time(key: tuple) -> bool:
    if key in _WARNED:
        return False
    if len(_WARNED) >= _WARNED_MAX:
        _WARNED.clear()
    _WARNED.add(key)
    return True


def warn_once(key: tuple, msg: str, *args: object) -> None:
    """A warning about a feed logged once per `key` for the life of the service, not per poll."""
    if _first_time(key):
        log.warning(msg, *args, extra={"once": key})


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args, record.exc_info, record.exc_text = record.getMessage(), None, None, None
        self.records.append(record)


def parse_in_worker(*args: object) -> tuple[object, list[logging.LogRecord]]:
    """`parse_new` in a parse process: (its result, or the FeedError it raised; the warnings it logged),
    so that the service logs them through its own handlers (format, redaction), and once."""
    records: list[logging.LogRecord] = []
    handler, propagate = _Collect(records), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        out: object = parse_new(*args)  # type: ignore[arg-type]
    except FeedError as exc:
        out = exc
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
    return out, records


def replay(records: list[logging.LogRecord]) -> None:
    """Log a parse process's warnings here; a `warn_once` warning only if this process has not yet."""
    for record in records:
        key = getattr(record, "once", None)
        if key is None or _first_time(key):
            log.handle(record)
