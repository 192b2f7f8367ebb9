"""Logging for the command line and the servers: to stderr, at a chosen level, never a secret.

The package logs under ``bailian_geo_agent.*`` (module names); nothing is logged per chunk.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from bailian_geo_agent.tools.security import RedactSecrets as RedactSecrets  # the one redactor

FORMAT = "%(levelname)s %(name)s: %(message)s"
PACKAGE_LOGGERS = ("bailian_geo_agent",)


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
