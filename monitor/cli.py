"""The command line: the only place that prints, exits, or shows an error to a user.

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any, Callable

import click

from . import config as config_mod
from .errors import ConfigError, MonitorError

if TYPE_CHECKING:
    from pathlib import Path

    from .store import Store


def common(f: Callable) -> Callable:
    """--config, --state and -v, shared by every command. They may also come before the command
    (`monitor --config X status`): given after it, they win; then before it; then the environment."""

    @click.option("--config", "config_dir", metavar="DIR", envvar="MONITOR_CONFIG", show_envvar=True,
                  help="Config directory (default: config/).")
    @click.option("--state", "state_dir", metavar="DIR", envvar="MONITOR_STATE", show_envvar=True,
                  help="State directory for the SQLite store (default: state/).")
    @click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
    @functools.wraps(f)
    def wrapper(config_dir: str | None, state_dir: str | None, verbose: int, **kw: Any) -> Any:
        config_dir, state_dir, verbose = _with_group_options(config_dir, state_dir, verbose)
        return f(config_dir=config_dir, state_dir=state_dir, verbose=verbose, **kw)

    return wrapper


def _with_group_options(config_dir: str | None, state_dir: str | None, verbose: int) -> tuple[str | None, str | None, int]:
    from click.core import ParameterSource

    ctx = click.get_current_context()
    top = ctx.find_root().params

    def pick(name: str, value: str | None) -> str | None:
        given_here = ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
        return value if given_here or top.get(name) is None else top[name]

    return pick("config_dir", config_dir), pick("state_dir", state_dir), verbose + (top.get("verbose") or 0)


def load_config(config_dir: str | None, state_dir: str | None, stories_only: bool = False) -> config_mod.Config:
    """Load config (files, environment, notification targets) or exit 2, one line per problem.
    `stories_only`: a config dir without monitor.toml will do (commands that read only stories)."""
    try:
        cfg = config_mod.load(config_dir, state_dir, stories_only=stories_only)
        if cfg.notify.targets:  # only Apprise can check them: imported only then (~0.1 s of start-up)
            from .notify import check_targets

            problems = check_targets(cfg)
            if problems:
                raise ConfigError(problems)
        return cfg
    except ConfigError as exc:
        if getattr(exc, "targets", None):  # the targets that did load are checked too: every problem in one run
            from .notify import load_checked

            try:
                load_checked(config_dir, state_dir)
            except ConfigError as every:
                exc = every
        fail_config(exc)


def warn_config(cfg: config_mod.Config) -> None:
    """Not errors, but the operator should know: optional targets left out, no target at all."""
    for note in cfg.notes:
        click.echo(f"note: {note}", err=True)
    if not cfg.notify.targets:
        click.echo("warning: no notification targets: alerts are stored (see `monitor status`) but sent nowhere. "
                   f"Hint: add [[notify.targets]] to {cfg.config_dir / config_mod.SERVICE_FILE} "
                   "or set MONITOR_NOTIFY_URLS", err=True)


def fail_config(exc: ConfigError) -> None:
    for line in exc.problems:
        click.echo(f"error: {line}", err=True)
    for line in getattr(exc, "warnings", []):
        click.echo(f"warning: {line}", err=True)
    click.echo(f"{len(exc.problems)} problem(s) in the configuration; nothing was started.", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="story-monitor")
@click.option("--config", "config_dir", metavar="DIR", help="Config directory (also accepted after the command).")
@click.option("--state", "state_dir", metavar="DIR", help="State directory (also accepted after the command).")
@click.option("-v", "--verbose", count=True, help="More logging (also accepted after the command).")
def cli(config_dir: str | None, state_dir: str | None, verbose: int) -> None:
    """Story Monitor: watch news feeds for one developing story and alert on what is new."""


def open_store(cfg: config_mod.Config) -> "Store":
    from . import store as store_mod

    try:
        return store_mod.open_store(cfg.database, lease=cfg.service.lease)
    except Exception as exc:  # sqlite3.Error, OSError, newer schema, PostgreSQL unreachable
        if isinstance(cfg.database, str):  # PostgreSQL: the message names it, password masked
            raise click.ClickException(str(exc)) from None
        raise click.ClickException(f"{cfg.database}: cannot open the store: {exc}. Hint: check --state and its permissions")


def setup_logging(cfg: config_mod.Config | None, verbose: int, fmt: str = "text") -> None:
    from . import logs

    logs.setup(verbose, fmt, logs_secrets(cfg) if cfg else ())


def logs_secrets(cfg: config_mod.Config) -> list[str]:
    if not cfg.notify.targets:
        return list(cfg.secrets)
    from .notify import secret_values

    return [*cfg.secrets, *secret_values(cfg)]


@cli.command()
@common
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", envvar="MONITOR_LOG_FORMAT",
              show_envvar=True, help="json: one JSON object per line, for log shippers.")
@click.option("--web", metavar="HOST:PORT", envvar="MONITOR_WEB", show_envvar=True, callback=lambda c, p, v: _web_address(v),
              help="Serve the dashboard, /healthz and /metrics here (default: [web] listen, else off; a bare PORT means 127.0.0.1).")
def run(config_dir: str | None, state_dir: str | None, verbose: int, log_format: str, web: str | None) -> None:
    """Run the service: poll every feed on its schedule until SIGTERM/SIGINT."""
    from .service import Service

    cfg = load_config(config_dir, state_dir)
    warn_config(cfg)
    setup_logging(cfg, max(verbose, 1), log_format)
    for line in cfg.warnings:
        logging.getLogger("monitor.config").warning("config warning: %s", line)
    service = None
    try:
        service = Service(cfg, config_dir, state_dir, web=web or cfg.web.listen)
        service.run_forever()
    except (OSError, MonitorError) as exc:  # the dashboard's port is taken; the state dir is unwritable
        if service is not None:
            service.pipeline.close()  # its HTTP session too: no "Unclosed client session" after our one line
        raise click.ClickException(str(exc)) from None


@cli.command()
@common
def check(config_dir: str | None, state_dir: str | None, verbose: int) -> None:
    """Poll every feed once now, deliver what was queued, print a summary and exit.

    Feeds in error backoff are polled too (you asked); feeds marked gone (HTTP 410) are not
    (`monitor feeds reset URL` revives one). Exits 1 when no feed was polled successfully.
    """
    from .pipeline import Pipeline

    cfg = load_config(config_dir, state_dir)
    warn_config(cfg)
    setup_logging(cfg, verbose - 1)
    store = open_store(cfg)
    pipeline = Pipeline(cfg, store, metrics=False)  # no /metrics to serve: nothing to count
    feeds = [f for f in cfg.feeds if f.enabled]
    try:
        summaries = pipeline.poll_many(feeds, force=True)  # a person asked: error backoff does not apply
    finally:
        pipeline.close()
    sent: object = {}
    if cfg.notify.targets or store.due_deliveries():  # else nothing to send (nor Apprise to import)
        from .notify import Notifier

        sent = Notifier(cfg, store).deliver_due(wait=30)  # wait for a running service's pass
    for s in summaries:
        detail = f"new={s.new_items} relevant={s.relevant} alerts={s.alerts}" if not s.error else s.error
        click.echo(f"{s.status:<12} {s.feed_url}  {detail}")
    count = {k: sum(1 for s in summaries if s.status in v) for k, v in
             (("ok", ("ok", "not_modified")), ("failed", ("error",)), ("gone", ("gone",)), ("skipped", ("skipped",)))}
    unpolled = "".join(f", {count[k]} not polled ({why})" for k, why in (
        ("gone", "gone: the server said 410; `monitor feeds reset URL` revives one"),
        ("skipped", "in backoff")) if count[k])
    click.echo(f"{len(feeds) - count['gone'] - count['skipped']} feeds polled: {count['ok']} ok, {count['failed']} failed"
               f"{unpolled}; {sum(s.new_items for s in summaries)} new items, {sum(s.relevant for s in summaries)} relevant, "
               f"{sum(s.alerts for s in summaries)} alerts; deliveries: {_fmt_sent(sent)}")
    if feeds and not count["ok"]:
        sys.exit(1)


def _fmt_sent(sent: object) -> str:
    if isinstance(sent, dict):
        return ", ".join(f"{k}={v}" for k, v in sent.items()) or "none due"
    return str(sent)


@cli.command()
@common
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config_dir: str | None, state_dir: str | None, verbose: int, as_json: bool) -> None:
    """Show every feed's health, story counts and the delivery outbox.

    Reads the store only (a backup on a read-only mount will do). When the config does not
    load, it says what is wrong and shows what the store holds.
    """
    import json

    from . import logs

    cfg, problems = _config_for_reading(config_dir, state_dir)
    try:
        store = open_store_readonly(cfg.database if cfg else config_mod.locate_database(config_dir, state_dir))
    except click.ClickException:
        for line in problems:  # what is wrong with the config, then why there is nothing to show
            click.echo(logs.REDACTOR.redact(f"config: {line}"), err=True)
        raise
    feeds = _feed_report(store, cfg)
    stories = [s.id for s in cfg.stories] if cfg else sorted(store.story_counts())
    data = {"feeds": feeds, "stories": store.story_counts(), "counts": store.counts(),
            "deliveries": store.delivery_counts(), "failed_deliveries": store.failed_deliveries(),
            "targets": _targets(cfg, store)}
    if cfg is not None:
        from .service import health as service_health

        data["service"] = service_health(cfg) or "running"  # its heartbeat: alive, store writable or why not
    if store.shared:  # PostgreSQL: the workers sharing the store and the feeds they hold (issue 15)
        data["workers"], data["leases"] = _workers_report(store, cfg)
        live = [w for w in data["workers"] if w["alive"]]
        data["service"] = (f"{len(live)} worker(s) running" if live else
                           "not running: no worker has beaten recently. Hint: start `monitor run`")
    if problems:
        data["config_problems"] = problems
    if as_json:
        click.echo(logs.REDACTOR.redact(json.dumps(data, indent=2, default=str)))
        return
    for line in problems:
        click.echo(logs.REDACTOR.redact(f"config: {line}"), err=True)
    if problems:
        click.echo(f"config: {len(problems)} problem(s) (fix them, then `monitor validate`); "
                   "showing every feed the store knows", err=True)
    _print_feed_table(feeds)
    for sid in stories:
        c = data["stories"].get(sid, {"relevant": 0, "events": 0})
        click.echo(f"story {sid}: {c['relevant']} relevant items, {c['events']} alert events")
    click.echo(f"items: {data['counts']['items']} stored; deliveries: {_fmt_sent(data['deliveries'])}")
    for t in data["targets"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(t["states"].items())) or "no deliveries"
        line = f"target {t['name']} {t['url']}: {counts}; last sent {t['last_sent'] or 'never'}"
        if t["next_attempt"]:
            line += f"; next attempt {t['next_attempt']}"
        if t["last_error"] and (t["states"].get("retrying") or t["states"].get("failed")):
            line += f"; last error: {t['last_error']}"
        click.echo(logs.REDACTOR.redact(line))
    for d in data["failed_deliveries"]:
        click.echo(logs.REDACTOR.redact(f"delivery failed: event {d['event']} to {d['target']}: {d['last_error']}"))
    if "workers" in data:
        _print_workers(data["workers"], data["leases"])
    if "service" in data:
        click.echo(f"service: {data['service']}")
    if data["failed_deliveries"]:
        click.echo("to send failed deliveries again: monitor notify-retry [--target NAME]")


def _targets(cfg: config_mod.Config | None, store: "Store") -> list[dict]:
    """Each configured target (and any the outbox still names) with its deliveries by state,
    last sent, next attempt and newest error; URLs in Apprise's privacy form."""
    from .notify import masked, target_id

    report = store.target_report()
    empty = {"states": {}, "last_sent": None, "last_error": None, "next_attempt": None}
    targets = cfg.notify.targets if cfg else []
    out = [{"name": target_id(t), "url": masked(t), **report.pop(target_id(t), empty)} for t in targets]
    return out + [{"name": name, "url": "(no longer configured)" if cfg else "(config not loaded)", **rep} for name, rep in sorted(report.items())]


def _config_for_reading(config_dir: str | None, state_dir: str | None) -> tuple[config_mod.Config | None, list[str]]:
    """The config, or (None, its problems) when it does not load: a read-only command goes on
    with what the store holds. Secrets it names that are set are masked either way."""
    from . import logs
    from .notify import load_checked

    try:
        cfg = load_checked(config_dir, state_dir)
    except ConfigError as exc:
        logs.REDACTOR.update(config_mod.set_secrets(config_dir))
        return None, list(exc.problems)
    logs.REDACTOR.update(logs_secrets(cfg))
    return cfg, []


def open_store_readonly(path: "Path | str") -> "Store":
    """The store at `path` for reading only; a missing or foreign file is a usage error (exit 2)."""
    from .store import open_store as open_any
    from .store import redact_url

    shown = redact_url(path) if isinstance(path, str) else path  # a PostgreSQL URL: password masked
    try:
        return open_any(path, read_only=True)
    except FileNotFoundError:
        raise _usage_error(f"{shown}: no store here. Hint: pass the --state DIR that `monitor run` uses "
                           "(or set MONITOR_STATE); nothing was created") from None
    except (ValueError, OSError) as exc:
        raise _usage_error(f"{shown}: cannot read the store: {exc}. Hint: check --state") from exc
    except Exception as exc:  # sqlite3.Error, StoreError (PostgreSQL: its message names it, masked)
        raise click.ClickException(f"{shown}: cannot read the store: {exc}") from exc


def _feed_report(store: "Store", cfg: config_mod.Config | None) -> list[dict]:
    """Each feed's stored state plus its health word (as on the dashboard) and next poll: the
    configured feeds, or with no config every feed the store knows."""
    import dataclasses
    from datetime import datetime, timedelta, timezone

    from .store import FeedState
    from .web import _feed_status

    now = datetime.now(timezone.utc)
    states = {f.url: f for f in store.feeds()}
    feeds = list(cfg.feeds) if cfg else [config_mod.Feed(url=u) for u in states]
    failing_after = cfg.service.failing_after if cfg else config_mod.Service.model_fields["failing_after"].default
    out = []
    for feed in feeds:
        st = states.get(feed.url) or FeedState(url=feed.url)
        health, _ = _feed_status(st, feed.enabled, now.isoformat(timespec="seconds"), failing_after)
        due = None
        if feed.enabled and not st.gone:
            due = st.next_poll  # error backoff
            if not due and st.last_poll and cfg:
                due = (datetime.fromisoformat(st.last_poll) + timedelta(seconds=cfg.interval(feed))).isoformat(timespec="seconds")
        out.append({**dataclasses.asdict(st), "title": feed.title or st.title, "health": health, "due": due})
    return out


def _print_feed_table(feeds: list[dict]) -> None:
    """One row per feed (title, health, times, counts); the URL and the error whole on lines of
    their own, wrapped at spaces only, so nothing is cut mid-word."""
    import shutil
    import textwrap

    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    click.echo(f"{'FEED':<30} {'STATUS':<12} {'LAST (UTC)':<11} {'NEXT (UTC)':<11} {'HTTP':>4} {'ITEMS':>6} {'ERRS':>4}")
    for f in feeds:
        title = textwrap.shorten(f["title"] or "(no title)", 30, placeholder="...")
        click.echo(f"{title:<30} {f['health']:<12} {_short_time(f['last_poll']):<11} "
                   f"{_short_time(f['due']) if f['due'] else ('never' if f['gone'] else '-'):<11} "
                   f"{f['last_status'] or '-':>4} {f['items']:>6} {f['consecutive_errors']:>4}")
        click.echo(f"  {f['url']}" + (f" -> moved to {f['moved_to']}" if f["moved_to"] else ""))
        err = (f["last_error"] or "").removeprefix(f"{f['url']}: ")
        if err:
            label = f"  error [{f['error_reason']}]: " if f.get("error_reason") else "  error: "
            click.echo(textwrap.fill(err, width, initial_indent=label, subsequent_indent=" " * 4,
                                     break_long_words=False, break_on_hyphens=False))


def _short_time(stamp: str | None) -> str:
    """'2026-12-05T09:15:00+00:00' -> '12-05 09:15' (UTC, as stored)."""
    return f"{stamp[5:10]} {stamp[11:16]}" if stamp else "never"


@cli.command()
@common
@click.option("--web", metavar="HOST:PORT", envvar="MONITOR_WEB", show_envvar=True, callback=lambda c, p, v: _web_address(v),
              help="Ask the service's /healthz at this address instead of reading the heartbeat file.")
def health(config_dir: str | None, state_dir: str | None, verbose: int, web: str | None) -> None:
    """Exit 0 when the service on this state dir is alive (Docker HEALTHCHECK).

    With --web (or MONITOR_WEB, or [web] listen), asks the running service's /healthz
    (scheduler alive, store writable); otherwise reads the heartbeat file it writes under the
    state directory: "not running" when there is no service, "stuck" for one that stopped beating.
    """
    from .service import health as service_health

    cfg = load_config(config_dir, state_dir)
    web = web or cfg.web.listen
    if web:
        from .web import probe

        problem = probe(web)
    else:
        problem = service_health(cfg)
    if problem:
        click.echo(f"unhealthy: {problem}", err=True)
        sys.exit(1)
    click.echo("healthy")


@cli.command()
@common
def validate(config_dir: str | None, state_dir: str | None, verbose: int) -> None:
    """Check the config files and environment; report every problem with a fix, and warn about
    settings that can never apply (an alias that is also a look-alike, ...)."""
    cfg = load_config(config_dir, state_dir)
    for line in cfg.warnings:
        click.echo(f"warning: {line}", err=True)
    click.echo(f"{cfg.config_dir}: ok: {len(cfg.feeds)} feeds, {len(cfg.stories)} stories "
               f"({', '.join(s.id for s in cfg.stories)}), {len(cfg.notify.targets)} notification targets")
    warn_config(cfg)


@cli.group()
def story() -> None:
    """Write story files."""


@story.command("new")
@common
@click.argument("story_id", metavar="ID")
@click.option("--from", "article", metavar="ARTICLE.txt", type=click.Path(dir_okay=False),
              help="Draft actors, figure kinds, concepts and [known] facts from an article (title on the first line).")
def story_new(config_dir: str | None, state_dir: str | None, verbose: int, story_id: str, article: str | None) -> None:
    """Write a commented story file, config/stories/ID.toml (never over an existing one); with
    --from, a draft from an article about the story. Then edit it, `monitor validate` and
    `monitor explain --text` until it says what you want."""
    import re
    import tempfile
    from pathlib import Path

    from .draft import draft

    if not re.fullmatch(r"[a-z0-9_-]+", story_id):
        raise _usage_error(f"{story_id!r}: a story id is lower-case letters, digits, - and _. Hint: monitor story new my-story")
    path = config_mod.config_dir(config_dir) / config_mod.STORIES_DIR / f"{story_id}.toml"
    if path.exists():
        raise _usage_error(f"{path}: already exists; nothing written. Hint: pick another ID or move the file away")
    text = None
    if article:
        try:
            text = Path(article).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _usage_error(f"{article}: cannot read the article: {exc}. Hint: give a UTF-8 text file") from exc
    body = draft(story_id, text)
    with tempfile.TemporaryDirectory() as tmp:  # the draft must validate before it is written
        problems: list[str] = []
        (Path(tmp) / "check.toml").write_text(body, encoding="utf-8")
        config_mod.load_story(Path(tmp) / "check.toml", problems)
    if problems:  # pragma: no cover - a bug in the drafter, shown rather than written
        raise click.ClickException("the draft does not validate (a bug, please report it):\n" + "\n".join(problems))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as f:
        f.write(body)
    click.echo(f"wrote {path}" + (f" (drafted from {article})" if article else "") +
               ". Next: edit it, then `monitor validate` and `monitor explain --text \"...\"`")
    service = path.parent.parent / config_mod.SERVICE_FILE
    if not service.exists():  # a fresh directory: validate, explain and backtest need the service file too
        click.echo(f"note: {service} does not exist yet; copy config/{config_mod.SERVICE_FILE} from the project "
                   f"there before `monitor validate --config {path.parent.parent}`")


@cli.group()
def feeds() -> None:
    """List, add, remove, import, export and reset feeds (writes config/monitor.toml)."""


@feeds.command("list")
@common
def feeds_list(config_dir: str | None, state_dir: str | None, verbose: int) -> None:
    """List the configured feeds."""
    cfg = load_config(config_dir, state_dir)
    for f in cfg.feeds:
        every = cfg.interval(f)
        click.echo(f"{f.url}\t{f.title or '-'}\tevery {every / 60:g}m{'' if f.enabled else ' (disabled)'}")


@feeds.command("add")
@common
@click.argument("url")
@click.option("--title", default="", help="A title to show in status.")
def feeds_add(config_dir: str | None, state_dir: str | None, verbose: int, url: str, title: str) -> None:
    """Add the feed at URL to the config."""
    _add_feeds(config_dir, [(url, title)])


@feeds.command("remove")
@common
@click.argument("url")
def feeds_remove(config_dir: str | None, state_dir: str | None, verbose: int, url: str) -> None:
    """Remove the feed at URL from the config (what it brought stays in the store)."""
    cdir = config_mod.config_dir(config_dir)
    try:
        config_mod.remove_feed(cdir, url)
    except ConfigError as exc:
        fail_config(exc)
    click.echo(f"removed {url} from {cdir / config_mod.SERVICE_FILE}; its stored items and alerts are kept")


@feeds.command("reset")
@common
@click.argument("url")
def feeds_reset(config_dir: str | None, state_dir: str | None, verbose: int, url: str) -> None:
    """Poll the feed at URL again: forget that it is gone (410), its error backoff and a
    remembered redirect. A running service polls it at its next turn. (The count of errors in a
    row stays until a poll succeeds, so a feed alerted as failing still gets its "recovered".)"""
    cfg = load_config(config_dir, state_dir)
    if cfg.feed(url) is None:
        raise _usage_error(f"{url}: not a configured feed. Hint: `monitor feeds list` shows them")
    open_store_readonly(cfg.database).close()  # a wrong --state is an error, not a new store
    store = open_store(cfg)
    before = store.feed(url)
    store.update_feed(url, gone=0, next_poll=None, moved_to=None)
    store.close()
    was = [w for w, on in (("gone", before.gone), (f"backoff until {before.next_poll}", before.next_poll),
                           (f"moved to {before.moved_to}", before.moved_to)) if on]
    click.echo(f"reset {url} ({', '.join(was) or 'nothing to forget'}); it is polled at the service's next turn, "
               "or now with `monitor check`")


@feeds.command("import")
@common
@click.argument("opml", type=click.Path(exists=True, dir_okay=False))
def feeds_import(config_dir: str | None, state_dir: str | None, verbose: int, opml: str) -> None:
    """Add every feed of an OPML file to the config."""
    from pathlib import Path

    try:
        entries = config_mod.read_opml(Path(opml))
    except ConfigError as exc:
        fail_config(exc)
    _add_feeds(config_dir, entries)


def _add_feeds(config_dir: str | None, entries: list[tuple[str, str]]) -> None:
    cdir = config_mod.config_dir(config_dir)
    try:
        added = config_mod.add_feeds(cdir, entries)
    except ConfigError as exc:
        fail_config(exc)
    for url in added:
        click.echo(f"added {url}")
    click.echo(f"{len(added)} feed(s) added, {len(entries) - len(added)} already present, to {cdir / config_mod.SERVICE_FILE}")


@feeds.command("export")
@common
def feeds_export(config_dir: str | None, state_dir: str | None, verbose: int) -> None:
    """Print the configured feeds as OPML."""
    cfg = load_config(config_dir, state_dir)
    click.echo(config_mod.write_opml(cfg.feeds), nl=False)


@cli.command("notify-test")
@common
def notify_test(config_dir: str | None, state_dir: str | None, verbose: int) -> None:
    """Send a test message to every notification target; report per target whether it was accepted.

    Targets are shown with their secrets masked. Exits 1 when any target failed or none is configured.
    """
    from .notify import test_targets

    cfg = load_config(config_dir, state_dir)
    setup_logging(cfg, verbose - 1)
    if not cfg.notify.targets:
        click.echo("no notification targets configured. Hint: add [[notify.targets]] to "
                   f"{cfg.config_dir / config_mod.SERVICE_FILE} or set MONITOR_NOTIFY_URLS", err=True)
        sys.exit(1)
    results = test_targets(cfg)
    for url, ok, error in results:
        click.echo(f"{'ok' if ok else 'FAILED':<7} {url}" + ("" if ok else f"  {error}"))
    failed = sum(1 for _, ok, _ in results if not ok)
    click.echo(f"{len(results)} target(s): {len(results) - failed} accepted, {failed} failed")
    if failed:
        sys.exit(1)


@cli.command("notify-retry")
@common
@click.option("--target", "target", metavar="NAME", help="Only this target's deliveries (its name in `monitor status`).")
def notify_retry(config_dir: str | None, state_dir: str | None, verbose: int, target: str | None) -> None:
    """Send again the deliveries that ended `failed` (after retry_max_age), e.g. once a target
    that was down works again: they are due at once, with a new retry_max_age window.

    A running service sends them within 10 seconds; without one, `monitor check` does.
    """
    cfg = load_config(config_dir, state_dir)
    store = open_store(cfg)
    names = [t["name"] for t in _targets(cfg, store)]
    if target is not None and target not in names:
        raise click.UsageError(f"no target named {target!r}; targets: {', '.join(names) or 'none'}")
    n = store.requeue_failed(target)
    which = f"target {target}" if target else "every target"
    if not n:
        click.echo(f"no failed deliveries to re-queue ({which})")
        return
    click.echo(f"re-queued {n} failed deliver{'y' if n == 1 else 'ies'} ({which}); a running service sends them "
               "within 10 s, or run `monitor check`")


# ---------------------------------------------------------------- report, demo (issue 7)


def _web_address(value: str | None) -> str | None:
    """Validate a --web HOST:PORT (exit 2 with the expected form)."""
    if not value:
        return None
    from .web import parse_address

    try:
        parse_address(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}. Hint: --web 127.0.0.1:8080") from exc
    return value


@cli.command()
@common
@click.option("--out", "out", required=True, metavar="FILE.html", type=click.Path(dir_okay=False, writable=True),
              help="The HTML file to write.")
@click.option("--story", "story_id", default=None, metavar="ID", help="The story (default: the first one).")
def report(config_dir: str | None, state_dir: str | None, verbose: int, out: str, story_id: str | None) -> None:
    """Write the story page as one self-contained HTML file (inline chart, no external requests)."""
    from pathlib import Path

    from .report import report as render_report

    cfg = load_config(config_dir, state_dir)
    story = next((s for s in cfg.stories if story_id in (None, s.id)), None)
    if story is None:
        raise click.BadParameter(f"no story {story_id!r}; configured: {', '.join(s.id for s in cfg.stories)}",
                                 param_hint="--story")
    store = open_store_readonly(cfg.database)
    html = render_report(store, story)
    try:
        Path(out).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{out}: cannot write the report: {exc.strerror}") from exc
    click.echo(f"wrote {out} ({len(html) // 1024} KiB): story {story.id}")


@cli.command()
@click.option("--web", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              callback=lambda c, p, v: _web_address(v),
              help="Where to serve the dashboard (a free port is used if this one is taken).")
@click.option("--pace", default=2.0, show_default=True, type=click.FloatRange(0, 60),
              help="Seconds between two days of the replay.")
@click.option("--exit", "exit_after", is_flag=True, help="Replay and exit: no pause, no dashboard (for scripts).")
@click.option("--state", "state_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Keep the demo's config and store here (default: a temporary directory, removed at exit).")
@click.option("-v", "--verbose", count=True, help="Show the service's log lines too.")
def demo(web: str, pace: float, exit_after: bool, state_dir: str | None, verbose: int) -> None:
    """See the whole product work: sample feeds, the real pipeline, alerts, the dashboard.

    Serves a few days of bundled sample feeds from 127.0.0.1, polls them day by day into a
    temporary state directory, prints each alert as a notification target gets it, then
    leaves the dashboard open until Ctrl-C. Needs no config and no internet.
    """
    import signal
    import threading
    from pathlib import Path

    from .demo import Demo

    top = click.get_current_context().find_root().params  # `monitor --state DIR demo` too
    state_dir, verbose = state_dir or top.get("state_dir"), verbose + (top.get("verbose") or 0)
    setup_logging(None, verbose - 1)
    try:
        session = Demo(Path(state_dir) if state_dir else None)
    except (OSError, MonitorError) as exc:  # --state DIR not writable
        detail = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename else str(exc)
        raise click.ClickException(f"cannot use --state {state_dir} for the demo: {detail}. "
                                   "Hint: give a directory this user can write, or leave --state out") from None
    try:
        if not exit_after:
            click.echo(f"dashboard: {session.serve(web).url}/  (open it now and watch the story develop)")
        total = 0
        for i, day in enumerate(session.replay()):
            if i and not exit_after:
                threading.Event().wait(pace)
            new = sum(p.new_items for p in day.polls)
            relevant = sum(p.relevant for p in day.polls)
            click.echo(click.style(f"\n=== {day.day:%a %d %b %Y}: {len(day.polls)} feeds polled, {new} new items, "
                                   f"{relevant} relevant, {len(day.alerts)} alerts", bold=True))
            for alert, title, body in day.alerts:
                total += 1
                click.echo(f"\n  [{alert.kind}] {title}")
                click.echo("\n".join(f"    {line}" for line in body.splitlines()))
        click.echo(f"\n{total} alerts from {len(session.cfg.feeds)} feeds; {len(session.feeds.inbox)} notifications "
                   f"delivered to the demo's json:// target.")
        if not exit_after and session.web is not None:
            click.echo(f"dashboard: {session.web.url}/ (alerts: {session.web.url}/alerts, feeds: {session.web.url}/feeds)"
                       " — Ctrl-C to stop")
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):  # Ctrl-C or `kill`: remove the temporary state too
                signal.signal(sig, lambda signum, frame: stop.set())
            stop.wait()
            click.echo("stopped")
    except KeyboardInterrupt:
        click.echo("\nstopped")
    finally:
        session.close()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except MonitorError as exc:  # pragma: no cover - commands handle their own
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


# ---------------------------------------------------------------- explain, backtest (issue 3)


def _usage_error(message: str) -> click.ClickException:
    """A ClickException that exits 2: the user's input or config is wrong."""
    exc = click.ClickException(message)
    exc.exit_code = 2
    return exc


def _stories(cfg: config_mod.Config, story_id: str | None) -> list:
    from .backtest import BacktestError, select

    try:
        return select(cfg.stories, story_id)
    except BacktestError as exc:
        raise _usage_error(str(exc)) from exc


def _explain_item(cfg: config_mod.Config, link: str | None, text: str | None, title: str) -> "Item":
    from .models import Item
    from .parse import canonical_link

    if text is not None and link:
        raise _usage_error("give a stored item's LINK or --text, not both")
    if text is not None:
        return Item(feed_url="", id="--text", title=title, text=text, link=None, published=None)
    if not link:
        raise _usage_error("give a stored item's LINK, or --text TEXT. Hint: monitor explain --text \"...\"")
    if not isinstance(cfg.database, str) and not cfg.database.exists():
        raise _usage_error(f"{cfg.database}: no store yet, so no stored items. Hint: pass --state DIR, "
                           "or explain any text with --text \"...\"")
    store = open_store_readonly(cfg.database)
    try:
        item = store.find_item(link) or store.find_item(canonical_link(link) or link)
    finally:
        store.close()
    if item is None:
        raise _usage_error(f"{link}: no stored item has this link. Hint: copy the link from `monitor status` "
                           "or the dashboard, or use --text")
    return item


def _hit_line(hit: "Hit") -> str:
    where = f"{hit.field}[{hit.start}:{hit.end}]"
    label = "alias" if hit.kind in ("actor", "lookalike") else "term"
    line = f"    {hit.ref:<16} {hit.score:5.1f}  {where:<16} {hit.matched!r:<28} {label} {hit.alias!r}"
    if not hit.counted:
        line += f"  IGNORED: {hit.note}"
    elif hit.note:
        line += f"  ({hit.note})"
    return line


def _print_explanation(m: "Match") -> None:
    verdict = "RELEVANT" if m.relevant else "not relevant"
    click.echo(f"story {m.story}: {verdict} (score {m.score:.1f}, threshold {m.threshold:g})")
    sections = [("concepts (topic terms)", "topic"), ("claims", "claim"), ("actors", "actor"),
                ("look-alikes", "lookalike"), ("exclusions", "exclude")]
    for heading, kind in sections:
        hits = [h for h in m.hits if h.kind == kind]
        click.echo(f"  {heading}:" + ("" if hits else " none found"))
        for hit in hits:
            click.echo(_hit_line(hit))
    click.echo(f"  actors found: {', '.join(m.actors) or 'none'}; claims found: {', '.join(m.claims) or 'none'}")
    click.echo("  reasoning:")
    for reason in m.reasons:
        click.echo(f"    {reason}")


@cli.command()
@common
@click.argument("link", required=False)
@click.option("--text", default=None, metavar="TEXT", help="Explain this text instead of a stored item.")
@click.option("--title", default="", metavar="TITLE", help="A title to go with --text.")
@click.option("--story", "story_id", default=None, metavar="ID", help="Only this story (default: all).")
def explain(config_dir: str | None, state_dir: str | None, verbose: int, link: str | None, text: str | None,
            title: str, story_id: str | None) -> None:
    """Show why an item matches a story or not: every alias and term found, with its score and
    span (field[start:end] in the item's title or text), each concept's and claim's points, and
    the decision against the threshold; then the statements and figures it gives, with the rule
    that found each, and what novelty would do with them against the store (new, repeat, known).
    Edit config/stories/*.toml and run it again to tune.

    LINK is a stored item's link; or pass --text (and --title) to explain any text.
    """
    from .match import match

    cfg = load_config(config_dir, state_dir, stories_only=True)  # a story file's dir alone will do
    stories = _stories(cfg, story_id)
    item = _explain_item(cfg, link, text, title)
    click.echo(f"item: {item.title or '(no title)'}" + (f"  <{item.link}>" if item.link else ""))
    for story in stories:
        click.echo("")
        m = match(item, story)
        _print_explanation(m)
        _print_extraction_of(cfg, story, item, m)


def _print_extraction_of(cfg: config_mod.Config, story: "Story", item: "Item", m: "Match") -> None:
    """The statements and figures the item gives (with the rule that found each) and what novelty
    would do with them against the store's alerts (or the story's [known] facts without a store)."""
    from dataclasses import replace
    from datetime import datetime, timezone

    from .extract import extract
    from .novelty import Ledger, decide

    misses: list[tuple[str, str, str]] = []
    statements, figures = extract(item, m, story, misses=misses)
    if not m.relevant:
        click.echo("  extraction (the service extracts only from relevant items; shown as if this one were):")
    if isinstance(cfg.database, str) or cfg.database.exists():
        store = open_store_readonly(cfg.database)  # explain never writes (a backup on a read-only mount will do)
        try:
            ledger, against = Ledger.from_alerts(story, store.alerts(story.id)), f"the store ({store.path})"
        finally:
            store.close()
    else:
        ledger, against = Ledger.from_story(story), "the story's [known] facts (no store yet)"
    dated = item if item.published else replace(item, published=datetime.now(timezone.utc))
    verdicts = dict((id(x), v) for x, v in decide(ledger, story, dated, statements, figures).verdicts)
    click.echo(f"  statements:" + ("" if statements else " none found"))
    for st in statements:
        about = f"; claim {st.claim}" + (f" ({st.stance})" if st.stance else "") if st.claim else ""
        click.echo(f"    {st.actor:<16} {st.text!r}")
        click.echo(f"      why: {st.why or 'extract.py'}{about}")
        click.echo(f"      sentence: {st.sentence}")
        click.echo(f"      novelty: {verdicts.get(id(st), '?')}")
    click.echo(f"  figures:" + ("" if figures else " none found"))
    for f in figures:
        value = f"{f.value:,}" + (f"-{f.high:,}" if f.high is not None else "")
        qual = f"{f.qualifier} " if f.qualifier and f.qualifier != "exact" else ""
        extra = "".join(f"; {k} {v}" for k, v in (("measure", f.measure), ("source", f.source)) if v)
        click.echo(f"    {f.kind:<16} {qual}{value}{extra}")
        click.echo(f"      why: {getattr(f, 'rule', '') or 'figures.py'}")
        click.echo(f"      sentence: {f.sentence}")
        click.echo(f"      novelty: {verdicts.get(id(f), '?')}")
    if misses:
        click.echo("  numbers without a figure:")
    for sentence, number, why in misses:
        click.echo(f"    {number!r}: {why}")
        click.echo(f"      sentence: {sentence}")
    click.echo(f"  novelty compared with {against}")


def _load_other(other_dir: str) -> list:
    try:
        return list(config_mod.load(other_dir).stories)
    except ConfigError as exc:
        raise _usage_error(f"--compare {other_dir}: " + "; ".join(exc.problems)) from exc


def _print_metrics(result: dict, titles: dict[str, str], err: bool) -> None:
    out = functools.partial(click.echo, err=err)
    out(f"{result['items']} items, {result['labelled_relevant']} labelled relevant")
    for name in ("relevance", "actors"):
        r = result[name]
        if name == "actors" and not result.get("actors_labelled", True):
            out("actors:     not scored: no label lists `actors`")
            continue
        out(f"{name + ':':<11} precision {r['precision']:.3f}  recall {r['recall']:.3f}  F1 {r['f1']:.3f}"
            f"  (tp {r['tp']}, fp {r['fp']}, fn {r['fn']})")
    for key, heading in (("false_positives", "matched, labelled not relevant"),
                         ("false_negatives", "labelled relevant, not matched")):
        if result[key]:
            out(f"{heading}:")
            for link in result[key]:
                out(f"  {titles.get(link, '')}  <{link}>")
    if result["actor_errors"] and result.get("actors_labelled", True):
        out("actor differences on relevant items:")
        for e in result["actor_errors"]:
            diff = ", ".join([f"-{a}" for a in e["missing"]] + [f"+{a}" for a in e["extra"]])
            out(f"  {diff}: {titles.get(e['link'], '')}")


def _print_extraction(result: dict, titles: dict[str, str], err: bool) -> None:
    """Figures, statements and duplicate alerts against the labels (backtest.extraction_metrics)."""
    out = functools.partial(click.echo, err=err)
    for name, what in (("figures", "value + kind"), ("statements", "main statement's actor"),
                       ("statement_pairs", "every (item, actor) extracted")):
        r = result[name]
        out(f"{name + ':':<11} precision {r['precision']:.3f}  recall {r['recall']:.3f}  F1 {r['f1']:.3f}"
            f"  (tp {r['tp']}, fp {r['fp']}, fn {r['fn']}; {what})")
    share = result["duplicates"] / result["alerts"] if result["alerts"] else 0.0
    out(f"duplicate alerts: {result['duplicates']} of {result['alerts']} ({share:.1%})")
    for d in result["duplicate_events"]:
        out(f"  {d['key']}: {titles.get(d['link'], '')}")
    if result["extraction_errors"]:
        out("extraction differences on labelled items (-missing +extra; statement label/main):")
        for e in result["extraction_errors"]:
            figs = [f"-{v} {k}" for v, k in e["figures_missing"]] + [f"+{v} {k}" for v, k in e["figures_extra"]]
            st = e["statement"]
            st_diff = "" if st["label"] == st["main"] else f"statement {st['label'] or '-'}/{st['main'] or '-'}"
            out(f"  {' '.join(figs + [st_diff]).strip()}: {titles.get(e['link'], '')}")


def _print_changes(changes: list[dict], titles: dict[str, str], other_dir: str, err: bool) -> None:
    out = functools.partial(click.echo, err=err)
    out(f"compared with {other_dir} (before) -> this config (after): {len(changes)} item(s) change")
    width = max(len(other_dir), len("this config"))
    for c in changes:
        out(f"  {c['change']}: {titles.get(c['link'], '')}  <{c['link']}>")
        for name, r in ((other_dir, c["before"]), ("this config", c["after"])):
            verdict = "relevant" if r["relevant"] else "not relevant"
            out(f"    {name:<{width}}  {verdict:<12}  score {r['score']:5.1f}  actors {','.join(r['actors']) or '-'}"
                f"  claims {','.join(r['claims']) or '-'}")


@cli.command()
@common
@click.argument("items_path", metavar="ITEMS.jsonl", type=click.Path(dir_okay=False))
@click.option("--labels", "labels_path", metavar="LABELS.jsonl", type=click.Path(dir_okay=False),
              help="Labels (corpus format): print precision, recall and F1 for relevance and actors.")
@click.option("--compare", "other_dir", metavar="OTHER_CONFIG_DIR", type=click.Path(file_okay=False),
              help="The config before your edit: show the items that start or stop matching with --config.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item on stdout; summaries on stderr.")
@click.option("--story", "story_id", default=None, metavar="ID", help="Only this story (default: all).")
def backtest(config_dir: str | None, state_dir: str | None, verbose: int, items_path: str, labels_path: str | None,
             other_dir: str | None, as_json: bool, story_id: str | None) -> None:
    """Run the stories over archived items (JSON Lines: feed_url, feed_title, title, link,
    published, description), offline: no network, and the service's state is not touched.

    Prints a summary, or with --json one {"link", "relevant", "score", "actors", "claims",
    "statements", "figures"} object per item, then one {"type": "alert", ...} line per alert
    event, in published order. --labels measures against labels; --compare shows what a config
    edit changes.
    """
    import json

    from . import backtest as bt

    cfg = load_config(config_dir, state_dir, stories_only=True)  # a story file's dir alone will do
    stories = _stories(cfg, story_id)
    try:
        items = bt.read_items(items_path)
        labels = bt.read_labels(labels_path) if labels_path else None
        records = bt.run(items, stories)
        events = bt.alert_events(items, stories, records)
        other = bt.run(items, bt.select(_load_other(other_dir), story_id)) if other_dir else None
    except bt.BacktestError as exc:
        raise _usage_error(str(exc)) from exc
    titles = {item.link or "": item.title for item in items}
    if as_json:
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False))
        for event in events:
            click.echo(json.dumps(event, ensure_ascii=False))
    else:
        s = bt.summary(records)
        click.echo(f"{s['items']} items, {s['relevant']} relevant to {', '.join(st.id for st in stories)}")
        for record in records:
            if record["relevant"]:
                click.echo(f"  {record['score']:5.1f}  {titles.get(record['link'], '')}"
                           f"  [{', '.join(record['actors']) or '-'}]")
        click.echo("actors: " + (", ".join(f"{k} {v}" for k, v in s["actors"].items()) or "none"))
        click.echo("claims: " + (", ".join(f"{k} {v}" for k, v in s["claims"].items()) or "none"))
        click.echo(f"{len(events)} alerts:")
        for event in events:
            click.echo(f"  {event['title']}")
    if labels is not None:
        actor_ids = {a.id for st in stories for a in st.actors}
        _print_metrics(bt.metrics(records, labels, actor_ids), titles, err=as_json)
        _print_extraction(bt.extraction_metrics(items, records, events, labels, stories), titles, err=as_json)
    if other is not None:
        _print_changes(bt.compare(other, records), titles, str(other_dir), err=as_json)


# ---------------------------------------------------------------- db migrate, db copy (issue 15)


@cli.group()
def db() -> None:
    """Bring a store's schema up to date, or move an installation to another store."""


@db.command("migrate")
@common
def db_migrate(config_dir: str | None, state_dir: str | None, verbose: int) -> None:
    """Bring the configured store's schema up to this program's version (`monitor run` does it
    at start too; this does it on its own, say before starting several workers)."""
    from . import dbcopy, logs

    cfg = load_config(config_dir, state_dir)
    logs.REDACTOR.update([*logs_secrets(cfg), *dbcopy.secrets_of(cfg.database)])
    where = dbcopy.redact(cfg.database)
    try:
        before, after = dbcopy.migrate(cfg.database)
    except MonitorError as exc:
        raise click.ClickException(logs.REDACTOR.redact(str(exc))) from None
    except Exception as exc:  # the driver's own errors (connection refused, permissions)
        raise click.ClickException(logs.REDACTOR.redact(f"{where}: cannot migrate the store: {exc}")) from None
    if before is None or before == 0:
        click.echo(f"{where}: created the schema (version {after})")
    elif before == after:
        click.echo(f"{where}: schema already at version {after}; nothing to do")
    else:
        click.echo(f"{where}: migrated the schema from version {before} to {after}")


@db.command("copy")
@click.option("--from", "source", required=True, metavar="LOCATION",
              help="The store to copy: sqlite:PATH or postgresql://USER:PASSWORD@HOST/DB (read only).")
@click.option("--to", "target", required=True, metavar="LOCATION",
              help="The store to fill: sqlite:PATH or postgresql://... (created if missing; must be empty).")
@click.option("--force", is_flag=True, help="Replace what the target holds (in the same transaction as the copy).")
def db_copy(source: str, target: str, force: bool) -> None:
    """Copy every feed, item, match, event, source and delivery (pending and failed included)
    from one store to another, in one transaction on the target, and check the counts.

    Stop `monitor run` on the source first: what it writes after the copy starts is not copied.
    A password in a location is never printed; better, leave it out of the URL and set PGPASSWORD.
    """
    from . import dbcopy, logs

    logs.REDACTOR.update([*dbcopy.secrets_of(source), *dbcopy.secrets_of(target)])
    src, dst = dbcopy.redact(source), dbcopy.redact(target)
    if str(source) == str(target):
        raise _usage_error(f"--from and --to are the same store ({src})")
    try:
        from_store = dbcopy.open_location(source, source=True)
        try:
            to_store = dbcopy.open_location(target, source=False)
            try:
                report = dbcopy.copy(from_store, to_store, source, target, replace=force)
            finally:
                to_store.close()
        finally:
            from_store.close()
    except dbcopy.CopyError as exc:
        raise _usage_error(logs.REDACTOR.redact(str(exc))) from None
    except MonitorError as exc:
        raise click.ClickException(logs.REDACTOR.redact(str(exc))) from None
    except Exception as exc:  # the driver's own errors (connection refused, permissions)
        raise click.ClickException(logs.REDACTOR.redact(f"copy from {src} to {dst} failed, nothing was written: {exc}")) from None
    if report.replaced:
        click.echo(f"{dst}: replaced " + ", ".join(f"{n} {t}" for t, n in report.replaced.items()))
    click.echo(f"copied {src} -> {dst} in one transaction; rows checked:")
    for table, n in report.rows.items():
        click.echo(f"  {table:<14} {n}")
    if dbcopy.is_postgres(target):
        click.echo(f"next: set database = \"{dst}\" in monitor.toml, the password as ${{VARIABLE}} "
                   "from the environment, then start `monitor run` (as many workers as you like)")


# ---------------------------------------------------------------- status: workers and leases (issue 15)


def _workers_report(store: "Store", cfg: config_mod.Config | None) -> tuple[list[dict], list[dict]]:
    """Each worker row with its age, whether it is alive (beat within one lease) and how many
    feeds it holds; the leases held now (expired ones are free for any worker)."""
    from datetime import datetime

    lease = cfg.service.lease if cfg else config_mod.Service.model_fields["lease"].default
    now = store.clock()  # PostgreSQL's: the clock the workers stamp their beats and leases with
    leases = [dict(r, live=(r["until"] or "") >= now.isoformat(timespec="seconds")) for r in store.leases()]
    held: dict[str, int] = {}
    for r in leases:
        if r["live"]:
            held[r["owner"]] = held.get(r["owner"], 0) + 1
    workers = []
    for w in store.workers():
        age = (now - datetime.fromisoformat(w["seen_at"])).total_seconds()
        workers.append(dict(w, seen_ago=round(age), alive=age <= lease, leases=held.get(w["id"], 0)))
    return workers, leases


def _print_workers(workers: list[dict], leases: list[dict]) -> None:
    from . import logs

    live = [w for w in workers if w["alive"]]
    gone = [w for w in workers if not w["alive"]]
    click.echo(f"workers: {len(live)} running" + (f", {len(gone)} not seen for over a lease (stopped or dead: "
                                                   "their feeds and deliveries go to the others)" if gone else ""))
    for w in live:
        state = f"problem: {w['problem']}" if w["problem"] else "ok"
        click.echo(logs.REDACTOR.redact(f"  {w['id']}  host {w['host']}  pid {w['pid']}  last seen {w['seen_ago']}s ago  "
                                        f"holds {w['leases']} feeds  {state}"))
    held = [r for r in leases if r["live"]]
    click.echo(f"leases: {len(held)} feeds being polled now" + (f", {len(leases) - len(held)} expired (free)"
                                                                  if len(leases) > len(held) else ""))
    for r in held[:20]:
        click.echo(f"  {r['url']}  {r['owner']}  until {_short_time(r['until'])}")
    if len(held) > 20:
        click.echo(f"  ... {len(held) - 20} more (monitor status --json lists every lease)")
