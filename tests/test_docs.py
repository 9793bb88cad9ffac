"""Docs stay true: the README's commands are the ones CI and the container run; every command
and every setting is documented (as sqlite-utils and datasette test their docs)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from monitor import config, story
from monitor.cli import cli

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_first_screen_has_exactly_two_commands_and_ci_runs_the_second():
    first_screen = "\n".join(README.splitlines()[:30])
    assert "```sh" in first_screen
    run, test = readme_commands()
    assert run.endswith("monitor run") and "pip install ." in run
    assert test.endswith("pytest")
    assert test in (ROOT / ".ci" / "run").read_text()


def test_container_steps_replay_the_dockerfile_install_line():
    docker_install = re.search(r"^RUN (pip install .*)$", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    assert docker_install.replace(" -q", "") in (ROOT / "scripts" / "container-steps.sh").read_text().replace(" -q", "")


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((f"{prefix}{name}", cmd))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, f"{prefix}{name} ")
    return out


@pytest.mark.parametrize("name,cmd", all_commands(cli), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_help_and_is_in_the_readme(name, cmd):
    assert cmd.help, f"`monitor {name}` has no help text"
    head = name.split()[-1]
    assert f"monitor {name}" in README or f"`{head}" in README or f"/ `{head}" in README, f"`monitor {name}` is not in the README"


@pytest.mark.parametrize("model,table", [(config.Service, "[service]"), (config.Feed, "[[feeds]]"),
                                         (config.Notify, "[notify]"), (config.Target, "targets[]")])
def test_every_setting_is_documented(model, table):
    for key in model.model_fields:
        if key == "targets":
            continue
        assert f"`{key}`" in README or f"`targets[].{key}`" in README or f"/ `{key}`" in README, \
            f"setting {table} {key} is missing from the README's configuration tables"


def story_reference() -> str:
    return README[README.index("#### Story reference"):README.index("## Operations")]


@pytest.mark.parametrize("model,table", [
    (story.Story, "| top-level key |"), (story.Matching, "| `[matching]` key |"), (story.Concept, "| `[[concepts]]` key |"),
    (story.Actor, "| `[[actors]]` key |"), (story.Claim, "| `[[claims]]` key |"), (story.Speaker, "| `[[speakers]]` key |"),
    (story.FigureKind, "| `[[figures]]` key |"), (story.Known, "| `[known]` key |"),
    (story.KnownFigure, "| `known.figures[]` key |"), (story.KnownStatement, "| `known.statements[]` key |"),
])
def test_every_story_key_is_in_the_story_reference_with_a_default_and_an_example(model, table):
    ref = story_reference()
    assert table in ref, f"the story reference has no table {table}"
    rows = ref[ref.index(table):].split("\n\n")[0].splitlines()[2:]
    keys = {row.split("|")[1].strip().strip("`"): row for row in rows}
    sections = {"concepts", "matching", "actors", "claims", "speakers", "figures", "known"}
    for key, info in model.model_fields.items():
        if model is story.Story and key in sections:
            continue  # a table of its own
        assert key in keys, f"{table} {key} is missing from the README's story reference"
        cells = [c.strip() for c in keys[key].split("|")[1:-1]]
        assert len(cells) == 4 and all(cells), f"{table} {key}: needs a default, a meaning and an example"
        if not info.is_required() and info.default_factory is None and info.default not in (None, ""):
            assert str(info.default).removesuffix(".0").lower() in cells[1].lower(), f"{table} {key}: default {info.default!r}"
    for key in keys:
        assert key in model.model_fields, f"{table} {key} is documented but not in the schema"
