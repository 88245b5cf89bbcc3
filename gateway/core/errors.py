"""Errors the domain raises; the HTTP and CLI layers turn them into answers."""
from __future__ import annotations


class GatewayError(Exception):
    status = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationError(GatewayError):
    """Input that cannot be accepted; ``fields`` maps each field to its reason."""

    status = 422


class Conflict(GatewayError):
    status = 409


class Forbidden(GatewayError):
    """The role may not do this (whatever the row)."""

    status = 403


class NotFound(GatewayError):
    status = 404
