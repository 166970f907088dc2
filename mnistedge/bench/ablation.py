"""Truncation ablation: LiteRT's per-op time, found by timing growing prefixes of the same model.

LiteRT names no kernels from Python (see ``profile.LITERT_PROFILER_NOTE``), so the Keras model is
cut after each layer group (conv+BN+ReLU, pool, GAP, head), each prefix is converted like the
artifact (float32, dynamic-range, int8), and all prefixes of all quantizations are timed
interleaved in one process: prefix k minus prefix k-1 is what stage k's ops cost, and the int8 vs
dynamic-range gap splits into its ops. Export variants of the full int8 model (per-tensor weights,
float32 I/O) and TFLite's own kernels (XNNPACK off) run in the same loop, to see whether any closes it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.bench.ablation_onnx import ort_runner, ort_variants
from mnistedge.bench.profile import OpProfile
from mnistedge.bench.timing import time_interleaved
from mnistedge.core.deps import require
from mnistedge.core.logs import native_stderr_silenced
from mnistedge.core.tensors import Quantization

__all__ = ["QUANTIZATIONS", "litert_profiles", "run_ablation", "truncations"]

QUANTIZATIONS = (Quantization.NONE, Quantization.DYNAMIC, Quantization.INT8)
_FOLLOWERS = ("BatchNormalization", "ReLU", "Activation")  # fused into the op before them


def truncations(model: Any) -> list[tuple[str, Any]]:
    """(name, prefix model) cut after each layer group; the last is the whole model."""
    keras = require("keras", "export")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    out, group, weighted = [], [], False
    for i, layer in enumerate(layers):
        group.append(layer.name)
        weighted = weighted or bool(layer.weights)
        following = type(layers[i + 1]).__name__ if i + 1 < len(layers) else None
        if following is None:
            out.append(("+".join(group), model))
        elif weighted and following not in _FOLLOWERS:
            out.append(("+".join(group), keras.Model(model.inputs, layer.output)))
            group = []
    return out


def _saved(model: Any, directory: Path) -> Path:
    """``model`` as a SavedModel, written once and converted once per quantization."""
    from mnistedge.export._graph import write_saved_model

    write_saved_model(model, directory)
    return directory


def _convert(saved: Path, path: Path, quantization: Quantization, images: np.ndarray, **variant: Any) -> Path:
    """The artifact's TFLite conversion (``export.tflite``'s settings), plus a variant's switches."""
    tf = require("tensorflow", "export")
    from mnistedge.export.calibration import CalibrationConfig, CalibrationSet
    from mnistedge.export.tflite import _CONFIGURE

    calibration = CalibrationSet(CalibrationConfig(len(images)), images)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    _CONFIGURE[quantization](converter, tf, calibration, variant.get("io_type", "int8"), None)
    if variant.get("per_tensor"):
        converter._experimental_disable_per_channel = True
    with native_stderr_silenced():
        if variant.get("float_nodes"):  # those ops stay float32, the rest int8 (float I/O)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                                   tf.lite.OpsSet.TFLITE_BUILTINS]  # fmt: skip
            options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=variant["float_nodes"])
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=converter.representative_dataset, debug_options=options
            )
            path.write_bytes(debugger.get_nondebug_quantized_model())
        else:
            path.write_bytes(converter.convert())
    return path


def _stem_name(path: Path) -> str:
    """The output tensor name of the first CONV_2D: how the quantization debugger names the op."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    tensors = interp.get_tensor_details()
    first = next(op for op in interp._get_ops_details() if op["op_name"] == "CONV_2D")
    return str(tensors[first["outputs"][0]]["name"])


def _facts(int8: Path, dynamic: Path) -> dict[str, Any]:
    """What the findings need to name the cause: the stem's input channels, how dynamic-range stores
    its weights, and whether this CPU has VNNI (int8 dot products in one instruction)."""
    from ai_edge_litert.interpreter import Interpreter

    from mnistedge.core.env import capture_env

    def stem(path: Path) -> tuple[Any, Any]:
        interp = Interpreter(model_path=str(path))
        tensors = interp.get_tensor_details()
        op = next(op for op in interp._get_ops_details() if op["op_name"] == "CONV_2D")
        return tensors[op["inputs"][0]], tensors[op["inputs"][1]]

    (int8_input, _), (_, dynamic_filter) = stem(int8), stem(dynamic)
    flags = capture_env().cpu_flags
    return {
        "stem_input_channels": int(int8_input["shape"][-1]),
        "dynamic_stem_dtype": np.dtype(dynamic_filter["dtype"]).name,
        "vnni": bool(flags.get("avx_vnni") or flags.get("avx512_vnni") or flags.get("asimddp")),
    }


def _runner(path: Path, threads: int, batch: int, xnnpack: bool = True) -> tuple[Any, list[str]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with native_stderr_silenced():
        interp = Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=kind)
    detail = interp.get_input_details()[0]
    interp.resize_tensor_input(detail["index"], [batch, 28, 28, 1])
    interp.allocate_tensors()
    dtype = np.dtype(detail["dtype"])
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (batch, 28, 28, 1), endpoint=True).astype(dtype)
    else:
        x = rng.integers(0, 256, (batch, 28, 28, 1)).astype(dtype)
    interp.set_tensor(detail["index"], x)
    ops = [op["op_name"] for op in interp._get_ops_details() if op["op_name"] != "DELEGATE"]
    return interp.invoke, ops


def run_ablation(
    model_path: str | os.PathLike[str],
    calibration_images: np.ndarray,
    *,
    threads: Sequence[int] = (1, 2),
    batch_sizes: Sequence[int] = (1, 64),
    runs: dict[int, int] | None = None,
) -> dict[str, Any]:
    """Convert every prefix x quantization, then time them interleaved per threads x batch.

    Returns a JSON-ready dict: ``stages`` (name, TFLite ops each adds), ``timings`` (p50 µs of
    every prefix per quantization, per threads x batch), ``variants`` (full-model alternatives).
    """
    from mnistedge.export._graph import load_keras_model

    model = load_keras_model(Path(model_path))
    prefixes = truncations(model)
    runs = runs or {}
    result: dict[str, Any] = {"stages": [], "timings": [], "variants": [], "load_average": {}}
    result["load_average"]["start"] = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="mnistedge-ablation-") as tmp:
        work = Path(tmp)
        saved = [_saved(prefix, work / f"saved{k}") for k, (_, prefix) in enumerate(prefixes)]
        files = {
            (q.value, k): _convert(saved[k], work / f"{q.value}_{k}.tflite", q, calibration_images)
            for k in range(len(prefixes))
            for q in QUANTIZATIONS
        }
        last = len(prefixes) - 1
        int8, images, stem = Quantization.INT8, calibration_images, [_stem_name(files[("int8", last)])]
        full = saved[last]
        variants = {
            "tflite int8 per-tensor weights": _convert(
                full, work / "pt.tflite", int8, images, per_tensor=True
            ),
            "tflite int8 float32 I/O": _convert(full, work / "fio.tflite", int8, images, io_type="float32"),
            "tflite int8, stem conv float": _convert(
                full, work / "fs.tflite", int8, images, float_nodes=stem
            ),
        }
        onnx_variants = ort_variants(model, images, work)
        result["facts"] = _facts(files[("int8", last)], files[("dynamic", last)])
        for t in threads:
            for b in batch_sizes:
                calls, keys = [], []
                for key, path in files.items():
                    call, ops = _runner(path, t, b)
                    calls.append(call)
                    keys.append(key)
                    if t == threads[0] and b == batch_sizes[0] and key[0] == "int8":
                        result["stages"].append({"name": prefixes[key[1]][0], "ops": ops})
                extra = {name: _runner(path, t, b)[0] for name, path in variants.items()}
                extra |= {f"tflite {q.value} without XNNPACK": _runner(files[(q.value, last)], t, b, False)[0]
                          for q in QUANTIZATIONS}  # fmt: skip
                extra |= {name: ort_runner(path, t, b) for name, path in onnx_variants.items()}
                samples = time_interleaved(
                    [*calls, *extra.values()], warmup=10, runs=runs.get(b, 200 if b == 1 else 30)
                )
                p50 = [float(np.median(s)) / 1e3 for s in samples]
                for q in QUANTIZATIONS:
                    cumulative = [p50[i] for i, key in enumerate(keys) if key[0] == q.value]
                    result["timings"].append({"quantization": q.value, "threads": t, "batch_size": b,
                                              "cumulative_us": cumulative})  # fmt: skip
                for name, us in zip(extra, p50[len(calls) :], strict=True):
                    result["variants"].append({"name": name, "threads": t, "batch_size": b, "us": us})
    result["stages"] = _stage_ops(result["stages"])
    result["load_average"]["end"] = list(os.getloadavg())
    return result


def _stage_ops(prefix_ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each stage's name and the TFLite ops it adds over the prefix before it."""
    stages, before = [], 0
    for prefix in prefix_ops:
        stages.append({"name": prefix["name"], "ops": prefix["ops"][before:]})
        before = len(prefix["ops"])
    return stages


def litert_profiles(ablation: dict[str, Any], artifacts: dict[str, str]) -> list[OpProfile]:
    """The ablation as OpProfiles: µs per op type (each stage's delta, negative noise clipped to 0).

    ``artifacts`` maps a quantization to the artifact file it stands for (e.g. "int8" -> model_int8.tflite).
    """
    out = []
    for timing in ablation["timings"]:
        cumulative = timing["cumulative_us"]
        ops: dict[str, float] = {}
        for k, stage in enumerate(ablation["stages"]):
            delta = cumulative[k] - (cumulative[k - 1] if k else 0.0)
            op = "+".join(dict.fromkeys(stage["ops"])) or "(none)"
            ops[op] = ops.get(op, 0.0) + max(0.0, delta)
        name = artifacts.get(timing["quantization"], timing["quantization"])
        ranked = dict(sorted(ops.items(), key=lambda kv: -kv[1]))
        threads, batch = timing["threads"], timing["batch_size"]
        out.append(
            OpProfile(name, "litert", threads, batch, "truncation-ablation", cumulative[-1], ranked, 0)
        )
    return out
