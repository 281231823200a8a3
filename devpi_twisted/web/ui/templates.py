"""The UI's templates: the page frame (layout.xml) and the body of each page, as stan."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence
from urllib.parse import quote, urlencode

from twisted.python.filepath import FilePath
from twisted.web.iweb import IRequest
from twisted.web.template import Element, Flattenable, Tag, XMLFile, renderer, tags

from devpi_twisted.search.interface import HIGHLIGHT_END, HIGHLIGHT_START, Hit, Results
from devpi_twisted.web.ui.markup import flatten_now
from devpi_twisted.web.ui.toxreport import ToxReport
from devpi_twisted.web.ui.views import (
    FileRow,
    IndexView,
    Page,
    ProjectView,
    UserSummary,
    VersionView,
)

_TEMPLATES = FilePath(__file__).sibling("templates")


@dataclass(frozen=True)
class Frame:
    """What the frame around every page needs."""

    #: The server's base URL (outside URL), without a trailing slash.
    root: str
    stylesheet: str
    version: str
    query: str = ""


@dataclass(frozen=True)
class Body:
    """A page's title, breadcrumbs (label, path or None) and content."""

    title: str
    crumbs: Sequence[tuple[str, Optional[str]]]
    content: Flattenable
    query: str = ""


class Layout(Element):
    """The frame: header with search, breadcrumbs, main content, footer."""

    loader = XMLFile(_TEMPLATES.child("layout.xml"))

    def __init__(self, frame: Frame, body: Body) -> None:
        super().__init__()
        self._frame = frame
        self._body = body

    @renderer
    def frame(self, request: Optional[IRequest], tag: Tag) -> Flattenable:
        frame, body = self._frame, self._body
        crumbs = tags.ol(
            [
                tags.li(tags.a(label, href=frame.root + path) if path is not None else tags.span(label, **{"aria-current": "page"}))
                for label, path in body.crumbs
            ]
        )
        return tag.fillSlots(
            title=body.title,
            stylesheet=frame.stylesheet,
            root=frame.root,
            query=body.query,
            breadcrumbs=crumbs,
            content=body.content,
            version=frame.version,
        )


def page_bytes(frame: Frame, body: Body) -> bytes:
    """A whole page as bytes."""
    # templates drop the doctype: without it browsers render in quirks mode
    return b"<!DOCTYPE html>\n" + flatten_now(Layout(frame, body))


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="+") for part in parts)


def index_path(name: str) -> str:
    """The path of an index's page."""
    return _path(*name.split("/"))


@dataclass(frozen=True)
class Links:
    """Absolute URLs of the server's pages, under its outside URL C{root}."""

    root: str

    def index(self, name: str) -> str:
        return self.root + index_path(name)

    def to(self, path: str) -> str:
        return self.root + path


def _crumbs(index: Optional[str] = None, project: Optional[str] = None, version: Optional[str] = None) -> list[tuple[str, Optional[str]]]:
    crumbs: list[tuple[str, Optional[str]]] = [("root", "/")]
    if index is not None:
        crumbs.append((index, index_path(index)))
    if project is not None and index is not None:
        crumbs.append((project, index_path(index) + _path(project)))
    if version is not None and index is not None and project is not None:
        crumbs.append((version, index_path(index) + _path(project, version)))
    # the page itself is not a link
    label, _ = crumbs[-1]
    crumbs[-1] = (label, None)
    return crumbs


def human_size(size: Optional[int]) -> str:
    """A size as people read it: 1.2 MB."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_time(timestamp: Optional[float], now: float) -> str:
    """A UTC time and how long ago it was."""
    if timestamp is None:
        return "never"
    ago = max(0, int(now - timestamp))
    if ago < 120:
        relative = f"{ago} seconds ago"
    elif ago < 7200:
        relative = f"{ago // 60} minutes ago"
    elif ago < 172800:
        relative = f"{ago // 3600} hours ago"
    else:
        relative = f"{ago // 86400} days ago"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp)) + f" ({relative})"


def _pager(page: Page, path: str, extra: Optional[dict[str, str]] = None) -> Flattenable:
    if page.last <= 1:
        return ""

    def link(number: int, label: str, rel: str) -> Tag:
        query = urlencode({**(extra or {}), "page": str(number)})
        return tags.a(label, href=f"{path}?{query}", rel=rel)

    return tags.nav(
        link(page.number - 1, "← previous", "prev") if page.number > 1 else "",
        tags.span(f"page {page.number} of {page.last}"),
        link(page.number + 1, "next →", "next") if page.number < page.last else "",
        class_="pages",
        **{"aria-label": "Pages"},
    )


def _yanked(yanked: Any) -> Flattenable:
    if not yanked:
        return ""
    reason = f": {yanked}" if isinstance(yanked, str) else ""
    return tags.span(f"yanked{reason}", class_="badge warn")


def root_body(links: Links, users: list[UserSummary], status: tuple[str, str]) -> Body:
    """C{/}: users and their indexes, and the server's state."""
    state, text = status
    content = [
        tags.h1("devpi ", tags.span(text, class_=f"badge {state}", title="server status")),
        tags.h2("Users and indexes"),
        tags.ul(
            [
                tags.li(
                    tags.strong(user.name),
                    f" — {user.title}" if user.title else "",
                    tags.ul(
                        [
                            tags.li(
                                tags.a(index.name, href=links.index(index.name)),
                                tags.span(f" ({index.type})", class_="muted"),
                                f" {index.title}" if index.title else "",
                            )
                            for index in user.indexes
                        ]
                    )
                    if user.indexes
                    else tags.p("no indexes", class_="muted"),
                )
                for user in users
            ],
            class_="users",
        ),
    ]
    return Body("Indexes", [("root", None)], content)


def _config_list(links: Links, values: Sequence[str], link: bool = False) -> Flattenable:
    if not values:
        return tags.span("none", class_="muted")
    return [
        [", " if i else "", tags.a(value, href=links.index(value)) if link else tags.code(value)]
        for i, value in enumerate(values)
    ]


def index_body(links: Links, view: IndexView) -> Body:
    """C{/<user>/<index>}: its settings and one page of its projects."""
    config = view.config
    path = links.index(view.name)
    facts: list[tuple[str, Flattenable]] = [("Type", config["type"])]
    if config.get("title"):
        facts.append(("Title", config["title"]))
    if config.get("description"):
        facts.append(("Description", config["description"]))
    facts.append(("Volatile", "yes" if config.get("volatile") else "no"))
    if view.is_mirror:
        facts.append(("Upstream", tags.a(view.upstream_url or "", href=view.upstream_url or "")))
    else:
        facts += [
            ("Bases", _config_list(links, config.get("bases", []), link=True)),
            ("Upload permission", _config_list(links, config.get("acl_upload", []))),
            ("Tox result upload permission", _config_list(links, config.get("acl_toxresult_upload", []))),
            ("Mirror whitelist", _config_list(links, config.get("mirror_whitelist", []))),
            ("Whitelist inheritance", config.get("mirror_whitelist_inheritance", "")),
        ]
    content: list[Flattenable] = [
        tags.h1(view.name),
        tags.dl([[tags.dt(label), tags.dd(value)] for label, value in facts], class_="meta"),
        tags.p(tags.a("Simple index", href=path + "/+simple/"), " (for installers)"),
    ]
    if view.is_mirror:
        content += [
            tags.h2(f"Projects ({view.page.total})"),
            tags.p("Names as upstream lists them; use the search to find one.", class_="muted"),
            tags.ul([tags.li(tags.a(name, href=path + _path(name))) for name in view.names]),
        ]
    else:
        content += [
            tags.h2(f"Latest packages ({view.page.total})"),
            tags.div(
                tags.table(
                    tags.thead(tags.tr(tags.th("Project", scope="col"), tags.th("Version", scope="col"), tags.th("Summary", scope="col", class_="opt"), tags.th("Docs", scope="col"))),
                    tags.tbody(
                        [
                            tags.tr(
                                tags.td(tags.a(row.name, href=path + _path(row.name))),
                                tags.td(tags.a(row.version, href=path + _path(row.name, row.version)) if row.version else ""),
                                tags.td(row.summary, class_="opt"),
                                tags.td(tags.a("docs", href=path + _path(row.name, row.version, "+d", "index.html")) if row.has_docs and row.version else ""),
                            )
                            for row in view.projects
                        ]
                    ),
                ),
                class_="scroll",
            )
            if view.projects
            else tags.p("No packages uploaded yet.", class_="muted"),
        ]
    content.append(_pager(view.page, path))
    return Body(view.name, _crumbs(view.name), content)


def project_body(links: Links, view: ProjectView) -> Body:
    """C{/<user>/<index>/<project>}: versions with where each is from, docs, mirror files."""
    path = links.index(view.index) + _path(view.project)
    content: list[Flattenable] = [
        tags.h1(view.project, tags.span(f" on {view.index}", class_="muted")),
        tags.p(
            tags.a("Simple page", href=links.index(view.index) + "/+simple/" + quote(view.project) + "/"),
            [" · ", tags.a("Latest documentation", href=path + _path(view.docs_version, "+d", "index.html"))] if view.docs_version else "",
            [" · ", tags.a("Upstream page", href=view.mirror_web_url)] if view.mirror_web_url else "",
        ),
    ]
    if view.versions:
        content += [
            tags.h2("Versions"),
            tags.div(
                tags.table(
                    tags.thead(tags.tr(tags.th("Version", scope="col"), tags.th("Index", scope="col"), tags.th("Files", scope="col"), tags.th("Docs", scope="col"))),
                    tags.tbody(
                        [
                            tags.tr(
                                tags.td(tags.a(row.version, href=links.index(view.index) + _path(view.project, row.version)), " ", _yanked(row.yanked)),
                                tags.td(tags.a(row.index, href=links.index(row.index)) if row.index != view.index else tags.span("this index", class_="muted")),
                                tags.td(str(row.files)),
                                tags.td(tags.a("docs", href=path + _path(row.version, "+d", "index.html")) if row.has_docs else ""),
                            )
                            for row in view.versions
                        ]
                    ),
                ),
                class_="scroll",
            ),
        ]
    if view.mirror_files:
        content += [
            tags.h2("Files from upstream"),
            tags.div(
                tags.table(
                    tags.thead(tags.tr(tags.th("File", scope="col"), tags.th("Version", scope="col"), tags.th("Size", scope="col", class_="opt"), tags.th("Cached here", scope="col"))),
                    tags.tbody(
                        [
                            tags.tr(
                                tags.td(tags.a(f.link.filename, href=links.to("/" + f.link.relpath)), " ", _yanked(f.link.yanked)),
                                tags.td(f.link.version),
                                tags.td(human_size(f.link.size), class_="opt"),
                                tags.td(tags.span("cached", class_="ok") if f.cached else tags.span("not cached", class_="muted")),
                            )
                            for f in view.mirror_files
                        ]
                    ),
                ),
                class_="scroll",
            ),
        ]
    content.append(_pager(view.page, path))
    return Body(f"{view.project} on {view.index}", _crumbs(view.index, view.project), content)


def _toxresults(links: Links, view: VersionView, row: FileRow, reports: dict[str, ToxReport]) -> Flattenable:
    if not row.toxresults:
        return tags.span("none", class_="muted")
    base = links.index(view.index) + _path(view.project, view.version, "+toxresults", row.filename)
    items = []
    for tox in row.toxresults:
        report = reports.get(tox.relpath)
        envs = ", ".join(env.name for env in report.envs) if report else ""
        passed = report is not None and report.passed
        items.append(
            tags.li(
                tags.a(
                    tags.span("passed" if passed else "failed", class_="ok" if passed else "bad"),
                    f" {envs}" if envs else "",
                    href=base + _path(tox.name),
                ),
                f" on {report.host}" if report and report.host else "",
            )
        )
    return tags.ul(items)


def version_body(links: Links, view: VersionView, description: Flattenable, reports: dict[str, ToxReport]) -> Body:
    """C{/<user>/<index>/<project>/<version>}: metadata, description, files, tox results."""
    index_url = links.index(view.index)
    path = index_url + _path(view.project, view.version)
    notices: list[Flattenable] = []
    if view.yanked:
        reason = f" Reason: {view.yanked}" if isinstance(view.yanked, str) else ""
        notices.append(tags.p(tags.strong("This version is yanked."), reason, class_="notice", role="note"))
    if view.newer:
        notices.append(
            tags.p(
                "A newer version is available: ",
                tags.a(view.newer, href=index_url + _path(view.project, view.newer)),
                class_="notice",
                role="note",
            )
        )
    actions: list[Flattenable] = [tags.a("Simple page", href=index_url + "/+simple/" + quote(view.project) + "/")]
    if view.has_docs:
        actions += [" · ", tags.a("Documentation", href=path + "/+d/index.html"), " (", tags.a("raw", href=path + "/+doc/index.html"), ")"]
    if view.stored_on != view.index:
        actions += [" · stored on ", tags.a(view.stored_on, href=links.index(view.stored_on) + _path(view.project, view.version))]
    content: list[Flattenable] = [
        tags.h1(f"{view.name} {view.version}"),
        notices,
        tags.p(actions),
        tags.dl([[tags.dt(label), tags.dd(value)] for label, value in view.fields], class_="meta") if view.fields else "",
        [[tags.h2(label), tags.ul([tags.li(value) for value in values])] for label, values in view.lists],
        tags.h2("Files"),
        tags.div(
            tags.table(
                tags.thead(
                    tags.tr(
                        tags.th("File", scope="col"),
                        tags.th("Size", scope="col"),
                        tags.th("Type", scope="col", class_="opt"),
                        tags.th("Python", scope="col", class_="opt"),
                        tags.th("Uploaded", scope="col", class_="opt"),
                        tags.th("Tox results", scope="col"),
                    )
                ),
                tags.tbody(
                    [
                        [
                            tags.tr(
                                tags.td(tags.a(row.filename, href=links.to("/" + row.relpath)), tags.br(), tags.span("sha256 ", row.sha256, class_="hash muted")),
                                tags.td(human_size(row.size)),
                                tags.td(row.type, class_="opt"),
                                tags.td(row.python_tag, class_="opt"),
                                tags.td(row.upload_time.replace("T", " ")[:19], tags.br() if row.uploader else "", f"by {row.uploader}" if row.uploader else "", class_="opt"),
                                tags.td(_toxresults(links, view, row, reports)),
                            )
                        ]
                        for row in view.files
                    ]
                ),
            ),
            class_="scroll",
        )
        if view.files
        else tags.p("No files.", class_="muted"),
        tags.h2("Description"),
        tags.div(description, class_="description") if view.description else tags.p("No description.", class_="muted"),
    ]
    return Body(f"{view.name} {view.version}", _crumbs(view.index, view.project, view.version), content)


def toxresult_body(links: Links, view: VersionView, filename: str, name: str, report: ToxReport) -> Body:
    """A tox result's page: host, platform, each environment's steps and output."""
    crumbs = _crumbs(view.index, view.project, view.version)
    crumbs[-1] = (view.version, links.index(view.index) + _path(view.project, view.version))
    crumbs.append((f"tox result of {filename}", None))
    passed = report.passed
    content: list[Flattenable] = [
        tags.h1("Tox result of ", tags.code(filename), " ", tags.span("passed" if passed else "failed", class_=f"badge {'ok' if passed else 'bad'}")),
        tags.dl(tags.dt("Host"), tags.dd(report.host), tags.dt("Platform"), tags.dd(report.platform), tags.dt("Result"), tags.dd(name), class_="meta"),
    ]
    for env in report.envs:
        content += [
            tags.h2("Environment ", tags.code(env.name), f" (Python {env.python})" if env.python else "", " ", tags.span("passed" if env.passed else "failed", class_="ok" if env.passed else "bad")),
            [
                [
                    tags.h3(step.phase, ": ", tags.code(step.command), " ", tags.span(f"exit {step.retcode}", class_="ok" if step.passed else "bad")),
                    tags.pre(step.output) if step.output else "",
                ]
                for step in env.steps
            ],
        ]
    if not report.envs:
        content.append(tags.p("This tox result lists no environments.", class_="muted"))
    return Body(f"tox result of {filename}", crumbs, content)


def docs_body(links: Links, view: VersionView, member: str, latest: Optional[str]) -> Body:
    """Uploaded docs inside the UI frame, with a bar pointing at the latest docs."""
    path = links.index(view.index) + _path(view.project, view.version)
    crumbs = _crumbs(view.index, view.project, view.version)
    crumbs[-1] = (view.version, path)
    crumbs.append(("documentation", None))
    bar: Flattenable = ""
    if latest is not None and latest != view.version:
        bar = tags.p(
            "These are the docs of version ", view.version, "; ",
            tags.a("latest documentation", href=links.index(view.index) + _path(view.project, latest, "+d", member)),
            f" ({latest}).",
            class_="notice",
        )
    raw = path + "/+doc/" + quote(member)
    content = [
        tags.h1(f"{view.name} {view.version} documentation"),
        bar,
        tags.p(tags.a("Open without the frame", href=raw)),
        tags.iframe(src=raw, title=f"{view.name} {view.version} documentation", class_="docs"),
    ]
    return Body(f"{view.name} {view.version} documentation", crumbs, content)


def status_body(rows: list[tuple[str, Flattenable]], replicas: list[dict[str, Any]], state: tuple[str, str]) -> Body:
    """C{/+status} for people: the server, replication, upstream."""
    kind, text = state
    content: list[Flattenable] = [
        tags.h1("Server status ", tags.span(text, class_=f"badge {kind}")),
        tags.dl([[tags.dt(label), tags.dd(value)] for label, value in rows], class_="meta"),
    ]
    if replicas:
        content += [
            tags.h2("Replicas"),
            tags.div(
                tags.table(
                    tags.thead(tags.tr([tags.th(name, scope="col") for name in sorted(replicas[0])])),
                    tags.tbody([tags.tr([tags.td(str(replica[name])) for name in sorted(replicas[0])]) for replica in replicas]),
                ),
                class_="scroll",
            ),
        ]
    return Body("Server status", [("root", "/"), ("status", None)], content)


def highlighted(text: str) -> list[Flattenable]:
    """Text with the search's highlight markers as C{<mark>}s."""
    parts: list[Flattenable] = []
    for i, piece in enumerate(text.split(HIGHLIGHT_START)):
        if i == 0:
            parts.append(piece)
            continue
        marked, _, rest = piece.partition(HIGHLIGHT_END)
        parts += [tags.mark(marked), rest]
    return parts


def _hit(links: Links, hit: Hit) -> Tag:
    path = links.index(hit.index) + _path(hit.project)
    title: list[Flattenable] = [tags.a(highlighted(hit.name), href=path)]
    if hit.version:
        title += [" ", tags.a(hit.version, href=path + _path(hit.version))]
    return tags.div(
        tags.h2(title, " ", tags.span(hit.index, class_="muted")),
        tags.p(highlighted(hit.summary)) if hit.summary else "",
        tags.p(highlighted(hit.snippet), class_="muted") if hit.snippet else "",
        class_="result",
    )


def search_body(links: Links, query: str, results: Optional[Results], page: Page, error: Optional[str]) -> Body:
    """C{/+search}: ranked, highlighted, paginated results."""
    content: list[Flattenable] = [tags.h1("Search")]
    if error:
        content.append(tags.p(error, class_="notice", role="alert"))
    elif results is None:
        content.append(tags.p("Type a query in the search box; see ", tags.a("how to search", href=links.to("/+searchhelp")), "."))
    elif not results.hits:
        content.append(tags.p("No results for ", tags.strong(query), "."))
    else:
        count = f"more than {results.total} results" if results.more else f"{results.total} result" + ("" if results.total == 1 else "s")
        content += [
            tags.p(f"{count} for ", tags.strong(query), class_="muted"),
            [_hit(links, hit) for hit in results.hits],
            _pager(page, links.to("/+search"), {"query": query}),
        ]
    return Body(f"Search: {query}" if query else "Search", [("root", "/"), ("search", None)], content, query=query)


def search_help_body(links: Links) -> Body:
    """C{/+searchhelp}: how to search."""
    examples = [
        ("requests", "projects whose name, summary, keywords, description or docs contain the word"),
        ("flask sql", "both words, anywhere (all words must match)"),
        ('"web framework"', "the words next to each other"),
        ("djang*", "words starting with djang"),
        ("name:devpi", "only in project names (also summary:, keywords:, description:, docs:)"),
        ("index:root/pypi name:numpy", "only results from one index"),
    ]
    content = [
        tags.h1("How to search"),
        tags.p("The search covers the names, summaries, keywords, descriptions and documentation of uploaded releases, and the names of the projects mirror indexes offer. Results are ranked: a name match counts most, then summary and keywords."),
        tags.table(
            tags.thead(tags.tr(tags.th("Query", scope="col"), tags.th("Finds", scope="col"))),
            tags.tbody([tags.tr(tags.td(tags.a(tags.code(q), href=links.to("/+search?") + urlencode({"query": q}))), tags.td(what)) for q, what in examples]),
        ),
    ]
    return Body("How to search", [("root", "/"), ("search help", None)], content)


def error_body(status: int, phrase: str, message: str) -> Body:
    """An error, in the frame."""
    return Body(f"{status} {phrase}", [("root", "/"), (f"{status}", None)], [tags.h1(f"{status} {phrase}"), tags.p(message)])
