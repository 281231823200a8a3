"""A server with --restrict-modify root, end to end in memory (protocol 7.2)."""

from __future__ import annotations

from typing import Any, Optional

from twisted.trial.unittest import TestCase

from tests.support import MemoryServer, Reply


class RestrictModifyTests(TestCase):
    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp(), restrict_modify=frozenset({"root"}))
        self.addCleanup(self.server.close)
        self.root = self.server.login("root", "")
        reply = self.server.request("PUT", "/zed", {"password": "pw"}, headers=self.root)
        self.assertEqual(reply.code, 201, reply)
        self.zed = self.server.login("zed", "pw")

    def send(
        self, method: str, path: str, body: Any = None, auth: Optional[dict[str, str]] = None
    ) -> Reply:
        return self.server.request(method, path, body, headers=auth)

    def assertDenied(self, reply: Reply, code: int, message: str, serial: int) -> None:
        self.assertEqual((reply.code, reply.json), (code, {"message": message}))
        self.assertEqual(self.server.store.serial, serial)

    def test_anonymous_cannot_create_a_user(self) -> None:
        serial = self.server.store.serial
        reply = self.send("PUT", "/eve", {"password": "pw"})
        self.assertEqual(reply.code, 401)
        self.assertEqual(reply.header("WWW-Authenticate"), 'Basic realm="pypi"')
        self.assertIn("no permission to create user eve", reply.json["message"])
        self.assertEqual(self.server.store.serial, serial)
        self.assertEqual(self.send("GET", "/eve").code, 404)

    def test_a_user_cannot_create_a_user(self) -> None:
        serial = self.server.store.serial
        reply = self.send("PUT", "/eve", {"password": "pw"}, self.zed)
        self.assertDenied(reply, 403, "no permission to create user eve", serial)

    def test_root_creates_users(self) -> None:
        reply = self.send("PUT", "/eve", {"password": "pw"}, self.root)
        self.assertEqual(reply.code, 201, reply)

    def test_a_user_cannot_create_its_own_index(self) -> None:
        serial = self.server.store.serial
        reply = self.send("PUT", "/zed/dev", {}, self.zed)
        self.assertDenied(reply, 403, "no permission to create index zed/dev", serial)
        self.assertEqual(self.send("GET", "/zed/dev").code, 404)

    def test_root_creates_an_index_owned_by_the_user(self) -> None:
        reply = self.send("PUT", "/zed/dev", {}, self.root)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["result"]["acl_upload"], ["zed"])

    def test_a_user_cannot_modify_or_delete_its_index(self) -> None:
        self.send("PUT", "/zed/dev", {}, self.root)
        serial = self.server.store.serial
        self.assertDenied(
            self.send("PATCH", "/zed/dev", ["title=mine"], self.zed), 403,
            "no permission to modify index zed/dev", serial,
        )
        self.assertDenied(
            self.send("DELETE", "/zed/dev", auth=self.zed), 403,
            "no permission to delete index zed/dev", serial,
        )
        self.assertEqual(self.send("GET", "/zed/dev").code, 200)

    def test_root_modifies_and_deletes_the_users_index(self) -> None:
        self.send("PUT", "/zed/dev", {}, self.root)
        self.assertEqual(self.send("PATCH", "/zed/dev", ["title=T"], self.root).code, 200)
        self.assertEqual(self.send("DELETE", "/zed/dev", auth=self.root).code, 201)

    def test_a_user_changes_its_own_password(self) -> None:
        reply = self.send("PATCH", "/zed", {"password": "new"}, self.zed)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "userpassword")
        self.assertEqual(reply.json["message"], "user updated, new proxy auth")
        self.assertEqual(self.server.login("zed", "new").keys(), {"X-Devpi-Auth"})

    def test_a_user_changes_its_password_with_the_full_dict(self) -> None:
        user = self.send("GET", "/zed").json["result"]
        body = {k: v for k, v in user.items() if k not in ("indexes", "username")}
        body["password"] = "new"
        reply = self.send("PATCH", "/zed", body, self.zed)
        self.assertEqual(reply.code, 200, reply)

    def test_a_user_cannot_change_its_email(self) -> None:
        serial = self.server.store.serial
        reply = self.send("PATCH", "/zed", {"email": "z@example.com"}, self.zed)
        self.assertDenied(reply, 403, "no permission to modify user zed", serial)
        self.assertNotIn("email", self.send("GET", "/zed").json["result"])

    def test_a_user_cannot_change_another_users_password(self) -> None:
        self.send("PUT", "/eve", {"password": "pw"}, self.root)
        serial = self.server.store.serial
        reply = self.send("PATCH", "/eve", {"password": "x"}, self.zed)
        self.assertDenied(reply, 403, "no permission to modify user eve", serial)

    def test_root_changes_a_users_email(self) -> None:
        reply = self.send("PATCH", "/zed", {"email": "z@example.com"}, self.root)
        self.assertEqual(reply.code, 200, reply)

    def test_a_user_cannot_delete_itself(self) -> None:
        serial = self.server.store.serial
        reply = self.send("DELETE", "/zed", auth=self.zed)
        self.assertDenied(reply, 403, "no permission to delete user zed", serial)
        self.assertEqual(self.send("GET", "/zed").code, 200)

    def test_root_deletes_a_user(self) -> None:
        reply = self.send("DELETE", "/zed", auth=self.root)
        self.assertEqual(reply.code, 200, reply)

    def test_root_still_cannot_be_deleted(self) -> None:
        self.assertEqual(self.send("DELETE", "/root", auth=self.root).code, 403)

    def test_reads_and_login_are_unrestricted(self) -> None:
        self.assertEqual(self.send("GET", "/").code, 200)
        self.assertEqual(self.send("GET", "/zed").code, 200)
        self.assertEqual(self.send("GET", "/root/pypi").code, 200)
        api = self.send("GET", "/+api", auth=self.zed)
        self.assertEqual(api.json["result"]["authstatus"], ["ok", "zed", []])
