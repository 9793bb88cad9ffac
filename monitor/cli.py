"""The command line: the only place that prints, exits, or shows an error to a user.

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import click

from . import config as config_mod
from .errors import ConfigError, MonitorError


def common(f: Callable) -> Callable:
    """--config, --state and -v, shared by every command."""

    @click.option("--config", "config_dir", metavar="DIR", envvar="MONITOR_CONFIG", show_envvar=True,
                  help="Config directory (default: config/).")
    @click.option("--state", "state_dir", metavar="DIR", envvar="MONITOR_STATE", show_envvar=True,
                  help="State directory for the SQLite store (default: state/).")
    @click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
    @functools.wraps(f)
    def wrapper(config_dir: str | None, state_dir: str | None, verbose: int, **kw: Any) -> Any:
        return f(config_dir=config_dir, state_dir=state_dir, verbose=verbose, **kw)

    return wrapper


def load_config(config_dir: str | None, state_dir: str | None) -> config_mod.Config:
    """Load config or exit 2 with one line per problem."""
    try:
        return config_mod.load(config_dir, state_dir)
    except ConfigError as exc:
        fail_config(exc)


def fail_config(exc: ConfigError) -> None:
    for line in exc.problems:
        click.echo(f"error: {line}", err=True)
    click.echo(f"{len(exc.problems)} problem(s) in the configuration; nothing was started.", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="story-monitor")
def cli() -> None:
    """Story Monitor: watch news feeds for one developing story and alert on what is new."""


def main() -> None:
    try:
        cli(standalone_mode=True)
    except MonitorError as exc:  # pragma: no cover - commands handle their own
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
