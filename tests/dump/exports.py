"""The devpi-server 6 export kept as test data, and copies of it to edit."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Callable

#: A real devpi-server 6.20.3 export (see its README.md).
DEVPI6_EXPORT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "devpi6-export")
DEV = "alice/dev"
WHEEL_1_0 = "alice/dev/hello-pkg/1.0/hello_pkg-1.0-py3-none-any.whl"


def copy_export(destination: str) -> str:
    """A copy of the devpi-server 6 export (without its README and script) at C{destination}."""
    shutil.copytree(
        DEVPI6_EXPORT, destination, ignore=shutil.ignore_patterns("README.md", "make_export.py")
    )
    return destination


def read_dataindex(directory: str) -> dict[str, Any]:
    with open(os.path.join(directory, "dataindex.json")) as f:
        return json.load(f)


def edit_dataindex(directory: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply C{change} to the parsed dataindex.json of C{directory} and write it back."""
    data = read_dataindex(directory)
    change(data)
    with open(os.path.join(directory, "dataindex.json"), "w") as f:
        json.dump(data, f)


def file_desc(data: dict[str, Any], relpath: str) -> dict[str, Any]:
    """The description of the file at C{relpath} in a parsed dataindex.json."""
    index = "/".join(relpath.split("/")[:2])
    return next(desc for desc in data["indexes"][index]["files"] if desc["relpath"] == relpath)
