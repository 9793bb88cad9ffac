"""Peak memory of `monitor check` on hostile feeds: the whole process tree, per process, per input.

    python bench/memory.py [--each] [--extra] [--parse-processes N]

Serves the large hostile bodies of tests/hostile_cases.py (with --extra, five more that stress
the parse step: 9 MB documents of text, of items, of windows-1251 declared UTF-8, of UTF-16, of
JSON) and
three good feeds from a loopback server, all at once, and runs `monitor check` on them as a
subprocess, as a user would. Prints the peak resident memory of the process tree (the sum of
VmRSS over `monitor check` and its parse processes, sampled every 10 ms from outside) and each
process's own peak. With --each, also one `monitor check` per input alone, to name the input
behind a peak.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

import hostile_cases as hc  # noqa: E402
from conftest import FeedServer  # noqa: E402

MB = 1 << 20


def inputs(extra: bool = True) -> dict[str, tuple[bytes, dict[str, str]]]:
    """name -> (body, headers)."""
    para = "Officials said the talks would resume next week, according to a statement. " * 6
    out: dict[str, tuple[bytes, dict[str, str]]] = {
        "billion_laughs": (hc.LOL.encode(), {}),
        "quadratic": (('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + "x" * 50_000 + '">]>'
                       + hc.rss_doc(hc.item("q", "&a;" * 5000), decl="")).encode(), {}),
        "deep_1M": (hc.rss_doc("<item><title>deep</title><description>" + "<a>" * 1_000_000 + "</a>" * 1_000_000
                               + "</description></item>").encode(), {}),
        "items_300k": (hc.rss_doc("".join(f"<item><guid>m{i}</guid><title>t{i}</title></item>" for i in range(300_000))).encode(), {}),
        "attributes_500k": (hc.rss_doc("<item " + " ".join(f'a{i}="x"' for i in range(500_000)) + "><title>x</title></item>").encode(), {}),
        "title_1MB_text_4MB": (hc.rss_doc(hc.item("big", "T" * MB, "D " * (2 * MB), link="https://news.example.org/big")).encode(), {}),
        "gzip_bomb": (hc.gzip_bomb(), {"Content-Encoding": "gzip"}),
    }
    if not extra:
        return out
    out |= {
        "text_9MB": (hc.rss_doc(hc.item("t", "Text", para * (9 * MB // len(para)))).encode(), {}),
        "items_9MB": (hc.rss_doc("".join(hc.item(f"i{i}", f"Title {i}", para, link=f"https://n.example.org/{i}")
                                         for i in range(8 * MB // 560))).encode(), {}),
        "cp1251_as_utf8_9MB": (hc.rss_doc("".join(hc.item(f"c{i}", f"Новости {i}", "Правительство заявило о переговорах. " * 10)
                                                  for i in range(8 * MB // 900))).encode("cp1251"),
                               {"Content-Type": "application/rss+xml; charset=utf-8"}),
        "utf16_9MB": (hc.rss_doc("".join(hc.item(f"u{i}", f"Title {i}", para) for i in range(4 * MB // 1100)),
                                 decl='<?xml version="1.0" encoding="utf-16"?>').encode("utf-16"), {}),
        "json_9MB": (json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [
            {"id": str(i), "title": f"T{i}", "content_text": para} for i in range(9 * MB // 520)]}).encode(),
            {"Content-Type": "application/feed+json"}),
    }
    return out


def serve(server: FeedServer, feeds: dict[str, tuple[bytes, dict[str, str]]]) -> list[str]:
    urls = []
    for name, (body, headers) in feeds.items():
        urls.append(server.set(f"/{name}", body, **{k.replace("-", "_"): v for k, v in headers.items()}))
    server.responses["/fifty_mb_streamed"] = lambda h: hc._fifty_mb(h, False)
    urls.append(server.url("/fifty_mb_streamed"))
    for i in range(3):
        urls.append(server.set(f"/good{i}", hc.GOOD))
    return urls


def processes(pid: int) -> dict[int, int]:
    """pid -> VmRSS (KiB) of `pid` and its descendants."""
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                out[p] = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return out


def check(urls: list[str], work: Path, processes_: int | None, max_bytes: int) -> dict:
    cdir = work / "config"
    shutil.rmtree(work, ignore_errors=True)
    (cdir / "stories").mkdir(parents=True)
    (cdir / "stories" / "story.toml").write_text(hc.MINI_STORY)
    lines = ["[service]", 'timeout = "20s"', f"max_bytes = {max_bytes}"] + ([f"parse_processes = {processes_}"] if processes_ is not None else [])
    (cdir / "monitor.toml").write_text("\n".join(lines + [f'[[feeds]]\nurl = "{u}"' for u in urls]) + "\n")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "check", "--config", str(cdir), "--state", str(work / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    tree, each = [0], {}

    def sample() -> None:
        while proc.poll() is None:
            now = processes(proc.pid)
            tree[0] = max(tree[0], sum(now.values()))
            for p, kb in now.items():
                each[p] = max(each.get(p, 0), kb)
            time.sleep(0.01)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    stdout, stderr = proc.communicate()
    t.join()
    return {"seconds": time.perf_counter() - start, "tree_mb": tree[0] / 1024, "exit": proc.returncode,
            "main_mb": each.get(proc.pid, 0) / 1024,
            "workers_mb": sorted((kb / 1024 for p, kb in each.items() if p != proc.pid), reverse=True),
            "out": stdout.strip().splitlines(), "err": stderr.strip().splitlines()[-3:]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--each", action="store_true", help="also one run per input alone")
    ap.add_argument("--extra", action="store_true", help="also five 9 MB documents that stress the parse step")
    ap.add_argument("--parse-processes", type=int, default=None)
    ap.add_argument("--max-bytes", type=int, default=20_000_000,
                    help="service.max_bytes (default 20 MB, as tests/hostile_cases.py gives the large XML cases)")
    args = ap.parse_args(argv)
    feeds = inputs(args.extra)
    server = FeedServer()
    work = Path(tempfile.mkdtemp(prefix="memory-"))
    try:
        urls = serve(server, feeds)
        r = check(urls, work / "all", args.parse_processes, args.max_bytes)
        print(f"all {len(urls)} feeds at once: tree peak {r['tree_mb']:.0f} MB (main {r['main_mb']:.0f} MB, parse processes "
              f"{', '.join(f'{w:.0f}' for w in r['workers_mb']) or '-'} MB), {r['seconds']:.1f} s, exit {r['exit']}")
        for line in r["out"]:
            print("   ", line[:150])
        if args.each:
            for url in urls[:-3]:
                one = check([url], work / "one", args.parse_processes, args.max_bytes)
                print(f"{url.rsplit('/', 1)[1]:24} tree {one['tree_mb']:5.0f} MB  main {one['main_mb']:5.0f} MB  parse "
                      f"{max(one['workers_mb'], default=0):5.0f} MB  {one['seconds']:5.1f} s  {(one['out'] or [''])[0][:90]}")
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
