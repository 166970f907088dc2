"""What a model file is: format, I/O, quantization, ops, size, sha256, manifest match."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mnistedge.core.contract import IOConvention
from mnistedge.core.manifest import MANIFEST_NAME, manifest_entry
from mnistedge.core.tensors import TensorSpec
from mnistedge.runtime._integrity import read_model

__all__ = ["ModelReport", "inspect_model"]


@dataclass(frozen=True)
class ModelReport:
    """Everything ``mnistedge inspect`` prints."""

    path: str
    format: str
    size_bytes: int
    sha256: str
    manifest: str  # "verified" | "mismatch" | "not listed" | "no manifest"
    manifest_sha256: str | None  # what the manifest expects, when it lists the file
    quantization: str
    engine: str
    provider: str
    input: TensorSpec
    output: TensorSpec
    convention: IOConvention  # layout, batch, output kind, normalization: how load() feeds it
    op_counts: dict[str, int] | None  # None when they cannot be read (see op_counts_note)
    op_counts_note: str | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["input"], out["output"] = self.input.to_dict(), self.output.to_dict()
        out["convention"] = self.convention.to_dict()
        return out


def _manifest_status(path: Path, sha256: str) -> tuple[str, str | None]:
    if not (path.parent / MANIFEST_NAME).is_file():
        return "no manifest", None
    entry = manifest_entry(path, strict=False)
    if entry is None:
        return "not listed", None
    expected = entry.get("sha256")
    return ("verified" if expected == sha256 else "mismatch"), expected


def inspect_model(
    path: str | Path,
    *,
    provider: str = "auto",
    scale: float | None = None,
    mean: float | None = None,
    std: float | None = None,
    output: str | None = None,
) -> ModelReport:
    """Describe a ``.tflite``/``.onnx`` model; a manifest mismatch is reported, not raised.

    ``scale``/``mean``/``std``/``output`` are ``load()``'s: the convention to report.

    Raises:
        FileNotFoundError, IsADirectoryError, OSError, ValueError: as ``load()`` for a file
            that is not a loadable model.
    """
    from mnistedge.runtime._classifier import load

    path = Path(path)
    model = read_model(path, verify=False)
    status, expected = _manifest_status(path, model.sha256)
    clf = load(path, provider=provider, verify=False, scale=scale, mean=mean, std=std, output=output)
    names = clf.backend.op_names  # each backend lists its model's ops (None: unreadable)
    counts = None if names is None else dict(sorted(Counter(names).items()))
    note = None if names is not None else "unavailable: the graph's nodes could not be read"
    info = clf.info
    return ModelReport(
        path=str(path),
        format=model.format,
        size_bytes=len(model.data),
        sha256=model.sha256,
        manifest=status,
        manifest_sha256=expected,
        quantization=info.quantization,
        engine=info.engine,
        provider=info.provider,
        input=info.input,
        output=info.output,
        convention=info.convention,
        op_counts=counts,
        op_counts_note=note,
    )
