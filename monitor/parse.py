"""bytes + headers -> list[Item]. feedparser on bytes, never on a URL (no network here).

Stable ids: the entry's guid, else its canonical link, else a hash of title + text.
Links lose tracking parameters (utm_*, fbclid, ...) and are kept only when http(s).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    return _SPACE.sub(" ", html.unescape("".join(parser.parts))).strip()


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
