"""The short import names ``agent``, ``tools`` and ``prompts`` as aliases of the real packages.

The code lives under ``bailian_geo_agent`` so that an app's own ``tools.py`` or ``agent/`` cannot
shadow it. Where nothing shadows them, ``import agent`` (and ``agent.service``, ...) must still give
the very same module objects, never a second copy with its own classes and state.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

PACKAGE = "bailian_geo_agent"


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``<short>.x.y`` to the already canonical ``bailian_geo_agent.<short>.x.y``."""

    def __init__(self, short: str) -> None:
        self.short = short
        self.prefix = short + "."

    def _canonical(self, fullname: str) -> str:
        return f"{PACKAGE}.{fullname}"

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.prefix) or not _is_alias(self.short):
            return None
        canonical = importlib.util.find_spec(self._canonical(fullname))
        if canonical is None:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, self, origin=canonical.origin)
        # A package stays a package (``python -m agent.cli`` looks for ``__main__`` in it).
        spec.submodule_search_locations = canonical.submodule_search_locations
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        # The import system returns whatever sys.modules holds after this: the canonical module.
        sys.modules[module.__name__] = importlib.import_module(self._canonical(module.__name__))

    def get_code(self, fullname: str) -> object:
        """The canonical module's code (what ``runpy`` runs for ``python -m agent.cli``)."""
        name = self._canonical(fullname)
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        return loader.get_code(name) if loader is not None else None


def _is_alias(short: str) -> bool:
    module = sys.modules.get(short)
    return module is not None and module.__name__ == f"{PACKAGE}.{short}"


def become_alias(short: str) -> None:
    """Make the short name ``short`` (and its submodules) the canonical package itself."""
    sys.modules[short] = importlib.import_module(f"{PACKAGE}.{short}")
    if not any(isinstance(f, _AliasFinder) and f.short == short for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder(short))
