"""Operating several workers: each worker's /healthz answers for that worker (its scheduler, its
store connection, its own heartbeat); `monitor status` lists the workers and their leases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

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
