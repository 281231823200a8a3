"""Stan helpers: sanitised HTML fragments rebuilt as tags, and flattening to bytes at once."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from twisted.web.template import Flattenable, Tag, flatten

#: Elements that have no end tag in HTML.
_VOID = frozenset(
    "area base br col embed hr img input link meta source track wbr".split()
)


class _ToStan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Tag("")
        self._open: list[Tag] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        element = Tag(tag, attributes={name: value or "" for name, value in attrs})
        self._open[-1].children.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        self._open[-1].children.append(Tag(tag, attributes={n: v or "" for n, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tagName == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._open[-1].children.append(data)


def fragment(html: str) -> Tag:
    """
    An HTML fragment (already sanitised, e.g. by readme_renderer) as stan, so
    that flattening escapes its text and attributes like any template's.
    """
    parser = _ToStan()
    parser.feed(html)
    parser.close()
    return parser.root


def flatten_now(root: Flattenable) -> bytes:
    """Flatten C{root}, which holds no Deferreds, to bytes."""
    parts: list[bytes] = []
    failures: list[Any] = []
    flatten(None, root, parts.append).addErrback(failures.append)
    if failures:
        failures[0].raiseException()
    return b"".join(parts)
