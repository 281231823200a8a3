#!/usr/bin/env python3
"""
Benchmark replication: devpi-twisted and devpi-server 6.20.3, primary and replicas, in one run.

    python3 bench/replication.py [options]      (or: python3 bench/run.py replication ...)

lag:     sequential uploads of distinct small wheels to bench/rep on the primary
         (token auth, one keep-alive connection); after each upload's reply the
         replica's /bench/rep/+simple/<project>/ is polled (keep-alive, a pause
         of --poll-interval-ms after each miss) until the file is listed:
         p50/p90/p99/max of that delay.
memory:  the same primary with --replicas fresh replicas connected: its VmRSS
         before and after they caught up, and how long one more upload takes
         to show on all of them.
catchup: a primary holding --releases releases (devpi-twisted: written into its
         server directory offline through the store API; devpi-server: a
         generated export loaded with devpi-import), then a fresh replica:
         seconds from its process start until its /+status serial equals the
         primary's and every file is on its disk.

Only the standard library (helpers shared with bench/run.py); servers are
subprocesses on 127.0.0.1 free ports in temp dirs, with --offline-mode.
Every loop is bounded in count and time; every process started is ended and
the temp dir removed. See bench/README.rst.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402  (bench/ is not a package)
    DEVPI,
    DEVPI_SERVER_VERSION,
    HOST,
    PASSWORD,
    TWISTED,
    USER,
    BenchError,
    Procs,
    Server,
    _raise_exit,
    cpu_seconds,
    create_user_and_login,
    fetch,
    free_port,
    json_call,
    loadavg,
    log,
    make_wheel,
    metadata_text,
    multipart_upload,
    print_table,
    proc_status,
    summarize,
    tail,
    wait_ready,
)

LAG_INDEX = "rep"
CATCHUP_INDEX = "cu"
STAGE_CONFIG = {"type": "stage", "bases": [], "volatile": True}
#: Seconds of rest before a measurement, for the start-up's CPU use to fade.
SETTLE = 5.0


@dataclass
class Config:
    devpi_venv: Path
    twistd: Path
    servers: list[str]
    steps: list[str]
    uploads: int
    warmup_uploads: int
    poll_interval: float
    lag_timeout: float
    releases: int
    versions_per_project: int
    replicas: int
    rss_limit_mib: int
    memory_uploads: int
    devpi_server_replicas: int
    start_timeout: float
    catchup_timeout: float
    json_out: Optional[Path] = None
    keep_tmp: bool = False
    results: dict[str, Any] = field(default_factory=dict)


def mib(kib: Optional[int]) -> Optional[float]:
    return None if kib is None else round(kib / 1024, 1)


def rss_kib(pid: int) -> Optional[int]:
    return proc_status(pid).get("VmRSS")


def project_python(cfg: Config) -> str:
    """The Python beside twistd (devpi-twisted importable)."""
    candidate = cfg.twistd.parent / "python"
    return str(candidate if candidate.exists() else sys.executable)


# --------------------------------------------------------------------------
# servers


@dataclass
class Pair:
    """A primary and where its replicas find it (secret file, URL)."""

    primary: Server
    serverdir: Path
    secretfile: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.primary.port}/"


def spawn_server(procs: Procs, name: str, argv: list[str], logfile: Path,
                 port: int, cwd: Path) -> Server:
    return Server(name, port, procs.spawn(argv, logfile=logfile, cwd=cwd), logfile)


def twisted_argv(cfg: Config, serverdir: Path, port: int, *extra: str) -> list[str]:
    return [str(cfg.twistd), "-n", "--pidfile=", "devpi", "--serverdir", str(serverdir),
            "--listen", f"tcp:{port}:interface={HOST}", "--offline-mode", *extra]


def devpi_argv(cfg: Config, serverdir: Path, port: int, *extra: str) -> list[str]:
    """devpi-server's command line; its replicas cannot run with --offline-mode (their
    HTTP client then answers 503 to every request, the primary's changelog too), but
    with no root/pypi anywhere they only ever ask their primary."""
    offline = [] if "--primary-url" in extra else ["--offline-mode"]
    return [str(cfg.devpi_venv / "bin" / "devpi-server"), "--serverdir", str(serverdir),
            "--host", HOST, "--port", str(port), *offline, *extra]


def start_primary(procs: Procs, cfg: Config, name: str, label: str,
                  serverdir: Optional[Path] = None) -> Pair:
    """A primary on C{serverdir} (a fresh one when None)."""
    work = procs.mkdtemp(f"{name}-{label}")
    port = free_port()
    logfile = work / "primary.log"
    if name == TWISTED:
        serverdir = serverdir or work / "srv"
        secretfile = serverdir / ".secret"  # written by the primary on its first start
        server = spawn_server(procs, name, twisted_argv(cfg, serverdir, port, "--role",
                                                        "primary"), logfile, port, work)
    else:
        bindir = cfg.devpi_venv / "bin"
        secretfile = work / "secret"
        rc, out = procs.run([str(bindir / "devpi-gen-secret"), "--secretfile",
                             str(secretfile)], timeout=60)
        if rc != 0:
            raise BenchError(f"devpi-gen-secret failed ({rc}): {out[-500:]}")
        if serverdir is None:
            serverdir = work / "srv"
            rc, out = procs.run([str(bindir / "devpi-init"), "--serverdir", str(serverdir),
                                 "--no-root-pypi", "--role", "primary"],
                                timeout=cfg.start_timeout)
            if rc != 0:
                raise BenchError(f"devpi-init failed ({rc}): {out[-1000:]}")
        server = spawn_server(procs, name, devpi_argv(cfg, serverdir, port, "--role",
                                                      "primary", "--secretfile",
                                                      str(secretfile)), logfile, port, work)
    wait_ready(server, cfg.start_timeout)
    return Pair(server, serverdir, secretfile)


def prepare_replica(procs: Procs, cfg: Config, name: str, pair: Pair, label: str
                    ) -> tuple[list[str], Path, Path, Path]:
    """argv, serverdir, log and work dir of a replica of C{pair} (devpi-init done)."""
    work = procs.mkdtemp(f"{name}-{label}")
    serverdir = work / "srv"
    port = free_port()
    if name == TWISTED:
        argv = twisted_argv(cfg, serverdir, port, "--primary-url", pair.url,
                            "--secretfile", str(pair.secretfile))
    else:
        rc, out = procs.run([str(cfg.devpi_venv / "bin" / "devpi-init"), "--serverdir",
                             str(serverdir), "--role", "replica", "--primary-url", pair.url],
                            timeout=cfg.start_timeout)
        if rc != 0:
            raise BenchError(f"devpi-init --role replica failed ({rc}): {out[-1000:]}")
        argv = devpi_argv(cfg, serverdir, port, "--primary-url", pair.url,
                          "--secretfile", str(pair.secretfile))
    return argv, serverdir, work / "replica.log", work


def port_of(argv: list[str]) -> int:
    if "--port" in argv:
        return int(argv[argv.index("--port") + 1])
    listen = argv[argv.index("--listen") + 1]
    return int(listen.split(":")[1])


def start_replica(procs: Procs, cfg: Config, name: str, pair: Pair, label: str) -> Server:
    argv, _, logfile, work = prepare_replica(procs, cfg, name, pair, label)
    return spawn_server(procs, name, argv, logfile, port_of(argv), work)


def status(port: int, timeout: float = 10.0) -> dict[str, Any]:
    reply = fetch(port, "GET", "/+status", headers={"Accept": "application/json"},
                  timeout=timeout)
    data = reply.json()
    if reply.status != 200 or not isinstance(data, dict):
        raise BenchError(f"/+status: HTTP {reply.status} {reply.snippet()}")
    return data.get("result") or {}


def replica_problem(name: str, st: dict[str, Any]) -> Optional[str]:
    """What the replica says went wrong, if anything."""
    if name == TWISTED:
        if st.get("replication-stopped"):
            return f"replication stopped: {st.get('replication-error')}"
        if st.get("replication-errors"):
            return f"replication-errors: {st['replication-errors']}"
    elif st.get("replication-errors"):
        return f"replication-errors: {st['replication-errors']}"
    return None


def files_synced(name: str, st: dict[str, Any]) -> bool:
    """Whether the replica itself says all files are there."""
    if name == TWISTED:
        return st.get("replication-blobs-pending") == 0 and not st.get("replication-errors")
    return st.get("replica-files-in-sync-at") is not None and not st.get("replication-errors")


def wait_synced(server: Server, serial: int, timeout: float, files: bool = True,
                guard: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Poll a replica's /+status until it reached C{serial} (and has all files);
    C{guard()} may raise L{BenchError} to give up early."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        guard()
        if not server.alive():
            raise BenchError(f"replica exited with {server.proc.returncode}:\n"
                             f"{tail(server.logfile, 8)}")
        try:
            st = status(server.port, timeout=5)
            if st.get("serial") == serial and (not files or files_synced(server.name, st)):
                return st
            last = f"serial {st.get('serial')} of {serial}; " + (
                replica_problem(server.name, st) or "")
        except (OSError, BenchError, http.client.HTTPException) as error:
            last = str(error)
        time.sleep(0.05)
    raise BenchError(f"replica on port {server.port} not in sync after {timeout:.0f}s "
                     f"({last})\nlog tail:\n{tail(server.logfile, 8)}")


# --------------------------------------------------------------------------
# lag


class KeepAlive:
    """One HTTP/1.1 connection, reopened when the server closed it."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: Optional[http.client.HTTPConnection] = None

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict[str, str]] = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, data
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Upload:
    name: str
    version: str
    filename: str
    body: bytes
    content_type: str


def make_uploads(directory: Path, prefix: str, count: int) -> list[Upload]:
    """C{count} distinct wheels over 20 projects, with their upload bodies built."""
    out = []
    nproj = min(20, count)
    for i in range(count):
        name, version = f"{prefix}{i % nproj:02d}", f"1.{i // nproj}"
        path = make_wheel(directory, name, version)
        body, ctype = multipart_upload(path, name, version)
        out.append(Upload(name, version, path.name, body, ctype))
    return out


def upload_and_watch(primary: KeepAlive, replicas: list[KeepAlive], upload: Upload,
                     auth: dict[str, str], interval: float, timeout: float
                     ) -> tuple[float, Optional[float], int]:
    """Upload one file; (upload ms, ms until every replica lists it or None, polls)."""
    headers = {"Content-Type": upload.content_type, "Content-Length": str(len(upload.body)),
               **auth}
    start = time.perf_counter()
    status_code, data = primary.request("POST", f"/{USER}/{LAG_INDEX}/", upload.body, headers)
    replied = time.perf_counter()
    if status_code != 200:
        raise BenchError(f"upload of {upload.filename}: HTTP {status_code} "
                         f"{summarize(status_code, data)}")
    needle = upload.filename.encode()
    path = f"/{USER}/{LAG_INDEX}/+simple/{upload.name}/"
    waiting = list(replicas)
    polls = 0
    while waiting:
        for replica in list(waiting):
            _, body = replica.request("GET", path)
            polls += 1
            if needle in body:
                waiting.remove(replica)
        if not waiting:
            break
        if time.perf_counter() - replied > timeout:
            return (replied - start) * 1000, None, polls
        time.sleep(interval)
    return (replied - start) * 1000, (time.perf_counter() - replied) * 1000, polls


def percentile(values: list[float], pct: float) -> Optional[float]:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def lag_run(pair: Pair, replica: Server, auth: dict[str, str], uploads: list[Upload],
            warm: list[Upload], cfg: Config) -> dict[str, Any]:
    primary = KeepAlive(pair.primary.port, timeout=60)
    watcher = KeepAlive(replica.port)
    lags: list[float] = []
    upload_ms: list[float] = []
    timeouts = polls = 0
    try:
        for upload in warm:
            upload_and_watch(primary, [watcher], upload, auth, cfg.poll_interval,
                             cfg.lag_timeout)
        load0 = loadavg()
        started = time.monotonic()
        for upload in uploads:
            up_ms, lag_ms, n = upload_and_watch(primary, [watcher], upload, auth,
                                                cfg.poll_interval, cfg.lag_timeout)
            upload_ms.append(up_ms)
            polls += n
            if lag_ms is None:
                timeouts += 1
                if timeouts >= 3:
                    raise BenchError(f"3 uploads not seen on the replica within "
                                     f"{cfg.lag_timeout}s (last {upload.filename})")
            else:
                lags.append(lag_ms)
        elapsed = time.monotonic() - started
    finally:
        primary.close()
        watcher.close()
    return {
        "uploads": len(upload_ms), "seen": len(lags), "timeouts": timeouts,
        "p50": percentile(lags, 50), "p90": percentile(lags, 90),
        "p99": percentile(lags, 99), "max": max(lags) if lags else None,
        "mean": statistics.fmean(lags) if lags else None,
        "upload_p50": percentile(upload_ms, 50), "polls_per_upload": polls / len(upload_ms),
        "elapsed_s": round(elapsed, 1), "load_start": load0, "load1": loadavg().split()[0],
    }


def memory_run(procs: Procs, cfg: Config, name: str, pair: Pair, auth: dict[str, str],
               count: int, extra: Upload) -> dict[str, Any]:
    """Start C{count} replicas of C{pair}; the primary's RSS before and after."""
    pid = pair.primary.pid

    def guard() -> None:
        """The primary is still there and within --rss-limit-mib (a shared machine)."""
        if not pair.primary.alive():
            raise BenchError(f"the primary exited ({pair.primary.proc.returncode}) with "
                             f"replicas connected; log tail:\n{tail(pair.primary.logfile, 3)}")
        rss = rss_kib(pid) or 0
        if rss > cfg.rss_limit_mib * 1024:
            procs.stop(pair.primary.proc, grace=2.0)
            raise BenchError(f"the primary's RSS grew to {rss // 1024} MiB, over "
                             f"--rss-limit-mib {cfg.rss_limit_mib}: stopped it")

    time.sleep(1.0)
    row: dict[str, Any] = {"replicas": count, "rss_before_mib": mib(rss_kib(pid)),
                           "hwm_before_mib": mib(proc_status(pid).get("VmHWM"))}
    serial = status(pair.primary.port)["serial"]
    started = time.monotonic()
    replicas: list[Server] = []
    # devpi-server replicas peak at ~0.5 GiB each while starting: a few at a time
    batch = count if name == TWISTED else 4
    try:
        while len(replicas) < count:
            group = [start_replica(procs, cfg, name, pair, f"mem{len(replicas) + i:02d}")
                     for i in range(min(batch, count - len(replicas)))]
            replicas += group
            for replica in group:
                guard()
                wait_ready(replica, cfg.start_timeout)
        uuids = set()
        for replica in replicas:
            remaining = cfg.catchup_timeout - (time.monotonic() - started)
            uuids.add(wait_synced(replica, serial, max(remaining, 1.0), guard=guard)
                      .get("uuid"))
        row["all_synced_s"] = round(time.monotonic() - started, 1)
        time.sleep(2.0)
        st = status(pair.primary.port)
        # devpi-server keeps gone replicas in polling_replicas: count these ones
        listed = st.get("replicas") if name == TWISTED else st.get("polling_replicas")
        row["listed"] = len(uuids & set(listed or {}))
        row["rss_after_mib"] = mib(rss_kib(pid))
        row["hwm_after_mib"] = mib(proc_status(pid).get("VmHWM"))
        rss = [rss_kib(r.pid) for r in replicas]
        known = [r for r in rss if r is not None]
        row["replica_rss_mib"] = mib(int(statistics.fmean(known))) if known else None
        # one more upload: until it is on every replica's simple page
        watchers = [KeepAlive(r.port) for r in replicas]
        primary = KeepAlive(pair.primary.port, timeout=60)
        try:
            for w in watchers:  # open the connections first
                w.request("GET", "/+api")
            _, fan_ms, _ = upload_and_watch(primary, watchers, extra, auth,
                                            cfg.poll_interval, cfg.lag_timeout)
        finally:
            primary.close()
            for w in watchers:
                w.close()
        row["fanout_ms"] = fan_ms
        row["rss_end_mib"] = mib(rss_kib(pid))
        row["load1"] = loadavg().split()[0]
    finally:
        for replica in replicas:
            procs.stop(replica.proc, grace=10.0)
    return row


def setup_primary(pair: Pair) -> dict[str, str]:
    """User bench (logged in) and index bench/rep on the primary: its auth header."""
    token = create_user_and_login(pair.primary)
    reply = json_call(pair.primary.port, "PUT", f"/{USER}/{LAG_INDEX}", STAGE_CONFIG,
                      auth=token)
    if reply.status not in (200, 201):
        raise BenchError(f"creating {USER}/{LAG_INDEX}: HTTP {reply.status} "
                         f"{reply.snippet()}")
    return {"X-Devpi-Auth": token}


def bench_lag(procs: Procs, cfg: Config, uploads: list[Upload], warm: list[Upload]
              ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in cfg.servers:
        row: dict[str, Any] = {"server": name}
        pair = replica = None
        try:
            log(f"lag: {name}: starting primary and replica")
            pair = start_primary(procs, cfg, name, "lag")
            replica = start_replica(procs, cfg, name, pair, "lag-replica")
            wait_ready(replica, cfg.start_timeout)
            auth = setup_primary(pair)
            wait_synced(replica, status(pair.primary.port)["serial"], cfg.start_timeout)
            time.sleep(SETTLE)
            log(f"lag: {name}: {len(warm)} warm-up + {len(uploads)} uploads")
            row.update(lag_run(pair, replica, auth, uploads, warm, cfg))
            log(f"lag: {name}: p50 {row['p50']:.2f} ms, p99 {row['p99']:.2f} ms")
        except BenchError as error:
            log(f"lag: {name}: {error}")
            row["error"] = str(error)
        finally:
            for server in (replica, pair.primary if pair else None):
                if server is not None:
                    procs.stop(server.proc)
        rows.append(row)
    return rows


def bench_memory(procs: Procs, cfg: Config, uploads: list[Upload], extra: Upload
                 ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in cfg.servers:
        count = cfg.replicas if name == TWISTED else cfg.devpi_server_replicas
        row: dict[str, Any] = {"server": name, "replicas": count}
        if count == 0:
            row["error"] = "skipped (--devpi-server-replicas 0)"
            rows.append(row)
            continue
        pair = None
        try:
            log(f"memory: {name}: a primary with {len(uploads)} uploads, then {count} "
                "replicas")
            pair = start_primary(procs, cfg, name, "memory")
            auth = setup_primary(pair)
            primary = KeepAlive(pair.primary.port, timeout=60)
            try:
                for upload in uploads:
                    upload_and_watch(primary, [], upload, auth, cfg.poll_interval,
                                     cfg.lag_timeout)
            finally:
                primary.close()
            row.update(memory_run(procs, cfg, name, pair, auth, count, extra))
        except BenchError as error:
            log(f"memory: {name}: {error}")
            row["error"] = str(error)
        finally:
            if pair is not None:
                procs.stop(pair.primary.proc)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# catch-up


def catchup_names(cfg: Config) -> list[tuple[str, str]]:
    per = cfg.versions_per_project
    return [(f"repcu{i // per:05d}", f"1.{i % per}") for i in range(cfg.releases)]


def make_catchup_dists(procs: Procs, cfg: Config) -> Path:
    dists = procs.mkdtemp("dists-catchup")
    for name, version in catchup_names(cfg):
        make_wheel(dists, name, version)
    return dists


def populate_twisted(procs: Procs, cfg: Config, dists: Path) -> tuple[Path, float]:
    """A devpi-twisted server directory holding the releases, written offline."""
    serverdir = procs.mkdtemp("twisted-catchup-primary") / "srv"
    started = time.monotonic()
    rc, out = procs.run([project_python(cfg), str(Path(__file__).resolve()),
                         "populate-twisted", str(serverdir), str(dists),
                         str(cfg.versions_per_project)], timeout=cfg.catchup_timeout)
    if rc != 0:
        raise BenchError(f"populating {serverdir} failed ({rc}):\n{out[-2000:]}")
    return serverdir, time.monotonic() - started


def populate_twisted_main(serverdir: str, dists: str, per_project: int) -> int:
    """(Runs in the project's venv.) Write every wheel of C{dists} into C{serverdir}:
    root, user bench, index bench/cu, then one commit per project (as devpi-import),
    each file stored as an upload stores it (the wheel and its METADATA as blobs)."""
    from devpi_twisted.auth.passwords import PasswordHasher
    from devpi_twisted.commands.offline import open_offline, run_here
    from devpi_twisted.dists import metadata
    from devpi_twisted.model import indexes, releases, users
    from devpi_twisted.model.acl import ROOT

    pwhash = PasswordHasher(run_here).hash_now(PASSWORD)
    wheels = sorted(Path(dists).glob("*.whl"))
    with open_offline(serverdir) as server:
        def put(data: bytes) -> str:
            writer = server.blobs.writer()
            writer.write(data)
            return writer.commit()

        def create(txn: Any) -> None:
            now = time.time()
            users.create_user(txn, ROOT, pwhash, {}, now)
            users.create_user(txn, USER, pwhash, {"email": "bench@example.com"}, now)
            indexes.create_index(txn, USER, CATCHUP_INDEX, dict(STAGE_CONFIG))

        server.store.transact_now(create)
        for start in range(0, len(wheels), per_project):
            stored = []
            for wheel in wheels[start:start + per_project]:
                data = wheel.read_bytes()
                raw = metadata.read_core_metadata(str(wheel), wheel.name)
                blob = releases.StoredBlob(wheel.name, put(data), len(data), put(raw))
                stored.append((metadata.parse_core_metadata(raw), blob))

            def add(txn: Any, stored: list[Any] = stored) -> None:
                for meta, blob in stored:
                    releases.add_release_file(txn, USER, CATCHUP_INDEX, meta, blob, USER,
                                              time.time())

            server.store.transact_now(add)
        print(f"serial {server.store.serial}, {len(wheels)} files")
    return 0


def write_export(procs: Procs, dists: Path) -> Path:
    """A devpi-server export (dataindex.json, files hard-linked) of the dists."""
    export = procs.mkdtemp("devpi-export")
    projects: dict[str, dict[str, Any]] = {}
    files = []
    when = list(time.gmtime()[:6])
    modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    for wheel in sorted(dists.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        meta: dict[str, Any] = {"name": name, "version": version}
        for line in metadata_text(name, version).split("\n\n")[0].splitlines():
            key, _, value = line.partition(": ")
            meta.setdefault(key.lower().replace("-", "_"), value)
        projects.setdefault(name, {})[version] = meta
        relpath = f"{USER}/{CATCHUP_INDEX}/{name}/{version}/{wheel.name}"
        target = export / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(wheel, target)
        sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        files.append({
            "type": "releasefile", "projectname": name, "version": version,
            "relpath": relpath,
            "entrymapping": {"last_modified": modified, "hash_spec": f"sha256={sha256}",
                             "hashes": {"sha256": sha256}, "project": name,
                             "version": version},
            "log": [{"what": "upload", "who": USER, "when": when,
                     "dst": f"{USER}/{CATCHUP_INDEX}"}],
        })
    dataindex = {
        "dumpversion": "2", "pythonversion": list(sys.version_info[:3]) + ["final", 0],
        "devpi_server": DEVPI_SERVER_VERSION,
        "users": {USER: {"username": USER, "email": "bench@example.com",
                         "created": "2024-01-01T00:00:00Z"}},
        "indexes": {f"{USER}/{CATCHUP_INDEX}": {
            "indexconfig": {"type": "stage", "bases": [], "volatile": True,
                            "acl_upload": [USER], "acl_toxresult_upload": [":ANONYMOUS:"],
                            "mirror_whitelist": [], "mirror_whitelist_inheritance":
                            "intersection"},
            "projects": projects, "files": files}},
    }
    (export / "dataindex.json").write_text(json.dumps(dataindex))
    return export


def populate_devpi(procs: Procs, cfg: Config, dists: Path) -> tuple[Path, float]:
    started = time.monotonic()
    export = write_export(procs, dists)
    serverdir = procs.mkdtemp("devpi-catchup-primary") / "srv"
    rc, out = procs.run([str(cfg.devpi_venv / "bin" / "devpi-import"), "--serverdir",
                         str(serverdir), "--no-root-pypi", "--hard-links", str(export)],
                        timeout=cfg.catchup_timeout)
    if rc != 0:
        raise BenchError(f"devpi-import failed ({rc}):\n{out[-2000:]}")
    return serverdir, time.monotonic() - started


def stored_files(name: str, serverdir: Path) -> int:
    """Files a server directory holds (devpi-twisted: blobs; devpi-server: +files)."""
    root = serverdir / ("+blobs" if name == TWISTED else "+files")
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "tmp"]
        count += sum(1 for f in filenames if "tmp" not in f)
    return count


def catchup_run(procs: Procs, cfg: Config, name: str, pair: Pair) -> dict[str, Any]:
    primary_status = status(pair.primary.port)
    serial = primary_status["serial"]
    expected = stored_files(name, pair.serverdir)
    argv, serverdir, logfile, work = prepare_replica(procs, cfg, name, pair, "catchup")
    row: dict[str, Any] = {"primary_serial": serial, "files": expected}
    conn = KeepAlive(port_of(argv), timeout=10)
    disk_checked = 0.0
    primary_cpu = cpu_seconds(pair.primary.pid)
    started = time.monotonic()
    server = spawn_server(procs, name, argv, logfile, port_of(argv), work)
    try:
        while True:
            now = time.monotonic() - started
            if now > cfg.catchup_timeout:
                raise BenchError(f"not caught up after {cfg.catchup_timeout:.0f}s: {row}")
            if not server.alive():
                raise BenchError(f"replica exited ({server.proc.returncode}):\n"
                                 f"{tail(logfile, 8)}")
            try:
                code, body = conn.request("GET", "/+status",
                                          headers={"Accept": "application/json"})
                st = (json.loads(body).get("result") or {}) if code == 200 else {}
            except (OSError, http.client.HTTPException, ValueError):
                st = {}
            if st:
                row.setdefault("answered_s", now)
                problem = replica_problem(name, st)
                if problem:
                    row["problem"] = problem
                if st.get("serial") == serial:
                    row.setdefault("serial_s", now)
                    if files_synced(name, st):
                        row.setdefault("flag_s", now)
                    if now - disk_checked >= 0.25 or "flag_s" in row:
                        disk_checked = now
                        if stored_files(name, serverdir) >= expected:
                            row["disk_s"] = now
                    if "disk_s" in row and "flag_s" in row:
                        break
            time.sleep(0.02)
        row["caught_up_s"] = max(row["serial_s"], row["disk_s"])
        row["replica_cpu_s"] = cpu_seconds(server.pid)
        after = cpu_seconds(pair.primary.pid)
        if primary_cpu is not None and after is not None:
            row["primary_cpu_s"] = round(after - primary_cpu, 1)
        row["replica_rss_mib"] = mib(rss_kib(server.pid))
        row["primary_rss_mib"] = mib(rss_kib(pair.primary.pid))
        row["load1"] = loadavg().split()[0]
    finally:
        conn.close()
        procs.stop(server.proc)
    return row


def bench_catchup(procs: Procs, cfg: Config) -> list[dict[str, Any]]:
    log(f"catchup: generating {cfg.releases} wheels")
    dists = make_catchup_dists(procs, cfg)
    rows: list[dict[str, Any]] = []
    populate: dict[str, Callable[[Procs, Config, Path], tuple[Path, float]]] = {
        TWISTED: populate_twisted, DEVPI: populate_devpi}
    for name in cfg.servers:
        row: dict[str, Any] = {"server": name, "releases": cfg.releases}
        pair = None
        try:
            log(f"catchup: {name}: populating the primary")
            serverdir, seconds = populate[name](procs, cfg, dists)
            row["populate_s"] = round(seconds, 1)
            pair = start_primary(procs, cfg, name, "catchup", serverdir)
            log(f"catchup: {name}: primary at serial {status(pair.primary.port)['serial']}; "
                "starting a fresh replica")
            row.update(catchup_run(procs, cfg, name, pair))
            log(f"catchup: {name}: caught up in {row['caught_up_s']:.2f}s")
        except BenchError as error:
            log(f"catchup: {name}: {error}")
            row["error"] = str(error)
        finally:
            if pair is not None:
                procs.stop(pair.primary.proc)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# report


def fmt(value: Any, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def report(cfg: Config, res: dict[str, Any]) -> None:
    lag = res.get("lag") or []
    if "lag" in cfg.steps:
        table, notes = [], []
        for r in lag:
            if "p50" not in r:
                table.append([r["server"]] + ["n/a"] * 9)
                notes.append(f"{r['server']}: {r.get('error', '?').splitlines()[0]}")
                continue
            table.append([
                r["server"], f"{r['seen']}/{r['uploads']}", fmt(r["p50"], ".2f"),
                fmt(r["p90"], ".2f"), fmt(r["p99"], ".2f"), fmt(r["max"], ".1f"),
                fmt(r["mean"], ".2f"), fmt(r["upload_p50"], ".1f"),
                fmt(r["polls_per_upload"], ".1f"), f"{r['load_start']} -> {r['load1']}",
            ])
        by = {r["server"]: r for r in lag if "p99" in r}
        if TWISTED in by:
            t = by[TWISTED]
            notes.append(f"target p50 < 5 ms: {t['p50']:.2f} ms, "
                         f"{'met' if t['p50'] < 5 else 'NOT met'}")
            if DEVPI in by:
                d = by[DEVPI]
                notes.append(f"target p99 <= devpi-server's / 2 = {d['p99'] / 2:.2f} ms: "
                             f"{t['p99']:.2f} ms, "
                             f"{'met' if t['p99'] <= d['p99'] / 2 else 'NOT met'}")
        print_table(
            f"replication lag: upload reply on the primary -> file listed on the replica's "
            f"/{USER}/{LAG_INDEX}/+simple/<project>/ (ms; polled every "
            f"{cfg.poll_interval * 1000:g} ms)",
            ["server", "seen", "p50", "p90", "p99", "max", "mean", "upload p50",
             "polls/upload", "load start -> end"],
            table, notes + [
                "sequential uploads of distinct ~1.5 KiB wheels (20 projects) over one "
                "keep-alive connection with X-Devpi-Auth (login token: no argon2 in the "
                "loop); the replica is polled over its own keep-alive connection, first at "
                "once, then after a 2 ms pause after each miss; 'upload p50': the upload "
                f"request itself; {cfg.warmup_uploads} warm-up uploads not counted",
            ])
    if "memory" in cfg.steps:
        table, notes = [], []
        for m in res.get("memory") or []:
            count = m["replicas"]
            if "error" in m:
                table.append([m["server"], str(count)] + ["n/a"] * 8)
                notes.append(f"{m['server']}: {m['error'].splitlines()[0]}")
                continue
            delta = (m["rss_after_mib"] - m["rss_before_mib"]
                     if m.get("rss_after_mib") and m.get("rss_before_mib") else None)
            table.append([
                m["server"], f"{m['listed']}/{count}", fmt(m["rss_before_mib"]),
                fmt(m["rss_after_mib"]), fmt(delta), fmt(m["hwm_after_mib"]),
                fmt(m["replica_rss_mib"]), fmt(m["all_synced_s"]),
                fmt(m["fanout_ms"], ".1f"), m["load1"],
            ])
        print_table(
            "primary memory with replicas connected (MiB, VmRSS / VmHWM of the primary "
            "from /proc/PID/status)",
            ["server", "listed", "RSS before", "RSS after", "delta", "HWM after",
             "RSS/replica", "all synced s", "fan-out ms", "load"],
            table, notes + [
                f"a fresh primary with {cfg.memory_uploads} uploads (no replica before); "
                "'RSS after': all replicas in sync, 2 s later; 'listed': replicas in the "
                "primary's /+status; 'fan-out ms': one more upload until every replica "
                "lists it (round-robin polls, so coarser than the lag table); "
                "devpi-server replicas started 4 at a time (each peaks at ~0.5 GiB while "
                "starting)",
            ])
    if "catchup" in cfg.steps:
        table, notes = [], []
        for r in res.get("catchup") or []:
            if "caught_up_s" not in r:
                table.append([r["server"]] + ["n/a"] * 9)
                notes.append(f"{r['server']}: {r.get('error', '?').splitlines()[0]}")
                continue
            table.append([
                r["server"], str(r["releases"]), str(r["primary_serial"]), str(r["files"]),
                fmt(r.get("populate_s")), fmt(r["answered_s"], ".2f"), fmt(r["serial_s"], ".2f"),
                fmt(r["disk_s"], ".2f"), fmt(r["caught_up_s"], ".2f"), fmt(r["flag_s"], ".2f"),
            ])
            notes.append(f"{r['server']}: CPU s replica {fmt(r.get('replica_cpu_s'))}, "
                         f"primary {fmt(r.get('primary_cpu_s'))}; "
                         f"replica RSS {fmt(r['replica_rss_mib'])} MiB, "
                         f"primary RSS {fmt(r['primary_rss_mib'])} MiB, load {r['load1']}"
                         + (f"; {r['problem']}" if r.get("problem") else ""))
        print_table(
            f"catch-up: a fresh replica of a primary holding {cfg.releases} releases "
            f"({cfg.versions_per_project} per project); seconds from the replica "
            "process's start",
            ["server", "releases", "serial", "files", "populate s", "answers s",
             "serial s", "files s", "caught up s", "own flag s"],
            table, notes + [
                "'serial s': /+status serial = the primary's; 'files s': the replica's "
                "disk holds as many files as the primary's (devpi-twisted: +blobs, wheel "
                "and METADATA blobs; devpi-server: +files); 'caught up' = the later of "
                "the two; 'own flag s': the replica itself says so (devpi-twisted: "
                "replication-blobs-pending 0; devpi-server: replica-files-in-sync-at "
                "set, which it notes after its file queue was idle for 1 s)",
                "populate: devpi-twisted: the store API offline (one commit per project, "
                "blobs written as uploads write them); devpi-server: devpi-import "
                "--hard-links of a generated export (one commit per project); the "
                "devpi-server replica's devpi-init ran before the clock started",
            ])


# --------------------------------------------------------------------------
# main


def parse_args(argv: list[str]) -> Config:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devpi-venv", type=Path,
                   default=Path(os.environ.get("BENCH_VENV", "/work/bench-venv")))
    default_twistd = Path(sys.executable).parent / "twistd"
    p.add_argument("--twistd", type=Path, default=default_twistd if default_twistd.exists()
                   else Path("/work/venv/bin/twistd"))
    p.add_argument("--servers", default=f"{DEVPI},{TWISTED}")
    p.add_argument("--steps", default="lag,memory,catchup",
                   help="comma separated subset of lag,memory,catchup [all]")
    p.add_argument("--uploads", type=int, default=500, help="measured uploads [500]")
    p.add_argument("--warmup-uploads", type=int, default=5)
    p.add_argument("--poll-interval-ms", type=float, default=2.0)
    p.add_argument("--lag-timeout", type=float, default=10.0,
                   help="seconds an upload may take to show on the replica [10]")
    p.add_argument("--releases", type=int, default=10_000)
    p.add_argument("--versions-per-project", type=int, default=1)
    p.add_argument("--replicas", type=int, default=20)
    p.add_argument("--rss-limit-mib", type=int, default=4096,
                   help="the memory step stops a primary whose RSS grows past this [4096]")
    p.add_argument("--memory-uploads", type=int, default=100,
                   help="uploads on the memory step's primary [100]")
    p.add_argument("--devpi-server-replicas", type=int, default=None,
                   help="replicas of the devpi-server primary [--replicas]; 0 skips")
    p.add_argument("--start-timeout", type=float, default=90.0)
    p.add_argument("--catchup-timeout", type=float, default=900.0)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--keep-tmp", action="store_true")
    a = p.parse_args(argv)
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    steps = [s.strip() for s in a.steps.split(",") if s.strip()]
    if any(s not in (DEVPI, TWISTED) for s in servers):
        p.error(f"--servers: {DEVPI} and/or {TWISTED}")
    if any(s not in ("lag", "memory", "catchup") for s in steps):
        p.error("--steps: lag, memory, catchup")
    for flag, value, lo, hi in [("--uploads", a.uploads, 1, 100_000),
                                ("--releases", a.releases, 1, 1_000_000),
                                ("--replicas", a.replicas, 0, 100),
                                ("--versions-per-project", a.versions_per_project, 1, 10_000)]:
        if not lo <= value <= hi:
            p.error(f"{flag} must be within {lo}..{hi}")
    return Config(
        devpi_venv=a.devpi_venv, twistd=a.twistd, servers=servers, steps=steps,
        uploads=a.uploads, warmup_uploads=a.warmup_uploads,
        poll_interval=a.poll_interval_ms / 1000, lag_timeout=a.lag_timeout,
        releases=a.releases, versions_per_project=a.versions_per_project,
        replicas=a.replicas, rss_limit_mib=a.rss_limit_mib, memory_uploads=min(a.memory_uploads, a.uploads),
        devpi_server_replicas=a.replicas if a.devpi_server_replicas is None
        else a.devpi_server_replicas,
        start_timeout=a.start_timeout, catchup_timeout=a.catchup_timeout,
        json_out=a.json, keep_tmp=a.keep_tmp,
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["populate-twisted"]:
        return populate_twisted_main(argv[1], argv[2], int(argv[3]))
    cfg = parse_args(argv)
    missing = [str(p) for p in [cfg.twistd] + [cfg.devpi_venv / "bin" / t for t in (
        "devpi-init", "devpi-server", "devpi-import", "devpi-gen-secret")] if not p.exists()]
    if missing:
        raise SystemExit("bench: missing " + ", ".join(missing) + " (bash bench/setup.sh)")
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)
    print(f"devpi-twisted replication benchmark: {platform.node()}, {os.cpu_count()} cpus, "
          f"Python {platform.python_version()}, twistd {cfg.twistd}, devpi-server venv "
          f"{cfg.devpi_venv}, load average {loadavg()}")
    procs = Procs(keep_tmp=cfg.keep_tmp)
    results: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               "load_start": loadavg()}
    try:
        dists = procs.mkdtemp("dists-lag")
        uploads = make_uploads(dists, "replag", cfg.uploads)
        if "lag" in cfg.steps:
            warm = make_uploads(dists, "repwarm", cfg.warmup_uploads)
            results["lag"] = bench_lag(procs, cfg, uploads, warm)
        if "memory" in cfg.steps:
            extra = make_uploads(dists, "repfan", 1)[0]
            results["memory"] = bench_memory(procs, cfg, uploads[:cfg.memory_uploads], extra)
        if "catchup" in cfg.steps:
            results["catchup"] = bench_catchup(procs, cfg)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        procs.close()
    report(cfg, results)
    print(f"load average at the end: {loadavg()}")
    if cfg.json_out:
        cfg.json_out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
