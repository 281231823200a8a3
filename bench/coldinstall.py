#!/usr/bin/env python3
"""
Benchmark cold installs through a mirror: pip and uv install ``bench-app`` (20
projects of large wheels whose newest versions conflict, so the resolver reads
and rejects two versions of each) from a fresh mirror of a fake upstream that
offers no PEP 658 metadata, on devpi-server 6.20.3, devpi-twisted before this
change (a source tree given with --before) and devpi-twisted now, in one run.

    python3 bench/coldinstall.py --devpi-venv /tmp/i15-devpi --before /tmp/i15-before

For each server and installer: a fresh server directory, the mirror index
root/up, a fresh venv, ``pip install --no-cache-dir`` (or ``uv pip install
--no-cache``) of bench-app; the wall time, the bytes and requests the upstream
served (its /_stats), and a check that bench-app, bench-shared and every
bench-large-NN are installed at 1.0. Only the standard library; helpers shared
with bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402  (bench/ is not a package)
    DEVPI,
    HOST,
    MIRROR,
    TWISTED,
    BenchError,
    Config,
    Procs,
    Server,
    free_port,
    installer_env,
    loadavg,
    log,
    print_table,
    setup_mirror,
    start_devpi_server,
    step_error,
    log_mark,
    Upstream,
    start_fake_pypi,
    wait_ready,
)

HERE = Path(__file__).resolve().parent
BEFORE = "devpi-twisted before"


def start_fake(procs: Procs, cfg: Config, args: argparse.Namespace) -> Upstream:
    """The fake PyPI with only the cold-install projects besides a small list."""
    extra = ["--huge-files", "0", "--many-files", "0", "--big-size", "0", "--chain", "1",
             "--large", str(args.large), "--large-size", str(args.large_size)]
    extra += {"advertised": [], "hidden": ["--hide-core-metadata"],
              "none": ["--no-core-metadata"]}[args.core_metadata]
    if args.no_range:
        extra.append("--no-range")
    extra += ["--latency-ms", str(args.latency_ms), "--bandwidth", str(args.bandwidth)]
    return start_fake_pypi(procs, cfg, tuple(extra))


def start_twisted(procs: Procs, args: argparse.Namespace, label: str,
                  source: Optional[Path]) -> Server:
    """twistd -n devpi on a fresh serverdir; with source, that tree's devpi_twisted."""
    serverdir = procs.mkdtemp(f"twisted-{label}")
    logfile = serverdir.parent / f"twisted-{label}.log"
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    port = free_port()
    proc = procs.spawn([str(args.twistd), "-n", "--pidfile=", "devpi", "--serverdir",
                        str(serverdir / "srv"), "--listen", f"tcp:{port}:interface={HOST}"],
                       logfile=logfile, env=env, cwd=serverdir)
    server = Server(BEFORE if source else TWISTED, port, proc, logfile)
    wait_ready(server, args.start_timeout)
    return server


def install(procs: Procs, args: argparse.Namespace, server: Server, upstream: Upstream,
            installer: str) -> dict[str, Any]:
    venv = procs.mkdtemp(f"venv-{installer}")
    python = str(args.pip_python)
    rc, out = procs.run([python, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    if rc != 0:
        raise BenchError(f"venv: {out[-300:]}")
    home = procs.mkdtemp("home")
    index = f"http://{HOST}:{server.port}/{MIRROR}/+simple/"
    target = str(venv / "bin" / "python")
    root = upstream.info["large"]["root"]
    if installer == "pip":
        argv = [python, "-m", "pip", "--python", target, "install", "--no-cache-dir",
                "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
                "--index-url", index, root]
    else:
        argv = [str(args.uv), "pip", "install", "--no-cache", "--python", target,
                "--index-url", index, root]
    before = upstream.stats()
    mark = log_mark(server)
    start = time.monotonic()
    rc, out = procs.run(argv, timeout=args.install_timeout, env=installer_env(home), cwd=home)
    seconds = time.monotonic() - start
    after = upstream.stats()
    if rc != 0:
        lines = "\n".join("      | " + line for line in out.splitlines()[-8:])
        raise BenchError(step_error(server, mark, f"{installer} failed ({rc}):\n{lines}"))
    script = ("import importlib.metadata as m, json;"
              "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    rc, listing = procs.run([target, "-I", "-c", script], timeout=60)
    installed = json.loads(listing) if rc == 0 else {}
    good = sum(installed.get(n) == "1.0" for n in upstream.info["large"]["names"])
    return {"seconds": round(seconds, 2),
            "mib": round((after.get("bytes", 0) - before.get("bytes", 0)) / 2**20, 1),
            "requests": after.get("requests", 0) - before.get("requests", 0),
            "whole_files": after.get("file", 0) - before.get("file", 0),
            "ranges": after.get("range", 0) - before.get("range", 0),
            "installed": f"{good}/{len(upstream.info['large']['names'])}",
            "load1": loadavg().split()[0]}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devpi-venv", type=Path, default=Path("/tmp/i15-devpi"))
    p.add_argument("--twistd", type=Path, default=Path(sys.executable).parent / "twistd")
    p.add_argument("--pip-python", type=Path, default=Path(sys.executable),
                   help="the python whose pip installs [this python]")
    p.add_argument("--uv", type=Path,
                   default=Path(shutil.which("uv") or Path(sys.executable).parent / "uv"))
    p.add_argument("--before", type=Path, default=None,
                   help="a devpi-twisted source tree to measure as 'before' (PYTHONPATH)")
    p.add_argument("--large", type=int, default=20)
    p.add_argument("--large-size", type=int, default=2 * 1024 * 1024)
    p.add_argument("--list-size", type=int, default=1000)
    p.add_argument("--core-metadata", choices=["hidden", "none", "advertised"], default="hidden",
                   help="the upstream's PEP 658 files: served but not advertised (as the PyPI"
                        " reachable here), absent, or advertised [hidden]")
    p.add_argument("--no-range", action="store_true", help="the upstream ignores Range")
    p.add_argument("--latency-ms", type=float, default=20.0,
                   help="the upstream's delay before each reply [20]")
    p.add_argument("--bandwidth", type=float, default=25.0,
                   help="MiB/s the upstream sends each body at, 0: unlimited [25]")
    p.add_argument("--installers", default="pip,uv")
    p.add_argument("--start-timeout", type=float, default=90.0)
    p.add_argument("--install-timeout", type=float, default=600.0)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--keep-tmp", action="store_true")
    args = p.parse_args(argv)
    procs = Procs(keep_tmp=args.keep_tmp)
    cfg = Config(devpi_venv=args.devpi_venv, twistd=args.twistd, wrk="", threads=1,
                 connections=1, duration=1, warmup=0, versions=1, uploads=1,
                 upload_time_limit=1, start_timeout=args.start_timeout, servers=[],
                 list_size=args.list_size, mirror_projects=0)
    servers = [DEVPI] + ([BEFORE] if args.before else []) + [TWISTED]
    results: dict[str, dict[str, Any]] = {}
    try:
        upstream = start_fake(procs, cfg, args)
        log(f"fake upstream: {len(upstream.info['large']['names'])} projects, wheels of "
            f"{args.large_size / 2**20:.1f} MiB, core metadata {args.core_metadata}"
            f"{', no Range' if args.no_range else ''}")
        for installer in args.installers.split(","):
            for name in servers:
                if name == DEVPI:
                    server = start_devpi_server(procs, cfg, f"cold-{installer}", online=True)
                else:
                    server = start_twisted(procs, args, f"{name[-6:]}-{installer}",
                                           args.before if name == BEFORE else None)
                try:
                    setup_mirror(server, upstream)
                    result = install(procs, args, server, upstream, installer)
                except BenchError as error:
                    result = {"error": str(error).splitlines()[0]}
                    log(str(error))
                finally:
                    procs.stop(server.proc)
                results[f"{name} / {installer}"] = result
                log(f"{name} / {installer}: {result}")
    finally:
        procs.close()
    header = ["server / installer", "wall s", "upstream MiB", "requests", "whole files",
              "ranges", "installed", "load", "time vs devpi", "MiB vs devpi"]
    rows = []
    for key, r in results.items():
        base = results.get(f"{DEVPI} / {key.rsplit(' / ', 1)[1]}", {})

        def ratio(field: str) -> str:
            if field in r and base.get(field):
                return f"{r[field] / base[field]:.2f}x"
            return "n/a"

        if "error" in r:
            rows.append([key, r["error"][:60], *[""] * 8])
            continue
        rows.append([key, *(str(r[f]) for f in ("seconds", "mib", "requests", "whole_files",
                                                  "ranges", "installed", "load1")),
                     ratio("seconds"), ratio("mib")])
    notes = [f"upstream: {args.latency_ms:g} ms before each reply, bodies at "
             f"{args.bandwidth:g} MiB/s per connection (0: unlimited)",
             f"{args.large} projects x 3 versions of {args.large_size / 2**20:.1f} MiB wheels;"
             f" upstream PEP 658 metadata: {args.core_metadata}"
             f"{', Range ignored' if args.no_range else ', Range served'}",
             "whole files / ranges: upstream file GETs answered 200 / 206"]
    print_table("cold install of bench-app through a fresh mirror", header, rows, notes)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
