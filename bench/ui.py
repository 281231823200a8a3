#!/usr/bin/env python3
"""UI benchmark: a version page and a search, as browsers ask for them, warm (req/s, p99).

    python3 bench/ui.py [--names 1000000] [--duration 10] [--devpi-venv DIR]

On devpi-twisted (and devpi-server 6.20.3 with devpi-web when ``--devpi-venv``
holds both): user ``bench``, index ``bench/dev`` with ``benchpkg`` 1.0 (a
wheel and an sdist, as bench/run.py makes them) uploaded with twine.
devpi-twisted's search index is filled beforehand with ``--names`` mirror
project names (what a PyPI mirror's list brings: ~1M). Then ``wrk`` (after a
warm-up) on ``GET /bench/dev/benchpkg/1.0`` and ``GET /+search?query=benchpkg``
with a browser's ``Accept``, and, in-process, the latency of 300 searches of
varied words straight on the index at that size (p50, p99).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # noqa: E402  (bench/ is not a package)
    HOST,
    Config,
    Procs,
    Server,
    create_index,
    create_user_and_login,
    fetch,
    make_sdist,
    make_wheel,
    measure,
    twine_upload,
    wait_ready,
    free_port,
)

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PROJECT = "benchpkg"
WORDS = ["django", "flask", "requests", "numpy", "py", "test", "web", "async", "data", "http",
         "json", "aws", "cli", "tool", "bench", "plugin", "api", "client", "server", "utils"]


def fill_names(path: Path, count: int) -> float:
    """Index C{count} PyPI-like mirror names into a new search database; seconds taken."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from devpi_twisted.search.sqlite import SQLiteSearch

    rng = random.Random(7)
    names = {f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i}" for i in range(count)}
    index = SQLiteSearch(str(path))
    start = time.perf_counter()
    batch = sorted(names)
    for i in range(0, len(batch), 50_000):
        index.change_mirror_names("root/pypi", batch[i:i + 50_000], [])
    index.close()
    return time.perf_counter() - start


def search_latency(path: Path, queries: int = 300) -> dict[str, float]:
    from devpi_twisted.search.sqlite import SQLiteSearch

    index = SQLiteSearch(str(path))
    rng = random.Random(3)
    times = []
    for i in range(queries):
        word = rng.choice(WORDS)
        query = [word, f"{word}*", f"{word} {rng.choice(WORDS)}", f"name:{word}-{rng.choice(WORDS)}"][i % 4]
        start = time.perf_counter()
        index.search(query, 0, 20)
        times.append((time.perf_counter() - start) * 1000)
    index.close()
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
            "max_ms": round(times[-1], 2)}


def start_twisted(procs: Procs, cfg: Config, serverdir: Path) -> Server:
    port = free_port()
    logfile = serverdir.parent / "devpi-twisted-ui.log"
    proc = procs.spawn(
        [str(cfg.twistd), "-n", "--pidfile=", "devpi", "--serverdir", str(serverdir),
         "--listen", f"tcp:{port}:interface={HOST}"],
        logfile=logfile, cwd=serverdir.parent,
    )
    server = Server("devpi-twisted", port, proc, logfile)
    wait_ready(server, cfg.start_timeout)
    return server


def start_devpi(procs: Procs, cfg: Config, serverdir: Path) -> Server:
    bindir = cfg.devpi_venv / "bin"
    rc, out = procs.run([str(bindir / "devpi-init"), "--serverdir", str(serverdir), "--no-root-pypi"],
                        timeout=cfg.start_timeout)
    if rc != 0:
        raise RuntimeError(out[-2000:])
    port = free_port()
    proc = procs.spawn([str(bindir / "devpi-server"), "--serverdir", str(serverdir), "--host", HOST,
                        "--port", str(port), "--offline-mode"], logfile=serverdir.parent / "devpi-server-ui.log")
    server = Server("devpi-server", port, proc, serverdir.parent / "devpi-server-ui.log")
    wait_ready(server, cfg.start_timeout)
    return server


def populate(procs: Procs, cfg: Config, server: Server, dists: Path) -> None:
    auth = create_user_and_login(server)
    create_index(server, auth, "dev", [])
    ok, out = twine_upload(procs, cfg, server, "dev", sorted(dists.iterdir()))
    if not ok:
        raise RuntimeError(out[-2000:])


def bench(procs: Procs, cfg: Config, server: Server, rows: list[dict[str, Any]]) -> None:
    for label, path in (("version page", f"/bench/dev/{PROJECT}/1.0"), ("search", f"/+search?query={PROJECT}")):
        reply = fetch(server.port, "GET", path, headers=BROWSER)
        note = f"HTTP {reply.status}, {len(reply.body)} B"
        # the page links to the project (the search page also echoes the query)
        if reply.status != 200 or f"/bench/dev/{PROJECT}".encode() not in reply.body:
            note += " (no result!)"
        res = measure(procs, cfg, server, server.port, path, BROWSER)
        rows.append({"server": server.name, "page": label, "note": note, **res})
        print(f"{server.name:14} {label:13} {res['rps']:>9.0f} req/s  p50 {res.get('p50', '?')} ms"
              f"  p99 {res.get('p99', '?')} ms  {note}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--devpi-venv", type=Path, default=Path(os.environ.get("BENCH_VENV", "/work/bench-venv")))
    parser.add_argument("--twistd", type=Path, default=Path(sys.executable).with_name("twistd"))
    args = parser.parse_args(argv)
    # the server (and this script's index filling) use this checkout's devpi_twisted
    repo = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    cfg = Config(
        devpi_venv=args.devpi_venv, twistd=args.twistd, wrk="wrk", threads=2, connections=16,
        duration=args.duration, warmup=2, versions=1, uploads=0, upload_time_limit=0,
        start_timeout=120, servers=[],
    )
    procs = Procs()
    base = procs.mkdtemp("ui")
    rows: list[dict[str, Any]] = []
    try:
        dists = base / "dists"
        dists.mkdir()
        make_wheel(dists, PROJECT, "1.0")
        make_sdist(dists, PROJECT, "1.0")
        serverdir = base / "twisted" / "srv"
        serverdir.parent.mkdir(parents=True)
        rc, out = procs.run([str(cfg.twistd.with_name("devpi-twisted")), "init", "--serverdir", str(serverdir), "--no-root-pypi"], timeout=120)
        if rc != 0:
            raise RuntimeError(out)
        seconds = fill_names(serverdir / "+search.sqlite", args.names)
        print(f"indexed {args.names} mirror names in {seconds:.1f} s (one thread, batches of 50,000)")
        print(f"search straight on the index at {args.names} names: {search_latency(serverdir / '+search.sqlite')}")
        server = start_twisted(procs, cfg, serverdir)
        populate(procs, cfg, server, dists)
        time.sleep(1)  # the indexer follows the upload's commits in its thread
        bench(procs, cfg, server, rows)
        procs.stop(server.proc)
        devpi: Optional[Server] = None
        if (cfg.devpi_venv / "bin" / "devpi-server").exists():
            devpi_dir = base / "devpi" / "srv"
            devpi_dir.parent.mkdir(parents=True)
            devpi = start_devpi(procs, cfg, devpi_dir)
            populate(procs, cfg, devpi, dists)
            time.sleep(3)  # devpi-web indexes in a thread after the upload
            bench(procs, cfg, devpi, rows)
            procs.stop(devpi.proc)
        by = {(row["server"], row["page"]): row["rps"] for row in rows}
        for page in ("version page", "search"):
            if ("devpi-server", page) in by:
                print(f"{page}: devpi-twisted / devpi-server = {by[('devpi-twisted', page)] / by[('devpi-server', page)]:.1f}x")
    finally:
        procs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
