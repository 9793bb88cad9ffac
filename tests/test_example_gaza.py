"""The Gaza example story (config/examples/gaza-war.toml): valid without warnings, not tracked by
default, and its figure kinds tell a strike's count from the cumulative toll (invented sentences)."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

from monitor import config
from monitor.figures import figures_in
from monitor.story import Story

from conftest import make_config, monitor_cmd

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "examples" / "gaza-war.toml"


def test_the_gaza_example_validates_without_warnings_and_is_not_tracked_by_default(tmp_path):
    cdir = make_config(tmp_path, [])
    (cdir / "stories" / "test.toml").unlink()
    shutil.copy(EXAMPLE, cdir / "stories" / EXAMPLE.name)
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_NOTIFY_URLS", "MONITOR_CONFIG")}
    res = monitor_cmd("validate", "--config", str(cdir), "--state", str(tmp_path / "state"), env=env)
    assert res.returncode == 0 and "1 stories (gaza-war)" in res.stdout, res.stderr
    story_warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning") and "no notification targets" not in ln]
    assert not story_warnings, res.stderr  # no setting that can never apply
    assert "gaza-war" not in {s.id for s in config.load(ROOT / "config", tmp_path / "state").stories}


def test_the_gaza_example_tells_one_strike_from_the_toll():
    story = Story.model_validate(tomllib.loads(EXAMPLE.read_text()))

    def kinds(sent: str) -> list[tuple[str, int]]:
        return [(f.kind, f.value) for f in figures_in(sent, story, None)]

    assert kinds("An air strike on a shelter in Rafah killed 21 people on Monday.") == [("strike_deaths", 21)]
    assert kinds("The death toll in Gaza has risen to 43,500, the health ministry said.") == [("gaza_toll", 43500)]
    assert kinds("At least 12 killed as strikes hit a school in Beirut.") == []  # Lebanon is another story
