"""The example stories in config/examples/: valid, usable by validate and backtest, never tracked by default."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from monitor import config

from conftest import make_config, monitor_cmd

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "examples" / "lebanon-war.toml"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("MONITOR_NOTIFY_URLS", "MONITOR_CONFIG")}


def _config_with_example(tmp_path: Path) -> Path:
    """A config dir whose stories/ holds only the example, as a user would set it up."""
    cdir = make_config(tmp_path, [])
    (cdir / "stories" / "test.toml").unlink()
    shutil.copy(EXAMPLE, cdir / "stories" / EXAMPLE.name)
    return cdir


def test_examples_are_not_tracked_by_default(tmp_path):
    shipped = config.load(ROOT / "config", tmp_path / "state")
    assert "lebanon-war" not in {s.id for s in shipped.stories}
    assert {s.id for s in shipped.stories} == {"nk-troops-kursk"}
    # the same with the whole config/ copied elsewhere: examples/ beside stories/ is not read
    copy = tmp_path / "config"
    shutil.copytree(ROOT / "config", copy)
    assert (copy / "examples" / EXAMPLE.name).is_file()
    assert {s.id for s in config.load(copy, tmp_path / "state").stories} == {"nk-troops-kursk"}


def test_lebanon_example_validates_in_a_config_dir(tmp_path):
    cdir = _config_with_example(tmp_path)
    res = monitor_cmd("validate", "--config", str(cdir), "--state", str(tmp_path / "s"), env=_env())
    assert res.returncode == 0, res.stderr
    assert "1 stories (lebanon-war)" in res.stdout
    story_warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning") and "no notification targets" not in ln]
    assert not story_warnings, res.stderr  # no setting that can never apply
    story = config.load(cdir, tmp_path / "state").stories[0]
    # the ids the corpus README gives for this story, so its labels can measure it
    assert {a.id for a in story.actors} == {
        "netanyahu", "gallant", "katz", "idf", "hezbollah", "qassem", "safieddine", "mikati", "berri",
        "hochstein", "biden", "blinken", "unifil", "lebanon_health", "guterres"}
    assert {k.id for k in story.figures} == {"lebanon_toll", "strike_deaths", "displaced", "israeli_soldiers_killed"}


def test_lebanon_example_runs_in_backtest(tmp_path):
    cdir = _config_with_example(tmp_path)
    items = [
        {"title": "Israeli strike on Beirut kills 22 people, Lebanon's health ministry says",
         "description": "An Israeli air strike on a residential building in central Beirut killed 22 people, "
                        "Lebanon's health ministry said on Thursday."},
        {"title": "Hezbollah fires rockets at Haifa as Israeli troops push into southern Lebanon",
         "description": "Sirens sounded across northern Israel."},
        {"title": "Gaza ceasefire talks to resume in Doha",
         "description": "Israeli negotiators will travel to Qatar on Sunday, officials said."},
        {"title": "Stock markets rise as inflation cools", "description": "Shares in Europe rose on Monday."},
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"feed_url": "https://feeds.example/world", "feed_title": "World",
                                        "link": f"https://news.example/{i}", "published": "2024-10-20T10:00:00Z",
                                        **it}) + "\n" for i, it in enumerate(items)))
    res = monitor_cmd("backtest", str(path), "--json", "--config", str(cdir), "--state", str(tmp_path / "s"),
                      env=_env())
    assert res.returncode == 0, res.stderr
    records = {r["link"]: r for r in map(json.loads, res.stdout.splitlines()) if "relevant" in r}
    assert [records[f"https://news.example/{i}"]["relevant"] for i in range(4)] == [True, True, False, False]
    strike = records["https://news.example/0"]
    assert (22, "strike_deaths") in {(f["value"], f["kind"]) for f in strike["figures"]}
    assert "lebanon_health" in {s["actor"] for s in strike["statements"]}
