"""``geo-agent mcp``: the geo tools over the Model Context Protocol (stdio or streamable HTTP).

Needs the ``mcp`` extra: ``pip install "bailian-geo-agent[mcp]"``.
"""

from __future__ import annotations


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bailian-geo-agent")
    except PackageNotFoundError:
        return "dev"


__version__ = _version()
