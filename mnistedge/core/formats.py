"""The one table of model formats and inference engines; everything else asks it.

A format row says what file (or folder) it is, which engine runs it, which quantizations it
supports, and where its exporter, runtime loader and structural check live. The last three are
``"module:attribute"`` strings resolved on first use, so this module imports no stage, no
engine and no TensorFlow. Adding a format means one row here and its own module(s).

A format may have no loader (a SavedModel runs on TensorFlow, not on ``mnistedge.runtime``)
and may be a folder rather than a file (``folder`` names its place under the export root).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistedge.core.tensors import Quantization

__all__ = [
    "BUNDLES",
    "EDGE_ARTIFACTS",
    "ENGINES",
    "FORMATS",
    "Bundle",
    "Engine",
    "Format",
    "format_for_path",
    "get_format",
    "loadable_formats",
    "resolve",
]

_ALL = tuple(Quantization)


@dataclass(frozen=True)
class Engine:
    """An inference engine: the module to import and the pip package that provides it."""

    name: str  # "litert", "onnxruntime", "tensorflow"
    module: str
    package: str
    extra: str | None = None  # the mnistedge extra that installs it; None: the base install
    # Its providers when they are fixed (LiteRT: XNNPACK delegate or plain kernels); () when the
    # engine reports them itself (ONNX Runtime's get_available_providers()).
    providers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Format:
    """One model format."""

    name: str  # the manifest's "format" and the CLI's --format value
    engine: str  # a key of ENGINES
    quantizations: tuple[Quantization, ...]  # what export --quantize accepts for it
    suffix: str | None = None  # a file format's suffix; None for a folder
    folder: str | None = None  # a folder format's name under the export root
    exporter: str | None = None  # "module:EXPORTER"
    loader: str | None = None  # "module:Backend" class for mnistedge.runtime.load
    checker: str | None = None  # "module:verify": structural check of the bytes before the engine

    @property
    def loadable(self) -> bool:
        return self.loader is not None


ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        # xnnpack: the default delegate; cpu: LiteRT's built-in optimized kernels; reference: its
        # reference kernels (BUILTIN_REF), the arithmetic TFLM and generated C follow.
        Engine(
            "litert",
            "ai_edge_litert.interpreter",
            "ai-edge-litert",
            providers=("xnnpack", "cpu", "reference"),
        ),
        Engine("onnxruntime", "onnxruntime", "onnxruntime"),
        Engine("tensorflow", "tensorflow", "tensorflow", extra="export"),
    )
}

FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format(
            "tflite",
            "litert",
            _ALL,
            suffix=".tflite",
            exporter="mnistedge.export.tflite:EXPORTER",
            loader="mnistedge.runtime._litert:LiteRTBackend",
            checker="mnistedge.runtime._tflite_check:verify",
        ),
        Format(
            "onnx",
            "onnxruntime",
            (Quantization.NONE, Quantization.FP16, Quantization.DYNAMIC, Quantization.INT8),
            suffix=".onnx",
            exporter="mnistedge.export.onnx:EXPORTER",
            loader="mnistedge.runtime._onnxrt:OnnxRuntimeBackend",
            checker="mnistedge.runtime._onnx_check:verify",
        ),
        Format(
            "saved_model",
            "tensorflow",
            (Quantization.NONE,),
            folder="saved_model",
            exporter="mnistedge.export.saved_model:EXPORTER",
        ),
    )
}

# What `export_all` / `mnistedge export --format all` writes: every artifact that goes onto a device.
EDGE_ARTIFACTS: tuple[tuple[str, Quantization], ...] = (
    ("tflite", Quantization.NONE),
    ("tflite", Quantization.FP16),
    ("tflite", Quantization.DYNAMIC),
    ("tflite", Quantization.INT8),
    ("tflite", Quantization.INT16X8),
    ("onnx", Quantization.NONE),
    ("onnx", Quantization.FP16),
    ("onnx", Quantization.DYNAMIC),
    ("onnx", Quantization.INT8),
)


@dataclass(frozen=True)
class Bundle:
    """An edge target's folder under the export root, built from several checked artifacts."""

    name: str  # the --format value, and the folder's name under the export root
    # "module:function": f(model, *, out_dir, data, verify, calibration_samples, calibration_seed)
    # returning an object with ``models`` (the checked Artifacts) and ``describe()`` (lines to print).
    builder: str
    summary: str
    tools: str  # what it needs beyond Python, for --help
    options: tuple[str, ...] = ()  # export options it takes besides the common ones, e.g. "name"


BUNDLES: dict[str, Bundle] = {
    bundle.name: bundle
    for bundle in (
        Bundle(
            "web",
            "mnistedge.export.web:export_web",
            "a static page: onnxruntime-web + LiteRT.js, draw a digit",
            "npm (fetches the pinned runtimes once)",
        ),
        Bundle(
            "tflm",
            "mnistedge.export.tflm:export_tflm",
            "TensorFlow Lite Micro sources of the int8 model, measured arena, board fit",
            "pip install 'mnistedge[micro]'",
            options=("name",),
        ),
        Bundle(
            "c",
            "mnistedge.export.c:export_c",
            "standalone C99 of the int8 model (no interpreter), bit-exact, run on a Cortex-M4 under QEMU",
            "gcc; gcc-arm-none-eabi + qemu-system-arm for the Cortex-M4 run",
            options=("name", "qemu_images"),
        ),
    )
}


def resolve(target: str) -> Any:
    """Import ``"module:attribute"`` and return the attribute."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def get_format(name: str) -> Format:
    """The format called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"Unknown format {name!r}. Supported formats are: {', '.join(FORMATS)}.") from None


def loadable_formats() -> list[Format]:
    """Formats that ``mnistedge.runtime.load`` runs, in table order."""
    return [fmt for fmt in FORMATS.values() if fmt.loadable]


def format_for_path(path: str | Path) -> Format:
    """The loadable format of a model file, from its suffix.

    Raises:
        ValueError: the suffix is not one ``load()`` runs; the message lists those.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    for fmt in loadable_formats():
        if fmt.suffix == suffix:
            return fmt
    known = ", ".join(str(fmt.suffix) for fmt in loadable_formats())
    raise ValueError(f"{path}: unknown model format {path.suffix or '(no suffix)'!r}; supported: {known}")
