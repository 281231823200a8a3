"""Errors raised for refused release files, documentation zips and upload bodies."""


class DistError(Exception):
    """A refusal whose C{message} is meant for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidDistribution(DistError):
    """A release file, its name, its metadata or a doc zip is refused (400)."""


class MalformedForm(DistError):
    """An upload body is not well-formed C{multipart/form-data} (400)."""


class DocNotFound(DistError, KeyError):
    """A documentation zip has no such member, or the path is refused (404)."""
