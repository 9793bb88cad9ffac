"""Pure: Item x Match x Story -> (statements, figures). No I/O, no state.

The extractor reads a relevant item's title and text sentence by sentence and finds what a
tracked actor said and which numbers the item gives about the story. Rules follow language
patterns, never particular headlines; everything story-specific (actors and aliases, claims,
figure kinds) comes from the story config.

Actor mentions
    The matcher's counted actor hits (`Match.hits`, kind "actor": every occurrence, fuzzy,
    ambiguous aliases and look-alikes already judged). A Match without hits (built by hand in
    tests and tools) falls back to exact, word-bounded name and alias occurrences (short or
    all-caps aliases such as "US" match case). The same words found for two actors ("Iran's
    Foreign Ministry": one's alias, near another's "Iran's foreign minister") are the closer
    spelling's. A definite head noun of an institution named
    before it in the item ("Israel's military ... targets that the military says belong to ...",
    "the ministry said") is that institution again: the lowercase last word of one of its
    aliases, the last such institution named (`anaphors`).

Speakers (story `[[speakers]]`: governments too common to be actors, "US", "Seoul", "Ukraine")
    Exact, word-bounded occurrences of a speaker's name and aliases (short or all-caps ones
    match case), not inside an actor mention, not after a preposition or "help"/"support"
    ("troops in Ukraine", "help Russia"; "according to the US" counts), not followed by a
    capitalised word ("Washington Post"; a verb in a Title Case title counts: "U.S. Says"). They
    are tried only in a sentence where no tracked actor speaks; then the patterns below attribute
    to them as to actors ("Seoul demands ...", "..., says South Korea", "..., U.S. confirms"),
    and a tracked actor among the speakers found wins. The statement's actor is `other:NAME`.
    In an item where one of a speaker's `actors` speaks ("Seoul says" in the title, "South
    Korea's spy agency said" in the text), the speaker's statements are dropped and its figures
    are that actor's: one statement, by the actor.

Statements (one per attributed sentence)
    forward      ACTOR [up to 4 words | 's spokesperson | , appositive , | is/was] VERB [that] CLAUSE
                 (is/are/was/were only before an -ing verb: "is vowing"; "was told" is passive;
                 a name in apposition speaks: "the nation's U.N. ambassador, Danny Danon, promised")
                 "South Korea's spy agency said ...", "Maria Zakharova, a spokeswoman for the
                 Russian Foreign Ministry, described ...", "Kirby told reporters that ...";
                 after "tell", up to 4 words of whom before they/he/she/it/we/that/there
                 ("Seoul told Russia's ambassador they ...") are not the statement
    inverted     CLAUSE, VERB ACTOR          "North Korea sending troops, says South Korea"
    trailing     CLAUSE, ACTOR VERB [day].   "..., South Korea's spy agency said."
    according    CLAUSE, according to [a/an/the] [up to 3 words] ACTOR
    headline     CLAUSE: ACTOR (title)       "Up to 10,000 soldiers sent to Russia: NIS"
                 ACTOR: CLAUSE (title)       "Peskov: reports are 'misinformation'"
                 ACTOR 'QUOTE' PREP (title)  "Biden 'deeply concerned' about leak of ..." (a
                 quote right after the name tag, then about/by/over/for/...: not "'peace plan'
                 rejected")
    nominal      ACTOR's confirmation/denial/warning/assessment [that] CLAUSE (not "'s assessment
                 of ...": a preposition after the noun names a document, not what it says)
    VERB is a reporting verb (`SPEECH_VERBS`: said, says, told, warned, denied, dismissed,
    called, described, confirmed, claimed, believes, ...); "does not deny" is a verb too, with
    no denial stance. "assess"/"observe" report only with a clause: before a plain object
    ("assesses the damage after ...", "observed a minute of silence") they are deeds. The statement text is the quoted words when the sentence has quotes
    (“…”, "…", ‘…’, '…'), else the reported clause. A sentence counts only if it touches the
    story (a topic, claim or figure-subject term), or is in the text of an item whose title
    does (the text goes on about the title's story: "the deployment", "the move").

Claims and stance
    The claim a statement touches is the claim with the most (then longest) of its `terms` in
    the sentence. Stance "denies" when a claim `denial_terms` phrase is in the sentence or the
    verb is a denial verb (denied, dismissed, rejected, refuted) without a negation; "confirms"
    when the verb is a confirmation verb (confirmed, acknowledged) or the sentence speaks of
    evidence; otherwise None.

Figures
    figures.py (number reading and the figure grammar); `extract` calls it per sentence with the
    sentence's speaker as the figure's source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from .figures import figures_in
from .models import Figure, Item, Match, Statement
from .story import Story
from .terms import alias_body as _alias_body
from .terms import alias_re as _alias_re
from .terms import any_re as _any_re
from .terms import has as _has
from .terms import has_any as _has_any

# ---------------------------------------------------------------- sentences


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offset in the field's text
    field: str


_ABBREV = re.compile(
    r"(?:\b(?:[A-Z]\.){1,3}|\b(?:Mr|Mrs|Ms|Dr|Gen|Lt|Col|Maj|Capt|Sgt|Sen|Rep|Gov|Pres|Prof|St|No|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|vs|Inc|Corp|Co|Jr|Sr|approx|est)\.)$"
)
_BOUNDARY = re.compile(r"[.!?…]+[\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9])")


def sentences(text: str, field: str = "text") -> list[Sentence]:
    """Split plain text into sentences, keeping offsets; abbreviations (U.S., Gen., Oct.) don't split."""
    out: list[Sentence] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        head = text[start : m.start() + 1]
        if _ABBREV.search(head):
            continue
        _add(out, text, start, m.end(), field)
        start = m.end()
    _add(out, text, start, len(text), field)
    return out


def _add(out: list[Sentence], text: str, start: int, end: int, field: str) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if stripped:
        out.append(Sentence(stripped, start + chunk.index(stripped), field))


# ---------------------------------------------------------------- actor mentions


@dataclass(frozen=True)
class Mention:
    actor: str
    start: int  # in the sentence
    end: int
    person: bool


def mentions(text: str, field: str, match: Match, story: Story) -> list[Mention]:
    """Actor mentions in one field, from the matcher's counted actor hits.

    A Match built by hand (no hits at all, as in tests and tools) falls back to exact,
    word-bounded occurrences of each actor's name and aliases.
    """
    found: dict[tuple[int, int], Mention] = {}
    best: dict[tuple[int, int], float] = {}
    person = {a.id: a.kind != "institution" for a in story.actors}
    for h in match.hits:
        if (h.kind == "actor" and h.field == field and getattr(h, "counted", True)
                and text[h.start : h.end] == h.matched):
            end = h.end - 2 if re.search(r"['’]s$", h.matched) and not re.search(r"['’]s$", h.alias) else h.end
            if (h.start, end) in found and best.get((h.start, end), 0) >= h.score:
                continue  # the same words found for two actors: the closer spelling wins (exact over fuzzy)
            best[(h.start, end)] = h.score
            found[(h.start, end)] = Mention(h.ref, h.start, end, person.get(h.ref, True))  # "Austin’s" -> "Austin"
    if not match.hits:
        for actor in story.actors:
            for alias in {actor.name, *actor.aliases}:
                for m in _alias_re(alias).finditer(text):
                    found.setdefault((m.start(), m.end()), Mention(actor.id, m.start(), m.end(), person[actor.id]))
    # drop mentions inside a longer one ("Korea" inside "South Korea's spy agency")
    spans = sorted(found.values(), key=lambda m: (m.start, -(m.end - m.start)))
    out: list[Mention] = []
    for m in spans:
        if out and m.start < out[-1].end:
            continue
        out.append(m)
    return out


_ANAPHOR_CACHE: dict[int, tuple[Story, dict[str, list[str]]]] = {}


def _anaphor_heads(story: Story) -> dict[str, list[str]]:
    """{head noun: institution actor ids}: the lowercase last word of an institution's name or
    alias ("military" of "Israel's military", "ministry" of "Lebanon's health ministry")."""
    cached = _ANAPHOR_CACHE.get(id(story))
    if cached is None or cached[0] is not story:
        if len(_ANAPHOR_CACHE) >= 64:
            _ANAPHOR_CACHE.clear()
        heads: dict[str, list[str]] = {}
        for a in story.actors:
            if a.kind == "institution":
                for alias in (a.name, *a.aliases):
                    words = alias.split()
                    if len(words) > 1 and re.fullmatch(r"[a-z]{4,}", words[-1]):
                        heads.setdefault(words[-1], [])
                        if a.id not in heads[words[-1]]:
                            heads[words[-1]].append(a.id)
        cached = _ANAPHOR_CACHE[id(story)] = (story, heads)
    return cached[1]


def anaphors(text: str, story: Story, ments: list[Mention], earlier: list[str]) -> list[Mention]:
    """"the military", "the ministry": a definite head noun of an institution named before it in
    the item (`earlier`: actor ids of the fields before, in order; then this field's `ments`) is
    that institution again. Of several with that head, the last named; none named, no mention."""
    heads = _anaphor_heads(story)
    out: list[Mention] = []
    if not heads:
        return out
    for m in re.finditer(rf"\b[Tt]he\s+({'|'.join(map(re.escape, heads))})\b(?!\s+[A-Z])", text):
        a, b = m.start(1), m.end(1)
        if any(a < t.end and t.start < b for t in ments):
            continue
        named = [*earlier, *(t.actor for t in ments if t.end <= a)]
        who = next((x for x in reversed(named) if x in heads[m.group(1)]), None)
        if who is not None:
            out.append(Mention(who, a, b, False))
    return out


# ---------------------------------------------------------------- speakers

_SpeakerPatterns = tuple[re.Pattern[str], list[tuple[re.Pattern[str], str]]]
_SPEAKER_CACHE: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], _SpeakerPatterns] = {}
# "troops in Ukraine", "sent to Russia": a place, not a speaker ("according to the US" is one)
_PLACE_BEFORE = re.compile(
    r"\b(?:in|into|inside|to|toward|towards|from|of|for|with|against|at|on|by|between|across|near|over|"
    r"about|than|like|via|help|helping|helped|support|supporting|supported)\s+(?:the\s+)?$", re.I
)
_ACCORDING_TO = re.compile(r"\baccording\s+to\s+(?:an?\s+|the\s+)?$", re.I)
_NAME_GOES_ON = re.compile(r"^[ \t]+([A-Z][\w’'-]*)")


def _speaker_patterns(story: Story) -> _SpeakerPatterns:
    """(where any speaker alias starts, [(alias pattern, "other:NAME")] for every speaker name and
    alias, longest first); cached per story."""
    key = (story.id, tuple((s.name, tuple(s.aliases)) for s in story.speakers))
    pats = _SPEAKER_CACHE.get(key)
    if pats is None:
        pairs = sorted({(alias, f"other:{s.name}") for s in story.speakers for alias in (s.name, *s.aliases)},
                       key=lambda p: (-len(p[0]), p))
        pats = _SPEAKER_CACHE[key] = (_any_re(a for a, _ in pairs), [(_alias_re(a), who) for a, who in pairs])
    return pats


def _finditer_at(pat: re.Pattern[str], text: str, starts: list[int]) -> Iterator[re.Match[str]]:
    """`pat.finditer(text)`, trying only at `starts` (in order; every place where `pat` can match)."""
    end = 0
    for start in starts:
        if start >= end:
            m = pat.match(text, start)
            if m:
                yield m
                end = m.end()


def _title_case(text: str) -> bool:
    """Most longer words capitalised: a Title Case headline, where "Says" is a verb, not a name."""
    words = [w for w in re.findall(r"[A-Za-z][\w’'-]*", text) if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) >= 0.8 * len(words)


def speaker_mentions(text: str, story: Story, taken: list[Mention]) -> list[Mention]:
    """Exact occurrences of the story's speakers that could be a sentence's subject.

    Not a speaker: inside or across a tracked actor's mention (the actor wins: "South Korea's spy
    agency"), after a preposition or a verb of help ("troops in Ukraine", "help Russia"; "according
    to the US" is one), or followed by a capitalised word, unless that is a reporting verb in a
    Title Case headline (a longer name: "Washington Post", "US Army"; "U.S. Says North Korean
    Troops ..." is a speaker).
    """
    found: list[Mention] = []
    anywhere, pats = _speaker_patterns(story)
    starts = [m.start() for m in anywhere.finditer(text)]
    if not starts:
        return found
    for pat, who in pats:
        for m in _finditer_at(pat, text, starts):
            a, b = m.start(), m.end()
            if any(a < t.end and t.start < b for t in (*taken, *found)):
                continue
            before = text[:a]
            if before.endswith(("'", "’")) or (_PLACE_BEFORE.search(before) and not _ACCORDING_TO.search(before)):
                continue
            goes_on = _NAME_GOES_ON.match(text[b:])
            if goes_on and not (_VERB.fullmatch(goes_on.group(1)) and _title_case(text)):
                continue
            found.append(Mention(who, a, b, False))
    return sorted(found, key=lambda m: m.start)


# ---------------------------------------------------------------- statements

SPEECH_VERBS = (
    "say|says|said|saying|tell|tells|told|warn|warns|warned|warning|deny|denies|denied|denying|"
    "dismiss|dismisses|dismissed|call|calls|called|claim|claims|claimed|confirm|confirms|confirmed|"
    "state|states|stated|add|adds|added|note|notes|noted|announce|announces|announced|insist|insists|"
    "insisted|describe|describes|described|characteri[sz]e[sd]?|label(?:l?ed|s)?|accuse|accuses|"
    "accused|urge|urges|urged|believe|believes|believed|estimate|estimates|estimated|report|"
    "reports|reported|explain|explains|explained|assert|asserts|asserted|argue|argues|argued|"
    "allege|alleges|alleged|acknowledge|acknowledges|acknowledged|admit|admits|admitted|reject|"
    "rejects|rejected|refute|refutes|refuted|suggest|suggests|suggested|indicate|indicates|"
    "indicated|remark|remarks|remarked|respond(?:s|ed)?(?:\\s+to)?|demand|demands|demanded|"
    "condemn|condemns|condemned|vow|vows|vowed|threaten|threatens|threatened|caution|cautions|"
    "cautioned|stress|stresses|stressed|emphasi[sz]e[sd]?|write|writes|wrote|post|posts|posted|"
    "declare|declares|declared|reveal|reveals|revealed|disclose|discloses|disclosed|assess|"
    "assesses|assessed|conclude|concludes|concluded|expect|expects|predict|predicts|predicted|"
    "elaborate|elaborates|elaborated|decry|decries|decried|slam|slams|slammed|brand|brands|"
    "branded|blast|blasts|blasted|question|questions|questioned|agree|agrees|agreed|mock|mocks|"
    "mocked|deride|derides|derided|observe|observes|observed|affirm|affirms|affirmed|verify|"
    "verifies|verified|maintain|maintains|maintained|repeat|repeats|repeated|reiterate|"
    "praise|praises|praised|hail|hails|hailed|welcome|welcomes|welcomed|applaud|applauds|applauded|"
    "commend|commends|commended|propose|proposes|proposed|promise|promises|promised|cheer|cheers|cheered|react(?:s|ed)?(?:\\s+to)?|criticise|criticises|criticised|criticize|criticizes|criticized|"
    r"reiterates|reiterated|calls?\s+for|called\s+for|calling\s+for|announcing|claiming|confirming|insisting|"
    r"accusing|urging|vowing|stressing|noting|arguing|suggesting|acknowledging|admitting|rejecting|"
    r"dismissing|demanding|estimating|describing|explaining|proposing|praising|hailing|welcoming|criticising|criticizing|"
    r"promising|stating|declaring|threatening"
)
_VERB = re.compile(rf"\b(?:(?:does|did|do|would|could|has|have|had|will)\s+(?:not\s+|n['’]t\s+)?)?(?:{SPEECH_VERBS})\b", re.I)
_DENY = re.compile(r"\b(?:den(?:y|ies|ied|ying)|dismiss\w*|reject\w*|refut\w*|decr\w*|derid\w*|mock\w*)\b", re.I)
_CONFIRM = re.compile(r"\b(?:confirm\w*|acknowledg\w*|verif\w*|affirm\w*|evidence)\b", re.I)
_NEGATED_VERB = re.compile(r"\b(?:not|never|n['’]t)\b", re.I)
_NOMINAL = re.compile(
    r"^['’]s\s+(?:confirmation|denial|warning|assessment|claim|statement|remarks?|comments?|"
    r"announcement|estimate|view)\s+(?!(?:of|on|about|for|in|to|from|by|over|at|with)\b)(?:that\s+)?", re.I
)
_AUX = (
    r"has|have|had|also|previously|reportedly|now|again|then|further|later|earlier|officially|"
    r"publicly|repeatedly|already|recently|separately|initially|still|had\s+earlier|on\s+\w+day|"
    r"(?:is|are|was|were)(?=\s*$)|"
    r"on\s+(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|last\s+week|"
    r"this\s+week|in\s+a\s+statement|in\s+an\s+interview|at\s+a\s+(?:news\s+|press\s+)?(?:briefing|conference)"
)
_GAP_WORDS = re.compile(rf"^(?:['’]s(?:\s+[A-Za-z][\w\-.’']*){{1,4}}?)?(?:\s+(?:{_AUX}))*\s*$", re.I)
_GAP_APPOSITIVE = re.compile(rf"^\s*,[^,;:“”\"]{{2,90}},(?:\s+(?:{_AUX}))*\s*$", re.I)
# "The government released video that it claimed shows ...": the pronoun is the actor again
_GAP_RELATIVE = re.compile(rf"^\s+(?:[\w’'-]+\s+){{1,8}}?(?:that|which|what)\s+(it|they|he|she)(?:\s+(?:{_AUX}))*\s*$", re.I)
# "Israeli forces attack Tyre and tell people to leave": a first predicate, then the reporting verb
_GAP_PREDICATE = re.compile(r"^\s+[a-z][\w’'-]*(?:\s+[\w’'-]+){0,6}\s+and\s+(?:then\s+|also\s+)?$")
# "Biden, US lawmakers praise ...", "Biden and lawmakers on Thursday praised ...": co-subjects the
# story does not track, after the actor that opens the sentence
_GAP_COSUBJECT = re.compile(
    rf"^(?=\s*(?:,|and\b|&))(?:\s*,\s*(?:[\w.’'-]+\s+){{0,2}}[\w.’'-]+)*(?:\s*,?\s+(?:and|&)\s+"
    rf"(?:[\w.’'-]+\s+){{0,2}}[\w.’'-]+)?(?:\s+(?:{_AUX}))*\s*$", re.I)
# ... said only by the sentence's subject: the mention opens it (after a "Video:" or an opening phrase)
_OPENS = re.compile(r"^(?:[^,:;]{0,40}[,:]\s*)?(?:the\s+)?$", re.I)
_COORD = re.compile(r"^\s*(?:,|and|&|,\s*and)\s*(?:the\s+)?$", re.I)
_CLAUSE_LEAD = re.compile(
    rf"^(?:\s*(?:,|that\b|of\b|about\b|against\b|saying\b|adding\b|noting\b|(?:{_AUX})\b|(?:reporters|lawmakers|journalists|parliament|legislators|"
    r"the\s+(?:media|press|UN|U\.N\.|Security\s+Council)|him|her|them|us|"
    r"(?:[A-Z]\w+\s+){0,2}(?:TV|television|radio|News|reporters))\b))+",
    re.I,
)
_TOLD_WHOM = re.compile(r"^\s*(?:[\w’'.-]+\s+){1,4}?(?=(?:that|they|he|she|it|we|I|there|North|South)\b)")
# a quotation that ends just before the speaker: '"We will respond," Yoon said of ...' (the quote
# is the statement; what follows the verb is its topic)
_QUOTE_BEFORE = re.compile(r"[,.!?…][\"”’]\s*$")
_TRAILING = re.compile(rf"^(?:\s*(?:{_AUX}|today|yesterday))*\s*[.!?…]*\s*$", re.I)
_ACCORDING = re.compile(r"\baccording\s+to\s+(?:an?\s+|the\s+)?(?:[\w\-’']+\s+){0,3}$", re.I)
_QUOTES = re.compile(r"“([^”]{3,}?)”|\"([^\"]{3,}?)\"|‘([^‘’]{3,}?)’(?![a-z])|(?<![\w])'([^']{3,}?)'(?![\w])")


# "said to be targeting", "accused of targeting": the verb is passive, its subject is not the speaker
_PASSIVE = re.compile(
    r"(?:said|reported|believed|alleged|claimed|estimated|expected|thought)\s+to\s+(?:be|have)\b|"
    r"(?:accused|blamed|critici[sz]ed|condemned|suspected)\s+(?:of|for)\b", re.I)


# "assesses the damage", "observed a minute of silence": verbs that report only with a clause
# ("assesses that ...", "assessed North Korea has sent ..."); before a plain object they are deeds
_OBJECT_SENSE_VERB = re.compile(r"(?:assess|observ)\w*$", re.I)
_OBJECT_NP = re.compile(
    r"^\s+(?:the|a|an|its|their|his|her|this|these|those)(?:\s+[\w’'-]+){1,4}?"
    r"\s*(?:[,.;:!?]|$|\s(?:after|of|in|on|at|from|for|with|by|near|across|and|but|as|while|amid|following)\b)", re.I)
_FINITE = re.compile(r"\b(?:is|are|was|were|has|have|had|will|would|could|can|may|might|must|should|remains?)\b", re.I)


def _object_sense(verb: str, after: str) -> bool:
    """The verb takes a plain object here, not a reported clause (see `_OBJECT_SENSE_VERB`): a
    determiner's noun phrase that ends at a preposition, conjunction or punctuation, no verb in it."""
    obj = _OBJECT_NP.match(after) if _OBJECT_SENSE_VERB.search(verb) else None
    return obj is not None and not _FINITE.search(obj.group(0))


@dataclass(frozen=True)
class Attribution:
    actor: str
    text: str
    verb: str
    person: bool
    pos: int = 0  # where the attribution is marked (verb, "according to", "'s confirmation")
    rule: str = ""  # which form found it (see the module docstring), for `monitor explain`


def attribute(sent: str, ments: list[Mention], is_title: bool) -> list[Attribution]:
    """Who speaks in this sentence and what they say: the first attribution, with co-speakers.

    Later reporting verbs are usually inside the reported clause ("Zelensky said Ukraine expects
    Russia to ..."), so only the earliest attribution counts; "NATO, Pentagon confirm" and
    "Ukraine and South Korea accused" give one statement per coordinated actor.
    """
    found = _attributions(sent, ments, is_title)
    if not found:
        return []
    first = min(found, key=lambda a: a.pos)
    out = [a for a in found if a.pos == first.pos]
    seen: set[str] = set()
    return [a for a in out if not (a.actor in seen or seen.add(a.actor))]  # type: ignore[func-returns-value]


def _attributions(sent: str, ments: list[Mention], is_title: bool) -> list[Attribution]:
    found: list[Attribution] = []
    if not ments:
        return found  # every form needs the speaker's mention
    if is_title:
        found += _headline(sent, ments)
    for v in _VERB.finditer(sent):
        found += _forward(sent, ments, v) or _inverted(sent, ments, v)
    for m in ments:
        nom = _NOMINAL.match(sent[m.end :])
        if nom:
            text = _text(sent, sent[m.end + nom.end() :])
            found.append(Attribution(m.actor, text, "confirmation", m.person, m.end, "nominal: ACTOR's "
                                     f"{nom.group(0).split()[1].lower()} that CLAUSE"))
        before = sent[: m.start]
        acc = _ACCORDING.search(before)
        if acc:
            clause = (before[: acc.start()] + " " + sent[m.end :]).strip(" ,.;")
            # "according to" qualifies the whole sentence: it counts after any verb attribution
            found.append(Attribution(m.actor, _text(sent, clause), "according to", m.person, len(sent) + acc.start(),
                                     "according: CLAUSE, according to ACTOR"))
    return found


def _forward(sent: str, ments: list[Mention], v: re.Match[str]) -> list[Attribution]:
    """ACTOR ... VERB CLAUSE, or CLAUSE, ACTOR VERB."""
    before = [m for m in ments if m.end <= v.start()]
    if not before:
        return []
    # the nearest mention whose gap to the verb is a speaker's ("Zakharova, a spokeswoman for the
    # Foreign Ministry, described": the ministry is inside her appositive, she speaks)
    if re.search(r"\b(?:is|are|was|were)\s*$", sent[: v.start()], re.I) and not v.group(0).lower().endswith("ing"):
        return []  # "was told", "is called": passive; "is vowing", "were saying" report
    m = next((m for m in reversed(before) if _speaker_gap(sent[m.end : v.start()], m, bool(_OPENS.match(sent[: m.start])))
              or (re.fullmatch(r"\s*,\s*", sent[m.end : v.start()]) and re.search(r",\s*$", sent[: m.start]))
              or ((_GAP_PREDICATE.match(sent[m.end : v.start()]) or _GAP_COSUBJECT.match(sent[m.end : v.start()]))
                  and _OPENS.match(sent[: m.start]))), None)
    if m is None:
        return []
    before = [b for b in before if b.end <= m.start] + [m]
    if _PASSIVE.match(sent, v.start()):
        return []  # "Israeli military accused of targeting ...", "Seoul said to be ..."
    if _object_sense(v.group(0), sent[v.end() :]):
        return []  # "Lebanon assesses the damage after ...": a deed, not speech
    speakers = [m]
    for prev in reversed(before[:-1]):
        between = sent[prev.end : speakers[-1].start]
        if not (_COORD.match(between) and ("," not in between or len(sent[: prev.start].split()) <= 1)):
            break
        speakers.append(prev)
    after = sent[v.end() :]
    lead = _CLAUSE_LEAD.match(after)
    clause = after[lead.end() :] if lead else after
    told = _TOLD_WHOM.match(clause) if not lead and re.match(r"tel|told", v.group(0), re.I) else None
    clause = clause[told.end() :] if told else clause  # "told Russia's ambassador they are ..."
    first = speakers[-1]
    head = sent[: first.start]
    # "CLAUSE, ACTOR said ...": the longer side is the statement ("Amid the conflict, the military
    # says it has ..." is a forward statement after an opening phrase)
    trailing = (bool(re.search(r",[\"”’']?\s*(?:the\s+)?$", head, re.I)) and len(head.split()) >= 3
                and len(head.split()) > len(clause.split())) or bool(_QUOTE_BEFORE.search(head))
    rule = f"forward: ACTOR {v.group(0)} CLAUSE"
    if trailing or _TRAILING.match(after) or len(clause.split()) < 2:
        clause = re.sub(r"(?:the\s+)?$", "", head, flags=re.I).strip(" ,;:—–-")  # CLAUSE, ACTOR VERB.
        rule = f"trailing: CLAUSE, ACTOR {v.group(0)}"
    elif _DENY.search(v.group(0)) or _CONFIRM.search(v.group(0)) or _NEGATED_VERB.search(v.group(0)) \
            or re.match(r"accus", v.group(0), re.I):
        clause = f"{v.group(0).lower()} {clause.strip()}"  # the verb is the statement: "does not deny ...", "accused X of"
    text = _text(sent, clause)
    return [Attribution(s.actor, text, v.group(0), s.person, v.start(), rule) for s in reversed(speakers)]


def _speaker_gap(gap: str, m: Mention, opens: bool) -> bool:
    """What may come between a speaker and its verb: a few words, "'s spokesperson", an
    appositive, or, when the speaker opens the sentence, a relative clause whose pronoun is the
    speaker again ("Supporters of Hamas pledge what they call ...": the supporters call it)."""
    relative = _GAP_RELATIVE.match(gap) if opens else None
    if relative and relative.group(1).lower() not in (("he", "she", "they") if m.person else ("it", "they")):
        relative = None
    return bool(_GAP_WORDS.match(gap) or _GAP_APPOSITIVE.match(gap) or relative)


def _inverted(sent: str, ments: list[Mention], v: re.Match[str]) -> list[Attribution]:
    """CLAUSE, VERB ACTOR ("..., says South Korea", "..., said Kirby")."""
    if not re.search(r"[,:][\"”’']?\s*$", sent[: v.start()]) or _PASSIVE.match(sent, v.start()):
        return []
    quoted = bool(_QUOTE_BEFORE.search(sent[: v.start()]))  # a quote's speaker may be followed by more
    for m in ments:
        if m.start >= v.end() and re.fullmatch(r"\s+(?:the\s+)?(?:[\w\-.’']+\s+){0,4}", sent[v.end() : m.start], re.I):
            rest = sent[m.end :]
            if re.match(r"^(?:['’]s\s+[\w\s]{0,30})?\s*[,.;!?]?\s*(?:\w+\s*){0,3}[.!?…]?\s*$", rest) or (
                    quoted and re.match(r"^\s*(?:,[^\"“”]*)?[.!?…]?\s*$", rest)):  # '"...," said Yoon, speaking of ...
                clause = sent[: v.start()].strip(" ,;:—–-")
                return [Attribution(m.actor, _text(sent, clause), v.group(0), m.person, v.start(),
                                    f"inverted: CLAUSE, {v.group(0)} ACTOR")]
    return []


def _headline(sent: str, ments: list[Mention]) -> list[Attribution]:
    """Title forms 'CLAUSE: ACTOR' and 'ACTOR: CLAUSE', where the ACTOR side is only a name tag.

    A name tag is the actor's mention, with at most four words of title before it ("Ukraine's
    spy chief Budanov") and after it only role words ("Kremlin spokesman", "NATO chief") or a
    possessive. Anything else makes that side a topic, not a speaker: "Spain floods: Sánchez
    sends 10,000 troops" has no statement by Sánchez with the text "Spain floods", and "Spain
    floods: 89 still missing" no statement by Spain. The CLAUSE side needs three words or a quote.
    A speaker's name before the colon is usually a place ("Lebanon: satellite imagery reveals
    ..."): it speaks there only when the clause quotes it.
    """
    out: list[Attribution] = []
    for m in ments:  # ACTOR 'QUOTE' PREPOSITION ...: "Biden 'deeply concerned' about leak of ..."
        q = _QUOTED_TAG.match(sent, m.end)
        if q and _name_tag(sent, 0, m.end, m):
            out.append(Attribution(m.actor, _text(sent, sent[q.start() :]), "headline", m.person, m.end,
                                   "headline: ACTOR 'QUOTE' about ..."))
            break
    if ":" not in sent:
        return out
    head, _, tail = sent.rpartition(":")
    tail_ms = [m for m in ments if m.start > len(head)]
    if tail_ms and _name_tag(sent, len(head) + 1, len(sent), tail_ms[0]) and _clause_like(head):
        out.append(Attribution(tail_ms[0].actor, _text(sent, head), "headline", tail_ms[0].person, len(head),
                               "headline: CLAUSE: ACTOR"))
    first, _, rest = sent.partition(":")
    first_ms = [m for m in ments if m.end <= len(first)]
    speaker = bool(first_ms) and first_ms[-1].actor.startswith("other:")
    if first_ms and _name_tag(sent, 0, len(first), first_ms[-1]) and _clause_like(rest) \
            and (not speaker or _QUOTES.search(rest)):
        out.append(Attribution(first_ms[-1].actor, _text(sent, rest), "headline", first_ms[-1].person, len(first),
                               "headline: ACTOR: CLAUSE"))
    return out


_QUOTED_TAG = re.compile(
    r"\s*[‘“\"']([^‘’“”\"]{2,40}?)[’”\"'](?!\w)\s+(?:about|by|over|at|on|for|to|with|after|as|amid|that|of)\b", re.I)

# after a name in a tag: "Kremlin spokesman", "NATO chief", "Zelensky's office", "Ukraine officials"
_ROLE_WORDS = (
    r"chief|head|boss|spokes(?:man|woman|person|people)|officials?|minister|ministry|president|premier|PM|"
    r"envoy|leader|commander|general|sources?|office|government|military|army|police|intelligence|agency|"
    r"adviser|advisor|aides?|ambassador|diplomats?|authorities|chair(?:man|woman)?|secretary|lawmakers?|"
    r"senator|MPs?"
)
_TAG_AFTER = re.compile(rf"^(?:['’]s)?(?:\s+(?:{_ROLE_WORDS})\b)*[\s\W]*$", re.I)


def _name_tag(sent: str, start: int, end: int, m: Mention) -> bool:
    """`sent[start:end]` is a name tag for mention `m` (see `_headline`), with no reporting verb
    other than a closing "says"."""
    before, after = sent[start : m.start], sent[m.end : end]
    return (len(before.split()) <= 4 and _TAG_AFTER.match(after) is not None
            and not _VERB.search(before) and not re.search(r"\d", before))


def _clause_like(text: str) -> bool:
    return len(text.split()) >= 3 or bool(_QUOTES.search(text))


def _text(sent: str, clause: str) -> str:
    """The reported clause (quotes kept); the quoted words when the clause is only an attribution.

    A title's leading quote ("'This is our business': Putin responds to ...") is the statement.
    """
    lead = re.match(r"^\s*[‘“\"']([^’”\"']{3,})[’”\"']\s*:", sent)
    if lead:
        return lead.group(1).strip()
    clause = _balance(clause.strip(" ,;:.—–-"))
    if len(clause.split()) >= 3:
        return clause
    quotes = [next(g for g in q.groups() if g).strip(" ,.") for q in _QUOTES.finditer(sent)]
    if quotes:
        return " … ".join(quotes)
    return clause or sent


def _balance(text: str) -> str:
    """Drop a quote mark left open or closed at either end by the clause cut."""
    pairs = (("“", "”"), ("‘", "’"), ('"', '"'), ("'", "'"))
    for o, c in pairs:
        if text.startswith(o) and (text.count(c) if o != c else text.count(o)) < (1 if o != c else 2):
            text = text[1:].lstrip()
        if text.endswith(c) and (text.count(o) if o != c else text.count(c)) < (1 if o != c else 2):
            text = text[:-1].rstrip()
    return text.strip(" ,;:.")


def claim_and_stance(sent: str, verb: str, story: Story) -> tuple[str | None, str | None]:
    """The claim a statement touches and its stance (see the module docstring).

    A denial word of any claim ("misinformation") denies: the claim denied is the touched claim
    that lists denial terms, else the first claim whose denial terms are in the sentence.
    """
    low = sent.lower()
    ranked: list[tuple[int, int, int]] = []
    for i, c in enumerate(story.claims):
        hits = [t for t in c.terms if _has(sent, t)] if _has_any(sent, c.terms) else []
        if hits:
            ranked.append((len(hits), max(len(t) for t in hits), -i))
    touched = [story.claims[-r[2]] for r in sorted(ranked, reverse=True)]
    v = verb.lower()
    negated = bool(re.search(r"\b(?:not|n['’]t|never)\b", v))
    denial_words = [c for c in story.claims if _has_any(sent, c.denial_terms)]
    if denial_words or (_DENY.search(v) and not negated):
        claim = next((c for c in touched if c.denial_terms), None) or (denial_words[0] if denial_words else None)
        claim = claim or (touched[0] if touched else None)
        return (claim.id, "denies") if claim else (None, None)
    if not touched:
        return None, None
    confirms = (_CONFIRM.search(v) or _CONFIRM.search(low)) and not negated
    return touched[0].id, "confirms" if confirms else None


def _on_story(sent: str, story: Story) -> bool:
    """The sentence names the story: a required concept, a claim or a figure subject."""
    return _on_story_re(story).search(sent) is not None


_ON_STORY_CACHE: dict[int, tuple[Story, re.Pattern[str]]] = {}


def _on_story_re(story: Story) -> re.Pattern[str]:
    """One pattern for every term of `_on_story`, cached per story object (kept, so its id stays its own)."""
    cached = _ON_STORY_CACHE.get(id(story))
    if cached is None or cached[0] is not story:
        if len(_ON_STORY_CACHE) >= 64:  # stories of past config reloads: let them go (as match.compile_story)
            _ON_STORY_CACHE.clear()
        required = [t for c in story.concepts if c.required for t in c.terms]
        terms = [*(required or story.topic), *(t for c in story.claims for t in c.terms)]
        terms += [s for k in story.figures for s in k.subjects]
        cached = _ON_STORY_CACHE[id(story)] = (story, _any_re(terms))
    return cached[1]


# ---------------------------------------------------------------- the stage


def extract(item: Item, match: Match, story: Story, *, every_sentence: bool = False,
            misses: list[tuple[str, str, str]] | None = None) -> tuple[list[Statement], list[Figure]]:
    """Statements by tracked actors and figures about the story, title first, each once.

    `every_sentence`: statements from sentences that do not touch the story too (drafting a
    story from an article, whose every sentence is about it). `misses`, when given, gets
    (sentence, number, why no figure) for each number left out (`monitor explain`)."""
    statements: list[Statement] = []
    figures: dict[tuple[str, int, str | None], Figure] = {}
    title_on_story = _on_story(item.title, story)
    subjects = [t for k in story.figures for t in k.subjects]
    others = [t for k in story.figures for t in k.other_subjects]
    title_subject = _has_any(item.title, subjects)
    earlier: list[str] = []
    for field, text in (("title", item.title), ("text", item.text)):
        ments = mentions(text, field, match, story)
        back = anaphors(text, story, ments, earlier)
        earlier += [m.actor for m in ments]
        ments = sorted([*ments, *back], key=lambda m: m.start)
        spoken = speaker_mentions(text, story, ments) if story.speakers else []
        for s in sentences(text, field):
            local, local_sp = _local(ments, s), _local(spoken, s)
            atts = _attribute_with_speakers(s.text, local, local_sp, field == "title")
            on_story = every_sentence or (field == "text" and title_on_story) or _on_story(s.text, story)
            if on_story:
                statements += _statements(s.text, atts, story, statements)
            source = atts[0].actor if atts else None
            said = {a.actor for a in atts}
            # a mention's nation names a speaker, not the counted ("South Korea's spy agency said"),
            # unless the mention is one of the figures' subjects ("North Korea's leader sent ...")
            skip = tuple((m.start, m.end) for m in (*local, *(m for m in local_sp if m.actor in said))
                         if not (_has_any(s.text[m.start:m.end], subjects)
                                 and not _has_any(s.text[m.start:m.end], others)))
            left: list[tuple[str, str]] | None = [] if misses is not None else None
            for f in figures_in(s.text, story, source, title_subject, skip, left):
                key = (f.kind, f.value, f.measure)
                if key not in figures or _better_source(f.source, figures[key].source):
                    figures[key] = f
            if misses is not None and left:
                misses += [(s.text, number, why) for number, why in left]
    return _speaking_for(statements, list(figures.values()), story)


def _better_source(new: str | None, old: str | None) -> bool:
    """A source beats none, and a tracked actor beats a speaker ("Seoul says" vs the NIS)."""
    return new is not None and (old is None or (old.startswith("other:") and not new.startswith("other:")))


def _speaking_for(statements: list[Statement], figures: list[Figure],
                  story: Story) -> tuple[list[Statement], list[Figure]]:
    """A speaker whose own actor speaks in the item is that actor ("Seoul says" over the NIS's
    words): its statements go, and the actor becomes the source of its figures."""
    said = [st.actor for st in statements]
    member = {f"other:{sp.name}": next((a for a in said if a in sp.actors), None) for sp in story.speakers}
    member = {k: v for k, v in member.items() if v is not None}
    if not member:
        return statements, figures
    kept = [st for st in statements if st.actor not in member]
    figs = [replace(f, source=member[f.source]) if f.source in member else f for f in figures]
    return kept, figs


def _local(ments: list[Mention], s: Sentence) -> list[Mention]:
    """The mentions inside sentence `s`, with offsets in the sentence."""
    return [Mention(m.actor, m.start - s.start, m.end - s.start, m.person)
            for m in ments if s.start <= m.start and m.end <= s.start + len(s.text)]


def _attribute_with_speakers(sent: str, actors: list[Mention], speakers: list[Mention],
                             is_title: bool) -> list[Attribution]:
    """Tracked actors first; speakers only when no tracked actor speaks in the sentence."""
    atts = attribute(sent, actors, is_title)
    if atts or not speakers:
        return atts
    atts = attribute(sent, sorted([*actors, *speakers], key=lambda m: m.start), is_title)
    tracked = [a for a in atts if not a.actor.startswith("other:")]
    return tracked or atts


def _statements(sent: str, atts: list[Attribution], story: Story, done: list[Statement]) -> list[Statement]:
    out: list[Statement] = []
    for a in atts:
        if any(d.actor == a.actor and d.sentence == sent for d in done):
            continue
        claim, stance = claim_and_stance(sent, a.verb, story)
        who = "speaker" if a.actor.startswith("other:") else "actor"
        out.append(Statement(actor=a.actor, text=a.text, sentence=sent, claim=claim, stance=stance,
                             why=f"{a.rule} ({who})" if a.rule else ""))
    return out
