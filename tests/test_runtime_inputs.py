"""Input validation (property-based) and the uint8 fast paths of the codecs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mnistedge.core.contract import Normalization
from mnistedge.core.images import as_batch
from mnistedge.runtime import load
from mnistedge.runtime._quant import InputCodec, OutputCodec
from mnistedge.runtime._spec import TensorSpec

ACCEPTED_TAILS = [(28, 28), (28, 28, 1), (784,)]


def _accepted(shape: tuple[int, ...]) -> bool:
    return shape == (28, 28) or (len(shape) >= 2 and shape[0] >= 1 and shape[1:] in ACCEPTED_TAILS)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([[0] * 28] * 28, "must be a numpy array, got list"),
        ("digits", "must be a numpy array, got str"),
        (None, "must be a numpy array, got NoneType"),
        (np.zeros((28, 27), np.uint8), r"shape \(28, 27\)"),
        (np.zeros((2, 28, 28, 3), np.uint8), r"shape \(2, 28, 28, 3\)"),
        (np.zeros(784, np.uint8), r"shape \(784,\)"),
        (np.zeros((0, 28, 28), np.uint8), "empty batch"),
        (np.zeros((0, 784), np.float32), "empty batch"),
        (np.zeros((1, 28, 28), np.int64), "dtype int64"),
        (np.zeros((1, 28, 28), bool), "dtype bool"),
        (np.zeros((1, 28, 28), object), "dtype object"),
        (np.full((1, 28, 28), np.nan, np.float32), "1 NaN|784 NaN"),
        (np.full((1, 28, 28), np.inf), "infinite"),
        (np.full((1, 28, 28), 255.0, np.float32), r"\[0, 1\].*uint8, or divide by 255"),
        (np.full((1, 28, 28), -0.5), r"got values in \[-0.5, -0.5\]"),
    ],
)
def test_bad_images_say_what_is_wrong_and_what_is_accepted(images, message: str, linear_onnx) -> None:
    for call in (as_batch, load(linear_onnx).predict, load(linear_onnx).predict_proba):
        with pytest.raises(ValueError, match=message) as info:
            call(images)
        if "must be a numpy array" not in message:
            assert "expected a numpy array of one image (28, 28)" in str(info.value)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 4),
    tail=st.sampled_from(ACCEPTED_TAILS),
    data=st.data(),
)
def test_valid_uint8_batches_pass_unchanged(n: int, tail: tuple[int, ...], data) -> None:
    images = data.draw(hnp.arrays(np.uint8, (n, *tail)))
    batch = as_batch(images)
    assert batch.shape == (n, 28, 28, 1) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch.reshape(n, 784), images.reshape(n, 784))


@settings(max_examples=80, deadline=None)
@given(
    images=hnp.arrays(
        st.sampled_from([np.float16, np.float32, np.float64]),
        st.sampled_from([(1, 28, 28), (2, 784), (28, 28)]),
        elements=st.one_of(
            st.floats(-2, 300, width=16),
            st.floats(0, 1, width=16),
            st.sampled_from([np.nan, np.inf, -np.inf]),
        ),
    )
)
def test_floats_are_accepted_exactly_when_finite_and_in_unit_range(images: np.ndarray) -> None:
    valid = bool(np.all(np.isfinite(images)) and images.min() >= 0 and images.max() <= 1)
    if valid:
        batch = as_batch(images)
        assert batch.dtype == np.float32
        np.testing.assert_array_equal(batch.ravel(), images.astype(np.float32).ravel())
    else:
        with pytest.raises(ValueError, match="expected a numpy array"):
            as_batch(images)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=30))
def test_only_the_accepted_shapes_pass(shape: tuple[int, ...]) -> None:
    assume(int(np.prod(shape)) < 20000)
    images = np.zeros(shape, np.uint8)
    if _accepted(shape):
        assert as_batch(images).shape[1:] == (28, 28, 1)
    else:
        with pytest.raises(ValueError, match=r"shape|empty batch"):
            as_batch(images)


@settings(max_examples=40, deadline=None)
@given(dtype=hnp.scalar_dtypes())
def test_only_uint8_and_floats_pass(dtype: np.dtype) -> None:
    images = np.zeros((1, 28, 28), dtype)
    if dtype == np.uint8 or dtype.kind == "f":
        as_batch(images)
    else:
        with pytest.raises(ValueError, match=re.escape(f"dtype {dtype}")):
            as_batch(images)


MNIST_TORCH = Normalization(scale=1 / 255, mean=0.1307, std=0.3081)  # torchvision's MNIST transform
CODEC_SPECS = [
    (TensorSpec("x", (-1, 28, 28, 1), "float32"), Normalization()),
    (TensorSpec("x", (-1, 28, 28, 1), "float16"), Normalization()),
    (TensorSpec("x", (-1, 28, 28, 1), "int8", 1.0, -128), Normalization()),  # sign-bit flip
    (TensorSpec("x", (-1, 28, 28, 1), "int8", 0.9960784316062927, -128), Normalization()),
    (TensorSpec("x", (-1, 28, 28, 1), "uint8", 1.0, 0), Normalization()),
    (TensorSpec("x", (-1, 28, 28, 1), "int8", 1 / 255, -128), Normalization(scale=1 / 255)),  # [0, 1]
    (TensorSpec("x", (-1, 28, 28, 1), "float32"), Normalization(scale=1 / 255, mean=0.5, std=0.5)),  # [-1, 1]
    (TensorSpec("x", (-1, 1, 28, 28), "float32"), MNIST_TORCH),
    (TensorSpec("x", (-1, 784), "int8", 0.0127, -14), MNIST_TORCH),
]


@pytest.mark.parametrize(("spec", "normalization"), CODEC_SPECS)
def test_uint8_fast_path_equals_the_float_path(spec: TensorSpec, normalization: Normalization) -> None:
    codec = InputCodec(spec, normalization)
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    fast = codec.from_uint8(pixels)
    assert fast.dtype == np.dtype(spec.dtype)
    np.testing.assert_array_equal(fast, codec.prepare(pixels.astype(np.float32)))
    unit = codec.from_unit_float(pixels.astype(np.float32) / np.float32(255))
    np.testing.assert_allclose(unit.astype(np.float64), fast.astype(np.float64), atol=1.0)
    n = normalization
    lo, hi = (0 * n.scale - n.mean) / n.std, (255 * n.scale - n.mean) / n.std
    if spec.scale is None:
        np.testing.assert_allclose(fast.ravel()[[0, -1]].astype(np.float64), [lo, hi], rtol=1e-3)


@pytest.mark.parametrize(("layout", "shape"), [("NHWC", (3, 28, 28, 1)), ("NCHW", (3, 1, 28, 28)),
                                               ("flat", (3, 784)), ("NHW", (3, 28, 28))])  # fmt: skip
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_layouts_are_reshapes_of_the_same_values(layout: str, shape, dtype: str) -> None:
    spec = TensorSpec("x", (-1,), dtype, *((1.0, -128) if dtype == "int8" else ()))
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    nhwc = InputCodec(spec).from_uint8(pixels)
    codec = InputCodec(spec, Normalization(), layout)
    for tensor in (codec.from_uint8(pixels), codec.prepare(pixels.astype(np.float32)),
                   codec.from_unit_float(pixels.astype(np.float32) / np.float32(255))):  # fmt: skip
        assert tensor.shape == shape and tensor.flags.c_contiguous
    np.testing.assert_array_equal(codec.from_uint8(pixels).ravel(), nhwc.ravel())


def test_int8_with_mnist_calibration_is_pixel_minus_128() -> None:
    codec = InputCodec(TensorSpec("x", (-1, 28, 28, 1), "int8", 1.0, -128))
    pixels = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(codec.from_uint8(pixels), (np.arange(256) - 128).astype(np.int8))


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_output_lookup_table_equals_the_dequantization_formula(dtype: str) -> None:
    spec = TensorSpec("y", (-1, 10), dtype, 0.00390625, -128 if dtype == "int8" else 0)
    codes = np.arange(256, dtype=np.uint8).view(dtype).reshape(-1, 8)
    expected = np.float32(spec.scale) * (codes.astype(np.float32) - np.float32(spec.zero_point))
    np.testing.assert_array_equal(OutputCodec(spec).to_proba(codes), expected)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec("x", (-1, 28, 28, 1), "int8"), "no usable quantization"),
        (TensorSpec("x", (-1, 28, 28, 1), "int8", 0.0, 0), "no usable quantization"),
        (TensorSpec("x", (-1, 28, 28, 1), "int32", 1.0, 0), "dtype int32; supported"),
    ],
)
def test_unusable_tensors_are_refused(spec: TensorSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InputCodec(spec)
