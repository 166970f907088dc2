"""Read a model file once, prove it is what it claims, and match it to manifest.json.

The bytes read and hashed here are the bytes handed to the engine (no second
open of the path), so what was verified is exactly what runs.
"""

from __future__ import annotations

import json
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistedge._io import sha256_bytes
from mnistedge.runtime import _onnx_check, _tflite_check

__all__ = ["FORMATS", "MANIFEST_NAME", "ModelFile", "manifest_entry", "read_model"]

MANIFEST_NAME = "manifest.json"
# suffix -> (format, structural check raising ValueError on malformed bytes)
FORMATS = {
    ".tflite": ("tflite", _tflite_check.verify),
    ".onnx": ("onnx", _onnx_check.verify),
}


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


def _format_of(path: Path) -> tuple[str, Any]:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"{path}: unknown model format {path.suffix or '(no suffix)'!r}; supported: {', '.join(FORMATS)}"
        ) from None


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


def manifest_entry(path: Path, *, strict_json: bool) -> dict[str, Any] | None:
    """This file's entry in a manifest.json beside it, or None when there is none."""
    manifest = path.parent / MANIFEST_NAME
    if not manifest.is_file():
        return None
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        entry = doc["artifacts"].get(path.name)
        if entry is not None and not isinstance(entry, dict):
            raise TypeError(f"artifacts[{path.name!r}] is a {type(entry).__name__}, not an object")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        message = f"{manifest}: cannot read the manifest ({exc!r})"
        if strict_json:
            raise ValueError(
                message + "; fix or remove it, or load with verify=False to skip the check"
            ) from exc
        warnings.warn(message + "; ignoring it", RuntimeWarning, stacklevel=4)
        return None
    return entry


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
    fmt, check = _format_of(path)
    data = _read_bytes(path)
    digest = sha256_bytes(data)
    entry = manifest_entry(path, strict_json=verify)
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
        facts = check(data)
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid {fmt} model: {exc}") from None
    return ModelFile(path, fmt, data, digest, entry, verified, facts)
