"""Pure: the figures of a sentence: numbers about the story, tied to the story's figure kinds.

extract.py calls `figures_in(sentence, story, source)` per sentence, with the sentence's speaker
as the figure's source, and keeps one figure per (kind, value, measure) per item. Everything
story-specific comes from the kinds (`[[figures]]` in the story file, story.FigureKind).

Kind keys (all optional but `id` and `description`)
    nouns           what is counted, after the number: "people", "troops" ("10,000 North Korean
                    troops": up to 5 words between, none a function word)
    verbs           the number's own predicate, every form news uses: "killed", "kill", "kills",
                    "died", "dead", "deaths", "missing", "injured", "deployed", "sent"; phrases
                    are fine ("went on strike", "killed or wounded"). A kind with `measures` has
                    their terms as verbs too.
    heads           nouns a number is the value of: "death toll", "toll". "number/count/tally/
                    total of" + one of the kind's verbs or nouns is a head too ("the number of
                    missing stands at 89")
    subjects        whose number it is: "Spain", "Spanish", "North Korean" (none: anyone's)
    other_subjects  whose it is not: "France", "Russian"
    context         a term that must be in the number's clause ("Kursk")
    series          level (default) | cumulative | per_event: how values follow each other
                    (novelty.py, report.py)
    measures        {killed = [...], wounded = [...]}: what a figure of the kind measures, each
                    its own series

How the clause ties a number to a kind (each figure's `rule` names the tie, for `explain`:
"verb after “killed” -> toll (cumulative)")
    head            HEAD [in/of/from/since ... (two phrases at most)] LINK [qualifier] N:
                    "death toll rises to 158", "toll tops 200" (tops/passes/surpasses/exceeds/
                    crossed/past: "more than"; nears/approaches: "about"), "raised the death toll
                    to 205", "a death toll of 158", "rose from 150 to 158" and "rose by 8 to 158"
                    (158), "the number of missing stands at 89";
                    one of the kind's verbs before a verb of rising is a head too ("flood
                    deaths rise to 211")
    noun is a verb  N VERB-NOUN: "158 deaths", "1,000 casualties"
    verb after      N [NOUN] [in/at PLACE] [aux] VERB: "95 people killed", "45 were killed",
                    "as many as 30 have been killed or wounded", "another 1,000 injured", "two
                    died", "89 still missing"; aux: were/was/have been/remain/still/feared/
                    believed to have been/confirmed/... A verb followed by a noun is an adjective
                    ("12 wounded civilians": the civilians are counted, not the wounded); an aside
                    may come first ("20 people, including 13 children, were killed"); a verb
                    followed by "or/and" another such word is a compound the kind must list
                    ("killed or wounded")
    verb before     VERB [qualifier|another] N [NOUN]: "floods kill at least 95", "killed more
                    than 200", "sends a couple thousand troops"
    noun            N NOUN, for a kind without verbs or heads: "10,000 North Korean troops";
                    "N of them" and "N-strong" take the sentence's noun
    clause verb     N NOUN with one of the kind's verbs elsewhere in its clause, not attached to
                    another number ("... soldiers in Kursk, many killed")
    list            a number with no noun of its own after a measured figure ("100 North Korean
                    troops killed, 1,000 wounded"): see below
    With verbs, a number whose noun is not one of the kind's nouns is not the kind's ("killed 3
    journalists" for a kind counting soldiers); a number standing alone ("95 killed") is.
    The best tie wins, in the order above (head first); between equal ties, a kind whose
    `context` is in the clause, then file order. So the kind follows each number's own
    predicate, not file order: "95 people killed and dozens missing" (95 killed), "89 missing
    after floods that killed 217" (89 missing, 217 killed).

Whose number (subjects), in order
    a subject or other subject between the number and its noun ("100 North Korean troops");
    for a count of events (any tie but "noun"), a place right after the number ("in|at|near|
    inside|across [the] [southern ...] Place"; a capitalised word followed by a noun is an
    adjective: "in Israeli strikes"): a subject counts, an other subject rules it out, and an
    unknown place rules out a cumulative kind that has subjects ("two died in Letur" is a local
    count, not the toll); troops "in Russia" stay whose they are; the last nation named before
    the number (before the verb, for "verb before": "Spanish floods killed 217"); else the
    title's or the sentence's subject. A number standing alone (no noun, no head) ("12 died", "89 missing") takes
    its subject only from its own part of the sentence: after the previous number's noun, from
    the start of its clause (";", ", and", "but", "while"; a fronted "In Valencia," and a
    headline's "Spain floods:" count), or the first nation named after it in its clause ("38
    killed in Israeli strikes on Gaza": a subject counts, an other subject does not). A month or
    a day is not a place ("killed 95 people in October").

Parts
    a number after "including", "among them", "of whom", or before "... among those killed/the
    dead/the victims" is a part of a figure beside it, no figure of its own ("12,000 soldiers,
    including 500 officers"; "13 children and three women were among those killed").
    `figures_in(..., misses=[])` says for each number left out why (`monitor explain`).

Numbers
    number     1,500 · 10 000 · 1500 · 12k · 1.5 thousand · ten thousand · twenty-five ·
               a dozen (12) · a couple thousand (2,000, "about") · a couple of hundred (200)
    range      10,000-12,000 · 10,000 to 12,000 · between 10,000 and 12,000 (value = low end,
               `high` = high end); "10-12k" applies the multiplier to both ends; "from 150 to
               158", "(rose) by 8 to 158" are 158, down as well as up; "rose by 8" alone is no
               number (a difference)
    qualifier  about/around/approximately/roughly/some/nearly/almost/an estimated -> "about";
               at least/no fewer than/a minimum of -> "at least"; up to/as many as/at most/
               no more than -> "up to"; more than/over/in excess of/upwards of -> "more than";
               none -> "exact"
    vague      "dozens", "scores", "hundreds", "thousands", "several", "a few" are no figure:
               no value a reader could compare or a series could order
    Rejected: dates ("October 23", "23 Oct", years), ages ("20-year-old"), money, percentages;
    "including N ..." is a part of a figure, not a figure.

Measures (kinds with `measures`: killed / wounded / captured / casualties)
    the measure whose term is in the number's clause, the longest term where terms overlap
    ("killed or wounded" is casualties); of several, the predicate after the counted noun ("two
    wounded soldiers were captured": captured), then the noun itself ("1,000 casualties"), a
    verb before the number ("Ukraine captures two soldiers"), a word between ("two wounded
    soldiers"); none found: None.
    list: a number with no noun of its own right after a measured figure, joined by a comma,
    "and" or "or" (a qualifier and "in fighting" may come between), and followed by a term of
    another measure, shares the figure's noun and kind: "100 North Korean troops killed, 1,000
    wounded". Not when it has a noun of its own ("12 wounded civilians") or repeats a measure
    ("..., and 12 killed in a strike": another event).

An addition: the sentence's first number after "another", "a further", "an additional" or
before "more", "additional", "extra" ("another 1,500 troops", "5,000 more soldiers") adds to a
level or a total: its figure gets the measure "added" (novelty keeps it apart, as a per-event
count). After an earlier number the same word starts a group of its own ("12 killed and
another 30 wounded").

Why patterns and not a parser: spaCy 3.8 with the only en_core_web_sm on PyPI (a third-party
re-upload; the official model installs from GitHub releases only) costs a 347 MB environment,
2.1 s to import and load and 11 ms per item on this machine, and on the shapes above attached 8
of 10 numbers usefully ("Spain: 89 missing" became an apposition of Spain, "Another 1,000
injured" had no head); the heads, subjects and kinds would still be rules on top. These
patterns run on relevant items only and tie all ten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import ADDED, Figure
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
_COUPLE = r"a\s+couple(?:\s+of)?\s+(?:hundred|thousand|million)"  # "a couple thousand": about 2,000
_ONE = rf"(?:{_DIGITS}{_MULT}?|\b{_COUPLE}\b|\b{_SPELLED}\b)"
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
_CLAUSE_SPLIT = re.compile(  # a comma between digits groups them ("2,350"): no clause ends there
    r"[;()]|(?<!\d),|,(?!\d{3}(?!\d))|\s[—–-]\s|:\s|\s(?:and|but|while|whereas)\s+(?=(?:most|some|many|all|others?|they|the|a|an|about|"
    r"around|at|up|over|more|\d))", re.I
)
_FUNCTION_WORD = re.compile(
    r"^(?:in|as|at|to|from|for|with|and|or|but|while|after|before|by|on|of|the|a|an|that|who|which|were|was|"
    r"are|is|be|been|have|has|had|people|civilians|children|residents|workers|citizens|his|her|their|its)$", re.I
)
# "12 residents and three tourists were among those killed": a part of a figure given elsewhere
_AMONG = re.compile(
    r"(?:\s+(?:and\s+)?[\w’'-]+){0,6}?\s+(?:(?:were|was|are|is)\s+)?among\s+(?:those|the\s+(?:dead|victims|"
    r"casualties|fatalities|injured|wounded|missing|killed))\b", re.I)
_PART_OF = re.compile(r"\b(?:including|among\s+them|of\s+whom|of\s+which)\s+(?:some\s+|about\s+|around\s+)?$", re.I)


_ADDITION = r"another|a\s+further|an\s+additional|further|additional"  # "another 1,500 troops"
# a number after these is a change ("rose by 50") or, before "to N", where a change started from
_CHANGE_VERBS = (r"(?:ris(?:e|es|en|ing)|rose|increas(?:e|es|ed|ing)|gr(?:ew|ow|ows|own|owing)|jump(?:s|ed|ing)?|"
                 r"climb(?:s|ed|ing)?|soar(?:s|ed|ing)?|f(?:all|alls|ell|allen|alling)|drop(?:s|ped|ping)?|"
                 r"decreas(?:e|es|ed|ing)|declin(?:e|es|ed|ing)|up|down)")
_QUALIFIER = "|".join(p for _, p in _QUALIFIERS)
_CHANGE_BY = re.compile(rf"\b{_CHANGE_VERBS}\s+by\s+(?:(?:{_QUALIFIER})\s+)?$", re.I)
_CHANGE_TO = re.compile(rf"\bfrom\s+$|\b{_CHANGE_VERBS}\s+by\s+$", re.I)


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
        before, after = sent[: m.start()], sent[m.end() :]
        start, changed_to = m.start(), False
        if high is not None and _CHANGE_TO.search(before) and re.search(r"\sto\s", m.group(0)):
            changed_to = True
            # "rose from 150 to 158", "rose by 50 to 2,412", "fell from 12,000 to 10,000": the value is
            # where it went; where it came from, or by how much, is no figure
            low, high, start = high, None, m.start("high")
        if high is not None and high <= low:
            high = None if high == low else high
            if high is not None and high < low:
                continue
        if _DATE_BEFORE.search(before) or _DATE_AFTER.match(after) or _AGE_AFTER.match(after):
            continue
        if re.fullmatch(r"(?:19|20)\d\d", low_txt.strip()):
            continue
        if re.search(r"[$£€#]\s*$", before):
            continue
        if not changed_to and high is None and _CHANGE_BY.search(before):
            continue  # "the toll rose by 50": a difference, not a count
        qual = next((q for q, r in _QUAL_RE if r.search(before)), "exact")
        if re.match(_COUPLE, low_txt, re.I) and qual == "exact":
            qual = "about"
        out.append(_Num(low, high, start, m.end(), qual))
    return out


def _has_mult(txt: str) -> bool:
    return bool(re.search(rf"{_MULT}$", txt, re.I)) or bool(re.search(r"thousand|million", txt, re.I))


def _mult_of(txt: str) -> int:
    low = txt.lower()
    if "million" in low or low.rstrip().endswith("m"):
        return 1_000_000
    return 1000


def _value(txt: str) -> int | None:
    txt = re.sub(r"^a\s+couple(?:\s+of)?\s+", "two ", txt.strip(), flags=re.I)
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
    if len(words) > 1 and words[0] in ("a", "an"):
        words = words[1:]  # "a dozen", "a hundred"
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


@dataclass(frozen=True)
class _Tie:
    """How the clause ties a number to a kind: the rule, its rank (lower wins), the words that did it."""

    rank: int
    rule: str  # "head" | "verb after" | "noun is a verb" | "verb before" | "noun" | "clause verb" | "list"
    words: str  # the head, verb or noun that tied it
    verb: tuple[int, int] | None = None  # span of the verb (or head phrase) attached to this number


def figures_in(
    sent: str, story: Story, source: str | None, title_subject: bool = False,
    skip: tuple[tuple[int, int], ...] = (), misses: list[tuple[str, str]] | None = None,
) -> list[Figure]:
    """The figures of one sentence (see the module docstring for the rules).

    `title_subject`: the item's title names a subject, which a sentence naming no nation before
    the number inherits ("The first 1,500 troops arrive in Russia"). `skip`: spans of actor
    mentions, whose nation names are speakers, not the counted ("South Korea's spy agency said").
    Each figure's `rule` says which rule tied it to its kind (for `monitor explain`); `misses`,
    when given, gets (number as written, why no kind took it) for each number left out.
    """
    out: list[Figure] = []
    masked = _mask(sent, skip)
    nums = numbers(sent)
    # verbs the grammar attaches to some number: the clause fallback must not borrow them
    attached = {t.verb for n in nums for k in story.figures for t in [_grammar_tie(masked, n, k)] if t and t.verb}
    # a list in progress: the measured figure's kind, where its measure word ends, the measures so far
    listed: tuple[FigureKind, int, set[str | None]] | None = None
    scope = 0  # where the text no earlier number's noun phrase holds begins
    for n in nums:
        scope = max(scope, _clause_start(masked, n))
        kind, tie = _kind(masked, n, story, title_subject, attached, scope)
        scope = max([scope, *(n.end + m.end() for k in story.figures for m in [_noun_after(masked, n, k)[0]] if m)])
        measure, term_end = None, None
        if kind is not None and kind.measures:
            measure, term_end = _measure(masked, n, kind)
            listed = (kind, term_end, {measure}) if term_end is not None else None
        elif kind is None and listed is not None:
            measure, term_end = _coordinated(masked, n, listed[0], listed[1])
            if measure is None or measure in listed[2]:  # "12 killed in a strike" after "100 killed" is another event
                kind, listed = None, None
            else:
                kind, listed = listed[0], (listed[0], term_end, listed[2] | {measure})
                tie = _Tie(4, "list", measure)
        else:
            listed = None
        if (kind is None or tie is None) and misses is not None:
            misses.append((sent[n.start:n.end], _why_not(masked, n, story, title_subject, attached, scope)))
        if kind is not None and tie is not None:
            qualifier = n.qualifier if n.qualifier != "exact" or not tie.rule == "head" else _head_qualifier(masked, n)
            rule = f"{tie.rule} “{tie.words}” -> {kind.id} ({kind.series})"
            added = _addition(masked, n) if kind.series != "per_event" and n is nums[0] else None
            if added:
                measure = f"{measure} {ADDED}" if measure else ADDED  # its own series: see figure_series
                rule += f", an addition (“{added}”), not the {kind.series} itself"
            out.append(Figure(kind=kind.id, value=n.value, sentence=sent, high=n.high,
                              qualifier=qualifier, source=source, measure=measure, rule=rule))
    return out


_ADDITION_BEFORE = re.compile(rf"\b({_ADDITION})\s+(?:(?:{_QUALIFIER})\s+)?$", re.I)
_ADDITION_AFTER = re.compile(r"^\s+(more|additional|extra)\b", re.I)


def _addition(sent: str, n: _Num) -> str | None:
    """The word that makes the sentence's first number an addition to a level or total ("another
    1,500 troops", "5,000 more soldiers", "a further 300"), or None. After an earlier number the
    word starts a group of its own ("12 killed and another 30 wounded"): callers ask for the first only."""
    m = _ADDITION_BEFORE.search(sent[: n.start]) or _ADDITION_AFTER.match(sent[n.end :])
    return re.sub(r"\s+", " ", m.group(1).lower()) if m else None


def _mask(sent: str, spans: tuple[tuple[int, int], ...]) -> str:
    for a, b in spans:
        sent = sent[:a] + "_" * (b - a) + sent[b:]
    return sent


def _kind(sent: str, n: _Num, story: Story, title_subject: bool,
          attached: set[tuple[int, int]], scope: int) -> tuple[FigureKind | None, _Tie | None]:
    """The kind the clause ties the number to: the best-ranked tie, then a kind whose `context`
    is in the clause over one without, then file order."""
    if _PART_OF.search(sent[: n.start]) or _AMONG.match(sent, n.end):
        return None, None  # "12,000 soldiers, including 500 officers": a part of a figure, not another
    clause = _clause(sent, n)
    best: tuple[tuple[int, int, int], FigureKind, _Tie] | None = None
    for i, k in enumerate(story.figures):
        tie = _grammar_tie(sent, n, k) or _fallback_tie(sent, n, k, attached)
        if tie is None:
            continue
        if k.context and not _has_any(clause, k.context):
            continue
        if not _about_subject(sent, n, k, tie, title_subject, scope):
            continue
        rank = (tie.rank, 0 if k.context else 1, i)
        if best is None or rank < best[0]:
            best = (rank, k, tie)
    return (best[1], best[2]) if best else (None, None)


def _why_not(sent: str, n: _Num, story: Story, title_subject: bool,
             attached: set[tuple[int, int]], scope: int) -> str:
    """Why no kind took the number, for `monitor explain`: the rules of `_kind`, each kind's first failing one."""
    if _PART_OF.search(sent[: n.start]) or _AMONG.match(sent, n.end):
        return "a part of a figure beside it (“including”, “among those killed”)"
    reasons = []
    clause = _clause(sent, n)
    for k in story.figures:
        tie = _grammar_tie(sent, n, k) or _fallback_tie(sent, n, k, attached)
        if tie is None:
            continue
        tied = f"{k.id}: {tie.rule} “{tie.words}” ties it, but"
        if k.context and not _has_any(clause, k.context):
            reasons.append(f"{tied} none of its `context` is in the clause")
        elif not _about_subject(sent, n, k, tie, title_subject, scope):
            named = ", ".join(k.subjects[:3]) + (", ..." if len(k.subjects) > 3 else "")
            reasons.append(f"{tied} the clause does not make it about its subjects ({named})"
                           f"{' or names an other subject' if k.other_subjects else ''}")
        else:
            reasons.append(f"{k.id}: a list item whose measure was already counted")
    return "; ".join(reasons) or "no kind's noun, verb or head is the number's (check `nouns`, `verbs`, `heads`)"


def _grammar_tie(sent: str, n: _Num, k: FigureKind) -> _Tie | None:
    """Head, own predicate (after or before the number) or noun-that-is-a-verb: the number's own words."""
    res = _kind_res(k)
    head = res.head.search(sent[: n.start]) if res.head else None
    if head:
        return _Tie(0, "head", head.group("h").strip(), head.span())
    noun, bare = _noun_after(sent, n, k)
    if res.verb is None:
        return None
    if noun is None and not bare:
        return None  # "killed 3 journalists" for a kind whose nouns are troops: not its number
    if noun is not None and res.verb_word.fullmatch(noun.group(2)):
        return _Tie(1, "noun is a verb", noun.group(2))  # "158 deaths", "1,000 casualties"
    at = n.end + (noun.end() if noun else 0)
    after = res.verb_after.match(sent, at)
    if after and noun is None and _adjective(sent, after.end()):
        after = None  # "12 wounded civilians": the number counts the civilians
    if after:
        return _Tie(1, "verb after", after.group("v"), after.span("v"))
    before = res.verb_before.search(_strip_qualifier(sent[: n.start]))
    if before:
        return _Tie(1, "verb before", before.group("v"), before.span("v"))
    return None


def _fallback_tie(sent: str, n: _Num, k: FigureKind, attached: set[tuple[int, int]]) -> _Tie | None:
    """A kind noun after the number: a noun kind's number ("10,000 troops"); for a kind with verbs,
    one of its verbs elsewhere in the clause, not another number's ("North Korean soldiers in Kursk,
    many of them killed"), ranks below the number's own words."""
    noun, _ = _noun_after(sent, n, k)
    pronoun = re.match(r"^\s+of\s+(?:them|those|these|whom)\b", sent[n.end:], re.I)
    strong = re.match(r"^-strong\b", sent[n.end:], re.I)
    res = _kind_res(k)
    if noun is None and not strong and not (pronoun and res.noun_any.search(sent)):
        return None
    word = noun.group(2) if noun else "of them" if pronoun else "-strong"
    if res.verb is None:
        return _Tie(2, "noun", word)
    left, right = _clause_span(sent, n)
    for m in res.verb_word_any.finditer(sent, left, right):
        if m.span("v") not in attached:
            return _Tie(3, "clause verb", m.group("v"))
    return None


def _noun_after(sent: str, n: _Num, k: FigureKind) -> tuple[re.Match[str] | None, bool]:
    """(the kind's noun after the number, "N [words] NOUN"; whether no other noun follows: the
    number stands alone, "95 killed", "45 were killed", "killed 95 in Valencia")."""
    res = _kind_res(k)
    after = sent[n.end:]
    m = res.noun.match(after) if res.noun else None
    if m and any(_FUNCTION_WORD.match(w) for w in m.group(1).split()):
        m = None  # "12 in Zaporizhzhia as North Korean troops": the noun is not this number's
    return m, m is None and bool(_BARE.match(after) or (res.verb and res.verb_after.match(sent, n.end)))


# what may follow a number that stands alone: punctuation, the end, a function word, an auxiliary
_BARE = re.compile(
    r"^(?:\s*[,;:.!?)\]—–-]|\s*$|\s+(?:in|on|at|near|across|from|since|after|before|during|amid|by|as|and|or|"
    r"but|with|over|when|while|so|this|last|the|a|an|of|to|for|were|was|are|is|have|has|had|been|being|be|"
    r"more|others?|remain|remained|remains|still|now|reportedly|also|already|overnight|so\s+far)\b)", re.I)
_BARE_WORDS = frozenset(
    "in on at near across from since after before during amid by as and or but with over when while so this last "
    "the a an of to for were was are is have has had been being be more others remain remained remains still now "
    "reportedly also already overnight yesterday today earlier later there here".split())
_AUX_WORDS = (
    r"were|was|are|is|have|has|had|been|being|be|now|reportedly|also|already|still|so\s+far|all|"
    r"believed\s+to\s+have\s+been|believed|feared|presumed|thought|confirmed|reported|listed\s+as|"
    r"remain|remained|remains|left|more|others?|who\s+(?:were|was|are|have\s+been|had\s+been)|who"
)
# an aside between a count and its verb: "At least 20 people, including 13 children, were killed"
_ASIDE = r"(?:\s*,\s*(?:including|among\s+them|mostly|most\s+of\s+them|many\s+of\s+them)\b[^,;:.]{1,60},)?"
_PREP_PHRASE = r"(?:\s*,?\s+(?:in|on|at|near|from|across|inside)(?:\s+(?:the\s+)?[\w’'-]+){1,3}?\s*,?)?"
_RISE = (r"(?:(?:has|have|had)\s+)?(?:r[io]se[ns]?|risen|climb(?:s|ed)?|jump(?:s|ed)?|soar(?:s|ed)?|mount(?:s|ed)?|"
         r"increase(?:s|d)?|reach(?:es|ed)?|top(?:s|ped)?|pass(?:es|ed)?|surpass(?:es|ed)?|exceed(?:s|ed)?|"
         r"stand(?:s)?\s+at|stood\s+at)\b")
_LINK = (
    r"(?:(?:has|have|had)\s+)?(?:now\s+|already\s+|reportedly\s+)?"
    r"(?:[a-z]+\s+(?:from|by)\s+[\d,.]+(?:\s+(?:thousand|million))?\s+to|r[io]se[ns]?\s+to|risen\s+to|climb(?:s|ed)?\s+to|jump(?:s|ed)?\s+to|soar(?:s|ed)?\s+to|gr[eo]w(?:s|n)?\s+to|"
    r"increase(?:s|d)?\s+to|mount(?:s|ed)?\s+to|reach(?:es|ed)?|hit(?:s)?|stand(?:s)?\s+at|stood\s+at|"
    r"(?:is|was|were|are)(?:\s+(?:now|at|put\s+at))*|at|of|to|(?:put|estimated|set)\s+at|"
    r"top(?:s|ped)?|pass(?:es|ed)?|surpass(?:es|ed)?|exceed(?:s|ed)?|cross(?:es|ed)?|"
    r"near(?:s|ed)?|approach(?:es|ed)?|past)"
)
# up to two phrases between a head and its verb, a year allowed in them ("the death toll in
# Lebanon since October 2023 has risen to ..."), no other number
_HEAD_PLACE = (r"(?:\s+(?:in|of|from|to|into|among|across|for|after|near|at|on|along|inside|within|since)\s+"
               r"(?:[^,;:.\d]|\b(?:19|20)\d\d\b){1,40}?){0,2}")
_LINK_MORE = re.compile(r"\b(?:top(?:s|ped)?|pass(?:es|ed)?|surpass(?:es|ed)?|exceed(?:s|ed)?|cross(?:es|ed)?|past)\s*$", re.I)
_LINK_ABOUT = re.compile(r"\b(?:near(?:s|ed)?|approach(?:es|ed)?)\s*$", re.I)
_STRIP_QUAL = re.compile(rf"(?:\s+(?:{_ADDITION}|a\s+total\s+of|total(?:ling|ing)?|{_QUALIFIER}))+\s*$", re.I)


def _adjective(sent: str, end: int) -> bool:
    """A word right after a verb form that is a noun: the verb is an adjective ("wounded civilians")."""
    nxt = _NEXT_WORD.match(sent[end:])
    return bool(nxt) and nxt.group(1).lower() not in _AFTER_PLACE_OK and nxt.group(1).lower() not in _BARE_WORDS


def _strip_qualifier(before: str) -> str:
    """The text before a number without its qualifier and "another" ("kill at least" -> "kill")."""
    return _STRIP_QUAL.sub("", before.rstrip()) + " "


def _head_qualifier(sent: str, n: _Num) -> str:
    """A head's verb may qualify the value: "toll tops 200" is more than 200, "nears 200" about."""
    before = sent[: n.start]
    if _LINK_MORE.search(before):
        return "more than"
    return "about" if _LINK_ABOUT.search(before) else "exact"


@dataclass(frozen=True)
class _KindRes:
    noun: re.Pattern[str] | None  # after a number: group 1 the words between, group 2 the noun
    head: re.Pattern[str] | None  # before a number: group "h" the head
    verb: str | None  # the verbs, longest first, as one alternation
    verb_word: re.Pattern[str]  # a whole string that is one of the verbs
    verb_after: re.Pattern[str]  # at the number's (or its noun's) end: [prep phrase] [aux] VERB
    verb_before: re.Pattern[str]  # VERB right before the number (qualifier stripped)
    verb_word_any: re.Pattern[str]  # a verb anywhere
    noun_any: re.Pattern[str]  # a noun anywhere


_KIND_CACHE: dict[tuple[tuple[str, ...], ...], _KindRes] = {}


def _kind_res(k: FigureKind) -> _KindRes:
    """The kind's patterns (cached by its words)."""
    verbs = sorted({*k.verbs, *(t for terms in k.measures.values() for t in terms)}, key=len, reverse=True)
    key = (tuple(k.nouns), tuple(verbs), tuple(k.heads))
    res = _KIND_CACHE.get(key)
    if res is None:
        res = _KIND_CACHE[key] = _compile_kind(list(k.nouns), verbs, list(k.heads))
    return res


def _alts(terms: list[str]) -> str:
    return "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in sorted(terms, key=len, reverse=True))


# a word between a number and its noun; an actor's name there is masked ("12 ____ fighters": the
# actor's fighters are counted, "12 Hamas fighters")
_BETWEEN = r"(?:[A-Za-z][\w.’'-]*|_+)"


def _compile_kind(nouns: list[str], verbs: list[str], heads: list[str]) -> _KindRes:
    noun = re.compile(rf"^(?:-strong)?((?:\s+{_BETWEEN}){{0,5}}?)\s+({_alts(nouns)})\b", re.I) if nouns else None
    head_terms = _alts(heads)
    auto = [f"(?:{_alts(verbs)})"] if verbs else []
    auto += [f"(?:{_alts(nouns)})"] if nouns else []
    auto_head = rf"(?:the\s+)?(?:number|count|tally|total)\s+of\s+(?:[\w’'-]+\s+){{0,3}}?(?:{'|'.join(auto)})" if auto else ""
    # a verb that is a noun heads a number through a verb of rising: "flood deaths rise to 211"
    verb_head = rf"(?:{_alts(verbs)})(?=\s+{_RISE})" if verbs else ""
    heads_alt = "|".join(x for x in (head_terms, auto_head, verb_head) if x)
    head = re.compile(
        rf"\b(?P<h>{heads_alt})\b{_HEAD_PLACE}\s+{_LINK}\s+"
        rf"(?:(?:{_QUALIFIER})\s+)?$", re.I) if heads_alt else None
    never = re.compile(r"(?!)")
    noun_any = re.compile(rf"\b(?:{_alts(nouns)})\b", re.I) if nouns else never
    if not verbs:
        return _KindRes(noun, head, None, never, never, never, never, noun_any)
    v = _alts(verbs)
    # "killed or wounded" is one predicate: a verb followed by "or/and" another word of the
    # same shape is not this verb alone (a kind that means both lists the phrase)
    tail = r"(?!\s+(?:or|and|and/or)\s+(?:injured|wounded|hurt|missing|killed|dead|captured|displaced|detained)\b)"
    return _KindRes(
        noun, head, v,
        re.compile(rf"(?:{v})", re.I),
        re.compile(rf"{_PREP_PHRASE}{_ASIDE}(?:\s*,?\s+(?:{_AUX_WORDS}))*\s+(?P<v>{v})\b{tail}", re.I),
        re.compile(rf"\b(?P<v>{v})\s+$", re.I),
        re.compile(rf"(?<![\w-])(?P<v>{v})\b{tail}", re.I),
        noun_any,
    )


def _about_subject(sent: str, n: _Num, kind: FigureKind, tie: _Tie, title_subject: bool, scope: int) -> bool:
    """The number is about the kind's subjects (a kind without subjects: any, unless an other subject).

    In order: a subject or other subject between the number and its noun ("100 North Korean
    troops"); for a count of events (a verb or head tied it), a place right after it ("killed 38
    in Gaza": an other subject rules it out unless a subject is named earlier in the clause; an
    unknown place rules a cumulative kind out: "two died in Letur" is a local count, not the
    total), while troops "in Russia" stay whose they are; the last nation named before it (before
    a verb that ties it, "Israeli strikes killed 38", only a subject counts: the other is the
    killer, not the killed); else the title's or the sentence's subject. A number standing alone
    ("12 killed", "89 missing") needs its subject after the previous number's noun (`scope`):
    "100 North Korean soldiers were killed, and 12 killed in a strike on Kharkiv" is no figure.
    """
    after = sent[n.end:]
    noun, _ = _noun_after(sent, n, kind)
    strong = re.match(r"^-strong((?:\s+[A-Za-z][\w.’'-]*){0,3})", after, re.I)
    pronoun = re.match(r"^\s+of\s+(?:them|those|these|whom)\b", after, re.I)
    between = noun.group(1) if noun else strong.group(1) if strong else ""
    if _has_any(between, kind.other_subjects):
        return False
    if _has_any(between, kind.subjects):
        return True
    if tie.rule == "head" and tie.verb and _has_any(sent[tie.verb[0]:n.start], kind.subjects):
        return True  # "the number of North Korean troops in Russia has reached 12,000"
    if tie.rule == "head" and tie.verb:  # whose head: "North Korea's troop deployment to Russia has reached ..."
        owner = _last_nation(" ".join(sent[: tie.verb[0]].split()[-4:]), kind)
        if owner is not None and owner[1]:
            return True
    left, right = _clause_span(sent, n)
    while (item := _LIST_ITEM.match(sent, right)) is not None:  # "45 were killed and 70 wounded near Sidon"
        right = min([c.start() for c in _CLAUSE_SPLIT.finditer(sent, item.end())], default=len(sent))
    place = _place_after(sent, (n.end + noun.end()) if noun else n.end, right)
    verb_at = tie.verb[0] if tie.rule == "verb before" and tie.verb else n.start
    if place is not None and tie.rule != "noun":
        if _has_any(place, kind.subjects):
            return True
        if _has_any(place, kind.other_subjects) or (kind.series == "cumulative" and kind.subjects):
            return False
    if pronoun:
        return _has_any(sent, kind.subjects)  # "8,000 of them": the antecedent was counted earlier
    bare = noun is None and not strong and tie.rule != "head"  # a head is the number's noun
    last = _last_nation(sent[scope if bare else 0: verb_at], kind)
    if last is not None:
        return last[1]
    if not kind.subjects:
        return True
    if bare:  # its subject before it, or after it in its own clause ("38 killed in Israeli strikes on Gaza")
        named = _last_nation(sent[n.end:right], kind, first=True)
        return _has_any(sent[scope:verb_at], kind.subjects) or (named is not None and named[1])
    return title_subject or _has_any(sent, kind.subjects)


# a list item after a number's clause: a place after it is the whole list's ("and 70 wounded")
_LIST_ITEM = re.compile(
    rf"\s*,?\s*(?:and|or)\s+(?:(?:{_QUALIFIER})\s+)?[\d,.]+\s+[a-z]+\b", re.I)
_PLACE = re.compile(
    r"\b(?:in|at|near|inside|across)\s+(?:the\s+)?(?:(?:south|north|east|west|southern|northern|eastern|western|"
    r"central|south-?east(?:ern)?|south-?west(?:ern)?|north-?east(?:ern)?|north-?west(?:ern)?)\s+)?(?P<p>[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*){0,2})")
_NEXT_WORD = re.compile(r"^\s+([a-z][\w’'-]*)")
_AFTER_PLACE_OK = frozenset(
    "and or on since after as in at by for from to the this last over when while with amid during said says "
    "say told according before until where which who that was were is are have has had".split())


_TIME_WORD = re.compile(
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|March|April|May|June|July|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|"
    r"Nov(?:ember)?|Dec(?:ember)?|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day)\b")


def _place_after(sent: str, at: int, end: int) -> str | None:
    """A place named soon after the number (or its noun): "in Letur", "in southern Gaza", at most
    six words on and before any other number; a capitalised word followed by a noun is an
    adjective ("in Israeli strikes"), not a place."""
    for m in _PLACE.finditer(sent, at, end):
        gap = _LIST_ITEM.sub(" ", sent[at:m.start()])
        if len(gap.split()) > 6 or re.search(r"\d", gap):
            return None
        nxt = _NEXT_WORD.match(sent[m.end():end])
        if nxt and nxt.group(1).lower() not in _AFTER_PLACE_OK:
            continue  # "in Israeli strikes": an adjective
        if _TIME_WORD.match(m.group("p")):
            continue  # "in October", "in March 2024": a time, not a place
        return m.group("p")
    return None


def _last_nation(before: str, kind: FigureKind, first: bool = False) -> tuple[int, bool] | None:
    """(end, is a subject) of the last nation named before the number, if any; `first`: the
    first one named in `before` (then the position is its start)."""
    best: tuple[int, bool] | None = None
    for terms, is_subject in ((kind.subjects, True), (kind.other_subjects, False)):
        for t in terms:
            for m in _term_re(t).finditer(before):
                at = -m.start() if first else m.end()
                # a subject wins over an other-subject ending at the same place
                if best is None or at > best[0] or (at == best[0] and is_subject):
                    best = (at, is_subject)
    return (abs(best[0]), best[1]) if best else None


def _clause(sent: str, n: _Num) -> str:
    left, right = _clause_span(sent, n)
    return sent[left:right]


def _clause_start(sent: str, n: _Num) -> int:
    """Where the number's clause starts, a headline's "TOPIC:" kept ("Spain floods: 89 missing")."""
    cuts = [m.start() for m in _SCOPE_SPLIT.finditer(sent, 0, n.start)]
    return max(cuts, default=0)


# where another clause with its own subject starts: a fronted "In Valencia," still qualifies what follows
_SCOPE_SPLIT = re.compile(
    r";|,\s+(?:and|but|while|whereas)\s|\s(?:but|while|whereas)\s|\sand\s+(?=(?:\d|most|some|many|another|a\s+further|"
    r"at\s+least|more|about|around|up|over|nearly|almost))", re.I)


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
            re.compile(rf"^(?:-strong)?((?:\s+{_BETWEEN}){{0,5}}?)\s+({nouns})\b", re.I),
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
