"""``python -m bailian_geo_agent.agent.mcp [--http ...]``: the same as ``geo-agent mcp``."""

from __future__ import annotations

import sys

from bailian_geo_agent.agent.mcp.cli import main

if __name__ == "__main__":
    sys.exit(main())
