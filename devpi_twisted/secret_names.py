"""Which names (log event fields, query parameters) may hold a secret."""

from __future__ import annotations

#: A name holding one of these (in any case) may hold a secret: C{pass} covers
#: C{passwd} and C{password}, C{auth} covers C{authorization}.
SECRET_WORDS = ("pass", "secret", "token", "auth", "cookie")


def is_secret(name: str) -> bool:
    """Whether C{name} may hold a secret, e.g. C{password}, C{auth_token}, C{Cookie}."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)
