"""Simple-API content negotiation (PEP 691) and installer detection."""

from __future__ import annotations

from typing import Optional

from twisted.trial.unittest import TestCase

from devpi_twisted.web.negotiation import (
    SIMPLE_HTML,
    SIMPLE_JSON,
    TEXT_HTML,
    choose_simple_type,
    is_installer,
)

PIP_ACCEPT = (
    b"application/vnd.pypi.simple.v1+json, "
    b"application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
UV_ACCEPT = (
    b"application/vnd.pypi.simple.v1+json, "
    b"application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)
FIREFOX_ACCEPT = b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME_ACCEPT = (
    b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
PIP_UA = (
    b'pip/24.0 {"ci":null,"cpu":"x86_64","implementation":{"name":"CPython",'
    b'"version":"3.11.8"},"installer":{"name":"pip","version":"24.0"}}'
)
UV_UA = b'uv/0.4.18 {"installer":{"name":"uv","version":"0.4.18"}}'
FIREFOX_UA = b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class InstallerAcceptTests(TestCase):
    """What real installers ask for gets PEP 691 JSON."""

    def test_pip(self) -> None:
        self.assertEqual(choose_simple_type(PIP_ACCEPT), SIMPLE_JSON)

    def test_uv(self) -> None:
        self.assertEqual(choose_simple_type(UV_ACCEPT), SIMPLE_JSON)

    def test_old_pip_asking_for_html_only(self) -> None:
        self.assertEqual(choose_simple_type(b"text/html"), TEXT_HTML)

    def test_installer_preferring_html(self) -> None:
        accept = b"application/vnd.pypi.simple.v1+json;q=0.1, application/vnd.pypi.simple.v1+html"
        self.assertEqual(choose_simple_type(accept), SIMPLE_HTML)

    def test_quality_beats_order(self) -> None:
        accept = b"text/html;q=0.2, application/vnd.pypi.simple.v1+json;q=0.9"
        self.assertEqual(choose_simple_type(accept), SIMPLE_JSON)

    def test_explicit_json_beats_wildcard_with_the_same_quality(self) -> None:
        self.assertEqual(
            choose_simple_type(b"*/*, application/vnd.pypi.simple.v1+json"), SIMPLE_JSON
        )

    def test_media_types_are_case_insensitive(self) -> None:
        self.assertEqual(
            choose_simple_type(b"Application/VND.PyPI.Simple.V1+JSON"), SIMPLE_JSON
        )


class BrowserAcceptTests(TestCase):
    """Browsers, curl and clients that say nothing get text/html."""

    def test_firefox(self) -> None:
        self.assertEqual(choose_simple_type(FIREFOX_ACCEPT), TEXT_HTML)

    def test_chrome(self) -> None:
        self.assertEqual(choose_simple_type(CHROME_ACCEPT), TEXT_HTML)

    def test_curl_any_type(self) -> None:
        self.assertEqual(choose_simple_type(b"*/*"), TEXT_HTML)

    def test_no_accept_header(self) -> None:
        self.assertEqual(choose_simple_type(None), TEXT_HTML)

    def test_empty_accept_header(self) -> None:
        self.assertEqual(choose_simple_type(b""), TEXT_HTML)

    def test_text_wildcard(self) -> None:
        self.assertEqual(choose_simple_type(b"text/*"), TEXT_HTML)


class AliasTests(TestCase):
    """PEP 691's C{latest} names mean v1."""

    def test_latest_json(self) -> None:
        self.assertEqual(
            choose_simple_type(b"application/vnd.pypi.simple.latest+json"), SIMPLE_JSON
        )

    def test_latest_html(self) -> None:
        self.assertEqual(
            choose_simple_type(b"application/vnd.pypi.simple.latest+html"), SIMPLE_HTML
        )

    def test_v1_html(self) -> None:
        self.assertEqual(
            choose_simple_type(b"application/vnd.pypi.simple.v1+html"), SIMPLE_HTML
        )


class ExclusionTests(TestCase):
    """C{q=0} means "not this type", also when a wildcard would allow it."""

    def test_json_excluded(self) -> None:
        accept = b"application/vnd.pypi.simple.v1+json;q=0, text/html"
        self.assertEqual(choose_simple_type(accept), TEXT_HTML)

    def test_html_excluded_but_anything_else_welcome(self) -> None:
        # the specific q=0 wins over the */* that would have matched text/html
        self.assertEqual(choose_simple_type(b"text/html;q=0, */*"), SIMPLE_JSON)

    def test_json_excluded_under_an_application_wildcard(self) -> None:
        accept = b"application/vnd.pypi.simple.v1+json;q=0, application/*"
        self.assertEqual(choose_simple_type(accept), SIMPLE_HTML)

    def test_everything_excluded(self) -> None:
        self.assertIsNone(choose_simple_type(b"*/*;q=0"))

    def test_only_excluded_type_named(self) -> None:
        self.assertIsNone(choose_simple_type(b"text/*;q=0.5, text/html;q=0"))

    def test_malformed_quality_counts_as_zero(self) -> None:
        self.assertIsNone(choose_simple_type(b"text/html;q=lots"))


class UnacceptableTests(TestCase):
    """Types the simple API does not offer give None (the server answers 406)."""

    def test_plain_json(self) -> None:
        self.assertIsNone(choose_simple_type(b"application/json"))

    def test_images(self) -> None:
        self.assertIsNone(choose_simple_type(b"image/png, image/*;q=0.5"))

    def test_unknown_api_version(self) -> None:
        self.assertIsNone(choose_simple_type(b"application/vnd.pypi.simple.v2+json"))

    def test_unacceptable_types_do_not_disturb_acceptable_ones(self) -> None:
        accept = b"application/json, application/vnd.pypi.simple.v1+html;q=0.3"
        self.assertEqual(choose_simple_type(accept), SIMPLE_HTML)


class IsInstallerTests(TestCase):
    """Installer detection: devpi's User-Agent regex, or a simple-API Accept."""

    def check(self, user_agent: Optional[bytes], accept: Optional[bytes] = None) -> bool:
        return is_installer(user_agent, accept)

    def test_pip(self) -> None:
        self.assertTrue(self.check(PIP_UA))

    def test_uv(self) -> None:
        self.assertTrue(self.check(UV_UA))

    def test_setuptools_after_another_product(self) -> None:
        self.assertTrue(self.check(b"Python-urllib/3.11 setuptools/68.2.2"))

    def test_distribute_and_pex(self) -> None:
        self.assertTrue(self.check(b"distribute/0.6.49"))
        self.assertTrue(self.check(b"pex/2.1.0"))

    def test_browser(self) -> None:
        self.assertFalse(self.check(FIREFOX_UA, FIREFOX_ACCEPT))

    def test_curl(self) -> None:
        self.assertFalse(self.check(b"curl/8.5.0", b"*/*"))

    def test_devpi_client(self) -> None:
        self.assertFalse(
            self.check(b"devpi-client/7.3.0 (py3.11.8; linux)", b"application/json")
        )

    def test_name_must_be_a_whole_product_token(self) -> None:
        self.assertFalse(self.check(b"notpip/1.0"))
        self.assertFalse(self.check(b"Mozilla/5.0 snapuv/1.0"))

    def test_product_without_version_is_not_an_installer(self) -> None:
        self.assertFalse(self.check(b"pip"))

    def test_nothing_sent(self) -> None:
        self.assertFalse(self.check(None, None))

    def test_simple_api_accept_without_installer_agent(self) -> None:
        self.assertTrue(self.check(b"python-requests/2.31", UV_ACCEPT))

    def test_simple_api_latest_alias_in_accept(self) -> None:
        self.assertTrue(self.check(None, b"application/vnd.pypi.simple.latest+json"))

    def test_accept_is_matched_case_insensitively(self) -> None:
        self.assertTrue(self.check(None, b"Application/Vnd.PyPI.Simple.V1+Json"))
