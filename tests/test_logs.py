"""Log observers (level filter, text or JSON lines), twistd's log destination, and structured events."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import sys
from typing import Any

from twisted.application.service import Application, IServiceCollection
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import (
    ILogObserver,
    LogLevel,
    Logger,
    capturedLogs,
    formatEventAsClassicLogText,
)
from twisted.python.failure import Failure
from twisted.python.logfile import LogFile
from twisted.trial.unittest import TestCase

from devpi_twisted.logs import (
    EventAsText,
    LoggingServices,
    event_as_json,
    make_observer,
    twistd_log_file,
)
from devpi_twisted.mirror.upstream import UpstreamClient, UpstreamError
from tests.dists.archives import make_doc_zip, make_wheel
from tests.mirror.test_upstream import FakeHTTP
from tests.support import MemoryServer
from tests.web.forms import upload, upload_docs


def emit(observer: ILogObserver, level: LogLevel, format: str, **fields: Any) -> None:
    Logger(namespace="devpi_twisted.test", observer=observer).emit(level, format, **fields)


class JSONTests(TestCase):
    def test_one_flat_object_per_event(self) -> None:
        event = {
            "log_format": "{user} uploaded {filename}",
            "log_level": LogLevel.info,
            "log_namespace": "devpi_twisted.web.upload",
            "log_time": 1_800_000_000.25,
            "user": "alice",
            "filename": "x-1.0.tar.gz",
            "size": 12,
            "identical": False,
            "version": None,
        }
        line = event_as_json(event)
        self.assertTrue(line.endswith("}\n"))
        self.assertEqual(line.count("\n"), 1)
        self.assertEqual(
            json.loads(line),
            {
                "time": "2027-01-15T08:00:00.250+00:00",
                "level": "info",
                "namespace": "devpi_twisted.web.upload",
                "message": "alice uploaded x-1.0.tar.gz",
                "user": "alice",
                "filename": "x-1.0.tar.gz",
                "size": 12,
                "identical": False,
                "version": None,
            },
        )

    def test_values_json_cannot_take_are_written_as_text(self) -> None:
        loop: list[Any] = []
        loop.append(loop)
        record = json.loads(event_as_json({
            "log_format": "x", "log_level": LogLevel.info, "log_time": 0,
            "by_pair": {(1, 2): "a"}, "loop": loop, "n": 1,
        }))
        self.assertEqual(
            (record["by_pair"], record["loop"], record["n"], record["message"]),
            ("{(1, 2): 'a'}", "[[...]]", "1", "x"),
        )

    def test_failures_carry_their_traceback(self) -> None:
        try:
            1 / 0
        except ZeroDivisionError:
            failure = Failure()
        record = json.loads(event_as_json({
            "log_format": "boom", "log_level": LogLevel.critical, "log_time": 0,
            "log_failure": failure, "log_namespace": "x",
        }))
        self.assertEqual((record["message"], record["level"]), ("boom", "critical"))
        self.assertIn("division by zero", record["error"])
        self.assertIn("ZeroDivisionError", record["traceback"])

    def test_secret_fields_are_left_out_and_other_values_written_as_text(self) -> None:
        record = json.loads(event_as_json({
            "log_format": "x", "log_level": LogLevel.info, "log_time": 0,
            "password": "hunter2", "auth_token": "t0k", "Authorization": "Basic x",
            "peer": ("127.0.0.1", 80), "when": Clock(), "raw": b"\xffab", "big": b"x" * 5000,
            "message": ("legacy",), "isError": 0,
        }))
        self.assertNotIn("hunter2", json.dumps(record))
        self.assertNotIn("t0k", json.dumps(record))
        self.assertNotIn("Authorization", record)
        self.assertEqual(record["peer"], ["127.0.0.1", 80])
        self.assertIn("Clock", record["when"])
        self.assertEqual(record["raw"], "\\xffab")
        self.assertEqual(len(record["big"]), 1003)
        self.assertEqual(record["message"], "x")
        self.assertNotIn("isError", record)


class ObserverTests(TestCase):
    def test_text_lines_from_the_chosen_level_up(self) -> None:
        out = io.StringIO()
        observer = make_observer(out, "text", "warn")
        emit(observer, LogLevel.info, "hidden {x}", x=1)
        emit(observer, LogLevel.warn, "shown {x}", x=2)
        emit(observer, LogLevel.error, "also shown")
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[0].endswith(" [devpi_twisted.test#warn] shown 2"), lines)
        self.assertTrue(lines[1].endswith(" [devpi_twisted.test#error] also shown"), lines)

    def test_text_lines_are_twistds_with_the_time_formatted_once_a_second(self) -> None:
        as_text = EventAsText()
        for when in (1_800_000_000.1, 1_800_000_000.9, 1_800_000_001.0, None):
            event = {"log_format": "hi {x}", "x": 1, "log_time": when,
                     "log_namespace": "n", "log_level": LogLevel.info}
            self.assertEqual(as_text(event), formatEventAsClassicLogText(event))

    def test_json_lines(self) -> None:
        out = io.StringIO()
        observer = make_observer(out, "json", "debug")
        emit(observer, LogLevel.debug, "one {n}", n=1)
        emit(observer, LogLevel.info, "two {n}", n=2)
        records = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual(
            [(r["level"], r["message"], r["n"], r["namespace"]) for r in records],
            [("debug", "one 1", 1, "devpi_twisted.test"), ("info", "two 2", 2, "devpi_twisted.test")],
        )


class TwistdLogFileTests(TestCase):
    def setUp(self) -> None:
        handler = signal.getsignal(signal.SIGUSR1)
        self.addCleanup(signal.signal, signal.SIGUSR1, handler)

    def test_standard_output_in_the_foreground(self) -> None:
        self.assertIs(twistd_log_file({"nodaemon": 1, "logfile": None}), sys.stdout)
        self.assertIs(twistd_log_file({"nodaemon": 1, "logfile": "-"}), sys.stdout)

    def test_a_log_file_rotated_on_sigusr1(self) -> None:
        path = os.path.abspath(self.mktemp())
        log_file = twistd_log_file({"nodaemon": 1, "logfile": path})
        self.assertIsInstance(log_file, LogFile)
        self.addCleanup(log_file.close)  # type: ignore[union-attr]
        self.assertEqual(log_file.path, path)  # type: ignore[union-attr]
        self.assertIsNot(signal.getsignal(signal.SIGUSR1), signal.SIG_DFL)

    def test_a_daemon_logs_to_twistd_log_by_default(self) -> None:
        cwd, here = os.getcwd(), self.mktemp()
        os.makedirs(here)
        os.chdir(here)
        self.addCleanup(os.chdir, cwd)
        log_file = twistd_log_file({"nodaemon": 0, "logfile": None})
        self.addCleanup(log_file.close)  # type: ignore[union-attr]
        self.assertEqual(log_file.path, os.path.join(os.getcwd(), "twistd.log"))  # type: ignore[union-attr]

    def test_none_where_twistd_logs_otherwise(self) -> None:
        for options in (
            {"nodaemon": 1, "syslog": 1},
            {"nodaemon": 1, "logger": "my.observer"},
            {"nodaemon": 0, "logfile": "-"},  # twistd refuses this itself
        ):
            self.assertIsNone(twistd_log_file(options), options)


class LoggingServicesTests(TestCase):
    def test_gives_the_application_its_observer_and_joins_it(self) -> None:
        application = Application("devpi")
        observer = make_observer(io.StringIO(), "json", "info")
        services = LoggingServices(observer)
        services.setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver), observer)
        self.assertIn(services, list(IServiceCollection(application)))

    def test_an_observer_the_application_has_is_kept(self) -> None:
        application = Application("devpi")
        mine = make_observer(io.StringIO(), "text", "info")
        application.setComponent(ILogObserver, mine)
        LoggingServices(make_observer(io.StringIO(), "json", "info")).setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver), mine)


class UpstreamEventTests(TestCase):
    def test_an_outage_event_has_structured_fields_without_credentials(self) -> None:
        events: list[dict[str, Any]] = []
        http = FakeHTTP()
        client = UpstreamClient(
            Clock(), http, max_retries=0, rng=random.Random(0),
            log=Logger(observer=events.append), user_agent="test",
        )
        d = Deferred.fromCoroutine(
            client.fetch("https://alice:s3cret@up.example/simple/x/", b"text/html")
        )
        http.sent[0].answer(503)
        self.failureResultOf(d, UpstreamError)
        [event] = events
        self.assertEqual(
            {name: event[name] for name in ("host", "url", "status", "attempts")},
            {"host": "up.example", "url": "https://up.example/simple/x/", "status": 503, "attempts": 1},
        )
        self.assertIn("503", event["problem"])
        self.assertNotIn("s3cret", json.dumps(event, default=str))


class UploadEventTests(TestCase):
    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)
        self.alice = self.server.create_user("alice", "secret")
        reply = self.server.request("PUT", "/alice/dev", {}, headers=self.alice)
        self.assertEqual(reply.code, 200, reply)

    def uploaded(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("log_namespace") == "devpi_twisted.web.upload"]

    def test_a_stored_release_file_is_one_event(self) -> None:
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        with capturedLogs() as self.events:
            reply = upload(self.server, "alice/dev", wheel, self.alice)
        self.assertEqual(reply.code, 200, reply)
        [event] = self.uploaded()
        self.assertEqual(
            {k: event[k] for k in ("user", "index", "project", "version", "filename", "size", "identical")},
            {
                "user": "alice", "index": "alice/dev", "project": "hello-pkg", "version": "1.0",
                "filename": os.path.basename(wheel), "size": os.path.getsize(wheel), "identical": False,
            },
        )
        self.assertEqual(event["log_level"], LogLevel.info)

    def test_a_refused_upload_is_no_event_and_docs_are_one(self) -> None:
        wheel = make_wheel(self.mktemp(), "hello-pkg", "1.0")
        with capturedLogs() as self.events:
            reply = upload(self.server, "alice/dev", wheel, {})
            self.assertEqual(reply.code, 401, reply)
            self.assertEqual(self.uploaded(), [])
            upload(self.server, "alice/dev", wheel, self.alice)
            docs = make_doc_zip(self.mktemp(), {"index.html": b"<html></html>"})
            reply = upload_docs(self.server, "alice/dev", docs, self.alice, "hello-pkg", "1.0")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(
            [(e["filename"], e["version"]) for e in self.uploaded()],
            [(os.path.basename(wheel), "1.0"), ("hello-pkg-1.0.doc.zip", "1.0")],
        )
