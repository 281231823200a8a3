"""Release file names: devpi's archive rule, name and version in the file name, dist types."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from devpi_twisted.dists.errors import InvalidDistribution
from devpi_twisted.dists.filenames import (
    check_archive_name,
    check_matches,
    check_project_name,
    check_version,
    dist_type,
    is_wheel,
)


class ArchiveNameTests(TestCase):
    def test_every_archive_suffix_passes_in_any_case(self) -> None:
        for suffix in (
            "exe",
            "tar.gz",
            "bz2",
            "rpm",
            "deb",
            "zip",
            "tgz",
            "egg",
            "dmg",
            "msi",
            "whl",
        ):
            for name in (f"pkg-1.0.{suffix}", f"PKG-1.0.{suffix.upper()}"):
                self.assertEqual(check_archive_name(name), name)

    def test_other_suffixes_are_refused_with_devpis_message(self) -> None:
        error = self.assertRaises(InvalidDistribution, check_archive_name, "x.foo")
        self.assertEqual(error.message, "'x.foo' is not a valid archive name")
        for name in ("pkg-1.0.tar", "pkg-1.0.whl.txt", "whl", ".whl", "pkg-1.0.tar.xz"):
            self.assertRaises(InvalidDistribution, check_archive_name, name)

    def test_names_with_separators_control_characters_or_a_leading_dot_are_refused(self) -> None:
        for name in (
            "../pkg-1.0.zip",
            "a/pkg-1.0.zip",
            "C:\\pkg-1.0.zip",
            "pkg-1.0.zip\n",
            "pkg\x00-1.0.zip",
            ".hidden-1.0.whl",
            "..zip",
        ):
            error = self.assertRaises(InvalidDistribution, check_archive_name, name)
            self.assertEqual(error.message, f"{name!r} is not a valid archive name")

    def test_non_strings_are_refused(self) -> None:
        self.assertRaises(InvalidDistribution, check_archive_name, None)


class MatchTests(TestCase):
    def test_filename_starting_with_the_project_name_and_containing_the_version_passes(
        self,
    ) -> None:
        check_matches("hello_pkg-1.0.tar.gz", "hello-pkg", "1.0")
        check_matches("hello_pkg-1.0-py3-none-any.whl", "Hello.Pkg", "1.0")
        check_matches("HELLO-PKG-1.0.zip", "hello_pkg", "1.0")

    def test_devpi_only_compares_the_start_of_the_normalized_names(self) -> None:
        check_matches("hello_pkg-1.0.tar.gz", "hello", "1.0")

    def test_another_project_name_is_refused(self) -> None:
        error = self.assertRaises(
            InvalidDistribution, check_matches, "hello_pkg-1.0.tar.gz", "other", "1.0"
        )
        self.assertEqual(
            error.message, "filename 'hello_pkg-1.0.tar.gz' does not match project name 'other'"
        )

    def test_a_missing_version_is_refused(self) -> None:
        error = self.assertRaises(
            InvalidDistribution, check_matches, "hello_pkg-1.0.tar.gz", "hello-pkg", "2.0"
        )
        self.assertEqual(
            error.message, "filename 'hello_pkg-1.0.tar.gz' does not contain version '2.0'"
        )

    def test_the_pep_427_escaped_version_counts(self) -> None:
        check_matches("hello_pkg-1.0_beta-py3-none-any.whl", "hello-pkg", "1.0-beta")
        check_matches("hello_pkg-1.0_beta_1.tar.gz", "hello-pkg", "1.0 beta+1")
        self.assertRaises(
            InvalidDistribution, check_matches, "hello_pkg-1.0beta.tar.gz", "hello-pkg", "1.0-beta"
        )


class DistTypeTests(TestCase):
    def test_wheels_are_recognized_by_suffix(self) -> None:
        self.assertTrue(is_wheel("hello_pkg-1.0-py3-none-any.whl"))
        self.assertTrue(is_wheel("HELLO_PKG-1.0-PY3-NONE-ANY.WHL"))
        self.assertFalse(is_wheel("hello_pkg-1.0.tar.gz"))

    def test_dist_types_are_what_twine_sends_as_filetype(self) -> None:
        cases = {
            "p-1.0-py3-none-any.whl": "bdist_wheel",
            "p-1.0.tar.gz": "sdist",
            "p-1.0.TGZ": "sdist",
            "p-1.0.tar.bz2": "sdist",
            "p-1.0.zip": "sdist",
            "p-1.0-py3.8.egg": "bdist_egg",
            "p-1.0.win32.exe": "bdist_wininst",
            "p-1.0.msi": "bdist_msi",
            "p-1.0.rpm": "bdist_rpm",
            "p-1.0.dmg": "bdist_dmg",
            "p-1.0.deb": "bdist_deb",
        }
        for filename, kind in cases.items():
            self.assertEqual(dist_type(filename), kind, filename)

    def test_non_archives_have_no_dist_type(self) -> None:
        error = self.assertRaises(InvalidDistribution, dist_type, "p-1.0.txt")
        self.assertEqual(error.message, "'p-1.0.txt' is not a valid archive name")


class ProjectNameTests(TestCase):
    def test_pep_508_names_pass(self) -> None:
        for name in ("a", "7", "hello", "Hello.Pkg", "hello_pkg-2", "a.b-c_d"):
            self.assertEqual(check_project_name(name), name)

    def test_missing_names_are_refused(self) -> None:
        for name in ("", None):
            error = self.assertRaises(InvalidDistribution, check_project_name, name)
            self.assertEqual(error.message, 'invalid metadata: Missing required field "name"')

    def test_other_characters_are_refused(self) -> None:
        for name in ("hel%lo", "hello#", "hello<", "hel lo", "hällo", "a/b", "hello\n"):
            error = self.assertRaises(InvalidDistribution, check_project_name, name)
            self.assertEqual(
                error.message,
                "invalid metadata: Invalid package name. Names must contain only ASCII "
                "letters, digits, underscores, hyphens, and periods",
            )

    def test_names_must_start_and_end_with_a_letter_or_digit(self) -> None:
        for name in ("-hello", "_hello1", ".a"):
            error = self.assertRaises(InvalidDistribution, check_project_name, name)
            self.assertEqual(
                error.message,
                "invalid metadata: Invalid package name. "
                "Names must start with an ASCII letter or digit",
            )
        for name in ("hello_", "hello-", "a."):
            error = self.assertRaises(InvalidDistribution, check_project_name, name)
            self.assertEqual(
                error.message,
                "invalid metadata: Invalid package name. "
                "Names must end with an ASCII letter or digit",
            )


class VersionTests(TestCase):
    def test_non_pep_440_versions_are_accepted_like_devpi_does(self) -> None:
        for version in ("1.0", "not a version!", "2024.01.02-final", "1.0+local.7", "ü"):
            self.assertEqual(check_version(version), version)

    def test_missing_versions_are_refused(self) -> None:
        for version in ("", None):
            error = self.assertRaises(InvalidDistribution, check_version, version)
            self.assertEqual(error.message, 'invalid metadata: Missing required field "version"')

    def test_url_unsafe_characters_are_refused(self) -> None:
        for char in '<>%#"':
            error = self.assertRaises(InvalidDistribution, check_version, f"1.0{char}")
            self.assertEqual(
                error.message, "invalid metadata: Invalid package name or version (URL safety)"
            )

    def test_slashes_and_control_characters_are_refused(self) -> None:
        for version in ("1.0/2", "../1", "1.0\n", "1\x00", "1\x7f", "1\t0"):
            error = self.assertRaises(InvalidDistribution, check_version, version)
            self.assertEqual(
                error.message,
                f"invalid metadata: Invalid version {version!r}: "
                "'/' and control characters are not allowed",
            )
