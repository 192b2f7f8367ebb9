#!/usr/bin/env bash
# The side venv .venv-mcp-adapters of tests/mcp/test_mcp_langchain.py: langchain-mcp-adapters
# 0.3.2 with the 1.x mcp SDK it needs (mcp<2, so not in .venv, which has mcp 2.x). It is the
# 2025-11-25 client the test drives our server with. Idempotent: an existing venv with the
# right versions is kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-mcp-adapters
constraints=tests/mcp/adapters/constraints.txt
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '
import importlib.metadata as m, sys
sys.exit(0 if (m.version("langchain-mcp-adapters"), m.version("mcp")) == ("0.3.2", "1.30.0") else 1)
' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q -c "$constraints" "langchain-mcp-adapters==0.3.2" "mcp==1.30.0"
