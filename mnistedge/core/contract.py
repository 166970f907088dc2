"""The model I/O contract shared by train, export, runtime and bench, and the convention for other models.

Decided once (issue 3): normalization lives inside the graph. Every model that
mnistedge trains takes raw pixels as float32 in [0, 255], shape (N, 28, 28, 1),
and its first layer rescales them by 1/255. Every model ends in a softmax, so
outputs are probabilities, float32 (N, 10). Exported artifacts keep this: a
float artifact takes raw pixels; a full-int8 TFLite artifact takes int8 pixels
quantized with its own input scale/zero-point (scale 1, zero-point -128 when
calibrated on MNIST, so uint8 pixel p maps exactly to p - 128).

Bring your own model (issue 11): an ``IOConvention`` says how the runtime feeds any other
MNIST classifier: its input layout and batch (read from the file), whether its output is
probabilities or logits (read from the graph's last op), and the ``Normalization`` turning a
0-255 pixel into its input value. mnistedge's own models are ``MNISTEDGE_CONVENTION``.

This module must stay free of TensorFlow and numpy: the runtime and the export CLI import it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Final

IMAGE_SHAPE: Final = (28, 28)
MODEL_INPUT_SHAPE: Final = (28, 28, 1)
NUM_CLASSES: Final = 10
PIXEL_RANGE: Final = (0.0, 255.0)
NORMALIZATION: Final = "in_graph"  # a Rescaling(1/255) layer is the model's first op
INPUT_NAME: Final = "pixels"
OUTPUT_NAME: Final = "probabilities"

# What train.json and manifest.json record under "preprocessing".
PREPROCESSING: Final = {
    "input_shape": list(MODEL_INPUT_SHAPE),
    "input_dtype": "float32",
    "pixel_range": list(PIXEL_RANGE),
    "normalization": NORMALIZATION,
    "rescale": 1.0 / 255.0,
    "output": "softmax probabilities, float32 (N, 10)",
}

# Input layouts the runtime feeds, by the model input's shape after the batch dimension.
# The image has one channel, so each is a reshape of the (N, 28, 28, 1) batch.
LAYOUTS: Final[dict[str, tuple[int, ...]]] = {
    "NHWC": (28, 28, 1),  # Keras / TFLite, mnistedge's own
    "NCHW": (1, 28, 28),  # PyTorch / the ONNX model zoo
    "flat": (784,),  # an MLP's input
    "NHW": (28, 28),
}
OUTPUT_KINDS: Final = ("probabilities", "logits")


def accepted_inputs() -> str:
    """The accepted model input shapes, for error messages."""
    return ", ".join(f"[N, {', '.join(map(str, tail))}] ({name})" for name, tail in LAYOUTS.items())


def layout_of(shape: Sequence[int]) -> tuple[str, int | None] | None:
    """``(layout, fixed batch)`` of a model input shape (-1 marks a dynamic dimension).

    Returns None when the shape is not one of ``LAYOUTS``; the batch is None when it is dynamic.
    """
    if len(shape) < 2:
        return None
    tail = tuple(int(d) for d in shape[1:])
    for name, layout_tail in LAYOUTS.items():
        if tail == layout_tail:
            return name, (int(shape[0]) if shape[0] > 0 else None)
    return None


def check_output_kind(output: str | None) -> str | None:
    """``output`` if it is None (read it from the model) or one of ``OUTPUT_KINDS``; else ValueError."""
    if output is None or output in OUTPUT_KINDS:
        return output
    raise ValueError(
        f"Unknown output kind {output!r}. Valid kinds are: {', '.join(OUTPUT_KINDS)} "
        "(or None to read it from the model: a graph ending in Softmax gives probabilities)."
    )


@dataclass(frozen=True)
class Normalization:
    """How a 0-255 pixel becomes the model's input value: ``(pixel * scale - mean) / std``.

    Separate from a quantized tensor's own scale/zero-point (``core.tensors.TensorSpec``):
    a full-int8 model first normalizes, then quantizes with its input tensor's parameters.
    """

    scale: float = 1.0  # 1 for raw 0-255 pixels (mnistedge), 1/255 for [0, 1] pixels
    mean: float = 0.0  # subtracted after scaling (torchvision's MNIST: 0.1307)
    std: float = 1.0  # divides last (torchvision's MNIST: 0.3081)

    def __post_init__(self) -> None:
        for name in ("scale", "mean", "std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ValueError(
                    f"normalization {name} must be a number, got {value!r} ({type(value).__name__}); "
                    "e.g. scale=1/255, mean=0.1307, std=0.3081"
                )
            if not math.isfinite(value):
                raise ValueError(
                    f"normalization {name}={value!r} is not a finite number; pass a finite float"
                )
            object.__setattr__(self, name, float(value))
        if not self.scale > 0:
            raise ValueError(
                f"normalization scale={self.scale!r} must be > 0 (it multiplies 0-255 pixels); "
                "use 1 for a model taking raw pixels, or 1/255 for one taking [0, 1] pixels"
            )
        if self.std == 0:
            raise ValueError(
                "normalization std=0 would divide by zero; pass the std the model was trained with "
                "(0.3081 for torchvision's MNIST), or 1 for none"
            )

    @property
    def identity(self) -> bool:
        """True for mnistedge's raw pixels: the input value is the pixel itself."""
        return (self.scale, self.mean, self.std) == (1.0, 0.0, 1.0)

    def to_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: Any) -> Normalization:
        """From a ``{"scale", "mean", "std"}`` block (a missing key takes its default)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a normalization block must be an object {{scale, mean, std}}, got {data!r}")
        unknown = sorted(set(data) - {"scale", "mean", "std"})
        if unknown:
            raise ValueError(f"unknown normalization key(s) {unknown}; valid keys: scale, mean, std")
        return cls(**data)


MNISTEDGE_NORMALIZATION: Final = Normalization()  # raw pixels: the graph rescales them itself


@dataclass(frozen=True)
class IOConvention:
    """How the runtime feeds a model and reads its output."""

    layout: str = "NHWC"  # a key of LAYOUTS
    batch: int | None = None  # None: any batch size; B: exactly B images per engine call
    output: str = "probabilities"  # or "logits": the runtime applies a softmax for probabilities
    normalization: Normalization = field(default=MNISTEDGE_NORMALIZATION)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"Unknown layout {self.layout!r}. Valid layouts are: {', '.join(LAYOUTS)}.")
        check_output_kind(self.output)
        if self.batch is not None and (isinstance(self.batch, bool) or not isinstance(self.batch, int)
                                       or self.batch < 1):  # fmt: skip
            raise ValueError(f"batch must be None (dynamic) or a positive int, got {self.batch!r}")

    @property
    def input_tail(self) -> tuple[int, ...]:
        """The model input's shape after the batch dimension."""
        return LAYOUTS[self.layout]

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "batch": self.batch,  # None: dynamic
            "output": self.output,
            "normalization": self.normalization.to_dict(),
        }


MNISTEDGE_CONVENTION: Final = IOConvention()
