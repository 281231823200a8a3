"""Descriptions rendered as PyPI renders them (readme_renderer), sanitised, and kept once rendered."""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from email.message import Message
from typing import Optional

import readme_renderer.markdown
import readme_renderer.rst
import readme_renderer.txt

from devpi_twisted.threads import Runner


def content_type_of(value: str) -> tuple[str, Optional[str]]:
    """The media type and Markdown variant of a C{description_content_type} ("" means reST)."""
    message = Message()
    message["content-type"] = value or "text/x-rst"
    return message.get_content_type(), message.get_param("variant")  # type: ignore[return-value]


def render_description(text: str, content_type: str) -> str:
    """
    The description as sanitised HTML, the way Warehouse and C{twine check}
    render it: reST (the default), Markdown (GFM or CommonMark) or plain
    text; reST that does not parse is shown as plain text.
    """
    media, variant = content_type_of(content_type)
    rendered: Optional[str] = None
    if media == "text/markdown":
        rendered = readme_renderer.markdown.render(text, variant=variant or "GFM")
    elif media == "text/x-rst":
        # docutils' warnings about a bad description are not the server's to log
        rendered = readme_renderer.rst.render(text, stream=io.StringIO())
    if rendered is None:
        rendered = readme_renderer.txt.render(text)
    return rendered or ""


class Descriptions:
    """Rendered descriptions by their text's hash, rendered in a thread, the most recent kept."""

    def __init__(self, run: Runner, size: int = 512) -> None:
        self._run = run
        self._size = size
        self._rendered: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def html(self, text: str, content_type: str) -> str:
        """The sanitised HTML of a description."""
        key = (hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), content_type)
        found = self._rendered.get(key)
        if found is None:
            found = await self._run(lambda: render_description(text, content_type))
            self._rendered[key] = found
            if len(self._rendered) > self._size:
                self._rendered.popitem(last=False)
        else:
            self._rendered.move_to_end(key)
        return found
