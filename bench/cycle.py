"""The whole poll cycle against the parse floor and a real peer, on the same bytes, in one run.

    python bench/cycle.py [--feeds 1000] [--items 50] [--parse-processes N] [--parts ...]

Generates --feeds realistic feeds of --items items (bench/_feeds.py), serves them from a
loopback server (its own process, ETag/Last-Modified, stops by itself), and times:

  floor    feedparser.parse of every body already in memory, one process: with its defaults
           (the floor we are judged against), and as monitor/parse.py calls it
           (sanitize_html=False, resolve_relative_uris=False)
  fetch    the bodies fetched with aiohttp alone (--window at a time): shows the server is not the limit
  monitor  Story Monitor's full cycle as `monitor check` runs it (Pipeline.poll_many: fetch, parse,
           match, extract, novelty, store), a generated config dir with the shipped story and a
           temporary state dir: first pass (all new), second pass (all 304)
  reader   lemon24/reader's update_feeds() on the same feeds, first and second pass
           (pip install 'reader>=3' or pip install -e '.[bench]'; skipped with a hint if missing)

Each part runs in its own Python process; its peak RSS is the largest sum of VmRSS over the
process and its children (the parse pool), sampled every 20 ms from outside, so the sampling
costs the measured process nothing. Prints feeds/s, items/s and peak RSS for each, and the
ratios monitor/floor and monitor/reader.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _feeds  # noqa: E402

PARTS = ("floor", "fetch", "monitor", "reader")


# ---------------------------------------------------------------- parts (each in its own process)


def part_floor(args: argparse.Namespace) -> dict:
    import feedparser

    bodies = [(args.dir / f"{i}.xml").read_bytes() for i in range(args.feeds)]
    feedparser.parse(bodies[0])  # imports and lazy set-up out of the timing
    start, cpu = time.perf_counter(), time.process_time()
    n = sum(len(feedparser.parse(b).entries) for b in bodies)
    default, default_cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    for b in bodies:
        feedparser.parse(b, sanitize_html=False, resolve_relative_uris=False)
    flags = time.perf_counter() - start
    return {"feeds": len(bodies), "items": n, "floor": default, "floor_cpu": default_cpu, "floor_flags": flags}


def part_fetch(args: argparse.Namespace) -> dict:
    import asyncio

    import aiohttp

    urls = feed_urls(args)

    async def run(etags: dict[str, str]) -> tuple[float, dict[str, str], int]:
        sem = asyncio.Semaphore(args.window)
        got: dict[str, str] = {}
        size = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            async def one(url: str) -> None:
                nonlocal size
                async with sem:
                    headers = {"If-None-Match": etags[url]} if url in etags else {}
                    async with session.get(url, headers=headers) as r:
                        size += len(await r.read())
                        got[url] = r.headers.get("etag", "")
            start = time.perf_counter()
            await asyncio.gather(*(one(u) for u in urls))
            return time.perf_counter() - start, got, size

    first, etags, size = asyncio.run(run({}))
    second, _, _ = asyncio.run(run(etags))
    return {"feeds": len(urls), "first": first, "second": second, "bytes": size}


def part_monitor(args: argparse.Namespace) -> dict:
    from monitor import config, logs
    from monitor.pipeline import Pipeline
    from monitor.store import Store

    work = Path(tempfile.mkdtemp(prefix="cycle-monitor-"))
    try:
        cdir = work / "config"
        shutil.copytree(ROOT / "config" / "stories", cdir / "stories")
        lines = ["[service]", 'poll_interval = "15m"']
        if args.parse_processes is not None:
            lines.append(f"parse_processes = {args.parse_processes}")
        lines += [f'[[feeds]]\nurl = "{u}"' for u in feed_urls(args)]
        (cdir / "monitor.toml").write_text("\n".join(lines) + "\n")
        cfg = config.load(cdir, work / "state")
        logs.setup(-1)  # as `monitor check` without -v: warnings only
        start = time.perf_counter()
        store = Store(cfg.database)
        pipe = Pipeline(cfg, store)
        setup = time.perf_counter() - start
        feeds = [f for f in cfg.feeds if f.enabled]
        try:
            start, cpu = time.perf_counter(), tree_cpu(os.getpid())
            first = pipe.poll_many(feeds, window=args.window)
            t1, cpu1 = time.perf_counter() - start, tree_cpu(os.getpid()) - cpu
            start, cpu = time.perf_counter(), tree_cpu(os.getpid())
            second = pipe.poll_many(feeds, window=args.window)
            t2, cpu2 = time.perf_counter() - start, tree_cpu(os.getpid()) - cpu
        finally:
            pipe.close()
        counts = store.counts()
        store.close()
        return {
            "feeds": len(feeds), "setup": setup, "first": t1, "second": t2, "first_cpu": cpu1, "second_cpu": cpu2,
            "processes": cfg.service.parse_processes if args.parse_processes is None else args.parse_processes,
            "first_status": _tally(s.status for s in first), "second_status": _tally(s.status for s in second),
            "items": sum(s.new_items for s in first), "relevant": sum(s.relevant for s in first),
            "alerts": sum(s.alerts for s in first), "stored": counts,
            "maxrss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "maxrss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def part_reader(args: argparse.Namespace) -> dict:
    try:
        import reader
    except ImportError:
        return {"missing": "lemon24/reader is not installed: pip install 'reader>=3' (or pip install -e '.[bench]')"}
    work = Path(tempfile.mkdtemp(prefix="cycle-reader-"))
    try:
        r = reader.make_reader(str(work / "reader.sqlite"))
        for url in feed_urls(args):
            r.add_feed(url)
        start = time.perf_counter()
        r.update_feeds(scheduled=False, workers=args.reader_workers)
        t1 = time.perf_counter() - start
        n = r.get_entry_counts().total
        start = time.perf_counter()
        r.update_feeds(scheduled=False, workers=args.reader_workers)
        t2 = time.perf_counter() - start
        errors = sum(1 for f in r.get_feeds() if f.last_exception)
        r.close()
        return {"feeds": len(feed_urls(args)), "first": t1, "second": t2, "items": n, "errors": errors,
                "version": reader.__version__, "workers": args.reader_workers}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants (the parse pool)."""
    total, todo, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def feed_urls(args: argparse.Namespace) -> list[str]:
    return [f"http://127.0.0.1:{args.port}/{i}.xml" for i in range(args.feeds)]


def _tally(values) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


# ---------------------------------------------------------------- the orchestrator


def tree_rss_kb(pid: int) -> int:
    """VmRSS of `pid` and all its descendants, in KiB (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def run_part(name: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--part", name, "--dir", str(args.dir), "--port", str(args.port),
           "--feeds", str(args.feeds), "--items", str(args.items), "--window", str(args.window),
           "--reader-workers", str(args.reader_workers)]
    if args.parse_processes is not None:
        cmd += ["--parse-processes", str(args.parse_processes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"part {name} failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak[0] / 1024
    return result


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:9.0f}" if seconds > 0 else "      inf"


def report(args: argparse.Namespace, res: dict[str, dict]) -> None:
    items = args.feeds * args.items
    print(f"\n{args.feeds} feeds x {args.items} items ({res.get('_bytes', 0) / 1e6:.1f} MB) on {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}")
    print(f"{'':34}{'seconds':>9}{'feeds/s':>10}{'items/s':>10}{'peak RSS':>11}{'CPU s':>8}")

    def row(label: str, seconds: float, rss: float | None, n_items: int | None = items, cpu: float | None = None) -> None:
        print(f"{label:34}{seconds:9.2f}{rate(args.feeds, seconds):>10}"
              f"{rate(n_items, seconds) if n_items else '        -':>10}{f'{rss:.0f} MB' if rss else '':>11}"
              f"{f'{cpu:.1f}' if cpu is not None else '':>8}")

    fl = res.get("floor")
    if fl:
        row("floor: feedparser.parse", fl["floor"], fl["peak_rss_mb"], cpu=fl["floor_cpu"])
        row("  (monitor's flags)", fl["floor_flags"], None)
    fe = res.get("fetch")
    if fe:
        row(f"fetch only (aiohttp, {args.window} at a time)", fe["first"], fe["peak_rss_mb"])
        row("  304 pass", fe["second"], None, None)
    mo = res.get("monitor")
    if mo:
        row(f"monitor first pass (processes={mo['processes']})", mo["first"], mo["peak_rss_mb"], cpu=mo["first_cpu"])
        row("monitor second pass (304)", mo["second"], None, None, cpu=mo["second_cpu"])
        print(f"  monitor: {mo['items']} new items, {mo['relevant']} relevant, {mo['alerts']} alerts; "
              f"first {mo['first_status']}, second {mo['second_status']}; set-up {mo['setup']:.2f} s; "
              f"ru_maxrss self {mo['maxrss_self_kb'] / 1024:.0f} MB, largest child {mo['maxrss_children_kb'] / 1024:.0f} MB")
    rd = res.get("reader")
    if rd and "missing" in rd:
        print(f"reader: skipped: {rd['missing']}")
        rd = None
    elif rd:
        row(f"reader {rd['version']} first pass", rd["first"], rd["peak_rss_mb"])
        row("reader second pass (304)", rd["second"], None, None)
        print(f"  reader: {rd['items']} entries stored, {rd['errors']} feed errors, update_feeds(workers={rd['workers']})")
    print()
    if mo and fl:
        print(f"monitor first pass / parse floor: {mo['first'] / fl['floor']:.2f}x   (target <= 1.3x)"
              f"   [vs monitor's flags: {mo['first'] / fl['floor_flags']:.2f}x]")
    if mo and rd:
        print(f"monitor / reader, first pass:  {mo['first'] / rd['first']:.2f}x time, reader takes "
              f"{rd['first'] / mo['first']:.1f}x as long   (target: >= 2x faster)")
        print(f"monitor / reader, 304 pass:    {mo['second'] / rd['second']:.2f}x time, reader takes "
              f"{rd['second'] / mo['second']:.1f}x as long")
    if mo:
        print(f"monitor 304 pass: {args.feeds / mo['second']:.0f} feeds/s   (target >= 500)")
        print(f"monitor peak RSS: {mo['peak_rss_mb']:.0f} MB   (target <= 200 MB at 1,000 feeds)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parse-processes", type=int, default=None,
                    help="service.parse_processes for the monitor part (default: the config default)")
    ap.add_argument("--window", type=int, default=64, help="Pipeline.poll_many window (feeds in flight)")
    ap.add_argument("--reader-workers", type=int, default=1, help="update_feeds(workers=N) for reader (its default: 1)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--dir", type=Path, help="feed directory (default: a temporary one, removed at the end)")
    ap.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.part:  # inside a part's own process
        print(json.dumps(globals()[f"part_{args.part}"](args)))
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts: {', '.join(sorted(unknown))}")
    tmp = None
    if args.dir is None:
        tmp = args.dir = Path(tempfile.mkdtemp(prefix="cycle-feeds-"))
    try:
        start = time.perf_counter()
        paths = _feeds.generate(args.dir, args.feeds, args.items, args.seed)
        size = sum(p.stat().st_size for p in paths)
        print(f"generated {args.feeds} feeds x {args.items} items, {size / 1e6:.1f} MB, in {time.perf_counter() - start:.1f} s",
              flush=True)
        # Bounded: every part fetches each feed at most twice; idle stop if we die.
        server = subprocess.Popen([sys.executable, str(HERE / "_feeds.py"), "serve", str(args.dir),
                                   "--max-requests", str(args.feeds * 2 * len(parts) + 10), "--idle", "120"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            args.port = int(server.stdout.readline())
            res: dict[str, dict] = {"_bytes": size}
            for name in parts:
                print(f"running {name} ...", flush=True)
                res[name] = run_part(name, args)
        finally:
            server.terminate()
            server.wait(10)
        report(args, res)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
