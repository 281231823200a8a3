"""Readable HTML for browsers: API results as nested tables."""

from __future__ import annotations

from html import escape
from typing import Any


def _render(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "<em>none</em>"
        rows = "".join(
            f"<tr><th>{escape(str(key))}</th><td>{_render(item)}</td></tr>"
            for key, item in value.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        if not value:
            return "<em>none</em>"
        return "<ul>" + "".join(f"<li>{_render(item)}</li>" for item in value) + "</ul>"
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return f'<a href="{escape(value)}">{escape(value)}</a>'
    return escape("" if value is None else str(value))


def html_page(title: str, data: Any) -> bytes:
    """A complete HTML page showing C{data} under the heading C{title}."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif}th{text-align:left;vertical-align:top;"
        "padding-right:1em}td,th{border-bottom:1px solid #ddd}</style></head>\n"
        f"<body><h1>{escape(title)}</h1>\n{_render(data)}\n</body></html>\n"
    ).encode("utf-8")
