"""The index routes of the JSON API (create, read, modify, delete), in memory."""

from __future__ import annotations

from typing import Any, Optional

from twisted.trial.unittest import TestCase

from devpi_twisted.model import keys
from devpi_twisted.store.changelog import Transaction
from tests.support import MemoryServer, Reply, basic_auth

STAGE_DEFAULTS: dict[str, Any] = {
    "type": "stage",
    "volatile": True,
    "bases": [],
    "acl_upload": ["alice"],
    "acl_toxresult_upload": [":ANONYMOUS:"],
    "mirror_whitelist": [],
    "mirror_whitelist_inheritance": "intersection",
}


class IndexTestCase(TestCase):
    """A fresh server with user alice logged in."""

    def setUp(self) -> None:
        self.server = MemoryServer(self.mktemp())
        self.addCleanup(self.server.close)
        self.alice = self.server.create_user("alice")

    def put(
        self, path: str, body: Any = None, auth: Optional[dict[str, str]] = None
    ) -> Reply:
        return self.server.request(
            "PUT", path, body, headers=self.alice if auth is None else auth
        )

    def patch(
        self, path: str, body: Any, auth: Optional[dict[str, str]] = None
    ) -> Reply:
        return self.server.request(
            "PATCH", path, body, headers=self.alice if auth is None else auth
        )

    def config(self, path: str = "/alice/dev") -> dict[str, Any]:
        reply = self.server.request("GET", path + "?no_projects=")
        self.assertEqual(reply.code, 200, reply)
        result: dict[str, Any] = reply.json["result"]
        return result

    def assertRefused(self, reply: Reply, code: int, message: str, serial: int) -> None:
        """The reply is the JSON error C{message}, and nothing was committed."""
        self.assertEqual((reply.code, reply.json), (code, {"message": message}))
        self.assertEqual(self.server.store.serial, serial)

    def add_project(self, username: str, indexname: str, project: str) -> None:
        def add(txn: Transaction) -> None:
            txn.set(keys.projects_of(username, indexname) + "/" + project, {})

        self.server.store.transact_now(add)


class CreateTests(IndexTestCase):
    def test_create_answers_200_with_stage_defaults(self) -> None:
        reply = self.put("/alice/dev", {})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json, {"type": "indexconfig", "result": STAGE_DEFAULTS})

    def test_empty_body_creates_a_stage(self) -> None:
        reply = self.server.request("PUT", "/alice/dev", data=b"", headers=self.alice)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["result"], STAGE_DEFAULTS)

    def test_trailing_slash_form(self) -> None:
        reply = self.put("/alice/dev/", {"title": "Dev"})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.config("/alice/dev/")["title"], "Dev")
        self.assertEqual(self.config("/alice/dev")["title"], "Dev")

    def test_create_commits_one_serial_reported_in_the_reply(self) -> None:
        serial = self.server.store.serial
        reply = self.put("/alice/dev", {})
        self.assertEqual(self.server.store.serial, serial + 1)
        self.assertEqual(reply.header("X-Devpi-Serial"), str(serial + 1))

    def test_create_mirror(self) -> None:
        reply = self.put(
            "/alice/mirror",
            {"type": "mirror", "mirror_url": "https://mirror.example/simple/",
             "mirror_cache_expiry": "60"},
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(
            reply.json["result"],
            {"type": "mirror", "volatile": True,
             "mirror_url": "https://mirror.example/simple/", "mirror_cache_expiry": 60},
        )

    def test_given_values_are_coerced(self) -> None:
        reply = self.put(
            "/alice/dev",
            {"volatile": "False", "bases": "root/pypi, ", "acl_upload": "alice,:anonymous:",
             "acl_toxresult_upload": [":authenticated:"],
             "mirror_whitelist": ["Foo_Bar", "*"],
             "mirror_whitelist_inheritance": "UNION",
             "title": "T", "description": "D", "custom_data": {"any": [1]}},
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(
            reply.json["result"],
            {"type": "stage", "volatile": False, "bases": ["root/pypi"],
             "acl_upload": ["alice", ":ANONYMOUS:"],
             "acl_toxresult_upload": [":AUTHENTICATED:"],
             "mirror_whitelist": ["foo-bar", "*"],
             "mirror_whitelist_inheritance": "union",
             "title": "T", "description": "D", "custom_data": {"any": [1]}},
        )

    def test_bases_as_comma_string(self) -> None:
        self.put("/alice/prod", {})
        reply = self.put("/alice/dev", {"bases": "alice/prod,root/pypi"})
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["result"]["bases"], ["alice/prod", "root/pypi"])

    def test_yes_and_false_strings_are_booleans(self) -> None:
        self.assertIs(self.put("/alice/a", {"volatile": "yes"}).json["result"]["volatile"], True)
        self.assertIs(
            self.put("/alice/b", {"volatile": "False"}).json["result"]["volatile"], False
        )

    def test_existing_index_is_409(self) -> None:
        self.put("/alice/dev", {})
        serial = self.server.store.serial
        self.assertRefused(self.put("/alice/dev", {}), 409, "index 'alice/dev' exists", serial)

    def _assert_create_refused(self, body: Any, message: str) -> None:
        serial = self.server.store.serial
        self.assertRefused(self.put("/alice/dev", body), 400, message, serial)
        self.assertEqual(self.server.request("GET", "/alice/dev").code, 404)

    def test_unknown_key_is_400(self) -> None:
        self._assert_create_refused(
            {"nosuch": 1}, "indexconfig got unexpected keyword arguments: nosuch=1"
        )

    def test_mirror_key_on_a_stage_is_400(self) -> None:
        self._assert_create_refused(
            {"mirror_cache_expiry": 5},
            "indexconfig got unexpected keyword arguments: mirror_cache_expiry=5",
        )

    def test_stage_key_on_a_mirror_is_400(self) -> None:
        self._assert_create_refused(
            {"type": "mirror", "bases": []},
            "indexconfig got unexpected keyword arguments: bases=[]",
        )

    def test_unknown_type_is_400(self) -> None:
        self._assert_create_refused({"type": "foo"}, "unknown index type 'foo'")

    def test_unknown_boolean_is_400(self) -> None:
        self._assert_create_refused({"volatile": "maybe"}, "Unknown boolean value 'maybe'.")

    def test_one_is_not_a_boolean(self) -> None:
        self._assert_create_refused({"volatile": "1"}, "Unknown boolean value '1'.")

    def test_missing_base_is_400(self) -> None:
        self._assert_create_refused(
            {"bases": ["nobody/x"]}, "base index 'nobody/x' does not exist"
        )

    def test_malformed_base_is_400(self) -> None:
        self._assert_create_refused({"bases": "x"}, "invalid base index spec: 'x'")

    def test_own_name_as_base_is_400(self) -> None:
        self._assert_create_refused(
            {"bases": ["alice/dev"]}, "base index 'alice/dev' does not exist"
        )

    def test_bad_whitelist_inheritance_is_400(self) -> None:
        self._assert_create_refused(
            {"mirror_whitelist_inheritance": "xx"},
            "Unknown value 'xx' for mirror_whitelist_inheritance, "
            "must be 'intersection' or 'union'.",
        )

    def test_mirror_url_must_be_a_url(self) -> None:
        self._assert_create_refused(
            {"type": "mirror", "mirror_url": "not a url"}, "'mirror_url' option must be a URL."
        )

    def test_mirror_cache_expiry_must_be_an_integer(self) -> None:
        self._assert_create_refused(
            {"type": "mirror", "mirror_cache_expiry": "x"},
            "'mirror_cache_expiry' option must be an integer",
        )

    def test_invalid_index_name_is_400(self) -> None:
        serial = self.server.store.serial
        self.assertRefused(
            self.put("/alice/in%20dex", {}),
            400,
            "indexname 'in dex' contains characters that aren't allowed. "
            "Any ascii symbol besides -.@_ is blocked.",
            serial,
        )

    def test_malformed_json_is_400(self) -> None:
        serial = self.server.store.serial
        reply = self.server.request("PUT", "/alice/dev", data=b"{nope", headers=self.alice)
        self.assertRefused(reply, 400, "Bad request: could not decode json", serial)

    def test_body_that_is_not_an_object_is_400(self) -> None:
        serial = self.server.store.serial
        reply = self.put("/alice/dev", ["title=x"])
        self.assertEqual(reply.code, 400)
        self.assertEqual(self.server.store.serial, serial)


class ReadTests(IndexTestCase):
    def test_get_lists_the_projects_of_this_index_only(self) -> None:
        self.put("/alice/prod", {})
        self.put("/alice/dev", {"bases": ["alice/prod"]})
        self.add_project("alice", "dev", "zope-x")
        self.add_project("alice", "dev", "hello-pkg")
        self.add_project("alice", "prod", "other")
        reply = self.server.request("GET", "/alice/dev")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.json["type"], "indexconfig")
        self.assertEqual(reply.json["result"]["projects"], ["hello-pkg", "zope-x"])
        self.assertEqual(reply.json["result"]["bases"], ["alice/prod"])

    def test_new_index_has_no_projects(self) -> None:
        self.put("/alice/dev", {})
        self.assertEqual(
            self.server.request("GET", "/alice/dev/").json["result"],
            dict(STAGE_DEFAULTS, projects=[]),
        )

    def test_no_projects_omits_the_key(self) -> None:
        self.put("/alice/dev", {})
        self.add_project("alice", "dev", "hello-pkg")
        for query in ("?no_projects=", "?no_projects", "?no_projects=1"):
            reply = self.server.request("GET", "/alice/dev" + query)
            self.assertEqual(reply.json["result"], STAGE_DEFAULTS, query)

    def test_get_needs_no_credentials_and_root_pypi_exists(self) -> None:
        reply = self.server.request("GET", "/root/pypi?no_projects=")
        self.assertEqual(reply.code, 200)
        self.assertEqual(
            reply.json["result"],
            {"type": "mirror", "volatile": False, "title": "PyPI",
             "mirror_url": "https://pypi.org/simple/",
             "mirror_web_url_fmt": "https://pypi.org/project/{name}/"},
        )

    def test_missing_index_is_404(self) -> None:
        reply = self.server.request("GET", "/alice/nope")
        self.assertEqual(
            (reply.code, reply.json),
            (404, {"message": "The stage alice/nope could not be found."}),
        )

    def test_index_of_missing_user_is_404(self) -> None:
        reply = self.server.request("GET", "/nobody/dev")
        self.assertEqual(reply.code, 404)

    def test_user_view_lists_index_configs_without_projects(self) -> None:
        self.put("/alice/dev", {"title": "Dev"})
        self.put("/alice/prod", {"volatile": False})
        self.add_project("alice", "dev", "hello-pkg")
        indexes = self.server.request("GET", "/alice").json["result"]["indexes"]
        self.assertEqual(
            indexes,
            {"dev": dict(STAGE_DEFAULTS, title="Dev"),
             "prod": dict(STAGE_DEFAULTS, volatile=False)},
        )


class ModifyTests(IndexTestCase):
    def setUp(self) -> None:
        super().setUp()
        reply = self.put(
            "/alice/dev", {"title": "Dev", "description": "D", "acl_upload": ["alice", "carol"]}
        )
        self.assertEqual(reply.code, 200, reply)

    def test_full_dict_replaces_the_config(self) -> None:
        reply = self.patch("/alice/dev", {"volatile": False, "title": "New"})
        self.assertEqual(reply.code, 200, reply)
        expected = dict(STAGE_DEFAULTS, volatile=False, title="New")
        self.assertEqual(reply.json, {"type": "indexconfig", "result": expected})
        self.assertEqual(self.config(), expected)

    def test_devpi_client_round_trip_of_the_fetched_config(self) -> None:
        fetched = self.server.request("GET", "/alice/dev").json
        fetched["result"]["bases"] = ["root/pypi"]
        reply = self.patch("/alice/dev", fetched)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(
            reply.json["result"],
            dict(STAGE_DEFAULTS, title="Dev", description="D",
                 acl_upload=["alice", "carol"], bases=["root/pypi"]),
        )
        self.assertNotIn("projects", self.config())

    def test_projects_key_is_ignored(self) -> None:
        body = dict(self.config(), projects=["x"])
        reply = self.patch("/alice/dev", body)
        self.assertEqual(reply.code, 200, reply)
        self.assertNotIn("projects", reply.json["result"])

    def test_list_operations(self) -> None:
        reply = self.patch(
            "/alice/dev",
            ["title=T", "acl_upload+=bob", "acl_upload-=carol", "description-=",
             "mirror_whitelist=a,B_c", "volatile=no"],
        )
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(
            reply.json["result"],
            dict(STAGE_DEFAULTS, title="T", acl_upload=["alice", "bob"],
                 mirror_whitelist=["a", "b-c"], volatile=False),
        )
        self.assertEqual(self.config(), reply.json["result"])

    def test_add_then_remove_leaves_the_list_as_it_was(self) -> None:
        reply = self.patch("/alice/dev", ["acl_upload+=bob", "acl_upload-=bob"])
        self.assertEqual(reply.json["result"]["acl_upload"], ["alice", "carol"])

    def test_adding_a_present_value_keeps_one(self) -> None:
        reply = self.patch("/alice/dev", ["acl_upload+=carol"])
        self.assertEqual(reply.json["result"]["acl_upload"], ["alice", "carol"])

    def test_adding_a_principal_in_another_case_keeps_one(self) -> None:
        self.patch("/alice/dev", ["acl_upload+=:ANONYMOUS:"])
        reply = self.patch("/alice/dev", ["acl_upload+=:anonymous:"])
        self.assertEqual(reply.json["result"]["acl_upload"], ["alice", "carol", ":ANONYMOUS:"])

    def test_operation_on_a_missing_optional_list_key(self) -> None:
        self.put("/alice/bare", {})
        reply = self.patch("/alice/bare", ["mirror_whitelist+=Foo"])
        self.assertEqual(reply.json["result"]["mirror_whitelist"], ["foo"])

    def _assert_patch_refused(self, body: Any, message: str, query: str = "") -> None:
        before = self.config()
        serial = self.server.store.serial
        self.assertRefused(self.patch("/alice/dev" + query, body), 400, message, serial)
        self.assertEqual(self.config(), before)

    def test_removing_an_absent_value_is_400(self) -> None:
        self._assert_patch_refused(
            ["title=changed", "acl_upload-=nosuch"],
            "The 'acl_upload' setting doesn't have value 'nosuch'",
        )

    def test_appending_to_a_non_list_is_400(self) -> None:
        self._assert_patch_refused(["title+=x"], "The 'title' setting is not a list")

    def test_malformed_operation_is_400(self) -> None:
        self._assert_patch_refused(["title"], "invalid key=value operation 'title'")

    def test_unknown_key_operation_is_400(self) -> None:
        self._assert_patch_refused(
            ["nosuch=1"], "indexconfig got unexpected keyword arguments: nosuch=1"
        )

    def test_invalid_value_in_a_patch_is_400(self) -> None:
        self._assert_patch_refused({"volatile": "maybe"}, "Unknown boolean value 'maybe'.")

    def test_changing_the_type_is_400(self) -> None:
        self._assert_patch_refused(
            {"type": "mirror"}, "the 'type' of an index can't be changed"
        )
        self._assert_patch_refused(["type=mirror"], "the 'type' of an index can't be changed")

    def test_error_on_noop(self) -> None:
        self._assert_patch_refused(
            ["title=Dev"], "The requested modifications resulted in no changes",
            query="?error_on_noop",
        )
        reply = self.patch("/alice/dev?error_on_noop=", ["title=Other"])
        self.assertEqual(reply.code, 200, reply)

    def test_noop_without_error_on_noop_commits_nothing(self) -> None:
        serial = self.server.store.serial
        reply = self.patch("/alice/dev", ["title=Dev"])
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["result"]["title"], "Dev")
        self.assertEqual(self.server.store.serial, serial)

    def test_patch_commits_and_reports_the_new_serial(self) -> None:
        serial = self.server.store.serial
        reply = self.patch("/alice/dev", ["title=Other"])
        self.assertEqual(self.server.store.serial, serial + 1)
        self.assertEqual(reply.header("X-Devpi-Serial"), str(serial + 1))

    def test_cycle_is_refused_and_nothing_changes(self) -> None:
        self.put("/alice/prod", {"bases": ["alice/dev"]})
        before = self.config()
        serial = self.server.store.serial
        reply = self.patch("/alice/dev", ["bases=alice/prod"])
        self.assertEqual(reply.code, 400, reply)
        self.assertIn("cycle", reply.json["message"])
        self.assertEqual(self.server.store.serial, serial)
        self.assertEqual(self.config(), before)
        self.assertEqual(self.config("/alice/prod")["bases"], ["alice/dev"])

    def test_longer_cycle_is_refused(self) -> None:
        self.put("/alice/a", {"bases": ["alice/dev"]})
        self.put("/alice/b", {"bases": ["alice/a", "root/pypi"]})
        serial = self.server.store.serial
        reply = self.patch("/alice/dev", {"bases": ["root/pypi", "alice/b"]})
        self.assertEqual(reply.code, 400, reply)
        self.assertIn("cycle", reply.json["message"])
        self.assertEqual(self.server.store.serial, serial)

    def test_self_base_is_refused(self) -> None:
        serial = self.server.store.serial
        reply = self.patch("/alice/dev", ["bases=alice/dev"])
        self.assertEqual(reply.code, 400, reply)
        self.assertIn("cycle", reply.json["message"])
        self.assertEqual(self.server.store.serial, serial)

    def test_diamond_is_not_a_cycle(self) -> None:
        self.put("/alice/a", {"bases": ["root/pypi"]})
        self.put("/alice/b", {"bases": ["root/pypi"]})
        reply = self.patch("/alice/dev", ["bases=alice/a,alice/b"])
        self.assertEqual(reply.code, 200, reply)

    def test_missing_index_is_404(self) -> None:
        serial = self.server.store.serial
        self.assertRefused(
            self.patch("/alice/nope", ["title=x"]), 404,
            "The stage alice/nope could not be found.", serial,
        )


class DeleteTests(IndexTestCase):
    def test_delete_volatile_index_is_201(self) -> None:
        self.put("/alice/dev", {})
        serial = self.server.store.serial
        reply = self.server.request("DELETE", "/alice/dev", headers=self.alice)
        self.assertEqual(
            (reply.code, reply.json), (201, {"message": "index alice/dev deleted"})
        )
        self.assertEqual(reply.header("X-Devpi-Serial"), str(serial + 1))
        self.assertEqual(self.server.request("GET", "/alice/dev").code, 404)
        self.assertEqual(self.server.request("GET", "/alice").json["result"]["indexes"], {})

    def test_delete_with_trailing_slash(self) -> None:
        self.put("/alice/dev", {})
        reply = self.server.request("DELETE", "/alice/dev/", headers=self.alice)
        self.assertEqual(reply.code, 201, reply)

    def test_non_volatile_index_cannot_be_deleted(self) -> None:
        self.put("/alice/prod", {"volatile": False})
        serial = self.server.store.serial
        reply = self.server.request("DELETE", "/alice/prod", headers=self.alice)
        self.assertRefused(reply, 403, "index alice/prod non-volatile, cannot delete", serial)
        self.assertEqual(self.server.request("GET", "/alice/prod").code, 200)

    def test_deleting_a_base_leaves_a_dangling_name(self) -> None:
        self.put("/alice/prod", {})
        self.put("/alice/dev", {"bases": ["alice/prod", "root/pypi"]})
        reply = self.server.request("DELETE", "/alice/prod", headers=self.alice)
        self.assertEqual(reply.code, 201, reply)
        reply = self.server.request("GET", "/alice/dev")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["result"]["bases"], ["alice/prod", "root/pypi"])

    def test_missing_index_is_404(self) -> None:
        serial = self.server.store.serial
        reply = self.server.request("DELETE", "/alice/nope", headers=self.alice)
        self.assertRefused(reply, 404, "The stage alice/nope could not be found.", serial)


class PermissionTests(IndexTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.bob = self.server.create_user("bob")
        self.root = self.server.login("root", "")

    def test_anonymous_create_is_401_with_challenge(self) -> None:
        serial = self.server.store.serial
        reply = self.server.request("PUT", "/alice/dev", {})
        self.assertEqual(reply.code, 401)
        self.assertEqual(reply.header("WWW-Authenticate"), 'Basic realm="pypi"')
        self.assertIn("no permission to create index alice/dev", reply.json["message"])
        self.assertEqual(self.server.store.serial, serial)
        self.assertEqual(self.server.request("GET", "/alice/dev").code, 404)

    def test_other_user_cannot_create(self) -> None:
        serial = self.server.store.serial
        self.assertRefused(
            self.put("/alice/dev", {}, auth=self.bob), 403,
            "no permission to create index alice/dev", serial,
        )

    def test_other_user_cannot_modify_or_delete(self) -> None:
        self.put("/alice/dev", {})
        serial = self.server.store.serial
        self.assertRefused(
            self.patch("/alice/dev", ["title=x"], auth=self.bob), 403,
            "no permission to modify index alice/dev", serial,
        )
        self.assertRefused(
            self.server.request("DELETE", "/alice/dev", headers=self.bob), 403,
            "no permission to delete index alice/dev", serial,
        )

    def test_anonymous_cannot_modify_or_delete(self) -> None:
        self.put("/alice/dev", {})
        serial = self.server.store.serial
        for reply in (
            self.server.request("PATCH", "/alice/dev", ["title=x"]),
            self.server.request("DELETE", "/alice/dev"),
        ):
            self.assertEqual(reply.code, 401, reply)
            self.assertEqual(reply.header("WWW-Authenticate"), 'Basic realm="pypi"')
        self.assertEqual(self.server.store.serial, serial)
        self.assertEqual(self.config(), STAGE_DEFAULTS)

    def test_being_in_acl_upload_does_not_allow_modify(self) -> None:
        self.put("/alice/dev", {"acl_upload": ["alice", "bob"]})
        reply = self.patch("/alice/dev", ["title=x"], auth=self.bob)
        self.assertEqual(reply.code, 403)

    def test_root_creates_modifies_and_deletes_under_any_user(self) -> None:
        reply = self.put("/alice/dev", {}, auth=self.root)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["result"]["acl_upload"], ["alice"])
        reply = self.patch("/alice/dev", ["title=by root"], auth=self.root)
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(self.config()["title"], "by root")
        reply = self.server.request("DELETE", "/alice/dev", headers=self.root)
        self.assertEqual(reply.code, 201, reply)

    def test_owner_modifies_an_index_root_created(self) -> None:
        self.put("/alice/dev", {}, auth=self.root)
        self.assertEqual(self.patch("/alice/dev", ["title=mine"]).code, 200)

    def test_index_under_missing_user_is_404(self) -> None:
        serial = self.server.store.serial
        self.assertRefused(
            self.put("/nobody/dev", {}, auth=self.root), 404, "no user 'nobody'", serial
        )

    def test_wrong_password_is_401(self) -> None:
        serial = self.server.store.serial
        reply = self.put("/alice/dev", {}, auth=basic_auth("alice", "wrong"))
        self.assertRefused(reply, 401, "user 'alice' could not be authenticated", serial)
