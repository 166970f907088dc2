"""Read a model file once, prove it is what it claims, and match it to manifest.json.

The bytes read and hashed here are the bytes handed to the engine (no second
open of the path), so what was verified is exactly what runs.
"""

from __future__ import annotations

import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistedge.core.formats import Format, format_for_path, resolve
from mnistedge.core.io import sha256_bytes
from mnistedge.core.manifest import MANIFEST_NAME, manifest_entry

__all__ = ["ModelFile", "read_model", "structural_check"]


@dataclass(frozen=True)
class ModelFile:
    """A model file's verified bytes and what its manifest says about it."""

    path: Path
    format: str
    data: bytes
    sha256: str
    manifest_entry: dict[str, Any] | None  # this file's entry in manifest.json, if any
    manifest_verified: bool  # the entry's sha256 was checked and matched
    facts: dict[str, Any] = field(default_factory=dict)  # from the structural check


def structural_check(fmt: Format, data: bytes) -> dict[str, Any]:
    """Run the format's own walk over the bytes (ValueError on malformed ones); return its facts."""
    return resolve(fmt.checker)(data) if fmt.checker else {}


def _read_bytes(path: Path) -> bytes:
    """Read a regular file; directories, devices and empty files are refused with the reason."""
    st = path.stat()  # FileNotFoundError / PermissionError already carry the path
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path}: is a directory, not a model file")
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path}: is not a regular file (a device, pipe or socket?)")
    if st.st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes); re-export the model")
    with open(path, "rb") as fh:
        return fh.read()


def read_model(path: str | Path, *, verify: bool = True) -> ModelFile:
    """Read and check a model file.

    Args:
        path: a ``.tflite`` or ``.onnx`` file.
        verify: check the sha256 recorded in a ``manifest.json`` beside the file.

    Raises:
        FileNotFoundError, IsADirectoryError, OSError: the path is not a readable file.
        ValueError: unknown suffix, empty or malformed file, or a manifest sha256 mismatch
            (the message names the path, the expected and the actual digest).
    """
    path = Path(path)
    fmt = format_for_path(path)
    data = _read_bytes(path)
    digest = sha256_bytes(data)
    entry = manifest_entry(path, strict=verify)
    verified = False
    if entry is not None and verify:
        expected = entry.get("sha256")
        if expected != digest:
            raise ValueError(
                f"{path}: sha256 does not match {path.parent / MANIFEST_NAME}: "
                f"expected {expected}, actual {digest}. The file changed after export: "
                f"re-export it, or load with verify=False if you trust it"
            )
        verified = True
    if entry is not None and entry.get("status") == "failed":
        warnings.warn(
            f"{path}: manifest.json marks this artifact status='failed' "
            f"(see its 'fidelity'); predictions may be wrong",
            RuntimeWarning,
            stacklevel=3,
        )
    try:
        facts = structural_check(fmt, data)
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid {fmt.name} model: {exc}") from None
    return ModelFile(path, fmt.name, data, digest, entry, verified, facts)
