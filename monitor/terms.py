"""Pure: config terms (aliases, nouns, subjects) as word-bounded patterns, cached.

Shared by the extractor's statements (extract.py) and figures (figures.py). A term matches as
a whole word, with any whitespace between its words and either apostrophe; short (<= 3
letters) or all-caps terms ("US", "NIS") match case, others ignore it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ALIAS_CACHE: dict[str, re.Pattern[str]] = {}
_ANY_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}


def alias_re(alias: str) -> re.Pattern[str]:
    """The term as a word-bounded pattern (cached)."""
    pat = _ALIAS_CACHE.get(alias)
    if pat is None:
        pat = _ALIAS_CACHE[alias] = re.compile(rf"(?<![\w.]){alias_body(alias)}(?![\w])")
    return pat


def alias_body(alias: str) -> str:
    """The alias as a pattern: any whitespace between words, either apostrophe; short or all-caps
    aliases ("US") match case, others ignore it (a scoped flag, so bodies can be alternated)."""
    body = re.sub(r"['’]", "['’]", re.escape(alias).replace(r"\ ", r"\s+"))
    return body if (alias.isupper() or len(alias) <= 3) else f"(?i:{body})"


term_re = alias_re


def has(text: str, term: str) -> bool:
    return term_re(term).search(text) is not None


def has_any(text: str, terms: Iterable[str]) -> bool:
    """`any(has(text, t) for t in terms)`, in one search."""
    return any_re(terms).search(text) is not None


def any_re(terms: Iterable[str]) -> re.Pattern[str]:
    """One pattern for several config terms: an empty match wherever `term_re` of any of them
    would start one (cached by the terms)."""
    key = tuple(terms)
    pat = _ANY_CACHE.get(key)
    if pat is None:
        alts = "|".join(alias_body(t) for t in key) or "(?!)"  # no terms: found nowhere
        pat = _ANY_CACHE[key] = re.compile(rf"(?<![\w.])(?=(?:{alts})(?![\w]))")
    return pat
