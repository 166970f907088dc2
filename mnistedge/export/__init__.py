"""Export a trained Keras model to edge formats and prove each artifact matches it.

``export_artifact(model, "tflite", quantize="int8")`` writes one artifact and returns an
``Artifact`` whose ``fidelity`` compares it with the Keras model on the test set;
``export_all(model)`` writes the nine edge artifacts. Both record each one in the
``manifest.json`` beside the artifacts.
"""

from mnistedge.core.manifest import MANIFEST_NAME, read_manifest
from mnistedge.core.tensors import Quantization, Status, TensorSpec
from mnistedge.export.api import export_all, export_artifact
from mnistedge.export.artifact import Artifact, FidelityError
from mnistedge.export.calibration import CalibrationConfig
from mnistedge.export.fidelity import DEFAULT_THRESHOLDS, Fidelity, Thresholds
from mnistedge.export.registry import EDGE_ARTIFACTS, EXPORTERS

__all__ = [
    "DEFAULT_THRESHOLDS",
    "EDGE_ARTIFACTS",
    "EXPORTERS",
    "MANIFEST_NAME",
    "Artifact",
    "CalibrationConfig",
    "Fidelity",
    "FidelityError",
    "Quantization",
    "Status",
    "TensorSpec",
    "Thresholds",
    "export_all",
    "export_artifact",
    "read_manifest",
]
