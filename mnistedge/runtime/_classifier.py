"""``load()`` and the Classifier that apps embed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.contract import check_output_kind
from mnistedge.core.formats import FORMATS
from mnistedge.core.images import as_batch
from mnistedge.runtime._backend import backend_class, self_test
from mnistedge.runtime._convention import normalization_for
from mnistedge.runtime._integrity import ModelFile, read_model
from mnistedge.runtime._probe import probe
from mnistedge.runtime._providers import canonical, check_threads, import_engine
from mnistedge.runtime._spec import RuntimeInfo

__all__ = ["Classifier", "load"]

_NDARRAY = np.ndarray
_UINT8 = np.dtype(np.uint8)
_BATCH_TAILS = frozenset({(28, 28), (28, 28, 1), (784,)})  # shape[1:] of accepted batches
_ARGMAX_IS_INT64 = np.dtype(np.intp) == np.int64


def _quantization(model: ModelFile) -> str:
    """The manifest's label ("none", "fp16", "dynamic", "int8", "int16x8"), else what the file shows."""
    entry = model.manifest_entry or {}
    label = entry.get("quantization")
    return label if isinstance(label, str) else model.facts.get("quantization", "unknown")


class Classifier:
    """An MNIST digit classifier over one LiteRT or ONNX Runtime model.

    Thread safety: one Classifier may be shared by many threads. ONNX Runtime runs
    them concurrently; LiteRT serializes calls on a lock (one interpreter, which is
    not re-entrant).

    Images: one (28, 28) image or a batch (N, 28, 28), (N, 28, 28, 1), (N, 784);
    uint8 raw pixels in [0, 255] or floats in [0, 1] (scaled x255 to raw pixels). Anything
    else raises ValueError saying what was wrong. The model's ``info.convention`` then says
    how they reach it: normalized, reshaped to its layout, chunked to its fixed batch, and
    its logits (if it outputs logits) turned into probabilities by a softmax.
    """

    def __init__(self, backend: Any, info: RuntimeInfo) -> None:
        self.backend = backend  # raw engine access for benchmarks: see _litert / _onnxrt
        self.info = info
        codec = backend.input_codec
        self._from_uint8 = codec.from_uint8
        self._from_float = codec.from_unit_float
        self._invoke = backend.call  # the engine call itself unless the model has a fixed batch
        self._to_proba = backend.output_codec.to_proba

    def _engine_input(self, images: Any) -> np.ndarray:
        # Fast path, a few hundred ns: a uint8 batch needs no value check, only its shape.
        if images.__class__ is _NDARRAY and images.dtype is _UINT8:
            shape = images.shape
            if shape[1:] in _BATCH_TAILS and shape[0]:
                return self._from_uint8(images.reshape((shape[0], 28, 28, 1)))
        batch = as_batch(images)  # everything else: full validation, clear errors
        return self._from_uint8(batch) if batch.dtype == _UINT8 else self._from_float(batch)

    def predict_proba(self, images: Any) -> np.ndarray:
        """Class probabilities, float32 (N, 10); N = 1 for a single (28, 28) image."""
        return self._to_proba(self._invoke(self._engine_input(images)))

    def predict(self, images: Any) -> np.ndarray:
        """Predicted digits, int64 (N,)."""
        # Dequantization and softmax are monotonic (scale > 0): argmax on the raw output is the same.
        labels = self._invoke(self._engine_input(images)).argmax(axis=1)
        return labels if _ARGMAX_IS_INT64 else labels.astype(np.int64)

    def __repr__(self) -> str:
        i = self.info
        return f"Classifier({i.path!r}, {i.format}/{i.quantization}, {i.engine}:{i.provider})"


def load(
    path: str | Path,
    *,
    provider: str = "auto",
    threads: int | None = None,
    verify: bool = True,
    strict: bool = False,
    isolate: bool | None = None,
    scale: float | None = None,
    mean: float | None = None,
    std: float | None = None,
    output: str | None = None,
) -> Classifier:
    """Load a ``.tflite`` or ``.onnx`` MNIST model for inference (no TensorFlow needed).

    Args:
        path: the model file. A ``manifest.json`` beside it (written by ``mnistedge export``)
            supplies its sha256, quantization label and I/O parameters.
        provider: "auto" (best available), an ONNX Runtime provider ("cuda", "tensorrt",
            "openvino", "coreml", "directml", "cpu" or a full ``...ExecutionProvider`` name),
            or for LiteRT "xnnpack" (default) / "cpu" / "reference" (TFLite's reference kernels,
            the arithmetic TFLM follows). A missing one falls back with a warning.
        threads: engine threads (LiteRT ``num_threads``, ORT ``intra_op_num_threads``);
            None keeps the engine's default.
        verify: check the file's sha256 against the manifest beside it, when there is one.
        strict: raise instead of falling back when the provider is not available.
        isolate: first load and run the model in a probe process, so an engine crash on a
            malformed file cannot take this process down. None (default): only when no
            manifest vouched for the file's sha256. A probe costs a few ms (the first one
            in a process ~0.3 s to start the worker); results are cached per file content.
        scale, mean, std: the model's pixel normalization, input = (pixel * scale - mean) / std
            for 0-255 pixels (a model trained on [0, 1] pixels: scale=1/255; torchvision's
            MNIST: scale=1/255, mean=0.1307, std=0.3081). None: the manifest entry's
            ``normalization``, else 1 / 0 / 1 (mnistedge's own models take raw pixels).
        output: "probabilities" or "logits" (the runtime applies a softmax in predict_proba).
            None: "probabilities" when the graph ends in Softmax, else "logits".

    The model's input may be [N, 28, 28, 1], [N, 1, 28, 28], [N, 784] or [N, 28, 28], with a
    dynamic or fixed batch N, and its output [N, 10]; ``info.convention`` says what was found.

    Raises:
        FileNotFoundError, IsADirectoryError, OSError: the path is not a readable file.
        ValueError: unknown format, malformed model, sha256 mismatch, a bad normalization
            value or output kind, or a model whose input/output shapes the runtime cannot feed
            (the message lists the accepted shapes).
        RuntimeError: ``strict`` and the provider is not available; or the probe process
            cannot start (then pass ``isolate=False``).
        MissingDependencyError: the engine is not installed (message has the pip command).
    """
    check_output_kind(output)
    model = read_model(path, verify=verify)
    normalization = normalization_for(model.manifest_entry, model.path, scale=scale, mean=mean, std=std)
    engine = FORMATS[model.format].engine
    import_engine(engine)  # a missing engine says what to pip install, before anything else
    canonical(provider, engine)  # bad arguments fail here, not in the probe process
    check_threads(threads)
    engine_args = {"provider": provider, "threads": threads, "normalization": normalization, "output": output}
    if isolate or (isolate is None and not model.manifest_verified):
        probe(model, **engine_args)  # loads exactly what this process will load
    backend = backend_class(model.format)(model, strict=strict, **engine_args)
    self_test(backend, model.path)
    info = RuntimeInfo(
        path=str(model.path),
        format=model.format,
        quantization=_quantization(model),
        engine=backend.engine,
        provider=backend.provider,
        threads=backend.threads,
        input=backend.input,
        output=backend.output,
        sha256=model.sha256,
        size_bytes=len(model.data),
        manifest_verified=model.manifest_verified,
        convention=backend.convention,
    )
    return Classifier(backend, info)
