"""The whole poll cycle against the parse floor and a real peer, on the same bytes, in one run.

    python bench/cycle.py [--feeds 1000] [--items 50] [--new 2] [--parse-processes N]
                          [--reader-workers 1,8,64] [--stories 1,5,20] [--parts ...]

Generates --feeds realistic feeds of --items items (bench/_feeds.py), and a later version of
each with --new entries on top (the --new oldest gone, the rest byte for byte the same), serves
them from a loopback server (its own process, ETag/Last-Modified, stops by itself; a request for
/_next switches every feed to its later version, /_first back), and times three passes:
first (every item new), 304 (nothing changed), steady (--new of --items new: what a running
service mostly sees, as many servers answer 200 with the same entries). The parts:

  floor    feedparser.parse of every body already in memory, one process: with its defaults
           (the floor we are judged against), and as monitor/parse.py calls it
           (sanitize_html=False, resolve_relative_uris=False)
  fetch    the bodies fetched with aiohttp alone (--window at a time): shows the server is not the limit
  monitor  Story Monitor's full cycle as `monitor check` runs it (Pipeline.poll_many: fetch, parse,
           match, extract, novelty, store), a generated config dir with the shipped story and a
           temporary state dir: first, 304 and steady pass
  cli      the same three passes as a user runs them: `monitor check` as a subprocess, each
           timed from the outside (interpreter start, imports, config, store, pool included;
           bytecode cached as an installed copy has it, whatever PYTHONDONTWRITEBYTECODE says)
  reader   lemon24/reader's update_feeds(workers=N) on the same feeds, the three passes, once per
           --reader-workers value (default: 1, its own default; 8; and our --window); its 304
           pass also a second time as a script run from the command line (process start included)
           (pip install 'reader>=3' or pip install -e '.[bench]'; skipped with a hint if missing)
  stories  matching + extraction per item (the items of up to 200 of the feeds, parsed once)
           with 1, 5 and 20 story files: the shipped story, and variants generated from it
           with other actors, aliases, places and terms (generated_story())

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

PARTS = ("floor", "fetch", "monitor", "cli", "reader", "stories")


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


def switch(args: argparse.Namespace, version: str) -> None:
    """Every feed the server serves switches to its `version` ("first" or "next")."""
    import urllib.request

    try:
        urllib.request.urlopen(f"http://127.0.0.1:{args.port}/_{version}", timeout=10).read()
    except OSError:  # the answer is a 404 after the switch
        pass


def config_dir(args: argparse.Namespace, work: Path) -> Path:
    """A config dir for the monitor and cli parts: the shipped story, every bench feed."""
    cdir = work / "config"
    shutil.copytree(ROOT / "config" / "stories", cdir / "stories")
    lines = ["[service]", 'poll_interval = "15m"']
    if args.parse_processes is not None:
        lines.append(f"parse_processes = {args.parse_processes}")
    lines += [f'[[feeds]]\nurl = "{u}"' for u in feed_urls(args)]
    (cdir / "monitor.toml").write_text("\n".join(lines) + "\n")
    return cdir


def part_monitor(args: argparse.Namespace) -> dict:
    from monitor import config, logs
    from monitor.pipeline import Pipeline
    from monitor.store import Store

    work = Path(tempfile.mkdtemp(prefix="cycle-monitor-"))
    switch(args, "first")
    try:
        cdir = config_dir(args, work)
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
            switch(args, "next")
            start, cpu = time.perf_counter(), tree_cpu(os.getpid())
            third = pipe.poll_many(feeds, window=args.window)
            t3, cpu3 = time.perf_counter() - start, tree_cpu(os.getpid()) - cpu
            switch(args, "first")
        finally:
            pipe.close()
        counts = store.counts()
        store.close()
        return {
            "feeds": len(feeds), "setup": setup, "first": t1, "second": t2, "first_cpu": cpu1, "second_cpu": cpu2,
            "steady": t3, "steady_cpu": cpu3, "steady_status": _tally(s.status for s in third),
            "steady_items": sum(s.new_items for s in third),
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
    switch(args, "first")
    try:
        r = reader.make_reader(str(work / "reader.sqlite"))
        for url in feed_urls(args):
            r.add_feed(url)
        start = time.perf_counter()
        r.update_feeds(scheduled=False, workers=int(args.reader_workers))
        t1 = time.perf_counter() - start
        n = r.get_entry_counts().total
        t2s = []
        for _ in range(args.repeat_304):
            start = time.perf_counter()
            r.update_feeds(scheduled=False, workers=int(args.reader_workers))
            t2s.append(time.perf_counter() - start)
        r.close()
        # the 304 pass again as a script run from the command line: process start and imports
        # included, as `monitor check`'s is (its bytecode is cached, as pip installs it)
        script = ("import sys, reader; r = reader.make_reader(sys.argv[1]); "
                  "r.update_feeds(scheduled=False, workers=int(sys.argv[2])); r.close()")
        t2_clis = []
        for _ in range(args.repeat_304):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", script, str(work / "reader.sqlite"), str(args.reader_workers)],
                           check=True, cwd=work)
            t2_clis.append(time.perf_counter() - start)
        r = reader.make_reader(str(work / "reader.sqlite"))
        switch(args, "next")
        start = time.perf_counter()
        r.update_feeds(scheduled=False, workers=int(args.reader_workers))
        t3 = time.perf_counter() - start
        switch(args, "first")
        errors = sum(1 for f in r.get_feeds() if f.last_exception)
        steady_items = r.get_entry_counts().total - n
        r.close()
        return {"feeds": len(feed_urls(args)), "first": t1, "second": _median(t2s), "second_all": t2s,
                "second_cli": _median(t2_clis), "second_cli_all": t2_clis, "steady": t3, "items": n,
                "steady_items": steady_items, "errors": errors, "version": reader.__version__,
                "workers": int(args.reader_workers)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def part_cli(args: argparse.Namespace) -> dict:
    """`monitor check` as a user runs it, timed from outside: first, 304 and steady pass."""
    work = Path(tempfile.mkdtemp(prefix="cycle-cli-"))
    switch(args, "first")
    out: dict = {"feeds": args.feeds}
    try:
        cmd = [sys.executable, "-m", "monitor", "check", "--config", str(config_dir(args, work)),
               "--state", str(work / "state")]
        # As installed: pip writes the package's bytecode at install time (so reader's is cached
        # too). A PYTHONDONTWRITEBYTECODE in a developer's shell would have every run compile
        # monitor/ from source (~40 ms no installed copy pays); the first pass writes it here.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        seconds = []
        for name in ("first", *["second"] * args.repeat_304, "steady"):  # the 304 pass: the median of N
            if name == "steady":
                out["second"], out["second_all"] = _median(seconds), seconds
                switch(args, "next")
            peak = [0]
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
            sampler = threading.Thread(target=_sample, args=(proc, peak), daemon=True)
            sampler.start()
            stdout, stderr = proc.communicate()
            out[name] = time.perf_counter() - start
            if name == "second":
                seconds.append(out[name])
            sampler.join()
            out[f"{name}_rss_mb"] = peak[0] / 1024
            out[f"{name}_summary"] = (stdout.strip().splitlines() or [""])[-1]
            if proc.returncode:
                raise SystemExit(f"monitor check failed (exit {proc.returncode}): {stderr[-2000:]}")
        switch(args, "first")
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def part_stories(args: argparse.Namespace) -> dict:
    """Matching + extraction per item with 1, 5, 20 ... story files, on the same items."""
    from monitor import config, extract, match, parse

    bodies = [(args.dir / f"{i}.xml").read_bytes() for i in range(min(args.feeds, 200))]
    items = [item for i, b in enumerate(bodies) for item in parse.parse(f"http://bench/{i}.xml", b)[1]]
    out: dict = {"items": len(items), "counts": {}}
    for n in [int(x) for x in str(args.stories).split(",") if x.strip()]:
        work = Path(tempfile.mkdtemp(prefix="cycle-stories-"))
        try:
            (work / "stories").mkdir()
            (work / "monitor.toml").write_text("[service]\n")
            shipped = ROOT / "config" / "stories" / "nk-troops-kursk.toml"
            shutil.copy(shipped, work / "stories" / shipped.name)
            for k in range(1, n):
                (work / "stories" / f"bench-{k}.toml").write_text(generated_story(shipped, k))
            stories = config.load(work, work / "state").stories
            times, relevant = [], 0
            for _ in range(2):  # cold (compilation, caches empty), then warm (the service's steady state)
                start = time.perf_counter()
                relevant = 0
                for item in items:
                    for story in stories:
                        m = match.match(item, story, detail=False)
                        if m.relevant:
                            relevant += 1
                            extract.extract(item, m, story)
                times.append(time.perf_counter() - start)
            out["counts"][n] = {"stories": len(stories), "cold": times[0], "warm": times[1], "relevant": relevant}
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out


_SYLLABLES = ["ka", "ro", "vel", "min", "dra", "sol", "ten", "bar", "li", "mo", "zan", "ter", "vi", "nor",
              "gal", "pe", "ush", "ko", "rin", "da", "sev", "ta", "lor", "qu", "ez", "bri", "fen", "dov"]
# words of other beats, for the common words of a generated story's terms (half of them)
_BEATS = ["tariffs", "inflation", "exports", "budget", "strike", "wages", "pensions", "outbreak", "vaccine",
          "hospital", "patients", "wildfire", "flooding", "drought", "emissions", "ballots", "turnout",
          "candidates", "coalition", "verdict", "appeal", "prosecutors", "refugees", "border", "asylum",
          "shipping", "pipeline", "reactor", "satellite", "launch", "earthquake", "aftershocks", "evacuation",
          "merger", "shares", "investors", "bankruptcy", "subsidies", "harvest", "fisheries", "protesters",
          "curfew", "hostages", "ceasefire", "negotiators", "summit", "embargo", "smuggling", "cartel", "hackers"]


def generated_story(shipped: Path, k: int) -> str:
    """A variant of the shipped story for another subject: every capitalised word (names,
    places, countries, titles) in every term, alias and subject replaced by a made-up word,
    the same for the whole story (so "North Korean troops" becomes, say, "Velmin Korasol
    troops" in its concepts, claims, figures and actors alike), and half of its common words
    by words of another beat (a newsroom's stories share some vocabulary, not all). Same
    shape, different vocabulary: what one more story costs."""
    import random
    import re
    import tomllib

    import tomlkit

    rng = random.Random(k)
    words: dict[str, str] = {}

    def word(m: re.Match) -> str:
        w = m.group(0)
        if w not in words:
            if w[0].isupper():
                made = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
                words[w] = made.upper()[:max(3, len(w))] if w.isupper() else made.capitalize()
            else:
                plural = [b for b in _BEATS if b.endswith("s") == w.endswith("s")]  # plural_only terms end in s
                words[w] = rng.choice(plural) if w.isascii() and len(w) > 3 and rng.random() < 0.5 else w
        return words[w]

    ids = ("id", "actor", "actors", "claim", "claims", "figure", "kind", "measure", "series", "qualifier", "stance")

    def rename(value: object, key: str = "") -> object:
        if isinstance(value, str):
            return value if key in ids else re.sub(r"\b\w[\w'-]*", word, value)
        if isinstance(value, list):
            return [rename(v, key) for v in value]
        if isinstance(value, dict):
            return {name: rename(v, name) for name, v in value.items()}
        return value

    doc = rename(tomllib.loads(shipped.read_text()))
    doc["id"] = f"bench-{k}"
    return tomlkit.dumps(doc)


def _sample(proc: subprocess.Popen, peak: list[int]) -> None:
    while proc.poll() is None:
        peak[0] = max(peak[0], tree_rss_kb(proc.pid))
        time.sleep(0.02)


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


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


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


def run_part(name: str, args: argparse.Namespace, workers: int = 1) -> dict:
    cmd = [sys.executable, __file__, "--part", name, "--dir", str(args.dir), "--port", str(args.port),
           "--feeds", str(args.feeds), "--items", str(args.items), "--window", str(args.window),
           "--reader-workers", str(workers), "--stories", args.stories, "--new", str(args.new),
           "--repeat-304", str(args.repeat_304)]
    if args.parse_processes is not None:
        cmd += ["--parse-processes", str(args.parse_processes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    peak = [0]
    sampler = threading.Thread(target=_sample, args=(proc, peak), daemon=True)
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
    steady_items = args.feeds * args.new
    print(f"\n{args.feeds} feeds x {args.items} items ({res.get('_bytes', 0) / 1e6:.1f} MB; steady pass: {args.new} new "
          f"of {args.items} per feed) on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'':40}{'seconds':>9}{'feeds/s':>10}{'items/s':>10}{'peak RSS':>11}{'CPU s':>8}")

    def row(label: str, seconds: float, rss: float | None, n_items: int | None = items, cpu: float | None = None) -> None:
        print(f"{label:40}{seconds:9.2f}{rate(args.feeds, seconds):>10}"
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
        row("monitor 304 pass", mo["second"], None, None, cpu=mo["second_cpu"])
        row(f"monitor steady pass ({args.new} new)", mo["steady"], None, steady_items, cpu=mo["steady_cpu"])
        print(f"  monitor: {mo['items']} new items, {mo['relevant']} relevant, {mo['alerts']} alerts; steady "
              f"{mo['steady_items']} new; first {mo['first_status']}, 304 {mo['second_status']}, steady "
              f"{mo['steady_status']}; set-up {mo['setup']:.2f} s; ru_maxrss self "
              f"{mo['maxrss_self_kb'] / 1024:.0f} MB, largest child {mo['maxrss_children_kb'] / 1024:.0f} MB")
    cl = res.get("cli")
    if cl:
        row("`monitor check` first pass", cl["first"], cl["first_rss_mb"])
        row(f"`monitor check` 304 pass (median of {len(cl['second_all'])})", cl["second"], cl["second_rss_mb"], None)
        row(f"`monitor check` steady pass ({args.new} new)", cl["steady"], cl["steady_rss_mb"], steady_items)
        print(f"  steady: {cl['steady_summary']}")
        print(f"  304 passes: {', '.join(f'{t:.2f}' for t in cl['second_all'])} s")
    readers = {k: v for k, v in res.items() if k.startswith("reader")}
    for key, rd in readers.items():
        if "missing" in rd:
            print(f"reader: skipped: {rd['missing']}")
            continue
        row(f"reader {rd['version']} first (workers={rd['workers']})", rd["first"], rd["peak_rss_mb"])
        row(f"reader 304 pass (workers={rd['workers']}; median)", rd["second"], None, None)
        if "second_cli" in rd:
            row(f"  from the command line (workers={rd['workers']})", rd["second_cli"], None, None)
        row(f"reader steady pass (workers={rd['workers']})", rd["steady"], None, steady_items)
        print(f"  reader: {rd['items']} entries stored, then {rd['steady_items']} more; {rd['errors']} feed errors")
        print(f"  reader 304 passes: {', '.join(f'{t:.2f}' for t in rd['second_all'])} s in process; "
              f"{', '.join(f'{t:.2f}' for t in rd.get('second_cli_all', []))} s from the command line")
    st = res.get("stories")
    if st:
        one = st["counts"].get("1") or next(iter(st["counts"].values()))
        print(f"matching + extraction per item ({st['items']} items of {min(args.feeds, 200)} feeds; cold = first "
              f"sight, caches empty; warm = again):")
        for n, c in st["counts"].items():
            print(f"  {c['stories']:3d} stories: cold {c['cold'] / st['items'] * 1e6:7.0f} us, warm "
                  f"{c['warm'] / st['items'] * 1e6:7.0f} us/item ({c['warm'] / one['warm']:.2f}x one story), "
                  f"{c['relevant']} relevant")
    print()
    if mo and fl:
        print(f"monitor first pass / parse floor: {mo['first'] / fl['floor']:.2f}x   (target <= 1.0x)"
              f"   [vs monitor's flags: {mo['first'] / fl['floor_flags']:.2f}x]")
    if mo:
        print(f"monitor first / steady pass: {mo['first'] / mo['steady']:.1f}x   (target >= 5x)")
    for key, rd in readers.items():
        if "missing" in rd:
            continue
        w = rd["workers"]
        if mo:
            print(f"reader (workers={w}) / monitor: first {rd['first'] / mo['first']:.1f}x, 304 {rd['second'] / mo['second']:.1f}x, "
                  f"steady {rd['steady'] / mo['steady']:.1f}x   (how many times longer reader takes; targets vs 8 workers: "
                  f"first >= 2x, steady >= 5x)")
        if cl:
            print(f"reader (workers={w}) / `monitor check`: first {rd['first'] / cl['first']:.1f}x, 304 "
                  f"{rd['second'] / cl['second']:.1f}x, steady {rd['steady'] / cl['steady']:.1f}x   (target vs 8 workers: 304 >= 2x)")
            if "second_cli" in rd:
                print(f"  304, both from the command line (process start included for both): "
                      f"{rd['second_cli'] / cl['second']:.1f}x")
    if mo:
        print(f"monitor 304 pass: {args.feeds / mo['second']:.0f} feeds/s   (target >= 500)")
        print(f"monitor peak RSS: {mo['peak_rss_mb']:.0f} MB   (target <= 200 MB at 1,000 feeds)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--new", type=int, default=2, help="new items per feed in the steady pass")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parse-processes", type=int, default=None,
                    help="service.parse_processes for the monitor part (default: the config default)")
    ap.add_argument("--window", type=int, default=64, help="Pipeline.poll_many window (feeds in flight)")
    ap.add_argument("--reader-workers", default=None,
                    help="update_feeds(workers=N) for reader, one run per value (default: 1 = its default, 8, --window)")
    ap.add_argument("--stories", default="1,5,20", help="story counts for the stories part")
    ap.add_argument("--repeat-304", type=int, default=3,
                    help="cli and reader parts: run the 304 pass this many times and report the median (noisy machines)")
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
    workers = [int(w) for w in (args.reader_workers or f"1,8,{args.window}").split(",")]
    workers = list(dict.fromkeys(workers))
    tmp = None
    if args.dir is None:
        tmp = args.dir = Path(tempfile.mkdtemp(prefix="cycle-feeds-"))
    try:
        start = time.perf_counter()
        paths = _feeds.generate(args.dir, args.feeds, args.items, args.seed, new=args.new)
        size = sum(p.stat().st_size for p in paths)
        print(f"generated {args.feeds} feeds x {args.items} items, {size / 1e6:.1f} MB, in {time.perf_counter() - start:.1f} s",
              flush=True)
        # Bounded: every run fetches each feed at most 3 + 2 x --repeat-304 times; idle stop if we die.
        runs = len(parts) + len(workers) - 1 if "reader" in parts else len(parts)
        server = subprocess.Popen([sys.executable, str(HERE / "_feeds.py"), "serve", str(args.dir),
                                   "--max-requests", str((args.feeds * (3 + 2 * args.repeat_304) + 10) * runs + 10), "--idle", "120"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            args.port = int(server.stdout.readline())
            res: dict[str, dict] = {"_bytes": size}
            for name in parts:
                for w in (workers if name == "reader" else [1]):
                    key = f"reader:{w}" if name == "reader" else name
                    print(f"running {key} ...", flush=True)
                    res[key] = run_part(name, args, w)
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
