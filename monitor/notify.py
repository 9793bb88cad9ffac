"""Alerts that arrive: routing, rendering, escaping and delivery through Apprise (the only Apprise code).

Routing (`route`, pure)
  A story alert goes to every target whose filters do not exclude it: `stories`, `kinds` and
  `actors` are each "all" when empty. Operator alerts (`feed_failing`, `feed_recovered`) go only
  to targets tagged "ops" (still subject to `kinds`).

The outbox (`Notifier.deliver_due`)
  The pipeline writes an event and one `deliveries` row per routed target in the same
  transaction as the items that caused it. `deliver_due` sends what is due and records the
  result on each row:

    pending --claimed--> sending                 (its own commit, before the message is sent)
    sending --sent--> sent                       (marked right after Apprise accepted it)
    sending --fails--> retrying (attempts + 1, next_attempt = now + backoff)
    retrying --fails, older than retry_max_age--> failed (last_error says why; `monitor status`)
    pending --digest / rate limit / quiet hours--> held (digest = 1) --due--> one digest message

  Backoff: `retry_base * 2**(attempts-1)`, capped at `retry_cap`; no jitter (one process, few
  targets). After the first failure of a target in one pass, its other due rows are not tried
  in that pass (a dead SMTP host would otherwise cost one timeout per row); they wait with it.
  Give-up age is counted from the row's creation.

  Exactly once, as far as it can be: before a message is sent its rows are claimed
  (`sending`) in their own commit; if the store refuses that write, nothing is sent. After the
  target answers, the outcome is written; if the store refuses it (full disk, a lock held past
  the busy timeout), the outcome is kept in memory and written first at the next pass, before
  anything else is claimed, and the process keeps the delivery lock meanwhile. A claimed row is
  never due, so a message the target accepted is not sent again however long the store refuses
  writes. One delivering process at a time: a thread lock plus an flock on
  `<database>.deliver.lock` (released by the kernel when the process dies, even by SIGKILL), so
  `monitor check` beside `monitor run` cannot send a row twice. A row still `sending` when a
  process takes the delivery lock was claimed by a process that died between the claim and
  writing the outcome: it is sent again (state retrying). That is the one window for a
  duplicate: a process killed after the target accepted a message and before the outcome was
  written (milliseconds; or, for a process that exits or is killed while the store refuses its
  outcomes, as long as that lasted). Nothing is lost: an unsent row stays due across restarts.
  On PostgreSQL (several workers, store_pg.py) there is no flock: `due_deliveries` hands each row
  to one worker (FOR UPDATE SKIP LOCKED, a claim renewed by its heartbeat), and a row left
  `sending` is sent again once its worker's claim has expired (`service.lease` after it died).

Noise control (per target)
  - mode = "digest": rows are held and folded into one message at each multiple of
    `digest_every` (epoch-aligned: with 1h, digests go out on the hour, restart-proof).
  - rate_limit: at most that many single messages per rolling hour; the excess is held for
    the next digest boundary (`digest_every`) — folded, never dropped. Digests do not count.
  - quiet_hours "22:00-07:00" (UTC): everything due is held until the end of the window, then
    sent as one digest.
  - Syndicated repeats never reach this module as new rows; messages are rendered at send
    time from the event row, so they show how many outlets carried it by then.

Rendering (`render`, `render_digest`, pure)
  Each target is sent in its plugin's own format (Slack: Markdown, which Apprise turns into
  mrkdwn; email: HTML with a plain-text part, the article's address shown as text so that part
  keeps it; json://: text). Text from feeds is untrusted: control, zero-width and bidirectional
  characters are removed, whitespace is collapsed (no injected headings or lists), it is truncated on a word boundary,
  mentions are neutralised with a zero-width joiner (`<!channel>`, `<@U1>`, `@here`, `@someone`,
  `!everyone`: Apprise's Slack plugin would turn an entity-escaped `&lt;!channel&gt;` back into
  a live mention), and it is escaped for the format (HTML entities; Markdown backslashes). Only
  our own links are links, and only http(s).

Secrets: a target is named by its config `name` or a hash of its URL (`target_id`), shown in
privacy form (`masked`), and every error text is scrubbed of the configured secrets and of
the URL parts that Apprise's privacy form hides.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import quote, urlsplit

import apprise
from apprise import NotifyFormat, NotifyType

from . import metrics
from .config import SERVICE_FILE, Config, Target
from .errors import ConfigError, StoreError
from .models import Alert, FeedResult
from .store import FeedState, Store

log = logging.getLogger(__name__)

OPS_TAG = "ops"
OPS_KINDS = ("feed_failing", "feed_recovered", "feed_flooding")
TITLE_MAX = 150  # Slack's block header takes at most 150 characters, and Apprise does not cut it
TEXT_MAX = 600
FACT_MAX = 200
DIGEST_MAX = 30  # entries listed in one digest; the rest are counted
ERROR_MAX = 300
ZWJ = "\u200d"
TEST_TITLE = "Story Monitor test message"
TEST_BODY = "This is a test message from Story Monitor (monitor notify-test). If you can read it, this target works."
_KIND_LABEL = {
    "statement": "New statement",
    "figure": "New figure",
    "feed_failing": "Feed failing",
    "feed_recovered": "Feed recovered",
    "feed_flooding": "Feed flooding",
}
_NOTIFY_TYPE = {"feed_failing": NotifyType.WARNING, "feed_flooding": NotifyType.WARNING, "feed_recovered": NotifyType.SUCCESS}
_FORMATS = {NotifyFormat.HTML: "html", NotifyFormat.MARKDOWN: "markdown"}


# ---------------------------------------------------------------- targets


def target_id(target: Target) -> str:
    """Stable id for a target: its name, else a short hash of its URL (never the URL: secrets)."""
    if target.name:
        return target.name
    return "target-" + hashlib.sha256(target.url.encode()).hexdigest()[:10]


def masked(target: Target) -> str:
    """The target's URL in Apprise's privacy form (secrets shown as ****)."""
    plugin = apprise.Apprise.instantiate(target.url)
    if plugin is not None:
        return plugin.url(privacy=True)
    scheme = target.url.split("://", 1)[0] if "://" in target.url else "?"
    return f"{scheme}://****"


def check_targets(config: Config) -> list[str]:
    """One problem per unusable target (for `monitor validate`): bad Apprise URL, duplicate name."""
    return _check_target_list(config.notify.targets, config.config_dir, config.target_positions())


def _check_target_list(targets: list[Target], config_dir: Path, positions: list[int] | None = None) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for i, t in zip(positions if positions is not None else range(len(targets)), targets):  # positions in the file
        tid = target_id(t)
        where = tid if tid.startswith("MONITOR_NOTIFY_URLS[") else f"{config_dir / SERVICE_FILE}: notify.targets[{i}]"
        if apprise.Apprise.instantiate(t.url) is None:
            problems.append(f"{where}: Apprise cannot use this URL: {masked(t)}. "
                            "Hint: check the scheme and its required parts at https://github.com/caronc/apprise/wiki")
        if tid in seen:
            problems.append(f"{where}.name: target name {tid!r} is used twice. Hint: give each target its own name")
        seen.add(tid)
    return problems


def load_checked(config_dir: str | Path | None = None, state_dir: str | Path | None = None) -> Config:
    """config.load() plus the checks only Apprise can make (usable URLs); raises ConfigError."""
    from . import config as config_mod

    try:
        cfg = config_mod.load(config_dir, state_dir)
    except ConfigError as exc:  # the targets that did load are checked too: every problem in one run
        more = _check_target_list(getattr(exc, "targets", []), config_mod.config_dir(config_dir))
        if more:
            err = ConfigError([*exc.problems, *(p for p in more if p not in exc.problems)])
            err.warnings = getattr(exc, "warnings", [])  # type: ignore[attr-defined]
            raise err from None
        raise
    problems = check_targets(cfg)
    if problems:
        err = ConfigError(problems)
        err.warnings = list(cfg.warnings)  # type: ignore[attr-defined]
        raise err
    return cfg


def secret_values(config: Config) -> list[str]:
    """Every target URL and each part of it that Apprise's privacy form hides (tokens, passwords):
    add them to the log redactor, since Apprise's own DEBUG lines may print them."""
    out: list[str] = []
    for t in config.notify.targets:
        out += _hidden_parts(t.url, apprise.Apprise.instantiate(t.url))
    return list(dict.fromkeys(out))


def route(alert: Alert, targets: Iterable[Target]) -> list[str]:
    """The ids of the targets that should receive `alert` (pure)."""
    out: list[str] = []
    for t in targets:
        if _wants(t, alert) and target_id(t) not in out:
            out.append(target_id(t))
    return out


def _wants(t: Target, a: Alert) -> bool:
    if t.kinds and a.kind not in t.kinds:
        return False
    if a.kind in OPS_KINDS:
        return OPS_TAG in t.tags
    if t.stories and a.story not in t.stories:
        return False
    return not t.actors or a.actor in t.actors


# ---------------------------------------------------------------- operator alerts


def feed_health_alert(before: FeedState, result: FeedResult, failing_after: int,
                      now: datetime | None = None) -> Alert | None:
    """One `feed_failing` alert when errors in a row reach `failing_after`, one `feed_recovered`
    when a feed alerted as failing succeeds again; None otherwise (pure).

    The caller stores `failing_alerted = 1` with a failing alert and `0` with a recovered one,
    in the same transaction (the pipeline puts it in `PollWrite.feed_update`)."""
    stamp = (now or datetime.now(timezone.utc)).isoformat()
    name = before.title or result.feed_url
    if result.error is not None:
        errors = before.consecutive_errors + 1
        if errors < failing_after or before.failing_alerted:
            return None
        return Alert(
            key=f"feed_failing|{result.feed_url}|{stamp}", story="", kind="feed_failing",
            title=f"Feed failing: {name}",
            body=f"{errors} errors in a row. Last error: {result.error}",
            link=None, outlet=name, feed_url=result.feed_url,
            data={"errors": errors, "error": result.error, "last_success": before.last_success},
        )
    if not before.failing_alerted:
        return None
    return Alert(
        key=f"feed_recovered|{result.feed_url}|{stamp}", story="", kind="feed_recovered",
        title=f"Feed recovered: {name}",
        body=f"Polled successfully again after {before.consecutive_errors} errors in a row.",
        link=None, outlet=name, feed_url=result.feed_url,
        data={"errors": before.consecutive_errors, "last_error": before.last_error},
    )


def feed_flood_alert(before: FeedState, url: str, detail: str, now: datetime | None = None) -> Alert | None:
    """One `feed_flooding` alert when a poll of a feed hits a cap (service.max_new_items,
    max_alerts, parse.MAX_ITEMS) and the poll before did not (pure); None otherwise."""
    if before.error_reason == "flood":
        return None
    stamp = (now or datetime.now(timezone.utc)).isoformat()
    name = before.title or url
    return Alert(key=f"feed_flooding|{url}|{stamp}", story="", kind="feed_flooding",
                 title=f"Feed flooding: {name}", body=detail, link=None, outlet=name, feed_url=url,
                 data={"detail": detail})


# ---------------------------------------------------------------- escaping (untrusted text)

# control characters, zero-width characters and every bidirectional control (embeddings,
# overrides, isolates U+2066-U+2069, marks): feed text must not reorder what a reader sees
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_TAG_OPEN = re.compile(r"(<|&lt;|&#0*60;|&#x0*3c;)(?=\s*[!@#/?A-Za-z])", re.IGNORECASE)
_AT = re.compile(r"@(?=\w)")
_BANG = re.compile(r"!(?=(?:channel|here|everyone|group|subteam|date)\b)", re.IGNORECASE)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#~])")


def neutralise(text: str) -> str:
    """Plain text that cannot ping or open a tag: whitespace collapsed, a zero-width joiner
    after `<` (before a letter, !, @, #, /, ?), after `@` (before a word) and in `!channel`."""
    text = " ".join(_CONTROL.sub("", text).split())
    text = _TAG_OPEN.sub(lambda m: m.group(1) + ZWJ, text)
    text = _AT.sub("@" + ZWJ, text)
    return _BANG.sub("!" + ZWJ, text)


def truncate(text: str, limit: int) -> str:
    """Cut on a word boundary and add an ellipsis; `limit` counts the ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def escape(text: str, fmt: str, limit: int = TEXT_MAX) -> str:
    """Untrusted text, truncated, neutralised and escaped for `fmt` (text|markdown|html)."""
    safe = neutralise(truncate(" ".join(str(text).split()), limit))
    if fmt == "html":
        return html.escape(safe, quote=True)
    if fmt == "markdown":
        return _md(safe)
    return safe


def _md(text: str) -> str:
    """Backslash-escape the CommonMark characters that start markup, links or tags."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def safe_link(url: str | None) -> str | None:
    """An http(s) URL with every character that could break out of a link percent-encoded."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe=":/?#@!$&*+,;=%~-._")


# ---------------------------------------------------------------- rendering (pure)


@dataclass(frozen=True)
class _Message:
    """What a message says, before formatting. All strings are untrusted plain text."""

    label: str  # our own words: "New statement"
    title: str
    text: str
    facts: tuple[tuple[str, str], ...] = ()
    link: str | None = None
    outlet: str = ""


def render(alert: Alert, fmt: str = "text", sources: int = 1,
           names: dict[str, str] | None = None) -> tuple[str, str]:
    """(title, body) for one alert. The title is plain text (neutralised); the body is in `fmt`.
    `names` maps actor ids to display names and "claim:ID" to claim descriptions (from the
    story config: `Notifier.names`)."""
    msg = _message(alert, sources, names or {})
    title = " ".join(msg.title.split())
    if not title.lower().startswith(msg.label.lower()):
        title = f"{msg.label}: {title}" if title else msg.label
    return neutralise(truncate(title, TITLE_MAX)), _format(msg, fmt)


def _message(a: Alert, sources: int, names: dict[str, str]) -> _Message:
    """Who said what, or the figure with its previous value, from the event's data (novelty.py)."""
    d = a.data or {}
    st, fig = d.get("statement") or {}, d.get("figure") or {}
    text, facts = a.body, []
    if a.kind == "statement":
        text = st.get("text") or a.body
        claim = st.get("claim_description") or names.get(f"claim:{st.get('claim')}") or st.get("claim")
        facts = [("Said by", _who(names, st.get("actor") or a.actor)),
                 ("Sentence", st.get("sentence") if st.get("sentence") != text else None),
                 ("Claim", f"{claim} ({st['stance']})" if claim and st.get("stance") else claim)]
    elif a.kind == "figure" and fig:
        text = fig.get("sentence") or a.body
        others = [_previous(x, names) for x in d.get("disagreement") or []]
        measure = f" {fig['measure']}" if fig.get("measure") else ""  # "at least 100 killed"
        facts = [("Figure", _figure(fig) + measure), ("Given by", _who(names, fig.get("source"))),
                 ("Previous", _previous(d.get("previous"), names)), ("Other sources", "; ".join(others))]
    elif a.kind in OPS_KINDS:
        facts = [("Feed", a.feed_url)]
    if a.kind not in OPS_KINDS:
        facts += [("Story", a.story), ("Outlet", a.outlet)]
    if sources > 1:
        facts.append(("Reported by", f"{sources} outlets"))
    if a.published:
        facts.append(("Published", a.published.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    label = _KIND_LABEL.get(a.kind, "Alert")
    return _Message(label, a.title, text, tuple((k, str(v)) for k, v in facts if v), a.link, a.outlet)


def _who(names: dict[str, str], actor: Any) -> str:
    """An actor id's display name; an untracked speaker ("other:US government") shows its name."""
    if not actor:
        return ""
    return names.get(str(actor)) or str(actor).removeprefix("other:")


def _figure(f: dict) -> str:
    """'about 11,000–12,000' from a figure dict (value, high, qualifier)."""
    if f.get("value") is None:
        return ""
    text = _number(f["value"]) + (f"–{_number(f['high'])}" if f.get("high") else "")
    qualifier = f.get("qualifier")
    return f"{qualifier} {text}" if qualifier and qualifier != "exact" else text


def _previous(prev: Any, names: dict[str, str]) -> str:
    """A previous (or disagreeing) figure with who gave it, when and where."""
    if prev is None or prev == "":
        return ""
    if not isinstance(prev, dict):
        return _number(prev)
    where = [_who(names, prev[k]) if k == "source" else str(prev[k])
             for k in ("source", "date", "outlet") if prev.get(k)]
    return _figure(prev) + (f" ({', '.join(where)})" if where else "")


def _number(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _format(msg: _Message, fmt: str) -> str:
    lines = [escape(line, fmt) for line in msg.text.splitlines() if line.strip()][:8]
    facts = [(k, escape(v, fmt, FACT_MAX)) for k, v in msg.facts]
    link = safe_link(msg.link)
    read = "Read the article" + (f" at {msg.outlet}" if msg.outlet else "")
    if fmt == "html":
        items = "".join(f"<li><b>{k}:</b> {v}</li>" for k, v in facts)
        # the address as the link's text too: the plain-text part Apprise derives keeps only text
        a = f'<p>{escape(read, fmt)}: <a href="{html.escape(link)}">{html.escape(link)}</a></p>' if link else ""
        return f"<p><b>{msg.label}</b></p><p>{'<br>'.join(lines)}</p><ul>{items}</ul>{a}"
    if fmt == "markdown":
        items = "\n".join(f"- **{k}:** {v}" for k, v in facts)
        a = f"\n\n[{escape(read, fmt)}](<{link}>)" if link else ""
        return f"**{msg.label}**\n\n" + "\n\n".join(lines) + f"\n\n{items}{a}"
    items = "\n".join(f"{k}: {v}" for k, v in facts)
    a = f"\n\n{escape(read, fmt)}: {link}" if link else ""
    return f"{msg.label}\n\n" + "\n".join(lines) + f"\n\n{items}{a}"


def render_digest(alerts: Sequence[tuple[Alert, int]], fmt: str = "text", max_chars: int = 0,
                  names: dict[str, str] | None = None) -> tuple[str, str]:
    """(title, body) for several (alert, sources) in one message; one alert renders as itself.
    At most DIGEST_MAX entries (and `max_chars` of body, if > 0) are listed; the rest counted."""
    if len(alerts) == 1:
        return render(alerts[0][0], fmt, alerts[0][1], names)
    stories = sorted({a.story for a, _ in alerts if a.story})
    title = f"Story Monitor: {len(alerts)} alerts" + (f" ({', '.join(stories)})" if stories else "")
    entries: list[str] = []
    used = 0
    for a, sources in alerts[:DIGEST_MAX]:
        entry = _digest_entry(a, sources, fmt)
        if max_chars and used + len(entry) > max_chars - 200:
            break
        entries.append(entry)
        used += len(entry)
    more = len(alerts) - len(entries)
    tail = f"…and {more} more (see `monitor status`)" if more else ""
    if fmt == "html":
        return neutralise(truncate(title, TITLE_MAX)), f"<ul>{''.join(entries)}</ul>" + (f"<p>{html.escape(tail)}</p>" if tail else "")
    sep = "\n\n" if fmt == "markdown" else "\n"
    return neutralise(truncate(title, TITLE_MAX)), sep.join(entries) + (f"{sep}{tail}" if tail else "")


def _digest_entry(a: Alert, sources: int, fmt: str) -> str:
    label = _KIND_LABEL.get(a.kind, "Alert")
    title = escape(a.title or a.body, fmt, TITLE_MAX)
    outlet = escape(a.outlet, fmt, FACT_MAX) + (f", {sources} outlets" if sources > 1 else "")
    link = safe_link(a.link)
    if fmt == "html":
        a_ = f' <a href="{html.escape(link)}">{html.escape(link)}</a>' if link else ""
        return f"<li><b>{label}:</b> {title} <i>({outlet})</i>{a_}</li>"
    if fmt == "markdown":
        return f"- **{label}:** {title} _({outlet})_" + (f" [link](<{link}>)" if link else "")
    return f"- {label}: {title} ({outlet})" + (f" {link}" if link else "")


def _blend(title: str, body: str, fmt: str) -> str:
    """For plugins without a title field: the title as the body's first line, escaped for fmt."""
    if fmt == "html":
        return f"<p><b>{html.escape(title)}</b></p>{body}"
    if fmt == "markdown":
        return f"**{_md(title)}**\n\n{body}"
    return f"{title}\n\n{body}"


# ---------------------------------------------------------------- channels (one Apprise object per target)


@dataclass
class Channel:
    """One configured target, ready to send: its own Apprise object, so a failure is its own."""

    id: str
    target: Target
    masked: str
    apprise: apprise.Apprise | None
    fmt: str = "text"
    blend: bool = False
    body_max: int = 0
    secrets: tuple[str, ...] = ()  # config secrets + hidden URL parts: scrubbed from errors
    config_secrets: tuple[str, ...] = ()  # scrubbed from messages

    @classmethod
    def build(cls, target: Target, secrets: Sequence[str] = ()) -> Channel:
        asset = apprise.AppriseAsset(app_id="Story Monitor", app_desc="Story Monitor alerts")
        plugin = apprise.Apprise.instantiate(target.url, asset=asset)
        own = tuple(s for s in secrets if len(s) >= 6)
        hidden = own + _hidden_parts(target.url, plugin)
        if plugin is None:
            return cls(target_id(target), target, masked(target), None, secrets=hidden, config_secrets=own)
        obj = apprise.Apprise(asset=asset)
        obj.add(plugin)
        fmt = plugin.resolve_format(None) if hasattr(plugin, "resolve_format") else plugin.notify_format
        return cls(target_id(target), target, plugin.url(privacy=True), obj, _FORMATS.get(fmt, "text"),
                   blend=plugin.title_maxlen <= 0, body_max=max(plugin.body_maxlen, 0), secrets=hidden,
                   config_secrets=own)

    def send(self, title: str, body: str, notify_type: str = NotifyType.INFO) -> str | None:
        """None when the target accepted the message, else why not (secrets masked)."""
        if self.apprise is None:
            return f"Apprise cannot use this URL: {self.masked}"
        if self.blend:
            title, body = "", _blend(title, body, self.fmt)
        try:
            result = self.apprise.notify(body=body, title=title, body_format=self.fmt, notify_type=notify_type)
        except Exception as exc:  # a plugin bug must not stop the other targets
            return self.redact(f"Apprise raised {type(exc).__name__}: {exc}")
        return None if result else self.redact(_reason(result))

    def redact(self, text: str) -> str:
        """An error text without any secret of this target, shortened."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "****")
        return truncate(text, ERROR_MAX)

    def scrub(self, text: str) -> str:
        """A message without the configured secrets (a feed URL may carry a token)."""
        for secret in sorted(self.config_secrets, key=len, reverse=True):
            text = text.replace(secret, "****")
        return text


def _hidden_parts(url: str, plugin: Any) -> tuple[str, ...]:
    """The URL itself and every part of it that Apprise's privacy form does not show."""
    shown = plugin.url(privacy=True) if plugin is not None else ""
    parts = [p for p in re.split(r"[/:@?&=#,+]", url) if len(p) >= 4 and p not in shown]
    return (url, *parts)


def _reason(result: Any) -> str:
    logs = getattr(result, "logs", None)
    lines = [e.message for e in logs() if e.level in ("WARNING", "ERROR", "CRITICAL")] if logs else []
    return "; ".join(dict.fromkeys(lines[-2:])) or "the target did not accept the message (no details from Apprise)"


# ---------------------------------------------------------------- notify-test


def test_targets(config: Config) -> list[tuple[str, bool, str | None]]:
    """Send a test message to each configured target: [(masked URL, accepted, error)]."""
    out = []
    for target in config.notify.targets:
        ch = Channel.build(target, config.secrets)
        error = ch.send(TEST_TITLE, TEST_BODY)
        log.info("notify test target=%s ok=%s", ch.masked, error is None)
        out.append((ch.masked, error is None, error))
    return out


test_targets.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


# ---------------------------------------------------------------- the delivery worker


@dataclass
class DeliverySummary:
    sent: int = 0  # deliveries acknowledged
    messages: int = 0  # messages sent (a digest is one)
    retrying: int = 0
    failed: int = 0
    held: int = 0
    busy: bool = False  # another thread or process was delivering; nothing done
    errors: list[str] = field(default_factory=list)  # "target: reason", masked

    def __str__(self) -> str:
        if self.busy:
            return "another process is delivering"
        return (f"sent={self.sent} messages={self.messages} retrying={self.retrying} "
                f"held={self.held} failed={self.failed}")


class _Failure(NamedTuple):
    until: datetime  # when the target is tried again
    error: str


class Notifier:
    """Sends due deliveries from the outbox. `clock` is injectable for tests."""

    def __init__(self, config: Config, store: Store, clock: Callable[[], datetime] | None = None):
        self.store = store
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.lock = threading.Lock()
        self.lock_path = Path(f"{store.path}.deliver.lock")
        self.unrecorded: dict[int, dict[str, Any]] = {}  # outcomes the store refused, written first next pass
        self.lock_file: IO[str] | None = None  # the deliver.lock flock, held across passes while unrecorded
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        channels: dict[str, Channel] = {}
        for t in config.notify.targets:
            ch = Channel.build(t, config.secrets)
            if ch.id in channels:
                log.error("notify target ignored reason=duplicate_name target=%s", ch.masked)
                continue
            channels[ch.id] = ch
        names = {a.id: a.name for story in config.stories for a in story.actors}
        names |= {f"claim:{c.id}": " ".join(c.description.split()) for story in config.stories for c in story.claims}
        with self.lock:
            self.config, self.channels, self.names = config, channels, names

    def deliver_due(self, now: datetime | None = None, wait: float = 0.0) -> DeliverySummary:
        """Send every due delivery; with another deliverer busy, wait up to `wait` s, else skip."""
        got = self.lock.acquire(timeout=wait) if wait > 0 else self.lock.acquire(blocking=False)
        if not got:
            return DeliverySummary(busy=True)
        try:
            if self.lock_file is None and not self.store.shared:  # PostgreSQL: rows are claimed per worker
                self.lock_file = _lock_file(self.lock_path, wait)
                if self.lock_file is None:
                    return DeliverySummary(busy=True)
            try:
                return self._deliver(now or self.clock())
            finally:
                if not self.unrecorded and self.lock_file is not None:  # else kept: no other process may take our claimed rows for orphans
                    self.lock_file.close()  # closing drops the flock
                    self.lock_file = None
        finally:
            self.lock.release()

    def _deliver(self, now: datetime) -> DeliverySummary:
        summary = DeliverySummary()
        if self.unrecorded:  # outcomes of messages already sent: recorded before anything is claimed
            self._mark_deliveries_kept([])
            log.warning("delivery results recorded after the store accepted writes again")
        self._release_orphan_claims(now)
        rows = self.store.due_deliveries(at=_iso(now))
        if not rows:
            return summary
        events = self.store.delivery_alerts({r["event"] for r in rows})
        by_target: dict[str, list[dict]] = {}
        for r in rows:
            by_target.setdefault(r["target"], []).append(r)
        for tid, trows in by_target.items():
            ch = self.channels.get(tid)
            if ch is None:
                self._give_up(trows, f"target {tid!r} is not configured any more", now, summary)
                continue
            self._deliver_target(ch, trows, events, now, summary)
        return summary

    def _deliver_target(self, ch: Channel, rows: list[dict], events: dict, now: datetime,
                        summary: DeliverySummary) -> None:
        t = ch.target
        quiet_end = _quiet_end(t.quiet_hours, now)
        if quiet_end is not None:
            self._hold(ch, rows, quiet_end, summary)
            return
        boundary = _next_boundary(now, t.digest_every)
        fold = [r for r in rows if r["digest"]]
        later = [r for r in rows if not r["digest"] and t.mode == "digest"]
        single = [r for r in rows if not r["digest"] and t.mode != "digest"]
        budget = t.rate_limit - self.store.instant_sent_since(ch.id, _iso(now - timedelta(hours=1)))
        later += single[max(budget, 0):]
        single = single[: max(budget, 0)]
        self._hold(ch, later, boundary, summary)
        batches = ([fold] if fold else []) + [[r] for r in single]
        for i, batch in enumerate(batches):
            failure = self._send(ch, batch, events, now, summary)
            if failure is not None:
                self._defer(ch, [r for b in batches[i + 1:] for r in b], failure, now, summary)
                return

    def _send(self, ch: Channel, rows: list[dict], events: dict, now: datetime,
              summary: DeliverySummary) -> _Failure | None:
        """One message for `rows` (a digest if several); record the outcome. None if accepted."""
        alerts = [events[r["event"]] for r in rows if r["event"] in events]
        title, body = render_digest(alerts, ch.fmt, ch.body_max, self.names) if alerts else ("", "")
        kind = alerts[0][0].kind if len(alerts) == 1 else "digest"
        if alerts:  # claimed in its own commit: if the store refuses, nothing is sent
            self.store.mark_deliveries([(r["id"], {"state": "sending", "next_attempt": _iso(self.clock())})
                                        for r in rows])
        error = ch.send(ch.scrub(title), ch.scrub(body), _NOTIFY_TYPE.get(kind, NotifyType.INFO)) \
            if alerts else "event not found in the store"
        if error is None:
            self._mark_deliveries_kept([(r["id"], {"state": "sent", "sent_at": _iso(self.clock()),
                                                   "attempts": r["attempts"] + 1, "last_error": None})
                                        for r in rows])
            summary.sent += len(rows)
            summary.messages += 1
            metrics.observe_delivery("sent", len(rows))
            log.info("delivery sent target=%s kind=%s events=%d", ch.id, kind, len(rows))
            return None
        return self._failed(ch, rows, error, now, summary)

    def _failed(self, ch: Channel, rows: list[dict], error: str, now: datetime,
                summary: DeliverySummary) -> _Failure:
        """Retry later with backoff, or give up on rows older than retry_max_age."""
        n = self.config.notify
        attempts = max(r["attempts"] for r in rows) + 1
        delay = min(n.retry_cap, n.retry_base * 2 ** (attempts - 1))
        summary.errors.append(f"{ch.masked}: {error}")
        old = [r for r in rows if _age(r, now) >= n.retry_max_age]
        self._give_up(old, f"gave up after {attempts} attempts: {error}", now, summary, ch.id, bump=True)
        young = [r for r in rows if r not in old]
        self._mark_deliveries_kept([(r["id"], {"state": "retrying", "attempts": r["attempts"] + 1,
                                               "next_attempt": _iso(now + timedelta(seconds=delay)),
                                               "last_error": error}) for r in young])
        summary.retrying += len(young)
        metrics.observe_delivery("retrying", len(young))
        if young:
            log.warning("delivery failed target=%s attempt=%d retry_in=%.0fs events=%d error=%s",
                        ch.id, attempts, delay, len(young), error)
        return _Failure(now + timedelta(seconds=delay), error)

    def _defer(self, ch: Channel, rows: list[dict], failure: _Failure, now: datetime,
               summary: DeliverySummary) -> None:
        """Rows not tried because their target just failed: due again with it, attempts unchanged."""
        if not rows:
            return
        old = [r for r in rows if _age(r, now) >= self.config.notify.retry_max_age]
        self._give_up(old, f"gave up, the target kept failing: {failure.error}", now, summary, ch.id)
        young = [r for r in rows if r not in old]
        self._mark_deliveries_kept([(r["id"], {"state": "retrying", "next_attempt": _iso(failure.until),
                                               "last_error": f"not tried, the target failed: {failure.error}"})
                                    for r in young])
        summary.retrying += len(young)
        metrics.observe_delivery("retrying", len(young))

    def _give_up(self, rows: list[dict], reason: str, now: datetime, summary: DeliverySummary,
                 tid: str = "", bump: bool = False) -> None:
        if not rows:
            return
        self._mark_deliveries_kept([(r["id"], {"state": "failed", "last_error": reason,
                                               "attempts": r["attempts"] + (1 if bump else 0)}) for r in rows])
        summary.failed += len(rows)
        metrics.observe_delivery("failed", len(rows))
        log.error("delivery failed for good target=%s events=%d reason=%s", tid or rows[0]["target"], len(rows), reason)

    def _mark_deliveries_kept(self, updates: list[tuple[int, dict[str, Any]]]) -> None:
        """Write delivery outcomes, after any the store refused before. If it refuses again, keep
        them in memory (a claimed row is not due, so nothing is sent twice meanwhile) and raise."""
        for delivery_id, cols in updates:
            self.unrecorded.setdefault(delivery_id, {}).update(cols)
        pending = list(self.unrecorded.items())
        try:
            self.store.mark_deliveries(pending)
        except StoreError:
            log.debug("delivery results kept in memory until the store accepts writes rows=%d", len(pending))
            raise
        for delivery_id, _ in pending:
            self.unrecorded.pop(delivery_id, None)

    def _release_orphan_claims(self, now: datetime) -> None:
        """Rows claimed and never settled by a process that no longer holds the delivery lock:
        it died between the claim and recording the outcome (a process whose outcomes the store
        refused keeps the lock until they are written). The target may have the message or not:
        sent again, the one window for a duplicate."""
        n = self.store.release_claims(list(self.unrecorded), _iso(now))
        if n:
            log.warning("delivery claims released rows=%d reason=the sending process stopped before recording "
                        "the result; sent again (may arrive twice)", n)

    def _hold(self, ch: Channel, rows: list[dict], until: datetime, summary: DeliverySummary) -> None:
        if not rows:
            return
        self._mark_deliveries_kept([(r["id"], {"state": "held", "digest": 1, "next_attempt": _iso(until)})
                                    for r in rows])
        summary.held += len(rows)
        metrics.observe_delivery("held", len(rows))
        log.info("delivery held target=%s events=%d until=%s", ch.id, len(rows), _iso(until))


# ---------------------------------------------------------------- time helpers


def _iso(dt: datetime) -> str:
    """The store's timestamp format (UTC, seconds), so string order is time order."""
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def _age(row: dict, now: datetime) -> float:
    return (now - datetime.fromisoformat(row["created_at"])).total_seconds()


def _next_boundary(now: datetime, every: float) -> datetime:
    """The next epoch-aligned multiple of `every` seconds after `now`."""
    every = max(every, 1.0)
    ts = (int(now.timestamp() // every) + 1) * every
    return datetime.fromtimestamp(ts, timezone.utc)


def _quiet_end(window: str | None, now: datetime) -> datetime | None:
    """When `now` falls in the daily UTC window "HH:MM-HH:MM", the window's end; else None."""
    if not window:
        return None
    start, end = (int(p[:2]) * 60 + int(p[3:]) for p in window.split("-"))
    if start == end:
        return None
    now = now.astimezone(timezone.utc)
    minute = now.hour * 60 + now.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    until = day + timedelta(minutes=end)
    return until if until > now else until + timedelta(days=1)


def _lock_file(path: Path, wait: float) -> IO[str] | None:
    """`path` opened and flocked, so one process at a time delivers (the kernel drops the lock
    when the process dies); None if another process held it for `wait` seconds."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the thread lock is all we have
        return open(path, "a")
    f = open(path, "a")
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() >= deadline:
                f.close()
                return None
            time.sleep(0.05)
