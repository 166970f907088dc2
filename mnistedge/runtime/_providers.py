"""Execution providers: what is installed, what "auto" means, and the fallback rule.

ONNX Runtime names its providers ``<Name>ExecutionProvider``; short aliases
("cuda", "cpu", ...) are accepted too. LiteRT runs on the CPU with the XNNPACK
delegate ("xnnpack", the default), with its built-in optimized kernels only ("cpu"), or with
its reference kernels ("reference": TFLite's reference integer arithmetic, which TFLM follows).
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

from mnistedge.core.deps import MissingDependencyError
from mnistedge.core.formats import ENGINES

__all__ = [
    "LITERT_PROVIDERS",
    "ORT_PREFERENCE",
    "available_providers",
    "canonical",
    "check_threads",
    "fallback_warning",
    "import_engine",
    "rank_ort",
    "resolve",
]

# Best first. Azure EP is a remote-call provider, never an "auto" choice.
ORT_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CoreMLExecutionProvider",
    "DmlExecutionProvider",
    "CPUExecutionProvider",
)
ORT_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "dml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
LITERT_PROVIDERS = ENGINES["litert"].providers


def import_engine(engine: str) -> ModuleType:
    """Import an inference engine lazily; a missing one raises with the exact pip command."""
    spec = ENGINES[engine]
    try:
        return importlib.import_module(spec.module)
    except ImportError as exc:
        where = f"mnistedge[{spec.extra}]" if spec.extra else "mnistedge"
        raise MissingDependencyError(
            f"{spec.package} is not installed, and running this model needs it. "
            f"Install it with: pip install {spec.package}  (it is part of: pip install '{where}')"
        ) from exc


def rank_ort(available: list[str]) -> list[str]:
    """ONNX Runtime providers best first (ORT_PREFERENCE order), Azure left out."""
    return [p for p in ORT_PREFERENCE if p in available] + [
        p for p in available if p not in ORT_PREFERENCE and p != "AzureExecutionProvider"
    ]


def available_providers() -> dict[str, list[str]]:
    """Providers each installed engine can use, best first.

    Returns:
        ``{"onnxruntime": [...ExecutionProvider names...], "litert": ["xnnpack", "cpu", "reference"]}``;
        an engine that is not installed maps to an empty list.
    """
    try:
        ort = list(import_engine("onnxruntime").get_available_providers())
    except ImportError:
        ort = []
    ranked = rank_ort(ort)
    try:
        import_engine("litert")
        litert = list(LITERT_PROVIDERS)
    except ImportError:
        litert = []
    return {"onnxruntime": ranked, "litert": litert}


def _known_names() -> list[str]:
    return ["auto", *ORT_ALIASES, *sorted(set(ORT_ALIASES.values()))]


def canonical(provider: str, engine: str) -> str:
    """Map a user provider string to the engine's name for it, or raise for an unknown one."""
    if not isinstance(provider, str):
        raise ValueError(f"provider must be a string, got {type(provider).__name__}")
    key = provider.strip()
    if key.lower() == "auto":
        return "auto"
    if engine == "litert":
        if key.lower() in LITERT_PROVIDERS:
            return key.lower()
        if key.lower() in ORT_ALIASES or key in ORT_ALIASES.values():
            return key  # a real provider, just not one LiteRT has: fallback rule applies
    else:
        if key.lower() in ORT_ALIASES:
            return ORT_ALIASES[key.lower()]
        if key in ORT_ALIASES.values() or key.endswith("ExecutionProvider"):
            return key
    raise ValueError(f"unknown provider {provider!r}; valid: {', '.join(_known_names())}")


def resolve(provider: str, engine: str, available: list[str], *, strict: bool) -> str:
    """Pick the provider to ask ``engine`` for: "auto" -> best available; missing -> fallback.

    Raises:
        ValueError: unknown provider name.
        RuntimeError: the provider is known but not available and ``strict`` is True.
    """
    wanted = canonical(provider, engine)
    if wanted == "auto":
        return available[0]
    if wanted in available:
        return wanted
    message = f"provider {provider!r} is not available for {engine} (available: {', '.join(available)})"
    if strict:
        raise RuntimeError(message + "; install it, or pass strict=False to fall back")
    warnings.warn(f"{message}; falling back to {available[0]!r}", RuntimeWarning, stacklevel=4)
    return available[0]


def check_threads(threads: object) -> None:
    """Refuse anything but None or a positive int (bool is not a thread count)."""
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")


def fallback_warning(requested: str, used: str, engine: str, *, strict: bool) -> None:
    """Report that the engine silently ran ``used`` instead of ``requested``."""
    if requested in ("auto", used):
        return
    message = f"{engine} did not start provider {requested!r}; it runs on {used!r}"
    if strict:
        raise RuntimeError(message + " (check the provider's libraries, or use strict=False)")
    warnings.warn(message, RuntimeWarning, stacklevel=4)
