"""The service under faults: Ctrl-C, SIGKILL, an unwritable or full store, two services, floods.

Real processes and real signals (the CLI in child processes, each in its own session so a
signal to its process group reaches its parse workers as a terminal's Ctrl-C does), real
SQLite files, feeds and receivers on 127.0.0.1; every wait has a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_config, rss, wait_for

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
