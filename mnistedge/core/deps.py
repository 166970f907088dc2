"""Optional dependencies: import lazily, fail with the exact install command."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from mnistedge.core.logs import native_stderr_silenced

__all__ = ["MissingDependencyError", "require"]

_CHATTY = frozenset({"tensorflow", "keras", "tf2onnx"})  # print to fd 2 when first imported


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
        if module.split(".")[0] in _CHATTY and module.split(".")[0] not in sys.modules:
            with native_stderr_silenced():  # TensorFlow's C++ start-up lines bypass every log level
                return importlib.import_module(module)
        return importlib.import_module(module)
    except ImportError as exc:
        name = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{name} is not installed, and this needs it. Install it with: pip install 'mnistedge[{extra}]'"
        ) from exc
