"""Pure: statements and figures of an item + what is already known -> new alerts, once each.

The `Ledger` is plain data: per actor the statements already alerted (or known from the story
config), per figure kind the figures already alerted (or known), in the order they were seen.
The service persists only Alerts; on restart `Ledger.from_alerts(story, store.alerts(story.id))`
rebuilds exactly the same ledger, so nothing is alerted twice across restarts.

`decide(ledger, story, item, statements, figures)` returns a `Decision` and updates the ledger:
    new      one Alert per novelty (kind "statement" or "figure")
    repeats  keys of alerts this item repeats: the store attaches the item as a further source
    known    keys of known facts (story config `[known]`) this item repeats: nothing to store

A statement is the same as an earlier one by the same actor when
    - their content words are alike: rapidfuzz `token_set_ratio` >= SAME_STATEMENT (72) on
      lower-cased words without stop words and plural/tense endings, so rewordings across
      outlets ("called the deployment a dangerous expansion" / "said the move is a dangerous
      expansion of Russia's war") are one statement; or
    - both touch the same claim with the same stance and were made within SAME_CLAIM_DAYS (3) of
      each other (a second "confirms" by Austin that week is not new; a "denies" by an actor who
      confirmed before is, and so is a denial restated weeks later: new remarks are news). A
      `[known]` statement without a `date` counts as said when tracking began (the story's first
      alert): a known statement never swallows every later statement on its claim; or
    - they were made within SAME_EVENT_HOURS (36) of each other, unless they touch different
      claims or take opposite stances: one briefing, many write-ups quoting different lines.
  Several statements by one actor in one item are one novelty (title and text report the same
  remarks).
A figure is the same as an earlier one when its kind and measure match and its value (and the
high end of a range) is equal, or, when either is qualified "about", within ABOUT_TOLERANCE (5%).
Its qualifier ("at least 3,000" after "3,000") does not make it new. The measure (kinds with
`measures`: "killed", "wounded", "captured", "casualties") makes a separate series: 100 killed
after 2 captured has no previous value and no disagreement; the title names it ("NK casualties
(killed): at least 100").

A kind's `series` (story config) decides what a new value means:
    level        (default) a value that can go either way (troops deployed): any new value is
                 news, "up from" / "down from" the last one seen
    cumulative   a total that only rises (a death toll): a value below the highest seen (its
                 high end, for a range) is stale, rounded down ("more than 200" when the toll is
                 222) or a subtotal (155 of 158 in one region): no alert; a higher one is "up
                 from" the highest
    per_event    a count of one event (deaths in one strike): the same value within
                 SAME_EVENT_HOURS is the same event (outlets repeating it); a value on another
                 day, or a different value, is another event and news, with no "up/down from"
                 and no disagreement (other events differ, they don't disagree); its key carries
                 the day: `...:{value}@{YYYY-MM-DD}`
An addition to a level or a total ("another 1,500 troops", figures.py gives it the measure
"added") is a series of its own that follows the per_event rules: "another 1,500" after 10,000 is
news ("NK troops in Russia (added): 1,500"), not a fall to 1,500, and moves no level or total.
Disagreements (level and cumulative): a different value from another source within the kind's
`disagree_days`, shown in the alert's title ("sources disagree") and data.

Keys are stable: `{story}:figure:{kind}[:{measure}]:{value}[-{high}]` and
`{story}:statement:{actor}:{sha1 of the normalised words, 12 hex}`; known facts get the same
kind of key, so a store that was told about one would treat it the same way.

Figure alerts carry the previous value of the kind and measure (the last one seen, known facts
included) and who gave it, and, when a different source gave a different value of the same kind
and measure within the kind's `disagree_days` (default 3), the disagreement with both sources.
The alert's data has the figure's `measure` when it has one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from .models import Alert, Figure, Item, Statement, figure_series
from .story import Story

SAME_STATEMENT = 72.0
MAX_DISAGREEMENTS = 3  # disagreeing figures one alert carries (the latest): not every earlier one
SAME_EVENT_HOURS = 36.0
SAME_CLAIM_DAYS = 3.0
ABOUT_TOLERANCE = 0.05

_STOP = frozenset(
    "a an the and or but of to in on at for from by with as is are was were be been being has have had "
    "it its this that these those there their they them he she his her we our us you your i not no "
    "will would could should can may might must do does did said says say told tells according also "
    "than then so if into over about after before while which who whom whose what when where why how "
    "all any some such more most very just now only own same other another up out off again further "
    "once here both each few".split()
)


# ---------------------------------------------------------------- the ledger


@dataclass
class SeenStatement:
    key: str
    actor: str
    words: str  # normalised content words
    claim: str | None = None
    stance: str | None = None
    date: datetime | None = None
    known: bool = False  # from the story's [known] statements


@dataclass
class SeenFigure:
    key: str
    kind: str
    value: int
    high: int | None = None
    qualifier: str | None = None
    source: str | None = None
    date: datetime | None = None
    outlet: str = ""
    link: str | None = None
    measure: str | None = None  # "killed" | "wounded" | ..., for kinds with measures


@dataclass
class Ledger:
    """What one story has already said: statements per actor, figures per kind, oldest first."""

    story: str
    statements: dict[str, list[SeenStatement]] = field(default_factory=dict)
    figures: dict[str, list[SeenFigure]] = field(default_factory=dict)
    known_keys: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)  # every key above, known or alerted
    common: frozenset[str] = frozenset()  # the story's own words ("north", "korean", "troop")
    started: datetime | None = None  # the first alert's date: when tracking began, for undated known statements

    @classmethod
    def from_story(cls, story: Story) -> Ledger:
        """The story config's `[known]` facts (the seed article's)."""
        ledger = cls(story.id, common=story_words(story))
        for k in story.known.statements:
            words = normalise(k.text, ledger.common)
            actor = story.speaker_ref(k.actor) or k.actor  # "other:Seoul" is the speaker's own name
            key = statement_key(story.id, actor, words)
            ledger.add_statement(SeenStatement(key, actor, words, k.claim, k.stance, _date(k.date), known=True))
            ledger.known_keys.add(key)
        for f in story.known.figures:
            key = figure_key(story.id, f.kind, f.value, None, f.measure)
            source = (story.speaker_ref(f.source) or f.source) if f.source else None
            ledger.add_figure(SeenFigure(key, f.kind, f.value, None, f.qualifier, source, _date(f.date), "known",
                                         measure=f.measure))
            ledger.known_keys.add(key)
        return ledger

    @classmethod
    def from_alerts(cls, story: Story, alerts: list[Alert]) -> Ledger:
        """Known facts, then the stored alerts of this story (oldest first, as the store gives them)."""
        ledger = cls.from_story(story)
        for a in alerts:
            ledger.learn(a)
        return ledger

    def learn(self, a: Alert) -> None:
        """Add a stored alert of this story (one this ledger already has is skipped: another
        process's events are learnt from the store before each poll)."""
        if a.story != self.story or a.key in self.keys:
            return
        if self.started is None and a.kind in ("statement", "figure"):
            self.started = a.published
        if a.kind == "statement" and "statement" in a.data:
            s = a.data["statement"]
            words = normalise(s.get("text", ""), self.common)
            self.add_statement(SeenStatement(a.key, s["actor"], words, s.get("claim"), s.get("stance"), a.published))
        elif a.kind == "figure" and "figure" in a.data:
            f = a.data["figure"]
            self.add_figure(SeenFigure(a.key, f["kind"], int(f["value"]), f.get("high"), f.get("qualifier"),
                                       f.get("source"), a.published, a.outlet, a.link, f.get("measure")))

    def add_statement(self, s: SeenStatement) -> None:
        self.statements.setdefault(s.actor, []).append(s)
        self.keys.add(s.key)

    def add_figure(self, f: SeenFigure) -> None:
        self.figures.setdefault(f.kind, []).append(f)
        self.keys.add(f.key)

    def same_statement(self, st: Statement, words: str, when: datetime | None) -> SeenStatement | None:
        for seen in self.statements.get(st.actor, []):
            if _same_statement(seen, st, words, when, self.started):
                return seen
        return None

    def series(self, fig: Figure) -> list[SeenFigure]:
        """The figures already seen of this figure's kind and measure, oldest first."""
        return [s for s in self.figures.get(fig.kind, []) if s.measure == fig.measure]

    def same_figure(self, fig: Figure, series: str = "level", when: datetime | None = None) -> SeenFigure | None:
        """The seen figure this one repeats; for a per-event kind, only within SAME_EVENT_HOURS (one
        event, many write-ups): the same count days later is another event."""
        seen = self.series(fig)
        if series == "per_event":
            seen = [s for s in seen if _close(s.date, when, SAME_EVENT_HOURS * 3600)]
        return next((s for s in seen if _same_figure(s, fig)), None)

    def top(self, fig: Figure) -> SeenFigure | None:
        """The highest value seen of this figure's kind and measure: a cumulative total so far."""
        seen = self.series(fig)
        return max(seen, key=lambda s: (s.value, s.high or s.value)) if seen else None


@dataclass(frozen=True)
class Decision:
    new: list[Alert] = field(default_factory=list)
    repeats: list[str] = field(default_factory=list)  # keys of stored alerts: add the item as a source
    known: list[str] = field(default_factory=list)  # keys of known facts repeated: nothing to store
    verdicts: list[tuple[Statement | Figure, str]] = field(default_factory=list)  # each input's fate, for explain


# ---------------------------------------------------------------- deciding


def decide(ledger: Ledger, story: Story, item: Item, statements: list[Statement], figures: list[Figure]) -> Decision:
    """New alerts for what this item says first; keys of what it repeats. Updates `ledger`."""
    new: list[Alert] = []
    repeats: list[str] = []
    known: list[str] = []
    when = item.published
    by_actor: dict[str, str] = {}  # actor -> key, within this item
    verdicts: list[tuple[Statement | Figure, str]] = []

    def seen_key(key: str) -> str:
        target = known if key in ledger.known_keys else repeats
        if key not in target and all(a.key != key for a in new):
            target.append(key)
        return f"known: repeats a [known] fact ({key})" if key in ledger.known_keys else f"repeat of alert {key}"

    for st in statements:
        if st.actor in by_actor:
            verdicts.append((st, f"one novelty with this item's other statement by {st.actor} ({by_actor[st.actor]})"))
            continue
        words = normalise(st.text, ledger.common)
        seen = ledger.same_statement(st, words, when)
        if seen is not None:
            by_actor[st.actor] = seen.key
            verdicts.append((st, seen_key(seen.key)))
            continue
        alert = statement_alert(story, item, st, words)
        by_actor[st.actor] = alert.key
        ledger.add_statement(SeenStatement(alert.key, st.actor, words, st.claim, st.stance, when))
        new.append(alert)
        verdicts.append((st, f"new: alert {alert.key}"))
    for fig in figures:
        series = series_of(story, fig.kind, fig.measure)
        seen_fig = ledger.same_figure(fig, series, when)
        if seen_fig is not None:
            verdicts.append((fig, seen_key(seen_fig.key)))
            continue
        if series == "cumulative" and _below(fig, ledger.top(fig)):
            top = ledger.top(fig)
            verdicts.append((fig, f"not news: below the cumulative total {top.value:,} already seen ({top.key})"
                             if top else "not news"))
            continue  # stale, rounded down ("more than 200" of 222) or a subtotal: not news
        alert = figure_alert(story, item, fig, ledger)
        ledger.add_figure(SeenFigure(alert.key, fig.kind, fig.value, fig.high, fig.qualifier, fig.source,
                                     when, alert.outlet, item.link, fig.measure))
        new.append(alert)
        verdicts.append((fig, f"new: alert {alert.key} — {alert.title}"))
    if new and ledger.started is None:
        ledger.started = when  # as from_alerts would find it: the first alert's date
    return Decision(new, repeats, known, verdicts)


def _same_statement(seen: SeenStatement, st: Statement, words: str, when: datetime | None,
                    started: datetime | None = None) -> bool:
    if words and seen.words and _similar(words, seen.words) >= SAME_STATEMENT:
        return True
    if when is None:
        return False
    # a known statement without a date was said when tracking began (the first alert, or now)
    said = seen.date or ((started or when) if seen.known else None)
    if (said is not None and st.claim is not None and st.claim == seen.claim and st.stance is not None
            and st.stance == seen.stance and _apart(when, said) <= SAME_CLAIM_DAYS * 86400):
        return True
    if seen.date is None:
        return False
    close = _apart(when, seen.date) <= SAME_EVENT_HOURS * 3600
    other_claim = st.claim is not None and seen.claim is not None and st.claim != seen.claim
    opposite = {st.stance, seen.stance} == {"confirms", "denies"}
    return close and not other_claim and not opposite


def _apart(a: datetime, b: datetime) -> float:
    return abs((_utc(a) - _utc(b)).total_seconds())


def _same_figure(seen: SeenFigure, fig: Figure) -> bool:
    if seen.kind != fig.kind or seen.measure != fig.measure:
        return False
    if seen.value == fig.value and seen.high == fig.high:
        return True
    if seen.high is None and fig.high is None and "about" in (seen.qualifier, fig.qualifier):
        return abs(seen.value - fig.value) <= ABOUT_TOLERANCE * max(seen.value, fig.value)
    return False


def series_of(story: Story, kind: str, measure: str | None = None) -> str:
    """The kind's `series`: "level" (default), "cumulative" or "per_event"; an addition's is per_event."""
    conf = next((k for k in story.figures if k.id == kind), None)
    return figure_series(conf.series if conf is not None else "level", measure)


def _below(fig: Figure, top: SeenFigure | None) -> bool:
    """Under a cumulative total already seen: its high end (or value) below the total's value."""
    return top is not None and (fig.high if fig.high is not None else fig.value) < top.value


def _close(a: datetime | None, b: datetime | None, seconds: float) -> bool:
    """Within `seconds` of each other; an unknown time is close to any (no new event without a date)."""
    return a is None or b is None or abs((_utc(a) - _utc(b)).total_seconds()) <= seconds


def _similar(a: str, b: str) -> float:
    return float(fuzz.token_set_ratio(a, b))


def normalise(text: str, common: frozenset[str] = frozenset()) -> str:
    """Content words, lower-cased, without stop words, the story's own words and endings."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("’", "'").replace("'s", ""))
    stems = (_stem(w) for w in words if w not in _STOP)
    return " ".join(w for w in stems if w not in common)


def story_words(story: Story) -> frozenset[str]:
    """Words every statement of the story shares: figure subjects and nouns ("North Korean troops").

    They would make any two statements look alike; places and verbs are kept.
    """
    terms = [t for k in story.figures for t in (*k.subjects, *k.nouns)]
    return frozenset(_stem(w) for t in terms for w in re.findall(r"[a-z0-9]+", t.lower()))


def _stem(w: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


# ---------------------------------------------------------------- keys and alerts


def statement_key(story: str, actor: str, words: str) -> str:
    return f"{story}:statement:{actor}:{hashlib.sha1(words.encode()).hexdigest()[:12]}"


def figure_key(story: str, kind: str, value: int, high: int | None, measure: str | None = None,
               day: datetime | None = None) -> str:
    """`day`: a per-event figure's date ("@2024-10-25"): the same count another day is another event."""
    what = f"{kind}:{measure}" if measure else kind
    return (f"{story}:figure:{what}:{value}" + (f"-{high}" if high is not None else "")
            + (f"@{_utc(day):%Y-%m-%d}" if day is not None else ""))


def outlet(item: Item) -> str:
    if item.feed_title:
        return item.feed_title
    return urlsplit(item.link or item.feed_url).netloc


def statement_alert(story: Story, item: Item, st: Statement, words: str) -> Alert:
    name = _name(story, st.actor)
    source = outlet(item)
    claim = next((c for c in story.claims if c.id == st.claim), None)
    lines = [f"{name}: {st.text}", f"Sentence: {st.sentence}"]
    if claim is not None:
        lines.append(f"Claim: {claim.description}" + (f" ({st.stance})" if st.stance else ""))
    lines.append(f"Via {source}" + (f": {item.link}" if item.link else ""))
    return Alert(
        key=statement_key(story.id, st.actor, words), story=story.id, kind="statement",
        title=f"{name}: {_short(st.text)} — via {source}", body="\n".join(lines), link=item.link,
        outlet=source, item_id=item.id, feed_url=item.feed_url, actor=st.actor, published=item.published,
        data={
            "statement": {"actor": st.actor, "text": st.text, "sentence": st.sentence,
                          "claim": st.claim, "stance": st.stance},
            "words": words,
            "evidence": _evidence(item, source, st.sentence),
        },
    )


def figure_alert(story: Story, item: Item, fig: Figure, ledger: Ledger) -> Alert:
    kind = next((k for k in story.figures if k.id == fig.kind), None)
    label = (kind.label or kind.description) if kind else fig.kind
    days = kind.disagree_days if kind else 3.0
    source = outlet(item)
    series = figure_series(kind.series if kind else "level", fig.measure)
    seen = ledger.series(fig)
    # a cumulative total moves on from the highest value seen; a level from the last one; each
    # per-event count stands alone (no previous value, no disagreement: other events differ)
    prev = ledger.top(fig) if series == "cumulative" else seen[-1] if seen and series == "level" else None
    disagree = _disagreements(seen, fig, item.published, days) if series != "per_event" else []
    if series == "cumulative":  # a rising total's earlier values are its history, unless another source gave them
        disagree = [d for d in disagree if d.source is not None and fig.source is not None]
    if fig.measure:
        label += f" ({fig.measure})"
    title = f"{label}: {_value(fig.value, fig.high, fig.qualifier)}"
    if fig.source:
        title += f" ({_name(story, fig.source)})"
    if prev is not None:
        direction = "up from" if fig.value > prev.value else "down from"
        title += f", {direction} {_value(prev.value, prev.high, prev.qualifier)}{_who(story, prev)}"
    if disagree:
        others = "; ".join(f"{_value(d.value, d.high, d.qualifier)}{_who(story, d)}" for d in disagree)
        title += f" — sources disagree: {others}"
    lines = [title, f"Sentence: {fig.sentence}", f"Via {source}" + (f": {item.link}" if item.link else "")]
    for d in disagree:
        lines.append(f"Other source: {_value(d.value, d.high, d.qualifier)}{_who(story, d)}"
                     + (f" via {d.outlet}: {d.link}" if d.link else ""))
    return Alert(
        key=figure_key(story.id, fig.kind, fig.value, fig.high, fig.measure,
                       item.published if series == "per_event" else None), story=story.id, kind="figure",
        title=title, body="\n".join(lines), link=item.link, outlet=source, item_id=item.id,
        feed_url=item.feed_url, actor=fig.source, published=item.published,
        data={
            "figure": {"value": fig.value, "high": fig.high, "kind": fig.kind, "qualifier": fig.qualifier,
                       "source": fig.source, "sentence": fig.sentence, "series": series}
            | ({"measure": fig.measure} if fig.measure else {}),
            "previous": _seen_dict(prev) if prev else None,
            "disagreement": [_seen_dict(d) for d in disagree],
            "evidence": _evidence(item, source, fig.sentence),
        },
    )


def _disagreements(seen: list[SeenFigure], fig: Figure, when: datetime | None, days: float) -> list[SeenFigure]:
    if when is None:
        return []
    out = []
    for s in seen:
        if s.date is None or (s.source == fig.source and fig.source is not None):
            continue
        if abs((_utc(when) - _utc(s.date)).total_seconds()) <= days * 86400 and (s.value, s.high) != (fig.value, fig.high):
            out.append(s)
    return out[-MAX_DISAGREEMENTS:]


def _seen_dict(s: SeenFigure) -> dict:
    return {"value": s.value, "high": s.high, "qualifier": s.qualifier, "source": s.source,
            "date": s.date.date().isoformat() if s.date else None, "outlet": s.outlet, "link": s.link}


def _evidence(item: Item, source: str, sentence: str) -> dict:
    return {"item": item.id, "link": item.link, "outlet": source, "sentence": sentence}


def _who(story: Story, s: SeenFigure) -> str:
    parts = [_name(story, s.source)] if s.source else []
    if s.date is not None:
        parts.append(f"{s.date:%b} {s.date.day}")
    return f" ({', '.join(parts)})" if parts else ""


def _value(value: int, high: int | None, qualifier: str | None) -> str:
    text = f"{value:,}" + (f"–{high:,}" if high is not None else "")
    return f"{qualifier} {text}" if qualifier and qualifier != "exact" else text


def _name(story: Story, actor: str | None) -> str:
    """The actor's display name; an untracked source ("other:US government") shows its name."""
    a = story.actor(actor) if actor else None
    return a.name if a else (actor or "").removeprefix("other:")


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _utc(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
