"""Quantization debugger: where int8 loses accuracy, layer by layer, and mixed-precision re-exports.

``debug_quantization(model, out_dir)`` compares the int8 TFLite and ONNX artifacts with float,
activation by activation, mapped to the Keras layers; ``export_mixed(model, out_dir, report,
["worst:2"])`` re-exports both with those layers in float as ``model_int8_mixed.*``.
"""

from mnistedge.export.debug.api import INT8_FILES, DebugReport, debug_quantization
from mnistedge.export.debug.keep_float import KeepFloat, check_keep_float, resolve_keep_float
from mnistedge.export.debug.layers import KerasLayer, Node
from mnistedge.export.debug.mixed import MIXED_FILES, export_mixed
from mnistedge.export.debug.stats import EngineDebug, LayerStats, NodeStats, sqnr_db

__all__ = [
    "INT8_FILES",
    "MIXED_FILES",
    "DebugReport",
    "EngineDebug",
    "KeepFloat",
    "KerasLayer",
    "LayerStats",
    "Node",
    "NodeStats",
    "check_keep_float",
    "debug_quantization",
    "export_mixed",
    "resolve_keep_float",
    "sqnr_db",
]
