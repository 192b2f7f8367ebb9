"""``python -m bailian_geo_agent.agent.cli``: the ``geo-agent`` command."""

from bailian_geo_agent.agent.cli.main import main

raise SystemExit(main())
