"""Map validated images to an engine's input tensor, and its output back to probabilities.

Built once per model from its ``IOConvention`` and the tensors' own dtype/scale/zero-point,
so the per-call work is one numpy op (plus a reshape view for a non-NHWC layout): uint8
images go through a 256-entry lookup table computed with the same float path, so both
paths give bit-identical engine inputs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import numpy as np

from mnistedge.core.contract import LAYOUTS, MNISTEDGE_NORMALIZATION, OUTPUT_KINDS, Normalization
from mnistedge.core.tensors import TensorSpec

__all__ = ["InputCodec", "OutputCodec", "softmax"]

_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}
_FLOAT_DTYPES = frozenset({"float32", "float16", "float64"})
_SIGN_BIT = np.uint8(0x80)


def _check_supported(spec: TensorSpec, role: str) -> None:
    if spec.dtype in _FLOAT_DTYPES:
        return
    if spec.dtype not in _INT_RANGES:
        raise ValueError(
            f"model {role} {spec.name!r} has dtype {spec.dtype}; supported: float32, float16, "
            f"float64, or int8/uint8/int16 with a scale and zero-point"
        )
    if spec.scale is None or spec.zero_point is None or not spec.scale > 0:
        raise ValueError(
            f"model {role} {spec.name!r} is {spec.dtype} but has no usable quantization "
            f"(scale={spec.scale}, zero_point={spec.zero_point}); re-export it with "
            f"quantization parameters, or record them in manifest.json"
        )


def _flip_sign_bit(batch: np.ndarray) -> np.ndarray:
    return np.bitwise_xor(batch, _SIGN_BIT).view(np.int8)


def _reshaped(encode: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> Callable:
    """``encode`` followed by a reshape to the model's layout (a view: encode's result is contiguous)."""

    def call(batch: np.ndarray) -> np.ndarray:
        return encode(batch).reshape(shape)

    return call


class InputCodec:
    """Turns (N, 28, 28, 1) uint8 pixels or float32 [0, 1] images into the engine's input.

    The engine input is ``quantize((pixel * scale - mean) / std)`` in the model's layout;
    quantize uses the input tensor's own scale/zero-point and is skipped for float tensors.
    ``from_uint8(batch)`` is picked at load: a cast, a sign-bit flip or a table lookup,
    each equal to ``prepare(batch.astype(float32))`` (tests check all 256 values).
    """

    def __init__(
        self,
        spec: TensorSpec,
        normalization: Normalization = MNISTEDGE_NORMALIZATION,
        layout: str = "NHWC",
    ) -> None:
        _check_supported(spec, "input")
        self.spec = spec
        self.dtype = np.dtype(spec.dtype)
        self.normalization = normalization
        n = normalization
        self._affine = None if n.identity else (np.float32(n.scale), np.float32(n.mean), np.float32(n.std))
        # NHWC is the batch's own shape: no reshape at all on mnistedge's own models.
        self._shape = None if layout == "NHWC" else (-1, *LAYOUTS[layout])
        self._lut = self._encode(np.arange(256, dtype=np.float32))
        # float32 models taking raw pixels: astype is exact and faster than a table lookup.
        self._plain_float = self.dtype == np.float32 and self._affine is None
        from_uint8 = self._pick_uint8_path()
        self.from_uint8: Callable[[np.ndarray], np.ndarray] = (
            from_uint8 if self._shape is None else _reshaped(from_uint8, self._shape)
        )

    def _pick_uint8_path(self) -> Callable[[np.ndarray], np.ndarray]:
        """The cheapest exact uint8 -> engine-input op for this tensor (chosen once, at load)."""
        if self._plain_float:
            return operator.methodcaller("astype", np.float32)
        identity_int8 = self.dtype == np.int8 and self._affine is None
        if identity_int8 and self.spec.scale == 1.0 and self.spec.zero_point == -128:
            return _flip_sign_bit  # p - 128 == p ^ 0x80 read as int8, the MNIST calibration
        return self._lut.take

    def _encode(self, values: np.ndarray) -> np.ndarray:
        """Elementwise: float32 pixels in [0, 255] -> normalized, then quantized for an int tensor."""
        if self._affine is not None:
            scale, mean, std = self._affine
            values = (values * scale - mean) / std
        if self.spec.scale is None:
            return values.astype(self.dtype, copy=False)
        qmin, qmax = _INT_RANGES[self.spec.dtype]
        q = np.rint(values / np.float32(self.spec.scale)) + np.float32(self.spec.zero_point)
        return np.clip(q, qmin, qmax).astype(self.dtype)

    def _layout(self, tensor: np.ndarray) -> np.ndarray:
        return tensor if self._shape is None else tensor.reshape(self._shape)

    def prepare(self, raw_pixels: np.ndarray) -> np.ndarray:
        """Raw pixels, float32 (N, 28, 28, 1) in [0, 255], to the engine's input tensor."""
        return self._layout(self._encode(np.asarray(raw_pixels, dtype=np.float32)))

    def from_unit_float(self, batch: np.ndarray) -> np.ndarray:
        """float32 images in [0, 1] (N, 28, 28, 1) to the engine's input tensor."""
        raw = batch * np.float32(255.0)
        return self._layout(raw) if self._plain_float else self.prepare(raw)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float32 (N, K) scores, stable for any finite logits (max subtracted)."""
    # The ufuncs' own reduce, not .max()/.sum(): half the cost at batch 1 (about 5 us, not 10).
    shifted = _subtract(scores, _max_reduce(scores, axis=1, keepdims=True))  # a new array
    _exp(shifted, out=shifted)
    return _divide(shifted, _add_reduce(shifted, axis=1, keepdims=True), out=shifted)


_subtract, _divide, _exp = np.subtract, np.divide, np.exp
_max_reduce, _add_reduce = np.maximum.reduce, np.add.reduce


class OutputCodec:
    """Turns the engine's output tensor into float32 probabilities (N, 10).

    ``to_proba`` is picked at load: dequantize (or cast) for a model ending in softmax,
    and a softmax after that for one that outputs logits.
    """

    def __init__(self, spec: TensorSpec, kind: str = "probabilities") -> None:
        _check_supported(spec, "output")
        if kind not in OUTPUT_KINDS:
            raise ValueError(f"Unknown output kind {kind!r}. Valid kinds are: {', '.join(OUTPUT_KINDS)}.")
        self.spec = spec
        self.kind = kind
        self._lut: np.ndarray | None = None
        if spec.scale is not None and spec.dtype in ("int8", "uint8"):
            codes = np.arange(256, dtype=np.uint8).view(spec.dtype).astype(np.float32)
            self._lut = (np.float32(spec.scale) * (codes - np.float32(spec.zero_point))).astype(np.float32)
        self.to_proba: Callable[[np.ndarray], np.ndarray] = (
            self.dequantize if kind == "probabilities" else self._softmax_of_logits
        )

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        """Dequantize (from the tensor's own scale/zero-point) or cast to float32."""
        if self._lut is not None:
            return self._lut.take(raw.view(np.uint8))
        if self.spec.scale is not None:
            return np.float32(self.spec.scale) * (raw.astype(np.float32) - self.spec.zero_point)
        return raw if raw.dtype == np.float32 else raw.astype(np.float32)

    def _softmax_of_logits(self, raw: np.ndarray) -> np.ndarray:
        return softmax(self.dequantize(raw))
