"""Logs and metrics of the real command lines: `twistd -n devpi` and `twistd -ny devpi.tac`."""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any, Optional

import treq
from twisted.internet import reactor
from twisted.internet.error import ConnectError
from twisted.internet.task import deferLater

from tests.integration.test_twistd import TAC, TwistdTestCase, clean_environ, free_port

ROOT = {"Authorization": "Basic " + base64.b64encode(b"root:").decode()}


def records(output: bytes) -> list[dict[str, Any]]:
    """Every line of C{output} as a JSON object (failing on a line that is not one)."""
    return [json.loads(line) for line in output.decode().splitlines() if line.strip()]


class LoggingTests(TwistdTestCase):
    async def get(self, url: str, headers: Optional[dict[str, str]] = None) -> tuple[int, bytes]:
        response = await treq.get(url, headers=headers or {}, persistent=False)
        return response.code, await response.content()

    async def test_json_lines_with_access_events_and_the_metrics_page(self) -> None:
        process = self.twistd_devpi("--listen", "tcp:0:interface=127.0.0.1", "--log-format", "json")
        url = f"http://127.0.0.1:{await process.listening}"
        code, _ = await self.get(url + "/+api?password=hunter2", {**ROOT, "User-Agent": "pip/24"})
        self.assertEqual(code, 200)
        code, body = await self.get(url + "/+metrics")
        self.assertEqual(code, 200)
        metrics = body.decode()
        self.assertIn('devpi_requests_total{route="root_api",method="GET",status="200"} 1\n', metrics)
        self.assertIn('devpi_request_duration_seconds_count{route="root_api"} 1\n', metrics)
        for name in ("devpi_store_serial", "devpi_upstream_requests_total",
                     "devpi_upstream_errors_total", "devpi_page_cache_hits_total"):
            self.assertIn(f"\n# TYPE {name} ", metrics)
        self.assertStoppedGracefully(process, await self.stop(process))
        logged = records(process.output)
        [access, *_] = [r for r in logged if r["namespace"] == "devpi_twisted.access"]
        self.assertEqual(
            {k: access[k] for k in ("level", "method", "path", "status", "user", "agent", "route")},
            {"level": "info", "method": "GET", "path": "/+api?password=***", "status": 200,
             "user": "root", "agent": "pip/24", "route": "root_api"},
        )
        self.assertIsInstance(access["duration"], float)
        self.assertRegex(
            access["message"],
            r'^127\.0\.0\.1 root "GET /\+api\?password=\*\*\*" 200 \d+ [\d.]+m?s "pip/24"$',
        )
        self.assertIn("Server Shut Down.", [r["message"] for r in logged])
        self.assertNotIn(b"hunter2", process.output)

    async def test_log_level_applies_to_twisted_too_and_logfile_is_honoured(self) -> None:
        port, closed = free_port(), free_port()
        logfile = os.path.join(self.workdir, "devpi.log")
        process = self.spawn([
            "--logfile", logfile, "-n", "devpi", "--serverdir", self.serverdir,
            "--listen", f"tcp:{port}:interface=127.0.0.1",
            "--log-level", "warn", "--upstream-max-retries", "0",
        ])
        url = f"http://127.0.0.1:{port}"
        await self.wait_until_serving(url)
        response = await treq.put(
            url + "/root/down", json={"type": "mirror", "mirror_url": f"http://127.0.0.1:{closed}/simple/"},
            headers={**ROOT, "Accept": "application/json"}, persistent=False,
        )
        self.assertEqual(response.code, 200, await response.text())
        code, _ = await self.get(url + "/root/down/+simple/hello/")
        self.assertEqual(code, 502)
        process.transport.signalProcess("TERM")  # type: ignore[union-attr]
        await process.end()
        with open(logfile) as f:
            lines = f.read().splitlines()
        self.assertEqual(process.output, b"")
        [warning] = lines
        self.assertRegex(
            warning, rf"\[devpi_twisted#warn\] upstream 127\.0\.0\.1:{closed} is failing: "
        )

    async def wait_until_serving(self, url: str) -> None:
        for _ in range(200):
            try:
                await self.get(url + "/+api")
                return
            except ConnectError:
                await deferLater(reactor, 0.05)  # type: ignore[arg-type]
        self.fail(f"{url} not serving")

    async def test_tac_file_logs_json_when_told_by_the_environment(self) -> None:
        process = self.spawn(
            ["-ny", TAC],
            env=clean_environ(
                DEVPI_TWISTED_SERVERDIR=self.serverdir,
                DEVPI_TWISTED_LISTEN="tcp:0:interface=127.0.0.1",
                DEVPI_TWISTED_LOG_FORMAT="json",
            ),
        )
        port = await process.listening
        self.assertStoppedGracefully(process, await self.stop(process))
        logged = records(process.output)
        self.assertIn(
            ("GET", "/+api", 200),
            [(r.get("method"), r.get("path"), r.get("status")) for r in logged],
        )
        self.assertTrue(any(re.search(f"listening on 127.0.0.1:{port}", r["message"]) for r in logged))
