"""What train.json records about where a run happened: the device TensorFlow used, and the data.

The machine and library versions are the shared ``core.env`` block (train.json ``env``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mnistedge.core.io import sha256_bytes

__all__ = ["data_record", "device_record"]


def device_record(tf: Any) -> dict[str, Any]:
    """GPU when TensorFlow sees one (and then trains on it), else CPU. The machine is in ``env``."""
    gpus = tf.config.list_logical_devices("GPU")
    return {"type": "GPU" if gpus else "CPU", "gpus": [g.name for g in gpus]}


def data_record(data: Any, n_fit: int, n_validation: int) -> dict[str, Any]:
    """The data's own record (source, IDX checksums) plus array hashes and split sizes."""
    record = dict(data.to_dict()) if hasattr(data, "to_dict") else {"source": "in-memory arrays"}
    record["array_sha256"] = {
        name: sha256_bytes(np.ascontiguousarray(getattr(data, name)).tobytes())
        for name in ("x_train", "y_train", "x_test", "y_test")
    }
    record.update(n_fit=n_fit, n_validation=n_validation, n_test=len(data.x_test))
    return record
