"""The import rules of the architecture: no import loops, lower layers import nothing from above."""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import devpi_twisted

PACKAGE = Path(devpi_twisted.__file__).parent


def module_name(path: Path) -> str:
    """The dotted name of the module at C{path} inside the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name C{path} imports (type-checking imports included), its imported members too."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if path.name != "__init__.py":
                    package.pop()
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports."""
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        module: {name for name in imported_names(path, module) if name in paths and name != module}
        for module, path in paths.items()
    }


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return loops


def offending_imports(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """C{module -> name} for each import of a C{forbidden} name by a module of C{layers}."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        module = module_name(path)
        if module.split(".")[1:2] and module.split(".")[1] in layers:
            for name in sorted(imported_names(path, module)):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    found.append(f"{module} -> {name}")
    return sorted(found)


class LayerTests(SynchronousTestCase):
    def test_no_import_loops(self) -> None:
        self.assertEqual(import_loops(import_graph()), [])

    def test_finds_a_loop(self) -> None:
        graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
        self.assertEqual(import_loops(graph), [["a", "b", "c"]])

    def test_pure_layers_speak_no_http(self) -> None:
        self.assertEqual(
            offending_imports(("model", "store", "dists"), ("twisted.web", "klein", "treq", "devpi_twisted.web")),
            [],
        )

    def test_lower_layers_import_nothing_from_web(self) -> None:
        self.assertEqual(
            offending_imports(("replication", "mirror", "model", "store"), ("devpi_twisted.web",)), []
        )

    def test_nothing_imports_commands(self) -> None:
        imports = [
            f"{module} -> {name}"
            for module, names in import_graph().items()
            # the entry point (python -m devpi_twisted) runs them
            if not module.startswith("devpi_twisted.commands") and module != "devpi_twisted.__main__"
            for name in names
            if name.startswith("devpi_twisted.commands")
        ]
        self.assertEqual(imports, [])
