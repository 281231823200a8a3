"""The server's command line options that reproduce a set of parsed options, secrets left out."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from twisted.python import reflect

from devpi_twisted.options import Options as ServerOptions

#: option names holding a secret contain one of these; their values are never rendered
SECRET_WORDS = ("passwd", "password")


def is_secret(name: str) -> bool:
    """Whether option C{name} holds a secret (e.g. C{--root-passwd})."""
    return any(word in name for word in SECRET_WORDS)


def server_arguments(
    options: Mapping[str, Any],
    always: Iterable[str] = (),
    option_class: type[ServerOptions] = ServerOptions,
) -> Iterator[str]:
    """
    C{--name value} for every option of C{option_class} whose value in
    C{options} differs from its default (and for the options named in
    C{always}), C{--name} for every flag that is set; in declaration order.
    Defaults are compared as parsed: as C{postOptions} settles them.
    """
    always = frozenset(always)
    defaults = option_class(environ={})
    defaults.parseOptions([])
    parameters: list[list[Any]] = []
    reflect.accumulateClassList(option_class, "optParameters", parameters)
    for name, *_ in parameters:
        value = options.get(name)
        if is_secret(name) or (name not in always and _unchanged(value, defaults[name])):
            continue
        yield f"--{name}"
        yield str(value)
    flags: list[list[Any]] = []
    reflect.accumulateClassList(option_class, "optFlags", flags)
    for name, *_ in flags:
        if options.get(name) and not is_secret(name):
            yield f"--{name}"


def _unchanged(value: Any, default: Any) -> bool:
    return value == default or (value in (None, "") and default in (None, ""))
