"""pytest-benchmark suite: latency of every artifact, and the runtime's overhead pair.

Where the artifacts come from:
  * ``MNISTEDGE_ARTIFACTS``, when set: an export directory (with manifest.json) or an
    artifacts root holding ``export/`` (e.g. what `mnistedge run` writes);
  * otherwise the session's tiny export (repo-root conftest.py): a tiny model trained on
    synthetic digits, exported to all nine edge artifacts in a temp dir (needs the export extra).
    Nothing lying in the working tree is picked up unasked.

Inside the normal test command (plain ``pytest``: paths from ``testpaths``) the suite runs
with ``--benchmark-disable`` semantics: each benchmarked call runs once, so the suite is
checked without costing time. Name the directory (``pytest benchmarks``), or pass
``--benchmark-enable`` or any report option (``--benchmark-json``, ``--benchmark-autosave``,
``--benchmark-save``, ``--benchmark-compare``) to time for real.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPORT_OPTIONS = (
    "benchmark_json",
    "benchmark_autosave",
    "benchmark_save",
    "benchmark_compare",
    "benchmark_enable",
    "benchmark_only",
)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """In the plain test command, run each benchmark once (before pytest-benchmark reads it)."""
    if not hasattr(config.option, "benchmark_disable"):
        return  # pytest-benchmark not installed; the `benchmark` fixture will be missing
    asked = any(getattr(config.option, name, None) for name in REPORT_OPTIONS)
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS and not asked:
        config.option.benchmark_disable = True


@dataclass(frozen=True)
class Artifacts:
    export_dir: Path
    manifest: dict[str, Any]  # file name -> manifest entry
    images: np.ndarray  # uint8 (N, 28, 28) images to time on: the tiny data's synthetic test digits
    labels: np.ndarray | None  # their labels when the artifacts are the tiny export's, else None
    built_here: bool

    def file_for(self, fmt: str, quantization: str) -> Path | None:
        for name, entry in self.manifest.items():
            if entry.get("format") == fmt and entry.get("quantization") == quantization:
                return self.export_dir / entry.get("file", name)
        return None


def _export_dir_from_env() -> Path | None:
    env = os.environ.get("MNISTEDGE_ARTIFACTS")
    if not env:
        return None
    root = Path(env)
    for candidate in (root, root / "export"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise pytest.UsageError(
        f"MNISTEDGE_ARTIFACTS={env} has no manifest.json (nor export/manifest.json): point it "
        "at `mnistedge export` output or an artifacts root."
    )


@pytest.fixture(scope="session")
def artifacts(request: pytest.FixtureRequest, tiny_data) -> Artifacts:
    """The artifacts to time, and test images to time them on (labelled when they are the tiny export's)."""
    export_dir = _export_dir_from_env()
    built = export_dir is None
    if built:
        export_dir = request.getfixturevalue("tiny_export")  # trains and exports only when needed
    manifest = json.loads((export_dir / "manifest.json").read_text(encoding="utf-8"))["artifacts"]
    return Artifacts(export_dir, manifest, tiny_data.x_test, tiny_data.y_test if built else None, built)


@pytest.fixture(scope="session")
def classifiers(artifacts: Artifacts) -> dict[Path, Any]:
    """Loaded classifiers, one per artifact, shared by the benchmarks (1 thread each)."""
    return {}
