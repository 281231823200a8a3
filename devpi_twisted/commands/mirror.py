"""C{devpi-twisted mirror warm INDEX REQUIREMENT...}: prepare a mirror's cache for offline use."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

from twisted.python import usage

from devpi_twisted.commands import CommandError
from devpi_twisted.commands.warm import CacheFiller, Http, ProgressBar
from devpi_twisted.dists.requirements import RequirementsError, read_sources


class WarmOptions(usage.Options):
    """devpi-twisted mirror warm [options] INDEX REQUIREMENT..."""

    synopsis = "[options] INDEX REQUIREMENT..."
    longdesc = (
        "Have a running server fetch the pages and files an install of the"
        " REQUIREMENTs needs through INDEX (e.g. root/pypi), so that it can serve"
        " them later with --offline-mode. Each REQUIREMENT is a requirements file,"
        " a lock file (uv.lock, pylock.toml), or a requirement such as 'name>=1.0'."
        " Requirements are resolved greedily (newest fitting version, dependencies"
        " from its wheel's metadata, for this Python unless --all-files)."
    )
    optParameters = [
        ["url", None, "http://127.0.0.1:3141", "the server to fill"],
        ["jobs", "j", 4, "files fetched at once", int],
        ["timeout", None, 300.0, "seconds one page or file may take", float],
    ]
    optFlags = [
        ["all-files", None, "every file of each chosen version, for any platform and Python"],
        ["no-deps", None, "only the named requirements, not their dependencies"],
    ]

    def parseArgs(self, index: str, *requirements: str) -> None:  # type: ignore[override]  # usage.Options passes the arguments
        if index.strip("/").count("/") != 1:
            raise usage.UsageError(f"INDEX {index!r} is not user/index")
        if not requirements:
            raise usage.UsageError("name at least one REQUIREMENT")
        self["index"] = index.strip("/")
        self["requirements"] = list(requirements)

    def postOptions(self) -> None:
        if urlsplit(self["url"]).scheme not in ("http", "https"):
            raise usage.UsageError(f"--url {self['url']!r} is not an http(s) URL")
        if self["jobs"] < 1 or self["timeout"] <= 0:
            raise usage.UsageError("--jobs and --timeout must be positive")


class Options(usage.Options):
    """devpi-twisted mirror SUBCOMMAND."""

    synopsis = "SUBCOMMAND"
    subCommands = [("warm", None, WarmOptions, "fill a mirror's cache for an install")]

    def postOptions(self) -> None:
        if self.subCommand is None:
            raise usage.UsageError("name a mirror command: warm")


def run(options: Any) -> int:
    """Warm the cache; exit code 1 when something could not be had."""
    warm = options.subOptions
    try:
        wanted = read_sources(warm["requirements"])
    except RequirementsError as error:
        raise CommandError(str(error)) from None
    filler = CacheFiller(
        warm["url"], warm["index"], Http(warm["timeout"]), warm["all-files"], not warm["no-deps"]
    )
    plan = filler.plan(wanted)
    progress = ProgressBar(list(plan.files.values()))
    failed = []

    def done(file: Any, problem: Any) -> None:
        progress(file, problem)
        if problem is not None:
            failed.append(file)

    filler.fetch(plan, warm["jobs"], done)
    progress.close()
    for problem in plan.problems:
        print(f"devpi-twisted: {problem}", file=sys.stderr)
    print(f"{plan.pages} pages, {len(plan.files) - len(failed)} files cached in {warm['index']}")
    return 1 if failed or plan.problems else 0
