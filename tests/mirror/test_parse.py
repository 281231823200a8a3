"""Reading upstream simple pages: PEP 691 JSON, PEP 503 HTML, project lists, garbage."""

from __future__ import annotations

import json
import sys
from types import FrameType
from typing import Any, Callable

from twisted.trial.unittest import SynchronousTestCase

from devpi_twisted.mirror.parse import (
    ACCEPT,
    _Anchors,
    UpstreamLink,
    UpstreamPage,
    UpstreamPageError,
    is_json,
    parse_project_list,
    parse_project_page,
)

PAGE_URL = "https://pypi.example/simple/hello-pkg/"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64
SHA_D = "d" * 64


def _json_page(files: list[Any], **extra: Any) -> bytes:
    page = {"meta": {"api-version": "1.1"}, "name": "hello-pkg", "files": files}
    page.update(extra)
    return json.dumps(page).encode("utf-8")


def _refused(test: SynchronousTestCase, body: bytes, content_type: str) -> UpstreamPageError:
    """Assert that the project page is refused; return the error."""
    return test.assertRaises(UpstreamPageError, parse_project_page, body, content_type, PAGE_URL)


# what PyPI sends (trimmed), in both formats
PYPI_JSON = _json_page(
    [
        {
            "filename": "hello_pkg-0.9.tar.gz",
            "url": "https://files.example/packages/ab/cd/hello_pkg-0.9.tar.gz",
            "hashes": {"sha256": SHA_A.upper()},
            "requires-python": None,
            "yanked": "broken",
            "size": 1234,
            "upload-time": "2024-01-01T00:00:00.000000Z",
        },
        {
            "filename": "hello_pkg-1.0.tar.gz",
            "url": "https://files.example/packages/ef/01/hello_pkg-1.0.tar.gz#sha256=" + SHA_D,
            "hashes": {"sha256": SHA_B},
            "requires-python": ">=3.7",
            "yanked": True,
            "dist-info-metadata": True,
            "size": 0,
        },
        {
            "filename": "hello_pkg-1.1-py3-none-any.whl",
            "url": "../../packages/12/34/hello_pkg-1.1-py3-none-any.whl#sha256=" + SHA_C,
            "hashes": {},
            "requires-python": ">=3.8",
            "yanked": False,
            "core-metadata": {"sha256": SHA_D},
            "dist-info-metadata": {"sha256": SHA_A},
            "upload-time": "2024-02-01T10:00:00Z",
        },
    ],
    versions=["0.9", "1.0", "1.1"],
)

PYPI_HTML = f"""<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.1">
    <title>Links for hello-pkg</title>
  </head>
  <body>
    <h1>Links for hello-pkg</h1>
    <a href="https://files.example/packages/ab/cd/hello_pkg-0.9.tar.gz#sha256={SHA_A}"
       data-yanked="broken">hello_pkg-0.9.tar.gz</a><br />
    <a href="https://files.example/packages/ef/01/hello_pkg-1.0.tar.gz#sha256={SHA_B}"
       data-requires-python="&gt;=3.7" data-yanked="" data-dist-info-metadata="true"
       >hello_pkg-1.0.tar.gz</a><br />
    <a href="../../packages/12/34/hello_pkg-1.1-py3-none-any.whl#sha256={SHA_C}"
       data-requires-python="&lt;4,&gt;=3.8" data-core-metadata="sha256={SHA_D}"
       data-dist-info-metadata="sha256={SHA_A}">hello_pkg-1.1-py3-none-any.whl</a><br />
  </body>
</html>
<!--SERIAL 100-->
""".encode()


class AcceptTests(SynchronousTestCase):
    def test_json_is_preferred_html_accepted(self) -> None:
        self.assertIsInstance(ACCEPT, bytes)
        self.assertTrue(ACCEPT.startswith(b"application/vnd.pypi.simple.v1+json"))
        self.assertIn(b"application/vnd.pypi.simple.v1+html;q=0.2", ACCEPT)
        self.assertIn(b"text/html;q=0.01", ACCEPT)

    def test_is_json(self) -> None:
        for content_type in (
            "application/vnd.pypi.simple.v1+json",
            "application/vnd.pypi.simple.latest+json",
            "Application/JSON; charset=utf-8",
            " application/vnd.pypi.simple.v1+json ;q=1",
        ):
            self.assertTrue(is_json(content_type), content_type)
        for content_type in ("text/html", "application/vnd.pypi.simple.v1+html", "", "text/plain"):
            self.assertFalse(is_json(content_type), content_type)


class JSONPageTests(SynchronousTestCase):
    def test_pypi_like_page(self) -> None:
        page = parse_project_page(PYPI_JSON, JSON_TYPE, PAGE_URL)
        self.assertEqual(
            [link.filename for link in page.links],
            ["hello_pkg-0.9.tar.gz", "hello_pkg-1.0.tar.gz", "hello_pkg-1.1-py3-none-any.whl"],
        )
        self.assertEqual(page.versions, ("0.9", "1.0", "1.1"))
        old, one, wheel = page.links
        self.assertEqual(
            old,
            UpstreamLink(
                filename="hello_pkg-0.9.tar.gz",
                url="https://files.example/packages/ab/cd/hello_pkg-0.9.tar.gz",
                hashes={"sha256": SHA_A},  # lower-cased
                requires_python=None,
                yanked="broken",
                core_metadata=False,
                size=1234,
                upload_time="2024-01-01T00:00:00.000000Z",
            ),
        )
        # JSON hashes win over the fragment, which is removed from the URL
        self.assertEqual(one.hashes, {"sha256": SHA_B})
        self.assertEqual(one.url, "https://files.example/packages/ef/01/hello_pkg-1.0.tar.gz")
        self.assertEqual(one.requires_python, ">=3.7")
        self.assertIs(one.yanked, True)
        self.assertIs(one.core_metadata, True)  # from dist-info-metadata alone
        self.assertEqual(one.size, 0)
        self.assertIsNone(one.upload_time)
        # empty JSON hashes: the fragment is used; relative URL resolved
        self.assertEqual(wheel.hashes, {"sha256": SHA_C})
        self.assertEqual(
            wheel.url, "https://pypi.example/packages/12/34/hello_pkg-1.1-py3-none-any.whl"
        )
        self.assertIs(wheel.yanked, False)
        self.assertEqual(wheel.core_metadata, {"sha256": SHA_D})  # core-metadata wins
        self.assertIsNone(wheel.size)
        self.assertEqual(wheel.upload_time, "2024-02-01T10:00:00Z")

    def test_latest_and_plain_json_types_and_sniffing(self) -> None:
        expected = parse_project_page(PYPI_JSON, JSON_TYPE, PAGE_URL)
        for content_type in ("application/vnd.pypi.simple.latest+json", "application/json", ""):
            self.assertEqual(parse_project_page(PYPI_JSON, content_type, PAGE_URL), expected)
        self.assertEqual(
            parse_project_page(b" \r\n\t" + PYPI_JSON, "application/octet-stream", PAGE_URL),
            expected,
        )
        with_bom = b"\xef\xbb\xbf" + PYPI_JSON
        self.assertEqual(parse_project_page(with_bom, JSON_TYPE, PAGE_URL), expected)

    def test_minimal_entries_and_versions_absent(self) -> None:
        page = parse_project_page(
            _json_page([{"filename": "p-1.zip", "url": "p-1.zip"}]), JSON_TYPE, PAGE_URL
        )
        self.assertIsNone(page.versions)
        self.assertEqual(
            page.links,
            (
                UpstreamLink(
                    filename="p-1.zip",
                    url=PAGE_URL + "p-1.zip",
                    hashes={},
                    requires_python=None,
                    yanked=False,
                    core_metadata=False,
                    size=None,
                    upload_time=None,
                ),
            ),
        )

    def test_bad_entries_are_skipped(self) -> None:
        files = [
            "not an object",
            None,
            {"filename": "no-url.tar.gz"},
            {"url": "https://files.example/no-filename.tar.gz"},
            {"filename": 3, "url": "https://files.example/x.tar.gz"},
            {"filename": "url-not-string.tar.gz", "url": ["x"]},
            {"filename": "empty-url.tar.gz", "url": "  "},
            {"filename": "ftp.tar.gz", "url": "ftp://files.example/ftp.tar.gz"},
            {"filename": "js.tar.gz", "url": "javascript:alert(1)"},
            {"filename": "good-1.0.tar.gz", "url": "https://files.example/good-1.0.tar.gz"},
        ]
        page = parse_project_page(_json_page(files), JSON_TYPE, PAGE_URL)
        self.assertEqual([link.filename for link in page.links], ["good-1.0.tar.gz"])

    def test_odd_field_values_are_tolerated(self) -> None:
        entry = {
            "filename": "p-1.tar.gz",
            "url": "https://files.example/p-1.tar.gz#md5=" + "0" * 32,
            "hashes": {"sha256": "not-hex", "sha1": "ab", "nosuchalgo": SHA_A, "": SHA_A, "md5": 5},
            "requires-python": "  ",
            "yanked": "",
            "core-metadata": "yes",
            "dist-info-metadata": {"sha256": "zz"},
            "size": True,
            "upload-time": 12,
        }
        body = _json_page([entry], versions=["1", 2, None])
        page = parse_project_page(body, JSON_TYPE, PAGE_URL)
        self.assertEqual(page.versions, ("1",))
        (link,) = page.links
        # no valid JSON hash: the fragment's is used
        self.assertEqual(link.hashes, {"md5": "0" * 32})
        self.assertIsNone(link.requires_python)
        self.assertIs(link.yanked, True)  # an empty reason still means yanked
        self.assertIs(link.core_metadata, True)  # exists, hash unusable
        self.assertIsNone(link.size)
        self.assertIsNone(link.upload_time)

    def test_other_hash_algorithms_kept(self) -> None:
        hashes = {"SHA256": SHA_A, "sha512": "e" * 128, "blake2b": "F" * 128, "md5": "1" * 32}
        (link,) = parse_project_page(
            _json_page([{"filename": "p-1.zip", "url": "p-1.zip", "hashes": hashes}]),
            JSON_TYPE,
            PAGE_URL,
        ).links
        self.assertEqual(
            link.hashes,
            {"sha256": SHA_A, "sha512": "e" * 128, "blake2b": "f" * 128, "md5": "1" * 32},
        )

    def test_negative_size_dropped(self) -> None:
        (link,) = parse_project_page(
            _json_page([{"filename": "p-1.zip", "url": "p-1.zip", "size": -1}]), JSON_TYPE, PAGE_URL
        ).links
        self.assertIsNone(link.size)

    def test_garbage_json_refused(self) -> None:
        for body in (
            b"",
            b"{",
            PYPI_JSON[: len(PYPI_JSON) // 2],  # truncated
            b"\x89PNG\r\n\x1a\n\x00\x00",
            b"[" * 100_000 + b"]" * 100_000,  # too deep
            b"<html><a href='x.tar.gz'>x.tar.gz</a></html>",
        ):
            error = _refused(self, body, JSON_TYPE)
            self.assertIsInstance(error.message, str)
            self.assertEqual(str(error), error.message)

    def test_truncated_json_is_refused_when_sniffed(self) -> None:
        _refused(self, PYPI_JSON[:-3], "")

    def test_json_must_be_utf8(self) -> None:
        text = '{"meta": {"api-version": "1.0"}, "files": [], "name": "caf\u00e9"}'
        error = _refused(self, text.encode("latin-1"), JSON_TYPE)
        self.assertIn("UTF-8", error.message)

    def test_wrong_shape_refused(self) -> None:
        for data in (
            [],
            "files",
            {"files": []},  # no meta
            {"meta": "1.0", "files": []},
            {"meta": {}, "files": []},
            {"meta": {"api-version": 1.0}, "files": []},
            {"meta": {"api-version": "one"}, "files": []},
            {"meta": {"api-version": "1.0"}},  # no files
            {"meta": {"api-version": "1.0"}, "files": {"a": 1}},
            {"meta": {"api-version": "1.0"}, "files": None},
        ):
            body = json.dumps(data).encode()
            _refused(self, body, JSON_TYPE)

    def test_major_version_must_be_1(self) -> None:
        for version in ("1", "1.0", "1.4", "1.99"):
            body = json.dumps({"meta": {"api-version": version}, "files": []}).encode()
            self.assertEqual(parse_project_page(body, JSON_TYPE, PAGE_URL).links, ())
        for version in ("2.0", "0.9", "10.0"):
            body = json.dumps({"meta": {"api-version": version}, "files": []}).encode()
            error = _refused(self, body, JSON_TYPE)
            self.assertIn(version, error.message)

    def test_other_simple_api_versions_refused(self) -> None:
        for content_type in (
            "application/vnd.pypi.simple.v2+json",
            "application/vnd.pypi.simple.v2+html",
        ):
            _refused(self, PYPI_JSON, content_type)


class HTMLPageTests(SynchronousTestCase):
    def test_pypi_like_page(self) -> None:
        page = parse_project_page(PYPI_HTML, "text/html; charset=utf-8", PAGE_URL)
        self.assertIsNone(page.versions)
        old, one, wheel = page.links
        self.assertEqual(
            old,
            UpstreamLink(
                filename="hello_pkg-0.9.tar.gz",
                url="https://files.example/packages/ab/cd/hello_pkg-0.9.tar.gz",
                hashes={"sha256": SHA_A},
                requires_python=None,
                yanked="broken",
                core_metadata=False,
                size=None,
                upload_time=None,
            ),
        )
        self.assertEqual(one.requires_python, ">=3.7")
        self.assertIs(one.yanked, True)
        self.assertIs(one.core_metadata, True)  # data-dist-info-metadata="true" only
        self.assertEqual(
            wheel.url, "https://pypi.example/packages/12/34/hello_pkg-1.1-py3-none-any.whl"
        )
        self.assertEqual(wheel.hashes, {"sha256": SHA_C})
        self.assertEqual(wheel.requires_python, "<4,>=3.8")
        self.assertIs(wheel.yanked, False)
        self.assertEqual(wheel.core_metadata, {"sha256": SHA_D})  # data-core-metadata wins

    def test_same_links_as_json(self) -> None:
        html_page = parse_project_page(PYPI_HTML, HTML_TYPE, PAGE_URL)
        json_page = parse_project_page(PYPI_JSON, JSON_TYPE, PAGE_URL)
        self.assertEqual(
            [(l.filename, l.url) for l in html_page.links],
            [(l.filename, l.url) for l in json_page.links],
        )

    def test_html_content_types_and_missing_type(self) -> None:
        expected = parse_project_page(PYPI_HTML, HTML_TYPE, PAGE_URL)
        for content_type in ("application/vnd.pypi.simple.v1+html", "TEXT/HTML", "", "text/plain"):
            self.assertEqual(parse_project_page(PYPI_HTML, content_type, PAGE_URL), expected)

    def test_uppercase_tags_and_attributes_entities_whitespace(self) -> None:
        body = (
            b'<HTML><BODY><A HREF="  ../../files/p-1.0.tar.gz?a=1&amp;b=2#SHA256='
            + SHA_A.upper().encode()
            + b'  " DATA-REQUIRES-PYTHON="&gt;=3.6" Data-Yanked="no &quot;good&quot;">'
            b"\n  p-1.0.tar.gz \n</A></BODY></HTML>"
        )
        (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
        self.assertEqual(link.filename, "p-1.0.tar.gz")
        self.assertEqual(link.url, "https://pypi.example/files/p-1.0.tar.gz?a=1&b=2")
        self.assertEqual(link.hashes, {"sha256": SHA_A})
        self.assertEqual(link.requires_python, ">=3.6")
        self.assertEqual(link.yanked, 'no "good"')

    def test_double_escaped_requires_python(self) -> None:
        body = b'<a href="p-1.zip" data-requires-python="&amp;gt;=3.6">p-1.zip</a>'
        (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
        self.assertEqual(link.requires_python, ">=3.6")

    def test_yanked_without_value_and_blank_requires_python(self) -> None:
        body = b'<a href="p-1.zip" data-yanked data-requires-python=" ">p-1.zip</a>'
        (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
        self.assertIs(link.yanked, True)
        self.assertIsNone(link.requires_python)

    def test_core_metadata_forms(self) -> None:
        cases = [
            ('data-core-metadata="true"', True),
            ('data-core-metadata="TRUE"', True),
            (f'data-core-metadata="sha256={SHA_B}"', {"sha256": SHA_B}),
            (f'data-dist-info-metadata="sha256={SHA_B}"', {"sha256": SHA_B}),
            ('data-dist-info-metadata="true"', True),
            ('data-core-metadata="false"', False),
            ('data-core-metadata="sha256=nothex"', True),  # exists, like pip
            ("data-core-metadata", True),
            ("", False),
        ]
        for attribute, expected in cases:
            body = f'<a href="p-1.whl" {attribute}>p-1.whl</a>'.encode()
            (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
            self.assertEqual(link.core_metadata, expected, attribute)

    def test_fragment_hashes(self) -> None:
        cases = [
            (f"#sha256={SHA_A}", {"sha256": SHA_A}),
            (f"#md5={'0' * 32}", {"md5": "0" * 32}),
            (f"#egg=p&sha256={SHA_A}", {"sha256": SHA_A}),
            ("#sha256=xyz", {}),
            (f"#sha256={SHA_A[:-1]}", {}),  # wrong length
            (f"#whirlpool2={SHA_A}", {}),
            ("#", {}),
            ("#top", {}),
        ]
        for fragment, expected in cases:
            body = f'<a href="https://files.example/p-1.zip{fragment}">p-1.zip</a>'.encode()
            (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
            self.assertEqual(link.hashes, expected, fragment)
            self.assertEqual(link.url, "https://files.example/p-1.zip")

    def test_relative_absolute_and_other_hosts(self) -> None:
        body = b"""
            <a href="../../packages/p-1.zip">p-1.zip</a>
            <a href="/abs/p-2.zip">p-2.zip</a>
            <a href="p-3.zip">p-3.zip</a>
            <a href="//cdn.example/p-4.zip">p-4.zip</a>
            <a href="http://other.example:8080/files/p-5.zip">p-5.zip</a>
            <a href="./sub/../p-6.zip">p-6.zip</a>
        """
        page = parse_project_page(body, HTML_TYPE, "http://up.example/simple/p/")
        self.assertEqual(
            [link.url for link in page.links],
            [
                "http://up.example/packages/p-1.zip",
                "http://up.example/abs/p-2.zip",
                "http://up.example/simple/p/p-3.zip",
                "http://cdn.example/p-4.zip",
                "http://other.example:8080/files/p-5.zip",
                "http://up.example/simple/p/p-6.zip",
            ],
        )

    def test_base_href(self) -> None:
        body = b"""<html><head><base href="../../mirror/files/"><base href="/ignored/"></head>
            <body><a href="p-1.zip">p-1.zip</a><a href="https://x.example/p-2.zip">p-2.zip</a>
            </body></html>"""
        page = parse_project_page(body, HTML_TYPE, "http://up.example/simple/p/")
        self.assertEqual(
            [link.url for link in page.links],
            ["http://up.example/mirror/files/p-1.zip", "https://x.example/p-2.zip"],
        )

    def test_base_href_applies_to_earlier_links(self) -> None:
        body = b'<a href="p-1.zip">p-1.zip</a><base href="https://b.example/f/">'
        (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
        self.assertEqual(link.url, "https://b.example/f/p-1.zip")

    def test_filename_from_url_when_no_text(self) -> None:
        body = b"""
            <a href="https://files.example/a/p%%2B1-1.0.tar.gz#sha256=%s"></a>
            <a href="https://files.example/a/p-2.0.zip?download=1">  </a>
            <a href="https://files.example/a/p-3.0.zip"/>
            <a href="https://files.example/a/caf%%C3%%A9-1.0.zip"><img src="x.png"></a>
        """ % SHA_A.encode()
        page = parse_project_page(body, HTML_TYPE, PAGE_URL)
        self.assertEqual(
            [link.filename for link in page.links],
            ["p+1-1.0.tar.gz", "p-2.0.zip", "p-3.0.zip", "caf\u00e9-1.0.zip"],
        )
        self.assertEqual(page.links[0].hashes, {"sha256": SHA_A})

    def test_anchor_text_is_the_filename(self) -> None:
        body = b'<a href="https://files.example/download?id=7"><b>p</b>-1.0.tar.gz</a>'
        (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
        self.assertEqual(link.filename, "p-1.0.tar.gz")
        self.assertEqual(link.url, "https://files.example/download?id=7")

    def test_duplicate_filenames_first_wins(self) -> None:
        body = f"""
            <a href="https://one.example/p-1.zip#sha256={SHA_A}">p-1.zip</a>
            <a href="https://two.example/p-1.zip#sha256={SHA_B}" data-yanked="">p-1.zip</a>
            <a href="https://two.example/p-2.zip">p-2.zip</a>
            <a href="https://one.example/P-1.zip">P-1.zip</a>
        """.encode()
        page = parse_project_page(body, HTML_TYPE, PAGE_URL)
        self.assertEqual([link.filename for link in page.links], ["p-1.zip", "p-2.zip", "P-1.zip"])
        self.assertEqual(page.links[0].url, "https://one.example/p-1.zip")
        self.assertEqual(page.links[0].hashes, {"sha256": SHA_A})
        self.assertIs(page.links[0].yanked, False)

    def test_duplicate_filenames_in_json(self) -> None:
        files = [
            {"filename": "p-1.zip", "url": "https://one.example/p-1.zip"},
            {"filename": "p-1.zip", "url": "https://two.example/p-1.zip"},
        ]
        (link,) = parse_project_page(_json_page(files), JSON_TYPE, PAGE_URL).links
        self.assertEqual(link.url, "https://one.example/p-1.zip")

    def test_unsafe_filenames_skipped(self) -> None:
        body = b"""
            <a href="https://f.example/a.zip">../../etc/passwd</a>
            <a href="https://f.example/b.zip">dir\\b.zip</a>
            <a href="https://f.example/c.zip">..</a>
            <a href="https://f.example/d.zip">.</a>
            <a href="https://f.example/e.zip">e&#10;f.zip</a>
            <a href="https://f.example/x%2F..%2Fy.zip"></a>
            <a href="https://f.example/dir/"></a>
            <a href="https://f.example/%2e%2e"></a>
            <a href="https://f.example/nul%00.zip"></a>
            <a href="https://f.example/ok-1.zip">ok-1.zip</a>
        """
        page = parse_project_page(body, HTML_TYPE, PAGE_URL)
        self.assertEqual([link.filename for link in page.links], ["ok-1.zip"])
        files = [
            {"filename": "../x.zip", "url": "x.zip"},
            {"filename": "", "url": "y.zip"},
            {"filename": "a\x00.zip", "url": "z.zip"},
            {"filename": "ok-2.zip", "url": "ok-2.zip"},
        ]
        page = parse_project_page(_json_page(files), JSON_TYPE, PAGE_URL)
        self.assertEqual([link.filename for link in page.links], ["ok-2.zip"])

    def test_non_file_anchors_skipped(self) -> None:
        body = b"""
            <a name="top">top</a>
            <a href="">empty</a>
            <a href="   ">blank</a>
            <a href="mailto:me@example.org">p-1.zip</a>
            <a href="javascript:void(0)">p-2.zip</a>
            <a href="ftp://f.example/p-3.zip">p-3.zip</a>
            <a href="http://[::1/p-4.zip">p-4.zip</a>
            <a href="p-5.zip">p-5.zip</a>
        """
        page = parse_project_page(body, HTML_TYPE, PAGE_URL)
        self.assertEqual([link.filename for link in page.links], ["p-5.zip"])

    def test_spaces_and_non_ascii_in_urls_are_quoted(self) -> None:
        body = '<a href="dl/caf\u00e9 1.0.zip">caf\u00e9 1.0.zip</a>'.encode()
        (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
        self.assertEqual(link.filename, "caf\u00e9 1.0.zip")
        self.assertEqual(link.url, PAGE_URL + "dl/caf%C3%A9%201.0.zip")

    def test_messy_html(self) -> None:
        body = b"""<html><body>
            <!-- <a href="commented-1.zip">commented-1.zip</a> -->
            <script>var s = '<a href="script-1.zip">script-1.zip</a>';</script>
            <a href='single-1.zip'>single-1.zip</a>
            <a href=bare-1.zip>bare-1.zip</a>
            <a href="unclosed-1.zip">unclosed-1.zip
            <a href="next-1.zip">next-1.zip</a>
            <![if !IE]><a href="cond-1.zip">cond-1.zip</a><![endif]>
            <![bogus[ whatever ]]>
            <p><a href="last-1.zip" data-yanked="x" data-yanked="y">last-1.zip"""
        page = parse_project_page(body, HTML_TYPE, PAGE_URL)
        self.assertEqual(
            [link.filename for link in page.links],
            [
                "single-1.zip",
                "bare-1.zip",
                "unclosed-1.zip",
                "next-1.zip",
                "cond-1.zip",
                "last-1.zip",
            ],
        )
        self.assertEqual(page.links[-1].yanked, "x")  # the first attribute counts

    def test_empty_pages_are_valid(self) -> None:
        for body in (b"", b"   ", b"<html><body><h1>Links for p</h1></body></html>", b"no html"):
            self.assertEqual(parse_project_page(body, HTML_TYPE, PAGE_URL), UpstreamPage(links=()))

    def test_nul_bytes_refused(self) -> None:
        gzipped = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
        for body in (b"\x00", b'<a href="p-1.zip">p-1.zip</a>\x00', gzipped):
            for content_type in (HTML_TYPE, ""):
                _refused(self, body, content_type)

    def test_latin1_page(self) -> None:
        body = '<a href="caf%E9-1.0.zip">caf\u00e9-1.0.zip</a>'.encode("latin-1")
        (link,) = parse_project_page(body, HTML_TYPE, PAGE_URL).links
        self.assertEqual(link.filename, "caf\u00e9-1.0.zip")
        self.assertEqual(link.url, PAGE_URL + "caf%E9-1.0.zip")

    def test_declared_charset(self) -> None:
        body = '<a href="p-1.zip">\u00e9t\u00e9-1.0.zip</a>'.encode("cp1252")
        (link,) = parse_project_page(body, "text/html; charset=cp1252", PAGE_URL).links
        self.assertEqual(link.filename, "\u00e9t\u00e9-1.0.zip")
        body = '<a href="p-1.zip">\u00e9t\u00e9-1.0.zip</a>'.encode()
        for content_type in ("text/html; charset=nosuchcodec", 'text/html; charset="UTF-8"'):
            (link,) = parse_project_page(body, content_type, PAGE_URL).links
            self.assertEqual(link.filename, "\u00e9t\u00e9-1.0.zip")

    def test_repository_version(self) -> None:
        link = b'<a href="p-1.zip">p-1.zip</a>'
        for version in (b"1.0", b"1.3", b"garbage", b""):
            body = b'<meta name="pypi:repository-version" content="' + version + b'">' + link
            self.assertEqual(len(parse_project_page(body, HTML_TYPE, PAGE_URL).links), 1, version)
        for version in (b"2.0", b"0.1"):
            body = b'<META NAME="PYPI:REPOSITORY-VERSION" CONTENT="' + version + b'">' + link
            error = _refused(self, body, HTML_TYPE)
            self.assertIn(version.decode(), error.message)


def _html_links_page(count: int) -> bytes:
    """A PyPI-like HTML page of C{count} links with hashes and metadata."""
    anchors = "".join(
        f'<a href="../../packages/{i % 256:02x}/{"e" * 60}/pkg-{i}.tar.gz#sha256={i:064x}" '
        f'data-requires-python="&gt;=3.7" data-dist-info-metadata="sha256={i:064x}">'
        f"pkg-{i}.tar.gz</a><br/>\n"
        for i in range(count)
    )
    return f"<!DOCTYPE html><html><body>{anchors}</body></html>".encode()


def _json_links_page(count: int) -> bytes:
    """A PyPI-like JSON page of C{count} files and versions."""
    files = [
        {
            "filename": f"pkg-{i}.tar.gz",
            "url": f"https://files.example/packages/{i % 256:02x}/pkg-{i}.tar.gz",
            "hashes": {"sha256": f"{i:064x}"},
            "requires-python": ">=3.7",
            "core-metadata": {"sha256": f"{i:064x}"},
            "size": i,
            "upload-time": "2024-01-01T00:00:00Z",
            "yanked": False,
        }
        for i in range(count)
    ]
    return _json_page(files, versions=[str(i) for i in range(count)])


def _steps(work: Callable[[], object]) -> int:
    """
    How many Python calls, lines and returns C{work} runs: a measure of its
    work that, unlike seconds, does not depend on how busy the machine is.
    """
    steps = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal steps
        steps += 1
        return trace

    sys.settrace(trace)
    try:
        work()
    finally:
        sys.settrace(None)
    return steps


class SizeTests(SynchronousTestCase):
    """Big pages parse whole; the work grows in proportion to the page (speed: bench/parse.py)."""

    def test_ten_thousand_html_links(self) -> None:
        page = parse_project_page(_html_links_page(10_000), HTML_TYPE, PAGE_URL)
        self.assertEqual(len(page.links), 10_000)
        self.assertEqual(page.links[-1].hashes, {"sha256": f"{9_999:064x}"})

    def test_ten_thousand_json_links(self) -> None:
        page = parse_project_page(_json_links_page(10_000), JSON_TYPE, PAGE_URL)
        self.assertEqual(len(page.links), 10_000)
        self.assertEqual(page.links[-1].hashes, {"sha256": f"{9_999:064x}"})

    def test_html_work_grows_linearly(self) -> None:
        small, large = _html_links_page(500), _html_links_page(2_000)
        work = [_steps(lambda: parse_project_page(body, HTML_TYPE, PAGE_URL)) for body in (small, large)]
        # four times the links: four times the steps (a quadratic parse would take 16)
        self.assertLess(work[1], 4.2 * work[0], work)

    def test_json_work_grows_linearly(self) -> None:
        small, large = _json_links_page(500), _json_links_page(2_000)
        work = [_steps(lambda: parse_project_page(body, JSON_TYPE, PAGE_URL)) for body in (small, large)]
        self.assertLess(work[1], 4.2 * work[0], work)

    def test_unclosed_constructs_are_scanned_once(self) -> None:
        # html.parser of Python < 3.11.13 rescans the rest of the page from each of
        # these (CVE-2025-6069): once per construct, quadratic, 400 kB took minutes.
        # Each position the parser moves on from is one updatepos call.
        count = 0
        original = _Anchors.updatepos

        def counting(parser: _Anchors, i: int, j: int) -> int:
            nonlocal count
            count += 1
            return original(parser, i, j)

        self.patch(_Anchors, "updatepos", counting)
        for unit in (b"</", b"<?", b"<!x", b"<!--", b"<a", b"<![x"):
            moves = []
            for size in (4_000, 400_000):
                count = 0
                parse_project_page(unit * (size // len(unit)), HTML_TYPE, PAGE_URL)
                moves.append(count)
            # the same few moves for a hundred times the constructs
            self.assertEqual(moves[0], moves[1], unit)
            self.assertLess(moves[1], 10, unit)


class ProjectListTests(SynchronousTestCase):
    def test_json(self) -> None:
        body = json.dumps(
            {
                "meta": {"api-version": "1.0", "_last-serial": 5},
                "projects": [
                    {"name": "hello-pkg", "_last-serial": 3},
                    {"name": "Other_Thing"},
                    {"name": "other.thing"},  # same project once normalized
                    {"name": "Zope.Interface"},
                    {"name": 7},
                    {"nom": "x"},
                    "string",
                    {"name": "bad name"},
                    {"name": "../etc"},
                    {"name": ""},
                ],
            }
        ).encode()
        self.assertEqual(
            parse_project_list(body, JSON_TYPE), ["hello-pkg", "other-thing", "zope-interface"]
        )
        self.assertEqual(
            parse_project_list(body, ""), ["hello-pkg", "other-thing", "zope-interface"]
        )

    def test_html(self) -> None:
        body = b"""<!DOCTYPE html>
            <html><head><meta name="pypi:repository-version" content="1.0"></head><body>
            <a href="/simple/hello-pkg/">hello-pkg</a>
            <a href="/simple/other-thing/">Other_Thing</a>
            <A HREF="/simple/whatever/"> Zope.Interface </A>
            <a href="/simple/hello-pkg/">HELLO_PKG</a>
            <a href="/simple/x/">not valid!</a>
            <a href="/simple/y/"></a>
            <a>no-href</a>
            </body></html>"""
        self.assertEqual(
            parse_project_list(body, HTML_TYPE), ["hello-pkg", "other-thing", "zope-interface"]
        )

    def test_empty_lists(self) -> None:
        self.assertEqual(parse_project_list(b"", HTML_TYPE), [])
        body = b'{"meta": {"api-version": "1.0"}, "projects": []}'
        self.assertEqual(parse_project_list(body, JSON_TYPE), [])

    def test_garbage_refused(self) -> None:
        for body, content_type in (
            (b'{"meta": {"api-version": "1.0"}, "projects": {}}', JSON_TYPE),
            (b'{"meta": {"api-version": "1.0"}}', JSON_TYPE),
            (b'{"meta": {"api-version": "2.0"}, "projects": []}', JSON_TYPE),
            (b'{"projects": []}', JSON_TYPE),
            (b'{"meta": {"api-version": "1.0"}, "projects": [', JSON_TYPE),
            (b"\x00\x01\x02", HTML_TYPE),
            (b'<meta name="pypi:repository-version" content="2.0"><a href="/x/">x</a>', HTML_TYPE),
        ):
            self.assertRaises(UpstreamPageError, parse_project_list, body, content_type)
