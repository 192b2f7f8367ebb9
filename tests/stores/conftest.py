"""Real PostgreSQL servers for the store tests (Debian's ``postgresql``, via tests/postgres.sh).

- ``postgres_url``: the shared cluster of the run: ``GEO_AGENT_TEST_POSTGRES_URL`` when set
  (``.ci/run`` starts it with ``bash tests/postgres.sh start``), otherwise a cluster this fixture
  starts itself and removes at the end.
- ``pg_url``: a fresh, empty database in that cluster for one test.
- ``private_postgres``: a cluster of the test's own (for tests that stop the server).

When PostgreSQL cannot be started the tests fail if ``CI`` is set and are skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.helpers import free_port

SCRIPT = Path(__file__).resolve().parents[1] / "postgres.sh"
URL_VARIABLE = "GEO_AGENT_TEST_POSTGRES_URL"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


class Cluster:
    """A throwaway cluster managed by tests/postgres.sh."""

    def __init__(self) -> None:
        # Under /tmp (not pytest's 0700 tmp dir): the postgres OS user must reach it.
        self.dir = tempfile.mkdtemp(prefix="geo-agent-pg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.url = ""

    def _run(self, command: str) -> str:
        done = subprocess.run(
            ["bash", str(SCRIPT), command, "--dir", self.dir, "--port", str(self.port)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"postgres.sh {command} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout.strip()

    def start(self) -> str:
        self.url = self._run("start").splitlines()[-1]
        return self.url

    def stop(self) -> None:
        self._run("stop")

    def destroy(self) -> None:
        try:
            self._run("destroy")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def start_cluster() -> Cluster:
    cluster = Cluster()
    try:
        cluster.start()
    except Exception as exc:
        cluster.destroy()
        _unavailable(str(exc))
    return cluster


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a running PostgreSQL for the whole run."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if url:
        yield url
        return
    cluster = start_cluster()
    try:
        yield cluster.url
    finally:
        cluster.destroy()


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh database for this test (dropped afterwards)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = _with_database(postgres_url, "postgres")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        _unavailable(f"cannot create a database at {postgres_url}: {exc}")
    yield _with_database(postgres_url, name)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def private_postgres() -> Iterator[Cluster]:
    """A cluster of this test's own, which the test may stop and start again."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.destroy()
