"""Index config rules as pure functions: validate_config, apply_operations, create/modify/delete."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import TestCase

from devpi_twisted.model import keys
from devpi_twisted.model.errors import Conflict, Forbidden, InvalidInput, NotFound
from devpi_twisted.model.indexes import (
    apply_operations,
    create_index,
    delete_index,
    get_index,
    mirror_defaults,
    modify_index,
    stage_defaults,
    validate_config,
)


class FakeState:
    """A dict-backed store: reads, children, writes, deletes."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def children(self, parent: str) -> list[str]:
        prefix = parent + "/"
        return sorted(
            key[len(prefix):] for key in self.values
            if key.startswith(prefix) and "/" not in key[len(prefix):]
        )

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def delete(self, key: str) -> None:
        del self.values[key]


def state_with(*indexes: str, **bases: list[str]) -> FakeState:
    """Users and stage indexes named C{user/index}; C{bases} by index name."""
    state = FakeState()
    for name in indexes:
        username, indexname = name.split("/")
        state.set(keys.user(username), {"pwhash": "x"})
        config = stage_defaults(username)
        config["bases"] = bases.get(indexname, [])
        state.set(keys.index(username, indexname), config)
    return state


class DefaultsTests(TestCase):
    def test_stage_defaults(self) -> None:
        self.assertEqual(
            stage_defaults("alice"),
            {"type": "stage", "volatile": True, "bases": [], "acl_upload": ["alice"],
             "acl_toxresult_upload": [":ANONYMOUS:"], "mirror_whitelist": [],
             "mirror_whitelist_inheritance": "intersection"},
        )

    def test_mirror_defaults(self) -> None:
        self.assertEqual(mirror_defaults("alice"), {"type": "mirror", "volatile": True})

    def test_defaults_are_fresh_each_time(self) -> None:
        stage_defaults("alice")["bases"].append("x/y")
        self.assertEqual(stage_defaults("alice")["bases"], [])


class ValidateConfigTests(TestCase):
    def setUp(self) -> None:
        self.state = state_with("alice/prod", "root/base")

    def validate(self, raw: Any) -> dict[str, Any]:
        return validate_config(self.state, "alice", "dev", raw)

    def assertInvalid(self, raw: Any, message: str) -> None:
        error = self.assertRaises(InvalidInput, self.validate, raw)
        self.assertEqual(error.message, message)

    def test_empty_config_is_the_stage_defaults(self) -> None:
        self.assertEqual(self.validate({}), stage_defaults("alice"))

    def test_mirror_config(self) -> None:
        self.assertEqual(
            self.validate({"type": "mirror", "mirror_url": "http://m.example/simple/",
                           "mirror_cache_expiry": 30, "mirror_use_external_urls": "yes"}),
            {"type": "mirror", "volatile": True, "mirror_url": "http://m.example/simple/",
             "mirror_cache_expiry": 30, "mirror_use_external_urls": True},
        )

    def test_not_an_object(self) -> None:
        self.assertInvalid([], "the index config must be a JSON object")

    def test_unknown_type(self) -> None:
        self.assertInvalid({"type": "foo"}, "unknown index type 'foo'")

    def test_unknown_keys_are_listed_sorted(self) -> None:
        self.assertInvalid(
            {"zzz": 2, "nosuch": 1},
            "indexconfig got unexpected keyword arguments: nosuch=1, zzz=2",
        )

    def test_mirror_keys_are_unknown_on_a_stage(self) -> None:
        self.assertInvalid(
            {"mirror_url": "http://x/"},
            "indexconfig got unexpected keyword arguments: mirror_url=http://x/",
        )

    def test_stage_keys_are_unknown_on_a_mirror(self) -> None:
        self.assertInvalid(
            {"type": "mirror", "acl_upload": ["alice"]},
            "indexconfig got unexpected keyword arguments: acl_upload=['alice']",
        )

    def test_booleans(self) -> None:
        for value, expected in ((True, True), (False, False), ("true", True),
                                ("YES", True), ("False", False), ("no", False)):
            self.assertIs(self.validate({"volatile": value})["volatile"], expected, value)

    def test_not_booleans(self) -> None:
        self.assertInvalid({"volatile": "maybe"}, "Unknown boolean value 'maybe'.")
        self.assertInvalid({"volatile": "1"}, "Unknown boolean value '1'.")
        self.assertInvalid({"volatile": "0"}, "Unknown boolean value '0'.")
        self.assertInvalid({"volatile": 1}, "Unknown boolean value 1.")
        self.assertInvalid({"volatile": None}, "Unknown boolean value None.")

    def test_bases_from_a_comma_string(self) -> None:
        self.assertEqual(
            self.validate({"bases": " alice/prod, ,root/base,"})["bases"],
            ["alice/prod", "root/base"],
        )

    def test_bases_keep_their_order_without_duplicates(self) -> None:
        self.assertEqual(
            self.validate({"bases": ["root/base", "alice/prod", "root/base"]})["bases"],
            ["root/base", "alice/prod"],
        )

    def test_missing_base(self) -> None:
        self.assertInvalid({"bases": ["nobody/x"]}, "base index 'nobody/x' does not exist")

    def test_malformed_bases(self) -> None:
        for spec in ("x", "/x", "x/", "a/b/c"):
            self.assertInvalid({"bases": [spec]}, f"invalid base index spec: {spec!r}")

    def test_bases_must_be_strings(self) -> None:
        self.assertRaises(InvalidInput, self.validate, {"bases": [1]})
        self.assertRaises(InvalidInput, self.validate, {"bases": {"alice/prod": 1}})

    def test_own_name_as_base_is_a_cycle(self) -> None:
        self.state = state_with("alice/dev")
        error = self.assertRaises(InvalidInput, self.validate, {"bases": ["alice/dev"]})
        self.assertIn("cycle", error.message)

    def test_cycle_through_other_indexes(self) -> None:
        self.state = state_with("alice/dev", "alice/a", "bob/b", a=["bob/b"], b=["alice/dev"])
        error = self.assertRaises(InvalidInput, self.validate, {"bases": "alice/a"})
        self.assertEqual(
            error.message,
            "bases of 'alice/dev' would form a cycle: alice/dev -> alice/a -> bob/b -> alice/dev",
        )

    def test_shared_ancestors_are_no_cycle(self) -> None:
        self.state = state_with(
            "alice/dev", "alice/a", "alice/b", "root/base", a=["root/base"], b=["root/base"]
        )
        self.assertEqual(
            self.validate({"bases": ["alice/a", "alice/b"]})["bases"], ["alice/a", "alice/b"]
        )

    def test_an_existing_cycle_elsewhere_does_not_hang(self) -> None:
        self.state = state_with("alice/dev", "alice/a", "alice/b", a=["alice/b"], b=["alice/a"])
        self.assertEqual(self.validate({"bases": ["alice/a"]})["bases"], ["alice/a"])

    def test_dangling_base_of_a_base_is_no_cycle(self) -> None:
        self.state = state_with("alice/dev", "alice/a", a=["alice/gone"])
        self.assertEqual(self.validate({"bases": ["alice/a"]})["bases"], ["alice/a"])

    def test_acl_principals(self) -> None:
        config = self.validate(
            {"acl_upload": "alice, :anonymous:,bob", "acl_toxresult_upload": [":Authenticated:"]}
        )
        self.assertEqual(config["acl_upload"], ["alice", ":ANONYMOUS:", "bob"])
        self.assertEqual(config["acl_toxresult_upload"], [":AUTHENTICATED:"])

    def test_acl_duplicates_after_upper_casing_are_dropped(self) -> None:
        config = self.validate({"acl_upload": [":anonymous:", ":ANONYMOUS:"]})
        self.assertEqual(config["acl_upload"], [":ANONYMOUS:"])

    def test_empty_acl(self) -> None:
        self.assertEqual(self.validate({"acl_upload": ""})["acl_upload"], [])

    def test_mirror_whitelist_is_normalized(self) -> None:
        self.assertEqual(
            self.validate({"mirror_whitelist": "Foo_Bar,*,foo.bar,Baz"})["mirror_whitelist"],
            ["foo-bar", "*", "baz"],
        )

    def test_whitelist_inheritance(self) -> None:
        self.assertEqual(
            self.validate({"mirror_whitelist_inheritance": "Union"})[
                "mirror_whitelist_inheritance"
            ],
            "union",
        )
        self.assertInvalid(
            {"mirror_whitelist_inheritance": "xx"},
            "Unknown value 'xx' for mirror_whitelist_inheritance, "
            "must be 'intersection' or 'union'.",
        )

    def test_mirror_url(self) -> None:
        for url in ("not a url", "ftp://x.example/", "http://", 5):
            self.assertInvalid(
                {"type": "mirror", "mirror_url": url}, "'mirror_url' option must be a URL."
            )
        self.assertEqual(
            self.validate({"type": "mirror", "mirror_url": "https://u:p@m.example/s/"})[
                "mirror_url"
            ],
            "https://u:p@m.example/s/",
        )

    def test_mirror_cache_expiry(self) -> None:
        self.assertEqual(
            self.validate({"type": "mirror", "mirror_cache_expiry": "60"})[
                "mirror_cache_expiry"
            ],
            60,
        )
        for value in ("x", -1, True, 1.5, "-1"):
            self.assertInvalid(
                {"type": "mirror", "mirror_cache_expiry": value},
                "'mirror_cache_expiry' option must be an integer",
            )

    def test_text_fields_must_be_strings(self) -> None:
        self.assertRaises(InvalidInput, self.validate, {"title": 1})
        self.assertRaises(InvalidInput, self.validate, {"description": ["x"]})

    def test_custom_data_is_any_json(self) -> None:
        data = {"a": [1, None, {"b": True}]}
        self.assertEqual(self.validate({"custom_data": data})["custom_data"], data)

    def test_raw_is_not_modified(self) -> None:
        raw = {"bases": "alice/prod", "acl_upload": ":anonymous:"}
        self.validate(raw)
        self.assertEqual(raw, {"bases": "alice/prod", "acl_upload": ":anonymous:"})


class ApplyOperationsTests(TestCase):
    config = {"type": "stage", "title": "Dev", "acl_upload": ["alice"], "bases": []}

    def apply(self, *operations: Any) -> dict[str, Any]:
        return apply_operations(self.config, list(operations))

    def test_set(self) -> None:
        self.assertEqual(self.apply("title=New")["title"], "New")

    def test_set_keeps_everything_after_the_first_equals_sign(self) -> None:
        self.assertEqual(self.apply("title=a=b+=c")["title"], "a=b+=c")

    def test_set_a_list_key_leaves_a_string_for_validation(self) -> None:
        self.assertEqual(self.apply("mirror_whitelist=a,b")["mirror_whitelist"], "a,b")

    def test_append(self) -> None:
        self.assertEqual(self.apply("acl_upload+=bob")["acl_upload"], ["alice", "bob"])

    def test_append_a_present_value_is_a_no_op(self) -> None:
        self.assertEqual(self.apply("acl_upload+=alice")["acl_upload"], ["alice"])

    def test_append_to_an_absent_list_key(self) -> None:
        self.assertEqual(self.apply("mirror_whitelist+=foo")["mirror_whitelist"], ["foo"])

    def test_append_to_a_comma_string(self) -> None:
        result = self.apply("mirror_whitelist=a,b", "mirror_whitelist+=c")
        self.assertEqual(result["mirror_whitelist"], ["a", "b", "c"])

    def test_remove(self) -> None:
        self.assertEqual(self.apply("acl_upload-=alice")["acl_upload"], [])

    def test_remove_matches_the_normalized_form(self) -> None:
        config = {"acl_upload": [":ANONYMOUS:"], "mirror_whitelist": ["foo-bar"]}
        result = apply_operations(
            config, ["acl_upload-=:anonymous:", "mirror_whitelist-=Foo_Bar"]
        )
        self.assertEqual((result["acl_upload"], result["mirror_whitelist"]), ([], []))

    def test_remove_an_absent_value(self) -> None:
        error = self.assertRaises(InvalidInput, self.apply, "acl_upload-=nosuch")
        self.assertEqual(error.message, "The 'acl_upload' setting doesn't have value 'nosuch'")

    def test_remove_with_empty_value_drops_the_key(self) -> None:
        result = self.apply("title-=", "nosuch-=")
        self.assertNotIn("title", result)
        self.assertNotIn("nosuch", result)

    def test_append_or_remove_on_a_non_list_key(self) -> None:
        for operation in ("title+=x", "title-=Dev", "volatile+=x"):
            error = self.assertRaises(InvalidInput, self.apply, operation)
            self.assertIn("is not a list", error.message)

    def test_operations_apply_in_order(self) -> None:
        result = self.apply("acl_upload+=bob", "acl_upload-=alice", "acl_upload+=alice")
        self.assertEqual(result["acl_upload"], ["bob", "alice"])

    def test_malformed_operations(self) -> None:
        for operation in ("title", "=x", "ti tle=x", 5, None, ["title=x"]):
            self.assertRaises(InvalidInput, self.apply, operation)

    def test_the_input_is_not_changed(self) -> None:
        self.apply("acl_upload+=bob", "title-=")
        self.assertEqual(
            self.config,
            {"type": "stage", "title": "Dev", "acl_upload": ["alice"], "bases": []},
        )


class CreateModifyDeleteTests(TestCase):
    def setUp(self) -> None:
        self.state = state_with("alice/prod")

    def test_create_stores_the_validated_config(self) -> None:
        config = create_index(self.state, "alice", "dev", {"bases": "alice/prod"})
        self.assertEqual(config, dict(stage_defaults("alice"), bases=["alice/prod"]))
        self.assertEqual(get_index(self.state, "alice", "dev"), config)

    def test_create_refusals(self) -> None:
        self.assertRaises(Conflict, create_index, self.state, "alice", "prod", {})
        self.assertRaises(NotFound, create_index, self.state, "nobody", "dev", {})
        self.assertRaises(InvalidInput, create_index, self.state, "alice", "in dex", {})
        self.assertRaises(InvalidInput, create_index, self.state, "alice", "+dev", {})
        self.assertEqual(self.state.children(keys.indexes_of("alice")), ["prod"])

    def test_modify_with_a_full_config_resets_absent_keys(self) -> None:
        create_index(self.state, "alice", "dev", {"title": "T", "acl_upload": "bob"})
        config = modify_index(self.state, "alice", "dev", {"volatile": False})
        self.assertEqual(config, dict(stage_defaults("alice"), volatile=False))

    def test_modify_unwraps_the_envelope_and_ignores_projects(self) -> None:
        create_index(self.state, "alice", "dev", {})
        body = {"type": "indexconfig",
                "result": dict(stage_defaults("alice"), title="T", projects=["x"])}
        config = modify_index(self.state, "alice", "dev", body)
        self.assertEqual(config, dict(stage_defaults("alice"), title="T"))

    def test_modify_refuses_a_type_change(self) -> None:
        error = self.assertRaises(
            InvalidInput, modify_index, self.state, "alice", "prod", ["type=mirror"]
        )
        self.assertEqual(error.message, "the 'type' of an index can't be changed")

    def test_noop_modify_writes_nothing_or_fails_on_request(self) -> None:
        before = dict(self.state.values)
        modify_index(self.state, "alice", "prod", ["volatile=true"])
        self.assertEqual(self.state.values, before)
        error = self.assertRaises(
            InvalidInput, modify_index, self.state, "alice", "prod", ["volatile=yes"], True
        )
        self.assertEqual(error.message, "The requested modifications resulted in no changes")

    def test_modify_missing_index(self) -> None:
        error = self.assertRaises(NotFound, modify_index, self.state, "alice", "nope", [])
        self.assertEqual(error.message, "The stage alice/nope could not be found.")

    def test_delete(self) -> None:
        delete_index(self.state, "alice", "prod")
        self.assertIsNone(self.state.get(keys.index("alice", "prod")))

    def test_non_volatile_index_is_not_deleted(self) -> None:
        modify_index(self.state, "alice", "prod", ["volatile=False"])
        error = self.assertRaises(Forbidden, delete_index, self.state, "alice", "prod")
        self.assertEqual(error.message, "index alice/prod non-volatile, cannot delete")
        self.assertIsNotNone(self.state.get(keys.index("alice", "prod")))
