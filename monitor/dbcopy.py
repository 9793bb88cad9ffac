"""Moving an installation between stores: `monitor db migrate` and `monitor db copy`.

A store is named by a location: `sqlite:PATH` (or a bare PATH) for a SQLite file, or a
`postgresql://USER:PASSWORD@HOST/DB` URL. `copy()` reads every table of the source inside one
snapshot and writes it into the target in ONE transaction (the target's `copy_in`), checks the
rows per table before committing, and refuses a target that already holds rows unless told to
replace them. No SQL here: each store kind reads and writes its own rows (store.py, store_pg.py).

Locations can carry a password: `redact()` masks it, and every message this module raises
names a location only in its redacted form.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import MonitorError

PG_SCHEMES = ("postgresql://", "postgres://")


class CopyError(MonitorError):
    """The copy cannot start or did not add up; nothing was written to the target."""


def is_postgres(location: str | Path) -> bool:
    return str(location).startswith(PG_SCHEMES)


def redact(location: str | Path) -> str:
    """`location` with its password (in the URL, or as ?password=) replaced by ****."""
    from .store import redact_url

    text = str(location)
    if not is_postgres(text):
        return text
    parts = urlsplit(redact_url(text))
    query = urlencode([(k, "****" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)],
                      safe="*")
    return urlunsplit(parts._replace(query=query))


def secrets_of(location: str | Path) -> list[str]:
    """The passwords inside `location`, for the log redactor."""
    text = str(location)
    if not is_postgres(text):
        return []
    parts = urlsplit(text)
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    return [s for s in found if s]


def sqlite_path(location: str | Path) -> Path:
    text = str(location)
    return Path(text[len("sqlite:"):].removeprefix("//") if text.startswith("sqlite:") else text)


def open_location(location: str | Path, *, source: bool) -> Any:
    """The store at `location`. A source is opened read-only and must exist with this program's
    schema; a target is created (schema and all) when it does not exist."""
    from .store import open_store

    where = str(location) if is_postgres(location) else sqlite_path(location)
    try:
        return open_store(where, read_only=source)
    except ImportError as exc:
        raise CopyError(f"{redact(location)}: PostgreSQL support is not installed ({exc.name} is missing). "
                        "Hint: pip install 'story-monitor[postgres]'") from None
    except FileNotFoundError:
        raise CopyError(f"{where}: no store here. Hint: give the SQLite file `monitor run` uses "
                        "(state/monitor.db by default) as --from sqlite:PATH") from None
    except ValueError as exc:
        raise CopyError(f"{redact(where)}: cannot read the store: {exc}. Hint: `monitor db migrate` it "
                        "with the program that wrote it, or upgrade this one") from None


@dataclass(frozen=True)
class CopyReport:
    source: str  # redacted
    target: str  # redacted
    rows: dict[str, int]  # per table, as found in the target after the copy
    replaced: dict[str, int]  # what the target held before, when it was replaced


def copy(source: Any, target: Any, source_name: str, target_name: str, *, replace: bool = False) -> CopyReport:
    """Every table of `source` into `target`, in one transaction on the target; the rows per
    table are checked before it commits. A target that holds rows is refused (CopyError) unless
    `replace`, which deletes them in the same transaction."""
    src, dst = redact(source_name), redact(target_name)
    before = target.copy_counts()
    if any(before.values()) and not replace:
        held = ", ".join(f"{n} {t}" for t, n in before.items() if n)
        raise CopyError(f"{dst} is not empty ({held}); nothing was copied. Hint: copy into a new database, "
                        "or add --force to replace what it holds with the copy")
    plan = []
    for table in target.COPY_TABLES:
        theirs = source.copy_columns(table)
        ours = target.copy_columns(table)
        lost = [c for c in theirs if c not in ours and c not in getattr(source, "COPY_LOCAL", {}).get(table, ())]
        if lost:
            raise CopyError(f"{dst}: table {table} has no column {', '.join(lost)} that {src} has: the copy would "
                            "lose data. Hint: upgrade story-monitor where the target runs, or `monitor db migrate` it")
        plan.append((table, [c for c in theirs if c in ours]))
    with source.copy_snapshot():
        expected = source.copy_counts()
        rows = target.copy_in(((t, cols, source.copy_rows(t, cols)) for t, cols in plan), expected, replace=replace)
    return CopyReport(src, dst, rows, before if replace else {})


def migrate(location: str | Path) -> tuple[int | None, int]:
    """Bring the store at `location` to this program's schema: (version before, version after);
    None before when it did not exist."""
    if is_postgres(location):
        from .store_pg import SCHEMA_VERSION as PG_VERSION
        from .store_pg import PostgresStore

        before = PostgresStore.schema_version_of(str(location))
        PostgresStore(str(location)).close()
        return before, PG_VERSION
    from .store import SCHEMA_VERSION, Store

    path = sqlite_path(location)
    before = Store.schema_version_of(path)
    Store(path).close()
    return before, SCHEMA_VERSION
