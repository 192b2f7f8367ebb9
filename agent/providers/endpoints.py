"""DashScope's endpoints by region and workspace: the URLs ``DASHSCOPE_REGION`` and
``DASHSCOPE_WORKSPACE_ID`` stand for (Model Studio documentation, "endpoints", 2026).

Without a workspace a region has its public host (``dashscope.aliyuncs.com`` for Beijing,
``dashscope-intl`` for Singapore, ``dashscope-us`` for Virginia); with one, the workspace's own
``https://{WorkspaceId}.{region}.maas.aliyuncs.com``, the only endpoints of Frankfurt
(``eu-central-1``) and Hong Kong (``cn-hongkong``). Each host serves compatible mode
(``/compatible-mode/v1``), the native API (``/api/v1``) and the Responses API
(``/api/v2/apps/protocols/compatible-mode/v1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

Region = Literal["cn-beijing", "ap-southeast-1", "us-east-1", "eu-central-1", "cn-hongkong"]
REGIONS: tuple[str, ...] = get_args(Region)
DEFAULT_REGION: Region = "cn-beijing"

_PUBLIC_HOSTS: dict[str, str] = {
    "cn-beijing": "dashscope.aliyuncs.com",
    "ap-southeast-1": "dashscope-intl.aliyuncs.com",
    "us-east-1": "dashscope-us.aliyuncs.com",
}
WORKSPACE_ONLY: frozenset[str] = frozenset(REGIONS) - _PUBLIC_HOSTS.keys()
"""Regions reached only through a workspace's endpoint."""
_WORKSPACE_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

COMPATIBLE_PATH = "/compatible-mode/v1"
NATIVE_PATH = "/api/v1"
RESPONSES_PATH = "/api/v2/apps/protocols/compatible-mode/v1"


@dataclass(frozen=True)
class Endpoints:
    """The base URLs of one region (and workspace)."""

    compatible: str
    """OpenAI-compatible Chat Completions base (the ``openai`` provider)."""
    native: str
    """Native DashScope API base (the ``tongyi`` provider, the dashscope SDK)."""
    responses: str
    """OpenAI-compatible Responses API base."""


def check_workspace_id(value: str) -> str:
    """``value`` if it can be a workspace id (one DNS label), else ``ValueError``."""
    if not _WORKSPACE_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a workspace id (letters, digits and '-')")
    return value


def endpoints(region: str = DEFAULT_REGION, workspace_id: str | None = None) -> Endpoints:
    """The base URLs of ``region`` (one of ``REGIONS``), on ``workspace_id``'s host if given
    (``ValueError`` for an unknown region, or one of ``WORKSPACE_ONLY`` without a workspace)."""
    if region not in REGIONS:
        raise ValueError(f"{region!r} is not one of {', '.join(REGIONS)}")
    if region in WORKSPACE_ONLY and not workspace_id:
        raise ValueError(f"{region} is reached through a workspace: set its id")
    if workspace_id:
        host = f"{check_workspace_id(workspace_id)}.{region}.maas.aliyuncs.com"
    else:
        host = _PUBLIC_HOSTS[region]
    base = f"https://{host}"
    return Endpoints(base + COMPATIBLE_PATH, base + NATIVE_PATH, base + RESPONSES_PATH)
