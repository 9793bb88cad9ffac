"""Config validation: one clear line per problem (file, key path, fix), exit 2, no traceback."""

from __future__ import annotations

import os

import pytest

from monitor import config
from monitor.errors import ConfigError

from conftest import MINI_STORY, make_config, monitor_cmd


def problems(tmp_path, service: str) -> list[str]:
    cdir = make_config(tmp_path, [])
    (cdir / "monitor.toml").write_text(service)
    with pytest.raises(ConfigError) as err:
        config.load(cdir, tmp_path / "state")
    return err.value.problems


def test_every_problem_is_reported_with_file_key_and_hint(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_WEBHOOK", raising=False)
    found = problems(tmp_path, """
[service]
poll_intervall = "5m"
workers = "many"

[[feeds]]
url = "htp://broken"

[[notify.targets]]
url = "${NO_SUCH_WEBHOOK}"
""")
    path = str(tmp_path / "config" / "monitor.toml")
    assert len(found) == 4, found
    assert all(p.startswith(path + ": ") for p in found)
    text = "\n".join(found)
    assert "service.poll_intervall: unknown key" in text
    assert "service.workers: " in text and "whole number" in text
    assert "feeds[0].url: not an http(s) URL: 'htp://broken'" in text and text.count("'htp://broken'") == 1
    assert "notify.targets[0].url: environment variable NO_SUCH_WEBHOOK is not set. Hint: export NO_SUCH_WEBHOOK" in text


def test_toml_syntax_error_names_the_line(tmp_path):
    [p] = problems(tmp_path, '[service]\npoll_interval = "5m\n')
    assert "invalid TOML" in p and "line 2" in p


def test_bad_duration(tmp_path):
    [p] = problems(tmp_path, '[service]\npoll_interval = "soon"\n')
    assert 'service.poll_interval: expected a duration like "15m"' in p
    assert p.count("'soon'") == 1  # the value named once, not once by the check and again by us


def test_story_errors_name_the_story_file(tmp_path):
    cdir = make_config(tmp_path, [], story='id = "s"\ntitle = "t"\n[[actors]]\nid = "Bad Id"\nname = "X"\naliases = "X"\n')
    with pytest.raises(ConfigError) as err:
        config.load(cdir, tmp_path / "state")
    text = "\n".join(err.value.problems)
    assert "stories/test.toml: actors[0].id:" in text
    assert "stories/test.toml: actors[0].aliases: Input should be a valid list" in text


def test_env_substitution_and_secrets_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-token")
    cdir = make_config(tmp_path, [], extra='[[notify.targets]]\nurl = "json://127.0.0.1:9/${HOOK_TOKEN}"\n')
    cfg = config.load(cdir, tmp_path / "state")
    assert cfg.notify.targets[0].url == "json://127.0.0.1:9/s3cr3t-token"
    assert "s3cr3t-token" in cfg.secrets


def test_monitor_notify_urls_adds_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_NOTIFY_URLS", "json://127.0.0.1:9/a, mailto://u:p@127.0.0.1:25?to=x@example.org")
    cfg = config.load(make_config(tmp_path, []), tmp_path / "state")
    assert [t.url for t in cfg.notify.targets][-2:] == ["json://127.0.0.1:9/a", "mailto://u:p@127.0.0.1:25?to=x@example.org"]


def test_validate_command_exits_2_without_traceback(tmp_path):
    cdir = make_config(tmp_path, ["ftp://nope"])
    res = monitor_cmd("validate", "--config", str(cdir), "--state", str(tmp_path / "s"))
    assert res.returncode == 2
    assert "feeds[0].url: not an http(s) URL" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def test_shipped_config_is_valid():
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_NOTIFY_URLS"}
    env["SLACK_WEBHOOK_URL"] = "json://127.0.0.1:9/hook"  # the shipped optional target, on: no zero-target warning
    res = monitor_cmd("validate", "--config", "config", env=env)
    assert res.returncode == 0, res.stderr
    assert "ok:" in res.stdout
    assert "warning:" not in res.stderr, res.stderr  # no setting of the shipped story is dead


def test_speaker_with_an_unknown_actor_is_an_error_and_a_shared_alias_a_warning(tmp_path):
    speakers = '\n[[speakers]]\nname = "US government"\naliases = ["US", "Kirby"]\nactors = ["kirby", "biden"]\n'
    cdir = make_config(tmp_path, [], story=MINI_STORY + speakers)
    with pytest.raises(ConfigError) as err:
        config.load(cdir, tmp_path / "state")
    assert err.value.problems == [f"{cdir / 'stories' / 'test.toml'}: speakers[0].actors[1]: unknown actor 'biden'. "
                                  "Hint: use an id from [[actors]], or other:NAME for a [[speakers]] entry"
                                  .replace(", or other:NAME for a [[speakers]] entry", "")]
    [warning] = err.value.warnings
    assert "speaker alias is also an actor alias" in warning and "alias='Kirby' actor=kirby" in warning
    (cdir / "stories" / "test.toml").write_text(MINI_STORY + speakers.replace(', "biden"', "").replace(', "Kirby"', ""))
    cfg = config.load(cdir, tmp_path / "state")
    assert [(s.name, s.aliases, s.actors) for s in cfg.stories[0].speakers] == [("US government", ["US"], ["kirby"])]
    assert cfg.warnings == ()


BROKEN_STORY = """
id = "s"
title = "t"
colour = "red"
[[actors]]
id = "Bad Id"
name = "X"
aliases = "X"
[[actors]]
id = "ok"
name = "Y"
ambiguous = ["Z"]
[[actors]]
id = "ok"
[[concepts]]
id = "c"
weight = "lots"
terms = ["forces"]
plural_only = ["force"]
[known]
statements = [{ actor = "nobody", text = "x", stance = "deny", claim = "c9" }]
figures = [{ kind = "g", value = "many" }]
"""


def test_every_story_problem_comes_out_in_one_run(tmp_path):
    """Schema problems used to hide the checks after the schema (duplicate ids, known entries'
    references, ...) and an entry's own check (plural_only) until they were fixed."""
    cdir = make_config(tmp_path, ["ftp://nope"], story=BROKEN_STORY,
                       extra='[[notify.targets]]\nurl = "nosuchscheme://x"\n')
    res = monitor_cmd("validate", "--config", str(cdir), "--state", str(tmp_path / "s"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    wanted = [
        "test.toml: colour: unknown key", "actors[0].id: String should match", "actors[0].aliases: Input should be a valid list",
        "actors[2].name: required key is missing", "concepts[0].weight: Input should be a valid number",
        "concepts[0]: plural_only: 'force' must be one of the concept's terms",
        "known.figures[0].value: Input should be a valid integer", "known.statements[0].stance: Input should be 'confirms' or 'denies'",
        "actors[1].ambiguous[0]: 'Z' is not one of the actor's aliases", "actors[2].id: duplicate actor id 'ok'",
        "known.figures[0].kind: unknown figure kind 'g'", "known.statements[0].actor: unknown actor 'nobody'",
        "known.statements[0].claim: unknown claim 'c9'", "matching.threshold: 75 is more than",
        "monitor.toml: feeds[0].url: not an http(s) URL", "monitor.toml: notify.targets[0]: Apprise cannot use this URL",
    ]
    for w in wanted:
        assert w in res.stderr, w
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(wanted), res.stderr


WARNED_STORY = 'exclude = ["quiz"]\n' + MINI_STORY.replace('ambiguous = ["Kirby"]', 'ambiguous = ["Kirby"]\nlookalikes = ["Kirby", "Jill Biden", "Kirby Smart", "John Kirbey"]') + """
[[concepts]]
id = "t"
terms = ["North Korean troops", "quiz"]
weight = 100
[[claims]]
id = "empty"
description = "no terms"
[[speakers]]
name = "US government"
aliases = ["US"]
[[figures]]
id = "f"
description = "no nouns"
[known]
statements = [{ actor = "other:Washington", text = "x" }, { actor = "other:US", text = "y" }]
figures = [{ kind = "f", value = 1, source = "nobody" }]
"""


def test_validate_warns_about_settings_that_can_never_apply(tmp_path):
    cdir = make_config(tmp_path, [], story=WARNED_STORY.replace('topic = ["North Korean troops", "North Korean soldiers"]\n', ""))
    res = monitor_cmd("validate", "--config", str(cdir), "--state", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines()
                if line.startswith("warning: ") and not line.startswith("warning: no notification targets")]
    for w in ["actors[0].lookalikes[0]: 'Kirby' is also one of the actor's names",
              "actors[0].lookalikes[1]: 'Jill Biden' is near none of the actor's names",
              "concepts[0].terms[1]: 'quiz' is also in `exclude`", "claims[0].terms: empty",
              "figures[0].nouns: empty", "known.statements[0].actor: 'other:Washington' names no [[speakers]] entry",
              "known.figures[0].source: 'nobody' is no actor id"]:
        assert any(w in line for line in warnings), (w, warnings)
    assert len(warnings) == 7, warnings  # "Kirby Smart" contains "Kirby", "John Kirbey" is near "John Kirby"; other:US names the speaker


NEAR_ALIASES_STORY = MINI_STORY + """
[[actors]]
id = "fm"
name = "Peru's foreign minister"

[[actors]]
id = "ministry"
name = "Peru's Foreign Ministry"
kind = "institution"
"""


def test_validate_warns_when_two_actors_names_are_near_spellings(tmp_path):
    """"Peru's foreign minister" / "Peru's Foreign Ministry": each text is found for both actors."""
    cdir = make_config(tmp_path, [], story=NEAR_ALIASES_STORY)
    res = monitor_cmd("validate", "--config", str(cdir), "--state", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    near = [line for line in res.stderr.splitlines() if "near spelling" in line]
    assert len(near) == 2, res.stderr
    assert "actors[1] (fm): ministry's name \"Peru's Foreign Ministry\"" in near[0]
    assert "Hint: add \"Peru's Foreign Ministry\" to fm's lookalikes" in near[0]
    # the hint followed: no warning for that actor any more
    fixed = NEAR_ALIASES_STORY.replace('name = "Peru\'s foreign minister"\n',
                                       'name = "Peru\'s foreign minister"\nlookalikes = ["Peru\'s Foreign Ministry"]\n')
    (cdir / "stories" / "test.toml").write_text(fixed)
    res = monitor_cmd("validate", "--config", str(cdir), "--state", str(tmp_path / "s"))
    assert [line for line in res.stderr.splitlines() if "near spelling" in line and "(fm)" in line] == []
