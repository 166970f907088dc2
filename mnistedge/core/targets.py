"""Deployment targets: where a model runs and is measured (``--target``), and the tools each needs.

``desktop`` runs the exported files through ``mnistedge.runtime`` on this machine. The edge
targets (a browser, TensorFlow Lite Micro, generated C on a Cortex-M4) need tools that may be
missing here; by default a command measures every target whose tools are present and that this
version can measure, and prints one line for each one it skips, saying how to enable it.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TARGETS", "DeployTarget", "Tool", "select_targets"]


@dataclass(frozen=True)
class Tool:
    """An executable on PATH (any of ``names``) or an importable Python module."""

    names: tuple[str, ...]
    module: bool = False  # a Python module rather than an executable

    def found(self) -> bool:
        if self.module:
            return any(importlib.util.find_spec(name) is not None for name in self.names)
        return any(shutil.which(name) for name in self.names)

    def describe(self) -> str:
        return " or ".join(self.names) + (" (Python module)" if self.module else "")


@dataclass(frozen=True)
class DeployTarget:
    """One place a model can be deployed and measured."""

    name: str  # the --target value
    summary: str
    tools: tuple[Tool, ...]  # all must be found
    enable: str  # how to install the tools
    measured: bool  # whether this version of bench measures it
    bundle: str | None = None  # the export bundle it runs (a core.formats.BUNDLES name), if any

    def missing(self) -> list[str]:
        return [tool.describe() for tool in self.tools if not tool.found()]

    def skip_reason(self) -> str | None:
        """Why this target cannot run here, with the fix; None when it can."""
        if not self.measured:
            return "this version of mnistedge cannot measure it yet"
        missing = self.missing()
        if missing:
            return f"needs {', '.join(missing)}, not found; {self.enable}"
        return None


TARGETS: dict[str, DeployTarget] = {
    target.name: target
    for target in (
        DeployTarget("desktop", "LiteRT and ONNX Runtime on this CPU", (), "nothing to install", True),
        DeployTarget(
            "browser",
            "onnxruntime-web and LiteRT.js in headless Chromium",
            (
                Tool(("chromium", "chromium-browser", "google-chrome")),
                Tool(("npm",)),
                Tool(("playwright",), module=True),
            ),
            "apt-get install chromium nodejs npm (or scripts/system-deps.sh); pip install 'mnistedge[web]'",
            True,
            bundle="web",
        ),
        DeployTarget(
            "tflm",
            "TensorFlow Lite Micro's interpreter (pip tflite-micro)",
            (Tool(("tflite_micro",), module=True),),
            "pip install 'mnistedge[micro]'",
            True,
            bundle="tflm",
        ),
        DeployTarget(
            "c",
            "generated C99 int8 code on this host (gcc) and a Cortex-M4 under QEMU",
            (Tool(("gcc", "cc")),),
            "apt-get install gcc; for the Cortex-M4 row also gcc-arm-none-eabi libnewlib-arm-none-eabi "
            "qemu-system-arm (or scripts/system-deps.sh)",
            True,
            bundle="c",
        ),
    )
}


def select_targets(requested: Sequence[str] | None) -> tuple[list[DeployTarget], list[str]]:
    """The targets to measure and one line per default target that is skipped.

    Args:
        requested: ``--target`` values; None or empty: desktop plus every target that can run here.

    Raises:
        ValueError: an unknown target, or a requested one that cannot run here (with the fix).
    """
    if requested:
        chosen = []
        for name in dict.fromkeys(requested):
            if name not in TARGETS:
                raise ValueError(f"unknown target {name!r}; targets are: {', '.join(TARGETS)}.")
            reason = TARGETS[name].skip_reason()
            if reason is not None:
                raise ValueError(f"--target {name}: {reason}.")
            chosen.append(TARGETS[name])
        return chosen, []
    chosen, skipped = [], []
    for target in TARGETS.values():
        reason = target.skip_reason()
        if reason is None:
            chosen.append(target)
        else:
            skipped.append(f"skipping target {target.name} ({target.summary}): {reason}.")
    return chosen, skipped
