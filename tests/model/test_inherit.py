"""Index inheritance: devpi's resolution order and mirror_whitelist shadowing protection."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from twisted.trial.unittest import TestCase

from devpi_twisted.model import keys
from devpi_twisted.model.indexes import mirror_defaults, root_pypi_config, stage_defaults
from devpi_twisted.model.inherit import (
    Resolution,
    Visibility,
    project_visibility,
    resolution_order,
)


class FakeState:
    """Index configs in a dict, read the way the store is."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def children(self, parent: str) -> list[str]:
        prefix = parent + "/"
        return sorted(
            key[len(prefix):] for key in self.values
            if key.startswith(prefix) and "/" not in key[len(prefix):]
        )

    def stage(
        self,
        name: str,
        bases: Iterable[str] = (),
        whitelist: Iterable[str] = (),
        inheritance: Optional[str] = "intersection",
    ) -> None:
        """A stage index; C{inheritance=None} leaves the key out (an old config)."""
        username, indexname = name.split("/")
        config = stage_defaults(username)
        config["bases"] = list(bases)
        config["mirror_whitelist"] = list(whitelist)
        if inheritance is None:
            del config["mirror_whitelist_inheritance"]
        else:
            config["mirror_whitelist_inheritance"] = inheritance
        self.values[keys.index(username, indexname)] = config

    def mirror(self, name: str) -> None:
        username, indexname = name.split("/")
        config = root_pypi_config() if name == "root/pypi" else mirror_defaults(username)
        self.values[keys.index(username, indexname)] = config


def order_of(state: FakeState, name: str) -> list[str]:
    return [index for index, _ in resolution_order(state, name).order]


class ResolutionOrderTests(TestCase):
    """The index itself, stage bases breadth-first, then mirrors."""

    def setUp(self) -> None:
        self.state = FakeState()

    def test_index_without_bases(self) -> None:
        self.state.stage("alice/dev")
        resolution = resolution_order(self.state, "alice/dev")
        self.assertEqual([name for name, _ in resolution.order], ["alice/dev"])
        self.assertEqual(resolution.missing, [])

    def test_order_carries_the_configs(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        order = dict(resolution_order(self.state, "alice/dev").order)
        self.assertEqual(order["root/pypi"]["type"], "mirror")
        self.assertEqual(order["alice/dev"]["bases"], ["root/pypi"])

    def test_bases_in_listed_order(self) -> None:
        self.state.stage("alice/dev", bases=["bob/b", "bob/a"])
        self.state.stage("bob/a")
        self.state.stage("bob/b")
        self.assertEqual(order_of(self.state, "alice/dev"), ["alice/dev", "bob/b", "bob/a"])

    def test_breadth_first_stages(self) -> None:
        # A -> B, C; B -> D; C -> E: every first-level base comes before the second level
        self.state.stage("x/a", bases=["x/b", "x/c"])
        self.state.stage("x/b", bases=["x/d"])
        self.state.stage("x/c", bases=["x/e"])
        self.state.stage("x/d")
        self.state.stage("x/e")
        self.assertEqual(order_of(self.state, "x/a"), ["x/a", "x/b", "x/c", "x/d", "x/e"])

    def test_observed_chain(self) -> None:
        self.state.stage("alice/prod", bases=["alice/dev"], whitelist=["*"])
        self.state.stage("alice/dev", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        self.assertEqual(
            order_of(self.state, "alice/prod"), ["alice/prod", "alice/dev", "root/pypi"]
        )

    def test_mirror_listed_first_comes_after_every_stage(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi", "alice/base"])
        self.state.stage("alice/base", bases=["alice/deep"])
        self.state.stage("alice/deep")
        self.state.mirror("root/pypi")
        self.assertEqual(
            order_of(self.state, "alice/dev"),
            ["alice/dev", "alice/base", "alice/deep", "root/pypi"],
        )

    def test_mirrors_in_the_order_first_met(self) -> None:
        self.state.stage("x/a", bases=["m/two", "x/b"])
        self.state.stage("x/b", bases=["m/one", "m/two"])
        self.state.mirror("m/one")
        self.state.mirror("m/two")
        self.assertEqual(order_of(self.state, "x/a"), ["x/a", "x/b", "m/two", "m/one"])

    def test_mirror_reached_twice_is_listed_once(self) -> None:
        self.state.stage("x/a", bases=["x/b", "root/pypi"])
        self.state.stage("x/b", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        self.assertEqual(order_of(self.state, "x/a"), ["x/a", "x/b", "root/pypi"])

    def test_diamond_base_once(self) -> None:
        # A -> B, C; B -> D; C -> D
        self.state.stage("x/a", bases=["x/b", "x/c"])
        self.state.stage("x/b", bases=["x/d"])
        self.state.stage("x/c", bases=["x/d"])
        self.state.stage("x/d")
        self.assertEqual(order_of(self.state, "x/a"), ["x/a", "x/b", "x/c", "x/d"])

    def test_cycle_stops(self) -> None:
        # refused when configuring, but a stored cycle must not loop forever
        self.state.stage("x/a", bases=["x/b"])
        self.state.stage("x/b", bases=["x/a"])
        self.assertEqual(order_of(self.state, "x/a"), ["x/a", "x/b"])
        self.assertEqual(order_of(self.state, "x/b"), ["x/b", "x/a"])

    def test_index_that_is_its_own_base(self) -> None:
        self.state.stage("x/a", bases=["x/a"])
        self.assertEqual(order_of(self.state, "x/a"), ["x/a"])

    def test_mirror_index_itself(self) -> None:
        self.state.mirror("root/pypi")
        self.assertEqual(order_of(self.state, "root/pypi"), ["root/pypi"])

    def test_missing_base_is_skipped_and_reported(self) -> None:
        self.state.stage("alice/dev", bases=["alice/gone", "alice/base"])
        self.state.stage("alice/base")
        resolution = resolution_order(self.state, "alice/dev")
        self.assertEqual([name for name, _ in resolution.order], ["alice/dev", "alice/base"])
        self.assertEqual(resolution.missing, ["alice/gone"])

    def test_missing_base_of_a_base_is_reported(self) -> None:
        self.state.stage("alice/dev", bases=["alice/base"])
        self.state.stage("alice/base", bases=["bob/gone"])
        resolution = resolution_order(self.state, "alice/dev")
        self.assertEqual([name for name, _ in resolution.order], ["alice/dev", "alice/base"])
        self.assertEqual(resolution.missing, ["bob/gone"])

    def test_missing_index_itself(self) -> None:
        resolution = resolution_order(self.state, "nobody/x")
        self.assertEqual(resolution.order, [])
        self.assertEqual(resolution.missing, ["nobody/x"])


class VisibilityTestCase(TestCase):
    """Helpers: the stages holding hello-pkg, and what the visibility rule decides."""

    def setUp(self) -> None:
        self.state = FakeState()
        self.holders: set[str] = set()

    def visibility(self, name: str, project: str = "hello-pkg") -> Visibility:
        resolution = resolution_order(self.state, name)
        return project_visibility(
            resolution, project, lambda index: project == "hello-pkg" and index in self.holders
        )


class ProjectVisibilityTests(VisibilityTestCase):
    """devpi's rule (protocol 4.2) on chains of stages ending in root/pypi."""

    def test_project_on_no_stage_comes_from_the_mirror(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        visibility = self.visibility("alice/dev")
        self.assertEqual(visibility.included, ["alice/dev", "root/pypi"])
        self.assertEqual(visibility.hidden_mirrors, [])

    def test_private_project_hides_the_mirror(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")
        visibility = self.visibility("alice/dev")
        self.assertEqual(visibility.included, ["alice/dev"])
        self.assertEqual(visibility.hidden_mirrors, ["root/pypi"])

    def test_only_the_project_asked_about_counts(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")
        visibility = self.visibility("alice/dev", "other-pkg")
        self.assertEqual(visibility.included, ["alice/dev", "root/pypi"])

    def test_whitelisted_by_name(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"], whitelist=["hello-pkg"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")
        visibility = self.visibility("alice/dev")
        self.assertEqual(visibility.included, ["alice/dev", "root/pypi"])
        self.assertEqual(visibility.hidden_mirrors, [])

    def test_whitelisted_by_star(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"], whitelist=["*"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")
        self.assertEqual(self.visibility("alice/dev").included, ["alice/dev", "root/pypi"])

    def test_named_only_refuses_a_star_but_not_a_name(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"], whitelist=["*"])
        self.state.values[keys.index("alice", "dev")]["mirror_merge_named_only"] = True
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")
        self.assertEqual(self.visibility("alice/dev").hidden_mirrors, ["root/pypi"])
        # a project the stage does not hold still comes from the mirror
        self.assertEqual(self.visibility("alice/dev", "other-pkg").included, ["alice/dev", "root/pypi"])
        self.state.values[keys.index("alice", "dev")]["mirror_whitelist"] = ["*", "hello-pkg"]
        self.assertEqual(self.visibility("alice/dev").hidden_mirrors, [])

    def test_whitelisting_another_project_does_not_help(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"], whitelist=["other-pkg"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")
        self.assertEqual(self.visibility("alice/dev").hidden_mirrors, ["root/pypi"])

    def test_stages_are_always_included(self) -> None:
        self.state.stage("alice/prod", bases=["alice/dev"])
        self.state.stage("alice/dev", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        self.holders.update(["alice/prod", "alice/dev"])
        self.assertEqual(self.visibility("alice/prod").included, ["alice/prod", "alice/dev"])

    def test_no_resolution_no_visibility(self) -> None:
        visibility = project_visibility(Resolution([]), "hello-pkg", lambda index: True)
        self.assertEqual(visibility, Visibility([], []))


class ObservedExampleTests(VisibilityTestCase):
    """
    Observed on devpi 6.20.3: alice/prod (whitelist *) -> alice/dev
    (whitelist empty, holds hello-pkg) -> root/pypi.
    """

    def setUp(self) -> None:
        super().setUp()
        self.state.stage("alice/prod", bases=["alice/dev"], whitelist=["*"])
        self.state.stage("alice/dev", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")

    def test_prod_includes_the_mirror(self) -> None:
        # whitelisted at the first stage: sticky, dev's private hit does not count
        visibility = self.visibility("alice/prod")
        self.assertEqual(visibility.included, ["alice/prod", "alice/dev", "root/pypi"])
        self.assertEqual(visibility.hidden_mirrors, [])

    def test_dev_hides_the_mirror(self) -> None:
        visibility = self.visibility("alice/dev")
        self.assertEqual(visibility.included, ["alice/dev"])
        self.assertEqual(visibility.hidden_mirrors, ["root/pypi"])

    def test_project_not_held_anywhere_comes_from_the_mirror_on_dev(self) -> None:
        self.assertEqual(
            self.visibility("alice/dev", "requests").included, ["alice/dev", "root/pypi"]
        )


class InheritanceModeTests(VisibilityTestCase):
    """
    alice/prod (whitelist empty, does not hold the project) -> alice/dev
    (whitelists hello-pkg, holds it) -> root/pypi: intersection and union
    decide differently.
    """

    def build(self, inheritance: Optional[str]) -> None:
        self.state.stage("alice/prod", bases=["alice/dev"], inheritance=inheritance)
        self.state.stage("alice/dev", bases=["root/pypi"], whitelist=["hello-pkg"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")

    def test_intersection_hides_the_mirror(self) -> None:
        self.build("intersection")
        visibility = self.visibility("alice/prod")
        self.assertEqual(visibility.included, ["alice/prod", "alice/dev"])
        self.assertEqual(visibility.hidden_mirrors, ["root/pypi"])

    def test_union_includes_the_mirror(self) -> None:
        self.build("union")
        visibility = self.visibility("alice/prod")
        self.assertEqual(visibility.included, ["alice/prod", "alice/dev", "root/pypi"])
        self.assertEqual(visibility.hidden_mirrors, [])

    def test_missing_key_means_union(self) -> None:
        self.build(None)
        self.assertEqual(
            self.visibility("alice/prod").included, ["alice/prod", "alice/dev", "root/pypi"]
        )

    def test_the_requested_index_decides_the_mode(self) -> None:
        # alice/dev's own mode does not matter when alice/prod is asked
        self.build("intersection")
        self.state.stage(
            "alice/dev", bases=["root/pypi"], whitelist=["hello-pkg"], inheritance="union"
        )
        self.assertEqual(self.visibility("alice/prod").hidden_mirrors, ["root/pypi"])

    def test_whitelisting_stage_holding_the_project_is_no_private_hit(self) -> None:
        self.state.stage("alice/dev", bases=["root/pypi"], whitelist=["hello-pkg"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/dev")
        self.assertEqual(self.visibility("alice/dev").included, ["alice/dev", "root/pypi"])

    def test_intersection_whitelisted_first_stays_whitelisted(self) -> None:
        self.state.stage("alice/prod", bases=["alice/dev"], whitelist=["hello-pkg"])
        self.state.stage("alice/dev", bases=["root/pypi"])
        self.state.mirror("root/pypi")
        self.holders.update(["alice/prod", "alice/dev"])
        self.assertEqual(
            self.visibility("alice/prod").included, ["alice/prod", "alice/dev", "root/pypi"]
        )

    def test_whitelisting_after_a_private_hit_still_includes_the_mirror(self) -> None:
        # prod holds the project (a private hit), then dev whitelists it (union):
        # the mirror is judged when it is reached, by then it is whitelisted
        self.state.stage("alice/prod", bases=["alice/dev"], inheritance="union")
        self.state.stage("alice/dev", bases=["root/pypi"], whitelist=["hello-pkg"])
        self.state.mirror("root/pypi")
        self.holders.add("alice/prod")
        self.assertEqual(
            self.visibility("alice/prod").included, ["alice/prod", "alice/dev", "root/pypi"]
        )
