"""Operating the service as a newcomer and a fault drill do (issue 13): the real CLI in child
processes, feeds and receivers on 127.0.0.1, real SQLite files."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import MINI_STORY, make_config, monitor_cmd, rss, wait_for

ROOT = Path(__file__).parent.parent


def dirs(cdir: Path, state: Path) -> list[str]:
    return ["--config", str(cdir), "--state", str(state)]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("MONITOR_NOTIFY_URLS", "MONITOR_WEB", "SLACK_WEBHOOK_URL")}
    return {**out, **extra}


def start_run(args: list[str], log: Path, **kw: object) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "monitor", "run", *args], stdout=out,
                                stderr=subprocess.STDOUT, **kw)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- 1. check and backoff


def test_check_polls_a_feed_in_error_backoff(tmp_path, feed_server):
    url = feed_server.set("/flaky", "down", status=500)
    cdir, state = make_config(tmp_path, [url]), tmp_path / "state"
    first = monitor_cmd("check", *dirs(cdir, state))
    assert first.returncode == 1 and "0 ok, 1 failed" in first.stdout
    feed_server.set("/flaky", rss(("g1", "Back", "text")))
    again = monitor_cmd("check", *dirs(cdir, state))  # the feed is in backoff for an hour: polled anyway
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 feeds polled: 1 ok, 0 failed; 1 new items" in again.stdout
    assert "skipped" not in again.stdout
    assert len(feed_server.requests_to("/flaky")) == 2


def test_check_says_a_gone_feed_was_not_polled_and_reset_revives_it(tmp_path, feed_server):
    url = feed_server.set("/gone", "gone", status=410)
    cdir, state = make_config(tmp_path, [url]), tmp_path / "state"
    assert monitor_cmd("check", *dirs(cdir, state)).returncode == 1
    res = monitor_cmd("check", *dirs(cdir, state))
    assert res.returncode == 1, "nothing was fetched: not a success"
    assert "0 feeds polled: 0 ok, 0 failed, 1 not polled (gone" in res.stdout
    assert "monitor feeds reset URL" in res.stdout
    assert len(feed_server.requests_to("/gone")) == 1

    feed_server.set("/gone", rss(("g1", "Alive again", "text")))
    reset = monitor_cmd("feeds", "reset", url, *dirs(cdir, state))
    assert reset.returncode == 0 and f"reset {url} (gone" in reset.stdout, reset.stdout + reset.stderr
    res = monitor_cmd("check", *dirs(cdir, state))
    assert res.returncode == 0 and "1 feeds polled: 1 ok" in res.stdout


def test_feeds_reset_refuses_an_unknown_feed_or_state(tmp_path):
    cdir = make_config(tmp_path, ["https://one.example.org/rss"])
    res = monitor_cmd("feeds", "reset", "https://other.example.org/rss", *dirs(cdir, tmp_path / "state"))
    assert res.returncode == 2 and "not a configured feed" in res.stderr
    res = monitor_cmd("feeds", "reset", "https://one.example.org/rss", *dirs(cdir, tmp_path / "state"))
    assert res.returncode == 2 and "no store here" in res.stderr
    assert not (tmp_path / "state").exists()


# ---------------------------------------------------------------- 4. read-only commands


@pytest.mark.parametrize("command", [["status"], ["report", "--out", "{tmp}/r.html"],
                                     ["explain", "https://news.example.org/g1"]])
def test_read_only_commands_never_create_state(tmp_path, command):
    cdir, wrong = make_config(tmp_path, ["https://one.example.org/rss"]), tmp_path / "typo-state"
    res = monitor_cmd(*[c.replace("{tmp}", str(tmp_path)) for c in command], *dirs(cdir, wrong))
    assert res.returncode == 2, res.stdout + res.stderr
    assert str(wrong / "monitor.db") in res.stderr and "Traceback" not in res.stderr
    assert not wrong.exists()
    assert not (tmp_path / "r.html").exists()


def _store_with_items(tmp_path: Path, feed_server) -> tuple[Path, Path]:
    url = feed_server.set("/feed", rss(("g1", "North Korean troops reach Kursk, John Kirby says", "Kirby said so."),
                                       ("g2", "Weather", "Rain."), title="Wire"))
    cdir, state = make_config(tmp_path, [url]), tmp_path / "state"
    assert monitor_cmd("check", *dirs(cdir, state)).returncode == 0
    return cdir, state


def test_status_report_explain_work_on_a_read_only_backup(tmp_path, feed_server):
    cdir, state = _store_with_items(tmp_path, feed_server)
    backup = tmp_path / "backup"
    backup.mkdir()
    src = sqlite3.connect(state / "monitor.db")
    dst = sqlite3.connect(backup / "monitor.db")
    src.backup(dst)  # what `sqlite3 state/monitor.db ".backup backup.db"` does: a WAL-mode file
    src.close()
    dst.close()
    db = backup / "monitor.db"
    before = db.read_bytes()
    db.chmod(0o444)
    backup.chmod(0o555)
    # root ignores mode bits: the immutable attribute stops it too, as a read-only mount would
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(db), str(backup)],
                                                     capture_output=True).returncode == 0
    try:
        status = monitor_cmd("status", "--json", *dirs(cdir, backup))
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["counts"]["items"] == 2
        report = monitor_cmd("report", "--out", str(tmp_path / "r.html"), *dirs(cdir, backup))
        assert report.returncode == 0, report.stderr
        explain = monitor_cmd("explain", "https://news.example.org/g1", *dirs(cdir, backup))
        assert explain.returncode == 0 and "RELEVANT" in explain.stdout, explain.stdout + explain.stderr
        # nothing written, no -wal/-shm left (as root the mode bits would not have stopped it)
        assert sorted(p.name for p in backup.iterdir()) == ["monitor.db"]
        assert db.read_bytes() == before
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(db), str(backup)], check=True)
        backup.chmod(0o755)


def test_status_reads_what_a_running_service_has_in_its_wal(tmp_path, feed_server):
    cdir, state = _store_with_items(tmp_path, feed_server)
    writer = sqlite3.connect(state / "monitor.db")  # a service: holds the WAL open, not checkpointed
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO feeds (url, title) VALUES ('https://late.example.org/rss', 'Late')")
    writer.commit()
    try:
        assert (state / "monitor.db-wal").stat().st_size > 0
        # no config here: every feed the store holds is shown, the one still in the WAL too
        res = monitor_cmd("status", "--json", *dirs(tmp_path / "missing-config", state))
        data = json.loads(res.stdout)
        assert "https://late.example.org/rss" in [f["url"] for f in data["feeds"]]
        assert data["counts"]["items"] == 2 and "config directory not found" in data["config_problems"][0]
    finally:
        writer.close()


# ---------------------------------------------------------------- 20. status with a broken config


def test_status_works_with_an_unset_secret_and_says_what_is_wrong(tmp_path, feed_server):
    cdir, state = _store_with_items(tmp_path, feed_server)
    with (cdir / "monitor.toml").open("a") as f:
        f.write('\n[[notify.targets]]\nurl = "json://127.0.0.1:9/${STATUS_TEST_UNSET}"\n')
    res = monitor_cmd("status", *dirs(cdir, state), env=env())
    assert res.returncode == 0, res.stderr
    assert "notify.targets[0].url: environment variable STATUS_TEST_UNSET is not set" in res.stderr
    assert feed_server.url("/feed") in res.stdout and "Wire" in res.stdout
    (cdir / "monitor.toml").write_text("[service\nbroken")
    res = monitor_cmd("status", "--json", *dirs(cdir, state))
    data = json.loads(res.stdout)
    assert res.returncode == 0 and "invalid TOML" in data["config_problems"][0]
    assert [f["url"] for f in data["feeds"]] == [feed_server.url("/feed")]


def test_status_table_keeps_urls_and_errors_whole_and_shows_titles_and_next_poll(tmp_path, feed_server):
    long_path = "/" + "/".join(["a-rather-long-section-name"] * 5) + "/feed.xml"
    bad = feed_server.set(long_path, "down", status=503)
    good = feed_server.set("/good", rss(("g", "Item", "text"), title="The Good Wire"))
    cdir, state = make_config(tmp_path, [bad, good]), tmp_path / "state"
    monitor_cmd("check", *dirs(cdir, state))
    table = monitor_cmd("status", *dirs(cdir, state), env=env(COLUMNS="80")).stdout
    lines = table.splitlines()
    assert f"  {bad}" in lines and f"  {good}" in lines  # each URL whole, on its own line
    stored = json.loads(monitor_cmd("status", "--json", *dirs(cdir, state)).stdout)
    error = next(f["last_error"] for f in stored["feeds"] if f["url"] == bad).removeprefix(f"{bad}: ")
    start = next(i for i, line in enumerate(lines) if line.startswith("  error"))
    shown = [lines[start].split(": ", 1)[1]] + [line.strip() for line in lines[start + 1:] if line.startswith("    ")]
    assert " ".join(shown) == " ".join(error.split())  # wrapped at spaces only: every word whole
    assert all(len(line) <= 80 or " " not in line.strip() for line in lines[start:start + len(shown)])
    row = next(line for line in lines if line.startswith("The Good Wire"))
    assert re.search(r"ok\s+\d\d-\d\d \d\d:\d\d \d\d-\d\d \d\d:\d\d\s+200", row), row  # last poll, next poll
    bad_row = next(line for line in lines if line.startswith("(no title)"))
    assert "backoff" in bad_row or "error" in bad_row


# ---------------------------------------------------------------- 5, 6. config warnings and floors


def test_zero_targets_is_a_warning_in_validate_check_and_run(tmp_path, feed_server):
    url = feed_server.set("/feed", rss(("g", "Item", "text")))
    cdir, state = make_config(tmp_path, [url]), tmp_path / "state"
    for cmd in ("validate", "check"):
        res = monitor_cmd(cmd, *dirs(cdir, state), env=env())
        assert res.returncode == 0, res.stderr
        assert "warning: no notification targets" in res.stderr and "[[notify.targets]]" in res.stderr
    log = tmp_path / "run.log"
    proc = start_run(dirs(cdir, state), log, env=env())
    try:
        wait_for(lambda: "service started" in log.read_text(), 20, "the service to start")
        assert "warning: no notification targets" in log.read_text()
    finally:
        stop(proc)
    with (cdir / "monitor.toml").open("a") as f:
        f.write('\n[[notify.targets]]\nurl = "json://127.0.0.1:9/hook"\n')
    assert "warning" not in monitor_cmd("validate", *dirs(cdir, state), env=env()).stderr


def test_poll_intervals_below_the_floor_are_refused_unless_lowered(tmp_path):
    cdir = make_config(tmp_path, [])
    (cdir / "monitor.toml").write_text('[service]\npoll_interval = "1s"\n\n[[feeds]]\nurl = "https://x.example.org/rss"\n'
                                       'interval = "0s"\n')
    res = monitor_cmd("validate", "--config", str(cdir))
    assert res.returncode == 2
    assert "service.poll_interval: 1s is shorter than the minimum of 60s" in res.stderr
    assert "feeds[0].interval: 0s is shorter than the minimum of 60s" in res.stderr
    (cdir / "monitor.toml").write_text('[service]\npoll_interval = "1s"\nmin_interval = "1s"\n')
    assert monitor_cmd("validate", "--config", str(cdir)).returncode == 0


# ---------------------------------------------------------------- 11. start-up noise and --web errors


def test_run_starts_quietly(tmp_path, feed_server):
    urls = [feed_server.set(f"/f{i}", rss((f"g{i}", "Item", "text"))) for i in range(5)]
    cdir, log = make_config(tmp_path, urls), tmp_path / "run.log"
    proc = start_run(dirs(cdir, tmp_path / "state"), log, env=env())
    try:
        wait_for(lambda: log.read_text().count("feed polled") == 5, 20, "five polls")
        text = log.read_text()
        assert "apscheduler" not in text, text
        assert len(text.splitlines()) <= 5 + 3, text  # a line per poll, "service started", the target warning
    finally:
        stop(proc)


def test_web_port_in_use_and_bad_host_are_one_clear_line(tmp_path):
    cdir = make_config(tmp_path, [], extra='\n[[notify.targets]]\nurl = "json://127.0.0.1:9/hook"\n')
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        res = monitor_cmd("run", *dirs(cdir, tmp_path / "state"), "--web", f"127.0.0.1:{port}", env=env())
    finally:
        busy.close()
    assert res.returncode == 1 and res.stdout == ""
    [line] = res.stderr.splitlines()  # no "Unclosed client session" dump after it
    assert line.startswith(f"Error: cannot listen on 127.0.0.1:{port}: Address already in use. Hint: ")
    assert "choose another --web port" in line
    res = monitor_cmd("run", *dirs(cdir, tmp_path / "state"), "--web", "192.0.2.1:8080", env=env())
    assert res.returncode == 1 and res.stdout == ""
    [line] = res.stderr.splitlines()
    assert "Hint: '192.0.2.1' is not an address of this machine; use 127.0.0.1" in line
    assert "another --web port" not in line


# ---------------------------------------------------------------- 21. health


def test_health_says_not_running_when_no_service_is(tmp_path, feed_server):
    url = feed_server.set("/feed", rss(("g", "Item", "text")))
    cdir, state = make_config(tmp_path, [url]), tmp_path / "state"
    res = monitor_cmd("health", *dirs(cdir, state))
    assert res.returncode == 1 and "unhealthy: not running" in res.stderr
    log = tmp_path / "run.log"
    for how in (signal.SIGTERM, signal.SIGKILL):
        proc = start_run(dirs(cdir, state), log, env=env())
        try:
            wait_for(lambda: (state / "heartbeat").exists(), 20, "the first heartbeat")
            assert monitor_cmd("health", *dirs(cdir, state)).returncode == 0
        finally:
            proc.send_signal(how)
            proc.wait(timeout=10)
        res = monitor_cmd("health", *dirs(cdir, state))
        assert res.returncode == 1 and "unhealthy: not running" in res.stderr, (how, res.stderr)
        assert "stuck" not in res.stderr


# ---------------------------------------------------------------- 22. options before the command


def test_options_before_the_command(tmp_path, feed_server):
    url = feed_server.set("/feed", rss(("g", "Item", "text")))
    cdir, state = make_config(tmp_path, [url]), tmp_path / "state"
    res = monitor_cmd("--config", str(cdir), "--state", str(state), "-v", "check")
    assert res.returncode == 0 and "1 feeds polled: 1 ok" in res.stdout, res.stderr
    res = monitor_cmd("--config", str(cdir), "--state", str(state), "status")
    assert res.returncode == 0 and url in res.stdout
    # after the command wins over before it
    res = monitor_cmd("--config", str(tmp_path / "nowhere"), "status", "--config", str(cdir), "--state", str(state))
    assert res.returncode == 0 and url in res.stdout


# ---------------------------------------------------------------- 23. feeds remove, [web] listen, workers


def test_feeds_remove(tmp_path):
    cdir = make_config(tmp_path, ["https://one.example.org/rss", "https://two.example.org/rss"])
    (cdir / "monitor.toml").write_text("# keep me\n" + (cdir / "monitor.toml").read_text())
    res = monitor_cmd("feeds", "remove", "https://one.example.org/rss", "--config", str(cdir))
    assert res.returncode == 0, res.stderr
    listed = monitor_cmd("feeds", "list", "--config", str(cdir)).stdout
    assert [line.split("\t")[0] for line in listed.splitlines()] == ["https://two.example.org/rss"]
    assert (cdir / "monitor.toml").read_text().startswith("# keep me")
    res = monitor_cmd("feeds", "remove", "https://one.example.org/rss", "--config", str(cdir))
    assert res.returncode == 2 and "no feed has the URL https://one.example.org/rss" in res.stderr


def test_web_listen_in_config_serves_the_dashboard_and_health_asks_it(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    cdir, state, log = make_config(tmp_path, [], extra=f'\n[web]\nlisten = "127.0.0.1:{port}"\n'), tmp_path / "state", tmp_path / "run.log"
    proc = start_run(dirs(cdir, state), log, env=env())
    try:
        wait_for(lambda: "dashboard listening" in log.read_text(), 20, "the dashboard")
        assert f"url=http://127.0.0.1:{port}" in log.read_text()
        (state / "heartbeat").unlink(missing_ok=True)  # health must ask /healthz, not the file
        res = monitor_cmd("health", *dirs(cdir, state))
        assert res.returncode == 0 and "healthy" in res.stdout, res.stderr
    finally:
        stop(proc)
    cdir2 = make_config(tmp_path / "bad", [], extra='\n[web]\nlisten = "localhost:http"\n')
    res = monitor_cmd("validate", "--config", str(cdir2))
    assert res.returncode == 2 and "web.listen: expected HOST:PORT" in res.stderr


def test_reload_applies_workers(tmp_path, feed_server, monkeypatch):
    from monitor import config, service

    in_flight: list[str] = []
    release = threading.Event()

    def slow(handler) -> None:
        in_flight.append(handler.path)
        release.wait(20)
        body = rss(("x" + handler.path.strip("/"), "Item", "text")).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    for name in "abcd":
        feed_server.responses[f"/{name}"] = slow
    monkeypatch.setattr(service, "CONFIG_CHECK_EVERY", 0.2)
    head = '[service]\npoll_interval = "1h"\njitter = "0s"\ntimeout = "30s"\nworkers = {}\n'
    cdir = make_config(tmp_path, [])
    (cdir / "monitor.toml").write_text(head.format(1) + f'[[feeds]]\nurl = "{feed_server.url("/a")}"\n')
    cfg = config.load(cdir, tmp_path / "state")
    svc = service.Service(cfg, str(cdir), str(tmp_path / "state"))
    svc.start()
    try:
        wait_for(lambda: len(in_flight) == 1, 10, "feed a's poll to hang")
        feeds = "".join(f'[[feeds]]\nurl = "{feed_server.url("/" + n)}"\n' for n in "abcd")
        tmp = cdir / "monitor.toml.tmp"
        tmp.write_text(head.format(2) + feeds)
        tmp.replace(cdir / "monitor.toml")
        # a still hangs on the old pool; the new feeds get the new pool of 2 (not the 1 taken thread)
        wait_for(lambda: len(in_flight) == 3, 10, "two of b, c, d polled at once beside a")
        release.set()
        wait_for(lambda: all(svc.store.feed(feed_server.url("/" + n)).last_poll for n in "abcd"), 20,
                 "every poll to finish before the store closes")
    finally:
        release.set()
        svc.stop()
        svc.store.close()


def test_a_reload_logs_the_settings_that_can_never_apply(tmp_path, monkeypatch, caplog):
    """An edit adopted while running says what `monitor validate` would warn about (here a
    look-alike that is also the actor's alias): the operator who edited the file sees it in the log."""
    import logging

    from monitor import config, service

    monkeypatch.setattr(service, "CONFIG_CHECK_EVERY", 0.2)
    cdir = make_config(tmp_path, [])
    svc = service.Service(config.load(cdir, tmp_path / "state"), str(cdir), str(tmp_path / "state"))
    caplog.set_level(logging.INFO, logger="monitor")
    svc.start()
    try:
        story = cdir / "stories" / "test.toml"
        tmp = story.with_suffix(".tmp")
        tmp.write_text(MINI_STORY + 'lookalikes = ["Kirby"]\n')
        tmp.replace(story)
        wait_for(lambda: "config reloaded" in caplog.text, 10, "the edit to be adopted")
        assert "config warning: " in caplog.text and "lookalikes[0]: 'Kirby' is also one of the actor's names" in caplog.text
    finally:
        svc.stop()
        svc.store.close()


# ---------------------------------------------------------------- 19. the container as documented


def test_the_dockerfile_example_alerts_with_the_shipped_config(tmp_path, json_receiver):
    docker = (ROOT / "Dockerfile").read_text()
    assert "-e SLACK_WEBHOOK_URL=..." in docker
    shutil.copytree(ROOT / "config", tmp_path / "config")
    cdir = tmp_path / "config"
    off = monitor_cmd("validate", "--config", str(cdir), env=env())
    assert off.returncode == 0, off.stderr
    assert "0 notification targets" in off.stdout
    assert "optional target 'slack' is off: SLACK_WEBHOOK_URL is not set" in off.stderr
    on = monitor_cmd("notify-test", "--config", str(cdir), "--state", str(tmp_path / "state"),
                     env=env(SLACK_WEBHOOK_URL=json_receiver.url()))
    assert on.returncode == 0, on.stdout + on.stderr
    assert len(json_receiver.posts) == 1


def test_optional_target_keeps_positions_in_messages(tmp_path, monkeypatch):
    from monitor.errors import ConfigError
    from monitor.notify import load_checked

    monkeypatch.delenv("OPT_UNSET_VAR", raising=False)
    cdir = make_config(tmp_path, [], extra='\n[[notify.targets]]\nurl = "${OPT_UNSET_VAR}"\noptional = true\n'
                                           '\n[[notify.targets]]\nurl = "nosuchscheme://x"\n')
    with pytest.raises(ConfigError) as err:
        load_checked(cdir, tmp_path / "state")
    [problem] = err.value.problems
    assert problem.startswith(f"{cdir / 'monitor.toml'}: notify.targets[1]: Apprise cannot use this URL")


def test_compose_file_and_dockerignore():
    import yaml  # apprise depends on PyYAML

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    svc = compose["services"]["monitor"]
    assert "monitor-state:/app/state" in svc["volumes"] and "monitor-state" in compose["volumes"]
    assert any(v.startswith("./config:/app/config") for v in svc["volumes"])
    assert svc["env_file"] == ".env" and svc["environment"]["MONITOR_WEB"] == "0.0.0.0:8080"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "state"} <= set(ignored)
    docker = (ROOT / "Dockerfile").read_text()
    assert "COPY --chown=monitor config ./config" in docker
    assert docker.index("useradd") < docker.index("COPY --chown=monitor config")
    assert "MONITOR_WEB=0.0.0.0:8080" in docker
