"""Fixtures of the deployment tests: the shared Redis and a fresh PostgreSQL database."""

from tests.server.redis_server import _redis_session, redis_url  # noqa: F401 - real Redis
from tests.stores.conftest import pg_url, postgres_url  # noqa: F401 - real PostgreSQL
from tests.web.conftest import chromium  # noqa: F401 - Debian's chromium (Playwright)
