"""Sends browsers' page requests to the UI; everything else (JSON, installers, files) to the API."""

from __future__ import annotations

from urllib.parse import unquote

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect

from devpi_twisted.web.replies import wants_html
from devpi_twisted.web.simple import wants_simple


def is_browser(request: IRequest) -> bool:
    """A browser's GET: it asks for text/html (not JSON) and is not an installer."""
    return request.method in (b"GET", b"HEAD") and wants_html(request) and not wants_simple(request)


class BrowserGate(Resource):
    """Serves C{ui} for browsers' GETs of the URLs in C{ui_map}, else C{api}."""

    isLeaf = True

    def __init__(self, ui: IResource, ui_map: Map, api: IResource) -> None:
        super().__init__()
        self._ui = ui
        self._map = ui_map.bind("ui")
        self._api = api

    def _has_page(self, request: IRequest) -> bool:
        path = unquote(request.path.decode("utf-8", "replace"))
        try:
            self._map.match(path, method="GET")
        except RequestRedirect:
            return True
        except HTTPException:
            return False
        return True

    def render(self, request: IRequest) -> object:
        if is_browser(request) and self._has_page(request):
            return self._ui.render(request)
        return self._api.render(request)
