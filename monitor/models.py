"""Plain, frozen data passed between the pipeline stages. No I/O here.

fetch -> FetchResult -> parse -> Item -> match -> Match -> extract -> Statement/Figure
-> novelty -> Alert -> store (alert queued) -> notify
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

LARGE_BODY = 1_000_000  # bytes: a body this large is read and parsed only a few at a time (fetch, pipeline)
ADDED = "added"  # a figure's measure when it counts an addition ("another 1,500 troops"), not a level or total


def figure_series(series: str, measure: str | None) -> str:
    """How a figure's values follow each other: its kind's `series`, except that additions to a
    level or a total ("another 1,500", "5,000 more") are each news of their own, like per-event counts."""
    return "per_event" if measure is not None and measure.endswith(ADDED) else series


@dataclass(frozen=True)
class FetchResult:
    """What one HTTP poll of one feed gave. `body` is None on 304 Not Modified."""

    url: str
    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None  # set when a permanent redirect moved the feed
    elapsed: float = 0.0


@dataclass(frozen=True)
class Item:
    """One feed entry, normalised. `text` is plain text (HTML stripped)."""

    feed_url: str
    id: str  # stable: guid -> canonical link -> content hash
    title: str
    text: str
    link: str | None  # canonical (tracking parameters removed), http(s) only
    published: datetime | None  # UTC
    authors: tuple[str, ...] = ()
    feed_title: str = ""


@dataclass(frozen=True)
class FeedResult:
    """One per feed per cycle, success or not."""

    feed_url: str
    status: int | None = None
    items: tuple[Item, ...] = ()
    error: str | None = None
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    gone: bool = False
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After
    reason: str | None = None  # short stable failure key: timeout, dns, http_404, ...
    elapsed: float = 0.0
    digests: tuple[str, ...] | None = None  # every entry's digest when the body was split (entries.py)


@dataclass(frozen=True)
class Hit:
    """One piece of evidence: an alias or term found in the item."""

    kind: str  # "actor" | "claim" | "topic" | "exclude"
    ref: str  # actor id, claim id, or the topic/exclusion term
    alias: str  # the configured alias or term that matched
    matched: str  # the text as it appears in the item
    field: str  # "title" | "text"
    start: int  # span in the field's original text
    end: int
    score: float  # 0..100 (rapidfuzz scale)
    counted: bool = True  # False: found but ignored (ambiguous without context, inside a look-alike)
    note: str = ""  # why it counted or not, for `monitor explain`


@dataclass(frozen=True)
class Match:
    """The matcher's decision for one item against one story."""

    story: str
    relevant: bool
    score: float
    threshold: float
    actors: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = ()
    reasons: tuple[str, ...] = ()  # human-readable lines for `monitor explain`


@dataclass(frozen=True)
class Statement:
    """A statement attributed to a tracked actor."""

    actor: str
    text: str  # the quote or reported clause
    sentence: str  # the sentence it came from
    claim: str | None = None
    stance: str | None = None  # "confirms" | "denies" | None
    why: str = field(default="", compare=False)  # the extraction rule that found it, for `monitor explain`


@dataclass(frozen=True)
class Figure:
    """A number about the story: what it counts, its qualifier and who gave it."""

    kind: str  # figure kind id from the story config
    value: int
    sentence: str
    high: int | None = None  # upper end of a range
    qualifier: str | None = None  # "about" | "at least" | "up to" | "more than" | "exact" | None
    source: str | None = None  # actor id
    measure: str | None = None  # what a kind with `measures` counts: "killed" | "wounded" | ...
    rule: str = ""  # which grammar rule tied it to its kind, for `monitor explain` (figures.py)


@dataclass(frozen=True)
class Alert:
    """A novelty: one per new statement or new figure, however many outlets repeat it."""

    key: str  # stable dedupe key
    story: str
    kind: str  # "statement" | "figure" | "feed_failing" | "feed_recovered"
    title: str
    body: str
    link: str | None
    outlet: str
    item_id: str | None = None
    feed_url: str | None = None
    actor: str | None = None
    published: datetime | None = None
    data: dict = field(default_factory=dict)  # statement / figure details, previous value, ...
