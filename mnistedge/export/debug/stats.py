"""Per-node and per-layer error figures of one engine's int8 graph against its float graph.

``sqnr_db`` is the signal-to-quantization-noise ratio of an activation as the int8 model
computes it (every layer before it quantized too) against the float model on the same
images: 20·log10(‖float‖ / ‖float − int8‖), ONNX Runtime's ``qdq_loss_debug`` formula.
Errors accumulate, so a late layer's SQNR is low because of everything before it. A layer's
own share is ``own_sqnr_db``: the noise it adds, its output noise power minus its input's
(relative powers 10^(-SQNR/10), taking the worst SQNR of what other layers feed it and of
what it writes), as an SQNR. An int8 layer on an exact input adds ~40 dB; a layer below
~20 dB is where the int8 grid does not fit the values. The lowest are the debugger's picks:
the places where keeping float buys the most back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnistedge.export.debug.engines import Activations
from mnistedge.export.debug.layers import KerasLayer, Node

__all__ = ["EngineDebug", "LayerStats", "NodeStats", "engine_debug", "sqnr_db"]

_EPS = float(np.finfo(np.float64).eps)
# Beyond this the int8 value equals float up to float32 rounding (an exact input grid, a
# rescale): capped so that two exact tensors do not show a "drop" between them.
SQNR_CAP_DB = 100.0


def sqnr_db(reference: np.ndarray, approximation: np.ndarray) -> float:
    """20·log10(‖reference‖ / ‖reference − approximation‖), norms floored at eps, capped at SQNR_CAP_DB."""
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    diff = ref - np.asarray(approximation, dtype=np.float64).reshape(-1)
    ratio = max(float(np.linalg.norm(ref)), _EPS) / max(float(np.linalg.norm(diff)), _EPS)
    return min(20.0 * math.log10(ratio), SQNR_CAP_DB)


@dataclass(frozen=True)
class NodeStats:
    """One int8 activation: its error against float and the grid it was quantized on."""

    node: Node
    sqnr_db: float
    rmse: float  # root-mean-square of int8 - float
    rmse_steps: float  # rmse / scale: the error in quantization steps (0.29 is pure rounding)
    scale: float
    zero_point: int
    grid: tuple[float, float]  # the range the int8 grid covers: scale * (qmin - zp), scale * (qmax - zp)
    float_range: tuple[float, float]  # what the float model produced on the debug images

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.node.to_dict(),
            "sqnr_db": round(self.sqnr_db, 3),
            "rmse": self.rmse,
            "rmse_steps": round(self.rmse_steps, 4),
            "scale": self.scale,
            "zero_point": self.zero_point,
            "grid": list(self.grid),
            "float_range": list(self.float_range),
        }


@dataclass(frozen=True)
class LayerStats:
    """A Keras layer as one engine runs it."""

    layer: str
    nodes: tuple[str, ...]  # the engine nodes that implement it (keep-float denies these)
    owned: tuple[str, ...]  # those whose output is this layer's (not a later fused layer's)
    sqnr_db: float | None  # SQNR of the layer's output (its last owned node); None: fused away
    worst_sqnr_db: float | None  # the lowest SQNR among its owned nodes
    worst_node: str | None
    input_sqnr_db: float | None  # the lowest SQNR of what other layers feed it
    fused_into: str | None  # the layer whose node carries this one's output, when it owns none

    @property
    def own_sqnr_db(self) -> float | None:
        """SQNR of the noise added inside this layer; None when it adds none measurable."""
        if self.worst_sqnr_db is None or self.input_sqnr_db is None:
            return None
        added = 10 ** (-self.worst_sqnr_db / 10) - 10 ** (-self.input_sqnr_db / 10)
        return min(-10 * math.log10(added), SQNR_CAP_DB) if added > 0 else None

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {
            "layer": self.layer,
            "nodes": list(self.nodes),
            "owned": list(self.owned),
            "sqnr_db": r(self.sqnr_db),
            "worst_sqnr_db": r(self.worst_sqnr_db),
            "worst_node": self.worst_node,
            "input_sqnr_db": r(self.input_sqnr_db),
            "own_sqnr_db": r(self.own_sqnr_db),
            "fused_into": self.fused_into,
        }


@dataclass(frozen=True)
class EngineDebug:
    """One engine's int8 artifact against its float graph."""

    engine: str  # "tflite" | "onnx"
    artifact: str  # the int8 file debugged
    nodes: tuple[NodeStats, ...]  # graph order
    layers: tuple[LayerStats, ...]  # Keras order
    unmatched_layers: tuple[str, ...]  # Keras layers no node carries (folded, identity, not quantized)
    unmatched_nodes: tuple[str, ...]  # nodes no Keras layer name or order accounts for

    def ranked(self) -> list[LayerStats]:
        """Layers that add noise, the lowest own SQNR first (the debugger's picks)."""
        scored = [s for s in self.layers if s.own_sqnr_db is not None]
        return sorted(scored, key=lambda s: (s.own_sqnr_db, s.layer))

    def worst(self, k: int) -> list[str]:
        return [s.layer for s in self.ranked()[:k]]

    def layer(self, name: str) -> LayerStats | None:
        return next((s for s in self.layers if s.layer == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "artifact": self.artifact,
            "worst": [s.layer for s in self.ranked()],
            "layers": [s.to_dict() for s in self.layers],
            "nodes": [n.to_dict() for n in self.nodes],
            "unmatched_layers": list(self.unmatched_layers),
            "unmatched_nodes": list(self.unmatched_nodes),
        }


def _node_stats(node: Node, acts: Activations) -> NodeStats:
    ref, got = acts.float[node.output], acts.quantized[node.output]
    scale, zero_point, qmin, qmax = acts.grids[node.output]
    rmse = float(np.sqrt(np.mean((got.astype(np.float64) - ref) ** 2)))
    return NodeStats(
        node=node,
        sqnr_db=sqnr_db(ref, got),
        rmse=rmse,
        rmse_steps=rmse / scale if scale else 0.0,
        scale=scale,
        zero_point=zero_point,
        grid=(scale * (qmin - zero_point), scale * (qmax - zero_point)),
        float_range=(float(ref.min()), float(ref.max())),
    )


def engine_debug(engine: str, artifact: str, acts: Activations, keras: Sequence[KerasLayer]) -> EngineDebug:
    """Figures per node and per Keras layer for one engine (nodes already carry their layers)."""
    nodes = tuple(_node_stats(n, acts) for n in acts.nodes)
    sqnr = {s.node.output: s.sqnr_db for s in nodes}
    for tensor in acts.float:  # graph inputs have figures too (the int8 input grid)
        sqnr.setdefault(tensor, sqnr_db(acts.float[tensor], acts.quantized[tensor]))
    layers = []
    for layer in keras:
        implementing = [s for s in nodes if layer.name in s.node.layers]
        owned = [s for s in implementing if s.node.owner == layer.name]
        outputs = {s.node.output for s in owned}
        feeds = [sqnr[t] for s in owned for t in s.node.inputs if t in sqnr and t not in outputs]
        if owned and not feeds and layers:  # fed only by untracked tensors: the previous layer's output
            feeds = [x.sqnr_db for x in layers[::-1] if x.sqnr_db is not None][:1]
        worst = min(owned, key=lambda s: s.sqnr_db) if owned else None
        fused = next((s.node.owner for s in implementing if s.node.owner != layer.name), None)
        layers.append(
            LayerStats(
                layer=layer.name,
                nodes=tuple(s.node.name for s in implementing),
                owned=tuple(s.node.name for s in owned),
                sqnr_db=owned[-1].sqnr_db if owned else None,
                worst_sqnr_db=worst.sqnr_db if worst else None,
                worst_node=worst.node.name if worst else None,
                input_sqnr_db=min(feeds) if feeds else None,
                fused_into=None if owned else fused,
            )
        )
    return EngineDebug(
        engine=engine,
        artifact=artifact,
        nodes=nodes,
        layers=tuple(layers),
        unmatched_layers=tuple(s.layer for s in layers if not s.nodes),
        unmatched_nodes=tuple(s.node.name for s in nodes if not s.node.layers),
    )
