"""Several `monitor run` worker processes on one real PostgreSQL (tests/pg.py), feeds on 127.0.0.1,
alerts to a loopback json:// receiver: each novelty alerted and delivered exactly once whatever the
number of workers, a SIGKILLed worker's feeds and deliveries taken over after its lease expires,
and a worker whose database connections are cut keeps running and loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from conftest import make_config, rss, wait_for
from test_end_to_end import FIGURE, FIGURE_UP, OFF_TOPIC, RUTTE, RUTTE_AGAIN, story_config

from monitor.store import open_store

PEPPER = ("y1", "Yonhap: 3,000 more North Korean troops sent to Russia",
          "South Korea's spy agency said 3,000 more North Korean soldiers have been sent to Russia.")


class Workers:
    """`monitor run` processes on one config (each with its own --state dir), ended by their pid."""

    def __init__(self, tmp_path: Path, cdir: Path, password: str):
        self.tmp_path, self.cdir = tmp_path, cdir
        self.env = {**os.environ, "PGPASSWORD": password}
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self) -> subprocess.Popen:
        n = len(self.procs)
        log = self.tmp_path / f"worker{n}.log"
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(self.cdir),
                                 "--state", str(self.tmp_path / f"state{n}")],
                                stdout=log.open("w"), stderr=subprocess.STDOUT, env=self.env)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def pg_config(tmp_path: Path, cluster, url: str, feeds: list[str], target: str) -> Path:
    db = url.replace(f":{cluster.password}@", ":${PGPASSWORD}@")
    cdir = story_config(tmp_path, feeds, f'[[notify.targets]]\nurl = "{target}"\n')
    toml = cdir / "monitor.toml"
    toml.write_text(toml.read_text().replace(
        '[service]\npoll_interval = "1h"\njitter = "0s"\ntimeout = "5s"\n',
        f'[service]\npoll_interval = "2s"\nmin_interval = "1s"\njitter = "0s"\ntimeout = "3s"\n'
        f'lease = "3s"\nparse_processes = 0\nworkers = 2\ndatabase = "{db}"\n'))
    return cdir


@pytest.fixture
def workers(tmp_path, pg_cluster):
    made: list[Workers] = []

    def make(cdir: Path) -> Workers:
        w = Workers(tmp_path, cdir, pg_cluster.password)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


def settled(store, receiver) -> bool:
    """Every story event delivered, and the receiver got exactly one post per event."""
    events = [r for r in store.query("SELECT key FROM events WHERE kind IN ('statement', 'figure')")]
    states = store.delivery_counts()
    return bool(events) and set(states) == {"sent"} and states["sent"] == len(events) == len(receiver.posts)


def assert_once(receiver) -> None:
    titles = Counter(p["title"] for p in receiver.posts)
    assert all(n == 1 for n in titles.values()), titles


def test_three_workers_share_the_feeds_and_alert_once(tmp_path, pg_cluster, pg_url, feed_server, json_receiver, workers):
    paths = ["/a", "/b", "/c", "/d", "/e", "/f"]
    docs = [rss(RUTTE, title="A"), rss(RUTTE_AGAIN, title="B"), rss(FIGURE, title="C"),
            rss(OFF_TOPIC, title="D"), rss(RUTTE, title="E"), rss(OFF_TOPIC, title="F")]
    feeds = [feed_server.set(p, d) for p, d in zip(paths, docs)]
    cdir = pg_config(tmp_path, pg_cluster, pg_url, feeds, json_receiver.url())
    ws = workers(cdir)
    for _ in range(3):
        ws.start()
    store = open_store(pg_url)
    try:
        wait_for(lambda: len(store.workers()) == 3, 30, "three workers beating")
        wait_for(lambda: settled(store, json_receiver), 30, "the first alerts delivered")
        feed_server.set("/c", rss(FIGURE_UP, FIGURE, title="C"))  # news while they run
        feed_server.set("/f", rss(PEPPER, OFF_TOPIC, title="F"))
        wait_for(lambda: len(json_receiver.posts) >= 4 and settled(store, json_receiver), 30, "the new alerts")
        assert_once(json_receiver)
        assert sum("Rutte" in p["title"] for p in json_receiver.posts) == 1  # three outlets, one statement
        polled = Counter(line.split("feed=")[1].split()[0] for line in ws.text().splitlines() if "feed polled" in line)
        assert set(polled) == set(feeds)
        assert all(p.poll() is None for p in ws.procs), ws.text()[-3000:]
        assert pg_cluster.password not in ws.text() and "Traceback" not in ws.text()
    finally:
        store.close()


def test_sigkill_mid_poll_and_mid_delivery(tmp_path, pg_cluster, pg_url, feed_server, json_receiver, workers):
    gate = threading.Event()
    blocked = threading.Event()

    def slow(handler) -> None:  # the feed answers only once the test lets it
        blocked.set()
        gate.wait(30)
        body = rss(FIGURE, title="Slow").encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    slow_url = feed_server.set("/slow", "")
    feed_server.responses["/slow"] = slow
    fast = feed_server.set("/a", rss(OFF_TOPIC, title="A"))
    cdir = pg_config(tmp_path, pg_cluster, pg_url, [slow_url, fast], json_receiver.url())
    ws = workers(cdir)
    ws.start(), ws.start()
    store = open_store(pg_url)
    try:
        wait_for(blocked.is_set, 30, "a worker polling the slow feed")
        lease = wait_for(lambda: [l for l in store.leases() if l["url"] == slow_url], 10, "its lease")[0]
        pid = int(lease["owner"].split(":")[1])
        os.kill(pid, signal.SIGKILL)  # mid-poll: its lease expires, the other worker takes the feed over
        gate.set()
        wait_for(lambda: settled(store, json_receiver), 40, "the slow feed's alert, by the other worker")
        assert_once(json_receiver)
        first = len(json_receiver.posts)
        ws.start()  # a replacement, as a supervisor would

        # mid-delivery: the receiver holds the next post; kill the worker that is sending it
        json_receiver.hold_after = 1
        feed_server.set("/a", rss(RUTTE, OFF_TOPIC, title="A"))
        wait_for(lambda: json_receiver.held, 30, "a post held at the receiver")
        row = wait_for(lambda: list(store.query("SELECT claimed_by FROM deliveries WHERE state = 'sending'")), 10,
                       "the sending row")[0]
        os.kill(int(row["claimed_by"].split(":")[1]), signal.SIGKILL)
        json_receiver.hold_after = None
        json_receiver.release.set()  # the held post is answered 503: the target never got it
        wait_for(lambda: settled(store, json_receiver), 40, "the delivery sent by a live worker")
        assert_once(json_receiver)
        assert len(json_receiver.posts) > first
    finally:
        gate.set()
        json_receiver.release.set()
        store.close()


def test_a_worker_whose_connections_drop_keeps_running_and_loses_nothing(tmp_path, pg_cluster, pg_url, feed_server,
                                                                         json_receiver, workers):
    a = feed_server.set("/a", rss(OFF_TOPIC, title="A"))
    cdir = pg_config(tmp_path, pg_cluster, pg_url, [a], json_receiver.url())
    ws = workers(cdir)
    proc = ws.start()
    dbname = pg_url.rsplit("/", 1)[1]
    store = open_store(pg_url)
    try:
        wait_for(lambda: store.workers(), 30, "the worker beating")
        n = len(feed_server.requests)
        wait_for(lambda: len(feed_server.requests) > n + 1, 20, "polls going on")
        for _ in range(3):  # cut every connection the worker holds, a few times
            pg_cluster.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}' "
                               f"AND application_name <> 'test' AND pid <> pg_backend_pid() "
                               f"AND backend_type = 'client backend' AND pid NOT IN "
                               f"(SELECT pid FROM pg_stat_activity WHERE usename IS NULL)")
        feed_server.set("/a", rss(RUTTE, FIGURE, title="A"))
        wait_for(lambda: len(json_receiver.posts) >= 2 and settled(store, json_receiver), 40,
                 "the alerts after the connections dropped")
        before = len(json_receiver.posts)
        pg_cluster.stop_server()  # the whole database away, then back
        pg_cluster.start_server()
        feed_server.set("/a", rss(PEPPER, RUTTE, FIGURE, title="A"))
        wait_for(lambda: len(json_receiver.posts) > before and settled(store, json_receiver), 60,
                 "the alert after a database restart")
        assert proc.poll() is None, ws.text()[-3000:]
        assert_once(json_receiver)
        assert pg_cluster.password not in ws.text()
    finally:
        store.close()


def test_check_and_status_on_postgresql_never_show_the_password(tmp_path, pg_cluster, pg_url, feed_server,
                                                                 json_receiver):
    from conftest import monitor_cmd

    a = feed_server.set("/a", rss(RUTTE, FIGURE, title="A"))
    cdir = pg_config(tmp_path, pg_cluster, pg_url, [a], json_receiver.url())
    env = {**os.environ, "PGPASSWORD": pg_cluster.password}
    args = ["--config", str(cdir), "--state", str(tmp_path / "state")]
    check = monitor_cmd("check", *args, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len(json_receiver.posts) == 3 and monitor_cmd("check", *args, env=env).returncode == 0
    assert len(json_receiver.posts) == 3  # a second process on the same database: nothing new
    status = monitor_cmd("status", *args, env=env)
    assert status.returncode == 0, status.stderr
    wrong = monitor_cmd("check", *args, env={**env, "PGPASSWORD": "not-the-password-42"})
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr + wrong.stdout
    for out in (check, status, wrong):
        text = out.stdout + out.stderr
        assert pg_cluster.password not in text and "not-the-password-42" not in text and "Traceback" not in text
