"""The shared corpus replayed as feeds: parsing only the unseen entries gives the items a full parse gives.

    python bench/replay.py [/work/shared/corpus/items.jsonl]

Every feed of items.jsonl becomes a sequence of documents, one per day: that day's items and the
previous day's (so each poll repeats some entries, as real feeds do), newest first, as RSS 2.0
for even-numbered feeds and Atom for odd ones, descriptions as the feed gave them (HTML
escaped into the element). Each day is parsed whole (parse.parse) and incrementally
(parse.parse_new with the digests of the previous day's document) and the items are compared
one by one: the incremental items must be exactly the whole parse's items of the entries not
seen the day before. Prints the counts; exits 1 on any difference.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import parse  # noqa: E402

CORPUS = Path("/work/shared/corpus/items.jsonl")


def document(feed_url: str, title: str, items: list[dict], atom: bool) -> bytes:
    entries = []
    for it in items:
        when = datetime.fromisoformat(it["published"]) if it.get("published") else None
        if atom:
            stamp = f"<updated>{when.isoformat()}</updated>" if when else ""
            entries.append(f"<entry><id>{escape(it['link'])}</id><title>{escape(it['title'])}</title>"
                           f'<link href="{escape(it["link"], {chr(34): "&quot;"})}"/>{stamp}'
                           f'<summary type="html">{escape(it.get("description") or "")}</summary></entry>')
        else:
            stamp = f"<pubDate>{format_datetime(when)}</pubDate>" if when else ""
            entries.append(f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>"
                           f"<guid>{escape(it['link'])}</guid>{stamp}"
                           f"<description>{escape(it.get('description') or '')}</description></item>")
    if atom:
        head = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{escape(title)}</title><id>{escape(feed_url)}</id>")
        return (head + "\n".join(entries) + "</feed>").encode()
    head = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>{escape(feed_url)}</link>")
    return (head + "\n".join(entries) + "</channel></rss>").encode()


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else CORPUS
    feeds: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    titles: dict[str, str] = {}
    for line in path.read_text().splitlines():
        it = json.loads(line)
        feeds[it["feed_url"]][it["day"]].append(it)
        titles[it["feed_url"]] = it.get("feed_title") or ""
    docs = compared = skipped = split = 0
    whole_s = new_s = 0.0
    bad: list[str] = []
    for n, (url, days) in enumerate(sorted(feeds.items())):
        known: frozenset[str] = frozenset()
        order = sorted(days)
        for i, day in enumerate(order):
            items = sorted(days[day] + (days[order[i - 1]] if i else []), key=lambda it: it.get("published") or "", reverse=True)
            doc = document(url, titles[url], items, atom=n % 2 == 1)
            start = time.perf_counter()
            _, whole = parse.parse(url, doc)
            whole_s += time.perf_counter() - start
            start = time.perf_counter()
            _, got, digests = parse.parse_new(url, doc, known=known)
            new_s += time.perf_counter() - start
            docs += 1
            if digests is None:
                bad.append(f"{url} {day}: not split (parsed whole)")
                continue
            split += 1
            want = [item for item, d in zip(whole, digests) if d not in known]
            compared += len(want)
            skipped += len(whole) - len(want)
            if got != want:
                bad.append(f"{url} {day}: {len(got)} items incrementally, {len(want)} expected")
            known = frozenset(digests)
    print(f"{len(feeds)} feeds, {docs} feed-days ({split} split), {compared} new items compared one by one, "
          f"{skipped} repeated entries skipped; whole parse {whole_s:.2f} s, incremental {new_s:.2f} s")
    for line in bad:
        print("DIFFERENT:", line)
    print("identical" if not bad else f"{len(bad)} documents differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
