"""Run in the side venv (.venv-mcp-adapters: langchain-mcp-adapters 0.3.2 on mcp 1.30, a
2025-11-25 client) by tests/mcp/test_mcp_langchain.py: connect to our server as the JSON on stdin
says (``{"connection": {...MultiServerMCPClient connection...}, "calls": [[name, args], ...]}``),
load its tools as LangChain tools, call each named one and print a JSON report on stdout."""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import version
from typing import Any

from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools


async def main() -> dict[str, Any]:
    request = json.load(sys.stdin)
    client = MultiServerMCPClient({"geo": request["connection"]})
    async with client.session("geo") as session:
        listed = (await session.list_tools()).tools
        tools = {tool.name: tool for tool in await load_mcp_tools(session)}
        calls = []
        for name, args in request["calls"]:
            message = await tools[name].ainvoke(
                {"type": "tool_call", "id": f"call-{name}", "name": name, "args": args})
            calls.append({"name": name, "content": message.content, "status": message.status,
                          "artifact": message.artifact})
    return {
        "versions": {"langchain-mcp-adapters": version("langchain-mcp-adapters"),
                     "mcp": version("mcp")},
        "listed": [{"name": t.name, "title": t.title, "outputSchema": t.outputSchema}
                   for t in listed],
        "tools": {name: tool.args_schema if isinstance(tool.args_schema, dict) else None
                  for name, tool in tools.items()},
        "calls": calls,
    }


print(json.dumps(asyncio.run(main()), ensure_ascii=False, default=str))
