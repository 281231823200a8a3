"""The real service tree on a free loopback port: start-up, restart, locking, limits, options."""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IConsumer
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from devpi_twisted.serverdir import NODEINFO, ServerDirError
from tests.support import RunningServer, basic_auth, devpi_auth, server_options


@implementer(IBodyProducer)
class UnknownLengthProducer:
    """A body whose length the client does not announce, so it is sent chunked."""

    length = UNKNOWN_LENGTH

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def startProducing(self, consumer: IConsumer) -> Deferred[None]:
        for chunk in self._chunks:
            consumer.write(chunk)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class RealServerTestCase(TestCase):
    """Starts real servers and always stops them again."""

    def setUp(self) -> None:
        self.serverdir = os.path.abspath(self.mktemp())
        self.running: list[RunningServer] = []
        self.addCleanup(self.stop_all)

    async def start(self, *args: str) -> RunningServer:
        # offline: a GET of root/pypi must not fetch the public PyPI's project list
        server = RunningServer(server_options(self.serverdir, "--offline-mode", *args))
        self.running.append(server)
        await server.start()
        return server

    async def stop(self, server: RunningServer) -> None:
        self.running.remove(server)
        await server.stop()

    def stop_all(self) -> Deferred[None]:
        async def stop_all() -> None:
            while self.running:
                await self.stop(self.running[-1])

        return Deferred.fromCoroutine(stop_all())

    async def login(self, server: RunningServer, username: str, password: str) -> dict[str, str]:
        reply = await server.request("POST", "/+login", {"user": username, "password": password})
        self.assertEqual(reply.code, 200, reply)
        return devpi_auth(username, reply.json["result"]["password"])


class StartUpTests(RealServerTestCase):
    async def test_first_start_creates_root_and_root_pypi(self) -> None:
        server = await self.start()
        users = await server.request("GET", "/")
        self.assertEqual(users.code, 200, users)
        self.assertEqual(list(users.json["result"]), ["root"])
        pypi = await server.request("GET", "/root/pypi")
        self.assertEqual(pypi.code, 200, pypi)
        self.assertEqual(pypi.json["result"]["type"], "mirror")
        with open(os.path.join(self.serverdir, NODEINFO)) as f:
            self.assertEqual(json.load(f)["format"], "devpi-twisted")

    async def test_api_over_a_real_socket(self) -> None:
        server = await self.start()
        reply = await server.request("GET", "/+api")
        self.assertEqual(reply.code, 200, reply)
        self.assertEqual(reply.json["type"], "apiconfig")
        self.assertEqual(reply.json["result"]["login"], server.url + "/+login")
        self.assertEqual(reply.header("X-Devpi-Api-Version"), "2")

    async def test_root_has_an_empty_password_by_default(self) -> None:
        server = await self.start()
        await self.login(server, "root", "")

    async def test_data_survives_a_restart(self) -> None:
        server = await self.start()
        root = await self.login(server, "root", "")
        created = await server.request("PUT", "/alice", {"password": "secret"}, headers=root)
        self.assertEqual(created.code, 201, created)
        alice = await self.login(server, "alice", "secret")
        index = await server.request(
            "PUT", "/alice/dev", {"bases": ["root/pypi"], "volatile": False}, headers=alice
        )
        self.assertEqual(index.code, 200, index)
        before = await server.request("GET", "/alice/dev")
        await self.stop(server)

        again = await self.start()
        after = await again.request("GET", "/alice/dev")
        self.assertEqual(after.code, 200, after)
        self.assertEqual(after.json, before.json)
        self.assertEqual(after.header("X-Devpi-Serial"), before.header("X-Devpi-Serial"))
        self.assertEqual(after.header("X-Devpi-Uuid"), before.header("X-Devpi-Uuid"))
        # the signing secret is kept too, so the token from before still works
        api = await again.request("GET", "/+api", headers=alice)
        self.assertEqual(api.json["result"]["authstatus"][:2], ["ok", "alice"])
        await self.login(again, "alice", "secret")

    async def test_a_second_server_on_the_same_serverdir_is_refused(self) -> None:
        server = await self.start()
        with self.assertRaises(ServerDirError) as caught:
            RunningServer(server_options(self.serverdir))
        self.assertIn("in use by another devpi-twisted process", str(caught.exception))
        reply = await server.request("GET", "/+api")
        self.assertEqual(reply.code, 200, reply)

    async def test_the_lock_is_released_on_stop(self) -> None:
        server = await self.start()
        await self.stop(server)
        again = await self.start()
        self.assertEqual((await again.request("GET", "/root/pypi")).code, 200)

    async def test_a_directory_of_another_program_is_refused(self) -> None:
        os.makedirs(self.serverdir)
        with open(os.path.join(self.serverdir, "data.txt"), "w") as f:
            f.write("not ours")
        with self.assertRaises(ServerDirError) as caught:
            RunningServer(server_options(self.serverdir))
        self.assertIn("not a devpi-twisted server directory", str(caught.exception))
        self.assertEqual(sorted(os.listdir(self.serverdir)), ["data.txt"])


class BodySizeLimitTests(RealServerTestCase):
    #: valid JSON that would create the user, padded past the limit
    BIG_USER = json.dumps({"password": "secret"}).encode() + b" " * 3000

    async def assertNothingStored(self, server: RunningServer, serial: Optional[str]) -> None:
        self.assertEqual((await server.request("GET", "/alice")).code, 404)
        status = await server.request("GET", "/+api")
        self.assertEqual(status.header("X-Devpi-Serial"), serial)

    async def test_a_small_body_is_accepted(self) -> None:
        server = await self.start("--max-request-body-size", "1000")
        reply = await server.request("PUT", "/alice", data=json.dumps({"password": "secret"}).encode())
        self.assertEqual(reply.code, 201, reply)

    async def test_content_length_above_the_limit_is_413(self) -> None:
        server = await self.start("--max-request-body-size", "1000")
        serial = (await server.request("GET", "/+api")).header("X-Devpi-Serial")
        reply = await server.request("PUT", "/alice", data=self.BIG_USER)
        self.assertEqual(reply.code, 413, reply)
        self.assertEqual(reply.json, {"message": "request body larger than 1000 bytes"})
        await self.assertNothingStored(server, serial)

    async def test_chunked_body_above_the_limit_is_413(self) -> None:
        server = await self.start("--max-request-body-size", "1000")
        serial = (await server.request("GET", "/+api")).header("X-Devpi-Serial")
        pool = HTTPConnectionPool(reactor, persistent=False)
        agent = Agent(reactor, pool=pool)
        chunks = [self.BIG_USER[i : i + 500] for i in range(0, len(self.BIG_USER), 500)]
        response: Any = await agent.request(
            b"PUT",
            (server.url + "/alice").encode(),
            Headers({b"accept": [b"application/json"]}),
            UnknownLengthProducer(chunks),
        )
        body = await readBody(response)
        await pool.closeCachedConnections()
        self.assertEqual(response.code, 413, body)
        self.assertEqual(json.loads(body), {"message": "request body larger than 1000 bytes"})
        await self.assertNothingStored(server, serial)


class OptionTests(RealServerTestCase):
    async def test_root_passwd_sets_roots_password(self) -> None:
        server = await self.start("--root-passwd", "Secr3t")
        await self.login(server, "root", "Secr3t")
        reply = await server.request("POST", "/+login", {"user": "root", "password": ""})
        self.assertEqual(reply.code, 401, reply)
        created = await server.request(
            "PUT", "/alice", {"password": "pw"}, headers=basic_auth("root", "Secr3t")
        )
        self.assertEqual(created.code, 201, created)

    async def test_root_passwd_only_applies_when_the_serverdir_is_created(self) -> None:
        server = await self.start("--root-passwd", "first")
        await self.stop(server)
        again = await self.start("--root-passwd", "second")
        await self.login(again, "root", "first")
        reply = await again.request("POST", "/+login", {"user": "root", "password": "second"})
        self.assertEqual(reply.code, 401, reply)

    async def test_restrict_modify_leaves_index_management_to_the_named_principals(self) -> None:
        server = await self.start("--restrict-modify", "root")
        anonymous = await server.request("PUT", "/mallory", {"password": "x"})
        self.assertEqual(anonymous.code, 401, anonymous)
        root = await self.login(server, "root", "")
        created = await server.request("PUT", "/alice", {"password": "secret"}, headers=root)
        self.assertEqual(created.code, 201, created)
        alice = await self.login(server, "alice", "secret")
        own_index = await server.request("PUT", "/alice/dev", {}, headers=alice)
        self.assertEqual(own_index.code, 403, own_index)
        self.assertEqual((await server.request("GET", "/alice/dev")).code, 404)
        by_root = await server.request("PUT", "/alice/dev", {}, headers=root)
        self.assertEqual(by_root.code, 200, by_root)

    async def test_without_restrict_modify_users_manage_their_own_indexes(self) -> None:
        server = await self.start()
        created = await server.request("PUT", "/alice", {"password": "secret"})
        self.assertEqual(created.code, 201, created)
        alice = await self.login(server, "alice", "secret")
        own_index = await server.request("PUT", "/alice/dev", {}, headers=alice)
        self.assertEqual(own_index.code, 200, own_index)
