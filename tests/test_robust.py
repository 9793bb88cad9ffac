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
        lines = res.stderr.strip().splitlines()
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
        svc.scheduler.shutdown(wait=False)
        svc.pipeline.close()
