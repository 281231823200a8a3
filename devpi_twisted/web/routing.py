"""The server's URL map: route classes (Klein's C{app} as a class attribute) joined into one app."""

from __future__ import annotations

from typing import Any, cast

from klein import Klein
from twisted.web.iweb import IRequest
from werkzeug.routing import BaseConverter

from devpi_twisted.web.site import LimitedRequest


class NameConverter(BaseConverter):
    """A path segment that is a name: anything but C{/}, not starting with C{+}."""

    regex = r"[^/+][^/]*"
    # one segment only; else werkzeug cannot match the trailing-slash form
    part_isolating = True


def route_map() -> Klein:
    """The C{app} of a route class: a klein app that knows the C{name} converter."""
    app = Klein()
    app.url_map.converters["name"] = NameConverter
    return app


class RouteTable(Klein):
    """
    One app serving the routes of several route objects in one URL map, so
    that matching, trailing-slash redirects and 405s see every route; each
    request is run by the route object that owns the endpoint, and notes
    the endpoint (the route method's name) on the request for the access log.
    """

    def __init__(self) -> None:
        super().__init__()
        self.url_map.converters["name"] = NameConverter
        self._owners: dict[str, Klein] = {}

    def include(self, routes: Klein) -> None:
        """Serve the routes of C{routes}, a route object's bound app (C{obj.app})."""
        for rule in routes.url_map.iter_rules():
            self.url_map.add(rule.empty())
        for endpoint, handler in routes.endpoints.items():
            if endpoint in self._owners:
                raise ValueError(f"two routes are named {endpoint}")
            self._owners[endpoint] = routes
            self._endpoints[endpoint] = handler

    def execute_endpoint(self, endpoint: str, request: IRequest, *args: Any, **kwargs: Any) -> Any:
        cast(LimitedRequest, request).route = endpoint  # the site makes only these
        return self._owners[endpoint].execute_endpoint(endpoint, request, *args, **kwargs)
