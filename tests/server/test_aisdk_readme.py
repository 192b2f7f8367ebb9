"""The README's ``useChat`` snippet type-checks (``tsc --strict``) against the ``ai`` and
``@ai-sdk/react`` versions tests/js pins: a new user's copy compiles, with the message
metadata, data parts and stop call typed as the server sends them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import pytest

from tests.server.conftest import REPO
from tests.server.test_aisdk import JS, NODE

TSC = JS / "node_modules" / "typescript" / "bin" / "tsc"
# In CI (.ci/run runs npm ci in tests/js) a missing compiler fails instead of skipping.
pytestmark = pytest.mark.skipif(not (NODE and TSC.is_file()) and not os.environ.get("CI"),
                                reason="needs node and `npm ci` in tests/js")
CONFIG = {"compilerOptions": {
    "strict": True, "jsx": "react-jsx", "module": "esnext", "moduleResolution": "bundler",
    "target": "es2022", "lib": ["es2022", "dom"], "noEmit": True, "skipLibCheck": True,
    "types": []}, "files": ["chat.tsx"]}


def snippet() -> str:
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme[readme.index("### useChat (the Vercel AI SDK)"):]
    match = re.search(r"^```tsx\n(.*?)^```", section, re.M | re.S)
    assert match is not None, "the useChat section has no tsx block"
    return match.group(1)


def tsc(source: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(dir=JS, prefix=".readme-") as work:
        (JS / work / "chat.tsx").write_text(source, "utf-8")
        (JS / work / "tsconfig.json").write_text(json.dumps(CONFIG), "utf-8")
        return subprocess.run([NODE or "node", str(TSC), "-p", work], cwd=JS,
                              capture_output=True, text=True, timeout=120)


def test_the_readme_use_chat_snippet_type_checks():
    source = snippet()
    assert "/stop`" in source and "onData" in source and "metadata?.usage" in source
    result = tsc(source)
    assert result.returncode == 0, result.stdout + result.stderr
    # The check can fail: a field the metadata type does not have is an error.
    broken = tsc(source.replace("usage.totalTokens", "usage.totalTokenz"))
    assert broken.returncode != 0 and "totalTokenz" in broken.stdout
