"""Ask the geo assistant one question and print its answer as it streams.

    python examples/stream_chat_example.py "北京今天天气怎么样？"

Reads DASHSCOPE_API_KEY (and the other settings) from the environment or ./.env.
Exit status: 0 after stream_end, 1 after an error.
"""

from __future__ import annotations

import asyncio
import sys

from bailian_geo_agent.agent import StreamChatService

DEFAULT_QUESTION = "北京今天天气怎么样？"


async def main(message: str) -> int:
    async with StreamChatService() as service:
        async for event in service.stream_chat(message):
            if event["type"] == "stream_start":
                print(f"[开始] 会话 {event['session_id']} 消息 {event['message_id']}", flush=True)
            elif event["type"] == "stream_chunk":
                print(event["chunk"], end="", flush=True)
            elif event["type"] == "stream_end":
                print("\n[结束]", flush=True)
                return 0
            elif event["type"] == "error":
                print(f"\n[错误] {event['error']}", file=sys.stderr, flush=True)
                return 1
    return 1


if __name__ == "__main__":
    # No argument: the default question. An empty one ("") goes to the service, which says so.
    question = " ".join(sys.argv[1:]) if len(sys.argv) > 1 else DEFAULT_QUESTION
    sys.exit(asyncio.run(main(question)))
