"""Throughput of 1, 2 and 4 `monitor run` workers on one PostgreSQL, in the steady state.

    python bench/throughput.py [--workers 1,2,4] [--feeds 1000] [--items 50] [--new 2]
                               [--interval 2] [--warmup 20] [--window 30] [--database LOCATION]

The steady pass of bench/cycle.py (issue 14: each poll of a feed answers 200 with --new new
entries among --items it has already seen), sustained: every request for a feed gets its next
version (--new newer entries on top, the --new oldest gone, the rest byte for byte the same),
generated as bench/_feeds.py writes them (titles, 1-4 sentence descriptions, a third HTML, ~3%
about the shipped story). No ETag: many servers ignore conditional GET. --feeds feeds polled
every --interval seconds ask for more polls than the workers can make, so the workers run flat
out; after --warmup seconds (the first pass, every item new), the polls the server answers in
--window seconds are counted, with the CPU time of the workers' process trees and of the
database server over the same window.

Prints, per worker count: polls/s, new items/s, CPU-s per poll (workers, database), CPU in use
(of the 2 here) and polls per CPU-second: what one core sustains. Each worker count gets a
fresh throw-away PostgreSQL (or `--database sqlite:PATH` for one worker on the default store,
a new file per run). Numbers move by 30-50% between runs on a shared VM: compare within a run.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import re
import shutil
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _feeds import _description, _headline  # noqa: E402
from cycle import tree_cpu  # noqa: E402
from workers import Worker, database_for  # noqa: E402

POOL = 64  # distinct entries per feed, reused under new links: the text work stays realistic


class SteadyFeeds:
    """Feed i's v-th answer: entries v*K .. v*K+N-1 (newest first), K new since the (v-1)-th."""

    def __init__(self, feeds: int, items: int, new: int, seed: int):
        self.items, self.new = items, new
        self.pool: list[list[tuple[str, str]]] = []
        for i in range(feeds):
            entries = []
            for j in range(POOL):
                rng = random.Random(f"{seed}:{i}:{j}")
                mention = rng.random() < 0.03
                entries.append((escape(_headline(rng, mention)),
                                escape(_description(rng, mention, html=rng.random() < 0.33, link=f"https://news{i}.example.org/"))))
            self.pool.append(entries)
        self.version = [0] * feeds
        self.lock = threading.Lock()
        self.requests: list[float] = []

    def body(self, i: int) -> bytes:
        with self.lock:
            v = self.version[i]
            self.version[i] += 1
            self.requests.append(time.monotonic())
        top = v * self.new + self.items - 1
        out = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News {i}</title>'
               f"<link>https://news{i}.example.org/</link><description>World news from outlet {i}</description>"]
        for n in range(top, top - self.items, -1):
            title, desc = self.pool[i][n % POOL]
            link = f"https://news{i}.example.org/story-{i}-{n}"
            out.append(f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
                       f"<pubDate>{formatdate(1_730_000_000 + n * 600, usegmt=True)}</pubDate>"
                       f"<description>{desc}</description></item>")
        out.append("</channel></rss>")
        return "\n".join(out).encode()


def serve(feeds: SteadyFeeds) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            m = re.fullmatch(r"/(\d+)\.xml", self.path)
            if not m or int(m.group(1)) >= len(feeds.pool):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = feeds.body(int(m.group(1)))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 512
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def write_config(cdir: Path, database: str, base: str, feeds: int, interval: float, threads: int) -> None:
    shutil.copytree(ROOT / "config" / "stories", cdir / "stories")
    lines = ["[service]", f'poll_interval = "{interval:g}s"', "min_interval = 1", 'jitter = "1s"', f"workers = {threads}",
             f'database = "{database}"', 'timeout = "20s"', ""]
    lines += [f'[[feeds]]\nurl = "{base}/{i}.xml"\n' for i in range(feeds)]
    (cdir / "monitor.toml").write_text("\n".join(lines))


def run(args: argparse.Namespace, n: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-throughput-{n}-"))
    feeds = SteadyFeeds(args.feeds, args.items, args.new, args.seed)
    httpd, base = serve(feeds)
    try:
        with database_for(args.database, work) as (database, db_pid):
            write_config(work / "config", database, base, args.feeds, args.interval, args.threads)
            workers = [Worker(k, work / "config", work / f"state-{k}", work / f"worker-{k}.log") for k in range(n)]
            for w in workers:
                w.start()
            try:
                time.sleep(args.warmup)
                cpu0 = sum(tree_cpu(w.proc.pid) for w in workers)
                own0 = resource.getrusage(resource.RUSAGE_SELF)
                db0 = tree_cpu(db_pid) if db_pid else 0.0
                t0, r0 = time.monotonic(), len(feeds.requests)
                time.sleep(args.window)
                t1, r1 = time.monotonic(), len(feeds.requests)
                cpu1 = sum(tree_cpu(w.proc.pid) for w in workers)
                own1 = resource.getrusage(resource.RUSAGE_SELF)
                db1 = tree_cpu(db_pid) if db_pid else 0.0
                dead = [w.n for w in workers if w.proc.poll() is not None]
            finally:
                for w in workers:
                    w.stop()
    finally:
        httpd.shutdown()
        httpd.server_close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    polls, secs = r1 - r0, t1 - t0
    return {"workers": n, "polls": polls, "seconds": secs, "worker_cpu": cpu1 - cpu0, "db_cpu": db1 - db0,
            "dead": dead, "demand": args.feeds / args.interval,
            "server_cpu": own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,4", help="worker counts, one run each")
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--new", type=int, default=2)
    ap.add_argument("--interval", type=float, default=2.0, help="poll_interval, seconds (feeds/interval = polls asked for)")
    ap.add_argument("--threads", type=int, default=4, help="service.workers: polls in flight per worker (default: its default)")
    ap.add_argument("--warmup", type=float, default=30.0)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--database", help="sqlite:PATH (one worker), or an existing PostgreSQL; default: a throw-away one per run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep each run's work directory")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.workers.split(",")]
    cores = os.cpu_count() or 1
    print(f"{args.feeds} feeds x {args.items} items, {args.new} new per poll, asked every {args.interval:g} s "
          f"({args.feeds / args.interval:.0f} polls/s asked); warm-up {args.warmup:g} s, window {args.window:g} s; "
          f"{cores} CPUs", flush=True)
    print(f"{'workers':>7} {'polls/s':>8} {'items/s':>8} {'ms CPU/poll':>12} {'of it DB':>9} {'CPUs busy':>9} {'polls/CPU-s':>11} {'feed server CPUs':>16}")
    for n in counts:
        r = run(args, n)
        rate = r["polls"] / r["seconds"]
        cpu = r["worker_cpu"] + r["db_cpu"]
        per = cpu / r["polls"] * 1000 if r["polls"] else float("nan")
        note = " (as many as asked: not saturated)" if rate > 0.95 * r["demand"] else ""
        note += f" (workers died: {r['dead']})" if r["dead"] else ""
        print(f"{n:>7} {rate:>8.0f} {rate * args.new:>8.0f} {per:>12.2f} {r['db_cpu'] / r['polls'] * 1000 if r['polls'] else 0:>9.2f} "
              f"{cpu / r['seconds']:>9.2f} {r['polls'] / cpu if cpu else 0:>11.0f} {r['server_cpu'] / r['seconds']:>16.2f}{note}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
