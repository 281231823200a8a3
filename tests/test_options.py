"""Options: defaults, DEVPI_TWISTED_* environment variables, command line, validation."""

from __future__ import annotations

import os
from typing import Optional

from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor
from twisted.python import usage
from twisted.trial.unittest import TestCase

from devpi_twisted.options import Options, default_serverdir, env_name


def parsed(*args: str, environ: Optional[dict[str, str]] = None) -> Options:
    """Options from C{environ} (empty by default) and the command line C{args}."""
    options = Options(environ={} if environ is None else environ)
    options.parseOptions(list(args))
    return options


class DefaultTests(TestCase):
    def test_defaults(self) -> None:
        options = parsed()
        self.assertEqual(options["host"], "127.0.0.1")
        self.assertEqual(options["port"], 3141)
        self.assertIsNone(options["listen"])
        self.assertIsNone(options["outside-url"])
        self.assertIsNone(options["secretfile"])
        self.assertEqual(options["log-level"], "info")
        self.assertEqual(options["root-passwd"], "")
        self.assertIsNone(options.restrict_modify())

    def test_default_serverdir_is_under_home(self) -> None:
        home = os.path.expanduser("~")
        serverdir = parsed()["serverdir"]
        self.assertEqual(serverdir, default_serverdir())
        self.assertEqual(serverdir, os.path.join(home, ".devpi-twisted", "server"))

    def test_reads_os_environ_when_no_mapping_is_given(self) -> None:
        self.patch(os, "environ", {**os.environ, "DEVPI_TWISTED_PORT": "4001"})
        self.assertEqual(Options()["port"], 4001)

    def test_env_name(self) -> None:
        self.assertEqual(env_name("outside-url"), "DEVPI_TWISTED_OUTSIDE_URL")
        self.assertEqual(env_name("port"), "DEVPI_TWISTED_PORT")


class EnvironmentTests(TestCase):
    def test_values_from_environment(self) -> None:
        options = parsed(
            environ={
                "DEVPI_TWISTED_PORT": "4000",
                "DEVPI_TWISTED_SERVERDIR": "/srv/devpi",
                "DEVPI_TWISTED_OUTSIDE_URL": "https://devpi.example.com/",
                "DEVPI_TWISTED_LOG_LEVEL": "debug",
                "DEVPI_TWISTED_MAX_REQUEST_BODY_SIZE": "1000",
                "DEVPI_TWISTED_HOST": "0.0.0.0",
                "PORT": "1",
            }
        )
        self.assertEqual(options["port"], 4000)
        self.assertEqual(options["serverdir"], "/srv/devpi")
        self.assertEqual(options["outside-url"], "https://devpi.example.com/")
        self.assertEqual(options["log-level"], "debug")
        self.assertEqual(options["max-request-body-size"], 1000)
        self.assertEqual(options["host"], "0.0.0.0")

    def test_command_line_overrides_environment(self) -> None:
        environ = {"DEVPI_TWISTED_PORT": "4000", "DEVPI_TWISTED_SERVERDIR": "/srv/env"}
        options = parsed("--port", "5000", "--serverdir", "/srv/cli", environ=environ)
        self.assertEqual(options["port"], 5000)
        self.assertEqual(options["serverdir"], "/srv/cli")

    def test_environment_values_not_given_on_command_line_remain(self) -> None:
        environ = {"DEVPI_TWISTED_PORT": "4000", "DEVPI_TWISTED_SERVERDIR": "/srv/env"}
        options = parsed("--host", "::1", environ=environ)
        self.assertEqual(options["port"], 4000)
        self.assertEqual(options["serverdir"], "/srv/env")
        self.assertEqual(options["host"], "::1")

    def test_non_integer_port_in_environment_is_a_usage_error(self) -> None:
        with self.assertRaises(usage.UsageError) as caught:
            Options(environ={"DEVPI_TWISTED_PORT": "abc"})
        self.assertIn("DEVPI_TWISTED_PORT", str(caught.exception))

    def test_invalid_environment_values_are_checked_when_parsing(self) -> None:
        for name, value in [
            ("DEVPI_TWISTED_PORT", "70000"),
            ("DEVPI_TWISTED_LOG_LEVEL", "loud"),
            ("DEVPI_TWISTED_OUTSIDE_URL", "ftp://x"),
        ]:
            options = Options(environ={name: value})
            self.assertRaises(usage.UsageError, options.parseOptions, [])


class ValidationTests(TestCase):
    def assert_usage_error(self, *args: str) -> str:
        with self.assertRaises(usage.UsageError) as caught:
            parsed(*args)
        return str(caught.exception)

    def test_port_out_of_range(self) -> None:
        self.assertIn("70000", self.assert_usage_error("--port", "70000"))
        self.assert_usage_error("--port", "-1")
        self.assertEqual(parsed("--port", "65535")["port"], 65535)
        self.assertEqual(parsed("--port", "0")["port"], 0)

    def test_port_not_a_number(self) -> None:
        self.assert_usage_error("--port", "abc")

    def test_unknown_log_level(self) -> None:
        self.assertIn("debug", self.assert_usage_error("--log-level", "nonsense"))
        self.assertEqual(parsed("--log-level", "warn")["log-level"], "warn")

    def test_outside_url_must_be_http(self) -> None:
        self.assertIn("ftp://x", self.assert_usage_error("--outside-url", "ftp://x"))
        self.assert_usage_error("--outside-url", "devpi.example.com")
        for url in ("http://devpi.example.com", "https://devpi.example.com/prefix"):
            self.assertEqual(parsed("--outside-url", url)["outside-url"], url)

    def test_request_body_size_must_be_positive(self) -> None:
        self.assert_usage_error("--max-request-body-size", "0")

    def test_unknown_option(self) -> None:
        self.assert_usage_error("--no-such-option")


class RestrictModifyTests(TestCase):
    def test_not_given_means_unrestricted(self) -> None:
        self.assertIsNone(parsed().restrict_modify())

    def test_comma_separated_principals_with_blanks_ignored(self) -> None:
        options = parsed("--restrict-modify", " root, alice,,:admins: ,")
        self.assertEqual(options.restrict_modify(), frozenset({"root", "alice", ":admins:"}))

    def test_empty_spec_is_refused(self) -> None:
        self.assertRaises(usage.UsageError, parsed, "--restrict-modify", " , ")

    def test_from_environment(self) -> None:
        options = parsed(environ={"DEVPI_TWISTED_RESTRICT_MODIFY": "root"})
        self.assertEqual(options.restrict_modify(), frozenset({"root"}))


class EndpointTests(TestCase):
    def listening_interface(self, description: str) -> tuple[int, str]:
        """The (port, interface) a server endpoint from C{description} listens on."""
        reactor = MemoryReactor()
        serverFromString(reactor, description).listen(Factory.forProtocol(Protocol))
        port, _, _, interface = reactor.tcpServers[0]
        return port, interface

    def test_host_and_port(self) -> None:
        description = parsed("--host", "0.0.0.0", "--port", "8080").endpoint_description()
        self.assertEqual(description, "tcp:8080:interface=0.0.0.0")
        self.assertEqual(self.listening_interface(description), (8080, "0.0.0.0"))

    def test_default_endpoint_is_loopback_3141(self) -> None:
        description = parsed().endpoint_description()
        self.assertEqual(self.listening_interface(description), (3141, "127.0.0.1"))

    def test_ipv6_host_is_escaped(self) -> None:
        description = parsed("--host", "::1").endpoint_description()
        self.assertEqual(description, "tcp:3141:interface=\\:\\:1")
        self.assertEqual(self.listening_interface(description), (3141, "::1"))

    def test_listen_overrides_host_and_port(self) -> None:
        options = parsed("--listen", "unix:/run/devpi.sock", "--host", "0.0.0.0", "--port", "1")
        self.assertEqual(options.endpoint_description(), "unix:/run/devpi.sock")

    def test_listen_from_environment(self) -> None:
        options = parsed(environ={"DEVPI_TWISTED_LISTEN": "tcp:0:interface=127.0.0.1"})
        self.assertEqual(options.endpoint_description(), "tcp:0:interface=127.0.0.1")
        self.assertEqual(self.listening_interface(options.endpoint_description()), (0, "127.0.0.1"))


class RoleTests(TestCase):
    def assertUsageError(self, *args: str, words: str) -> None:
        with self.assertRaises(usage.UsageError) as caught:
            parsed(*args)
        self.assertIn(words, str(caught.exception))

    def test_standalone_unless_told(self) -> None:
        self.assertEqual(parsed()["role"], "standalone")
        self.assertEqual(parsed("--role", "primary")["role"], "primary")

    def test_primary_url_makes_a_replica(self) -> None:
        options = parsed("--primary-url", "http://primary:3141", "--secretfile", "/s")
        self.assertEqual(options["role"], "replica")
        self.assertEqual(options["primary-url"], "http://primary:3141/")

    def test_replica_needs_primary_url_and_shared_secret(self) -> None:
        self.assertUsageError("--role", "replica", words="--primary-url")
        self.assertUsageError("--primary-url", "ftp://x/", "--secretfile", "/s", words="--primary-url")
        self.assertUsageError("--primary-url", "http://p/", words="--secretfile")

    def test_primary_url_only_for_replicas(self) -> None:
        self.assertUsageError("--role", "primary", "--primary-url", "http://p/", words="replicas")

    def test_unknown_role(self) -> None:
        self.assertUsageError("--role", "boss", words="--role must be one of")

    def test_devpi_name_for_primary(self) -> None:
        self.assertEqual(parsed("--role", "master")["role"], "primary")


class BlobStoreTests(TestCase):
    def test_the_default_is_the_server_directorys_blobs(self) -> None:
        location = parsed().blob_location()
        self.assertIsNone(location.directory)
        self.assertIsNone(location.s3)

    def test_a_directory(self) -> None:
        self.assertEqual(parsed("--blob-store", "file:///srv/blobs").blob_location().directory, "/srv/blobs")

    def test_a_bucket_with_its_settings(self) -> None:
        options = parsed(
            "--blob-store", "s3://files/devpi/prod/",
            "--s3-endpoint-url", "http://minio:9000",
            "--s3-region", "eu-west-1",
            "--s3-addressing-style", "path",
            "--s3-part-size", str(16 * 1024 * 1024),
            "--blob-redirect",
        )
        s3 = options.blob_location().s3
        self.assertEqual((s3.bucket, s3.prefix), ("files", "devpi/prod"))
        self.assertEqual((s3.endpoint_url, s3.region, s3.addressing_style), ("http://minio:9000", "eu-west-1", "path"))
        self.assertEqual(s3.part_size, 16 * 1024 * 1024)
        self.assertEqual(s3.location, "s3://files/devpi/prod at http://minio:9000")
        self.assertTrue(options["blob-redirect"])

    def test_from_the_environment(self) -> None:
        options = parsed(environ={"DEVPI_TWISTED_BLOB_STORE": "s3://b", "DEVPI_TWISTED_BLOB_REDIRECT": "1"})
        self.assertEqual(options.blob_location().s3.bucket, "b")
        self.assertTrue(options["blob-redirect"])

    def test_refused(self) -> None:
        for args, message in [
            (["--blob-store", "/srv/blobs"], "use file, file:///DIR or s3://BUCKET/PREFIX"),
            (["--blob-store", "file://host/srv"], "file:///DIR"),
            (["--blob-store", "file:///"], "file:///DIR"),
            (["--blob-store", "s3://"], "s3://BUCKET/PREFIX"),
            (["--blob-store", "s3://key:secret@bucket/"], "no credentials in the URL"),
            (["--blob-redirect"], "--blob-redirect needs an s3:// --blob-store"),
            (["--s3-addressing-style", "dns"], "--s3-addressing-style must be one of"),
            (["--s3-part-size", "1000"], "--s3-part-size must be between 64 KiB and 5 GiB"),
            (["--s3-timeout", "0"], "must be positive"),
            (["--s3-endpoint-url", "http://key:secret@minio/"], "no credentials in the URL"),
            (["--s3-endpoint-url", "minio:9000"], "is not an http(s) URL"),
            (["--blob-store", "s3://b", "--blob-redirect", "--blob-redirect-expiry", "0"], "--blob-redirect-expiry"),
        ]:
            with self.assertRaises(usage.UsageError) as caught:
                parsed(*args)
            self.assertIn(message, str(caught.exception), args)
            self.assertNotIn("secret", str(caught.exception))
