"""Send messages to one session from a fresh process, printing each event as a JSON line.

``python -m tests.stores.chat_once --base-url URL [--store URL] --session ID MESSAGE...``
(the store defaults to ``SESSION_STORE_URL``/the default SQLite file). Used by the store tests
to show that sessions outlive a process and are shared between processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bailian_geo_agent.agent import Settings, StreamChatService

from tests.fakes.pytest_plugin import FAKE_API_KEY


async def _main(args: argparse.Namespace) -> int:
    values = {
        "api_key": FAKE_API_KEY,
        "base_url": args.base_url,
        "timeout": 10.0,
        "max_retries": 0,
        "session_lock_timeout": args.lock_timeout,
    }
    if args.store:
        values["session_store_url"] = args.store
    service = StreamChatService(Settings(**values), tools=[])
    failed = False
    async with service:
        for message in args.messages:
            async for event in service.stream_chat(message, args.session):
                print(json.dumps(event, ensure_ascii=False), flush=True)
                failed = failed or event["type"] == "error"
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--store", default=None)
    parser.add_argument("--session", required=True)
    parser.add_argument("--lock-timeout", type=float, default=30.0)
    parser.add_argument("messages", nargs="+")
    sys.exit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
