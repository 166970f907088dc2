"""Latency of every edge artifact through mnistedge.runtime, and the runtime's overhead.

pytest benchmarks --benchmark-json=out.json       # JSON report
pytest benchmarks --benchmark-autosave            # save under .benchmarks/
pytest benchmarks --benchmark-compare             # compare with the last saved run
"""

from __future__ import annotations

import numpy as np
import pytest
from bench_support import accuracy_of, get_classifier

from mnistedge.bench.raw import raw_call
from mnistedge.export.registry import EDGE_ARTIFACTS

BATCH_SIZES = (1, 64)
FORMATS = [pytest.param(fmt, str(q), id=f"{fmt}-{q}") for fmt, q in EDGE_ARTIFACTS]


def _artifact(artifacts, fmt: str, quantization: str):
    path = artifacts.file_for(fmt, quantization)
    if path is None or not path.is_file():
        pytest.skip(f"no {fmt}/{quantization} artifact in {artifacts.export_dir}")
    return path


def _batch(images: np.ndarray, n: int) -> np.ndarray:
    return images[:n] if len(images) >= n else np.resize(images, (n, 28, 28))


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize(("fmt", "quantization"), FORMATS)
def test_predict_latency(benchmark, artifacts, classifiers, fmt, quantization, batch_size) -> None:
    path = _artifact(artifacts, fmt, quantization)
    clf = get_classifier(classifiers, path)
    batch = _batch(artifacts.images, batch_size)
    benchmark.group = f"predict batch {batch_size}"
    benchmark.extra_info.update(
        {
            "artifact": path.name,
            "format": clf.info.format,
            "quantization": quantization,
            "engine": clf.info.engine,
            "provider": clf.info.provider,
            "threads": 1,
            "batch_size": batch_size,
            "accuracy": accuracy_of(artifacts, path, clf),
        }
    )
    labels = benchmark(clf.predict, batch)
    assert labels.shape == (batch_size,) and labels.dtype == np.int64


@pytest.mark.parametrize("call", ["runtime-predict", "raw-engine"])
@pytest.mark.parametrize(("fmt", "quantization"), FORMATS)
def test_runtime_overhead(benchmark, artifacts, classifiers, fmt, quantization, call) -> None:
    """The wrapper vs the bare engine call at batch 1, per artifact (one group per artifact).

    Quantized artifacts are included: their wrapper also quantizes the input and reads
    the int8 output, and on the fastest (~25 µs) models that cost is what shows.
    """
    path = _artifact(artifacts, fmt, quantization)
    clf = get_classifier(classifiers, path)
    one = artifacts.images[:1]
    benchmark.group = f"overhead {path.name} ({clf.info.engine}) batch 1"
    benchmark.extra_info.update(
        {
            "artifact": path.name,
            "format": clf.info.format,
            "quantization": quantization,
            "engine": clf.info.engine,
            "call": call,
            "batch_size": 1,
            "accuracy": accuracy_of(artifacts, path, clf),
        }
    )
    expected = int(clf.predict(one)[0])
    if artifacts.labels is not None:  # the tiny export learns its synthetic digits perfectly
        assert expected == artifacts.labels[0]
    if call == "runtime-predict":
        label = int(benchmark(lambda: clf.predict(one))[0])
    else:  # [probabilities] from ONNX Runtime, the output tensor from LiteRT (int8 argmax is the same)
        label = int(np.asarray(benchmark(raw_call(clf, one))).reshape(-1, 10).argmax(axis=1)[0])
    assert label == expected
