"""The user routes of the JSON API, in memory."""

from twisted.trial.unittest import TestCase

from tests.support import MemoryServer, basic_auth


class UserTests(TestCase):
    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)

    def test_list_users_shows_root_with_pypi(self) -> None:
        reply = self.server.request("GET", "/")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.json["type"], "list:userconfig")
        root = reply.json["result"]["root"]
        self.assertEqual(root["indexes"]["pypi"]["type"], "mirror")
        self.assertNotIn("pwhash", root)

    def test_create_user_answers_201_without_password_hash(self) -> None:
        reply = self.server.request(
            "PUT", "/alice", {"password": "pw", "email": "a@example.com", "title": "A"}
        )
        self.assertEqual(reply.code, 201, reply)
        self.assertEqual(reply.json["type"], "userconfig")
        result = reply.json["result"]
        self.assertEqual(result["username"], "alice")
        self.assertEqual(result["email"], "a@example.com")
        self.assertEqual(result["indexes"], {})
        self.assertNotIn("pwhash", result)
        self.assertNotIn("password", result)
        self.assertRegex(result["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_create_existing_user_is_409(self) -> None:
        self.server.create_user("alice")
        serial = self.server.store.serial
        reply = self.server.request("PUT", "/alice", {"password": "other"})
        self.assertEqual((reply.code, reply.json), (409, {"message": "user already exists"}))
        self.assertEqual(self.server.store.serial, serial)

    def test_password_is_required(self) -> None:
        reply = self.server.request("PUT", "/alice", {"email": "a@example.com"})
        self.assertEqual(reply.code, 400)
        self.assertEqual(reply.json["message"], "password needs to be set")

    def test_invalid_name_is_400(self) -> None:
        reply = self.server.request("PUT", "/b%20b", {"password": "x"})
        self.assertEqual(reply.code, 400)
        self.assertEqual(
            reply.json["message"],
            "username 'b b' contains characters that aren't allowed. "
            "Any ascii symbol besides -.@_ is blocked.",
        )
        self.assertEqual(self.server.request("GET", "/b%20b").code, 404)

    def test_unknown_key_is_400(self) -> None:
        reply = self.server.request("PUT", "/alice", {"password": "x", "nosuch": 1})
        self.assertEqual(reply.code, 400)
        self.assertEqual(reply.json["message"], "Unknown keys in user config: nosuch")

    def test_malformed_json_is_400(self) -> None:
        reply = self.server.request("PUT", "/alice", data=b"{not json")
        self.assertEqual(reply.code, 400)
        self.assertEqual(reply.json["message"], "Bad request: could not decode json")
        self.assertEqual(self.server.request("GET", "/alice").code, 404)

    def test_missing_user_is_404(self) -> None:
        reply = self.server.request("GET", "/nobody")
        self.assertEqual((reply.code, reply.json), (404, {"message": "no user 'nobody'"}))

    def test_user_modifies_itself_with_full_dict_as_devpi_client_sends(self) -> None:
        auth = self.server.create_user("alice")
        user = self.server.request("GET", "/alice").json["result"]
        body = {k: v for k, v in user.items() if k not in ("indexes", "username")}
        body["email"] = "new@example.com"
        reply = self.server.request("PATCH", "/alice", body, headers=auth)
        self.assertEqual((reply.code, reply.json), (200, {"message": "user updated"}))
        user = self.server.request("GET", "/alice").json["result"]
        self.assertEqual(user["email"], "new@example.com")
        self.assertIn("modified", user)

    def test_password_change_returns_new_token_and_voids_old_ones(self) -> None:
        auth = self.server.create_user("alice", "old")
        reply = self.server.request("PATCH", "/alice", {"password": "new"}, headers=auth)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "userpassword")
        self.assertEqual(reply.json["result"]["expiration"], 36000)
        stale = self.server.request("PATCH", "/alice", {"title": "x"}, headers=auth)
        self.assertEqual(stale.code, 401)
        self.assertIn("password change", stale.json["message"])
        self.assertEqual(self.server.login("alice", "new").keys(), {"X-Devpi-Auth"})
        failed = self.server.request("POST", "/+login", {"user": "alice", "password": "old"})
        self.assertEqual(failed.code, 401)

    def test_other_user_may_not_modify(self) -> None:
        self.server.create_user("alice")
        bob = self.server.create_user("bob")
        reply = self.server.request("PATCH", "/alice", {"email": "x@y"}, headers=bob)
        self.assertEqual(reply.code, 403)
        self.assertEqual(reply.json["message"], "no permission to modify user alice")

    def test_anonymous_modify_is_401_with_challenge(self) -> None:
        self.server.create_user("alice")
        reply = self.server.request("PATCH", "/alice", {"email": "x@y"})
        self.assertEqual(reply.code, 401)
        self.assertEqual(reply.header("WWW-Authenticate"), 'Basic realm="pypi"')

    def test_root_modifies_and_deletes_any_user(self) -> None:
        self.server.create_user("alice")
        root = self.server.login("root", "")
        reply = self.server.request("PATCH", "/alice", {"title": "T"}, headers=root)
        self.assertEqual(reply.code, 200)
        reply = self.server.request("DELETE", "/alice", headers=root)
        self.assertEqual((reply.code, reply.json), (200, {"message": "user 'alice' deleted"}))
        self.assertEqual(self.server.request("GET", "/alice").code, 404)

    def test_root_cannot_be_deleted(self) -> None:
        root = self.server.login("root", "")
        reply = self.server.request("DELETE", "/root", headers=root)
        self.assertEqual(reply.code, 403)
        self.assertEqual(self.server.request("GET", "/root").code, 200)

    def test_user_with_non_volatile_index_cannot_be_deleted(self) -> None:
        auth = self.server.create_user("alice")
        self.server.request("PUT", "/alice/prod", {"volatile": False}, headers=auth)
        self.server.request("PUT", "/alice/dev", {}, headers=auth)
        reply = self.server.request("DELETE", "/alice", headers=auth)
        self.assertEqual(reply.code, 403)
        self.assertEqual(reply.json["message"], "user 'alice' has non-volatile index: prod")
        self.assertEqual(self.server.request("GET", "/alice/dev").code, 200)

    def test_deleting_user_deletes_its_indexes(self) -> None:
        auth = self.server.create_user("alice")
        self.server.request("PUT", "/alice/dev", {}, headers=auth)
        self.assertEqual(self.server.request("DELETE", "/alice", headers=auth).code, 200)
        self.server.create_user("alice")
        self.assertEqual(self.server.request("GET", "/alice/dev").code, 404)

    def test_basic_auth_with_password_works(self) -> None:
        self.server.create_user("alice", "pw")
        reply = self.server.request(
            "PATCH", "/alice", {"title": "T"}, headers=basic_auth("alice", "pw")
        )
        self.assertEqual(reply.code, 200)

    def test_wrong_password_is_401(self) -> None:
        self.server.create_user("alice", "pw")
        reply = self.server.request(
            "PATCH", "/alice", {"title": "T"}, headers=basic_auth("alice", "nope")
        )
        self.assertEqual(reply.code, 401)
        self.assertEqual(reply.json["message"], "user 'alice' could not be authenticated")

    def test_html_error_without_json_accept(self) -> None:
        reply = self.server.request("PATCH", "/nobody", {"title": "T"}, accept_json=False)
        self.assertEqual(reply.code, 404)
        self.assertTrue(reply.header("Content-Type").startswith("text/html"))
        self.assertIn(b"no user &#x27;nobody&#x27;", reply.body)
