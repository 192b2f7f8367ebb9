"""``geo-agent mcp --map-images``: a picture of a tool result's map commands, for MCP clients
without a map.

``MapImages.add(result)`` renders the map commands of a successful result's structured content
(``{"map_action": ...}`` or ``{"map_actions": [...]}``) with ``tools.snapshot.render_png`` and
appends the PNG as ``ImageContent``. A result that draws nothing is returned as it was; a
picture that cannot be made adds a short text saying why (the tool's own answer stays).
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING

import mcp_types as types
from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.map_commands import artifact_commands
from bailian_geo_agent.tools.snapshot import DEFAULT_SIZE, NothingToDraw, SnapshotError, render_png

if TYPE_CHECKING:
    from bailian_geo_agent.tools.config import GeoConfig
    from bailian_geo_agent.tools.http import HttpClient

logger = logging.getLogger(__name__)


class MapImages:
    """Adds map pictures to tool results, over one ``HttpClient`` built from ``config``."""

    def __init__(self, config: GeoConfig, *, size: tuple[int, int] = DEFAULT_SIZE) -> None:
        from bailian_geo_agent.tools.http import HttpClient

        self.config = config
        self.size = size
        self.http: HttpClient = HttpClient.from_config(config)

    async def add(self, result: types.CallToolResult) -> types.CallToolResult:
        """``result`` with a PNG of its map commands appended (as it was when it draws none)."""
        if result.is_error or not result.structured_content:
            return result
        commands = artifact_commands(result.structured_content)
        if not commands:
            return result
        try:
            png = await render_png(commands, size=self.size, config=self.config, http=self.http)
        except NothingToDraw:
            return result
        except (SnapshotError, ValueError) as exc:  # ValueError: a command that is not one
            logger.warning("map picture not made: %s", type(exc).__name__)
            note = message_text("snapshot_failed", problem=exc)
            extra: types.TextContent | types.ImageContent = types.TextContent(text=note)
        else:
            extra = types.ImageContent(mime_type="image/png",
                                       data=base64.b64encode(png).decode("ascii"))
        return result.model_copy(update={"content": [*result.content, extra]})

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()
