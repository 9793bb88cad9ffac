"""Operating several workers: each worker's /healthz answers for that worker (its scheduler, its
store connection, its own heartbeat); `monitor status` lists the workers and their leases."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from conftest import make_config, rss, wait_for
from monitor import config
from monitor.service import Service


def test_healthz_reports_a_worker_whose_heartbeat_stopped(tmp_path, feed_server):
    url = feed_server.set("/feed", rss(("h1", "Nothing", "Nothing")))
    cfg = config.load(make_config(tmp_path, [url]), tmp_path / "state")
    service = Service(cfg, web="127.0.0.1:0")
    service.start()
    try:
        with httpx.Client(base_url=service.web.url, timeout=10) as client:
            assert client.get("/healthz").text == "ok\n"
            stuck = datetime.now(timezone.utc) - timedelta(seconds=300)
            service.started = service.heartbeat = stuck  # its main loop stopped beating 5 minutes ago
            resp = client.get("/healthz")
            assert resp.status_code == 503
            assert resp.text.startswith("unhealthy: no heartbeat for 30") and "main loop is stuck" in resp.text
            service.beat()  # the loop runs again
            wait_for(lambda: client.get("/healthz").status_code == 200, what="/healthz back to 200")
    finally:
        service.scheduler.shutdown(wait=False)
        service.web.stop()
        service.pipeline.close()


def test_compose_postgres_references_only_what_exists():
    """compose.postgres.yaml parses, and everything it names exists: the image's extra, the
    commands, the config dir, the variables (in .env.example), the services it waits for."""
    import re
    import tomllib
    from pathlib import Path

    import yaml  # apprise depends on PyYAML
    from click.testing import CliRunner

    from monitor.cli import cli

    root = Path(__file__).resolve().parent.parent
    text = (root / "compose.postgres.yaml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    workers = [s for name, s in services.items() if name.startswith("worker-")]
    assert len(workers) == 2
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    docker = (root / "Dockerfile").read_text()
    assert 'ARG EXTRAS=""' in docker and '".[$EXTRAS]"' in docker
    for name, svc in services.items():
        for other, cond in (svc.get("depends_on") or {}).items():
            assert other in services and cond["condition"] in ("service_healthy", "service_completed_successfully"), name
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[other], other
        if "build" in svc:
            assert (root / svc["build"]["context"] / "Dockerfile").is_file()
            assert svc["build"]["args"]["EXTRAS"] in extras, f"pyproject.toml has no extra {svc['build']['args']['EXTRAS']}"
            assert "./config:/app/config:ro" in svc["volumes"] and svc["env_file"] == ".env"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            assert (root / source).exists() if source.startswith(".") else source in compose["volumes"], volume
    commands = [services["migrate"]["command"]] + [w.get("command", ["monitor", "run"]) for w in workers]
    for command in commands:
        assert command[0] == "monitor"
        res = CliRunner().invoke(cli, [*command[1:], "--help"])
        assert res.exit_code == 0, f"{command}: {res.output}"
    assert {w["environment"]["MONITOR_WEB"] for w in workers} == {"0.0.0.0:8080"}
    assert len({p for w in workers for p in w["ports"]}) == 2
    assert all(p.startswith("127.0.0.1:") for w in workers for p in w["ports"])
    env_example = (root / ".env.example").read_text()
    for var in set(re.findall(r"\$\{(\w+)", text)):
        assert re.search(rf"^#? ?{var}=", env_example, re.M), f"{var} is not in .env.example"
    url = re.search(r'database = "(postgresql://[^"]+)"', text).group(1)  # the line the comment says to add
    assert "${POSTGRES_PASSWORD}" in url and "@db:5432/" in url
    assert url in (root / "README.md").read_text(), "README shows another database line than compose.postgres.yaml"


def _pg_config(tmp_path, pg_url, monkeypatch, extra: str = "") -> list[str]:
    """A config dir whose store is `pg_url`, its password through ${TEST_PG_PASSWORD}."""
    password = pg_url.split(":")[2].split("@")[0]
    monkeypatch.setenv("TEST_PG_PASSWORD", password)
    cdir = make_config(tmp_path, ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"])
    text = (cdir / "monitor.toml").read_text()
    database = pg_url.replace(password, "${TEST_PG_PASSWORD}")
    (cdir / "monitor.toml").write_text(text.replace("[service]\n", f'[service]\ndatabase = "{database}"\n{extra}', 1))
    return ["--config", str(cdir), "--state", str(tmp_path / "state")]


def test_status_lists_the_workers_and_their_leases_on_postgresql(tmp_path, pg_url, monkeypatch):
    import json

    from conftest import monitor_cmd
    from monitor.store_pg import PostgresStore

    args = _pg_config(tmp_path, pg_url, monkeypatch, extra='lease = "3s"\n')
    one, two = PostgresStore(pg_url, lease=3), PostgresStore(pg_url, lease=3)
    try:
        one.beat()
        two.beat("store not writable: disk full")
        assert one.claim_feed("http://127.0.0.1:9/a")
        res = monitor_cmd("status", *args)
        assert res.returncode == 0, res.stderr
        out = res.stdout
        assert "workers: 2 running" in out
        assert f"  {one.worker_id}  host " in out and "holds 1 feeds  ok" in out
        assert f"  {two.worker_id}  host " in out and "holds 0 feeds  problem: store not writable: disk full" in out
        assert "leases: 1 feeds being polled now" in out and f"  http://127.0.0.1:9/a  {one.worker_id}  until " in out
        assert "service: 2 worker(s) running" in out
        assert monkeypatch_password(pg_url) not in out + res.stderr
        data = json.loads(monitor_cmd("status", "--json", *args).stdout)
        assert {w["id"] for w in data["workers"]} == {one.worker_id, two.worker_id}
        assert [(r["url"], r["owner"]) for r in data["leases"]] == [("http://127.0.0.1:9/a", one.worker_id)]
        # `one` dies: it stops beating; after its lease it is shown as gone and its lease as free
        # (the lease was taken a moment after the beat, so it may expire a second after `one` is gone)
        def shown() -> str:
            two.beat()
            return monitor_cmd("status", *args).stdout

        wait_for(lambda: ("1 running, 1 not seen for over a lease" in (out := shown())
                          and "leases: 0 feeds being polled now, 1 expired (free)" in out),
                 timeout=20, what="the silent worker shown as gone and its lease as free")
        assert two.claim_feed("http://127.0.0.1:9/a")  # taken over
    finally:
        one.close()
        two.close()


def monkeypatch_password(url: str) -> str:
    return url.split(":")[2].split("@")[0]


def test_status_on_sqlite_shows_no_workers(tmp_path, feed_server):
    from conftest import monitor_cmd

    cdir = make_config(tmp_path, [feed_server.set("/f", rss(("g", "Item", "text")))])
    args = ["--config", str(cdir), "--state", str(tmp_path / "state")]
    assert monitor_cmd("check", *args).returncode == 0
    res = monitor_cmd("status", *args)
    assert res.returncode == 0 and "workers:" not in res.stdout and "leases:" not in res.stdout
    assert "service: not running" in res.stdout


def test_the_daily_prune_forgets_a_killed_worker_after_a_day(tmp_path, pg_url, monkeypatch):
    from monitor.store_pg import PostgresStore

    args = _pg_config(tmp_path, pg_url, monkeypatch)
    killed, lately = PostgresStore(pg_url), PostgresStore(pg_url)
    service = Service(config.load(Path(args[1]), Path(args[3])))
    try:
        for store, hours in ((killed, 25), (lately, 2)):  # SIGKILLed: never retired, its row stays
            store.beat()
            stamp = (datetime.now(timezone.utc) - timedelta(hours=hours)).isoformat(timespec="seconds")
            store.db.execute("UPDATE workers SET seen_at = ? WHERE id = ?", [stamp, store.worker_id])
        service.store.beat()
        service._prune()
        assert {w["id"] for w in service.store.workers()} == {lately.worker_id, service.store.worker_id}
    finally:
        killed.close()
        lately.close()
        service.pipeline.close()


def test_status_on_a_broken_config_still_reads_the_postgresql_store(tmp_path, pg_url, monkeypatch):
    """The config does not load (a bad duration): status says so and still shows the store the
    file names, its ${PASSWORD} from the environment; never the password, never a path made of the URL."""
    from conftest import monitor_cmd
    from monitor.store_pg import PostgresStore

    args = _pg_config(tmp_path, pg_url, monkeypatch)
    cfile = Path(args[1]) / "monitor.toml"
    cfile.write_text(re.sub(r'poll_interval = "[^"]*"', 'poll_interval = "often"', cfile.read_text()))
    store = PostgresStore(pg_url)
    try:
        store.sync_feeds([("http://127.0.0.1:9/a", "Feed A")])
        res = monitor_cmd("status", *args)
        assert res.returncode == 0, res.stderr
        assert "service.poll_interval: expected a duration" in res.stderr and "showing every feed the store knows" in res.stderr
        assert "http://127.0.0.1:9/a" in res.stdout
        monkeypatch.delenv("TEST_PG_PASSWORD")  # now the store cannot be reached: both reasons are given
        res = monitor_cmd("status", *args)
        assert res.returncode != 0
        assert "service.poll_interval: expected a duration" in res.stderr and "cannot read the store" in res.stderr
        assert "state/postgresql" not in res.stderr
        assert monkeypatch_password(pg_url) not in res.stdout + res.stderr
    finally:
        store.close()
