"""Load and validate `config/monitor.toml`, `config/stories/*.toml` and the environment.

This is the only module that reads the environment. Every problem is reported at once, one
line each, naming the file, the key path and what to do:

    config/monitor.toml: feeds[2].url: not an http(s) URL: 'htp://x'. Hint: url = "https://example.org/rss"

Secrets never live in the files: a value may say `${SLACK_WEBHOOK_URL}` and the variable is
substituted at load time; a missing variable names the variable to set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .story import Story

log = logging.getLogger(__name__)

SERVICE_FILE = "monitor.toml"
STORIES_DIR = "stories"
DEFAULT_CONFIG_DIR = "config"
DEFAULT_STATE_DIR = "state"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def auto_parse_processes() -> int:
    """service.parse_processes = "auto" (the default): 2 with 2 or more CPUs, else 0.

    Measured with bench/cycle.py (1,000 feeds x 50 items, 2 CPUs): feedparser takes ~37 ms of
    CPU per feed, everything else (fetch, match, extract, store) ~23 ms in the main process.
    Two parse processes keep both cores busy; a third only adds memory (~35 MB each), because
    the main process is then the limit. On one CPU a pool only adds pickling and start-up."""
    return 2 if (os.cpu_count() or 1) >= 2 else 0


def parse_duration(value: Any) -> float:
    """'15m' -> 900.0; numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like \"15m\" or \"30s\", got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration like \"15m\" or \"30s\", got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {v!r}")
    return v


class Service(Strict):
    poll_interval: float = Field(default=900, description="How often each feed is polled.")
    jitter: float = Field(default=30, description="Random delay added to each poll.")
    timeout: float = Field(default=30, description="Total time allowed for one fetch.")
    connect_timeout: float = Field(default=10, description="Time allowed to connect.")
    max_bytes: int = Field(default=10_000_000, gt=0, description="Largest feed body accepted.")
    max_redirects: int = Field(default=5, ge=0, description="Redirects followed per fetch.")
    database: str = Field(default="monitor.db", description="SQLite file, relative to the state dir, or a postgresql:// URL (password through ${ENV}).")
    lease: float = Field(default=120, description="PostgreSQL: how long a worker's claim on a feed or a delivery lasts without a heartbeat.")
    workers: int = Field(default=4, ge=1, le=64, description="Feeds fetched at once.")
    parse_processes: int = Field(default_factory=lambda: auto_parse_processes(), ge=0, le=64,
                                 description="Processes parsing feeds (0: parse in the service's own process; \"auto\": 2 on a machine with 2 or more CPUs, else 0).")
    failing_after: int = Field(default=3, ge=1, description="Errors in a row before an ops alert.")
    max_backoff: float = Field(default=6 * 3600, description="Longest wait after repeated errors.")
    retention_days: int = Field(default=90, ge=1, description="Days to keep non-relevant items.")
    max_new_items: int = Field(default=500, ge=1, description="New items one poll of one feed may store; the rest wait for the next polls.")
    max_alerts: int = Field(default=20, ge=1, description="Story alert events one poll of one feed may raise.")
    min_interval: float = Field(default=60, ge=1, description="Shortest poll_interval or feed interval accepted.")

    @field_validator("parse_processes", mode="before")
    @classmethod
    def _processes(cls, v: Any) -> Any:
        return auto_parse_processes() if v == "auto" else v

    @field_validator(
        "poll_interval", "jitter", "timeout", "connect_timeout", "max_backoff", "min_interval", "lease", mode="before"
    )
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class Feed(Strict):
    url: str
    title: str = ""
    interval: float | None = Field(default=None, description="Overrides service.poll_interval.")
    enabled: bool = True

    _url = field_validator("url")(lambda cls, v: _check_http_url(v))

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)


class Target(Strict):
    url: str = Field(description="An Apprise URL; put secrets in ${ENV_VARS}.")
    name: str = ""
    tags: list[str] = Field(default_factory=list, description="'ops' receives feed health alerts.")
    stories: list[str] = Field(default_factory=list, description="Only these stories (all if empty).")
    kinds: list[str] = Field(default_factory=list, description="Only these alert kinds.")
    actors: list[str] = Field(default_factory=list, description="Only alerts about these actors.")
    mode: Literal["instant", "digest"] = "instant"
    digest_every: float = Field(default=3600, description="Digest period for mode = 'digest'.")
    rate_limit: int = Field(default=20, ge=1, description="Messages per hour before folding.")
    quiet_hours: str | None = Field(default=None, description="'22:00-07:00' (UTC): hold, then digest.")
    optional: bool = Field(default=False, description="Left out, not an error, while a ${VARIABLE} it names is unset.")

    @field_validator("digest_every", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d\d:\d\d-\d\d:\d\d", v):
            raise ValueError(f"expected 'HH:MM-HH:MM', got {v!r}")
        return v


class Notify(Strict):
    targets: list[Target] = Field(default_factory=list)
    retry_max_age: float = Field(default=24 * 3600, description="Give up on a delivery after this.")
    retry_base: float = Field(default=30, description="First retry delay; doubles each time.")
    retry_cap: float = Field(default=3600, description="Longest delay between retries.")

    @field_validator("retry_max_age", "retry_base", "retry_cap", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class Web(Strict):
    listen: str | None = Field(default=None, description="HOST:PORT of the dashboard, /healthz and /metrics (off if unset).")

    @field_validator("listen")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v:
            from .web import parse_address

            try:
                parse_address(v)
            except ValueError:
                raise ValueError("expected HOST:PORT like 127.0.0.1:8080 (0.0.0.0:8080 in a container)") from None
        return v or None


class ServiceFile(Strict):
    service: Service = Field(default_factory=Service)
    feeds: list[Feed] = Field(default_factory=list)
    notify: Notify = Field(default_factory=Notify)
    web: Web = Field(default_factory=Web)


@dataclass(frozen=True)
class Config:
    config_dir: Path
    state_dir: Path
    service: Service
    feeds: tuple[Feed, ...]
    notify: Notify
    stories: tuple[Story, ...]
    secrets: tuple[str, ...] = ()  # resolved secret values, for log redaction
    warnings: tuple[str, ...] = ()  # settings that can never apply (`monitor validate` shows them)
    web: Web = field(default_factory=Web)
    notes: tuple[str, ...] = ()  # not errors, but an operator should know (an optional target left out)
    left_out: tuple[int, ...] = ()  # positions in monitor.toml of the optional targets left out

    def target_positions(self) -> list[int]:
        """Each target's position among notify.targets in monitor.toml (for messages)."""
        n = len(self.notify.targets) + len(self.left_out)
        return [i for i in range(n) if i not in self.left_out]

    @property
    def database(self) -> Path | str:
        """The SQLite file (a Path), or the PostgreSQL URL (a str, password included: show
        `store.redact_url(...)` of it, never the URL itself)."""
        if is_postgres_url(self.service.database):
            return self.service.database
        return self.state_dir / self.service.database

    def feed(self, url: str) -> Feed | None:
        return next((f for f in self.feeds if f.url == url), None)

    def interval(self, feed: Feed) -> float:
        return feed.interval if feed.interval is not None else self.service.poll_interval


# ---------------------------------------------------------------- locations


def config_dir(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get("MONITOR_CONFIG") or DEFAULT_CONFIG_DIR)


def state_dir(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get("MONITOR_STATE") or DEFAULT_STATE_DIR)


def is_postgres_url(database: object) -> bool:
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def locate_database(config: str | os.PathLike | None = None, state: str | os.PathLike | None = None) -> Path | str:
    """The store even when the config does not load (`monitor status` on a broken config):
    [service] database from monitor.toml if that much can be read, else the default. A
    postgresql:// URL comes back as a URL, its ${VARIABLES} replaced by those that are set."""
    name = Service.model_fields["database"].default
    try:
        with (config_dir(config) / SERVICE_FILE).open("rb") as f:
            value = tomllib.load(f).get("service", {}).get("database")
        name = value if isinstance(value, str) and value else name
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        pass
    if is_postgres_url(name):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1)) or m.group(0), name)
    return state_dir(state) / name


def set_secrets(config: str | os.PathLike | None = None) -> list[str]:
    """The values of the ${VARIABLES} monitor.toml names that are set, and MONITOR_NOTIFY_URLS:
    what to mask when the config as a whole does not load."""
    try:
        text = (config_dir(config) / SERVICE_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    database = _database_secrets(str(locate_database(config)))  # a password written in the URL itself
    return [os.environ[n] for n in set(_ENV_REF.findall(text)) if os.environ.get(n)] + env_notify_urls() + database


def env_notify_urls() -> list[str]:
    """Extra Apprise targets from MONITOR_NOTIFY_URLS (space or comma separated)."""
    raw = os.environ.get("MONITOR_NOTIFY_URLS", "")
    return [u for u in re.split(r"[\s,]+", raw) if u]


# ---------------------------------------------------------------- loading


def load(config: str | os.PathLike | None = None, state: str | os.PathLike | None = None,
         stories_only: bool = False) -> Config:
    """Read every config file; raise ConfigError listing every problem. `stories_only`: a
    missing monitor.toml is no problem (backtest and explain need only stories/)."""
    cdir, sdir = config_dir(config), state_dir(state)
    problems: list[str] = []
    secrets: list[str] = []
    service_path = cdir / SERVICE_FILE
    if not cdir.is_dir():
        raise ConfigError([f"{cdir}: config directory not found. Hint: pass --config DIR or set MONITOR_CONFIG"])
    service = ServiceFile()
    notes: list[str] = []
    unset: list[str] = []
    if service_path.exists():
        data = _read_toml(service_path, problems)
        if data is not None:
            unset = _unset_optional_targets(data, service_path, notes)
            data = _substitute_env(data, service_path, problems, secrets, tolerate=set(unset))
            service = _validate_partly(ServiceFile, data, service_path, problems) or service
            service = _drop_unset_targets(service, unset)
    elif not stories_only:
        problems.append(f"{service_path}: file not found. Hint: copy config/monitor.toml from the project")
    warnings: list[str] = []
    stories = load_stories(cdir / STORIES_DIR, problems, warnings)
    # Named by a hash of the URL, not its position: reordering the variable keeps each
    # target's queued deliveries with the same URL.
    extra = [Target(url=u, name=f"MONITOR_NOTIFY_URLS[{hashlib.sha256(u.encode()).hexdigest()[:8]}]")
             for u in env_notify_urls()]
    secrets += [t.url for t in extra]
    secrets += _database_secrets(service.service.database)
    _check_feeds(service, service_path, problems)
    _check_intervals(service, service_path, problems)
    if problems:
        err = ConfigError(problems)
        err.warnings = warnings  # type: ignore[attr-defined]
        err.targets = [*service.notify.targets, *extra]  # type: ignore[attr-defined]  # for Apprise's own checks
        raise err
    notify = service.notify.model_copy(update={"targets": [*service.notify.targets, *extra]})
    return Config(
        config_dir=cdir,
        state_dir=sdir,
        service=service.service,
        feeds=tuple(f for f in service.feeds),
        notify=notify,
        stories=tuple(stories),
        secrets=tuple(s for s in secrets if s),
        warnings=tuple(warnings),
        web=service.web,
        notes=tuple(notes),
        left_out=tuple(int(loc[len("notify.targets["):-1]) for loc in unset),
    )


def load_stories(directory: Path, problems: list[str], warnings: list[str] | None = None) -> list[Story]:
    stories: list[Story] = []
    if not directory.is_dir():
        problems.append(f"{directory}: no stories directory. Hint: add one story file, e.g. {directory}/my-story.toml")
        return stories
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        problems.append(f"{directory}: no story files (*.toml). Hint: copy the shipped story and edit it")
    seen: dict[str, Path] = {}
    for path in paths:
        story = load_story(path, problems, warnings)
        if story is None:
            continue
        if story.id in seen:
            problems.append(f"{path}: id: story id {story.id!r} is also used by {seen[story.id]}. Hint: give each story its own id")
            continue
        seen[story.id] = path
        stories.append(story)
    return stories


def load_story(path: Path, problems: list[str] | None = None, warnings: list[str] | None = None) -> Story | None:
    """Load one story file. With `problems` given, append to it; otherwise raise ConfigError.

    Every problem comes out in one run: where the schema rejects some keys, they are set aside
    and the rest is checked again (model checks, then cross-references such as known entries'
    actor ids), so fixing one problem never reveals another that was there all along. Settings
    that can never apply are appended to `warnings`.
    """
    own = problems is None
    problems = [] if problems is None else problems
    warnings = [] if warnings is None else warnings
    before = len(problems)
    data = _read_toml(path, problems)
    story = _validate_story(data, path, problems) if data is not None else None
    if story is not None:
        _check_story(story, path, problems, warnings)
    if own and len(problems) > before:
        raise ConfigError(problems)
    return story if len(problems) == before else None


def _validate_story(data: dict, path: Path, problems: list[str]) -> Story | None:
    """The story, or, where the schema rejects parts of it, the story with those parts set aside
    (problems reported for them), so the checks after the schema still run. A story with parts
    set aside is only checked, never used."""
    return _validate_partly(Story, _migrate_story(data, path, problems), path, problems)


def _validate_partly(model: type[BaseModel], data: dict, path: Path, problems: list[str]) -> Any:
    """`model` from `data`, reporting every schema problem, with the parts it rejects set aside."""
    import copy

    reported: list[tuple] = []
    for _ in range(12):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
        data = copy.deepcopy(data)
        changed = False
        for err in errors:
            loc = tuple(err["loc"])
            if not any(loc[: len(r)] == r for r in reported):
                problems.append(f"{path}: {_loc(loc)}: {_explain(err)}")
            again = loc in reported  # a placeholder its own check refuses: the entry goes
            fixed = _drop_entry(data, loc) if again else _set_aside(model, data, loc, err["type"])
            if fixed is not None:
                reported.append(fixed)
                changed = True
        if not changed:
            return None
    return None


def _set_aside(root: type[BaseModel], data: Any, loc: tuple, kind: str) -> tuple | None:
    """Make the part an error points at valid without changing any position: an unknown key goes,
    a bad value becomes its default or a placeholder, a bad list entry a placeholder entry.
    Returns the location set aside, or None."""
    if not loc:
        return None  # a check of the whole story: nothing to set aside
    node = data
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    last = loc[-1]
    if kind == "extra_forbidden" and isinstance(node, dict):
        node.pop(last, None)
        return loc
    model, field = _schema_at(root, loc)
    if model is not None and field is not None and isinstance(node, dict):
        info = model.model_fields[field]
        if not info.is_required():
            node.pop(field, None)
        else:
            node[field] = _placeholder(info.annotation, loc)
        return loc
    if isinstance(last, int) and isinstance(node, list) and 0 <= last < len(node):
        node[last] = _placeholder(_item_type(root, loc), loc)
        return loc
    return None


def _drop_entry(data: Any, loc: tuple) -> tuple | None:
    """Remove the list entry holding `loc` (later entries move up: their problems were reported)."""
    cut = max((i for i, p in enumerate(loc) if isinstance(p, int)), default=None)
    if cut is None:
        return None
    node = data
    for part in loc[:cut]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if not isinstance(node, list) or not 0 <= loc[cut] < len(node):
        return None
    del node[loc[cut]]
    return loc[:cut]


def _schema_at(root: type[BaseModel], loc: tuple) -> tuple[type[BaseModel] | None, str | None]:
    """(the model holding the key at `loc`, that key) when `loc` ends at a model's field."""
    from typing import get_args

    model: Any = root
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None, None
        if i == len(loc) - 1:
            return model, part
        ann = model.model_fields[part].annotation
        args = [a for a in get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = args[0] if args else ann
    return None, None


def _item_type(root: type[BaseModel], loc: tuple) -> Any:
    """The type of the list entry at `loc` (a model, str, ...)."""
    from typing import get_args

    model, field = _schema_at(root, loc[:-1])
    if model is None or field is None:
        return str
    args = get_args(model.model_fields[field].annotation)
    return args[0] if args else str


def _placeholder(ann: Any, loc: tuple) -> Any:
    """A value the schema accepts, for a part set aside (never used: the story is only checked)."""
    from typing import get_args, get_origin

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return {k: _placeholder(f.annotation, (*loc, k)) for k, f in ann.model_fields.items() if f.is_required()}
    if ann is int or ann is float:
        return 0
    if get_origin(ann) is list:
        return [_placeholder(get_args(ann)[0] if get_args(ann) else str, loc)]
    if get_origin(ann) is dict:
        return {}
    return "set_aside_" + "_".join(str(p) for p in loc if isinstance(p, int)) if loc and loc[-1] == "id" else "set-aside"


def _migrate_story(data: dict, path: Path, problems: list[str]) -> dict:
    """Story files of earlier versions keep working; what cannot be read the old way gets a
    clear message (none so far: every earlier key is still read)."""
    return data
def _read_toml(path: Path, problems: list[str]) -> dict | None:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: invalid TOML: {exc}. Hint: check quotes and brackets on that line")
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror}")
    return None


def _database_secrets(database: str) -> list[str]:
    """A postgresql:// URL's password (and the URL whole), masked like every secret even when
    written in the file rather than through ${ENV}."""
    if not is_postgres_url(database):
        return []
    from urllib.parse import urlsplit

    password = urlsplit(database).password
    return [database, password] if password else []


def _substitute_env(data: Any, path: Path, problems: list[str], secrets: list[str], loc: str = "",
                    tolerate: set[str] = frozenset()) -> Any:
    """Replace each ${VAR} by its value; an unset one is a problem, except under a `tolerate`d
    key path (an optional target left out), where the text is kept as it is."""
    if isinstance(data, dict):
        return {k: _substitute_env(v, path, problems, secrets, _join(loc, k), tolerate) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute_env(v, path, problems, secrets, f"{loc}[{i}]", tolerate) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        if any(loc == t or loc.startswith(t + ".") for t in tolerate):
            return data

        def sub(m: re.Match) -> str:
            name = m.group(1)
            if name not in os.environ:
                problems.append(f"{path}: {loc}: environment variable {name} is not set. Hint: export {name}=... before starting")
                return ""
            secrets.append(os.environ[name])
            return os.environ[name]

        return _ENV_REF.sub(sub, data)
    return data


def _unset_optional_targets(data: dict, path: Path, notes: list[str]) -> list[str]:
    """Key paths of the `optional = true` targets that name an unset ${VARIABLE}: they are left
    out (a note says so), not an error, so a shipped config can offer a target the environment
    turns on (`docker run -e SLACK_WEBHOOK_URL=...`)."""
    notify = data.get("notify")
    targets = notify.get("targets") if isinstance(notify, dict) else None
    out: list[str] = []
    for i, t in enumerate(targets if isinstance(targets, list) else []):
        if not isinstance(t, dict) or t.get("optional") is not True:
            continue
        names = [n for v in t.values() if isinstance(v, str) for n in _ENV_REF.findall(v)]
        unset = [n for n in dict.fromkeys(names) if not os.environ.get(n)]  # empty counts as unset
        if unset:
            out.append(f"notify.targets[{i}]")
            label = f" {t['name']!r}" if isinstance(t.get("name"), str) and t["name"] else ""
            notes.append(f"{path}: notify.targets[{i}]: optional target{label} is off: "
                         f"{', '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set. "
                         f"Hint: export {unset[0]}=... to turn it on")
    return out


def _drop_unset_targets(service: ServiceFile, unset: list[str]) -> ServiceFile:
    if not unset:
        return service
    keep = [t for i, t in enumerate(service.notify.targets) if f"notify.targets[{i}]" not in unset]
    return service.model_copy(update={"notify": service.notify.model_copy(update={"targets": keep})})


def _check_intervals(service: ServiceFile, path: Path, problems: list[str]) -> None:
    """Poll intervals below service.min_interval (60 s unless lowered) would hammer publishers."""
    floor = service.service.min_interval
    hint = f"Hint: poll a publisher's feed at most every few minutes, e.g. \"15m\" (service.min_interval = \"{floor:g}s\" is the floor)"
    if service.service.poll_interval < floor:
        problems.append(f"{path}: service.poll_interval: {service.service.poll_interval:g}s is shorter than the "
                        f"minimum of {floor:g}s. {hint}")
    for i, feed in enumerate(service.feeds):
        if feed.interval is not None and feed.interval < floor:
            problems.append(f"{path}: feeds[{i}].interval: {feed.interval:g}s is shorter than the minimum of {floor:g}s. {hint}")


def _join(loc: str, key: str) -> str:
    return f"{loc}.{key}" if loc else key


def _validate(model: type[BaseModel], data: dict, path: Path, problems: list[str]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(f"{path}: {_loc(err['loc'])}: {_explain(err)}")
    return None


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out = out + f"[{part}]" if isinstance(part, int) else _join(out, str(part))
    return out or "(top level)"


def _explain(err: dict) -> str:
    kind, got = err["type"], err.get("input")
    if kind == "extra_forbidden":
        return "unknown key. Hint: check its spelling against the config reference in the README, or remove it"
    if kind == "missing":
        return "required key is missing. Hint: add it"
    msg = err["msg"].removeprefix("Value error, ")
    shown = repr(got) if not isinstance(got, (dict, list)) or len(repr(got)) < 60 else type(got).__name__
    hint = {
        "list_type": "Hint: write a list, e.g. [\"a\", \"b\"]",
        "string_type": "Hint: put the value in double quotes",
        "int_parsing": "Hint: write a whole number without quotes",
        "float_parsing": "Hint: write a number without quotes",
        "bool_type": "Hint: write true or false",
        "bool_parsing": "Hint: write true or false",
        "string_pattern_mismatch": "Hint: use lower-case letters, digits and _",
    }.get(kind, "")
    said = msg if shown in msg else f"{msg}, got {shown}"  # our own checks name the value already
    return said + (f". {hint}" if hint else "")


def _check_feeds(service: ServiceFile, path: Path, problems: list[str]) -> None:
    seen: set[str] = set()
    for i, feed in enumerate(service.feeds):
        if feed.url in seen:
            problems.append(f"{path}: feeds[{i}].url: duplicate feed {feed.url}. Hint: remove one of them")
        seen.add(feed.url)


def _check_story(story: Story, path: Path, problems: list[str], warnings: list[str] | None = None) -> None:
    """Cross-references the schema cannot see (problems), and settings that can never apply (warnings)."""
    warnings = [] if warnings is None else warnings
    actor_ids = [a.id for a in story.actors]
    for i, actor in enumerate(story.actors):
        if actor_ids.count(actor.id) > 1 and actor_ids.index(actor.id) != i:
            problems.append(f"{path}: actors[{i}].id: duplicate actor id {actor.id!r}. Hint: ids must be unique")
        for j, amb in enumerate(actor.ambiguous):
            if amb not in actor.aliases and amb != actor.name:
                problems.append(
                    f"{path}: actors[{i}].ambiguous[{j}]: {amb!r} is not one of the actor's aliases. "
                    f"Hint: add it to aliases too"
                )
        _check_lookalikes(actor, story.matching, f"{path}: actors[{i}]", warnings)
    _check_near_aliases(story, path, warnings)
    for section, ids in (("concepts", [c.id for c in story.concepts]), ("claims", [c.id for c in story.claims]),
                         ("figures", [f.id for f in story.figures])):
        for i, cid in enumerate(ids):
            if ids.index(cid) != i:
                problems.append(f"{path}: {section}[{i}].id: duplicate id {cid!r}. Hint: ids must be unique")
    reachable = sum(c.weight for c in story.concepts) + sum(c.weight for c in story.claims)
    if story.concepts and reachable < story.matching.threshold:
        problems.append(
            f"{path}: matching.threshold: {story.matching.threshold:g} is more than the concept and claim "
            f"weights add up to ({reachable:g}), so no item can match. Hint: lower the threshold or raise weights"
        )
    _check_known(story, path, problems, warnings)
    _check_speakers(story, path, problems, warnings)
    _check_terms(story, path, warnings)


def _check_lookalikes(actor: Any, matching: Any, where: str, warnings: list[str]) -> None:
    """A look-alike rules out an alias found inside it, exactly or by a near spelling ("Kim Jong Il"
    near "Kim Jong-un"): one that is itself a name, or near none of them, never applies."""
    from rapidfuzz import fuzz

    names = {x.casefold() for x in (actor.name, *actor.aliases)}

    def near(name: str, look: str) -> bool:
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", look):
            return True
        return len(name) >= matching.fuzzy_min_length and fuzz.partial_ratio(name, look) >= matching.fuzzy_min

    for j, look in enumerate(actor.lookalikes):
        if look.casefold() in names:
            warnings.append(f"{where}.lookalikes[{j}]: {look!r} is also one of the actor's names, so it never "
                            "counts. Hint: remove it from aliases or from lookalikes")
        elif not any(near(n, look.casefold()) for n in names):
            warnings.append(f"{where}.lookalikes[{j}]: {look!r} is near none of the actor's names, so it rules "
                            "nothing out. Hint: a look-alike is a longer name around an alias or a near spelling of "
                            "one (\"Jill Biden\" for \"Biden\")")


def _check_near_aliases(story: Story, path: Path, warnings: list[str]) -> None:
    """Two actors' names that are near spellings of each other ("Iran's foreign minister" and
    "Iran's Foreign Ministry"): the matcher finds either text for both actors, unless it is a
    look-alike of the other. One warning per actor, with the other actor's names to add."""
    from rapidfuzz import fuzz

    m = story.matching

    def near(x: str, y: str) -> bool:
        return fuzz.ratio(x, y) >= m.fuzzy_min

    names = {a.id: {n.casefold(): n for n in (a.name, *a.aliases) if len(n) >= max(m.fuzzy_min_length, 5)}
             for a in story.actors}
    for k, who in enumerate(story.actors):
        looks = [x.casefold() for x in who.lookalikes]
        for other in story.actors:
            if other.id == who.id:
                continue
            add = [o for of, o in names[other.id].items() if of not in names[who.id]
                   and any(near(mf, of) for mf in names[who.id]) and not any(near(lf, of) for lf in looks)]
            if add:
                warnings.append(
                    f"{path}: actors[{k}] ({who.id}): {other.id}'s name {add[0]!r} is a near spelling of one of "
                    f"{who.id}'s, so text naming {other.id} is found for {who.id} too. Hint: add "
                    f"{', '.join(repr(a) for a in add)} to {who.id}'s lookalikes")


def _check_known(story: Story, path: Path, problems: list[str], warnings: list[str]) -> None:
    actor_ids = [a.id for a in story.actors]
    kinds = {f.id for f in story.figures}
    claims = [c.id for c in story.claims]
    for i, fig in enumerate(story.known.figures):
        if fig.kind not in kinds:
            problems.append(f"{path}: known.figures[{i}].kind: unknown figure kind {fig.kind!r}. Hint: one of {sorted(kinds)}")
        measures = next((list(k.measures) for k in story.figures if k.id == fig.kind), [])
        if fig.measure is not None and fig.measure not in measures:
            problems.append(f"{path}: known.figures[{i}].measure: {fig.measure!r} is not a measure of {fig.kind!r}. "
                            f"Hint: one of {measures}")
        if fig.source is not None and fig.source not in actor_ids and story.speaker_ref(fig.source) is None:
            warnings.append(f"{path}: known.figures[{i}].source: {fig.source!r} is no actor id nor other:NAME of a "
                            "[[speakers]] entry; it is shown as given. Hint: use an id from [[actors]] or other:SPEAKER")
    for i, st in enumerate(story.known.statements):
        if st.actor.startswith("other:"):
            if story.speaker_ref(st.actor) is None:
                warnings.append(f"{path}: known.statements[{i}].actor: {st.actor!r} names no [[speakers]] entry, and "
                                "statements are attributed only to actors and speakers, so it never matches. "
                                "Hint: add a [[speakers]] entry with that name, or use an actor id")
        elif st.actor not in actor_ids:
            problems.append(f"{path}: known.statements[{i}].actor: unknown actor {st.actor!r}. "
                            "Hint: use an id from [[actors]], or other:NAME for a [[speakers]] entry")
        if st.claim is not None and st.claim not in claims:
            problems.append(f"{path}: known.statements[{i}].claim: unknown claim {st.claim!r}. Hint: one of {claims}")


def _check_terms(story: Story, path: Path, warnings: list[str]) -> None:
    excluded = {t.casefold() for t in story.exclude}
    for i, c in enumerate(story.concepts):
        for j, t in enumerate(c.terms):
            if t.casefold() in excluded:
                warnings.append(f"{path}: concepts[{i}].terms[{j}]: {t!r} is also in `exclude`, so an item with it is "
                                "never relevant. Hint: remove it from one of them")
    for i, c in enumerate(story.claims):
        if not c.terms:
            warnings.append(f"{path}: claims[{i}].terms: empty, so claim {c.id!r} is never found. "
                            "Hint: add the phrases that signal it")
    for i, k in enumerate(story.figures):
        if not k.nouns:
            warnings.append(f"{path}: figures[{i}].nouns: empty, so no number is ever of kind {k.id!r}. "
                            "Hint: add what it counts: nouns = [\"people\"]")


def _check_speakers(story: Story, path: Path, problems: list[str], warnings: list[str] | None = None) -> None:
    """Unknown actor ids are errors; an alias shared with an actor only a warning (the actor wins)."""
    warnings = [] if warnings is None else warnings
    actor_ids = [a.id for a in story.actors]
    owner = {x.casefold(): a.id for a in story.actors for x in (a.name, *a.aliases)}
    for i, sp in enumerate(story.speakers):
        for j, aid in enumerate(sp.actors):
            if aid not in actor_ids:
                problems.append(f"{path}: speakers[{i}].actors[{j}]: unknown actor {aid!r}. Hint: use an id from [[actors]]")
        for alias in (sp.name, *sp.aliases):
            if alias.casefold() in owner:
                warnings.append(f"{path}: speakers[{i}]: speaker alias is also an actor alias: alias={alias!r} "
                                f"actor={owner[alias.casefold()]}; the actor wins, so it never names the speaker. "
                                "Hint: remove it from one of them")


# ---------------------------------------------------------------- editing feeds (monitor feeds ...)


def add_feeds(cdir: Path, feeds: list[tuple[str, str]]) -> list[str]:
    """Append feeds to monitor.toml, keeping its comments and layout. Returns the URLs added.

    Raises ConfigError for a bad URL; URLs already present are skipped.
    """
    import tomlkit

    bad = []
    for url, _ in feeds:
        try:
            _check_http_url(url)
        except ValueError as exc:
            bad.append(f"{url}: {exc}. Hint: give the feed's full http(s) address")
    if bad:
        raise ConfigError(bad)
    path = cdir / SERVICE_FILE
    doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    if "feeds" not in doc:
        doc.append("feeds", tomlkit.aot())
    present = {str(f.get("url")) for f in doc["feeds"]}
    added = []
    for url, title in feeds:
        if url in present:
            continue
        entry = tomlkit.table()
        entry["url"] = url
        if title:
            entry["title"] = title
        doc["feeds"].append(entry)
        present.add(url)
        added.append(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    tmp.replace(path)  # atomic: a running service never reads half a file
    return added


def remove_feed(cdir: Path, url: str) -> None:
    """Remove the feed with this URL from monitor.toml, keeping comments and layout (atomic).
    Raises ConfigError when no feed has it."""
    import tomlkit

    path = cdir / SERVICE_FILE
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}. Hint: fix it first (`monitor validate`)"]) from exc
    feeds = doc.get("feeds", [])
    where = [i for i, f in enumerate(feeds) if str(f.get("url")) == url]
    if not where:
        raise ConfigError([f"{path}: no feed has the URL {url}. Hint: `monitor feeds list` shows them"])
    for i in reversed(where):
        del feeds[i]
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    tmp.replace(path)


def read_opml(path: Path) -> list[tuple[str, str]]:
    """(xmlUrl, title) of every outline in an OPML file."""
    import xml.etree.ElementTree as ET

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise ConfigError([f"{path}: refused: OPML with a DOCTYPE/ENTITY declaration. Hint: export it again from your reader"])
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError([f"{path}: line {exc.position[0]}: not valid OPML/XML: {exc}. Hint: export it again from your reader"]) from exc
    out = []
    for node in root.iter("outline"):
        url = node.get("xmlUrl") or node.get("xmlurl")
        if url:
            out.append((url.strip(), (node.get("title") or node.get("text") or "").strip()))
    if not out:
        raise ConfigError([f"{path}: no <outline xmlUrl=...> entries found. Hint: is this an OPML subscription list?"])
    return out


def write_opml(feeds: Iterable[Feed], title: str = "Story Monitor feeds") -> str:
    import xml.etree.ElementTree as ET

    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for f in feeds:
        ET.SubElement(body, "outline", type="rss", text=f.title or f.url, title=f.title or f.url, xmlUrl=f.url)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
