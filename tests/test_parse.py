"""Parsing: RSS 0.9x / 1.0 / 2.0 and Atom into plain Items; ids, links, dates, HTML."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from monitor.errors import FeedError
from monitor.parse import canonical_link, html_to_text, parse

RSS091 = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title>
<item><title>Ninety one</title><link>https://ex.org/91</link><description>d</description></item></channel></rss>"""
RSS10 = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://ex.org/"><title>RDF</title><link>https://ex.org/</link><description>x</description></channel>
<item rdf:about="https://ex.org/r1"><title>RDF item</title><link>https://ex.org/r1</link>
<dc:date>2024-10-24T10:00:00+02:00</dc:date><dc:creator>Ann Writer</dc:creator></item></rdf:RDF>"""
RSS20 = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T &amp; Co</title>
<item><title>A &lt;b&gt;bold&lt;/b&gt; title</title><link>https://Ex.org/a?utm_source=rss&amp;id=3#top</link>
<description>&lt;p&gt;Hello &amp;amp; bye&lt;/p&gt;&lt;script&gt;evil()&lt;/script&gt;</description>
<pubDate>Thu, 17 Oct 2024 10:00:00 +0200</pubDate><guid isPermaLink="false">g-1</guid></item>
<item><title>No guid</title><link>https://ex.org/b</link></item>
<item><title>No guid, no link</title><description>body</description></item></channel></rss>"""
ATOM = b"""<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://ex.org/blog/"><title>Atom</title>
<entry><title>Entry</title><link href="posts/1"/><id>urn:uuid:1</id><updated>2024-10-17T10:00:00Z</updated>
<author><name>Bo Author</name></author><content type="html">&lt;p&gt;Full &lt;i&gt;content&lt;/i&gt;&lt;/p&gt;</content></entry></feed>"""


def test_rss20_items_are_plain_and_canonical():
    title, items = parse("http://f", RSS20)
    assert title == "T & Co"
    a, b, c = items
    assert a.title == "A bold title"
    assert a.text == "Hello & bye"
    assert a.link == "https://ex.org/a?id=3"
    assert a.published == datetime(2024, 10, 17, 8, 0, tzinfo=timezone.utc)
    assert b.id == "https://ex.org/b"  # no guid -> canonical link
    assert c.id.startswith("sha1:") and c.link is None  # neither -> content hash
    assert parse("http://f", RSS20)[1][2].id == c.id  # stable across parses


@pytest.mark.parametrize("body,title,link", [
    (RSS091, "Ninety one", "https://ex.org/91"),
    (RSS10, "RDF item", "https://ex.org/r1"),
    (ATOM, "Entry", "https://ex.org/blog/posts/1"),
])
def test_every_format_parses(body, title, link):
    _, items = parse("http://f", body)
    assert (items[0].title, items[0].link) == (title, link)


def test_atom_content_and_authors():
    _, [item] = parse("http://f", ATOM)
    assert item.text == "Full content"
    assert item.authors == ("Bo Author",)


def test_rdf_date_and_creator():
    _, [item] = parse("http://f", RSS10)
    assert item.published == datetime(2024, 10, 24, 8, 0, tzinfo=timezone.utc)
    assert item.authors == ("Ann Writer",)


@pytest.mark.parametrize("body,reason", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"<!DOCTYPE html><html><body>Hi</body></html>", "html"),
    (b'<?xml version="1.0"?><rss version="2.0"><!ENTITY a "aaaa"><channel><title>&a;</title></channel></rss>', "xml_entities"),
    (b"{ not a feed", "garbage"),
])
def test_not_a_feed_raises_with_reason(body, reason):
    with pytest.raises(FeedError) as err:
        parse("http://f", body)
    assert err.value.reason == reason
    assert str(err.value).startswith("http://f: ")


def test_links_that_are_not_http_are_dropped():
    assert canonical_link("javascript:alert(1)") is None
    assert canonical_link("ftp://ex.org/x") is None
    assert canonical_link("https://ex.org/p?fbclid=1&q=2&utm_medium=x") == "https://ex.org/p?q=2"


def test_html_to_text_drops_scripts_and_entities():
    assert html_to_text("<p>Kim&#39;s <script>x()</script>troops&nbsp;<br>arrive</p>") == "Kim's troops arrive"


def test_one_invalid_byte_does_not_turn_the_feed_into_mojibake():
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ünïcode</title>'
            '<item><title>Zelenskyy says “troops” arrived</title><guid>1</guid></item>'
            '<item><title>bad \xff byte</title><guid>2</guid></item></channel></rss>')
    raw = body.encode("utf-8").replace(b"\xc3\xbf", b"\xff")
    title, items = parse("http://f", raw, {"Content-Type": "application/rss+xml; charset=utf-8"})
    assert title == "Ünïcode"
    assert items[0].title == "Zelenskyy says “troops” arrived"
    assert items[1].title == "bad \ufffd byte"


def test_windows_1251_served_as_utf8_is_detected():
    text = "Песков назвал сообщения о северокорейских войсках в Курской области дезинформацией"
    body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Новости</title>'
            f"<item><title>{text}</title><guid>1</guid></item></channel></rss>").encode("cp1251")
    _, [item] = parse("http://f", body, {"Content-Type": "text/xml; charset=utf-8"})
    assert item.title == text


def test_json_feed():
    body = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "JF",
      "items": [{"id": "1", "url": "https://ex.org/1?utm_source=x", "title": "Hello",
                 "content_html": "<p>Body</p>", "date_published": "2024-10-24T10:00:00+02:00",
                 "authors": [{"name": "Ann"}]}]}"""
    title, [item] = parse("http://f", body, {"Content-Type": "application/feed+json"})
    assert (title, item.id, item.link, item.text, item.authors) == ("JF", "1", "https://ex.org/1", "Body", ("Ann",))
    assert item.published == datetime(2024, 10, 24, 8, 0, tzinfo=timezone.utc)


def test_future_and_garbage_dates_become_unknown_and_huge_titles_are_capped():
    body = ('<rss version="2.0"><channel><title>x</title>'
            '<item><title>future</title><guid>1</guid><pubDate>Tue, 01 Jan 2999 00:00:00 GMT</pubDate></item>'
            '<item><title>garbage</title><guid>2</guid><pubDate>yesterday-ish</pubDate></item>'
            f'<item><title>{"A" * 1_000_000}</title><guid>3</guid></item></channel></rss>').encode()
    _, items = parse("http://f", body)
    assert [i.published for i in items] == [None, None, None]
    assert len(items[2].title) == 1000


def _rss(items: str) -> bytes:
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()


def _entry(guid: str, title: str, link: str | None = None, date: str = "Thu, 24 Oct 2024 10:00:00 GMT") -> str:
    return (f"<item><guid isPermaLink=\"false\">{guid}</guid><title>{title}</title><description>{title} text</description>"
            + (f"<link>{link}</link>" if link else "") + f"<pubDate>{date}</pubDate></item>")


def test_articles_sharing_one_guid_are_each_kept_and_warned_about_once(caplog):
    from monitor import parse as parse_mod

    parse_mod._WARNED.clear()
    body = _rss(_entry("same", "One", "https://ex.org/1") + _entry("same", "Two", "https://ex.org/2")
                + _entry("same", "Three") + _entry("same", "One", "https://ex.org/1") + _entry("own", "Four", "https://ex.org/4"))
    with caplog.at_level("WARNING", logger="monitor.parse"):
        _, items = parse("http://shared-guid.example/rss", body)
        again = parse("http://shared-guid.example/rss", body)[1]
    assert [i.id for i in items][:2] == ["https://ex.org/1", "https://ex.org/2"]
    assert items[2].id.startswith("sha1:") and items[3].id == items[0].id and items[4].id == "own"
    assert [i.id for i in again] == [i.id for i in items]  # stable across polls
    warnings = [r.getMessage() for r in caplog.records if "reuses a GUID" in r.getMessage()]
    assert len(warnings) == 1  # once per feed and GUID, not per poll
    assert "feed=http://shared-guid.example/rss" in warnings[0] and "guid='same'" in warnings[0] and "articles=3" in warnings[0]


@pytest.mark.parametrize("raw", ["2024-13-45T10:00:00Z", "0000-00-00 00:00:00", "1729764000", "yesterday",
                                 "Fri, 30 Feb 2024 10:00:00 GMT", "Thu, 24 Oct 2999 10:00:00 GMT"])
def test_an_unusable_date_is_no_date_and_a_warning_naming_the_feed(raw, caplog):
    from monitor import parse as parse_mod

    parse_mod._WARNED.clear()
    with caplog.at_level("WARNING", logger="monitor.parse"):
        _, [item] = parse("http://dates.example/rss", _rss(_entry("d", "Dated", "https://ex.org/d", raw)))
    assert item.published is None  # never a plausible wrong date (2025-01-01, 2017-10-24, ...)
    assert any("feed date unusable feed=http://dates.example/rss" in r.getMessage() and repr(raw) in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("raw, expected", [
    ("Thu, 24 Oct 2024 10:00:00 GMT", datetime(2024, 10, 24, 10, tzinfo=timezone.utc)),
    ("Tue, 31 Dec 2024 23:00:00 -0500", datetime(2025, 1, 1, 4, tzinfo=timezone.utc)),
    ("Thu, 24 Oct 24 10:00:00 +0000", datetime(2024, 10, 24, 10, tzinfo=timezone.utc)),
    ("2024-10-24T10:00:00+02:00", datetime(2024, 10, 24, 8, tzinfo=timezone.utc)),
    ("2024-02-29", datetime(2024, 2, 29, tzinfo=timezone.utc)),
])
def test_good_dates_are_kept(raw, expected, caplog):
    with caplog.at_level("WARNING", logger="monitor.parse"):
        _, [item] = parse("http://good-dates.example/rss", _rss(_entry("d", "Dated", "https://ex.org/d", raw)))
    assert item.published == expected and "date unusable" not in caplog.text


def test_bidirectional_controls_are_dropped_from_feed_text():
    title = "Kim \u2067says\u2069 \u202etroops\u202c left\u200f"
    _, [item] = parse("http://f", _rss(_entry("b", title, "https://ex.org/b") .replace(
        f"<description>{title} text</description>", "<description>a &#x2066;b&#x2069; c</description>")))
    assert item.title == "Kim says troops left" and item.text == "a b c"
    assert html_to_text("Zakha\u00adrova \u061csaid") == "Zakha\u00adrova said"  # a soft hyphen stays (matching folds it)


def test_warnings_from_a_parse_process_are_logged_by_the_service_once(caplog):
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    from monitor import parse as parse_mod

    parse_mod._WARNED.clear()
    body = _rss(_entry("x", "One", "https://ex.org/1") + _entry("x", "Two", "https://ex.org/2", "soon"))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool, \
            caplog.at_level("WARNING", logger="monitor.parse"):
        for _ in range(2):
            (title, items, _), records = pool.submit(parse_mod.parse_in_worker, "http://worker.example/rss", body).result()
            parse_mod.replay(records)
        error, records = pool.submit(parse_mod.parse_in_worker, "http://worker.example/rss", b"<html></html>").result()
    assert len(items) == 2 and isinstance(error, FeedError)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("reuses a GUID feed=http://worker.example/rss" in m for m in messages) == 1
    assert sum("feed date unusable feed=http://worker.example/rss" in m for m in messages) == 1


def test_entity_declarations_are_dropped_never_expanded_and_the_items_kept(caplog):
    body = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "EXPANDED"><!ENTITY % p "x"><!ENTITY lt "no">'
            b'<!-- ]> --><!ENTITY b "]>">]><rss version="2.0"><channel><title>T&a;</title>'
            b'<item><title>One &a;&b; &lt;3 &amp; more</title><link>https://ex.org/1</link></item>'
            b'<item><title>Two</title><link>https://ex.org/2</link></item></channel></rss>')
    with caplog.at_level("WARNING", logger="monitor.parse"):
        title, items = parse("http://dtd.example/rss", body)
    assert title == "T" and [i.title for i in items] == ["One <3 & more", "Two"]
    assert "EXPANDED" not in repr(items) and "feed declarations dropped feed=http://dtd.example/rss" in caplog.text


def test_an_entry_nested_past_the_cap_is_dropped_and_the_others_kept(caplog):
    deep = b"<item><title>Deep</title><description>" + b"<b>" * 300 + b"</b>" * 300 + b"</description></item>"
    body = _rss("").replace(b"</channel>", _entry("1", "Before").encode() + deep + _entry("2", "After").encode() + b"</channel>")
    with caplog.at_level("WARNING", logger="monitor.parse"):
        _, items = parse("http://deep.example/rss", body)
    assert [i.title for i in items] == ["Before", "After"]
    assert "feed entry dropped feed=http://deep.example/rss" in caplog.text
    with pytest.raises(FeedError) as err:  # past the cap outside any entry: nothing to keep apart
        parse("http://f", _rss(b"<image>".decode() + "<b>" * 300 + "</b>" * 300 + "</image>"))
    assert err.value.reason == "too_deep"
