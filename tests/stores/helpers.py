"""Running ``tests.stores.chat_once`` in another process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _command(base_url: str, store: str | None, session: str, messages: list[str], **kw: Any):
    command = [sys.executable, "-m", "tests.stores.chat_once", "--base-url", base_url,
               "--session", session]
    if store:
        command += ["--store", store]
    if "lock_timeout" in kw:
        command += ["--lock-timeout", str(kw["lock_timeout"])]
    return [*command, *messages]


def parse(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def chat_in_subprocess(
    base_url: str, store: str | None, session: str, *messages: str, **kw: Any
) -> list[dict[str, Any]]:
    """Run the messages in a fresh interpreter; its events (it must exit 0)."""
    done = subprocess.run(
        _command(base_url, store, session, list(messages), **kw),
        capture_output=True, text=True, timeout=60, env=child_env(),
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    return parse(done.stdout)


async def start_chat_process(
    base_url: str, store: str | None, session: str, *messages: str, **kw: Any
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *_command(base_url, store, session, list(messages), **kw),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
    )
