"""`monitor backtest` and monitor/backtest.py on the small fixture in tests/data/backtest/ (see its README)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor import backtest as bt
from monitor import config
from monitor.cli import cli
from monitor.story import Actor

DATA = Path(__file__).parent / "data" / "backtest"
ITEMS, LABELS = str(DATA / "items.jsonl"), str(DATA / "labels.jsonl")
CONFIG, WIDER = str(DATA / "config"), str(DATA / "config-wider")


def invoke(*args: str, state: Path | None = None) -> "object":
    extra = ["--state", str(state)] if state else []
    return CliRunner().invoke(cli, ["backtest", *args, *extra])


def test_read_items_converts_description_and_keeps_link() -> None:
    items = bt.read_items(ITEMS)
    assert len(items) == 6
    first = items[0]
    assert first.link == "https://news.example.org/1?traffic_source=rss"  # as written, to join labels
    assert first.text == 'John Kirby said it\'s "possible" that North Korean soldiers will fight for Russia.'
    assert first.published is not None and first.published.tzinfo is not None
    assert items[4].published is None


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"link": "https://a.example/1", "title": "x"}\n{"link": oops}\n')
    with pytest.raises(bt.BacktestError, match=r"items.jsonl:2: not JSON"):
        bt.read_items(path)
    result = invoke(str(path), "--config", CONFIG)
    assert result.exit_code == 2
    assert "items.jsonl:2: not JSON" in result.output


def test_run_and_metrics() -> None:
    stories = config.load(CONFIG).stories
    records = bt.run(bt.read_items(ITEMS), stories)
    assert [r["relevant"] for r in records] == [True, False, False, True, False, False]
    assert records[3]["actors"] == ["zakharova"] and records[3]["claims"] == ["denial"]
    m = bt.metrics(records, bt.read_labels(LABELS), [a.id for a in stories[0].actors])
    assert m["relevance"] == {"precision": 1.0, "recall": 0.6667, "f1": 0.8, "tp": 2, "fp": 0, "fn": 1}
    # kirby and zakharova found; "kremlin" is not a story actor here and other:* never counts
    assert m["actors"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 3, "fp": 0, "fn": 0}
    assert m["false_negatives"] == ["https://other.example.org/6"]


def test_metrics_count_actor_mistakes() -> None:
    records = [{"link": "a", "relevant": True, "actors": ["kirby", "putin"]},
               {"link": "b", "relevant": True, "actors": []}]
    labels = {"a": {"link": "a", "relevant": True, "actors": ["kirby"]},
              "b": {"link": "b", "relevant": True, "actors": ["zelensky", "other:Someone"]}}
    m = bt.metrics(records, labels)
    assert (m["actors"]["tp"], m["actors"]["fp"], m["actors"]["fn"]) == (1, 1, 1)
    assert m["actor_errors"] == [{"link": "a", "missing": [], "extra": ["putin"]},
                                 {"link": "b", "missing": ["zelensky"], "extra": []}]


def test_json_lines(tmp_path: Path) -> None:
    result = invoke(ITEMS, "--config", CONFIG, "--json", state=tmp_path / "state")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    lines = [line for line in lines if "type" not in line]  # per-item records; later issues add event lines
    assert len(lines) == 6
    assert {k: lines[0][k] for k in ("link", "relevant", "score", "actors", "claims")} == {
        "link": "https://news.example.org/1?traffic_source=rss", "relevant": True, "score": 100.0,
        "actors": ["kirby"], "claims": []}
    assert not (tmp_path / "state").exists()  # the service's state is not touched


def test_summary_and_labels() -> None:
    result = invoke(ITEMS, "--config", CONFIG, "--labels", LABELS)
    assert result.exit_code == 0, result.output
    assert "6 items, 2 relevant to mini" in result.output
    assert "relevance:  precision 1.000  recall 0.667  F1 0.800  (tp 2, fp 0, fn 1)" in result.output
    assert "actors:     precision 1.000  recall 1.000  F1 1.000" in result.output
    assert "labelled relevant, not matched:\n  Zelensky warns of North Korea threat to Ukraine" in result.output


def test_a_dir_holding_only_stories_will_do_for_backtest_and_explain(tmp_path: Path) -> None:
    """Measuring a story needs no monitor.toml (no feeds, no targets); validate still asks for it."""
    import shutil

    shutil.copytree(Path(CONFIG) / "stories", tmp_path / "only" / "stories")
    only, state = str(tmp_path / "only"), tmp_path / "state"
    result = invoke(ITEMS, "--config", only, "--labels", LABELS, state=state)
    assert result.exit_code == 0, result.output
    assert "6 items, 2 relevant to mini" in result.output
    explained = CliRunner().invoke(cli, ["explain", "--config", only, "--state", str(state),
                                         "--text", "John Kirby said North Korean troops are in Russia."])
    assert explained.exit_code == 0, explained.output
    assert "mini" in explained.output
    checked = CliRunner().invoke(cli, ["validate", "--config", only, "--state", str(state)])
    assert checked.exit_code == 2 and "monitor.toml: file not found" in checked.output


def test_compare_shows_what_an_edit_changes() -> None:
    result = invoke(ITEMS, "--config", WIDER, "--compare", CONFIG)
    assert result.exit_code == 0, result.output
    assert "1 item(s) change" in result.output
    assert "starts matching: Zelensky warns of North Korea threat to Ukraine" in result.output
    before, after = result.output.splitlines()[-2:]
    assert "not relevant" in before and "score  70.0" in before
    assert "this config" in after and " relevant " in after


def test_unknown_story_is_a_usage_error() -> None:
    result = invoke(ITEMS, "--config", CONFIG, "--story", "nope")
    assert result.exit_code == 2
    assert "no story 'nope'. Hint: one of mini" in result.output


def test_main_statement_is_the_titles_tracked_actor_unless_its_own_person_speaks_in_the_text() -> None:
    story = config.load(CONFIG).stories[0].model_copy(update={"actors": [
        Actor(id="nato", name="NATO", kind="institution"),
        Actor(id="rutte", name="Mark Rutte", aliases=["NATO chief"]),
        Actor(id="netanyahu", name="Benjamin Netanyahu"),
        Actor(id="hezbollah", name="Hezbollah", kind="institution")]})

    def main(*said: tuple[str, str], title: int = 1) -> str | None:
        return bt._main_actor([{"actor": a, "text": t} for a, t in said], title, [story])

    # the headline's statement is what the item reports; a person on another matter in the text is not it
    assert main(("hezbollah", "it will escalate"), ("netanyahu", "the beginning of the end")) == "hezbollah"
    # ... unless the text names who spoke for the headline's institution
    assert main(("nato", "troops deployed"), ("rutte", "a dangerous expansion")) == "rutte"
    # a speaker (metonym) in the title: the tracked actor in the text refines it
    assert main(("other:US government", "evidence"), ("nato", "troops deployed")) == "nato"
    assert main(("netanyahu", "x"), ("hezbollah", "y"), title=0) == "netanyahu"


def test_a_debatable_label_leaves_the_item_out_of_extraction_scores() -> None:
    story = config.load(CONFIG).stories[0]
    records = [{"link": "a", "relevant": True, "figures": [], "statements": [{"actor": "kirby", "text": "x"}]},
               {"link": "b", "relevant": True, "figures": [], "statements": [{"actor": "kirby", "text": "y"}]}]
    labels = {"a": {"link": "a", "relevant": None}, "b": {"link": "b", "relevant": False}}
    m = bt.extraction_metrics([], records, [], labels, [story])
    assert (m["statements"]["tp"], m["statements"]["fp"]) == (0, 1)  # b's counts as extra, a's not at all


def test_labels_without_actors_do_not_score_actors(tmp_path: Path) -> None:
    """A quick hand-made sample labels relevance and statements only: no actor P/R of 0.000 then."""
    rows = [json.loads(line) for line in Path(LABELS).read_text().splitlines() if line.strip()]
    bare = tmp_path / "labels.jsonl"
    bare.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "actors"}) + "\n" for r in rows))
    result = invoke(ITEMS, "--config", CONFIG, "--labels", str(bare), state=tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert "actors:     not scored: no label lists `actors`" in result.output
    assert "actor differences" not in result.output
    assert "actors:     precision" in invoke(ITEMS, "--config", CONFIG, "--labels", LABELS, state=tmp_path / "s").output


def test_minimal_labels_link_relevant_statement_by(tmp_path: Path) -> None:
    """The README's smallest label line: no gist, no actors: scored, no traceback."""
    story = config.load(CONFIG).stories[0]
    labels = {link: {"link": link, "relevant": True, "statement": {"by": "kirby"}} for link in ("a", "b")}
    events = [{"kind": "statement", "key": f"k{n}", "link": link, "statement": {"actor": "kirby", "text": text}}
              for n, (link, text) in enumerate((("a", "North Korean troops are in Russia"),
                                                ("b", "North Korean troops are in Russia now")))]
    assert [d["key"] for d in bt.duplicates(events, labels, [story])] == ["k1"]
