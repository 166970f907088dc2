"""The one registry of export formats (no if/elif on format names anywhere else)."""

from __future__ import annotations

from mnistedge.export import onnx, saved_model, tflite
from mnistedge.export._exporter import Exporter
from mnistedge.export.artifact import Quantization

__all__ = ["EDGE_ARTIFACTS", "EXPORTERS", "get_exporter"]

EXPORTERS: dict[str, Exporter] = {
    exporter.format: exporter for exporter in (tflite.EXPORTER, onnx.EXPORTER, saved_model.EXPORTER)
}

# What `export_all` / `mnistedge export --format all` writes: every artifact that goes onto a device.
EDGE_ARTIFACTS: tuple[tuple[str, Quantization], ...] = (
    ("tflite", Quantization.NONE),
    ("tflite", Quantization.FP16),
    ("tflite", Quantization.DYNAMIC),
    ("tflite", Quantization.INT8),
    ("onnx", Quantization.NONE),
    ("onnx", Quantization.INT8),
)


def get_exporter(format: str) -> Exporter:
    """The exporter for ``format``; ``ValueError`` listing the supported formats otherwise."""
    try:
        return EXPORTERS[format]
    except KeyError:
        raise ValueError(
            f"Unknown format {format!r}. Supported formats are: {', '.join(EXPORTERS)}."
        ) from None
