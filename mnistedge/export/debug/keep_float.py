"""What ``--keep-float`` means for each engine: Keras layer names, ``worst:K`` or engine node names.

A Keras layer maps to every node of that engine that implements it (fused ones included);
``worst:K`` to the engine's own K worst layers; an engine node name to that node, in that
engine only. ``check_keep_float`` refuses a value that names nothing before any conversion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnistedge.core.deps import require
from mnistedge.export.debug.api import DebugReport

__all__ = ["KeepFloat", "check_keep_float", "resolve_keep_float"]

_WORST = re.compile(r"worst:(\d+)")


@dataclass(frozen=True)
class KeepFloat:
    """What one engine's mixed artifact leaves in float, and why."""

    engine: str
    layers: tuple[str, ...]  # Keras layers kept float (empty when only engine nodes were named)
    nodes: tuple[str, ...]  # the engine's node names passed to its quantizer
    requested: tuple[str, ...]  # the --keep-float values as given

    def to_dict(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "nodes": list(self.nodes), "requested": list(self.requested)}


def _unknown(value: str, layer_names: Sequence[str], model: Path) -> ValueError:
    return ValueError(
        f"--keep-float {value!r} is neither a Keras layer of {model.name} nor a node of its int8 "
        f"graphs. Keras layers: {', '.join(layer_names)}. Also accepted: worst:K (the debugger's K "
        "worst layers per engine) and engine node names (the 'nodes' of each engine in quant_debug.json)."
    )


def _artifact_node_names(out_dir: Path) -> set[str]:
    """Node names keep-float accepts, read straight from the int8 files (no conversion)."""
    from mnistedge.export.debug.api import INT8_FILES

    names: set[str] = set()
    tflite, onnx_file = out_dir / INT8_FILES["tflite"], out_dir / INT8_FILES["onnx"]
    if tflite.is_file():
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(tflite))
        for op in interpreter._get_ops_details():
            names.update(interpreter._get_tensor_details(t, 0)["name"] for t in op["outputs"])
    if onnx_file.is_file():
        onnx = require("onnx", "export")
        names.update(node.name for node in onnx.load(str(onnx_file), load_external_data=False).graph.node)
    return names


def check_keep_float(model: str | Path, out_dir: str | Path, requested: Sequence[str]) -> None:
    """Refuse a --keep-float value that names nothing, before any conversion (same message as later).

    Raises:
        ValueError: the value is not worst:K (K >= 1), a Keras layer, or a node of an int8 artifact.
    """
    from mnistedge.export._graph import load_keras_model
    from mnistedge.export.debug.layers import keras_layers

    layer_names: list[str] | None = None
    nodes: set[str] | None = None
    for value in requested:
        worst = _WORST.fullmatch(value)
        if worst and int(worst.group(1)) < 1:
            raise ValueError(f"--keep-float {value}: K must be >= 1, e.g. worst:2.")
        if worst:
            continue
        if layer_names is None:
            layer_names = [layer.name for layer in keras_layers(load_keras_model(Path(model)))]
        if value in layer_names:
            continue
        nodes = _artifact_node_names(Path(out_dir)) if nodes is None else nodes
        if value not in nodes:
            raise _unknown(value, layer_names, Path(model))


def resolve_keep_float(report: DebugReport, requested: Sequence[str]) -> dict[str, KeepFloat]:
    """Engine -> what to keep float, from Keras layer names, ``worst:K`` or engine node names.

    A Keras layer maps to every node of that engine that implements it (fused ones included).

    Raises:
        ValueError: a value names nothing (the message lists the Keras layers), or worst:0.
    """
    if not requested:
        raise ValueError("--keep-float needs at least one layer name or worst:K, e.g. --keep-float worst:2.")
    keras_names = {layer.name for layer in report.keras_layers}
    plan: dict[str, tuple[list[str], list[str]]] = {e.engine: ([], []) for e in report.engines}
    for value in requested:
        worst = _WORST.fullmatch(value)
        if worst and int(worst.group(1)) < 1:
            raise ValueError(f"--keep-float {value}: K must be >= 1, e.g. worst:2.")
        matched = False
        for engine in report.engines:
            layers, nodes = plan[engine.engine]
            if worst:
                picked = engine.worst(int(worst.group(1)))
            elif value in keras_names:
                picked = [value]
            else:
                picked = []
                if value in {n.node.name for n in engine.nodes}:
                    nodes.append(value)
                    matched = True
            for name in picked:
                layers.append(name)
                stats = engine.layer(name)
                nodes.extend(stats.nodes if stats else ())
            matched = matched or bool(worst) or value in keras_names
        if not matched:
            raise _unknown(value, [layer.name for layer in report.keras_layers], Path(report.model))
    return {
        engine: KeepFloat(engine, tuple(dict.fromkeys(layers)), tuple(dict.fromkeys(nodes)), tuple(requested))
        for engine, (layers, nodes) in plan.items()
    }
