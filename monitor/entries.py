"""Which entries of a feed document are new, found without feedparser: the steady state's shortcut.

Most polls of a news feed answer 200 with the same 30-100 entries as last time and one to three
new ones (many servers ignore conditional GET or change a timestamp). feedparser costs ~0.5 ms
per entry, so parse.py gives it only the feed's head, the entries not seen before and the tail:

- `split()` finds the entries with expat (C, namespace-aware, no DTD, no entity expansion:
  parse.py has already refused entity declarations and absurd shapes) and returns the byte span
  of each, or None whenever it is unsure, and the document is then parsed whole, as before:
  not well-formed (feedparser would use its loose parser, which reads a document as a whole),
  a DOCTYPE, an entry that is not a plain `<item>` / `<entry>` element (a prefix, an empty
  element), entries that are not siblings separated by whitespace only, or a namespace
  declaration or `xml:` attribute (xml:base, xml:lang) on or inside an entry. parse.py also
  skips it for documents with any `base=` (xml:base) or cut short, and for JSON Feed.
- `digest()` names an entry by a hash of its exact bytes and the address it is resolved
  against; the pipeline stores the digests of a document's entries with the poll's items
  (`feeds.entry_digests`, the same transaction), so "seen" survives restarts and means "this
  entry's item was stored, or was a duplicate of a stored one, in an earlier poll": the item a
  full parse would make of it is one `Store.unseen` would drop.
- `subset()` is the document with only the unseen entries, and the digests of all of them.

The result is the same items as a full parse: feedparser builds each entry from its own
element, and the document it reads is well-formed whenever the whole one is (siblings removed).
tests/test_entries.py checks it on every feed document in the tests and the hostile cases, and
bench/replay.py on the shared corpus replayed as feeds.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from xml.parsers import expat

_ENTRY_NAMES = ("item", "entry")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
_SPACE = b" \t\r\n"
_XML_NS = "http://www.w3.org/XML/1998/namespace "


class _Unsure(Exception):
    pass


@dataclass(frozen=True)
class Split:
    """A document as head + entries + tail: `spans` are (start, end) byte offsets of each entry."""

    body: bytes
    spans: tuple[tuple[int, int], ...]

    def digests(self, location: str) -> tuple[str, ...]:
        return tuple(digest(self.body[s:e], location) for s, e in self.spans)

    def subset(self, location: str, known: frozenset[str] | set[str]) -> tuple[bytes, tuple[str, ...], int]:
        """(the document with only the entries not in `known`, every entry's digest, how many kept)."""
        digests = self.digests(location)
        if not self.spans:
            return self.body, digests, 0
        body = self.body
        keep = [body[s:e] for (s, e), d in zip(self.spans, digests) if d not in known]
        doc = b"".join([body[:self.spans[0][0]], b"\n".join(keep), body[self.spans[-1][1]:]])
        return doc, digests, len(keep)


def digest(entry: bytes, location: str) -> str:
    h = hashlib.blake2b(location.encode("utf-8", "replace"), digest_size=12)
    h.update(b"\0")
    h.update(entry)
    return h.hexdigest()


def split(body: bytes, max_entries: int, max_depth: int, max_elements: int, max_tag: int,
          max_attributes: int) -> Split | None:
    """The byte spans of the document's entries, or None when splitting it may change its items
    or when the document passes one of parse.py's caps (parse.py then refuses it, whole)."""
    # a tag past max_tag would cost expat a dict of its attributes (500,000 of them: 120 MB)
    if _DOCTYPE.search(body) or re.search(rb"<[^<>]{%d}" % max_tag, body):
        return None
    parser = expat.ParserCreate("utf-8", namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    spans: list[tuple[int, int]] = []
    depth = elements = 0
    entry_depth = -1  # depth of the entries (all must be siblings), -1 until the first
    inside = 0  # depth of the entry we are in, 0 when outside one
    start = 0
    declares = False  # namespace declarations on the element about to start

    def on_start(name: str, attrs: dict) -> None:
        nonlocal depth, elements, entry_depth, inside, start, declares
        depth += 1
        elements += 1
        if depth > max_depth or elements > max_elements:
            raise _Unsure
        scoped = declares
        if attrs:
            if len(attrs) > max_attributes or sum(len(k) + len(v) for k, v in attrs.items()) > max_tag // 2:
                raise _Unsure
            scoped = scoped or any(a.startswith(_XML_NS) for a in attrs)
        if scoped:
            declares = False
            if inside or name.rpartition(" ")[2] in _ENTRY_NAMES:
                raise _Unsure
        if inside or name.rpartition(" ")[2] not in _ENTRY_NAMES:
            return
        if entry_depth not in (-1, depth) or len(spans) >= max_entries:
            raise _Unsure
        entry_depth, inside, start = depth, depth, parser.CurrentByteIndex
        local = name.rpartition(" ")[2].encode()
        if body[start + 1:start + 1 + len(local)] != local or body[start + 1 + len(local):start + 2 + len(local)] not in (b" ", b">", b"\t", b"\r", b"\n"):
            raise _Unsure  # a prefixed entry (atom:entry) or a surprise

    def on_end(name: str) -> None:
        nonlocal depth, inside
        if inside == depth:
            at = parser.CurrentByteIndex
            if body[at:at + 2] != b"</":  # an empty element <item/>
                raise _Unsure
            end = body.index(b">", at) + 1
            if spans and body[spans[-1][1]:start].strip(_SPACE):
                raise _Unsure  # something between two entries: not a plain list of them
            spans.append((start, end))
            inside = 0
        depth -= 1

    def on_namespace(prefix: str | None, uri: str) -> None:
        nonlocal declares
        declares = True

    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    parser.StartNamespaceDeclHandler = on_namespace
    parser.StartDoctypeDeclHandler = lambda *a: _raise()
    parser.EntityDeclHandler = lambda *a: _raise()
    try:
        parser.Parse(body, True)
    except (_Unsure, expat.ExpatError, ValueError):
        return None
    return Split(body, tuple(spans))


def _raise() -> None:
    raise _Unsure
