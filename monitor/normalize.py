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
    hyphens      split words: "Jong-un" -> "jong un", "Biden-Harris" -> "biden harris"; a soft
                 hyphen (U+00AD) or zero-width character inside a word does not: "Zakha\u00adrova"
                 -> "zakharova"

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
from bisect import bisect_right
from functools import lru_cache

from .parse import html_to_text

# runs of letters/digits joined by inner apostrophes or full stops: "Korea's", "U.S" (of "U.S.");
# possessive (a word is never given back), and on ASCII text (most fields) the same pattern
# with ASCII classes, which spares the regex engine a Unicode lookup per character
# invisible characters inside a word (a soft hyphen, "Zakha\u00adrova"; zero-width space, joiners,
# word joiner) keep it one word and are dropped from its normalised form
_TOKEN = re.compile(r"\w++(?:(?:['’.]|[\u00ad\u200b-\u200d\u2060]++)\w++)*+")
_ASCII_TOKEN = re.compile(r"\w++(?:['.]\w++)*+", re.ASCII)
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
_KEY_CHANGES = re.compile("|".join(old for old, _ in _KEY_RULES) + r"|(.)\1")  # a rule or a doubled letter
# the characters the key rules read or write, and the plural "s": every other character of a word
# is still in its key (a doubled letter is collapsed, never dropped), see `key_shape`
_KEY_LETTERS = frozenset("".join(old + new for old, new in _KEY_RULES) + "s")
_WORDS: dict[str, str] = {}  # raw token -> normalised (the first _WORDS_MAX words; norm_word's cache after)
_WORDS_MAX = 200_000


class Tokens:
    """The words of one field as cut from the text, and (computed on first use, since most items
    have few hits) their normalised forms, spans in the original text and sentence numbers."""

    __slots__ = ("text", "words", "_norms", "_spans", "_sentence_starts")

    def __init__(self, text: str, words: list[str]) -> None:
        self.text = text
        self.words = words
        self._norms: list[str] | None = None
        self._spans: list[tuple[int, int]] | None = None
        self._sentence_starts: list[int] | None = None

    def __len__(self) -> int:
        return len(self.words)

    @property
    def norms(self) -> list[str]:
        if self._norms is None:
            self._norms = norms(self.words)
        return self._norms

    def span(self, i: int) -> tuple[int, int]:
        if self._spans is None:
            text = self.text
            self._spans = [(m.start(), m.end() + 1) if "." in m.group() and text[m.end():m.end() + 1] == "."
                           else m.span() for m in _token(text).finditer(text)]  # "U.S." keeps its last dot
        return self._spans[i]

    def sentence(self, i: int) -> int:
        if self._sentence_starts is None:
            self.span(0)
            self._sentence_starts = _sentence_starts(self.text, self.words, self._spans or [])
        return bisect_right(self._sentence_starts, i)


def _sentence_starts(text: str, words: list[str], spans: list[tuple[int, int]]) -> list[int]:
    """The tokens that begin a sentence after the first: a full stop, ! or ? and a space end a
    sentence, except after a single letter ("N. Korea"), an initialism ("U.S.") or a title
    abbreviation ("Gen.")."""
    token_starts = [start for start, _ in spans]
    out: list[int] = []
    for bound in _SENTENCE_END.finditer(text):
        i = bisect_right(token_starts, bound.start())  # the first token after the sentence end
        if not 0 < i < len(spans) or (out and out[-1] == i):
            continue
        start, end = spans[i - 1]
        if bound.start() < end:  # the full stop belongs to the token before ("U.S.")
            continue
        if end - start > 1 and "." not in text[start:end] and norm(words[i - 1]) not in _ABBREV:
            out.append(i)
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
    return _norm_word(word)


def _norm_word(word: str) -> str:
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
    if not _KEY_CHANGES.search(word):  # most words: one search instead of a dozen
        return word
    for old, new in _KEY_RULES:
        if old in word:
            word = word.replace(old, new)
    return _DOUBLE.sub(r"\1", word) if _DOUBLE.search(word) else word


def key_shape(word: str) -> frozenset[str]:
    """The characters of `word` that `key` never touches: the same for a word and its key, so a
    word whose shape is no key's shape cannot have that key (a set lookup instead of the key)."""
    return frozenset(word).difference(_KEY_LETTERS)


def plain(text: str) -> str:
    """The field as matched: markup converted to text if there is any, else unchanged."""
    if ("<" in text or "&" in text) and _MARKUP.search(text):
        return html_to_text(text)
    return text


def words(text: str) -> list[str]:
    """The raw words of plain text, as `tokens` cuts them."""
    return _token(text).findall(text)


def _token(text: str) -> re.Pattern[str]:
    return _ASCII_TOKEN if text.isascii() else _TOKEN


def norm(word: str) -> str:
    """`norm_word`, kept in a plain dict (news vocabulary repeats); once that is full, through
    norm_word's own cache."""
    found = _WORDS.get(word)
    if found is None:
        if len(_WORDS) < _WORDS_MAX:
            found = _WORDS[word] = _norm_word(word)  # no use in keeping it twice
        else:
            found = norm_word(word)
    return found


def norms(words: list[str]) -> list[str]:
    """`norm` of each word."""
    cache = _WORDS
    return [cache[w] if w in cache else norm(w) for w in words]


def tokens(text: str, raw: list[str] | None = None) -> Tokens:
    """Cut plain text into tokens (normalised forms, spans and sentences on demand); `raw` is
    `words(text)` when the caller has it already."""
    return Tokens(text, words(text) if raw is None else raw)


def phrase(text: str) -> tuple[str, ...]:
    """A configured alias or term as a tuple of normalised tokens."""
    return tuple(tokens(text).norms)
