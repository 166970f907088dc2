"""Which Keras layer each engine node comes from: names first, then the order of weighted ops.

Both converters name what they write after the TensorFlow ops they came from,
``<model scope>/<layer scope>/<op>``; TFLite joins the names of ops it fused with ``;``
(``.../re_lu_1/Relu;.../conv2d_1/convolution``: conv and ReLU in one CONV_2D).
TensorFlow makes a scope unique by appending one ``_1``, ``_2``, ... (layer ``conv2d`` may
appear as ``conv2d_1`` and layer ``conv2d_1`` as ``conv2d_1_2``), so scopes are resolved
to layers by elimination: a scope that fits one layer only takes it, and that layer leaves
the others' candidates. Names alone miss folded layers: tf2onnx names a conv that absorbed
a BatchNormalization after the BN (``batch_normalization_1/batchnorm/mul_1``), so the
k-th conv/dense op of a graph is also given the k-th Conv2D/DepthwiseConv2D/Dense layer
when the counts agree. A node's owner is the last of its layers in Keras order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["KerasLayer", "Node", "assign_layers", "keras_layers", "resolve_scopes"]

WEIGHTED_KERAS = ("Conv2D", "DepthwiseConv2D", "Dense")


@dataclass(frozen=True)
class KerasLayer:
    """A layer of the Keras model, in graph order."""

    name: str
    kind: str  # class name: "Conv2D", "BatchNormalization", ...

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind}


@dataclass(frozen=True)
class Node:
    """One op of an engine's graph that writes an activation."""

    name: str  # what keep-float takes: TFLite's output tensor name, ONNX's node name
    op: str  # the engine's op type: "CONV_2D", "Conv", ...
    output: str  # the activation tensor it writes (float-model name)
    inputs: tuple[str, ...]  # activation tensors it reads (float-model names)
    layers: tuple[str, ...] = ()  # Keras layers it implements, in Keras order

    @property
    def owner(self) -> str | None:
        """The Keras layer whose output this node carries (the last one fused into it)."""
        return self.layers[-1] if self.layers else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "output": self.output, "layers": list(self.layers)}


def keras_layers(model: Any) -> list[KerasLayer]:
    """The model's layers in graph order (the input layer left out)."""
    return [KerasLayer(layer.name, type(layer).__name__) for layer in model.layers]


def _fits(scope: str, layer: str) -> bool:
    return scope == layer or re.fullmatch(re.escape(layer) + r"_\d+", scope) is not None


def resolve_scopes(scopes: Iterable[str], layers: Sequence[str]) -> dict[str, str]:
    """Map each graph scope to the Keras layer it was made from (see the module docstring).

    Scopes that fit no layer are left out; a tie that elimination cannot break goes to the
    exact name, else the longest layer name (the most specific fit).
    """
    candidates = {s: [name for name in layers if _fits(s, name)] for s in set(scopes)}
    candidates = {s: c for s, c in candidates.items() if c}
    resolved: dict[str, str] = {}
    while candidates:
        sure = {s: c[0] for s, c in candidates.items() if len(c) == 1}
        if not sure:  # break one tie, then keep eliminating
            scope = min(candidates)
            options = candidates[scope]
            sure = {scope: scope if scope in options else max(options, key=len)}
        resolved.update(sure)
        taken = set(sure.values())
        candidates = {
            s: [name for name in c if name not in taken] for s, c in candidates.items() if s not in sure
        }
        candidates = {s: c for s, c in candidates.items() if c}
    return resolved


def _scopes(name: str, model_scope: str) -> list[str]:
    """Layer scopes named in a (possibly ``;``-fused) engine name, under the model's scope."""
    found = []
    for part in name.split(";"):
        segments = part.split("/")
        if len(segments) >= 3 and _fits(segments[0], model_scope):
            found.append(segments[1])
    return found


def assign_layers(
    nodes: Sequence[Node], layers: Sequence[KerasLayer], model_name: str, weighted_ops: Iterable[str]
) -> list[Node]:
    """``nodes`` with their Keras layers filled in from names and weighted-op order."""
    order = [layer.name for layer in layers]
    all_scopes = {s for node in nodes for n in (node.name, node.output) for s in _scopes(n, model_name)}
    scope_map = resolve_scopes(all_scopes, order)
    weighted_layers = [layer.name for layer in layers if layer.kind in WEIGHTED_KERAS]
    weighted_nodes = [i for i, node in enumerate(nodes) if node.op in set(weighted_ops)]
    by_order = dict(zip(weighted_nodes, weighted_layers, strict=False))
    if len(weighted_nodes) != len(weighted_layers):
        by_order = {}  # counts differ: order says nothing reliable
    named = []
    for i, node in enumerate(nodes):
        found = {
            scope_map[s] for n in (node.name, node.output) for s in _scopes(n, model_name) if s in scope_map
        }
        if i in by_order:
            found.add(by_order[i])
        named.append(replace(node, layers=tuple(name for name in order if name in found)))
    return named
