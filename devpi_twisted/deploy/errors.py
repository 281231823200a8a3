"""The error of a setting that the config files cannot express, and the check every format needs."""

from __future__ import annotations


class UnsafeValue(ValueError):
    """A value that a config file cannot hold safely, or cannot use; the message says which."""


def printable(value: str, where: str) -> str:
    """C{value}, which must hold no control characters (newlines end a config line)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UnsafeValue(f"{value!r} holds control characters, which {where} cannot take")
    return value
