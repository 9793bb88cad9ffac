"""Bench fixtures shared by bench/cycle.py and bench/growth.py: realistic feeds and a loopback server.

    python bench/_feeds.py serve DIR [--max-requests N] [--idle SECONDS]

`generate()` writes N feeds of M items each into a directory, deterministically (same seed,
same bytes): RSS 2.0 and some Atom, titles of 40-110 characters, descriptions of 1-4 news
sentences (200-900 characters), a third of them HTML (paragraphs, links, entities, an image),
and about 3% of the items mentioning the shipped story (North Korean troops in Russia, with
actors and figures, so matching, extraction and the novelty ledger do real work).

`serve` is the loopback server: 127.0.0.1 only, HTTP/1.1 keep-alive, one thread per connection,
bodies held in memory, a strong ETag and a Last-Modified per feed, 304 when either matches. It
stops by itself after `--max-requests` requests, after `--idle` seconds without one, or when
the process that started it is gone. bench/cycle.py times a fetch-only pass through it, to show
that it is not what limits the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

PLACES = ["Kyiv", "Brussels", "Washington", "Beijing", "Tokyo", "Nairobi", "Lagos", "Berlin", "Paris",
          "Madrid", "Ottawa", "Canberra", "Jakarta", "Manila", "Sao Paulo", "Mexico City", "Cairo",
          "Istanbul", "Warsaw", "Seoul", "New Delhi", "Karachi", "Dhaka", "Lima", "Bogota", "Johannesburg"]
PEOPLE = ["the prime minister", "the finance minister", "a government spokesperson", "the central bank",
          "opposition leaders", "the health ministry", "union leaders", "the regional governor",
          "police", "the foreign ministry", "a senior official", "the electoral commission"]
SUBJECTS = ["flood defences", "a new budget", "fuel prices", "a rail strike", "the housing shortage",
            "wildfires", "a court ruling", "tariffs on steel", "the state election", "a cyber attack",
            "hospital waiting lists", "a stalled trade deal", "interest rates", "a bridge collapse",
            "drought relief", "the teachers' pay dispute", "a heatwave", "a port blockade"]
VERBS = ["announced", "warned about", "criticised", "defended", "promised action on", "launched an inquiry into",
         "rejected claims about", "welcomed a plan on", "called for talks on", "cut spending on"]
TAILS = ["The decision follows weeks of protests in the capital and is expected to face legal challenges.",
         "Officials said further details would be published later this week after a cabinet meeting.",
         "Analysts said the move could weigh on growth in the second half of the year.",
         "Critics said the measures came too late for families already struggling with rising costs.",
         "The announcement was made at a press conference on {day} and drew an immediate response from rivals.",
         "Local media reported that {n} people had been affected, although the figure could not be independently verified.",
         "Markets were little changed after the news, with traders awaiting inflation data due on {day}.",
         "Emergency services said they had responded to more than {n} calls since the early hours of the morning.",
         "The proposal must still be approved by parliament, where the governing coalition holds a narrow majority.",
         "Residents interviewed by reporters said they had not been consulted and feared for their jobs."]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Sentences about the shipped story: its actors, concepts, claims and figures (a few distinct
# numbers, so the novelty ledger sees both new figures and repeats).
STORY = ["Ukrainian President Volodymyr Zelensky said {n},000 North Korean troops were being trained in eastern Russia and could be sent to the Kursk region.",
         "South Korea's National Intelligence Service said North Korea had sent about {n},500 special forces soldiers to Russia, with more expected.",
         "Pentagon spokesman Pat Ryder said there was evidence that North Korean troops were in Russia, and that around {n},000 had arrived for training.",
         "Kremlin spokesman Dmitry Peskov dismissed reports that North Korean soldiers were fighting for Russia in Ukraine as fake news.",
         "NATO Secretary General Mark Rutte confirmed that North Korean military units had been deployed to the Kursk region.",
         "Russian foreign ministry spokeswoman Maria Zakharova said military cooperation with Pyongyang did not violate international law."]
STORY_TITLES = ["North Korean troops in Russia: what we know", "Seoul says Pyongyang sent soldiers to fight for Moscow",
                "Zelensky warns of North Korean soldiers near Kursk", "US confirms North Korean troops in Russia"]
HEADLINES = ["{place}: {who} {verb} {subject}", "{who} {verb} {subject} in {place}",
             "{subject} dominates debate in {place} as {who} responds", "Live: {who} in {place} on {subject}",
             "What the row over {subject} means for {place}", "{place} braces for {subject}"]


def _sentence(rng: random.Random) -> str:
    s = f"In {rng.choice(PLACES)}, {rng.choice(PEOPLE)} {rng.choice(VERBS)} {rng.choice(SUBJECTS)} on {rng.choice(DAYS)}."
    tail = rng.choice(TAILS).format(day=rng.choice(DAYS), n=rng.randint(12, 4000))
    return f"{s} {tail}"


def _headline(rng: random.Random, mention: bool) -> str:
    if mention:
        return rng.choice(STORY_TITLES)
    h = rng.choice(HEADLINES).format(place=rng.choice(PLACES), who=rng.choice(PEOPLE),
                                     verb=rng.choice(VERBS), subject=rng.choice(SUBJECTS))
    return h[0].upper() + h[1:]


def _description(rng: random.Random, mention: bool, html: bool, link: str) -> str:
    sentences = [_sentence(rng) for _ in range(rng.randint(1, 3))]
    if mention:
        sentences.insert(rng.randint(0, len(sentences)), rng.choice(STORY).format(n=rng.choice([3, 10, 11, 12])))
    if not html:
        return " ".join(sentences)
    parts = [f"<p>{escape(s).replace(' and ', ' &amp; ', 1)}</p>" for s in sentences]
    parts.insert(1, f'<p><img src="{link}/photo.jpg" alt="Photo" width="640" height="360"/></p>')
    parts.append(f'<p>Read more at <a href="{link}?utm_source=rss">our website</a>.</p>')
    return "".join(parts)


def feed_document(i: int, items: int, seed: int = 0, mention_rate: float = 0.03, new: int = 0) -> bytes:
    """Feed number `i`: RSS 2.0, or Atom for one feed in five; `items` entries, newest first.

    With `new` = K, the same feed as a later poll sees it: K newer entries on top, the K oldest
    gone, the other entries byte for byte as before (each entry is generated from its own seed)."""
    atom = i % 5 == 4
    host = f"https://news{i}.example.org"
    base = 1_730_000_000 - i * 37
    entries = []
    for j in range(-new, items - new):
        rng = random.Random(f"{seed}:{i}:{j}")
        mention = rng.random() < mention_rate
        link = f"{host}/{2024}/{10}/story-{i}-{j}"
        title = _headline(rng, mention)
        desc = _description(rng, mention, html=rng.random() < 0.33, link=link)
        when = base - j * 900
        if atom:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
            entries.append(f"<entry><id>tag:news{i}.example.org,2024:{j}</id><title>{escape(title)}</title>"
                           f'<link rel="alternate" href="{link}"/><updated>{stamp}</updated><published>{stamp}</published>'
                           f"<author><name>Reporter {j % 7}</name></author>"
                           f'<summary type="html">{escape(desc)}</summary></entry>')
        else:
            entries.append(f"<item><title>{escape(title)}</title><link>{link}</link>"
                           f'<guid isPermaLink="true">{link}</guid><pubDate>{formatdate(when, usegmt=True)}</pubDate>'
                           f"<dc:creator>Reporter {j % 7}</dc:creator><category>World</category>"
                           f"<description>{escape(desc)}</description></item>")
    if atom:
        head = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>News {i}</title><id>{host}/</id><link href=\"{host}/\"/>"
                f"<updated>{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(base))}</updated>")
        return (head + "".join(entries) + "</feed>").encode()
    head = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>News {i}</title><link>{host}/</link><description>World news from outlet {i}</description>"
            f"<language>en</language><lastBuildDate>{formatdate(base, usegmt=True)}</lastBuildDate>")
    return (head + "\n".join(entries) + "</channel></rss>").encode()


def generate(directory: Path, feeds: int, items: int, seed: int = 0, new: int = 0) -> list[Path]:
    """Write `feeds` documents into `directory` (kept if already there for the same arguments);
    with `new` = K, also each feed's later version (K new entries) as `{i}.xml.next`, which
    `serve` switches to on a request for /_next (and back on /_first)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / f".generated-{feeds}x{items}-{seed}-{new}"
    paths = [directory / f"{i}.xml" for i in range(feeds)]
    if stamp.exists() and all(p.exists() for p in paths):
        return paths
    for i, p in enumerate(paths):
        p.write_bytes(feed_document(i, items, seed))
        if new:
            p.with_name(p.name + ".next").write_bytes(feed_document(i, items, seed, new=new))
    stamp.write_text("ok\n")
    return paths


# ---------------------------------------------------------------- the loopback server


def serve(directory: Path, max_requests: int, idle: float) -> None:
    """Serve every *.xml in `directory` at /NAME on 127.0.0.1 until a stop condition; print the port."""
    first = {f"/{p.name}": p.read_bytes() for p in directory.glob("*.xml")}
    later = {f"/{p.name[:-5]}": p.read_bytes() for p in directory.glob("*.xml.next")}
    later = {**first, **later}
    bodies = first

    def stamps(docs: dict[str, bytes], when: int) -> dict[str, tuple[str, str]]:
        return {path: (f'"{hashlib.sha1(b).hexdigest()[:16]}"', formatdate(when, usegmt=True)) for path, b in docs.items()}

    meta = first_meta = stamps(first, 1_730_000_000)
    later_meta = stamps(later, 1_730_003_600)
    count = [0]
    last = [time.monotonic()]
    lock = threading.Lock()
    parent = os.getppid()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response (headers and body buffered, flushed after each request) and
        # TCP_NODELAY: else the body waits for the client's delayed ACK (~40 ms per request).
        wbufsize = -1
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            nonlocal bodies, meta
            with lock:
                count[0] += 1
                last[0] = time.monotonic()
                if self.path in ("/_next", "/_first"):  # every feed switches to its later version, or back
                    bodies, meta = (later, later_meta) if self.path == "/_next" else (first, first_meta)
            body = bodies.get(self.path.split("?", 1)[0])
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag, modified = meta[self.path.split("?", 1)[0]]
            if self.headers.get("If-None-Match") == etag or (
                    "If-None-Match" not in self.headers and self.headers.get("If-Modified-Since") == modified):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8" if b"<rss" in body[:200] else "application/atom+xml; charset=utf-8")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 256
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    print(httpd.server_address[1], flush=True)
    while count[0] < max_requests and time.monotonic() - last[0] < idle and os.getppid() == parent:
        time.sleep(0.2)
    httpd.shutdown()
    print(f"server stopped after {count[0]} requests", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="serve bench feeds on 127.0.0.1")
    ap.add_argument("command", choices=["serve"])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--idle", type=float, default=300.0, help="stop after this many seconds without a request")
    args = ap.parse_args(argv)
    serve(args.directory, args.max_requests, args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
