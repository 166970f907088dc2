"""The model as C++ source for TensorFlow Lite Micro: ``model_data.h/.cc`` and ``model_ops.h``.

Laid out like TFLM's own examples (``hello_world``): the .tflite bytes as a 16-byte aligned
``const unsigned char`` array, and a ``MicroMutableOpResolver<N>`` with exactly the ops the
graph uses, so the firmware links only those kernels and the resolver wastes no slots.
Everything here is pure text generation (plus reading the op list with LiteRT); nothing
imports TensorFlow, and the same inputs always give the same bytes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mnistedge import __version__
from mnistedge.core.io import sha256_bytes
from mnistedge.core.logs import native_stderr_silenced
from mnistedge.core.tensors import TensorSpec

__all__ = [
    "TFLM_ADD",
    "c_identifier",
    "model_data_sources",
    "model_ops",
    "model_ops_header",
    "parse_ops_header",
]

# LiteRT op name (TFLite BuiltinOperator) -> TFLM MicroMutableOpResolver method that registers it.
# Every builtin of tflite-micro's tensorflow/lite/micro/micro_mutable_op_resolver.h at commit
# 90b983c2 (2026-08-20); its custom-op helpers (signal ops, Ethos-U, detection postprocess) are
# left out because a converted Keras model never contains them.
# fmt: off
TFLM_ADD: dict[str, str] = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin", "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo", "CALL_ONCE": "AddCallOnce", "CAST": "AddCast",
    "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice", "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "ELU": "AddElu", "EQUAL": "AddEqual", "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill", "FLOOR": "AddFloor", "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather", "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual", "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual", "LOG": "AddLog",
    "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax", "MAXIMUM": "AddMaximum",
    "MAX_POOL_2D": "AddMaxPool2D", "MIRROR_PAD": "AddMirrorPad", "MEAN": "AddMean",
    "MINIMUM": "AddMinimum", "MUL": "AddMul", "NEG": "AddNeg", "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable", "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu",
    "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound", "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape",
    "SIN": "AddSin", "SLICE": "AddSlice", "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQUEEZE": "AddSqueeze", "SQRT": "AddSqrt",
    "SQUARE": "AddSquare", "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf",
    "TANH": "AddTanh", "TRANSPOSE_CONV": "AddTransposeConv", "TRANSPOSE": "AddTranspose",
    "UNPACK": "AddUnpack", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "VAR_HANDLE": "AddVarHandle", "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}
# fmt: on

# C++20 keywords and alternative tokens, plus C's restrict (C's other extra keywords, _Bool and
# the like, fail the pattern below anyway): generated code may also be compiled as C.
_KEYWORD_LIST = """
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export extern
false float for friend goto if inline int long mutable namespace new noexcept not not_eq nullptr
operator or or_eq private protected public register reinterpret_cast requires restrict return short
signed sizeof static static_assert static_cast struct switch template this thread_local throw true
try typedef typeid typename union unsigned using virtual void volatile wchar_t while xor xor_eq
"""
_KEYWORDS = frozenset(_KEYWORD_LIST.split())
# Letters and digits in words joined by single underscores: g_NAME, NAME_register_ops never
# contain "__" or a leading "_" + capital, which C++ reserves for the implementation.
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*")
_MAX_NAME = 64
_BYTES_PER_LINE = 12  # as TFLM's generated model files
_SOURCE_KEYS = ("file", "input", "output")


def c_identifier(name: str) -> str:
    """Return ``name`` if it can name the model in C/C++ (``g_NAME``), else raise ValueError."""
    rule = (
        "it must start with a letter, use only letters, digits and single underscores between "
        f"them, be at most {_MAX_NAME} characters and not be a C/C++ keyword (e.g. mnist_model)"
    )
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"Model name {name!r} is not a usable C/C++ identifier: {rule}.")
    if len(name) > _MAX_NAME:
        raise ValueError(f"Model name {name!r} is {len(name)} characters long: {rule}.")
    if name in _KEYWORDS:
        raise ValueError(f"Model name {name!r} is a C/C++ keyword: {rule}.")
    return name


def _camel(name: str) -> str:
    """mnist_model -> MnistModel, for type and constant names in TFLM's style."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _tensor_line(spec: TensorSpec) -> str:
    quantization = f"scale={spec.scale!r} zero_point={spec.zero_point}" if spec.quantized else "not quantized"
    shape = "[" + ", ".join(str(d) for d in spec.shape) + "]"
    return f"{json.dumps(spec.name)} {spec.dtype} {shape} {quantization}"


def _banner(filename: str, what: str, lines: Sequence[str]) -> str:
    head = [
        f"// {filename}: {what}",
        f"// Generated by mnistedge {__version__}; re-export instead of editing.",
    ]
    return "\n".join([*head, "//", *(f"// {line}".rstrip() for line in lines)]) + "\n"


def model_data_sources(tflite: bytes, *, name: str, source: Mapping[str, Any]) -> dict[str, str]:
    """The .tflite bytes as TFLM's ``model_data.h`` / ``model_data.cc`` pair.

    Args:
        tflite: the model file's bytes.
        name: C identifier of the model (see :func:`c_identifier`); the array is ``g_NAME``,
            its length ``g_NAME_len``.
        source: the artifact's manifest entry (``Artifact.to_dict()`` fits): ``file`` (its
            file name), ``input`` and ``output`` (``TensorSpec.to_dict()``: name, shape, dtype,
            scale, zero_point), and optionally ``sha256`` / ``size_bytes``, which must then
            match ``tflite``. The comment at the top of both files records them.

    Returns:
        ``{"model_data.h": text, "model_data.cc": text}``, the same for the same arguments.

    Raises:
        ValueError: a bad name, bytes that are not a .tflite flatbuffer, a ``source`` with
            missing keys or a sha256/size that does not match the bytes.
    """
    name = c_identifier(name)
    if len(tflite) < 8 or tflite[4:8] != b"TFL3":
        raise ValueError(
            f"The {len(tflite)} bytes given are not a .tflite model (no 'TFL3' file identifier at "
            "offset 4): pass the bytes of the exported .tflite file."
        )
    missing = [key for key in _SOURCE_KEYS if key not in source]
    if missing:
        raise ValueError(
            f"source lacks {', '.join(missing)}: pass the artifact's manifest entry "
            "(Artifact.to_dict()), which has file, sha256, input and output."
        )
    sha256 = sha256_bytes(tflite)
    if source.get("sha256") not in (None, sha256) or source.get("size_bytes") not in (None, len(tflite)):
        raise ValueError(
            f"source describes {source['file']} as {source.get('size_bytes')} bytes with sha256 "
            f"{source.get('sha256')}, but the bytes given are {len(tflite)} bytes with sha256 {sha256}: "
            "pass the manifest entry of the file the bytes were read from."
        )
    described = [
        f"Model:  {json.dumps(str(source['file']))}, {len(tflite)} bytes",
        f"sha256: {sha256}",
        f"Input:  {_tensor_line(TensorSpec.from_dict(source['input']))}",
        f"Output: {_tensor_line(TensorSpec.from_dict(source['output']))}",
        "(a quantized tensor holds q with real value = scale * (q - zero_point))",
    ]
    guard = f"{name.upper()}_MODEL_DATA_H_"
    header = _banner("model_data.h", f"the model {name} as a C array for TensorFlow Lite Micro.", described)
    header += (
        f"\n#ifndef {guard}\n#define {guard}\n\n"
        f"// The .tflite flatbuffer, 16-byte aligned: TFLM reads its tables in place.\n"
        f"extern const unsigned char g_{name}[];\n"
        f"extern const unsigned int g_{name}_len;\n\n"
        f"#endif  // {guard}\n"
    )
    rows = (
        "    " + ", ".join(f"0x{b:02x}" for b in tflite[i : i + _BYTES_PER_LINE]) + ","
        for i in range(0, len(tflite), _BYTES_PER_LINE)
    )
    # Including the header first gives the const array external linkage (C++ const is internal).
    source_text = _banner("model_data.cc", f"the bytes of {name}; see model_data.h.", described)
    source_text += (
        f'\n#include "model_data.h"\n\n'
        f"alignas(16) const unsigned char g_{name}[] = {{\n" + "\n".join(rows) + "\n};\n"
        f"const unsigned int g_{name}_len = {len(tflite)};\n"
    )
    return {"model_data.h": header, "model_data.cc": source_text}


def model_ops(model: bytes | str | os.PathLike[str]) -> list[str]:
    """The model's distinct ops in first-use (graph) order, as LiteRT names them ("CONV_2D", ...).

    Raises:
        ValueError: LiteRT cannot read the model, or it uses a custom op or an op TFLM's
            MicroMutableOpResolver cannot register (all such ops are named).
    """
    data = bytes(model) if isinstance(model, bytes | bytearray) else Path(model).read_bytes()
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        with native_stderr_silenced():
            # No default delegate: XNNPACK would replace ops with DELEGATE nodes and hide them.
            interpreter = Interpreter(
                model_content=data,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            ops = list(dict.fromkeys(str(op["op_name"]) for op in interpreter._get_ops_details()))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"LiteRT cannot read this model, so its ops are unknown: {exc}") from None
    _check_registrable(ops)
    return ops


def _check_registrable(ops: Sequence[str]) -> None:
    unknown = [op for op in ops if op not in TFLM_ADD]
    if not unknown:
        return
    from ai_edge_litert.schema_py_generated import BuiltinOperator

    reasons = [
        f"{op} (a TFLite builtin with no Add method in TFLM's MicroMutableOpResolver)"
        if hasattr(BuiltinOperator, op)
        else f"{op} (a custom op; TFLM has no kernel for it)"
        for op in unknown
    ]
    raise ValueError(
        f"TFLM cannot run this model: it uses {'; '.join(reasons)}. Export a model built only from "
        f"ops TFLM supports (mnistedge.export.tflm.sources.TFLM_ADD lists them)."
    )


def model_ops_header(ops: Sequence[str], *, name: str) -> str:
    """``model_ops.h``: a ``MicroMutableOpResolver<N>`` sized to ``ops`` and a function registering them.

    Args:
        ops: the distinct ops, as :func:`model_ops` returns them.
        name: the model's C identifier; gives ``kNameOpCount``, ``NameOpResolver`` and
            ``name_register_ops``.

    Raises:
        ValueError: a bad name, no ops, an op listed twice, or one TFLM cannot register.
    """
    name = c_identifier(name)
    if not ops:
        raise ValueError("ops is empty: pass model_ops(model), the ops the model's graph uses.")
    twice = sorted({op for op in ops if list(ops).count(op) > 1})
    if twice:
        raise ValueError(
            f"ops lists {', '.join(twice)} more than once; TFLM refuses a second registration of an op. "
            "Pass each op once (model_ops() does)."
        )
    _check_registrable(ops)
    camel, guard = _camel(name), f"{name.upper()}_MODEL_OPS_H_"
    described = [
        f"Ops ({len(ops)}, in graph order): {', '.join(ops)}",
        "The resolver has exactly one slot per op: a model with another op fails at AllocateTensors().",
    ]
    calls = "\n".join(f"  TF_LITE_ENSURE_STATUS(resolver.{TFLM_ADD[op]}());  // {op}" for op in ops)
    return _banner("model_ops.h", f"the TensorFlow Lite Micro ops {name} uses, and no others.", described) + (
        f"\n#ifndef {guard}\n#define {guard}\n\n"
        f'#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n\n'
        f"constexpr unsigned int k{camel}OpCount = {len(ops)};\n"
        f"using {camel}OpResolver = tflite::MicroMutableOpResolver<k{camel}OpCount>;\n\n"
        f"// Registers every op; returns the first failure (a full resolver, or an op added twice).\n"
        f"inline TfLiteStatus {name}_register_ops({camel}OpResolver& resolver) {{\n"
        f"{calls}\n  return kTfLiteOk;\n}}\n\n"
        f"#endif  // {guard}\n"
    )


def parse_ops_header(text: str) -> tuple[int, list[str]]:
    """Read back ``model_ops.h``: the resolver's template argument N and its ``Add…`` calls in order.

    TFLM's headers are on no package registry, so the header cannot be compiled in tests; this
    checks it instead. Accepts a literal ``MicroMutableOpResolver<8>`` or a ``constexpr`` constant.
    """
    template = re.search(r"MicroMutableOpResolver<\s*(\w+)\s*>", text)
    if template is None:
        raise ValueError("No tflite::MicroMutableOpResolver<N> in the text: is it a model_ops.h?")
    count = template.group(1)
    if not count.isdigit():
        constant = re.search(rf"constexpr\s+(?:unsigned\s+)?int\s+{count}\s*=\s*(\d+)\s*;", text)
        if constant is None:
            raise ValueError(f"MicroMutableOpResolver<{count}>: no 'constexpr int {count} = N;' defines it.")
        count = constant.group(1)
    return int(count), re.findall(r"\.\s*(Add\w+)\s*\(", text)
