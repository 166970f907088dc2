"""The model I/O contract shared by train, export, runtime and bench.

Decided once (issue 3): normalization lives inside the graph. Every model that
mnistedge trains takes raw pixels as float32 in [0, 255], shape (N, 28, 28, 1),
and its first layer rescales them by 1/255. Every model ends in a softmax, so
outputs are probabilities, float32 (N, 10). Exported artifacts keep this: a
float artifact takes raw pixels; a full-int8 TFLite artifact takes int8 pixels
quantized with its own input scale/zero-point (scale 1, zero-point -128 when
calibrated on MNIST, so uint8 pixel p maps exactly to p - 128).

This module must stay free of TensorFlow: the runtime imports it.
"""

from __future__ import annotations

from typing import Final

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
