"""API discovery, login and tokens, server status, and what every reply carries."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from treq.testing import StubTreq
from twisted.trial.unittest import TestCase

from devpi_twisted.auth.tokens import TokenSigner
from devpi_twisted.web.app import make_resource
from tests.support import UUID, MemoryServer, Reply, basic_auth, devpi_auth

#: The X-Devpi-* headers and their fixed values (the serial is checked apart).
FIXED_HEADERS = {
    "X-Devpi-Uuid": UUID,
    "X-Devpi-Primary-Uuid": UUID,
    "X-Devpi-Master-Uuid": UUID,
    "X-Devpi-Api-Version": "2",
    "X-Devpi-Server-Version": "0.0.test",
}


def token_of(auth: dict[str, str]) -> str:
    """The login token inside an X-Devpi-Auth header."""
    decoded = base64.b64decode(auth["X-Devpi-Auth"]).decode()
    return decoded.partition(":")[2]


class ServerTestCase(TestCase):
    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)

    def assertDevpiHeaders(self, reply: Reply) -> None:
        """The reply carries the devpi headers, with the store's current serial."""
        for name, value in FIXED_HEADERS.items():
            self.assertEqual(reply.header(name), value, name)
        self.assertEqual(reply.header("X-Devpi-Serial"), str(self.server.store.serial))


class ApiConfigTests(ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.alice = self.server.create_user("alice", "pw")
        self.server.request("PUT", "/alice/dev", {}, headers=self.alice)

    def api(self, path: str, **kwargs: Any) -> dict[str, Any]:
        reply = self.server.request("GET", path, **kwargs)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "apiconfig")
        result: dict[str, Any] = reply.json["result"]
        return result

    def test_root_api(self) -> None:
        result = self.api("/+api")
        self.assertEqual(set(result), {"login", "authstatus", "features"})
        self.assertEqual(result["login"], "http://devpi.test/+login")
        self.assertEqual(result["authstatus"], ["noauth", "", []])
        self.assertIn("server-keyvalue-parsing", result["features"])

    def test_user_api_has_no_index_urls(self) -> None:
        result = self.api("/alice/+api")
        self.assertEqual(set(result), {"login", "authstatus", "features"})

    def test_stage_api_has_index_urls_and_pypisubmit(self) -> None:
        result = self.api("/alice/dev/+api")
        self.assertEqual(
            set(result),
            {"login", "authstatus", "features", "index", "simpleindex", "pypisubmit"},
        )
        self.assertEqual(result["index"], "http://devpi.test/alice/dev")
        self.assertEqual(result["simpleindex"], "http://devpi.test/alice/dev/+simple/")
        self.assertEqual(result["pypisubmit"], "http://devpi.test/alice/dev/")

    def test_mirror_api_has_no_pypisubmit(self) -> None:
        result = self.api("/root/pypi/+api")
        self.assertEqual(set(result), {"login", "authstatus", "features", "index", "simpleindex"})
        self.assertEqual(result["simpleindex"], "http://devpi.test/root/pypi/+simple/")

    def test_api_is_json_without_accept_header(self) -> None:
        reply = self.server.request("GET", "/alice/dev/+api", accept_json=False)
        self.assertEqual(reply.header("Content-Type"), "application/json")
        self.assertEqual(reply.json["result"]["index"], "http://devpi.test/alice/dev")

    def test_urls_follow_the_host_header(self) -> None:
        result = self.api("/alice/dev/+api", headers={"Host": "pkgs.example:8080"})
        self.assertEqual(result["login"], "http://pkgs.example:8080/+login")
        self.assertEqual(result["index"], "http://pkgs.example:8080/alice/dev")

    def test_urls_follow_x_outside_url(self) -> None:
        result = self.api(
            "/alice/dev/+api", headers={"X-Outside-Url": "https://proxy.example/devpi/"}
        )
        self.assertEqual(result["login"], "https://proxy.example/devpi/+login")
        self.assertEqual(
            result["simpleindex"], "https://proxy.example/devpi/alice/dev/+simple/"
        )
        self.assertEqual(result["pypisubmit"], "https://proxy.example/devpi/alice/dev/")

    def test_missing_index_is_404(self) -> None:
        reply = self.server.request("GET", "/alice/nope/+api")
        self.assertEqual(
            (reply.code, reply.json),
            (404, {"message": "The stage alice/nope could not be found."}),
        )

    def test_missing_user_is_404(self) -> None:
        self.assertEqual(self.server.request("GET", "/nobody/+api").code, 404)

    def test_authstatus_with_a_token(self) -> None:
        result = self.api("/alice/dev/+api", headers=self.alice)
        self.assertEqual(result["authstatus"], ["ok", "alice", []])

    def test_authstatus_with_basic_password(self) -> None:
        result = self.api("/+api", headers=basic_auth("alice", "pw"))
        self.assertEqual(result["authstatus"], ["ok", "alice", []])

    def test_authstatus_with_basic_token(self) -> None:
        result = self.api("/+api", headers=basic_auth("alice", token_of(self.alice)))
        self.assertEqual(result["authstatus"], ["ok", "alice", []])

    def test_authstatus_with_the_password_in_x_devpi_auth(self) -> None:
        result = self.api("/+api", headers=devpi_auth("alice", "pw"))
        self.assertEqual(result["authstatus"], ["ok", "alice", []])

    def test_authstatus_with_a_wrong_password(self) -> None:
        result = self.api("/+api", headers=basic_auth("alice", "nope"))
        self.assertEqual(result["authstatus"], ["noauth", "", []])

    def test_authstatus_with_an_expired_token(self) -> None:
        self.server.clock.advance(36000 + 1)
        result = self.api("/alice/dev/+api", headers=self.alice)
        self.assertEqual(result["authstatus"], ["noauth", "", []])

    def test_token_is_valid_until_it_expires(self) -> None:
        self.server.clock.advance(36000 - 1)
        result = self.api("/+api", headers=self.alice)
        self.assertEqual(result["authstatus"], ["ok", "alice", []])

    def test_authstatus_with_a_tampered_token(self) -> None:
        token = token_of(self.alice)
        tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        result = self.api("/+api", headers=devpi_auth("alice", tampered))
        self.assertEqual(result["authstatus"], ["noauth", "", []])


class LoginTests(ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.server.create_user("alice", "pw")

    def login(self, body: Any = None, data: bytes | None = None) -> Reply:
        return self.server.request("POST", "/+login", body, data=data)

    def test_login_answers_a_token_valid_for_ten_hours(self) -> None:
        reply = self.login({"user": "alice", "password": "pw"})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(set(reply.json), {"type", "result", "message"})
        self.assertEqual(reply.json["type"], "proxyauth")
        self.assertEqual(reply.json["message"], "login successful")
        self.assertEqual(set(reply.json["result"]), {"password", "expiration"})
        self.assertEqual(reply.json["result"]["expiration"], 36000)
        token = reply.json["result"]["password"]
        self.assertIsInstance(token, str)
        self.assertNotEqual(token, "pw")
        api = self.server.request("GET", "/+api", headers=devpi_auth("alice", token))
        self.assertEqual(api.json["result"]["authstatus"], ["ok", "alice", []])

    def test_login_commits_nothing(self) -> None:
        serial = self.server.store.serial
        self.login({"user": "alice", "password": "pw"})
        self.assertEqual(self.server.store.serial, serial)

    def test_root_logs_in_with_the_empty_password(self) -> None:
        self.assertEqual(self.login({"user": "root", "password": ""}).code, 200)

    def test_wrong_password_is_401(self) -> None:
        reply = self.login({"user": "alice", "password": "nope"})
        self.assertEqual(
            (reply.code, reply.json),
            (401, {"message": "user 'alice' could not be authenticated"}),
        )

    def test_unknown_user_is_401(self) -> None:
        reply = self.login({"user": "nobody", "password": "pw"})
        self.assertEqual(
            (reply.code, reply.json),
            (401, {"message": "user 'nobody' could not be authenticated"}),
        )

    def test_missing_fields_are_400(self) -> None:
        for body in ({"user": "alice"}, {"password": "pw"}, {}, ["alice", "pw"],
                     {"user": "alice", "password": 1}):
            reply = self.login(body)
            self.assertEqual(
                (reply.code, reply.json),
                (400, {"message": "Bad request: no user/password specified"}),
                body,
            )

    def test_malformed_json_is_400(self) -> None:
        reply = self.login(data=b"{user: alice")
        self.assertEqual(
            (reply.code, reply.json),
            (400, {"message": "Bad request: could not decode json"}),
        )

    def test_get_is_not_allowed(self) -> None:
        self.assertEqual(self.server.request("GET", "/+login").code, 405)


class TokenTests(ServerTestCase):
    """Bad credentials on a write: 401 with the reason, and nothing committed."""

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.server.create_user("alice", "pw")
        self.server.create_user("bob", "pw")

    def write(self, headers: dict[str, str]) -> Reply:
        serial = self.server.store.serial
        reply = self.server.request("PUT", "/alice/dev", {}, headers=headers)
        if reply.code != 200:
            self.assertEqual(self.server.store.serial, serial)
            self.assertEqual(self.server.request("GET", "/alice/dev").code, 404)
        return reply

    def test_valid_token_writes(self) -> None:
        self.assertEqual(self.write(self.alice).code, 200)

    def test_expired_token_is_401_saying_expired(self) -> None:
        self.server.clock.advance(36001)
        reply = self.write(self.alice)
        self.assertEqual(reply.code, 401)
        self.assertIn("expired", reply.json["message"])
        self.assertEqual(reply.header("WWW-Authenticate"), 'Basic realm="pypi"')

    def test_token_signed_with_another_secret_is_401(self) -> None:
        pwhash = self.server.store.get("user/alice")["pwhash"]
        forged = TokenSigner(b"o" * 40, self.server.clock).issue("alice", pwhash)
        reply = self.write(devpi_auth("alice", forged))
        self.assertEqual(reply.code, 401)
        self.assertEqual(reply.json["message"], "user 'alice' could not be authenticated")

    def test_token_with_altered_payload_is_401(self) -> None:
        payload, _, signature = token_of(self.alice).partition(".")
        owner, expires, tag = json.loads(base64.urlsafe_b64decode(payload + "=="))
        altered = base64.urlsafe_b64encode(
            json.dumps([owner, expires + 3600, tag]).encode()
        ).decode().rstrip("=")
        self.assertNotEqual(altered, payload)
        reply = self.write(devpi_auth("alice", f"{altered}.{signature}"))
        self.assertEqual(reply.code, 401)

    def test_token_of_alice_sent_as_bob_is_401(self) -> None:
        reply = self.write(devpi_auth("bob", token_of(self.alice)))
        self.assertEqual(reply.code, 401)
        self.assertIn("another user", reply.json["message"])

    def test_token_of_alice_as_unknown_user_is_401(self) -> None:
        reply = self.write(devpi_auth("nobody", token_of(self.alice)))
        self.assertEqual(reply.code, 401)

    def test_garbage_base64_is_401(self) -> None:
        reply = self.write({"X-Devpi-Auth": "%%% not base64 %%%"})
        self.assertEqual(reply.code, 401)
        self.assertEqual(reply.header("WWW-Authenticate"), 'Basic realm="pypi"')

    def test_base64_without_colon_is_401(self) -> None:
        reply = self.write({"X-Devpi-Auth": base64.b64encode(b"alice").decode()})
        self.assertEqual(reply.code, 401)

    def test_garbage_basic_auth_is_401(self) -> None:
        reply = self.write({"Authorization": "Basic !!!"})
        self.assertEqual(reply.code, 401)

    def test_garbage_credentials_on_a_read_are_ignored(self) -> None:
        reply = self.server.request("GET", "/+api", headers={"X-Devpi-Auth": "!!!"})
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.json["result"]["authstatus"], ["noauth", "", []])


class StatusTests(ServerTestCase):
    def test_status(self) -> None:
        reply = self.server.request("GET", "/+status")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.json["type"], "status")
        result = reply.json["result"]
        self.assertLessEqual(
            {"serial", "uuid", "role", "versioninfo", "serverdir"}, set(result)
        )
        self.assertEqual(result["serial"], self.server.store.serial)
        self.assertEqual(result["uuid"], UUID)
        self.assertEqual(result["role"], "standalone")
        self.assertIsInstance(result["versioninfo"], dict)
        self.assertEqual(result["serverdir"], self.server.info.serverdir)

    def test_status_serial_follows_writes(self) -> None:
        self.server.create_user("alice")
        result = self.server.request("GET", "/+status").json["result"]
        self.assertEqual(result["serial"], self.server.store.serial)
        self.assertGreater(result["serial"], 0)


class ReplyHeaderTests(ServerTestCase):
    def test_every_kind_of_reply_carries_the_devpi_headers(self) -> None:
        requests: list[tuple[str, str, Any, bool]] = [
            ("GET", "/+api", None, True),
            ("GET", "/", None, False),
            ("GET", "/+status", None, True),
            ("GET", "/no/such/route/here", None, True),
            ("GET", "/no/such/route/here", None, False),
            ("POST", "/root", {}, True),
            ("GET", "/nobody", None, True),
            ("PUT", "/alice/dev", {}, True),
            ("POST", "/+login", {"user": "root", "password": "x"}, True),
        ]
        for method, path, body, accept_json in requests:
            reply = self.server.request(method, path, body, accept_json=accept_json)
            self.assertDevpiHeaders(reply)

    def test_a_write_reports_the_serial_it_committed(self) -> None:
        before = self.server.store.serial
        reply = self.server.request("PUT", "/alice", {"password": "pw"})
        self.assertEqual(reply.code, 201)
        self.assertEqual(self.server.store.serial, before + 1)
        self.assertEqual(reply.header("X-Devpi-Serial"), str(before + 1))

    def test_a_refused_write_reports_the_unchanged_serial(self) -> None:
        before = self.server.store.serial
        reply = self.server.request("PUT", "/root", {"password": "pw"})
        self.assertEqual(reply.code, 409)
        self.assertEqual(reply.header("X-Devpi-Serial"), str(before))

    def test_unknown_route_is_json_404_for_json_clients(self) -> None:
        reply = self.server.request("GET", "/root/pypi/a/b/c")
        self.assertEqual(reply.code, 404)
        self.assertEqual(reply.header("Content-Type"), "application/json")
        self.assertEqual(set(reply.json), {"message"})

    def test_unknown_route_is_html_404_for_others(self) -> None:
        reply = self.server.request("GET", "/root/pypi/a/b/c", accept_json=False)
        self.assertEqual(reply.code, 404)
        self.assertTrue(reply.header("Content-Type").startswith("text/html"))
        self.assertIn(b"404", reply.body)

    def test_plus_names_are_no_users(self) -> None:
        reply = self.server.request("PUT", "/+alice", {"password": "pw"})
        self.assertEqual(reply.code, 404)
        reply = self.server.request("PUT", "/root/+dev", {})
        self.assertEqual(reply.code, 404)

    def test_unrouted_method_is_json_405(self) -> None:
        reply = self.server.request("POST", "/alice", {})
        self.assertEqual(reply.code, 405)
        self.assertEqual(reply.header("Content-Type"), "application/json")
        self.assertEqual(set(reply.json), {"message"})
        self.assertIn("PUT", reply.header("Allow"))


class BodyLimitTests(ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        ctx = replace(self.server.ctx, json_body_limit=64)
        self.server.http = StubTreq(make_resource(ctx))

    def test_body_over_the_limit_is_413_and_not_stored(self) -> None:
        serial = self.server.store.serial
        reply = self.server.request("PUT", "/alice", {"password": "x" * 100})
        self.assertEqual(reply.code, 413)
        self.assertEqual(reply.json, {"message": "request body larger than 64 bytes"})
        self.assertEqual(self.server.store.serial, serial)
        self.assertEqual(self.server.request("GET", "/alice").code, 404)

    def test_body_within_the_limit_is_read(self) -> None:
        reply = self.server.request("PUT", "/alice", {"password": "x" * 10})
        self.assertEqual(reply.code, 201)

    def test_login_body_over_the_limit_is_413(self) -> None:
        reply = self.server.request(
            "POST", "/+login", {"user": "root", "password": "x" * 100}
        )
        self.assertEqual(reply.code, 413)


class ApiIsJsonForBrowsersTests(TestCase):
    def test_api_answers_json_even_when_html_is_asked_for(self) -> None:
        server = MemoryServer(self.mktemp())
        self.addCleanup(server.close)
        reply = server.request(
            "GET", "/+api", headers={"Accept": "text/html"}, accept_json=False
        )
        self.assertEqual(reply.header("Content-Type"), "application/json")
        self.assertEqual(reply.json["type"], "apiconfig")

    def test_user_page_is_html_for_browsers(self) -> None:
        server = MemoryServer(self.mktemp())
        self.addCleanup(server.close)
        reply = server.request(
            "GET", "/root", headers={"Accept": "text/html,*/*;q=0.8"}, accept_json=False
        )
        self.assertTrue(reply.header("Content-Type").startswith("text/html"))
        self.assertIn(b"<h1>/root</h1>", reply.body)
        self.assertIn(b"pypi", reply.body)
