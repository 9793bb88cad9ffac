"""Soak: several `monitor run` workers on one PostgreSQL, one of them SIGKILLed every 20 s.

    python bench/workers.py [--workers 2] [--feeds 300] [--duration 300] [--interval 60]
                            [--lease 30] [--kill-every 20] [--database postgresql://...] [--seed 0]

Real news replayed as feeds: every item of /work/shared/corpus/items.jsonl is given to one of
--feeds loopback feeds (RSS for even feeds, Atom for odd ones, as bench/replay.py writes them);
each feed starts with a few of its items and the rest are released over the first 80% of the
run, so new items, matches and alerts keep flowing. The feeds are served by a server in this
process (127.0.0.1, ETag / 304, one log line per request), alerts go to a loopback webhook
receiver through Apprise json://, and the workers are real `monitor run` processes with the
shipped story, `poll_interval = --interval` and `lease = --lease` (a dead worker's feeds wait at
most that long for another worker), each with its own state dir and dashboard port.

Every --kill-every seconds, at a random moment within the period, one worker chosen at random is
SIGKILLed and started again at once. After --duration the releases stop, the workers are given
time to deliver what is queued (at most two intervals), then stopped with SIGTERM.

Prints:
  polls     every feed's largest gap between two polls (seen by the server; from the start to
            the first poll, and from the last poll to the end, count too), against the interval
            (target: within two intervals)
  alerts    events in the store routed to the webhook vs messages the receiver got, matched by
            (title, article link): lost (stored, never received) and sent twice (targets: 0, 0)
  workers   kills, restarts, and the store's workers and leases at the end

--database: an existing PostgreSQL to use (give a new, empty database); by default a throw-away
one is started in a temporary directory (PostgreSQL server binaries needed). `--database
sqlite:PATH --workers 1` runs the same soak on the default store, to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from replay import CORPUS, document  # noqa: E402

SHOWN = 20  # items in a feed document, newest first
START_ITEMS = 3  # items each feed has when the run starts


# ---------------------------------------------------------------- feeds that grow


class GrowingFeeds:
    """--feeds feeds sharing the corpus; `release()` adds the next item to some feed."""

    def __init__(self, corpus: Path, feeds: int, seed: int):
        items = [json.loads(line) for line in corpus.read_text().splitlines() if line.strip()]
        items.sort(key=lambda it: it.get("published") or "")
        rng = random.Random(seed)
        self.items: list[list[dict]] = [[] for _ in range(feeds)]
        for n, it in enumerate(items):  # round robin in time order: each feed gets a slice of every day
            self.items[n % feeds].append(it)
        self.shown = [min(START_ITEMS, len(its)) for its in self.items]
        self.pending = self._interleave(rng)
        self.lock = threading.Lock()
        self.bodies: dict[int, tuple[bytes, str]] = {}
        self.released = 0

    def _interleave(self, rng: random.Random) -> list[int]:
        """Release order: feed indexes, each as many times as it has items left, shuffled."""
        order = [i for i, its in enumerate(self.items) for _ in range(len(its) - self.shown[i])]
        rng.shuffle(order)
        return order

    def total_left(self) -> int:
        return len(self.pending) - self.released

    def release(self) -> None:
        with self.lock:
            if self.released < len(self.pending):
                i = self.pending[self.released]
                self.released += 1
                self.shown[i] += 1
                self.bodies.pop(i, None)

    def body(self, i: int, base: str) -> tuple[bytes, str]:
        with self.lock:
            if i not in self.bodies:
                shown = self.items[i][:self.shown[i]][::-1][:SHOWN]
                doc = document(f"{base}/{i}.xml", f"Feed {i}", shown, atom=i % 2 == 1)
                self.bodies[i] = (doc, f'"{hashlib.sha1(doc).hexdigest()[:16]}"')
            return self.bodies[i]


class FeedServer:
    """Serves GrowingFeeds on 127.0.0.1; records when each feed was requested."""

    def __init__(self, feeds: GrowingFeeds):
        self.feeds = feeds
        self.polls: dict[int, list[float]] = defaultdict(list)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                m = re.fullmatch(r"/(\d+)\.xml", self.path.split("?", 1)[0])
                if not m or int(m.group(1)) >= len(outer.feeds.items):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                i = int(m.group(1))
                outer.polls[i].append(time.monotonic())
                body, etag = outer.feeds.body(i, outer.base)
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", formatdate(usegmt=True))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.request_queue_size = 256
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Receiver:
    """The webhook: Apprise json:// POSTs, kept whole."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"json://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- workers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Worker:
    def __init__(self, n: int, config: Path, state: Path, log: Path):
        self.n, self.config, self.state, self.log = n, config, state, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(self.config), "--state", str(self.state),
                 "--web", f"127.0.0.1:{self.port}"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def write_config(cdir: Path, database: str, feeds: str, n: int, interval: float, hook: str, lease: float) -> None:
    shutil.copytree(ROOT / "config" / "stories", cdir / "stories")
    lines = ["[service]", f'poll_interval = "{interval:g}s"', "min_interval = 1", 'jitter = "2s"', f'lease = "{lease:g}s"',
             f'database = "{database}"', 'timeout = "20s"', "",
             "[[notify.targets]]", f'url = "{hook}"', 'name = "hook"', "rate_limit = 1000000", ""]
    lines += [f'[[feeds]]\nurl = "{feeds}/{i}.xml"\n' for i in range(n)]
    (cdir / "monitor.toml").write_text("\n".join(lines))


# ---------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--feeds", type=int, default=300)
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of soak (kills and releases)")
    ap.add_argument("--interval", type=float, default=60.0, help="poll_interval of every feed, seconds")
    ap.add_argument("--lease", type=float, default=30.0,
                    help="service.lease, seconds: a dead worker's feeds are taken over after at most this")
    ap.add_argument("--kill-every", type=float, default=20.0, help="one SIGKILL per this many seconds (0: none)")
    ap.add_argument("--database", help="an existing PostgreSQL URL (emptied first); default: a throw-away one")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, config)")
    args = ap.parse_args(argv)

    from monitor import dbcopy

    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    rng = random.Random(args.seed)
    feeds = GrowingFeeds(args.corpus, args.feeds, args.seed)
    server, receiver = FeedServer(feeds), Receiver()
    with database_for(args.database, work) as (database, _):
        write_config(work / "config", database, server.base, args.feeds, args.interval, receiver.url, args.lease)
        workers = [Worker(n, work / "config", work / f"state-{n}", work / f"worker-{n}.log") for n in range(args.workers)]
        print(f"{args.workers} workers, {args.feeds} feeds ({sum(map(len, feeds.items))} corpus items, "
              f"{feeds.total_left()} released during the run), interval {args.interval:g} s, "
              f"lease {args.lease:g} s, a SIGKILL every {args.kill_every:g} s, {args.duration:g} s; work dir {work}", flush=True)
        start = time.monotonic()
        for w in workers:
            w.start()
        kills = 0
        stop = threading.Event()

        def releaser() -> None:
            total = feeds.total_left()
            span = args.duration * 0.8
            for k in range(total):
                if stop.wait(max(0.0, start + span * (k + 1) / total - time.monotonic())):
                    return
                feeds.release()

        threading.Thread(target=releaser, daemon=True).start()
        period = 0
        while time.monotonic() - start < args.duration:
            if args.kill_every <= 0:
                time.sleep(min(5.0, args.duration - (time.monotonic() - start)))
                continue
            at = start + period * args.kill_every + rng.uniform(0, args.kill_every)
            period += 1
            if at - start >= args.duration:
                time.sleep(max(0.0, args.duration - (time.monotonic() - start)))
                break
            time.sleep(max(0.0, at - time.monotonic()))
            victim = rng.choice(workers)
            victim.kill()
            kills += 1
            victim.start()
            print(f"  {time.monotonic() - start:6.1f} s  SIGKILL worker {victim.n} (pid {victim.proc.pid} now); "
                  f"{feeds.released} items released, {len(receiver.posts)} alerts received", flush=True)
        end = time.monotonic()
        stop.set()
        store = dbcopy.open_location(database, source=False)
        hook_events = _routed(store)
        drained = _wait_drained(store, args.interval * 2)
        for w in workers:
            w.stop()
        workers_rows = store.workers() if hasattr(store, "workers") else []
        leases_rows = store.leases() if hasattr(store, "leases") else []
        hook_events = _routed(store)
        store.close()
    server.close()
    receiver.close()
    report(args, feeds, server, receiver, hook_events, start, end, kills, drained, workers_rows, leases_rows)
    if args.keep:
        print(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


@contextlib.contextmanager
def database_for(given: str | None, work: Path) -> Iterator[tuple[str, int | None]]:
    """(the store's location, the database server's pid or None): `sqlite` (a new file in
    `work`) or `sqlite:PATH` for the default store (one worker), an existing PostgreSQL URL, or
    by default a throw-away PostgreSQL in `work`, stopped at the end."""
    if given and given.startswith("sqlite"):
        path = given[len("sqlite:"):] if given.startswith("sqlite:") else ""
        yield str(Path(path).resolve()) if path else str(work / "monitor.db"), None
        return
    if given:  # an existing server: give a new, empty database
        yield given, None
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pg import Cluster  # tests/pg.py: a throw-away cluster (initdb, a free port, stopped and removed after)

    cluster = Cluster.start()
    try:
        pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
        yield cluster.create_database("bench"), pid
    finally:
        cluster.stop()


def _routed(store) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every stored event that has a delivery to the webhook, with its deliveries, and the title
    and link the message carries (as notify.py renders them)."""
    from monitor.notify import render, safe_link

    alerts = {a.key: a for a in store.alerts()}
    out = []
    for e in store.events(limit=1_000_000):
        if any(d["target"] == "hook" for d in e["deliveries"]):
            a = alerts[e["key"]]
            out.append({**e, "shown": (render(a)[0], safe_link(a.link))})
    return out


def _wait_drained(store, timeout: float) -> float | None:  # type: ignore[no-untyped-def]
    """Seconds until no delivery is pending, retrying or sending (None: not within `timeout`)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        counts = store.delivery_counts()
        if not any(counts.get(s) for s in ("pending", "retrying", "sending", "held")):
            return time.monotonic() - start
        time.sleep(1.0)
    return None


def _link(message: str) -> str | None:
    m = re.search(r": (https?://\S+)\s*$", message)
    return m.group(1) if m else None


def report(args, feeds, server, receiver, events, start, end, kills, drained, workers_rows, leases_rows) -> None:  # type: ignore[no-untyped-def]
    gaps = []
    for i in range(args.feeds):
        times = [t for t in server.polls.get(i, []) if t <= end]
        stamps = [start, *times, end]
        gaps.append(max(b - a for a, b in zip(stamps, stamps[1:])))
    gaps.sort()
    over = sum(g > 2 * args.interval for g in gaps)
    polls = sum(len(v) for v in server.polls.values())
    print(f"\npolls: {polls} requests over {end - start:.0f} s; largest gap between two polls of a feed "
          f"(interval {args.interval:g} s): median {gaps[len(gaps) // 2]:.1f} s, p95 {gaps[int(len(gaps) * 0.95)]:.1f} s, "
          f"max {gaps[-1]:.1f} s ({gaps[-1] / args.interval:.2f} intervals); "
          f"feeds over two intervals: {over} of {args.feeds}")
    want = Counter(e["shown"] for e in events)
    got = Counter((p.get("title"), _link(p.get("message", ""))) for p in receiver.posts)
    lost = sum(max(0, n - got[k]) for k, n in want.items())
    twice = sum(max(0, n - want[k]) for k, n in got.items() if k in want)
    stray = sum(n for k, n in got.items() if k not in want)
    states = Counter(d["state"] for e in events for d in e["deliveries"] if d["target"] == "hook")
    print(f"alerts: {sum(want.values())} expected (events routed to the webhook), {len(receiver.posts)} received; "
          f"lost {lost}, sent twice {twice}, unmatched {stray}; delivery states {dict(states)}; "
          + (f"queue drained {drained:.0f} s after the end" if drained is not None else "queue NOT drained"))
    print(f"items released during the run: {feeds.released}; kills: {kills}")
    print(f"workers at the end: {len(workers_rows)} rows; leases held: {len(leases_rows)}")


if __name__ == "__main__":
    sys.exit(main())
