"""End to end: a real headless chromium clicks through the UI of a real server filled by devpi-client and twine."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Optional

from twisted.trial.unittest import TestCase

from tests.dists.archives import core_metadata, make_doc_zip, make_sdist, make_wheel
from tests.e2e.support import IndexApi, ServerProcess, installer_environ, next_to_python, run
from tests.integration.test_twistd import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DEVPI = next_to_python("devpi")
TWINE = next_to_python("twine")
PASSWORD = "secret"
#: No first-run work, no traffic of the browser's own: it talks to the test server only.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1024",
)
#: Where the pages' screenshots go, under the directory trial runs tests in (_trial_temp).
SCREENSHOTS = "screenshots"
DESCRIPTION = (
    "# Hello package\n\nGreets **everyone**, from a *browser test*.\n\n"
    "<script>document.title = 'hacked'</script>\n\n- one\n- two\n"
)
TOX_REPORT = {
    "reportversion": "1",
    "toxversion": "4.11.0",
    "platform": "linux",
    "host": "builder-42",
    "testenvs": {
        "py311": {
            "test": [{"command": ["pytest", "-q"], "retcode": 0, "output": "3 passed"}],
            "python": {"version": "3.11.7", "executable": "/usr/bin/python3.11"},
        }
    },
}


def _missing() -> Optional[str]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            return f"{path} is missing: install Debian's {package} (.ci/run does)"
    for command in (DEVPI, TWINE):
        if not os.path.exists(command):
            return f"{command} is not installed next to {sys.executable}"
    return None


class BrowserCase(TestCase):
    """alice/dev filled by devpi-client (wheel, docs) and twine (sdist), read in chromium."""

    skip = _missing()

    def setUp(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.workdir, "home"))
        self.server = ServerProcess(self.workdir, *self.server_args())
        self.addCleanup(self.server.stop)
        self.api = IndexApi(self.server.url)
        self.addCleanup(self.api.close)
        self.env = installer_environ(os.path.join(self.workdir, "home"))
        self.env["DEVPI_CLIENTDIR"] = os.path.join(self.workdir, "client")
        self.fill()

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.workdir)
        options.add_argument(f"--user-data-dir={profile}")
        # the driver is given: nothing looks for (or downloads) a browser or driver
        self.browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        self.addCleanup(self.browser.quit)
        self.browser.set_page_load_timeout(60)
        self.screenshots = os.path.abspath(SCREENSHOTS)
        os.makedirs(self.screenshots, exist_ok=True)

    def server_args(self) -> list[str]:
        return []

    @property
    def base(self) -> str:
        """Where the browser reaches the server."""
        return self.server.url

    def ok(self, args: list[str]) -> str:
        result = run(args, self.env, self.workdir)
        self.assertEqual(result.returncode, 0, f"{args} failed:\n{result.stdout}\n{self.server.log()}")
        return result.stdout

    def fill(self) -> None:
        self.api.create_user("alice", PASSWORD)
        devpi = [DEVPI]
        self.ok(devpi + ["use", self.server.url])
        self.ok(devpi + ["login", "alice", "--password", PASSWORD])
        self.ok(devpi + ["index", "-c", "dev", "volatile=True", "title=Alice's packages"])
        self.ok(devpi + ["use", "alice/dev"])
        dists = os.path.join(self.workdir, "dists")
        metadata = core_metadata("hello-pkg", "1.0", ">=3.8", summary="Hello from the browser test", description=DESCRIPTION)
        metadata = metadata.replace("Requires-Python", "Description-Content-Type: text/markdown\nRequires-Python", 1)
        wheel = make_wheel(dists, "hello-pkg", "1.0", metadata=metadata)
        self.ok(devpi + ["upload", wheel])
        sdist = make_sdist(os.path.join(self.workdir, "sdist"), "hello-pkg", "1.0", ">=3.8", summary="Hello from the browser test")
        self.ok([TWINE, "upload", "--non-interactive", "--disable-progress-bar",
                 "--repository-url", f"{self.server.url}/alice/dev/", "-u", "alice", "-p", PASSWORD, sdist])
        doczip = make_doc_zip(
            os.path.join(self.workdir, "docs"),
            {"index.html": b"<html><body><h1>Hello docs</h1><p>Teleportation guide</p></body></html>"},
            filename="hello_pkg-1.0.doc.zip",
        )
        self.ok(devpi + ["upload", doczip])
        links = self.api.ok("GET", "/alice/dev/hello-pkg/1.0")["result"]["+links"]
        [wheel_href] = [link["href"] for link in links if link["href"].endswith(".whl")]
        # what `devpi test` posts after running tox
        reply = self.api.request("POST", wheel_href[len(self.server.url):], TOX_REPORT, headers={"Content-Type": "application/json"})
        self.assertEqual(reply.status_code, 200, reply.text)

    def shoot(self, name: str) -> None:
        path = os.path.join(self.screenshots, f"{type(self).__name__}-{name}.png")
        self.assertTrue(self.browser.save_screenshot(path), path)

    def click(self, text: str) -> None:
        from selenium.webdriver.common.by import By

        self.browser.find_element(By.LINK_TEXT, text).click()

    def wait_for_url(self, part: str) -> None:
        """Wait until the browser has navigated to a URL containing C{part} (a submit returns before)."""
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.browser, 60).until(lambda browser: part in browser.current_url)

    def main_text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.browser.find_element(By.TAG_NAME, "main").text)

    def click_from_root_to_docs_and_toxresult_then_search(self) -> None:
        from selenium.webdriver.common.by import By

        browser = self.browser
        browser.get(self.base + "/")
        self.assertEqual(browser.title, "Indexes · devpi")
        self.shoot("1-root")
        self.click("alice/dev")
        self.assertIn("Alice's packages", self.main_text())
        self.assertIn("Hello from the browser test", self.main_text())
        self.shoot("2-index")
        self.click("hello-pkg")
        self.assertEqual(browser.current_url, self.base + "/alice/dev/hello-pkg")
        self.assertIn("Latest documentation", self.main_text())
        self.shoot("3-project")
        self.click("1.0")
        text = self.main_text()
        self.assertIn("Hello package", text)  # the rendered Markdown heading
        self.assertEqual(browser.find_element(By.CSS_SELECTOR, ".description strong").text, "everyone")
        self.assertNotEqual(browser.title, "hacked")  # the description's script was removed
        self.assertIn("hello_pkg-1.0-py3-none-any.whl", text)
        self.assertIn("hello_pkg-1.0.tar.gz", text)
        self.assertIn("by alice", text)
        self.shoot("4-version")
        self.click("Documentation")
        self.assertIn("hello-pkg 1.0 documentation", self.main_text())
        self.shoot("5-docs")
        browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe.docs"))
        self.assertIn("Teleportation guide", browser.find_element(By.TAG_NAME, "body").text)
        browser.switch_to.default_content()
        browser.back()
        browser.find_element(By.PARTIAL_LINK_TEXT, "passed").click()
        text = self.main_text()
        self.assertIn("builder-42", text)
        self.assertIn("3 passed", text)
        self.shoot("6-toxresult")
        search = browser.find_element(By.ID, "search-query")
        search.send_keys("teleportation")
        search.submit()
        self.wait_for_url("/+search?")
        self.assertIn("1 result for teleportation", self.main_text())
        self.assertEqual(browser.find_element(By.CSS_SELECTOR, ".result mark").text.lower(), "teleportation")
        self.shoot("7-search")
        browser.find_element(By.CSS_SELECTOR, ".result h2 a").click()
        self.assertEqual(browser.current_url, self.base + "/alice/dev/hello-pkg")
        browser.get(self.base + "/+status")
        self.assertIn("Serial", self.main_text())
        self.shoot("8-status")



class BrowserTests(BrowserCase):
    def test_click_from_root_to_docs_and_toxresult_then_search(self) -> None:
        self.click_from_root_to_docs_and_toxresult_then_search()

    def test_search_help_and_phone_width(self) -> None:
        self.browser.set_window_size(390, 844)
        self.browser.get(self.base + "/alice/dev/hello-pkg/1.0")
        # the file table fits: columns that are not essential are hidden on a phone
        width = self.browser.execute_script("return document.documentElement.scrollWidth")
        self.assertLessEqual(width, 390 + 1)
        self.shoot("phone-version")
        self.click("How to search")
        self.assertIn("How to search", self.main_text())


class OutsideUrlBrowserTests(BrowserCase):
    """The same pages with --outside-url naming another host name: every link followed is under it."""

    def server_args(self) -> list[str]:
        self.port = free_port()
        return ["--listen", f"tcp:{self.port}:interface=127.0.0.1", "--outside-url", f"http://localhost:{self.port}/"]

    @property
    def base(self) -> str:
        return f"http://localhost:{self.port}"

    def test_click_from_root_to_docs_and_toxresult_then_search(self) -> None:
        self.click_from_root_to_docs_and_toxresult_then_search()
        for link in self.browser.find_elements("css selector", "a[href^=http]"):
            self.assertTrue(link.get_attribute("href").startswith(self.base + "/"), link.get_attribute("href"))
