"""The server options rendered into the generated command lines."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from devpi_twisted.deploy.arguments import is_secret, server_arguments
from devpi_twisted.options import Options


def parsed(*argv: str) -> Options:
    options = Options(environ={})
    options.parseOptions(list(argv))
    return options


class ServerArgumentsTests(TestCase):
    def test_defaults_render_nothing(self) -> None:
        self.assertEqual(list(server_arguments(parsed())), [])

    def test_changed_options_and_flags_in_declaration_order(self) -> None:
        options = parsed(
            "--offline-mode", "--request-timeout", "12.5", "--port", "4040",
            "--outside-url", "https://pypi.example.com",
        )
        self.assertEqual(
            list(server_arguments(options)),
            ["--port", "4040", "--outside-url", "https://pypi.example.com",
             "--request-timeout", "12.5", "--offline-mode"],
        )

    def test_always_renders_named_options(self) -> None:
        options = parsed()
        self.assertEqual(
            list(server_arguments(options, always=["serverdir"])),
            ["--serverdir", options["serverdir"]],
        )

    def test_option_set_back_to_its_default_is_left_out(self) -> None:
        self.assertEqual(list(server_arguments(parsed("--port", "3141", "--host", "127.0.0.1"))), [])

    def test_passwords_never_rendered(self) -> None:
        options = parsed("--root-passwd", "hunter2", "--port", "4040")
        self.assertEqual(list(server_arguments(options, always=["root-passwd"])), ["--port", "4040"])

    def test_every_server_option_is_carried(self) -> None:
        """An option added to the server later flows in without change here."""

        class Later(Options):
            optParameters = [["colour", None, "blue", "later parameter"]]
            optFlags = [["later-flag", None, "later flag"]]

        options = Later(environ={})
        options.parseOptions(["--colour", "red", "--later-flag"])
        rendered = list(server_arguments(options, option_class=Later))
        self.assertEqual(rendered, ["--colour", "red", "--later-flag"])

    def test_secret_names(self) -> None:
        self.assertTrue(is_secret("root-passwd"))
        self.assertTrue(is_secret("root-passwd-hash"))
        self.assertTrue(is_secret("replica-password"))
        self.assertFalse(is_secret("secretfile"))
