"""The geo tools as an MCP server (official ``mcp`` SDK, low-level ``Server``).

Every tool of ``GeoToolkit().get_tools()`` is listed with its own name, description and JSON
schema (``args_schema``). Read-only tools carry ``readOnlyHint``; map-operation tools change the
caller's map, so they do not, and their structured command comes back as structured content
``{"map_action": {...}}`` beside the short confirmation text, described by an ``outputSchema``
generated from the command models (``tools.map_commands``). Lookup tools whose artifact carries
hand-off links (``tools.links``) or map commands return them as structured content
``{"links": [...], "map_actions": [...]}`` (``HANDOFF_SCHEMA``) and the links also as text
lines, for clients that show text only. A provider failure (quota, bad
parameters, timeout...) or malformed arguments give a short text result with ``isError`` set;
nothing a tool does ends the session.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from bailian_geo_agent.agent import telemetry
from bailian_geo_agent.agent.tool_selection import MAP_TOOL_PREFIX
from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.links import Link, links_text
from bailian_geo_agent.tools.map_commands import (
    MapAction,
    artifact_commands,
    map_tool_output_schema,
)
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from mcp import types
from mcp.server.lowlevel import Server
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from bailian_geo_agent.agent.mcp.images import MapImages

logger = logging.getLogger(__name__)

SERVER_NAME = "bailian-geo-agent"
MAP_ACTION_SCHEMA: dict[str, Any] = map_tool_output_schema()
"""The map tools' ``outputSchema``: ``{"map_action": command}``, every command of
``tools.map_commands.MapAction``."""




class HandoffOutput(BaseModel):
    """What a lookup tool with an artifact hands its caller: links, and any map commands."""

    model_config = ConfigDict(extra="forbid")

    links: list[Link] = Field(default_factory=list)
    map_actions: list[MapAction] = Field(default_factory=list)


HANDOFF_SCHEMA: dict[str, Any] = HandoffOutput.model_json_schema()
"""The ``outputSchema`` of lookup tools with an artifact: ``{"links", "map_actions"}``."""


def has_artifact(tool: BaseTool) -> bool:
    """Tools answering with content and an artifact (map commands, links)."""
    return getattr(tool, "response_format", "content") == "content_and_artifact"


def is_map_tool(tool: BaseTool) -> bool:
    """Map-operation tools (``map_*``) answer with a ``map_action`` artifact."""
    return has_artifact(tool) and tool.name.startswith(MAP_TOOL_PREFIX)


def output_schema(tool: BaseTool) -> dict[str, Any] | None:
    """The map tools' ``{"map_action"}``, other tools with an artifact ``{"links", ...}``."""
    if is_map_tool(tool):
        return MAP_ACTION_SCHEMA
    return HANDOFF_SCHEMA if has_artifact(tool) else None


def input_schema(tool: BaseTool) -> dict[str, Any]:
    """The tool's own JSON schema of its arguments (pydantic ``args_schema``)."""
    schema = tool.args_schema
    if isinstance(schema, dict):
        return dict(schema)
    if schema is None:
        return {"type": "object", "properties": {}}
    result = schema.model_json_schema()  # type: ignore[union-attr]
    result.setdefault("type", "object")
    return result


# mypy takes the name for the __future__ import's (only a compiler flag at run time).
def annotations(tool: BaseTool) -> types.ToolAnnotations:  # type: ignore[no-redef]
    """``readOnlyHint`` for tools that only look things up; map tools change the user's map."""
    if not is_map_tool(tool):
        return types.ToolAnnotations(readOnlyHint=True, openWorldHint=True)
    return types.ToolAnnotations(
        readOnlyHint=False,
        destructiveHint=tool.name == "map_clear",
        idempotentHint=True,
        openWorldHint=tool.name != "map_clear",
    )


def describe(tool: BaseTool) -> types.Tool:
    """The MCP description of one LangChain tool."""
    return types.Tool(
        name=tool.name,
        description=tool.description,
        inputSchema=input_schema(tool),
        outputSchema=output_schema(tool),
        annotations=annotations(tool),  # type: ignore[operator]  # the function above
    )


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str | dict)
        )
    return str(content)


async def call(tool: BaseTool, arguments: dict[str, Any]) -> types.CallToolResult:
    """Run ``tool`` and turn its ``ToolMessage`` into an MCP result (never raises)."""
    request = {"type": "tool_call", "id": f"mcp-{uuid4().hex[:12]}", "name": tool.name,
               "args": arguments}
    try:
        message = await tool.ainvoke(request)
    except Exception as exc:  # a tool bug: short result, details only in the log (no args)
        logger.error("MCP tool %s failed: %s", tool.name, type(exc).__name__)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=message_text("tool_internal_error"))],
            isError=True,
        )
    text = _text(message)
    failed = isinstance(message, ToolMessage) and message.status == "error"
    content = [types.TextContent(type="text", text=text)]
    if failed:
        return types.CallToolResult(content=content, isError=True)
    artifact = getattr(message, "artifact", None)
    if is_map_tool(tool):
        if not (isinstance(artifact, dict) and isinstance(artifact.get("map_action"), dict)):
            return types.CallToolResult(content=content, isError=True)
        return types.CallToolResult(
            content=content, structuredContent={"map_action": artifact["map_action"]}
        )
    if has_artifact(tool):
        return _handoff(text, artifact)
    return types.CallToolResult(content=content)


def _handoff(text: str, artifact: Any) -> types.CallToolResult:
    """A lookup's text with its links as lines after it, and ``{"links", "map_actions"}``."""
    artifact = artifact if isinstance(artifact, dict) else {}
    links = [x for x in artifact.get("links") or [] if isinstance(x, dict)]
    structured: dict[str, Any] = {"links": links}
    commands = artifact_commands(artifact)
    if commands:
        structured["map_actions"] = commands
    lines = links_text(links)
    full = f"{text}\n\n{lines}" if lines else text
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=full)], structuredContent=structured
    )


def build_server(tools: Sequence[BaseTool], *, name: str = SERVER_NAME,
                 map_images: MapImages | None = None) -> Server:
    """A low-level MCP ``Server`` offering ``tools``; with ``map_images``, results that draw
    on the map also carry a picture of it (``--map-images``)."""
    from bailian_geo_agent.agent.mcp import __version__

    server: Server = Server(
        name,
        version=__version__,
        instructions=(
            "Geographic tools (weather, POI search and details, geocoding, routes by car, foot, "
            "bicycle and public transport, distances, IP location, trip planning, search along "
            "a route, area boundaries and reachable areas) over AMap (GCJ-02) or keyless "
            "OpenStreetMap services (WGS-84); every coordinate states its system. Results carry "
            "hand-off links a phone opens; map_* tools and the trip and area tools return map "
            "commands as structured content for a map front end."
        ),
    )
    by_name = {tool.name: tool for tool in tools}
    listed = [describe(tool) for tool in tools]

    # mcp's low-level Server leaves its decorators unannotated.
    @server.list_tools()  # type: ignore[no-untyped-call, untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        return listed

    # Arguments are validated by each tool's pydantic schema, which gives a short readable
    # message; the SDK's jsonschema check would answer in English with the raw schema path.
    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def call_tool(tool_name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        tool = by_name.get(tool_name)
        if tool is None:
            return types.CallToolResult(
                content=[
                    types.TextContent(
                        type="text", text=message_text("unknown_tool", tool=tool_name[:60])
                    )
                ],
                isError=True,
            )
        arguments = arguments if isinstance(arguments, dict) else {}
        if not telemetry.enabled():
            result = await call(tool, arguments)
        else:
            result = await _traced_call(server, tool, arguments)
        return result if map_images is None else await map_images.add(result)

    return server


async def _traced_call(server: Server, tool: BaseTool,
                       arguments: dict[str, Any]) -> types.CallToolResult:
    """``call`` in an ``execute_tool`` span, under the caller's trace when the request's
    ``_meta`` carries a W3C ``traceparent``."""
    try:
        context = server.request_context
    except LookupError:  # called outside a request (tests): no caller's trace
        meta, request_id = None, None
    else:
        meta, request_id = context.meta, context.request_id
    carrier = dict(meta.model_extra or {}) if meta is not None else {}
    attributes = {"mcp.method.name": "tools/call"}
    if request_id is not None:
        attributes["jsonrpc.request.id"] = str(request_id)
    with telemetry.remote_tool_span(tool.name, carrier, attributes) as span:
        result = await call(tool, arguments)
        if result.isError:
            telemetry.mark_failed(span, "tool_error")
        return result


def default_tools(env_file: str | None = None, include_map_tools: bool = True) -> list[BaseTool]:
    """``GeoToolkit`` tools from the environment (``GEO_PROVIDER``, ``AMAP_API_KEY``, ...) and
    ``env_file`` (default ``./.env``; variables set in the environment win)."""
    from bailian_geo_agent.tools import GeoToolkit
    from bailian_geo_agent.tools.config import GeoConfig

    config = GeoConfig.from_env(env_file)
    return GeoToolkit(config=config, include_map_tools=include_map_tools).get_tools()
