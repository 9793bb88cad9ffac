"""Run stories over archived items, offline: no network, no state. Plain data in, plain data out.

    items = read_items(path)                    # JSON Lines, the corpus format
    records = run(items, stories)               # one dict per item: evaluate(item, matches)
    metrics(records, read_labels(path))         # precision / recall / F1
    compare(records, other_records)             # items that start or stop matching

Input lines: {"feed_url", "feed_title", "title", "link", "published", "description", ...};
the description goes through `parse.html_to_text` as a feed's would, and `link` is kept as
written, for output and for joining labels.

Metrics (labels: the corpus format, one line per relevant or look-alike item; an item without
a label line is not relevant):
    relevance  precision, recall and F1 of `relevant` over every item
    actors     micro precision, recall and F1 over (item, actor id) pairs, on the items labelled
               relevant, counting only the story's actor ids (`other:NAME` labels are people
               the story does not track)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import MonitorError
from .match import match
from .models import Item, Match
from .parse import html_to_text
from .story import Story


class BacktestError(MonitorError):
    """An input file for the backtest is missing or malformed."""


# ---------------------------------------------------------------- input


def _lines(path: str | Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        f = open(path, encoding="utf-8")
    except OSError as exc:
        raise BacktestError(f"{path}: cannot read: {exc.strerror}") from exc
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BacktestError(f"{path}:{n}: not JSON ({exc.msg}). Hint: one JSON object per line") from exc
            if not isinstance(data, dict):
                raise BacktestError(f"{path}:{n}: expected a JSON object, got {type(data).__name__}")
            yield n, data


def _published(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_items(path: str | Path) -> list[Item]:
    """Items from a JSON Lines file; each needs a `link` and a `title` or `description`."""
    items: list[Item] = []
    for n, data in _lines(path):
        link = data.get("link")
        if not isinstance(link, str) or not link:
            raise BacktestError(f"{path}:{n}: item has no \"link\". Hint: every line needs a link to report on")
        items.append(Item(
            feed_url=str(data.get("feed_url") or ""),
            id=link,
            title=html_to_text(str(data.get("title") or "")),
            text=html_to_text(str(data.get("description") or "")),
            link=link,
            published=_published(data.get("published")),
            feed_title=str(data.get("feed_title") or ""),
        ))
    return items


def read_labels(path: str | Path) -> dict[str, dict[str, Any]]:
    """Labels by link (the corpus label format)."""
    labels: dict[str, dict[str, Any]] = {}
    for n, data in _lines(path):
        link = data.get("link")
        if not isinstance(link, str) or not isinstance(data.get("relevant"), bool):
            raise BacktestError(f"{path}:{n}: a label needs \"link\" and \"relevant\": true/false")
        labels[link] = data
    return labels


# ---------------------------------------------------------------- running


def evaluate(item: Item, matches: Sequence[Match]) -> dict[str, Any]:
    """One output record for one item: the hook where later stages add their fields.

    The top-level fields describe the best story (relevant first, then highest score); with
    several stories, `stories` holds each one's result.
    """
    best = max(matches, key=lambda m: (m.relevant, m.score))
    record: dict[str, Any] = {
        "link": item.link,
        "story": best.story,
        "relevant": best.relevant,
        "score": best.score,
        "actors": list(best.actors),
        "claims": list(best.claims),
    }
    if len(matches) > 1:
        record["stories"] = {
            m.story: {"relevant": m.relevant, "score": m.score, "actors": list(m.actors), "claims": list(m.claims)}
            for m in matches
        }
    return record


def run(items: Iterable[Item], stories: Sequence[Story]) -> list[dict[str, Any]]:
    """Match every item against every story; one record per item, in input order."""
    if not stories:
        raise BacktestError("no story to run. Hint: add a story file under config/stories/")
    records = []
    for item in items:
        records.append(evaluate(item, [match(item, story) for story in stories]))
    return records


def select(stories: Sequence[Story], story_id: str | None) -> list[Story]:
    """All stories, or the one named; an unknown id names the ones there are."""
    if story_id is None:
        return list(stories)
    chosen = [s for s in stories if s.id == story_id]
    if not chosen:
        raise BacktestError(f"no story {story_id!r}. Hint: one of {', '.join(s.id for s in stories)}")
    return chosen


# ---------------------------------------------------------------- measuring


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def metrics(records: Sequence[dict[str, Any]], labels: dict[str, dict[str, Any]],
            actor_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """Relevance and actor precision/recall/F1, plus the items that disagree with the labels."""
    tracked = set(actor_ids) if actor_ids is not None else None
    rel = {"tp": 0, "fp": 0, "fn": 0}
    act = {"tp": 0, "fp": 0, "fn": 0}
    false_pos, false_neg, actor_errors = [], [], []
    for rec in records:
        label = labels.get(rec["link"])
        truth = bool(label and label["relevant"])
        if rec["relevant"] and truth:
            rel["tp"] += 1
        elif rec["relevant"]:
            rel["fp"] += 1
            false_pos.append(rec["link"])
        elif truth:
            rel["fn"] += 1
            false_neg.append(rec["link"])
        if not truth:
            continue
        want = {a for a in label.get("actors", []) if not a.startswith("other:")}
        if tracked is not None:
            want &= tracked
        got = set(rec["actors"])
        act["tp"] += len(want & got)
        act["fp"] += len(got - want)
        act["fn"] += len(want - got)
        if want != got:
            actor_errors.append({"link": rec["link"], "missing": sorted(want - got), "extra": sorted(got - want)})
    return {
        "items": len(records),
        "labelled_relevant": rel["tp"] + rel["fn"],
        "relevance": _prf(**rel),
        "actors": _prf(**act),
        "false_positives": false_pos,
        "false_negatives": false_neg,
        "actor_errors": actor_errors,
    }


def compare(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items whose relevance differs between two runs over the same items: one dict per change."""
    old = {r["link"]: r for r in before}
    changes = []
    for new in after:
        prev = old.get(new["link"])
        if prev is None or prev["relevant"] == new["relevant"]:
            continue
        changes.append({
            "link": new["link"],
            "change": "starts matching" if new["relevant"] else "stops matching",
            "before": {k: prev[k] for k in ("relevant", "score", "actors", "claims")},
            "after": {k: new[k] for k in ("relevant", "score", "actors", "claims")},
        })
    return changes


def summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts for the human summary: items, relevant items, and how often each actor/claim is found."""
    relevant = [r for r in records if r["relevant"]]
    actors: dict[str, int] = {}
    claims: dict[str, int] = {}
    for r in relevant:
        for a in r["actors"]:
            actors[a] = actors.get(a, 0) + 1
        for c in r["claims"]:
            claims[c] = claims.get(c, 0) + 1
    return {"items": len(records), "relevant": len(relevant),
            "actors": dict(sorted(actors.items(), key=lambda kv: -kv[1])),
            "claims": dict(sorted(claims.items(), key=lambda kv: -kv[1]))}
