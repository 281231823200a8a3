"""Reading what an install needs: requirements files, uv.lock, pylock.toml, names."""

from __future__ import annotations

import os

from twisted.trial.unittest import TestCase

from devpi_twisted.dists.requirements import Locked, RequirementsError, read_sources


class ReadSourcesTests(TestCase):
    def write(self, name: str, text: str) -> str:
        directory = self.mktemp()
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_requirements_files_with_includes_options_and_comments(self) -> None:
        base = self.write("base.txt", "Foo[bar]>=1 ; python_version >= '3'  # why\n")
        main = os.path.join(os.path.dirname(base), "main.txt")
        with open(main, "w") as f:
            f.write("--index-url https://x.example/simple\n-r base.txt\n-c base.txt\n"
                    "# note\nbaz==2 \\\n  --hash=sha256:00\n-e ./local\n")
        wanted = read_sources([main, "plain>=3"])
        self.assertEqual([str(r) for r in wanted.requirements],
                         ['Foo[bar]>=1; python_version >= "3"', "baz==2", "plain>=3"])
        self.assertEqual(wanted.locked, [])

    def test_lock_files_give_their_registry_files(self) -> None:
        uv = self.write("uv.lock", """
[[package]]
name = "Alpha"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://f.example/alpha-1.0.tar.gz" }
wheels = [{ url = "https://f.example/alpha-1.0-py3-none-any.whl" }]

[[package]]
name = "mine"
version = "0.1"
source = { editable = "." }
""")
        pylock = self.write("pylock.dev.toml", """
lock-version = "1.0"
[[packages]]
name = "beta"
version = "2.0"
sdist = { url = "https://f.example/beta-2.0.tar.gz" }
wheels = [{ name = "beta-2.0-py3-none-any.whl" }]
""")
        wanted = read_sources([uv, pylock])
        self.assertEqual(wanted.locked, [
            Locked("alpha", "1.0", ("alpha-1.0.tar.gz", "alpha-1.0-py3-none-any.whl")),
            Locked("beta", "2.0", ("beta-2.0-py3-none-any.whl", "beta-2.0.tar.gz")),
        ])

    def test_unreadable_sources_are_named(self) -> None:
        for sources, text in [
            (["not a requirement!"], "the command line"),
            (["pkg @ https://x.example/pkg.whl"], "is a URL"),
            ([self.write("uv.lock", "[[package")], "uv.lock"),
            ([self.write("r.txt", "ok\n???\n")], "r.txt line 2"),
        ]:
            with self.assertRaises(RequirementsError) as caught:
                read_sources(sources)
            self.assertIn(text, str(caught.exception))
