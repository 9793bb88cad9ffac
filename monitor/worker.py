"""The parse process: what runs in it (parse.parse_new) and the memory it may use.

A parse process is started (spawn) when a poll first has a body to parse, never for a pass of
304s. `init` caps its address space (RLIMIT_AS, Linux and macOS) at `limit` bytes: feedparser
needs up to ~10x a document's size (a 9 MB description: 110 MB), so a hostile document that
would need more fails alone with a MemoryError, reported as that feed's `parser_failed`, and
the process lives on. After a large document, `parse` hands the freed memory back to the
system (glibc's malloc_trim), so an idle parse process holds ~30 MB, not its peak.
"""

from __future__ import annotations

import gc
import resource

from . import parse as parse_mod
from .models import Item

LARGE = 1_000_000  # bytes: a body this large is parsed alone (pipeline) and trimmed after


def init(limit: int) -> None:
    """Cap this process's address space at `limit` bytes (never above a hard limit already set)."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError, AttributeError):  # a platform without it: no cap, as before
        pass


def parse(feed_url: str, body: bytes, headers: dict[str, str], base_url: str | None,
          known: frozenset[str] | None) -> tuple[str, list[Item], tuple[str, ...] | None]:
    try:
        return parse_mod.parse_new(feed_url, body, headers, base_url, known)
    finally:
        if len(body) >= LARGE:
            del body
            gc.collect()
            _trim()


def _trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
