"""The nginx site config: what it says, and that nginx itself accepts it."""

from __future__ import annotations

import os

from twisted.trial.unittest import TestCase

from devpi_twisted.deploy import UnsafeValue, nginx
from tests.deploy.support import NGINX, NO_NGINX, nginx_test, sample, write_nginx_conf


def directives(text: str) -> list[str]:
    """The config's lines without comments and indentation."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


class RenderTests(TestCase):
    def test_proxies_to_the_server(self) -> None:
        lines = directives(nginx.render(sample(upstream="10.0.0.5:4040")))
        self.assertIn("server 10.0.0.5:4040;", lines)
        self.assertIn("proxy_pass http://devpi_twisted;", lines)

    def test_passes_outside_url(self) -> None:
        self.assertIn(
            "proxy_set_header X-Outside-Url $scheme://$http_host;",
            directives(nginx.render(sample())),
        )

    def test_body_size_matches_the_server(self) -> None:
        lines = directives(nginx.render(sample(max_body_size=123456789)))
        self.assertIn("client_max_body_size 123456789;", lines)
        self.assertIn("proxy_request_buffering off;", lines)

    def test_listen_and_cache_folder(self) -> None:
        text = nginx.render(sample(nginx_listen="127.0.0.1:8080", nginx_cache_dir="/data/nginx cache"))
        self.assertIn("listen 127.0.0.1:8080;", directives(text))
        self.assertIn('proxy_cache_path "/data/nginx cache" levels=1:2', text)

    def test_release_files_cached(self) -> None:
        text = nginx.render(sample())
        block = text.split("location ~ ^/[^/]+/[^/]+/\\+f/ {", 1)[1].split("}", 1)[0]
        self.assertIn("proxy_cache devpi_twisted_files;", block)
        self.assertIn("proxy_cache_revalidate on;", block)
        # JSON metadata replies share the URL: never cached, never served from the cache
        self.assertIn("proxy_cache_bypass $devpi_twisted_wants_json;", block)
        self.assertIn("proxy_no_cache $devpi_twisted_wants_json;", block)
        self.assertIn("~application/json 1;", text)

    def test_changelog_streams_unbuffered(self) -> None:
        block = nginx.render(sample()).split("location ^~ /+changelog {", 1)[1].split("}", 1)[0]
        self.assertIn("proxy_buffering off;", block)
        self.assertIn(f"proxy_read_timeout {nginx.CHANGELOG_TIMEOUT};", block)

    def test_unix_socket_upstream(self) -> None:
        self.assertIn("server unix:/run/devpi.sock;", directives(nginx.render(sample(upstream="unix:/run/devpi.sock"))))

    def test_unsafe_values_refused(self) -> None:
        for changes in (
            {"nginx_listen": "80; include /etc/passwd"},
            {"nginx_listen": "80\n"},
            {"nginx_cache_dir": "/var/$cache"},
            {"nginx_cache_dir": "/var/cache\n"},
        ):
            with self.assertRaises(UnsafeValue, msg=repr(changes)):
                nginx.render(sample(**changes))

    def test_quote(self) -> None:
        self.assertEqual(nginx.quote("/var/cache/nginx"), "/var/cache/nginx")
        self.assertEqual(nginx.quote('/a b/"c"\\d'), '"/a b/\\"c\\"\\\\d"')


class NginxAcceptsTests(TestCase):
    """C{nginx -t} on the generated site, wrapped in an unprivileged nginx.conf."""

    if NGINX is None:
        skip = NO_NGINX

    def check(self, **changes: object) -> None:
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        site = os.path.join(workdir, "site.conf")
        with open(site, "w", encoding="utf-8") as f:
            f.write(nginx.render(sample(
                nginx_listen="127.0.0.1:8080",
                nginx_cache_dir=os.path.join(workdir, "cache dir"),
                **changes,
            )))
        result = nginx_test(write_nginx_conf(site, os.path.join(workdir, "nginx")))
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("test is successful", result.stdout)

    def test_tcp_upstream(self) -> None:
        self.check()

    def test_unix_socket_upstream(self) -> None:
        self.check(upstream="unix:/run/devpi-twisted.sock")

    def test_ipv6_upstream(self) -> None:
        self.check(upstream="[::1]:3141")
