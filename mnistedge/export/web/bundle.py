"""``export_web``: a static, self-contained bundle that runs the models in a browser, offline.

The bundle (``<export root>/web/``) holds the page (``index.html``, plain ES modules, no
bundler), the models, the runtimes' own JS/wasm files copied from the npm cache, and
``models.json``, which the page reads. Nothing is fetched from any other origin.

Which models, and why:

* ONNX fp32 and int8 run in onnxruntime-web (wasm); it accepts a dynamic batch dimension.
* TFLite fp32, fp16, dynamic-range and int8 run in LiteRT.js, which rejects a dynamic batch
  dimension (2.5.x), so each is exported with a fixed batch, 1 (latency) and 64 (throughput).
* LiteRT.js's JS dtype table has no int8, so the int8 TFLite model in the bundle is the
  float-I/O variant (``io_type="float32"``): the same int8 kernels and weights, with a
  Quantize op in front and a Dequantize op behind. It adds two tiny ops and needs no shim
  that would have to track LiteRT.js internals.

Each model is exported into ``web/models/`` with its own ``manifest.json`` (so the Python
runtime reads the same file with the same normalization) and checked against the Keras model
on the test set like every other artifact. The bundle is built in a temporary folder and
swapped in at the end: a failed export leaves the previous bundle as it was.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mnistedge.core.io import atomic_directory, atomic_write_json, sha256_file
from mnistedge.core.manifest import update_manifest
from mnistedge.core.tensors import Quantization, Status
from mnistedge.export.api import DEFAULT_OUT, ExportJob, plan_artifact, run_jobs
from mnistedge.export.artifact import Artifact
from mnistedge.export.calibration import CalibrationConfig, Dataset
from mnistedge.export.fidelity import DEFAULT_THRESHOLDS
from mnistedge.export.web.npm import ASSETS, RUNTIME_FILES, install_runtimes, locked_versions

__all__ = [
    "BATCHES",
    "PAGE_FILES",
    "WEB_FOLDER",
    "WebBundle",
    "WebModel",
    "export_web",
    "plan_web_models",
    "read_catalog",
    "web_models",
]

WEB_FOLDER = "web"
MODELS_FOLDER = "models"
PAGE_FILES = ("index.html", "app.js", "runtimes.js", "preprocess.js", "style.css")
BATCHES = (1, 64)  # LiteRT.js's fixed-batch variants: batch 1 for latency, 64 for throughput
DEFAULT_MODEL = "models/model_int8_float32io_b1.tflite"  # the fastest batch-1 model seen here
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class WebModel:
    """One model of the bundle: which artifact, and which browser runtime runs it."""

    format: str
    quantization: Quantization
    runtime: str  # "onnxruntime-web" | "litert.js"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        names = {Quantization.NONE: "fp32", Quantization.FP16: "fp16", Quantization.DYNAMIC: "dynamic",
                 Quantization.INT8: "int8"}  # fmt: skip
        text = f"{'ONNX' if self.format == 'onnx' else 'TFLite'} {names[self.quantization]}"
        if self.options.get("batch"):
            text += f", batch {self.options['batch']}"
        return f"{text} ({self.runtime})"


_FLOAT_IO = {Quantization.INT8: {"io_type": "float32"}}  # LiteRT.js has no int8 I/O


def web_models(batches: Sequence[int] = BATCHES) -> tuple[WebModel, ...]:
    """The bundle's models: ONNX fp32/int8 (dynamic batch), TFLite ×4 quantizations × ``batches``."""
    onnx = tuple(WebModel("onnx", q, "onnxruntime-web") for q in (Quantization.NONE, Quantization.INT8))
    tflite = tuple(
        WebModel("tflite", q, "litert.js", {"batch": b, **_FLOAT_IO.get(q, {})})
        for q in (Quantization.NONE, Quantization.FP16, Quantization.DYNAMIC, Quantization.INT8)
        for b in batches
    )
    return onnx + tflite


@dataclass(frozen=True)
class WebBundle:
    """A written bundle: where it is, its models (checked artifacts) and its runtimes' files."""

    path: Path
    models: tuple[Artifact, ...]
    runtimes: dict[str, dict[str, Any]]  # name -> {version, package, files, bytes, gzip_bytes}
    size_bytes: int  # everything in the bundle

    def describe(self) -> list[str]:
        """What the export command prints after the fidelity table."""
        lines = [
            f"{name} {info['version']}: {info['bytes'] / 2**20:.1f} MiB "
            f"({info['gzip_bytes'] / 2**20:.1f} MiB gzip) in {len(info['files'])} files"
            for name, info in self.runtimes.items()
        ]
        return [*lines, f"bundle: {self.path} ({self.size_bytes / 2**20:.1f} MiB)",
                f"open it: mnistedge serve {self.path}"]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "format": "web",
            "status": _status(self.models).value,
            "size_bytes": self.size_bytes,
            "models": [f"{MODELS_FOLDER}/{m.file}" for m in self.models],
            "runtimes": self.runtimes,
            "serve": f"mnistedge serve {self.path}",
        }


def _status(models: Sequence[Artifact]) -> Status:
    if any(m.status is Status.FAILED for m in models):
        return Status.FAILED
    if all(m.status is Status.OK for m in models):
        return Status.OK
    return Status.UNVERIFIED


def plan_web_models(
    calibration: CalibrationConfig, batches: Sequence[int] = BATCHES
) -> list[tuple[WebModel, ExportJob]]:
    """The export jobs of the bundle's models, checked before anything is converted."""
    return [
        (
            m,
            plan_artifact(
                m.format, m.quantization, calibration, DEFAULT_THRESHOLDS[m.quantization], **m.options
            ),
        )
        for m in web_models(batches)
    ]


def _gzip_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=6, mtime=0))


def _copy_runtimes(node_modules: Path, bundle: Path) -> dict[str, dict[str, Any]]:
    versions = locked_versions()
    runtimes = {}
    for runtime in RUNTIME_FILES:
        files = []
        for source, target in runtime.files:
            destination = bundle / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(node_modules / source, destination)
            files.append(
                {"path": target, "bytes": destination.stat().st_size, "gzip_bytes": _gzip_size(destination)}
            )
        runtimes[runtime.name] = {
            "package": runtime.package,
            "version": versions[runtime.package],
            "files": files,
            "bytes": sum(f["bytes"] for f in files),
            "gzip_bytes": sum(f["gzip_bytes"] for f in files),
        }
    return runtimes


def _catalog_entry(model: WebModel, artifact: Artifact) -> dict[str, Any]:
    fidelity = artifact.fidelity
    return {
        "path": f"{MODELS_FOLDER}/{artifact.file}",
        "label": model.label,
        "runtime": model.runtime,
        "format": model.format,
        "quantization": model.quantization.value,
        "batch": model.options.get("batch"),  # None: dynamic (any number of images per call)
        "input": artifact.input.to_dict(),
        "output": artifact.output.to_dict(),
        "normalization": artifact.normalization.to_dict(),
        "output_kind": "probabilities",
        "size_bytes": artifact.size_bytes,
        "sha256": artifact.sha256,
        "status": artifact.status.value,
        "fidelity": None
        if fidelity is None
        else {"accuracy": fidelity.accuracy, "agreement": fidelity.agreement,
              "max_abs_prob_diff": fidelity.max_abs_prob_diff, "n": fidelity.n},
    }  # fmt: skip


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def export_web(
    model: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT,
    data: Dataset | None = None,
    verify: bool = True,
    calibration_samples: int = 500,
    calibration_seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    batches: Sequence[int] = BATCHES,
) -> WebBundle:
    """Write the web bundle ``out_dir/web/`` for the Keras model at ``model``.

    Args:
        model: a ``.keras`` file following ``mnistedge.core.contract``.
        out_dir: the export root; the bundle goes to ``out_dir/web`` and gets an entry in
            ``out_dir/manifest.json``.
        data, verify, calibration_*: as for :func:`mnistedge.export.export_artifact`.
        cache_dir: where npm's install of the runtimes is cached (default: mnistedge's cache).
        batches: the fixed batch sizes of the LiteRT.js variants.

    Raises:
        RuntimeError: npm is missing or failed (the message says how to install it).
        ValueError / FileNotFoundError: a bad model or data, before any conversion.
        FidelityError: a model missed its thresholds; the previous bundle is left as it was.
    """
    from mnistedge.data import default_cache_dir

    out = Path(out_dir)
    calibration = CalibrationConfig(calibration_samples, calibration_seed, "minmax")
    planned = plan_web_models(calibration, batches)
    node_modules = install_runtimes(Path(cache_dir) if cache_dir else default_cache_dir())
    with atomic_directory(out / WEB_FOLDER) as tmp:
        artifacts = run_jobs([job for _, job in planned], model, tmp / MODELS_FOLDER, data, verify)
        runtimes = _copy_runtimes(node_modules, tmp)
        for name in PAGE_FILES:
            shutil.copyfile(ASSETS / name, tmp / name)
        paths = [f"{MODELS_FOLDER}/{a.file}" for a in artifacts]
        catalog = {
            "schema_version": SCHEMA_VERSION,
            "source_model": artifacts[0].source_model,
            "default_model": DEFAULT_MODEL if DEFAULT_MODEL in paths else paths[0],
            "models": [_catalog_entry(m, a) for (m, _), a in zip(planned, artifacts, strict=True)],
            "runtimes": runtimes,
        }  # fmt: skip
        atomic_write_json(tmp / "models.json", catalog)
        size = _folder_size(tmp)
    final = out / WEB_FOLDER
    moved = tuple(replace(a, path=final / MODELS_FOLDER / a.file) for a in artifacts)
    bundle = WebBundle(path=final, models=moved, runtimes=runtimes, size_bytes=size)
    update_manifest(out, {**bundle.to_dict(), "sha256": sha256_file(final / "models.json")})
    return bundle


def read_catalog(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """``models.json`` of a bundle folder.

    Raises:
        FileNotFoundError: no bundle there (the message says how to write one).
    """
    path = Path(bundle) / "models.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no web bundle at {Path(bundle)}: run `mnistedge export --format web` first."
        )
    return json.loads(path.read_text(encoding="utf-8"))
