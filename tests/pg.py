"""A throw-away PostgreSQL cluster on 127.0.0.1 for the tests and the benchmarks (no monitor imports).

    cluster = Cluster.start()          # initdb in a temp dir, a free port, waits until it accepts
    url = cluster.create_database()    # a fresh database: postgresql://monitor:PASSWORD@127.0.0.1:PORT/NAME
    cluster.stop()                     # and the temp dir is removed

Server binaries: $PG_BIN, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin
(Debian's `postgresql` package), else initdb on PATH; `find_bin()` is None when there are none.
initdb refuses to run as root, so under root the cluster runs as the `postgres` user (runuser).
Password authentication (scram) for user `monitor`, so a URL without the password fails like a
real deployment would. fsync off: a test cluster, never data anyone keeps.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

USER = "monitor"


def find_bin() -> Path | None:
    """The directory of initdb/pg_ctl/pg_isready, or None."""
    candidates = [os.environ.get("PG_BIN", "")]
    if shutil.which("pg_config"):
        try:
            candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                             timeout=10).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    bindir: Path
    root: Path  # temp dir: data/, the socket, the log
    port: int
    password: str
    runas: str | None  # the unprivileged user the server runs as when we are root

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres", password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.runas:
            cmd = ["runuser", "-u", self.runas, "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({out.returncode}): {out.stderr.strip()}\n{log}")
        return out

    @classmethod
    def start(cls, bindir: Path | None = None, timeout: float = 60) -> "Cluster":
        bindir = bindir or find_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql, or set PG_BIN")
        runas = None
        if os.geteuid() == 0:
            runas = os.environ.get("PG_RUNAS", "postgres")
            pwd.getpwnam(runas)  # KeyError: no such user
        root = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        root.chmod(0o755)
        if runas:
            os.chown(root, pwd.getpwnam(runas).pw_uid, pwd.getpwnam(runas).pw_gid)
        self = cls(bindir, root, free_port(), uuid.uuid4().hex, runas)
        pwfile = root / "pw"
        pwfile.write_text(self.password + "\n")
        if runas:
            os.chown(pwfile, pwd.getpwnam(runas).pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile), "-A", "scram-sha-256",
                  "-E", "UTF8", "--no-sync", "--locale=C.UTF-8" if _has_c_utf8() else "--locale=C")
        pwfile.unlink()
        self.start_server(timeout)
        return self

    def start_server(self, timeout: float = 60) -> None:
        """Start (or restart after `stop_server`) on the same port, and wait until it accepts."""
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", str(int(timeout)),
                  "start", timeout=timeout + 10)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            out = subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"],
                                 capture_output=True, text=True)
            if out.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL on port {self.port} not ready after {timeout}s: {out.stdout.strip()}")
            time.sleep(0.1)

    def stop_server(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        try:
            self.stop_server("immediate")
        except (RuntimeError, OSError, subprocess.SubprocessError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; its URL (with the password)."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def execute(self, sql: str, dbname: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser (e.g. pg_terminate_backend); its rows, if any."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []


def _has_c_utf8() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.lower() in ("c.utf8", "c.utf-8") for line in out.splitlines())
