"""What train.json records about where a run happened: device, versions, data."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np

from mnistedge import __version__
from mnistedge.core.io import sha256_bytes

__all__ = ["data_record", "device_record", "versions_record"]


def device_record(tf: Any) -> dict[str, Any]:
    """GPU when TensorFlow sees one (and then trains on it), else CPU; plus the CPU model."""
    gpus = tf.config.list_logical_devices("GPU")
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "type": "GPU" if gpus else "CPU",
        "gpus": [g.name for g in gpus],
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
    }


def versions_record(tf: Any, keras: Any) -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "mnistedge": __version__,
    }


def data_record(data: Any, n_fit: int, n_validation: int) -> dict[str, Any]:
    """The data's own record (source, IDX checksums) plus array hashes and split sizes."""
    record = dict(data.to_dict()) if hasattr(data, "to_dict") else {"source": "in-memory arrays"}
    record["array_sha256"] = {
        name: sha256_bytes(np.ascontiguousarray(getattr(data, name)).tobytes())
        for name in ("x_train", "y_train", "x_test", "y_test")
    }
    record.update(n_fit=n_fit, n_validation=n_validation, n_test=len(data.x_test))
    return record
