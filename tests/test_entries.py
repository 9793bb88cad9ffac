"""Parsing only the unseen entries (entries.py, parse.parse_new) gives the same items as a full parse.

Checked on every feed document the tests have: every bytes or str constant with a feed root in
the test modules and tests/hostile_cases.py (their code objects searched, nested functions
included), the documents their helpers build, the demo feeds, and generated bench feeds; for
each, with nothing known, everything known, and several mixes.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest

from monitor import entries, parse
from monitor.errors import FeedError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "bench"))

ROOTS = (b"<rss", b"<feed", b"<rdf:RDF", b"<RDF", b"<?xml", b"<channel")


def _constants(code: types.CodeType):  # type: ignore[no-untyped-def]
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _constants(c)
        elif isinstance(c, (str, bytes)):
            yield c


def documents() -> dict[str, bytes]:
    docs: dict[str, bytes] = {}

    def add(name: str, value: str | bytes) -> None:
        b = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        if any(r in b[:2000] for r in ROOTS) and b not in docs.values():
            docs[f"{name}#{len(docs)}"] = b

    for path in sorted(HERE.glob("*.py")):
        if path.name == "test_entries.py":
            continue
        module = importlib.import_module(path.stem)
        for name, value in vars(module).items():
            if isinstance(value, (str, bytes)):
                add(f"{path.stem}.{name}", value)
        for value in _constants(compile(path.read_text(), str(path), "exec")):
            add(path.stem, value)
    import conftest
    import hostile_cases as hc

    add("conftest.rss", conftest.rss(("a", "Alpha", "x"), ("b", "Beta", "<p>y</p>"), ("a", "Alpha", "dup")))
    add("hostile.rss_doc", hc.rss_doc(hc.item("g1", "One", link="https://e.org/1") + hc.item(None, "No guid")
                                      + hc.item("g3", "Three", date=None) + hc.item("g4", "Rel", link="/rel/4")))
    for path in sorted((ROOT / "monitor" / "demo").glob("*.xml")):
        add(f"demo.{path.name}", path.read_bytes())
    import _feeds

    for i in range(5):
        add(f"bench.{i}", _feeds.feed_document(i, 12))
        add(f"bench.{i}.next", _feeds.feed_document(i, 12, new=3))
    return docs


DOCS = documents()


def _outcome(fn, *args, **kw):  # type: ignore[no-untyped-def]
    try:
        return fn(*args, **kw)
    except FeedError as exc:
        return ("error", type(exc).__name__, exc.reason, str(exc))


@pytest.mark.parametrize("name", list(DOCS))
def test_unseen_entries_parse_as_in_the_whole_document(name: str) -> None:
    doc = DOCS[name]
    url = "https://feeds.example.org/feed.xml"
    whole = _outcome(parse.parse, url, doc)
    first = _outcome(parse.parse_new, url, doc, known=frozenset())
    if whole[0] == "error":
        assert first == whole
        return
    title, items, digests = first
    assert (title, items) == whole
    if digests is None:
        return
    assert len(digests) == len(items)
    mixes = [set(digests), set(digests[::2]), set(digests[1:]), set(digests[:-1]), {"not-a-digest"}]
    for known in mixes:
        t, got, again = parse.parse_new(url, doc, known=frozenset(known))
        assert t == title
        assert again == digests
        assert got == [item for item, d in zip(items, digests) if d not in known]


def test_the_corpus_exercises_both_paths() -> None:
    split = [n for n, d in DOCS.items() if entries.split(parse.to_utf8(d, {}), **parse._CAPS) is not None]
    assert len(DOCS) >= 30
    assert len(split) >= 10 and len(split) < len(DOCS)


@pytest.mark.parametrize("doc", [
    b'<rss><channel><item xml:base="https://a.org/">x</item></channel></rss>',
    b'<rss><channel><item xmlns:x="urn:x"><x:y>1</x:y></item></channel></rss>',
    b'<rss><channel><item><guid>1</guid></item><!-- c --><item><guid>2</guid></item></channel></rss>',
    b'<rss><channel><item/></channel></rss>',
    b'<rss><channel><item><guid>1</guid></item></channel><item><guid>2</guid></item></rss>',
    b'<rss xmlns:a="urn:a"><channel><a:item>1</a:item></channel></rss>',
    b'<!DOCTYPE rss SYSTEM "x.dtd"><rss><channel><item>1</item></channel></rss>',
    b'<rss><channel><item><guid>1</guid></item><item><guid>2</guid></channel></rss>',
    b'<rss><channel><item><dc:creator>x</dc:creator></item></channel></rss>',
])
def test_unsure_documents_are_not_split(doc: bytes) -> None:
    assert entries.split(doc, **parse._CAPS) is None


def test_digest_names_bytes_and_address() -> None:
    assert entries.digest(b"<item>1</item>", "https://a.org/") == entries.digest(b"<item>1</item>", "https://a.org/")
    assert entries.digest(b"<item>1</item>", "https://a.org/") != entries.digest(b"<item>2</item>", "https://a.org/")
    assert entries.digest(b"<item>1</item>", "https://a.org/") != entries.digest(b"<item>1</item>", "https://b.org/")


def _rss(items: str, head: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>{head}{items}</channel></rss>'.encode()


def _items(n: int, extra: str = "") -> str:
    return "".join(f"<item><guid>g{i}</guid><title>Title {i}</title>{extra if i == 1 else ''}</item>" for i in range(n))


@pytest.mark.parametrize("doc", [
    _rss(_items(3, "<x>" * 300 + "</x>" * 300)),  # nested past MAX_DEPTH inside an entry
    _rss(_items(3, "<x " + " ".join(f'a{i}="1"' for i in range(600)) + "/>")),  # attribute flood
    _rss(_items(3, '<x a="' + "y" * 70_000 + '"/>')),  # a tag past MAX_TAG
    _rss(_items(parse.MAX_ITEMS + 5)),  # cut after MAX_ITEMS entries
    _rss(_items(2)).removesuffix(b"</channel></rss>") + b"<item><guid>cut",  # cut short
], ids=["deep", "attributes", "long-tag", "many-items", "truncated"])
def test_caps_refuse_or_cut_as_for_the_whole_document(doc: bytes) -> None:
    url = "https://feeds.example.org/feed.xml"
    whole = _outcome(parse.parse, url, doc)
    for known in (frozenset(), frozenset({entries.digest(b"<item><guid>g0</guid><title>Title 0</title></item>", url)})):
        got = _outcome(parse.parse_new, url, doc, known=known)
        if whole[0] == "error":
            assert got == whole
        else:
            assert got[:2] == whole and got[2] is None


def test_partial_feed_keeps_its_entries_with_known_digests() -> None:
    doc = _rss(_items(2)).removesuffix(b"</channel></rss>") + b"<item><guid>cut"
    with pytest.raises(parse.PartialFeed) as whole:
        parse.parse("u", doc)
    with pytest.raises(parse.PartialFeed) as new:
        parse.parse_new("u", doc, known=frozenset({"x"}))
    assert new.value.items == whole.value.items and len(whole.value.items) == 2
