"""One flooding feed: a document of 20,000 items that all match the shipped story, each with a
new figure from one of several sources, polled by `monitor check` as a user would.

    python bench/flood.py [--items 20000] [--polls 1] [--monitor "python -m monitor"]

Prints, per poll: wall time, the peak RSS of the largest process (check or a parse worker),
the store's size on disk, items and alert events stored, the longest alert title, and the
feed's status line from `monitor check`. `--monitor` runs another checkout's CLI (for a
before/after comparison: `--monitor "env PYTHONPATH=/tmp/base python -m monitor"`).
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [
    "South Korea's National Intelligence Service said North Korea had sent {n:,} troops to Russia's Kursk region.",
    "Ukrainian President Volodymyr Zelensky said {n:,} North Korean troops were in the Kursk region.",
    "Pentagon spokesman Pat Ryder said around {n:,} North Korean troops had arrived in Russia for training.",
]


def flood(items: int) -> bytes:
    """An RSS document of `items` matching items, each with a figure no other item has."""
    out = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Flood</title>']
    for i in range(items):
        text = SENTENCES[i % len(SENTENCES)].format(n=1000 + i)
        out.append(f"<item><guid>flood-{i}</guid><title>North Korean troops in Kursk, update {i}</title>"
                   f"<link>https://flood.example.org/{i}</link><description>{text}</description>"
                   "<pubDate>Thu, 24 Oct 2024 10:00:00 GMT</pubDate></item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--polls", type=int, default=1)
    ap.add_argument("--monitor", default=f"{sys.executable} -m monitor")
    args = ap.parse_args()
    body = flood(args.items)
    httpd = serve(body)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/flood"
    with tempfile.TemporaryDirectory(prefix="flood-") as tmp:
        cdir = Path(tmp) / "config"
        (cdir / "stories").mkdir(parents=True)
        for story in (ROOT / "config" / "stories").glob("*.toml"):
            (cdir / "stories" / story.name).write_bytes(story.read_bytes())
        (cdir / "monitor.toml").write_text(f'[service]\njitter = "0s"\ntimeout = "60s"\n\n[[feeds]]\nurl = "{url}"\n')
        print(f"feed: {args.items:,} matching items, {len(body) / 1e6:.1f} MB")
        for n in range(1, args.polls + 1):
            cmd = [*shlex.split(args.monitor), "check", "--config", str(cdir), "--state", f"{tmp}/state"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            start = time.monotonic()
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            wall = time.monotonic() - start
            rss = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
            size = sum(p.stat().st_size for p in Path(tmp, "state").glob("monitor.db*")) / 1e6
            db = sqlite3.connect(Path(tmp, "state", "monitor.db"))
            items, events = (db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("items", "events"))
            longest = db.execute("SELECT COALESCE(MAX(LENGTH(title)), 0) FROM events").fetchone()[0]
            db.close()
            line = next((ln for ln in reversed(res.stdout.splitlines()) if url in ln), res.stderr.strip()[-300:])
            print(f"poll {n}: {wall:6.1f} s  peak RSS {rss:7.0f} MB  store {size:6.1f} MB  items {items:6,}  "
                  f"events {events:5,}  longest title {longest:6,} chars  rc {res.returncode}")
            print(f"        {line[:220]}")
    httpd.shutdown()


if __name__ == "__main__":
    main()
