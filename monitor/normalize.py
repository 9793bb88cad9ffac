"""Pure text normalisation for matching: tokens with spans, folding, transliteration, keys.

Every field is cut into word tokens on the original text, so a token's span always points into
the text the user sees. Each token is then normalised on its own (and cached, news vocabulary
repeats):

    fold         NFKD, drop accents and other combining marks, casefold: "Zelenskyy’s" -> "zelenskyy"
    transliterate  Cyrillic (Russian, Ukrainian, Belarusian) and Hangul to Latin, so "Захарова"
                 -> "zakharova" and "윤석열" -> "yunseokyeol"; other scripts stay as they are
    possessive   a trailing 's / ’s is dropped: "Pyongyang's" -> "pyongyang"
    initialisms  "U.S." / "U.K." are one token: "us", "uk"; "N. Korea" is "n korea" (words
                 joined by a full stop without a space are one token: "3.5", "U.S")
    hyphens      split words: "Jong-un" -> "jong un", "Biden-Harris" -> "biden harris"

`key()` is a looser spelling key for transliteration variants, compared after an exact match
fails: a plural "s" is dropped from words longer than four letters, then kh->h, zh->j, ph->f,
ck->k, eo->o, oo/ou->u, yy/iy/ij->y, w->v, and doubled letters are collapsed. So Zakharova and
Zaharova, Yoon and Yun, Zelenskyy and Zelensky, troops and troop share a key.

HTML: `Item` fields are plain text (parse.py strips HTML). A field that still holds markup
(`--text` pasted from a page) is converted with `parse.html_to_text` before matching, and spans
then refer to the converted text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .parse import html_to_text

# runs of letters/digits joined by inner apostrophes or full stops: "Korea's", "U.S" (of "U.S.")
_TOKEN = re.compile(r"\w+(?:['’.]\w+)*")
_SENTENCE_END = re.compile(r"[.!?…]['\"’”)\]]*\s")
_MARKUP = re.compile(r"<[a-zA-Z/!][^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
# a full stop after these (or after a single letter, "N. Korea") does not end a sentence
_ABBREV = frozenset({"_initial", "mr", "mrs", "ms", "dr", "gen", "sen", "rep", "gov", "lt", "col",
                     "sgt", "adm", "maj", "capt", "st", "no", "vs", "jr", "sr", "prof", "rev"})
_NON_WORD = re.compile(r"[\W_]+")

_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґў",
    "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya i yi ye g u".split(),
))
_CYRILLIC = {k: ("" if v == "_" else v) for k, v in _CYRILLIC.items()}

# Hangul syllables: initial, medial and final jamo in Revised Romanization.
_L = "g kk n d tt r m b pp s ss _ j jj ch k t p h".split()
_V = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_T = "_ k k k n n n t l k m p l l p l m p p t t ng t t k t p t".split()

_KEY_RULES = (("kh", "h"), ("zh", "j"), ("ph", "f"), ("ck", "k"), ("eo", "o"), ("oo", "u"),
              ("ou", "u"), ("yy", "y"), ("iy", "y"), ("ij", "y"), ("w", "v"))
_DOUBLE = re.compile(r"(.)\1+")
_WORDS: dict[str, str] = {}  # raw token -> normalised, a faster front for norm_word's cache
_WORDS_MAX = 200_000


class Tokens:
    """The words of one field: normalised forms, and (computed on first use, since most items
    have few hits) their spans in the original text and sentence numbers within the field."""

    __slots__ = ("text", "norms", "_spans", "_sentences")

    def __init__(self, text: str, norms: list[str]) -> None:
        self.text = text
        self.norms = norms
        self._spans: list[tuple[int, int]] | None = None
        self._sentences: list[int] | None = None

    def __len__(self) -> int:
        return len(self.norms)

    def span(self, i: int) -> tuple[int, int]:
        if self._spans is None:
            text = self.text
            self._spans = [(m.start(), m.end() + 1) if "." in m.group() and text[m.end():m.end() + 1] == "."
                           else m.span() for m in _TOKEN.finditer(text)]  # "U.S." keeps its last dot
        return self._spans[i]

    def sentence(self, i: int) -> int:
        if self._sentences is None:
            self._sentences = _sentences(self.text, self.norms, [self.span(j) for j in range(len(self.norms))])
        return self._sentences[i]


def _sentences(text: str, norms: list[str], spans: list[tuple[int, int]]) -> list[int]:
    """Sentence number of each token: a full stop, ! or ? and a space end a sentence, except
    after a single letter ("N. Korea"), an initialism ("U.S.") or a title abbreviation ("Gen.")."""
    bounds = [m.start() for m in _SENTENCE_END.finditer(text)]
    out: list[int] = []
    b, sentence, prev_end, prev = 0, 0, 0, ""
    for i, (start, end) in enumerate(spans):
        crossed = False
        while b < len(bounds) and bounds[b] < start:
            crossed = crossed or bounds[b] >= prev_end
            b += 1
        if crossed and i and prev not in _ABBREV:
            sentence += 1
        out.append(sentence)
        prev = norms[i] if end - start > 1 and "." not in text[start:end] else "_initial"
        prev_end = end
    return out


def _hangul(ch: str) -> str:
    code = ord(ch) - 0xAC00
    lead, rest = divmod(code, 588)
    vowel, tail = divmod(rest, 28)
    out = _L[lead] + _V[vowel] + _T[tail]
    return out.replace("_", "")


def _translit(text: str) -> str:
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        elif ch in _CYRILLIC:
            out.append(_CYRILLIC[ch])
        elif "\uac00" <= ch <= "\ud7a3":
            out.append(_hangul(ch))
        else:
            out.append(ch)
    return "".join(out)


@lru_cache(maxsize=65536)
def norm_word(word: str) -> str:
    """One token as matched: folded, transliterated, possessive and punctuation removed."""
    if word.isascii():
        folded = word.lower()
    else:
        # transliterate first: NFKD would split Hangul syllables into jamo and й into и + breve
        folded = unicodedata.normalize("NFKD", _translit(word.casefold()))
        folded = "".join(c for c in folded if not unicodedata.combining(c))
    if folded.endswith(("'s", "’s")):
        folded = folded[:-2]
    return folded if folded.isalnum() else _NON_WORD.sub("", folded)


@lru_cache(maxsize=65536)
def key(word: str) -> str:
    """The looser spelling key of a normalised word (see the module docstring)."""
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    for old, new in _KEY_RULES:
        if old in word:
            word = word.replace(old, new)
    return _DOUBLE.sub(r"\1", word) if _DOUBLE.search(word) else word


def plain(text: str) -> str:
    """The field as matched: markup converted to text if there is any, else unchanged."""
    if ("<" in text or "&" in text) and _MARKUP.search(text):
        return html_to_text(text)
    return text


def words(text: str) -> list[str]:
    """The raw words of plain text, as `tokens` cuts them."""
    return _TOKEN.findall(text)


def tokens(text: str, raw: list[str] | None = None) -> Tokens:
    """Cut plain text into normalised tokens (spans and sentences on demand); `raw` is
    `words(text)` when the caller has it already."""
    cache = _WORDS
    norms = []
    for word in _TOKEN.findall(text) if raw is None else raw:
        norm = cache.get(word)
        if norm is None:
            norm = norm_word(word)
            if len(cache) < _WORDS_MAX:
                cache[word] = norm
        norms.append(norm)
    return Tokens(text, norms)


def phrase(text: str) -> tuple[str, ...]:
    """A configured alias or term as a tuple of normalised tokens."""
    return tuple(tokens(text).norms)
