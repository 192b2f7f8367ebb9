"""``python -m agent.cli``: the ``geo-agent`` command."""

from agent.cli import main

raise SystemExit(main())
