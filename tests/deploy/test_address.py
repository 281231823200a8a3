"""Where nginx reaches the server, from the server's twisted endpoint."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from devpi_twisted.deploy import UnsafeValue
from devpi_twisted.deploy.address import proxy_address


class ProxyAddressTests(TestCase):
    def test_tcp_interface(self) -> None:
        self.assertEqual(proxy_address("tcp:3141:interface=10.1.2.3"), "10.1.2.3:3141")
        self.assertEqual(proxy_address("tcp:port=8000:interface=localhost"), "localhost:8000")

    def test_wildcard_interfaces_become_loopback(self) -> None:
        self.assertEqual(proxy_address("tcp:3141"), "127.0.0.1:3141")
        self.assertEqual(proxy_address("tcp:3141:interface=0.0.0.0"), "127.0.0.1:3141")
        self.assertEqual(proxy_address("tcp6:3141:interface=\\:\\:"), "[::1]:3141")
        self.assertEqual(proxy_address("tcp6:3141"), "[::1]:3141")

    def test_ipv6_interface_in_brackets(self) -> None:
        self.assertEqual(proxy_address("tcp:3141:interface=\\:\\:1"), "[::1]:3141")
        self.assertEqual(proxy_address("tcp6:port=80:interface=fd00\\:\\:5"), "[fd00::5]:80")

    def test_unix_socket(self) -> None:
        self.assertEqual(proxy_address("unix:/run/devpi.sock"), "unix:/run/devpi.sock")
        self.assertEqual(proxy_address("unix:address=/run/d.sock:mode=660"), "unix:/run/d.sock")

    def test_unreachable_endpoints_refused(self) -> None:
        for endpoint in ("ssl:443:privateKey=k.pem", "tcp:0:interface=127.0.0.1", "unix:relative.sock", "tcp:"):
            with self.assertRaises(UnsafeValue, msg=endpoint):
                proxy_address(endpoint)
