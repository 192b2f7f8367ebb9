"""Logging for the command line and the servers: to stderr, at a chosen level, never a secret.

The package logs under ``bailian_geo_agent.*`` (module names); nothing is logged per chunk.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

FORMAT = "%(levelname)s %(name)s: %(message)s"
PACKAGE_LOGGERS = ("bailian_geo_agent",)


class RedactSecrets(logging.Filter):
    """Masks each of ``secrets`` in every record it passes (message and arguments)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret and len(secret) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with every secret masked; always let it through."""
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: int | str, secrets: Sequence[str], *, libraries: bool) -> None:
    """Log at ``level`` to stderr: the package's loggers, or every logger with ``libraries``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    if libraries:
        root = logging.getLogger()
        root.setLevel(level)
        root.addHandler(handler)
        return
    for name in PACKAGE_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False
