"""The geo tools as an MCP server (official ``mcp`` 2.x SDK, low-level ``Server``).

One server answers both protocol eras: 2026-07-28 clients (stateless, ``server/discover``,
version and capabilities in each request's ``_meta``) and 2025-11-25 (and older) clients with the
``initialize`` handshake; the SDK's runner and streamable-HTTP manager tell them apart.

Every tool of ``GeoToolkit().get_tools()`` is listed with its own name, description and JSON
schema (``args_schema``), a title, an icon, its annotations (read-only tools carry
``readOnlyHint``; map-operation tools change the caller's map, so they do not) and an
``outputSchema``; every successful result carries ``structuredContent`` valid against it beside
the text. Map tools answer ``{"map_action": {...}}`` (generated from ``tools.map_commands``). A
lookup tool with an ``output_model`` answers that model's fields plus ``links`` and
``map_actions``; other lookups answer ``{"links": [...], "map_actions": [...]}``
(``HANDOFF_SCHEMA``), the links also as text lines for clients that show text only. A provider
failure (quota, bad parameters, timeout...) or malformed arguments give a short text result
with ``isError`` set; nothing a tool does ends the session. The map app of ``agent.mcp.app`` is
offered as a resource and linked from the tools' ``_meta``.
"""

from __future__ import annotations

import base64
import copy
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import mcp_types as types
from bailian_geo_agent.agent import telemetry
from bailian_geo_agent.agent.mcp.app import app_resources, read_app_resource, tool_meta
from bailian_geo_agent.agent.tool_selection import MAP_TOOL_PREFIX
from bailian_geo_agent.prompts.catalogue import CATALOGUE
from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.links import Link, links_text
from bailian_geo_agent.tools.map_commands import (
    MapAction,
    artifact_commands,
    map_tool_output_schema,
)
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from mcp.server.apps import EXTENSION_ID as APPS_EXTENSION
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from bailian_geo_agent.agent.mcp.images import MapImages
    from bailian_geo_agent.tools.config import GeoConfig

logger = logging.getLogger(__name__)

SERVER_NAME = "bailian-geo-agent"
RESOURCE_NOT_FOUND = -32002
"""The JSON-RPC error code the MCP specification gives an unknown resource URI."""

MAP_ACTION_SCHEMA: dict[str, Any] = map_tool_output_schema()
"""The map tools' ``outputSchema``: ``{"map_action": command}``, every command of
``tools.map_commands.MapAction``."""

# A pin on a map: the one icon of the server and its tools (a data: URI, nothing fetched).
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24">'
    '<path fill="#1a73e8" d="M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7z"/>'
    '<circle cx="12" cy="9" r="2.6" fill="#fff"/></svg>'
)
ICON = types.Icon(
    src="data:image/svg+xml;base64," + base64.b64encode(ICON_SVG.encode("ascii")).decode("ascii"),
    mime_type="image/svg+xml", sizes=["any"])

TITLE_KEY = "mcp_tool_title_{name}"
"""The catalogue key of a tool's display name (hosts show it to the user, in the server's
language)."""


class SourcePage(BaseModel):
    """A web page a result came from (an artifact's ``"sources"``)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    title: str


class HandoffOutput(BaseModel):
    """What a lookup tool with an artifact hands its caller: links, any map commands, and the
    web pages its result came from."""

    model_config = ConfigDict(extra="forbid")

    links: list[Link] = Field(default_factory=list)
    map_actions: list[MapAction] = Field(default_factory=list)
    sources: list[SourcePage] = Field(default_factory=list)


HANDOFF_SCHEMA: dict[str, Any] = HandoffOutput.model_json_schema()
"""The ``outputSchema`` of lookup tools without an ``output_model``: ``{"links",
"map_actions", "sources"}``."""


def has_artifact(tool: BaseTool) -> bool:
    """Tools answering with content and an artifact (map commands, links)."""
    return getattr(tool, "response_format", "content") == "content_and_artifact"


def is_map_tool(tool: BaseTool) -> bool:
    """Map-operation tools (``map_*``) answer with a ``map_action`` artifact."""
    return has_artifact(tool) and tool.name.startswith(MAP_TOOL_PREFIX)


def output_model(tool: BaseTool) -> type[BaseModel] | None:
    """The tool's typed result (its ``output_model`` class attribute), if it declares one."""
    model = getattr(type(tool), "output_model", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def typed_output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with the optional ``links``, ``map_actions`` and ``sources`` of
    ``HANDOFF_SCHEMA`` added (their definitions merged). Raises ``TypeError`` when ``model``
    has a field or a definition of one of those names that differs (one would hide the
    other)."""
    schema = copy.deepcopy(model.model_json_schema())
    handoff = copy.deepcopy(HANDOFF_SCHEMA)
    properties, own_defs = schema.get("properties", {}), schema.get("$defs", {})
    clashes = sorted({*(set(properties) & set(handoff["properties"])),
                      *(name for name, value in handoff.get("$defs", {}).items()
                        if name in own_defs and own_defs[name] != value)})
    if clashes:
        raise TypeError(f"{model.__name__}: {', '.join(clashes)} clash with the hand-off schema")
    schema.setdefault("type", "object")
    schema["properties"] = {**properties, **handoff["properties"]}
    defs = {**handoff.get("$defs", {}), **own_defs}
    if defs:
        schema["$defs"] = defs
    return schema


def output_schema(tool: BaseTool) -> dict[str, Any]:
    """Map tools ``{"map_action"}``; a tool with an ``output_model`` its fields plus
    ``{"links", "map_actions"}``; any other tool ``{"links", "map_actions"}``."""
    if is_map_tool(tool):
        return MAP_ACTION_SCHEMA
    model = output_model(tool)
    return typed_output_schema(model) if model is not None else HANDOFF_SCHEMA


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
        return types.ToolAnnotations(read_only_hint=True, open_world_hint=True)
    return types.ToolAnnotations(
        read_only_hint=False,
        destructive_hint=tool.name == "map_clear",
        idempotent_hint=True,
        open_world_hint=tool.name != "map_clear",
    )


def title(tool: BaseTool) -> str:
    """The tool's display name in the current language (its name, spaced, for a tool the
    catalogue does not know)."""
    key = TITLE_KEY.format(name=tool.name)
    return message_text(key) if key in CATALOGUE else tool.name.replace("_", " ").capitalize()


def describe(tool: BaseTool) -> types.Tool:
    """The MCP description of one LangChain tool."""
    return types.Tool(
        name=tool.name,
        title=title(tool),
        description=tool.description,
        input_schema=input_schema(tool),
        output_schema=output_schema(tool),
        icons=[ICON],
        annotations=annotations(tool),  # type: ignore[operator]  # the function above
        meta=tool_meta(tool.name),
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


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


async def call(tool: BaseTool, arguments: dict[str, Any]) -> types.CallToolResult:
    """Run ``tool`` and turn its ``ToolMessage`` into an MCP result (never raises)."""
    request = {"type": "tool_call", "id": f"mcp-{uuid4().hex[:12]}", "name": tool.name,
               "args": arguments}
    try:
        message = await tool.ainvoke(request)
    except Exception as exc:  # a tool bug: short result, details only in the log (no args)
        logger.error("MCP tool %s failed: %s", tool.name, type(exc).__name__)
        return _error(message_text("tool_internal_error"))
    text = _text(message)
    if isinstance(message, ToolMessage) and message.status == "error":
        return _error(text)
    artifact = getattr(message, "artifact", None)
    if is_map_tool(tool):
        if not (isinstance(artifact, dict) and isinstance(artifact.get("map_action"), dict)):
            return _error(text)
        return types.CallToolResult(
            content=[types.TextContent(text=text)],
            structured_content={"map_action": artifact["map_action"]},
        )
    return _handoff(text, artifact, typed=output_model(tool) is not None)


def _handoff(text: str, artifact: Any, *, typed: bool) -> types.CallToolResult:
    """A lookup's text with its links as lines after it, and as structured content its typed
    ``data`` (``typed``), ``links``, any ``map_actions`` and any ``sources``."""
    artifact = artifact if isinstance(artifact, dict) else {}
    data = artifact.get("data") if typed else None
    structured: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
    links = [x for x in artifact.get("links") or [] if isinstance(x, dict)]
    structured["links"] = links
    commands = artifact_commands(artifact)
    if commands:
        structured["map_actions"] = commands
    sources = [x for x in artifact.get("sources") or [] if isinstance(x, dict)]
    if sources:
        structured["sources"] = sources
    lines = links_text(links)
    full = f"{text}\n\n{lines}" if lines else text
    return types.CallToolResult(content=[types.TextContent(text=full)],
                                structured_content=structured)


INSTRUCTIONS = (
    "Geographic tools (weather, POI search and details, geocoding, routes by car, foot, "
    "bicycle and public transport, distances, IP location, trip planning, search along "
    "a route, area boundaries and reachable areas) over AMap (GCJ-02) or keyless "
    "OpenStreetMap services (WGS-84); every coordinate states its system. Results carry "
    "hand-off links a phone opens; map_* tools and the trip and area tools return map "
    "commands as structured content for a map front end."
)


def build_server(tools: Sequence[BaseTool], *, name: str = SERVER_NAME,
                 map_images: MapImages | None = None,
                 tile_url: str | None = None) -> Server[Any]:
    """A low-level MCP ``Server`` offering ``tools`` and the map app's resources; with
    ``map_images``, results that draw on the map also carry a picture of it
    (``--map-images``); ``tile_url``: the map app's tile server (``GEO_TILE_URL``)."""
    from bailian_geo_agent.agent.mcp import __version__

    by_name = {tool.name: tool for tool in tools}
    # Built once: every tools/list answers the same bytes, in the toolkit's order.
    listed = types.ListToolsResult(tools=[describe(tool) for tool in tools])
    resources = types.ListResourcesResult(
        resources=[types.Resource(**fields) for fields in app_resources(tile_url=tile_url)])

    async def list_tools(_ctx: ServerRequestContext[Any],
                         _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return listed

    # Arguments are validated by each tool's pydantic schema, which gives a short readable
    # message in the configured language.
    async def call_tool(ctx: ServerRequestContext[Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            return _error(message_text("unknown_tool", tool=params.name[:60]))
        arguments = params.arguments if isinstance(params.arguments, dict) else {}
        if not telemetry.enabled():
            result = await call(tool, arguments)
        else:
            result = await traced_call(tool, arguments, ctx.meta, ctx.request_id)
        return result if map_images is None else await map_images.add(result)

    async def list_resources(_ctx: ServerRequestContext[Any],
                             _params: types.PaginatedRequestParams | None,
                             ) -> types.ListResourcesResult:
        return resources

    async def read_resource(_ctx: ServerRequestContext[Any],
                            params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        contents = read_app_resource(params.uri, tile_url=tile_url)
        if contents is None:
            raise MCPError(RESOURCE_NOT_FOUND,
                           message_text("mcp_unknown_resource", uri=params.uri[:200]),
                           {"uri": params.uri[:200]})
        return types.ReadResourceResult(contents=[types.TextResourceContents(**contents)])

    server: Server[Any] = Server(
        name,
        version=__version__,
        title="Bailian geo agent",
        instructions=INSTRUCTIONS,
        icons=[ICON],
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
    if resources.resources:  # MCP Apps: the host may render the ui:// resources
        server.extensions[APPS_EXTENSION] = {}
    # One span per tool call, ours (``execute_tool``, the GenAI conventions the agent's own
    # spans follow), rather than the SDK's per-message span beside it.
    server.middleware = [m for m in server.middleware
                         if type(m).__name__ != "OpenTelemetryMiddleware"]
    return server


async def traced_call(tool: BaseTool, arguments: dict[str, Any], meta: Any,
                      request_id: Any = None) -> types.CallToolResult:
    """``call`` in an ``execute_tool`` span, under the caller's trace when the request's
    ``_meta`` carries a W3C ``traceparent``."""
    carrier = dict(meta) if isinstance(meta, dict) else {}
    attributes = {"mcp.method.name": "tools/call"}
    if request_id is not None:
        attributes["jsonrpc.request.id"] = str(request_id)
    with telemetry.remote_tool_span(tool.name, carrier, attributes) as span:
        result = await call(tool, arguments)
        if result.is_error:
            telemetry.mark_failed(span, "tool_error")
        return result


def default_tools(env_file: str | None = None, include_map_tools: bool = True,
                  config: GeoConfig | None = None) -> list[BaseTool]:
    """``GeoToolkit`` tools of ``config``, by default read from the environment
    (``GEO_PROVIDER``, ``AMAP_API_KEY``, ...) and ``env_file`` (default ``./.env``; variables
    set in the environment win)."""
    from bailian_geo_agent.tools import GeoToolkit
    from bailian_geo_agent.tools.config import GeoConfig

    config = config or GeoConfig.from_env(env_file)
    return GeoToolkit(config=config, include_map_tools=include_map_tools).get_tools()
