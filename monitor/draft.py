"""Pure: an article -> a commented draft story file (`monitor story new ID [--from ARTICLE.txt]`).

A story begins, as this project's own did, with one article about it. The draft reads it with
plain rules and with the extractor itself; nothing here knows any story.

    names        runs of capitalised words ("Defence Minister Kim Yong-hyun", "Russian Foreign
                 Ministry"), without the opening words of a sentence that the article also writes
                 in lower case ("During", "Reports") or that are function words ("The", "He")
    actors       a run holding a person's name: the role words and nationality adjectives before
                 the name are its title ("Defence Minister Kim Yong-hyun" -> "Kim Yong-hyun",
                 aliases "Defence Minister Kim Yong-hyun" and "Defence Minister"); an appositive
                 title ("Dmitry Peskov, the Russian presidential spokesman,") is an alias too, and
                 so is a part of the name the article uses alone ("Kirby explained"). A run with an
                 institution word ("Ministry", "Agency", "Council") is an institution, named with
                 its owner's possessive where the article gives one ("Iran's Foreign Ministry"); a single
                 word that reports something ("The Kremlin dismissed ...") is one too
    speakers     a place (named after in/to/from/..., or the country of a nationality adjective
                 in the article) or a dotted abbreviation ("U.S.") that reports something: a
                 [[speakers]] entry ("U.S. government"), not an actor; so is a body without a
                 name of its own that reports something ("Regional authorities said ...")
    figure kinds a number followed by [capitalised words] and a noun ("1,500 North Korean
                 soldiers"): the words are the kind's subjects, the noun its noun; a number whose
                 own predicate counts an event ("95 people killed", "89 missing", "floods kill 95")
                 gets a kind per predicate (killed, injured, missing, displaced, detained,
                 captured), with that predicate's verbs, so two kinds can count the same noun
    known        the statements and figures the extractor finds in the article with the draft
                 story (every sentence of the article is about the story)
    concepts     the figure subjects and their countries (required), the counted nouns, and the
                 other places; claims: "NOUN to/in PLACE" phrases of the article, and a denial
                 claim with common denial words

The draft is a start for a person to edit: every section says what to check. It validates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .extract import extract, sentences
from .figures import numbers
from .models import Item, Match
from .story import Story

_STOP = frozenset(
    "the a an this that these those he she it they we i you his her its their our my your if but and or on "
    "in at by for from to with as during after before while when where who what why how there here "
    "mr mrs ms dr according however meanwhile also then yet still reports report".split()
)
_MONTHS_DAYS = frozenset(
    "january february march april may june july august september october november december jan feb mar apr "
    "jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday".split()
)
_ROLE = frozenset(
    "president presidential prime minister ministers defence defense foreign interior secretary spokesman "
    "spokeswoman spokesperson general gen chief leader ambassador commander director chancellor senator "
    "governor mayor king queen pope sheikh deputy vice adviser advisor coordinator envoy premier chairman "
    "chair head lieutenant colonel major captain admiral marshal officer official press strategic "
    "communications national security supreme state lawmaker rep sen gov".split()
)
_INSTITUTION = frozenset(
    "ministry council agency service committee department office government army forces police parliament "
    "assembly court union organization organisation nations party command kremlin pentagon house "
    "intelligence bank commission corps directorate authority authorities guard navy military "
    "administration embassy cabinet senate congress".split()
)
# a body that speaks without a name of its own: "Regional authorities said", "the Spanish government
# said", "rescuers say" (a speaker of the draft when the extractor finds it speaking in the article)
_BODY_QUALIFIERS = frozenset("regional local state federal city provincial municipal emergency health military "
                             "government".split())  # "Regional" opening a sentence is no actor's name
_COLLECTIVE = re.compile(
    r"(?:^|(?<=[.!?]\s)|(?<=\bthe\s)|(?<=\bThe\s))((?:[A-Z][\w’'-]+\s+)?(?:(?i:"
    + "|".join(sorted(_BODY_QUALIFIERS)) +
    r")\s+)?(?:authorities|officials|government|emergency\s+services|rescuers|police))\b")
_DIRECTION = frozenset("north south east west northern southern eastern western".split())
_PLACE_PREPS = frozenset("in into to from near at across inside towards toward within outside".split())
_PARTICLES = frozenset("al el bin ibn de da di du van von la le del der".split())
_HYPHEN_PARTICLE = re.compile(r"(?:al|el|ad|ar|as|ash|at|az|bin|ibn|ben|abu)-[A-Z]")
# count predicates of general news: each its own kind, with the forms news uses
_PREDICATES: dict[str, tuple[list[str], list[str], str]] = {  # group: (verbs, heads, series)
    "killed": (["killed", "kill", "kills", "killing", "died", "dead", "deaths", "death", "fatalities"],
               ["death toll", "toll"], "cumulative"),
    "injured": (["injured", "wounded", "hurt", "injuries"], [], "cumulative"),
    "missing": (["missing", "unaccounted for"], [], "level"),
    "displaced": (["displaced", "evacuated", "homeless", "fled"], [], "level"),
    "detained": (["arrested", "detained", "held"], [], "level"),
    "captured": (["captured", "taken prisoner", "prisoners"], [], "level"),
}
_PREDICATE_OF = {v: g for g, (verbs, _, _) in _PREDICATES.items() for v in verbs}
# a head of a count earlier in the clause: "The death toll from the quake rose to 2,012"
_HEAD_BEFORE = re.compile(
    r"\b(" + "|".join(sorted({h for _, heads, _ in _PREDICATES.values() for h in heads}, key=len, reverse=True))
    + r")\b[^.;:,\d]{0,80}$", re.I)
_HEAD_OF = {h: g for g, (_, heads, _) in _PREDICATES.items() for h in heads}
_SUFFIX = re.compile(r"(?:[IVX]{1,4}|Jr\.?|Sr\.?)")  # regnal numbers and suffixes: no surname
_AUX = r"(?:are|were|is|was|have\s+been|has\s+been|had\s+been|been|still|remain|remained|reportedly|now|also)"
# endings of English adjectives, seldom of a topic noun ("possible", "dangerous", "useless")
_ADJECTIVE_END = re.compile(r"(?:[ai]ble|ous|ful|less)$")
_NOT_NOUNS = frozenset(
    "of in on at to from for and or but the a an are were is was have has had been be by with as that which "
    "who percent per cent years year months month days day weeks week hours hour km miles kilometres times "
    "more less than over under about around".split()
)


@dataclass
class _Name:
    text: str  # the name as written, without its title
    kind: str  # "person" | "institution" | "place" | "single"
    titles: set[str] = field(default_factory=set)
    seen: int = 0


# ---------------------------------------------------------------- names


def _tokens(sent: str) -> list[tuple[str, bool]]:
    """(word, ends a run): words without surrounding punctuation; a comma, quote or possessive ends a run."""
    out: list[tuple[str, bool]] = []
    for raw in sent.split():
        word = re.sub(r"^[“”\"‘’'(\[]+|[“”\"‘’')\],.;:!?]+$", "", raw) if not re.fullmatch(r"(?:[A-Z]\.){2,}\W*", raw) else raw.rstrip(",;:!?")
        ends = bool(re.search(r"[,.;:!?”\"’')\]]$", raw)) and not re.fullmatch(r"(?:[A-Z]\.){2,}", word)
        possessive = re.sub(r"['’]s$", "", word)
        if possessive != word:
            word, ends = possessive, True
        word = word.rstrip(",.;:!?") if not re.fullmatch(r"(?:[A-Z]\.){2,}", word) else word
        out.append((word, ends or raw != raw.rstrip("“”\"‘’'")))
    return out


def name_runs(text: str) -> list[tuple[list[str], str]]:
    """Runs of capitalised words in `text`, each with the lower-cased word before it."""
    lower = {w for w in re.findall(r"\b[a-z][\w’'-]*", text)}
    runs: list[tuple[list[str], str]] = []
    for s in sentences(text):
        words = _tokens(s.text)
        run: list[str] = []
        before = ""
        for i, (w, ends) in enumerate(words):
            cap = bool(re.match(r"[A-Z]", w) or _HYPHEN_PARTICLE.match(w))  # "al-Sisi"
            particle = w.lower() in _PARTICLES and bool(run) and i + 1 < len(words) and words[i + 1][0][:1].isupper()
            # "Secretary of State", "Chief of Staff": "of" inside a title
            particle = particle or (w == "of" and bool(run) and _role(run[-1]) and not words[i - 1][1]
                                    and i + 1 < len(words) and words[i + 1][0][:1].isupper())
            if cap or particle:
                if not run:
                    before = words[i - 1][0].lower() if i else ""
                run.append(w)
            if run and (ends or not (cap or particle)):
                runs.append((run, before))
                run = []
        if run:
            runs.append((run, before))
    out = []
    for run, before in runs:
        while run and (run[0].lower() in _STOP or run[0].lower() in _MONTHS_DAYS
                       or (run[0].lower() in lower and run[0].lower() not in _ROLE | _DIRECTION | _INSTITUTION)):
            before = run[0].lower()
            run = run[1:]
        if run and not all(w.lower() in _MONTHS_DAYS for w in run):
            out.append((run, before))
    return out


def _adjective(word: str) -> bool:
    """A nationality adjective ("Korean", "Russian", "Lebanese", "Israeli", "British")."""
    return bool(re.search(r"(?:an|ese|ish|i)$", word)) and len(word) > 3 and word[0].isupper()


def _role(word: str) -> bool:
    return any(part in _ROLE for part in word.lower().split("-"))


def read_names(text: str) -> dict[str, _Name]:
    """Every name in the article, by its text, classified (see the module docstring)."""
    names: dict[str, _Name] = {}
    adjectives: dict[str, None] = {}  # in the article's order: the draft is the same every run
    for run, before in name_runs(text):
        low = [w.lower() for w in run]
        if any(w in _INSTITUTION for w in low) and not (len(run) == 1 and _adjective(run[0])):
            name = " ".join(run)
            names.setdefault(name, _Name(name, "institution")).seen += 1
            continue
        # "We’re" is no name; "Caliber.Az" is an outlet, not a speaker
        run = [w for w in run if not re.search(r"['’](?:re|ll|ve|d|m|t)$|\w\.[A-Za-z]{2,}$", w)]
        if not run:
            continue
        if all(_adjective(w) or w.lower() in _DIRECTION for w in run):  # "North Korean"
            adjectives[" ".join(run)] = None
            continue
        # a title: role words ("Secretary-General" too) and adjectives before the name, which ends the run
        # (an adjective leaves a name of two words: "Israeli Benjamin Netanyahu", but "Juan Perez", "Ali Khamenei")
        cut = max((i for i, w in enumerate(run) if _role(w) or (_adjective(w) and i < len(run) - 2)), default=-1)
        while cut >= 0 and len(run) > cut + 3 and run[cut + 1] == "of":
            cut += 2  # "Chief of Staff Herzi Halevi", "President of Kenya William Ruto"
        title, rest = run[: cut + 1], run[cut + 1 :]
        if not rest:
            continue
        name = " ".join(rest)
        if re.fullmatch(r"(?:[A-Z]\.){2,}|[A-Z]{2}", name) or (before in _PLACE_PREPS and not title) \
                or any(w.lower() in _DIRECTION for w in rest):  # "North Korea", "Far East"
            kind = "place"
        elif len(rest) >= 2 or any(_role(w) for w in title):
            kind = "person"
        else:
            kind = "single"
        entry = names.setdefault(name, _Name(name, kind))
        entry.seen += 1
        if kind == "place" or entry.kind == "place":
            entry.kind = "place"
        elif kind == "person":
            entry.kind = "person"
        if any(_role(w) for w in title):
            entry.titles.add(" ".join(title))
    for adj in adjectives:  # "North Korean" -> "North Korea": its country, if the article names it
        base = adj.split()[-1]
        for n in names.values():
            last = n.text.split()[-1]
            if n.kind != "person" and len(last) >= 4 and base.startswith(last[:-1]) and base != last:
                n.kind = "place"
        names.setdefault(adj, _Name(adj, "adjective")).seen += 1
    return names


# ---------------------------------------------------------------- figure kinds


@dataclass
class _Kind:
    id: str
    subjects: list[str]
    nouns: list[str]
    predicate: str | None
    example: str


def read_kinds(text: str) -> list[_Kind]:
    """Figure kinds from the article's numbers: subject words and noun after each number, and its
    own count predicate (see the module docstring)."""
    kinds: dict[tuple[str, str | None, str], _Kind] = {}
    for s in sentences(text):
        for n in numbers(s.text):
            after = s.text[n.end :]
            m = re.match(r"\s+((?:[A-Z][\w’'.-]*\s+){0,3})([a-z][a-z-]+)", after)
            if m and m.group(2) in _NOT_NOUNS:
                m = None
            # a people named by nationality is counted like "people": "42,000 Peruvians have been killed"
            m = m or re.match(r"\s+()([A-Z][a-z]+(?:ans|is|ese))\b(?!\s+[A-Z])", after)
            subject = m.group(1).strip() if m else ""
            noun = m.group(2) if m else ""
            rest = after[m.end():] if m else after
            pred = re.match(rf"\s+(?:{_AUX}\s+)*((?:un)?[a-z]+(?:\s+for|\s+prisoner)?)", rest)
            group = _PREDICATE_OF.get(pred.group(1)) if pred else None
            if group is None and noun in _PREDICATE_OF:  # "89 missing", "158 deaths"
                group, noun = _PREDICATE_OF[noun], ""
            before = re.search(r"\b([a-z]+)\s+(?:(?:at\s+least|more\s+than|about|some|nearly|over|another)\s+)?$",
                               s.text[: n.start])
            if group is None and before and before.group(1) in _PREDICATE_OF:
                group = _PREDICATE_OF[before.group(1)]  # "floods killed at least 95"
            head = _HEAD_BEFORE.search(s.text[: n.start]) if group is None and not noun else None
            if head:
                group = _HEAD_OF[head.group(1).lower()]  # "the death toll ... rose to 2,012"
            if not noun and group is None:
                continue
            own = noun if group and noun not in ("", "people", "persons") and not noun[:1].isupper() else ""  # "five soldiers were killed"
            key = (subject, group, own)
            slug = _slug(f"{subject} {own} {group or noun}")
            kind = kinds.setdefault(key, _Kind(slug or "figure", [subject] if subject else [], [], group, s.text))
            if noun and noun not in kind.nouns:
                kind.nouns.append(noun)
    out = list(kinds.values())
    for k in out:  # singular and plural forms of each noun
        k.nouns += [w for n in list(k.nouns) if n != "people" and not re.search(r"(?:ren|men|ple)$", n)  # children, women
                    for w in (n[:-1] if n.endswith("s") else n + "s",) if w not in k.nouns]
        if k.predicate and not k.nouns:
            k.nouns = ["people"]
    ids = [k.id for k in out]
    for i, k in enumerate(out):
        if ids.count(k.id) > 1:
            k.id = f"{k.id}_{i}"
    return out


# ---------------------------------------------------------------- the draft


def _slug(text: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "_".join(re.findall(r"[a-z0-9]+", plain.lower())) or "x"


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def draft(story_id: str, article: str | None) -> str:
    """The story file's text: a commented template, or a draft from the article."""
    if not article or not article.strip():
        return _template(story_id)
    lines = [ln.strip() for ln in article.strip().splitlines() if ln.strip()]
    title, body = lines[0], " ".join(lines[1:])
    text = title + ". " + body if not re.search(r"[.!?]$", title) else title + " " + body
    names = read_names(text)
    kinds = read_kinds(text)
    for n in names.values():  # "1,200 Peruvians": a counted people, not a speaker
        if n.kind == "single" and any(n.text in k.nouns for k in kinds):
            n.kind = "counted"
    persons = {n.text: n for n in names.values() if n.kind == "person"}
    # a part of a person's name used alone ("Kirby") is that person's alias
    parts: dict[str, set[str]] = {}
    for n in names.values():
        if n.kind == "single":
            owners = [p for p in persons if n.text in p.split()]
            if len(owners) == 1:
                parts.setdefault(owners[0], set()).add(n.text)
                n.kind = "part"
    actors = [a for a in _actors(text, persons, parts, names) if a["name"].lower() not in _BODY_QUALIFIERS]
    speakers: list[dict] = []
    for n in names.values():  # one speaker per place, "U.S." and "US" one
        if n.kind == "place" and re.fullmatch(r"(?:[A-Z]\.){2,}|[A-Z][\w’'-]+", n.text):
            same = next((sp for sp in speakers if sp["key"] == n.text.replace(".", "")), None)
            if same:
                same["aliases"].append(n.text)
            else:
                speakers.append({"name": f"{n.text} government", "aliases": [n.text], "key": n.text.replace(".", "")})
    for phrase in dict.fromkeys(m.group(1) for m in _COLLECTIVE.finditer(text)):  # "Regional authorities said"
        name = phrase[0].upper() + phrase[1:]
        if not any(name.lower() == a.lower() for sp in speakers for a in sp["aliases"]):
            speakers.append({"name": name, "aliases": sorted({name, phrase}), "key": name})
    speakers = [{"name": sp["name"], "aliases": sp["aliases"]} for sp in speakers]
    provisional = _story(story_id, title, actors, speakers, kinds, [], [])
    item = Item(feed_url="", id="draft", title=title, text=body, link=None, published=None)
    statements, figures = extract(item, Match(story_id, True, 100, 75), provisional, every_sentence=True)
    spoke = {st.actor for st in statements}
    actors = [a for a in actors if a["id"] in spoke or (a["kind"] == "person" and persons[a["name"]].titles)]
    speakers = [sp for sp in speakers if f"other:{sp['name']}" in spoke]
    said = {a for sp in speakers for a in sp["aliases"]}
    places = [n.text for n in names.values() if n.kind == "place" and n.text not in said]
    adjectives = [n.text for n in names.values() if n.kind == "adjective"]
    subjects = sorted({s for k in kinds for s in k.subjects})
    bases = [p for p in places if any(s.split()[-1].startswith(p.split()[-1][:-1]) and len(p) >= 4 for s in subjects)]
    nouns = sorted({n for k in kinds for n in k.nouns if n != "people"} | _topic_words(text))
    claims = _claim_terms(text, nouns, places)
    subject = subjects + [b for b in bases if b not in subjects]
    if not subject:  # no figure says whose: the names of the title
        subject = [n for n in [*places, *adjectives, *said] if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", title)]
    return _render(story_id, title, actors, speakers, kinds, statements, figures, subject, nouns,
                   [p for p in places if p not in subject], adjectives, claims)


def _topic_words(text: str) -> set[str]:
    """Lower-case words of the title the article uses again ("floods"): what the story is about."""
    title = text.split(". ", 1)[0]
    words = {w for w in re.findall(r"\b[a-z][a-z-]{3,}\b", title)
             if w not in _STOP and w not in _NOT_NOUNS and not _ADJECTIVE_END.search(w)}
    return {w for w in words if len(re.findall(rf"\b{re.escape(w)}\b", text)) >= 2}


def _actors(text: str, persons: dict[str, _Name], parts: dict[str, set[str]], names: dict[str, _Name]) -> list[dict]:
    out: list[dict] = []
    for name, n in persons.items():
        # a title alone is an alias only when it says whose office it is ("South Korean President")
        aliases = sorted(t for t in n.titles if any(_adjective(w) or w.isupper() for w in t.split()))
        aliases += [f"{t} {name}" for t in sorted(n.titles)]
        aliases += sorted(parts.get(name, ()))
        words = name.split()
        if len(words) >= 2 and _SUFFIX.fullmatch(words[-1]):  # "Mohammed VI", "Martin Luther King Jr."
            words = words[:-1]
        surname = {words[-1]} if 2 <= len(words) <= 3 and "-" not in words[-1] else set()
        aliases += sorted(surname - set(aliases))  # news names people by surname; ambiguous below
        for m in re.finditer(rf"{re.escape(name)},\s+the\s+([^,.;]{{3,80}}?)(?:,|\.|;)", text):
            title = m.group(1).strip()
            if any(w.lower() in _ROLE for w in title.split()):
                aliases.append(title)
        last = words[-1]
        out.append({"id": _slug(name if "-" in last or len(words) == 1 else last), "name": name,
                    "aliases": list(dict.fromkeys(a for a in aliases if a != name)), "kind": "person",
                    "ambiguous": sorted(parts.get(name, set()) | surname)})
    for n in names.values():
        if n.kind in ("institution", "single"):
            # "Iran's Foreign Ministry": whose it is belongs to the name ("Foreign Ministry" alone is any country's)
            owner = re.search(rf"\b[A-Z][\w-]+['’]s\s+{re.escape(n.text)}\b", text) if n.kind == "institution" else None
            name = owner.group(0) if owner else n.text
            out.append({"id": _slug(re.sub(r"['’]s\b", "", name)), "name": name, "aliases": [], "kind": "institution",
                        "ambiguous": []})
    ids = [a["id"] for a in out]
    for i, a in enumerate(out):
        if ids.count(a["id"]) > 1 and ids.index(a["id"]) != i:
            a["id"] = f"{a['id']}_{i}"
    return out


def _claim_terms(text: str, nouns: list[str], places: list[str]) -> list[str]:
    if not nouns or not places:
        return []
    pat = rf"\b(?:{'|'.join(map(re.escape, nouns))})\s+(?:to|in|into|inside)\s+(?:the\s+)?(?:{'|'.join(map(re.escape, places))})\b"
    return list(dict.fromkeys(m.group(0) for m in re.finditer(pat, text)))


def _story(story_id: str, title: str, actors: list[dict], speakers: list[dict], kinds: list[_Kind],
           claims: list[dict], concepts: list[dict]) -> Story:
    return Story.model_validate({
        "id": story_id, "title": title, "actors": actors, "speakers": speakers, "claims": claims,
        "concepts": concepts, "figures": [_kind_dict(k) for k in kinds],
    })


def _kind_dict(k: _Kind) -> dict:
    d: dict = {"id": k.id, "description": k.example[:100], "nouns": k.nouns, "subjects": k.subjects}
    if k.predicate:
        verbs, heads, series = _PREDICATES[k.predicate]
        d |= {"verbs": verbs, "heads": heads, "series": series}
    return d


def _render(story_id: str, title: str, actors: list[dict], speakers: list[dict], kinds: list[_Kind],
            statements: list, figures: list, subjects: list[str], nouns: list[str], places: list[str],
            adjectives: list[str], claim_terms: list[str]) -> str:
    out = [
        f"# Drafted by `monitor story new {story_id} --from ...` from the article below. A draft: read",
        "# every section, keep what is right, fix what is not. Then:",
        "#     monitor validate                       (every problem at once)",
        "#     monitor explain --text \"...\"           (what matches, which statements and figures)",
        "#     monitor backtest ITEMS.jsonl           (on archived items)",
        "# The README's story-file reference lists every key.",
        "",
        f"id = {_q(story_id)}",
        f"title = {_q(title)}",
        f"description = {_q(title)}",
        "",
        "# ---------------------------------------------------------------- concepts",
        "# What the story is about. An item needs `matching.threshold` (75) points: the required concept",
        "# in its best sentence (50) and one of the others there (25).",
        "# Add the words news uses (other spellings, scripts, synonyms).",
        "",
    ]
    concepts = [("subject", True, 50, subjects or adjectives[:3] or [title.split()[0]]),
                ("what", False, 25, nouns), ("where", False, 25, places or adjectives[:5])]
    for cid, required, weight, terms in concepts:
        if not terms:
            continue
        out += ["[[concepts]]", f"id = {_q(cid)}"] + (["required = true"] if required else []) + [
            f"weight = {weight}", f"terms = {_list(terms)}", ""]
    out += [
        "# ---------------------------------------------------------------- claims",
        "# What is being said about the story; `terms` are phrases that signal it, `denial_terms` words",
        "# that, near a claim, deny it. Statements say which claim they touch and with which stance.",
        "",
        "[[claims]]", 'id = "main"', f"description = {_q(title)}",
        f"terms = {_list(claim_terms)}", 'denial_terms = ["misinformation", "rumours", "rumors", "fake news", "no evidence", "nonsense"]', "",
        "# ---------------------------------------------------------------- actors",
        "# People and institutions whose statements you want. `aliases`: titles and other spellings;",
        "# `ambiguous`: aliases that also mean someone else (a bare surname): they count only where the",
        "# required concept is; `lookalikes`: other names around an alias (\"Jill Biden\" for \"Biden\").",
        "# Titles name whoever holds the office: check them.",
        "",
    ]
    for a in actors:
        out += ["[[actors]]", f"id = {_q(a['id'])}", f"name = {_q(a['name'])}"]
        if a["kind"] != "person":
            out.append('kind = "institution"')
        out.append(f"aliases = {_list(a['aliases'])}")
        if a["ambiguous"]:
            out.append(f"ambiguous = {_list(a['ambiguous'])}")
        out.append("")
    out += [
        "# ---------------------------------------------------------------- speakers",
        "# Governments and bodies quoted as speakers (\"Seoul says\"), too common to be actors: they never",
        "# make an item relevant. `actors`: the actor ids who speak for one (its president, its agency).",
        "",
    ]
    for sp in speakers:
        out += ["[[speakers]]", f"name = {_q(sp['name'])}", f"aliases = {_list(sp['aliases'])}", ""]
    out += [
        "# ---------------------------------------------------------------- figures",
        "# One kind per thing counted. A number is of a kind when its own predicate is one of `verbs`",
        "# (\"95 people killed\"), a `heads` phrase leads to it (\"death toll rises to 158\"), or, for a kind",
        "# without verbs, one of `nouns` follows it (\"10,000 troops\"); `subjects`: whose number it is;",
        "# `series`: level (can go either way), cumulative (only rises: a toll), per_event (one count",
        "# per event). Check the nouns, add `other_subjects` for numbers about others"
        + (f" (the article also names {', '.join(adjectives[:6])})." if adjectives else "."),
        "",
    ]
    for k in kinds:
        d = _kind_dict(k)
        out += ["[[figures]]", f"id = {_q(k.id)}", f"label = {_q(k.id.replace('_', ' '))}",
                f"description = {_q('e.g. ' + k.example[:120])}", f"nouns = {_list(d['nouns'])}",
                f"subjects = {_list(d['subjects'])}"]
        if "verbs" in d:
            out += [f"verbs = {_list(d['verbs'])}", f"heads = {_list(d['heads'])}", f"series = {_q(d['series'])}"]
        out.append("")
    out += [
        "# ---------------------------------------------------------------- known",
        "# What the article already said: the same again is not an alert. A known statement with a",
        "# claim and stance covers restatements for a few days from its `date` (YYYY-MM-DD; without",
        "# one, from when tracking begins). Statements by a speaker: actor = \"other:NAME\".",
        "",
        "[known]",
        "figures = [",
    ]
    for f in figures:
        parts = [f"kind = {_q(f.kind)}", f"value = {f.value}"]
        if f.qualifier and f.qualifier != "exact":
            parts.append(f"qualifier = {_q(f.qualifier)}")
        if f.measure:
            parts.append(f"measure = {_q(f.measure)}")
        if f.source:
            parts.append(f"source = {_q(f.source)}")
        out.append("  { " + ", ".join(parts) + " },")
    out += ["]", "statements = ["]
    seen: set[tuple[str, str]] = set()
    for st in statements:
        if (st.actor, st.text) in seen:
            continue
        seen.add((st.actor, st.text))
        parts = [f"actor = {_q(st.actor)}", f"text = {_q(st.text)}"]
        if st.claim:
            parts.append(f"claim = {_q(st.claim)}")
        if st.stance:
            parts.append(f"stance = {_q(st.stance)}")
        out.append("  { " + ", ".join(parts) + " },")
    out += ["]", ""]
    return "\n".join(out)


def _template(story_id: str) -> str:
    words = re.findall(r"[A-Za-z]+", story_id)
    return f"""# A new story. Fill in each section (the README's story-file reference lists every key), then
#     monitor validate                       (every problem at once)
#     monitor explain --text "..."           (what matches, which statements and figures)
# Faster: start from an article about the story:  monitor story new {story_id} --from ARTICLE.txt

id = {_q(story_id)}
title = {_q(" ".join(words).capitalize() or story_id)}
description = ""

# What the story is about: an item needs `matching.threshold` (75) points from these.
[[concepts]]
id = "subject"
required = true
weight = 100
terms = {_list(words or [story_id])}

# What is being said about it (phrases), and words that deny it.
# [[claims]]
# id = "main"
# description = "What the story claims"
# terms = ["a phrase news uses"]
# denial_terms = ["misinformation", "no evidence"]

# People and institutions whose statements you want.
# [[actors]]
# id = "sanchez"
# name = "Pedro Sánchez"
# aliases = ["Sánchez", "Spanish Prime Minister"]
# ambiguous = []          # aliases that also mean someone else: they need the required concept

# Governments and bodies quoted as speakers ("Madrid says"), never actors.
# [[speakers]]
# name = "Spanish government"
# aliases = ["Spain", "Madrid"]

# Numbers to follow. Two kinds that count people, told apart by the number's own predicate:
# [[figures]]
# id = "deaths"
# description = "people killed"
# nouns = ["people"]
# verbs = ["killed", "kill", "kills", "died", "dead", "deaths"]
# heads = ["death toll", "toll"]
# series = "cumulative"
# [[figures]]
# id = "missing"
# description = "people missing"
# nouns = ["people"]
# verbs = ["missing"]

# What is already known: not alerted again.
# [known]
# figures = [{{ kind = "deaths", value = 95, qualifier = "at least" }}]
# statements = [{{ actor = "sanchez", text = "..." }}]
"""
