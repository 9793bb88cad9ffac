"""The service under faults: Ctrl-C, SIGKILL, an unwritable or full store, two services, floods.

Real processes and real signals (the CLI in child processes, each in its own session so a
signal to its process group reaches its parse workers as a terminal's Ctrl-C does), real
SQLite files, feeds and receivers on 127.0.0.1; every wait has a deadline.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_config, monitor_cmd, rss, wait_for

NEWS = rss(("g1", "Kirby on North Korean troops", "John Kirby said North Korean troops are in Kursk."))


def config_with(tmp_path: Path, urls: list[str], service: str = "", extra: str = "") -> Path:
    """make_config with extra [service] keys (make_config's `extra` lands after the feeds)."""
    cdir = make_config(tmp_path, urls, extra)
    path = cdir / "monitor.toml"
    path.write_text(path.read_text().replace("[service]\n", f"[service]\n{service}\n", 1))
    return cdir


def children(pid: int) -> set[int]:
    """Live (not zombie) processes whose parent is `pid`."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Service:
    """`monitor ARGS` in its own session, output to a file."""

    def __init__(self, tmp_path: Path, *args: str, name: str = "run", env: dict | None = None):
        self.out = tmp_path / f"{name}.log"
        with self.out.open("w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "monitor", *args], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True, env=env)

    def text(self) -> str:
        return self.out.read_text()

    def wait_log(self, needle: str, timeout: float = 30) -> None:
        wait_for(lambda: needle in self.text() or self.proc.poll() is not None, timeout, repr(needle))
        assert needle in self.text(), self.text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def services():
    started: list[Service] = []
    yield started
    for s in started:
        s.stop()


def run_args(cdir: Path, tmp_path: Path) -> list[str]:
    return ["run", "--config", str(cdir), "--state", str(tmp_path / "state")]


# ---------------------------------------------------------------- 7, 9: Ctrl-C and SIGKILL with parse processes


def test_ctrl_c_on_run_stops_parse_processes_without_a_traceback(tmp_path, feed_server, services):
    cdir = config_with(tmp_path, [feed_server.set("/feed", NEWS)], "parse_processes = 2")
    svc = Service(tmp_path, *run_args(cdir, tmp_path))
    services.append(svc)
    svc.wait_log("feed polled status=ok")
    workers = children(svc.proc.pid)
    assert len(workers) >= 2, "the parse processes should be running"
    os.killpg(svc.proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    assert svc.proc.wait(20) == 0
    wait_for(lambda: not any(map(alive, workers)), 10, "the parse processes to exit")
    assert "service stopped" in svc.text()
    assert "Traceback" not in svc.text() and "KeyboardInterrupt" not in svc.text(), svc.text()


def test_ctrl_c_on_demo_prints_no_traceback(tmp_path, services):
    svc = Service(tmp_path, "demo", "--pace", "0", "--web", "127.0.0.1:0", name="demo")
    services.append(svc)
    svc.wait_log("Ctrl-C to stop", timeout=90)
    os.killpg(svc.proc.pid, signal.SIGINT)
    assert svc.proc.wait(20) == 0
    assert "stopped" in svc.text()
    assert "Traceback" not in svc.text() and "KeyboardInterrupt" not in svc.text(), svc.text()


def test_parse_processes_exit_when_the_service_is_killed(tmp_path, feed_server, services):
    cdir = config_with(tmp_path, [feed_server.set("/feed", NEWS)], "parse_processes = 2")
    svc = Service(tmp_path, *run_args(cdir, tmp_path))
    services.append(svc)
    svc.wait_log("feed polled status=ok")
    workers = children(svc.proc.pid)
    assert len(workers) >= 2
    svc.proc.kill()  # SIGKILL to the service alone: no clean-up runs in it
    svc.proc.wait(10)
    wait_for(lambda: not any(map(alive, workers)), 10, f"the orphaned parse processes {sorted(workers)} to exit")


# ---------------------------------------------------------------- 8: an unwritable state dir


def unprivileged() -> list[str]:
    """A prefix that runs a command without root's power to ignore file permissions."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions would not apply")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def test_run_and_demo_on_an_unwritable_state_dir_say_so_in_one_line(tmp_path, feed_server):
    cdir = make_config(tmp_path, [feed_server.set("/feed", NEWS)])
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o555)  # a volume mounted read-only, or owned by another user
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    (readonly / "monitor.db").write_bytes(b"")
    (readonly / "monitor.db").chmod(0o444)
    cases = {
        "run": (["run", "--config", str(cdir), "--state", str(state)], f"{state} is not writable"),
        "run in a new dir": (["run", "--config", str(cdir), "--state", str(state / "sub")], f"{state} is not writable"),
        "run on a read-only file": (["run", "--config", str(cdir), "--state", str(readonly)],
                                    f"{readonly / 'monitor.db'} is read-only"),
        "demo": (["demo", "--exit", "--state", str(state / "demo")], f"cannot use --state {state / 'demo'}"),
    }
    for name, (args, needle) in cases.items():
        res = subprocess.run([*unprivileged(), sys.executable, "-m", "monitor", *args], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 1, (name, res.stderr)
        lines = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith(("warning: no notification targets", "note: "))]
        assert len(lines) == 1 and needle in lines[0] and "Hint:" in lines[0], (name, res.stderr)
        assert "Traceback" not in res.stdout + res.stderr, name


# ---------------------------------------------------------------- 10: a store that refuses writes, a heartbeat that cannot be written


def test_a_heartbeat_that_cannot_be_written_does_not_stop_the_service(tmp_path, feed_server, services):
    cdir = make_config(tmp_path, [feed_server.set("/feed", NEWS)])
    (tmp_path / "state" / "heartbeat").mkdir(parents=True)  # a directory where the file should be
    svc = Service(tmp_path, *run_args(cdir, tmp_path))
    services.append(svc)
    svc.wait_log("cannot write the heartbeat file")
    svc.wait_log("feed polled status=ok")
    assert svc.proc.poll() is None, svc.text()
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(20) == 0
    assert svc.text().count("cannot write the heartbeat file") == 1
    assert "Traceback" not in svc.text(), svc.text()


def many_items(prefix: str, n: int) -> str:
    return rss(*[(f"{prefix}{i}", f"{prefix} story {i}", "word " * 400) for i in range(n)])


def test_a_full_store_keeps_the_service_running_and_it_carries_on_when_space_returns(
        tmp_path, feed_server, caplog):
    import logging

    import httpx

    from monitor import service as service_mod
    from monitor.notify import load_checked
    from monitor.web import WebServer, create_app

    url = feed_server.set("/feed", many_items("a", 3))
    cfg = load_checked(make_config(tmp_path, [url]), tmp_path / "state")
    svc = service_mod.Service(cfg)
    svc.scheduler.start(paused=True)  # running, but no job fires on its own: the test polls
    web = WebServer(create_app(svc.store, lambda: svc.cfg, svc.alive))
    web.start()
    try:
        svc._poll(url)
        assert svc.store.counts()["items"] == 3 and svc.alive() is None
        pages = next(svc.store.query("PRAGMA page_count"))["page_count"]
        svc.store.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL: the disk is full
        feed_server.set("/feed", many_items("b", 40))
        with caplog.at_level(logging.DEBUG):
            svc._poll(url)
            svc._poll(url)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "store not writable" in errors[0].getMessage(), errors
        assert "database or disk is full" in errors[0].getMessage() and errors[0].exc_info is None
        assert "poll crashed" not in caplog.text
        assert svc.store.counts()["items"] == 3  # nothing stored is lost, nothing half-written
        health = httpx.get(f"{web.url}/healthz")
        assert health.status_code == 503 and "database or disk is full" in health.text
        svc.beat()
        assert "database or disk is full" in (service_mod.health(cfg) or "")  # what `health` reads
        status = monitor_cmd("status", "--config", str(cfg.config_dir), "--state", str(cfg.state_dir))
        assert "service: " in status.stdout and "database or disk is full" in status.stdout, status.stdout

        svc.store.db.execute("PRAGMA max_page_count = 1073741823")  # space is back
        svc._poll(url)
        assert svc.store.counts()["items"] == 43 and svc.alive() is None
        assert httpx.get(f"{web.url}/healthz").status_code == 200
        svc.heartbeat = svc.heartbeat.min.replace(tzinfo=svc.heartbeat.tzinfo)
        svc.beat()
        assert service_mod.health(cfg) is None
    finally:
        web.stop()
        svc.stop()


# ---------------------------------------------------------------- 15: one service per state dir; the store judges "new"


def test_a_second_service_on_the_same_state_dir_is_refused_until_the_first_dies(tmp_path, feed_server, services):
    cdir = make_config(tmp_path, [feed_server.set("/feed", NEWS)])
    first = Service(tmp_path, *run_args(cdir, tmp_path), name="first")
    services.append(first)
    first.wait_log("service started")
    second = monitor_cmd(*run_args(cdir, tmp_path), timeout=60)
    assert second.returncode == 1
    lines = [ln for ln in second.stderr.strip().splitlines() if not ln.startswith(("warning: no notification targets", "note: "))]
    assert len(lines) == 1 and f"another `monitor run` (pid {first.proc.pid}) is already using" in lines[0], second.stderr
    assert "Hint:" in lines[0] and "Traceback" not in second.stderr
    first.proc.kill()  # SIGKILL: no clean-up, the kernel drops the lock
    first.proc.wait(10)
    third = Service(tmp_path, *run_args(cdir, tmp_path), name="third")
    services.append(third)
    third.wait_log("service started")


STATEMENT_A = rss(("a1", "Kirby on North Korean troops", "John Kirby said North Korean troops are now in Kursk."))
STATEMENT_B = rss(("b1", "Troops in Kursk, says Kirby",
                   "North Korean troops have arrived in the Kursk region, John Kirby told reporters."))


def two_processes(tmp_path, feed_server):
    """Two pipelines, each with its own connection to one store file (as `run` and `check`),
    both started before either polled; one json:// target."""
    from monitor import config
    from monitor.pipeline import Pipeline
    from monitor.store import Store

    a, b = feed_server.set("/a", STATEMENT_A), feed_server.set("/b", STATEMENT_B)
    cdir = make_config(tmp_path, [a, b], '[[notify.targets]]\nname = "hook"\nurl = "json://127.0.0.1:9/x"\n')
    cfg = config.load(cdir, tmp_path / "state")
    pipes = [Pipeline(cfg, Store(cfg.database), parse_processes=0) for _ in range(2)]
    return cfg, pipes


def test_a_novelty_stored_by_another_process_is_not_alerted_again(tmp_path, feed_server):
    cfg, (run, check) = two_processes(tmp_path, feed_server)
    try:
        assert run.poll(cfg.feeds[0]).alerts == 1  # the service: Kirby's statement from outlet A
        assert check.poll(cfg.feeds[1]).alerts == 0  # `check`: the same statement, reworded by B
        store = run.store
        assert store.counts()["events"] == 1
        assert store.delivery_counts() == {"pending": 1}
        assert next(store.query("SELECT sources FROM events"))["sources"] == 2  # B attached as a source
    finally:
        run.close()
        check.close()


def test_an_event_stored_while_a_poll_is_being_decided_is_taken_into_account(tmp_path, feed_server):
    """The window between learning the store's events and writing the poll: the write checks,
    in the same IMMEDIATE transaction, that no event came in meanwhile, else decides again."""
    cfg, (run, check) = two_processes(tmp_path, feed_server)
    unseen = check.store.unseen
    interleaved = []

    def unseen_then_the_other_process_stores(items):  # runs inside check's poll, after it learnt the store
        if not interleaved:
            interleaved.append(run.poll(cfg.feeds[0]).alerts)
        return unseen(items)

    check.store.unseen = unseen_then_the_other_process_stores
    try:
        assert check.poll(cfg.feeds[1]).alerts == 0
        assert interleaved == [1]
        assert run.store.counts()["events"] == 1 and run.store.delivery_counts() == {"pending": 1}
    finally:
        run.close()
        check.close()


def test_a_new_store_file_locked_by_another_process_is_waited_for(tmp_path):
    import sqlite3
    import threading

    from monitor.store import Store

    path = tmp_path / "monitor.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")  # another process mid-write, before WAL mode: no busy wait
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    store = Store(path)
    assert next(store.query("PRAGMA journal_mode"))["journal_mode"] == "wal"
    store.close()
    other.close()


# ---------------------------------------------------------------- 16: a sent message whose result the store refuses


def test_a_message_the_target_accepted_is_not_sent_again_while_the_store_refuses_writes(tmp_path, json_receiver):
    import sqlite3

    from monitor import config, notify
    from monitor.errors import StoreError
    from monitor.models import Alert
    from monitor.notify import Notifier
    from monitor.store import Store

    cdir = make_config(tmp_path, [], f'\n[[notify.targets]]\nname = "hook"\nurl = "{json_receiver.url()}"\n')
    cfg = config.load(cdir, tmp_path / "state")
    store = Store(cfg.database)
    alerts = [Alert(key=f"k{i}", story="test-story", kind="statement", title=f"Kirby says thing {i}",
                    body="text", link=None, outlet="Example", actor="kirby") for i in range(3)]
    store.save_alerts(alerts, [(a.key, t) for a in alerts for t in notify.route(a, cfg.notify.targets)])
    store.db.execute("PRAGMA busy_timeout = 100")  # the service waits 30 s; the test need not
    other = sqlite3.connect(cfg.database, isolation_level=None, check_same_thread=False)

    class LockAfterFirstPost(list):  # the store is locked by another program right after the target's ack
        def append(self, post: dict) -> None:
            super().append(post)
            if len(self) == 1:
                other.execute("BEGIN IMMEDIATE")

    json_receiver.posts = LockAfterFirstPost()
    notifier = Notifier(cfg, store)
    for _ in range(4):  # the service's delivery job, every 10 s, while the lock lasts
        with pytest.raises(StoreError, match="database is locked"):
            notifier.deliver_due()
    assert [p["title"] for p in json_receiver.posts] == ["New statement: Kirby says thing 0"]
    check = Notifier(cfg, Store(cfg.database))  # `monitor check` meanwhile: it may not take the claimed row
    assert check.deliver_due().busy

    other.execute("COMMIT")  # the store accepts writes again
    summary = notifier.deliver_due()
    assert (summary.sent, summary.messages) == (2, 2)
    assert sorted(p["title"] for p in json_receiver.posts) == [f"New statement: Kirby says thing {i}" for i in range(3)]
    assert store.delivery_counts() == {"sent": 3}
    assert check.deliver_due().sent == 0  # the lock is free again, and nothing is left to send
    other.close()


# ---------------------------------------------------------------- 12: a flooding feed


def flood_feed(n: int, start: int = 0) -> str:
    return rss(*[(f"f{i}", f"North Korean troops, update {i}",
                  f"Zelensky said {1000 + i * 7:,} North Korean troops are in Russia.") for i in range(start, start + n)])


def test_a_flooding_feed_is_capped_reported_and_drained_over_the_next_polls(tmp_path, feed_server, json_receiver):
    import dataclasses

    from monitor import config
    from monitor.pipeline import Pipeline
    from monitor.store import Store
    from test_novelty import STORY  # a story with figure kinds

    url = feed_server.set("/flood", flood_feed(25), ETag='"v1"')
    cdir = config_with(tmp_path, [url], "max_new_items = 10\nmax_alerts = 3",
                       f'\n[[notify.targets]]\nname = "ops"\ntags = ["ops"]\nkinds = ["feed_flooding"]\n'
                       f'url = "{json_receiver.url()}"\n')
    story = STORY.model_copy(update={"matching": STORY.matching.model_copy(update={"threshold": 30.0})})
    cfg = dataclasses.replace(config.load(cdir, tmp_path / "state"), stories=(story,))
    store = Store(cfg.database)
    pipe = Pipeline(cfg, store, parse_processes=0)
    try:
        first = pipe.poll(cfg.feeds[0])
        assert (first.status, first.new_items, first.relevant, first.alerts) == ("flooded", 10, 10, 3)
        assert "25 new items, 10 stored (service.max_new_items)" in first.error
        assert "8 relevant items not checked for news after 3 alerts (service.max_alerts)" in first.error
        state = store.feed(url)
        assert state.error_reason == "flood" and state.last_error == first.error and state.consecutive_errors == 0
        kinds = [r["kind"] for r in store.query("SELECT kind FROM events ORDER BY rowid")]
        assert kinds.count("figure") + kinds.count("statement") == 3 and kinds.count("feed_flooding") == 1
        assert [r["target"] for r in store.query(
            "SELECT target FROM deliveries JOIN events ON events.key = deliveries.event "
            "WHERE kind = 'feed_flooding'")] == ["ops"]

        second = pipe.poll(cfg.feeds[0])  # the rest comes with the next polls (no 304 meanwhile)
        assert (second.status, second.new_items) == ("flooded", 10)
        third = pipe.poll(cfg.feeds[0])
        assert (third.status, third.new_items) == ("flooded", 5)  # 5 stored, but alerts still capped
        assert store.counts()["items"] == 25
        assert sum(1 for r in store.query("SELECT kind FROM events") if r["kind"] == "feed_flooding") == 1  # once
        feed_server.set("/flood", flood_feed(25), ETag='"v1"')
        assert pipe.poll(cfg.feeds[0]).status == "not_modified"  # drained: the validators are kept now
        assert store.feed(url).error_reason is None and store.feed(url).last_error is None
    finally:
        pipe.close()


def test_a_figure_alert_carries_only_the_latest_disagreements():
    from monitor.models import Figure
    from monitor.novelty import MAX_DISAGREEMENTS, Ledger, SeenFigure, figure_alert
    from test_novelty import STORY, T0, item

    ledger = Ledger.from_story(STORY)
    for i in range(200):
        ledger.add_figure(SeenFigure(f"k{i}", "nk_troops_in_russia", 1000 + i, source=f"other:source {i}", date=T0))
    alert = figure_alert(STORY, item(1, "t"), Figure("nk_troops_in_russia", 5000, "s", source="nis"), ledger)
    assert [d["value"] for d in alert.data["disagreement"]] == [1197, 1198, 1199] and MAX_DISAGREEMENTS == 3
    assert len(alert.title) < 300 and len(alert.body) < 1000
