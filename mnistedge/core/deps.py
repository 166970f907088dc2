"""Optional dependencies: import lazily, fail with the exact install command."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingDependencyError", "require"]


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message says what to install."""


def require(module: str, extra: str, *, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    Args:
        module: dotted module name, e.g. ``"tensorflow"``.
        extra: the mnistedge extra that provides it, e.g. ``"export"``.
        package: the PyPI name when it differs from the module name.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        name = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{name} is not installed, and this needs it. Install it with: pip install 'mnistedge[{extra}]'"
        ) from exc
