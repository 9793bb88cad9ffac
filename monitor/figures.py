"""Pure: the figures of a sentence (numbers about the story, by the story's figure kinds).

Figures
    A number is a figure when one of the story's figure kinds counts it:
      number     1,500 · 10 000 · 1500 · 12k · 1.5 thousand · ten thousand · a dozen
      range      10,000-12,000 · 10,000 to 12,000 · between 10,000 and 12,000 (value = low end,
                 `high` = high end); "10-12k" applies the multiplier to both ends
      qualifier  about/around/approximately/roughly/some/nearly/almost/an estimated -> "about";
                 at least/no fewer than/a minimum of -> "at least"; up to/as many as/at most/
                 no more than -> "up to"; more than/over/in excess of/upwards of -> "more than";
                 none -> "exact"
      noun       within 5 words after the number, with no punctuation or function word between
                 (in, as, of, were, people, ...), a kind's `nouns` ("1,500 North Korean special
                 forces troops"); "N of them" and "N-strong" count as the nouns of the sentence;
                 "including N ..." is a part of a figure, not a figure
      subject    a kind's `subjects` ("North Korean") between number and noun, or the nearest
                 nation named before the number in the sentence is a subject (not one of
                 `other_subjects`: "Russia has moved 50,000 troops" is not a North Korean
                 figure); a nation of `other_subjects` between number and noun rules it out
      kind       the first kind in config order whose `context` terms occur in the number's
                 clause (between commas, semicolons, dashes, "and most/some/the ..."); a kind
                 without context is the
                 default. So order kinds specific first: casualties, Kursk, then Russia.
      measure    for a kind with `measures` (killed / wounded / captured / casualties), the
                 measure whose term is in the number's clause, the longest term where terms
                 overlap ("killed or wounded" is casualties); of several, the predicate after
                 the counted noun ("two wounded soldiers were captured": captured), then the
                 noun itself ("1,000 casualties"), a verb before the number ("Ukraine captures
                 two soldiers"), a word between ("two wounded soldiers"); none found: None
      list       a number with no noun of its own right after a measured figure, joined by
                 a comma, "and" or "or" (a qualifier and "in fighting" may come between), and
                 followed by a term of another measure, shares the figure's noun and kind:
                 "100 North Korean troops killed, 1,000 wounded", "... had been killed and
                 about 1,000 wounded" (1,000 wounded). Not when it has a noun of its own ("12
                 wounded civilians") or repeats a measure ("..., and 12 killed in a strike": another
                 event); "12 killed in a strike" alone is no figure (no noun, no subject)
    Rejected: dates ("October 23", "23 Oct", years), ages ("20-year-old"), money, percentages,
    and numbers whose noun is not a figure noun. The figure's source is the sentence's speaker
    (extract.py's attribution), else None. One figure per (kind, value, measure) per
    item, with a source if any sentence gives one, a tracked actor rather than a speaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Figure
from .story import FigureKind, Story
from .terms import has_any as _has_any
from .terms import term_re as _term_re

_WORD_NUM = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "dozen": 12,
}
_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "k": 1000, "m": 1_000_000}
_UNIT_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS_WORDS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_SMALL = rf"(?:(?:{_TENS_WORDS})(?:[\s-](?:{_UNIT_WORDS}))?|{_UNIT_WORDS}|a\s+dozen|a|an)"
_SPELLED = rf"(?:{_SMALL}(?:\s+(?:hundred|thousand|million)(?:\s+(?:and\s+)?{_SMALL}(?!\s*-?\s*(?:year|month|day)))?)*)"
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d,])|\d+(?:\.\d+)?)"
_MULT = r"(?:\s*[kK]\b|\s+(?:thousand|million)\b)"
_ONE = rf"(?:{_DIGITS}{_MULT}?|\b{_SPELLED}\b)"
_NUMBER = re.compile(
    rf"(?<![\w$£€.,-])(?:between\s+)?(?P<low>{_ONE})(?:\s*(?:-|–|—|to|and)\s*(?P<high>{_ONE}))?(?![\w%])",
    re.I,
)
_QUALIFIERS = [
    ("about", r"about|around|approximately|approx\.?|roughly|some|nearly|almost|close\s+to|an\s+estimated|estimated|circa|~"),
    ("at least", r"at\s+least|no\s+fewer\s+than|no\s+less\s+than|a\s+minimum\s+of|not\s+less\s+than"),
    ("up to", r"up\s+to|as\s+many\s+as|at\s+most|no\s+more\s+than|a\s+maximum\s+of|fewer\s+than|less\s+than|under"),
    ("more than", r"more\s+than|over|in\s+excess\s+of|upwards\s+of|above|exceeding|beyond"),
]
_QUAL_RE = [(q, re.compile(rf"\b(?:{p})\s+(?:(?:a\s+)?total\s+of\s+)?$", re.I)) for q, p in _QUALIFIERS]
_MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_DATE_BEFORE = re.compile(rf"\b(?:{_MONTHS})\.?\s+$", re.I)
_DATE_AFTER = re.compile(rf"^\s*(?:st|nd|rd|th)?\s*(?:of\s+)?(?:{_MONTHS})\b", re.I)
_AGE_AFTER = re.compile(r"^\s*-?\s*(?:years?|yrs?)[\s-]*old|^\s*-?\s*year\b|^\s*-?\s*(?:%|percent|per\s+cent)", re.I)
_CLAUSE_SPLIT = re.compile(
    r"[;,()]|\s[—–-]\s|:\s|\s(?:and|but|while|whereas)\s+(?=(?:most|some|many|all|others?|they|the|a|an|about|"
    r"around|at|up|over|more|\d))", re.I
)
_FUNCTION_WORD = re.compile(
    r"^(?:in|as|at|to|from|for|with|and|or|but|while|after|before|by|on|of|the|a|an|that|who|which|were|was|"
    r"are|is|be|been|have|has|had|people|civilians|children|residents|workers|citizens|his|her|their|its)$", re.I
)
_PART_OF = re.compile(r"(?:including|among\s+them|of\s+whom|of\s+which)\s+(?:some\s+|about\s+|around\s+)?$", re.I)


@dataclass(frozen=True)
class _Num:
    value: int
    high: int | None
    start: int
    end: int
    qualifier: str


def numbers(sent: str) -> list[_Num]:
    """Every number in the sentence with its qualifier; dates, ages, money, years dropped."""
    out: list[_Num] = []
    for m in _NUMBER.finditer(sent):
        low_txt, high_txt = m.group("low"), m.group("high")
        low, high = _value(low_txt), _value(high_txt) if high_txt else None
        if low is None or (high_txt and high is None):
            continue
        if high is not None and high_txt and low < high and _has_mult(high_txt) and not _has_mult(low_txt):
            scaled = low * _mult_of(high_txt)
            if scaled < high:
                low = scaled
        if high is not None and high <= low:
            if m.group(0).lower().lstrip().startswith("between") or high_txt is None:
                pass
            high = None if high == low else high
            if high is not None and high < low:
                continue
        before, after = sent[: m.start()], sent[m.end() :]
        if _DATE_BEFORE.search(before) or _DATE_AFTER.match(after) or _AGE_AFTER.match(after):
            continue
        if re.fullmatch(r"(?:19|20)\d\d", low_txt.strip()):
            continue
        if re.search(r"[$£€#]\s*$", before):
            continue
        qual = next((q for q, r in _QUAL_RE if r.search(before)), "exact")
        out.append(_Num(low, high, m.start(), m.end(), qual))
    return out


def _has_mult(txt: str) -> bool:
    return bool(re.search(rf"{_MULT}$", txt, re.I)) or bool(re.search(r"thousand|million", txt, re.I))


def _mult_of(txt: str) -> int:
    low = txt.lower()
    if "million" in low or low.rstrip().endswith("m"):
        return 1_000_000
    return 1000


def _value(txt: str) -> int | None:
    txt = txt.strip()
    m = re.fullmatch(rf"({_DIGITS})({_MULT})?", txt, re.I)
    if m:
        base = float(re.sub(r"[,\s\u00a0\u202f]", "", m.group(1)))
        mult = m.group(2)
        if mult:
            base *= _SCALE[mult.strip().lower()]
        return int(round(base))
    return _spelled(txt)


def _spelled(txt: str) -> int | None:
    words = re.split(r"[\s-]+", txt.lower())
    words = [w for w in words if w and w != "and"]
    if not words or words in (["a"], ["an"]):
        return None
    total, current = 0, 0
    for w in words:
        if w in _WORD_NUM:
            current += _WORD_NUM[w] if not (w in ("a", "an") and current) else 0
        elif w in _SCALE:
            current = max(current, 1) * _SCALE[w]
            if _SCALE[w] >= 1000:
                total, current = total + current, 0
        else:
            return None
    return total + current


def figures_in(
    sent: str, story: Story, source: str | None, title_subject: bool = False,
    skip: tuple[tuple[int, int], ...] = (),
) -> list[Figure]:
    """The figures of one sentence (see the module docstring for the rules).

    `title_subject`: the item's title names a subject, which a sentence naming no nation before
    the number inherits ("The first 1,500 troops arrive in Russia"). `skip`: spans of actor
    mentions, whose nation names are speakers, not the counted ("South Korea's spy agency said").
    """
    out: list[Figure] = []
    masked = _mask(sent, skip)
    # a list in progress: the measured figure's kind, where its measure word ends, the measures so far
    listed: tuple[FigureKind, int, set[str | None]] | None = None
    for n in numbers(sent):
        kind_id = _kind(masked, n, story, title_subject)
        measure, term_end = None, None
        kind = next((k for k in story.figures if k.id == kind_id), None)
        if kind is not None and kind.measures:
            measure, term_end = _measure(masked, n, kind)
            listed = (kind, term_end, {measure}) if term_end is not None else None
        elif kind is None and listed is not None:
            measure, term_end = _coordinated(masked, n, listed[0], listed[1])
            if measure is None or measure in listed[2]:  # "12 killed in a strike" after "100 killed" is another event
                kind, listed = None, None
            else:
                kind, listed = listed[0], (listed[0], term_end, listed[2] | {measure})
        else:
            listed = None
        if kind is not None:
            out.append(Figure(kind=kind.id, value=n.value, sentence=sent, high=n.high,
                              qualifier=n.qualifier, source=source, measure=measure))
    return out


def _mask(sent: str, spans: tuple[tuple[int, int], ...]) -> str:
    for a, b in spans:
        sent = sent[:a] + "_" * (b - a) + sent[b:]
    return sent


def _kind(sent: str, n: _Num, story: Story, title_subject: bool) -> str | None:
    counted = [k for k in story.figures if _counts(sent, n, k, title_subject)]
    if not counted:
        return None
    clause = _clause(sent, n)
    for k in counted:
        if k.context and _has_any(clause, k.context):
            return k.id
    return next((k.id for k in counted if not k.context), None)


def _counts(sent: str, n: _Num, kind: FigureKind, title_subject: bool) -> bool:
    """The number counts what `kind` counts, about its subjects."""
    nouns = _noun_res(kind)
    if nouns is None:
        return False
    after = sent[n.end :]
    m = nouns[0].match(after)
    if m and any(_FUNCTION_WORD.match(w) for w in m.group(1).split()):
        m = None  # "12 in Zaporizhzhia as North Korean troops": the noun is not this number's
    if _PART_OF.search(sent[: n.start]):
        return False  # "12,000 soldiers, including 500 officers": a part of a figure, not another
    pronoun = re.match(r"^\s+of\s+(?:them|those|these|whom)\b", after, re.I)
    strong = re.match(r"^-strong((?:\s+[A-Za-z][\w.’'-]*){0,3})", after, re.I)
    if not m and not pronoun and not strong:
        return False
    between = m.group(1) if m else strong.group(1) if strong else ""
    if _has_any(between, kind.other_subjects):
        return False
    if _has_any(between, kind.subjects):
        return True
    if pronoun and not nouns[1].search(sent):
        return False
    if pronoun:  # "8,000 of them": the antecedent was counted earlier in the sentence
        return _has_any(sent, kind.subjects)
    last = _last_nation(sent[: n.start], kind)
    if last is not None:
        return last[1]
    return title_subject or _has_any(sent, kind.subjects)


def _last_nation(before: str, kind: FigureKind) -> tuple[int, bool] | None:
    """(end, is a subject) of the last nation named before the number, if any."""
    best: tuple[int, bool] | None = None
    for terms, is_subject in ((kind.subjects, True), (kind.other_subjects, False)):
        for t in terms:
            for m in _term_re(t).finditer(before):
                # a subject wins over an other-subject ending at the same place
                if best is None or m.end() > best[0] or (m.end() == best[0] and is_subject):
                    best = (m.end(), is_subject)
    return best


def _clause(sent: str, n: _Num) -> str:
    left, right = _clause_span(sent, n)
    return sent[left:right]


def _clause_span(sent: str, n: _Num) -> tuple[int, int]:
    cuts = [m.start() for m in _CLAUSE_SPLIT.finditer(sent)]
    left = max([c for c in cuts if c < n.start], default=0)
    right = min([c for c in cuts if c >= n.end], default=len(sent))
    return left, right


def _measure(sent: str, n: _Num, kind: FigureKind) -> tuple[str | None, int | None]:
    """What the number measures ("killed", "wounded", ...) by the kind's `measures` terms in its
    clause, and where that word ends when it comes after the number (else None).

    The longest term wins where terms overlap ("killed or wounded" over "killed"). Where the
    clause has several: the predicate after the counted noun ("two wounded soldiers were
    captured": captured), the noun itself ("1,000 casualties"), a verb before the number
    ("Ukraine captures two soldiers"), a word between number and noun ("two wounded soldiers").
    """
    left, right = _clause_span(sent, n)
    found: list[tuple[int, int, str]] = []
    for name, terms in kind.measures.items():
        for t in terms:
            found += [(m.start(), m.end(), name) for m in _term_re(t).finditer(sent)
                      if left <= m.start() and m.end() <= right]
    found.sort(key=lambda f: (f[0] - f[1], f[0]))  # longest first
    kept: list[tuple[int, int, str]] = []
    for f in found:
        if not any(f[0] < k[1] and k[0] < f[1] for k in kept):
            kept.append(f)
    if not kept:
        return None, None
    noun_start, noun_end = _noun_span(sent, n, kind)
    kept.sort()
    zones = (
        [f for f in kept if f[0] >= noun_end],  # the predicate, nearest first
        [f for f in kept if f[0] < noun_end and f[1] > noun_start],  # the noun
        [f for f in reversed(kept) if f[1] <= n.start],  # before the number, nearest first
        [f for f in kept if n.end <= f[0] and f[1] <= noun_start],  # between number and noun
    )
    best = next(z[0] for z in zones if z)
    return best[2], (best[1] if best[0] >= n.end else None)


def _noun_span(sent: str, n: _Num, kind: FigureKind) -> tuple[int, int]:
    """The counted noun after the number ("100 North Korean troops"), or the number's end."""
    nouns = _noun_res(kind)
    m = nouns[0].match(sent[n.end:]) if nouns else None
    return (n.end + m.start(2), n.end + m.end(2)) if m else (n.end, n.end)


_NOUN_CACHE: dict[tuple[str, ...], tuple[re.Pattern[str], re.Pattern[str]] | None] = {}


def _noun_res(kind: FigureKind) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """The kind's nouns, longest first (cached): (after a number: group 1 the words between,
    group 2 the noun; anywhere in a sentence), or None for a kind without nouns."""
    key = tuple(kind.nouns)
    if key not in _NOUN_CACHE:
        nouns = "|".join(re.escape(x) for x in sorted(key, key=len, reverse=True))
        _NOUN_CACHE[key] = (
            re.compile(rf"^(?:-strong)?((?:\s+[A-Za-z][\w.’'-]*){{0,5}}?)\s+({nouns})\b", re.I),
            re.compile(rf"\b(?:{nouns})\b", re.I),
        ) if nouns else None
    return _NOUN_CACHE[key]


_COORD_GAP = re.compile(
    r"(?:\s+(?:in|on|near|during|since|at|by)(?:\s+[A-Za-z][\w’'-]*){1,4})?"  # "killed in fighting"
    r"\s*(?:,\s*(?:and|or)?|and|or|&)\s*(?:(?:another|a\s+further|further)\s+)?", re.I)
_COORD_AUX = re.compile(r"\s+(?:(?:were|was|are|is|been|have\s+been|had\s+been|more|others?)\s+)*")
_NOT_SHARED = re.compile(r"\s+(?:people|civilians|children|residents|workers|citizens|others)\b", re.I)


def _coordinated(sent: str, n: _Num, kind: FigureKind, prev_end: int) -> tuple[str | None, int | None]:
    """A number with no noun of its own in a list right after a measured figure shares its noun
    ("100 North Korean troops killed, 1,000 wounded", "... killed and about 1,000 wounded"):
    only the coordinator (and the number's qualifier) between the earlier measure word and the
    number, and a measure word right after it, not followed by another noun ("12 wounded
    civilians"). Returns (measure, where its word ends), or (None, None)."""
    gap = sent[prev_end:n.start]
    for _, r in _QUAL_RE:
        q = r.search(gap)
        if q:
            gap = gap[:q.start()]
            break
    lead = _COORD_AUX.match(sent, n.end)
    if not _COORD_GAP.fullmatch(gap) or lead is None:
        return None, None
    for t, name in sorted(((t, name) for name, terms in kind.measures.items() for t in terms),
                          key=lambda p: -len(p[0])):
        m = _term_re(t).match(sent, lead.end())
        if m:
            return (None, None) if _NOT_SHARED.match(sent, m.end()) else (name, m.end())
    return None, None
