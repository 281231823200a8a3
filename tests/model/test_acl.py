"""Identities, principals and the permission rules, with and without restrict-modify."""

from __future__ import annotations

from typing import Callable

from twisted.trial.unittest import TestCase

from devpi_twisted.model.acl import (
    ANONYMOUS,
    AUTHENTICATED,
    Identity,
    Policy,
    allows,
    may_delete_entries,
    normalize_principal,
)
from devpi_twisted.model.errors import Forbidden, PermissionDenied

NOBODY = Identity()
ROOT = Identity("root")
ALICE = Identity("alice")
BOB = Identity("bob")
ZED = Identity("zed")


class PrincipalTests(TestCase):
    def test_anonymous_is_only_anonymous(self) -> None:
        self.assertEqual(NOBODY.principals, {ANONYMOUS})

    def test_a_user_is_also_anonymous_and_authenticated(self) -> None:
        self.assertEqual(ALICE.principals, {ANONYMOUS, AUTHENTICATED, "alice"})

    def test_groups_become_colon_principals(self) -> None:
        identity = Identity("alice", groups=("ops", "dev"))
        self.assertEqual(
            identity.principals, {ANONYMOUS, AUTHENTICATED, "alice", ":ops", ":dev"}
        )

    def test_special_principals_are_upper_cased(self) -> None:
        self.assertEqual(normalize_principal(":anonymous:"), ":ANONYMOUS:")
        self.assertEqual(normalize_principal(":Authenticated:"), ":AUTHENTICATED:")

    def test_other_principals_keep_their_case(self) -> None:
        self.assertEqual(normalize_principal("Alice"), "Alice")
        self.assertEqual(normalize_principal(":Ops"), ":Ops")

    def test_anonymous_acl_allows_everyone(self) -> None:
        self.assertTrue(allows([ANONYMOUS], NOBODY))
        self.assertTrue(allows([ANONYMOUS], ALICE))

    def test_authenticated_acl_allows_users_only(self) -> None:
        self.assertFalse(allows([AUTHENTICATED], NOBODY))
        self.assertTrue(allows([AUTHENTICATED], ALICE))

    def test_user_acl_allows_that_user_only(self) -> None:
        self.assertTrue(allows(["alice"], ALICE))
        self.assertFalse(allows(["alice"], BOB))
        self.assertFalse(allows(["alice"], NOBODY))
        self.assertFalse(allows(["alice"], ROOT))
        self.assertFalse(allows([], ALICE))

    def test_user_names_are_case_sensitive(self) -> None:
        self.assertFalse(allows(["Alice"], ALICE))

    def test_group_acl(self) -> None:
        self.assertTrue(allows([":ops"], Identity("carol", groups=("ops",))))
        self.assertFalse(allows([":ops"], ALICE))


class PolicyTestCase(TestCase):
    policy = Policy()

    def assertAllowed(self, check: Callable[..., None], *args: object) -> None:
        check(*args)

    def assertDenied(self, check: Callable[..., None], *args: object) -> PermissionDenied:
        return self.assertRaises(PermissionDenied, check, *args)


class DefaultPolicyTests(PolicyTestCase):
    """devpi's permission table without --restrict-modify (protocol 7.2)."""

    def test_anyone_creates_users(self) -> None:
        for identity in (NOBODY, ALICE, ROOT):
            self.assertAllowed(self.policy.check_create_user, identity, "zed")

    def test_user_itself_and_root_modify_a_user(self) -> None:
        for password_only in (True, False):
            self.assertAllowed(self.policy.check_modify_user, ALICE, "alice", password_only)
            self.assertAllowed(self.policy.check_modify_user, ROOT, "alice", password_only)
            self.assertDenied(self.policy.check_modify_user, BOB, "alice", password_only)
            self.assertDenied(self.policy.check_modify_user, NOBODY, "alice", password_only)

    def test_modify_message(self) -> None:
        error = self.assertDenied(self.policy.check_modify_user, BOB, "alice", False)
        self.assertEqual(error.message, "no permission to modify user alice")

    def test_user_itself_and_root_delete_a_user(self) -> None:
        self.assertAllowed(self.policy.check_delete_user, ALICE, "alice")
        self.assertAllowed(self.policy.check_delete_user, ROOT, "alice")
        self.assertDenied(self.policy.check_delete_user, BOB, "alice")
        self.assertDenied(self.policy.check_delete_user, NOBODY, "alice")

    def test_nobody_deletes_root(self) -> None:
        for identity in (ROOT, ALICE, NOBODY):
            self.assertRaises(Forbidden, self.policy.check_delete_user, identity, "root")

    def test_owner_and_root_manage_indexes(self) -> None:
        for check in (
            self.policy.check_create_index,
            self.policy.check_modify_index,
            self.policy.check_delete_index,
        ):
            self.assertAllowed(check, ALICE, "alice", "dev")
            self.assertAllowed(check, ROOT, "alice", "dev")
            self.assertDenied(check, BOB, "alice", "dev")
            self.assertDenied(check, NOBODY, "alice", "dev")

    def test_index_messages_name_the_action_and_index(self) -> None:
        for check, action in (
            (self.policy.check_create_index, "create"),
            (self.policy.check_modify_index, "modify"),
            (self.policy.check_delete_index, "delete"),
        ):
            error = self.assertDenied(check, BOB, "alice", "dev")
            self.assertEqual(error.message, f"no permission to {action} index alice/dev")

    def test_groups_grant_nothing_without_restrict_modify(self) -> None:
        admin = Identity("carol", groups=("root",))
        self.assertDenied(self.policy.check_create_index, admin, "alice", "dev")


class RestrictModifyRootTests(PolicyTestCase):
    """--restrict-modify root, as observed on devpi-server (protocol 7.2)."""

    policy = Policy(restrict_modify=frozenset({"root"}))

    def test_only_root_creates_users(self) -> None:
        self.assertDenied(self.policy.check_create_user, NOBODY, "zed")
        self.assertDenied(self.policy.check_create_user, ALICE, "zed")
        self.assertAllowed(self.policy.check_create_user, ROOT, "zed")

    def test_create_user_message(self) -> None:
        error = self.assertDenied(self.policy.check_create_user, NOBODY, "zed")
        self.assertEqual(error.message, "no permission to create user zed")

    def test_user_may_not_create_its_own_index(self) -> None:
        error = self.assertDenied(self.policy.check_create_index, ZED, "zed", "dev")
        self.assertEqual(error.message, "no permission to create index zed/dev")

    def test_only_root_manages_indexes(self) -> None:
        for check in (
            self.policy.check_create_index,
            self.policy.check_modify_index,
            self.policy.check_delete_index,
        ):
            self.assertAllowed(check, ROOT, "zed", "dev")
            self.assertDenied(check, ZED, "zed", "dev")
            self.assertDenied(check, NOBODY, "zed", "dev")

    def test_user_changes_its_own_password(self) -> None:
        self.assertAllowed(self.policy.check_modify_user, ZED, "zed", True)

    def test_user_may_not_change_another_users_password(self) -> None:
        self.assertDenied(self.policy.check_modify_user, BOB, "zed", True)
        self.assertDenied(self.policy.check_modify_user, NOBODY, "zed", True)

    def test_user_may_not_change_its_other_fields(self) -> None:
        self.assertDenied(self.policy.check_modify_user, ZED, "zed", False)

    def test_root_modifies_any_user(self) -> None:
        self.assertAllowed(self.policy.check_modify_user, ROOT, "zed", False)
        self.assertAllowed(self.policy.check_modify_user, ROOT, "zed", True)

    def test_user_may_not_delete_itself(self) -> None:
        self.assertDenied(self.policy.check_delete_user, ZED, "zed")

    def test_root_deletes_other_users_but_never_root(self) -> None:
        self.assertAllowed(self.policy.check_delete_user, ROOT, "zed")
        self.assertRaises(Forbidden, self.policy.check_delete_user, ROOT, "root")


class RestrictModifyOtherPrincipalsTests(PolicyTestCase):
    """--restrict-modify with principals other than root."""

    def test_root_not_listed_loses_its_powers(self) -> None:
        policy = Policy(restrict_modify=frozenset({"admin"}))
        self.assertDenied(policy.check_create_user, ROOT, "zed")
        self.assertDenied(policy.check_create_index, ROOT, "root", "dev")
        self.assertDenied(policy.check_modify_user, ROOT, "zed", False)
        self.assertAllowed(policy.check_create_index, Identity("admin"), "zed", "dev")

    def test_listed_principal_deletes_any_user_but_itself(self) -> None:
        policy = Policy(restrict_modify=frozenset({"admin"}))
        admin = Identity("admin")
        self.assertAllowed(policy.check_delete_user, admin, "zed")
        self.assertDenied(policy.check_delete_user, admin, "admin")

    def test_group_principal(self) -> None:
        policy = Policy(restrict_modify=frozenset({":ops"}))
        operator = Identity("carol", groups=("ops",))
        self.assertAllowed(policy.check_create_user, operator, "zed")
        self.assertAllowed(policy.check_modify_index, operator, "zed", "dev")
        self.assertDenied(policy.check_modify_index, ZED, "zed", "dev")

    def test_authenticated_lets_every_user_manage(self) -> None:
        policy = Policy(restrict_modify=frozenset({AUTHENTICATED}))
        self.assertAllowed(policy.check_create_user, ALICE, "zed")
        self.assertAllowed(policy.check_create_index, ALICE, "bob", "dev")
        self.assertDenied(policy.check_create_user, NOBODY, "zed")

    def test_anonymous_lets_everyone_create_users(self) -> None:
        policy = Policy(restrict_modify=frozenset({ANONYMOUS}))
        self.assertAllowed(policy.check_create_user, NOBODY, "zed")

    def test_empty_restriction_allows_no_management(self) -> None:
        policy = Policy(restrict_modify=frozenset())
        self.assertDenied(policy.check_create_user, ROOT, "zed")
        self.assertDenied(policy.check_create_index, ALICE, "alice", "dev")
        self.assertAllowed(policy.check_modify_user, ALICE, "alice", True)


class DeleteEntriesTests(TestCase):
    """devpi's del_entry: acl_upload principals, the index owner and root."""

    config = {"acl_upload": ["bob"]}

    def test_owner_and_root_may_delete(self) -> None:
        self.assertTrue(may_delete_entries(ALICE, "alice", self.config))
        self.assertTrue(may_delete_entries(ROOT, "alice", self.config))

    def test_upload_acl_members_may_delete(self) -> None:
        self.assertTrue(may_delete_entries(BOB, "alice", self.config))
        self.assertTrue(may_delete_entries(Identity("carol", ("ops",)), "alice", {"acl_upload": [":ops"]}))

    def test_others_and_anonymous_may_not(self) -> None:
        self.assertFalse(may_delete_entries(ZED, "alice", self.config))
        self.assertFalse(may_delete_entries(NOBODY, "alice", self.config))
        self.assertFalse(may_delete_entries(BOB, "alice", {}))

    def test_anonymous_upload_acl_lets_everyone_delete(self) -> None:
        self.assertTrue(may_delete_entries(NOBODY, "alice", {"acl_upload": [ANONYMOUS]}))
