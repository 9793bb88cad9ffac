"""Run stories over archived items, offline: no network, no state. Plain data in, plain data out.

    items = read_items(path)                    # JSON Lines, the corpus format
    records = run(items, stories)               # one dict per item: evaluate(item, matches)
    metrics(records, read_labels(path))         # precision / recall / F1
    compare(records, other_records)             # items that start or stop matching

Input lines: {"feed_url", "feed_title", "title", "link", "published", "description", ...};
the description goes through `parse.html_to_text` as a feed's would, and `link` is kept as
written, for output and for joining labels.

Metrics (labels: the corpus format, one line per relevant or look-alike item; an item without
a label line is not relevant, one labelled `"relevant": null` is debatable and left out of every
score; statements and figures are scored on items labelled relevant only, and what is extracted
from an item labelled not relevant counts as extra):
    relevance  precision, recall and F1 of `relevant` over every item
    actors     micro precision, recall and F1 over (item, actor id) pairs, on the items labelled
               relevant, counting only the story's actor ids (`other:NAME` labels are people
               the story does not track)
    figures    micro P/R/F1 over (item, value, kind); a range counts for its low or high end
    statements P/R/F1 of the item's main statement's actor against the label's `by` (one
               statement per label): a tracked actor's statement in the title ("Hezbollah says
               ..."), unless a person of that actor speaks in the text (one whose name or alias
               names it: "NATO chief" Rutte for "NATO confirms"); without one, a person before
               an institution, then the text before the title (titles use metonyms: "Seoul
               says", the text names the spy agency), a tracked actor before a speaker
               (`other:NAME`). Label `other:NAME` counts as the
               story actor whose name or alias is NAME, else as the speaker whose name or alias
               is NAME ("other:Ukraine" is the speaker "Ukrainian government"). Also given:
               over every (item, actor) pair extracted.
    duplicates alert events repeating an earlier one's novelty, judged by the labels: a figure
               event whose labelled (kind, value) an earlier event had; a statement event by
               the same actor as an earlier one whose label gist (else text) is alike
               (token_set_ratio >= 80 on words without the story's own words).

Alert events (`alert_events`): the relevant items replayed in published order through
extract -> novelty, one dict per new alert, as the service would store them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from .errors import MonitorError
from .extract import extract
from .match import match
from .models import Alert, Item, Match
from .novelty import Ledger, decide, normalise, story_words
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
        if not isinstance(link, str) or not isinstance(data.get("relevant"), (bool, type(None))) \
                or "relevant" not in data:
            raise BacktestError(f"{path}:{n}: a label needs \"link\" and \"relevant\": true/false "
                                "(null: debatable, left out of scoring)")
        labels[link] = data
    return labels


# ---------------------------------------------------------------- running


def evaluate(item: Item, matches: Sequence[Match], stories: Sequence[Story] = ()) -> dict[str, Any]:
    """One output record for one item: the hook where later stages add their fields.

    The top-level fields describe the best story (relevant first, then highest score); with
    several stories, `stories` holds each one's result. Given the stories, a relevant item also
    gets the `statements` and `figures` extracted for the best story.
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
    story = next((s for s in stories if s.id == best.story), None)
    if story is not None:
        statements, figures = extract(item, best, story) if best.relevant else ([], [])
        record["statements"] = [{"actor": s.actor, "text": s.text, "claim": s.claim} for s in statements]
        record["figures"] = [{"value": f.value, "kind": f.kind, "qualifier": f.qualifier, "source": f.source}
                             | ({"high": f.high} if f.high is not None else {})
                             | ({"measure": f.measure} if f.measure else {}) for f in figures]
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
        records.append(evaluate(item, [match(item, story) for story in stories], stories))
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
        if label is not None and label["relevant"] is None:
            continue  # debatable: left out of scoring
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
        # labels that name no actors at all (a quick hand-made sample) cannot score them
        "actors_labelled": any(lb.get("actors") for lb in labels.values() if lb.get("relevant")),
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


# ---------------------------------------------------------------- alert events (issue 4)


def alert_events(items: Sequence[Item], stories: Sequence[Story],
                 records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replay the relevant items in published order through extract -> novelty, from the
    stories' known facts: one event dict per new alert, in the order the service would alert."""
    by_id = {s.id: s for s in stories}
    relevant = {r["link"]: r["story"] for r in records if r["relevant"] and r["story"] in by_id}
    ledgers = {s.id: Ledger.from_story(s) for s in stories}
    chosen = [(i, it) for i, it in enumerate(items) if it.link in relevant]
    chosen.sort(key=lambda p: (p[1].published is None, p[1].published.timestamp() if p[1].published else 0, p[0]))
    events: list[dict[str, Any]] = []
    for _, item in chosen:
        story = by_id[relevant[item.link]]
        statements, figures = extract(item, match(item, story), story)
        for alert in decide(ledgers[story.id], story, item, statements, figures).new:
            events.append(event(alert))
    return events


def event(alert: Alert) -> dict[str, Any]:
    """One `--json` event line for a new alert."""
    out: dict[str, Any] = {"type": "alert", "kind": alert.kind, "key": alert.key, "link": alert.link,
                           "title": alert.title}
    if alert.kind == "statement":
        s = alert.data["statement"]
        out["statement"] = {"actor": s["actor"], "text": s["text"], "claim": s["claim"], "stance": s["stance"]}
    elif alert.kind == "figure":
        f, prev = alert.data["figure"], alert.data.get("previous")
        out["figure"] = {"value": f["value"], "kind": f["kind"], "qualifier": f["qualifier"], "source": f["source"],
                         "previous": {k: prev[k] for k in ("value", "qualifier", "source", "date")} if prev else None}
        if f.get("high") is not None:
            out["figure"]["high"] = f["high"]
        if f.get("measure"):
            out["figure"]["measure"] = f["measure"]
        if alert.data.get("disagreement"):
            out["figure"]["disagreement"] = [{k: d[k] for k in ("value", "source", "date", "link")}
                                             for d in alert.data["disagreement"]]
    return out


def _label_actor(by: str | None, stories: Sequence[Story]) -> str | None:
    """A label's `by` as extract.py names it: `other:NAME` is the actor named or aliased NAME,
    else `other:SPEAKER` for the speaker named or aliased NAME (case-insensitively)."""
    if not by or not by.startswith("other:"):
        return by
    name = by.removeprefix("other:").casefold()
    for story in stories:
        for a in story.actors:
            if name in {a.name.casefold(), *(x.casefold() for x in a.aliases)}:
                return a.id
    for story in stories:
        for sp in story.speakers:
            if name in {sp.name.casefold(), *(x.casefold() for x in sp.aliases)}:
                return f"other:{sp.name}"
    return by


def _main_actor(statements: Sequence[dict[str, Any]], title_count: int, stories: Sequence[Story]) -> str | None:
    """The item's main statement's actor (see the module docstring): a tracked actor's statement
    in the title is what the item reports, unless a person of that actor speaks in the text (a
    person whose name or alias names the institution: "NATO chief" for NATO); otherwise a person
    before an institution before a speaker, the text before the title."""
    actors = {a.id: a for s in stories for a in s.actors}
    persons = {i for i, a in actors.items() if a.kind != "institution"}
    title = [s["actor"] for s in statements[:title_count] if s["actor"] in actors]
    if title:
        head = sorted(title, key=lambda a: a not in persons)[0]
        names = [n for n in (actors[head].name, *actors[head].aliases) if len(n) > 2]
        for s in statements[title_count:]:
            a = actors.get(s["actor"])
            if a is not None and s["actor"] in persons and s["actor"] != head and any(
                    re.search(rf"(?<!\w){re.escape(n)}(?!\w)", x) for n in names for x in (a.name, *a.aliases)):
                return s["actor"]
        return head
    order = list(statements[title_count:]) + list(statements[:title_count])  # text first, then title
    ranked = sorted(range(len(order)), key=lambda i: (order[i]["actor"] not in persons,
                                                      order[i]["actor"].startswith("other:"), i))
    return order[ranked[0]]["actor"] if ranked else None


def extraction_metrics(items: Sequence[Item], records: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]],
                       labels: dict[str, dict[str, Any]], stories: Sequence[Story]) -> dict[str, Any]:
    """Figures (value + kind), statements (actor) and duplicate alerts against the labels."""
    by_link = {it.link: it for it in items}
    fig = {"tp": 0, "fp": 0, "fn": 0}
    main = {"tp": 0, "fp": 0, "fn": 0}
    pairs = {"tp": 0, "fp": 0, "fn": 0}
    errors: list[dict[str, Any]] = []
    for rec in records:
        label = labels.get(rec["link"]) or {}
        if rec["link"] in labels and label.get("relevant") is None:
            continue  # debatable: left out, as for relevance
        if label.get("relevant") is not True:
            label = {}  # a statement or figure about another story (a look-alike's) is none of this story's
        want_f = {(f["value"], f["what"]) for f in label.get("figures") or []}
        got = rec.get("figures") or []
        hit = {w for w in want_f if any(w[1] == g["kind"] and w[0] in (g["value"], g.get("high")) for g in got)}
        extra = [g for g in got if not any(w[1] == g["kind"] and w[0] in (g["value"], g.get("high")) for w in want_f)]
        fig["tp"] += len(hit)
        fig["fn"] += len(want_f - hit)
        fig["fp"] += len(extra)
        st = label.get("statement") or {}
        want_s = _label_actor(st.get("by"), stories)
        statements = rec.get("statements") or []
        item = by_link.get(rec["link"])
        title_count = _title_statements(item, statements)
        got_s = _main_actor(statements, title_count, stories)
        main["tp"] += int(want_s is not None and got_s == want_s)
        main["fp"] += int(got_s is not None and got_s != want_s)
        main["fn"] += int(want_s is not None and got_s != want_s)
        actors = {s["actor"] for s in statements}
        pairs["tp"] += int(want_s in actors)
        pairs["fp"] += len(actors - {want_s})
        pairs["fn"] += int(want_s is not None and want_s not in actors)
        if want_f - hit or extra or got_s != want_s:
            errors.append({"link": rec["link"], "figures_missing": sorted(want_f - hit),
                           "figures_extra": [(g["value"], g["kind"]) for g in extra],
                           "statement": {"label": want_s, "main": got_s, "all": sorted(actors)}})
    dups = duplicates(events, labels, stories)
    return {"figures": _prf(**fig), "statements": _prf(**main), "statement_pairs": _prf(**pairs),
            "alerts": len(events), "duplicates": len(dups), "duplicate_events": dups, "extraction_errors": errors}


def _title_statements(item: Item | None, statements: Sequence[dict[str, Any]]) -> int:
    """How many of the statements come from the title (they come first, title then text)."""
    if item is None:
        return 0
    n = 0
    for s in statements:
        if s["text"] and s["text"][:20].casefold() in item.title.casefold():
            n += 1
        else:
            break
    return n


def duplicates(events: Sequence[dict[str, Any]], labels: dict[str, dict[str, Any]],
               stories: Sequence[Story]) -> list[dict[str, Any]]:
    """Events that repeat an earlier event's novelty, by the labels (see the module docstring)."""
    common = frozenset().union(*(story_words(s) for s in stories)) if stories else frozenset()
    seen_f: set[tuple[int, str]] = set()
    seen_s: list[tuple[str, str, str]] = []
    out = []
    for e in events:
        label = labels.get(e["link"] or "") or {}
        if e["kind"] == "figure":
            f = e["figure"]
            same = [(lf["value"], lf["what"]) for lf in label.get("figures") or [] if lf["value"] in (f["value"], f.get("high"))]
            ident = same[0] if same else (f["value"], f["kind"])
            if ident in seen_f:
                out.append({"key": e["key"], "link": e["link"], "same_as": list(ident)})
            seen_f.add(ident)
        elif e["kind"] == "statement":
            actor = e["statement"]["actor"]
            st = label.get("statement") or {}
            own = _label_actor(st.get("by"), stories) == actor and st.get("gist")
            gist = st["gist"] if own else e["statement"]["text"]  # a label without a gist: the alert's words
            words = normalise(gist, common)
            prev = next((p for p in seen_s if p[0] == actor and fuzz.token_set_ratio(p[1], words) >= 80), None)
            if prev is not None:
                out.append({"key": e["key"], "link": e["link"], "same_as": prev[2]})
            seen_s.append((actor, words, e["link"] or ""))
    return out
