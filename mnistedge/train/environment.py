"""What train.json records about where a run happened: the device TensorFlow used, and the data.

The machine and library versions are the shared ``core.env`` block (train.json ``env``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mnistedge.core.env import CPU_FLAGS, parse_cpuinfo
from mnistedge.core.io import sha256_bytes

__all__ = ["cpu_features", "data_record", "device_record", "load_average"]

# CPU flags that decide whether reduced-precision training could pay off on a CPU. Training stays
# float32: on a 2-core AVX2 EPYC without bf16 units, one batch-256 step of the default cnn took
# 2.6-3.1 s under Keras' mixed_bfloat16 policy against 0.35-0.48 s in float32 (2026-12-01).
# train.json records the flags so a run on a bf16/AMX CPU says so.
_PRECISION_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx_vnni", "avx512_vnni")
assert set(_PRECISION_FLAGS) <= set(CPU_FLAGS)


def load_average() -> list[float] | None:
    """The 1/5/15-minute load averages (None where the OS has none): timings on a shared
    machine mean little without them."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_features(cpuinfo: str = "/proc/cpuinfo") -> dict[str, bool] | None:
    """Which of the flags in ``_PRECISION_FLAGS`` the CPU has; None where /proc/cpuinfo is absent."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    flags = parse_cpuinfo(text)[2]  # the same reading as the env block's cpu_flags
    return {flag: flags[flag] for flag in _PRECISION_FLAGS}


def device_record(tf: Any, load_at_start: list[float] | None = None) -> dict[str, Any]:
    """GPU when TensorFlow sees one (and then trains on it), else CPU; the thread pools TF ran
    with and the machine's load around the run. The machine itself is in ``env``."""
    gpus = tf.config.list_logical_devices("GPU")
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    cores = _usable_cores()
    return {
        "type": "GPU" if gpus else "CPU",
        "gpus": [g.name for g in gpus],
        "intra_op_threads": intra or cores,  # 0 configured means one per usable core
        "inter_op_threads": inter or cores,
        "load_average": {"start": load_at_start, "end": load_average()},
        "cpu_features": cpu_features(),
        "compute_dtype": "float32",
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
