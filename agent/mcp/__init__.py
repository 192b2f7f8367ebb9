"""``geo-agent mcp``: the geo tools over the Model Context Protocol (stdio or streamable HTTP).

Needs the ``mcp`` extra: ``pip install "bailian-geo-agent[mcp]"``.
"""

from __future__ import annotations

from bailian_geo_agent.tools.infra import version

__version__ = version()
