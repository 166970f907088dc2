"""export_artifact / export_all: convert, write atomically, record, then prove fidelity."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.contract import MNISTEDGE_NORMALIZATION, PREPROCESSING
from mnistedge.core.deps import require
from mnistedge.core.images import check_dataset
from mnistedge.core.io import digest, sha256_file
from mnistedge.core.logs import native_stderr_silenced
from mnistedge.core.manifest import update_manifest
from mnistedge.core.tensors import Quantization, Status
from mnistedge.export._exporter import Exporter
from mnistedge.export._graph import load_keras_model, reference_probabilities
from mnistedge.export.artifact import Artifact, FidelityError
from mnistedge.export.calibration import (
    CalibrationConfig,
    CalibrationSet,
    Dataset,
    calibration_set,
)
from mnistedge.export.fidelity import DEFAULT_THRESHOLDS, Thresholds, compute_fidelity
from mnistedge.export.registry import EDGE_ARTIFACTS, EXPORTERS, get_exporter

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_OUT",
    "ExportJob",
    "export_all",
    "export_artifact",
    "plan_artifact",
    "plan_edge_artifacts",
    "run_jobs",
]

DEFAULT_MODEL = Path("artifacts/model.keras")
DEFAULT_OUT = Path("artifacts/export")
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ExportJob:
    """One artifact to write, fully validated before any conversion starts."""

    exporter: Exporter
    quantization: Quantization
    options: dict[str, Any]
    filename: str
    thresholds: Thresholds
    calibration: CalibrationConfig | None  # calibrated quantizations (int8, int16x8) only


def _job(
    format: str,
    quantize: str | Quantization,
    options: Mapping[str, Any],
    *,
    calibration: CalibrationConfig,
    thresholds: Thresholds | None = None,
    filename: str | None = None,
) -> ExportJob:
    exporter = get_exporter(format)
    quantization = Quantization.parse(quantize)
    resolved = exporter.resolve(quantization, options)
    if quantization.calibrated and calibration.method not in exporter.calibration_methods:
        raise ValueError(
            f"{format} {quantization.value} does not support calibration method {calibration.method!r}. "
            f"Supported for {format}: {', '.join(exporter.calibration_methods)}."
        )
    if filename is not None and (not filename or Path(filename).name != filename):
        raise ValueError(f"filename must be a bare file name inside out_dir, got {filename!r}.")
    return ExportJob(
        exporter=exporter,
        quantization=quantization,
        options=resolved,
        filename=filename or exporter.filename(quantization, resolved),
        thresholds=thresholds or DEFAULT_THRESHOLDS[quantization],
        calibration=calibration if quantization.calibrated else None,
    )


def _predict_proba(exporter: Exporter, path: Path, images: np.ndarray) -> np.ndarray:
    if exporter.predict_proba is not None:
        return exporter.predict_proba(path, images)
    from mnistedge.runtime import load  # the TF-free edge runtime: what devices will run

    with native_stderr_silenced():  # LiteRT's "Created XNNPACK delegate" line, from C++
        classifier = load(path)
    return classifier.predict_proba(images)


def _export_one(
    job: ExportJob,
    keras_model: Any,
    source: dict[str, str],
    out_dir: Path,
    calibration_images: np.ndarray | None,
    test: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
) -> Artifact:
    path = out_dir / job.filename
    calibration = (
        CalibrationSet(job.calibration, calibration_images)
        if job.calibration is not None and calibration_images is not None
        else None
    )
    written = job.exporter.write(keras_model, path, job.quantization, calibration, **job.options)
    size_bytes, sha256 = digest(path)
    artifact = Artifact(
        path=path,
        format=job.exporter.format,
        quantization=job.quantization,
        size_bytes=size_bytes,
        sha256=sha256,
        status=Status.UNVERIFIED,
        source_model=source,
        converter=written.converter,
        input=written.input,
        output=written.output,
        preprocessing=dict(PREPROCESSING),
        normalization=MNISTEDGE_NORMALIZATION,
        calibration=job.calibration,
    )
    # Recorded before the check runs, so the manifest never vouches for a file it has not seen.
    update_manifest(out_dir, artifact.to_dict())
    if test is None:
        return artifact
    images, labels, reference = test
    probabilities = _predict_proba(job.exporter, path, images)
    fidelity = compute_fidelity(probabilities, reference, labels, job.thresholds)
    artifact = replace(artifact, status=Status.OK if fidelity.passed else Status.FAILED, fidelity=fidelity)
    update_manifest(out_dir, artifact.to_dict())
    return artifact


def run_jobs(
    jobs: Sequence[ExportJob],
    model: PathLike,
    out_dir: PathLike,
    data: Dataset | None,
    verify: bool,
) -> list[Artifact]:
    """Check everything that can fail cheaply, then convert, write and verify each job."""
    model_path, out = Path(model), Path(out_dir)
    require("tensorflow", "export")  # the pip hint comes before any data is fetched
    if not model_path.is_file():
        raise FileNotFoundError(
            f"No Keras model at {model_path}. Train one with `mnistedge train`, or pass --model PATH."
        )
    int8_jobs = [job for job in jobs if job.calibration is not None]
    if data is None and (verify or int8_jobs):
        from mnistedge.data import load_mnist

        data = load_mnist()
    calibration_images = None
    if int8_jobs:  # missing or short calibration data fails here, before any conversion
        assert int8_jobs[0].calibration is not None
        calibration_images = calibration_set(data, int8_jobs[0].calibration).images
    if verify:
        assert data is not None
        check_dataset(data, ("test",))

    keras_model = load_keras_model(model_path)
    source = {"file": model_path.name, "sha256": sha256_file(model_path)}
    test = None
    if verify:  # the Keras reference is computed once, whatever the number of artifacts
        assert data is not None
        test = (data.x_test, data.y_test, reference_probabilities(keras_model, data.x_test))
    artifacts = [_export_one(job, keras_model, source, out, calibration_images, test) for job in jobs]
    failed = [a for a in artifacts if a.status is Status.FAILED]
    if failed:
        raise FidelityError(failed, artifacts)
    return artifacts


def export_artifact(
    model: PathLike,
    format: str,
    *,
    quantize: str | Quantization = Quantization.NONE,
    out_dir: PathLike = DEFAULT_OUT,
    data: Dataset | None = None,
    verify: bool = True,
    calibration_samples: int = 500,
    calibration_seed: int = 0,
    calibration_method: str = "minmax",
    thresholds: Thresholds | None = None,
    filename: str | None = None,
    **options: Any,
) -> Artifact:
    """Export the Keras model at ``model`` to one artifact in ``out_dir`` and check its fidelity.

    Args:
        model: a ``.keras`` file following ``mnistedge.core.contract``.
        format: a key of ``EXPORTERS`` ("tflite", "onnx", "saved_model").
        quantize: "none", "fp16", "dynamic", "int8" or "int16x8" (what the format supports).
        data: an ``mnistedge.data.MNIST`` or look-alike; int8 and int16x8 calibrate on ``x_train``, fidelity
            runs on ``x_test``. Loaded with ``load_mnist()`` when None and needed.
        verify: run the artifact on the test set and compare with Keras.
        calibration_*: the int8 representative set (balanced over classes, seeded) and range method.
        thresholds: fidelity thresholds (default: ``DEFAULT_THRESHOLDS[quantize]``).
        filename: artifact name inside ``out_dir`` (default: the format's, e.g. model_int8.tflite).
        **options: format options: tflite ``io_type`` ("int8", "uint8", "float32") and ``batch``
            (a fixed batch dimension; None: dynamic), onnx ``opset``.

    Returns:
        The Artifact, also recorded in ``out_dir/manifest.json``.

    Raises:
        ValueError: unknown format/quantization/option, or bad or missing data (before converting).
        FidelityError: the artifact missed a threshold; it stays on disk, marked "failed".
    """
    calibration = CalibrationConfig(calibration_samples, calibration_seed, calibration_method)
    job = _job(format, quantize, options, calibration=calibration, thresholds=thresholds, filename=filename)
    return run_jobs([job], model, out_dir, data, verify)[0]


def plan_edge_artifacts(
    calibration: CalibrationConfig,
    thresholds: Mapping[str, Thresholds] | None = None,
    **options: Any,
) -> list[ExportJob]:
    """The jobs ``export_all`` runs, checked (``ValueError``) before anything is loaded or converted.

    ``calibration.method`` applies to the formats that implement it (ONNX); the others use
    minmax. Each option goes to the formats that have it (``opset`` to ONNX).
    """
    known = {name for exporter in EXPORTERS.values() for name in exporter.options}
    if unknown := sorted(set(options) - known):
        raise ValueError(f"Unknown option(s) {unknown}. Valid options: {', '.join(sorted(known))}.")
    overrides = {Quantization.parse(q): t for q, t in (thresholds or {}).items()}
    jobs = []
    for format, quantization in EDGE_ARTIFACTS:
        exporter = EXPORTERS[format]
        method = calibration.method if calibration.method in exporter.calibration_methods else "minmax"
        own = {k: v for k, v in options.items() if k in exporter.options}
        jobs.append(
            _job(format, quantization, own, calibration=replace(calibration, method=method),
                 thresholds=overrides.get(quantization))
        )  # fmt: skip
    return jobs


def plan_artifact(
    format: str,
    quantize: str | Quantization,
    calibration: CalibrationConfig,
    thresholds: Thresholds | None = None,
    **options: Any,
) -> ExportJob:
    """The job ``export_artifact`` runs, checked (``ValueError``) before anything is converted."""
    return _job(format, quantize, options, calibration=calibration, thresholds=thresholds)


def export_all(
    model: PathLike,
    *,
    out_dir: PathLike = DEFAULT_OUT,
    data: Dataset | None = None,
    verify: bool = True,
    calibration_samples: int = 500,
    calibration_seed: int = 0,
    calibration_method: str = "minmax",
    thresholds: Mapping[str, Thresholds] | None = None,
    **options: Any,
) -> list[Artifact]:
    """Export the nine edge artifacts (``EDGE_ARTIFACTS``), updating the manifest after each.

    Arguments are those of :func:`export_artifact`; ``thresholds`` maps a quantization ("int8")
    to its Thresholds, over the defaults. ``calibration_method`` applies to the formats that
    implement it (ONNX); TFLite calibrates with minmax, and the manifest records which was used.
    Each option goes to the formats that have it (``opset`` to ONNX).

    Raises:
        FidelityError: after all nine are written, if any missed its thresholds (``exported`` has all).
    """
    requested = CalibrationConfig(calibration_samples, calibration_seed, calibration_method)
    jobs = plan_edge_artifacts(requested, thresholds, **options)
    return run_jobs(jobs, model, out_dir, data, verify)
