#!/usr/bin/env python3
"""
Time the parsing of big upstream simple pages, devpi-twisted next to devpi-server 6.20.3.

    .venv/bin/python bench/parse.py [--devpi-venv DIR] [--links N] [--repeat R]

Pages (written to a temp dir, the same bytes for both): a PyPI-like HTML page
and a PEP 691 JSON page of N links (hashes, requires-python, metadata), and
400 kB runs of unclosed constructs (CVE-2025-6069: html.parser of Python
< 3.11.13 rescans the rest of the page from each). devpi-twisted parses them
with mirror.parse.parse_project_page in this process; devpi-server (from the
venv made by setup.sh) with devpi_server.mirror.parse_index and
parse_index_v1_json in a subprocess. Each figure is the best of R runs; the
ratio is devpi-server's time over devpi-twisted's. devpi-server parses each
page in its own subprocess, ended after 30 s per run ("> 30 s").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

PAGE_URL = "https://pypi.example/simple/pkg/"
UNCLOSED = ("</", "<?", "<!x", "<!--", "<a", "<![x")
UNCLOSED_SIZE = 400_000

DEVPI_SIDE = r"""
import json, sys, time
from devpi_server.mirror import parse_index, parse_index_v1_json
url, repeat = sys.argv[1], int(sys.argv[2])
for path in sys.argv[3:]:
    text = open(path, encoding="utf-8").read()
    parse = parse_index_v1_json if path.endswith(".json") else lambda u, t: parse_index(u, t).releaselinks
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        parse(url, text)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    print(json.dumps([path, best]), flush=True)
"""


def html_page(count: int) -> str:
    anchors = "".join(
        f'<a href="../../packages/{i % 256:02x}/{"e" * 60}/pkg-{i}.tar.gz#sha256={i:064x}" '
        f'data-requires-python="&gt;=3.7" data-dist-info-metadata="sha256={i:064x}">'
        f"pkg-{i}.tar.gz</a><br/>\n"
        for i in range(count)
    )
    return f"<!DOCTYPE html><html><body>{anchors}</body></html>"


def json_page(count: int) -> str:
    files = [
        {
            "filename": f"pkg-{i}.tar.gz",
            "url": f"https://files.example/packages/{i % 256:02x}/pkg-{i}.tar.gz",
            "hashes": {"sha256": f"{i:064x}"},
            "requires-python": ">=3.7",
            "core-metadata": {"sha256": f"{i:064x}"},
            "size": i,
            "upload-time": "2024-01-01T00:00:00Z",
            "yanked": False,
        }
        for i in range(count)
    ]
    meta = {"api-version": "1.1"}
    return json.dumps({"meta": meta, "name": "pkg", "files": files, "versions": [str(i) for i in range(count)]})


def best_of(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def ours(pages: dict[str, Path], repeat: int) -> dict[str, float]:
    from devpi_twisted.mirror.parse import parse_project_page

    times = {}
    for name, path in pages.items():
        body = path.read_bytes()
        kind = "application/vnd.pypi.simple.v1+json" if path.suffix == ".json" else "text/html"
        times[name] = best_of(repeat, lambda: parse_project_page(body, kind, PAGE_URL))
    return times


def devpi_server(venv: Path, pages: dict[str, Path], repeat: int) -> dict[str, float | str]:
    """devpi-server's best time per page, or why there is none ("> 30 s", "error")."""
    by_path = {str(path): name for name, path in pages.items()}
    times: dict[str, float | str] = {}
    for path in by_path:  # one process per page: a page that takes too long is skipped alone
        try:
            out = subprocess.run(
                [str(venv / "bin" / "python"), "-c", DEVPI_SIDE, PAGE_URL, str(repeat), path],
                capture_output=True, text=True, timeout=30 * repeat, check=True,
            ).stdout
        except subprocess.TimeoutExpired:
            times[by_path[path]] = "> 30 s"
            continue
        except subprocess.CalledProcessError as error:
            times[by_path[path]] = "error"
            print(f"devpi-server failed on {by_path[path]}: {error.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            continue
        for line in out.splitlines():
            done, seconds = json.loads(line)
            times[by_path[done]] = seconds
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devpi-venv", type=Path, default=Path(os.environ.get("BENCH_VENV", "/work/bench-venv")))
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        pages = {f"html, {args.links} links": Path(tmp, "links.html"), f"json, {args.links} links": Path(tmp, "links.json")}
        pages[f"html, {args.links} links"].write_text(html_page(args.links), encoding="utf-8")
        pages[f"json, {args.links} links"].write_text(json_page(args.links), encoding="utf-8")
        for i, unit in enumerate(UNCLOSED):
            pages[f"unclosed {unit!r} x {UNCLOSED_SIZE // len(unit)}"] = path = Path(tmp, f"unclosed-{i}.html")
            path.write_text(unit * (UNCLOSED_SIZE // len(unit)), encoding="utf-8")
        twisted_times = ours(pages, args.repeat)
        has_devpi = (args.devpi_venv / "bin" / "python").exists()
        devpi_times = devpi_server(args.devpi_venv, pages, args.repeat) if has_devpi else {}
    if not has_devpi:
        print(f"no devpi-server venv at {args.devpi_venv} (bash bench/setup.sh): devpi-twisted only")
    print(f"{'page':32} {'devpi-twisted':>14} {'devpi-server':>14} {'ratio':>8}")
    for name, seconds in twisted_times.items():
        theirs = devpi_times.get(name, "-")
        shown = f"{theirs:13.4f}s" if isinstance(theirs, float) else f"{theirs:>14}"
        ratio = f"{theirs / seconds:7.0f}x" if isinstance(theirs, float) else f"{'-':>8}"
        print(f"{name:32} {seconds:13.4f}s {shown} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
