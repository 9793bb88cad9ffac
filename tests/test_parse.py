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
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel><title>&a;</title></channel></rss>', "xml_entities"),
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
