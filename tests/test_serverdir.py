"""The server directory: format marker, node uuid, single-process lock and secret file."""

from __future__ import annotations

import json
import os
import stat

from twisted.trial.unittest import TestCase

from devpi_twisted.serverdir import (
    MIN_SECRET_BYTES,
    NODEINFO,
    SECRET,
    ServerDir,
    ServerDirError,
    open_serverdir,
    read_secret,
    secret_path,
)


class OpenServerDirTests(TestCase):
    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())

    def test_refuses_a_regular_file(self) -> None:
        with open(self.path, "w") as f:
            f.write("x")
        error = self.assertRaises(ServerDirError, open_serverdir, self.path)
        self.assertIn("is not a directory", str(error))

    def test_foreign_directory_gets_no_lock_file(self) -> None:
        os.makedirs(self.path)
        with open(os.path.join(self.path, "data.txt"), "w") as f:
            f.write("x")
        self.assertRaises(ServerDirError, open_serverdir, self.path)
        self.assertEqual(os.listdir(self.path), ["data.txt"])

    def open(self, path: str) -> ServerDir:
        serverdir = open_serverdir(path)
        self.addCleanup(serverdir.close)
        return serverdir

    def nodeinfo(self) -> dict[str, object]:
        with open(os.path.join(self.path, NODEINFO)) as f:
            info: dict[str, object] = json.load(f)
        return info

    def write_nodeinfo(self, text: str) -> None:
        os.makedirs(self.path, exist_ok=True)
        with open(os.path.join(self.path, NODEINFO), "w") as f:
            f.write(text)

    def assert_refused(self, *fragments: str) -> str:
        with self.assertRaises(ServerDirError) as caught:
            open_serverdir(self.path)
        message = str(caught.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message

    def test_missing_dir_is_created_with_nodeinfo(self) -> None:
        self.path = os.path.join(self.path, "parent", "server")
        serverdir = self.open(self.path)
        self.assertEqual(serverdir.path, self.path)
        info = self.nodeinfo()
        self.assertEqual(info["format"], "devpi-twisted")
        self.assertEqual(info["version"], 1)
        self.assertRegex(str(info["uuid"]), r"^[0-9a-f]{32}$")
        self.assertEqual(serverdir.uuid, info["uuid"])
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode) & 0o077, 0)

    def test_empty_dir_is_initialised(self) -> None:
        os.makedirs(self.path)
        serverdir = self.open(self.path)
        self.assertEqual(serverdir.path, self.path)
        self.assertEqual(self.nodeinfo()["uuid"], serverdir.uuid)
        self.assertEqual(serverdir.join("store.sqlite"), os.path.join(self.path, "store.sqlite"))

    def test_path_is_made_absolute(self) -> None:
        relative = os.path.relpath(self.path)
        serverdir = self.open(relative)
        self.assertEqual(serverdir.path, self.path)

    def test_reopen_keeps_uuid(self) -> None:
        first = open_serverdir(self.path)
        first.close()
        before = self.nodeinfo()
        second = self.open(self.path)
        self.assertEqual(second.uuid, first.uuid)
        self.assertEqual(self.nodeinfo(), before)

    def test_each_new_dir_gets_its_own_uuid(self) -> None:
        one = self.open(os.path.join(self.path, "one"))
        two = self.open(os.path.join(self.path, "two"))
        self.assertNotEqual(one.uuid, two.uuid)

    def test_refuses_non_empty_dir_without_nodeinfo(self) -> None:
        os.makedirs(self.path)
        with open(os.path.join(self.path, "important.txt"), "w") as f:
            f.write("do not touch")
        self.assert_refused(self.path, "not a devpi-twisted server directory")
        self.assertEqual(os.listdir(self.path), ["important.txt"])

    def test_refuses_devpi_server_dir_and_points_to_export_import(self) -> None:
        os.makedirs(self.path)
        with open(os.path.join(self.path, ".serverversion"), "w") as f:
            f.write("6.10.0")
        message = self.assert_refused("devpi-server", "export")
        self.assertIn("import", message.replace("export", ""))
        self.assertFalse(os.path.exists(os.path.join(self.path, NODEINFO)))

    def test_refuses_nodeinfo_of_another_program(self) -> None:
        other = {"format": "something-else", "version": 1, "uuid": "0" * 32}
        self.write_nodeinfo(json.dumps(other))
        self.assert_refused("another program")

    def test_refuses_nodeinfo_that_is_not_an_object(self) -> None:
        self.write_nodeinfo("[1, 2]")
        self.assert_refused("another program")

    def test_refuses_newer_format_version(self) -> None:
        newer = {"format": "devpi-twisted", "version": 2, "uuid": "0" * 32}
        self.write_nodeinfo(json.dumps(newer))
        message = self.assert_refused("newer devpi-twisted")
        self.assertIn("2", message)

    def test_refuses_corrupt_nodeinfo(self) -> None:
        self.write_nodeinfo('{"format": "devpi-twisted", "vers')
        self.assert_refused(NODEINFO, "corrupt")

    def test_refuses_nodeinfo_without_valid_uuid(self) -> None:
        for uuid in (None, 42, "not-a-uuid", "abc123", "0" * 33, "A" * 32):
            info = {"format": "devpi-twisted", "version": 1}
            if uuid is not None:
                info["uuid"] = uuid
            self.write_nodeinfo(json.dumps(info))
            self.assert_refused(NODEINFO, "uuid")

    def test_second_open_while_in_use_is_refused_until_closed(self) -> None:
        first = open_serverdir(self.path)
        try:
            message = self.assert_refused("in use")
            self.assertIn(self.path, message)
        finally:
            first.close()
        self.assertEqual(self.open(self.path).uuid, first.uuid)


class SecretTests(TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, SECRET)

    def write_secret(self, data: bytes, mode: int) -> None:
        with open(self.path, "wb") as f:
            f.write(data)
        os.chmod(self.path, mode)

    def test_created_secret_is_private_long_and_stable(self) -> None:
        secret = read_secret(self.path, create=True)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        self.assertGreaterEqual(len(secret), MIN_SECRET_BYTES)
        self.assertGreaterEqual(MIN_SECRET_BYTES, 32)
        self.assertEqual(read_secret(self.path, create=True), secret)
        self.assertEqual(read_secret(self.path, create=False), secret)

    def test_secrets_differ_between_files(self) -> None:
        other = os.path.join(self.dir, "other")
        self.assertNotEqual(read_secret(self.path, create=True), read_secret(other, create=True))

    def test_existing_secret_is_kept(self) -> None:
        self.write_secret(b"x" * 40 + b"\n", 0o600)
        self.assertEqual(read_secret(self.path, create=True), b"x" * 40)

    def test_refuses_secret_readable_by_others(self) -> None:
        for mode in (0o644, 0o640, 0o604):
            self.write_secret(b"x" * 40, mode)
            with self.assertRaises(ServerDirError) as caught:
                read_secret(self.path, create=True)
            self.assertIn("chmod 600", str(caught.exception))

    def test_refuses_short_secret(self) -> None:
        self.write_secret(b"x" * (MIN_SECRET_BYTES - 1) + b"\n", 0o600)
        with self.assertRaises(ServerDirError) as caught:
            read_secret(self.path, create=True)
        self.assertIn(str(MIN_SECRET_BYTES), str(caught.exception))

    def test_refuses_missing_secret_without_create(self) -> None:
        with self.assertRaises(ServerDirError) as caught:
            read_secret(self.path, create=False)
        self.assertIn("does not exist", str(caught.exception))
        self.assertFalse(os.path.exists(self.path))

    def test_secret_path_is_configured_file_or_inside_serverdir(self) -> None:
        serverdir = open_serverdir(self.dir)
        self.addCleanup(serverdir.close)
        self.assertEqual(secret_path(serverdir, None), os.path.join(serverdir.path, SECRET))
        self.assertEqual(secret_path(serverdir, "x/secret"), os.path.abspath("x/secret"))
