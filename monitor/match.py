"""Pure: Item x Story -> Match. Does this item belong to the story, whom does it name, what does it claim?

Everything story-specific comes from the story file (`config/stories/*.toml`, see story.py);
this module holds the method, and every threshold below is a `[matching]` setting.

Text
    Title and text are cut into tokens and normalised once per item (normalize.py: accents,
    case, punctuation, possessives, Cyrillic and Hangul transliterated). Configured aliases and
    terms go through the same normalisation when the story is compiled.

Finding an alias or term (a "phrase")
    Phrases are indexed by their first token. An item token opens a candidate when it equals a
    phrase's first token, shares its spelling key (normalize.key: Zakharova/Zaharova,
    Yoon/Yun), or - for tokens of at least `fuzzy_min_length` letters with the same first
    letter - is within `fuzzy_min` - 8 of it by rapidfuzz `fuzz.ratio` (cached per story and
    token, so recurring words cost a dict lookup). The candidate is then scored on windows of
    n, n-1 and n+1 item tokens (n = the phrase's length), joined without spaces so "Jong-un",
    "Jongun" and "Jong Un" compare alike:
        100  same letters
         95  same spelling key, or two neighbouring letters swapped (or the fuzzy score, if higher)
        else fuzz.ratio of the joined letters.
    Keys and fuzz apply only to phrases of at least `fuzzy_min_length` letters (shorter ones
    match exactly: "hours" has the key of "HUR"); keys are compared for equality only (fuzzy
    keys would make "Trump" a "troops"); and a window whose last word is the phrase's last
    word plus three or more letters is another word ("US presidential" is not "US President",
    "Putinism" not "Putin").
    A phrase of several words is not tried when the item's next word starts with another letter
    than the phrase's second word (unless the first item word is longer, "Kimjong Un"): so
    "US Army" never costs a comparison with "US President", and a typo in the first letter of
    a second word is not forgiven. A hit needs `fuzzy_min` (default 88): one letter left out of
    a five-letter word, one changed in a nine-letter word. Look-alikes that differ in a first
    letter or a short word ("South Korean" vs "North Korean", "Kirk" vs "Kirby") never open a
    candidate.
    The spelling key drops a plural "s", so "troop deployment" finds "troops". A concept term
    listed in its concept's `plural_only` ("forces") is plural only: its singular in the text
    ("entered into force", "use of force") is another word; `monitor explain` shows the hit as
    ignored and it earns nothing.

Actors
    Every alias that hits names the actor. Aliases listed in `ambiguous` (a bare surname, a
    title used by several people) count only in story context: when every required concept
    is in the item (or, in a story without required concepts, any concept). An alias found inside
    one of the actor's `lookalikes` ("Jill Biden", "Robert Hur") does not count, unless the alias
    reads closer than the look-alike: with look-alike "Defence Secretary" (British), the text
    "Defense Secretary" is still the alias (100 against 94).

Relevance score (0-100), explained line by line in `Match.reasons`
    Each concept (`[[concepts]]`: id, weight, required, terms) earns weight x similarity/100
    of its best term hit. The item's sentences (the title is one) are tried in turn: concepts
    found in that sentence earn their full weight, concepts found only elsewhere in the item
    earn `spread` (default 0.5) of it, required ones nothing; the best sentence gives the
    concept score. So "Russian troops advance near Pokrovsk" with "North Korea has sent shells"
    further down is not about North Korean troops: the sentence that names North Korea has
    neither troops nor Russia in it (40 + 15 + 15 = 70). Each claim found adds its `weight`
    (default 0) x similarity/100. The item is relevant when the score reaches `threshold`
    (default 75), every required concept is found, and no `exclude` term is. With the shipped
    weights (North Korea 40 required, troops 30, Russia/war 30; the combat and "legitimate
    targets" claims 10) an item needs all three concepts, or North Korea, one other and one of
    those claims. A story without concepts uses its `topic` terms as one required concept of
    weight 100; a story with neither scores the best actor alias.

Claims
    A claim is found when one of its `terms` hits in story context (as for ambiguous aliases);
    its score is its best hit.

Speed (bench/match.py)
    A story is compiled once (`compile_story`, cached per story object). Per field, the raw
    words are checked once for all stories (`_Shared`: raw word -> the stories it opens a
    phrase in), so a field with no such word (most news) costs one regex pass and two set
    lookups however many stories there are, and an item with no hit at all gets the same
    precomputed `Match`. A new word is normalised once and looked up once per story; its fuzzy comparisons go only to first tokens of the same
    first letter whose length leaves fuzz.ratio a chance of reaching the cutoff (stopping at the
    first that reaches it), and its spelling key is computed only when the letters the key rules
    never touch (normalize.key_shape) are those of some first token's key. Words are
    normalised only around opening words, and the outcome of each phrase at a place (its
    score and width) is kept per phrase and raw words, so a recurring wording ("North Korean
    troops", "President Biden said") costs one dict lookup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from rapidfuzz import fuzz, process

from . import normalize
from .models import Hit, Item, Match
from .story import Concept, Story

_FIELDS = ("title", "text")
_EXACT, _KEYED = 100.0, 95.0
_KEY_GATE = 50.0  # below this letter similarity a window is not even compared by spelling key
_OPEN_MARGIN = 8.0  # a first token opens a candidate this far below fuzzy_min
_TOKEN_CACHE_MAX = 200_000
_COMPILED_MAX = 64


@dataclass(frozen=True)
class Phrase:
    """One configured alias or term, normalised."""

    kind: str  # "actor" | "lookalike" | "concept" | "claim" | "exclude"
    ref: str  # actor, concept or claim id; the term itself for exclusions
    text: str  # as written in the story file
    tokens: tuple[str, ...]
    joined: str
    key: str
    fuzzy: bool  # long enough to be matched fuzzily
    ambiguous: bool = False
    plural_only: bool = False  # a concept term whose singular is another word ("forces" / "into force")


class Candidates(NamedTuple):
    """What one item token opens: phrases always tried, and phrases by their second word's
    first letter."""

    always: tuple[int, ...]
    by_next: dict[str, tuple[int, ...]]

    def __bool__(self) -> bool:
        return bool(self.always or self.by_next)


_NO_CANDIDATES = Candidates((), {})


@dataclass
class CompiledStory:
    """A story prepared for matching: phrases indexed by first token; built once per story."""

    story: Story
    concepts: tuple[Concept, ...]
    phrases: tuple[Phrase, ...]
    by_token: dict[str, tuple[int, ...]]
    by_key: dict[str, tuple[int, ...]]
    key_shapes: frozenset[frozenset[str]]  # normalize.key_shape of each key in by_key
    fuzzy_firsts: dict[tuple[str, int], tuple[str, ...]]  # (first letter, length) -> first tokens in fuzzy reach
    open_cutoff: float  # fuzzy_min - _OPEN_MARGIN
    token_cache: dict[str, Candidates] = field(default_factory=dict)  # normalised token -> phrases
    places: dict[tuple[int, tuple[str, ...]], tuple[float, int, bool]] = field(default_factory=dict)  # see _place
    nothing: Match | None = None  # the decision for an item with no hit at all

    def opens(self, token: str) -> bool:
        """Whether `candidates(token)` is not empty, decided without building it (most new
        words open nothing, and are then kept as such): the spelling key only of a word of a
        key's shape, the fuzzy comparisons only until one reaches the cutoff."""
        found = self.token_cache.get(token)
        if found is not None:
            return bool(found)
        if token in self.by_token or (normalize.key_shape(token) in self.key_shapes
                                      and normalize.key(token) in self.by_key):
            return bool(self.candidates(token))
        near = self.fuzzy_firsts.get((token[:1], len(token)))
        if near and process.extractOne(token, near, scorer=fuzz.ratio, score_cutoff=self.open_cutoff) is not None:
            return bool(self.candidates(token))
        self._remember(token, _NO_CANDIDATES)
        return False

    def candidates(self, token: str) -> Candidates:
        """The phrases whose first token this item token may be."""
        found = self.token_cache.get(token)
        if found is None:
            found = self._candidates(token)
            self._remember(token, found)
        return found

    def _remember(self, token: str, found: Candidates) -> None:
        if len(self.token_cache) >= _TOKEN_CACHE_MAX:
            self.token_cache.clear()
        self.token_cache[token] = found

    def _candidates(self, token: str) -> Candidates:
        opened = [*self.by_token.get(token, ()), *self.by_key.get(normalize.key(token), ())]
        near = self.fuzzy_firsts.get((token[:1], len(token)))
        if near:
            for first, _, _ in process.extract(token, near, scorer=fuzz.ratio, score_cutoff=self.open_cutoff, limit=None):
                opened += self.by_token[first]
        if not opened:
            return _NO_CANDIDATES
        # phrases of several words starting with this very word wait for their second word's
        # first letter (see the module docstring); the others are always tried
        by_next: dict[str, list[int]] = defaultdict(list)
        always = []
        for pi in sorted(set(opened)):
            p = self.phrases[pi]
            if len(p.tokens) > 1 and p.tokens[0] == token:
                by_next[p.tokens[1][:1]].append(pi)
            else:
                always.append(pi)
        return Candidates(tuple(always), {k: tuple(v) for k, v in by_next.items()})


_compiled: dict[int, CompiledStory] = {}


def compile_story(story: Story) -> CompiledStory:
    """Normalise and index every alias and term of `story` (cached per story object)."""
    cached = _compiled.get(id(story))
    if cached is not None and cached.story is story:
        return cached
    if len(_compiled) >= _COMPILED_MAX:
        _compiled.clear()
    compiled = _compile(story)
    _compiled[id(story)] = compiled
    return compiled


class _Shared:
    """The opening words of every compiled story at once: raw word -> the stories (slots in
    `stories`) in which it opens a candidate. An item's words are looked up once for all
    stories, not once per story: with 20 stories that share common words, the per-story set
    checks and lookups were most of the cost of an item that opens nothing.

    Never changed but by adding whole entries (a word's slots are computed before it is
    stored): another thread reads a word as absent or complete. A new story, or a full index,
    gets a new _Shared, swapped in with one assignment."""

    def __init__(self, stories: tuple[CompiledStory, ...]):
        self.stories = stories
        self.slots = {id(c): i for i, c in enumerate(stories)}
        self.index: dict[str, tuple[int, ...]] = {}  # raw word -> slots of the stories it opens in
        self.known: set[str] = set()  # the words of `index`
        self.opening: set[str] = set()  # the known words that open in some story

    def slot(self, compiled: CompiledStory) -> int | None:
        i = self.slots.get(id(compiled))
        return i if i is not None and self.stories[i] is compiled else None

    def openers(self, raw: list[str], unique: set[str], where: Callable[[], dict[str, list[int]]]) -> dict[int, list[int]]:
        """Slot -> positions of the raw words that open a candidate in that story."""
        if not self.known.issuperset(unique):
            self._learn(unique)
        words = self.opening.intersection(unique)
        if not words:
            return {}
        index, positions = self.index, where()
        by: dict[int, list[int]] = defaultdict(list)
        for word in words:
            at = positions[word]
            for slot in index[word]:
                by[slot] += at
        for at in by.values():
            at.sort()
        return by

    def _learn(self, unique: set[str]) -> None:
        norm, stories, index = normalize.norm, self.stories, self.index
        new, opening = unique.difference(self.known), []
        for word in new:
            token = norm(word)
            slots = tuple(i for i, c in enumerate(stories) if c.opens(token))
            index[word] = slots
            if slots:
                opening.append(word)
        if opening:
            # a new set, never changed in place (another thread may be reading the old one),
            # and replaced before the words are known
            self.opening = self.opening | set(opening)
        self.known.update(new)


_shared: list[_Shared] = [_Shared(())]


def _shared_slot(compiled: CompiledStory) -> tuple[_Shared, int]:
    """The shared index that has `compiled`, and its slot; a story not in it yet (a first match,
    a reload) gets a new index over the stories still compiled, with it."""
    shared = _shared[0]
    slot = shared.slot(compiled)
    if slot is not None and len(shared.known) < _TOKEN_CACHE_MAX:
        return shared, slot
    stories = tuple(c for c in shared.stories if _compiled.get(id(c.story)) is c and c is not compiled)
    shared = _Shared(stories + (compiled,))
    _shared[0] = shared  # one assignment: another thread keeps the old one, whole
    return shared, len(stories)


def _concepts(story: Story) -> tuple[Concept, ...]:
    if story.concepts:
        return tuple(story.concepts)
    if story.topic:
        return (Concept(id="topic", terms=list(story.topic), weight=100, required=True),)
    return ()


def _compile(story: Story) -> CompiledStory:
    m = story.matching
    specs: list[tuple[str, str, str, bool]] = []
    plural_only = {(c.id, t) for c in _concepts(story) for t in c.plural_only}
    for actor in story.actors:
        names = dict.fromkeys([actor.name, *actor.aliases, *actor.ambiguous])
        specs += [("actor", actor.id, a, a in actor.ambiguous) for a in names]
        specs += [("lookalike", actor.id, a, False) for a in actor.lookalikes]
    concepts = _concepts(story)
    for concept in concepts:
        specs += [("concept", concept.id, t, False) for t in concept.terms]
    for claim in story.claims:
        specs += [("claim", claim.id, t, False) for t in claim.terms]
    specs += [("exclude", t, t, False) for t in story.exclude]

    phrases: list[Phrase] = []
    for kind, ref, text, ambiguous in specs:
        toks = normalize.phrase(text)
        if not toks:
            continue
        joined = "".join(toks)
        phrases.append(Phrase(kind, ref, text, toks, joined, "".join(normalize.key(t) for t in toks),
                              len(joined) >= m.fuzzy_min_length, ambiguous,
                              plural_only=kind == "concept" and (ref, text) in plural_only))

    by_token: dict[str, list[int]] = defaultdict(list)
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(phrases):
        by_token[p.tokens[0]].append(i)
        by_key[normalize.key(p.tokens[0])].append(i)
    return CompiledStory(
        story=story,
        concepts=concepts,
        phrases=tuple(phrases),
        by_token={k: tuple(v) for k, v in by_token.items()},
        by_key={k: tuple(v) for k, v in by_key.items()},
        key_shapes=frozenset(map(normalize.key_shape, by_key)),
        fuzzy_firsts=_fuzzy_firsts(list(by_token), m.fuzzy_min_length, m.fuzzy_min - _OPEN_MARGIN),
        open_cutoff=m.fuzzy_min - _OPEN_MARGIN,
    )


def _fuzzy_firsts(firsts: list[str], min_length: int, cutoff: float) -> dict[tuple[str, int], tuple[str, ...]]:
    """First tokens eligible for fuzzy opening, by first letter and by the length of the item
    token: fuzz.ratio is at most 200 x shorter / (sum of lengths), so a token much longer or
    shorter than a first token can never reach `cutoff` with it and is not even compared."""
    near: dict[tuple[str, int], list[str]] = defaultdict(list)
    for first in firsts:
        size = len(first)
        if size < min_length:
            continue
        # shortest and longest reaching the cutoff, one letter wider against rounding
        # (cutoff >= 42: fuzzy_min is at least 50)
        shortest, longest = int(size * cutoff / (200 - cutoff)), int(size * (200 / cutoff - 1)) + 1
        for length in range(max(min_length, shortest), longest + 1):
            near[(first[0], length)].append(first)
    return {k: tuple(v) for k, v in near.items()}


# ---------------------------------------------------------------- finding phrases


@dataclass(frozen=True)
class _Found:
    phrase: Phrase
    field: str
    start: int
    end: int
    sentence: int
    score: float
    singular: bool = False  # the singular of a plural-only term: shown, not counted


def _score_window(p: Phrase, norms: list[str], fuzzy_min: float) -> float:
    joined = "".join(norms)
    if joined == p.joined:
        return _EXACT
    if not p.fuzzy:  # short: exact only ("hours" shares the key of "HUR")
        return 0.0
    last, plast = norms[-1], p.tokens[-1]
    if len(last) >= len(plast) + 3 and last.startswith(plast):
        return 0.0  # another word built on it: "presidential" is not "president", "Putinism" not "Putin"
    raw = fuzz.ratio(joined, p.joined, score_cutoff=_KEY_GATE)
    if not raw:  # too different for the spelling key to bridge either
        return 0.0
    fuzzy = raw if raw >= fuzzy_min else 0.0
    if "".join([normalize.key(t) for t in norms]) == p.key or _swapped(joined, p.joined):
        return max(_KEYED, fuzzy)
    return fuzzy


def _swapped(a: str, b: str) -> bool:
    """Whether `a` is `b` with two neighbouring letters swapped ("Kroean"), the commonest typo
    after a dropped letter, which fuzz.ratio counts as two edits."""
    if len(a) != len(b):
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _find(compiled: CompiledStory, name: str, toks: normalize.Tokens, positions: list[int]) -> list[_Found]:
    fuzzy_min = compiled.story.matching.fuzzy_min
    phrases, places, norm = compiled.phrases, compiled.places, normalize.norm
    raw, size = toks.words, len(toks.words)
    found: list[_Found] = []
    for i in positions:
        cands = compiled.candidates(norm(raw[i]))
        tried = cands.always
        if cands.by_next and i + 1 < size:
            tried = tried + cands.by_next.get(norm(raw[i + 1])[:1], ())
        for pi in tried:
            # the words from here to one past the phrase's length decide the hit, so the
            # outcome is kept per phrase and raw words: recurring wordings cost a dict lookup
            ahead = (pi, tuple(raw[i:i + len(phrases[pi].tokens) + 1]))
            place = places.get(ahead)
            if place is None:
                if len(places) >= _TOKEN_CACHE_MAX:
                    places.clear()
                place = places[ahead] = _place(phrases[pi], normalize.norms(ahead[1]), fuzzy_min)
            best, width, singular = place
            if best >= fuzzy_min:
                start, end = toks.span(i)[0], toks.span(i + width - 1)[1]
                found.append(_Found(phrases[pi], name, start, end, toks.sentence(i), best, singular))
    return found


def _place(p: Phrase, ahead: list[str], fuzzy_min: float) -> tuple[float, int, bool]:
    """Phrase `p` at the start of the item tokens `ahead` (its length plus one, fewer at the
    end of a field): the best score, the number of tokens it takes and whether it is the
    singular of a plural-only term."""
    n = len(p.tokens)
    if tuple(ahead[:n]) == p.tokens:  # the common case: written as configured
        return _EXACT, n, False
    if n > 1 and len(ahead) > 1 and ahead[1][:1] != p.tokens[1][:1] and len(ahead[0]) <= len(p.tokens[0]) + 1:
        return 0.0, 0, False  # "US Army" is no "US President": the next word starts differently
    best, width = 0.0, 0
    for w in (n, n - 1, n + 1):
        if 1 <= w <= len(ahead):
            score = _score_window(p, ahead[:w], fuzzy_min)
            if score > best:
                best, width = score, w
    singular = p.plural_only and 0 < best < _EXACT and ahead[width - 1] == p.tokens[-1][:-1]
    return best, width, singular


# ---------------------------------------------------------------- deciding


class _Prepared(NamedTuple):
    """An item's fields as every story reads them: plain text, raw words, the set of them, tokens,
    and (built when a story first finds an opening word) where each word is."""

    item: Item
    texts: dict[str, str]
    raws: dict[str, list[str]]
    sets: dict[str, set[str]]
    toks: dict[str, normalize.Tokens]
    where: dict[str, dict[str, list[int]]]
    opened: dict[str, tuple[_Shared, dict[int, list[int]]]]  # field -> its openers in every story

    def openers(self, shared: _Shared, name: str) -> dict[int, list[int]]:
        found = self.opened.get(name)
        if found is None or found[0] is not shared:
            found = self.opened[name] = (shared, shared.openers(self.raws[name], self.sets[name],
                                                                lambda: self.positions(name)))
        return found[1]

    def positions(self, name: str) -> dict[str, list[int]]:
        found = self.where.get(name)
        if found is None:
            found = self.where[name] = defaultdict(list)
            for i, word in enumerate(self.raws[name]):
                found[word].append(i)
        return found


_last: list[_Prepared | None] = [None]  # the item matched last: the next story reuses its text work


def _prepare(item: Item) -> _Prepared:
    """Text work that does not depend on the story, done once per item however many stories
    there are (callers match one item against every story in turn)."""
    last = _last[0]
    if last is not None and last.item is item:
        return last
    texts = {"title": normalize.plain(item.title or ""), "text": normalize.plain(item.text or "")}
    raws = {name: normalize.words(texts[name]) for name in _FIELDS}
    prepared = _Prepared(item, texts, raws, {name: set(raws[name]) for name in _FIELDS},
                         {name: normalize.tokens(texts[name], raws[name]) for name in _FIELDS}, {}, {})
    _last[0] = prepared  # one assignment: another thread sees the old or the new, both whole
    return prepared


def match(item: Item, story: Story, detail: bool = True) -> Match:
    """Decide whether `item` belongs to `story`, and why (see the module docstring).

    With detail=False (the pipeline, which keeps only relevant matches), an item that cannot be
    relevant because a required concept has no hit in it gets the story's bare "not relevant"
    decision, without its hits and score: the same verdict, computed for a fraction of the cost
    when many stories share words with the news."""
    compiled = compile_story(story)
    shared, slot = _shared_slot(compiled)
    prepared = _prepare(item)
    texts = prepared.texts
    found: list[_Found] = []
    for name in _FIELDS:
        positions = prepared.openers(shared, name).get(slot)
        if positions:
            found += _find(compiled, name, prepared.toks[name], positions)
    if not found or (not detail and not _required_present(compiled, found)):
        if compiled.nothing is None:  # most news: the same empty decision every time
            compiled.nothing = _decide(compiled, [], texts)
        return compiled.nothing
    return _decide(compiled, found, texts)


def _required_present(compiled: CompiledStory, found: list[_Found]) -> bool:
    """Could `found` make the item relevant: a (non-singular) hit of every required concept?"""
    required = {c.id for c in compiled.concepts if c.required}
    if not required:
        return True
    present = {f.phrase.ref for f in found if f.phrase.kind == "concept" and not f.singular}
    return required <= present


def _hit(f: _Found, texts: dict[str, str], counted: bool = True, note: str = "") -> Hit:
    kind = "topic" if f.phrase.kind == "concept" else f.phrase.kind
    return Hit(kind=kind, ref=f.phrase.ref, alias=f.phrase.text, matched=texts[f.field][f.start:f.end],
               field=f.field, start=f.start, end=f.end, score=round(f.score, 1), counted=counted, note=note)


def _best_per_span(found: list[_Found]) -> list[_Found]:
    """One hit per (kind, ref) and place: the best-scoring, then longest, of overlapping hits."""
    ranked = sorted(found, key=lambda f: (-f.score, -(f.end - f.start), f.field, f.start))
    kept: list[_Found] = []
    taken: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for f in ranked:
        spans = taken[(f.phrase.kind, f.phrase.ref, f.field)]
        if any(f.start < e and s < f.end for s, e in spans):
            continue
        spans.append((f.start, f.end))
        kept.append(f)
    return sorted(kept, key=lambda f: (_FIELDS.index(f.field), f.start, f.phrase.kind))


def _decide(compiled: CompiledStory, found: list[_Found], texts: dict[str, str]) -> Match:
    story, m = compiled.story, compiled.story.matching
    found = _best_per_span(found)
    concept_hits = [f for f in found if f.phrase.kind == "concept" and not f.singular]
    present = {f.phrase.ref for f in concept_hits}
    required = [c.id for c in compiled.concepts if c.required]
    context = all(r in present for r in required) if required else bool(present)
    reasons: list[str] = []
    hits, actors, actor_best = _actor_hits(found, texts, context)
    hits += [_hit(f, texts, False, f"singular of plural-only term {f.phrase.text!r}: another word") if f.singular
             else _hit(f, texts) for f in found if f.phrase.kind == "concept"]
    claim_hits, claims = _claim_hits(found, texts, context)
    excluded = [f for f in found if f.phrase.kind == "exclude"]
    hits += claim_hits + [_hit(f, texts) for f in excluded]

    if compiled.concepts:
        score = _concept_score(compiled.concepts, concept_hits, m.spread, reasons)
    else:
        score = actor_best
        reasons.append(f"no concepts or topic terms: score is the best actor alias, {actor_best:.1f}")
    score += _claim_points(story, claims, context, reasons)
    score = round(min(100.0, score), 1)
    relevant = score >= m.threshold
    missing = [r for r in required if r not in present]
    if missing:
        relevant = False
        reasons.append(f"required concept(s) missing: {', '.join(missing)}")
    if excluded:
        relevant = False
        reasons.append(f"excluded by {', '.join(repr(f.phrase.text) for f in excluded)}")
    verdict = ">=" if score >= m.threshold else "<"
    reasons.append(f"score {score:.1f} {verdict} threshold {m.threshold:g}: " + ("relevant" if relevant else "not relevant"))
    return Match(story=story.id, relevant=relevant, score=score, threshold=m.threshold,
                 actors=tuple(a.id for a in story.actors if a.id in actors),
                 claims=tuple(c.id for c in story.claims if c.id in claims), hits=tuple(hits), reasons=tuple(reasons))


def _actor_hits(found: list[_Found], texts: dict[str, str], context: bool) -> tuple[list[Hit], set[str], float]:
    """Actor and look-alike hits, whether each counts, the actors named and the best alias score."""
    lookalikes = [f for f in found if f.phrase.kind == "lookalike"]
    hits: list[Hit] = []
    actors: set[str] = set()
    best = 0.0
    for f in found:
        if f.phrase.kind == "lookalike":
            hits.append(_hit(f, texts, True, f"look-alike of {f.phrase.ref}"))
        if f.phrase.kind != "actor":
            continue
        inside = next((la for la in lookalikes if la.phrase.ref == f.phrase.ref and la.field == f.field
                       and la.start <= f.start and f.end <= la.end and la.score >= f.score), None)
        if inside is not None:
            hits.append(_hit(f, texts, False, f"inside look-alike {inside.phrase.text!r}"))
        elif f.phrase.ambiguous and not context:
            hits.append(_hit(f, texts, False, "ambiguous alias without story context"))
        else:
            hits.append(_hit(f, texts, True, "ambiguous alias, in story context" if f.phrase.ambiguous else ""))
            actors.add(f.phrase.ref)
            best = max(best, f.score)
    return hits, actors, best


def _claim_hits(found: list[_Found], texts: dict[str, str], context: bool) -> tuple[list[Hit], dict[str, float]]:
    """Claim hits (counted only in story context) and each found claim's best score."""
    hits: list[Hit] = []
    claims: dict[str, float] = {}
    for f in found:
        if f.phrase.kind == "claim":
            hits.append(_hit(f, texts, context, "" if context else "claim term without story context"))
            if context:
                claims[f.phrase.ref] = max(claims.get(f.phrase.ref, 0.0), f.score)
    return hits, claims


def _claim_points(story: Story, claims: dict[str, float], context: bool, reasons: list[str]) -> float:
    points = 0.0
    for claim in story.claims:
        if claim.id in claims:
            pts = claim.weight * claims[claim.id] / 100
            points += pts
            reasons.append(f"claim {claim.id} (weight {claim.weight:g}): {claims[claim.id]:.1f} -> +{pts:.1f}")
        else:
            reasons.append(f"claim {claim.id}: not found" + ("" if context else " (no story context)"))
    return points


def _concept_score(concepts: tuple[Concept, ...], hits: list[_Found], spread: float,
                   reasons: list[str]) -> float:
    """Best sentence: full weight for concepts in it, `spread` of the weight for those elsewhere;
    a required concept counts only in the sentence."""
    anywhere: dict[str, float] = {}
    by_unit: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for f in hits:
        ref, unit = f.phrase.ref, (f.field, f.sentence)
        anywhere[ref] = max(anywhere.get(ref, 0.0), f.score)
        by_unit[unit][ref] = max(by_unit[unit].get(ref, 0.0), f.score)

    def total(unit: dict[str, float]) -> float:
        return sum(c.weight * max(unit.get(c.id, 0.0), 0.0 if c.required else spread * anywhere.get(c.id, 0.0))
                   for c in concepts) / 100

    best_unit, best = ("title", 0), 0.0
    for unit, scores in by_unit.items():
        t = total(scores)
        if t > best:
            best_unit, best = unit, t
    in_unit = by_unit.get(best_unit, {})
    where = "the title" if best_unit[0] == "title" else f"sentence {best_unit[1] + 1} of the text"
    reasons.append(f"best sentence: {where}" if by_unit else "no concept found")
    for c in concepts:
        tag = f"concept {c.id} ({'required, ' if c.required else ''}weight {c.weight:g})"
        if c.id in in_unit:
            reasons.append(f"{tag}: {in_unit[c.id]:.1f} in the best sentence -> +{c.weight * in_unit[c.id] / 100:.1f}")
        elif c.id in anywhere and c.required:
            reasons.append(f"{tag}: {anywhere[c.id]:.1f} elsewhere, but a required concept counts only "
                           "in the best sentence -> +0")
        elif c.id in anywhere:
            pts = c.weight * spread * anywhere[c.id] / 100
            reasons.append(f"{tag}: {anywhere[c.id]:.1f} elsewhere x spread {spread:g} -> +{pts:.1f}")
        else:
            reasons.append(f"{tag}: not found -> +0")
    return best
