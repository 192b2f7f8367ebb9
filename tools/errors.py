"""The errors geo providers raise: ``str(error)`` is a short sentence safe to show the model.

Defined apart from the provider interface so that the lowest layers (``tools.http``) and the
tools can use them without importing the providers.
"""

from __future__ import annotations


class GeoProviderError(Exception):
    """A provider call failed; ``str(error)`` is a user-facing explanation."""

    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidKeyError(GeoProviderError):
    """The API key is missing, wrong, or not allowed for this service or IP."""


class QuotaExceededError(GeoProviderError):
    """The daily quota is used up (not retried: it resets the next day)."""


class RateLimitedError(GeoProviderError):
    """Too many requests per second/minute (retried after a short wait)."""

    retryable = True


class InvalidParamsError(GeoProviderError):
    """The provider rejected the parameters."""


class ProviderUnavailableError(GeoProviderError):
    """HTTP error, connection failure or an unreadable answer."""

    retryable = True


class ProviderTimeoutError(ProviderUnavailableError):
    """The provider did not answer in time."""


class NotFoundError(GeoProviderError):
    """The query was valid but nothing matched."""


class OutOfCoverageError(GeoProviderError):
    """The place is outside the area this provider serves."""
