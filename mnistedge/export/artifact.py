"""What an export produces: the Artifact record, exactly one manifest entry.

This module is light (numpy-free even): the CLI imports it at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnistedge.core.contract import MNISTEDGE_NORMALIZATION, Normalization
from mnistedge.core.tensors import Quantization, Status, TensorSpec

if TYPE_CHECKING:
    from mnistedge.export.calibration import CalibrationConfig
    from mnistedge.export.fidelity import Fidelity

__all__ = ["Artifact", "FidelityError"]


@dataclass(frozen=True)
class Artifact:
    """One exported file (or SavedModel directory) and everything the manifest says about it.

    ``to_dict()`` is exactly the manifest entry; ``path`` (where it lies on this machine) is
    not part of it because the manifest sits beside the artifacts and names them by file.
    """

    path: Path  # the artifact on disk
    format: str  # registry key: "tflite", "onnx", "saved_model"
    quantization: Quantization
    size_bytes: int
    sha256: str  # of the file; for a directory, of its sorted (relative path, file sha256) list
    status: Status
    source_model: dict[str, str]  # {"file": "model.keras", "sha256": ...}
    converter: dict[str, Any]  # {"name", "opset", "versions": {library: version}}
    input: TensorSpec
    output: TensorSpec
    preprocessing: dict[str, Any]  # mnistedge.core.contract.PREPROCESSING
    calibration: CalibrationConfig | None = None  # int8 only
    fidelity: Fidelity | None = field(default=None)  # None when not verified
    # How a 0-255 pixel becomes the model's input; the runtime's default for this file.
    normalization: Normalization = MNISTEDGE_NORMALIZATION

    @property
    def file(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "quantization": self.quantization.value,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "status": self.status.value,
            "source_model": dict(self.source_model),
            "converter": dict(self.converter),
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "preprocessing": dict(self.preprocessing),
            "normalization": self.normalization.to_dict(),
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "fidelity": self.fidelity.to_dict() if self.fidelity else None,
        }


class FidelityError(RuntimeError):
    """Exported artifacts missed their fidelity thresholds. They stay on disk, marked failed.

    Attributes:
        artifacts: the failed artifacts (each with its ``fidelity``).
        exported: every artifact the call wrote, failed or not.
    """

    def __init__(self, artifacts: Sequence[Artifact], exported: Sequence[Artifact] = ()) -> None:
        self.artifacts = tuple(artifacts)
        self.exported = tuple(exported) or self.artifacts
        lines = [
            f"{a.file}: {'; '.join(a.fidelity.failures)} [{a.fidelity.summary()}]"
            for a in self.artifacts
            if a.fidelity is not None
        ]
        super().__init__(
            "Fidelity check failed (artifacts kept on disk, marked 'failed' in manifest.json):\n  "
            + "\n  ".join(lines)
            + "\nFix: retrain or recalibrate (e.g. more --calibration-samples), relax the thresholds, "
            "or pass --no-verify (verify=False) to skip the check."
        )

    @property
    def fidelity(self) -> Fidelity:
        """The first failed artifact's figures."""
        fidelity = self.artifacts[0].fidelity
        assert fidelity is not None
        return fidelity
