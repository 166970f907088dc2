"""TensorFlow-free inference over LiteRT and ONNX Runtime.

from mnistedge.runtime import load
clf = load("artifacts/export/model_int8.tflite")   # or .onnx
clf.predict(images)        # int64 labels (N,)
clf.predict_proba(images)  # float32 probabilities (N, 10)
clf.info                   # RuntimeInfo: format, quantization, engine, provider used, ...
"""

from mnistedge.core.tensors import TensorSpec
from mnistedge.runtime._classifier import Classifier, load
from mnistedge.runtime._providers import available_providers
from mnistedge.runtime._spec import RuntimeInfo

__all__ = ["Classifier", "RuntimeInfo", "TensorSpec", "available_providers", "load"]
