"""What machine and software a result came from: one block in every report.

bench's report.json, train.json and manifest.json all carry ``capture_env().to_dict()``
under ``"env"``. Capturing it imports no TensorFlow (versions come from package metadata).
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mnistedge.core.formats import ENGINES

__all__ = ["CPU_FLAGS", "Environment", "capture_env", "library_versions", "parse_cpuinfo"]

# Instruction-set flags that change which kernels the engines pick (int8 dot products, AMX tiles).
CPU_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
)
LIBRARIES = (
    "mnistedge",
    "numpy",
    "tensorflow",
    "keras",
    "onnxruntime",
    "onnxruntime-gpu",
    "ai-edge-litert",
    "onnx",
    "tf2onnx",
)
# Environment variables that set how many threads the engines and BLAS start.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


@dataclass(frozen=True)
class Environment:
    """The machine and library versions behind a report."""

    cpu_model: str
    logical_cores: int
    physical_cores: int | None
    usable_cores: int  # cores this process may run on (affinity / container limits)
    cpu_flags: dict[str, bool]
    os: str
    python: str
    versions: dict[str, str | None]  # None when the library is not installed
    providers: dict[str, list[str]]  # engine -> providers/delegates available
    thread_settings: dict[str, str | None] = field(default_factory=dict)  # THREAD_VARIABLES as set
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Environment:
        return cls(
            **{k: data.get(k) for k in cls.__dataclass_fields__ if k not in ("extra", "thread_settings")},
            thread_settings=dict(data.get("thread_settings") or {}),
            extra=dict(data.get("extra") or {}),
        )


def parse_cpuinfo(text: str) -> tuple[str, int | None, dict[str, bool]]:
    """Read (model name, physical cores, flags) from the text of ``/proc/cpuinfo``."""
    model, flags, cores = "", set(), set()
    physical_id = "0"
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in ("model name", "Hardware", "cpu model") and not model:
            model = value
        elif key in ("flags", "Features"):
            flags.update(value.split())
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            cores.add((physical_id, value))
    return model, (len(cores) or None), {flag: flag in flags for flag in CPU_FLAGS}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def library_versions(*distributions: str) -> dict[str, str]:
    """Installed versions of mnistedge and the named distributions ("not installed" if absent)."""
    return {name: _version(name) or "not installed" for name in ("mnistedge", *distributions)}


def _providers() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    try:
        import onnxruntime

        found["onnxruntime"] = list(onnxruntime.get_available_providers())
    except ImportError:
        found["onnxruntime"] = []
    # LiteRT's providers are fixed (core.formats): the XNNPACK delegate or its plain kernels.
    found["litert"] = list(ENGINES["litert"].providers) if _version("ai-edge-litert") else []
    return found


def capture_env() -> Environment:
    """Describe this machine: CPU model, cores, ISA flags, OS, Python, versions, providers."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text(errors="replace") if cpuinfo.exists() else ""
    model, physical, flags = parse_cpuinfo(text)
    logical = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return Environment(
        cpu_model=model or platform.processor() or platform.machine() or "unknown",
        logical_cores=logical,
        physical_cores=physical,
        usable_cores=usable,
        cpu_flags=flags,
        os=platform.platform(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        versions={name: _version(name) for name in LIBRARIES},
        providers=_providers(),
        thread_settings={name: os.environ.get(name) for name in THREAD_VARIABLES},
        extra={"executable": sys.executable, "machine": platform.machine()},
    )
