"""One side of the tokens benchmark (``bench/tokens.py``): run as a script, not a module.

``python bench/tokens_worker.py '<spec json>'`` with ``PYTHONPATH`` from ``bench.sides.env``:
it imports only ``bailian_geo_agent`` (this checkout's or a baseline's, whichever the path
gives), so a baseline commit without ``bench/tokens*.py`` runs it too. For each case of the spec
it has a fresh ``StreamChatService`` on the default tools hold a two-turn conversation and
prints ``RESULT <json>``: per case the ``usage`` events' token counts, or why it failed or was
skipped.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any


async def run_case(case: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    from bailian_geo_agent.agent import Settings, StreamChatService
    from bailian_geo_agent.agent.providers import registry

    providers = getattr(registry, "PROVIDERS", {})
    if case["provider"] not in providers:
        return {"skipped": f"no {case['provider']!r} provider in this code's registry"}
    fields = Settings.model_fields
    values: dict[str, Any] = {
        "api_key": case["key"], "provider": case["provider"], "model": "qwen-plus",
        "base_url": spec["base"], "native_base_url": spec["native"],
        "session_store_url": "memory://", "timeout": 20.0, "max_retries": 0,
    }
    base_field = getattr(providers[case["provider"]], "base_url_field", "base_url")
    if base_field not in ("base_url", "native_base_url"):
        values[base_field] = spec["responses"]
    if case["mode"] is not None:
        if "context_cache" not in fields:
            return {"skipped": "no DASHSCOPE_CONTEXT_CACHE in this code"}
        values["context_cache"] = case["mode"]
    elif "context_cache" in fields:
        return {"skipped": "has DASHSCOPE_CONTEXT_CACHE: the modes are measured"}
    service = StreamChatService(Settings(**{k: v for k, v in values.items() if k in fields}))
    session = str(uuid.uuid4())
    turns = []
    try:
        for question in spec["questions"]:
            events = [e async for e in service.stream_chat(question, session,
                                                           events=set(case["events"]))]
            errors = [e["error"] for e in events if e["type"] == "error"]
            if errors:
                return {"failed": str(errors[0])[:300]}
            usage = next((e for e in events if e["type"] == "usage"), None)
            if usage is None:
                return {"failed": "no usage event"}
            turns.append({k: usage.get(k, 0) for k in (
                "input_tokens", "cached_tokens", "cache_creation_tokens", "model_calls")})
    finally:
        await service.aclose()
    return {"turns": turns}


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    import bailian_geo_agent.agent as agent

    results: dict[str, Any] = {"package": str(Path(agent.__file__).resolve().parent.parent)}
    for case in spec["cases"]:
        try:
            results[case["key"]] = await run_case(case, spec)
        except Exception as exc:  # one broken case does not hide the others
            results[case["key"]] = {"failed": f"{type(exc).__name__}: {exc}"[:300]}
    return results


if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
