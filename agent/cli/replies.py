"""The service behind ``ask`` and ``chat``: built from the configuration, its replies run on one
event loop, where Ctrl-C (SIGINT) during a reply cancels just that reply."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any
from uuid import uuid4

from bailian_geo_agent.agent.cli import _startup
from bailian_geo_agent.agent.cli.display import Display
from bailian_geo_agent.agent.exit_codes import ExitCode
from bailian_geo_agent.prompts.catalogue import text


class Replies:
    """Runs replies on one event loop; SIGINT during a reply cancels just that reply."""

    def __init__(self, service: Any, display: Display, events: frozenset[str], *,
                 collect_map: bool = False) -> None:
        self.service = service
        self.display = display
        # --map: the map commands are asked for to be drawn, shown only when asked for too
        self._show_map = "map_action" in events
        self.events = events | {"map_action"} if collect_map else events
        self.map_actions: list[dict[str, Any]] = []
        """The last reply's map commands (with ``collect_map``)."""
        self.loop = asyncio.new_event_loop()

    def ask(self, message: str, session_id: str) -> ExitCode:
        """Stream one reply to the display: ``OK`` when it ended with ``stream_end``."""
        return self._run(self._reply(message, session_id))

    def show_history(self, session_id: str) -> None:
        """Print the session's stored turns (questions and answers, not tool traffic)."""
        from bailian_geo_agent.agent.sessions.history import is_interrupted

        messages = self.loop.run_until_complete(self.service.get_history(session_id))
        shown = [m for m in messages if m.type in ("human", "ai") and m.text]
        if not shown:
            self.display.note(text("cli_history_empty"))
        for message in shown:
            who = text("cli_prompt") if message.type == "human" else "geo> "
            mark = text("cli_interrupted") if is_interrupted(message) else ""
            self.display.note(f"{who}{message.text}{mark}")

    async def _reply(self, message: str, session_id: str) -> ExitCode:
        stream = self.service.stream_chat(message, session_id, events=self.events)
        status = ExitCode.ERROR
        self.map_actions = []
        try:
            async for event in stream:
                if event["type"] != "stream_start":  # the stack is imported by now
                    _startup.settled()
                if event["type"] == "map_action":
                    self.map_actions.append(event.get("action") or {})
                    if not self._show_map:
                        continue
                self.display.show(event)
                if event["type"] == "stream_end":
                    status = ExitCode.OK
        finally:
            _startup.settled()
            await stream.aclose()  # cancels the model request if the reply was stopped
        return status

    def _run(self, coro: Coroutine[Any, Any, ExitCode]) -> ExitCode:
        task = self.loop.create_task(coro)
        try:
            self.loop.add_signal_handler(signal.SIGINT, task.cancel)
            handled = True
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not main thread
            handled = False
        try:
            return self.loop.run_until_complete(task)
        except asyncio.CancelledError:
            return ExitCode.INTERRUPTED
        except KeyboardInterrupt:
            task.cancel()
            with suppress(BaseException):
                self.loop.run_until_complete(task)
            return ExitCode.INTERRUPTED
        finally:
            if handled:
                self.loop.remove_signal_handler(signal.SIGINT)

    def close(self) -> None:
        """Close the service (the session store, HTTP pools) and the loop."""
        aclose = getattr(self.service, "aclose", None)
        with suppress(Exception):
            if aclose is not None:
                self.loop.run_until_complete(aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


def load_service(args: argparse.Namespace, display: Display, session_id: str) -> Any:
    """The service, or ``None`` after reporting a configuration error (like a missing key).

    ``-v`` logs the package (``bailian_geo_agent.*``) at INFO, ``--debug`` everything at DEBUG."""
    from bailian_geo_agent.agent.config import Settings
    from bailian_geo_agent.agent.errors import ConfigurationError

    overrides = {k: v for k, v in (("model", args.model), ("provider", args.provider)) if v}
    try:
        settings = Settings.from_env(args.env_file, **overrides)
        settings.require_api_key()
        if getattr(args, "thinking", False) and settings.enable_thinking is None:
            settings = settings.model_copy(update={"enable_thinking": True})
    except ConfigurationError as exc:
        report_error(display, session_id, str(exc))
        return None
    if args.verbose or args.debug:
        from bailian_geo_agent.agent.logs import configure_logging

        level = logging.DEBUG if args.debug else logging.INFO
        configure_logging(level, settings.secrets(), libraries=args.debug)
    from bailian_geo_agent.agent.service import StreamChatService

    return StreamChatService(settings)


def report_error(display: Display, session_id: str, error: str) -> None:
    """An error before any reply, shown as the stream's ``error`` event."""
    display.show(
        {"type": "error", "message_id": str(uuid4()), "session_id": session_id, "error": error}
    )
