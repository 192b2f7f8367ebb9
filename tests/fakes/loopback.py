"""``LoopbackServer``: an aiohttp application on 127.0.0.1, served from its own thread and loop.

The fakes run beside the code under test, which has its own event loop (one per test), so each
fake keeps a private loop in a daemon thread; ``start``/``stop`` are plain synchronous calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Self

from aiohttp import web


class LoopbackServer:
    """Subclasses build their application in ``make_app``; ``port`` is set once started."""

    thread_name = "loopback-server"
    runner_options: dict[str, Any] = {}  # noqa: RUF012 - read-only per class

    def __init__(self) -> None:
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        """The application to serve."""
        raise NotImplementedError

    def start(self, port: int = 0) -> Self:
        """Serve on 127.0.0.1 (a free port by default); returns once the port is bound."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(port))
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            # Handlers still waiting (a client that went away mid-request) end here, as
            # asyncio.run ends them, instead of being destroyed pending.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread."""
        if self._thread is None or self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, port: int) -> None:
        options = {"access_log": None, "shutdown_timeout": 0.5, **self.runner_options}
        self._runner = web.AppRunner(self.make_app(), **options)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port, backlog=4096).start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
