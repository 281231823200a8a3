"""Route classes joined into one URL map: matching, 405s and route names across classes."""

from __future__ import annotations

from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest

from devpi_twisted.web.routing import RouteTable, route_map
from tests.support import result_of


class Reads:
    app = route_map()

    def __init__(self, greeting: str) -> None:
        self._greeting = greeting

    @app.route("/<name:username>", methods=["GET"])
    def read_user(self, request: IRequest, username: str) -> bytes:
        request.setHeader(b"x-route", request.route.encode())  # type: ignore[attr-defined]
        return f"{self._greeting} {username}".encode()


class Writes:
    app = route_map()

    @app.route("/<name:username>", methods=["PUT"])
    def write_user(self, request: IRequest, username: str) -> bytes:
        return f"wrote {username}".encode()


def client(*routes: object) -> StubTreq:
    table = RouteTable()
    for owner in routes:
        table.include(owner.app)  # type: ignore[attr-defined]
    return StubTreq(table.resource())


def fetch(http: StubTreq, method: str, path: str) -> tuple[int, bytes, list[bytes]]:
    response = result_of(http.request(method, "http://devpi.test" + path))
    body = result_of(response.content())
    return response.code, body, response.headers.getRawHeaders(b"allow", []) + response.headers.getRawHeaders(b"x-route", [])


class RouteTableTests(SynchronousTestCase):
    def test_each_request_runs_on_the_object_owning_the_route(self) -> None:
        http = client(Reads("hello"), Writes())
        self.assertEqual(fetch(http, "GET", "/alice"), (200, b"hello alice", [b"read_user"]))
        self.assertEqual(fetch(http, "PUT", "/alice")[:2], (200, b"wrote alice"))

    def test_two_objects_of_one_class_keep_their_own_collaborators(self) -> None:
        self.assertEqual(fetch(client(Reads("hi")), "GET", "/bob")[1], b"hi bob")
        self.assertEqual(fetch(client(Reads("hey")), "GET", "/bob")[1], b"hey bob")

    def test_a_method_no_class_routes_is_405_with_the_methods_of_every_class(self) -> None:
        code, _, allow = fetch(client(Reads("hello"), Writes()), "DELETE", "/alice")
        self.assertEqual(code, 405)
        self.assertEqual(sorted(allow[0].decode().split(", ")), ["GET", "HEAD", "PUT"])

    def test_the_name_converter_refuses_plus_names(self) -> None:
        self.assertEqual(fetch(client(Reads("hello")), "GET", "/+api")[0], 404)

    def test_two_routes_of_one_name_are_refused(self) -> None:
        table = RouteTable()
        table.include(Reads("a").app)
        self.assertRaises(ValueError, table.include, Reads("b").app)
