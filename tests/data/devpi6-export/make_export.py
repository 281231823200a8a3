"""Make this folder's export with devpi-server 6 (see README); not a test module."""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
from tests.dists.archives import make_doc_zip, make_sdist, make_wheel  # noqa: E402

BENCH = sys.argv[1] if len(sys.argv) > 1 else "/work/bench-venv"
CLIENT = os.path.join(os.path.dirname(sys.executable), "devpi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    work = tempfile.mkdtemp(prefix="devpi6-export-")
    serverdir, clientdir = os.path.join(work, "server"), os.path.join(work, "client")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE="/dev/null", UV_NO_CONFIG="1")
    bench = lambda name, *args: subprocess.run(  # noqa: E731
        [os.path.join(BENCH, "bin", name), *args], check=True, env=env)
    devpi = lambda *args: subprocess.run(  # noqa: E731
        [CLIENT, "--clientdir", clientdir, *args], check=True, env=env)
    bench("devpi-init", "--serverdir", serverdir, "--root-passwd", "rootpw")
    port = free_port()
    server = subprocess.Popen(
        [os.path.join(BENCH, "bin", "devpi-server"), "--serverdir", serverdir,
         "--host", "127.0.0.1", "--port", str(port), "--offline-mode"], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/+api")
                break
            except OSError:
                time.sleep(0.2)
        devpi("use", url)
        devpi("user", "-c", "alice", "password=alicepw", "email=alice@example.com", "title=Alice")
        devpi("user", "-c", "bob", "password=bobpw")
        devpi("login", "alice", "--password", "alicepw")
        devpi("index", "-c", "alice/dev", "bases=root/pypi", "mirror_whitelist=Hello.Pkg",
              "title=Alice dev")
        devpi("index", "-c", "alice/prod", "bases=alice/dev", "volatile=False")
        devpi("index", "-c", "alice/mirror", "type=mirror",
              "mirror_url=http://127.0.0.1:9/simple/")
        files = os.path.join(work, "files")
        wheel = make_wheel(files, "Hello.Pkg", "1.0", requires_python=">=3.8",
                           summary="Hello")
        sdist = make_sdist(files, "Hello.Pkg", "1.0", requires_python=">=3.8",
                           summary="Hello")
        newer = make_wheel(files, "Hello.Pkg", "1.1", summary="Hello again")
        docs = make_doc_zip(files, {"index.html": b"<p>Hello docs</p>"},
                            "Hello.Pkg-1.0.doc.zip")
        devpi("upload", "--index", "alice/dev", wheel, sdist, newer)
        devpi("upload", "--index", "alice/dev", "--only-docs", docs)
        login = urllib.request.Request(
            url + "/+login", data=json.dumps({"user": "alice", "password": "alicepw"}).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"})
        token = json.load(urllib.request.urlopen(login))["result"]["password"]
        page = json.load(urllib.request.urlopen(urllib.request.Request(
            url + "/alice/dev/hello-pkg/1.0", headers={"Accept": "application/json"})))
        href = next(link["href"] for link in page["result"]["+links"]
                    if link["href"].endswith(".whl"))
        request = urllib.request.Request(
            href, data=json.dumps({"testenvs": {"py3": {"test": [{"retcode": 0}]}}}).encode(),
            headers={"Content-Type": "application/json",
                     "X-Devpi-Auth": base64.b64encode(
                         f"alice:{token}".encode()).decode()},
            method="POST")
        urllib.request.urlopen(request)
        devpi("push", "--index", "alice/dev", "Hello.Pkg==1.0", "alice/prod")
    finally:
        server.terminate()
        server.wait()
    for name in os.listdir(HERE):
        if name not in ("README.md", "make_export.py"):
            path = os.path.join(HERE, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    export = os.path.join(work, "export")
    bench("devpi-export", "--serverdir", serverdir, export)
    shutil.copytree(export, HERE, dirs_exist_ok=True)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
