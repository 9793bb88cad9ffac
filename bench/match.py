"""Matching throughput, next to feedparser's parse time for the same items.

    python bench/match.py [ITEMS.jsonl] [--config DIR] [--repeat N] [--labels LABELS.jsonl]

ITEMS.jsonl is in the corpus format (default: the shared corpus). The items are built into one
RSS 2.0 document in memory and timed through `feedparser.parse`; the same items (as
`backtest.read_items` gives them) are then matched against
  - the shipped story(ies) in --config (default: config/), and
  - a synthetic story of 200 actors x 5 aliases (plus the shipped story's concepts and claims).
"cold" is a pass with empty caches (a new story object, normalisation caches cleared: the
service's first poll); "warm" is a later pass, as in the service where the per-word caches live
as long as the process. Each time is the best of --repeat runs (the machine may be busy).
With --labels, relevance and actor precision/recall are also measured on copies of the items
with typos (seeded, so runs compare), a check that matching is robust to misspellings. The target (issue 3): matching
at least 5x faster than parsing.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from xml.sax.saxutils import escape

import feedparser

from monitor import backtest, config, normalize
from monitor.match import match
from monitor.models import Item
from monitor.story import Story

ROOT = Path(__file__).resolve().parent.parent
CORPUS = [ROOT.parent / "shared" / "corpus" / "items.jsonl", Path("/work/shared/corpus/items.jsonl")]


def rss_document(items: list[Item]) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bench</title>'
             "<link>https://bench.example.org/</link><description>bench</description>"]
    for it in items:
        link = escape(it.link or "")
        parts.append(f"<item><title>{escape(it.title)}</title><link>{link}</link><guid>{link}</guid>"
                     f"<description>{escape(it.text)}</description>"
                     "<pubDate>Thu, 24 Oct 2024 10:00:00 GMT</pubDate></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def clear_caches() -> None:
    normalize._WORDS.clear()
    normalize.norm_word.cache_clear()
    normalize.key.cache_clear()


def synthetic_story(base: Story, actors: int = 200, aliases: int = 5, seed: int = 0) -> Story:
    """`actors` made-up people, each with a full name, surname, a title and two spellings."""
    rng = random.Random(seed)
    syll = ["ka", "ro", "vin", "del", "mar", "sa", "to", "len", "go", "ri", "bek", "zan", "lu", "dim", "chen", "ov"]

    def word(n: int) -> str:
        return "".join(rng.choice(syll) for _ in range(n)).capitalize()

    people = []
    for i in range(actors):
        first, last = word(2), word(3)
        names = [f"{first} {last}", last, f"Minister {last}", f"{first[0]}. {last}", f"{last}a"][:aliases]
        people.append({"id": f"p{i}", "name": names[0], "aliases": names[1:], "ambiguous": [names[1]]})
    data = base.model_dump()
    data.update(id="synthetic", actors=people)
    return Story.model_validate(data)


def bench_story(story: Story, items: list[Item], repeat: int) -> tuple[float, float, int]:
    """(cold seconds, warm seconds, relevant items) for matching every item against `story`."""
    def cold_pass() -> None:
        clear_caches()
        fresh = story.model_copy(deep=True)  # a new object: compiled and cached anew
        for it in items:
            match(it, fresh)

    cold = best_of(repeat, cold_pass)
    fresh = story.model_copy(deep=True)
    warm = best_of(repeat, lambda: [match(it, fresh) for it in items])
    relevant = sum(match(it, fresh).relevant for it in items)
    return cold, warm, relevant


def report(story: Story, n: int, cold: float, warm: float, relevant: int, parse_time: float) -> str:
    names = sum(1 + len(a.aliases) for a in story.actors)
    return (f"match {story.id} ({len(story.actors)} actors, {names} names, {relevant} relevant):\n"
            f"  cold {cold:.3f} s  {n / cold:8.0f} items/s  {parse_time / cold:5.1f}x faster than parsing\n"
            f"  warm {warm:.3f} s  {n / warm:8.0f} items/s  {parse_time / warm:5.1f}x faster than parsing")


def typo_items(items: list[Item], rate: float, seed: int) -> list[Item]:
    """A copy of `items` where a share `rate` of the words of six letters or more has one typo:
    a letter dropped, two neighbouring letters swapped, or a vowel changed."""
    rng = random.Random(seed)

    def typo(w: str) -> str:
        if len(w) < 6 or rng.random() >= rate:
            return w
        i = rng.randrange(1, len(w) - 1)
        op = rng.choice("dsv")
        if op == "d":
            return w[:i] + w[i + 1:]
        if op == "s":
            return w[:i] + w[i + 1] + w[i] + w[i + 2:]
        return w[:i] + rng.choice("aeiou") + w[i + 1:]

    def perturb(text: str) -> str:
        return re.sub(r"[A-Za-z]+", lambda m: typo(m.group()), text)

    return [replace(it, title=perturb(it.title), text=perturb(it.text)) for it in items]


def robustness(items: list[Item], stories: list[Story], labels_path: str, rate: float) -> str:
    """Relevance and actor P/R/F1 on the items as they are and with typos (seeds 1-3)."""
    labels = backtest.read_labels(labels_path)
    actor_ids = [a.id for s in stories for a in s.actors]
    lines = [f"robustness ({labels_path}; typos in {rate:.0%} of words of 6+ letters):"]
    for name, variant in [("as is", items)] + [(f"typos {seed}", typo_items(items, rate, seed)) for seed in (1, 2, 3)]:
        m = backtest.metrics(backtest.run(variant, stories), labels, actor_ids)
        r, a = m["relevance"], m["actors"]
        lines.append(f"  {name:<8} relevance P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f}"
                     f"   actors P {a['precision']:.3f} R {a['recall']:.3f} F1 {a['f1']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", nargs="?", help="items in the corpus JSON Lines format")
    ap.add_argument("--config", default=str(ROOT / "config"), help="config directory (default: config/)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is kept")
    ap.add_argument("--labels", help="also measure relevance/actors against these labels, as is and with typos")
    ap.add_argument("--typo-rate", type=float, default=0.3, help="share of long words given a typo (default 0.3)")
    args = ap.parse_args(argv)
    path = Path(args.items) if args.items else next((p for p in CORPUS if p.exists()), None)
    if path is None or not path.exists():
        print("no items: pass ITEMS.jsonl (the corpus is not at ../shared/corpus/)", file=sys.stderr)
        return 2
    items = backtest.read_items(path)
    stories = config.load(args.config).stories
    doc = rss_document(items)
    parsed = len(feedparser.parse(doc).entries)
    parse_times = [best_of(args.repeat, lambda: feedparser.parse(doc))]
    results = []
    for story in [*stories, synthetic_story(stories[0])]:
        results.append((story, *bench_story(story, items, args.repeat)))
        parse_times.append(best_of(args.repeat, lambda: feedparser.parse(doc)))  # interleaved: same load
    parse_time = min(parse_times)
    print(f"{len(items)} items from {path}; RSS document {len(doc) / 1e6:.1f} MB, {parsed} entries")
    print(f"feedparser.parse: {parse_time:.3f} s  {len(items) / parse_time:8.0f} items/s")
    for story, cold, warm, relevant in results:
        print(report(story, len(items), cold, warm, relevant, parse_time))
    if args.labels:
        print(robustness(items, list(stories), args.labels, args.typo_rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
