#!/usr/bin/env python3
"""
Benchmark devpi-twisted against devpi-server 6.20.3, side by side in one run.

    python3 bench/run.py simple|upload|mirror|all [options]
    python3 bench/run.py replication [options]   (bench/replication.py)

simple: a 3-level index chain bench/base -> bench/mid -> bench/top on each
        server, a package with versions spread over it (uploaded with twine),
        then wrk on the warm /bench/top/+simple/benchpkg/ page (and with
        If-None-Match when the server sends an ETag), next to a bare
        twisted.web resource serving the same bytes from memory (the ceiling).
upload: sequential legacy uploads (multipart :action=file_upload, as twine
        sends them) of small generated wheels, with Basic auth (password) and
        with a devpi login token (X-Devpi-Auth), each on a fresh server;
        uploads/s and the server's peak RSS.
mirror: a mirror index root/up of a fake upstream PyPI (bench/fake_pypi.py,
        a separate process) on each server: the warm 70-file and 1000-file
        project pages and a cached 1 MiB file under wrk (next to nginx and
        the twisted.web ceiling serving the same bytes), a cold and a warm
        `pip install` of a 20-wheel dependency chain into fresh venvs, and
        the server's RSS after loading a 600,000-name project list.

Only the standard library; servers, wrk and twine are subprocesses. Every
target is 127.0.0.1; every loop is bounded in count and time; every process
started is ended (also on Ctrl-C, SIGTERM and errors) and temp dirs removed.
See bench/README.rst. Run `bash bench/setup.sh` first.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import hashlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urljoin, urlsplit

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
USER = "bench"
PASSWORD = "bench"
PROJECT = "benchpkg"
CHAIN = ("base", "mid", "top")  # bench/top inherits bench/mid inherits bench/base
DEVPI = "devpi-server"
TWISTED = "devpi-twisted"
CEILING = "twisted.web ceiling"
DEVPI_SERVER_VERSION = "6.20.3"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A step failed in a way that makes the rest of one server's run pointless."""


# --------------------------------------------------------------------------
# processes and temp dirs


def _pdeathsig() -> Optional[Callable[[], None]]:
    """A preexec_fn that makes the child get SIGTERM if this process dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return preexec


class Procs:
    """Starts every child in its own process group and ends them all on close()."""

    def __init__(self, keep_tmp: bool = False) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="devpi-bench-"))
        self.keep_tmp = keep_tmp
        self._children: list[subprocess.Popen[Any]] = []
        self._preexec = _pdeathsig()

    def mkdtemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=name + "-", dir=self.tmp))

    def spawn(
        self,
        argv: list[str],
        logfile: Optional[Path] = None,
        env: Optional[dict[str, str]] = None,
        cwd: Optional[Path] = None,
        capture: bool = False,
    ) -> subprocess.Popen[Any]:
        if capture:
            out: Any = subprocess.PIPE
        elif logfile is not None:
            out = open(logfile, "ab")
        else:
            out = subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(cwd or self.tmp),
                start_new_session=True,
                preexec_fn=self._preexec,
            )
        finally:
            if not capture and logfile is not None:
                out.close()
        self._children.append(proc)
        return proc

    def run(
        self,
        argv: list[str],
        timeout: float,
        env: Optional[dict[str, str]] = None,
        cwd: Optional[Path] = None,
    ) -> tuple[int, str]:
        """Run to completion (killed after timeout seconds); (returncode, output)."""
        proc = self.spawn(argv, env=env, cwd=cwd, capture=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            out = proc.stdout.read() if proc.stdout else b""
            return -1, out.decode("utf-8", "replace") + f"\n[killed after {timeout}s]"
        finally:
            self._forget(proc)
        return proc.returncode, out.decode("utf-8", "replace")

    def stop(self, proc: subprocess.Popen[Any], grace: float = 15.0) -> None:
        """SIGTERM the child's process group, SIGKILL after grace seconds."""
        if proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:
            # the leader is gone; its group may still hold children
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if proc.stdout:
            proc.stdout.close()
        self._forget(proc)

    def _forget(self, proc: subprocess.Popen[Any]) -> None:
        if proc in self._children:
            self._children.remove(proc)

    def close(self) -> None:
        for proc in list(reversed(self._children)):
            try:
                self.stop(proc, grace=5.0)
            except Exception as error:  # keep cleaning up
                log(f"could not stop pid {proc.pid}: {error}")
        if self.keep_tmp:
            log(f"kept temp dir {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of pid, in KiB; empty when unreadable."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def reset_peak_rss(pid: int) -> bool:
    """Reset pid's VmHWM to its current RSS (Linux >= 4.0: clear_refs 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib(pid: int) -> Optional[float]:
    st = proc_status(pid)
    return round(st["VmHWM"] / 1024, 1) if "VmHWM" in st else None


def cpu_seconds(pid: int) -> Optional[float]:
    """User+system CPU seconds used by pid so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# --------------------------------------------------------------------------
# HTTP


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def snippet(self, n: int = 160) -> str:
        return summarize(self.status, self.body, n)


def summarize(status: int, body: bytes, n: int = 160) -> str:
    """A one-line account of an error reply: JSON message, HTML title or text."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
        if isinstance(data, dict) and data.get("message"):
            text = str(data["message"])
    except ValueError:
        m = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
        text = m.group(1) if m else re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    if text.startswith(f"{status} "):
        text = text[len(str(status)) + 1:]
    text = text[:n] + ("..." if len(text) > n else "")
    if status in (404, 405):
        text += " [route missing: not implemented yet?]"
    return text


def fetch(
    port: int,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[dict[str, str]] = None,
    timeout: float = 30.0,
) -> Reply:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def json_call(port: int, method: str, path: str, payload: Any = None,
              auth: Optional[str] = None) -> Reply:
    headers = {"Accept": "application/json"}
    body = None
    if payload is not None:
        body = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    if auth:
        headers["X-Devpi-Auth"] = auth
    return fetch(port, method, path, body, headers)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def devpi_auth(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


# --------------------------------------------------------------------------
# generated distributions


def _b64hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def metadata_text(name: str, version: str) -> str:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {name}\n"
        f"Version: {version}\n"
        f"Summary: generated benchmark package {name} {version}\n"
        "Author: bench\n"
        "License: MIT\n"
        "Requires-Python: >=3.8\n"
        "Description-Content-Type: text/plain\n"
        "\n"
        f"{name} {version}: a small generated package for benchmarks.\n"
    )


def module_source(name: str, version: str) -> bytes:
    # ~1 KiB so the files are small but not empty
    return (f'"""{name} {version}."""\n__version__ = "{version}"\n'
            + "# padding\n" * 100).encode()


def make_wheel(directory: Path, name: str, version: str) -> Path:
    dist = re.sub(r"[-_.]+", "_", name).lower()
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": module_source(name, version),
        f"{info}/METADATA": metadata_text(name, version).encode(),
        f"{info}/WHEEL": (b"Wheel-Version: 1.0\nGenerator: devpi-bench\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = "".join(f"{p},sha256={_b64hash(d)},{len(d)}\n" for p, d in files.items())
    record += f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p, d in files.items():
            zi = zipfile.ZipInfo(p, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, d)
    return path


def make_sdist(directory: Path, name: str, version: str) -> Path:
    dist = re.sub(r"[-_.]+", "_", name).lower()
    root = f"{dist}-{version}"
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
    ).encode()
    files = {
        f"{root}/PKG-INFO": metadata_text(name, version).encode(),
        f"{root}/pyproject.toml": pyproject,
        f"{root}/{dist}/__init__.py": module_source(name, version),
    }
    path = directory / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for p, d in files.items():
            ti = tarfile.TarInfo(p)
            ti.size = len(d)
            ti.mtime = 1704067200
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(d))
    return path


def multipart_upload(path: Path, name: str, version: str) -> tuple[bytes, str]:
    """The body and content type twine sends for one file (legacy upload API)."""
    data = path.read_bytes()
    is_wheel = path.name.endswith(".whl")
    fields = [
        ("metadata_version", "2.1"),
        ("name", name),
        ("version", version),
        ("summary", f"generated benchmark package {name} {version}"),
        ("description", f"{name} {version}: a small generated package for benchmarks.\n"),
        ("description_content_type", "text/plain"),
        ("author", "bench"),
        ("license", "MIT"),
        ("requires_python", ">=3.8"),
        ("pyversion", "py3" if is_wheel else "source"),
        ("filetype", "bdist_wheel" if is_wheel else "sdist"),
        ("sha256_digest", hashlib.sha256(data).hexdigest()),
        ("blake2_256_digest", hashlib.blake2b(data, digest_size=32).hexdigest()),
        (":action", "file_upload"),
        ("protocol_version", "1"),
    ]
    boundary = "devpibench" + hashlib.md5(data).hexdigest()
    out = io.BytesIO()
    for key, value in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                  .encode())
        out.write(value.encode())
        out.write(b"\r\n")
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
              f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
              .encode())
    out.write(data)
    out.write(f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------
# servers


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[Any]
    logfile: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Config:
    devpi_venv: Path
    twistd: Path
    wrk: str
    threads: int
    connections: int
    duration: int
    warmup: int
    versions: int
    uploads: int
    upload_time_limit: float
    start_timeout: float
    servers: list[str]
    json_out: Optional[Path] = None
    nginx: str = "nginx"
    list_size: int = 600_000
    mirror_projects: int = 50
    pip_timeout: float = 300.0
    core_metadata: bool = True
    keep_tmp: bool = False
    results: dict[str, Any] = field(default_factory=dict)


def wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.alive():
            last_line = (tail(server.logfile, 1) or "no output").strip()
            raise BenchError(f"{server.name} exited with {server.proc.returncode} while "
                             f"starting: {last_line}\nlog tail:\n{tail(server.logfile)}")
        try:
            reply = fetch(server.port, "GET", "/+api", headers={"Accept": "application/json"},
                         timeout=5)
            if reply.status == 200:
                return
            last = f"HTTP {reply.status}"
        except OSError as error:
            last = str(error)
        time.sleep(0.2)
    raise BenchError(f"{server.name} not ready after {timeout}s ({last})\nlog tail:\n"
                     f"{tail(server.logfile)}")


def start_devpi_server(procs: Procs, cfg: Config, label: str, online: bool = False) -> Server:
    """devpi-server on a fresh serverdir; --offline-mode unless online (mirror benchmark)."""
    serverdir = procs.mkdtemp(f"devpi-server-{label}")
    logfile = serverdir.parent / f"devpi-server-{label}.log"
    bindir = cfg.devpi_venv / "bin"
    # devpi-init needs --serverdir; no root/pypi (there is no internet here)
    rc, out = procs.run([str(bindir / "devpi-init"), "--serverdir", str(serverdir),
                         "--no-root-pypi"], timeout=cfg.start_timeout)
    if rc != 0:
        raise BenchError(f"devpi-init failed ({rc}):\n{out[-2000:]}")
    port = free_port()
    argv = [str(bindir / "devpi-server"), "--serverdir", str(serverdir), "--host", HOST,
            "--port", str(port)]
    if not online:
        argv.append("--offline-mode")
    proc = procs.spawn(argv, logfile=logfile)
    server = Server(DEVPI, port, proc, logfile)
    wait_ready(server, cfg.start_timeout)
    return server


def start_devpi_twisted(procs: Procs, cfg: Config, label: str, online: bool = False) -> Server:
    """twistd -n devpi on a fresh serverdir (no --offline-mode either way: its
    mirrors are only those the benchmark creates)."""
    serverdir = procs.mkdtemp(f"devpi-twisted-{label}")
    logfile = serverdir.parent / f"devpi-twisted-{label}.log"
    port = free_port()
    proc = procs.spawn(
        [str(cfg.twistd), "-n", "--pidfile=", "devpi", "--serverdir", str(serverdir / "srv"),
         "--listen", f"tcp:{port}:interface={HOST}"],
        logfile=logfile,
        cwd=serverdir,
    )
    server = Server(TWISTED, port, proc, logfile)
    wait_ready(server, cfg.start_timeout)
    return server


STARTERS = {DEVPI: start_devpi_server, TWISTED: start_devpi_twisted}


def create_user_and_login(server: Server) -> str:
    """Create user bench; the X-Devpi-Auth value of its login token."""
    reply = json_call(server.port, "PUT", f"/{USER}",
                      {"password": PASSWORD, "email": "bench@example.com"})
    if reply.status not in (200, 201):
        raise BenchError(f"creating user {USER}: HTTP {reply.status} {reply.snippet()}")
    reply = json_call(server.port, "POST", "/+login", {"user": USER, "password": PASSWORD})
    token = None
    if reply.status == 200 and isinstance(reply.json(), dict):
        token = (reply.json().get("result") or {}).get("password")
    if not token:
        raise BenchError(f"login: HTTP {reply.status} {reply.snippet()}")
    return devpi_auth(USER, token)


def create_index(server: Server, auth: str, name: str, bases: list[str]) -> None:
    reply = json_call(server.port, "PUT", f"/{USER}/{name}",
                      {"type": "stage", "bases": bases}, auth=auth)
    if reply.status not in (200, 201):
        raise BenchError(f"creating index {USER}/{name}: HTTP {reply.status} "
                         f"{reply.snippet()}")


# --------------------------------------------------------------------------
# wrk


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    res: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M):
        res[f"p{pct}"] = _to_ms(value)
    m = re.search(r"(\d+) requests in ([\d.]+\w+)", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                  out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["bad_status"] = int(m.group(1)) if m else 0
    return res


def run_wrk(procs: Procs, cfg: Config, port: int, path: str,
            headers: Optional[dict[str, str]] = None, duration: Optional[int] = None
            ) -> dict[str, Any]:
    duration = cfg.duration if duration is None else duration
    argv = [cfg.wrk, f"-t{cfg.threads}", f"-c{cfg.connections}", f"-d{duration}s",
            "--timeout", "10s", "--latency"]
    for key, value in (headers or {}).items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(f"http://{HOST}:{port}{path}")
    rc, out = procs.run(argv, timeout=duration + 60)
    if rc != 0:
        raise BenchError(f"wrk failed ({rc}): {out[-1000:]}")
    res = parse_wrk(out)
    if "rps" not in res:
        raise BenchError(f"could not parse wrk output:\n{out}")
    return res


def measure(procs: Procs, cfg: Config, server: Optional[Server], port: int, path: str,
            headers: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """Warm up, then one measured wrk run; adds the server's CPU time and peak RSS."""
    if cfg.warmup > 0:
        run_wrk(procs, cfg, port, path, headers, duration=cfg.warmup)
    life = peak_rss_mib(server.pid) if server else None
    reset = reset_peak_rss(server.pid) if server else False
    cpu0 = cpu_seconds(server.pid) if server else None
    res = run_wrk(procs, cfg, port, path, headers)
    if server is not None:
        cpu1 = cpu_seconds(server.pid)
        if cpu0 is not None and cpu1 is not None:
            res["server_cpu_s"] = round(cpu1 - cpu0, 2)
        peak = peak_rss_mib(server.pid)
        res["peak_rss_life_mib"] = max(x for x in (life, peak, 0) if x is not None)
        if reset:
            res["peak_rss_mib"] = peak
    res["load1"] = loadavg().split()[0]  # right after the run: was anything else busy?
    return res


# --------------------------------------------------------------------------
# simple benchmark


def twine_upload(procs: Procs, cfg: Config, server: Server, index: str,
                 files: list[Path]) -> tuple[bool, str]:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("TWINE_"):
            del env[key]
    env.update(PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
               NO_COLOR="1", TERM="dumb", COLUMNS="300")
    argv = [str(cfg.devpi_venv / "bin" / "twine"), "upload", "--non-interactive",
            "--disable-progress-bar", "--repository-url",
            f"http://{HOST}:{server.port}/{USER}/{index}/",
            "-u", USER, "-p", PASSWORD] + [str(f) for f in files]
    rc, out = procs.run(argv, timeout=300, env=env)
    return rc == 0, out


def _twine_error(out: str) -> str:
    m = re.search(r"(HTTPError:.*|\b\d{3} [A-Z][\w ]+ from .*)", out)
    if m:
        text = " ".join(m.group(1).split())[:200]
        text = re.sub(r"\s+from$", "", text)
        if re.search(r"\b40[45]\b", text):
            text += " [route missing: not implemented yet?]"
        return text
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:160]


def setup_simple(procs: Procs, cfg: Config, server: Server, dists: Path) -> dict[str, Any]:
    """User, index chain and uploads; what the simple page should then list."""
    auth = create_user_and_login(server)
    bases: list[str] = []
    for name in CHAIN:
        create_index(server, auth, name, bases)
        bases = [f"{USER}/{name}"]
    # versions spread over the chain: the first third in base, then mid, then top
    per_index: dict[str, list[Path]] = {name: [] for name in CHAIN}
    versions = [f"1.{i}" for i in range(cfg.versions)]
    for i, version in enumerate(versions):
        index = CHAIN[min(len(CHAIN) - 1, i * len(CHAIN) // len(versions))]
        per_index[index] += [dists / f"{PROJECT}-{version}-py3-none-any.whl",
                             dists / f"{PROJECT}-{version}.tar.gz"]
    for index, files in per_index.items():
        if not files:
            continue
        ok, out = twine_upload(procs, cfg, server, index, files)
        if not ok:
            path = f"/{USER}/{CHAIN[-1]}/+simple/{PROJECT}/"
            try:
                probe = fetch(server.port, "GET", path)
                simple = f"HTTP {probe.status}"
            except OSError as error:
                simple = str(error)
            raise BenchError(f"twine upload to {USER}/{index}: {_twine_error(out)}; "
                             f"(GET {path} then: {simple})")
    return {"files": sum(len(f) for f in per_index.values())}


def bench_simple(procs: Procs, cfg: Config) -> list[dict[str, Any]]:
    dists = procs.mkdtemp("dists-simple")
    for i in range(cfg.versions):
        make_wheel(dists, PROJECT, f"1.{i}")
        make_sdist(dists, PROJECT, f"1.{i}")
    path = f"/{USER}/{CHAIN[-1]}/+simple/{PROJECT}/"
    rows: list[dict[str, Any]] = []
    page: Optional[tuple[str, bytes, str, Optional[str]]] = None  # server, body, ctype, etag
    for name in cfg.servers:
        log(f"simple: starting {name}")
        server = None
        try:
            server = STARTERS[name](procs, cfg, "simple")
            expected = setup_simple(procs, cfg, server, dists)
            reply = fetch(server.port, "GET", path)
            if reply.status != 200:
                raise BenchError(f"GET {path}: HTTP {reply.status} {reply.snippet(120)}")
            links = len(re.findall(rb"<a\s", reply.body))
            note = f"{len(reply.body)} B, {links} links"
            if links != expected["files"]:
                note += f" (expected {expected['files']}!)"
            etag = reply.headers.get("etag")
            ctype = reply.headers.get("content-type", "text/html; charset=utf-8")
            if page is None or name == TWISTED:
                page = (f"{name}'s page", reply.body, ctype, etag)
            log(f"simple: {name}: {note}, etag={etag!r}; wrk {cfg.duration}s")
            res = measure(procs, cfg, server, server.port, path)
            rows.append({"server": name, "variant": "GET", "note": note, **res})
            if etag:
                cond = fetch(server.port, "GET", path, headers={"If-None-Match": etag})
                cnote = f"If-None-Match -> HTTP {cond.status}"
                res = measure(procs, cfg, server, server.port, path, {"If-None-Match": etag})
                rows.append({"server": name, "variant": "GET If-None-Match",
                             "note": cnote, **res})
            else:
                rows.append({"server": name, "variant": "GET If-None-Match",
                             "error": "no ETag sent: skipped"})
        except BenchError as error:
            log(f"simple: {name}: {error}")
            rows.append({"server": name, "variant": "GET", "error": str(error)})
        finally:
            if server is not None:
                procs.stop(server.proc)
    if page is None:
        page = ("a synthetic page", synthetic_page(dists), "text/html; charset=utf-8", None)
    rows += bench_ceiling(procs, cfg, page, path)
    return rows


def synthetic_page(dists: Path) -> bytes:
    """A simple page like devpi's for the generated files (when no server gave one)."""
    title = f"{USER}/{CHAIN[-1]}: links for {PROJECT}"
    links = []
    for f in sorted(dists.iterdir()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        links.append(f'    <a href="../../+f/{digest[:3]}/{digest[3:16]}/{f.name}'
                     f'#sha256={digest}">{f.name}</a><br/>\n')
    return (f'<!DOCTYPE html>\n<html>\n  <head>\n    <title>{title}</title>\n  </head>\n'
            f'  <body>\n    <h1>{title}</h1>\n{"".join(links)}  </body>\n</html>\n').encode()


def ceiling_python(cfg: Config) -> Optional[str]:
    candidate = cfg.twistd.parent / "python"
    if candidate.exists():
        return str(candidate)
    try:
        first = cfg.twistd.read_text().splitlines()[0]
        if first.startswith("#!"):
            return first[2:].strip().split()[0]
    except (OSError, IndexError):
        pass
    return None


def bench_ceiling(procs: Procs, cfg: Config, page: Optional[tuple[str, bytes, str,
                  Optional[str]]], path: str) -> list[dict[str, Any]]:
    if page is None:
        return [{"server": CEILING, "variant": "GET", "error": "no simple page to serve"}]
    source, body, ctype, etag = page
    python = ceiling_python(cfg)
    if python is None:
        return [{"server": CEILING, "variant": "GET",
                 "error": f"no Python with Twisted next to {cfg.twistd}"}]
    bodyfile = procs.tmp / "ceiling-body"
    bodyfile.write_bytes(body)
    port = free_port()
    logfile = procs.tmp / "ceiling.log"
    argv = [python, str(HERE / "ceiling.py"), "--port", str(port), "--body", str(bodyfile),
            "--content-type", ctype]
    if etag:
        argv += ["--etag", etag]
    log(f"simple: starting {CEILING} ({len(body)} B of {source})")
    proc = procs.spawn(argv, logfile=logfile)
    server = Server(CEILING, port, proc, logfile)
    rows: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + cfg.start_timeout
        while True:
            if not server.alive():
                raise BenchError(f"ceiling exited: {tail(logfile)}")
            try:
                if fetch(port, "GET", path, timeout=5).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("ceiling not ready")
            time.sleep(0.1)
        note = f"{len(body)} B of {source}"
        rows.append({"server": CEILING, "variant": "GET", "note": note,
                     **measure(procs, cfg, server, port, path)})
        if etag:
            rows.append({"server": CEILING, "variant": "GET If-None-Match", "note": note,
                         **measure(procs, cfg, server, port, path, {"If-None-Match": etag})})
    except BenchError as error:
        rows.append({"server": CEILING, "variant": "GET", "error": str(error)})
    finally:
        procs.stop(proc)
    return rows


# --------------------------------------------------------------------------
# upload benchmark


def upload_loop(server: Server, index: str, uploads: list[tuple[Path, str, str]],
                auth_headers: dict[str, str], time_limit: float) -> dict[str, Any]:
    """Sequential uploads over one keep-alive connection; bounded by count and time."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
    path = f"/{USER}/{index}/"
    ok = errors = 0
    first_error = None
    consecutive_errors = 0
    start = time.monotonic()
    try:
        for dist, name, version in uploads:
            if time.monotonic() - start > time_limit:
                first_error = first_error or f"time limit {time_limit}s reached"
                break
            body, ctype = multipart_upload(dist, name, version)
            headers = {"Content-Type": ctype, "Content-Length": str(len(body)),
                       "User-Agent": "devpi-bench (twine-like)", **auth_headers}
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                status, data = 0, str(error).encode()
            if 200 <= status < 300:
                ok += 1
                consecutive_errors = 0
            else:
                errors += 1
                consecutive_errors += 1
                if first_error is None:
                    first_error = (f"HTTP {status} {summarize(status, data)}" if status
                                   else data.decode("utf-8", "replace"))
                if ok == 0 and consecutive_errors >= 3 or errors >= 20:
                    break
    finally:
        conn.close()
    elapsed = time.monotonic() - start
    return {"ok": ok, "errors": errors, "elapsed_s": round(elapsed, 2),
            "first_error": first_error}


def bench_upload(procs: Procs, cfg: Config) -> list[dict[str, Any]]:
    dists = procs.mkdtemp("dists-upload")
    # 20 projects x N/20 versions: both new projects and new versions of known ones
    nproj = min(20, cfg.uploads)
    uploads = []
    for i in range(cfg.uploads):
        name, version = f"benchup{i % nproj:02d}", f"1.{i // nproj}"
        uploads.append((make_wheel(dists, name, version), name, version))
    warm = [(make_wheel(dists, "benchwarm", f"0.{i}"), "benchwarm", f"0.{i}")
            for i in range(3)]
    rows: list[dict[str, Any]] = []
    for name in cfg.servers:
        for mode in ("password", "token"):
            log(f"upload: {name}, {mode} auth: {len(uploads)} uploads")
            server = None
            row: dict[str, Any] = {"server": name, "auth": mode}
            try:
                server = STARTERS[name](procs, cfg, f"upload-{mode}")
                token_auth = create_user_and_login(server)
                create_index(server, token_auth, "up", [])
                if mode == "password":
                    auth_headers = {"Authorization": basic_auth(USER, PASSWORD)}
                else:
                    auth_headers = {"X-Devpi-Auth": token_auth}
                warmres = upload_loop(server, "up", warm, auth_headers, cfg.upload_time_limit)
                if warmres["ok"] == 0:
                    raise BenchError(f"upload not working: {warmres['first_error']}")
                row["rss_before_mib"] = round(proc_status(server.pid).get("VmRSS", 0) / 1024,
                                              1)
                life = peak_rss_mib(server.pid) or 0
                reset = reset_peak_rss(server.pid)
                cpu0 = cpu_seconds(server.pid)
                res = upload_loop(server, "up", uploads, auth_headers, cfg.upload_time_limit)
                cpu1 = cpu_seconds(server.pid)
                row.update(res)
                if cpu0 is not None and cpu1 is not None:
                    row["server_cpu_s"] = round(cpu1 - cpu0, 2)
                row["rate"] = round(res["ok"] / res["elapsed_s"], 1) if res["elapsed_s"] else 0
                peak = peak_rss_mib(server.pid) or 0
                row["peak_rss_life_mib"] = max(life, peak)
                if reset:
                    row["peak_rss_mib"] = peak
                # the uploads are really there
                listing = json_call(server.port, "GET", f"/{USER}/up/benchup00")
                if listing.status == 200 and isinstance(listing.json(), dict):
                    versions = listing.json().get("result") or {}
                    row["check"] = f"{len(versions)} versions of benchup00"
            except BenchError as error:
                log(f"upload: {name} {mode}: {error}")
                row["error"] = str(error)
            finally:
                if server is not None:
                    procs.stop(server.proc)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------
# mirror benchmark

MIRROR = "root/up"
MANY, HUGE, BIG = "bench-many", "bench-huge", "bench-big"
NGINX = "nginx"
#: how each step's page is requested (wrk sends no Accept: both servers answer HTML)
MIRROR_PAGES = {MANY: "many.html", HUGE: "huge.html"}
JSON_V1_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass
class Upstream:
    proc: subprocess.Popen[Any]
    port: int
    logfile: Path
    info: dict[str, Any]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/simple/"

    def stats(self) -> dict[str, int]:
        try:
            reply = fetch(self.port, "GET", "/_stats", timeout=10)
            data = reply.json()
            return data if isinstance(data, dict) else {}
        except OSError:
            return {}


def upstream_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    keys = ("list", "page", "file", "metadata", "not_modified", "not_found", "requests")
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys
            if after.get(k, 0) - before.get(k, 0)}


def describe_upstream(delta: dict[str, int]) -> str:
    if not delta:
        return "no upstream requests"
    parts = [f"{v} {k}" for k, v in delta.items() if k != "requests"]
    return f"{delta.get('requests', 0)} upstream requests ({', '.join(parts)})"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def start_fake_pypi(procs: Procs, cfg: Config, extra: tuple[str, ...] = ()) -> Upstream:
    """bench/fake_pypi.py on a free port, with C{extra} options."""
    port = free_port()
    logfile = procs.tmp / "fake-pypi.log"
    argv = [sys.executable, str(HERE / "fake_pypi.py"), "--port", str(port),
            "--list-size", str(cfg.list_size), "--projects", str(cfg.mirror_projects), *extra]
    if not cfg.core_metadata:
        argv.append("--no-core-metadata")
    proc = procs.spawn(argv, logfile=logfile)
    deadline = time.monotonic() + cfg.start_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"fake PyPI exited with {proc.returncode}:\n{tail(logfile)}")
        try:
            reply = fetch(port, "GET", "/_info", timeout=5)
            if reply.status == 200 and isinstance(reply.json(), dict):
                return Upstream(proc, port, logfile, reply.json())
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"fake PyPI not ready after {cfg.start_timeout}s:\n{tail(logfile)}")


def log_mark(server: Server) -> int:
    try:
        return server.logfile.stat().st_size
    except OSError:
        return 0


_LOG_TROUBLE = re.compile(r"error|traceback|exception|fail|critical|warn|refus|timeout|"
                          r"timed out|\b[45]\d\d\b", re.I)


def log_since(server: Server, mark: int, lines: int = 15) -> str:
    """The server's log lines since mark that look like trouble (else the last ones)."""
    try:
        with open(server.logfile, "rb") as f:
            f.seek(mark)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    all_lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    picked = [line for line in all_lines if _LOG_TROUBLE.search(line)] or all_lines
    picked = picked[-lines:]
    if not picked:
        return "(log: nothing new)"
    return "\n".join("      log| " + line[:400] for line in picked)


def step_error(server: Server, mark: int, what: str) -> str:
    alive = "" if server.alive() else f" (server exited with {server.proc.returncode})"
    return f"{what}{alive}\n{log_since(server, mark)}"


def setup_mirror(server: Server, upstream: Upstream) -> None:
    """Login as root (empty password) and PUT root/up, a mirror of the fake upstream."""
    reply = json_call(server.port, "POST", "/+login", {"user": "root", "password": ""})
    token = None
    if reply.status == 200 and isinstance(reply.json(), dict):
        token = (reply.json().get("result") or {}).get("password")
    if not token:
        raise BenchError(f"login as root: HTTP {reply.status} {reply.snippet()}")
    reply = json_call(server.port, "PUT", f"/{MIRROR}",
                      {"type": "mirror", "mirror_url": upstream.url},
                      auth=devpi_auth("root", token))
    if reply.status not in (200, 201):
        raise BenchError(f"creating mirror index {MIRROR}: HTTP {reply.status} "
                         f"{reply.snippet()}")


def timed_get(server: Server, path: str, timeout: float = 120.0,
              headers: Optional[dict[str, str]] = None) -> tuple[Reply, float]:
    start = time.monotonic()
    try:
        reply = fetch(server.port, "GET", path, headers=headers, timeout=timeout)
    except OSError as error:
        raise BenchError(f"GET {path}: {error!r} after {time.monotonic() - start:.1f}s")
    return reply, time.monotonic() - start


def rss_now(server: Server) -> dict[str, Optional[float]]:
    st = proc_status(server.pid)
    return {"rss_mib": round(st["VmRSS"] / 1024, 1) if "VmRSS" in st else None,
            "hwm_mib": round(st["VmHWM"] / 1024, 1) if "VmHWM" in st else None}


def mirror_list(server: Server, upstream: Upstream, mem: dict[str, Any]) -> None:
    """GET the mirror's project list (the upstream's full list) twice; RSS after."""
    path = f"/{MIRROR}/+simple/"
    mem["hwm_start_life_mib"] = rss_now(server)["hwm_mib"]
    mem["rss_start_mib"] = rss_now(server)["rss_mib"]
    reset = reset_peak_rss(server.pid)
    before = upstream.stats()
    mark = log_mark(server)
    reply, cold = timed_get(server, path, timeout=300)
    if reply.status != 200:
        raise BenchError(step_error(server, mark, f"GET {path}: HTTP {reply.status} "
                                                  f"{reply.snippet()}"))
    mem["list_cold_s"] = round(cold, 3)
    mem["listed"] = reply.body.count(b"<a ")
    mem["list_bytes"] = len(reply.body)
    reply, warm = timed_get(server, path, timeout=300)
    mem["list_warm_s"] = round(warm, 3) if reply.status == 200 else None
    del reply
    mem["list_upstream"] = describe_upstream(upstream_delta(before, upstream.stats()))
    now = rss_now(server)
    mem["rss_after_list_mib"] = now["rss_mib"]
    if reset:
        mem["hwm_list_mib"] = now["hwm_mib"]
    mem["hwm_life_mib"] = max(x for x in (now["hwm_mib"], mem["hwm_start_life_mib"], 0)
                              if x is not None)


def mirror_page(procs: Procs, cfg: Config, server: Server, upstream: Upstream,
                project: str, pages: dict[str, tuple[str, bytes, str]]) -> dict[str, Any]:
    """The cold fetch of a mirrored page, then wrk on it (warm)."""
    path = f"/{MIRROR}/+simple/{project}/"
    expected = upstream.info["projects"][project]["files"]
    mark = log_mark(server)
    before = upstream.stats()
    reply, cold = timed_get(server, path)
    if reply.status != 200:
        raise BenchError(step_error(server, mark, f"GET {path} (cold): HTTP {reply.status} "
                                                  f"{reply.snippet()}"))
    links = len(re.findall(rb"<a\s", reply.body))
    note = f"{len(reply.body)} B, {links} links"
    if links != expected:
        note += f" (expected {expected}!)"
    cold_up = upstream_delta(before, upstream.stats())
    if project not in pages or server.name == TWISTED:
        pages[project] = (f"{server.name}'s page", reply.body,
                          reply.headers.get("content-type", "text/html; charset=utf-8"))
    log(f"mirror: {server.name}: {path}: {note}, cold {cold * 1000:.0f} ms; "
        f"wrk {cfg.duration}s")
    before = upstream.stats()
    res = measure(procs, cfg, server, server.port, path)
    during = upstream_delta(before, upstream.stats())
    if during:
        note += f"; during wrk: {describe_upstream(during)}"
    return {"cold_ms": round(cold * 1000, 1), "bytes": len(reply.body), "links": links,
            "cold_upstream": describe_upstream(cold_up), "note": note, **res}


def mirror_file(procs: Procs, cfg: Config, server: Server, upstream: Upstream
                ) -> dict[str, Any]:
    """The 1 MiB wheel: its link on the mirror's page, one download, then wrk."""
    big = upstream.info["big"]
    page_path = f"/{MIRROR}/+simple/{BIG}/"
    mark = log_mark(server)
    reply, _ = timed_get(server, page_path)
    if reply.status != 200:
        raise BenchError(step_error(server, mark, f"GET {page_path}: HTTP {reply.status} "
                                                  f"{reply.snippet()}"))
    m = re.search(rb'href="([^"]*' + re.escape(big["filename"].encode()) + rb')[^"]*"',
                  reply.body)
    if not m:
        raise BenchError(f"no link to {big['filename']} on {page_path}: "
                         f"{reply.body[:300]!r}")
    url = urlsplit(urljoin(f"http://{HOST}:{server.port}{page_path}",
                           unescape(m.group(1).decode())))
    path = url.path + (f"?{url.query}" if url.query else "")
    if url.netloc != f"{HOST}:{server.port}":
        raise BenchError(f"file link points elsewhere: {url.geturl()}")
    before = upstream.stats()
    mark = log_mark(server)
    reply, cold = timed_get(server, path)
    if reply.status != 200:
        raise BenchError(step_error(server, mark, f"GET {path} (first download): HTTP "
                                                  f"{reply.status} {reply.snippet()}"))
    digest = hashlib.sha256(reply.body).hexdigest()
    if digest != big["sha256"] or len(reply.body) != big["size"]:
        raise BenchError(f"GET {path}: {len(reply.body)} B with sha256 {digest}, expected "
                         f"{big['size']} B with {big['sha256']}")
    cold_up = upstream_delta(before, upstream.stats())
    log(f"mirror: {server.name}: {path}: first download {cold * 1000:.0f} ms; "
        f"wrk {cfg.duration}s")
    before = upstream.stats()
    res = measure(procs, cfg, server, server.port, path)
    note = f"{len(reply.body)} B"
    during = upstream_delta(before, upstream.stats())
    if during:
        note += f"; during wrk: {describe_upstream(during)}"
    res["mib_s"] = round(res["rps"] * big["size"] / 2**20, 1)
    return {"cold_ms": round(cold * 1000, 1), "bytes": len(reply.body), "path": path,
            "cold_upstream": describe_upstream(cold_up), "note": note, **res}


def installer_env(home: Path) -> dict[str, str]:
    """Like tests/e2e/support.py: no pip/devpi/uv configuration, no proxies."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("PIP_", "DEVPI_", "VIRTUAL_ENV", "UV_", "XDG_",
                                        "TWINE_", "PYTHON"))
           and not k.lower().endswith("_proxy")}
    env.update(HOME=str(home), PIP_CONFIG_FILE=os.devnull, NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", UV_NO_CONFIG="1")
    return env


def pip_python(cfg: Config) -> Path:
    return cfg.devpi_venv / "bin" / "python"


def pip_install(procs: Procs, cfg: Config, server: Server, upstream: Upstream,
                label: str) -> dict[str, Any]:
    """pip install the chain's root into a fresh venv (no pip in it, no pip cache)."""
    chain = upstream.info["chain"]
    python = str(pip_python(cfg))
    venv = procs.mkdtemp(f"venv-{server.name}-{label}")
    rc, out = procs.run([python, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    if rc != 0:
        raise BenchError(f"python -m venv failed ({rc}): {out[-500:]}")
    home = procs.mkdtemp("home")
    argv = [python, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
            "--no-cache-dir", "--disable-pip-version-check", "--no-input",
            "--progress-bar", "off", "--index-url",
            f"http://{HOST}:{server.port}/{MIRROR}/+simple/", chain["root"]]
    before = upstream.stats()
    mark = log_mark(server)
    start = time.monotonic()
    rc, out = procs.run(argv, timeout=cfg.pip_timeout, env=installer_env(home), cwd=home)
    elapsed = time.monotonic() - start
    delta = upstream_delta(before, upstream.stats())
    if rc != 0:
        pip_lines = [line for line in out.splitlines() if line.strip()][-8:]
        raise BenchError(step_error(
            server, mark, f"pip install {chain['root']} ({label}) failed ({rc}) after "
            f"{elapsed:.1f}s:\n" + "\n".join("      pip| " + line for line in pip_lines)))
    script = ("import importlib.metadata as m, json, re;"
              "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version"
              " for d in m.distributions()}))")
    rc, out = procs.run([str(venv / "bin" / "python"), "-I", "-c", script], timeout=60)
    installed = json.loads(out) if rc == 0 else {}
    good = sum(1 for n in chain["names"] if installed.get(n) == chain["version"])
    return {"seconds": round(elapsed, 2), "installed": good, "expected": len(chain["names"]),
            "upstream": describe_upstream(delta), "load1": loadavg().split()[0]}


def write_nginx_conf(directory: Path, docroot: Path, port: int) -> Path:
    user = ""
    if os.geteuid() == 0:
        import grp
        import pwd
        user = (f"user {pwd.getpwuid(os.getuid()).pw_name} "
                f"{grp.getgrgid(os.getgid()).gr_name};\n")
    temp = {k: directory / k for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for d in temp.values():
        d.mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(f"""# generated by bench/run.py mirror
{user}worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    types {{ text/html html; application/octet-stream whl; }}
    default_type application/octet-stream;
    charset utf-8;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    server {{
        listen {HOST}:{port};
        root {docroot};
    }}
}}
""")
    return conf


def bench_nginx(procs: Procs, cfg: Config, pages: dict[str, tuple[str, bytes, str]],
                bigfile: Optional[bytes]) -> list[dict[str, Any]]:
    nginx = shutil.which(cfg.nginx) or cfg.nginx
    if not os.path.exists(nginx):
        return [{"figure": fig, "server": NGINX, "error": f"{cfg.nginx} not found "
                 "(bash bench/setup.sh installs it)"} for fig in ("many", "huge", "file")]
    directory = procs.mkdtemp("nginx")
    docroot = directory / "www"
    docroot.mkdir()
    os.chmod(directory, 0o755)
    targets: dict[str, tuple[str, str, int]] = {}  # figure -> path, note, size
    for fig, project in (("many", MANY), ("huge", HUGE)):
        if project in pages:
            source, body, _ = pages[project]
            (docroot / MIRROR_PAGES[project]).write_bytes(body)
            targets[fig] = (f"/{MIRROR_PAGES[project]}", f"{len(body)} B of {source}",
                            len(body))
    if bigfile is not None:
        (docroot / "big.whl").write_bytes(bigfile)
        targets["file"] = ("/big.whl", f"{len(bigfile)} B", len(bigfile))
    if not targets:
        return [{"figure": "many", "server": NGINX, "error": "nothing to serve"}]
    port = free_port()
    conf = write_nginx_conf(directory, docroot, port)
    logfile = directory / "nginx.out"
    proc = procs.spawn([nginx, "-p", str(directory), "-c", str(conf), "-e",
                        str(directory / "error.log")], logfile=logfile)
    server = Server(NGINX, port, proc, logfile)
    rows: list[dict[str, Any]] = []
    try:
        first = next(iter(targets.values()))[0]
        deadline = time.monotonic() + cfg.start_timeout
        while True:
            if not server.alive():
                raise BenchError(f"nginx exited: {tail(logfile)} {tail(directory / 'error.log')}")
            try:
                if fetch(port, "GET", first, timeout=5).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"nginx not ready: {tail(directory / 'error.log')}")
            time.sleep(0.1)
        log(f"mirror: {NGINX} (1 worker) on port {port}")
        for fig, (path, note, size) in targets.items():
            try:
                res = measure(procs, cfg, None, port, path)
                if fig == "file":
                    res["mib_s"] = round(res["rps"] * size / 2**20, 1)
                rows.append({"figure": fig, "server": NGINX, "note": note, **res})
            except BenchError as error:
                rows.append({"figure": fig, "server": NGINX, "error": str(error)})
    except BenchError as error:
        rows.append({"figure": "many", "server": NGINX, "error": str(error)})
    finally:
        procs.stop(proc)
    return rows


def measure_ceiling(procs: Procs, cfg: Config, body: bytes, ctype: str, path: str,
                    label: str) -> dict[str, Any]:
    """wrk on bench/ceiling.py serving body (the project venv's Twisted)."""
    python = ceiling_python(cfg)
    if python is None:
        raise BenchError(f"no Python with Twisted next to {cfg.twistd}")
    bodyfile = procs.tmp / f"ceiling-body-{label}"
    bodyfile.write_bytes(body)
    port = free_port()
    logfile = procs.tmp / f"ceiling-{label}.log"
    proc = procs.spawn([python, str(HERE / "ceiling.py"), "--port", str(port), "--body",
                        str(bodyfile), "--content-type", ctype], logfile=logfile)
    server = Server(CEILING, port, proc, logfile)
    try:
        deadline = time.monotonic() + cfg.start_timeout
        while True:
            if not server.alive():
                raise BenchError(f"ceiling exited: {tail(logfile)}")
            try:
                if fetch(port, "GET", path, timeout=5).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("ceiling not ready")
            time.sleep(0.1)
        return measure(procs, cfg, server, port, path)
    finally:
        procs.stop(proc)


def bench_mirror(procs: Procs, cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"load_before": loadavg(), "rows": [], "memory": []}
    rows: list[dict[str, Any]] = out["rows"]
    log(f"mirror: generating the fake upstream ({cfg.list_size} names listed)")
    upstream = start_fake_pypi(procs, cfg)
    out["upstream"] = {k: upstream.info.get(k) for k in
                       ("list_size", "list_bytes", "named_projects", "big", "last_serial")}
    log(f"mirror: fake upstream on {upstream.url}")
    pages: dict[str, tuple[str, bytes, str]] = {}
    bigfile: Optional[bytes] = None
    try:
        for name in cfg.servers:
            mem: dict[str, Any] = {"server": name}
            out["memory"].append(mem)
            # instance A: project list, the two pages and the file
            server = None
            try:
                log(f"mirror: starting {name}")
                server = STARTERS[name](procs, cfg, "mirror", online=True)
                setup_mirror(server, upstream)
                try:
                    log(f"mirror: {name}: loading the project list")
                    mirror_list(server, upstream, mem)
                    log(f"mirror: {name}: {mem.get('listed')} names in "
                        f"{mem.get('list_cold_s')} s, RSS {mem.get('rss_after_list_mib')} MiB")
                except BenchError as error:
                    mem["error"] = str(error)
                    log(f"mirror: {name}: project list: {error}")
                for fig, project in (("many", MANY), ("huge", HUGE)):
                    row: dict[str, Any] = {"figure": fig, "server": name}
                    try:
                        row.update(mirror_page(procs, cfg, server, upstream, project, pages))
                    except BenchError as error:
                        row["error"] = str(error)
                        log(f"mirror: {name}: {project}: {error}")
                    rows.append(row)
                row = {"figure": "file", "server": name}
                try:
                    row.update(mirror_file(procs, cfg, server, upstream))
                    if bigfile is None:
                        bigfile = fetch(server.port, "GET", row["path"], timeout=60).body
                except BenchError as error:
                    row["error"] = str(error)
                    log(f"mirror: {name}: file: {error}")
                rows.append(row)
                now = rss_now(server)
                mem["rss_end_mib"] = now["rss_mib"]
                mem["hwm_end_life_mib"] = now["hwm_mib"]
            except BenchError as error:
                log(f"mirror: {name}: {error}")
                for fig in ("many", "huge", "file"):
                    if not any(r["figure"] == fig and r["server"] == name for r in rows):
                        rows.append({"figure": fig, "server": name, "error": str(error)})
                mem.setdefault("error", str(error))
            finally:
                if server is not None:
                    procs.stop(server.proc)
            # instance B: cold, then warm pip install on a fresh server
            row = {"figure": "pip", "server": name}
            server = None
            try:
                server = STARTERS[name](procs, cfg, "mirror-pip", online=True)
                setup_mirror(server, upstream)
                for label in ("cold", "warm"):
                    log(f"mirror: {name}: pip install {upstream.info['chain']['root']} "
                        f"({label})")
                    res = pip_install(procs, cfg, server, upstream, label)
                    row.update({f"{label}_{k}": v for k, v in res.items()})
                now = rss_now(server)
                mem["pip_rss_mib"] = now["rss_mib"]
                mem["pip_hwm_life_mib"] = now["hwm_mib"]
            except BenchError as error:
                row["error"] = str(error)
                log(f"mirror: {name}: pip: {error}")
            finally:
                if server is not None:
                    procs.stop(server.proc)
            rows.append(row)
        if bigfile is None:
            reply = fetch(upstream.port, "GET", "/simple/bench-big/",
                          headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            url = (reply.json() or {}).get("files", [{}])[0].get("url", "")
            if url:
                bigfile = fetch(upstream.port, "GET", url.split(str(upstream.port), 1)[1]).body
        rows += bench_nginx(procs, cfg, pages, bigfile)
        for fig, project in (("many", MANY), ("huge", HUGE)):
            if project not in pages:
                rows.append({"figure": fig, "server": CEILING, "error": "no page to serve"})
                continue
            source, body, ctype = pages[project]
            log(f"mirror: {CEILING}: {len(body)} B of {source}")
            try:
                res = measure_ceiling(procs, cfg, body, ctype,
                                      f"/{MIRROR}/+simple/{project}/", fig)
                rows.append({"figure": fig, "server": CEILING,
                             "note": f"{len(body)} B of {source}", **res})
            except BenchError as error:
                rows.append({"figure": fig, "server": CEILING, "error": str(error)})
    finally:
        procs.stop(upstream.proc)
    out["load_after"] = loadavg()
    return out


# --------------------------------------------------------------------------
# report


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def print_table(title: str, header: list[str], rows: list[list[str]],
                notes: list[str]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    print()
    print(title)
    line = "  ".join(h.ljust(w) if i < 2 else h.rjust(w)
                     for i, (h, w) in enumerate(zip(header, widths)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    for n in notes:
        print(f"  * {n}")
    sys.stdout.flush()


RSS_NOTES = [
    "RSS in MiB of the server process: 'peak run' is VmHWM during the measured run "
    "(reset before it via /proc/PID/clear_refs), 'peak life' is VmHWM since start "
    "(setup, logins and warm-up included)",
]


def report_simple(cfg: Config, rows: list[dict[str, Any]]) -> None:
    def find(server: str, variant: str = "GET") -> Optional[dict[str, Any]]:
        return next((r for r in rows if r["server"] == server and r["variant"] == variant
                     and "rps" in r), None)

    devpi = find(DEVPI)
    ceiling = find(CEILING)
    table, notes = [], []
    for r in rows:
        if "error" in r:
            table.append([r["server"], r["variant"], "n/a"] + ["-"] * 8)
            notes.append(f"{r['server']} {r['variant']}: {r['error'].splitlines()[0]}")
            continue
        ceil = find(CEILING, r["variant"]) or ceiling
        errs = r.get("socket_errors", 0) + r.get("bad_status", 0)
        table.append([
            r["server"], r["variant"], _fmt(r["rps"]), _fmt(r.get("p50"), ".2f"),
            _fmt(r.get("p99"), ".2f"), str(errs), _fmt(r.get("server_cpu_s"), ".1f"),
            _fmt(r.get("peak_rss_mib"), ".0f"), _fmt(r.get("peak_rss_life_mib"), ".0f"),
            _ratio(r["rps"], devpi["rps"] if devpi else None),
            _ratio(r["rps"], ceil["rps"] if ceil else None),
        ])
        if r.get("note"):
            notes.append(f"{r['server']} {r['variant']}: {r['note']}")
    print_table(
        f"simple page GET /{USER}/{CHAIN[-1]}/+simple/{PROJECT}/ "
        f"(3-level chain, {cfg.versions} versions x wheel+sdist; "
        f"wrk -t{cfg.threads} -c{cfg.connections} -d{cfg.duration}s, "
        f"{cfg.warmup}s warm-up)",
        ["server", "variant", "req/s", "p50 ms", "p99 ms", "errors", "srv cpu s",
         "RSS peak run", "RSS peak life", "vs devpi-server", "vs ceiling"],
        table, notes + RSS_NOTES)


def report_upload(cfg: Config, rows: list[dict[str, Any]]) -> None:
    base = {r["auth"]: r.get("rate") for r in rows if r["server"] == DEVPI and r.get("rate")}
    table, notes = [], []
    for r in rows:
        if "error" in r:
            table.append([r["server"], r["auth"], "n/a"] + ["-"] * 7)
            notes.append(f"{r['server']} {r['auth']}: {r['error'].splitlines()[0]}")
            continue
        per = r["elapsed_s"] / r["ok"] * 1000 if r["ok"] else None
        table.append([
            r["server"], r["auth"], _fmt(r.get("rate")), f"{r['ok']}/{cfg.uploads}",
            _fmt(per, ".1f"), _fmt(r.get("server_cpu_s"), ".1f"),
            _fmt(r.get("rss_before_mib"), ".0f"), _fmt(r.get("peak_rss_mib"), ".0f"),
            _fmt(r.get("peak_rss_life_mib"), ".0f"),
            _ratio(r.get("rate"), base.get(r["auth"])),
        ])
        if r.get("first_error"):
            notes.append(f"{r['server']} {r['auth']}: {r['errors']} errors, first: "
                         f"{r['first_error']}")
        if r.get("check"):
            notes.append(f"{r['server']} {r['auth']}: check: {r['check']}")
    print_table(
        f"upload: {cfg.uploads} sequential legacy uploads (~1.5 KiB wheels, "
        f"20 projects) over one keep-alive connection, fresh server each",
        ["server", "auth", "uploads/s", "ok", "ms/upload", "srv cpu s", "RSS start",
         "RSS peak run", "RSS peak life", "vs devpi-server"],
        table, notes + RSS_NOTES)


def _note_lines(label: str, text: str) -> list[str]:
    lines = text.splitlines() or [""]
    return [f"{label}: {lines[0]}"] + [f"    {line.strip()}" for line in lines[1:]]


def report_mirror(cfg: Config, res: dict[str, Any]) -> None:
    rows = res["rows"]
    up = res.get("upstream") or {}
    wrk = (f"wrk -t{cfg.threads} -c{cfg.connections} -d{cfg.duration}s after one fetch "
           f"and a {cfg.warmup}s warm-up")

    def find(fig: str, server: str) -> Optional[dict[str, Any]]:
        return next((r for r in rows if r["figure"] == fig and r["server"] == server
                     and "error" not in r), None)

    def value(fig: str, server: str, key: str) -> Optional[float]:
        r = find(fig, server)
        return r.get(key) if r else None

    order = [s for s in (DEVPI, TWISTED) if s in cfg.servers] + [NGINX, CEILING]
    common_notes = [f"load average before/after the mirror run: {res.get('load_before')} / "
                    f"{res.get('load_after')}; 'load': the 1-minute load average right "
                    f"after that row's wrk run ({os.cpu_count()} cpus; wrk and the server "
                    "alone make about 2, more means something else was running)"]

    for fig, project, title in (
        ("many", MANY, "warm mirror simple page"),
        ("huge", HUGE, "the 1000-file project page"),
    ):
        table, notes = [], []
        for server in order:
            r = next((x for x in rows if x["figure"] == fig and x["server"] == server), None)
            if r is None:
                continue
            if "error" in r:
                table.append([server, "n/a"] + ["-"] * 10)
                notes += _note_lines(f"{server}", r["error"])
                continue
            errs = r.get("socket_errors", 0) + r.get("bad_status", 0)
            table.append([
                server, _fmt(r["rps"]), _fmt(r.get("p50"), ".2f"), _fmt(r.get("p99"), ".2f"),
                str(errs), _fmt(r.get("server_cpu_s"), ".1f"), _fmt(r.get("cold_ms"), ".0f"),
                _ratio(r["rps"], value(fig, DEVPI, "rps")),
                _ratio(r["rps"], value(fig, NGINX, "rps")),
                _ratio(r["rps"], value(fig, CEILING, "rps")), r.get("load1", "-"),
                r.get("note", "").split(";")[0],
            ])
            if r.get("cold_upstream") and server in (DEVPI, TWISTED):
                notes.append(f"{server}: cold fetch: {r['cold_upstream']}")
            if ";" in r.get("note", ""):
                notes.append(f"{server}: {r['note'].split(';', 1)[1].strip()}")
        if fig == "huge":
            ratio = None
            d, t = value(fig, DEVPI, "rps"), value(fig, TWISTED, "rps")
            if d and t:
                ratio = t / d
                notes.append(f"issue target: devpi-twisted >= 100x devpi-server: "
                             f"{ratio:.0f}x, {'met' if ratio >= 100 else 'NOT met'}")
        print_table(
            f"mirror {fig}: {title}, GET /{MIRROR}/+simple/{project}/ "
            f"({up.get('named_projects', '?')} projects upstream; {wrk})",
            ["server", "req/s", "p50 ms", "p99 ms", "errors", "srv cpu s", "cold ms",
             "vs devpi-server", "vs nginx", "vs ceiling", "load", "page"],
            table, notes + ["'cold ms': the first GET, which fetches the page from the "
                            "fake upstream; nginx (1 worker, sendfile, access log on) and "
                            "the twisted.web ceiling serve the same bytes from a file and "
                            "from memory"] + common_notes)

    # the file
    big = up.get("big") or {}
    table, notes = [], []
    for server in [s for s in order if s != CEILING]:
        r = next((x for x in rows if x["figure"] == "file" and x["server"] == server), None)
        if r is None:
            continue
        if "error" in r:
            table.append([server, "n/a"] + ["-"] * 9)
            notes += _note_lines(server, r["error"])
            continue
        errs = r.get("socket_errors", 0) + r.get("bad_status", 0)
        table.append([
            server, _fmt(r.get("mib_s")), _fmt(r["rps"]), _fmt(r.get("p50"), ".2f"),
            _fmt(r.get("p99"), ".2f"), str(errs), _fmt(r.get("server_cpu_s"), ".1f"),
            _fmt(r.get("cold_ms"), ".0f"),
            _ratio(r.get("mib_s"), value("file", DEVPI, "mib_s")),
            _ratio(r.get("mib_s"), value("file", NGINX, "mib_s")), r.get("load1", "-"),
        ])
        if r.get("cold_upstream") and server in (DEVPI, TWISTED):
            notes.append(f"{server}: first download: {r['cold_upstream']}")
        if ";" in r.get("note", ""):
            notes.append(f"{server}: {r['note'].split(';', 1)[1].strip()}")
    print_table(
        f"mirror file: a cached {big.get('size', 0) / 2**20:.2f} MiB wheel "
        f"({big.get('filename', '?')}) from /{MIRROR}/+f/... ({wrk})",
        ["server", "MiB/s", "req/s", "p50 ms", "p99 ms", "errors", "srv cpu s",
         "first ms", "vs devpi-server", "vs nginx", "load"],
        table, notes + ["MiB/s = req/s x file size; 'first ms': the first download, "
                        "which fetches the file from the fake upstream"] + common_notes)

    # pip
    table, notes = [], []
    for server in (s for s in order if s in (DEVPI, TWISTED)):
        r = next((x for x in rows if x["figure"] == "pip" and x["server"] == server), None)
        if r is None:
            continue
        if "error" in r:
            cold = r.get("cold_seconds")
            table.append([server, _fmt(cold, ".2f"), "n/a", "-", "-", "-", "-"])
            notes += _note_lines(server, r["error"])
            continue
        dcold = value("pip", DEVPI, "cold_seconds")
        dwarm = value("pip", DEVPI, "warm_seconds")
        table.append([
            server, _fmt(r.get("cold_seconds"), ".2f"), _fmt(r.get("warm_seconds"), ".2f"),
            f"{r.get('cold_installed')}/{r.get('cold_expected')}",
            _ratio(dcold, r.get("cold_seconds")), _ratio(dwarm, r.get("warm_seconds")),
            f"{r.get('cold_load1', '-')}/{r.get('warm_load1', '-')}",
        ])
        notes.append(f"{server}: cold: {r.get('cold_upstream')}; warm: "
                     f"{r.get('warm_upstream')}")
    print_table(
        f"mirror pip: pip install bench-chain-00 (a chain of 20 wheels) into a fresh venv "
        f"through /{MIRROR}/+simple/, fresh server and serverdir",
        ["server", "cold s", "warm s", "installed", "speed-up cold", "speed-up warm",
         "load"],
        table, notes + [
            "wall time of `python -m pip --python VENV install --no-cache-dir --index-url "
            "...` (pip 23 from the devpi-server venv, env scrubbed); 'warm' repeats it into "
            "another fresh venv with the mirror's cache filled; speed-up = devpi-server's "
            "time / this server's time",
            ("the fake upstream offers PEP 658 metadata for its wheels: pip then fetches "
             "page, metadata and wheel of each package through a mirror that passes it on "
             "(three cold upstream fetches), page and wheel through one that does not "
             "(the wheels are ~1 KiB, so metadata saves nothing here); --no-core-metadata "
             "switches it off" if cfg.core_metadata else
             "the fake upstream offers no PEP 658 metadata (--no-core-metadata)"),
        ] + common_notes)

    # memory
    table, notes = [], []
    dmem = next((m for m in res.get("memory", []) if m["server"] == DEVPI), {})
    for m in res.get("memory", []):
        table.append([
            m["server"], _fmt(m.get("rss_start_mib"), ".0f"),
            _fmt(m.get("list_cold_s"), ".3f"), _fmt(m.get("list_warm_s"), ".3f"),
            _fmt(m.get("listed"), "d"),
            _fmt(m.get("rss_after_list_mib"), ".0f"), _fmt(m.get("hwm_list_mib"), ".0f"),
            _fmt(m.get("rss_end_mib"), ".0f"), _fmt(m.get("hwm_end_life_mib"), ".0f"),
            _fmt(m.get("pip_rss_mib"), ".0f"), _fmt(m.get("pip_hwm_life_mib"), ".0f"),
            _ratio(m.get("rss_after_list_mib"), dmem.get("rss_after_list_mib")),
        ])
        if m.get("list_upstream"):
            notes.append(f"{m['server']}: list: {m['list_upstream']}, "
                         f"{_fmt(m.get('list_bytes'), 'd')} B of HTML served")
        if m.get("error"):
            notes += _note_lines(m["server"], m["error"])
    print_table(
        f"mirror memory: RSS in MiB (VmRSS / VmHWM from /proc/PID/status) around "
        f"GET /{MIRROR}/+simple/ with {up.get('list_size', '?')} names upstream "
        f"({(up.get('list_bytes') or {}).get(JSON_V1_TYPE, 0) / 2**20:.1f} MiB as JSON)",
        ["server", "RSS start", "list cold s", "list warm s", "names", "RSS list",
         "HWM list", "RSS end", "HWM life", "RSS pip", "HWM pip", "RSS list vs devpi"],
        table, notes + [
            "'RSS start': the mirror index created, nothing fetched; 'RSS list' / 'HWM "
            "list': after two GETs of the project list (HWM reset just before via "
            "/proc/PID/clear_refs); 'RSS end' / 'HWM life': the same process after the "
            "page and file steps (HWM since start); 'RSS pip' / 'HWM pip': the fresh server "
            "of the pip step after both installs",
        ] + common_notes)


# --------------------------------------------------------------------------
# main


def default_twistd() -> Path:
    here = Path(sys.executable).parent / "twistd"
    return here if here.exists() else Path("/work/venv/bin/twistd")


def parse_args(argv: list[str]) -> tuple[str, Config]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["simple", "upload", "mirror", "all"])
    p.add_argument("--devpi-venv", type=Path,
                   default=Path(os.environ.get("BENCH_VENV", "/work/bench-venv")),
                   help="venv with devpi-server 6.20.3 and twine (bench/setup.sh) "
                        "[$BENCH_VENV or /work/bench-venv]")
    p.add_argument("--twistd", type=Path, default=default_twistd(),
                   help="twistd of the project's venv; its python runs the ceiling "
                        "[twistd next to this python, else /work/venv/bin/twistd]")
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    p.add_argument("--servers", default=f"{DEVPI},{TWISTED}",
                   help=f"comma separated subset of {DEVPI},{TWISTED}")
    p.add_argument("--threads", "-t", type=int, default=2, help="wrk threads [2]")
    p.add_argument("--connections", "-c", type=int, default=16, help="wrk connections [16]")
    p.add_argument("--duration", "-d", type=int, default=10, help="wrk seconds [10]")
    p.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds [2]")
    p.add_argument("--versions", type=int, default=10, help="benchpkg versions [10]")
    p.add_argument("--uploads", type=int, default=200, help="uploads per run [200]")
    p.add_argument("--upload-time-limit", type=float, default=180.0,
                   help="seconds at most per upload run [180]")
    p.add_argument("--start-timeout", type=float, default=90.0,
                   help="seconds a server may take to start [90]")
    p.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx",
                   help="nginx binary for the mirror benchmark's static reference")
    p.add_argument("--list-size", type=int, default=600_000,
                   help="names in the fake upstream's project list [600000]")
    p.add_argument("--mirror-projects", type=int, default=50,
                   help="extra small projects with pages on the fake upstream [50]")
    p.add_argument("--pip-timeout", type=float, default=300.0,
                   help="seconds one pip install may take [300]")
    p.add_argument("--no-core-metadata", action="store_true",
                   help="the fake upstream offers no PEP 658 metadata for its wheels")
    p.add_argument("--json", type=Path, default=None, help="also write raw results here")
    p.add_argument("--keep-tmp", action="store_true", help="keep serverdirs and logs")
    a = p.parse_args(argv)
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    for s in servers:
        if s not in STARTERS:
            p.error(f"unknown server {s!r}")
    bounds = [("--threads", a.threads, 1, 64), ("--connections", a.connections, 1, 1024),
              ("--duration", a.duration, 1, 300), ("--warmup", a.warmup, 0, 60),
              ("--versions", a.versions, 1, 200), ("--uploads", a.uploads, 1, 10000),
              ("--list-size", a.list_size, 0, 5_000_000),
              ("--mirror-projects", a.mirror_projects, 0, 10_000),
              ("--pip-timeout", a.pip_timeout, 10, 3600)]
    for flag, value, lo, hi in bounds:
        if not lo <= value <= hi:
            p.error(f"{flag} must be within {lo}..{hi}")
    cfg = Config(
        devpi_venv=a.devpi_venv, twistd=a.twistd, wrk=a.wrk, threads=a.threads,
        connections=a.connections, duration=a.duration, warmup=a.warmup,
        versions=a.versions, uploads=a.uploads, upload_time_limit=a.upload_time_limit,
        start_timeout=a.start_timeout, servers=servers, json_out=a.json,
        keep_tmp=a.keep_tmp, nginx=a.nginx, list_size=a.list_size,
        mirror_projects=a.mirror_projects, pip_timeout=a.pip_timeout,
        core_metadata=not a.no_core_metadata,
    )
    return a.command, cfg


def preflight(command: str, cfg: Config) -> None:
    missing = []
    if DEVPI in cfg.servers:
        for tool in ("devpi-init", "devpi-server"):
            if not (cfg.devpi_venv / "bin" / tool).exists():
                missing.append(str(cfg.devpi_venv / "bin" / tool))
    if command in ("simple", "all"):
        if not (cfg.devpi_venv / "bin" / "twine").exists():
            missing.append(str(cfg.devpi_venv / "bin" / "twine"))
    if command in ("simple", "mirror", "all") and not shutil.which(cfg.wrk):
        missing.append("wrk")
    if command in ("mirror", "all"):
        if not pip_python(cfg).exists():
            missing.append(f"{pip_python(cfg)} (runs pip in the mirror benchmark)")
        if not (shutil.which(cfg.nginx) or os.path.exists(cfg.nginx)):
            log(f"warning: no nginx ({cfg.nginx}): the mirror benchmark's nginx rows "
                "will read n/a")
    if TWISTED in cfg.servers and not cfg.twistd.exists():
        missing.append(str(cfg.twistd))
    if missing:
        raise SystemExit("bench: missing " + ", ".join(missing)
                         + " (run `bash bench/setup.sh`, or see --devpi-venv/--twistd)")
    if DEVPI in cfg.servers:
        try:
            out = subprocess.run(
                [str(cfg.devpi_venv / "bin" / "python"), "-c",
                 "import importlib.metadata as m; print(m.version('devpi-server'))"],
                capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = "unknown"
        if out != DEVPI_SERVER_VERSION:
            log(f"warning: {cfg.devpi_venv} has devpi-server {out or 'unknown'}, "
                f"not {DEVPI_SERVER_VERSION}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["replication"]:
        import replication  # bench/replication.py, with options of its own

        return replication.main(argv[1:])
    command, cfg = parse_args(argv)
    preflight(command, cfg)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)
    print(f"devpi-twisted benchmark: {platform.node()}, {os.cpu_count()} cpus, "
          f"Python {platform.python_version()}, devpi-server venv {cfg.devpi_venv}, "
          f"twistd {cfg.twistd}, load average {loadavg()}")
    procs = Procs(keep_tmp=cfg.keep_tmp)
    results: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               "cpus": os.cpu_count(), "load_start": loadavg()}
    try:
        if command in ("simple", "all"):
            results["simple"] = bench_simple(procs, cfg)
            report_simple(cfg, results["simple"])
        if command in ("upload", "all"):
            results["upload"] = bench_upload(procs, cfg)
            report_upload(cfg, results["upload"])
        if command in ("mirror", "all"):
            results["mirror"] = bench_mirror(procs, cfg)
            report_mirror(cfg, results["mirror"])
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    except SystemExit:
        log("terminated by a signal; cleaning up")
        raise
    finally:
        procs.close()
    if cfg.json_out:
        cfg.json_out.write_text(json.dumps(results, indent=2))
        log(f"raw results in {cfg.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
