"""``python -m agent.cli``: the ``geo-agent`` command."""

from bailian_geo_agent.agent.cli import main

raise SystemExit(main())
