"""Errors the domain rules raise; the web layer maps each kind to a status."""


class ModelError(Exception):
    """A request the rules refuse; C{str()} is the message for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ModelError):
    """The request is malformed or breaks a validation rule (400)."""


class NotFound(ModelError):
    """What the request names does not exist (404)."""


class Conflict(ModelError):
    """The request clashes with what already exists (409)."""


class Forbidden(ModelError):
    """The rules do not allow this, whoever asks (403)."""


class PermissionDenied(ModelError):
    """The requesting identity lacks a permission (401 if anonymous, else 403)."""
